//! Entry point behind `main`: parse, set up logging, dispatch, map the outcome to an exit code.

use crate::cli::{Cli, Command, Output, PlanWhat, ResetArgs};
use crate::config::{self, ConfigError, Settings};
use crate::converge::{self, Mode};
use crate::events::Events;
use crate::host::Host;
use crate::host::systemd::Units;
use crate::phases::Ctx;
use crate::phases::preflight;
use crate::reset;
use crate::result::{ErrorInfo, ExitCode, PhaseStatus};
use crate::run::Run;
use crate::state::{LOCK_FILE, LockError, RunLock, StateDir};
use clap::{CommandFactory, Parser};

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print(); // help and --version are "errors" that print to stdout
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => ExitCode::UsageOrConfig.code(),
            };
        }
    };
    init_logging(cli.global.verbose);
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(*shell, &mut Cli::command(), "minikube-none-bootstrap", &mut std::io::stdout());
        return 0;
    }
    match run(&cli) {
        Ok(code) => code.code(),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::PhaseFailed.code()
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let host = Host::new(&cli.global.root);
    let events = Events::open(cli.global.events.as_deref())?;
    let today =
        cli.global.today.unwrap_or_else(|| jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date());
    let mut run = Run::start(cli.command.name(), host, events, today, cli.global.state_dir.as_deref());
    let settings = match config::load(&cli.config, &cli.global.root) {
        Ok(s) => s,
        Err(e) => return Ok(config_failed(run, &e, cli.global.output)),
    };
    let (mode, selection) = match &cli.command {
        Command::Preflight => {
            let phase = preflight::phase(&run, &settings);
            let code = if phase.status == PhaseStatus::Failed { ExitCode::PreflightBlocked } else { ExitCode::Success };
            run.push(phase);
            return Ok(run.finish(code, None, cli.global.output));
        }
        Command::Plan(plan) => match &plan.what {
            Some(PlanWhat::Reset(args)) => return reset(run, &settings, Mode::Plan, args, cli.global.output),
            None => (Mode::Plan, &plan.selection),
        },
        Command::Apply(sel) => (Mode::Apply, sel),
        Command::Reset(args) => return reset(run, &settings, Mode::Apply, args, cli.global.output),
        Command::Completions { .. } => return Ok(ExitCode::Success),
    };
    // One run at a time: plan reads what apply writes.
    let _lock = match RunLock::acquire(&run.host.path(LOCK_FILE)) {
        Ok(lock) => lock,
        Err(LockError::Held { pid }) => return Ok(locked(run, pid, cli.global.output)),
        Err(LockError::Other(e)) => return Err(e),
    };
    if !selection.runs("preflight") {
        run.push(converge::skipped("preflight"));
    } else {
        let phase = preflight::phase(&run, &settings);
        let blocked = phase.status == PhaseStatus::Failed;
        run.push(phase);
        if blocked {
            return Ok(run.finish(ExitCode::PreflightBlocked, None, cli.global.output));
        }
    }
    let all = crate::phases::converging();
    let chosen: Vec<&dyn crate::phases::Phase> =
        all.iter().map(|p| p.as_ref()).filter(|p| selection.runs(p.name())).collect();
    let units = Units::new(&run.host);
    let ctx = Ctx { host: &run.host, settings: &settings, state: &run.state, events: &run.events, units: &units };
    let (results, failed) = converge::run(&ctx, &chosen, mode);
    drop(units);
    for p in all.iter().map(|p| p.name()) {
        match results.iter().find(|r| r.name == p) {
            Some(r) => run.push(r.clone()),
            None if !selection.runs(p) => run.push(converge::skipped(p)),
            None => {} // not reached: an earlier phase failed
        }
    }
    Ok(run.finish(failed.unwrap_or(ExitCode::Success), None, cli.global.output))
}

/// `reset` / `plan reset` under the run lock. reset's result goes to [`reset::RESULT_DIR`]:
/// the state directory is gone once it succeeded.
fn reset(mut run: Run, settings: &Settings, mode: Mode, args: &ResetArgs, output: Output) -> anyhow::Result<ExitCode> {
    let state = run.state.dir.clone();
    if mode == Mode::Apply {
        run.state = StateDir { dir: run.host.path(reset::RESULT_DIR) };
    }
    let _lock = match RunLock::acquire(&run.host.path(LOCK_FILE)) {
        Ok(lock) => lock,
        Err(LockError::Held { pid }) => return Ok(locked(run, pid, output)),
        Err(LockError::Other(e)) => return Err(e),
    };
    let (phase, code) = {
        let units = Units::new(&run.host);
        let ctx = reset::ResetCtx {
            host: &run.host,
            settings,
            state: &state,
            events: &run.events,
            units: &units,
            mode,
            purge_packages: args.purge_packages,
        };
        reset::run(&ctx)
    };
    run.push(phase);
    Ok(run.finish(code, None, output))
}

fn locked(run: Run, pid: Option<u32>, output: Output) -> ExitCode {
    let holder = pid.map_or_else(|| "another run".to_string(), |p| format!("another run (pid {p})"));
    let info = ErrorInfo {
        code: "locked".into(),
        message: format!("{holder} of minikube-none-bootstrap holds {LOCK_FILE}"),
        remedy: "wait for it to finish (cloud-init and a provisioner may both run the tool), then re-run".into(),
    };
    tracing::error!("{}", info.message);
    run.finish(ExitCode::Locked, Some(info), output)
}

fn config_failed(run: Run, e: &ConfigError, output: Output) -> ExitCode {
    tracing::error!("{}", e.message);
    let info = ErrorInfo { code: e.code.to_string(), message: e.message.clone(), remedy: e.remedy.clone() };
    run.finish(ExitCode::UsageOrConfig, Some(info), output)
}

/// Human logs on stderr; to journald instead when stderr is the journal (run under systemd).
fn init_logging(verbose: u8) {
    use tracing_subscriber::{EnvFilter, prelude::*};
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("MINIKUBE_NONE_BOOTSTRAP_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let journal = std::env::var_os("JOURNAL_STREAM").is_some().then(|| tracing_journald::layer().ok()).flatten();
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match journal {
        Some(j) => registry.with(j).try_init(),
        None => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_target(false),
            )
            .try_init(),
    };
}
