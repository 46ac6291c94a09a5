//! Host facts: for the result document, and the few that decide how phases install things.

use super::{Host, os_release, probe};
use crate::result::HostFacts;

pub fn collect(host: &Host, today: jiff::civil::Date) -> HostFacts {
    let os = os_release::read(host);
    HostFacts {
        os_id: os.as_ref().map(|o| o.id.clone()),
        os_version: os.as_ref().and_then(|o| o.version_id.clone()),
        os_name: os.as_ref().map(|o| o.pretty_name.clone()),
        support: os.as_ref().map(|o| os_release::support(o, today)),
        arch: std::env::consts::ARCH.to_string(),
        virtualization: probe::virtualization(host),
        hostname: probe::hostname(host),
        machine_id: probe::machine_id(host),
    }
}

/// Go's name for this machine's architecture, as release artifacts use it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Where downloaded binaries go: a directory in sudo's secure_path, since minikube runs its
/// tools through sudo (Fedora's secure_path lacks /usr/local/bin).
pub fn bin_dir(host: &Host) -> &'static str {
    match probe::sudo_secure_path(host) {
        Some(sp) if !sp.split(':').any(|d| d == "/usr/local/bin") => "/usr/bin",
        _ => "/usr/local/bin",
    }
}
