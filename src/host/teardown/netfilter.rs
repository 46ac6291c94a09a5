//! Netfilter: the cluster's iptables chains and rules, and its nftables tables and chains.

use super::{SHORT, run_ok};
use crate::host::{Host, fs::write_atomic};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// Chains a cluster makes: kube-proxy and kubelet (`KUBE-*`), the CNI plugins (`CNI-*`).
pub fn cluster_chain(name: &str) -> bool {
    name.starts_with("KUBE-") || name.starts_with("CNI-")
}

/// Splits a rule line into words, keeping double-quoted strings (comments) whole.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut any) = (false, false, false);
    for ch in line.chars() {
        if escaped {
            cur.push(ch);
            escaped = false;
        } else if ch == '\\' && quoted {
            escaped = true;
        } else if ch == '"' {
            quoted = !quoted;
            any = true;
        } else if ch.is_whitespace() && !quoted {
            if any || !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            any = false;
        } else {
            cur.push(ch);
            any = true;
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What cleaning one table of an `iptables-save` dump takes out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableCleanup {
    pub table: String,
    pub chains: Vec<String>,
    /// Rules in those chains or jumping to them.
    pub rules: usize,
    /// `iptables-restore --noflush` input that deletes exactly those: the jumps from other
    /// chains (`-D`, as saved), then the chains (`-F`, `-X`). Nothing else is touched, not
    /// even the built-in chains a whole-table restore would declare.
    pub restore: String,
}

/// Per table of an `iptables-save` dump: the cluster's chains and every rule in them or
/// jumping to them. Tables with nothing of the cluster are left out.
pub fn clean_dump(dump: &str) -> Vec<TableCleanup> {
    let mut out = Vec::new();
    let mut cur: Option<(TableCleanup, Vec<String>)> = None;
    for line in dump.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('*') {
            cur = Some((TableCleanup { table: name.to_string(), ..Default::default() }, Vec::new()));
            continue;
        }
        let Some((table, deletes)) = cur.as_mut() else { continue };
        if t == "COMMIT" {
            if let Some((mut done, deletes)) = cur.take().filter(|(c, _)| !c.chains.is_empty() || c.rules > 0) {
                let mut script = format!("*{}\n", done.table);
                deletes.iter().for_each(|d| script.push_str(&format!("{d}\n")));
                done.chains.iter().for_each(|c| script.push_str(&format!("-F {c}\n")));
                done.chains.iter().for_each(|c| script.push_str(&format!("-X {c}\n")));
                script.push_str("COMMIT\n");
                done.restore = script;
                out.push(done);
            }
            continue;
        }
        if let Some(decl) = t.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or("");
            if cluster_chain(name) {
                table.chains.push(name.to_string());
            }
            continue;
        }
        let w = words(t);
        if w.first().map(String::as_str) != Some("-A") {
            continue;
        }
        let Some(chain) = w.get(1) else { continue };
        let jumps =
            w.windows(2).any(|p| matches!(p[0].as_str(), "-j" | "-g" | "--jump" | "--goto") && cluster_chain(&p[1]));
        if cluster_chain(chain) {
            table.rules += 1; // goes with the flush of its chain
        } else if jumps {
            table.rules += 1;
            deletes.push(format!("-D{}", &t[2..]));
        }
    }
    out
}

/// `iptables` and `ip6tables` save/restore pairs present on the host.
pub fn iptables_tools(host: &Host) -> Vec<(&'static str, std::path::PathBuf, std::path::PathBuf)> {
    [("iptables", "iptables-save", "iptables-restore"), ("ip6tables", "ip6tables-save", "ip6tables-restore")]
        .into_iter()
        .filter_map(|(name, save, restore)| Some((name, host.which(save)?, host.which(restore)?)))
        .collect()
}

/// The cleanup `iptables-save` (all existing tables) calls for.
pub fn iptables_cleanup(save: &Path) -> Result<Vec<TableCleanup>> {
    Ok(clean_dump(&run_ok(save, &[], None, SHORT)?))
}

/// Deletes what [`clean_dump`] found, each table in one transaction, waiting for the xtables lock.
pub fn iptables_apply(restore: &Path, tables: &[TableCleanup]) -> Result<()> {
    let input: String = tables.iter().map(|t| t.restore.as_str()).collect();
    run_ok(restore, &["--noflush", "-w", "5"], Some(input.as_bytes()), SHORT).map(drop)
}

