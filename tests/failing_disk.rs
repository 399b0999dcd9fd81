//! Failing disk: fail the Nth I/O operation of a workload, once and from
//! then on, for every N: a short write then ENOSPC, EIO from fdatasync, a
//! failed create, unlink or directory sync. Every failure must surface as
//! a typed error without a panic (a failed rename too: recycling purged
//! chunk files); no flush callback may report success
//! after a failed fsync; the store is poisoned by a failed write or sync;
//! a partial record is never served; reopening meets the "nothing lost" rule.

mod common;

use std::sync::{Arc, Mutex};

use chunklog::{ChunkLog, Config, Error};
use common::memfs::{Failure, FaultPlan, IoOp, MemFs};
use common::model::{Model, Op, Rng, check_rule, gen_op};

fn cfg() -> Config {
    // Small chunks: rotations, and preallocation steps of 4 KiB, not 2 MiB.
    Config::new("/db").chunk_max_records(5).chunk_max_size(4096).cache(0, 0).reclaim_percent(0)
}

/// A flush callback's result and how many operations it covered.
type Acked = (usize, Result<(), String>);

struct Outcome {
    ops: Vec<Op>,
    acked: usize,
    results: Vec<Result<(), String>>,
}

fn workload(fs: &MemFs, seed: u64) -> Result<Outcome, Error> {
    let log = ChunkLog::open_with_vfs(cfg(), Arc::new(fs.clone()))?;
    let mut rng = Rng(seed);
    let mut m = Model::default();
    let mut ops = Vec::new();
    let results: Arc<Mutex<Vec<Acked>>> = Arc::default();
    for seq in 0..30 {
        let op = match (seq, m.last) {
            // A deep purge, so whole chunks are deleted (and unlinks fail).
            (20 | 27, Some(last)) if last > 2 && m.purged.as_ref().is_none_or(|p| p.0 < last - 2) => {
                Op::Purge(last - 2)
            }
            _ => gen_op(&mut rng, &m, seq),
        };
        match Model::submit(&log, &op) {
            Ok(()) => {}
            Err(Error::Poisoned { .. }) => break,
            Err(e) => panic!("submit failed with an untyped or unexpected error: {e:?}"),
        }
        m.apply(&op);
        ops.push(op);
        let upto = ops.len();
        let r = results.clone();
        log.flush(Box::new(move |res| {
            let res = res.map_err(|e| {
                assert!(matches!(e, Error::Io { .. } | Error::Poisoned { .. }), "callback error is typed: {e:?}");
                e.to_string()
            });
            r.lock().unwrap().push((upto, res));
        }));
    }
    let end = log.sync();
    // Whatever is readable is exactly what was submitted: a partial record
    // is never served.
    match log.read_range(..) {
        Ok(entries) => {
            for (i, b) in entries {
                assert_eq!(Some(&b.to_vec()), m.entries.get(&i), "entry {i} served wrong bytes");
            }
        }
        // Entries queued but never written fail with the poisoning error,
        // never as corruption of the zeros where they would have been.
        Err(e) => assert!(matches!(e, Error::Poisoned { .. } | Error::Io { .. }), "{e:?}"),
    }
    let poisoned = log.is_poisoned();
    if end.is_ok() {
        assert!(!poisoned);
    }
    drop(log);
    let results: Vec<_> = std::mem::take(&mut *results.lock().unwrap());
    let acked = results.iter().filter(|(_, r)| r.is_ok()).map(|(u, _)| *u).max().unwrap_or(0);
    if fs.fired() && poisoned {
        assert!(results.iter().any(|(_, r)| r.is_err()) || end.is_err(), "a poisoned store reported a failure");
    }
    Ok(Outcome { ops, acked, results: results.into_iter().map(|(_, r)| r).collect() })
}

