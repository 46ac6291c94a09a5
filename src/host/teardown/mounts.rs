//! Leftover mounts under a directory (/var/lib/kubelet): parsing mountinfo, unmounting.

use super::{SHORT, run_ok};
use crate::host::Host;
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;

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
}
