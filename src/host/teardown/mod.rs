//! What `reset` needs from the machine beyond files: bounded commands, leftover mounts under
//! /var/lib/kubelet, the network interfaces and netfilter rules a cluster makes, and package
//! removal. Parsers are pure functions (tested inline); the commands only run on a live host.

mod links;
mod mounts;
mod netfilter;
mod packages;
mod runtime_state;

pub use links::{LINKS_FILE, Link, cluster_links, delete_link, links, record_links, recorded_links};
pub use mounts::{current_mounts_below, mounts_below, unmount_below};
pub use netfilter::{
    NETFILTER_FILE, NftChain, NftNames, TableCleanup, clean_dump, cluster_chain, iptables_apply, iptables_cleanup,
    iptables_tools, neutral_leftovers, nft_delete, nft_delete_object, nft_neutral_leftovers, nft_tables,
    parse_nft_tables, parse_ruleset, record_netfilter,
};
pub use packages::{apt_simulated, installed, purge, would_install};
pub use runtime_state::{RUNTIME_STATE, RUNTIME_STATE_FILE, record_runtime_state, runtime_state_made};

use super::cmd::Finished;
use anyhow::{Context, Result, bail};
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

#[cfg(test)]
mod tests {
    use super::*;

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
