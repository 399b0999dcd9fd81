//! The chunk table: which chunk files exist, how many of their bytes are
//! durable, and the bounded set of read handles to them.
//!
//! The flush thread publishes new chunks and sizes here after each sync,
//! and the purge thread removes chunks here before it unlinks their files;
//! readers look chunks up and take their handles under the table's read
//! lock, so a read never opens a file a purge has already unlinked (a
//! handle taken before keeps reading the unlinked file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use super::handles::Handles;
use super::pipe::Segment;
use crate::chunk::ChunkInfo;
use crate::error::Result;
use crate::vfs::{Vfs, VfsFile};

pub(crate) struct ChunkTable {
    dir: PathBuf,
    vfs: Arc<dyn Vfs>,
    chunks: RwLock<BTreeMap<u64, ChunkInfo>>,
    handles: Handles,
}

impl ChunkTable {
    pub fn new(dir: &Path, vfs: Arc<dyn Vfs>, chunks: BTreeMap<u64, ChunkInfo>, open_max: usize) -> Self {
        ChunkTable { dir: dir.to_path_buf(), vfs, chunks: RwLock::new(chunks), handles: Handles::new(open_max) }
    }

    /// A read view: lookups and handles under the table's read lock. Lock
    /// order: the engine's state lock, then this, then the queue.
    pub fn view(&self) -> TableView<'_> {
        TableView { table: self, chunks: self.chunks.read() }
    }

    /// Records chunks created by a flush, and the durable end and seal of
    /// every chunk a flush wrote.
    pub fn publish(&self, written: &[Arc<Segment>], created: &[u64]) {
        let mut chunks = self.chunks.write();
        for s in written {
            if created.contains(&s.chunk) {
                chunks.entry(s.chunk).or_insert(ChunkInfo { size: 0, sealed: false, codec: s.codec });
            }
            if let Some(c) = chunks.get_mut(&s.chunk) {
                c.size = c.size.max(s.end());
                c.sealed |= s.seal;
            }
        }
    }

    /// Chunk ids below `below`, oldest first.
    pub fn ids_below(&self, below: u64) -> Vec<u64> {
        self.chunks.read().range(..below).map(|(&id, _)| id).collect()
    }

    /// Forgets chunk `id` (and closes its handle) before its file goes.
    pub fn remove(&self, id: u64) -> Option<ChunkInfo> {
        let info = self.chunks.write().remove(&id);
        self.handles.forget(id);
        info
    }

    /// Puts back a chunk whose file could not be deleted.
    pub fn restore(&self, id: u64, info: ChunkInfo) {
        self.chunks.write().insert(id, info);
    }

    /// Bytes of the chunk files from `id` on.
    pub fn bytes_from(&self, id: u64) -> u64 {
        self.chunks.read().range(id..).map(|(_, c)| c.size).sum()
    }

    /// `(chunk files, bytes on disk, files open for reads)`.
    pub fn sizes(&self) -> (usize, u64, usize) {
        let chunks = self.chunks.read();
        (chunks.len(), chunks.values().map(|c| c.size).sum(), self.handles.len())
    }
}

/// The table under its read lock.
pub(crate) struct TableView<'a> {
    table: &'a ChunkTable,
    chunks: parking_lot::RwLockReadGuard<'a, BTreeMap<u64, ChunkInfo>>,
}

impl TableView<'_> {
    /// Whether chunk `id` is on disk with at least `end` durable bytes.
    pub fn holds(&self, id: u64, end: u64) -> bool {
        self.chunks.get(&id).is_some_and(|c| c.size >= end)
    }

    /// How chunk `id`'s frames are encoded, if it is on disk.
    pub fn codec(&self, id: u64) -> Option<crate::format::Codec> {
        self.chunks.get(&id).map(|c| c.codec)
    }

    /// The read handle of chunk `id`, which must be on disk.
    pub fn file(&self, id: u64) -> Result<Arc<dyn VfsFile>> {
        self.table.handles.get(&*self.table.vfs, &self.table.dir, id)
    }
}
