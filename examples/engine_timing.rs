//! A small timing harness for the engine alone (the full comparison with
//! other crates lives in the benchmark program).
//!
//! `cargo run --release --example engine_timing [-- ENTRIES]`
//!
//! Prints: append throughput for 256-byte entries with one fsync per 64
//! entries; bulk ingest; open time of the resulting log; index bytes per
//! entry.

use std::time::Instant;

use anyhow::Result;
use chunklog::{ChunkLog, Config};

fn main() -> Result<()> {
    let total: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(std::env::var("CHUNKLOG_BENCH_DIR").unwrap_or_else(|_| ".".into()))?;
    let cfg = Config::new(dir.path());
    let payload = vec![0xA5u8; 256];

    // 1. 256 B entries, one fsync per 64 entries.
    let log = ChunkLog::open(cfg.clone())?;
    let n = 200_000u64.min(total);
    let t = Instant::now();
    let mut i = 1;
    while i <= n {
        log.append((i..i + 64).map(|k| (k, &payload)))?;
        log.sync()?;
        i += 64;
    }
    let secs = t.elapsed().as_secs_f64();
    let appended = i - 1;
    println!(
        "append 256 B, fsync per 64: {appended} entries in {secs:.2} s = {:.0} entries/s ({:.0} fsyncs/s)",
        appended as f64 / secs,
        appended as f64 / 64.0 / secs
    );

    // 2. Bulk to `total` entries, 1024 per sync.
    let t = Instant::now();
    let mut i = appended + 1;
    while i <= total {
        let end = (i + 1024).min(total + 1);
        log.append((i..end).map(|k| (k, &payload)))?;
        log.sync()?;
        i = end;
    }
    let secs = t.elapsed().as_secs_f64();
    let bulk = total.saturating_sub(appended);
    println!("bulk 256 B, fsync per 1024: {bulk} entries in {secs:.2} s = {:.0} entries/s", bulk as f64 / secs);
    let s = log.stats();
    println!("log: {} entries, {} chunks, {:.1} MiB on disk", s.entries, s.chunks, s.disk_bytes as f64 / 1048576.0);
    log.close()?;

    // 3. Reopen.
    let t = Instant::now();
    let log = ChunkLog::open(cfg)?;
    let open_secs = t.elapsed().as_secs_f64();
    let s = log.stats();
    println!("open of {} entries in {} chunks: {:.1} ms", s.entries, s.chunks, open_secs * 1000.0);
    println!(
        "index memory: {} bytes for {} entries = {:.1} bytes/entry",
        s.index_bytes,
        s.entries,
        s.index_bytes as f64 / s.entries as f64
    );
    assert_eq!(log.get(total)?.as_deref(), Some(payload.as_slice()));
    Ok(())
}
