//! The network as Kubernetes will see it: free control-plane ports, a valid node name that
//! resolves, a default route (the node IP), proxy exceptions, and a host firewall in the way.

use super::Inputs;
use crate::config::is_rfc1123_name;
use crate::host::{probe, proc_net};
use crate::result::Check;
use ipnet::IpNet;
use std::net::IpAddr;

pub fn checks(i: &Inputs) -> Vec<Check> {
    let node_ip = proc_net::node_ip(i.host);
    vec![ports(i), hostname(i), hostname_resolves(i), default_route(i, node_ip), proxy(i, node_ip), host_firewall(i)]
}

/// apiserver, kubelet, controller-manager, scheduler, etcd client and peer.
const PORTS: [(u16, &str); 6] = [
    (8443, "kube-apiserver"),
    (10250, "kubelet"),
    (10257, "kube-controller-manager"),
    (10259, "kube-scheduler"),
    (2379, "etcd"),
    (2380, "etcd peer"),
];

fn ports(i: &Inputs) -> Check {
    const ID: &str = "ports";
    let listeners = proc_net::listeners(i.host);
    let mut held = Vec::new();
    let mut facts = Vec::new();
    for (port, what) in PORTS {
        let Some(l) = listeners.iter().find(|l| l.port == port) else {
            continue;
        };
        let owner = proc_net::socket_owner(i.host, l.inode);
        let by = owner.as_ref().map_or(String::new(), |(pid, comm)| format!(" by {comm} (pid {pid})"));
        held.push(format!("{port} ({what}) held{by}"));
        facts.push(serde_json::json!({
            "port": port, "address": l.addr.to_string(), "for": what,
            "pid": owner.as_ref().map(|o| o.0), "process": owner.map(|o| o.1),
        }));
    }
    let wanted: Vec<u16> = PORTS.iter().map(|p| p.0).collect();
    let check = if held.is_empty() {
        Check::pass(ID, "ports 8443, 10250, 10257, 10259, 2379 and 2380 are free")
    } else if i.owned_cluster {
        Check::pass(ID, format!("{}: held by the cluster this tool made", held.join("; ")))
    } else {
        Check::fail(ID, format!("control-plane ports in use: {}", held.join("; ")))
            .remedy("stop what listens on them (another Kubernetes?) or use a fresh VM")
    };
    check.fact("checked", wanted).fact("held", facts)
}

fn suggested_name(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' })
        .collect();
    s.trim_matches(|c| c == '-' || c == '.').to_string()
}

fn hostname(i: &Inputs) -> Check {
    const ID: &str = "hostname";
    let Some(name) = probe::hostname(i.host) else {
        return Check::fail(ID, "no hostname set (/proc/sys/kernel/hostname and /etc/hostname are empty)")
            .remedy("hostnamectl set-hostname <name> with a lowercase RFC 1123 name");
    };
    if is_rfc1123_name(&name) {
        return Check::pass(ID, format!("hostname {name} is a valid node name")).fact("hostname", name);
    }
    let why = if name.contains('_') {
        "underscores are not allowed (minikube fails on them)"
    } else if name.chars().any(|c| c.is_ascii_uppercase()) {
        "node names must be lowercase"
    } else {
        "it is not a lowercase RFC 1123 name"
    };
    let new = suggested_name(&name);
    Check::fail(ID, format!("hostname {name} is not a valid Kubernetes node name: {why}"))
        .remedy(format!("hostnamectl set-hostname {}", if new.is_empty() { "node-1" } else { &new }))
        .fact("hostname", name)
}

/// Whether /etc/hosts names `name` on some line (first field is the address).
fn in_etc_hosts(text: &str, name: &str) -> Option<String> {
    text.lines().map(|l| l.split('#').next().unwrap_or("")).find_map(|l| {
        let mut f = l.split_whitespace();
        let addr = f.next()?;
        f.any(|n| n.eq_ignore_ascii_case(name)).then(|| addr.to_string())
    })
}

fn hostname_resolves(i: &Inputs) -> Check {
    const ID: &str = "hostname-resolves";
    let Some(name) = probe::hostname(i.host) else {
        return Check::warn(ID, "no hostname to resolve").remedy("set a hostname first (see the hostname check)");
    };
    if let Some(addr) = i.host.read("/etc/hosts").and_then(|t| in_etc_hosts(&t, &name)) {
        return Check::pass(ID, format!("{name} is in /etc/hosts ({addr})"))
            .fact("hostname", name)
            .fact("address", addr)
            .fact("via", "/etc/hosts");
    }
    if i.host.is_live() {
        use std::net::ToSocketAddrs;
        if let Ok(addrs) = (name.as_str(), 0).to_socket_addrs() {
            let ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
            if !ips.is_empty() {
                return Check::pass(ID, format!("{name} resolves to {}", ips.join(", ")))
                    .fact("hostname", name)
                    .fact("addresses", ips)
                    .fact("via", "resolver");
            }
        }
    }
    let msg = format!("{name} is not in /etc/hosts and does not resolve");
    Check::warn(ID, format!("{msg}; kubeadm warns when the node name does not resolve"))
        .remedy(format!("add a line like '127.0.1.1 {name}' to /etc/hosts"))
        .fact("hostname", name)
}

