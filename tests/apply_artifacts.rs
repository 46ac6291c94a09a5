//! `apply --only minikube` under a fixture root against a local HTTPS mirror: a verified
//! install, a re-run that changes nothing, and the failures a user would hit (wrong pinned
//! digest, a version the mirror does not have) — each with a clear error and no file in place.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use support::serve::{Server, make_ca, mirror_script, serve_https};
use support::tree::{Tree, good_vm};
use support::*;

/// A fixture VM, a mirror tree with minikube v1.37.0 (the double), served on 127.0.0.1.
fn vm_and_mirror() -> (Tree, Server, u16) {
    let t = good_vm();
    let double = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/double/minikube");
    let www = t.at("/srv-mirror");
    let ok = Command::new("bash")
        .arg(mirror_script("make-artifacts.sh"))
        .arg("--minikube-file")
        .arg(&double)
        .arg("minikube=v1.37.0")
        .arg(&www)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let ca = t.at("/etc/minikube-none-bootstrap/ca");
    make_ca(&ca);
    let server = serve_https(&www, &ca);
    let port = server.port;
    (t, server, port)
}

fn apply_minikube(t: &Tree, port: u16, extra: &[&str]) -> (i32, serde_json::Value) {
    let root = t.root_arg();
    let mirror = format!("https://127.0.0.1:{port}");
    let mut args = vec!["apply", "--only", "minikube", "--output", "json", "--root", &root, "--mirror", &mirror];
    args.extend_from_slice(&["--tls-ca-file", "/etc/minikube-none-bootstrap/ca/ca.pem"]);
    args.extend_from_slice(extra);
    let out = run(&args, &[]);
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    (out.status.code().unwrap(), doc)
}

fn phase<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["phases"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()
}

#[test]
fn minikube_is_installed_verified_and_a_rerun_changes_nothing() {
    let (t, _s, port) = vm_and_mirror();
    let (code, doc) = apply_minikube(&t, port, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(phase(&doc, "minikube")["status"], "changed");
    let bin = t.at("/usr/local/bin/minikube");
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/double/minikube")).unwrap()
    );
    let mtime = std::fs::metadata(&bin).unwrap().modified().unwrap();
    let (code, doc) = apply_minikube(&t, port, &[]);
    assert_eq!(code, 0);
    assert_eq!(phase(&doc, "minikube")["status"], "unchanged");
    assert_eq!(std::fs::metadata(&bin).unwrap().modified().unwrap(), mtime, "not rewritten");
}

#[test]
fn a_wrong_pinned_digest_fails_clearly_and_installs_nothing() {
    let (t, _s, port) = vm_and_mirror();
    let (code, doc) = apply_minikube(&t, port, &["--minikube-sha256", &"ab".repeat(32)]);
    assert_eq!(code, 1);
    let err = &phase(&doc, "minikube")["error"];
    assert_eq!(err["code"], "artifact-digest-mismatch", "{err}");
    assert!(err["message"].as_str().unwrap().contains(&"ab".repeat(32)), "names the expected digest: {err}");
    assert!(!t.at("/usr/local/bin/minikube").exists(), "nothing in place");
}

#[test]
fn a_version_the_mirror_lacks_is_not_found() {
    let (t, _s, port) = vm_and_mirror();
    let (code, doc) = apply_minikube(&t, port, &["--minikube-version", "v9.9.9"]);
    assert_eq!(code, 1);
    let err = &phase(&doc, "minikube")["error"];
    assert_eq!(err["code"], "artifact-not-found", "{err}");
    assert!(err["message"].as_str().unwrap().contains("v9.9.9"), "{err}");
    assert!(!t.at("/usr/local/bin/minikube").exists());
}
