//! /proc/net through the run's root: listening TCP sockets (and who holds them), the
//! default route, and the node IP kubeadm will pick from it.

use super::Host;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A TCP socket in LISTEN state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub addr: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// The kernel prints each 32-bit word of an address in host byte order.
fn hex_word(s: &str) -> Option<[u8; 4]> {
    u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes)
}

fn hex_addr(s: &str) -> Option<IpAddr> {
    match s.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(hex_word(s)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&hex_word(s.get(i * 8..i * 8 + 8)?)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// ipv6_route prints addresses as 32 hex digits in network byte order (unlike tcp6).
fn ipv6_bytes(s: &str) -> Option<IpAddr> {
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(IpAddr::V6(Ipv6Addr::from(b)))
}

/// Parses /proc/net/tcp or tcp6 text, keeping sockets in state 0A (LISTEN).
pub fn parse_listeners(text: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(3) != Some(&"0A") {
                return None;
            }
            let (addr, port) = f.get(1)?.split_once(':')?;
            Some(Listener {
                addr: hex_addr(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

pub fn listeners(host: &Host) -> Vec<Listener> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().filter_map(|p| host.read(p)).flat_map(|t| parse_listeners(&t)).collect()
}

/// The process holding socket `inode` (via /proc/<pid>/fd links), best effort: needs root.
pub fn socket_owner(host: &Host, inode: u64) -> Option<(u32, String)> {
    let want = format!("socket:[{inode}]");
    let procs = std::fs::read_dir(host.path("/proc")).ok()?;
    for pid in procs.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        let Ok(fds) = std::fs::read_dir(host.path(format!("/proc/{pid}/fd"))) else {
            continue;
        };
        let holds = fds
            .filter_map(Result::ok)
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == want.as_str()));
        if holds {
            let comm = super::probe::comm(host, pid).unwrap_or_default();
            return Some((pid, comm));
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub interface: String,
    pub gateway: Option<IpAddr>,
    pub family: &'static str,
}

/// One row of /proc/net/route: interface, destination, gateway, mask, metric.
fn route_rows(text: &str) -> Vec<(String, Ipv4Addr, Ipv4Addr, Ipv4Addr, u32)> {
    const RTF_UP: u32 = 0x1;
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
            if flags & RTF_UP == 0 {
                return None;
            }
            let ip = |i: usize| Some(Ipv4Addr::from(hex_word(f.get(i)?)?));
            Some((f.first()?.to_string(), ip(1)?, ip(2)?, ip(7)?, f.get(6)?.parse().ok()?))
        })
        .collect()
}

/// The default route, IPv4 first (lowest metric), else an IPv6 ::/0 that is not a reject route.
pub fn default_route(host: &Host) -> Option<Route> {
    let v4 = host.read("/proc/net/route").map(|t| route_rows(&t)).unwrap_or_default();
    let best =
        v4.iter().filter(|(_, dst, _, mask, _)| dst.is_unspecified() && mask.is_unspecified()).min_by_key(|r| r.4);
    if let Some((iface, _, gw, _, _)) = best {
        let gateway = (!gw.is_unspecified()).then_some(IpAddr::V4(*gw));
        return Some(Route { interface: iface.clone(), gateway, family: "ipv4" });
    }
    const RTF_REJECT: u32 = 0x200;
    host.read("/proc/net/ipv6_route")?.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
        let iface = f.get(9)?;
        let default = *f.first()? == "0".repeat(32) && *f.get(1)? == "00";
        if !default || flags & RTF_REJECT != 0 || *iface == "lo" {
            return None;
        }
        let gw = ipv6_bytes(f.get(4)?).filter(|g| !g.is_unspecified());
        Some(Route { interface: iface.to_string(), gateway: gw, family: "ipv6" })
    })
}

/// Local (host-scope) IPv4 addresses from /proc/net/fib_trie, loopback excluded.
pub fn local_ipv4(host: &Host) -> Vec<Ipv4Addr> {
    let Some(text) = host.read("/proc/net/fib_trie") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(a) = t.strip_prefix("|-- ") {
            last = a.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(a) = last.filter(|a| !a.is_loopback() && !out.contains(a)) {
                out.push(a);
            }
        }
    }
    out
}

/// The first global-scope address of `interface` in /proc/net/if_inet6.
fn global_ipv6(host: &Host, interface: &str) -> Option<IpAddr> {
    host.read("/proc/net/if_inet6")?.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(5) == Some(&interface) && f.get(3) == Some(&"00")).then(|| ipv6_bytes(f.first()?))?
    })
}

/// The address kubeadm advertises: the default route interface's address.
/// Live, from getifaddrs; otherwise (and as fallback) from fib_trie and the route table.
pub fn node_ip(host: &Host) -> Option<IpAddr> {
    let route = default_route(host)?;
    if host.is_live() {
        if let Some(ip) = interface_ip(&route.interface, route.family) {
            return Some(ip);
        }
    }
    if route.family == "ipv6" {
        return global_ipv6(host, &route.interface);
    }
    let locals = local_ipv4(host);
    let rows = host.read("/proc/net/route").map(|t| route_rows(&t)).unwrap_or_default();
    let on_link = |a: &Ipv4Addr| {
        rows.iter().any(|(iface, dst, _, mask, _)| {
            *iface == route.interface && !mask.is_unspecified() && u32::from(*a) & u32::from(*mask) == u32::from(*dst)
        })
    };
    locals.iter().find(|a| on_link(a)).or(locals.first()).map(|a| IpAddr::V4(*a))
}

/// First address of `family` on `interface` (global scope for IPv6), via getifaddrs.
fn interface_ip(interface: &str, family: &str) -> Option<IpAddr> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    addrs.filter(|a| a.interface_name == interface).find_map(|a| {
        let s = a.address?;
        match family {
            "ipv4" => s.as_sockaddr_in().map(|v| IpAddr::V4(v.ip())),
            _ => s.as_sockaddr_in6().map(|v| v.ip()).filter(|ip| (ip.segments()[0] & 0xffc0) != 0xfe80).map(IpAddr::V6),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_sockets() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when \
                   retrnsmt   uid  timeout inode\n   0: 00000000:20FB 00000000:0000 0A 00000000:00000000 \
                   00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n   \
                   1: 0100007F:0CEA 00000000:0000 06 00000000:00000000 00:00000000 00000000     \
                   0        0 0 1 0000000000000000\n";
        let l = parse_listeners(tcp);
        assert_eq!(l, [Listener { addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED), port: 8443, inode: 4242 }]);
        let tcp6 = "  sl  local_address                         \
                    remote_address                        st\n   0: 00000000000000000000000001000000:2AFA \
                    00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 \
                    00000000     0        0 77 1\n";
        assert_eq!(parse_listeners(tcp6)[0].addr, "::1".parse::<IpAddr>().expect("ip"));
        assert_eq!(parse_listeners(tcp6)[0].port, 11002);
    }
}
