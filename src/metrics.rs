//! Publishing statistics through the [`metrics`] facade (feature
//! `metrics`), so an application that already exports Prometheus or
//! OpenTelemetry metrics gets chunklog's without glue code.

use std::sync::atomic::Ordering;

use metrics::{counter, gauge};

use crate::ChunkLog;

impl ChunkLog {
    /// Publishes the store's statistics, and with `per_group` every
    /// group's, through the `metrics` facade's installed recorder. Call it
    /// on a timer (every scrape interval, say); it reads memory only,
    /// though `per_group` walks every group's index once.
    ///
    /// Every metric carries the label `dir` (the log directory); the
    /// per-group ones also `group`. With thousands of groups, `per_group`
    /// means thousands of series: leave it off and use
    /// [`pinning`](Self::pinning) to find the groups that matter.
    ///
    /// Whole log (gauges unless `_total`): `chunklog_chunks`,
    /// `chunklog_disk_bytes`, `chunklog_live_bytes`, `chunklog_groups`,
    /// `chunklog_index_bytes`, `chunklog_cache_entries`,
    /// `chunklog_cache_bytes`, `chunklog_queued_bytes`,
    /// `chunklog_purges_pending`, `chunklog_open_chunk_files`,
    /// `chunklog_poisoned` (0 or 1), `chunklog_fsyncs_total`,
    /// `chunklog_bytes_written_total`, `chunklog_cache_hits_total`,
    /// `chunklog_cache_misses_total`, `chunklog_disk_reads_total`,
    /// `chunklog_copied_entries_total`, `chunklog_copied_bytes_total`,
    /// `chunklog_torn_bytes_cut_total`,
    /// `chunklog_preallocated_bytes_trimmed_total`.
    ///
    /// Per group: `chunklog_group_entries`, `chunklog_group_live_bytes`,
    /// `chunklog_group_first_index` and `chunklog_group_last_index` (-1
    /// when none), `chunklog_group_oldest_chunk` (the oldest chunk holding
    /// one of its live entries; -1 when none),
    /// `chunklog_group_pinned_bytes` (its live bytes in the store's oldest
    /// live chunk: what keeps that chunk on disk),
    /// `chunklog_group_appends_total` and `chunklog_group_flushes_total`
    /// (entries appended, and flushes waited for, since open).
    pub fn publish_metrics(&self, per_group: bool) {
        let dir = self.dir().display().to_string();
        let s = self.stats();
        let g = |name: &'static str, v: f64| gauge!(name, "dir" => dir.clone()).set(v);
        g("chunklog_chunks", s.chunks as f64);
        g("chunklog_disk_bytes", s.disk_bytes as f64);
        g("chunklog_live_bytes", s.live_bytes as f64);
        g("chunklog_groups", s.groups as f64);
        g("chunklog_index_bytes", s.index_bytes as f64);
        g("chunklog_cache_entries", s.cache_entries as f64);
        g("chunklog_cache_bytes", s.cache_bytes as f64);
        g("chunklog_queued_bytes", s.queued_bytes as f64);
        g("chunklog_purges_pending", s.purges_pending as f64);
        g("chunklog_open_chunk_files", s.open_chunk_files as f64);
        g("chunklog_poisoned", if self.is_poisoned() { 1.0 } else { 0.0 });
        let c = |name: &'static str, v: u64| counter!(name, "dir" => dir.clone()).absolute(v);
        c("chunklog_fsyncs_total", s.fsyncs);
        c("chunklog_bytes_written_total", s.bytes_written);
        c("chunklog_cache_hits_total", s.cache_hits);
        c("chunklog_cache_misses_total", s.cache_misses);
        c("chunklog_disk_reads_total", s.disk_reads);
        c("chunklog_copied_entries_total", s.copied_entries);
        c("chunklog_copied_bytes_total", s.copied_bytes);
        c("chunklog_torn_bytes_cut_total", s.torn_bytes_cut);
        c("chunklog_preallocated_bytes_trimmed_total", s.preallocated_bytes_trimmed);
        if !per_group {
            return;
        }
        let sh = self.core.shared.read();
        let oldest = sh.oldest_live_chunk();
        for (&id, grp) in &sh.groups {
            let (mut live, mut pinned, mut min_chunk) = (0u64, 0u64, None::<u64>);
            grp.index.for_each(0, u64::MAX, |_, slot| {
                live += u64::from(slot.len);
                if slot.chunk == oldest {
                    pinned += u64::from(slot.len);
                }
                min_chunk = Some(min_chunk.map_or(slot.chunk, |m| m.min(slot.chunk)));
            });
            let labels = [("dir", dir.clone()), ("group", id.to_string())];
            let opt = |v: Option<u64>| v.map_or(-1.0, |v| v as f64);
            gauge!("chunklog_group_entries", &labels).set(grp.state.entry_count() as f64);
            gauge!("chunklog_group_live_bytes", &labels).set(live as f64);
            gauge!("chunklog_group_first_index", &labels).set(opt(grp.state.first_index));
            gauge!("chunklog_group_last_index", &labels).set(opt(grp.state.last_index));
            gauge!("chunklog_group_oldest_chunk", &labels).set(opt(min_chunk));
            gauge!("chunklog_group_pinned_bytes", &labels).set(pinned as f64);
            counter!("chunklog_group_appends_total", &labels).absolute(grp.appends);
            counter!("chunklog_group_flushes_total", &labels).absolute(grp.flushes.load(Ordering::Relaxed));
        }
    }
}
