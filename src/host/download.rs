//! Verified, cached, resumable artifact downloads.
//!
//! Each artifact is streamed into `<cache>/<cache name>.partial` while being
//! hashed, verified against its pinned sha256 or the published checksum file,
//! then fsynced and renamed to `<cache>/<cache name>` (the directory is
//! fsynced too), with the verified digest in `<cache name>.sha256` beside it.
//! A cached file that still verifies is returned without any network access.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};

pub use super::artifact_urls::DownloadError;
use super::artifact_urls::{ArtifactSpec, Source, check_url_allowed, parse_checksum_file};

/// Bounded retries with capped exponential backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts per URL, at least 1.
    pub max_attempts: u32,
    /// Delay after the first failed attempt; doubled after each further one.
    pub initial_backoff: Duration,
    /// Upper bound of a single delay.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, initial_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// Delay after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// How and from where to download.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    pub cache_dir: PathBuf,
    pub source: Source,
    /// Permit plain `http` to non-loopback hosts.
    pub allow_http: bool,
    /// PEM file with extra trusted roots (`tls.ca-file`), merged with the system roots.
    pub ca_file: Option<PathBuf>,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// Limit for each read or write on a connection.
    pub io_timeout: Duration,
    /// Progress is reported when this much time passed since the last event...
    pub progress_interval: Duration,
    /// ...or this many bytes arrived since the last event.
    pub progress_bytes: u64,
}

impl DownloadOptions {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            source: Source::Upstream,
            allow_http: false,
            ca_file: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(60),
            progress_interval: Duration::from_secs(1),
            progress_bytes: 16 << 20,
        }
    }
}

/// Bytes received so far for one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEvent {
    pub artifact: String,
    pub bytes: u64,
    pub total: Option<u64>,
}

/// How a verified file came to be in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Already cached and verified: no download.
    Cached,
    /// Downloaded (or copied from a bundle) from the start.
    Downloaded,
    /// Downloaded, continuing a partial file with an HTTP range request.
    Resumed,
}

/// A verified artifact in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub artifact: String,
    pub path: PathBuf,
    pub sha256: String,
    pub outcome: FetchOutcome,
    /// URL (or bundle path) it came from; for a cache hit, where it would come from.
    pub origin: String,
}

/// Downloads artifacts with one shared blocking HTTP client.
#[derive(Debug)]
pub struct Downloader {
    client: Client,
    opts: DownloadOptions,
}

enum Attempt {
    Retry(String),
    Fatal(DownloadError),
}

struct Progress<'a> {
    artifact: &'a str,
    sink: &'a mut dyn FnMut(ProgressEvent),
    interval: Duration,
    every: u64,
    last: Instant,
    last_bytes: u64,
}

impl Progress<'_> {
    fn emit(&mut self, bytes: u64, total: Option<u64>, force: bool) {
        let due = self.last.elapsed() >= self.interval || bytes.saturating_sub(self.last_bytes) >= self.every;
        if force || (due && bytes != self.last_bytes) {
            (self.sink)(ProgressEvent { artifact: self.artifact.to_owned(), bytes, total });
            self.last = Instant::now();
            self.last_bytes = bytes;
        }
    }
}

