//! `reset` (and `plan reset`): put the host back as it was before the first `apply`, from the
//! pre-install manifest `apply` recorded (see [`crate::manifest`] and `host::exec`).
//!
//! In order: stop and disable kubelet, unmount what is left under /var/lib/kubelet,
//! `minikube delete`, delete the interfaces and netfilter rules the cluster made, disable the
//! units that were not enabled before, purge the packages that were absent before (only with
//! `--purge-packages`), restore every tracked path, restore sysctl values, `daemon-reload`,
//! and last remove the state directory. Every step looks at the machine first and does only
//! what still differs, so a second reset changes nothing and a killed one is finished by
//! running it again: the manifest is only read, and removed last of all.

use crate::config::Settings;
use crate::converge::Mode;
use crate::events::Events;
use crate::host::exec::PACKAGE_LOCK_WAIT;
use crate::host::packages::Manager;
use crate::host::systemd::Units;
use crate::host::{Host, minikube, proc_net, teardown};
use crate::manifest::{Kind, MANIFEST_FILE, Manifest, RestoreStep};
use crate::result::{Change, ErrorInfo, ExitCode, PhaseResult, PhaseStatus};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where `reset` writes its result (`result.json`): the state directory is gone after it.
/// Under /run (tmpfs), so that nothing of the tool outlives the next reboot.
pub const RESULT_DIR: &str = "/run/minikube-none-bootstrap";
pub const PHASE: &str = "reset";
const KUBELET: &str = "kubelet.service";
const KUBELET_DIR: &str = "/var/lib/kubelet";
/// minikube's profile for the none driver (MINIKUBE_HOME=/root/.minikube, as apply runs it).
const PROFILE: [&str; 2] = ["/root/.minikube/profiles/minikube", "/root/.minikube/machines/minikube"];
const UNMOUNT_ROUNDS: usize = 5;
const DELETE_TIMEOUT: Duration = Duration::from_secs(600);
/// Units whose files the cluster or the runtime phase writes.
const CLUSTER_UNITS: [&str; 3] = [KUBELET, "cri-docker.service", "cri-docker.socket"];

pub struct ResetCtx<'a> {
    pub host: &'a Host,
    pub settings: &'a Settings,
    /// The state directory (mapped through the root), holding the manifest.
    pub state: &'a Path,
    pub events: &'a Events,
    pub units: &'a Units<'a>,
    pub mode: Mode,
    pub purge_packages: bool,
}

/// Runs (or, in [`Mode::Plan`], only plans) the reset; its phase result and exit code.
pub fn run(ctx: &ResetCtx) -> (PhaseResult, ExitCode) {
    let started = Instant::now();
    ctx.events.emit("phase-start", json!({ "phase": PHASE }));
    let mut w = Work { ctx, changes: Vec::new(), failures: Vec::new(), unit_files_changed: false };
    if !Manifest::exists(ctx.state) {
        tracing::info!(
            "no pre-install manifest in {}: nothing recorded to undo (apply never ran, or a reset finished)",
            host_abs(ctx.host, ctx.state)
        );
    } else {
        match Manifest::load(ctx.state) {
            Ok(m) => w.all(&m),
            Err(e) => w.failures.push(format!("{e:#}")),
        }
    }
    let error = (!w.failures.is_empty()).then(|| ErrorInfo {
        code: "reset-incomplete".into(),
        message: format!("reset did not finish: {}", w.failures.join("; ")),
        remedy: "fix the cause named here, then run reset again: it resumes where it stopped (the manifest \
                 stays in the state directory until everything is restored)"
            .into(),
    });
    let status = if error.is_some() {
        PhaseStatus::Failed
    } else if w.changes.iter().any(|c| c.action != "keep") {
        PhaseStatus::Changed
    } else {
        PhaseStatus::Unchanged
    };
    let code = if error.is_some() { ExitCode::PhaseFailed } else { ExitCode::Success };
    let phase = PhaseResult {
        name: PHASE,
        status,
        duration_ms: started.elapsed().as_millis() as u64,
        changes: w.changes,
        checks: Vec::new(),
        error,
    };
    ctx.events
        .emit("phase-finish", json!({ "phase": PHASE, "status": phase.status, "duration_ms": phase.duration_ms }));
    (phase, code)
}

/// `p` (a path under the run's root) as the absolute path on the host it stands for.
fn host_abs(host: &Host, p: &Path) -> String {
    match p.strip_prefix(host.root()) {
        Ok(rel) if !host.is_live() => format!("/{}", rel.display()),
        _ => p.display().to_string(),
    }
}

/// How many entries are below `dir` (links not followed).
fn entries_below(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.filter_map(|e| e.ok())
            .map(|e| 1 + if e.file_type().is_ok_and(|t| t.is_dir()) { entries_below(&e.path()) } else { 0 })
            .sum()
    })
}

