//! cluster: `minikube start --driver=none …`, only when minikube does not already report a
//! running cluster made with these settings on this very host; kubelet enabled so the node
//! comes back after a reboot (minikube itself does not enable it).

use super::{Action, Ctx, Phase};
use crate::host::{minikube, probe, proc_net};
use crate::state::Identity;
use anyhow::Result;

pub struct ClusterPhase;

/// The `minikube start` arguments for these settings.
pub fn start_args(ctx: &Ctx) -> Vec<String> {
    let s = ctx.settings;
    let mut args: Vec<String> = vec![
        "start".into(),
        "--driver=none".into(),
        format!("--container-runtime={}", s.container_runtime),
        format!("--kubernetes-version={}", s.kubernetes_version),
        "--interactive=false".into(),
        "--output=json".into(),
        format!("--wait-timeout={}s", s.wait_timeout.0.as_secs()),
    ];
    args.extend(s.extra_config.iter().map(|e| format!("--extra-config={e}")));
    args.extend(s.apiserver_ips.iter().map(|ip| format!("--apiserver-ips={ip}")));
    args.extend(s.apiserver_names.iter().map(|n| format!("--apiserver-names={n}")));
    args
}

pub fn identity(ctx: &Ctx) -> Identity {
    Identity {
        machine_id: probe::machine_id(ctx.host),
        hostname: probe::hostname(ctx.host),
        node_ip: proc_net::node_ip(ctx.host).map(|ip| ip.to_string()),
        kubernetes_version: ctx.settings.kubernetes_version.to_string(),
        container_runtime: ctx.settings.container_runtime.to_string(),
        minikube_version: ctx.settings.minikube.version.to_string(),
        start_args: start_args(ctx),
    }
}

impl Phase for ClusterPhase {
    fn name(&self) -> &'static str {
        "cluster"
    }

    fn check(&self, ctx: &Ctx) -> Result<Vec<Action>> {
        let now = identity(ctx);
        let bin = minikube::bin(ctx.host);
        let env = minikube::env(&ctx.settings.proxy);
        let status = if ctx.host.is_live() && bin.exists() { minikube::status(&bin, &env)? } else { None };
        let recorded = ctx.state.identity();
        let mut actions = Vec::new();
        let why = match (&status, &recorded) {
            (Some(st), Some(id)) if st.running() => id.mismatch(&now),
            (Some(st), Some(id)) => Some(id.mismatch(&now).unwrap_or_else(|| {
                format!("minikube reports host {}, kubelet {}, apiserver {}", st.host, st.kubelet, st.apiserver)
            })),
            (Some(_), None) => Some("a cluster exists that this tool did not record".into()),
            (None, _) => None,
        };
        match (&status, why) {
            (Some(_), None) => {}
            (Some(_), Some(reason)) => {
                actions.push(Action::MinikubeDelete { reason: reason.clone() });
                actions.push(Action::MinikubeStart {
                    args: now.start_args.clone(),
                    identity: now,
                    reason: Some(reason),
                });
            }
            (None, _) => {
                actions.push(Action::MinikubeStart { args: now.start_args.clone(), identity: now, reason: None })
            }
        }
        if !actions.is_empty() || !ctx.units.enabled("kubelet.service")? {
            actions.push(Action::EnableUnit("kubelet.service".into()));
        }
        Ok(actions)
    }
}
