//! The v1 result document, the check/change records inside it, and the exit codes.
//! Everything here is contract: published as schema/result.v1.json and tested against it.

use serde::Serialize;
use std::collections::BTreeMap;

pub const RESULT_SCHEMA: &str = "minikube-none-bootstrap/result/v1";

/// Stable exit codes (README and `--help` list them; tests/exit_codes.rs proves each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitCode {
    Success = 0,
    PhaseFailed = 1,
    UsageOrConfig = 2,
    PreflightBlocked = 3,
    Locked = 4,
    WaitTimedOut = 5,
    RebootRequired = 6,
}

impl ExitCode {
    pub const ALL: [ExitCode; 7] = [
        ExitCode::Success,
        ExitCode::PhaseFailed,
        ExitCode::UsageOrConfig,
        ExitCode::PreflightBlocked,
        ExitCode::Locked,
        ExitCode::WaitTimedOut,
        ExitCode::RebootRequired,
    ];

    pub fn code(self) -> i32 {
        self as i32
    }

    /// The `outcome` string of the result document for this exit code.
    pub fn outcome(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::PhaseFailed => "failed",
            ExitCode::UsageOrConfig => "config-error",
            ExitCode::PreflightBlocked => "blocked",
            ExitCode::Locked => "locked",
            ExitCode::WaitTimedOut => "timed-out",
            ExitCode::RebootRequired => "reboot-required",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success: the host is converged (or the report has no failure)",
            ExitCode::PhaseFailed => "a phase failed; the result names it, with error and remedy",
            ExitCode::UsageOrConfig => "usage or configuration error; nothing was changed",
            ExitCode::PreflightBlocked => "preflight found a failing check; nothing was changed",
            ExitCode::Locked => "another run holds the lock; nothing was changed",
            ExitCode::WaitTimedOut => "the bounded wait for the cluster timed out",
            ExitCode::RebootRequired => "a reboot is required before the run can continue",
        }
    }

    /// The exit-code table as printed in `--help`.
    pub fn help_table() -> String {
        let mut s = String::from("Exit codes:\n");
        for c in Self::ALL {
            s.push_str(&format!("  {:>2}  {}\n", c.code(), c.meaning()));
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

/// One preflight check: a stable id, what it measured, and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: CheckStatus,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// Set when `preflight.ignore` turned a fail into this warn, or `--strict` a warn into a fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overridden: Option<&'static str>,
    pub facts: BTreeMap<String, serde_json::Value>,
}

impl Check {
    pub fn new(id: &'static str, status: CheckStatus, message: impl Into<String>) -> Self {
        Check { id, status, message: message.into(), remedy: None, overridden: None, facts: BTreeMap::new() }
    }
    pub fn pass(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(id, CheckStatus::Pass, message)
    }
    pub fn warn(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(id, CheckStatus::Warn, message)
    }
    pub fn fail(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(id, CheckStatus::Fail, message)
    }
    pub fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }
    pub fn fact(mut self, key: &str, value: impl Serialize) -> Self {
        let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.facts.insert(key.to_string(), v);
        self
    }
}

/// What a phase would change (plan) or did change (apply).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    /// file | directory | unit | package | sysctl | module | command | cluster | mount |
    /// interface | firewall (the last three: `reset`)
    pub kind: &'static str,
    /// The path, unit, package, sysctl key… it concerns.
    pub target: String,
    /// create | update | remove | restore | install | enable | start | set | run | load |
    /// stop | disable | keep (`keep`: left as it is on purpose, e.g. packages without
    /// `reset --purge-packages`)
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseStatus {
    Unchanged,
    Changed,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorInfo {
    /// Stable, kebab-case error code (e.g. `config-unknown-key`, `preflight-blocked`).
    pub code: String,
    pub message: String,
    pub remedy: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    pub name: &'static str,
    pub status: PhaseStatus,
    pub duration_ms: u64,
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Support {
    /// supported | outside-window | newer-than-table | other-distribution | unknown
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<String>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct HostFacts {
    pub os_id: Option<String>,
    pub os_version: Option<String>,
    pub os_name: Option<String>,
    pub support: Option<Support>,
    pub arch: String,
    pub virtualization: Option<String>,
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub schema: &'static str,
    pub tool: Tool,
    pub command: String,
    pub started_at: String,
    pub finished_at: String,
    pub host: HostFacts,
    pub outcome: &'static str,
    pub exit_code: i32,
    pub phases: Vec<PhaseResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

pub fn tool() -> Tool {
    Tool { name: env!("CARGO_PKG_NAME"), version: env!("CARGO_PKG_VERSION") }
}
