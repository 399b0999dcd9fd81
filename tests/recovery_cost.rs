//! Open reads footers, checkpoints and the newest chunk, not payloads, and
//! a scan for the next valid frame reads each byte a bounded number of
//! times. Bounded in bytes read (counted by a wrapping file system), not
//! in seconds: timing belongs to the benchmark.

mod common;

use std::path::Path;
use std::sync::Arc;

use chunklog::{ChunkLog, Config};
use common::counting::CountingVfs;
use common::{chunk_files, frames};

const MIB: u64 = 1 << 20;

fn open_counting(cfg: &Config) -> (ChunkLog, u64) {
    let vfs = CountingVfs::default();
    let log = ChunkLog::open_with_vfs(cfg.clone(), Arc::new(vfs.clone())).expect("open");
    (log, vfs.bytes_read())
}

fn len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// Grows `p` with zeros by `n` bytes, as preallocation leaves it.
fn extend_with_zeros(p: &Path, n: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.set_len(len(p) + n).unwrap();
}

/// A 4 MiB entry torn after 3.5 MiB, the rest zeros as a crash leaves it:
/// open scans the torn bytes for a valid frame once, not once per byte.
#[test]
fn a_torn_multi_mib_entry_is_scanned_in_linear_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(dir.path()).cache(0, 0);
    let log = ChunkLog::open(cfg.clone()).unwrap();
    log.append((1..=10u64).map(|i| (i, vec![i as u8; 100]))).unwrap();
    let big: Vec<u8> = (0..4 * MIB).map(|k| (k * 7 + k / 251) as u8 | 1).collect();
    log.append([(11u64, big)]).unwrap();
    log.close().unwrap();
    let chunk = chunk_files(dir.path()).pop().unwrap();
    let entry = frames(&chunk).into_iter().find(|f| f.index == Some(11)).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&chunk).unwrap();
    f.set_len(entry.offset + 3 * MIB + MIB / 2).unwrap();
    f.set_len(entry.offset + 6 * MIB).unwrap();
    drop(f);
    let file_len = len(&chunk);

    let (log, read) = open_counting(&cfg);
    println!("torn 4 MiB entry: open read {read} bytes of a {file_len}-byte chunk");
    assert_eq!(log.state().last_index, Some(10), "the torn entry is cut");
    assert!(log.stats().torn_bytes_cut > 0);
    assert!(read <= 3 * file_len + MIB, "open read {read} bytes of a {file_len}-byte chunk");
}

/// A sealed newest chunk whose footer (over 1 MiB: more than 130,000
/// entries) was not trimmed of its preallocated space before a crash:
/// open reads it in linear bytes, keeps the seal and gives back the zeros.
#[test]
fn an_untrimmed_big_footer_in_the_newest_chunk_is_read_in_linear_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let n = 150_000u64;
    let cfg = Config::new(dir.path()).chunk_max_records(n + 1).cache(0, 0);
    let log = ChunkLog::open(cfg.clone()).unwrap();
    for start in (1..=n).step_by(10_000) {
        log.append((start..start + 10_000).map(|i| (i, i.to_le_bytes()))).unwrap();
    }
    log.append([(n + 1, [1u8])]).unwrap(); // rotates: chunk 1 is sealed
    log.close().unwrap();
    let mut chunks = chunk_files(dir.path());
    assert_eq!(chunks.len(), 2);
    // The process died after sealing chunk 1, before trimming it and
    // before creating chunk 2.
    std::fs::remove_file(chunks.pop().unwrap()).unwrap();
    let sealed = chunks.pop().unwrap();
    let footer = frames(&sealed).into_iter().last().unwrap();
    assert!(footer.len > MIB, "footer of {} bytes", footer.len);
    extend_with_zeros(&sealed, 2 * MIB);
    let file_len = len(&sealed);

    let (log, read) = open_counting(&cfg);
    println!("untrimmed big footer: open read {read} bytes of a {file_len}-byte chunk");
    assert_eq!(log.state().last_index, Some(n));
    assert_eq!(log.stats().preallocated_bytes_trimmed, 2 * MIB);
    assert!(read <= 3 * file_len + MIB, "open read {read} bytes of a {file_len}-byte chunk");
    assert_eq!(log.get(n).unwrap().unwrap().as_ref(), n.to_le_bytes());
}

/// 200 sealed chunks: open reads their footers and checkpoints plus a
/// small constant per chunk, and the newest chunk, never their payloads.
#[test]
fn opening_many_sealed_chunks_reads_footers_not_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(dir.path()).chunk_max_records(51).cache(0, 0);
    let log = ChunkLog::open(cfg.clone()).unwrap();
    for start in (1..=200 * 50u64).step_by(50) {
        log.append((start..start + 50).map(|i| (i, vec![i as u8; 1024]))).unwrap();
    }
    log.append([(200 * 50 + 1, vec![0u8; 1024])]).unwrap();
    log.close().unwrap();
    let chunks = chunk_files(dir.path());
    assert!(chunks.len() > 200, "{} chunks", chunks.len());
    let (newest, sealed) = chunks.split_last().unwrap();
    let structures: u64 = sealed
        .iter()
        .map(|p| {
            let fr = frames(p);
            fr.first().unwrap().len + fr.last().unwrap().len
        })
        .sum();
    let payload: u64 = sealed.iter().map(|p| len(p)).sum();
    let budget = structures + len(newest) + chunks.len() as u64 * 8192;

    let (log, read) = open_counting(&cfg);
    println!("{} chunks: open read {read} bytes; budget {budget}; all chunk bytes {payload}", chunks.len());
    assert_eq!(log.state().last_index, Some(200 * 50 + 1));
    assert!(read <= budget, "open read {read} bytes; footers, checkpoints and newest chunk {budget}; all {payload}");
}
