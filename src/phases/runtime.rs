//! runtime: the CRI runtime minikube's none driver needs (containerd with CRI enabled; or
//! docker with cri-dockerd and its units; or cri-o), crictl and /etc/crictl.yaml, and the
//! CNI plugins in /opt/cni/bin — each checked against the machine before anything is done.

use super::{Action, Ctx, Phase};
use crate::config::Runtime;
use crate::host::archive::Members;
use crate::host::artifact_urls::ArtifactSpec;
use crate::host::artifacts::{ArtifactInstall, Installed, Place};
use crate::host::facts::{bin_dir, go_arch};
use anyhow::Result;

pub struct RuntimePhase;

pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";
pub const CRICTL_CONFIG: &str = "/etc/crictl.yaml";
pub const CNI_BIN: &str = "/opt/cni/bin";
/// The plugins minikube's bridge CNI config uses.
const CNI_PLUGINS: [&str; 4] = ["bridge", "host-local", "loopback", "portmap"];

/// containerd config: CRI on (distribution and docker-packaged defaults may disable it) and
/// the systemd cgroup driver. minikube edits this file on start; see `containerd_ok`.
const CONTAINERD_TOML: &str = r#"# Written by minikube-none-bootstrap: containerd with the CRI plugin for Kubernetes.
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
"#;

fn endpoint(rt: Runtime) -> &'static str {
    match rt {
        Runtime::Containerd => "unix:///run/containerd/containerd.sock",
        Runtime::Docker => "unix:///var/run/cri-dockerd.sock",
        Runtime::CriO => "unix:///var/run/crio/crio.sock",
    }
}

/// The units that must be enabled and running for the runtime, in start order.
pub fn units(rt: Runtime) -> &'static [&'static str] {
    match rt {
        Runtime::Containerd => &["containerd.service"],
        Runtime::Docker => &["docker.service", "cri-docker.socket", "cri-docker.service"],
        Runtime::CriO => &["crio.service"],
    }
}

/// The config is acceptable when it parses and does not disable CRI. Its cgroup driver is
/// left alone once written: minikube sets it to match the kubelet it configures, and
/// fighting that would restart containerd on every run.
fn containerd_ok(text: &str) -> bool {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return false;
    };
    let disabled = doc.get("disabled_plugins").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    !disabled.iter().any(|p| matches!(p.as_str(), Some("cri" | "io.containerd.grpc.v1.cri")))
}

fn crictl_ok(text: &str, want: &str) -> bool {
    text.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| k.trim() == "runtime-endpoint" && v.trim().trim_matches('"') == want)
    })
}

/// cri-dockerd's upstream units (packaging/systemd), pointed at where we install the binary.
fn cri_docker_units(bin: &str) -> [(String, String); 2] {
    let service = format!(
        "# Written by minikube-none-bootstrap from cri-dockerd's packaging/systemd.\n\
         [Unit]\nDescription=CRI Interface for Docker Application Container Engine\n\
         Documentation=https://docs.mirantis.com\nAfter=network-online.target firewalld.service docker.service\n\
         Wants=network-online.target\nRequires=cri-docker.socket\n\n\
         [Service]\nType=notify\nExecStart={bin}/cri-dockerd --container-runtime-endpoint fd://\n\
         ExecReload=/bin/kill -s HUP $MAINPID\nTimeoutSec=0\nRestartSec=2\nRestart=always\n\
         StartLimitBurst=3\nStartLimitInterval=60s\nLimitNOFILE=infinity\nLimitNPROC=infinity\n\
         LimitCORE=infinity\nTasksMax=infinity\nDelegate=yes\nKillMode=process\n\n\
         [Install]\nWantedBy=multi-user.target\n"
    );
    let socket = "# Written by minikube-none-bootstrap from cri-dockerd's packaging/systemd.\n\
         [Unit]\nDescription=CRI Docker Socket for the API\nPartOf=cri-docker.service\n\n\
         [Socket]\nListenStream=%t/cri-dockerd.sock\nSocketMode=0660\nSocketUser=root\nSocketGroup=docker\n\n\
         [Install]\nWantedBy=sockets.target\n"
        .to_string();
    [
        ("/etc/systemd/system/cri-docker.service".into(), service),
        ("/etc/systemd/system/cri-docker.socket".into(), socket),
    ]
}

fn file(path: &str, content: &str) -> Action {
    Action::WriteFile { path: path.to_string(), content: content.as_bytes().to_vec(), mode: 0o644, owner: None }
}

