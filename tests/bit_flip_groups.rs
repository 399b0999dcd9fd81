//! The bit-flip, torn-tail and zero-tail rows of the fault matrix for
//! format-2 chunks of a store with many groups: checkpoints and footers
//! that list several groups (footers with runs for each), frames of
//! several groups, flushes of several records. Every verdict is checked
//! per group against the model of the exact prefix of operations that
//! must survive.
//!
//! The store is built from single-record operations (single-entry
//! appends, votes, committed, truncates, purges, removals), so that the
//! `k`-th record after the newest chunk's checkpoint is the `k`-th of that
//! chunk's operations, and what a cut keeps is known exactly.

mod common;

use std::path::Path;

use chunklog::format::RecordKind;
use chunklog::{ChunkLog, Config, Error};
use common::model::{GOp, Groups, Model, Op, Rng, apply_g, gen_gop, groups_of, submit_g};
use common::*;

const IDS: [u64; 6] = [0, 1, 2, 300, 1 << 40, u64::MAX];
const NOPS: u64 = 425;
const HDR: u64 = chunklog::format::FRAME_HEADER_LEN as u64;

/// A built store: its config, and the models after each operation
/// (`models[k]`: after the first `k`).
struct Built {
    cfg: Config,
    models: Vec<Groups>,
}

/// Runs [`NOPS`] single-record operations over six groups in flushes of 1
/// to 4 of them (each acknowledged before the next begins), in chunks of
/// 40 records.
fn build(dir: &Path) -> Built {
    let cfg = small(dir, 40);
    let log = open(&cfg);
    let mut rng = Rng(21);
    let mut m = Groups::new();
    let mut models = vec![m.clone()];
    let mut until_sync = 1;
    let mut gate = Some(hold_flushes(&log));
    for seq in 0..NOPS {
        let (g, op) = gen_gop(&mut rng, &m, &IDS, seq, 60);
        // One record per operation: single-entry appends.
        let op: GOp = match op {
            Op::Append(mut es) => {
                es.truncate(1);
                (g, Op::Append(es))
            }
            op => (g, op),
        };
        submit_g(&log, &op).unwrap();
        apply_g(&mut m, &op);
        models.push(m.clone());
        until_sync -= 1;
        // The last flush holds four records, so that damage inside it
        // (not in its first record) is cut from where it began.
        let last_four = seq + 5 == NOPS;
        if until_sync == 0 || last_four {
            // Everything since the gate closed goes into one flush.
            drop(gate.take());
            log.sync().unwrap();
            until_sync = if last_four { 4 } else { 1 + rng.below(4) };
            gate = Some(hold_flushes(&log));
        }
    }
    drop(gate);
    log.close().unwrap();
    let b = Built { cfg, models };
    // The built store opens to the final model.
    assert_eq!(&groups_of(&open(&b.cfg)), b.models.last().unwrap());
    b
}

/// Opens `cfg` and checks every group against `want`: state, and every
/// entry read back.
fn open_and_compare(cfg: &Config, want: &Groups, what: &str) -> ChunkLog {
    let log = ChunkLog::open(cfg.clone()).unwrap_or_else(|e| panic!("{what}: refused: {e}"));
    assert_eq!(&groups_of(&log), want, "{what}");
    log
}

/// Records (the checkpoint excluded) in the chunks before `newest`'s.
fn ops_before(models: &[Groups], newest: &Path) -> usize {
    let records = frames(newest).iter().filter(|f| f.kind != RecordKind::Checkpoint).count();
    models.len() - 1 - records
}

fn is_refusal_of(e: &Error, chunk: &Path) -> bool {
    matches!(e, Error::Corruption { chunk: c, .. } if c == chunk)
}

/// Whether the records of the newest chunk that a cut at `at` drops
/// include a purge or a group removal. Once such a record was durable,
/// the chunks it freed were deleted: the state before it may need
/// entries that are gone, and open then rightly refuses (damage to
/// synced records, which no crash leaves) instead of serving a state
/// with entries missing.
fn drops_a_deletion(fr: &[FrameAt], at: u64) -> bool {
    fr.iter().any(|f| f.offset + f.len > at && matches!(f.kind, RecordKind::PurgeUpto | RecordKind::GroupRemoved))
}

fn missing_chunk(e: &Error) -> bool {
    matches!(e, Error::Corruption { reason, .. } if reason.contains("a chunk is missing"))
}

