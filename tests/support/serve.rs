//! tests/mirror/serve.py on 127.0.0.1 with a CA from tests/mirror/make-ca.sh; killed on drop.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn mirror_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mirror").join(name)
}

/// A test CA and a server certificate for 127.0.0.1 in `dir` (ca.pem, server.pem, server.key).
pub fn make_ca(dir: &Path) {
    let ok = Command::new("bash").arg(mirror_script("make-ca.sh")).arg(dir).arg("IP:127.0.0.1").status().unwrap();
    assert!(ok.success(), "make-ca.sh failed");
}

pub struct Server {
    child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `dir` over HTTPS with the certificate made by `make_ca(ca)`; bounded to 60 s.
pub fn serve_https(dir: &Path, ca: &Path) -> Server {
    let mut child = Command::new("python3")
        .arg(mirror_script("serve.py"))
        .args(["--dir", dir.to_str().unwrap(), "--bind", "127.0.0.1", "--port", "0", "--max-seconds", "60"])
        .args(["--cert", ca.join("server.pem").to_str().unwrap(), "--key", ca.join("server.key").to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| panic!("serve.py printed {line:?}"));
    Server { child, port }
}
