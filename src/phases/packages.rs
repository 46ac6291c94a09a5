//! packages: install what minikube's none driver and the chosen runtime need, only what is
//! missing. What was absent before is recorded by the executor (for `reset --purge-packages`).

use super::{Action, Ctx, Phase};
use crate::config::Runtime;
use crate::host::os_release::{self, OsRelease};
use crate::host::packages::{self, Manager};
use anyhow::{Context, Result};

pub struct Packages;

/// Package names for the host tools and the runtime, per package manager. `a|b`: either
/// satisfies it (docker's own containerd.io bundles containerd and runc); `a` is installed.
pub fn wanted(manager: Manager, runtime: Runtime, os: Option<&OsRelease>) -> Vec<String> {
    let (base, rt): (&[&str], &[&str]) = match manager {
        // conntrack: kubelet (k8s >= 1.18); socat, ethtool: kubeadm preflight; sudo: minikube.
        Manager::Apt => (
            &["conntrack", "socat", "ethtool", "iptables", "sudo", "ca-certificates"],
            match runtime {
                Runtime::Containerd => &["containerd|containerd.io", "runc|containerd.io"],
                Runtime::Docker => &["docker.io|docker-ce"],
                Runtime::CriO => &["cri-o"],
            },
        ),
        Manager::Dnf => (
            &["conntrack-tools", "socat", "ethtool", "iptables-nft", "sudo", "ca-certificates"],
            match runtime {
                Runtime::Containerd => &["containerd|containerd.io", "runc|containerd.io"],
                Runtime::Docker => &["moby-engine|docker-ce"],
                Runtime::CriO => &["cri-o"],
            },
        ),
    };
    let mut names: Vec<String> = base.iter().chain(rt).map(|s| s.to_string()).collect();
    if manager == Manager::Apt && runtime == Runtime::Docker && docker_cli_split(os) {
        names.push("docker-cli|docker-ce-cli".into());
    }
    names
}

/// Debian 13 (and the Ubuntu releases synced from it) moved /usr/bin/docker out of docker.io
/// into docker-cli, only a Recommends; minikube needs the docker command.
fn docker_cli_split(os: Option<&OsRelease>) -> bool {
    let Some(os) = os else { return false };
    let version: Vec<u32> = os.version_id.as_deref().unwrap_or("").split('.').filter_map(|p| p.parse().ok()).collect();
    match (os.id.as_str(), version.as_slice()) {
        ("debian", [major, ..]) => *major >= 13,
        ("debian", []) => true, // testing/sid: newer than 13
        ("ubuntu", [major, minor, ..]) => (*major, *minor) >= (25, 4),
        _ => false,
    }
}

impl Phase for Packages {
    fn name(&self) -> &'static str {
        "packages"
    }

    fn check(&self, ctx: &Ctx) -> Result<Vec<Action>> {
        let manager = Manager::detect(ctx.host).context("finding the package manager (apt-get or dnf)")?;
        let missing = packages::missing(
            ctx.host,
            manager,
            &wanted(manager, ctx.settings.container_runtime, os_release::read(ctx.host).as_ref()),
        )?;
        Ok(if missing.is_empty() { Vec::new() } else { vec![Action::InstallPackages(missing)] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(id: &str, version: &str) -> OsRelease {
        os_release::parse(&format!("ID={id}\nVERSION_ID=\"{version}\"\n"))
    }

    #[test]
    fn docker_on_trixie_also_needs_docker_cli() {
        let with_cli =
            |o: &OsRelease| wanted(Manager::Apt, Runtime::Docker, Some(o)).iter().any(|p| p.starts_with("docker-cli"));
        assert!(with_cli(&os("debian", "13")));
        assert!(!with_cli(&os("debian", "12")), "bookworm has no docker-cli package");
        assert!(!with_cli(&os("ubuntu", "24.04")));
        assert!(
            wanted(Manager::Apt, Runtime::Containerd, Some(&os("debian", "13"))).iter().all(|p| !p.contains("docker"))
        );
    }
}
