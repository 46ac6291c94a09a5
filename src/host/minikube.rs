//! Running minikube: `start --output=json` with its CloudEvents turned into our events and
//! a fatal event into our error; `status -o json`; `delete`.

use crate::events::Events;
use crate::failure::Failure;
use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The environment minikube runs with: cloud-init may give no HOME, and sudo's PATH.
pub fn env(proxy: &crate::config::Proxy) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("HOME", "/root"),
        ("MINIKUBE_HOME", "/root/.minikube"),
        ("KUBECONFIG", "/root/.kube/config"),
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        ("MINIKUBE_IN_STYLE", "false"),
        ("MINIKUBE_WANTUPDATENOTIFICATION", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in [("HTTP_PROXY", &proxy.http), ("HTTPS_PROXY", &proxy.https), ("NO_PROXY", &proxy.no_proxy)] {
        if let Some(v) = v {
            env.push((k.to_string(), v.clone()));
        }
    }
    env
}

/// `minikube status -o json` of the single node (the none driver has one).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    pub host: String,
    pub kubelet: String,
    #[serde(rename = "APIServer")]
    pub apiserver: String,
    pub kubeconfig: String,
}

impl Status {
    pub fn running(&self) -> bool {
        self.host == "Running"
            && self.kubelet == "Running"
            && self.apiserver == "Running"
            && self.kubeconfig == "Configured"
    }
}

fn command(bin: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut c = Command::new(bin);
    c.args(args).env_clear().envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null());
    c
}

/// `None` when minikube knows no cluster (its exit status is a bitmask, not an error).
pub fn status(bin: &Path, env: &[(String, String)]) -> Result<Option<Status>> {
    let out = command(bin, &["status", "-o", "json"], env)
        .output()
        .with_context(|| format!("running {} status", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Option<Value> = serde_json::from_str(text.trim()).ok();
    let node = match parsed {
        Some(Value::Array(mut nodes)) if !nodes.is_empty() => Some(nodes.remove(0)),
        Some(v @ Value::Object(_)) => Some(v),
        _ => None,
    };
    Ok(node.and_then(|n| serde_json::from_value(n).ok()))
}

pub fn delete(bin: &Path, env: &[(String, String)]) -> Result<()> {
    let out = command(bin, &["delete"], env).output().with_context(|| format!("running {} delete", bin.display()))?;
    if !out.status.success() {
        anyhow::bail!("minikube delete failed: {}", crate::host::cmd::tail(&String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// Runs `minikube start … --output=json`, passing each CloudEvent on as one of our events.
/// Bounded by `limit`: minikube is killed past it (its own --wait-timeout should end it first).
pub fn start(bin: &Path, args: &[String], env: &[(String, String)], events: &Events, limit: Duration) -> Result<()> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    tracing::info!("running {} {}", bin.display(), refs.join(" "));
    let mut child = command(bin, &refs, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let watchdog = Watchdog::arm(child.id(), limit);
    let stderr = child.stderr.take().context("minikube stderr")?;
    let err_reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut fatal: Option<Value> = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Ok(ev) = serde_json::from_str::<Value>(&line) else {
                tracing::info!("minikube: {line}");
                continue;
            };
            let kind = ev["type"].as_str().unwrap_or("").rsplit('.').next().unwrap_or("").to_string();
            let data = &ev["data"];
            let message = str_of(&data["message"]);
            let message = message.trim();
            // minikube's own rule: an error event is fatal only when it carries an exit code.
            let is_fatal = kind == "error" && !str_of(&data["exitcode"]).is_empty();
            match kind.as_str() {
                _ if message.is_empty() => {}
                "step" => {
                    tracing::info!(
                        "minikube [{}/{}] {message}",
                        str_of(&data["currentstep"]),
                        str_of(&data["totalsteps"])
                    )
                }
                "error" if is_fatal => tracing::error!("minikube: {} {message}", str_of(&data["name"])),
                "error" | "warning" => tracing::warn!("minikube: {message}"),
                _ => tracing::info!("minikube: {message}"),
            }
            let ours = match kind.as_str() {
                "step" => "minikube-step",
                "error" => "minikube-error",
                _ => "minikube-info",
            };
            events.emit(ours, json!({ "cloudevent": ev }));
            if is_fatal {
                fatal = Some(data.clone());
            }
        }
    }
    let status = child.wait().context("waiting for minikube")?;
    let stderr = err_reader.join().unwrap_or_default();
    if watchdog.fired() {
        return Err(Failure::new(
            "minikube-start-timed-out",
            format!("minikube start did not finish within {}s and was stopped", limit.as_secs()),
            "see minikube's output in the log above (and `minikube logs`); raise wait-timeout on slow hosts",
        )
        .exit(crate::result::ExitCode::WaitTimedOut)
        .into());
    }
    if status.success() {
        return Ok(());
    }
    Err(match fatal {
        Some(d) => {
            let name = str_of(&d["name"]);
            let detail = str_of(&d["message"]);
            let detail = if detail.trim().is_empty() { String::new() } else { format!(": {}", detail.trim()) };
            let msg = format!("minikube start failed: {name} (minikube exit code {}){detail}", str_of(&d["exitcode"]));
            let advice = str_of(&d["advice"]);
            let remedy = if advice.trim().is_empty() {
                "see minikube's message above; fix it and re-run".to_string()
            } else {
                advice.trim().to_string()
            };
            Failure::new(format!("minikube-{}", name.to_ascii_lowercase().replace('_', "-")), msg, remedy).into()
        }
        None => Failure::new(
            "minikube-start-failed",
            format!("minikube start exited with {}: {}", status.code().unwrap_or(-1), crate::host::cmd::tail(&stderr)),
            "see minikube's output in the log above (and `minikube logs`); fix it and re-run",
        )
        .into(),
    })
}

/// Kills a process that outlives its deadline; disarmed when dropped.
struct Watchdog {
    done: Arc<AtomicBool>,
    fired: Arc<AtomicBool>,
}

impl Watchdog {
    fn arm(pid: u32, limit: Duration) -> Watchdog {
        let (done, fired) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (d, f) = (done.clone(), fired.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if d.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            if !d.load(Ordering::Relaxed) {
                f.store(true, Ordering::Relaxed);
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL); // its exit ends our read loop
            }
        });
        Watchdog { done, fired }
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::Relaxed)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Where the minikube binary is installed.
pub fn bin(host: &crate::host::Host) -> PathBuf {
    host.path(format!("{}/minikube", crate::host::facts::bin_dir(host)))
}
