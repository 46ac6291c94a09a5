//! systemd over its D-Bus API (zbus, driven by `zbus::block_on`): enable, start and wait for
//! the job, read unit states. A failed unit's journal tail goes into the error.

use super::{Host, cmd};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::{Duration, Instant};
use zbus::proxy::CacheProperties;
use zbus_systemd::systemd1::{JobProxy, ManagerProxy, UnitProxy};

/// How long one start/stop/restart job may take before we give up on it.
const JOB_TIMEOUT: Duration = Duration::from_secs(300);

pub struct Systemd {
    conn: zbus::Connection,
    manager: ManagerProxy<'static>,
}

impl Systemd {
    pub fn connect() -> Result<Systemd> {
        let (conn, manager) = zbus::block_on(async {
            let conn = zbus::Connection::system().await?;
            let manager = ManagerProxy::new(&conn).await?;
            Ok::<_, zbus::Error>((conn, manager))
        })
        .context("connecting to systemd over the system D-Bus (is systemd running?)")?;
        Ok(Systemd { conn, manager })
    }

    /// The manager proxy, made once: making it needs the runtime, so never inside `block_on`.
    fn manager(&self) -> Result<&ManagerProxy<'static>> {
        Ok(&self.manager)
    }

    pub fn daemon_reload(&self) -> Result<()> {
        zbus::block_on(self.manager()?.reload()).context("reloading systemd units")
    }

    /// `enabled`, `disabled`, `static`, …; `None` when no such unit file exists.
    pub fn unit_file_state(&self, unit: &str) -> Result<Option<String>> {
        match zbus::block_on(self.manager()?.get_unit_file_state(unit.to_string())) {
            Ok(s) => Ok(Some(s)),
            // No unit file: systemd answers NoSuchUnit or the standard FileNotFound error.
            Err(zbus::Error::MethodError(name, _, _)) if name.as_str().ends_with("NoSuchUnit") => Ok(None),
            Err(zbus::Error::FDO(e)) if matches!(*e, zbus::fdo::Error::FileNotFound(_)) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading the enablement of {unit}")),
        }
    }

    /// `active`, `inactive`, `failed`, … (`inactive` for a unit systemd does not know).
    pub fn active_state(&self, unit: &str) -> Result<String> {
        Ok(self.states(unit)?.0)
    }

    /// ActiveState and SubState (`activating`/`auto-restart` is a unit crash-looping).
    fn states(&self, unit: &str) -> Result<(String, String)> {
        zbus::block_on(async {
            let path = self.manager()?.load_unit(unit.to_string()).await?;
            let u = UnitProxy::builder(&self.conn).path(path).cache_properties(CacheProperties::No).build().await?;
            Ok::<_, anyhow::Error>((u.active_state().await?, u.sub_state().await?))
        })
        .with_context(|| format!("reading the state of {unit}"))
    }

    /// Whether the unit's file changed on disk since systemd loaded it (`daemon-reload` due).
    pub fn need_daemon_reload(&self, unit: &str) -> Result<bool> {
        zbus::block_on(async {
            let path = self.manager()?.load_unit(unit.to_string()).await?;
            let u = UnitProxy::builder(&self.conn).path(path).cache_properties(CacheProperties::No).build().await?;
            Ok::<_, anyhow::Error>(u.need_daemon_reload().await?)
        })
        .with_context(|| format!("asking systemd whether {unit} needs a daemon-reload"))
    }

    pub fn enable(&self, units: &[String]) -> Result<()> {
        zbus::block_on(self.manager()?.enable_unit_files(units.to_vec(), false, false))
            .with_context(|| format!("enabling {}", units.join(", ")))?;
        Ok(())
    }

    pub fn disable(&self, units: &[String]) -> Result<()> {
        zbus::block_on(self.manager()?.disable_unit_files(units.to_vec(), false))
            .with_context(|| format!("disabling {}", units.join(", ")))?;
        Ok(())
    }

    pub fn start(&self, unit: &str) -> Result<()> {
        self.job(unit, Verb::Start)
    }

    pub fn restart(&self, unit: &str) -> Result<()> {
        self.job(unit, Verb::Restart)
    }

    pub fn stop(&self, unit: &str) -> Result<()> {
        self.job(unit, Verb::Stop)
    }

    /// Queues a job, waits (bounded) until systemd has finished it, checks the unit's state.
    fn job(&self, unit: &str, verb: Verb) -> Result<()> {
        let manager = self.manager()?;
        let (name, mode) = (unit.to_string(), "replace".to_string());
        let job = zbus::block_on(async {
            match verb {
                Verb::Start => manager.start_unit(name, mode).await,
                Verb::Restart => manager.restart_unit(name, mode).await,
                Verb::Stop => manager.stop_unit(name, mode).await,
            }
        })
        .with_context(|| format!("asking systemd to {} {unit}", verb.word()))?;
        let deadline = Instant::now() + JOB_TIMEOUT;
        while self.job_pending(&job) {
            if Instant::now() > deadline {
                bail!("systemd did not {} {unit} within {}s{}", verb.word(), JOB_TIMEOUT.as_secs(), journal_tail(unit));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let (state, sub) = self.states(unit)?;
        let ok = match verb {
            Verb::Stop => state != "active",
            // A unit waiting to be restarted after its process died did not start.
            _ => state == "active" || (state == "activating" && sub != "auto-restart"),
        };
        if !ok {
            bail!("{unit} is {state} ({sub}) after {}{}", verb.word(), journal_tail(unit));
        }
        Ok(())
    }

    fn job_pending(&self, job: &zbus::OwnedObjectPath) -> bool {
        zbus::block_on(async {
            let j =
                JobProxy::builder(&self.conn).path(job.clone()).cache_properties(CacheProperties::No).build().await?;
            j.state().await
        })
        .is_ok() // the job object disappears when the job is done
    }
}

#[derive(Clone, Copy)]
enum Verb {
    Start,
    Restart,
    Stop,
}

impl Verb {
    fn word(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Restart => "restart",
            Verb::Stop => "stop",
        }
    }
}

