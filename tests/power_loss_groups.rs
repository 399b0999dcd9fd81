//! Simulated power loss with many groups in one store, with pages landing
//! out of order: a workload over 10 groups (appends, votes, committed,
//! truncates, purges, removals; flushes of several records that span
//! several 4 KiB pages) runs on the in-memory file system, which stops at
//! a chosen I/O step; the image a power cut during writeback would leave
//! (each unsynced write's pages landed or not, independently) is reopened.
//! Reopen must succeed (a power cut can produce the image, so refusing it
//! would strand the log) and meet the nothing-lost rule for every group at
//! once: what is recovered is the global sequence of submitted operations
//! cut after some point at or past the last acknowledged one.
//!
//! Each test counts the images whose newest chunk has damage followed by
//! valid frames (the pre-format-2 rule refused every one of those), and
//! the reopens that cut a flush before its damaged offset (where that
//! flush began).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chunklog::inspect::{self, RepairAction};
use chunklog::{ChunkLog, Config};
use common::memfs::{Failure, FaultPlan, MemFs};
use common::model::{GOp, Groups, Op, Rng, apply_g, check_rule_groups, entry_bytes, gen_gop, groups_of, submit_g};
use common::{hold_flushes, scale};

/// Ten groups: 0, small ids and ids that take every varint length.
const IDS: [u64; 10] = [0, 1, 2, 3, 7, 1000, 1 << 21, 1 << 35, 1 << 56, u64::MAX];

fn cfg() -> Config {
    // 48 KiB chunks: a rotation every few flushes (and preallocation steps
    // of 48 KiB, not 2 MiB).
    Config::new("/db").chunk_max_size(48 << 10).chunk_max_records(400).cache(0, 0)
}

/// The next operation: [`gen_gop`] with entries of 200..2200 bytes, so a
/// flush of a few operations spans several pages.
fn next_op(rng: &mut Rng, m: &Groups, seq: u64) -> GOp {
    let (g, op) = gen_gop(rng, m, &IDS, seq, 25);
    let op = match op {
        Op::Append(es) => {
            let len = 200 + rng.below(2000) as usize;
            Op::Append(es.into_iter().map(|(i, _)| (i, entry_bytes(i, seq, len))).collect())
        }
        op => op,
    };
    (g, op)
}

/// How the workload waits for durability.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Acks {
    /// One flush of every `k` operations (the flush thread is held while
    /// they are submitted), then `sync`: flush boundaries do not depend on
    /// timing, so I/O step `n` is the same step in every run (but for the
    /// purge thread's unlinks).
    SyncEvery(u64),
    /// A flush callback after random operations; the flush thread groups
    /// whatever is queued.
    Callbacks,
}

/// Runs `n` operations. Returns them and how many were acknowledged.
fn workload(fs: &MemFs, seed: u64, n: u64, acks: Acks) -> (Vec<GOp>, usize) {
    let Ok(log) = ChunkLog::open_with_vfs(cfg(), Arc::new(fs.clone())) else {
        return (Vec::new(), 0);
    };
    let mut rng = Rng(seed);
    let mut m = Groups::new();
    let mut ops = Vec::new();
    let acked = Arc::new(AtomicUsize::new(0));
    let gated = matches!(acks, Acks::SyncEvery(_));
    let mut gate = gated.then(|| hold_flushes(&log));
    for seq in 0..n {
        let op = next_op(&mut rng, &m, seq);
        if submit_g(&log, &op).is_err() {
            break;
        }
        apply_g(&mut m, &op);
        ops.push(op);
        let upto = ops.len();
        match acks {
            Acks::SyncEvery(k) if seq % k == k - 1 => {
                drop(gate.take());
                if log.sync().is_err() {
                    break;
                }
                acked.fetch_max(upto, Ordering::SeqCst);
                gate = Some(hold_flushes(&log));
            }
            Acks::Callbacks if rng.below(4) == 0 => {
                let acked = acked.clone();
                log.flush(Box::new(move |r| {
                    if r.is_ok() {
                        acked.fetch_max(upto, Ordering::SeqCst);
                    }
                }));
            }
            _ => {}
        }
    }
    drop(gate);
    drop(log); // joins the flush thread: every callback has fired
    let acked = acked.load(Ordering::SeqCst);
    (ops, acked)
}