/// Every bit of the frame headers and sampled body bits of each sealed
/// chunk's checkpoint (listing every group) and footer (every group's
/// state and runs), and every trailer bit: a checkpoint flip refuses the
/// open naming that chunk and changes no file; a footer or trailer flip
/// falls back to a record-by-record replay of that chunk that loses
/// nothing in any group.
#[test]
fn sealed_chunk_checkpoints_footers_and_trailers_of_many_groups() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(dir.path());
    let want = b.models.last().unwrap().clone();
    let chunks = chunk_files(dir.path());
    assert!(chunks.len() >= 5, "{} chunks", chunks.len());
    let mut rng = Rng(7);
    let (mut refused, mut fell_back, mut cases) = (0u64, 0u64, 0u64);
    let mut footer_groups = 0;
    for chunk in &chunks[..chunks.len() - 1] {
        let original = std::fs::read(chunk).unwrap();
        let fr = frames(chunk);
        let cp = fr[0];
        let footer = *fr.last().unwrap();
        assert_eq!((cp.kind, footer.kind), (RecordKind::Checkpoint, RecordKind::Footer));
        footer_groups = footer_groups.max(footer.len);
        let trailer = footer.offset + footer.len;
        let mut positions: Vec<(u64, u8, RecordKind)> = Vec::new();
        for f in [cp, footer] {
            positions.extend((f.offset..f.offset + HDR).flat_map(|p| (0..8).map(move |bit| (p, bit, f.kind))));
            for _ in 0..48 * scale() {
                positions.push((f.offset + HDR + rng.below(f.len - HDR), rng.below(8) as u8, f.kind));
            }
        }
        positions.extend((trailer..trailer + 16).flat_map(|p| (0..8).map(move |bit| (p, bit, RecordKind::Footer))));
        for (pos, bit, kind) in positions {
            let what = format!("{} byte {pos} bit {bit} ({kind:?})", chunk.display());
            let mut bytes = original.clone();
            bytes[pos as usize] ^= 1 << bit;
            std::fs::write(chunk, &bytes).unwrap();
            let before = snapshot_dir(dir.path());
            match ChunkLog::open(b.cfg.clone()) {
                Err(e) => {
                    assert!(is_refusal_of(&e, chunk), "{what}: {e}");
                    assert_eq!(kind, RecordKind::Checkpoint, "{what}: a footer flip must fall back, not refuse: {e}");
                    assert_eq!(snapshot_dir(dir.path()), before, "{what}: a refusal changed files");
                    refused += 1;
                }
                Ok(log) => {
                    assert_eq!(kind, RecordKind::Footer, "{what}: a checkpoint flip went unnoticed");
                    assert_eq!(groups_of(&log), want, "{what}");
                    fell_back += 1;
                }
            }
            restore(chunk, &original);
            cases += 1;
        }
    }
    println!("{cases} flips in sealed checkpoints, footers, trailers: {refused} refused, {fell_back} replayed");
    assert!(footer_groups > 200, "footers list several groups with runs ({footer_groups} bytes)");
    assert!(refused > 0 && fell_back > 0);
    open_and_compare(&b.cfg, &want, "after the sweep");
}

/// A flipped entry payload in a sealed chunk: open succeeds (footers are
/// trusted for the index); reading the entry's own group fails with a
/// corruption at that frame if the entry is live, and every other group
/// reads back exactly.
#[test]
fn sealed_chunk_entry_flips_stay_in_their_group() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(dir.path());
    let want = b.models.last().unwrap().clone();
    let chunks = chunk_files(dir.path());
    let (mut read_errors, mut dead, mut cases) = (0, 0, 0);
    for chunk in &chunks[..chunks.len() - 1] {
        let original = std::fs::read(chunk).unwrap();
        let id = chunklog::format::parse_chunk_file_name(chunk.file_name().unwrap().to_str().unwrap()).unwrap();
        let mut records = Vec::new();
        let mut problems = Vec::new();
        chunklog::inspect::scan_chunk(&chunklog::vfs::StdVfs, id, chunk, false, &mut problems, |r, _| {
            records.push(r.clone())
        })
        .unwrap();
        for r in records.iter().filter(|r| matches!(r.kind, Some(RecordKind::Entry | RecordKind::EntryCopy))) {
            let what = format!("{} entry {:?} of group {} at {}", chunk.display(), r.index, r.group, r.offset);
            let mut bytes = original.clone();
            bytes[(r.offset + r.len - 6) as usize] ^= 0x10;
            std::fs::write(chunk, &bytes).unwrap();
            let log = ChunkLog::open(b.cfg.clone()).unwrap_or_else(|e| panic!("{what}: refused: {e}"));
            for (&g, m) in &want {
                let got = log.group(g).read_range(..);
                if g != r.group {
                    let got: Vec<(u64, Vec<u8>)> = got.unwrap().into_iter().map(|(i, b)| (i, b.to_vec())).collect();
                    let want: Vec<(u64, Vec<u8>)> = m.entries.clone().into_iter().collect();
                    assert_eq!(got, want, "{what}: group {g}");
                    continue;
                }
                match got {
                    Err(Error::Corruption { chunk: c, offset, .. }) => {
                        assert_eq!((&c, offset), (chunk, r.offset), "{what}");
                        read_errors += 1;
                    }
                    Err(e) => panic!("{what}: {e}"),
                    Ok(_) => {
                        // Not live: truncated, purged or its group removed.
                        assert_eq!(Model::of(&log.group(g)), *m, "{what}");
                        dead += 1;
                    }
                }
            }
            restore(chunk, &original);
            cases += 1;
        }
    }
    println!("{cases} entry flips in sealed chunks: {read_errors} refused at read, {dead} in dead entries");
    assert!(read_errors > 0 && cases > 100);
}

