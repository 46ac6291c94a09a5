//! What to download and from where: artifact specs in the upstream layout,
//! URL building for upstream / mirror sources, the plain-HTTP policy and the
//! parser for published `.sha256` files.
//!
//! Upstream layouts and checksum formats (checked against the projects'
//! release scripts):
//! - minikube: `https://storage.googleapis.com/minikube/releases/<v>/minikube-linux-<arch>`,
//!   `.sha256` holds only the hex digest.
//! - crictl: `https://github.com/kubernetes-sigs/cri-tools/releases/download/<v>/crictl-<v>-linux-<arch>.tar.gz`,
//!   `.sha256` holds only the hex digest (`hack/release.sh`: `sha256sum | awk '{print $1}'`).
//! - CNI plugins: `https://github.com/containernetworking/plugins/releases/download/<v>/cni-plugins-linux-<arch>-<v>.tgz`,
//!   `.sha256` is `sha256sum` output, `<hex>  <file name>` (`scripts/release.sh`).
//! - cri-dockerd: `https://github.com/Mirantis/cri-dockerd/releases/download/v<ver>/cri-dockerd-<ver>.<arch>.tgz`;
//!   the release publishes no checksum file, so a pinned digest is required.

use std::net::IpAddr;
use std::path::PathBuf;

/// Why an artifact could not be fetched. Every variant names the artifact;
/// [`DownloadError::remedy`] says what the operator can do about it.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{artifact}: {url} was not found ({detail})")]
    NotFound { artifact: String, url: String, detail: String },
    #[error("{artifact}: sha256 mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch { artifact: String, url: String, expected: String, actual: String },
    #[error("{artifact}: downloading {url} failed after {attempts} attempt(s): {detail}")]
    Network { artifact: String, url: String, attempts: u32, detail: String },
    #[error("{artifact}: TLS verification of {url} failed: {detail}")]
    Tls { artifact: String, url: String, detail: String },
    #[error("{artifact}: refusing {url}: {detail}")]
    Insecure { artifact: String, url: String, detail: String },
    #[error("{artifact}: checksum file {url} is malformed: {detail}")]
    ChecksumMalformed { artifact: String, url: String, detail: String },
    #[error("{artifact}: {detail}")]
    Config { artifact: String, detail: String },
    #[error("{artifact}: {action} {}: {source}", path.display())]
    Io { artifact: String, action: &'static str, path: PathBuf, source: std::io::Error },
}

impl DownloadError {
    /// The artifact (or setting) the error is about.
    pub fn artifact(&self) -> &str {
        match self {
            Self::NotFound { artifact, .. }
            | Self::DigestMismatch { artifact, .. }
            | Self::Network { artifact, .. }
            | Self::Tls { artifact, .. }
            | Self::Insecure { artifact, .. }
            | Self::ChecksumMalformed { artifact, .. }
            | Self::Config { artifact, .. }
            | Self::Io { artifact, .. } => artifact,
        }
    }

    /// What the operator can do about it.
    pub fn remedy(&self) -> String {
        match self {
            Self::NotFound { .. } => "check that the configured version and architecture exist upstream; \
                with a mirror, check that it serves the upstream layout (same relative paths)"
                .into(),
            Self::DigestMismatch { .. } => "check the pinned sha256 in the configuration against the \
                upstream release; with a mirror or bundle, check that its copy is intact \
                (the partial download was deleted, rerunning starts afresh)"
                .into(),
            Self::Network { .. } => "check connectivity and proxy settings (HTTPS_PROXY, NO_PROXY), \
                or use a mirror or bundle; rerunning resumes the partial download"
                .into(),
            Self::Tls { .. } => "if the server uses a private CA, set tls.ca-file to its PEM \
                certificate; otherwise check the system clock and the server's certificate"
                .into(),
            Self::Insecure { .. } => "use an https URL; plain http is accepted only for loopback \
                hosts or with allow_http set"
                .into(),
            Self::ChecksumMalformed { .. } => "check that the mirror serves the upstream .sha256 \
                file unchanged, or pin the artifact's sha256 in the configuration"
                .into(),
            Self::Config { artifact, .. } if artifact == "tls.ca-file" => {
                "point tls.ca-file at a readable PEM file with the CA certificate".into()
            }
            Self::Config { .. } => "fix the configuration: a release version like v1.2.3, an \
                architecture like amd64, and a 64-hex-digit sha256 pin for artifacts whose \
                upstream publishes no checksum (cri-dockerd)"
                .into(),
            Self::Io { path, .. } => {
                format!("check permissions of and free space for {}", path.display())
            }
        }
    }
}

