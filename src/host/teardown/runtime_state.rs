//! Container runtime state directories: which were absent before the first change.

use crate::host::{Host, fs::write_atomic};
use anyhow::Result;
use std::collections::BTreeSet;
use std::path::Path;

/// Under the state directory: which of [`RUNTIME_STATE`] did not exist before the first change.
pub const RUNTIME_STATE_FILE: &str = "runtime-state.json";

/// Where the container runtimes keep their state (images, containers, snapshots), and the
/// packages whose daemons make it. Never tracked as trees (they can be huge); only whether
/// each existed, so that `reset --purge-packages` removes what came with a runtime it purges.
pub const RUNTIME_STATE: [(&str, &[&str]); 6] = [
    ("/var/lib/containerd", &["containerd", "containerd.io"]),
    ("/opt/containerd", &["containerd", "containerd.io"]),
    ("/var/lib/docker", &["docker.io", "docker-ce", "moby-engine"]),
    ("/var/lib/cri-dockerd", &["docker.io", "docker-ce", "moby-engine"]),
    ("/var/lib/containers", &["cri-o"]),
    ("/var/lib/crio", &["cri-o"]),
];

/// Records once (the first record wins) which runtime state directories are absent.
pub fn record_runtime_state(host: &Host, state: &Path) -> Result<()> {
    let p = state.join(RUNTIME_STATE_FILE);
    if p.exists() {
        return Ok(());
    }
    let absent: Vec<&str> =
        RUNTIME_STATE.iter().map(|(d, _)| *d).filter(|d| std::fs::symlink_metadata(host.path(d)).is_err()).collect();
    write_atomic(&p, &serde_json::to_vec_pretty(&serde_json::json!({ "absent": absent }))?, 0o600)
}

/// The runtime state directories of the `purged` packages that were absent at the record and
/// exist now.
pub fn runtime_state_made(host: &Host, state: &Path, purged: &BTreeSet<String>) -> Vec<String> {
    let Some(v) = std::fs::read(state.join(RUNTIME_STATE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return Vec::new();
    };
    let absent: BTreeSet<String> =
        v["absent"].as_array().into_iter().flatten().filter_map(|d| d.as_str().map(String::from)).collect();
    RUNTIME_STATE
        .iter()
        .filter(|(d, owners)| {
            absent.contains(*d)
                && owners.iter().any(|o| purged.contains(*o))
                && std::fs::symlink_metadata(host.path(d)).is_ok()
        })
        .map(|(d, _)| d.to_string())
        .collect()
}