/// `systemctl is-enabled` words that mean "starts at boot".
fn enabled_word(s: &str) -> bool {
    matches!(s, "enabled" | "enabled-runtime")
}

struct Work<'c, 'a> {
    ctx: &'c ResetCtx<'a>,
    changes: Vec<Change>,
    failures: Vec<String>,
    /// A unit file was (or would be) removed, restored or disabled: daemon-reload is due.
    unit_files_changed: bool,
}

impl Work<'_, '_> {
    fn doing(&self) -> bool {
        self.ctx.mode == Mode::Apply
    }

    fn change(&mut self, kind: &'static str, target: impl Into<String>, action: &'static str, detail: Option<String>) {
        let c = Change { kind, target: target.into(), action, detail };
        if self.doing() && action != "keep" {
            let d = c.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
            tracing::info!("reset: {} {} {}{d}", c.action, c.kind, c.target);
        }
        self.changes.push(c);
    }

    /// Runs one step; a failure is recorded and the next steps still run.
    fn step(&mut self, name: &str, f: impl FnOnce(&mut Self) -> Result<()>) {
        if let Err(e) = f(self) {
            tracing::error!("reset: {name}: {e:#}");
            self.failures.push(format!("{name}: {e:#}"));
        }
    }

    fn all(&mut self, m: &Manifest) {
        let live = self.ctx.host.is_live();
        if live {
            self.step("kubelet", |w| w.kubelet(m));
            // Unmounted first: kubeadm reset (minikube delete) empties /var/lib/kubelet.
            self.step("mounts", Self::mounts);
            self.step("minikube delete", Self::minikube_delete);
            self.step("interfaces", Self::interfaces);
            self.step("iptables", Self::iptables);
            self.step("nftables", Self::nftables);
            self.step("netfilter leftovers", Self::netfilter_leftovers);
            self.step("units", |w| w.units(m));
        }
        self.step("packages", |w| w.packages(m));
        self.step("files", |w| w.files(m));
        self.step("sysctls", |w| w.sysctls(m));
        if live {
            self.step("daemon-reload", |w| w.daemon_reload(m));
        }
        if self.failures.is_empty() {
            self.step("state directory", Self::state_dir);
        } else {
            tracing::warn!("reset: keeping the state directory (and its manifest) for the next reset");
        }
    }

    fn kubelet(&mut self, m: &Manifest) -> Result<()> {
        let sd = self.ctx.units.bus()?;
        if matches!(sd.active_state(KUBELET)?.as_str(), "active" | "activating" | "reloading") {
            self.change("unit", KUBELET, "stop", None);
            if self.doing() {
                sd.stop(KUBELET)?;
            }
        }
        let was_enabled = m.units().get(KUBELET).is_some_and(|s| enabled_word(s));
        if !was_enabled && sd.unit_file_state(KUBELET)?.as_deref().is_some_and(enabled_word) {
            self.unit_files_changed = true;
            self.change("unit", KUBELET, "disable", Some("not enabled before the first apply".into()));
            if self.doing() {
                sd.disable(&[KUBELET.to_string()])?;
            }
        }
        Ok(())
    }

    fn minikube_delete(&mut self) -> Result<()> {
        let host = self.ctx.host;
        // Asked of the files, not of `minikube status`: every minikube command creates its
        // home's directories, which would undo the restore of /root/.minikube.
        if !PROFILE.iter().any(|p| host.path(p).exists()) {
            return Ok(());
        }
        let bin = minikube::bin(host);
        if !bin.exists() {
            tracing::warn!(
                "a minikube profile is left but no minikube binary at {}: its files go with the restore",
                bin.display()
            );
            return Ok(());
        }
        self.change("cluster", "minikube", "remove", Some("minikube delete".into()));
        if self.doing() {
            let mut c = Command::new(&bin);
            c.arg("delete").env_clear().envs(minikube::env(&self.ctx.settings.proxy)).current_dir("/");
            let f = teardown::run_bounded(c, None, DELETE_TIMEOUT)?;
            if !f.success() {
                bail!(
                    "minikube delete exited with {}: {}",
                    f.status.map_or("a signal".into(), |c| c.to_string()),
                    crate::host::cmd::tail(&f.stderr)
                );
            }
        }
        Ok(())
    }

    fn mounts(&mut self) -> Result<()> {
        let points = teardown::current_mounts_below(self.ctx.host, KUBELET_DIR);
        for p in &points {
            self.change("mount", p.clone(), "remove", Some("umount".into()));
        }
        if self.doing() && !points.is_empty() {
            teardown::unmount_below(self.ctx.host, KUBELET_DIR, UNMOUNT_ROUNDS)?;
        }
        Ok(())
    }

