//! The phases of `apply`, in order. A phase only *plans*: `check` reads the real state and
//! returns the actions that would converge it (none = unchanged). `host::exec` carries them
//! out, so every touch of the machine, and its record for `reset`, is in one place.

pub mod access;
pub mod cluster;
pub mod host;
pub mod minikube;
pub mod packages;
pub mod preflight;
pub mod runtime;
pub mod verify;

use crate::config::Settings;
use crate::events::Events;
use crate::host::Host;
use crate::host::archive::Members;
use crate::host::artifacts::{ArtifactInstall, Place};
use crate::host::systemd::Units;
use crate::result::Change;
use crate::state::{Identity, StateDir};

/// Phase names in `apply` order (the firewall phase is not built yet).
pub const PHASES: &[&str] = &["preflight", "packages", "host", "runtime", "minikube", "cluster", "access", "verify"];

/// The phases after preflight, in order.
pub fn converging() -> Vec<Box<dyn Phase>> {
    vec![
        Box::new(packages::Packages),
        Box::new(host::HostSetup),
        Box::new(runtime::RuntimePhase),
        Box::new(minikube::MinikubePhase),
        Box::new(cluster::ClusterPhase),
        Box::new(access::AccessPhase),
        Box::new(verify::VerifyPhase),
    ]
}

/// What a phase may look at while planning.
pub struct Ctx<'a> {
    pub host: &'a Host,
    pub settings: &'a Settings,
    pub state: &'a StateDir,
    pub events: &'a Events,
    pub units: &'a Units<'a>,
}

/// One change to the machine, concrete enough to execute and to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Install packages with the distribution's package manager (apt or dnf).
    InstallPackages(Vec<String>),
    /// Write a whole file atomically (absolute host path, mapped through the root).
    WriteFile {
        path: String,
        content: Vec<u8>,
        mode: u32,
        owner: Option<(u32, u32)>,
    },
    LoadModule(String),
    SetSysctl {
        key: String,
        value: String,
    },
    DaemonReload,
    EnableUnit(String),
    StartUnit(String),
    RestartUnit(String),
    /// Fetch (in parallel, verified) and place release artifacts.
    InstallArtifacts(Vec<ArtifactInstall>),
    /// A directory with this mode and owner (e.g. the user's ~/.kube).
    EnsureDir {
        path: String,
        mode: u32,
        owner: Option<(u32, u32)>,
    },
    /// `minikube delete`: the cluster no longer fits this host or these settings.
    MinikubeDelete {
        reason: String,
    },
    /// `minikube start …`; the identity is recorded once it succeeded.
    MinikubeStart {
        args: Vec<String>,
        identity: Identity,
        reason: Option<String>,
    },
}

impl Action {
    /// How the action appears in `plan` and in the result's `changes[]`.
    pub fn change(&self, host: &Host) -> Change {
        let c = |kind, target: &str, action, detail: Option<String>| Change {
            kind,
            target: target.to_string(),
            action,
            detail,
        };
        match self {
            Action::InstallPackages(names) => c("package", &names.join(" "), "install", None),
            Action::WriteFile { path, mode, .. } => {
                let verb = if host.path(path).exists() { "update" } else { "create" };
                c("file", path, verb, Some(format!("mode {mode:04o}")))
            }
            Action::LoadModule(m) => c("module", m, "load", None),
            Action::SetSysctl { key, value } => c("sysctl", key, "set", Some(value.clone())),
            Action::DaemonReload => c("unit", "systemd", "run", Some("daemon-reload".into())),
            Action::EnableUnit(u) => c("unit", u, "enable", None),
            Action::StartUnit(u) => c("unit", u, "start", None),
            Action::RestartUnit(u) => c("unit", u, "start", Some("restart".into())),
            Action::InstallArtifacts(items) => {
                let names: Vec<String> = items.iter().map(|i| format!("{} {}", i.spec.name, i.spec.version)).collect();
                let targets: Vec<String> = items
                    .iter()
                    .flat_map(|i| match &i.place {
                        Place::Binary { path } => vec![path.clone()],
                        Place::Extract { dir, members: Members::Only(files) } => {
                            files.iter().map(|f| format!("{dir}/{}", f.rsplit('/').next().unwrap_or(f))).collect()
                        }
                        Place::Extract { dir, .. } => vec![format!("{dir}/")],
                    })
                    .collect();
                c("file", &targets.join(" "), "create", Some(format!("verified download of {}", names.join(", "))))
            }
            Action::EnsureDir { path, mode, .. } => c("directory", path, "create", Some(format!("mode {mode:04o}"))),
            Action::MinikubeDelete { reason } => c("cluster", "minikube", "remove", Some(reason.clone())),
            Action::MinikubeStart { args, reason, .. } => {
                let why = reason.as_deref().map(|r| format!("re-creating: {r}; ")).unwrap_or_default();
                c("cluster", "minikube", "create", Some(format!("{why}minikube {}", args.join(" "))))
            }
        }
    }
}

/// A phase of `apply`: inspects the machine and returns what must change.
pub trait Phase {
    fn name(&self) -> &'static str;
    fn check(&self, ctx: &Ctx) -> anyhow::Result<Vec<Action>>;
    /// After the actions (in `apply` only): confirm the outcome, e.g. wait for the node.
    fn verify(&self, _ctx: &Ctx) -> anyhow::Result<()> {
        Ok(())
    }
}
