//! The state directory (0700) and the one-run-at-a-time lock under /run.

use crate::host::{Host, fs::write_atomic};
use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_STATE_DIR: &str = "/var/lib/minikube-none-bootstrap";
/// Under /run, not /tmp: fs.protected_regular forbids opening others' files in sticky dirs.
pub const LOCK_FILE: &str = "/run/minikube-none-bootstrap.lock";

pub struct StateDir {
    pub dir: PathBuf,
}

impl StateDir {
    pub fn new(host: &Host, explicit: Option<&Path>) -> Self {
        let dir = match explicit {
            Some(p) => p.to_path_buf(),
            None => host.path(DEFAULT_STATE_DIR),
        };
        StateDir { dir }
    }

    pub fn result_path(&self) -> PathBuf {
        self.dir.join("result.json")
    }

    /// Whether this tool recorded a cluster it made (its ports and kubelet are then ours).
    pub fn owns_cluster(&self) -> bool {
        self.dir.join("identity.json").exists()
    }

    fn ensure(&self) -> Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("creating state directory {}", self.dir.display()))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting mode of {}", self.dir.display()))
    }

    pub fn write_result(&self, json: &[u8]) -> Result<()> {
        self.ensure()?;
        write_atomic(&self.result_path(), json, 0o600)
    }
}

/// The run lock: held for the life of the value; the file holds the holder's pid.
pub struct RunLock {
    _lock: Flock<File>,
}

pub enum LockError {
    Held { pid: Option<u32> },
    Other(anyhow::Error),
}

impl RunLock {
    pub fn acquire(path: &Path) -> Result<RunLock, LockError> {
        let open = || -> Result<File> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            Ok(std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path)?)
        };
        let file = open().with_context(|| format!("opening lock file {}", path.display())).map_err(LockError::Other)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                let _ = lock.set_len(0); // the pid is a courtesy for the message of the next run
                let _ = write!(lock, "{}", std::process::id());
                Ok(RunLock { _lock: lock })
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                Err(LockError::Held { pid: std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()) })
            }
            Err((_, e)) => Err(LockError::Other(anyhow::anyhow!("locking {}: {e}", path.display()))),
        }
    }
}

/// What the cluster was made with: the host identity (a clone has a new machine-id, hostname
/// or IP) and the settings that shape it. Written after a successful `minikube start`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub machine_id: Option<String>,
    pub hostname: Option<String>,
    pub node_ip: Option<String>,
    pub kubernetes_version: String,
    pub container_runtime: String,
    pub minikube_version: String,
    pub start_args: Vec<String>,
}

impl Identity {
    /// Why a cluster made with `self` does not fit `now`, if it does not.
    pub fn mismatch(&self, now: &Identity) -> Option<String> {
        let mut why = Vec::new();
        let mut diff = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug, differs: bool| {
            if differs {
                why.push(format!("{what} {a:?} -> {b:?}"));
            }
        };
        diff("machine-id", &self.machine_id, &now.machine_id, self.machine_id != now.machine_id);
        diff("hostname", &self.hostname, &now.hostname, self.hostname != now.hostname);
        diff("node IP", &self.node_ip, &now.node_ip, self.node_ip != now.node_ip);
        diff(
            "kubernetes-version",
            &self.kubernetes_version,
            &now.kubernetes_version,
            self.kubernetes_version != now.kubernetes_version,
        );
        diff(
            "container-runtime",
            &self.container_runtime,
            &now.container_runtime,
            self.container_runtime != now.container_runtime,
        );
        diff("start arguments", &self.start_args, &now.start_args, self.start_args != now.start_args);
        (!why.is_empty()).then(|| why.join(", "))
    }
}

impl StateDir {
    pub fn identity(&self) -> Option<Identity> {
        std::fs::read(self.dir.join("identity.json")).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    pub fn write_identity(&self, id: &Identity) -> Result<()> {
        self.ensure()?;
        write_atomic(&self.dir.join("identity.json"), &serde_json::to_vec_pretty(id)?, 0o600)
    }
}
