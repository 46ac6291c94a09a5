//! The pre-install manifest: for every path a run may create or overwrite, whether it existed
//! before the first change, what it was (type, mode, owner, digest, link target) and a backup
//! copy; plus sysctl values, unit enablement and packages absent before. `reset` compares the
//! machine with it ([`Manifest::plan_restore`]) and gives the host back exactly as it was
//! ([`Manifest::restore`]). The first record of a path is never overwritten, so a manifest
//! extended by several runs still describes the host before the first one.

mod execute;
mod fsops;
mod listing;
mod record;
mod restore;
mod tracked;

pub use listing::{ListingRow, diff_listings, listing};
pub use restore::RestoreStep;
pub use tracked::{TRACKED, tracked_for_user, tree_root};

use crate::host::fs::write_atomic;
use anyhow::{Context, Result, bail};
use fsops::ensure_private_dir;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const SCHEMA: &str = "minikube-none-bootstrap/manifest/v1";
/// Under the state directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Under the state directory (0700): one copy per file that existed, named by [`Entry::backup`].
pub const BACKUP_DIR: &str = "backup";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// fifo, socket, device: recorded, never backed up.
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Other => "other",
        }
    }
}

/// What one path was when first recorded. Metadata fields are `None` when it did not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub existed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    #[serde(default, with = "fsops::octal_opt", skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// File name under `$STATE/backup/` (regular files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// A missing parent of a missing tracked path: removed at restore only when empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub implied: bool,
}

impl Entry {
    fn absent(path: &str, implied: bool) -> Entry {
        Entry {
            path: path.to_string(),
            existed: false,
            kind: None,
            mode: None,
            uid: None,
            gid: None,
            sha256: None,
            target: None,
            size: None,
            backup: None,
            implied,
        }
    }
}

/// `$STATE/manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    /// Keyed by absolute host path.
    #[serde(default)]
    entries: BTreeMap<String, Entry>,
    /// Roots of the trees recorded whole: anything under them without an entry came later.
    #[serde(default)]
    trees: BTreeSet<String>,
    #[serde(default)]
    sysctl: BTreeMap<String, String>,
    #[serde(default)]
    units: BTreeMap<String, String>,
    #[serde(default)]
    absent_packages: BTreeSet<String>,
    /// Changed in memory since the last save.
    #[serde(skip)]
    dirty: bool,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            schema: SCHEMA.to_string(),
            created: None,
            entries: BTreeMap::new(),
            trees: BTreeSet::new(),
            sysctl: BTreeMap::new(),
            units: BTreeMap::new(),
            absent_packages: BTreeSet::new(),
            dirty: false,
        }
    }
}

impl Manifest {
    pub fn file(state_dir: &Path) -> PathBuf {
        state_dir.join(MANIFEST_FILE)
    }

    pub fn exists(state_dir: &Path) -> bool {
        Self::file(state_dir).exists()
    }

    /// The manifest in `state_dir`, or an empty one when there is none yet.
    pub fn load(state_dir: &Path) -> Result<Manifest> {
        let p = Self::file(state_dir);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
        };
        let m: Manifest = serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        if m.schema != SCHEMA {
            bail!("{} has schema {:?}, expected {SCHEMA}", p.display(), m.schema);
        }
        Ok(m)
    }

    /// Writes `$STATE/manifest.json` atomically (0600; the state directory 0700).
    pub fn save(&mut self, state_dir: &Path) -> Result<()> {
        ensure_private_dir(state_dir)?;
        if self.created.is_none() {
            self.created = Some(jiff::Timestamp::now().to_string());
        }
        let json = serde_json::to_vec_pretty(self).context("serializing the manifest")?;
        write_atomic(&Self::file(state_dir), &json, 0o600)?;
        self.dirty = false;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.sysctl.is_empty() && self.units.is_empty() && self.absent_packages.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub fn trees(&self) -> impl Iterator<Item = &str> {
        self.trees.iter().map(String::as_str)
    }

    /// Sysctl key → value before the first change.
    pub fn sysctls(&self) -> &BTreeMap<String, String> {
        &self.sysctl
    }

    /// Unit → enablement state (`systemctl is-enabled` words) before the first change.
    pub fn units(&self) -> &BTreeMap<String, String> {
        &self.units
    }

    pub fn absent_packages(&self) -> &BTreeSet<String> {
        &self.absent_packages
    }

    /// Records a sysctl's value before the first change; the first value wins. In memory, like
    /// the unit and package records: [`Manifest::save`] or the next [`Manifest::record`] writes.
    pub fn record_sysctl(&mut self, key: &str, current_value: &str) -> bool {
        let added = first_wins(&mut self.sysctl, key, current_value);
        self.dirty |= added;
        added
    }

    /// Records a unit's enablement state before the first change; the first state wins.
    pub fn record_unit(&mut self, unit: &str, enabled_state: &str) -> bool {
        let added = first_wins(&mut self.units, unit, enabled_state);
        self.dirty |= added;
        added
    }

    /// Adds packages that were absent before this run installs them (a union over runs).
    /// Returns the names newly added.
    pub fn record_absent_packages<S: AsRef<str>>(&mut self, names: &[S]) -> Vec<String> {
        let added: Vec<String> =
            names.iter().map(|n| n.as_ref().to_string()).filter(|n| self.absent_packages.insert(n.clone())).collect();
        self.dirty |= !added.is_empty();
        added
    }
}

fn first_wins(map: &mut BTreeMap<String, String>, key: &str, value: &str) -> bool {
    if map.contains_key(key) {
        return false;
    }
    map.insert(key.to_string(), value.to_string());
    true
}