/// The unit's last journal lines, for an error message.
pub fn journal_tail(unit: &str) -> String {
    match cmd::run(Path::new("/usr/bin/journalctl"), &["-u", unit, "-n", "25", "--no-pager", "-o", "cat"], &[]) {
        Ok(lines) if !lines.trim().is_empty() => {
            format!("; its journal ends:\n{}", cmd::tail(&lines))
        }
        _ => String::new(),
    }
}

/// Unit states for planning: over D-Bus on a live host; from the unit-file symlinks under a
/// fixture root (where nothing runs, so nothing is active).
pub struct Units<'a> {
    host: &'a Host,
    bus: std::cell::OnceCell<Systemd>,
}

impl<'a> Units<'a> {
    pub fn new(host: &'a Host) -> Self {
        Units { host, bus: std::cell::OnceCell::new() }
    }

    /// The system bus connection, made on first use.
    pub fn bus(&self) -> Result<&Systemd> {
        if let Some(s) = self.bus.get() {
            return Ok(s);
        }
        let s = Systemd::connect()?;
        Ok(self.bus.get_or_init(|| s))
    }

    pub fn enabled(&self, unit: &str) -> Result<bool> {
        if !self.host.is_live() {
            let wants = ["multi-user.target.wants", "sockets.target.wants", "timers.target.wants"];
            return Ok(wants.iter().any(|w| self.host.path(format!("/etc/systemd/system/{w}/{unit}")).is_symlink()));
        }
        Ok(matches!(
            self.bus()?.unit_file_state(unit)?.as_deref(),
            Some("enabled" | "enabled-runtime" | "static" | "alias")
        ))
    }

    pub fn active(&self, unit: &str) -> Result<bool> {
        if !self.host.is_live() {
            return Ok(false);
        }
        Ok(self.bus()?.active_state(unit)? == "active")
    }
}
