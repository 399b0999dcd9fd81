//! The engine's counters, and the [`Stats`] snapshot users read.

use std::sync::atomic::AtomicU64;

#[derive(Default)]
pub(crate) struct Counters {
    pub fsyncs: AtomicU64,
    pub bytes_written: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub disk_reads: AtomicU64,
    /// Purges whose chunk deletions are handed to the purge thread and not done.
    pub purges_pending: AtomicU64,
    pub preallocated_bytes_trimmed: AtomicU64,
    pub torn_bytes_cut: AtomicU64,
    pub copied_entries: AtomicU64,
    pub copied_bytes: AtomicU64,
    /// Chunks created in recycled files.
    pub recycled: AtomicU64,
    /// Flushes a writer's `sync` wrote itself.
    pub inline_flushes: AtomicU64,
    pub recycled_bytes_trimmed: AtomicU64,
}

/// Counters and sizes a user would want to watch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Chunk files on disk.
    pub chunks: usize,
    /// Bytes of chunk files on disk (flushed bytes).
    pub disk_bytes: u64,
    /// The handle's group's entries (between its purge point and its last
    /// index).
    pub entries: u64,
    /// The handle's group's first readable index.
    pub first_index: Option<u64>,
    /// The handle's group's last index.
    pub last_index: Option<u64>,
    /// Groups in the store.
    pub groups: usize,
    /// Entries in the payload cache.
    pub cache_entries: usize,
    /// Payload bytes in the cache.
    pub cache_bytes: usize,
    /// Reads served from the cache since open.
    pub cache_hits: u64,
    /// Reads that missed the cache since open.
    pub cache_misses: u64,
    /// Positional reads issued since open (merged reads count once).
    pub disk_reads: u64,
    /// `fdatasync` calls (files and directory) since open.
    pub fsyncs: u64,
    /// Flushes that a writer's [`sync`](crate::ChunkLog::sync) (or
    /// `save_vote`) wrote and synced on its own thread, the flush thread
    /// idle, since open (the rest of the flushes are the flush thread's).
    pub inline_flushes: u64,
    /// Bytes written to chunk files since open.
    pub bytes_written: u64,
    /// Heap bytes held by the in-memory index of every group.
    pub index_bytes: usize,
    /// Frame bytes of every group's live entries (what space reclamation
    /// measures the chunk files against).
    pub live_bytes: u64,
    /// Entries space reclamation copied forward since open.
    pub copied_entries: u64,
    /// Payload bytes space reclamation copied forward since open.
    pub copied_bytes: u64,
    /// Encoded bytes queued for or being written by the flush thread.
    pub queued_bytes: usize,
    /// Durable purges whose chunk files the background thread has not
    /// finished deleting.
    pub purges_pending: u64,
    /// Chunk files open for reads (at most `open_chunks_max`).
    pub open_chunk_files: usize,
    /// Zero bytes of preallocated space after the last record that open
    /// gave back (left by an unclean stop; not damage).
    pub preallocated_bytes_trimmed: u64,
    /// Bytes of a torn last record that open cut (an unclean stop in the
    /// middle of a write that was never acknowledged).
    pub torn_bytes_cut: u64,
    /// Purged chunk files kept for reuse (`*.free`, at most
    /// [`Config::recycle_chunks_max`](crate::Config::recycle_chunks_max)).
    pub recycled_files: usize,
    /// Bytes of those files.
    pub recycled_bytes: u64,
    /// Chunks created in a recycled file since open.
    pub chunks_recycled: u64,
    /// Bytes after the newest chunk's last record that open gave back
    /// because they were its recycled file's earlier contents (left by an
    /// unclean stop; not damage).
    pub recycled_bytes_trimmed: u64,
}
