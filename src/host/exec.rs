//! Carries out the actions phases plan. The one place `apply` changes the machine, and so
//! the one place that records, before each change, what `reset` needs to undo it: the
//! pre-install manifest (`$STATE/manifest.json`, see [`crate::manifest`]) is on disk before
//! the first change, and extended before every later one.

use super::archive::Members;
use super::artifacts::{ArtifactInstall, Place};
use super::packages::{self, Manager};
use super::systemd::{Systemd, Units};
use super::{Host, cmd, fs::write_atomic, teardown};
use super::{artifacts, minikube};
use crate::config::Settings;
use crate::events::Events;
use crate::manifest::{Manifest, tracked_for_user};
use crate::phases::{Action, Ctx};
use anyhow::{Context, Result};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// How long to wait for a package manager lock held by another process (cloud-init, apt timers).
pub const PACKAGE_LOCK_WAIT: Duration = Duration::from_secs(300);

/// Tracked beyond [`crate::manifest::TRACKED`]: the CNI plugins' state (host-local IPAM
/// leases), which `minikube delete` empties and leaves.
pub const EXTRA_TRACKED: [&str; 1] = ["/var/lib/cni/**"];

pub struct Executor<'a> {
    host: &'a Host,
    settings: &'a Settings,
    state: &'a Path,
    events: &'a Events,
    units: &'a Units<'a>,
    /// What the manifest tracks up front: [`tracked_for_user`] of the kubeconfig's user and
    /// [`EXTRA_TRACKED`].
    tracked: Vec<String>,
    /// Loaded (and the tracked paths recorded) before the first action runs.
    manifest: RefCell<Option<Manifest>>,
}

impl<'a> Executor<'a> {
    /// An executor for the phases of `ctx`; the tracked paths include the home of the user
    /// the access phase hands the cluster to (root's when there is none).
    pub fn new(ctx: &'a Ctx<'a>) -> Self {
        let home = crate::phases::access::target_user(ctx).ok().flatten().map(|u| u.home);
        Executor {
            host: ctx.host,
            settings: ctx.settings,
            state: &ctx.state.dir,
            events: ctx.events,
            units: ctx.units,
            tracked: [tracked_for_user(home.as_deref().unwrap_or("/root")), EXTRA_TRACKED.map(String::from).to_vec()]
                .concat(),
            manifest: RefCell::new(None),
        }
    }

    fn systemd(&self) -> Result<&Systemd> {
        self.units.bus()
    }

    /// Records what `action` will touch, carries it out, and records what only its outcome
    /// tells (the dependencies a package install brought).
    pub fn run(&self, action: &Action) -> Result<()> {
        tracing::info!("{}", describe(action));
        self.record_before(action).context("recording the pre-install manifest (for reset)")?;
        let packages_before = match action {
            Action::InstallPackages(_) => {
                Manager::detect(self.host).and_then(|m| teardown::installed(self.host, m).ok().map(|s| (m, s)))
            }
            _ => None,
        };
        let done = self.execute(action);
        // Also after a failed install: what it did install before failing is ours.
        if let Some((manager, before)) = packages_before {
            let recorded = teardown::installed(self.host, manager).and_then(|now| {
                let new: Vec<&String> = now.difference(&before).collect();
                self.with_manifest(|m| {
                    if !m.record_absent_packages(&new).is_empty() {
                        m.save(self.state)?;
                    }
                    Ok(())
                })
            });
            match (&done, recorded) {
                (Ok(()), Err(e)) => return Err(e.context("recording the installed packages (for reset)")),
                (Err(_), Err(e)) => tracing::warn!("not recording what the failed install installed: {e:#}"),
                _ => {}
            }
        }
        done
    }

    /// Runs `f` on the manifest, loading it and recording the tracked paths first when this
    /// is the run's first change.
    fn with_manifest<T>(&self, f: impl FnOnce(&mut Manifest) -> Result<T>) -> Result<T> {
        let mut slot = self.manifest.borrow_mut();
        let m = match slot.as_mut() {
            Some(m) => m,
            None => {
                let mut m = Manifest::load(self.state)?;
                m.record(self.host, self.state, &self.tracked)?;
                teardown::record_links(self.host, self.state)?;
                teardown::record_netfilter(self.host, self.state)?;
                teardown::record_runtime_state(self.host, self.state)?;
                slot.insert(m)
            }
        };
        f(m)
    }

