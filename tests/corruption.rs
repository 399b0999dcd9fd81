//! Refuse-to-open rules: damage anywhere but the newest chunk's tail is a
//! typed error naming file and offset, and no file is changed.

mod common;

use chunklog::{ChunkLog, Config, Error};
use common::*;

fn build(dir: &std::path::Path) -> Config {
    let cfg = small(dir, 10);
    let log = open(&cfg);
    log.save_vote(b"v").unwrap();
    for i in 1..=35u64 {
        append_range(&log, i..=i);
    }
    log.close().unwrap();
    cfg
}

fn expect_corruption(cfg: &Config, at: &std::path::Path) -> (u64, String) {
    let before = snapshot_dir(&cfg.dir);
    let r = ChunkLog::open(cfg.clone());
    assert_eq!(snapshot_dir(&cfg.dir), before, "a refused open changed files");
    match r {
        Err(Error::Corruption { chunk, offset, reason }) => {
            assert_eq!(chunk, at, "{reason}");
            (offset, reason)
        }
        Err(e) => panic!("expected corruption in {at:?}, got {e}"),
        Ok(_) => panic!("expected corruption in {at:?}, open succeeded"),
    }
}

/// Sealed chunks are opened through their footers, so damage to a record
/// in one is refused when the record is read (every read checks CRC and
/// index), damage to its checkpoint is refused at open, and damage to its
/// footer falls back to a record-by-record replay.
#[test]
fn bit_flips_in_a_sealed_chunk_are_refused_at_their_offset() {
    use chunklog::format::RecordKind;
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let chunks = chunk_files(dir.path());
    let middle = chunks[1].clone();
    let original = std::fs::read(&middle).unwrap();
    let fr = frames(&middle);
    let (mut at_open, mut at_read) = (0, 0);
    for f in &fr {
        let mut positions: Vec<u64> = (f.offset..f.offset + 12).collect();
        positions.push(f.offset + f.len / 2);
        positions.push(f.offset + f.len - 1);
        for pos in positions {
            for bit in 0..8 {
                let mut b = original.clone();
                b[pos as usize] ^= 1 << bit;
                std::fs::write(&middle, &b).unwrap();
                let before = snapshot_dir(dir.path());
                match ChunkLog::open(cfg.clone()) {
                    Err(Error::Corruption { chunk, offset, reason }) => {
                        assert_eq!(chunk, middle, "flip at {pos}.{bit}: {reason}");
                        assert_eq!(snapshot_dir(dir.path()), before, "refusal changed files");
                        if f.kind == RecordKind::Checkpoint {
                            assert_eq!(offset, f.offset, "flip at {pos}.{bit}: {reason}");
                        }
                        at_open += 1;
                    }
                    Err(e) => panic!("flip at {pos}.{bit}: {e}"),
                    Ok(log) => match log.read_range(..) {
                        Err(Error::Corruption { chunk, offset, .. }) => {
                            assert_eq!((chunk, offset), (middle.clone(), f.offset), "flip at {pos}.{bit}");
                            assert_eq!(f.kind, RecordKind::Entry);
                            at_read += 1;
                        }
                        Err(e) => panic!("flip at {pos}.{bit}: {e}"),
                        // A damaged footer falls back to a full replay, which
                        // finds every record intact: nothing is lost.
                        Ok(_) if f.kind == RecordKind::Footer => assert_entries(&log, 1, 35),
                        Ok(entries) => {
                            panic!("flip at {pos}.{bit} in a {:?} went unnoticed ({} entries)", f.kind, entries.len())
                        }
                    },
                }
            }
        }
    }
    assert!(at_open > 0 && at_read > 0, "{at_open} at open, {at_read} at read");
    restore(&middle, &original);
    assert_entries(&open(&cfg), 1, 35);
}

#[test]
fn damage_followed_by_valid_records_in_the_newest_chunk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let newest = chunk_files(dir.path()).pop().unwrap();
    let fr = frames(&newest);
    assert!(fr.len() >= 3);
    let mut b = std::fs::read(&newest).unwrap();
    let victim = fr[fr.len() - 2];
    b[(victim.offset + victim.len - 6) as usize] ^= 0x10;
    std::fs::write(&newest, &b).unwrap();
    let (offset, reason) = expect_corruption(&cfg, &newest);
    assert_eq!(offset, victim.offset);
    assert!(reason.contains("valid records follow"), "{reason}");
}

#[test]
fn a_flip_in_the_last_record_is_cut_as_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let newest = chunk_files(dir.path()).pop().unwrap();
    let last = *frames(&newest).last().unwrap();
    let mut b = std::fs::read(&newest).unwrap();
    b[(last.offset + 20) as usize] ^= 1;
    std::fs::write(&newest, &b).unwrap();
    let log = open(&cfg);
    assert_entries(&log, 1, 34);
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), last.offset);
}

