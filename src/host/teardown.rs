//! What `reset` needs from the machine beyond files: bounded commands, leftover mounts under
//! /var/lib/kubelet, the network interfaces and netfilter rules a cluster makes, and package
//! removal. Parsers are pure functions (tested inline); the commands only run on a live host.

use super::cmd::Finished;
use super::packages::{self, Manager};
use super::{Host, fs::write_atomic};
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a prepared command with stdin `input` (or null), killing it after `timeout`.
pub fn run_bounded(mut c: Command, input: Option<&[u8]>, timeout: Duration) -> Result<Finished> {
    let what = format!("{:?}", c.get_program());
    tracing::debug!(program = %what, args = ?c.get_args().collect::<Vec<_>>(), "running (bounded)");
    c.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().with_context(|| format!("starting {what}"))?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes); // a child that exits early closes the pipe: its status tells
        });
    }
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                s = String::from_utf8_lossy(&buf).into_owned();
            }
            s
        })
    };
    let out = pipe(child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>));
    let err = pipe(child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {}s: killed", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Finished {
        status: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// [`run_bounded`] of `program args…` that must succeed; the error carries the stderr tail.
pub fn run_ok(program: &Path, args: &[&str], input: Option<&[u8]>, timeout: Duration) -> Result<String> {
    let mut c = Command::new(program);
    c.args(args);
    let f = run_bounded(c, input, timeout)?;
    if !f.success() {
        bail!(
            "{} {} exited with {}: {}",
            program.display(),
            args.join(" "),
            f.status.map_or("a signal".to_string(), |c| c.to_string()),
            super::cmd::tail(&f.stderr)
        );
    }
    Ok(f.stdout)
}

const SHORT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Mounts

/// Unescapes a mountinfo path field (`\040` is a space, and so on).
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let digits = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match digits.map(|d| d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'))) {
            Some(v) if v <= 0xff => {
                out.push(v as u8);
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points strictly below `dir` in /proc/self/mountinfo text, deepest first (a
/// point mounted twice is listed once: unmounting is repeated until none is left).
pub fn mounts_below(mountinfo: &str, dir: &str) -> Vec<String> {
    let dir = dir.trim_end_matches('/');
    let mut found: BTreeSet<String> = BTreeSet::new();
    for line in mountinfo.lines() {
        let Some(mp) = line.split(' ').nth(4) else { continue };
        let mp = unescape_octal(mp);
        if mp.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')) {
            found.insert(mp);
        }
    }
    let mut v: Vec<String> = found.into_iter().collect();
    v.sort_by(|a, b| b.matches('/').count().cmp(&a.matches('/').count()).then(b.cmp(a)));
    v
}

/// The mounts below `dir` now (live host only; a fixture root has none).
pub fn current_mounts_below(host: &Host, dir: &str) -> Vec<String> {
    if !host.is_live() {
        return Vec::new();
    }
    std::fs::read_to_string("/proc/self/mountinfo").map(|t| mounts_below(&t, dir)).unwrap_or_default()
}

/// Unmounts everything below `dir`, deepest first, a lazy unmount when a plain one is
/// refused; at most `passes` rounds (stacked mounts need several). Returns what was unmounted.
pub fn unmount_below(host: &Host, dir: &str, passes: usize) -> Result<Vec<String>> {
    let umount = host.which("umount").context("umount not found (package mount)")?;
    let mut done = Vec::new();
    for _ in 0..passes {
        let points = current_mounts_below(host, dir);
        if points.is_empty() {
            return Ok(done);
        }
        for p in points.into_iter().take(10_000) {
            if run_ok(&umount, &[&p], None, SHORT).is_err() {
                run_ok(&umount, &["-l", &p], None, SHORT).with_context(|| format!("unmounting {p}"))?;
            }
            if !done.contains(&p) {
                done.push(p);
            }
        }
    }
    let left = current_mounts_below(host, dir);
    if !left.is_empty() {
        bail!("still mounted after {passes} rounds of unmounting: {}", left.join(", "));
    }
    Ok(done)
}

// ---------------------------------------------------------------------------------------
// Network interfaces

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
        bail!("ip link delete {name} failed: {}", super::cmd::tail(&f.stderr));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Netfilter

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

// ---------------------------------------------------------------------------------------
// Runtime state

/// Under the state directory: which of [`RUNTIME_STATE`] did not exist before the first change.
pub const RUNTIME_STATE_FILE: &str = "runtime-state.json";

/// Where the container runtimes keep their state (images, containers, snapshots), and the
/// packages whose daemons make it. Never tracked as trees (they can be huge); only whether
/// each existed, so that `reset --purge-packages` removes what came with a runtime it purges.
pub const RUNTIME_STATE: [(&str, &[&str]); 6] = [
    ("/var/lib/containerd", &["containerd", "containerd.io"]),
    ("/opt/containerd", &["containerd", "containerd.io"]),
    ("/var/lib/docker", &["docker.io", "docker-ce", "moby-engine"]),
    ("/var/lib/cri-dockerd", &["docker.io", "docker-ce", "moby-engine"]),
    ("/var/lib/containers", &["cri-o"]),
    ("/var/lib/crio", &["cri-o"]),
];

/// Records once (the first record wins) which runtime state directories are absent.
pub fn record_runtime_state(host: &Host, state: &Path) -> Result<()> {
    let p = state.join(RUNTIME_STATE_FILE);
    if p.exists() {
        return Ok(());
    }
    let absent: Vec<&str> =
        RUNTIME_STATE.iter().map(|(d, _)| *d).filter(|d| std::fs::symlink_metadata(host.path(d)).is_err()).collect();
    write_atomic(&p, &serde_json::to_vec_pretty(&serde_json::json!({ "absent": absent }))?, 0o600)
}

/// The runtime state directories of the `purged` packages that were absent at the record and
/// exist now.
pub fn runtime_state_made(host: &Host, state: &Path, purged: &BTreeSet<String>) -> Vec<String> {
    let Some(v) = std::fs::read(state.join(RUNTIME_STATE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return Vec::new();
    };
    let absent: BTreeSet<String> =
        v["absent"].as_array().into_iter().flatten().filter_map(|d| d.as_str().map(String::from)).collect();
    RUNTIME_STATE
        .iter()
        .filter(|(d, owners)| {
            absent.contains(*d)
                && owners.iter().any(|o| purged.contains(*o))
                && std::fs::symlink_metadata(host.path(d)).is_ok()
        })
        .map(|(d, _)| d.to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Packages

/// Names of the installed packages (dpkg status through the root; `rpm -qa` on dnf hosts).
pub fn installed(host: &Host, manager: Manager) -> Result<BTreeSet<String>> {
    Ok(match manager {
        Manager::Apt => packages::dpkg_installed(host),
        Manager::Dnf => {
            let rpm = host.which("rpm").context("rpm not found")?;
            let root = host.root().display().to_string();
            let out = run_ok(&rpm, &["--root", &root, "-qa", "--qf", "%{NAME}\n"], None, SHORT)?;
            out.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
        }
    })
}

fn apt_env(c: &mut Command) {
    c.env("DEBIAN_FRONTEND", "noninteractive").env("NEEDRESTART_MODE", "a");
}

/// Package names in `apt-get -s` output lines starting with one of `verbs` (`Inst`,
/// `Remv`, `Purg`); an `Inst` with a `[current version]` is an upgrade and left out.
pub fn apt_simulated(output: &str, verbs: &[&str]) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (verb, name) = (*w.first()?, *w.get(1)?);
            if !verbs.contains(&verb) || (verb == "Inst" && w.get(2).is_some_and(|x| x.starts_with('['))) {
                return None;
            }
            Some(name.to_string())
        })
        .collect()
}

/// What installing `names` would install, dependencies included (apt: a simulation, after
/// `apt-get update` when the lists do not know a name yet; dnf: `names` themselves, the
/// dependencies are recorded after the install from the package database).
pub fn would_install(host: &Host, manager: Manager, names: &[String], lock_wait: Duration) -> Result<Vec<String>> {
    if manager == Manager::Dnf || names.is_empty() {
        return Ok(names.to_vec());
    }
    let apt = host.which("apt-get").context("apt-get not found")?;
    let simulate = || -> Result<Finished> {
        let mut c = Command::new(&apt);
        apt_env(&mut c);
        c.args(["-s", "-q", "-y", "--no-install-recommends", "install"]).args(names);
        run_bounded(c, None, Duration::from_secs(120))
    };
    let mut f = simulate()?;
    if !f.success() {
        let timeout = format!("DPkg::Lock::Timeout={}", lock_wait.as_secs());
        let mut c = Command::new(&apt);
        apt_env(&mut c);
        c.args(["-o", &timeout, "-q", "update"]);
        let up = run_bounded(c, None, lock_wait + Duration::from_secs(600))?;
        if !up.success() {
            bail!("apt-get update failed: {}", super::cmd::tail(&up.stderr));
        }
        f = simulate()?;
    }
    if !f.success() {
        bail!("apt-get -s install {} failed: {}", names.join(" "), super::cmd::tail(&f.stderr));
    }
    let mut all = apt_simulated(&f.stdout, &["Inst"]);
    for n in names {
        if !all.contains(n) {
            all.push(n.clone());
        }
    }
    Ok(all)
}

/// Removes `names` (and their configuration) without prompts. Refused, before anything is
/// removed, when the removal would take other packages with it (something installed later
/// depends on them). Waits up to `lock_wait` for another package manager run.
pub fn purge(host: &Host, manager: Manager, names: &[String], lock_wait: Duration) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let ours: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    match manager {
        Manager::Apt => {
            let apt = host.which("apt-get").context("apt-get not found")?;
            let mut c = Command::new(&apt);
            apt_env(&mut c);
            c.args(["-s", "-q", "-y", "purge"]).args(names);
            let sim = run_bounded(c, None, Duration::from_secs(120))?;
            if !sim.success() {
                bail!("apt-get -s purge failed: {}", super::cmd::tail(&sim.stderr));
            }
            let extra: Vec<String> = apt_simulated(&sim.stdout, &["Remv", "Purg"])
                .into_iter()
                .filter(|n| !ours.contains(n.split(':').next().unwrap_or(n)) && !ours.contains(n.as_str()))
                .collect();
            if !extra.is_empty() {
                bail!(
                    "removing them would also remove {}, installed later and depending on them: nothing removed",
                    extra.join(", ")
                );
            }
            let timeout = format!("DPkg::Lock::Timeout={}", lock_wait.as_secs());
            let mut c = Command::new(&apt);
            apt_env(&mut c);
            c.args(["-o", &timeout, "-q", "-y", "purge"]).args(names);
            let f = run_bounded(c, None, lock_wait + Duration::from_secs(900))?;
            if !f.success() {
                bail!("apt-get purge failed: {}", super::cmd::tail(&f.stderr));
            }
        }
        Manager::Dnf => {
            let rpm = host.which("rpm").context("rpm not found")?;
            let test = [&["-e", "--test"][..], &names.iter().map(String::as_str).collect::<Vec<_>>()].concat();
            run_ok(&rpm, &test, None, SHORT).context("packages installed later depend on them: nothing removed")?;
            let dnf = host.which("dnf").context("dnf not found")?;
            let mut c = Command::new(&dnf);
            c.args(["-y", "-q", "--setopt=clean_requirements_on_remove=False", "remove"]).args(names);
            let f = run_bounded(c, None, lock_wait + Duration::from_secs(900))?;
            if !f.success() {
                bail!("dnf remove failed: {}", super::cmd::tail(&f.stderr));
            }
        }
    }
    let now = installed(host, manager)?;
    let still: Vec<&str> = names.iter().map(String::as_str).filter(|n| now.contains(*n)).collect();
    if !still.is_empty() {
        bail!("still installed after removing: {}", still.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_points_below_a_dir_deepest_first() {
        let info = "\
22 1 8:1 / / rw - ext4 /dev/sda1 rw
30 22 0:40 / /var/lib/kubelet rw - ext4 /dev/sdb rw
31 30 0:41 / /var/lib/kubelet/pods/p1/volumes/kubernetes.io~projected/kube-api-access-x rw - tmpfs tmpfs rw
32 30 0:42 / /var/lib/kubelet/pods/p\\0401/volumes/v rw - tmpfs tmpfs rw
33 30 0:43 / /var/lib/kubelet/pods rw - tmpfs tmpfs rw
34 22 0:44 / /var/lib/kubeletx/a rw - tmpfs tmpfs rw
35 30 0:41 / /var/lib/kubelet/pods/p1/volumes/kubernetes.io~projected/kube-api-access-x rw - tmpfs tmpfs rw
";
        assert_eq!(
            mounts_below(info, "/var/lib/kubelet"),
            vec![
                "/var/lib/kubelet/pods/p1/volumes/kubernetes.io~projected/kube-api-access-x",
                "/var/lib/kubelet/pods/p 1/volumes/v",
                "/var/lib/kubelet/pods",
            ],
            "strictly below, unescaped, once each, deepest first"
        );
    }

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

    #[test]
    fn apt_simulations_name_new_packages_only() {
        let out = "NOTE: This is only a simulation!\n\
                   Inst libnetfilter-conntrack3 (1.1.0-1 Debian:13.1/stable [amd64])\n\
                   Inst conntrack (1:1.4.8-2 Debian:13.1/stable [amd64])\n\
                   Inst libc6 [2.41-11] (2.41-12 Debian:13.1/stable [amd64])\n\
                   Conf conntrack (1:1.4.8-2 Debian:13.1/stable [amd64])\n\
                   Purg socat [1.8.0.3-1]\nRemv other [1]\n";
        assert_eq!(apt_simulated(out, &["Inst"]), ["libnetfilter-conntrack3", "conntrack"]);
        assert_eq!(apt_simulated(out, &["Remv", "Purg"]), ["socat", "other"]);
    }

    #[test]
    fn bounded_commands_are_killed_on_time() {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "sleep 5"]);
        let t = Instant::now();
        let e = run_bounded(c, None, Duration::from_millis(200)).expect_err("must time out");
        assert!(format!("{e:#}").contains("killed"), "{e:#}");
        assert!(t.elapsed() < Duration::from_secs(3));
        let out = run_ok(Path::new("/bin/cat"), &[], Some(b"in\n"), SHORT).expect("cat");
        assert_eq!(out, "in\n");
    }
}