/// What the cuts exercised.
#[derive(Debug, Default)]
struct Tally {
    images: u64,
    /// Images whose newest chunk has a damaged stretch.
    damaged: u64,
    /// ... followed by valid frames: refused before format 2's rule.
    valid_after_damage: u64,
    /// Reopens that cut the newest chunk before its first damaged offset
    /// (the unacknowledged flush from where it began).
    cut_before_damage: u64,
    /// Acknowledged operations verified, over all images.
    acked_ops: u64,
}

/// Looks at the newest chunk of `image` as the offline checker does:
/// where its first damaged frame is, whether valid frames follow it, and
/// where open would cut it.
fn classify(image: &MemFs, t: &mut Tally) {
    let dir = Path::new("/db");
    t.images += 1;
    let files = inspect::chunk_files(image, dir).unwrap();
    let Some((id, path)) = files.last().cloned() else { return };
    let mut infos = Vec::new();
    let mut problems = Vec::new();
    inspect::scan_chunk(image, id, &path, true, &mut problems, |r, _| infos.push(r.clone())).unwrap();
    let Some(bad) = infos.iter().position(|r| !r.crc_ok || r.kind.is_none()) else { return };
    t.damaged += 1;
    if infos[bad + 1..].iter().any(|r| r.crc_ok && r.kind.is_some()) {
        t.valid_after_damage += 1;
    }
    let report = inspect::check(image, dir, |_| {}).unwrap();
    let damaged_at = infos[bad].offset;
    let cut_early = report
        .repairs
        .iter()
        .any(|r| matches!(r, RepairAction::Cut { path: p, at, .. } if *p == path && *at < damaged_at));
    t.cut_before_damage += u64::from(cut_early);
}

fn names(fs: &MemFs) -> Vec<(String, usize)> {
    fs.files(Path::new("/db")).into_iter().map(|(p, b)| (p.display().to_string(), b.len())).collect()
}

/// Reopens `image`, checks the rule for every group, and that the store
/// keeps working: a new entry in one group and a removal of another are
/// durable across one more reopen.
fn reopen_and_check(image: MemFs, ops: &[GOp], acked: usize, what: &str, t: &mut Tally) {
    classify(&image, t);
    let log = ChunkLog::open_with_vfs(cfg(), Arc::new(image.clone()))
        .unwrap_or_else(|e| panic!("{what}: reopen after power loss failed: {e}\nfiles: {:?}", names(&image)));
    let mut recovered = groups_of(&log);
    check_rule_groups(&recovered, &Groups::new(), ops, acked).unwrap_or_else(|e| panic!("{what}: {e}"));
    t.acked_ops += acked as u64;
    let g = IDS[ops.len() % IDS.len()];
    let next = recovered.get(&g).and_then(|m| m.last).map_or(1, |l| l + 1);
    let after = (g, Op::Append(vec![(next, b"after".to_vec())]));
    submit_g(&log, &after).unwrap();
    apply_g(&mut recovered, &after);
    if let Some(&other) = recovered.keys().find(|&&o| o != g) {
        let remove = (other, Op::RemoveGroup);
        submit_g(&log, &remove).unwrap();
        apply_g(&mut recovered, &remove);
    }
    log.sync().unwrap_or_else(|e| panic!("{what}: sync after reopen: {e}"));
    let fs = image.current_image();
    drop(log);
    let log = ChunkLog::open_with_vfs(cfg(), Arc::new(fs)).unwrap_or_else(|e| panic!("{what}: second reopen: {e}"));
    assert_eq!(groups_of(&log), recovered, "{what}: writes after the repair");
}

#[test]
fn out_of_order_pages_at_every_io_step_of_a_multi_group_workload() {
    let acks = Acks::SyncEvery(4);
    let dry = MemFs::new();
    let (dry_ops, dry_acked) = workload(&dry, 5, 120, acks);
    assert_eq!(dry_acked, dry_ops.len(), "a clean run acknowledges everything");
    let groups: std::collections::BTreeSet<u64> = dry_ops.iter().map(|(g, _)| *g).collect();
    assert!(groups.len() >= 8, "{} groups", groups.len());
    assert!(dry_ops.iter().any(|(_, op)| *op == Op::RemoveGroup), "the workload removes groups");
    let total = dry.ops();
    let variants = 6 * scale();
    let mut t = Tally::default();
    for step in 0..=total {
        for variant in 0..variants {
            let fs = MemFs::new();
            fs.set_plan(Some(FaultPlan { only: None, nth: step, failure: Failure::Crash, sticky: true }));
            let (ops, acked) = workload(&fs, 5, 120, acks);
            let image = fs.crash_image_out_of_order(&mut Rng(step * 1000 + variant));
            reopen_and_check(image, &ops, acked, &format!("crash at I/O step {step}, variant {variant}"), &mut t);
        }
    }
    println!("{total} I/O steps x {variants} out-of-order cuts: {t:?}");
    assert!(t.valid_after_damage > 0 && t.cut_before_damage > 0, "the out-of-order rule was exercised: {t:?}");
}