/// Upstream base for minikube releases.
pub const MINIKUBE_BASE: &str = "https://storage.googleapis.com";
/// Upstream base for GitHub-hosted releases (crictl, CNI plugins, cri-dockerd).
pub const GITHUB_BASE: &str = "https://github.com";

/// One downloadable artifact, described in the upstream layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// Short name used in messages, progress events and cache file names.
    pub name: String,
    /// Version as given (normalised with a leading `v` where upstream uses one).
    pub version: String,
    /// Architecture in Go notation: `amd64`, `arm64`, ...
    pub arch: String,
    /// Path below the base URL, identical for upstream and mirrors.
    pub relative_path: String,
    /// Base URL of the upstream host, without a trailing slash.
    pub upstream_base: String,
    /// Pinned lowercase hex sha256; when set, no checksum file is fetched.
    pub sha256: Option<String>,
    /// Suffix of the published checksum file (`.sha256`), `None` if upstream publishes none.
    pub checksum_url_suffix: Option<String>,
}

/// Where artifacts come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Source {
    /// The projects' own release hosts.
    #[default]
    Upstream,
    /// A base URL serving the same relative paths as upstream.
    Mirror { base: String },
    /// A local directory in the upstream layout, with a `SHA256SUMS` manifest
    /// (`<hex>  <relative path>` lines) or per-file `.sha256` files.
    BundleDir { dir: std::path::PathBuf },
}

impl ArtifactSpec {
    /// The minikube binary.
    pub fn minikube(version: &str, arch: &str) -> Result<Self, DownloadError> {
        let v = with_v("minikube", version)?;
        let arch = checked_arch("minikube", arch)?;
        Ok(Self::new(
            "minikube",
            &v,
            &arch,
            format!("minikube/releases/{v}/minikube-linux-{arch}"),
            MINIKUBE_BASE,
            Some(".sha256"),
        ))
    }

    /// The crictl tarball (single member `crictl`).
    pub fn crictl(version: &str, arch: &str) -> Result<Self, DownloadError> {
        let v = with_v("crictl", version)?;
        let arch = checked_arch("crictl", arch)?;
        Ok(Self::new(
            "crictl",
            &v,
            &arch,
            format!("kubernetes-sigs/cri-tools/releases/download/{v}/crictl-{v}-linux-{arch}.tar.gz"),
            GITHUB_BASE,
            Some(".sha256"),
        ))
    }

    /// The CNI plugins tarball (members `./bridge`, `./host-local`, ...).
    pub fn cni_plugins(version: &str, arch: &str) -> Result<Self, DownloadError> {
        let v = with_v("cni-plugins", version)?;
        let arch = checked_arch("cni-plugins", arch)?;
        Ok(Self::new(
            "cni-plugins",
            &v,
            &arch,
            format!("containernetworking/plugins/releases/download/{v}/cni-plugins-linux-{arch}-{v}.tgz"),
            GITHUB_BASE,
            Some(".sha256"),
        ))
    }

    /// The cri-dockerd tarball (member `cri-dockerd/cri-dockerd`). Upstream
    /// publishes no checksum file: a pinned digest must be supplied with
    /// [`ArtifactSpec::with_sha256`] before fetching.
    pub fn cri_dockerd(version: &str, arch: &str) -> Result<Self, DownloadError> {
        let v = with_v("cri-dockerd", version)?;
        let bare = &v[1..];
        let arch = checked_arch("cri-dockerd", arch)?;
        Ok(Self::new(
            "cri-dockerd",
            &v,
            &arch,
            format!("Mirantis/cri-dockerd/releases/download/{v}/cri-dockerd-{bare}.{arch}.tgz"),
            GITHUB_BASE,
            None,
        ))
    }

