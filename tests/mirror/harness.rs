//! Test support: fixtures built once per test process (a CA from make-ca.sh,
//! a mirror tree from make-artifacts.sh) and serve.py instances on 127.0.0.1,
//! killed on drop. Every wait here is bounded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use crate::artifact_urls::{ArtifactSpec, Source};
use crate::download::{DownloadOptions, RetryPolicy};

pub const MINIKUBE: &str = "v1.37.0";
pub const CRICTL: &str = "v1.31.1";
pub const CNI: &str = "v1.5.1";
pub const CRI_DOCKERD: &str = "0.3.15";
/// Size of the generated minikube stand-in (large enough to drop mid-body).
pub const MINIKUBE_SIZE: usize = 1 << 20;

pub struct Fixtures {
    pub ca_dir: PathBuf,
    pub mirror: PathBuf,
    /// relative path -> sha256, from the mirror's SHA256SUMS
    pub sums: HashMap<String, String>,
}

fn mirror_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mirror").join(name)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn fixture script");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("artifacts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("fixture dir");
        let ca_dir = root.join("ca");
        run(Command::new("bash").arg(mirror_script("make-ca.sh")).arg(&ca_dir).args(["IP:127.0.0.1", "DNS:localhost"]));
        // deterministic, incompressible-looking minikube stand-in
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let bytes: Vec<u8> = (0..MINIKUBE_SIZE)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let minikube = root.join("minikube-double");
        std::fs::write(&minikube, bytes).expect("write minikube stand-in");
        let mirror = root.join("mirror");
        run(Command::new("bash")
            .arg(mirror_script("make-artifacts.sh"))
            .arg("--minikube-file")
            .arg(&minikube)
            .arg(format!("minikube={MINIKUBE}"))
            .arg(format!("crictl={CRICTL}"))
            .arg(format!("cni-plugins={CNI}"))
            .arg(format!("cri-dockerd={CRI_DOCKERD}"))
            .arg(&mirror));
        let text = std::fs::read_to_string(mirror.join("SHA256SUMS")).expect("SHA256SUMS");
        let sums = text.lines().filter_map(|l| l.split_once("  ")).map(|(h, p)| (p.to_owned(), h.to_owned())).collect();
        Fixtures { ca_dir, mirror, sums }
    })
}

impl Fixtures {
    pub fn ca_file(&self) -> PathBuf {
        self.ca_dir.join("ca.pem")
    }

    pub fn sha(&self, spec: &ArtifactSpec) -> String {
        self.sums.get(&spec.relative_path).cloned().expect("artifact in SHA256SUMS")
    }
}

fn tls_args() -> Vec<String> {
    let dir = &fixtures().ca_dir;
    let arg = |name: &str| dir.join(name).display().to_string();
    vec!["--cert".into(), arg("server.pem"), "--key".into(), arg("server.key")]
}

/// A running serve.py on 127.0.0.1.
pub struct Mirror {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
    pub scheme: &'static str,
    _dir: tempfile::TempDir,
}

impl Mirror {
    /// HTTPS with the fixture CA's server certificate; `extra` are serve.py flags.
    pub fn https(extra: &[&str]) -> Self {
        Self::start("https", &tls_args(), extra, None)
    }

    pub fn http(extra: &[&str]) -> Self {
        Self::start("http", &["--http".to_owned()], extra, None)
    }

    /// HTTPS with fault rules (serve.py `--rules` JSON).
    pub fn with_rules(rules: serde_json::Value) -> Self {
        Self::start("https", &tls_args(), &[], Some(rules))
    }

    fn start(scheme: &'static str, mode: &[String], extra: &[&str], rules: Option<serde_json::Value>) -> Self {
        let dir = tempfile::tempdir().expect("mirror temp dir");
        let log = dir.path().join("requests.jsonl");
        let mut mode = mode.to_vec();
        if let Some(rules) = rules {
            let file = dir.path().join("rules.json");
            std::fs::write(&file, rules.to_string()).expect("write rules");
            mode.extend(["--rules".to_owned(), file.display().to_string()]);
        }
        let mut child = Command::new("python3")
            .arg(mirror_script("serve.py"))
            .arg("--dir")
            .arg(&fixtures().mirror)
            .args(["--bind", "127.0.0.1", "--port", "0", "--max-seconds", "300", "--log"])
            .arg(&log)
            .args(&mode)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start serve.py");
        let stdout = child.stdout.take().expect("serve.py stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve.py did not report a port (got {line:?})");
        };
        Mirror { child, port, log, scheme, _dir: dir }
    }

    pub fn base(&self) -> String {
        format!("{}://127.0.0.1:{}/", self.scheme, self.port)
    }

    /// Logged requests, in order.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Logged requests whose path ends with `suffix`.
    pub fn requests_for(&self, suffix: &str) -> Vec<serde_json::Value> {
        let ends = |r: &serde_json::Value| r["path"].as_str().is_some_and(|p| p.ends_with(suffix));
        self.requests().into_iter().filter(ends).collect()
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Options for fetching from `mirror` with the fixture CA and fast retries.
pub fn options(cache: &Path, mirror: &Mirror) -> DownloadOptions {
    let mut o = DownloadOptions::new(cache);
    o.source = Source::Mirror { base: mirror.base() };
    o.ca_file = Some(fixtures().ca_file());
    o.retry = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    };
    o.connect_timeout = Duration::from_secs(5);
    o.io_timeout = Duration::from_secs(10);
    o
}

/// Files in a directory (names), sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}
