//! Network interfaces: the ones a cluster makes, and the record of those there before.

use super::{SHORT, run_bounded};
use crate::host::{Host, cmd, fs::write_atomic};
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Under the state directory: the interface names before the first change.
pub const LINKS_FILE: &str = "links.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    /// The bridge it is enslaved to.
    pub master: Option<String>,
}

/// The interfaces of the host's network namespace, from /sys/class/net.
pub fn links(host: &Host) -> Vec<Link> {
    let dir = host.path("/sys/class/net");
    let Ok(rd) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut out: Vec<Link> = rd
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let master = std::fs::read_link(dir.join(&name).join("master"))
                .ok()
                .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
            Link { name, master }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Records the interface names once (the first record wins), for [`cluster_links`].
pub fn record_links(host: &Host, state: &Path) -> Result<()> {
    let p = state.join(LINKS_FILE);
    if p.exists() {
        return Ok(());
    }
    let names: Vec<String> = links(host).into_iter().map(|l| l.name).collect();
    let json = serde_json::to_vec_pretty(&serde_json::json!({ "links": names }))?;
    write_atomic(&p, &json, 0o600)
}

/// The names recorded by [`record_links`]; `None` when nothing was recorded.
pub fn recorded_links(state: &Path) -> Option<BTreeSet<String>> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(state.join(LINKS_FILE)).ok()?).ok()?;
    Some(v["links"].as_array()?.iter().filter_map(|n| n.as_str().map(String::from)).collect())
}

const CNI_BRIDGES: [&str; 2] = ["cni0", "bridge"];

/// The interfaces a cluster made, in deletion order (pod veths, then flannel, then the
/// bridges): `cni0` and `bridge` (minikube's bridge CNI), `flannel*`, and `veth*` enslaved
/// to one of those bridges. Never one that existed before the first change, nor the one
/// carrying the default route.
pub fn cluster_links(all: &[Link], before: Option<&BTreeSet<String>>, default_iface: Option<&str>) -> Vec<String> {
    let keep = |n: &str| before.is_some_and(|b| b.contains(n)) || default_iface == Some(n);
    let veths = all
        .iter()
        .filter(|l| l.name.starts_with("veth") && l.master.as_deref().is_some_and(|m| CNI_BRIDGES.contains(&m)));
    let flannel = all.iter().filter(|l| l.name.starts_with("flannel"));
    let bridges = all.iter().filter(|l| CNI_BRIDGES.contains(&l.name.as_str()));
    veths.chain(flannel).chain(bridges).map(|l| l.name.clone()).filter(|n| !keep(n)).collect()
}

pub fn delete_link(host: &Host, name: &str) -> Result<()> {
    let ip = host.which("ip").context("ip not found (package iproute2)")?;
    let f = {
        let mut c = Command::new(&ip);
        c.args(["link", "delete", name]);
        run_bounded(c, None, SHORT)?
    };
    // gone meanwhile (a veth goes with its peer): fine
    if !f.success() && host.path(format!("/sys/class/net/{name}")).exists() {
        bail!("ip link delete {name} failed: {}", cmd::tail(&f.stderr));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cluster_interfaces_are_chosen() {
        let l = |n: &str, m: Option<&str>| Link { name: n.into(), master: m.map(String::from) };
        let all = vec![
            l("eth0", None),
            l("lo", None),
            l("cni0", None),
            l("bridge", None),
            l("veth1a", Some("cni0")),
            l("veth2b", Some("bridge")),
            l("veth3c", Some("docker0")),
            l("vethfree", None),
            l("docker0", None),
            l("flannel.1", None),
        ];
        assert_eq!(cluster_links(&all, None, Some("eth0")), ["veth1a", "veth2b", "flannel.1", "cni0", "bridge"]);
        let before: BTreeSet<String> = ["bridge".to_string()].into();
        assert_eq!(cluster_links(&all, Some(&before), Some("cni0")), ["veth1a", "veth2b", "flannel.1"]);
    }
}
