//! Safe extraction of release tarballs (`.tar.gz`).
//!
//! Everything is first unpacked into a fresh temporary directory beside the
//! target, checking every member: no absolute paths, no `..`, no links that
//! leave the tree, no paths through links, no device nodes or fifos, and
//! bounded entry count and unpacked size. Only when the whole archive passed
//! are the chosen files fsynced and renamed into the target, one atomic
//! rename each; a pre-existing symlink in the target is replaced, never
//! followed. A refused archive leaves the target untouched.

mod place;
mod unpack;

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use place::Staging;

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
