//! Kubeconfig files: read minikube's, and make a self-contained copy (certificates embedded
//! as *-data) that works for a user who cannot read /root/.minikube.

use super::Host;
use anyhow::{Context, Result};
use base64::Engine;
use serde_json::Value;

pub const ROOT_KUBECONFIG: &str = "/root/.kube/config";

pub fn read(host: &Host, path: &str) -> Result<Value> {
    let text = std::fs::read_to_string(host.path(path)).with_context(|| format!("reading kubeconfig {path}"))?;
    serde_saphyr::from_str(&text).with_context(|| format!("parsing kubeconfig {path}"))
}

/// Replaces file references (certificate-authority, client-certificate, client-key) by the
/// files' contents, base64-encoded, as kubectl's `config view --flatten` does.
pub fn flatten(host: &Host, mut cfg: Value) -> Result<Value> {
    let embed = |obj: &mut serde_json::Map<String, Value>, key: &str| -> Result<()> {
        if let Some(Value::String(path)) = obj.remove(key) {
            let bytes =
                std::fs::read(host.path(&path)).with_context(|| format!("reading {path} named in the kubeconfig"))?;
            obj.insert(format!("{key}-data"), Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)));
        }
        Ok(())
    };
    for (list, inner, keys) in [
        ("clusters", "cluster", &["certificate-authority"][..]),
        ("users", "user", &["client-certificate", "client-key"][..]),
    ] {
        if let Some(items) = cfg.get_mut(list).and_then(Value::as_array_mut) {
            for item in items {
                if let Some(obj) = item.get_mut(inner).and_then(Value::as_object_mut) {
                    for k in keys {
                        embed(obj, k)?;
                    }
                }
            }
        }
    }
    Ok(cfg)
}

/// Kubeconfig YAML as kubectl writes it: base64 data on one line, not folded.
pub fn to_yaml(cfg: &Value) -> Result<String> {
    let mut opts = serde_saphyr::SerializerOptions::default();
    opts.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(cfg, opts).context("writing kubeconfig YAML")
}

/// The bits `verify` needs: server URL, CA PEM, client cert+key PEM.
pub struct Credentials {
    pub server: String,
    pub ca_pem: Vec<u8>,
    pub identity_pem: Vec<u8>,
}

pub fn credentials(host: &Host, cfg: &Value) -> Result<Credentials> {
    let flat = flatten(host, cfg.clone())?;
    let current = flat["current-context"].as_str().unwrap_or("minikube").to_string();
    let ctx = flat["contexts"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == current.as_str()))
        .context("kubeconfig has no current context")?;
    let cluster = flat["clusters"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == ctx["context"]["cluster"]))
        .context("kubeconfig context names no cluster")?;
    let user = flat["users"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == ctx["context"]["user"]))
        .context("kubeconfig context names no user")?;
    let b64 = |v: &Value| -> Result<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .context("kubeconfig has bad base64 data")
    };
    let mut identity = b64(&user["user"]["client-certificate-data"])?;
    identity.extend(b64(&user["user"]["client-key-data"])?);
    Ok(Credentials {
        server: cluster["cluster"]["server"].as_str().context("kubeconfig cluster has no server")?.to_string(),
        ca_pem: b64(&cluster["cluster"]["certificate-authority-data"])?,
        identity_pem: identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_embeds_certificates() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(d.path().join("root/.minikube")).expect("mkdir");
        std::fs::write(d.path().join("root/.minikube/ca.crt"), "CA").expect("write");
        std::fs::write(d.path().join("root/.minikube/client.crt"), "CRT").expect("write");
        std::fs::write(d.path().join("root/.minikube/client.key"), "KEY").expect("write");
        let host = Host::new(d.path());
        let cfg: Value = serde_saphyr::from_str(
            "apiVersion: v1\nkind: Config\ncurrent-context: minikube\nclusters:\n- name: minikube\n  cluster:\n    server: https://10.0.0.2:8443\n    certificate-authority: /root/.minikube/ca.crt\ncontexts:\n- name: minikube\n  context:\n    cluster: minikube\n    user: minikube\nusers:\n- name: minikube\n  user:\n    client-certificate: /root/.minikube/client.crt\n    client-key: /root/.minikube/client.key\n",
        )
        .expect("yaml");
        let flat = flatten(&host, cfg.clone()).expect("flatten");
        assert_eq!(flat["clusters"][0]["cluster"]["certificate-authority-data"], "Q0E=");
        assert!(flat["users"][0]["user"].get("client-key").is_none());
        let creds = credentials(&host, &cfg).expect("creds");
        assert_eq!(creds.server, "https://10.0.0.2:8443");
        assert_eq!(creds.identity_pem, b"CRTKEY");
        let back: Value = serde_saphyr::from_str(&to_yaml(&flat).expect("yaml")).expect("reparse");
        assert_eq!(back, flat);
    }
}
