//! Asks whether another process holds a lock on a file, without taking it: fcntl F_GETLK
//! for POSIX locks (dpkg, apt, rpm) and a released-at-once flock(2) probe (our run lock).

use nix::fcntl::{FcntlArg, Flock, FlockArg, fcntl};
use std::path::Path;

/// Who holds a lock that would block a writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Free,
    /// Held; the pid when the kernel reports one (OFD locks report none).
    Held(Option<u32>),
}

/// F_GETLK for a whole-file write lock: reports the conflicting lock, takes nothing.
/// `None` when the file does not exist or cannot be opened.
pub fn posix_lock_holder(path: &Path) -> Option<Holder> {
    // Read-only: F_GETLK needs no write access, and opening must not create the file.
    let file = std::fs::File::open(path).ok()?;
    let mut fl = nix::libc::flock {
        l_type: nix::libc::F_WRLCK as i16,
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(&file, FcntlArg::F_GETLK(&mut fl)).ok()?;
    if fl.l_type == nix::libc::F_UNLCK as i16 {
        return Some(Holder::Free);
    }
    Some(Holder::Held(u32::try_from(fl.l_pid).ok().filter(|p| *p > 0)))
}

/// Tries a non-blocking shared flock and releases it at once: `Some(true)` when another open
/// file description holds an exclusive lock; `None` when the file cannot be opened.
pub fn flock_held(path: &Path) -> Option<bool> {
    let file = std::fs::File::open(path).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(lock) => {
            drop(lock); // Flock's Drop unlocks
            Some(false)
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Some(true),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_files_are_free() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("lock");
        assert_eq!(posix_lock_holder(&p), None);
        assert_eq!(flock_held(&p), None);
        std::fs::write(&p, "").expect("write");
        assert_eq!(posix_lock_holder(&p), Some(Holder::Free));
        assert_eq!(flock_held(&p), Some(false));
        let f = std::fs::File::open(&p).expect("open");
        let _held = Flock::lock(f, FlockArg::LockExclusive).expect("lock");
        assert_eq!(flock_held(&p), Some(true));
    }
}