fn default_route(i: &Inputs, node_ip: Option<IpAddr>) -> Check {
    const ID: &str = "default-route";
    match proc_net::default_route(i.host) {
        Some(r) => {
            let via = r.gateway.map_or(String::new(), |g| format!(" via {g}"));
            let ip = node_ip.map_or(String::new(), |ip| format!("; node IP {ip}"));
            Check::pass(ID, format!("default route ({}) on {}{via}{ip}", r.family, r.interface))
                .fact("interface", r.interface)
                .fact("gateway", r.gateway.map(|g| g.to_string()))
                .fact("family", r.family)
                .fact("node_ip", node_ip.map(|ip| ip.to_string()))
        }
        None => Check::fail(
            ID,
            "no default route (/proc/net/route, /proc/net/ipv6_route): \
             kubeadm needs one to pick the node IP",
        )
        .remedy("configure a default gateway on the primary interface"),
    }
}

/// The cluster-internal destinations minikube talks to without a proxy.
const NO_PROXY_NEEDED: [&str; 5] =
    ["10.96.0.0/12", "10.244.0.0/16", "127.0.0.1", "localhost", "control-plane.minikube.internal"];

/// Whether a NO_PROXY entry list exempts `target` (an IP, a CIDR or a host name).
fn covered(entries: &[&str], target: &str) -> bool {
    let as_net = |s: &str| s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from));
    let target_net = as_net(target);
    entries.iter().any(|e| {
        if *e == "*" || e.eq_ignore_ascii_case(target) {
            return true;
        }
        match (as_net(e), target_net) {
            (Some(n), Some(t)) => n.contains(&t),
            (None, None) => {
                let d = e.trim_start_matches('.').to_ascii_lowercase();
                target.to_ascii_lowercase().ends_with(&format!(".{d}"))
            }
            _ => false,
        }
    })
}

/// A proxy URL without its user:password, for the report.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn env(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| std::env::var(n).ok()).filter(|v| !v.is_empty())
}

fn proxy(i: &Inputs, node_ip: Option<IpAddr>) -> Check {
    const ID: &str = "proxy";
    let http = i.proxy_http.map(str::to_string).or_else(|| env(&["HTTP_PROXY", "http_proxy"]));
    let https = i.proxy_https.map(str::to_string).or_else(|| env(&["HTTPS_PROXY", "https_proxy"]));
    if http.is_none() && https.is_none() {
        return Check::pass(ID, "no HTTP(S) proxy configured");
    }
    let no_proxy = i.no_proxy.map(str::to_string).or_else(|| env(&["NO_PROXY", "no_proxy"])).unwrap_or_default();
    let entries: Vec<&str> = no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
    let ip = node_ip.map(|ip| ip.to_string());
    let needed: Vec<&str> = ip.iter().map(String::as_str).chain(NO_PROXY_NEEDED).collect();
    let missing: Vec<&str> = needed.iter().copied().filter(|t| !covered(&entries, t)).collect();
    let check = if missing.is_empty() {
        Check::pass(ID, "a proxy is set and NO_PROXY covers the node, service and pod networks")
    } else {
        let line = entries.iter().copied().chain(missing.iter().copied()).collect::<Vec<_>>().join(",");
        let msg = format!("a proxy is set but NO_PROXY does not cover {}", missing.join(", "));
        Check::warn(ID, format!("{msg}; cluster traffic would go to the proxy"))
            .remedy(format!("set proxy.no-proxy (or NO_PROXY) to: NO_PROXY={line}"))
            .fact("missing", &missing)
    };
    check
        .fact("http_proxy", http.as_deref().map(redact))
        .fact("https_proxy", https.as_deref().map(redact))
        .fact("no_proxy", entries)
        .fact("node_ip", ip)
}

fn host_firewall(i: &Inputs) -> Check {
    const ID: &str = "host-firewall";
    let mut active = Vec::new();
    if let Some(pid) = probe::pids_named(i.host, "firewalld").first() {
        active.push(format!("firewalld (pid {pid})"));
    }
    let ufw = i
        .host
        .read("/etc/ufw/ufw.conf")
        .is_some_and(|t| t.lines().any(|l| l.trim().replace('"', "").eq_ignore_ascii_case("ENABLED=yes")));
    if ufw {
        active.push("ufw (ENABLED=yes)".into());
    }
    if active.is_empty() {
        let msg = "no firewalld or ufw active; the firewall phase manages an nftables table \
                   (keep the host firewalled from the network)";
        return Check::pass(ID, msg).fact("active", active);
    }
    let msg = format!("{} active: it may block 8443 and 10250", active.join(" and "));
    let remedy = "allow 8443/tcp and 10250/tcp in it, or disable it and let the firewall phase \
                  firewall the host (a none driver host should be firewalled from the network)";
    Check::warn(ID, format!("{msg}; this tool's firewall phase manages its own nftables table"))
        .remedy(remedy)
        .fact("active", active)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_coverage() {
        let e = ["10.0.0.0/8", "localhost", ".minikube.internal", "127.0.0.1"];
        assert!(covered(&e, "10.96.0.0/12"));
        assert!(covered(&e, "10.244.0.0/16"));
        assert!(covered(&e, "control-plane.minikube.internal"));
        assert!(!covered(&e, "192.168.1.5"));
        assert!(covered(&["*"], "192.168.1.5"));
        assert!(!covered(&["10.96.0.0/16"], "10.96.0.0/12"));
        assert_eq!(suggested_name("My_Host"), "my-host");
        assert_eq!(redact("http://u:secret@proxy:3128"), "http://***@proxy:3128");
    }
}
