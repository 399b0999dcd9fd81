//! A format-1 directory taken over by this build, crashed at every I/O
//! step: a frozen fixture from `tests/fixtures/v1/` is copied into the
//! crash-simulating file system and opened (repairing its tail where it
//! needs it); new writes seal its format-1 chunk with a format-1 footer
//! and go on in format-2 chunks, in several groups. A power cut at every
//! I/O step of that (open included), with unsynced writes kept, dropped
//! or torn, or landing page by page out of order (three images a step),
//! must leave a directory
//! that opens, serves every format-1 entry and state, and meets the
//! nothing-lost rule for every group.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chunklog::vfs::Vfs;
use chunklog::{ChunkLog, Config};
use common::hold_flushes;
use common::memfs::{Failure, FaultPlan, MemFs};
use common::model::{GOp, Groups, Op, Rng, apply_g, check_rule_groups, entry_bytes, groups_of, submit_g};

const DIR: &str = "/v1";

fn cfg() -> Config {
    Config::new(DIR).chunk_max_records(8).cache(0, 0)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1").join(name)
}

/// A file system holding a durable copy of fixture `name` in [`DIR`].
fn load(name: &str, fallocate: bool) -> MemFs {
    let fs = if fallocate { MemFs::new() } else { MemFs::without_fallocate() };
    let dir = Path::new(DIR);
    fs.create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}")) {
        let e = e.unwrap();
        let f = fs.create_new(&dir.join(e.file_name())).unwrap();
        f.write_all_at(&std::fs::read(e.path()).unwrap(), 0).unwrap();
        f.sync_data().unwrap();
    }
    fs.sync_dir(dir).unwrap();
    fs
}

/// What the fixture holds, as a clean open of it serves it.
fn start_of(name: &str) -> Groups {
    let log = ChunkLog::open_with_vfs(cfg(), Arc::new(load(name, true))).unwrap();
    let g = groups_of(&log);
    assert!(g.get(&0).is_some_and(|m| !m.entries.is_empty()), "fixture {name} holds entries");
    g
}

/// The new writes: group 0 goes on after its format-1 entries, and two
/// new groups start, with votes, committed markers and a purge of a new
/// group; every second operation ends a flush (held together, then
/// synced), so the format-1 chunk is sealed by the first and later
/// format-2 chunks rotate.
fn new_ops(start: &Groups) -> Vec<GOp> {
    let mut m = start.clone();
    let mut ops = Vec::new();
    let mut rng = Rng(9);
    for seq in 0..24u64 {
        let g = [0, 5, u64::MAX][seq as usize % 3];
        let next = m.get(&g).and_then(|x| x.last).map_or(1, |l| l + 1);
        let op = match seq % 8 {
            3 => Op::Vote(format!("vote {seq}").into_bytes()),
            5 => Op::Committed(Some(format!("committed {seq}").into_bytes())),
            7 if g != 0 => Op::Purge(next - 1),
            _ => Op::Append((next..next + 1 + rng.below(3)).map(|i| (i, entry_bytes(i, seq, 300))).collect()),
        };
        apply_g(&mut m, &(g, op.clone()));
        ops.push((g, op));
    }
    ops
}

/// Opens the fixture's directory on `fs` and submits `ops`, two to a
/// flush. Returns how many operations were submitted and acknowledged.
fn workload(fs: &MemFs, ops: &[GOp]) -> (usize, usize) {
    let Ok(log) = ChunkLog::open_with_vfs(cfg(), Arc::new(fs.clone())) else { return (0, 0) };
    let (mut submitted, mut acked) = (0, 0);
    for pair in ops.chunks(2) {
        let gate = hold_flushes(&log);
        for op in pair {
            if submit_g(&log, op).is_err() {
                return (submitted, acked);
            }
            submitted += 1;
        }
        drop(gate);
        if log.sync().is_err() {
            break;
        }
        acked = submitted;
    }
    (submitted, acked)
}

/// Format-1 chunks and format-2 chunks of `fs`'s directory.
fn versions(fs: &MemFs) -> (usize, usize) {
    let mut v = (0, 0);
    for (_, bytes) in fs.files(Path::new(DIR)) {
        match chunklog::format::decode_header(&bytes[..bytes.len().min(64)]).map(|h| h.codec.version) {
            Ok(1) => v.0 += 1,
            Ok(_) => v.1 += 1,
            Err(_) => {}
        }
    }
    v
}

fn sweep(name: &str) -> (u64, u64) {
    let start = start_of(name);
    let ops = new_ops(&start);
    let v1 = start[&0].clone();
    // A clean run: the format-1 chunk is sealed, format-2 chunks follow.
    let dry = load(name, true);
    let before = dry.ops();
    let (submitted, acked) = workload(&dry, &ops);
    assert_eq!((submitted, acked), (ops.len(), ops.len()), "{name}: a clean run acknowledges everything");
    let total = dry.ops() - before;
    let (old, new) = versions(&dry);
    assert!(old >= 1 && new >= 2, "{name}: {old} format-1 and {new} format-2 chunks after the writes");
    let mut cases = 0;
    for step in 0..=total {
        // One image with unsynced writes kept, dropped or torn, two with
        // pages landing out of order; with and without fallocate in turn.
        for variant in 0..3u64 {
            let fs = load(name, (step + variant) % 2 == 0);
            fs.set_plan(Some(FaultPlan { only: None, nth: step, failure: Failure::Crash, sticky: true }));
            let (submitted, acked) = workload(&fs, &ops);
            let mut rng = Rng(step * 8 + variant);
            let image = if variant == 0 { fs.crash_image(&mut rng) } else { fs.crash_image_out_of_order(&mut rng) };
            let what = format!("{name}: crash at I/O step {step} of {total}, variant {variant}");
            let log = ChunkLog::open_with_vfs(cfg(), Arc::new(image))
                .unwrap_or_else(|e| panic!("{what}: reopen after the crash failed: {e}"));
            let got = groups_of(&log);
            check_rule_groups(&got, &start, &ops[..submitted], acked).unwrap_or_else(|e| panic!("{what}: {e}"));
            // Every format-1 entry is served, whatever came after it.
            let g0 = &got[&0];
            for (i, b) in &v1.entries {
                assert_eq!(g0.entries.get(i), Some(b), "{what}: format-1 entry {i}");
            }
            assert_eq!(g0.purged, v1.purged, "{what}: format-1 purge point");
            cases += 1;
        }
    }
    (total, cases)
}

#[test]
fn one_unsealed_format_1_chunk() {
    let (steps, cases) = sweep("one_chunk");
    println!("one_chunk: {steps} I/O steps, {cases} crash images");
}

#[test]
fn eight_format_1_chunks() {
    let (steps, cases) = sweep("sealed_chunks");
    println!("sealed_chunks: {steps} I/O steps, {cases} crash images");
}

/// Open first cuts the torn format-1 tail: crashes during that repair too.
#[test]
fn torn_format_1_tail() {
    let (steps, cases) = sweep("torn_tail");
    println!("torn_tail: {steps} I/O steps, {cases} crash images");
}

#[test]
fn truncated_and_purged_format_1_log() {
    let (steps, cases) = sweep("truncate_purge");
    println!("truncate_purge: {steps} I/O steps, {cases} crash images");
}