    /// Puts on disk, before `action` changes anything, the state of what it will change.
    fn record_before(&self, action: &Action) -> Result<()> {
        let state = self.state;
        let save_if = |m: &mut Manifest, added: bool| if added { m.save(state) } else { Ok(()) };
        match action {
            Action::WriteFile { path, .. } | Action::EnsureDir { path, .. } => {
                self.with_manifest(|m| m.record(self.host, state, &[path]).map(drop))
            }
            Action::InstallArtifacts(items) => {
                let paths: Vec<String> = items.iter().flat_map(install_targets).collect();
                self.with_manifest(|m| m.record(self.host, state, &paths).map(drop))
            }
            Action::SetSysctl { key, .. } => {
                let current = self.host.read_value(&format!("/proc/sys/{}", key.replace('.', "/")));
                self.with_manifest(|m| match current {
                    Some(v) => {
                        let added = m.record_sysctl(key, &v);
                        save_if(m, added)
                    }
                    None => Ok(()), // no such sysctl: the action fails and changes nothing
                })
            }
            Action::EnableUnit(unit) => {
                let before = self.enablement(unit)?;
                self.with_manifest(|m| {
                    let added = m.record_unit(unit, &before);
                    save_if(m, added)
                })
            }
            Action::InstallPackages(names) => {
                let manager = Manager::detect(self.host).context("no apt-get or dnf found")?;
                // Dependencies too, so that --purge-packages leaves the package list as it was.
                let all = match teardown::would_install(self.host, manager, names, PACKAGE_LOCK_WAIT) {
                    Ok(all) => all,
                    Err(e) => {
                        tracing::warn!("cannot tell the dependencies before installing ({e:#}); recording them after");
                        names.clone()
                    }
                };
                self.with_manifest(|m| {
                    let added = !m.record_absent_packages(&all).is_empty();
                    save_if(m, added)
                })
            }
            // Covered by the tracked trees recorded up front (what minikube writes), or no
            // lasting change of their own (modules, starts, reloads; their files are tracked).
            Action::MinikubeStart { .. }
            | Action::MinikubeDelete { .. }
            | Action::LoadModule(_)
            | Action::DaemonReload
            | Action::StartUnit(_)
            | Action::RestartUnit(_) => self.with_manifest(|_| Ok(())),
        }
    }

    /// `systemctl is-enabled` words (`not-found` when there is no such unit); from the
    /// wants links under a fixture root.
    fn enablement(&self, unit: &str) -> Result<String> {
        if !self.host.is_live() {
            return Ok(if self.units.enabled(unit)? { "enabled" } else { "disabled" }.to_string());
        }
        Ok(self.systemd()?.unit_file_state(unit)?.unwrap_or_else(|| "not-found".into()))
    }

    fn execute(&self, action: &Action) -> Result<()> {
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
                // minikube waits up to wait-timeout itself; the margin covers its downloads and setup.
                let limit = self.settings.wait_timeout.0 + std::time::Duration::from_secs(1200);
                minikube::start(
                    &minikube::bin(self.host),
                    args,
                    &minikube::env(&self.settings.proxy),
                    self.events,
                    limit,
                )?;
                crate::state::StateDir { dir: self.state.to_path_buf() }.write_identity(identity)
            }
            Action::InstallArtifacts(items) => {
                let opts = artifacts::download_options(self.host, self.state, self.settings);
                artifacts::install(self.host, self.state, opts, self.events, items)
            }
        }
    }
}

/// The paths an artifact install writes: the binary, or the extracted members (a whole
/// directory tree when the members are known only from the archive).
fn install_targets(item: &ArtifactInstall) -> Vec<String> {
    match &item.place {
        Place::Binary { path } => vec![path.clone()],
        Place::Extract { dir, members: Members::Only(names) } => {
            let dir = dir.trim_end_matches('/');
            names
                .iter()
                .filter_map(|n| Path::new(n).file_name().map(|f| format!("{dir}/{}", f.to_string_lossy())))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        }
        Place::Extract { dir, .. } => vec![format!("{}/**", dir.trim_end_matches('/'))],
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
