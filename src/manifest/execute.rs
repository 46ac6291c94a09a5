//! Executing restore steps: each one checks the machine again, so a step already done is a
//! no-op and a killed restore is finished by planning and restoring again.

use super::fsops::{copy_atomic, lstat, relink_atomic, remove_path};
use super::{BACKUP_DIR, Kind, Manifest, RestoreStep};
use crate::host::Host;
use anyhow::{Context, Result, bail};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

impl Manifest {
    /// Executes `steps` (from [`Manifest::plan_restore`]); every step is attempted even when an
    /// earlier one failed, then the failures are reported together. Returns the paths changed.
    pub fn restore(&self, host: &Host, state_dir: &Path, steps: &[RestoreStep]) -> Result<Vec<String>> {
        let backup_dir = state_dir.join(BACKUP_DIR);
        let mut changed: Vec<String> = Vec::new();
        let mut failures = Vec::new();
        for step in steps {
            let guarded =
                matches!(step, RestoreStep::Remove { .. } | RestoreStep::Restore { .. } | RestoreStep::Relink { .. })
                    && state_dir.starts_with(host.path(step.path()));
            let done = if guarded {
                Err(anyhow::anyhow!("the state directory {} is inside it: not removed", state_dir.display()))
            } else {
                apply_step(host, &backup_dir, step)
            };
            match done {
                Ok(true) => {
                    if changed.last().map(String::as_str) != Some(step.path()) {
                        changed.push(step.path().to_string());
                    }
                }
                Ok(false) => {}
                Err(e) => failures.push(format!("{}: {e:#}", step.path())),
            }
        }
        if !failures.is_empty() {
            bail!(
                "{} of {} restore steps failed (run reset again to resume): {}",
                failures.len(),
                steps.len(),
                failures.join("; ")
            );
        }
        Ok(changed)
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:04o} on {}", p.display()))
}

fn lchown(p: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .with_context(|| format!("setting owner {uid}:{gid} on {}", p.display()))
}

/// Removes a real directory in the way of a file or link (links and files are replaced by
/// the rename itself).
fn clear_dir(p: &Path) -> Result<()> {
    if matches!(lstat(p)?, Some(ref s) if s.kind == Kind::Dir) {
        remove_path(p)?;
    }
    Ok(())
}

fn apply_step(host: &Host, backup_dir: &Path, step: &RestoreStep) -> Result<bool> {
    let p = host.path(step.path());
    match step {
        RestoreStep::Remove { .. } => remove_path(&p),
        RestoreStep::RemoveIfEmpty { .. } => match fs::remove_dir(&p) {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NotFound | ErrorKind::DirectoryNotEmpty | ErrorKind::NotADirectory
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e).with_context(|| format!("removing {}", p.display())),
        },
        RestoreStep::Mkdir { mode, uid, gid, .. } => {
            match lstat(&p)? {
                Some(s) if s.kind == Kind::Dir => {}
                Some(_) => {
                    remove_path(&p)?;
                    fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
                }
                None => fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?,
            }
            lchown(&p, *uid, *gid)?;
            set_mode(&p, *mode)?;
            Ok(true)
        }
        RestoreStep::Restore { from_backup, sha256, mode, uid, gid, .. } => {
            clear_dir(&p)?;
            let src = backup_dir.join(from_backup);
            copy_atomic(&src, &p, *mode, Some((*uid, *gid)), Some(sha256))?;
            Ok(true)
        }
        RestoreStep::Relink { target, uid, gid, .. } => {
            clear_dir(&p)?;
            relink_atomic(&p, target, *uid, *gid)?;
            Ok(true)
        }
        RestoreStep::Chown { uid, gid, .. } => {
            let Some(before) = lstat(&p)? else {
                bail!("{} is gone", p.display());
            };
            lchown(&p, *uid, *gid)?;
            if before.kind != Kind::Symlink && before.mode & 0o6000 != 0 {
                set_mode(&p, before.mode)?; // chown cleared the set-id bits
            }
            Ok(true)
        }
        RestoreStep::Chmod { mode, .. } => match lstat(&p)? {
            Some(s) if s.kind != Kind::Symlink => set_mode(&p, *mode).map(|()| true),
            _ => bail!("{} is gone or became a symlink", p.display()),
        },
        RestoreStep::Unrestorable { .. } | RestoreStep::Unchanged { .. } => Ok(false),
    }
}
