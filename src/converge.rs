//! Runs phases in order: check each against the real state, then (for `apply`) carry out
//! exactly the planned actions. A converged host: every phase unchanged, nothing written.

use crate::failure;
use crate::host::exec::Executor;
use crate::phases::{Action, Ctx, Phase};
use crate::result::{ExitCode, PhaseResult, PhaseStatus};
use serde_json::json;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plan,
    Apply,
}

/// A phase left out by `--only`/`--skip`, as it appears in the result.
pub fn skipped(name: &'static str) -> PhaseResult {
    PhaseResult {
        name,
        status: PhaseStatus::Skipped,
        duration_ms: 0,
        changes: Vec::new(),
        checks: Vec::new(),
        error: None,
    }
}

/// Runs `phases`; returns their results and the exit code of the first failure (if any).
pub fn run(ctx: &Ctx, phases: &[&dyn Phase], mode: Mode) -> (Vec<PhaseResult>, Option<ExitCode>) {
    let exec = Executor::new(ctx);
    let mut results = Vec::new();
    for phase in phases {
        let name = phase.name();
        let started = Instant::now();
        ctx.events.emit("phase-start", json!({ "phase": name }));
        let mut result = PhaseResult {
            name,
            status: PhaseStatus::Unchanged,
            duration_ms: 0,
            changes: Vec::new(),
            checks: Vec::new(),
            error: None,
        };
        // Described before they run, so `create` and `update` say what the machine had.
        let outcome = phase.check(ctx).and_then(|actions| {
            result.changes = actions.iter().map(|a| a.change(ctx.host)).collect();
            if mode == Mode::Apply {
                apply(&exec, &actions)?;
                phase.verify(ctx)?;
            }
            Ok(actions)
        });
        let mut failed = None;
        match outcome {
            // In a plan, the status is what apply would report.
            Ok(actions) if !actions.is_empty() => result.status = PhaseStatus::Changed,
            Ok(_) => {}
            Err(e) => {
                let (info, code) = failure::describe(name, &e);
                tracing::error!("phase {name} failed: {}", info.message);
                result.status = PhaseStatus::Failed;
                result.error = Some(info);
                failed = Some(code);
            }
        }
        result.duration_ms = started.elapsed().as_millis() as u64;
        ctx.events
            .emit("phase-finish", json!({ "phase": name, "status": result.status, "duration_ms": result.duration_ms }));
        results.push(result);
        if failed.is_some() {
            return (results, failed);
        }
    }
    (results, None)
}

fn apply(exec: &Executor, actions: &[Action]) -> anyhow::Result<()> {
    actions.iter().try_for_each(|a| exec.run(a))
}
