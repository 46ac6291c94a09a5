//! Carries out the actions phases plan. The one place `apply` changes the machine.

use super::packages::{self, Manager};
use super::systemd::{Systemd, Units};
use super::{Host, cmd, fs::write_atomic};
use super::{artifacts, minikube};
use crate::config::Settings;
use crate::events::Events;
use crate::phases::Action;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Duration;

/// How long to wait for a package manager lock held by another process (cloud-init, apt timers).
pub const PACKAGE_LOCK_WAIT: Duration = Duration::from_secs(300);

pub struct Executor<'a> {
    host: &'a Host,
    settings: &'a Settings,
    state: &'a Path,
    events: &'a Events,
    units: &'a Units<'a>,
}

impl<'a> Executor<'a> {
    pub fn new(
        host: &'a Host,
        settings: &'a Settings,
        state: &'a Path,
        events: &'a Events,
        units: &'a Units<'a>,
    ) -> Self {
        Executor { host, settings, state, events, units }
    }

    fn systemd(&self) -> Result<&Systemd> {
        self.units.bus()
    }

    pub fn run(&self, action: &Action) -> Result<()> {
        tracing::info!("{}", describe(action));
        match action {
            Action::InstallPackages(names) => {
                let manager = Manager::detect(self.host).context("no apt-get or dnf found")?;
                packages::install(self.host, manager, names, PACKAGE_LOCK_WAIT)
            }
            Action::WriteFile { path, content, mode, owner } => {
                let target = self.host.path(path);
                write_atomic(&target, content, *mode)?;
                if let Some((uid, gid)) = owner {
                    nix::unistd::chown(&target, Some((*uid).into()), Some((*gid).into()))
                        .with_context(|| format!("giving {path} to uid {uid}"))?;
                }
                Ok(())
            }
            Action::LoadModule(m) => {
                let modprobe = self.host.which("modprobe").context("modprobe not found (package kmod)")?;
                cmd::run(&modprobe, &[m], &[]).map(drop)
            }
            Action::SetSysctl { key, value } => {
                let p = self.host.path(format!("/proc/sys/{}", key.replace('.', "/")));
                std::fs::write(&p, value).with_context(|| format!("setting {key}={value}"))
            }
            Action::DaemonReload => self.systemd()?.daemon_reload(),
            Action::EnableUnit(u) => self.systemd()?.enable(std::slice::from_ref(u)),
            Action::StartUnit(u) => self.systemd()?.start(u),
            Action::RestartUnit(u) => self.systemd()?.restart(u),
            Action::EnsureDir { path, mode, owner } => {
                use std::os::unix::fs::PermissionsExt;
                let target = self.host.path(path);
                std::fs::create_dir_all(&target).with_context(|| format!("creating {path}"))?;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode))?;
                if let Some((uid, gid)) = owner {
                    nix::unistd::chown(&target, Some((*uid).into()), Some((*gid).into()))
                        .with_context(|| format!("giving {path} to uid {uid}"))?;
                }
                Ok(())
            }
            Action::MinikubeDelete { .. } => {
                minikube::delete(&minikube::bin(self.host), &minikube::env(&self.settings.proxy))
            }
            Action::MinikubeStart { args, identity, .. } => {
                minikube::start(&minikube::bin(self.host), args, &minikube::env(&self.settings.proxy), self.events)?;
                crate::state::StateDir { dir: self.state.to_path_buf() }.write_identity(identity)
            }
            Action::InstallArtifacts(items) => {
                let opts = artifacts::download_options(self.host, self.state, self.settings);
                artifacts::install(self.host, self.state, opts, self.events, items)
            }
        }
    }
}

fn describe(a: &Action) -> String {
    match a {
        Action::InstallPackages(n) => format!("installing packages: {}", n.join(" ")),
        Action::WriteFile { path, .. } => format!("writing {path}"),
        Action::LoadModule(m) => format!("loading kernel module {m}"),
        Action::SetSysctl { key, value } => format!("setting {key}={value}"),
        Action::DaemonReload => "reloading systemd".into(),
        Action::EnableUnit(u) => format!("enabling {u}"),
        Action::StartUnit(u) => format!("starting {u}"),
        Action::RestartUnit(u) => format!("restarting {u}"),
        Action::EnsureDir { path, .. } => format!("creating directory {path}"),
        Action::MinikubeDelete { reason } => format!("deleting the minikube cluster: {reason}"),
        Action::MinikubeStart { .. } => "starting the cluster with minikube".into(),
        Action::InstallArtifacts(items) => {
            let names: Vec<&str> = items.iter().map(|i| i.spec.name.as_str()).collect();
            format!("installing verified artifacts: {}", names.join(", "))
        }
    }
}