impl Downloader {
    /// Build the HTTP client (system roots plus `ca_file`, environment proxies,
    /// redirects re-checked against the plain-HTTP policy).
    pub fn new(opts: DownloadOptions) -> Result<Self, DownloadError> {
        let allow_http = opts.allow_http;
        let redirects = reqwest::redirect::Policy::custom(move |a| {
            let refusal = match check_url_allowed(a.url(), allow_http) {
                _ if a.previous().len() >= 10 => Some("more than 10 redirects".to_owned()),
                Ok(()) => None,
                Err(e) => Some(format!("redirect to {} refused: {e}", a.url())),
            };
            match refusal {
                Some(msg) => a.error(msg),
                None => a.follow(),
            }
        });
        let agent = concat!("minikube-none-bootstrap/", env!("CARGO_PKG_VERSION"));
        let mut builder = Client::builder()
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.io_timeout)
            .redirect(redirects)
            .user_agent(agent);
        if let Some(ca) = &opts.ca_file {
            builder = builder.tls_certs_merge(read_ca(ca)?);
        }
        let client =
            builder.build().map_err(|e| config("http client", format!("cannot set up: {}", error_chain(&e))))?;
        Ok(Self { client, opts })
    }

    pub fn options(&self) -> &DownloadOptions {
        &self.opts
    }

    /// Fetch independent artifacts in parallel; results in the order of `specs`.
    pub fn fetch_all<F>(&self, specs: &[ArtifactSpec], progress: F) -> Vec<Result<Fetched, DownloadError>>
    where
        F: FnMut(ProgressEvent) + Send,
    {
        let progress = Mutex::new(progress);
        let progress = &progress;
        std::thread::scope(|s| {
            let handles: Vec<_> = (specs.iter())
                .map(|spec| {
                    s.spawn(move || {
                        self.fetch(spec, &mut |ev| {
                            if let Ok(mut p) = progress.lock() {
                                (*p)(ev);
                            }
                        })
                    })
                })
                .collect();
            (handles.into_iter().zip(specs))
                .map(|(h, spec)| {
                    let panicked = || Err(config(&spec.name, "download thread panicked".into()));
                    h.join().unwrap_or_else(|_| panicked())
                })
                .collect()
        })
    }

    /// Fetch one artifact into the cache and return its verified path.
    pub fn fetch(
        &self,
        spec: &ArtifactSpec,
        progress: &mut dyn FnMut(ProgressEvent),
    ) -> Result<Fetched, DownloadError> {
        let source = &self.opts.source;
        if let Source::BundleDir { dir } = source {
            return self.fetch_bundle(spec, dir, progress);
        }
        let url = self.checked_url(spec, spec.url(source))?;
        let sum_url = match spec.checksum_url(source) {
            Some(u) => Some(self.checked_url(spec, Some(u))?),
            None => None,
        };
        let job = Job { spec, origin: url.to_string() };
        let final_path = self.prepare_cache(&job)?;
        if let Some(hit) = cache_hit(&job, &final_path, spec.sha256.as_deref())? {
            return Ok(hit);
        }
        let expected = match (&spec.sha256, &sum_url) {
            (Some(pin), _) => pin.clone(),
            (None, Some(u)) => self.published_digest(&job, u)?,
            (None, None) => {
                let why = format!("{} publishes no checksum file, so a pinned sha256 is required", spec.name);
                return Err(config(&spec.name, why));
            }
        };
        if let Some(hit) = cache_hit(&job, &final_path, Some(&expected))? {
            return Ok(hit);
        }
        let mut restarted = false;
        loop {
            let (file, digest, outcome) = self.download(&job, &url, &partial_path(&final_path), progress)?;
            match commit(&job, file, &final_path, &digest, &expected) {
                Ok(()) => return Ok(job.fetched(&final_path, &expected, outcome)),
                // the part fetched before the resume may be stale: one clean retry
                Err(DownloadError::DigestMismatch { .. }) if outcome == FetchOutcome::Resumed && !restarted => {
                    restarted = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn checked_url(&self, spec: &ArtifactSpec, url: Option<String>) -> Result<Url, DownloadError> {
        let url = url.unwrap_or_default();
        let insecure = |detail| DownloadError::Insecure { artifact: spec.name.clone(), url: url.clone(), detail };
        let parsed = Url::parse(&url).map_err(|e| insecure(format!("not a valid URL: {e}")))?;
        check_url_allowed(&parsed, self.opts.allow_http).map_err(insecure)?;
        Ok(parsed)
    }

    fn prepare_cache(&self, job: &Job<'_>) -> Result<PathBuf, DownloadError> {
        let dir = &self.opts.cache_dir;
        fs::create_dir_all(dir).map_err(|e| job.io("cannot create cache directory", dir, e))?;
        Ok(dir.join(job.spec.cache_name()))
    }

    fn published_digest(&self, job: &Job<'_>, url: &Url) -> Result<String, DownloadError> {
        let text = self.with_retries(job, url, || {
            let resp = self.client.get(url.clone()).send().map_err(|e| classify(job, url, e))?;
            let mut text = String::new();
            let read = check_status(job, url, resp)?.take(64 << 10).read_to_string(&mut text);
            match read {
                Ok(_) => Ok(text),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    Err(Attempt::Fatal(job.malformed(url, "it is not text".into())))
                }
                Err(e) => Err(Attempt::Retry(format!("reading the checksum file failed: {e}"))),
            }
        })?;
        parse_checksum_file(&text, job.spec.file_name()).map_err(|d| job.malformed(url, d))
    }

    /// Stream `url` into `partial`, resuming with a range request when a
    /// partial file exists. Returns the open file, its digest and the outcome.
    fn download(
        &self,
        job: &Job<'_>,
        url: &Url,
        partial: &Path,
        sink: &mut dyn FnMut(ProgressEvent),
    ) -> Result<(File, String, FetchOutcome), DownloadError> {
        let mut progress = Progress {
            artifact: &job.spec.name,
            sink,
            interval: self.opts.progress_interval,
            every: self.opts.progress_bytes.max(1),
            last: Instant::now(),
            last_bytes: u64::MAX,
        };
        let fatal_io = |what, e| Attempt::Fatal(job.io(what, partial, e));
        self.with_retries(job, url, || {
            let offset = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
            let mut req = self.client.get(url.clone());
            if offset > 0 {
                req = req.header(RANGE, format!("bytes={offset}-"));
            }
            let resp = req.send().map_err(|e| classify(job, url, e))?;
            if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
                remove_quietly(partial);
                return Err(Attempt::Retry("the server refused to resume; restarting".into()));
            }
            let mut resp = check_status(job, url, resp)?;
            let mut hasher = Sha256::new();
            let (mut file, start, outcome) = if resp.status() == StatusCode::PARTIAL_CONTENT {
                if offset == 0 || range_start(&resp) != Some(offset) {
                    remove_quietly(partial);
                    return Err(Attempt::Retry("the server answered an unexpected range".into()));
                }
                let mut file = (OpenOptions::new().read(true).append(true).open(partial))
                    .map_err(|e| fatal_io("cannot open", e))?;
                copy_hashing(&mut file, None, &mut hasher).map_err(|e| fatal_io("cannot read", e))?;
                (file, offset, FetchOutcome::Resumed)
            } else {
                let file = File::create(partial).map_err(|e| fatal_io("cannot create", e))?;
                (file, 0, FetchOutcome::Downloaded)
            };
            let total = resp.content_length().map(|n| n + start);
            progress.emit(start, total, true);
            let mut bytes = start;
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match resp.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let why = format!("connection dropped after {bytes} bytes: {}", error_chain(&e));
                        return Err(Attempt::Retry(why));
                    }
                };
                file.write_all(&buf[..n]).map_err(|e| fatal_io("cannot write", e))?;
                hasher.update(&buf[..n]);
                bytes += n as u64;
                progress.emit(bytes, total, false);
            }
            if total.is_some_and(|t| t != bytes) {
                return Err(Attempt::Retry(format!("body ended after {bytes} of {total:?} bytes")));
            }
            progress.emit(bytes, total, true);
            Ok((file, hex(&hasher.finalize()), outcome))
        })
    }

    fn fetch_bundle(
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

    fn with_retries<T>(
        &self,
        job: &Job<'_>,
        url: &Url,
        mut op: impl FnMut() -> Result<T, Attempt>,
    ) -> Result<T, DownloadError> {
        let max = self.opts.retry.max_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=max {
            match op() {
                Ok(v) => return Ok(v),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(detail)) => {
                    tracing::warn!(artifact = %job.spec.name, %url, attempt, max, "{detail}");
                    last = detail;
                    if attempt < max {
                        std::thread::sleep(self.opts.retry.delay(attempt));
                    }
                }
            }
        }
        let artifact = job.spec.name.clone();
        Err(DownloadError::Network { artifact, url: url.to_string(), attempts: max, detail: last })
    }
}

