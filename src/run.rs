//! One run: its context, and the result document assembled, written and printed at the end.

use crate::cli::Output;
use crate::events::{Events, now};
use crate::host::Host;
use crate::result::{ErrorInfo, ExitCode, PhaseResult, RESULT_SCHEMA, RunResult, tool};
use crate::state::StateDir;
use std::path::Path;

pub struct Run {
    pub command: &'static str,
    pub host: Host,
    pub events: Events,
    pub today: jiff::civil::Date,
    pub state: StateDir,
    started_at: String,
    phases: Vec<PhaseResult>,
}

impl Run {
    pub fn start(
        command: &'static str,
        host: Host,
        events: Events,
        today: jiff::civil::Date,
        state_dir: Option<&Path>,
    ) -> Run {
        let state = StateDir::new(&host, state_dir);
        events.emit("run-start", serde_json::json!({ "command": command, "tool_version": tool().version }));
        Run { command, host, events, today, state, started_at: now(), phases: Vec::new() }
    }

    pub fn push(&mut self, phase: PhaseResult) {
        self.phases.push(phase);
    }

    /// Builds the result, writes `$STATE/result.json` atomically, prints it, returns the code.
    pub fn finish(self, code: ExitCode, error: Option<ErrorInfo>, output: Output) -> ExitCode {
        let result = RunResult {
            schema: RESULT_SCHEMA,
            tool: tool(),
            command: self.command.to_string(),
            started_at: self.started_at,
            finished_at: now(),
            host: crate::host::facts::collect(&self.host, self.today),
            outcome: code.outcome(),
            exit_code: code.code(),
            phases: self.phases,
            error,
        };
        let json = serde_json::to_string_pretty(&result).unwrap_or_default();
        if let Err(e) = self.state.write_result(format!("{json}\n").as_bytes()) {
            // Not fatal: a non-root `preflight` on a workstation still reports on stdout.
            tracing::warn!("not recording the result: {e:#}");
        }
        self.events.emit("run-finish", serde_json::json!({ "outcome": result.outcome, "exit_code": result.exit_code }));
        match output {
            // Sharing stdout with `--events -`: one line, so stdout stays JSON lines.
            Output::Json if self.events.on_stdout() => {
                println!("{}", serde_json::to_string(&result).unwrap_or_default())
            }
            Output::Json => println!("{json}"),
            Output::Text => print!("{}", crate::report::text(&result)),
        }
        code
    }
}
