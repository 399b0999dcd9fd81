//! Opens a store in a temporary directory, appends, reopens, reads back and
//! prints what it did.
//!
//! `cargo run --release --example quickstart`

use std::time::Instant;

use anyhow::Result;
use chunklog::{ChunkLog, Config};

fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = Config::new(dir.path()).chunk_max_size(1 << 20);
    println!("chunklog quickstart in {}", dir.path().display());

    let log = ChunkLog::open(cfg.clone())?;
    log.save_vote(b"term=1 voted_for=node-1")?;
    let n = 10_000u64;
    let t = Instant::now();
    for batch in (1..=n).collect::<Vec<_>>().chunks(64) {
        log.append(batch.iter().map(|&i| (i, format!("entry {i}: {}", "x".repeat(200)))))?;
        log.sync()?;
    }
    let took = t.elapsed();
    println!("appended {n} entries of ~210 B, one fsync per 64 entries, in {took:.2?}");
    log.save_committed(Some(b"committed=9000"))?;
    log.purge(2_000, b"purged=2000")?;
    log.truncate_after(Some(9_500))?;
    log.sync()?;
    let s = log.stats();
    println!("before reopen: {} chunk files, {} bytes on disk, {} fsyncs", s.chunks, s.disk_bytes, s.fsyncs);
    log.close()?;

    let t = Instant::now();
    let log = ChunkLog::open(cfg)?;
    let st = log.state();
    println!("reopened in {:.2?}", t.elapsed());
    println!(
        "state: entries {:?}..={:?}, purged at {:?}, vote {:?}, committed {:?}",
        st.first_index,
        st.last_index,
        st.purged.as_ref().map(|p| p.index),
        st.vote.as_deref().map(String::from_utf8_lossy),
        st.committed.as_deref().map(String::from_utf8_lossy),
    );
    let e = log.get(9_500)?.expect("entry 9500 survives");
    println!("entry 9500 reads back: {:?}...", String::from_utf8_lossy(&e[..12]));
    assert_eq!(log.get(9_501)?, None, "truncated entries stay gone");
    assert_eq!(log.get(2_000)?, None, "purged entries stay gone");
    let all = log.read_range(..)?;
    assert_eq!(all.len(), 7_500);
    println!("read back all {} entries, every CRC checked", all.len());
    Ok(())
}