    fn interfaces(&mut self) -> Result<()> {
        let host = self.ctx.host;
        let before = teardown::recorded_links(self.ctx.state);
        let default = proc_net::default_route(host).map(|r| r.interface);
        let names = teardown::cluster_links(&teardown::links(host), before.as_ref(), default.as_deref());
        let mut failed = Vec::new();
        for n in names {
            self.change("interface", n.clone(), "remove", Some("ip link delete".into()));
            if self.doing() {
                if let Err(e) = teardown::delete_link(host, &n) {
                    failed.push(format!("{e:#}"));
                }
            }
        }
        if !failed.is_empty() {
            bail!("{}", failed.join("; "));
        }
        Ok(())
    }

    fn iptables(&mut self) -> Result<()> {
        for (tool, save, restore) in teardown::iptables_tools(self.ctx.host) {
            let tables = teardown::iptables_cleanup(&save)?;
            for t in &tables {
                let detail = format!("chains {}; {} rules", t.chains.join(" "), t.rules);
                self.change("firewall", format!("{tool} {}", t.table), "remove", Some(detail));
            }
            if self.doing() && !tables.is_empty() {
                teardown::iptables_apply(&restore, &tables)?;
            }
        }
        Ok(())
    }

    fn nftables(&mut self) -> Result<()> {
        for (family, name) in teardown::nft_tables(self.ctx.host)? {
            self.change("firewall", format!("nft table {family} {name}"), "remove", None);
            if self.doing() {
                teardown::nft_delete(self.ctx.host, &family, &name)?;
            }
        }
        Ok(())
    }

    /// The empty built-in chains and tables iptables-nft made for the cluster's rules.
    fn netfilter_leftovers(&mut self) -> Result<()> {
        for id in teardown::nft_neutral_leftovers(self.ctx.host, self.ctx.state)? {
            let what = if id.split(' ').count() == 3 { "chain" } else { "table" };
            self.change(
                "firewall",
                format!("nft {what} {id}"),
                "remove",
                Some("empty, made after the first apply".into()),
            );
            if self.doing() {
                teardown::nft_delete_object(self.ctx.host, &id)?;
            }
        }
        Ok(())
    }

    /// A unit that was disabled (or absent) before it was enabled gets disabled again; one
    /// that was enabled stays so.
    fn units(&mut self, m: &Manifest) -> Result<()> {
        let sd = self.ctx.units.bus()?;
        for (unit, before) in m.units() {
            if unit == KUBELET || enabled_word(before) {
                continue;
            }
            if sd.unit_file_state(unit)?.as_deref().is_some_and(enabled_word) {
                self.unit_files_changed = true;
                self.change("unit", unit.clone(), "disable", Some(format!("{before} before the first apply")));
                if self.doing() {
                    sd.disable(std::slice::from_ref(unit))?;
                }
            }
        }
        Ok(())
    }

    fn packages(&mut self, m: &Manifest) -> Result<()> {
        let host = self.ctx.host;
        if m.absent_packages().is_empty() {
            return Ok(());
        }
        let Some(manager) = Manager::detect(host) else {
            tracing::warn!("no apt-get or dnf: the packages apply installed are left as they are");
            return Ok(());
        };
        let now = teardown::installed(host, manager)?;
        let ours: Vec<String> = m.absent_packages().iter().filter(|p| now.contains(*p)).cloned().collect();
        if !self.ctx.purge_packages {
            if !ours.is_empty() {
                let detail = "installed by apply (absent before); `reset --purge-packages` removes them";
                self.change("package", ours.join(" "), "keep", Some(detail.into()));
            }
            return Ok(());
        }
        if !ours.is_empty() {
            self.change("package", ours.join(" "), "remove", Some("absent before the first apply: purged".into()));
            if self.doing() {
                if !host.is_live() {
                    bail!("packages are removed only on the live host, not under --root");
                }
                teardown::purge(host, manager, &ours, PACKAGE_LOCK_WAIT)?;
            }
        }
        // With the runtime purged, its state (images, containers) goes too, where it came with it.
        for dir in teardown::runtime_state_made(host, self.ctx.state, m.absent_packages()) {
            let detail = "the purged runtime's state, absent before the first apply";
            self.change("directory", dir.clone(), "remove", Some(detail.into()));
            if self.doing() {
                let p = host.path(&dir);
                let removed =
                    if p.is_dir() && !p.is_symlink() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                removed.with_context(|| format!("removing {dir}"))?;
            }
        }
        Ok(())
    }

