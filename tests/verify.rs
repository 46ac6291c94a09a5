//! The verify phase against a local HTTPS apiserver stand-in (tests/mirror/serve.py serving
//! /readyz and the node object) with a kubeconfig under the fixture root: Ready passes,
//! NotReady exits 5 (wait timed out) with the last observed state.
#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine;
use support::serve::{Server, make_ca, serve_https};
use support::tree::{Tree, good_vm};
use support::*;

fn node(ready: &str) -> String {
    format!(
        r#"{{"kind":"Node","metadata":{{"name":"node1"}},"status":{{"conditions":[{{"type":"Ready","status":"{ready}"}}]}}}}"#
    )
}

/// A fixture VM whose /root/.kube/config points at a TLS server on 127.0.0.1.
fn vm_with_apiserver(ready: &str) -> (Tree, Server) {
    let t = good_vm();
    let ca = t.at("/tmp-ca");
    make_ca(&ca);
    t.write("/www/readyz", "ok").write("/www/api/v1/nodes/node1", &node(ready));
    let server = serve_https(&t.at("/www"), &ca);
    let port = server.port;
    let b64 = |p: &str| base64::engine::general_purpose::STANDARD.encode(std::fs::read(ca.join(p)).unwrap());
    t.write(
        "/root/.kube/config",
        &format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: minikube\nclusters:\n- name: minikube\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {}\ncontexts:\n- name: minikube\n  context: {{cluster: minikube, user: minikube}}\nusers:\n- name: minikube\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b64("ca.pem"),
            b64("server.pem"),
            b64("server.key")
        ),
    );
    (t, server)
}

fn verify(t: &Tree) -> (i32, serde_json::Value) {
    let root = t.root_arg();
    let out = run(&["apply", "--only", "verify", "--wait-timeout", "3", "--output", "json", "--root", &root], &[]);
    let doc = json_stdout(&out);
    assert_valid_result(&doc);
    (out.status.code().unwrap(), doc)
}

#[test]
fn a_ready_node_passes_verify() {
    let (t, _server) = vm_with_apiserver("True");
    let (code, doc) = verify(&t);
    assert_eq!(code, 0, "{doc:#}");
    let v = doc["phases"].as_array().unwrap().iter().find(|p| p["name"] == "verify").unwrap();
    assert_eq!(v["status"], "unchanged");
}

#[test]
fn a_node_that_stays_not_ready_times_out_with_exit_5() {
    let (t, _server) = vm_with_apiserver("False");
    let (code, doc) = verify(&t);
    assert_eq!(code, 5);
    assert_eq!(doc["outcome"], "timed-out");
    let v = doc["phases"].as_array().unwrap().iter().find(|p| p["name"] == "verify").unwrap();
    assert_eq!(v["error"]["code"], "verify-timed-out");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("Ready condition is False"), "the last observed state: {msg}");
}