#[test]
fn seeded_out_of_order_power_cuts_with_flush_callbacks() {
    let rounds = 300 * scale();
    let mut t = Tally::default();
    for seed in 0..rounds {
        let dry = MemFs::without_fallocate();
        workload(&dry, 1000 + seed, 80, Acks::Callbacks);
        let total = dry.ops();
        let mut rng = Rng(seed ^ 0xFACE);
        // Half the rounds without fallocate: pages that did not land are
        // then past the end of the file or holes, not preallocated zeros.
        let fs = if seed % 2 == 0 { MemFs::new() } else { MemFs::without_fallocate() };
        fs.set_plan(Some(FaultPlan { only: None, nth: rng.below(total + 2), failure: Failure::Crash, sticky: true }));
        let (ops, acked) = workload(&fs, 1000 + seed, 80, Acks::Callbacks);
        let image = fs.crash_image_out_of_order(&mut rng);
        reopen_and_check(image, &ops, acked, &format!("seed {seed}"), &mut t);
    }
    println!("{rounds} seeded out-of-order power cuts: {t:?}");
    assert!(t.acked_ops > 0, "{t:?}");
    assert!(t.valid_after_damage > 0, "{t:?}");
}

/// A process crash (SIGKILL: every write still in the page cache, none
/// made durable by it) at every I/O step, then a reopen, which must meet
/// the rule for every group and make what it reports durable: a power
/// cut right after the restart (pages landing out of order) must not take
/// any of it back. Covers crashes while a chunk is being created (a
/// newest chunk without its header and checkpoint) in a store of groups.
#[test]
fn process_crash_at_every_io_step_then_out_of_order_power_cut() {
    let acks = Acks::SyncEvery(4);
    let mut t = Tally::default();
    let mut crashes = 0;
    for seed in 11..11 + scale() {
        let dry = MemFs::without_fallocate();
        workload(&dry, seed, 80, acks);
        for step in 0..=dry.ops() {
            crash_restart_cut(seed, step, acks, &mut t);
            crashes += 1;
        }
    }
    println!("{crashes} process crashes, each followed by 2 out-of-order power cuts: {t:?}");
}

/// One process crash at `step`, the restart, and two power cuts after it.
fn crash_restart_cut(seed: u64, step: u64, acks: Acks, t: &mut Tally) {
    let fs = MemFs::without_fallocate();
    fs.set_plan(Some(FaultPlan { only: None, nth: step, failure: Failure::Crash, sticky: true }));
    let (ops, acked) = workload(&fs, seed, 80, acks);
    let what = format!("seed {seed}, process crash at I/O step {step}");
    let restarted = fs.process_crash_image();
    classify(&restarted, t);
    let log = ChunkLog::open_with_vfs(cfg(), Arc::new(restarted.clone()))
        .unwrap_or_else(|e| panic!("{what}: reopen after the process crash failed: {e}"));
    let reported = groups_of(&log);
    check_rule_groups(&reported, &Groups::new(), &ops, acked).unwrap_or_else(|e| panic!("{what}: {e}"));
    t.acked_ops += acked as u64;
    log.sync().unwrap_or_else(|e| panic!("{what}: {e}"));
    common::eventually("leftover purge done", || log.stats().purges_pending == 0);
    restarted.set_plan(Some(FaultPlan { only: None, nth: 0, failure: Failure::Crash, sticky: true }));
    drop(log);
    for variant in 0..2 {
        let image = restarted.crash_image_out_of_order(&mut Rng(step * 10 + variant));
        let log = ChunkLog::open_with_vfs(cfg(), Arc::new(image.clone())).unwrap_or_else(|e| {
            panic!("{what}, variant {variant}: reopen after the power cut failed: {e}\nfiles: {:?}", names(&image))
        });
        assert_eq!(groups_of(&log), reported, "{what}, variant {variant}: the power cut took back reported state");
    }
}
