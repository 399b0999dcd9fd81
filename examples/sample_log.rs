//! Writes a small log into a directory, to try the `chunklog` tool on:
//! `cargo run --example sample_log -- /tmp/sample-log`.

use anyhow::{Context, Result};
use chunklog::{ChunkLog, Config};

fn main() -> Result<()> {
    let dir = std::env::args().nth(1).context("usage: sample_log DIR")?;
    let log = ChunkLog::open(Config::new(&dir).chunk_max_records(100))?;
    log.save_vote(b"term=3 node=1")?;
    for batch in 0..5u64 {
        log.append((batch * 60 + 1..=batch * 60 + 60).map(|i| (i, format!("entry {i}"))))?;
        log.sync()?;
    }
    log.purge(150, b"purged at 150")?;
    log.save_committed(Some(b"committed=290"))?;
    log.close()?;
    println!("wrote a sample log to {dir}");
    Ok(())
}