/// Where open must cut the newest chunk when its record `ri` is damaged
/// (`None`: refuse). The format-2 rule: every valid record after the
/// damage belongs to one flush F and the records before it to F or the
/// flush before (the checkpoint counts); the cut is where F began after
/// the checkpoint. A damaged record whose own header is intact names its
/// flush: if that is not F, the damage is in a flush that was synced
/// before F was written (media damage, not a power cut), and must be
/// refused, not cut with every record after it.
fn expected_cut(fr: &[FrameAt], ri: usize, header_intact: bool) -> Option<u64> {
    if ri == 0 {
        return None; // the checkpoint
    }
    let after = &fr[ri + 1..];
    let Some(f) = after.first().map(|a| a.seq) else { return Some(fr[ri].offset) };
    if after.iter().any(|a| a.seq != f) || (header_intact && fr[ri].seq != f) {
        return None;
    }
    let prev = fr[ri - 1].seq;
    if prev == f && ri > 1 {
        return fr[1..ri].iter().find(|a| a.seq == f).map(|a| a.offset);
    }
    (prev.wrapping_add(1) == f || prev == f).then_some(fr[ri].offset)
}

/// Every header bit and sampled body bits of every record of the newest
/// chunk (records of several groups, flushes of one to four records):
/// refused naming the chunk with no file changed, or cut exactly where
/// the rule says, every group then holding the model of the records
/// before the cut.
#[test]
fn newest_chunk_flips_with_multi_record_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(dir.path());
    let newest = chunk_files(dir.path()).pop().unwrap();
    let original = std::fs::read(&newest).unwrap();
    let fr = frames(&newest);
    let base = ops_before(&b.models, &newest);
    let mut rng = Rng(3);
    let (mut refused, mut cut, mut cut_whole_flush, mut cases) = (0, 0, 0, 0);
    let mut refused_missing = 0;
    for (ri, f) in fr.iter().enumerate() {
        let mut positions: Vec<(u64, u8)> =
            (f.offset..f.offset + HDR).flat_map(|p| (0..8).map(move |b| (p, b))).collect();
        for _ in 0..24 * scale() {
            positions.push((f.offset + HDR + rng.below(f.len - HDR), rng.below(8) as u8));
        }
        for (pos, bit) in positions {
            let what = format!("newest chunk record {ri} ({:?}, flush {}) byte {pos} bit {bit}", f.kind, f.seq);
            let mut bytes = original.clone();
            bytes[pos as usize] ^= 1 << bit;
            std::fs::write(&newest, &bytes).unwrap();
            let before = snapshot_dir(dir.path());
            let expected = expected_cut(&fr, ri, pos >= f.offset + HDR);
            match (ChunkLog::open(b.cfg.clone()), expected) {
                (Err(e), None) => {
                    assert!(is_refusal_of(&e, &newest), "{what}: {e}");
                    assert_eq!(snapshot_dir(dir.path()), before, "{what}: a refusal changed files");
                    refused += 1;
                }
                (Err(e), Some(at)) if drops_a_deletion(&fr, at) && missing_chunk(&e) => {
                    assert_eq!(snapshot_dir(dir.path()), before, "{what}: a refusal changed files");
                    refused_missing += 1;
                }
                (Err(e), Some(at)) => panic!("{what}: refused ({e}), must be cut at {at}"),
                (Ok(log), None) => {
                    let len = std::fs::metadata(&newest).unwrap().len();
                    panic!(
                        "{what}: must be refused, but open cut the chunk at {len} and serves {:?} (acknowledged: {:?})",
                        groups_of(&log).iter().map(|(g, m)| (*g, m.last)).collect::<Vec<_>>(),
                        b.models.last().unwrap().iter().map(|(g, m)| (*g, m.last)).collect::<Vec<_>>()
                    );
                }
                (Ok(log), Some(at)) => {
                    let kept = fr[1..].iter().filter(|x| x.offset < at).count();
                    assert_eq!(groups_of(&log), b.models[base + kept], "{what}");
                    drop(log);
                    assert_eq!(std::fs::metadata(&newest).unwrap().len(), at, "{what}");
                    cut += 1;
                    cut_whole_flush += u64::from(at < f.offset);
                }
            }
            restore(&newest, &original);
            cases += 1;
        }
    }
    println!(
        "{cases} flips in the newest chunk: {refused} refused, {cut} cut ({cut_whole_flush} from a flush's start), \
         {refused_missing} refused as the cut would need deleted chunks"
    );
    assert!(refused > 0 && cut > 0 && cut_whole_flush > 0);
}

