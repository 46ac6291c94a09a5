//! The only code that touches the machine: files (through the run's root), commands,
//! systemd, packages, downloads, archives. Everything else gets facts from here.

pub mod archive;
pub mod artifact_urls;
pub mod artifacts;
pub mod cmd;
pub mod download;
pub mod exec;
pub mod facts;
pub mod fs;
pub mod kubeconfig;
pub mod locks;
pub mod minikube;
pub mod os_release;
pub mod packages;
pub mod probe;
pub mod proc_net;
pub mod systemd;
pub mod teardown;

use std::path::{Path, PathBuf};

/// The machine a run works on: `/` in production, a fixture tree under `--root` in tests.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Host { root: root.into() }
    }

    /// Whether this run operates on the real `/` (commands and live probes are allowed).
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps an absolute host path (`/etc/os-release`) into the run's root.
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        let rel = abs.strip_prefix("/").unwrap_or(abs);
        if rel.as_os_str().is_empty() { self.root.clone() } else { self.root.join(rel) }
    }

    /// Reads a text file under the root; `None` when it does not exist or cannot be read.
    pub fn read(&self, abs: &str) -> Option<String> {
        std::fs::read_to_string(self.path(abs)).ok()
    }

    /// First line of a file, trimmed (for /proc and /sys values).
    pub fn read_value(&self, abs: &str) -> Option<String> {
        self.read(abs).map(|s| s.lines().next().unwrap_or("").trim().to_string())
    }

    pub fn exists(&self, abs: &str) -> bool {
        self.path(abs).exists()
    }

    /// Looks a program up on the standard system PATH inside the root, like a root shell would.
    pub fn which(&self, program: &str) -> Option<PathBuf> {
        const DIRS: [&str; 6] = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
        DIRS.iter().map(|d| self.path(format!("{d}/{program}"))).find(|p| is_executable(p))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_mapped_into_the_root() {
        let h = Host::new("/tmp/r");
        assert_eq!(h.path("/etc/os-release"), PathBuf::from("/tmp/r/etc/os-release"));
        assert_eq!(h.path("/"), PathBuf::from("/tmp/r"));
        assert!(!h.is_live());
        assert_eq!(Host::new("/").path("/etc/hosts"), PathBuf::from("/etc/hosts"));
    }
}
