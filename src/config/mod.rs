//! Configuration: built-in defaults < YAML file < environment (`MINIKUBE_NONE_BOOTSTRAP_*`) <
//! flags. The YAML keys are the long flag names; nested keys join with `-` on the CLI.

mod flags;
pub mod types;

pub use flags::ConfigArgs;
pub use types::*;

use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/minikube-none-bootstrap/config.yaml";
/// A config file larger than this is refused before parsing (a config is a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pin {
    pub version: Option<Version>,
    pub sha256: Option<Sha256>,
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Firewall {
    pub allow: Option<Vec<IpNet>>,
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Proxy {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PreflightConfig {
    pub ignore: Option<Vec<CheckId>>,
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
}

/// The YAML file, every key optional.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub kubernetes_version: Option<Version>,
    pub container_runtime: Option<Runtime>,
    pub minikube: Option<Pin>,
    pub crictl: Option<Pin>,
    pub cni_plugins: Option<Pin>,
    pub cri_dockerd: Option<Pin>,
    pub mirror: Option<BaseUrl>,
    pub allow_http: Option<bool>,
    pub bundle: Option<PathBuf>,
    pub user: Option<UserName>,
    pub apiserver_ips: Option<Vec<IpAddr>>,
    pub apiserver_names: Option<Vec<DnsName>>,
    pub extra_config: Option<Vec<ExtraConfig>>,
    pub firewall: Option<Firewall>,
    pub proxy: Option<Proxy>,
    pub wait_timeout: Option<Duration>,
    pub preflight: Option<PreflightConfig>,
    pub tls: Option<Tls>,
    pub swap: Option<SwapPolicy>,
}

/// A preflight check id, as named in `preflight.ignore`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckId(pub String);

impl std::str::FromStr for CheckId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let known = crate::phases::preflight::CHECK_IDS;
        if s == "all" {
            Err("'all' cannot be ignored: name each check id to ignore".into())
        } else if known.contains(&s) {
            Ok(CheckId(s.to_string()))
        } else {
            Err(format!("unknown preflight check id '{s}' (known: {})", known.join(", ")))
        }
    }
}
impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A pinned artifact after merging: the version always set, the digest optional.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactPin {
    pub version: Version,
    pub sha256: Option<Sha256>,
}

/// The merged settings a run works with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub source: Option<PathBuf>,
    pub kubernetes_version: Version,
    pub container_runtime: Runtime,
    pub minikube: ArtifactPin,
    pub crictl: ArtifactPin,
    pub cni_plugins: ArtifactPin,
    pub cri_dockerd: ArtifactPin,
    pub mirror: Option<BaseUrl>,
    pub allow_http: bool,
    pub bundle: Option<PathBuf>,
    pub user: Option<UserName>,
    pub apiserver_ips: Vec<IpAddr>,
    pub apiserver_names: Vec<DnsName>,
    pub extra_config: Vec<ExtraConfig>,
    pub firewall_allow: Vec<IpNet>,
    pub proxy: Proxy,
    pub wait_timeout: Duration,
    pub preflight_ignore: Vec<CheckId>,
    pub strict: bool,
    pub tls_ca_file: Option<PathBuf>,
    pub swap: SwapPolicy,
}

/// Versions used when nothing pins them (minikube v1.37.0's defaults and matching tools).
pub mod defaults {
    pub const KUBERNETES: &str = "v1.34.0";
    pub const MINIKUBE: &str = "v1.37.0";
    pub const CRICTL: &str = "v1.34.0";
    pub const CNI_PLUGINS: &str = "v1.8.0";
    pub const CRI_DOCKERD: &str = "v0.3.20";
    pub const WAIT_TIMEOUT_SECS: u64 = 600;
}

/// A configuration problem: names the key, the file and the line, and says what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub code: &'static str,
    pub message: String,
    pub remedy: String,
}

fn ver(s: &str) -> Version {
    s.parse().unwrap_or(Version { major: 0, minor: 0, patch: 0 })
}

/// Reads and parses a config file with size and YAML-bomb limits.
pub fn parse_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| ConfigError {
        code: "config-unreadable",
        message: format!("cannot read config file {shown}: {e}"),
        remedy: "check the path given with --config (or MINIKUBE_NONE_BOOTSTRAP_CONFIG)".into(),
    })?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError {
            code: "config-too-large",
            message: format!("config file {shown} is {} bytes, more than the {MAX_CONFIG_BYTES} allowed", meta.len()),
            remedy: "a config is a few KiB: check that --config names the right file".into(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        code: "config-unreadable",
        message: format!("cannot read config file {shown}: {e}"),
        remedy: "the config must be UTF-8 YAML readable by root".into(),
    })?;
    parse_str(&text, &shown.to_string())
}

pub fn parse_str(text: &str, name: &str) -> Result<FileConfig, ConfigError> {
    let mut budget = serde_saphyr::Budget::default();
    // A config has a few dozen nodes: these limits stop alias bombs and deep nesting early.
    budget.max_aliases = 64;
    budget.max_anchors = 64;
    budget.max_events = 20_000;
    budget.max_depth = 32;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_saphyr::from_str_with_options::<FileConfig>(text, options).map_err(|e| yaml_error(&e, name))
}

