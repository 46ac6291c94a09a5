//! Verified, cached, resumable artifact downloads.
//!
//! Each artifact is streamed into `<cache>/<cache name>.partial` while being
//! hashed, verified against its pinned sha256 or the published checksum file,
//! then fsynced and renamed to `<cache>/<cache name>` (the directory is
//! fsynced too), with the verified digest in `<cache name>.sha256` beside it.
//! A cached file that still verifies is returned without any network access.

mod bundle;
mod cache;
mod http;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::Client;

pub use super::artifact_urls::DownloadError;
use super::artifact_urls::{ArtifactSpec, Source, check_url_allowed};
pub use cache::sha256_file;
use cache::{cache_hit, commit, partial_path};
use http::{error_chain, read_ca};

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

fn config(artifact: &str, detail: String) -> DownloadError {
    DownloadError::Config { artifact: artifact.to_owned(), detail }
}
