//! Filesystem primitives of the manifest: `lstat` that never follows links, a tree walk that
//! never descends through links, and atomic copies/relinks with owner and mode set before the
//! rename. Temp names are deterministic, so a run killed mid-copy leaves a file the next one
//! overwrites.

use super::Kind;
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fs::{self, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What `lstat` tells about one path (mode is the permission bits, `& 0o7777`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stat {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub target: Option<String>,
}

/// `None` when the path (or one of its parents) does not exist.
pub(crate) fn lstat(p: &Path) -> io::Result<Option<Stat>> {
    let m = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let ft = m.file_type();
    let kind = if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    let target = match kind {
        Kind::Symlink => Some(fs::read_link(p)?.to_string_lossy().into_owned()),
        _ => None,
    };
    Ok(Some(Stat { kind, mode: m.mode() & 0o7777, uid: m.uid(), gid: m.gid(), size: m.size(), target }))
}

/// `/a/b` + `c` → `/a/b/c`.
pub(crate) fn join_abs(parent: &str, name: &str) -> String {
    format!("{}/{name}", parent.trim_end_matches('/'))
}

/// Walks what is under `dir` (an existing real directory, given by its absolute host path and
/// its mapped location), depth first in name order. `visit(abs, stat)` returns whether to
/// descend into a directory; symlinks are never followed.
pub(crate) fn walk(abs: &str, mapped: &Path, visit: &mut dyn FnMut(&str, &Stat) -> bool) -> io::Result<()> {
    let mut names = fs::read_dir(mapped)?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<Vec<_>>>()?;
    names.sort();
    for name in names {
        let child = mapped.join(&name);
        let child_abs = join_abs(abs, &name.to_string_lossy());
        let Some(st) = lstat(&child)? else {
            continue; // vanished while walking
        };
        if visit(&child_abs, &st) && st.kind == Kind::Dir {
            walk(&child_abs, &child, visit)?;
        }
    }
    Ok(())
}

/// Lowercase hex sha256 of a string (backup names).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The backup name of a path: flat, collision-free, still readable (`1f3a…-daemon.json`).
pub(crate) fn backup_name(abs: &str) -> String {
    let base = Path::new(abs).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "root".into());
    format!("{}-{base}", &sha256_hex(abs.as_bytes())[..16])
}

fn temp_beside(dst: &Path, tag: &str) -> Result<(PathBuf, PathBuf)> {
    let dir = dst.parent().with_context(|| format!("{} has no parent directory", dst.display()))?.to_path_buf();
    let name = dst.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mnb-{tag}"));
    Ok((dir, tmp))
}

fn remove_if_present(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Copies regular file `src` (opened with O_NOFOLLOW) to `dst` atomically: temp file beside
/// `dst`, owner then mode (chown clears set-id bits), fsync, checked digest, rename, fsync dir.
/// Returns the sha256 and size of what was copied.
pub(crate) fn copy_atomic(
    src: &Path,
    dst: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
    expect_sha256: Option<&str>,
) -> Result<(String, u64)> {
    let (dir, tmp) = temp_beside(dst, "tmp")?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    remove_if_present(&tmp).with_context(|| format!("removing stale {}", tmp.display()))?;
    let result = (|| -> Result<(String, u64)> {
        let mut input = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(src)
            .with_context(|| format!("opening {}", src.display()))?;
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&tmp)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        let sha = hex(&hasher.finalize());
        if let Some(want) = expect_sha256.filter(|w| *w != sha) {
            bail!("{} has sha256 {sha}, the manifest recorded {want}", src.display());
        }
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&out, Some(uid), Some(gid))?;
        }
        out.set_permissions(fs::Permissions::from_mode(mode))?;
        out.sync_all()?;
        fs::rename(&tmp, dst)?;
        fs::File::open(&dir)?.sync_all()?;
        Ok((sha, size))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp); // best effort: the error is what matters
    }
    result.with_context(|| format!("copying {} to {}", src.display(), dst.display()))
}

/// Makes `dst` a symlink to `target` owned by uid:gid, replacing a file or link atomically.
pub(crate) fn relink_atomic(dst: &Path, target: &str, uid: u32, gid: u32) -> Result<()> {
    let (dir, tmp) = temp_beside(dst, "link")?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = (|| -> Result<()> {
        remove_if_present(&tmp)?;
        std::os::unix::fs::symlink(target, &tmp)?;
        std::os::unix::fs::lchown(&tmp, Some(uid), Some(gid))?;
        fs::rename(&tmp, dst)?;
        fs::File::open(&dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp); // best effort
    }
    result.with_context(|| format!("linking {} to {target}", dst.display()))
}

/// Removes a path without following links: directories recursively, everything else unlinked.
/// Returns whether something was removed.
pub(crate) fn remove_path(p: &Path) -> Result<bool> {
    let removed = match lstat(p)? {
        None => return Ok(false),
        Some(st) if st.kind == Kind::Dir => fs::remove_dir_all(p),
        Some(_) => fs::remove_file(p),
    };
    match removed {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        r => r.map(|()| true).with_context(|| format!("removing {}", p.display())),
    }
}

/// Creates `p` (and missing parents) with mode 0700, and forces the mode on `p`.
pub(crate) fn ensure_private_dir(p: &Path) -> Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(p).with_context(|| format!("creating {}", p.display()))?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting mode of {}", p.display()))
}

/// Serde for modes as octal strings (`"0644"`), readable in the JSON.
pub(crate) mod octal {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(m: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{m:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let s = String::deserialize(d)?;
        u32::from_str_radix(&s, 8).map_err(D::Error::custom)
    }
}

/// [`octal`] for `Option<u32>` (use with `default` and `skip_serializing_if`).
pub(crate) mod octal_opt {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(m: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        match m {
            Some(m) => s.serialize_str(&format!("{m:04o}")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| u32::from_str_radix(&s, 8).map_err(D::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_are_flat_and_distinct() {
        let a = backup_name("/etc/kubernetes/admin.conf");
        assert!(a.ends_with("-admin.conf") && !a.contains('/'));
        assert_ne!(a, backup_name("/root/.kube/admin.conf"));
        assert_eq!(a, backup_name("/etc/kubernetes/admin.conf"));
    }

    #[test]
    fn lstat_never_follows_links() {
        let d = tempfile::tempdir().expect("tempdir");
        let link = d.path().join("l");
        std::os::unix::fs::symlink("/nonexistent/target", &link).expect("link");
        let st = lstat(&link).expect("lstat").expect("exists");
        assert_eq!(st.kind, Kind::Symlink);
        assert_eq!(st.target.as_deref(), Some("/nonexistent/target"));
        assert!(lstat(&link.join("below")).expect("lstat").is_none());
        assert!(remove_path(&link).expect("remove"));
        assert!(!remove_path(&link).expect("remove again"));
    }
}
