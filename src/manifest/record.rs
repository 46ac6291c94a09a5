//! Recording: the state of each path before the first change, backups of regular files, and
//! the first record of a path never overwritten.

use super::fsops::{self, backup_name, copy_atomic, ensure_private_dir, lstat};
use super::{BACKUP_DIR, Entry, Kind, Manifest, tree_root};
use crate::host::Host;
use anyhow::{Context, Result, bail};
use std::path::Path;

impl Manifest {
    /// Records the current state of each path (`/**` patterns expanded) that has no record
    /// yet, backing up regular files under `$STATE/backup/`, then saves the manifest. A path
    /// under a tree recorded earlier is recorded as absent: the tree's record already shows it
    /// was not there. Returns the paths newly recorded.
    pub fn record<S: AsRef<str>>(&mut self, host: &Host, state_dir: &Path, paths: &[S]) -> Result<Vec<String>> {
        let backup_dir = state_dir.join(BACKUP_DIR);
        ensure_private_dir(&backup_dir)?;
        let mut new = Vec::new();
        for pattern in paths {
            let pattern = pattern.as_ref();
            match tree_root(pattern) {
                Some(root) => self.record_tree(host, &backup_dir, checked(root)?, &mut new)?,
                None => self.record_path(host, &backup_dir, checked(pattern)?, &mut new)?,
            }
        }
        if self.dirty || !new.is_empty() || !Self::exists(state_dir) {
            self.save(state_dir)?;
        }
        Ok(new)
    }

    /// A path under a recorded tree that has no entry was created after the tree was
    /// recorded: records it as absent (restore removes it). Returns whether it added an entry;
    /// `false` when the path is not under a recorded tree or already has an entry. In memory
    /// only: [`Manifest::save`] (or the next [`Manifest::record`]) writes it.
    pub fn record_tree_later(&mut self, path: &str) -> bool {
        if self.entries.contains_key(path) || !self.under_tree(path) {
            return false;
        }
        self.entries.insert(path.to_string(), Entry::absent(path, false));
        self.dirty = true;
        true
    }

    /// Whether `path` lies strictly below a recorded tree.
    fn under_tree(&self, path: &str) -> bool {
        self.trees.iter().any(|t| path.strip_prefix(t.as_str()).is_some_and(|r| r.starts_with('/')))
    }

    fn record_path(&mut self, host: &Host, backup_dir: &Path, abs: &str, new: &mut Vec<String>) -> Result<()> {
        if let Some(e) = self.entries.get_mut(abs) {
            if e.implied {
                e.implied = false; // now tracked itself: removed whole if it did not exist
                new.push(abs.to_string());
            }
            return Ok(());
        }
        if self.record_tree_later(abs) {
            new.push(abs.to_string());
            return Ok(());
        }
        let entry = snapshot(host, backup_dir, abs)?;
        let existed = entry.existed;
        self.entries.insert(abs.to_string(), entry);
        new.push(abs.to_string());
        if !existed {
            self.record_missing_parents(host, abs, new)?;
        }
        Ok(())
    }

    /// Missing parents of a missing path, so that restore also removes the directories the
    /// run created above it (only when they are empty by then).
    fn record_missing_parents(&mut self, host: &Host, abs: &str, new: &mut Vec<String>) -> Result<()> {
        let mut cur = Path::new(abs).parent();
        while let Some(parent) = cur.and_then(Path::to_str).filter(|p| *p != "/") {
            if self.entries.contains_key(parent) || self.under_tree(parent) {
                break;
            }
            let mapped = host.path(parent);
            if lstat(&mapped).with_context(|| format!("inspecting {}", mapped.display()))?.is_some() {
                break;
            }
            self.entries.insert(parent.to_string(), Entry::absent(parent, true));
            new.push(parent.to_string());
            cur = Path::new(parent).parent();
        }
        Ok(())
    }

    fn record_tree(&mut self, host: &Host, backup_dir: &Path, root: &str, new: &mut Vec<String>) -> Result<()> {
        if self.trees.contains(root) {
            return self.record_path(host, backup_dir, root, new); // un-implies at most
        }
        self.record_path(host, backup_dir, root, new)?;
        let root_is_dir = self.entries.get(root).is_some_and(|e| e.existed && e.kind == Some(Kind::Dir));
        if root_is_dir {
            let mut found = Vec::new();
            let mapped = host.path(root);
            fsops::walk(root, &mapped, &mut |abs, _| {
                found.push(abs.to_string());
                true
            })
            .with_context(|| format!("walking {}", mapped.display()))?;
            for abs in found {
                if !self.entries.contains_key(&abs) {
                    let entry = snapshot(host, backup_dir, &abs)?;
                    self.entries.insert(abs.clone(), entry);
                    new.push(abs);
                }
            }
        }
        self.trees.insert(root.to_string());
        Ok(())
    }
}

/// Absolute, normalized (no `.`/`..`/empty components, no trailing slash), not `/`.
fn checked(p: &str) -> Result<&str> {
    let ok = p.starts_with('/') && p.len() > 1 && p[1..].split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if !ok {
        bail!("manifest paths must be absolute and normalized, not {p:?}");
    }
    Ok(p)
}

/// The current state of one path, with a backup copy when it is a regular file.
fn snapshot(host: &Host, backup_dir: &Path, abs: &str) -> Result<Entry> {
    let mapped = host.path(abs);
    let Some(st) = lstat(&mapped).with_context(|| format!("inspecting {}", mapped.display()))? else {
        return Ok(Entry::absent(abs, false));
    };
    let mut e = Entry::absent(abs, false);
    e.existed = true;
    e.kind = Some(st.kind);
    e.mode = Some(st.mode);
    e.uid = Some(st.uid);
    e.gid = Some(st.gid);
    e.size = Some(st.size);
    e.target = st.target;
    if st.kind == Kind::File {
        let name = backup_name(abs);
        let (sha, size) = copy_atomic(&mapped, &backup_dir.join(&name), st.mode, None, None)
            .with_context(|| format!("backing up {abs}"))?;
        e.sha256 = Some(sha);
        e.size = Some(size);
        e.backup = Some(name);
    }
    Ok(e)
}