/// One artifact being fetched; builds its results and errors.
struct Job<'a> {
    spec: &'a ArtifactSpec,
    origin: String,
}

impl Job<'_> {
    fn fetched(&self, path: &Path, sha256: &str, outcome: FetchOutcome) -> Fetched {
        let (artifact, origin) = (self.spec.name.clone(), self.origin.clone());
        Fetched { artifact, path: path.to_owned(), sha256: sha256.to_owned(), outcome, origin }
    }

    fn io(&self, action: &'static str, path: &Path, source: io::Error) -> DownloadError {
        DownloadError::Io { artifact: self.spec.name.clone(), action, path: path.to_owned(), source }
    }

    fn not_found(&self, url: &str, detail: String) -> DownloadError {
        DownloadError::NotFound { artifact: self.spec.name.clone(), url: url.to_owned(), detail }
    }

    fn malformed(&self, url: impl ToString, detail: String) -> DownloadError {
        DownloadError::ChecksumMalformed { artifact: self.spec.name.clone(), url: url.to_string(), detail }
    }
}

fn classify(job: &Job<'_>, url: &Url, e: reqwest::Error) -> Attempt {
    let detail = error_chain(&e);
    let lower = detail.to_ascii_lowercase();
    let (artifact, url) = (job.spec.name.clone(), url.to_string());
    if ["certificate", "unknownissuer", "alert"].iter().any(|w| lower.contains(w)) {
        Attempt::Fatal(DownloadError::Tls { artifact, url, detail })
    } else if e.is_redirect() || e.is_builder() {
        Attempt::Fatal(DownloadError::Insecure { artifact, url, detail })
    } else {
        Attempt::Retry(detail)
    }
}