/// The newest chunk cut at every byte of its last 12 records, and zeroed
/// from each record on: open keeps exactly the whole records before the
/// cut, in every group, and the store then takes writes and reopens.
#[test]
fn newest_chunk_torn_and_zeroed_tails_of_many_groups() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(dir.path());
    let newest = chunk_files(dir.path()).pop().unwrap();
    let original = std::fs::read(&newest).unwrap();
    let fr = frames(&newest);
    assert!(fr.len() > 13, "{} records in the newest chunk", fr.len());
    let base = ops_before(&b.models, &newest);
    let kept_before = |cut: u64| fr[1..].iter().filter(|f| f.offset + f.len <= cut).count();
    let (mut cases, mut refused_missing) = (0, 0);
    // Opens the damaged store: the exact prefix, or (only if the damage
    // dropped a purge or removal) a refusal for a missing chunk.
    let mut check = |bytes: &[u8], kept: usize, at: u64, what: &str| {
        std::fs::write(&newest, bytes).unwrap();
        match ChunkLog::open(b.cfg.clone()) {
            Ok(log) => assert_eq!(groups_of(&log), b.models[base + kept], "{what}"),
            Err(e) if drops_a_deletion(&fr, at) && missing_chunk(&e) => refused_missing += 1,
            Err(e) => panic!("{what}: refused: {e}"),
        }
        let end = fr.iter().map(|f| f.offset + f.len).filter(|&e| e <= at).max().unwrap();
        let len = std::fs::metadata(&newest).unwrap().len();
        assert!(len == end || len == bytes.len() as u64, "{what}: {len} bytes after open");
        restore(&newest, &original);
        cases += 1;
    };
    for cut in fr[fr.len() - 12].offset..original.len() as u64 {
        check(&original[..cut as usize], kept_before(cut), cut, &format!("cut at {cut}"));
    }
    for (k, f) in fr.iter().enumerate().skip(1) {
        for extra in [0usize, 4096] {
            let mut bytes = original.clone();
            bytes[f.offset as usize..].fill(0);
            bytes.resize(bytes.len() + extra, 0);
            check(&bytes, k - 1, f.offset, &format!("zeros from record {k}, {extra} more"));
        }
    }
    // The repaired store takes writes in every group and reopens.
    std::fs::write(&newest, &original[..fr[fr.len() - 3].offset as usize + 5]).unwrap();
    let log = open(&b.cfg);
    let mut want = b.models[base + fr.len() - 4].clone();
    for &g in &IDS {
        let next = want.get(&g).and_then(|m| m.last).map_or(1, |l| l + 1);
        let op = (g, Op::Append(vec![(next, format!("after {g}").into_bytes())]));
        submit_g(&log, &op).unwrap();
        apply_g(&mut want, &op);
    }
    log.close().unwrap();
    open_and_compare(&b.cfg, &want, "after writes to the repaired store");
    println!(
        "{cases} torn or zeroed newest chunks of many groups, {refused_missing} refused as they need deleted chunks"
    );
    assert!(refused_missing < cases / 4, "most damaged tails open");
}
