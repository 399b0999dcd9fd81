//! Replays the fuzz seed corpus (`fuzz/corpus/`) through the fuzz targets'
//! code on stable: no panic, no hang, and no single allocation larger than
//! a bound derived from the input's size.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Tracks the largest single allocation.
struct Peak;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only records sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

/// Seeds: real chunk files and frames, and damaged variants of them, of
/// the format this build writes (`v2-` names; the older seeds are format
/// 1 and stay as they are). Format-2 frames are stored after their
/// chunk's salt (see `harness::decode_record`).
fn write_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let dir = tempfile::tempdir().unwrap();
    let log = chunklog::ChunkLog::open(chunklog::Config::new(dir.path()).chunk_max_records(6)).unwrap();
    log.group(300).append([(5, b"other group")]).unwrap();
    log.save_vote(b"vote").unwrap();
    log.append((1..=14u64).map(|i| (i, vec![i as u8; 20 + i as usize]))).unwrap();
    log.save_committed(Some(b"c")).unwrap();
    log.truncate_after(Some(12)).unwrap();
    log.purge(3, b"p3").unwrap();
    log.close().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "chunk"))
        .collect();
    files.sort();
    let bytes: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let w = |target: &str, name: &str, data: &[u8]| {
        std::fs::write(root.join(target).join(format!("v2-{name}")), data).unwrap()
    };
    w("open_dir", "clean", &harness::pack(&bytes));
    w("open_dir", "newest-only", &harness::pack(&bytes[bytes.len() - 1..]));
    let mut torn = bytes.clone();
    let last = torn.last_mut().unwrap();
    last.truncate(last.len() - 7);
    w("open_dir", "torn-tail", &harness::pack(&torn));
    let mut flipped = bytes.clone();
    flipped[0][90] ^= 4;
    w("open_dir", "bit-flip", &harness::pack(&flipped));
    let mut huge = bytes.clone();
    huge[0][64..68].copy_from_slice(&u32::MAX.to_le_bytes());
    w("open_dir", "huge-length", &harness::pack(&huge));
    w("open_dir", "empty", &[]);
    for (k, b) in bytes.iter().enumerate() {
        let salted = |part: &[u8]| [&b[12..16], part].concat();
        w("decode_record", &format!("header-{k}"), &b[..64]);
        w("decode_record", &format!("frame-{k}"), &salted(&b[64..b.len().min(400)]));
        w("decode_record", &format!("tail-{k}"), &salted(&b[b.len().saturating_sub(200)..]));
    }
}

#[test]
fn replay_seed_corpus() {
    if std::env::var_os("CHUNKLOG_WRITE_CORPUS").is_some() {
        write_corpus();
    }
    let records = corpus("decode_record");
    let dirs = corpus("open_dir");
    assert!(records.len() >= 5 && dirs.len() >= 5, "seed corpus present");
    let baseline = LARGEST.load(Ordering::Relaxed);
    for (name, data) in &records {
        LARGEST.store(baseline, Ordering::Relaxed);
        harness::decode_record(data);
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest <= baseline.max(data.len() * 2 + 4096),
            "decode_record/{name}: allocated {largest} bytes at once"
        );
    }
    for (name, data) in &dirs {
        let dir = tempfile::tempdir().unwrap();
        LARGEST.store(0, Ordering::Relaxed);
        harness::open_dir(dir.path(), data);
        let largest = LARGEST.load(Ordering::Relaxed);
        // Reads are bounded by file sizes; the rest is small fixed buffers.
        assert!(largest <= data.len() * 2 + (256 << 10), "open_dir/{name}: allocated {largest} bytes at once");
    }
    println!("replayed {} decode_record and {} open_dir inputs", records.len(), dirs.len());
}
