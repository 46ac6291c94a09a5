//! What `apply` would produce for runtimes the guests here cannot run: cri-o on Fedora 43
//! (dnf, sudo's secure_path without /usr/local/bin), and docker's units on Debian 13 —
//! read from `plan` against fixture roots, file by file and unit by unit.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use support::tree::{Tree, good_vm};
use support::*;

fn plan(t: &Tree, runtime: &str) -> Value {
    let root = t.root_arg();
    let out = run(
        &["plan", "--output", "json", "--root", &root, "--today", "2026-12-03", "--container-runtime", runtime],
        &[],
    );
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    doc
}

fn changes(doc: &Value, phase: &str) -> Vec<String> {
    let p = doc["phases"].as_array().unwrap().iter().find(|p| p["name"] == phase).unwrap();
    p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["action"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
                c["target"].as_str().unwrap()
            )
        })
        .collect()
}

/// A fresh Fedora 43 VM: dnf and rpm (stubs: nothing installed), Fedora's sudoers.
fn fedora() -> Tree {
    let t = good_vm();
    t.write("/etc/os-release", include_str!("fixtures/os-release/fedora-43"))
        .remove("/usr/bin/apt-get")
        .script("/usr/bin/dnf", "exit 0")
        .script("/usr/bin/rpm", "exit 1") // `rpm -q PKG`: not installed
        .write("/etc/sudoers", "Defaults    secure_path = /sbin:/bin:/usr/sbin:/usr/bin\nroot ALL=(ALL) ALL\n")
        .write("/sys/fs/selinux/enforce", "0\n");
    t
}

#[test]
fn cri_o_on_fedora_installs_the_package_and_points_crictl_at_crio() {
    let doc = plan(&fedora(), "cri-o");
    let packages = changes(&doc, "packages");
    assert_eq!(packages.len(), 1);
    assert!(packages[0].starts_with("install package conntrack-tools socat ethtool iptables-nft sudo"), "{packages:?}");
    assert!(packages[0].ends_with(" cri-o"), "{packages:?}");
    let runtime = changes(&doc, "runtime");
    assert!(runtime.contains(&"create file /etc/crictl.yaml".to_string()), "{runtime:?}");
    assert!(!runtime.iter().any(|c| c.contains("containerd")), "no containerd config for cri-o: {runtime:?}");
    // minikube runs crictl through sudo: Fedora's secure_path has /usr/bin, not /usr/local/bin.
    assert!(runtime.iter().any(|c| c.contains("/usr/bin/crictl")), "{runtime:?}");
    assert!(runtime.contains(&"enable unit crio.service".to_string()), "{runtime:?}");
    assert!(runtime.contains(&"start unit crio.service".to_string()), "{runtime:?}");
    assert!(changes(&doc, "minikube").iter().any(|c| c.contains("/usr/bin/minikube")));
}

#[test]
fn docker_without_a_cri_dockerd_pin_is_a_config_error() {
    let t = good_vm();
    let root = t.root_arg();
    let out = run(&["plan", "--output", "json", "--root", &root, "--container-runtime", "docker"], &[]);
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc["error"]["code"], "config-missing-pin");
    assert!(doc["error"]["message"].as_str().unwrap().contains("cri-dockerd.sha256"), "{}", doc["error"]);
}

#[test]
fn docker_on_debian_13_adds_cri_dockerd_with_its_units() {
    let t = good_vm();
    t.write("/etc/minikube-none-bootstrap/config.yaml", &format!("cri-dockerd:\n  sha256: {}\n", "a".repeat(64)));
    let doc = plan(&t, "docker");
    let packages = changes(&doc, "packages");
    assert!(packages[0].contains("docker.io") && packages[0].contains("docker-cli"), "{packages:?}");
    let runtime = changes(&doc, "runtime");
    for want in [
        "create file /etc/systemd/system/cri-docker.service",
        "create file /etc/systemd/system/cri-docker.socket",
        "create file /etc/crictl.yaml",
        "enable unit docker.service",
        "enable unit cri-docker.socket",
        "enable unit cri-docker.service",
    ] {
        assert!(runtime.contains(&want.to_string()), "missing `{want}` in {runtime:?}");
    }
    assert!(runtime.iter().any(|c| c.contains("/usr/local/bin/cri-dockerd")), "{runtime:?}");
    assert!(!runtime.iter().any(|c| c.contains("/etc/containerd/config.toml")), "{runtime:?}");
}
