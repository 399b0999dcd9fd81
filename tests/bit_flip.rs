//! Bit flips: every bit of every record header, and sampled payload bits, in
//! the first chunk (checkpoint included), a sealed middle chunk and the
//! newest chunk. Never a panic. In the newest chunk, damage inside the last
//! flush (nothing valid after it but records of that same flush) is cut
//! from where that flush began: a power cut during its `fdatasync` can
//! leave exactly that, and it was never acknowledged. Any other damage in
//! the newest chunk refuses the open with a typed corruption error naming
//! chunk and offset, and no file changes. Sealed chunks are opened through
//! their footers: a flip in a checkpoint refuses the open, a flip in an
//! entry is refused when that entry is read, a flip in a footer falls back
//! to a full replay that loses nothing.

mod common;

use std::path::Path;

use chunklog::format::RecordKind;
use chunklog::{ChunkLog, Config, Error};
use common::model::Rng;
use common::*;

/// Three chunks of 12 records; every append synced on its own.
fn build(dir: &Path) -> Config {
    let cfg = small(dir, 12);
    let log = open(&cfg);
    for i in 1..=30u64 {
        append_range(&log, i..=i);
    }
    log.close().unwrap();
    cfg
}

#[derive(Default, Debug)]
struct Tally {
    refused_at_open: u64,
    refused_at_read: u64,
    cut_as_tail: u64,
    /// Cuts that began before the damaged record (its flush began there).
    cut_whole_flush: u64,
    footer_fallback: u64,
}

const HDR: u64 = chunklog::format::FRAME_HEADER_LEN as u64;

fn flip_positions(f: &FrameAt, rng: &mut Rng, payload_bits: u64) -> Vec<(u64, u8)> {
    let mut v: Vec<(u64, u8)> = (f.offset..f.offset + HDR).flat_map(|p| (0..8).map(move |b| (p, b))).collect();
    for _ in 0..payload_bits {
        let p = f.offset + HDR + rng.below(f.len - HDR);
        v.push((p, rng.below(8) as u8));
    }
    v
}

/// Where open cuts the newest chunk when its record `ri` is damaged, or
/// `None` if it must refuse: every valid record after the damage must
/// belong to one flush F, and the record before it to F or to the flush
/// before F (the checkpoint counts as F's too); the cut is where F began
/// after the checkpoint.
fn expected_cut(fr: &[FrameAt], ri: usize) -> Option<u64> {
    if ri == 0 {
        return None; // the checkpoint
    }
    let after = &fr[ri + 1..];
    let Some(f) = after.first().map(|f| f.seq) else { return Some(fr[ri].offset) };
    if after.iter().any(|a| a.seq != f) {
        return None;
    }
    let prev = fr[ri - 1].seq;
    if prev == f && ri > 1 {
        return fr[1..ri].iter().find(|a| a.seq == f).map(|a| a.offset);
    }
    (prev.wrapping_add(1) == f || prev == f).then_some(fr[ri].offset)
}

#[test]
fn every_header_bit_and_sampled_payload_bits() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let chunks = chunk_files(dir.path());
    assert_eq!(chunks.len(), 3);
    let newest = chunks[2].clone();
    let mut rng = Rng(4);
    let mut t = Tally::default();
    let mut cases = 0u64;
    for (ci, chunk) in chunks.iter().enumerate() {
        let original = std::fs::read(chunk).unwrap();
        let fr = frames(chunk);
        let sealed = ci < 2;
        for (ri, f) in fr.iter().enumerate() {
            // Payload samples where the issue asks for them: the first
            // checkpoint, a middle record, the last record.
            let special = (ci == 0 && ri == 0) || (ci == 1 && ri == fr.len() / 2) || (ci == 2 && ri == fr.len() - 1);
            let samples = if special { 256 } else { 160 } * scale();
            for (pos, bit) in flip_positions(f, &mut rng, samples) {
                let mut b = original.clone();
                b[pos as usize] ^= 1 << bit;
                std::fs::write(chunk, &b).unwrap();
                let what = format!("chunk {ci} record {ri} ({:?}) byte {pos} bit {bit}", f.kind);
                let before = snapshot_dir(dir.path());
                match ChunkLog::open(cfg.clone()) {
                    Err(Error::Corruption { chunk: c, offset, .. }) => {
                        assert_eq!(&c, chunk, "{what}");
                        assert_eq!(snapshot_dir(dir.path()), before, "{what}: a refusal changed files");
                        assert!(sealed || expected_cut(&fr, ri).is_none(), "{what}: must be cut, not refused");
                        if !sealed || f.kind == RecordKind::Checkpoint {
                            assert_eq!(offset, f.offset, "{what}");
                        }
                        t.refused_at_open += 1;
                    }
                    Err(e) => panic!("{what}: unexpected error {e}"),
                    Ok(log) if !sealed => {
                        let cut = expected_cut(&fr, ri).unwrap_or_else(|| panic!("{what}: must be refused"));
                        let prev = fr.iter().filter(|f| f.offset < cut).filter_map(|f| f.index).next_back().unwrap();
                        assert_entries(&log, 1, prev);
                        drop(log);
                        assert_eq!(std::fs::metadata(&newest).unwrap().len(), cut, "{what}: cut where its flush began");
                        if cut < f.offset {
                            t.cut_whole_flush += 1;
                        }
                        t.cut_as_tail += 1;
                    }
                    Ok(log) => match log.read_range(..) {
                        Err(Error::Corruption { chunk: c, offset, .. }) => {
                            assert_eq!((&c, offset, f.kind), (chunk, f.offset, RecordKind::Entry), "{what}");
                            t.refused_at_read += 1;
                        }
                        Err(e) => panic!("{what}: unexpected read error {e}"),
                        Ok(_) => {
                            assert_eq!(f.kind, RecordKind::Footer, "{what}: went unnoticed");
                            assert_entries(&log, 1, 30);
                            t.footer_fallback += 1;
                        }
                    },
                }
                restore(chunk, &original);
                cases += 1;
            }
        }
    }
    println!("{cases} bit flips: {t:?}");
    assert!(cases >= 9000, "{cases}");
    assert!(t.refused_at_open > 0 && t.refused_at_read > 0 && t.cut_as_tail > 0 && t.footer_fallback > 0, "{t:?}");
    assert_entries(&open(&cfg), 1, 30);
}

/// A flip in the 16-byte trailer of a sealed chunk (which only points at
/// its footer) loses nothing: the CRC-checked footer is still found by a
/// replay of the chunk, and open serves every entry without changing a
/// file.
#[test]
fn every_trailer_bit_of_a_sealed_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let chunks = chunk_files(dir.path());
    let mut cases = 0;
    for chunk in &chunks[..2] {
        let original = std::fs::read(chunk).unwrap();
        let trailer_at = original.len() - chunklog::format::TRAILER_LEN;
        for pos in trailer_at..original.len() {
            for bit in 0..8 {
                let mut b = original.clone();
                b[pos] ^= 1 << bit;
                std::fs::write(chunk, &b).unwrap();
                let before = snapshot_dir(dir.path());
                let what = format!("{} trailer byte {pos} bit {bit}", chunk.display());
                let log = ChunkLog::open(cfg.clone()).unwrap_or_else(|e| panic!("{what}: refused: {e}"));
                assert_entries(&log, 1, 30);
                log.close().unwrap();
                let after = snapshot_dir(dir.path());
                let changed: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).map(|(a, _)| &a.0).collect();
                assert!(changed.iter().all(|n| !chunk.ends_with(n)), "{what}: the damaged chunk was changed");
                restore(chunk, &original);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 2 * 16 * 8);
}
