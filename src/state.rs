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
        let file = open()
            .with_context(|| format!("opening lock file {}", path.display()))
            .map_err(LockError::Other)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                let _ = lock.set_len(0); // the pid is a courtesy for the message of the next run
                let _ = write!(lock, "{}", std::process::id());
                Ok(RunLock { _lock: lock })
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(LockError::Held {
                pid: std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()),
            }),
            Err((_, e)) => Err(LockError::Other(anyhow::anyhow!("locking {}: {e}", path.display()))),
        }
    }
}
