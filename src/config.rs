//! Store configuration.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::format;

/// How a store is laid out and how much memory it may use.
///
/// Build one with [`Config::new`] and adjust the public fields, or
/// deserialize it (every field but `dir` has a default):
///
/// ```
/// let cfg = chunklog::Config::new("/var/lib/node1/raft-log");
/// assert_eq!(cfg.chunk_max_size, 64 * 1024 * 1024);
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The log directory. Created if missing. Holds a `LOCK` file and the
    /// chunk files; nothing else in it is touched.
    pub dir: PathBuf,

    /// A chunk is sealed and a new one started once it holds at least this
    /// many bytes. Default 64 MiB; at most 2 GiB.
    #[serde(default = "defaults::chunk_max_size")]
    pub chunk_max_size: u64,

    /// A chunk is sealed and a new one started once it holds this many
    /// records. Default 1,048,576. Smaller chunks free disk space sooner
    /// after a purge; larger ones mean fewer files.
    #[serde(default = "defaults::chunk_max_records")]
    pub chunk_max_records: u64,

    /// Upper bound, in payload bytes, of the cache of recently appended
    /// entries. 0 turns the cache off. Default 16 MiB: enough for what
    /// followers and the state machine read right after an append; older
    /// entries come from the chunk files (through the page cache, which
    /// holds recent writes anyway). Measured here, ingesting 1 GiB of
    /// 1 KiB entries peaked at 47 MiB of RSS with it, 101 MiB at 64 MiB.
    #[serde(default = "defaults::cache_max_bytes")]
    pub cache_max_bytes: usize,

    /// Upper bound, in entries, of the cache of recently appended entries.
    /// 0 turns the cache off. Default 65,536.
    #[serde(default = "defaults::cache_max_entries")]
    pub cache_max_entries: usize,

    /// When this many encoded bytes are queued for the flush thread,
    /// `append` blocks until the queue drains below it (back-pressure).
    /// Default 64 MiB.
    #[serde(default = "defaults::flush_queue_max_bytes")]
    pub flush_queue_max_bytes: usize,

    /// A short tag (at most 32 bytes) written into every chunk header and
    /// checked on open, so a directory written by one user of the engine
    /// (say, one payload codec) is never read by another. The openraft
    /// adapters set their own. Default empty.
    #[serde(default)]
    pub tag: String,

    /// At most this many sealed chunk files are kept open for reads; the
    /// least recently read is closed to make room and reopened when it is
    /// read again. The open chunk and the directory lock take two more
    /// descriptors. Default 64; at least 1. Keep it well under the
    /// process's `RLIMIT_NOFILE` (often 1,024) when many stores share one
    /// process.
    #[serde(default = "defaults::open_chunks_max")]
    pub open_chunks_max: usize,

    /// Space reclamation, in percent: once the chunk files take more than
    /// this percentage of the bytes of live entries, plus one chunk
    /// (`chunk_max_size`), a background thread copies the live entries of
    /// the oldest chunk forward (see [`ChunkLog::copy_oldest_chunk`]) so
    /// that chunk can be deleted. A group that never purges (idle, or
    /// lagging) would otherwise keep every later chunk on disk.
    /// [`ChunkLog::pinning`] names the groups holding the oldest chunk.
    /// Default 200 (disk use stays near twice the live bytes); 0 turns
    /// reclamation off. A store used for one log never reaches it: its
    /// oldest chunk is deleted by its own purges.
    ///
    /// [`ChunkLog::copy_oldest_chunk`]: crate::ChunkLog::copy_oldest_chunk
    /// [`ChunkLog::pinning`]: crate::ChunkLog::pinning
    #[serde(default = "defaults::reclaim_percent")]
    pub reclaim_percent: u32,

    /// Purged chunk files kept for reuse as new chunks, instead of being
    /// deleted. Deleting a large file can stall every `fdatasync` of the
    /// file system for tens of milliseconds (ext4 mounted with `discard`
    /// frees and trims its blocks in the journal commit), and a reused
    /// file's blocks are already allocated and written, so appends into it
    /// sync no metadata. A reused file keeps its old bytes after what is
    /// written into it; they are never read as records, because every
    /// chunk file gets a new CRC salt (see `docs/FORMAT.md`, "Recycled
    /// chunk files"). Up to this many files of about `chunk_max_size` stay
    /// on disk as `*.free` (counted in [`Stats::recycled_files`]). Default
    /// 8; 0 deletes purged chunks at once.
    ///
    /// [`Stats::recycled_files`]: crate::Stats::recycled_files
    #[serde(default = "defaults::recycle_chunks_max")]
    pub recycle_chunks_max: usize,
}