fn run(only: Option<IoOp>, failure: Failure) -> (u64, u64) {
    let dry = MemFs::new();
    workload(&dry, 11).expect("clean run");
    let total = match only {
        Some(op) => dry.ops_of(op),
        None => dry.ops(),
    };
    let (mut cases, mut fired) = (0, 0);
    for sticky in [false, true] {
        for nth in 0..=total {
            let fs = MemFs::new();
            fs.set_plan(Some(FaultPlan { only, nth, failure, sticky }));
            let what = format!("{only:?} {failure:?} at #{nth} (sticky {sticky})");
            let outcome = match workload(&fs, 11) {
                Ok(o) => o,
                Err(e) => {
                    // Only open itself can fail here, with a typed I/O error.
                    assert!(matches!(e, Error::Io { .. }), "{what}: open failed with {e:?}");
                    Outcome { ops: Vec::new(), acked: 0, results: Vec::new() }
                }
            };
            // No success after a failure, in callback order.
            if let Some(first_err) = outcome.results.iter().position(Result::is_err) {
                assert!(outcome.results[first_err..].iter().all(Result::is_err), "{what}: Ok callback after a failure");
            }
            fired += u64::from(fs.fired());
            // Reopen what is on the (healthy again) disk.
            let image = fs.current_image();
            let log = ChunkLog::open_with_vfs(cfg(), Arc::new(image))
                .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
            check_rule(&Model::of(&log), &Model::default(), &outcome.ops, outcome.acked)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            cases += 1;
        }
    }
    println!("{only:?} {failure:?}: {cases} cases, {fired} with the fault fired");
    assert!(fired > 0, "the fault plan hit something");
    (cases, fired)
}

/// A failed rename: moving a purged chunk into the recycling pool (the
/// chunk is deleted instead) or reusing a pooled file as a new chunk (the
/// store is poisoned, as when creating a chunk fails).
#[test]
fn failed_rename() {
    let (cases, _) = run(Some(IoOp::Rename), Failure::Eio);
    assert!(cases > 4, "the workload recycles chunk files: {cases} cases");
}

#[test]
fn short_write_then_enospc() {
    run(Some(IoOp::Write), Failure::ShortWriteEnospc);
}

#[test]
fn eio_from_fdatasync_poisons() {
    run(Some(IoOp::Sync), Failure::Eio);
}

#[test]
fn failed_create() {
    run(Some(IoOp::Create), Failure::Eio);
}

#[test]
fn failed_unlink_does_not_lose_or_poison() {
    run(Some(IoOp::Remove), Failure::Eio);
}

#[test]
fn failed_directory_sync() {
    run(Some(IoOp::SyncDir), Failure::Eio);
}

#[test]
fn every_io_operation_fails_in_turn() {
    run(None, Failure::Eio);
}

#[test]
fn a_failed_fsync_is_never_retried() {
    let fs = MemFs::new();
    let log = ChunkLog::open_with_vfs(cfg(), Arc::new(fs.clone())).unwrap();
    log.append([(1, b"a")]).unwrap();
    log.sync().unwrap();
    fs.set_plan(Some(FaultPlan { only: Some(IoOp::Sync), nth: 0, failure: Failure::Eio, sticky: false }));
    log.append([(2, b"b")]).unwrap();
    // The flush thread may hit the failure before or after sync() registers:
    // either way the caller learns that the fsync failed.
    match log.sync() {
        Err(Error::Io { op, .. }) => assert_eq!(op, "fdatasync"),
        Err(Error::Poisoned { cause, .. }) => assert!(cause.contains("fdatasync"), "{cause}"),
        other => panic!("expected a failed sync, got {other:?}"),
    }
    let syncs = fs.ops_of(IoOp::Sync);
    // The next sync would succeed, but the store refuses instead of retrying.
    assert!(log.is_poisoned());
    assert!(matches!(log.append([(3, b"c")]), Err(Error::Poisoned { .. })));
    assert!(matches!(log.sync(), Err(Error::Poisoned { .. })));
    assert!(matches!(log.save_vote(b"v"), Err(Error::Poisoned { .. })));
    assert_eq!(fs.ops_of(IoOp::Sync), syncs, "no fsync after the failed one");
    // Reads still serve exactly what was appended.
    assert_eq!(log.get(1).unwrap().unwrap().as_ref(), b"a");
}
