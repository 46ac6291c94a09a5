//! Restore: compare the machine with the manifest, then undo every difference. Steps are
//! independent and idempotent, so a killed restore is finished by planning again; the
//! manifest and its backups are only read.

use super::fsops::{self, Stat, lstat};
use super::{Entry, Kind, Manifest};
use crate::host::{Host, download::sha256_file};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// One action of a restore, in the order [`Manifest::plan_restore`] puts them: removals
/// (deepest first), directories, files and links, owner/mode fixes, emptied parents, then the
/// informational `unrestorable` and `unchanged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum RestoreStep {
    /// Did not exist before (or appeared later under a recorded tree): removed, a directory
    /// with everything in it; links are removed, never followed.
    Remove {
        path: String,
        kind: Kind,
    },
    /// A directory that existed before: created again (replacing a non-directory).
    Mkdir {
        path: String,
        #[serde(with = "fsops::octal")]
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// A file that existed and differs or is gone: written back from `$STATE/backup/<from_backup>`.
    Restore {
        path: String,
        from_backup: String,
        sha256: String,
        #[serde(with = "fsops::octal")]
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// A symlink that existed and differs or is gone.
    Relink {
        path: String,
        target: String,
        uid: u32,
        gid: u32,
    },
    Chown {
        path: String,
        uid: u32,
        gid: u32,
    },
    Chmod {
        path: String,
        #[serde(with = "fsops::octal")]
        mode: u32,
    },
    /// A directory created above a missing tracked path: removed once empty.
    RemoveIfEmpty {
        path: String,
    },
    /// Differs, but cannot be put back (a fifo/socket/device that is gone, an unreadable path).
    Unrestorable {
        path: String,
        reason: String,
    },
    Unchanged {
        path: String,
    },
}

impl RestoreStep {
    pub fn path(&self) -> &str {
        match self {
            RestoreStep::Remove { path, .. }
            | RestoreStep::Mkdir { path, .. }
            | RestoreStep::Restore { path, .. }
            | RestoreStep::Relink { path, .. }
            | RestoreStep::Chown { path, .. }
            | RestoreStep::Chmod { path, .. }
            | RestoreStep::RemoveIfEmpty { path }
            | RestoreStep::Unrestorable { path, .. }
            | RestoreStep::Unchanged { path } => path,
        }
    }

    /// Whether executing it changes the machine.
    pub fn is_change(&self) -> bool {
        !matches!(self, RestoreStep::Unchanged { .. } | RestoreStep::Unrestorable { .. })
    }
}

fn depth(p: &str) -> usize {
    p.matches('/').count()
}

fn has_ancestor_in(p: &str, set: &BTreeSet<String>) -> bool {
    let mut cur = Path::new(p).parent();
    while let Some(a) = cur.and_then(Path::to_str) {
        if set.contains(a) {
            return true;
        }
        cur = Path::new(a).parent();
    }
    false
}

#[derive(Default)]
struct Plan {
    removes: BTreeSet<(String, Kind)>,
    mkdirs: Vec<RestoreStep>,
    writes: Vec<RestoreStep>,
    meta: Vec<RestoreStep>,
    implied: Vec<String>,
    unrestorable: Vec<RestoreStep>,
    unchanged: Vec<RestoreStep>,
}

impl Plan {
    fn unrestorable(&mut self, path: &str, reason: String) {
        self.unrestorable.push(RestoreStep::Unrestorable { path: path.to_string(), reason });
    }

    fn unchanged(&mut self, path: &str) {
        self.unchanged.push(RestoreStep::Unchanged { path: path.to_string() });
    }

    /// Owner and mode of something that is still the right thing.
    fn fix_meta(&mut self, e: &Entry, cur: &Stat, with_mode: bool) {
        let (uid, gid) = (e.uid.unwrap_or(0), e.gid.unwrap_or(0));
        let mode = e.mode.unwrap_or(cur.mode);
        let mut same = true;
        if (cur.uid, cur.gid) != (uid, gid) {
            same = false;
            self.meta.push(RestoreStep::Chown { path: e.path.clone(), uid, gid });
        }
        if with_mode && cur.mode != mode {
            same = false;
            self.meta.push(RestoreStep::Chmod { path: e.path.clone(), mode });
        }
        if same {
            self.unchanged(&e.path);
        }
    }

    fn existing(&mut self, e: &Entry, cur: Option<Stat>, mapped: &Path) {
        let (uid, gid) = (e.uid.unwrap_or(0), e.gid.unwrap_or(0));
        let mode = e.mode.unwrap_or(0o644);
        let path = e.path.clone();
        match e.kind {
            Some(Kind::File) => {
                let (Some(backup), Some(sha)) = (&e.backup, &e.sha256) else {
                    return self.unrestorable(&path, "the manifest has no backup of it".into());
                };
                let same_content = cur.as_ref().is_some_and(|c| {
                    c.kind == Kind::File && Some(c.size) == e.size && sha256_file(mapped).is_ok_and(|s| &s == sha)
                });
                match cur {
                    Some(c) if same_content => self.fix_meta(e, &c, true),
                    _ => self.writes.push(RestoreStep::Restore {
                        path,
                        from_backup: backup.clone(),
                        sha256: sha.clone(),
                        mode,
                        uid,
                        gid,
                    }),
                }
            }
            Some(Kind::Symlink) => {
                let target = e.target.clone().unwrap_or_default();
                match cur {
                    Some(c) if c.kind == Kind::Symlink && c.target.as_ref() == Some(&target) => {
                        self.fix_meta(e, &c, false)
                    }
                    _ => self.writes.push(RestoreStep::Relink { path, target, uid, gid }),
                }
            }
            Some(Kind::Dir) => match cur {
                Some(c) if c.kind == Kind::Dir => self.fix_meta(e, &c, true),
                _ => self.mkdirs.push(RestoreStep::Mkdir { path, mode, uid, gid }),
            },
            Some(Kind::Other) | None => match cur {
                Some(c) if c.kind == Kind::Other => self.fix_meta(e, &c, true),
                _ => self.unrestorable(&path, "a special file that cannot be recreated".into()),
            },
        }
    }
}

impl Manifest {
    /// What restoring would do, from the manifest and the machine as it is now.
    pub fn plan_restore(&self, host: &Host) -> Vec<RestoreStep> {
        let mut plan = Plan::default();
        for e in self.entries.values() {
            let mapped = host.path(&e.path);
            let cur = match lstat(&mapped) {
                Ok(c) => c,
                Err(err) => {
                    plan.unrestorable(&e.path, format!("cannot inspect: {err}"));
                    continue;
                }
            };
            match (e.existed, cur) {
                (false, None) => plan.unchanged(&e.path),
                (false, Some(_)) if e.implied => plan.implied.push(e.path.clone()),
                (false, Some(c)) => {
                    plan.removes.insert((e.path.clone(), c.kind));
                }
                (true, cur) => plan.existing(e, cur, &mapped),
            }
        }
        self.plan_tree_extras(host, &mut plan);
        self.finish(host, plan)
    }

    /// Whatever is now under a recorded tree without an entry appeared after the record.
    fn plan_tree_extras(&self, host: &Host, plan: &mut Plan) {
        for root in &self.trees {
            let recorded_dir = self.entries.get(root).is_some_and(|e| e.existed && e.kind == Some(Kind::Dir));
            let mapped = host.path(root);
            let is_dir = matches!(lstat(&mapped), Ok(Some(ref s)) if s.kind == Kind::Dir);
            if !recorded_dir || !is_dir {
                continue;
            }
            let mut extras = Vec::new();
            let walked = fsops::walk(root, &mapped, &mut |abs, st| match self.entries.get(abs) {
                None => {
                    extras.push((abs.to_string(), st.kind));
                    false
                }
                Some(e) => e.existed && e.kind == Some(Kind::Dir) && st.kind == Kind::Dir,
            });
            if let Err(err) = walked {
                plan.unrestorable(root, format!("cannot walk: {err}"));
            }
            plan.removes.extend(extras);
        }
    }

    fn finish(&self, host: &Host, mut plan: Plan) -> Vec<RestoreStep> {
        // Removals: drop those inside another removal, then deepest first.
        let all: BTreeSet<String> = plan.removes.iter().map(|(p, _)| p.clone()).collect();
        let mut removes: Vec<(String, Kind)> =
            plan.removes.into_iter().filter(|(p, _)| !has_ancestor_in(p, &all)).collect();
        removes.sort_by(|a, b| depth(&b.0).cmp(&depth(&a.0)).then(a.0.cmp(&b.0)));
        let mut steps: Vec<RestoreStep> =
            removes.into_iter().map(|(path, kind)| RestoreStep::Remove { path, kind }).collect();

        plan.mkdirs.sort_by(|a, b| {
            let (a, b) = (a.path(), b.path());
            depth(a).cmp(&depth(b)).then(a.cmp(b))
        });
        steps.append(&mut plan.mkdirs);
        steps.append(&mut plan.writes);
        steps.append(&mut plan.meta);

        // Parents the run created: removed when only removed things are in them.
        let mut gone = all;
        plan.implied.sort_by(|a, b| depth(b).cmp(&depth(a)).then(a.cmp(b)));
        for dir in plan.implied {
            if has_ancestor_in(&dir, &gone) {
                continue; // removed with its ancestor
            }
            let empty_after = fs::read_dir(host.path(&dir)).is_ok_and(|rd| {
                rd.filter_map(|e| e.ok())
                    .all(|e| gone.contains(&fsops::join_abs(&dir, &e.file_name().to_string_lossy())))
            });
            if empty_after {
                gone.insert(dir.clone());
                steps.push(RestoreStep::RemoveIfEmpty { path: dir });
            } else {
                plan.unchanged.push(RestoreStep::Unchanged { path: dir });
            }
        }
        steps.append(&mut plan.unrestorable);
        steps.append(&mut plan.unchanged);
        steps
    }
}
