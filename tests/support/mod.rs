//! Shared by the integration tests: run the built binary, validate against the committed schemas.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_minikube-none-bootstrap");
const RESULT_ID: &str = "https://minikube-none-bootstrap.dev/schema/result.v1.json";

fn load(rel: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn validator(rel: &str) -> jsonschema::Validator {
    let result = load("schema/result.v1.json");
    // The event schema refers to the result schema's $defs by its $id.
    let registry: &'static _ =
        Box::leak(Box::new(jsonschema::Registry::new().add(RESULT_ID, result).unwrap().prepare().unwrap()));
    jsonschema::options().should_validate_formats(true).with_registry(registry).build(&load(rel)).unwrap()
}

/// Panics with every schema violation when `doc` is not a valid v1 result.
pub fn assert_valid_result(doc: &Value) {
    assert_valid(&validator("schema/result.v1.json"), doc, "result");
}

/// Every line of `lines` must be a valid v1 event.
pub fn assert_valid_events(lines: &str) {
    let v = validator("schema/event.v1.json");
    let mut n = 0;
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let ev: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        assert_valid(&v, &ev, "event");
        n += 1;
    }
    assert!(n > 0, "no events");
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match its schema:\n{}\n{doc:#}", errors.join("\n"));
}

/// Runs the tool with `args`, a clean environment (PATH only) plus `env`.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

pub fn json_stdout(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
pub mod serve;
pub mod tree;