    fn files(&mut self, m: &Manifest) -> Result<()> {
        let steps = m.plan_restore(self.ctx.host);
        let mut unrestorable = Vec::new();
        for s in &steps {
            if let RestoreStep::Unrestorable { path, reason } = s {
                unrestorable.push(format!("{path}: {reason}"));
            }
            if !s.is_change() {
                continue;
            }
            if s.path().contains("/systemd/") {
                self.unit_files_changed = true;
            }
            let was_dir = m.entry(s.path()).is_some_and(|e| e.kind == Some(Kind::Dir));
            let kind_of = |k: Kind| if k == Kind::Dir { "directory" } else { "file" };
            let (kind, action, detail) = match s {
                RestoreStep::Remove { kind: Kind::Dir, path } => {
                    let n = entries_below(&self.ctx.host.path(path));
                    ("directory", "remove", format!("not there before the first apply; {n} entries in it"))
                }
                RestoreStep::Remove { kind, .. } => {
                    (kind_of(*kind), "remove", "not there before the first apply".into())
                }
                RestoreStep::RemoveIfEmpty { .. } => ("directory", "remove", "made by apply, now empty".into()),
                RestoreStep::Mkdir { mode, uid, gid, .. } => {
                    ("directory", "restore", format!("mode {mode:04o}, owner {uid}:{gid}"))
                }
                RestoreStep::Restore { sha256, mode, uid, gid, .. } => (
                    "file",
                    "restore",
                    format!(
                        "from backup, sha256 {}, mode {mode:04o}, owner {uid}:{gid}",
                        &sha256[..12.min(sha256.len())]
                    ),
                ),
                RestoreStep::Relink { target, .. } => ("file", "restore", format!("symlink to {target}")),
                RestoreStep::Chown { uid, gid, .. } => {
                    (if was_dir { "directory" } else { "file" }, "restore", format!("owner {uid}:{gid}"))
                }
                RestoreStep::Chmod { mode, .. } => {
                    (if was_dir { "directory" } else { "file" }, "restore", format!("mode {mode:04o}"))
                }
                RestoreStep::Unrestorable { .. } | RestoreStep::Unchanged { .. } => continue,
            };
            self.change(kind, s.path(), action, Some(detail));
        }
        if self.doing() && steps.iter().any(RestoreStep::is_change) {
            m.restore(self.ctx.host, self.ctx.state, &steps)?;
        }
        if !unrestorable.is_empty() {
            bail!("cannot be put back: {}", unrestorable.join("; "));
        }
        Ok(())
    }

    fn sysctls(&mut self, m: &Manifest) -> Result<()> {
        let host = self.ctx.host;
        for (key, value) in m.sysctls() {
            let p = format!("/proc/sys/{}", key.replace('.', "/"));
            let Some(cur) = host.read_value(&p) else {
                tracing::info!("sysctl {key} is gone (its module is not loaded): nothing to restore");
                continue;
            };
            if &cur == value {
                continue;
            }
            self.change("sysctl", key.clone(), "restore", Some(format!("{cur} -> {value}")));
            if self.doing() {
                std::fs::write(host.path(&p), value).with_context(|| format!("setting {key}={value}"))?;
            }
        }
        Ok(())
    }

    fn daemon_reload(&mut self, m: &Manifest) -> Result<()> {
        let sd = self.ctx.units.bus()?;
        let mut due = self.unit_files_changed;
        if !due {
            let units = CLUSTER_UNITS.iter().copied().chain(m.units().keys().map(String::as_str));
            for u in units {
                if sd.need_daemon_reload(u)? {
                    due = true;
                    break;
                }
            }
        }
        if due {
            self.change("unit", "systemd", "run", Some("daemon-reload".into()));
            if self.doing() {
                sd.daemon_reload()?;
            }
        }
        Ok(())
    }

    /// Last: the state directory, with the manifest removed after everything else in it (a
    /// reset killed here still finds the manifest and finishes the job).
    fn state_dir(&mut self) -> Result<()> {
        let dir = self.ctx.state;
        if !dir.exists() {
            return Ok(());
        }
        let detail = "the manifest, its backups, the artifact cache, the last result";
        self.change("directory", host_abs(self.ctx.host, dir), "remove", Some(detail.into()));
        if !self.doing() {
            return Ok(());
        }
        for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e?;
            if e.file_name() == MANIFEST_FILE {
                continue;
            }
            let p = e.path();
            let removed = if e.file_type()?.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            removed.with_context(|| format!("removing {}", p.display()))?;
        }
        let manifest = dir.join(MANIFEST_FILE);
        if manifest.exists() {
            std::fs::remove_file(&manifest).with_context(|| format!("removing {}", manifest.display()))?;
        }
        std::fs::remove_dir(dir).with_context(|| format!("removing {}", dir.display()))
    }
}
