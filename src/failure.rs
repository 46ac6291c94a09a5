//! A failure a user can act on: a stable code, what happened, what to do, and its exit code.
//! Phases return it inside `anyhow::Error`; the runner finds it with `downcast_ref`.

use crate::result::{ErrorInfo, ExitCode};

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub remedy: String,
    pub exit: ExitCode,
}

impl Failure {
    pub fn new(code: impl Into<String>, message: impl Into<String>, remedy: impl Into<String>) -> Self {
        Failure { code: code.into(), message: message.into(), remedy: remedy.into(), exit: ExitCode::PhaseFailed }
    }

    pub fn exit(mut self, exit: ExitCode) -> Self {
        self.exit = exit;
        self
    }
}

/// Turns any phase error into the result's error and the run's exit code.
pub fn describe(phase: &str, e: &anyhow::Error) -> (ErrorInfo, ExitCode) {
    if let Some(f) = e.chain().find_map(|c| c.downcast_ref::<Failure>()) {
        let message = format!("{e:#}");
        return (ErrorInfo { code: f.code.clone(), message, remedy: f.remedy.clone() }, f.exit);
    }
    let info = ErrorInfo {
        code: format!("{phase}-failed"),
        message: format!("{e:#}"),
        remedy: format!("see the message; fix the cause and re-run (the {phase} phase resumes where it stopped)"),
    };
    (info, ExitCode::PhaseFailed)
}
