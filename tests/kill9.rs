//! Killed process: a child appends, votes, truncates, purges and rotates
//! chunks, printing one line per acknowledged operation; the test kills it
//! with SIGKILL at random moments, reopens, and checks the "nothing lost"
//! rule against the printed acknowledgements. One directory lives through
//! every round, so each round also recovers the previous round's crash.

mod common;

use std::time::{Duration, Instant};

use chunklog::{ChunkLog, Config};
use common::model::{Model, Rng, check_rule, plan};
use common::*;

const CHILD: &str = "CHUNKLOG_KILL9_CHILD";
const MAX_OPS: u64 = 300;

fn cfg(dir: &str) -> Config {
    Config::new(dir).chunk_max_records(8).cache(0, 0)
}

/// Entry point of the child process (a no-op in a normal test run).
#[test]
fn child_entry_point() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let (dir, seed) = spec.split_once('|').unwrap();
    let log = ChunkLog::open(cfg(dir)).unwrap();
    let start = Model::of(&log);
    println!("ready");
    for (k, (op, flush)) in plan(&start, seed.parse().unwrap(), MAX_OPS).into_iter().enumerate() {
        Model::submit(&log, &op).unwrap();
        if flush {
            let n = k + 1;
            log.flush(Box::new(move |r| {
                if r.is_ok() {
                    println!("ack {n}");
                }
            }));
        }
    }
    log.sync().unwrap();
    println!("done");
    std::process::exit(0);
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let rounds = 200 * scale();
    let mut rng = Rng(42);
    let (mut killed_mid_run, mut acked_total, mut recycled_chunks) = (0, 0, 0);
    for round in 0..rounds {
        let start = Model::of(&ChunkLog::open(cfg(&d)).unwrap());
        let mut child = ChildGuard(spawn_child("child_entry_point", &[(CHILD, format!("{d}|{round}"))]));
        let rx = lines(&mut child.0);
        // Wait for "ready" (libtest prints a header first).
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut ready = false;
        while !ready && Instant::now() < deadline {
            ready = rx.recv_timeout(Duration::from_millis(100)).is_ok_and(|l| l == "ready");
        }
        assert!(ready, "round {round}: child did not start");
        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        let mut acked = 0;
        let mut done = false;
        for line in rx.iter() {
            if let Some(n) = line.strip_prefix("ack ") {
                acked = acked.max(n.parse::<usize>().unwrap());
            }
            done |= line == "done";
        }
        killed_mid_run += u64::from(!done);
        acked_total += acked;
        let ops: Vec<_> = plan(&start, round, MAX_OPS).into_iter().map(|(op, _)| op).collect();
        let log = ChunkLog::open(cfg(&d)).unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        check_rule(&Model::of(&log), &start, &ops, acked).unwrap_or_else(|e| panic!("round {round}: {e}"));
        recycled_chunks += recycled_in(dir.path());
    }
    // The kills met chunks written into recycled files (purged chunk files
    // reused), not only new ones.
    assert!(recycled_chunks > 0, "no round saw a recycled chunk file");
    println!(
        "{rounds} SIGKILL rounds, {killed_mid_run} killed mid-run, {acked_total} acknowledged operations checked, \
         {recycled_chunks} recycled chunks seen after the kills"
    );
    assert!(killed_mid_run > rounds / 4, "most rounds kill the child while it works");
}

/// Chunk files in `dir` whose header says they were written into a
/// recycled file.
fn recycled_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            chunklog::format::parse_chunk_file_name(&e.file_name().to_string_lossy())?;
            let bytes = std::fs::read(e.path()).ok()?;
            chunklog::format::decode_header(&bytes).ok().filter(|h| h.recycled)
        })
        .count()
}
