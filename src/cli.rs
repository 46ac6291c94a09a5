//! Command line (clap derive). Only commands that work are listed.

use crate::config::ConfigArgs;
use crate::result::ExitCode;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::sync::LazyLock;

static AFTER_HELP: LazyLock<String> = LazyLock::new(ExitCode::help_table);

#[derive(Debug, Parser)]
#[command(
    name = "minikube-none-bootstrap",
    version,
    about = "Turn a fresh Debian, Ubuntu or Fedora VM into a single-node Kubernetes host with minikube's none driver",
    long_about = "Turn a fresh Debian, Ubuntu or Fedora VM into a single-node Kubernetes host with \
minikube's none driver. Never prompts, safe to re-run; every run writes a versioned JSON result \
to STATE_DIR/result.json (and to stdout with --output json).",
    after_help = AFTER_HELP.as_str(),
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Result format on stdout
    #[arg(long, global = true, value_enum, default_value_t = Output::Text, env = "MINIKUBE_NONE_BOOTSTRAP_OUTPUT")]
    pub output: Output,
    /// Write JSON-lines progress events to FILE (`-` for stdout)
    #[arg(long, global = true, value_name = "FILE|-", env = "MINIKUBE_NONE_BOOTSTRAP_EVENTS")]
    pub events: Option<String>,
    /// State directory [default: /var/lib/minikube-none-bootstrap]
    #[arg(long, global = true, value_name = "DIR", env = "MINIKUBE_NONE_BOOTSTRAP_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// More log detail on stderr (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Operate on a tree other than / (tests)
    #[arg(long, global = true, hide = true, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Pretend today is this date, YYYY-MM-DD (tests of the support window)
    #[arg(long, global = true, hide = true, value_name = "DATE")]
    pub today: Option<jiff::civil::Date>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every check and change nothing; exits 3 when a check fails
    #[command(after_help = AFTER_HELP.as_str())]
    Preflight,
    /// Show what `apply` would change, phase by phase, file by file; changes nothing
    /// (`plan reset`: what `reset` would do)
    #[command(after_help = AFTER_HELP.as_str(), args_conflicts_with_subcommands = true)]
    Plan(PlanArgs),
    /// Converge the host: every phase in order, each skipped when already satisfied
    #[command(after_help = AFTER_HELP.as_str())]
    Apply(PhaseSelection),
    /// Put the host back as it was before the first `apply`: `minikube delete`, then every
    /// recorded path, unit, sysctl (and with --purge-packages the packages) restored, the
    /// state directory removed; the result goes to /run/minikube-none-bootstrap/result.json
    #[command(after_help = AFTER_HELP.as_str())]
    Reset(ResetArgs),
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Preflight => "preflight",
            Command::Plan(_) => "plan",
            Command::Apply(_) => "apply",
            Command::Reset(_) => "reset",
            Command::Completions { .. } => "completions",
        }
    }
}

/// `plan [--only/--skip]`, or `plan reset`.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub what: Option<PlanWhat>,
    #[command(flatten)]
    pub selection: PhaseSelection,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PlanWhat {
    /// Show what `reset` would do, path by path, unit by unit; changes nothing
    #[command(after_help = AFTER_HELP.as_str())]
    Reset(ResetArgs),
}

#[derive(Debug, Clone, clap::Args, Default)]
pub struct ResetArgs {
    /// Also remove the packages apply installed (absent before it); without this they stay
    #[arg(long)]
    pub purge_packages: bool,
}

/// `--only` / `--skip`: which phases run (preflight always runs unless skipped by name).
#[derive(Debug, Clone, clap::Args, Default)]
pub struct PhaseSelection {
    /// Run only these phases (comma-separated): preflight, packages, host, runtime, minikube, cluster, access, verify
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(crate::phases::PHASES), conflicts_with = "skip")]
    pub only: Vec<String>,
    /// Skip these phases (comma-separated)
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(crate::phases::PHASES))]
    pub skip: Vec<String>,
}

impl PhaseSelection {
    pub fn runs(&self, phase: &str) -> bool {
        if !self.only.is_empty() {
            return self.only.iter().any(|p| p == phase);
        }
        !self.skip.iter().any(|p| p == phase)
    }
}
