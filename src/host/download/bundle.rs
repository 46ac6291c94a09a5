//! The bundle-directory source: artifacts copied from a local directory
//! (the `bundle` setting) and verified like downloads.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::cache::{cache_hit, commit, copy_hashing, hex, partial_path};
use super::{DownloadError, Downloader, FetchOutcome, Fetched, Job, ProgressEvent, config};
use crate::host::artifact_urls::{ArtifactSpec, parse_checksum_file};

impl Downloader {
    pub(super) fn fetch_bundle(
        &self,
        spec: &ArtifactSpec,
        bundle: &Path,
        sink: &mut dyn FnMut(ProgressEvent),
    ) -> Result<Fetched, DownloadError> {
        let src = bundle.join(&spec.relative_path);
        let job = Job { spec, origin: src.display().to_string() };
        let final_path = self.prepare_cache(&job)?;
        let expected = match &spec.sha256 {
            Some(pin) => pin.clone(),
            None => bundle_digest(&job, bundle, &src)?,
        };
        if let Some(hit) = cache_hit(&job, &final_path, Some(&expected))? {
            return Ok(hit);
        }
        let partial = partial_path(&final_path);
        let mut input = File::open(&src).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => job.not_found(&job.origin, "no such file in the bundle".into()),
            _ => job.io("cannot open", &src, e),
        })?;
        let mut file = File::create(&partial).map_err(|e| job.io("cannot create", &partial, e))?;
        let mut hasher = Sha256::new();
        let bytes =
            copy_hashing(&mut input, Some(&mut file), &mut hasher).map_err(|e| job.io("cannot copy", &src, e))?;
        sink(ProgressEvent { artifact: spec.name.clone(), bytes, total: Some(bytes) });
        commit(&job, file, &final_path, &hex(&hasher.finalize()), &expected)?;
        Ok(job.fetched(&final_path, &expected, FetchOutcome::Downloaded))
    }
}

/// The digest of a bundle file: from `SHA256SUMS` at the bundle root, else
/// from the `.sha256` file beside it.
fn bundle_digest(job: &Job<'_>, bundle: &Path, src: &Path) -> Result<String, DownloadError> {
    let spec = job.spec;
    let mut sidecar = src.as_os_str().to_owned();
    sidecar.push(spec.checksum_url_suffix.as_deref().unwrap_or(".sha256"));
    for manifest in [bundle.join("SHA256SUMS"), PathBuf::from(sidecar)] {
        if let Ok(text) = fs::read_to_string(&manifest) {
            let found = parse_checksum_file(&text, spec.file_name());
            return found.map_err(|d| job.malformed(manifest.display(), d));
        }
    }
    let why = format!("the bundle has no SHA256SUMS nor {}.sha256 and no sha256 is pinned", spec.relative_path);
    Err(config(&spec.name, why))
}
