//! verify: a bounded wait for the apiserver's /readyz and the node Ready, over TLS with the
//! admin credentials minikube wrote. A timeout has its own exit code and reports what it saw.

use super::{Action, Ctx, Phase};
use crate::failure::Failure;
use crate::host::{kubeconfig, probe};
use crate::result::ExitCode;
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

pub struct VerifyPhase;

const POLL: Duration = Duration::from_secs(2);

impl Phase for VerifyPhase {
    fn name(&self) -> &'static str {
        "verify"
    }

    fn check(&self, _ctx: &Ctx) -> Result<Vec<Action>> {
        Ok(Vec::new()) // verify changes nothing; its work is the wait below
    }

    fn verify(&self, ctx: &Ctx) -> Result<()> {
        let cfg = kubeconfig::read(ctx.host, kubeconfig::ROOT_KUBECONFIG)?;
        let creds = kubeconfig::credentials(ctx.host, &cfg)?;
        let client = reqwest::blocking::Client::builder()
            .no_proxy() // the node's own address: never through a proxy
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&creds.ca_pem).context("reading the cluster CA")?)
            .identity(reqwest::Identity::from_pem(&creds.identity_pem).context("reading the admin client certificate")?)
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the apiserver client")?;
        let node = probe::hostname(ctx.host).context("reading the hostname (the node's name)")?;
        let deadline = Instant::now() + ctx.settings.wait_timeout.0;
        loop {
            let Err(last) = probe_once(&client, &creds.server, &node) else {
                return Ok(());
            };
            if Instant::now() + POLL > deadline {
                return Err(Failure::new(
                    "verify-timed-out",
                    format!(
                        "the node was not Ready within {}s; last seen: {last}",
                        ctx.settings.wait_timeout.0.as_secs()
                    ),
                    "look at `journalctl -u kubelet` and `minikube logs`; raise wait-timeout on slow hosts",
                )
                .exit(ExitCode::WaitTimedOut)
                .into());
            }
            std::thread::sleep(POLL);
        }
    }
}

/// One look: apiserver ready, then the node's Ready condition. `Err` says what was seen.
fn probe_once(client: &reqwest::blocking::Client, server: &str, node: &str) -> Result<(), String> {
    let readyz = client.get(format!("{server}/readyz")).send().map_err(|e| format!("apiserver /readyz: {e}"))?;
    let status = readyz.status();
    let body = readyz.text().unwrap_or_default();
    if !status.is_success() || body.trim() != "ok" {
        return Err(format!("apiserver /readyz answered {status}: {}", body.trim()));
    }
    let resp = client.get(format!("{server}/api/v1/nodes/{node}")).send().map_err(|e| format!("node {node}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("node {node}: the apiserver answered {}", resp.status()));
    }
    let obj: serde_json::Value =
        serde_json::from_str(&resp.text().unwrap_or_default()).map_err(|e| format!("node {node}: {e}"))?;
    let ready = obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"].clone());
    match ready.as_ref().and_then(|v| v.as_str()) {
        Some("True") => Ok(()),
        other => Err(format!("node {node} Ready condition is {}", other.unwrap_or("absent"))),
    }
}