fn yaml_error(e: &serde_saphyr::Error, name: &str) -> ConfigError {
    let at = e.location().map(|l| format!("{name}:{}:{}", l.line(), l.column())).unwrap_or_else(|| name.to_string());
    let raw = e.to_string();
    // serde-saphyr prefixes "error: line L column C: "; we print the location our way.
    let mut first = raw.lines().next().unwrap_or("").trim();
    first = first.strip_prefix("error: ").unwrap_or(first);
    if first.starts_with("line ") {
        first = first.split_once(": ").map_or(first, |(_, rest)| rest);
    }
    let (code, remedy) = if raw.contains("unknown field") {
        ("config-unknown-key", "fix the key's spelling; the example config lists every key")
    } else if raw.to_ascii_lowercase().contains("budget") {
        ("config-too-complex", "the file has too many aliases, anchors or nodes for a config")
    } else {
        ("config-invalid-value", "correct the value; the example config shows each key's form")
    };
    ConfigError { code, message: format!("{at}: {first}"), remedy: remedy.into() }
}

impl Settings {
    /// Merges defaults < file < flags (flags already carry the environment, through clap).
    pub fn merge(file: FileConfig, source: Option<PathBuf>, args: &ConfigArgs) -> Settings {
        let pin = |file: Option<Pin>, ver_arg: &Option<Version>, sha_arg: &Option<Sha256>, default: &str| {
            let file = file.unwrap_or_default();
            ArtifactPin {
                version: ver_arg.clone().or(file.version).unwrap_or_else(|| ver(default)),
                sha256: sha_arg.clone().or(file.sha256),
            }
        };
        let proxy = file.proxy.unwrap_or_default();
        let preflight = file.preflight.unwrap_or_default();
        Settings {
            source,
            kubernetes_version: args
                .kubernetes_version
                .clone()
                .or(file.kubernetes_version)
                .unwrap_or_else(|| ver(defaults::KUBERNETES)),
            container_runtime: args.container_runtime.or(file.container_runtime).unwrap_or(Runtime::Containerd),
            minikube: pin(file.minikube, &args.minikube_version, &args.minikube_sha256, defaults::MINIKUBE),
            crictl: pin(file.crictl, &args.crictl_version, &args.crictl_sha256, defaults::CRICTL),
            cni_plugins: pin(
                file.cni_plugins,
                &args.cni_plugins_version,
                &args.cni_plugins_sha256,
                defaults::CNI_PLUGINS,
            ),
            cri_dockerd: pin(
                file.cri_dockerd,
                &args.cri_dockerd_version,
                &args.cri_dockerd_sha256,
                defaults::CRI_DOCKERD,
            ),
            mirror: args.mirror.clone().or(file.mirror),
            allow_http: args.allow_http.or(file.allow_http).unwrap_or(false),
            bundle: args.bundle.clone().or(file.bundle),
            user: args.user.clone().or(file.user),
            apiserver_ips: non_empty(&args.apiserver_ips).or(file.apiserver_ips).unwrap_or_default(),
            apiserver_names: non_empty(&args.apiserver_names).or(file.apiserver_names).unwrap_or_default(),
            extra_config: non_empty(&args.extra_config).or(file.extra_config).unwrap_or_default(),
            firewall_allow: non_empty(&args.firewall_allow).or(file.firewall.and_then(|f| f.allow)).unwrap_or_default(),
            proxy: Proxy {
                http: args.proxy_http.clone().or(proxy.http),
                https: args.proxy_https.clone().or(proxy.https),
                no_proxy: args.proxy_no_proxy.clone().or(proxy.no_proxy),
            },
            wait_timeout: args
                .wait_timeout
                .or(file.wait_timeout)
                .unwrap_or(Duration(std::time::Duration::from_secs(defaults::WAIT_TIMEOUT_SECS))),
            preflight_ignore: non_empty(&args.preflight_ignore).or(preflight.ignore).unwrap_or_default(),
            strict: args.strict || preflight.strict.unwrap_or(false),
            tls_ca_file: args.tls_ca_file.clone().or(file.tls.and_then(|t| t.ca_file)),
            swap: args.swap.or(file.swap).unwrap_or_default(),
        }
    }
}

fn non_empty<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    if v.is_empty() { None } else { Some(v.to_vec()) }
}

/// Loads the settings for a run: the file (`--config`, else the default path under the root
/// when it exists), then environment and flags.
pub fn load(args: &ConfigArgs, root: &Path) -> Result<Settings, ConfigError> {
    let default = root.join(DEFAULT_CONFIG.trim_start_matches('/'));
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None if default.exists() => Some(default),
        None => None,
    };
    let file = match &path {
        Some(p) => parse_file(p)?,
        None => FileConfig::default(),
    };
    let settings = Settings::merge(file, path, args);
    settings.check_pins()?;
    Ok(settings)
}

impl Settings {
    /// cri-dockerd's releases publish no checksum file: without a bundle (whose manifest
    /// lists digests), the docker runtime needs a pinned digest before anything is changed.
    pub fn check_pins(&self) -> Result<(), ConfigError> {
        if self.container_runtime == Runtime::Docker && self.cri_dockerd.sha256.is_none() && self.bundle.is_none() {
            let v = &self.cri_dockerd.version;
            return Err(ConfigError {
                code: "config-missing-pin",
                message: format!(
                    "container-runtime docker needs cri-dockerd.sha256{}: cri-dockerd's releases publish no checksum file to verify cri-dockerd-{}.amd64.tgz against",
                    self.source.as_ref().map(|p| format!(" (in {})", p.display())).unwrap_or_default(),
                    v.bare()
                ),
                remedy: format!(
                    "pin it: `cri-dockerd: {{version: {v}, sha256: <sha256sum of the release tarball>}}` (or --cri-dockerd-sha256)"
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
