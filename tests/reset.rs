//! `apply` records the pre-install manifest before it changes anything, and `reset` (and
//! `plan reset`) put a fixture root back as it was: the listing of the tracked paths taken
//! before `apply` equals the one after `reset`. The built binary, under `--root` trees.
#![allow(clippy::unwrap_used)]

mod support;

use minikube_none_bootstrap::host::Host;
use minikube_none_bootstrap::manifest::{ListingRow, Manifest, diff_listings, listing, tracked_for_user};
use minikube_none_bootstrap::result::ExitCode;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use support::tree::{Tree, good_vm};
use support::*;

const STATE: &str = "/var/lib/minikube-none-bootstrap";
const RESULT: &str = "/run/minikube-none-bootstrap/result.json";
const SYSCTL_DROPIN: &str = "/etc/sysctl.d/99-zz-minikube-none-bootstrap.conf";
const MODULES_DROPIN: &str = "/etc/modules-load.d/minikube-none-bootstrap.conf";
const SYSCTLS: [&str; 5] = [
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/ipv6/conf/all/forwarding",
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
    "/proc/sys/fs/protected_regular",
];
const OLD_KUBECTL: &str = "#!/bin/sh\necho 'the distribution kubectl, v1.28'\n";
const OLD_DAEMON: &str = "{\"log-driver\": \"journald\"}\n";
const OLD_CUSTOM: &str = "apiVersion: v1\nkind: Custom\n";

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The tool under `t`, with its output as JSON (validated) and its exit code.
fn tool(t: &Tree, args: &[&str]) -> (i32, Value) {
    let root = t.root_arg();
    let mut all = args.to_vec();
    all.extend(["--output", "json", "--root", &root, "--today", "2026-12-03"]);
    let out = run(&all, &[]);
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    let code = out.status.code().unwrap();
    assert_eq!(doc["exit_code"], code, "{doc:#}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    (code, doc)
}

fn host(t: &Tree) -> Host {
    Host::new(t.path())
}

/// The listing reset is judged by, and the sysctl values (files under a fixture root).
fn list(t: &Tree) -> (Vec<ListingRow>, Vec<String>) {
    let sysctls = SYSCTLS.iter().map(|p| format!("{p} = {}", host(t).read_value(p).unwrap_or_default())).collect();
    (listing(&host(t), &tracked_for_user("/home/debian")), sysctls)
}

fn assert_same(before: &(Vec<ListingRow>, Vec<String>), after: &(Vec<ListingRow>, Vec<String>)) {
    let diff = diff_listings(&before.0, &after.0);
    assert!(diff.is_empty(), "listing differs:\n{}", diff.join("\n"));
    assert_eq!(before.1, after.1, "sysctl values");
}

fn phase<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["phases"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{doc:#}"))
}

/// `(kind, target, action)` of every change of the reset phase.
fn changes(doc: &Value) -> Vec<(String, String, String)> {
    phase(doc, "reset")["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            (s("kind"), s("target"), s("action"))
        })
        .collect()
}

fn has(doc: &Value, kind: &str, target: &str, action: &str) -> bool {
    changes(doc).iter().any(|(k, t, a)| k == kind && t == target && a == action)
}

/// A fresh VM with things of its own where apply and minikube write.
fn vm_with_own_files() -> Tree {
    let t = good_vm();
    t.script("/usr/local/bin/kubectl", "echo 'the distribution kubectl, v1.28'")
        .write("/etc/docker/daemon.json", OLD_DAEMON)
        .write("/etc/kubernetes/custom.conf", OLD_CUSTOM)
        .write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\ndebian:x:1000:1000::/home/debian:/bin/bash\n")
        .write("/proc/sys/net/ipv6/conf/all/forwarding", "0\n")
        .mkdir("/home/debian")
        .mkdir("/root");
    std::fs::set_permissions(t.at("/etc/kubernetes/custom.conf"), std::fs::Permissions::from_mode(0o600)).unwrap();
    t
}

/// What `minikube start` and a cluster would do to the tracked paths (the double's files).
fn minikube_start(t: &Tree) {
    t.write("/usr/local/bin/kubectl", "#!/bin/sh\necho v1.34.0\n")
        .write("/etc/docker/daemon.json", "{\"exec-opts\": [\"native.cgroupdriver=systemd\"]}\n")
        .write("/etc/kubernetes/custom.conf", "overwritten\n")
        .write("/etc/kubernetes/admin.conf", "kind: Config\n")
        .write("/etc/kubernetes/manifests/kube-apiserver.yaml", "kind: Pod\n")
        .write("/var/lib/minikube/binaries/v1.34.0/kubelet", "\x7fELF")
        .write("/var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\n")
        .write("/lib/systemd/system/kubelet.service", "[Unit]\n")
        .write("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "[Service]\n")
        .write("/etc/cni/net.d/1-k8s.conflist", "{}\n")
        .write("/root/.minikube/profiles/minikube/config.json", "{}\n")
        .write("/root/.kube/config", "kind: Config\n");
    let mut hosts = std::fs::read_to_string(t.at("/etc/hosts")).unwrap();
    hosts.push_str("192.168.2.10\tcontrol-plane.minikube.internal\n");
    t.write("/etc/hosts", &hosts);
    let wants = t.at("/etc/systemd/system/multi-user.target.wants/kubelet.service");
    std::fs::create_dir_all(wants.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/lib/systemd/system/kubelet.service", wants).unwrap();
}

fn state(t: &Tree) -> PathBuf {
    t.at(STATE)
}

#[test]
fn apply_records_before_it_changes_and_reset_gives_the_listing_back() {
    let t = vm_with_own_files();
    let before = list(&t);

    // plan records nothing
    let (code, _) = tool(&t, &["plan", "--only", "host"]);
    assert_eq!(code, 0);
    assert!(!Manifest::exists(&state(&t)), "plan changes nothing, records nothing");

    let (code, doc) = tool(&t, &["apply", "--only", "host"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(phase(&doc, "host")["status"], "changed");
    let m = Manifest::load(&state(&t)).unwrap();
    assert!(m.entry(SYSCTL_DROPIN).is_some_and(|e| !e.existed), "the drop-in is recorded as absent");
    assert!(m.entry("/etc/kubernetes/custom.conf").is_some_and(|e| e.existed && e.backup.is_some()));
    assert!(m.entry("/home/debian/.kube/config").is_some(), "the user's kubeconfig is tracked");
    assert_eq!(m.sysctls().get("fs.protected_regular").map(String::as_str), Some("2"), "the value before");
    assert_eq!(m.sysctls().get("net.ipv4.ip_forward").map(String::as_str), Some("0"));
    assert_eq!(std::fs::read_to_string(t.at("/proc/sys/net/ipv4/ip_forward")).unwrap(), "1");
    let first = std::fs::read(Manifest::file(&state(&t))).unwrap();

    // a second apply changes nothing and so records nothing new
    let (code, doc) = tool(&t, &["apply", "--only", "host"]);
    assert_eq!((code, &phase(&doc, "host")["status"]), (0, &Value::from("unchanged")));
    assert_eq!(std::fs::read(Manifest::file(&state(&t))).unwrap(), first, "the first record stands");

    minikube_start(&t);
    let changed = list(&t);

    // plan reset: every path, nothing done
    let (code, plan) = tool(&t, &["plan", "reset"]);
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(plan["command"], "plan");
    assert_eq!(phase(&plan, "reset")["status"], "changed");
    for (kind, target, action) in [
        ("file", SYSCTL_DROPIN, "remove"),
        ("file", MODULES_DROPIN, "remove"),
        ("file", "/usr/local/bin/kubectl", "restore"),
        ("file", "/etc/docker/daemon.json", "restore"),
        ("file", "/etc/kubernetes/custom.conf", "restore"),
        ("file", "/etc/hosts", "restore"),
        ("file", "/etc/kubernetes/admin.conf", "remove"),
        ("directory", "/etc/kubernetes/manifests", "remove"),
        ("directory", "/var/lib/minikube", "remove"),
        ("directory", "/root/.minikube", "remove"),
        ("file", "/lib/systemd/system/kubelet.service", "remove"),
        ("sysctl", "fs.protected_regular", "restore"),
        ("sysctl", "net.ipv4.ip_forward", "restore"),
        ("directory", STATE, "remove"),
    ] {
        assert!(has(&plan, kind, target, action), "plan lacks {action} {kind} {target}: {:#?}", changes(&plan));
    }
    assert_same(&changed, &list(&t));
    assert!(Manifest::exists(&state(&t)), "plan reset keeps the manifest");

    // reset: back to the listing before apply, byte for byte
    let (code, doc) = tool(&t, &["reset"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!((doc["command"].as_str(), doc["outcome"].as_str()), (Some("reset"), Some("success")));
    assert_eq!(phase(&doc, "reset")["status"], "changed");
    assert_eq!(changes(&doc), changes(&plan), "reset did what plan reset showed");
    assert_same(&before, &list(&t));
    assert_eq!(std::fs::read_to_string(t.at("/usr/local/bin/kubectl")).unwrap(), OLD_KUBECTL);
    assert_eq!(std::fs::read_to_string(t.at("/etc/docker/daemon.json")).unwrap(), OLD_DAEMON);
    assert_eq!(std::fs::read_to_string(t.at("/etc/kubernetes/custom.conf")).unwrap(), OLD_CUSTOM);
    assert!(!state(&t).exists(), "the state directory is gone");
    let recorded: Value = serde_json::from_slice(&std::fs::read(t.at(RESULT)).unwrap()).unwrap();
    assert_eq!(recorded, doc, "the reset result is kept under /run");

    // again: nothing left to do
    let (code, again) = tool(&t, &["reset"]);
    assert_eq!(code, 0);
    assert_eq!(phase(&again, "reset")["status"], "unchanged");
    assert!(changes(&again).is_empty(), "{again:#}");
    assert_same(&before, &list(&t));
}

#[test]
fn a_reset_interrupted_half_way_is_finished_by_the_next() {
    let t = vm_with_own_files();
    let before = list(&t);
    assert_eq!(tool(&t, &["apply", "--only", "host"]).0, 0);
    minikube_start(&t);
    // half of the restore done, as if the first reset was killed in the middle of it
    let h = host(&t);
    let m = Manifest::load(&state(&t)).unwrap();
    let steps: Vec<_> = m.plan_restore(&h).into_iter().filter(|s| s.is_change()).collect();
    assert!(steps.len() > 4);
    m.restore(&h, &state(&t), &steps[..steps.len() / 2]).unwrap();
    // and the state directory half removed, the manifest still there
    std::fs::remove_file(state(&t).join("result.json")).unwrap();

    let (code, doc) = tool(&t, &["reset"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_same(&before, &list(&t));
    assert!(!state(&t).exists());
}

#[test]
fn a_failed_step_keeps_the_manifest_and_the_other_steps_still_run() {
    let t = vm_with_own_files();
    let before = list(&t);
    assert_eq!(tool(&t, &["apply", "--only", "host"]).0, 0);
    minikube_start(&t);
    // the backup of /etc/hosts is lost: that restore cannot be done
    let m = Manifest::load(&state(&t)).unwrap();
    let backup = state(&t).join("backup").join(m.entry("/etc/hosts").unwrap().backup.as_ref().unwrap());
    let saved = std::fs::read(&backup).unwrap();
    std::fs::remove_file(&backup).unwrap();

    let (code, doc) = tool(&t, &["reset"]);
    assert_eq!(code, ExitCode::PhaseFailed.code(), "{doc:#}");
    let p = phase(&doc, "reset");
    assert_eq!((p["status"].as_str(), p["error"]["code"].as_str()), (Some("failed"), Some("reset-incomplete")));
    assert!(p["error"]["message"].as_str().unwrap().contains("/etc/hosts"), "{p:#}");
    assert!(Manifest::exists(&state(&t)), "the manifest stays for the next reset");
    assert!(!t.at(SYSCTL_DROPIN).exists() && !t.at("/etc/kubernetes/admin.conf").exists(), "the rest was done");

    std::fs::write(&backup, saved).unwrap();
    let (code, doc) = tool(&t, &["reset"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(changes(&doc).iter().filter(|c| c.0 == "file").count(), 1, "only /etc/hosts was left: {doc:#}");
    assert_same(&before, &list(&t));
    assert!(!state(&t).exists());
}

#[test]
fn packages_stay_unless_purged_and_the_result_says_so() {
    let t = vm_with_own_files();
    t.write(
        "/var/lib/dpkg/status",
        "Package: socat\nStatus: install ok installed\n\nPackage: containerd\nStatus: install ok installed\n\n\
         Package: vim\nStatus: install ok installed\n",
    )
    .mkdir("/var/lib/docker"); // the host's own docker state: there before
    assert_eq!(tool(&t, &["apply", "--only", "host"]).0, 0); // records what is there first
    let mut m = Manifest::load(&state(&t)).unwrap();
    m.record_absent_packages(&["socat", "containerd", "ethtool", "docker.io"]);
    m.save(&state(&t)).unwrap();
    // what the runtime made after the record (and what was there before stays)
    t.mkdir("/var/lib/containerd/io.containerd.metadata.v1.bolt").mkdir("/opt/containerd/bin");

    let (code, plan) = tool(&t, &["plan", "reset"]);
    assert_eq!(code, 0);
    assert!(has(&plan, "package", "containerd socat", "keep"), "{:#?}", changes(&plan));
    let keep = changes(&plan).iter().position(|c| c.2 == "keep").unwrap();
    assert!(phase(&plan, "reset")["changes"][keep]["detail"].as_str().unwrap().contains("--purge-packages"));
    assert!(!has(&plan, "directory", "/var/lib/containerd", "remove"), "kept runtime, kept state");
    let (_, plan) = tool(&t, &["plan", "reset", "--purge-packages"]);
    assert!(has(&plan, "package", "containerd socat", "remove"), "{:#?}", changes(&plan));
    assert!(has(&plan, "directory", "/var/lib/containerd", "remove"), "{:#?}", changes(&plan));
    assert!(has(&plan, "directory", "/opt/containerd", "remove"));
    assert!(!has(&plan, "directory", "/var/lib/docker", "remove"), "there before the first apply");

    // without the flag: kept, and the reset succeeds
    let (code, doc) = tool(&t, &["reset"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(has(&doc, "package", "containerd socat", "keep"));
    assert!(t.at("/var/lib/containerd").exists() && t.at("/var/lib/docker").exists());
    assert!(!state(&t).exists());
}

#[test]
fn never_applied_means_nothing_to_reset() {
    let t = good_vm();
    let before = list(&t);
    let (code, doc) = tool(&t, &["reset", "--purge-packages"]);
    assert_eq!(code, 0);
    assert_eq!(phase(&doc, "reset")["status"], "unchanged");
    assert!(changes(&doc).is_empty());
    assert!(!state(&t).exists(), "nothing made, not even the state directory");
    assert_same(&before, &list(&t));
    let (code, doc) = tool(&t, &["plan", "reset"]);
    assert_eq!((code, phase(&doc, "reset")["changes"].as_array().map(Vec::len)), (0, Some(0)));
}

#[test]
fn reset_takes_the_run_lock() {
    use nix::fcntl::{Flock, FlockArg};
    let t = vm_with_own_files();
    assert_eq!(tool(&t, &["apply", "--only", "host"]).0, 0);
    let lock = t.at("/run/minikube-none-bootstrap.lock");
    let held = Flock::lock(std::fs::File::open(&lock).unwrap(), FlockArg::LockExclusive).unwrap();
    for args in [&["reset"][..], &["plan", "reset"][..]] {
        let (code, doc) = tool(&t, args);
        assert_eq!(code, ExitCode::Locked.code(), "{doc:#}");
        assert_eq!(doc["error"]["code"], "locked");
    }
    assert!(Manifest::exists(&state(&t)), "nothing was changed");
    assert!(t.at(SYSCTL_DROPIN).exists());
    drop(held);
    assert_eq!(tool(&t, &["reset"]).0, 0);
    assert!(!t.at(SYSCTL_DROPIN).exists());
}

#[test]
fn reset_events_follow_the_event_schema() {
    let t = vm_with_own_files();
    assert_eq!(tool(&t, &["apply", "--only", "host"]).0, 0);
    let events = t.path().join("events.jsonl");
    let (code, _) = tool(&t, &["reset", "--events", events.to_str().unwrap()]);
    assert_eq!(code, 0);
    let lines = std::fs::read_to_string(&events).unwrap();
    assert_valid_events(&lines);
    assert!(lines.contains("\"phase\":\"reset\""), "{lines}");
}

#[test]
fn the_reset_commands_are_listed_and_documented() {
    let help = String::from_utf8_lossy(&run(&["--help"], &[]).stdout).into_owned();
    assert!(help.contains("\n  reset "), "{help}");
    for cmd in [&["reset", "--help"][..], &["plan", "reset", "--help"][..]] {
        let out = run(cmd, &[]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--purge-packages"), "{text}");
        for c in ExitCode::ALL {
            assert!(text.contains(&format!("{:>2}  {}", c.code(), c.meaning())), "{cmd:?} lacks exit code {c:?}");
        }
    }
    assert_eq!(run(&["plan", "--only", "host", "reset"], &[]).status.code(), Some(2), "--only is not for reset");
    assert_eq!(run(&["reset", "--only", "host"], &[]).status.code(), Some(2));
}

#[test]
fn the_users_kubeconfig_is_recorded_before_access_writes_it() {
    if !is_root() {
        return; // chown to the user needs root
    }
    let t = vm_with_own_files();
    let before = list(&t);
    let (code, doc) = tool(&t, &["apply", "--only", "access"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(t.at("/home/debian/.kube/config").exists(), "access wrote the user's kubeconfig");
    let m = Manifest::load(&state(&t)).unwrap();
    assert!(m.entry("/home/debian/.kube").is_some_and(|e| !e.existed));
    assert_eq!(tool(&t, &["reset"]).0, 0);
    assert_same(&before, &list(&t));
    assert!(!t.at("/home/debian/.kube").exists());
}
