//! The human rendering of a result (`--output text`).

use crate::result::{CheckStatus, PhaseStatus, RunResult};
use std::fmt::Write;

pub fn text(r: &RunResult) -> String {
    let mut s = String::new();
    let os = r.host.os_name.as_deref().unwrap_or("unknown OS");
    let _ = writeln!(s, "{} {} on {os} ({})", r.tool.name, r.command, r.host.arch);
    for p in &r.phases {
        for c in &p.checks {
            let tag = match c.status {
                CheckStatus::Pass => "pass",
                CheckStatus::Warn => "WARN",
                CheckStatus::Fail => "FAIL",
            };
            let _ = writeln!(s, "  {tag}  {:<20} {}", c.id, c.message);
            if c.status != CheckStatus::Pass {
                if let Some(remedy) = &c.remedy {
                    let _ = writeln!(s, "        {:<20} -> {remedy}", "");
                }
            }
        }
        let status = match p.status {
            PhaseStatus::Unchanged => "unchanged",
            PhaseStatus::Changed => "changed",
            PhaseStatus::Skipped => "skipped",
            PhaseStatus::Failed => "FAILED",
        };
        if r.command == "plan" || !p.changes.is_empty() {
            if p.changes.is_empty() {
                let _ = writeln!(s, "{}: no changes", p.name);
            }
            for ch in &p.changes {
                let detail = ch.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                let _ = writeln!(s, "{}: {} {} {}{detail}", p.name, ch.action, ch.kind, ch.target);
            }
        }
        let _ = writeln!(s, "phase {}: {status} in {} ms", p.name, p.duration_ms);
        if let Some(e) = &p.error {
            let _ = writeln!(s, "  error [{}]: {}\n  remedy: {}", e.code, e.message, e.remedy);
        }
    }
    if let Some(e) = &r.error {
        let _ = writeln!(s, "error [{}]: {}\nremedy: {}", e.code, e.message, e.remedy);
    }
    let _ = writeln!(s, "outcome: {} (exit {})", r.outcome, r.exit_code);
    s
}