pub(crate) mod defaults {
    pub fn chunk_max_size() -> u64 {
        64 * 1024 * 1024
    }
    pub fn chunk_max_records() -> u64 {
        1 << 20
    }
    pub fn cache_max_bytes() -> usize {
        16 * 1024 * 1024
    }
    pub fn cache_max_entries() -> usize {
        1 << 16
    }
    pub fn flush_queue_max_bytes() -> usize {
        64 * 1024 * 1024
    }
    pub fn open_chunks_max() -> usize {
        64
    }
    pub fn reclaim_percent() -> u32 {
        200
    }
    pub fn recycle_chunks_max() -> usize {
        8
    }
}

impl Config {
    /// A configuration with every default, for the log directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Config {
            dir: dir.into(),
            chunk_max_size: defaults::chunk_max_size(),
            chunk_max_records: defaults::chunk_max_records(),
            cache_max_bytes: defaults::cache_max_bytes(),
            cache_max_entries: defaults::cache_max_entries(),
            flush_queue_max_bytes: defaults::flush_queue_max_bytes(),
            tag: String::new(),
            open_chunks_max: defaults::open_chunks_max(),
            reclaim_percent: defaults::reclaim_percent(),
            recycle_chunks_max: defaults::recycle_chunks_max(),
        }
    }

    /// Sets `recycle_chunks_max` (builder style); 0 turns recycling off.
    pub fn recycle_chunks_max(mut self, files: usize) -> Self {
        self.recycle_chunks_max = files;
        self
    }

    /// Sets `reclaim_percent` (builder style); 0 turns reclamation off.
    pub fn reclaim_percent(mut self, percent: u32) -> Self {
        self.reclaim_percent = percent;
        self
    }

    /// Sets `chunk_max_size` (builder style).
    pub fn chunk_max_size(mut self, bytes: u64) -> Self {
        self.chunk_max_size = bytes;
        self
    }

    /// Sets `chunk_max_records` (builder style).
    pub fn chunk_max_records(mut self, records: u64) -> Self {
        self.chunk_max_records = records;
        self
    }

    /// Sets both cache limits (builder style); `(0, 0)` turns the cache off.
    pub fn cache(mut self, max_bytes: usize, max_entries: usize) -> Self {
        self.cache_max_bytes = max_bytes;
        self.cache_max_entries = max_entries;
        self
    }

    /// Sets `flush_queue_max_bytes` (builder style).
    pub fn flush_queue_max_bytes(mut self, bytes: usize) -> Self {
        self.flush_queue_max_bytes = bytes;
        self
    }

    /// Sets `open_chunks_max` (builder style).
    pub fn open_chunks_max(mut self, files: usize) -> Self {
        self.open_chunks_max = files;
        self
    }

    /// Sets the chunk tag (builder style).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.chunk_max_size == 0 || self.chunk_max_size > format::MAX_CHUNK_SIZE {
            return Err(Error::InvalidConfig(format!(
                "chunk_max_size must be within 1..={}, got {}",
                format::MAX_CHUNK_SIZE,
                self.chunk_max_size
            )));
        }
        if self.chunk_max_records < 2 {
            return Err(Error::InvalidConfig(format!(
                "chunk_max_records must be at least 2 (the checkpoint and one record), got {}",
                self.chunk_max_records
            )));
        }
        if self.tag.len() > format::MAX_TAG_LEN {
            return Err(Error::InvalidConfig(format!(
                "tag must be at most {} bytes, got {}",
                format::MAX_TAG_LEN,
                self.tag.len()
            )));
        }
        if self.open_chunks_max == 0 {
            return Err(Error::InvalidConfig("open_chunks_max must be at least 1".into()));
        }
        if self.reclaim_percent != 0 && self.reclaim_percent < 100 {
            return Err(Error::InvalidConfig(format!(
                "reclaim_percent must be 0 (off) or at least 100, got {}",
                self.reclaim_percent
            )));
        }
        if self.flush_queue_max_bytes == 0 {
            return Err(Error::InvalidConfig("flush_queue_max_bytes must be positive".into()));
        }
        Ok(())
    }
}
