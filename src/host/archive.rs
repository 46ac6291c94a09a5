//! Safe extraction of release tarballs (`.tar.gz`).
//!
//! Everything is first unpacked into a fresh temporary directory beside the
//! target, checking every member: no absolute paths, no `..`, no links that
//! leave the tree, no paths through links, no device nodes or fifos, and
//! bounded entry count and unpacked size. Only when the whole archive passed
//! are the chosen files fsynced and renamed into the target, one atomic
//! rename each; a pre-existing symlink in the target is replaced, never
//! followed. A refused archive leaves the target untouched.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::GzDecoder;
use tar::EntryType;

/// Bounds on what one archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Sum of the sizes of all regular files.
    pub max_total_bytes: u64,
    /// Number of members of any type.
    pub max_entries: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self { max_total_bytes: 1 << 30, max_entries: 10_000 }
    }
}

/// Which members end up in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Members {
    /// The whole tree, at the same relative paths.
    All,
    /// These regular files (archive paths such as `crictl` or
    /// `cri-dockerd/cri-dockerd`), each placed as `target/<file name>`;
    /// a missing one is an error.
    Only(Vec<String>),
    /// Every executable regular file at the top level (the CNI plugins).
    TopLevelExecutables,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    pub limits: ExtractLimits,
    pub members: Members,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self { limits: ExtractLimits::default(), members: Members::All }
    }
}

/// Why an archive was not extracted. The target is unchanged in every case
/// except `Io` during the final renames.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{}: refusing member {member:?}: {reason}", archive.display())]
    Unsafe { archive: PathBuf, member: String, reason: String },
    #[error("{}: member {member:?} exceeds the extraction limits: {detail}", archive.display())]
    Limit { archive: PathBuf, member: String, detail: String },
    #[error("{}: member {member:?} not found (or not a regular file)", archive.display())]
    MissingMember { archive: PathBuf, member: String },
    #[error("{}: not a readable .tar.gz: {detail}", archive.display())]
    Corrupt { archive: PathBuf, detail: String },
    #[error("{}: refusing to write {}: {reason}", archive.display(), path.display())]
    Target { archive: PathBuf, path: PathBuf, reason: String },
    #[error("{}: {action} {}: {source}", archive.display(), path.display())]
    Io { archive: PathBuf, action: &'static str, path: PathBuf, source: io::Error },
}

impl ArchiveError {
    /// What the operator can do about it.
    pub fn remedy(&self) -> String {
        match self {
            Self::Unsafe { .. } => "this is not a genuine release tarball: check the mirror or bundle \
                and the pinned sha256; nothing was written to the target"
                .into(),
            Self::Limit { .. } => "check that this is the right release file, or raise the \
                extraction limits; nothing was written to the target"
                .into(),
            Self::MissingMember { .. } => "the archive does not have the upstream layout: check \
                the version and that the mirror or bundle serves the upstream file"
                .into(),
            Self::Corrupt { .. } => "delete the file from the download cache and fetch it again".into(),
            Self::Target { path, .. } => {
                format!("remove {} (a symbolic link or directory stands where the file goes) and rerun", path.display())
            }
            Self::Io { path, .. } => {
                format!("check permissions of and free space for {}", path.display())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File { mode: u32 },
    Dir { mode: u32 },
    Symlink,
}

/// Extract `archive` into `target` (created if missing) and return the paths
/// placed there (files and links, not directories).
pub fn extract_tar_gz(archive: &Path, target: &Path, opts: &ExtractOptions) -> Result<Vec<PathBuf>, ArchiveError> {
    let cx = Cx { archive };
    let staging = Staging::create(&cx, target)?;
    let members = cx.unpack(staging.path(), &opts.limits)?;
    let plan = cx.plan(&members, &opts.members)?;
    for (_, dest, kind) in &plan {
        cx.check_dest(target, dest, *kind)?;
    }
    fs::create_dir_all(target).map_err(|e| cx.io("cannot create", target, e))?;
    let mut placed = Vec::new();
    for (src, dest, kind) in &plan {
        let (from, to) = (staging.path().join(src), target.join(dest));
        match kind {
            Kind::Dir { mode } => {
                if !to.is_dir() {
                    fs::create_dir(&to).map_err(|e| cx.io("cannot create", &to, e))?;
                }
                fs::set_permissions(&to, fs::Permissions::from_mode(*mode))
                    .map_err(|e| cx.io("cannot chmod", &to, e))?;
            }
            Kind::File { .. } | Kind::Symlink => {
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent).map_err(|e| cx.io("cannot create", parent, e))?;
                }
                if matches!(kind, Kind::File { .. }) {
                    File::open(&from).and_then(|f| f.sync_all()).map_err(|e| cx.io("cannot fsync", &from, e))?;
                }
                fs::rename(&from, &to).map_err(|e| cx.io("cannot move into place", &to, e))?;
                placed.push(to);
            }
        }
    }
    let mut dirs: Vec<&Path> = placed.iter().filter_map(|p| p.parent()).collect();
    dirs.dedup();
    for dir in dirs {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| cx.io("cannot fsync", dir, e))?;
    }
    Ok(placed)
}

struct Cx<'a> {
    archive: &'a Path,
}

static STAGING_SEQ: AtomicU64 = AtomicU64::new(0);

/// A temporary directory beside the target, removed on drop.
struct Staging(PathBuf);

impl Staging {
    fn create(cx: &Cx<'_>, target: &Path) -> Result<Self, ArchiveError> {
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

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Cx<'_> {
    fn io(&self, action: &'static str, path: &Path, source: io::Error) -> ArchiveError {
        ArchiveError::Io { archive: self.archive.to_owned(), action, path: path.to_owned(), source }
    }

    fn corrupt(&self, e: impl std::fmt::Display) -> ArchiveError {
        ArchiveError::Corrupt { archive: self.archive.to_owned(), detail: e.to_string() }
    }

    fn unsafe_member(&self, member: &str, reason: impl Into<String>) -> ArchiveError {
        ArchiveError::Unsafe { archive: self.archive.to_owned(), member: member.to_owned(), reason: reason.into() }
    }

    /// Unpack every member into `root`, checking each; returns the members in order.
    fn unpack(&self, root: &Path, limits: &ExtractLimits) -> Result<Vec<(PathBuf, Kind)>, ArchiveError> {
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

    /// (staged path, path below the target, kind) for each member to place.
    fn plan(
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
    fn check_dest(&self, target: &Path, dest: &Path, kind: Kind) -> Result<(), ArchiveError> {
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

    fn target(&self, path: &Path, reason: &str) -> ArchiveError {
        ArchiveError::Target { archive: self.archive.to_owned(), path: path.to_owned(), reason: reason.into() }
    }
}

/// The path as relative components, or `None` if it is absolute or has `..`.
fn normalize(raw: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
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
