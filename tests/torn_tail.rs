//! Tail-repair rule: a newest chunk cut at any byte inside its last records
//! (or inside its checkpoint) opens at the last whole record; appending and
//! reopening then works. The same cut in an older chunk is refused and
//! changes no file.

mod common;

use chunklog::format::RecordKind;
use chunklog::{ChunkLog, Error};
use common::*;

/// A log of 3 chunks of 20 records; the newest holds entries 39.. and a vote.
fn build(dir: &std::path::Path) -> chunklog::Config {
    let cfg = small(dir, 20);
    let log = open(&cfg);
    for i in 1..=50u64 {
        append_range(&log, i..=i);
        if i == 45 {
            log.save_vote(b"vote-45").unwrap();
        }
    }
    log.close().unwrap();
    cfg
}

/// The last entry index among frames that end at or before `cut`, given the
/// entries stored before this chunk end at `before`.
fn expected_last(fr: &[FrameAt], cut: u64, before: u64) -> u64 {
    fr.iter().filter(|f| f.offset + f.len <= cut).filter_map(|f| f.index).next_back().unwrap_or(before)
}

#[test]
fn newest_chunk_cut_at_every_byte_of_its_last_records() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let chunks = chunk_files(dir.path());
    let newest = chunks.last().unwrap().clone();
    let original = std::fs::read(&newest).unwrap();
    let fr = frames(&newest);
    assert!(fr.len() >= 13, "newest chunk holds enough records: {fr:?}");
    assert_eq!(fr[0].kind, RecordKind::Checkpoint);
    let first_entry = fr.iter().find_map(|f| f.index).unwrap();
    let from = fr[fr.len() - 12].offset;
    let mut reopens = 0;
    for cut in from..original.len() as u64 {
        std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(cut).unwrap();
        let log = ChunkLog::open(cfg.clone()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let want = expected_last(&fr, cut, first_entry - 1);
        assert_eq!(log.state().last_index, Some(want), "cut at {cut}");
        assert_entries(&log, 1, want);
        // The vote record is the 8th from the end; it survives iff whole.
        let vote_whole = fr.iter().any(|f| f.kind == RecordKind::Vote && f.offset + f.len <= cut);
        assert_eq!(log.state().vote.is_some(), vote_whole, "cut at {cut}");
        drop(log);
        assert_eq!(
            std::fs::metadata(&newest).unwrap().len(),
            fr.iter().map(|f| f.offset + f.len).filter(|&e| e <= cut).max().unwrap()
        );
        reopens += 1;
        restore(&newest, &original);
    }
    assert!(reopens > 900, "swept {reopens} reopens");
    println!("{reopens} reopens of a torn newest chunk");
}

#[test]
fn repaired_log_accepts_appends_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let newest = chunk_files(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(len - 5).unwrap();
    let log = open(&cfg);
    assert_eq!(log.state().last_index, Some(49));
    append_range(&log, 50..=60);
    drop(log);
    assert_entries(&open(&cfg), 1, 60);
}

#[test]
fn newest_chunk_cut_inside_its_header_or_checkpoint_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 10);
    let log = open(&cfg);
    append_range(&log, 1..=9); // checkpoint + 9 entries: the next record rotates
    log.append([(10, payload(10))]).unwrap();
    log.close().unwrap();
    let chunks = chunk_files(dir.path());
    assert_eq!(chunks.len(), 2);
    let newest = chunks[1].clone();
    let original = std::fs::read(&newest).unwrap();
    let cp = frames(&newest)[0];
    assert_eq!(cp.kind, RecordKind::Checkpoint);
    for cut in 0..cp.offset + cp.len {
        std::fs::write(&newest, &original[..cut as usize]).unwrap();
        let log = ChunkLog::open(cfg.clone()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_entries(&log, 1, 9);
        append_range(&log, 10..=12);
        drop(log);
        assert_entries(&open(&cfg), 1, 12);
        // Back to the two-chunk layout for the next cut.
        for c in chunk_files(dir.path()).into_iter().skip(1) {
            std::fs::remove_file(c).unwrap();
        }
        restore(&newest, &original);
    }
}

#[test]
fn older_chunk_cut_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let chunks = chunk_files(dir.path());
    let middle = chunks[1].clone();
    let original = std::fs::read(&middle).unwrap();
    let n = 300.min(original.len() - 1) as u64 * scale().min(original.len() as u64 / 300).max(1);
    let step = (original.len() as u64 / n).max(1);
    let mut cases = 0;
    for cut in (1..original.len() as u64).rev().step_by(step as usize).take(n as usize) {
        std::fs::OpenOptions::new().write(true).open(&middle).unwrap().set_len(cut).unwrap();
        let before = snapshot_dir(dir.path());
        match ChunkLog::open(cfg.clone()) {
            Err(Error::Corruption { chunk, offset, reason }) => {
                assert_eq!(chunk, middle, "cut at {cut}: {offset} {reason}")
            }
            Err(e) => panic!("cut at {cut}: wrong error {e}"),
            Ok(_) => panic!("cut at {cut}: an older chunk cut must be refused"),
        }
        assert_eq!(snapshot_dir(dir.path()), before, "refusal changed files (cut at {cut})");
        restore(&middle, &original);
        cases += 1;
    }
    assert!(cases >= 250, "{cases} cases");
    assert_entries(&open(&cfg), 1, 50);
}

#[test]
fn zero_filled_tails_are_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let newest = chunk_files(dir.path()).pop().unwrap();
    let original = std::fs::read(&newest).unwrap();
    let fr = frames(&newest);
    let first_entry = fr.iter().find_map(|f| f.index).unwrap();
    let check = |bytes: Vec<u8>, want: u64, what: &str| {
        std::fs::write(&newest, bytes).unwrap();
        let log = ChunkLog::open(cfg.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(log.state().last_index, Some(want), "{what}");
        assert_entries(&log, 1, want);
        drop(log);
        restore(&newest, &original);
    };
    // Zeros from each record start to the end.
    for (k, f) in fr.iter().enumerate().skip(1) {
        let mut b = original.clone();
        b[f.offset as usize..].fill(0);
        check(b, expected_last(&fr[..k], u64::MAX, first_entry - 1), &format!("zeros from record {k}"));
    }
    for extra in [4096, 65536] {
        let mut b = original.clone();
        b.resize(b.len() + extra, 0);
        check(b, 50, &format!("{extra} appended zeros"));
    }
    // One zeroed 512-byte sector inside the last record (a large one).
    let log = open(&cfg);
    log.append([(51, vec![0x5Au8; 4000])]).unwrap();
    log.close().unwrap();
    let original = std::fs::read(&newest).unwrap();
    let last = *frames(&newest).last().unwrap();
    let mut b = original.clone();
    let s = (last.offset + 1024) as usize;
    b[s..s + 512].fill(0);
    std::fs::write(&newest, b).unwrap();
    let log = open(&cfg);
    assert_eq!(log.state().last_index, Some(50));
}
