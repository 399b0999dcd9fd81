//! Deleting purged chunks.
//!
//! Once a purge record is durable, every sealed chunk below the oldest
//! live entry can go. Unlinking a large file can take a hundred
//! milliseconds (ext4 with `discard`), so a second thread does it, oldest
//! chunk first, and syncs the directory after; appends never wait for it.
//! While the recycling pool has room, a purged chunk is renamed into it
//! instead of unlinked (`recycle.rs`), without a directory sync: it joins
//! the pool once the flush thread's next directory sync covers the rename.
//! A chunk leaves the chunk table before its file is unlinked or renamed.
//! A failed unlink leaves that chunk and the newer ones for the next purge
//! (or the next open): it never loses data, since recovery ignores chunks
//! below the purge point.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use super::recycle::{Free, Pool};
use super::stats::Counters;
use super::table::ChunkTable;
use crate::chunk;
use crate::vfs::Vfs;

/// What deleting chunks needs: the directory, the chunk table and the
/// counters.
pub(crate) struct PurgeCtx {
    pub dir: PathBuf,
    pub vfs: Arc<dyn Vfs>,
    pub table: Arc<ChunkTable>,
    pub stats: Arc<Counters>,
    /// Where purged chunks go while it has room.
    pub pool: Arc<Pool>,
}

/// The purge thread, owned by the flush thread.
pub(crate) struct Purger {
    ctx: Arc<PurgeCtx>,
    tx: Option<Sender<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl Purger {
    /// Starts the purge thread (or, if it cannot start, deletes inline).
    pub fn start(ctx: PurgeCtx) -> Self {
        let ctx = Arc::new(ctx);
        let (tx, rx) = channel::<u64>();
        let thread_ctx = ctx.clone();
        let thread = std::thread::Builder::new()
            .name("chunklog-purge".into())
            .spawn(move || {
                for below in rx {
                    delete_chunks_below(&thread_ctx, below);
                    thread_ctx.stats.purges_pending.fetch_sub(1, Ordering::Relaxed);
                }
            })
            .ok();
        let tx = thread.is_some().then_some(tx);
        Purger { ctx, tx, thread }
    }

    /// Deletes the sealed chunks below `below` (never the open one).
    pub fn delete_below(&self, below: u64) {
        self.ctx.stats.purges_pending.fetch_add(1, Ordering::Relaxed);
        if self.tx.as_ref().is_none_or(|tx| tx.send(below).is_err()) {
            delete_chunks_below(&self.ctx, below);
            self.ctx.stats.purges_pending.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Waits until every deletion handed over is done.
    pub fn finish(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("chunklog purge thread panicked");
        }
    }
}

/// Deletes (or moves into the recycling pool) chunks below `below`,
/// oldest first, then syncs the directory if it deleted any.
fn delete_chunks_below(ctx: &PurgeCtx, below: u64) {
    let doomed = ctx.table.ids_below(below);
    let mut removed = 0;
    for id in doomed {
        let Some(info) = ctx.table.remove(id) else { continue };
        let p = chunk::chunk_path(&ctx.dir, id);
        if info.sealed && ctx.pool.has_room() {
            match ctx.vfs.rename(&p, &ctx.pool.path(id)) {
                Ok(()) => {
                    // Reusable once a directory sync covers the rename.
                    ctx.pool.add_pending(Free { id, salt: info.codec.salt, len: info.size });
                    continue;
                }
                Err(e) => {
                    tracing::debug!(chunk = %p.display(), error = %e, "could not recycle purged chunk; deleting it")
                }
            }
        }
        if let Err(e) = ctx.vfs.remove_file(&p) {
            tracing::warn!(chunk = %p.display(), error = %e, "could not delete purged chunk; will retry at the next purge");
            ctx.table.restore(id, info);
            break;
        }
        removed += 1;
    }
    if removed > 0
        && let Err(e) = ctx.vfs.sync_dir(&ctx.dir)
    {
        tracing::warn!(dir = %ctx.dir.display(), error = %e, "directory sync after purge failed");
    }
}
