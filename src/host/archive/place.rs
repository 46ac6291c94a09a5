//! Placing into the target: the staging directory beside it, which members
//! go where, and the checks on what already stands there.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{ArchiveError, Cx, Kind, Members, normalize};

static STAGING_SEQ: AtomicU64 = AtomicU64::new(0);

/// A temporary directory beside the target, removed on drop.
pub(super) struct Staging(PathBuf);

impl Staging {
    pub(super) fn create(cx: &Cx<'_>, target: &Path) -> Result<Self, ArchiveError> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|e| cx.io("cannot create", &parent, e))?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let seq = STAGING_SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!(".{name}.extract-{}-{seq}", std::process::id()));
        fs::create_dir(&dir).map_err(|e| cx.io("cannot create", &dir, e))?;
        Ok(Self(dir))
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Cx<'_> {
    /// (staged path, path below the target, kind) for each member to place.
    pub(super) fn plan(
        &self,
        members: &[(PathBuf, Kind)],
        which: &Members,
    ) -> Result<Vec<(PathBuf, PathBuf, Kind)>, ArchiveError> {
        let single = |p: &Path, k: &Kind| (p.to_owned(), PathBuf::from(p.file_name().unwrap_or_default()), *k);
        match which {
            Members::All => Ok(members.iter().map(|(p, k)| (p.clone(), p.clone(), *k)).collect()),
            Members::Only(names) => names
                .iter()
                .map(|name| {
                    let wanted = normalize(name);
                    members
                        .iter()
                        .find(|(p, k)| Some(p) == wanted.as_ref() && matches!(k, Kind::File { .. }))
                        .map(|(p, k)| single(p, k))
                        .ok_or_else(|| ArchiveError::MissingMember {
                            archive: self.archive.to_owned(),
                            member: name.clone(),
                        })
                })
                .collect(),
            Members::TopLevelExecutables => {
                let found: Vec<_> = members
                    .iter()
                    .filter(|(p, k)| {
                        p.components().count() == 1 && matches!(k, Kind::File { mode } if mode & 0o111 != 0)
                    })
                    .map(|(p, k)| single(p, k))
                    .collect();
                if found.is_empty() {
                    return Err(ArchiveError::MissingMember {
                        archive: self.archive.to_owned(),
                        member: "<executables at the top level>".into(),
                    });
                }
                Ok(found)
            }
        }
    }

    /// Refuse to write through a pre-existing symlink, a file over a
    /// directory or a directory over a file or link.
    pub(super) fn check_dest(&self, target: &Path, dest: &Path, kind: Kind) -> Result<(), ArchiveError> {
        let mut cur = target.to_owned();
        let comps: Vec<_> = dest.components().collect();
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            let Ok(m) = fs::symlink_metadata(&cur) else {
                return Ok(());
            };
            let (is_link, is_dir) = (m.file_type().is_symlink(), m.is_dir());
            if i + 1 < comps.len() {
                if is_link {
                    return Err(self.target(&cur, "it is a symbolic link; files are not written through links"));
                }
                if !is_dir {
                    return Err(self.target(&cur, "it is not a directory"));
                }
            } else if matches!(kind, Kind::Dir { .. }) != is_dir {
                return Err(self.target(
                    &cur,
                    if is_dir {
                        "a directory stands where a file goes"
                    } else {
                        "a file or link stands where a directory goes"
                    },
                ));
            }
        }
        Ok(())
    }
}