#[test]
fn unknown_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let first = chunk_files(dir.path())[0].clone();
    let mut b = std::fs::read(&first).unwrap();
    b[8] = 99;
    std::fs::write(&first, &b).unwrap();
    match ChunkLog::open(cfg) {
        Err(Error::UnsupportedVersion { chunk, found, supported }) => {
            assert_eq!((chunk, found, supported), (first, 99, chunklog::format::FORMAT_VERSION));
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}

#[test]
fn another_tag_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    match ChunkLog::open(cfg.tag("other-codec")) {
        Err(Error::TagMismatch { found, expected, .. }) => {
            assert_eq!((found.as_str(), expected.as_str()), ("", "other-codec"))
        }
        other => panic!("expected TagMismatch, got {other:?}"),
    }
}

#[test]
fn missing_middle_chunk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let chunks = chunk_files(dir.path());
    std::fs::remove_file(&chunks[1]).unwrap();
    let (_, reason) = expect_corruption(&cfg, &chunks[2]);
    assert!(reason.contains("chunk 2 is missing"), "{reason}");
}

#[test]
fn missing_oldest_chunk_above_the_purge_point_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let chunks = chunk_files(dir.path());
    std::fs::remove_file(&chunks[0]).unwrap();
    let (_, reason) = expect_corruption(&cfg, &chunks[1]);
    assert!(reason.contains("needs entries"), "{reason}");
}

#[test]
fn stray_files_are_ignored_and_leftover_purged_chunks_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    std::fs::write(dir.path().join("notes.txt"), b"operator notes").unwrap();
    std::fs::write(dir.path().join("123.chunk"), b"not ours: wrong name shape").unwrap();
    // Simulate a purge whose chunk deletion never happened: copy the
    // chunks away, purge, put the deleted ones back.
    let before: Vec<_> = chunk_files(dir.path()).iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();
    let log = open(&cfg);
    log.purge(25, b"p").unwrap();
    log.sync().unwrap();
    log.sync().unwrap();
    drop(log);
    let kept = chunk_files(dir.path());
    assert!(kept.len() < before.len(), "purge deleted chunks");
    for (p, b) in &before {
        if !p.exists() {
            std::fs::write(p, b).unwrap();
        }
    }
    let log = open(&cfg);
    assert_entries(&log, 26, 35);
    eventually("leftovers deleted after open", || chunk_files(dir.path()) == kept);
    assert!(dir.path().join("notes.txt").exists());
    assert!(dir.path().join("123.chunk").exists());
}

#[test]
fn zero_length_newest_chunk_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let last = chunk_files(dir.path()).pop().unwrap();
    let id: u64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let next = dir.path().join(format!("{:020}.chunk", id + 1));
    std::fs::write(&next, b"").unwrap();
    let log = open(&cfg);
    assert_entries(&log, 1, 35);
    append_range(&log, 36..=36);
    drop(log);
    assert_entries(&open(&cfg), 1, 36);
}

#[test]
fn hostile_length_fields_do_not_allocate_or_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let newest = chunk_files(dir.path()).pop().unwrap();
    let fr = frames(&newest);
    let mut b = std::fs::read(&newest).unwrap();
    // A length of ~1 GiB with a valid header CRC: must be refused by the
    // file-length check, not allocated.
    let at = fr[2].offset as usize;
    b[at..at + 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
    let crc = crc32fast::hash(&b[at..at + 8]);
    b[at + 8..at + 12].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&newest, &b).unwrap();
    let (offset, _) = expect_corruption(&cfg, &newest);
    assert_eq!(offset, fr[2].offset);
}

/// A newest chunk with no valid header, checkpoint or record is what a
/// crash while creating it leaves only if it is no longer than a header
/// and checkpoint. A longer one is damage: refused, never deleted
/// (deleting the only chunk would forget the vote).
#[test]
fn a_long_headless_newest_chunk_is_refused_not_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 1000);
    let log = open(&cfg);
    log.save_vote(b"term 7, voted for node 2").unwrap();
    append_range(&log, 1..=50);
    log.close().unwrap();
    let only = chunk_files(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&only).unwrap().len() as usize;
    let mut rng = common::model::Rng(9);
    let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    std::fs::write(&only, &garbage).unwrap();
    let before = snapshot_dir(dir.path());
    let err = ChunkLog::open(cfg.clone()).expect_err("a long headless chunk must be refused");
    assert!(err.is_corruption(), "{err}");
    assert_eq!(snapshot_dir(dir.path()), before, "nothing was changed");

    // The same bytes cut to the length of a header and a checkpoint are
    // what an interrupted creation leaves: removed, and the log opens.
    std::fs::write(&only, &garbage[..80]).unwrap();
    let log = open(&cfg);
    assert_eq!(log.state().last_index, None);
    assert!(log.stats().torn_bytes_cut >= 80);
}
