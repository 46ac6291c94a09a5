//! The built binary against fixture roots: results validate, exit codes are the documented ones.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use support::tree::{Tree, good_vm};
use support::*;

fn preflight_json(t: &Tree, extra: &[&str]) -> (i32, Value) {
    let root = t.root_arg();
    let mut args = vec!["preflight", "--output", "json", "--root", &root, "--today", "2026-12-03"];
    args.extend_from_slice(extra);
    let out = run(&args, &[]);
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    let code = out.status.code().unwrap();
    assert_eq!(doc["exit_code"], code, "the document's exit_code is the process's");
    (code, doc)
}

fn check<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["phases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

#[test]
fn preflight_on_this_machine_validates_with_every_check() {
    let state = tempfile::tempdir().unwrap();
    let out = run(&["preflight", "--output", "json", "--state-dir", state.path().to_str().unwrap()], &[]);
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    let code = out.status.code().unwrap();
    assert!(code == 0 || code == 3, "preflight exits 0 or 3, got {code}");
    assert_eq!(doc["exit_code"], code);
    let ids: Vec<&str> =
        doc["phases"][0]["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, minikube_none_bootstrap::phases::preflight::CHECK_IDS, "one check per id, in order");
}

#[test]
fn a_healthy_vm_passes_and_the_result_is_recorded_privately() {
    let t = good_vm();
    let (code, doc) = preflight_json(&t, &[]);
    let bad: Vec<_> = doc["phases"][0]["checks"].as_array().unwrap().iter().filter(|c| c["status"] == "fail").collect();
    assert_eq!(code, 0, "failing checks: {bad:#?}");
    assert_eq!(doc["outcome"], "success");
    assert_eq!(doc["host"]["os_id"], "debian");
    assert_eq!(doc["host"]["hostname"], "node1");
    let state = t.at("/var/lib/minikube-none-bootstrap");
    let recorded: Value = serde_json::from_slice(&std::fs::read(state.join("result.json")).unwrap()).unwrap();
    assert_eq!(recorded, doc, "result.json is the document printed");
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(state.join("result.json")).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_failing_check_blocks_with_exit_3_and_names_it() {
    let t = good_vm();
    t.write("/sys/devices/system/cpu/online", "0\n");
    let (code, doc) = preflight_json(&t, &[]);
    assert_eq!(code, 3);
    assert_eq!(doc["outcome"], "blocked");
    assert_eq!(check(&doc, "cpus")["status"], "fail");
    let err = &doc["phases"][0]["error"];
    assert_eq!(err["code"], "preflight-blocked");
    assert!(err["message"].as_str().unwrap().contains("cpus"), "{err}");
}

#[test]
fn preflight_ignore_turns_the_named_failure_into_a_warning() {
    let t = good_vm();
    t.write("/sys/devices/system/cpu/online", "0\n");
    let (code, doc) = preflight_json(&t, &["--preflight-ignore", "cpus"]);
    assert_eq!(code, 0);
    assert_eq!(check(&doc, "cpus")["status"], "warn");
    // The same through the config file.
    t.write("/etc/minikube-none-bootstrap/config.yaml", "preflight:\n  ignore: [cpus]\n");
    let (code, doc) = preflight_json(&t, &[]);
    assert_eq!(code, 0);
    assert!(check(&doc, "cpus")["overridden"].as_str().unwrap().contains("ignore"));
}

#[test]
fn ignoring_all_is_a_config_error() {
    let t = good_vm();
    t.write("/etc/minikube-none-bootstrap/config.yaml", "preflight:\n  ignore: [all]\n");
    let (code, doc) = preflight_json(&t, &[]);
    assert_eq!(code, 2);
    assert_eq!(doc["outcome"], "config-error");
    assert!(doc["error"]["message"].as_str().unwrap().contains(":2:"), "{}", doc["error"]);
}

#[test]
fn strict_makes_a_warning_fatal() {
    let t = good_vm();
    t.remove("/usr/bin/sudo"); // missing sudo only warns: the packages phase installs it
    let (code, doc) = preflight_json(&t, &[]);
    assert_eq!(code, 0);
    assert_eq!(check(&doc, "sudo")["status"], "warn");
    let (code, doc) = preflight_json(&t, &["--strict"]);
    assert_eq!(code, 3);
    assert_eq!(check(&doc, "sudo")["status"], "fail");
}

#[test]
fn a_config_typo_exits_2_naming_key_file_and_line_and_changes_nothing() {
    let t = good_vm();
    let cfg = t.at("/etc/minikube-none-bootstrap/config.yaml");
    t.write("/etc/minikube-none-bootstrap/config.yaml", "kubernetes-version: v1.34.0\ncontainer-runtme: containerd\n");
    let before = std::fs::read_dir(t.path()).unwrap().count();
    let (code, doc) = preflight_json(&t, &[]);
    assert_eq!(code, 2);
    assert_eq!(doc["error"]["code"], "config-unknown-key");
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(msg.contains("container-runtme"), "{msg}");
    assert!(msg.contains(&format!("{}:2:", cfg.display())), "{msg}");
    assert!(doc["phases"].as_array().unwrap().is_empty(), "no phase ran");
    // Only the tool's own state directory appeared (it holds the result).
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), before);
}

#[test]
fn bad_values_from_flags_and_environment_are_usage_errors() {
    let t = good_vm();
    let root = t.root_arg();
    let out = run(&["preflight", "--root", &root, "--container-runtime", "rkt"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rkt"));
    let out = run(&["preflight", "--root", &root], &[("MINIKUBE_NONE_BOOTSTRAP_KUBERNETES_VERSION", "latest")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("latest"));
}

#[test]
fn environment_overrides_the_file_and_flags_override_the_environment() {
    let t = good_vm();
    let pin = format!("cri-dockerd:\n  sha256: {}\n", "a".repeat(64)); // docker needs it
    t.write("/etc/minikube-none-bootstrap/config.yaml", &format!("container-runtime: docker\n{pin}"));
    let runtime = |doc: &Value| check(doc, "container-runtime")["facts"]["runtime"].clone();
    let (_, doc) = preflight_json(&t, &[]);
    assert_eq!(runtime(&doc), "docker");
    let root = t.root_arg();
    let env = [("MINIKUBE_NONE_BOOTSTRAP_CONTAINER_RUNTIME", "containerd")];
    let out = run(&["preflight", "--output", "json", "--root", &root], &env);
    assert_eq!(runtime(&json_stdout(&out)), "containerd");
    let out = run(&["preflight", "--output", "json", "--root", &root, "--container-runtime", "cri-o"], &env);
    assert_eq!(runtime(&json_stdout(&out)), "cri-o");
}

#[test]
fn events_are_json_lines_that_validate() {
    let t = good_vm();
    let events = t.at("/events.jsonl");
    let (_, doc) = preflight_json(&t, &["--events", events.to_str().unwrap()]);
    let text = std::fs::read_to_string(&events).unwrap();
    assert_valid_events(&text);
    let kinds: Vec<String> =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds.first().map(String::as_str), Some("run-start"));
    assert_eq!(kinds.last().map(String::as_str), Some("run-finish"));
    let checks = kinds.iter().filter(|k| *k == "check").count();
    assert_eq!(checks, doc["phases"][0]["checks"].as_array().unwrap().len());
}

#[test]
fn plan_exits_4_while_another_run_holds_the_lock() {
    let t = good_vm();
    let lock_path = t.at("/run/minikube-none-bootstrap.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&lock_path).unwrap();
    let _held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e).unwrap();
    let root = t.root_arg();
    let out = run(&["plan", "--output", "json", "--root", &root], &[]);
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(doc["outcome"], "locked");
    // preflight takes no lock but reports the holder as a failed check.
    let (code, doc) = preflight_json(&t, &[]);
    assert_eq!(code, 3);
    assert_eq!(check(&doc, "lock")["status"], "fail");
}

#[test]
fn plan_lists_the_phases_it_would_run() {
    let t = good_vm();
    let root = t.root_arg();
    let out = run(&["plan", "--output", "json", "--root", &root, "--today", "2026-12-03"], &[]);
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(doc["command"], "plan");
    assert_eq!(doc["phases"][0]["name"], "preflight");
    assert!(doc["phases"][0]["changes"].as_array().unwrap().is_empty(), "preflight changes nothing");
    let text = run(&["plan", "--root", &root, "--today", "2026-12-03"], &[]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("preflight: no changes"));
}

#[test]
fn commands_not_built_are_absent() {
    let help = run(&["--help"], &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    for cmd in ["prepare", "seal", "status", "bundle"] {
        let out = run(&[cmd], &[]);
        assert_eq!(out.status.code(), Some(2), "{cmd} is not built: a usage error");
        assert!(!help.contains(&format!("\n  {cmd} ")), "{cmd} must not be listed:\n{help}");
    }
    assert!(help.contains("\n  apply "), "{help}");
}

#[test]
fn completions_are_generated() {
    let out = run(&["completions", "bash"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("minikube-none-bootstrap"));
}

#[test]
fn a_kernel_upgraded_without_reboot_exits_6_and_changes_nothing() {
    let t = good_vm();
    t.write("/proc/modules", "overlay 212992 0 - Live 0x0000000000000000\n")
        .remove("/lib/modules/6.12.48+deb13-amd64")
        .remove("/proc/sys/net/bridge")
        .write("/lib/modules/6.12.57+deb13-amd64/modules.dep", "kernel/net/bridge/br_netfilter.ko.xz:\n");
    let (code, doc) = preflight_json(&t, &[]);
    assert_eq!(code, 0, "preflight only warns: the host is fine after a reboot");
    assert!(check(&doc, "kernel-modules")["message"].as_str().unwrap().contains("reboot"));
    let root = t.root_arg();
    let out = run(&["apply", "--only", "host", "--output", "json", "--root", &root], &[]);
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(doc["outcome"], "reboot-required");
    let host = doc["phases"].as_array().unwrap().iter().find(|p| p["name"] == "host").unwrap();
    assert_eq!(host["error"]["code"], "reboot-required");
    assert!(!t.at("/etc/sysctl.d/99-zz-minikube-none-bootstrap.conf").exists(), "nothing written");
}

#[test]
fn events_and_result_on_stdout_are_json_lines_ending_with_the_result() {
    let t = good_vm();
    let root = t.root_arg();
    let out = run(&["preflight", "--events", "-", "--output", "json", "--root", &root, "--today", "2026-12-03"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let (last, events) = lines.split_last().unwrap();
    assert_valid_events(&events.join("\n"));
    let doc: Value = serde_json::from_str(last).unwrap();
    assert_valid_result(&doc);
    assert_eq!(doc["exit_code"], out.status.code().unwrap());
}