impl Phase for RuntimePhase {
    fn name(&self) -> &'static str {
        "runtime"
    }

    fn check(&self, ctx: &Ctx) -> Result<Vec<Action>> {
        let s = ctx.settings;
        let rt = s.container_runtime;
        let bin = bin_dir(ctx.host);
        let installed = Installed::load(&ctx.state.dir);
        let mut actions = Vec::new();
        let mut config_changed = false;

        if rt == Runtime::Containerd && !ctx.host.read(CONTAINERD_CONFIG).is_some_and(|t| containerd_ok(&t)) {
            actions.push(file(CONTAINERD_CONFIG, CONTAINERD_TOML));
            config_changed = true;
        }
        if !ctx.host.read(CRICTL_CONFIG).is_some_and(|t| crictl_ok(&t, endpoint(rt))) {
            actions.push(file(CRICTL_CONFIG, &format!("runtime-endpoint: {}\n", endpoint(rt))));
        }

        let mut fetch = Vec::new();
        let arch = go_arch();
        let crictl_path = format!("{bin}/crictl");
        if !installed.intact(ctx.host, "crictl", &s.crictl.version.to_string(), std::slice::from_ref(&crictl_path)) {
            let spec = ArtifactSpec::crictl(&s.crictl.version.to_string(), arch)?
                .with_sha256(s.crictl.sha256.as_ref().map(|d| d.0.as_str()))?;
            fetch.push(ArtifactInstall {
                spec,
                place: Place::Extract { dir: bin.to_string(), members: Members::Only(vec!["crictl".into()]) },
            });
        }
        let cni: Vec<String> = CNI_PLUGINS.iter().map(|p| format!("{CNI_BIN}/{p}")).collect();
        if !installed.intact(ctx.host, "cni-plugins", &s.cni_plugins.version.to_string(), &cni) {
            let spec = ArtifactSpec::cni_plugins(&s.cni_plugins.version.to_string(), arch)?
                .with_sha256(s.cni_plugins.sha256.as_ref().map(|d| d.0.as_str()))?;
            fetch.push(ArtifactInstall {
                spec,
                place: Place::Extract { dir: CNI_BIN.into(), members: Members::TopLevelExecutables },
            });
        }
        let mut units_changed = false;
        if rt == Runtime::Docker {
            let path = format!("{bin}/cri-dockerd");
            if !installed.intact(
                ctx.host,
                "cri-dockerd",
                &s.cri_dockerd.version.to_string(),
                std::slice::from_ref(&path),
            ) {
                let spec = ArtifactSpec::cri_dockerd(&s.cri_dockerd.version.to_string(), arch)?
                    .with_sha256(s.cri_dockerd.sha256.as_ref().map(|d| d.0.as_str()))?;
                fetch.push(ArtifactInstall {
                    spec,
                    place: Place::Extract {
                        dir: bin.to_string(),
                        members: Members::Only(vec!["cri-dockerd/cri-dockerd".into()]),
                    },
                });
            }
            for (path, content) in cri_docker_units(bin) {
                if ctx.host.read(&path).as_deref() != Some(content.as_str()) {
                    actions.push(file(&path, &content));
                    units_changed = true;
                }
            }
        }
        if !fetch.is_empty() {
            actions.push(Action::InstallArtifacts(fetch));
        }
        if units_changed {
            actions.push(Action::DaemonReload);
        }
        for unit in units(rt) {
            if !ctx.units.enabled(unit)? {
                actions.push(Action::EnableUnit(unit.to_string()));
            }
            let active = ctx.units.active(unit)?;
            if config_changed && active {
                actions.push(Action::RestartUnit(unit.to_string()));
            } else if !active {
                actions.push(Action::StartUnit(unit.to_string()));
            }
        }
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_config_must_not_disable_cri() {
        assert!(containerd_ok(CONTAINERD_TOML));
        assert!(!containerd_ok("disabled_plugins = [\"cri\"]\n"), "docker's containerd.io default");
        assert!(containerd_ok("version = 2\ndisabled_plugins = []\n"));
        assert!(!containerd_ok("not toml ["));
    }

    #[test]
    fn crictl_yaml_endpoint() {
        let want = endpoint(Runtime::Containerd);
        assert!(crictl_ok("runtime-endpoint: unix:///run/containerd/containerd.sock\n", want));
        assert!(!crictl_ok("runtime-endpoint: unix:///var/run/cri-dockerd.sock\n", want));
    }
}
