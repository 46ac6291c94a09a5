//! Preflight: every check, no change. Each check has a stable id, a status, a message, a
//! remedy and the facts it measured; all of them read the machine through `Inputs::host`.

mod distro;
mod network;
mod resources;
mod software;
mod system;

use crate::config::Settings;
use crate::config::{Runtime, Version};
use crate::host::Host;
use crate::result::{Check, CheckStatus, ErrorInfo, PhaseResult, PhaseStatus};
use crate::run::Run;
use std::path::PathBuf;

/// Every check id, in report order. `preflight.ignore` accepts exactly these.
pub const CHECK_IDS: &[&str] = &[
    "distribution",
    "systemd",
    "root",
    "sudo",
    "virtualization",
    "cpus",
    "memory",
    "disk",
    "ports",
    "existing-kubernetes",
    "cgroups",
    "kernel-modules",
    "sysctls",
    "package-manager",
    "package-lock",
    "container-runtime",
    "hostname",
    "hostname-resolves",
    "default-route",
    "proxy",
    "selinux",
    "host-firewall",
    "lock",
];

/// What the checks need to know besides the machine itself.
pub struct Inputs<'a> {
    pub host: &'a Host,
    /// The run's date (the support window is computed from it).
    pub today: jiff::civil::Date,
    pub runtime: Runtime,
    pub kubernetes_version: &'a Version,
    /// Proxy settings from the config; the process environment is read too.
    pub proxy_http: Option<&'a str>,
    pub proxy_https: Option<&'a str>,
    pub no_proxy: Option<&'a str>,
    /// The state says this tool made the cluster now on the host (its ports, kubelet are ours).
    pub owned_cluster: bool,
    /// The lock file another run would hold (under /run in the root).
    pub lock_path: PathBuf,
}

/// Runs every check in `CHECK_IDS` order.
pub fn run_checks(inputs: &Inputs) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.extend(distro::checks(inputs));
    checks.extend(system::checks(inputs));
    checks.extend(resources::checks(inputs));
    checks.extend(network::checks(inputs));
    checks.extend(software::checks(inputs));
    checks.sort_by_key(|c| CHECK_IDS.iter().position(|id| *id == c.id).unwrap_or(usize::MAX));
    checks
}

/// `preflight.ignore` turns a named fail into a warn; `--strict` turns warnings into fails.
pub fn apply_policy(checks: &mut [Check], ignore: &[crate::config::CheckId], strict: bool) {
    for c in checks.iter_mut() {
        if c.status == CheckStatus::Fail && ignore.iter().any(|i| i.0 == c.id) {
            c.status = CheckStatus::Warn;
            c.overridden = Some("ignored by preflight.ignore");
        } else if strict && c.status == CheckStatus::Warn {
            c.status = CheckStatus::Fail;
            c.overridden = Some("warning made fatal by --strict");
        }
    }
}

pub fn blocked(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == CheckStatus::Fail)
}

/// Preflight as a phase of a run: checks only, no changes; failed when a check fails.
pub fn phase(run: &Run, s: &Settings) -> PhaseResult {
    let started = std::time::Instant::now();
    run.events.emit("phase-start", serde_json::json!({ "phase": "preflight" }));
    let inputs = Inputs {
        host: &run.host,
        today: run.today,
        runtime: s.container_runtime,
        kubernetes_version: &s.kubernetes_version,
        proxy_http: s.proxy.http.as_deref(),
        proxy_https: s.proxy.https.as_deref(),
        no_proxy: s.proxy.no_proxy.as_deref(),
        owned_cluster: run.state.owns_cluster(),
        lock_path: run.host.path(crate::state::LOCK_FILE),
    };
    let mut checks = run_checks(&inputs);
    apply_policy(&mut checks, &s.preflight_ignore, s.strict);
    for c in &checks {
        run.events.emit("check", serde_json::json!({ "phase": "preflight", "check": c }));
    }
    let failed: Vec<&str> = checks.iter().filter(|c| c.status == CheckStatus::Fail).map(|c| c.id).collect();
    let error = (!failed.is_empty()).then(|| ErrorInfo {
        code: "preflight-blocked".into(),
        message: format!("preflight failed: {}", failed.join(", ")),
        remedy: "fix what each failed check's remedy says, or list its id in preflight.ignore to proceed anyway".into(),
    });
    let phase = PhaseResult {
        name: "preflight",
        status: if error.is_some() { PhaseStatus::Failed } else { PhaseStatus::Unchanged },
        duration_ms: started.elapsed().as_millis() as u64,
        changes: Vec::new(),
        checks,
        error,
    };
    run.events.emit(
        "phase-finish",
        serde_json::json!({ "phase": "preflight", "status": phase.status, "duration_ms": phase.duration_ms }),
    );
    phase
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckId;

    #[test]
    fn ignore_and_strict() {
        let mut checks = vec![Check::fail("cpus", "1 CPU"), Check::warn("disk", "low")];
        apply_policy(&mut checks, &[CheckId("cpus".into())], false);
        assert_eq!(checks[0].status, CheckStatus::Warn);
        assert_eq!(checks[1].status, CheckStatus::Warn);
        assert!(!blocked(&checks));
        let mut checks = vec![Check::fail("cpus", "1 CPU"), Check::warn("disk", "low")];
        apply_policy(&mut checks, &[], true);
        assert_eq!(checks[1].status, CheckStatus::Fail);
        assert!(blocked(&checks));
    }
}
