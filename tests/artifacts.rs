//! Artifact downloads and archive extraction against a local test mirror
//! (tests/mirror/serve.py on 127.0.0.1 with a CA from make-ca.sh).

use minikube_none_bootstrap::host::{archive, artifact_urls, download};

#[path = "mirror/archive_cases.rs"]
mod archive_cases;
#[path = "mirror/harness.rs"]
mod harness;

use std::sync::Mutex;

use artifact_urls::{ArtifactSpec, Source, parse_checksum_file};
use download::{DownloadError, DownloadOptions, Downloader, FetchOutcome, Fetched};
use harness::{CNI, CRI_DOCKERD, CRICTL, MINIKUBE, Mirror, fixtures, listing, options};
use serde_json::json;

fn crictl() -> ArtifactSpec {
    ArtifactSpec::crictl(CRICTL, "amd64").expect("crictl spec")
}

fn fetch(opts: DownloadOptions, spec: &ArtifactSpec) -> Result<Fetched, DownloadError> {
    Downloader::new(opts).expect("downloader").fetch(spec, &mut |_| {})
}

fn statuses(reqs: &[serde_json::Value]) -> Vec<u64> {
    reqs.iter().map(|r| r["status"].as_u64().unwrap_or(0)).collect()
}

#[test]
fn verified_download_lands_at_final_path() {
    let mirror = Mirror::https(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let spec = crictl();
    let got = fetch(options(cache.path(), &mirror), &spec).expect("fetch crictl");
    assert_eq!(got.outcome, FetchOutcome::Downloaded);
    assert_eq!(got.sha256, fixtures().sha(&spec));
    assert_eq!(got.path, cache.path().join("crictl-v1.31.1-amd64.tar.gz"));
    assert_eq!(download::sha256_file(&got.path).expect("hash"), got.sha256);
    let files = listing(cache.path());
    assert_eq!(files, ["crictl-v1.31.1-amd64.tar.gz", "crictl-v1.31.1-amd64.tar.gz.sha256"]);
}

#[test]
fn second_fetch_uses_cache_without_any_request() {
    let mirror = Mirror::https(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let spec = crictl();
    fetch(options(cache.path(), &mirror), &spec).expect("first fetch");
    let before = mirror.requests().len();
    assert_eq!(before, 2, "checksum file and artifact");
    let again = fetch(options(cache.path(), &mirror), &spec).expect("second fetch");
    assert_eq!(again.outcome, FetchOutcome::Cached);
    let pinned = spec.clone().with_sha256(Some(&fixtures().sha(&spec))).expect("pin");
    let third = fetch(options(cache.path(), &mirror), &pinned).expect("pinned fetch");
    assert_eq!(third.outcome, FetchOutcome::Cached);
    assert_eq!(mirror.requests().len(), before, "no request for a cached artifact");
}

#[test]
fn wrong_pin_is_a_digest_mismatch_leaving_nothing() {
    let mirror = Mirror::https(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let wrong = "ab".repeat(32);
    let spec = crictl().with_sha256(Some(&wrong)).expect("pin");
    let err = fetch(options(cache.path(), &mirror), &spec).expect_err("must fail");
    let DownloadError::DigestMismatch { ref expected, ref actual, ref url, .. } = err else {
        panic!("expected DigestMismatch, got {err}");
    };
    assert_eq!(expected, &wrong);
    assert_eq!(actual, &fixtures().sha(&crictl()));
    assert!(url.ends_with(&crictl().relative_path));
    let text = err.to_string();
    assert!(text.contains("crictl") && text.contains(&wrong) && text.contains(actual.as_str()), "{text}");
    assert!(err.remedy().contains("pinned sha256"), "{}", err.remedy());
    assert!(listing(cache.path()).is_empty(), "left {:?}", listing(cache.path()));
}

#[test]
fn corrupt_mirror_copy_is_a_digest_mismatch() {
    let spec = crictl();
    let mirror = Mirror::https(&["--corrupt", &format!("/{}", spec.relative_path)]);
    let cache = tempfile::tempdir().expect("cache");
    let err = fetch(options(cache.path(), &mirror), &spec).expect_err("must fail");
    assert!(matches!(err, DownloadError::DigestMismatch { .. }), "{err}");
    assert!(listing(cache.path()).is_empty(), "left {:?}", listing(cache.path()));
}

#[test]
fn not_found_is_reported_without_retry() {
    let mirror = Mirror::https(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let spec = ArtifactSpec::crictl("v9.9.9", "amd64").and_then(|s| s.with_sha256(Some(&"0".repeat(64))));
    let spec = spec.expect("spec");
    let err = fetch(options(cache.path(), &mirror), &spec).expect_err("must fail");
    assert!(matches!(err, DownloadError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("v9.9.9/crictl-v9.9.9-linux-amd64.tar.gz"), "{err}");
    assert!(err.remedy().contains("version"), "{}", err.remedy());
    assert_eq!(statuses(&mirror.requests()), [404], "exactly one request");
}

#[test]
fn dropped_connection_is_resumed_with_a_range_request() {
    let spec = ArtifactSpec::minikube(MINIKUBE, "amd64").expect("spec");
    let mirror = Mirror::https(&["--drop-after", "200000", "--fault-path", "*/minikube-linux-amd64"]);
    let cache = tempfile::tempdir().expect("cache");
    let events = Mutex::new(Vec::new());
    let d = Downloader::new(options(cache.path(), &mirror)).expect("downloader");
    let got = d.fetch(&spec, &mut |e| events.lock().expect("lock").push(e)).expect("fetch");
    assert_eq!(got.outcome, FetchOutcome::Resumed);
    assert_eq!(got.sha256, fixtures().sha(&spec));
    let reqs = mirror.requests_for("/minikube-linux-amd64");
    assert_eq!(statuses(&reqs), [200, 206], "{reqs:?}");
    assert_eq!(reqs[0]["fault"], "drop-after");
    let received = reqs[0]["sent"].as_u64().expect("sent");
    assert_eq!(reqs[1]["range"], format!("bytes={received}-"), "{reqs:?}");
    let events = events.into_inner().expect("events");
    let last = events.last().expect("progress events");
    assert_eq!((last.bytes, last.total), (harness::MINIKUBE_SIZE as u64, Some(harness::MINIKUBE_SIZE as u64)));
    assert!(events.iter().all(|e| e.artifact == "minikube"));
}

/// A partial file left by an earlier run: resumed, found stale by the digest,
/// and fetched once more from zero.
#[test]
fn stale_partial_is_resumed_then_restarted_from_zero() {
    let spec = crictl();
    let mirror = Mirror::https(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let partial = cache.path().join(format!("{}.partial", spec.cache_name()));
    std::fs::write(&partial, b"junk from an interrupted run").expect("partial");
    let got = fetch(options(cache.path(), &mirror), &spec).expect("fetch");
    assert_eq!((got.outcome, got.sha256.clone()), (FetchOutcome::Downloaded, fixtures().sha(&spec)));
    let reqs = mirror.requests_for(".tar.gz");
    assert_eq!(statuses(&reqs), [206, 200], "{reqs:?}");
    assert_eq!(reqs[0]["range"], "bytes=28-");
    assert!(!partial.exists());
}

#[test]
fn server_ignoring_range_restarts_from_zero() {
    let spec = crictl();
    let mirror = Mirror::with_rules(json!([{ "path": "*.tar.gz", "ignore_range": true }]));
    let cache = tempfile::tempdir().expect("cache");
    let partial = cache.path().join(format!("{}.partial", spec.cache_name()));
    std::fs::write(&partial, b"junk").expect("partial");
    let got = fetch(options(cache.path(), &mirror), &spec).expect("fetch");
    assert_eq!((got.outcome, got.sha256.clone()), (FetchOutcome::Downloaded, fixtures().sha(&spec)));
    assert_eq!(statuses(&mirror.requests_for(".tar.gz")), [200]);
}

#[test]
fn redirect_to_plain_http_is_refused() {
    let spec = crictl();
    let target = format!("http://example.invalid/{}", spec.relative_path);
    let mirror = Mirror::with_rules(json!([{ "path": "*.tar.gz", "redirect": target }]));
    let cache = tempfile::tempdir().expect("cache");
    let pinned = spec.with_sha256(Some(&"0".repeat(64))).expect("pin");
    let err = fetch(options(cache.path(), &mirror), &pinned).expect_err("must be refused");
    assert!(matches!(err, DownloadError::Insecure { .. }), "{err}");
    assert!(err.to_string().contains("example.invalid"), "{err}");
    assert_eq!(statuses(&mirror.requests()), [302], "not retried");
}

#[test]
fn server_errors_are_retried_until_success() {
    let spec = crictl();
    let mirror = Mirror::with_rules(json!([{ "path": "*/crictl-*.tar.gz", "fail_first": 2 }]));
    let cache = tempfile::tempdir().expect("cache");
    let got = fetch(options(cache.path(), &mirror), &spec).expect("fetch after retries");
    assert_eq!(got.sha256, fixtures().sha(&spec));
    assert_eq!(statuses(&mirror.requests_for(".tar.gz")), [500, 500, 200]);
}

#[test]
fn persistent_server_errors_give_up_after_bounded_attempts() {
    let mirror = Mirror::https(&["--fail-first", "100"]);
    let cache = tempfile::tempdir().expect("cache");
    let err = fetch(options(cache.path(), &mirror), &crictl()).expect_err("must fail");
    assert!(matches!(err, DownloadError::Network { attempts: 4, .. }), "{err}");
    assert_eq!(mirror.requests().len(), 4);
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_lookup() {
    let cache = tempfile::tempdir().expect("cache");
    let mut opts = DownloadOptions::new(cache.path());
    opts.source = Source::Mirror { base: "http://example.invalid/".into() };
    let started = std::time::Instant::now();
    let err = fetch(opts, &crictl()).expect_err("must be refused");
    assert!(matches!(err, DownloadError::Insecure { .. }), "{err}");
    assert!(err.remedy().contains("https"), "{}", err.remedy());
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(listing(cache.path()).is_empty());
}

#[test]
fn plain_http_to_loopback_is_allowed() {
    let mirror = Mirror::http(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let got = fetch(options(cache.path(), &mirror), &crictl()).expect("fetch over http");
    assert_eq!(got.sha256, fixtures().sha(&crictl()));
}

#[test]
fn untrusted_server_certificate_is_a_tls_error_naming_ca_file() {
    let mirror = Mirror::https(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let mut opts = options(cache.path(), &mirror);
    opts.ca_file = None;
    let err = fetch(opts, &crictl()).expect_err("must fail");
    assert!(matches!(err, DownloadError::Tls { .. }), "{err}");
    assert!(err.remedy().contains("tls.ca-file"), "{}", err.remedy());
    assert!(mirror.requests().is_empty(), "no request got past the handshake");
}

#[test]
fn bad_ca_file_is_a_config_error() {
    let dir = tempfile::tempdir().expect("dir");
    let bogus = dir.path().join("ca.pem");
    std::fs::write(&bogus, "not a certificate\n").expect("write");
    let mut opts = DownloadOptions::new(dir.path());
    opts.ca_file = Some(bogus);
    let err = Downloader::new(opts).expect_err("must fail");
    assert!(matches!(err, DownloadError::Config { .. }), "{err}");
    assert!(err.remedy().contains("tls.ca-file"));
}

#[test]
fn three_artifacts_are_fetched_in_parallel() {
    let mirror = Mirror::https(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let dockerd = ArtifactSpec::cri_dockerd(CRI_DOCKERD, "amd64").expect("spec");
    let pin = fixtures().sha(&dockerd);
    let specs = [
        crictl(),
        ArtifactSpec::cni_plugins(CNI, "amd64").expect("spec"),
        dockerd.with_sha256(Some(&pin)).expect("pin"),
    ];
    let mut seen = Vec::new();
    let d = Downloader::new(options(cache.path(), &mirror)).expect("downloader");
    let results = d.fetch_all(&specs, |e| seen.push(e.artifact));
    for (spec, r) in specs.iter().zip(&results) {
        let got = r.as_ref().expect("parallel fetch");
        assert_eq!((got.artifact.as_str(), got.sha256.clone()), (spec.name.as_str(), fixtures().sha(spec)));
    }
    for name in ["crictl", "cni-plugins", "cri-dockerd"] {
        assert!(seen.iter().any(|a| a == name), "progress for {name}: {seen:?}");
    }
}

#[test]
fn cri_dockerd_without_pin_is_a_config_error() {
    let cache = tempfile::tempdir().expect("cache");
    let spec = ArtifactSpec::cri_dockerd(CRI_DOCKERD, "amd64").expect("spec");
    let err = fetch(DownloadOptions::new(cache.path()), &spec).expect_err("must fail");
    assert!(matches!(err, DownloadError::Config { .. }), "{err}");
    assert!(err.to_string().contains("pinned sha256"), "{err}");
}

#[test]
fn malformed_checksum_file_is_rejected() {
    let spec = crictl();
    let mirror = Mirror::with_rules(json!([{ "path": "*.sha256", "body": "<html>rate limited</html>\n" }]));
    let cache = tempfile::tempdir().expect("cache");
    let err = fetch(options(cache.path(), &mirror), &spec).expect_err("must fail");
    assert!(matches!(err, DownloadError::ChecksumMalformed { .. }), "{err}");
    assert!(err.to_string().contains("rate limited"), "{err}");
    assert!(mirror.requests_for(".tar.gz").is_empty(), "artifact not fetched");
}

#[test]
fn bundle_directory_is_a_source() {
    let cache = tempfile::tempdir().expect("cache");
    let mut opts = DownloadOptions::new(cache.path());
    opts.source = Source::BundleDir { dir: fixtures().mirror.clone() };
    let spec = ArtifactSpec::cri_dockerd(CRI_DOCKERD, "amd64").expect("spec");
    let got = fetch(opts.clone(), &spec).expect("from bundle");
    assert_eq!(got.sha256, fixtures().sha(&spec));
    assert_eq!(fetch(opts, &spec).expect("again").outcome, FetchOutcome::Cached);
}

#[test]
fn downloaded_crictl_extracts_to_an_executable() {
    let mirror = Mirror::https(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let got = fetch(options(cache.path(), &mirror), &crictl()).expect("fetch");
    let bin = tempfile::tempdir().expect("bin");
    let opts = archive::ExtractOptions { members: archive::Members::Only(vec!["crictl".into()]), ..Default::default() };
    let placed = archive::extract_tar_gz(&got.path, bin.path(), &opts).expect("extract");
    assert_eq!(placed, [bin.path().join("crictl")]);
    let out = std::process::Command::new(bin.path().join("crictl")).arg("--version").output().expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "crictl version v1.31.1 (stand-in)");
}

#[test]
fn checksum_file_forms() {
    let h = "0123456789abcdef".repeat(4);
    let upper = h.to_ascii_uppercase();
    assert_eq!(parse_checksum_file(&format!("{upper}\n"), "x"), Ok(h.clone()));
    let two = format!("{h}  cni.tgz\n");
    assert_eq!(parse_checksum_file(&two, "cni.tgz"), Ok(h.clone()));
    assert_eq!(parse_checksum_file(&format!("{h} *dir/cni.tgz"), "cni.tgz"), Ok(h.clone()));
    assert!(parse_checksum_file(&two, "other.tgz").is_err());
    assert!(parse_checksum_file("", "x").is_err());
    assert!(parse_checksum_file(&h[..63], "x").is_err());
    assert!(parse_checksum_file(&format!("{h}\n{h}\n"), "x").is_err());
}

#[test]
fn upstream_urls_follow_the_release_layouts() {
    let url = |s: ArtifactSpec| s.url(&Source::Upstream).expect("url");
    let spec = |r: Result<ArtifactSpec, DownloadError>| r.expect("spec");
    assert_eq!(
        url(spec(ArtifactSpec::minikube("1.37.0", "amd64"))),
        "https://storage.googleapis.com/minikube/releases/v1.37.0/minikube-linux-amd64"
    );
    assert_eq!(
        url(spec(ArtifactSpec::crictl("v1.31.1", "arm64"))),
        "https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.31.1/crictl-v1.31.1-linux-arm64.tar.gz"
    );
    assert_eq!(
        url(spec(ArtifactSpec::cni_plugins("v1.5.1", "amd64"))),
        "https://github.com/containernetworking/plugins/releases/download/v1.5.1/cni-plugins-linux-amd64-v1.5.1.tgz"
    );
    let d = spec(ArtifactSpec::cri_dockerd("v0.3.15", "amd64"));
    assert_eq!(
        url(d.clone()),
        "https://github.com/Mirantis/cri-dockerd/releases/download/v0.3.15/cri-dockerd-0.3.15.amd64.tgz"
    );
    assert_eq!(d.checksum_url(&Source::Upstream), None);
    let m = spec(ArtifactSpec::minikube("v1.37.0", "amd64"));
    let mirror = Source::Mirror { base: "https://m.test/up/".into() };
    assert_eq!(
        m.checksum_url(&mirror).as_deref(),
        Some("https://m.test/up/minikube/releases/v1.37.0/minikube-linux-amd64.sha256")
    );
    assert!(ArtifactSpec::crictl("../x", "amd64").is_err());
    assert!(ArtifactSpec::crictl("v1", "amd/64").is_err());
    assert!(crictl().with_sha256(Some("abc")).is_err());
}
