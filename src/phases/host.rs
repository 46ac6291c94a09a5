//! host: kernel modules and sysctls the node needs, persisted in drop-ins and applied now.

use super::{Action, Ctx, Phase};
use crate::failure::Failure;
use crate::host::probe;
use crate::result::ExitCode;
use anyhow::Result;

pub struct HostSetup;

pub const MODULES_DROPIN: &str = "/etc/modules-load.d/minikube-none-bootstrap.conf";
/// Sorts after the distributions' own 99-*.conf (bookworm's 99-protect-links.conf sets
/// fs.protected_regular=2): systemd-sysctl applies files in name order, the last one wins.
pub const SYSCTL_DROPIN: &str = "/etc/sysctl.d/99-zz-minikube-none-bootstrap.conf";
const MODULES: [&str; 2] = ["overlay", "br_netfilter"];
/// fs.protected_regular=0: minikube's lock files in /tmp fail otherwise.
const SYSCTLS: [(&str, &str); 5] = [
    ("net.ipv4.ip_forward", "1"),
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("net.ipv6.conf.all.forwarding", "1"),
    ("fs.protected_regular", "0"),
];

fn modules_file() -> String {
    let mut s = String::from("# Written by minikube-none-bootstrap: modules Kubernetes needs at boot.\n");
    MODULES.iter().for_each(|m| s.push_str(&format!("{m}\n")));
    s
}

fn sysctl_file() -> String {
    let mut s = String::from("# Written by minikube-none-bootstrap: kernel settings for a Kubernetes node.\n");
    SYSCTLS.iter().for_each(|(k, v)| s.push_str(&format!("{k} = {v}\n")));
    s
}

/// Whether the module's function is present: loaded, or built into the kernel.
fn loaded(ctx: &Ctx, module: &str) -> bool {
    let modules = ctx.host.read("/proc/modules").unwrap_or_default();
    modules.lines().any(|l| l.split_whitespace().next() == Some(module))
        || ctx.host.exists(&format!("/sys/module/{module}"))
        || probe::module_function_present(ctx.host, module)
}

impl Phase for HostSetup {
    fn name(&self) -> &'static str {
        "host"
    }

    fn check(&self, ctx: &Ctx) -> Result<Vec<Action>> {
        let mut actions = Vec::new();
        let want_file = |path: &str, content: String| {
            (ctx.host.read(path).as_deref() != Some(content.as_str())).then(|| Action::WriteFile {
                path: path.to_string(),
                content: content.into_bytes(),
                mode: 0o644,
                owner: None,
            })
        };
        let unloaded: Vec<&str> = MODULES.iter().copied().filter(|m| !loaded(ctx, m)).collect();
        if let (false, Some(installed)) = (unloaded.is_empty(), probe::kernel_upgraded_without_reboot(ctx.host)) {
            return Err(Failure::new(
                "reboot-required",
                format!(
                    "cannot load {}: the running kernel's modules are gone (kernels installed: {})",
                    unloaded.join(", "),
                    installed.join(", ")
                ),
                "reboot into the installed kernel, then run apply again (nothing was changed)",
            )
            .exit(ExitCode::RebootRequired)
            .into());
        }
        actions.extend(want_file(MODULES_DROPIN, modules_file()));
        actions.extend(unloaded.iter().map(|m| Action::LoadModule(m.to_string())));
        actions.extend(want_file(SYSCTL_DROPIN, sysctl_file()));
        for (key, value) in SYSCTLS {
            let current = ctx.host.read_value(&format!("/proc/sys/{}", key.replace('.', "/")));
            if current.as_deref() != Some(value) {
                actions.push(Action::SetSysctl { key: key.to_string(), value: value.to_string() });
            }
        }
        Ok(actions)
    }
}
