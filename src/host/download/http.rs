//! The network side: the HTTP client's trust roots, retries with backoff,
//! streaming with resume, and classifying failures.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::blocking::Response;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};

use super::cache::{copy_hashing, hex, remove_quietly};
use super::{DownloadError, Downloader, FetchOutcome, Job, ProgressEvent, config};
use crate::host::artifact_urls::parse_checksum_file;

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
    pub(super) fn published_digest(&self, job: &Job<'_>, url: &Url) -> Result<String, DownloadError> {
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
    pub(super) fn download(
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

fn range_start(resp: &Response) -> Option<u64> {
    let v = resp.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    v.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

pub(super) fn read_ca(ca: &Path) -> Result<Vec<reqwest::Certificate>, DownloadError> {
    let fail = |why: String| config("tls.ca-file", format!("{}: {why}", ca.display()));
    let pem = fs::read(ca).map_err(|e| fail(format!("cannot read it: {e}")))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(fail("it holds no PEM certificate".into())),
        Err(e) => Err(fail(format!("not a PEM certificate file: {e}"))),
    }
}

/// An error and its sources, joined with ": ".
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
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
