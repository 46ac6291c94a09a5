//! packages: install what minikube's none driver and the chosen runtime need, only what is
//! missing. What was absent before is recorded by the executor (for `reset --purge-packages`).

use super::{Action, Ctx, Phase};
use crate::config::Runtime;
use crate::host::packages::{self, Manager};
use anyhow::{Context, Result};

pub struct Packages;

/// Package names for the host tools and the runtime, per package manager. `a|b`: either
/// satisfies it (docker's own containerd.io bundles containerd and runc); `a` is installed.
pub fn wanted(manager: Manager, runtime: Runtime) -> Vec<String> {
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
    base.iter().chain(rt).map(|s| s.to_string()).collect()
}

impl Phase for Packages {
    fn name(&self) -> &'static str {
        "packages"
    }

    fn check(&self, ctx: &Ctx) -> Result<Vec<Action>> {
        let manager = Manager::detect(ctx.host).context("finding the package manager (apt-get or dnf)")?;
        let missing = packages::missing(ctx.host, manager, &wanted(manager, ctx.settings.container_runtime))?;
        Ok(if missing.is_empty() { Vec::new() } else { vec![Action::InstallPackages(missing)] })
    }
}
