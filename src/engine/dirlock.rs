//! The directory lock, and the wait for a store of this process that is
//! still closing.
//!
//! A store releases its lock only when its flush thread has finished
//! (final flush, trim, purge deletions). A program that drops a store and
//! reopens the directory at once, as an openraft application does after
//! `Raft::shutdown`, must not see `Locked` for that short while: stores
//! being closed are listed here, and an open that finds the lock held by
//! one of them waits for it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::vfs::{DirLock, Vfs};

/// How long an open waits for a closing store of the same directory.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

static CLOSING: LazyLock<(Mutex<HashSet<PathBuf>>, Condvar)> = LazyLock::new(Default::default);

/// Takes the lock of `dir`, waiting while a store of this process that
/// holds it is closing.
pub(crate) fn lock(vfs: &dyn Vfs, dir: &Path) -> Result<DirLock> {
    let deadline = Instant::now() + CLOSE_WAIT;
    let mut retried = false;
    loop {
        match vfs.lock_dir(dir) {
            Ok(lock) => return Ok(lock),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(Error::io("lock", dir.join(crate::vfs::LOCK_FILE), e)),
        }
        let (set, cv) = &*CLOSING;
        let mut closing = set.lock();
        if closing.contains(dir) {
            while closing.contains(dir) {
                if cv.wait_until(&mut closing, deadline).timed_out() {
                    return Err(Error::Locked { dir: dir.to_path_buf() });
                }
            }
        } else if retried {
            return Err(Error::Locked { dir: dir.to_path_buf() });
        }
        // The holder may have let go between the attempt and the look-up.
        retried = true;
    }
}

/// The store of `dir` is closing: opens of it wait.
pub(crate) fn closing(dir: &Path) {
    CLOSING.0.lock().insert(dir.to_path_buf());
}

/// The store of `dir` released its lock.
pub(crate) fn released(dir: &Path) {
    let (set, cv) = &*CLOSING;
    set.lock().remove(dir);
    cv.notify_all();
}
