//! Installing verified artifacts: fetch in parallel into the cache, place binaries or
//! archive members atomically, and record each placed file's digest, so that a later run
//! can tell from the files themselves whether they are still what was installed.

use super::archive::{ExtractOptions, Members, extract_tar_gz};
use super::artifact_urls::{ArtifactSpec, Source};
use super::download::{DownloadOptions, Downloader, ProgressEvent, sha256_file};
use super::{Host, fs::write_atomic};
use crate::config::Settings;
use crate::events::Events;
use crate::failure::Failure;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a fetched artifact goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The file itself, e.g. minikube at /usr/local/bin/minikube.
    Binary { path: String },
    /// Members of a tarball into a directory (CNI plugins into /opt/cni/bin).
    Extract { dir: String, members: Members },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactInstall {
    pub spec: ArtifactSpec,
    pub place: Place,
}

/// `$STATE/artifacts.json`: installed path → digest and the artifact it came from.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Installed {
    pub files: BTreeMap<String, InstalledFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InstalledFile {
    pub artifact: String,
    pub version: String,
    pub sha256: String,
}

impl Installed {
    fn path(state: &Path) -> PathBuf {
        state.join("artifacts.json")
    }

    pub fn load(state: &Path) -> Installed {
        std::fs::read(Self::path(state)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn save(&self, state: &Path) -> Result<()> {
        write_atomic(&Self::path(state), &serde_json::to_vec_pretty(self)?, 0o600)
    }

    /// Whether every recorded file of `artifact`@`version` is on disk with its recorded digest
    /// (and, when `expect` is given, those are exactly the files there).
    pub fn intact(&self, host: &Host, artifact: &str, version: &str, expect: &[String]) -> bool {
        let ours: Vec<(&String, &InstalledFile)> =
            self.files.iter().filter(|(_, f)| f.artifact == artifact && f.version == version).collect();
        if ours.is_empty() || expect.iter().any(|p| !ours.iter().any(|(q, _)| *q == p)) {
            return false;
        }
        ours.iter().all(|(p, f)| sha256_file(&host.path(p)).is_ok_and(|d| d == f.sha256))
    }
}

/// The artifact source from the settings: bundle directory, else mirror, else upstream.
pub fn download_options(host: &Host, state: &Path, s: &Settings) -> DownloadOptions {
    let mut o = DownloadOptions::new(state.join("cache"));
    o.source = match (&s.bundle, &s.mirror) {
        (Some(dir), _) => Source::BundleDir { dir: host.path(dir) },
        (None, Some(m)) => Source::Mirror { base: m.0.clone() },
        (None, None) => Source::Upstream,
    };
    o.allow_http = s.allow_http;
    o.ca_file = s.tls_ca_file.as_ref().map(|p| host.path(p));
    o
}

/// Fetches all artifacts in parallel, then places them and records what was placed.
pub fn install(
    host: &Host,
    state: &Path,
    opts: DownloadOptions,
    events: &Events,
    items: &[ArtifactInstall],
) -> Result<()> {
    let downloader = Downloader::new(opts).map_err(download_failure)?;
    let specs: Vec<ArtifactSpec> = items.iter().map(|i| i.spec.clone()).collect();
    let fetched = downloader.fetch_all(&specs, |p: ProgressEvent| {
        tracing::info!(
            "downloading {}: {} of {} bytes",
            p.artifact,
            p.bytes,
            p.total.map_or("?".into(), |t| t.to_string())
        );
        events.emit(
            "download-progress",
            serde_json::json!({ "artifact": p.artifact, "bytes": p.bytes, "total": p.total }),
        );
    });
    let mut record = Installed::load(state);
    for (item, got) in items.iter().zip(fetched) {
        let got = got.map_err(download_failure)?;
        let placed: Vec<PathBuf> = match &item.place {
            Place::Binary { path } => {
                let target = host.path(path);
                copy_atomic(&got.path, &target, 0o755)?;
                vec![target]
            }
            Place::Extract { dir, members } => {
                let opts = ExtractOptions { members: members.clone(), ..ExtractOptions::default() };
                extract_tar_gz(&got.path, &host.path(dir), &opts).map_err(|e| {
                    let remedy = e.remedy();
                    anyhow::Error::new(Failure::new("artifact-archive-refused", e.to_string(), remedy))
                })?
            }
        };
        record.files.retain(|_, f| f.artifact != item.spec.name);
        for p in placed {
            let rel = Path::new("/").join(p.strip_prefix(host.root()).unwrap_or(&p));
            let sha256 = sha256_file(&p).with_context(|| format!("hashing {}", p.display()))?;
            let file = InstalledFile { artifact: item.spec.name.clone(), version: item.spec.version.clone(), sha256 };
            record.files.insert(rel.display().to_string(), file);
        }
        record.save(state)?;
    }
    Ok(())
}

fn download_failure(e: super::artifact_urls::DownloadError) -> anyhow::Error {
    let remedy = e.remedy();
    let code = match &e {
        super::artifact_urls::DownloadError::DigestMismatch { .. } => "artifact-digest-mismatch",
        super::artifact_urls::DownloadError::NotFound { .. } => "artifact-not-found",
        super::artifact_urls::DownloadError::Tls { .. } => "artifact-tls",
        super::artifact_urls::DownloadError::Insecure { .. } => "artifact-insecure-url",
        _ => "artifact-download-failed",
    };
    anyhow::Error::new(Failure::new(code, e.to_string(), remedy))
}

/// Copies a verified cache file into place: temp file beside the target, fsync, rename.
fn copy_atomic(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = to.parent().context("target has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        to.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        std::process::id()
    ));
    std::fs::copy(from, &tmp).with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, to).with_context(|| format!("moving {} into place", to.display()))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
