//! Disk full for real: a child process under `RLIMIT_FSIZE` (SIGXFSZ
//! ignored) hits EFBIG in the middle of an append; the store reports a typed
//! error and poisons itself; reopening works and the rule holds. Also with
//! several appends per sync, so the limit cuts a vectored write (one
//! buffer per append) short partway through its buffers.

mod common;

use std::time::Duration;

use chunklog::{ChunkLog, Config, Error};
use common::model::{Model, Op, check_rule, entry_bytes};
use common::*;

const CHILD: &str = "CHUNKLOG_EFBIG_CHILD";
/// `appends per sync,entry bytes` of the child's workload.
const SHAPE: &str = "CHUNKLOG_EFBIG_SHAPE";
const LIMIT: u64 = 200 * 1024;

fn cfg(dir: &str) -> Config {
    // Chunks larger than the file size limit: the limit bites mid-chunk.
    Config::new(dir).chunk_max_size(4 << 20).cache(0, 0)
}

fn ops(len: usize) -> Vec<Op> {
    (1..=2000u64).map(|i| Op::Append(vec![(i, entry_bytes(i, 0, len))])).collect()
}

/// `(appends per sync, entry bytes)`.
fn shape() -> (usize, usize) {
    let s = std::env::var(SHAPE).unwrap_or_default();
    let (per_sync, len) = s.split_once(',').unwrap_or(("1", "300"));
    (per_sync.parse().unwrap(), len.parse().unwrap())
}

/// Entry point of the child process (a no-op in a normal test run).
#[test]
fn child_entry_point() {
    let Ok(dir) = std::env::var(CHILD) else { return };
    #[allow(unsafe_code)]
    // SAFETY: plain libc calls on this single-threaded child before any
    // other thread exists; the structs are fully initialised.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit { rlim_cur: LIMIT, rlim_max: LIMIT };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
    let (per_sync, len) = shape();
    let log = ChunkLog::open(cfg(&dir)).unwrap();
    for (k, op) in ops(len).iter().enumerate() {
        if let Err(e) = Model::submit(&log, op) {
            println!("refused {e}");
            break;
        }
        let n = k + 1;
        if n % per_sync != 0 {
            continue;
        }
        match log.sync() {
            Ok(()) => println!("ack {n}"),
            Err(e) => {
                let typed = matches!(e, Error::Io { .. } | Error::Poisoned { .. });
                println!("failed typed={typed} poisoned={} {e}", log.is_poisoned());
                break;
            }
        }
    }
    std::process::exit(0);
}

#[test]
fn efbig_mid_append_then_reopen() {
    efbig_then_reopen(1, 300, 100);
}

/// Eight appends of 3,000 bytes per sync: each flush writes eight buffers
/// with one vectored write, and the limit falls inside one of them. The
/// write must carry on after the short write and fail with EFBIG, never
/// report the flush done with its tail missing.
#[test]
fn efbig_mid_vectored_write_then_reopen() {
    efbig_then_reopen(8, 3000, 16);
}

fn efbig_then_reopen(per_sync: usize, len: usize, min_acked: usize) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let env = [(CHILD, d.clone()), (SHAPE, format!("{per_sync},{len}"))];
    let mut child = ChildGuard(spawn_child("child_entry_point", &env));
    let rx = lines(&mut child.0);
    let mut acked = 0;
    let mut failure = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        if let Some(n) = line.strip_prefix("ack ") {
            acked = n.parse().unwrap();
        } else if line.starts_with("failed") || line.starts_with("refused") {
            failure = Some(line);
        }
    }
    let failure = failure.expect("the child hit the file size limit");
    assert!(failure.contains("typed=true poisoned=true"), "{failure}");
    assert!(failure.contains("File too large") || failure.contains("os error 27"), "EFBIG: {failure}");
    assert!(acked > min_acked, "{acked} appends acknowledged before the limit");
    let log = ChunkLog::open(cfg(&d)).expect("reopen after EFBIG");
    let k = check_rule(&Model::of(&log), &Model::default(), &ops(len), acked).unwrap();
    println!("EFBIG after {acked} acknowledged appends; recovered {k}");
    // Space is back (no limit in this process): the store keeps going.
    let next = log.state().last_index.unwrap() + 1;
    log.append([(next, b"more")]).unwrap();
    log.sync().unwrap();
}
