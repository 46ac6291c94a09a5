//! Unpacking into the staging directory, checking every member on the way:
//! paths, links, entry types and the extraction limits.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use tar::EntryType;

use super::{ArchiveError, Cx, ExtractLimits, Kind, normalize};

impl Cx<'_> {
    /// Unpack every member into `root`, checking each; returns the members in order.
    pub(super) fn unpack(&self, root: &Path, limits: &ExtractLimits) -> Result<Vec<(PathBuf, Kind)>, ArchiveError> {
        let file = File::open(self.archive).map_err(|e| self.io("cannot open", self.archive, e))?;
        let mut tar = tar::Archive::new(GzDecoder::new(io::BufReader::new(file)));
        let mut members: Vec<(PathBuf, Kind)> = Vec::new();
        let (mut count, mut total) = (0u64, 0u64);
        for entry in tar.entries().map_err(|e| self.corrupt(e))? {
            let mut entry = entry.map_err(|e| self.corrupt(e))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            count += 1;
            if count > limits.max_entries {
                let detail = format!("more than {} entries", limits.max_entries);
                return Err(ArchiveError::Limit { archive: self.archive.to_owned(), member: raw, detail });
            }
            let kind = entry.header().entry_type();
            if kind == EntryType::XGlobalHeader {
                continue;
            }
            let rel = normalize(&raw).ok_or_else(|| self.unsafe_member(&raw, "absolute path or `..` component"))?;
            let mode = entry.header().mode().map_err(|e| self.corrupt(e))? & 0o777;
            if rel.as_os_str().is_empty() {
                if kind == EntryType::Directory {
                    continue;
                }
                return Err(self.unsafe_member(&raw, "empty path"));
            }
            let dest = root.join(&rel);
            match kind {
                EntryType::Regular | EntryType::Continuous => {
                    let size = entry.header().size().map_err(|e| self.corrupt(e))?;
                    total = total.saturating_add(size);
                    if total > limits.max_total_bytes {
                        let detail = format!("more than {} bytes unpacked", limits.max_total_bytes);
                        return Err(ArchiveError::Limit { archive: self.archive.to_owned(), member: raw, detail });
                    }
                    self.make_parents(root, &rel, &raw)?;
                    let mut out = self.create_new(&dest, &raw)?;
                    io::copy(&mut (&mut entry).take(size), &mut out).map_err(|e| self.corrupt(e))?;
                    fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
                        .map_err(|e| self.io("cannot chmod", &dest, e))?;
                    members.push((rel, Kind::File { mode }));
                }
                EntryType::Directory => {
                    self.make_parents(root, &rel.join("x"), &raw)?;
                    members.push((rel, Kind::Dir { mode: mode | 0o700 }));
                }
                EntryType::Symlink => {
                    let link = self.link_name(&entry, &raw)?;
                    let parent = rel.parent().unwrap_or(Path::new(""));
                    if !stays_inside(&parent.join(&link)) {
                        let reason = format!("symbolic link to {} leaves the target directory", link.display());
                        return Err(self.unsafe_member(&raw, reason));
                    }
                    self.make_parents(root, &rel, &raw)?;
                    std::os::unix::fs::symlink(&link, &dest)
                        .map_err(|_| self.unsafe_member(&raw, "duplicate member"))?;
                    members.push((rel, Kind::Symlink));
                }
                EntryType::Link => {
                    let link = self.link_name(&entry, &raw)?;
                    let inside = normalize(&link.to_string_lossy());
                    let Some((_, Kind::File { mode })) =
                        inside.as_ref().and_then(|t| members.iter().find(|(p, _)| p == t))
                    else {
                        let reason = format!("hard link to {} is not an earlier file of the archive", link.display());
                        return Err(self.unsafe_member(&raw, reason));
                    };
                    let mode = *mode;
                    self.make_parents(root, &rel, &raw)?;
                    let from = root.join(inside.unwrap_or_default());
                    fs::hard_link(&from, &dest).map_err(|_| self.unsafe_member(&raw, "duplicate member"))?;
                    members.push((rel, Kind::File { mode }));
                }
                EntryType::Char | EntryType::Block | EntryType::Fifo => {
                    return Err(self.unsafe_member(&raw, "device nodes and fifos are not allowed"));
                }
                other => {
                    return Err(self.unsafe_member(&raw, format!("unsupported entry type {other:?}")));
                }
            }
        }
        Ok(members)
    }

    fn link_name<R: Read>(&self, entry: &tar::Entry<'_, R>, raw: &str) -> Result<PathBuf, ArchiveError> {
        match entry.link_name().map_err(|e| self.corrupt(e))? {
            Some(l) if !l.as_os_str().is_empty() => Ok(l.into_owned()),
            _ => Err(self.unsafe_member(raw, "link without a target")),
        }
    }

    fn create_new(&self, path: &Path, raw: &str) -> Result<File, ArchiveError> {
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => self.unsafe_member(raw, "duplicate member"),
            _ => self.io("cannot create", path, e),
        })
    }

    /// Create the directories above `rel` inside `root`, refusing to pass
    /// through anything that is not a real directory (such as a symlink made
    /// by an earlier member).
    fn make_parents(&self, root: &Path, rel: &Path, raw: &str) -> Result<(), ArchiveError> {
        let mut cur = root.to_owned();
        let parents: Vec<_> = rel.components().collect();
        for c in &parents[..parents.len().saturating_sub(1)] {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.unsafe_member(raw, "path passes through a symbolic link"));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(self.unsafe_member(raw, "path passes through a file")),
                Err(_) => fs::create_dir(&cur).map_err(|e| self.io("cannot create", &cur, e))?,
            }
        }
        Ok(())
    }
}

/// Whether a relative path, resolved lexically from the archive root, stays inside it.
fn stays_inside(path: &Path) -> bool {
    let mut depth = 0usize;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => depth -= 1,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}
