//! The configuration flags. Each long flag is a config key (nested keys joined with `-`)
//! and reads `MINIKUBE_NONE_BOOTSTRAP_<FLAG>` from the environment.

use super::CheckId;
use super::types::*;
use clap::Args;
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Args, Default)]
#[command(
    next_help_heading = "Configuration (each flag is also a config key and a MINIKUBE_NONE_BOOTSTRAP_* variable)"
)]
pub struct ConfigArgs {
    /// YAML config file [default: /etc/minikube-none-bootstrap/config.yaml when it exists]
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kubernetes version to run, e.g. v1.34.0
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_KUBERNETES_VERSION", value_name = "VERSION")]
    pub kubernetes_version: Option<Version>,
    /// containerd, docker or cri-o
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_CONTAINER_RUNTIME", value_name = "RUNTIME")]
    pub container_runtime: Option<Runtime>,
    /// minikube release to install (config: minikube.version)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_MINIKUBE_VERSION", value_name = "VERSION")]
    pub minikube_version: Option<Version>,
    /// sha256 the minikube binary must have (config: minikube.sha256)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_MINIKUBE_SHA256", value_name = "HEX")]
    pub minikube_sha256: Option<Sha256>,
    /// crictl release (config: crictl.version)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_CRICTL_VERSION", value_name = "VERSION")]
    pub crictl_version: Option<Version>,
    /// sha256 of the crictl tarball (config: crictl.sha256)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_CRICTL_SHA256", value_name = "HEX")]
    pub crictl_sha256: Option<Sha256>,
    /// CNI plugins release (config: cni-plugins.version)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_CNI_PLUGINS_VERSION", value_name = "VERSION")]
    pub cni_plugins_version: Option<Version>,
    /// sha256 of the CNI plugins tarball (config: cni-plugins.sha256)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_CNI_PLUGINS_SHA256", value_name = "HEX")]
    pub cni_plugins_sha256: Option<Sha256>,
    /// cri-dockerd release, docker runtime only (config: cri-dockerd.version)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_CRI_DOCKERD_VERSION", value_name = "VERSION")]
    pub cri_dockerd_version: Option<Version>,
    /// sha256 of the cri-dockerd tarball (config: cri-dockerd.sha256)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_CRI_DOCKERD_SHA256", value_name = "HEX")]
    pub cri_dockerd_sha256: Option<Sha256>,
    /// Base URL serving the upstream layout instead of the upstream hosts
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_MIRROR", value_name = "URL")]
    pub mirror: Option<BaseUrl>,
    /// Allow plain http to a non-loopback mirror
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_ALLOW_HTTP", value_name = "BOOL")]
    pub allow_http: Option<bool>,
    /// Offline bundle (directory or tarball) made by `bundle create`
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_BUNDLE", value_name = "PATH")]
    pub bundle: Option<PathBuf>,
    /// User who gets ~/.kube/config [default: SUDO_USER, else the single uid >= 1000 user]
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_USER", value_name = "NAME")]
    pub user: Option<UserName>,
    /// Extra IPs in the apiserver certificate (comma-separated)
    #[arg(
        long,
        global = true,
        env = "MINIKUBE_NONE_BOOTSTRAP_APISERVER_IPS",
        value_delimiter = ',',
        value_name = "IP"
    )]
    pub apiserver_ips: Vec<IpAddr>,
    /// Extra DNS names in the apiserver certificate (comma-separated)
    #[arg(
        long,
        global = true,
        env = "MINIKUBE_NONE_BOOTSTRAP_APISERVER_NAMES",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub apiserver_names: Vec<DnsName>,
    /// component.key=value passed to minikube --extra-config (comma-separated)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_EXTRA_CONFIG", value_delimiter = ',', value_name = "KV")]
    pub extra_config: Vec<ExtraConfig>,
    /// CIDRs allowed to reach the cluster ports (config: firewall.allow, comma-separated)
    #[arg(
        long,
        global = true,
        env = "MINIKUBE_NONE_BOOTSTRAP_FIREWALL_ALLOW",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub firewall_allow: Vec<IpNet>,
    /// HTTP proxy for downloads and the cluster (config: proxy.http)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_PROXY_HTTP", value_name = "URL")]
    pub proxy_http: Option<String>,
    /// HTTPS proxy (config: proxy.https)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_PROXY_HTTPS", value_name = "URL")]
    pub proxy_https: Option<String>,
    /// Hosts and CIDRs that bypass the proxy (config: proxy.no-proxy)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_PROXY_NO_PROXY", value_name = "LIST")]
    pub proxy_no_proxy: Option<String>,
    /// Bound on waiting for the node to be Ready: seconds or 90s/10m/1h
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_WAIT_TIMEOUT", value_name = "DURATION")]
    pub wait_timeout: Option<Duration>,
    /// Preflight check ids whose failure only warns (config: preflight.ignore, comma-separated)
    #[arg(
        long,
        global = true,
        env = "MINIKUBE_NONE_BOOTSTRAP_PREFLIGHT_IGNORE",
        value_delimiter = ',',
        value_name = "ID"
    )]
    pub preflight_ignore: Vec<CheckId>,
    /// Treat preflight warnings as failures (config: preflight.strict)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_STRICT")]
    pub strict: bool,
    /// PEM CA bundle trusted for the mirror (config: tls.ca-file)
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_TLS_CA_FILE", value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Swap policy: leave (default) or off
    #[arg(long, global = true, env = "MINIKUBE_NONE_BOOTSTRAP_SWAP", value_name = "POLICY")]
    pub swap: Option<SwapPolicy>,
}