fn check_status(job: &Job<'_>, url: &Url, resp: Response) -> Result<Response, Attempt> {
    let status = resp.status();
    match status.as_u16() {
        200..=299 => Ok(resp),
        401 | 403 | 404 | 410 => Err(Attempt::Fatal(job.not_found(url.as_str(), format!("HTTP {status}")))),
        408 | 429 | 500..=599 => Err(Attempt::Retry(format!("HTTP {status}"))),
        _ => {
            let (artifact, url) = (job.spec.name.clone(), url.to_string());
            let detail = format!("unexpected HTTP {status}");
            Err(Attempt::Fatal(DownloadError::Network { artifact, url, attempts: 1, detail }))
        }
    }
}

/// The cached file if it verifies against `want` (or, without it, against the
/// digest recorded beside it). A file that fails is removed.
fn cache_hit(job: &Job<'_>, path: &Path, want: Option<&str>) -> Result<Option<Fetched>, DownloadError> {
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
fn commit(job: &Job<'_>, file: File, final_path: &Path, actual: &str, expected: &str) -> Result<(), DownloadError> {
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

fn read_ca(ca: &Path) -> Result<Vec<reqwest::Certificate>, DownloadError> {
    let fail = |why: String| config("tls.ca-file", format!("{}: {why}", ca.display()));
    let pem = fs::read(ca).map_err(|e| fail(format!("cannot read it: {e}")))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(fail("it holds no PEM certificate".into())),
        Err(e) => Err(fail(format!("not a PEM certificate file: {e}"))),
    }
}

fn config(artifact: &str, detail: String) -> DownloadError {
    DownloadError::Config { artifact: artifact.to_owned(), detail }
}

/// Copy `r` to `w` (if any) while hashing; returns the byte count.
fn copy_hashing(r: &mut dyn Read, mut w: Option<&mut File>, h: &mut Sha256) -> io::Result<u64> {
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn range_start(resp: &Response) -> Option<u64> {
    let v = resp.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    v.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

fn partial_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".partial");
    s.into()
}

fn sidecar_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".sha256");
    s.into()
}

fn remove_quietly(p: &Path) {
    let _ = fs::remove_file(p);
}

/// An error and its sources, joined with ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
