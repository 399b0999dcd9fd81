//! The bounded set of open chunk files that reads go through.
//!
//! A log can hold more chunks than the process may open files
//! (`RLIMIT_NOFILE` is often 1,024), so chunks are not kept open for their
//! whole life: at most `open_chunks_max` read handles stay open, the least
//! recently used one is closed to make room, and a chunk is reopened on
//! its next read. Reads hold an `Arc` of the handle, so closing one here
//! never breaks a read in progress.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::chunk;
use crate::error::{Error, Result};
use crate::vfs::{Vfs, VfsFile};

/// An open read handle and when it was last used.
type Stamped = (Arc<dyn VfsFile>, u64);

/// Open read handles by chunk id, with a use stamp for eviction.
pub(crate) struct Handles {
    max: usize,
    open: Mutex<HashMap<u64, Stamped>>,
    clock: std::sync::atomic::AtomicU64,
}

impl Handles {
    pub fn new(max: usize) -> Self {
        Handles { max: max.max(1), open: Mutex::new(HashMap::new()), clock: Default::default() }
    }

    /// The read handle of chunk `id` in `dir`, opened if it is not.
    pub fn get(&self, vfs: &dyn Vfs, dir: &Path, id: u64) -> Result<Arc<dyn VfsFile>> {
        let stamp = self.clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut open = self.open.lock();
        if let Some((file, used)) = open.get_mut(&id) {
            *used = stamp;
            return Ok(file.clone());
        }
        if open.len() >= self.max
            && let Some(&oldest) = open.iter().min_by_key(|(_, (_, used))| *used).map(|(id, _)| id)
        {
            open.remove(&oldest);
        }
        let path = chunk::chunk_path(dir, id);
        let file = vfs.open_read(&path).map_err(|e| Error::io("open", &path, e))?;
        open.insert(id, (file.clone(), stamp));
        Ok(file)
    }

    /// Closes the handle of chunk `id` (it was deleted).
    pub fn forget(&self, id: u64) {
        self.open.lock().remove(&id);
    }

    /// Number of open handles.
    pub fn len(&self) -> usize {
        self.open.lock().len()
    }
}
