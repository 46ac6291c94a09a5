//! The cache side: cache hits, the `.partial` file, verification, the
//! atomic commit and the recorded digest beside each cached file.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{DownloadError, Downloader, FetchOutcome, Fetched, Job};
use crate::host::artifact_urls::parse_checksum_file;

impl Downloader {
    pub(super) fn prepare_cache(&self, job: &Job<'_>) -> Result<PathBuf, DownloadError> {
        let dir = &self.opts.cache_dir;
        fs::create_dir_all(dir).map_err(|e| job.io("cannot create cache directory", dir, e))?;
        Ok(dir.join(job.spec.cache_name()))
    }
}

/// The cached file if it verifies against `want` (or, without it, against the
/// digest recorded beside it). A file that fails is removed.
pub(super) fn cache_hit(job: &Job<'_>, path: &Path, want: Option<&str>) -> Result<Option<Fetched>, DownloadError> {
    if !path.is_file() {
        return Ok(None);
    }
    let recorded = fs::read_to_string(sidecar_path(path)).ok();
    let recorded = recorded.and_then(|t| parse_checksum_file(&t, &job.spec.cache_name()).ok());
    let Some(want) = want.map(str::to_owned).or(recorded.clone()) else {
        return Ok(None);
    };
    if sha256_file(path).map_err(|e| job.io("cannot read", path, e))? != want {
        remove_quietly(path);
        remove_quietly(&sidecar_path(path));
        return Ok(None);
    }
    if recorded.as_deref() != Some(&want) {
        write_sidecar(job, path, &want)?;
    }
    Ok(Some(job.fetched(path, &want, FetchOutcome::Cached)))
}

/// Verify, fsync, rename into place, record the digest, fsync the directory.
pub(super) fn commit(
    job: &Job<'_>,
    file: File,
    final_path: &Path,
    actual: &str,
    expected: &str,
) -> Result<(), DownloadError> {
    let partial = partial_path(final_path);
    if actual != expected {
        drop(file);
        remove_quietly(&partial);
        let (artifact, url) = (job.spec.name.clone(), job.origin.clone());
        let (expected, actual) = (expected.to_owned(), actual.to_owned());
        return Err(DownloadError::DigestMismatch { artifact, url, expected, actual });
    }
    file.sync_all().map_err(|e| job.io("cannot fsync", &partial, e))?;
    drop(file);
    fs::rename(&partial, final_path).map_err(|e| job.io("cannot move into place", final_path, e))?;
    write_sidecar(job, final_path, expected)?;
    let dir = final_path.parent().unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| job.io("cannot fsync", dir, e))
}

fn write_sidecar(job: &Job<'_>, final_path: &Path, digest: &str) -> Result<(), DownloadError> {
    let side = sidecar_path(final_path);
    let tmp = partial_path(&side);
    let line = format!("{digest}  {}\n", job.spec.cache_name());
    (File::create(&tmp).and_then(|mut f| f.write_all(line.as_bytes()).and_then(|()| f.sync_all())))
        .and_then(|()| fs::rename(&tmp, &side))
        .map_err(|e| job.io("cannot record the digest in", &side, e))
}

/// Copy `r` to `w` (if any) while hashing; returns the byte count.
pub(super) fn copy_hashing(r: &mut dyn Read, mut w: Option<&mut File>, h: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(w) = w.as_mut() {
            w.write_all(&buf[..n])?;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
}

/// sha256 of a file as lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    copy_hashing(&mut File::open(path)?, None, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn partial_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".partial");
    s.into()
}

fn sidecar_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".sha256");
    s.into()
}

pub(super) fn remove_quietly(p: &Path) {
    let _ = fs::remove_file(p);
}