    fn new(name: &str, version: &str, arch: &str, relative_path: String, base: &str, suffix: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: arch.to_owned(),
            relative_path,
            upstream_base: base.to_owned(),
            sha256: None,
            checksum_url_suffix: suffix.map(str::to_owned),
        }
    }

    /// Pin the expected digest (validated: 64 hex digits, stored lowercase).
    pub fn with_sha256(mut self, pin: Option<&str>) -> Result<Self, DownloadError> {
        self.sha256 = match pin {
            None => None,
            Some(p) => Some(parse_hex_digest(p.trim()).ok_or_else(|| DownloadError::Config {
                artifact: self.name.clone(),
                detail: format!("pinned sha256 {p:?} is not 64 hex digits"),
            })?),
        };
        Ok(self)
    }

    /// Last path segment of the upstream file.
    pub fn file_name(&self) -> &str {
        self.relative_path.rsplit('/').next().unwrap_or(&self.relative_path)
    }

    /// Name of the verified file in the cache: `<name>-<version>-<arch>` plus
    /// the upstream extension (`.tar.gz`, `.tgz` or none).
    pub fn cache_name(&self) -> String {
        let file = self.file_name();
        let ext = [".tar.gz", ".tgz"].into_iter().find(|e| file.ends_with(e)).unwrap_or("");
        format!("{}-{}-{}{}", self.name, self.version, self.arch, ext)
    }

    /// Artifact URL for a network source (`None` for a bundle).
    pub fn url(&self, source: &Source) -> Option<String> {
        let base = match source {
            Source::Upstream => self.upstream_base.as_str(),
            Source::Mirror { base } => base.as_str(),
            Source::BundleDir { .. } => return None,
        };
        Some(format!("{}/{}", base.trim_end_matches('/'), self.relative_path))
    }

    /// Published checksum URL for a network source, if upstream publishes one.
    pub fn checksum_url(&self, source: &Source) -> Option<String> {
        let suffix = self.checksum_url_suffix.as_deref()?;
        self.url(source).map(|u| format!("{u}{suffix}"))
    }
}

fn with_v(name: &str, version: &str) -> Result<String, DownloadError> {
    let bare = version.trim().trim_start_matches('v');
    if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c)) {
        return Err(DownloadError::Config {
            artifact: name.to_owned(),
            detail: format!("version {version:?} is not a release version like v1.2.3"),
        });
    }
    Ok(format!("v{bare}"))
}

fn checked_arch(name: &str, arch: &str) -> Result<String, DownloadError> {
    if arch.is_empty() || !arch.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(DownloadError::Config {
            artifact: name.to_owned(),
            detail: format!("architecture {arch:?} is not valid (expected e.g. amd64, arm64)"),
        });
    }
    Ok(arch.to_owned())
}

/// `Some(lowercase)` if `s` is exactly 64 hex digits.
pub fn parse_hex_digest(s: &str) -> Option<String> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// Parse a published checksum file: either a lone `<hex>` or `sha256sum`
/// lines `<hex>  <name>` / `<hex> *<name>`; with names, the line for
/// `file_name` is used. Anything else is an error describing what was found.
pub fn parse_checksum_file(text: &str, file_name: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return Err("the checksum file is empty".into());
    }
    let mut named = Vec::new();
    for line in &lines {
        let (hex, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let Some(hex) = parse_hex_digest(hex) else {
            let shown: String = line.chars().take(80).collect();
            return Err(format!(
                "line {shown:?} does not start with a 64-digit hex sha256 \
                 (expected \"<hex>\" or \"<hex>  <file name>\")"
            ));
        };
        let name = rest.trim().trim_start_matches('*');
        if name.is_empty() {
            if lines.len() == 1 {
                return Ok(hex);
            }
            return Err("a bare digest is mixed with other lines".into());
        }
        named.push((hex, name));
    }
    let base = |n: &str| n.rsplit('/').next().unwrap_or(n).to_owned();
    match named.iter().find(|(_, n)| base(n) == file_name) {
        Some((hex, _)) => Ok(hex.clone()),
        None => Err(format!(
            "no line names {file_name:?} (found: {})",
            named.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Whether `url` may be fetched: `https` always, `http` only to loopback
/// hosts or when `allow_http` is set. Checked before any DNS lookup.
pub fn check_url_allowed(url: &reqwest::Url, allow_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback_host(url) => Ok(()),
        "http" => Err(format!(
            "plain http to {} is refused (only loopback hosts may use http)",
            url.host_str().unwrap_or("?")
        )),
        other => Err(format!("scheme {other:?} is not supported (use https)")),
    }
}

fn is_loopback_host(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}