/// nftables tables this tool or the cluster made: `minikube-none-bootstrap` (the firewall
/// phase) and `kube-proxy` (kube-proxy's nftables mode), as `(family, name)`.
pub fn parse_nft_tables(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                ["table", family, name] if matches!(*name, "minikube-none-bootstrap" | "kube-proxy") => {
                    Some((family.to_string(), name.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

pub fn nft_tables(host: &Host) -> Result<Vec<(String, String)>> {
    let Some(nft) = host.which("nft") else { return Ok(Vec::new()) };
    Ok(parse_nft_tables(&run_ok(&nft, &["list", "tables"], None, SHORT)?))
}

pub fn nft_delete(host: &Host, family: &str, name: &str) -> Result<()> {
    let nft = host.which("nft").context("nft not found")?;
    run_ok(&nft, &["delete", "table", family, name], None, SHORT).map(drop)
}

/// Under the state directory: the nftables tables and chains before the first change.
pub const NETFILTER_FILE: &str = "netfilter.json";

/// Tables (`family name`) and chains (`family table name`) of an nftables ruleset.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NftNames {
    pub tables: BTreeSet<String>,
    pub chains: BTreeSet<String>,
}

/// A chain of `nft -j list ruleset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftChain {
    pub family: String,
    pub table: String,
    pub name: String,
    /// A base chain (hooked) whose policy is accept.
    pub neutral_base: bool,
    pub rules: usize,
}

/// The tables and chains of `nft -j list ruleset` output.
pub fn parse_ruleset(json: &str) -> Result<(BTreeSet<String>, Vec<NftChain>)> {
    let v: serde_json::Value = serde_json::from_str(json).context("parsing nft -j list ruleset")?;
    let items = v["nftables"].as_array().cloned().unwrap_or_default();
    let s = |o: &serde_json::Value, k: &str| o[k].as_str().unwrap_or("").to_string();
    let mut tables = BTreeSet::new();
    let mut chains: Vec<NftChain> = Vec::new();
    for it in &items {
        if let Some(t) = it.get("table") {
            tables.insert(format!("{} {}", s(t, "family"), s(t, "name")));
        } else if let Some(c) = it.get("chain") {
            chains.push(NftChain {
                family: s(c, "family"),
                table: s(c, "table"),
                name: s(c, "name"),
                neutral_base: c.get("hook").is_some() && s(c, "policy") == "accept",
                rules: 0,
            });
        }
    }
    for it in &items {
        if let Some(r) = it.get("rule") {
            let (f, t, c) = (s(r, "family"), s(r, "table"), s(r, "chain"));
            if let Some(ch) = chains.iter_mut().find(|x| x.family == f && x.table == t && x.name == c) {
                ch.rules += 1;
            }
        }
    }
    Ok((tables, chains))
}

fn nft_json(host: &Host) -> Result<Option<String>> {
    let Some(nft) = host.which("nft") else { return Ok(None) };
    Ok(Some(run_ok(&nft, &["-j", "list", "ruleset"], None, SHORT)?))
}

/// Records the nftables tables and chains once (the first record wins), when nft is there.
pub fn record_netfilter(host: &Host, state: &Path) -> Result<()> {
    let p = state.join(NETFILTER_FILE);
    if p.exists() || !host.is_live() {
        return Ok(());
    }
    let Some(json) = nft_json(host)? else { return Ok(()) };
    let (tables, chains) = parse_ruleset(&json)?;
    let names =
        NftNames { tables, chains: chains.iter().map(|c| format!("{} {} {}", c.family, c.table, c.name)).collect() };
    write_atomic(&p, &serde_json::to_vec_pretty(&names)?, 0o600)
}

/// What the iptables tables the cluster made on first use leave once emptied (iptables-nft
/// makes its tables and built-in chains lazily; the cleanup of the rules cannot remove
/// them): built-in chains of the iptables tables (ip/ip6 filter, nat, mangle, raw,
/// security) that did not exist before, have no rules and accept; then those tables, when
/// they did not exist before and have no chain left. As `family table [chain]`.
pub fn neutral_leftovers(json: &str, before: &NftNames) -> Result<Vec<String>> {
    let (tables, chains) = parse_ruleset(json)?;
    let iptables_table = |family: &str, table: &str| {
        matches!(family, "ip" | "ip6") && matches!(table, "filter" | "nat" | "mangle" | "raw" | "security")
    };
    let mut out = Vec::new();
    let mut gone = BTreeSet::new();
    for c in &chains {
        let id = format!("{} {} {}", c.family, c.table, c.name);
        if iptables_table(&c.family, &c.table) && c.neutral_base && c.rules == 0 && !before.chains.contains(&id) {
            gone.insert(id.clone());
            out.push(id);
        }
    }
    for t in &tables {
        let Some((family, name)) = t.split_once(' ') else { continue };
        let left = chains.iter().any(|c| {
            c.family == family && c.table == name && !gone.contains(&format!("{} {} {}", c.family, c.table, c.name))
        });
        if iptables_table(family, name) && !before.tables.contains(t) && !left {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// [`neutral_leftovers`] now; nothing when nft is missing or nothing was recorded.
pub fn nft_neutral_leftovers(host: &Host, state: &Path) -> Result<Vec<String>> {
    let before: Option<NftNames> =
        std::fs::read(state.join(NETFILTER_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let (Some(before), Some(json)) = (before, nft_json(host)?) else { return Ok(Vec::new()) };
    neutral_leftovers(&json, &before)
}

/// Deletes a chain (`family table chain`) or a table (`family table`).
pub fn nft_delete_object(host: &Host, id: &str) -> Result<()> {
    let nft = host.which("nft").context("nft not found")?;
    let w: Vec<&str> = id.split(' ').collect();
    let what = if w.len() == 3 { "chain" } else { "table" };
    let args = [&["delete", what][..], &w[..]].concat();
    run_ok(&nft, &args, None, SHORT).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"# Generated by iptables-save v1.8.11 (nf_tables) on Thu Dec  3 12:00:00 2026
*filter
:INPUT ACCEPT [10:20]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:CNI-FORWARD - [0:0]
:MY-CHAIN - [0:0]
-A INPUT -s 10.9.9.9/32 -j DROP
-A INPUT -m comment --comment "kubernetes -j KUBE-X in a comment" -j MY-CHAIN
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A MY-CHAIN -p tcp --dport 22 -j ACCEPT
COMMIT
# Completed on Thu Dec  3 12:00:00 2026
*raw
:PREROUTING ACCEPT [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-abc123 - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -s 10.244.0.2/32 -m comment --comment "name: \"bridge\" id: \"abc\"" -j CNI-abc123
-A POSTROUTING -s 192.168.0.0/16 -j MASQUERADE
-A CNI-abc123 -d 10.244.0.0/16 -j ACCEPT
COMMIT
"#;

    #[test]
    fn the_cluster_chains_and_the_rules_into_them_are_dropped() {
        let c = clean_dump(DUMP);
        assert_eq!(c.len(), 2, "raw has nothing of the cluster: left alone");
        assert_eq!(c[0].table, "filter");
        assert_eq!(c[0].chains, ["KUBE-FIREWALL", "KUBE-FORWARD", "CNI-FORWARD"]);
        assert_eq!(c[0].rules, 4);
        assert_eq!(
            c[0].restore,
            "*filter\n-D INPUT -j KUBE-FIREWALL\n\
             -D FORWARD -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD\n\
             -D FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n\
             -F KUBE-FIREWALL\n-F KUBE-FORWARD\n-F CNI-FORWARD\n-X KUBE-FIREWALL\n-X KUBE-FORWARD\n-X CNI-FORWARD\nCOMMIT\n",
            "the own rules (also the one whose comment names a KUBE- chain) are left alone"
        );
        assert_eq!(c[1].table, "nat");
        assert_eq!(c[1].chains, ["CNI-HOSTPORT-DNAT", "CNI-abc123"]);
        assert_eq!(c[1].rules, 3);
        assert!(c[1].restore.contains("-D POSTROUTING -s 10.244.0.2/32 -m comment --comment \"name: \\\"bridge\\\" id: \\\"abc\\\"\" -j CNI-abc123\n"), "{}", c[1].restore);
        assert!(!c[1].restore.contains("MASQUERADE"), "{}", c[1].restore);
    }

    #[test]
    fn nft_tables_of_ours_and_the_clusters() {
        let l = "table ip filter\ntable inet minikube-none-bootstrap\ntable ip kube-proxy\ntable ip6 kube-proxy\ntable inet fw\n";
        assert_eq!(
            parse_nft_tables(l),
            [("inet", "minikube-none-bootstrap"), ("ip", "kube-proxy"), ("ip6", "kube-proxy")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn empty_built_in_chains_and_tables_made_after_the_record_are_leftovers() {
        let ruleset = r#"{"nftables": [{"metainfo": {"version": "1.1.3"}},
          {"table": {"family": "ip", "name": "filter", "handle": 1}},
          {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
          {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
          {"chain": {"family": "ip", "table": "filter", "name": "OUTPUT", "handle": 3, "type": "filter", "hook": "output", "prio": 0, "policy": "drop"}},
          {"table": {"family": "ip", "name": "nat", "handle": 2}},
          {"chain": {"family": "ip", "table": "nat", "name": "PREROUTING", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
          {"table": {"family": "inet", "name": "mine", "handle": 3}},
          {"chain": {"family": "inet", "table": "mine", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
          {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 4, "expr": []}}]}"#;
        let before =
            NftNames { tables: ["ip filter".to_string()].into(), chains: ["ip filter INPUT".to_string()].into() };
        assert_eq!(
            neutral_leftovers(ruleset, &before).expect("parses"),
            ["ip filter FORWARD", "ip nat PREROUTING", "ip nat"],
            "not INPUT (there before, and has a rule), not OUTPUT (drops), not inet mine (not iptables')"
        );
        assert_eq!(
            neutral_leftovers(ruleset, &NftNames::default()).expect("parses"),
            ["ip filter FORWARD", "ip nat PREROUTING", "ip nat"]
        );
    }
}
