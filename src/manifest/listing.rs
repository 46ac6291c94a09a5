//! The listing `reset` is judged by: every tracked path (trees expanded) with its type, mode,
//! owner, digest and link target, taken before the first `apply` and again after `reset`.

use super::fsops::{self, lstat};
use super::{Kind, tree_root};
use crate::host::{Host, download::sha256_file};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One path of a listing. `kind` is `file|dir|symlink|other`, `absent`, or `unreadable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingRow {
    pub path: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl ListingRow {
    fn bare(path: &str, kind: &str) -> ListingRow {
        ListingRow {
            path: path.to_string(),
            kind: kind.to_string(),
            mode: None,
            uid: None,
            gid: None,
            sha256: None,
            target: None,
        }
    }

    fn of(path: &str, st: &fsops::Stat, mapped: &std::path::Path) -> ListingRow {
        let mut row = ListingRow::bare(path, st.kind.as_str());
        row.mode = Some(format!("{:04o}", st.mode));
        row.uid = Some(st.uid);
        row.gid = Some(st.gid);
        row.target = st.target.clone();
        if st.kind == Kind::File {
            row.sha256 = Some(sha256_file(mapped).unwrap_or_else(|e| format!("unreadable: {e}")));
        }
        row
    }

    fn fields(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("kind", Some(self.kind.as_str())),
            ("mode", self.mode.as_deref()),
            ("sha256", self.sha256.as_deref()),
            ("target", self.target.as_deref()),
        ]
    }

    fn describe(&self) -> String {
        let mut s = self.kind.clone();
        if let Some(m) = &self.mode {
            s.push_str(&format!(" {m}"));
        }
        if let (Some(u), Some(g)) = (self.uid, self.gid) {
            s.push_str(&format!(" {u}:{g}"));
        }
        if let Some(h) = &self.sha256 {
            s.push_str(&format!(" sha256={}", short(h)));
        }
        if let Some(t) = &self.target {
            s.push_str(&format!(" -> {t}"));
        }
        s
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// The listing of `paths` (`/**` patterns expanded, links never followed), sorted by path.
/// A path that does not exist is listed as `absent`, so appearing paths show in a diff.
pub fn listing<S: AsRef<str>>(host: &Host, paths: &[S]) -> Vec<ListingRow> {
    let mut rows: BTreeMap<String, ListingRow> = BTreeMap::new();
    for pattern in paths {
        let pattern = pattern.as_ref();
        let (abs, tree) = match tree_root(pattern) {
            Some(root) => (root, true),
            None => (pattern, false),
        };
        let mapped = host.path(abs);
        let st = match lstat(&mapped) {
            Ok(Some(st)) => st,
            Ok(None) => {
                rows.insert(abs.to_string(), ListingRow::bare(abs, "absent"));
                continue;
            }
            Err(_) => {
                rows.insert(abs.to_string(), ListingRow::bare(abs, "unreadable"));
                continue;
            }
        };
        rows.insert(abs.to_string(), ListingRow::of(abs, &st, &mapped));
        if tree && st.kind == Kind::Dir {
            let walked = fsops::walk(abs, &mapped, &mut |child, st| {
                let row = ListingRow::of(child, st, &host.path(child));
                rows.insert(child.to_string(), row);
                true
            });
            if walked.is_err() {
                rows.insert(abs.to_string(), ListingRow::bare(abs, "unreadable"));
            }
        }
    }
    rows.into_values().collect()
}

/// Human-readable differences from listing `a` (before) to `b` (after): `- path: …` only in
/// `a`, `+ path: …` only in `b`, `~ path: field x → y; …` changed. Empty when equal.
pub fn diff_listings(a: &[ListingRow], b: &[ListingRow]) -> Vec<String> {
    let a: BTreeMap<&str, &ListingRow> = a.iter().map(|r| (r.path.as_str(), r)).collect();
    let b: BTreeMap<&str, &ListingRow> = b.iter().map(|r| (r.path.as_str(), r)).collect();
    let mut paths: Vec<&str> = a.keys().chain(b.keys()).copied().collect();
    paths.sort_unstable();
    paths.dedup();
    let mut out = Vec::new();
    for p in paths {
        match (a.get(p), b.get(p)) {
            (Some(x), None) => out.push(format!("- {p}: {}", x.describe())),
            (None, Some(y)) => out.push(format!("+ {p}: {}", y.describe())),
            (Some(x), Some(y)) if x != y => {
                let mut changes: Vec<String> = x
                    .fields()
                    .iter()
                    .zip(y.fields().iter())
                    .filter(|(f, g)| f.1 != g.1)
                    .map(|(f, g)| {
                        let v = |o: Option<&str>| o.map(short).unwrap_or("-").to_string();
                        format!("{} {} → {}", f.0, v(f.1), v(g.1))
                    })
                    .collect();
                if (x.uid, x.gid) != (y.uid, y.gid) {
                    let o = |u: Option<u32>, g: Option<u32>| match (u, g) {
                        (Some(u), Some(g)) => format!("{u}:{g}"),
                        _ => "-".into(),
                    };
                    changes.push(format!("owner {} → {}", o(x.uid, x.gid), o(y.uid, y.gid)));
                }
                out.push(format!("~ {p}: {}", changes.join("; ")));
            }
            _ => {}
        }
    }
    out
}
