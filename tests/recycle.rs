//! Recycled chunk files (`Config::recycle_chunks_max`): purged chunks are
//! renamed into a bounded pool and reused as new chunks; a reused file's
//! old frames are never served, after a clean close, after a crash, or to
//! a read racing the purge that freed the file.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chunklog::format::{self, RecordKind};
use chunklog::vfs::{DirLock, StdVfs, Vfs, VfsFile};
use chunklog::{ChunkLog, Config, inspect};

fn payload(i: u64) -> Vec<u8> {
    let mut b = i.to_le_bytes().to_vec();
    b.resize(100, (i % 251) as u8);
    b
}

fn files_ending(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(suffix))
        .count()
}

fn wait_for_purges(log: &ChunkLog) {
    let t = Instant::now();
    while log.stats().purges_pending > 0 {
        assert!(t.elapsed() < Duration::from_secs(20), "purge deletions never finished");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn chunk_bytes(dir: &Path, id: u64) -> Vec<u8> {
    std::fs::read(dir.join(format::chunk_file_name(id))).unwrap()
}

#[test]
fn purged_chunks_are_reused_as_new_chunks_up_to_the_pool_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = || Config::new(dir).chunk_max_size(4096).recycle_chunks_max(3).reclaim_percent(0);
    let log = ChunkLog::open(cfg()).unwrap();
    log.append((1..=400).map(|i| (i, payload(i)))).unwrap();
    log.sync().unwrap();
    let chunks_before = files_ending(dir, ".chunk");
    assert!(chunks_before > 8, "{chunks_before} chunks");

    log.purge(300, b"p").unwrap();
    log.sync().unwrap();
    wait_for_purges(&log);
    let s = log.stats();
    assert_eq!(s.recycled_files, 3, "the pool keeps at most 3 files: {s:?}");
    assert_eq!(files_ending(dir, ".free"), 3);
    assert!(s.recycled_bytes > 3 * 3000, "{s:?}");
    assert!(files_ending(dir, ".chunk") < chunks_before - 3, "the other purged chunks are deleted");

    log.append((401..=700).map(|i| (i, payload(i)))).unwrap();
    log.sync().unwrap();
    let s = log.stats();
    assert_eq!(s.chunks_recycled, 3, "the next three chunks reuse the pool's files: {s:?}");
    assert_eq!(s.recycled_files, 0);
    assert_eq!(files_ending(dir, ".free"), 0);
    let want: Vec<(u64, Vec<u8>)> = (301..=700).map(|i| (i, payload(i))).collect();
    let got: Vec<(u64, Vec<u8>)> = log.read_range(..).unwrap().into_iter().map(|(i, b)| (i, b.to_vec())).collect();
    assert_eq!(got, want);
    log.close().unwrap();

    // A clean close leaves nothing of the files' earlier lives behind.
    let report = inspect::check(&StdVfs, dir, |_| {}).unwrap();
    assert_eq!(report.exit_code(), 0, "{report:?}");
    assert!(report.chunks.iter().all(|c| c.recycled.is_none()));
    let log = ChunkLog::open(cfg()).unwrap();
    let got: Vec<(u64, Vec<u8>)> = log.read_range(..).unwrap().into_iter().map(|(i, b)| (i, b.to_vec())).collect();
    assert_eq!(got, want);
    assert_eq!(log.stats().recycled_bytes_trimmed, 0);
    assert_eq!(log.stats().torn_bytes_cut, 0);
}

#[test]
fn recycling_off_deletes_purged_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = ChunkLog::open(Config::new(dir).chunk_max_size(4096).recycle_chunks_max(0)).unwrap();
    log.append((1..=300).map(|i| (i, payload(i)))).unwrap();
    log.purge(250, b"p").unwrap();
    log.sync().unwrap();
    wait_for_purges(&log);
    log.append((301..=400).map(|i| (i, payload(i)))).unwrap();
    log.sync().unwrap();
    assert_eq!(files_ending(dir, ".free"), 0);
    assert_eq!(log.stats().chunks_recycled, 0);
}

#[test]
fn the_pool_survives_reopen_and_shrinks_to_a_smaller_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = |n| Config::new(dir).chunk_max_size(4096).recycle_chunks_max(n).reclaim_percent(0);
    let log = ChunkLog::open(cfg(5)).unwrap();
    log.append((1..=400).map(|i| (i, payload(i)))).unwrap();
    log.purge(350, b"p").unwrap();
    log.sync().unwrap();
    wait_for_purges(&log);
    assert_eq!(log.stats().recycled_files, 5);
    log.close().unwrap();

    let log = ChunkLog::open(cfg(2)).unwrap();
    assert_eq!(log.stats().recycled_files, 2, "open keeps at most the configured number");
    assert_eq!(files_ending(dir, ".free"), 2);
    log.append((401..=500).map(|i| (i, payload(i)))).unwrap();
    log.sync().unwrap();
    assert_eq!(log.stats().chunks_recycled, 2);
    assert_eq!(log.read_range(351..=500).unwrap().len(), 150);
}

/// The core proof, on a crafted crash image: chunk 1 holds entries 1..=20
/// of a new life, and right after them, perfectly aligned, the frames of
/// entries 21..=200 that the file held in its earlier life (each valid
/// under that life's salt). Open must recover 20 entries and give the rest
/// back; without the per-file salt it would serve entries 21..=200.
#[test]
fn a_recycled_files_old_frames_are_never_served_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let make = |name: &str, n: u64| -> Vec<u8> {
        let dir = tmp.path().join(name);
        let log = ChunkLog::open(Config::new(&dir)).unwrap();
        log.append((1..=n).map(|i| (i, payload(i)))).unwrap();
        log.close().unwrap();
        chunk_bytes(&dir, 1)
    };
    let old = make("old-life", 200);
    let new = make("new-life", 20);
    assert!(old.len() > new.len());
    // The old life's next frame starts exactly where the new life ends, and
    // is a valid entry 21 under the old salt.
    let old_codec = format::decode_header(&old).unwrap().codec;
    let new_codec = format::decode_header(&new).unwrap().codec;
    assert_ne!(old_codec.salt, new_codec.salt);
    let f = format::decode_frame(old_codec, &old[new.len()..]).expect("an aligned valid frame of the old life");
    assert_eq!(f.kind, RecordKind::Entry);
    assert_eq!(u64::from_le_bytes(f.body[..8].try_into().unwrap()), 21);
    let stale = (old.len() - new.len()) as u64;

    for flagged in [true, false] {
        let dir = tmp.path().join(format!("image-{flagged}"));
        std::fs::create_dir(&dir).unwrap();
        let mut image = new.clone();
        if flagged {
            format::set_recycled(&mut image);
        }
        image.extend_from_slice(&old[new.len()..]);
        std::fs::write(dir.join(format::chunk_file_name(1)), &image).unwrap();

        let report = inspect::check(&StdVfs, &dir, |_| {}).unwrap();
        if flagged {
            // What an unclean stop leaves in a recycled file: not damage.
            assert_eq!(report.exit_code(), 0, "{report:?}");
            assert_eq!(report.chunks[0].recycled, Some((new.len() as u64, stale)));
        } else {
            // Without the flag the same bytes read as a torn tail.
            assert_eq!(report.exit_code(), 1, "{report:?}");
        }

        let log = ChunkLog::open(Config::new(&dir)).unwrap();
        assert_eq!(log.state().last_index, Some(20), "flagged {flagged}");
        assert_eq!(log.get(21).unwrap(), None);
        let got: Vec<(u64, Vec<u8>)> = log.read_range(..).unwrap().into_iter().map(|(i, b)| (i, b.to_vec())).collect();
        assert_eq!(got, (1..=20).map(|i| (i, payload(i))).collect::<Vec<_>>());
        let s = log.stats();
        if flagged {
            assert_eq!((s.recycled_bytes_trimmed, s.torn_bytes_cut), (stale, 0));
        } else {
            assert_eq!((s.recycled_bytes_trimmed, s.torn_bytes_cut), (0, stale));
        }
        // The log goes on over the cut bytes.
        log.append((21..=30).map(|i| (i, b"new".to_vec()))).unwrap();
        log.close().unwrap();
        let log = ChunkLog::open(Config::new(&dir)).unwrap();
        assert_eq!(log.get(25).unwrap().unwrap().as_ref(), b"new");
        assert_eq!(log.state().last_index, Some(30));
    }
}

/// A crash right after a file was reused, with the real engine: the
/// newest chunk is a recycled file holding a few new records and its old
/// frames. Whatever was synced is recovered, nothing of the old life is.
#[test]
fn a_crash_in_a_reused_file_recovers_exactly_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let cfg = || Config::new(&dir).chunk_max_size(4096).recycle_chunks_max(4).reclaim_percent(0);
    let log = ChunkLog::open(cfg()).unwrap();
    log.append((1..=300).map(|i| (i, payload(i)))).unwrap();
    log.purge(250, b"p").unwrap();
    log.sync().unwrap();
    wait_for_purges(&log);
    assert!(log.stats().recycled_files > 0);
    // Fill the open chunk, then start a recycled one with a few records.
    let mut next = 301;
    while log.stats().chunks_recycled == 0 {
        log.append([(next, payload(next))]).unwrap();
        log.sync().unwrap();
        next += 1;
    }
    let last = next + 2;
    log.append((next..=last).map(|i| (i, payload(i)))).unwrap();
    log.sync().unwrap();
    // The image a crash now leaves: the files as they are, the flush
    // thread's and the purge thread's work included (a process crash
    // keeps every write).
    let crash = tmp.path().join("crash");
    std::fs::create_dir(&crash).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), crash.join(e.file_name())).unwrap();
    }
    drop(log);

    let newest = std::fs::read_dir(&crash)
        .unwrap()
        .filter_map(|e| format::parse_chunk_file_name(&e.unwrap().file_name().to_string_lossy()))
        .max()
        .unwrap();
    let header = format::decode_header(&chunk_bytes(&crash, newest)).unwrap();
    assert!(header.recycled, "the newest chunk was written into a recycled file");

    let report = inspect::check(&StdVfs, &crash, |_| {}).unwrap();
    assert_eq!(report.exit_code(), 0, "{report:?}");
    let log = ChunkLog::open(Config::new(&crash).chunk_max_size(4096)).unwrap();
    assert_eq!(log.state().last_index, Some(last));
    assert!(log.stats().recycled_bytes_trimmed > 0, "the old life was given back: {:?}", log.stats());
    let got: Vec<(u64, Vec<u8>)> = log.read_range(..).unwrap().into_iter().map(|(i, b)| (i, b.to_vec())).collect();
    assert_eq!(got, (251..=last).map(|i| (i, payload(i))).collect::<Vec<_>>());
}

/// Reads near the purge point race purges whose files are reused at
/// once: a read that opened a chunk before it was purged and reads it
/// after it became another chunk must not report corruption; it reads
/// again and returns what is still there.
#[test]
fn reads_racing_purges_of_reused_files_never_report_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    // No cache: every read goes to the chunk files, and each read waits a
    // little between looking the entry up and reading it, so purges and
    // reuses land in between.
    let cfg = Config::new(tmp.path()).chunk_max_size(2048).cache(0, 0).recycle_chunks_max(2).reclaim_percent(0);
    let log = ChunkLog::open_with_vfs(cfg, Arc::new(SlowReads)).unwrap();
    log.append((1..=100).map(|i| (i, payload(i)))).unwrap();
    log.sync().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = 4000 * common::scale();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Some(first) = log.state().first_index else { continue };
                    let got = log.read_range(first..first + 20).unwrap_or_else(|e| panic!("read at {first}: {e}"));
                    for (i, b) in &got {
                        assert_eq!(b.as_ref(), payload(*i).as_slice(), "entry {i}");
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for i in 101..=rounds {
        log.append([(i, payload(i))]).unwrap();
        if i % 8 == 0 {
            log.purge(i - 60, b"p").unwrap();
            // Durable purges refill the pool as the chunks rotate.
            log.sync().unwrap();
        }
    }
    log.sync().unwrap();
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let s = log.stats();
    assert!(s.chunks_recycled > 10, "files were reused: {s:?}");
    println!("{reads} reads while {} chunks were created in reused files", s.chunks_recycled);
}

/// The real file system, with reads of chunk files opened read-only
/// (what the engine's readers use) delayed by 2 ms.
#[derive(Debug)]
struct SlowReads;

#[derive(Debug)]
struct SlowFile(Arc<dyn VfsFile>);

impl VfsFile for SlowFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::thread::sleep(Duration::from_millis(2));
        self.0.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn size(&self) -> std::io::Result<u64> {
        self.0.size()
    }
}

impl Vfs for SlowReads {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        StdVfs.create_dir_all(dir)
    }
    fn lock_dir(&self, dir: &Path) -> std::io::Result<DirLock> {
        StdVfs.lock_dir(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        StdVfs.list(dir)
    }
    fn open(&self, path: &Path) -> std::io::Result<Arc<dyn VfsFile>> {
        StdVfs.open(path)
    }
    fn open_read(&self, path: &Path) -> std::io::Result<Arc<dyn VfsFile>> {
        Ok(Arc::new(SlowFile(StdVfs.open_read(path)?)))
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Arc<dyn VfsFile>> {
        StdVfs.create_new(path)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        StdVfs.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        StdVfs.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        StdVfs.sync_dir(dir)
    }
}

/// A recycled file that was sealed (footer and trailer written) but not yet
/// cut to its trailer when the process stopped: the old life's bytes after
/// the trailer are given back and the chunk stays sealed, with nothing cut
/// as damage.
#[test]
fn a_sealed_recycled_chunk_with_its_old_bytes_after_the_trailer_stays_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let cfg = |d: &Path| Config::new(d).chunk_max_size(2048).recycle_chunks_max(0);
    let log = ChunkLog::open(cfg(&src)).unwrap();
    log.append((1..=100).map(|i| (i, payload(i)))).unwrap();
    log.close().unwrap();
    let sealed = chunk_bytes(&src, 1);
    assert_eq!(&sealed[sealed.len() - 8..], b"CLFOOTER", "chunk 1 is sealed");
    // Another chunk's frames (another salt) stand in for the earlier life.
    let stale = chunk_bytes(&src, 2)[format::HEADER_LEN..].to_vec();

    let open_image = |name: &str, flagged: bool, tail: &[u8]| {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let mut image = sealed.clone();
        if flagged {
            format::set_recycled(&mut image);
        }
        image.extend_from_slice(tail);
        std::fs::write(dir.join(format::chunk_file_name(1)), &image).unwrap();
        (dir.clone(), ChunkLog::open(cfg(&dir)).unwrap())
    };
    let (_, control) = open_image("control", true, &[]);
    let last = control.state().last_index;
    assert!(last.is_some_and(|l| l > 1 && l < 100), "{last:?}");

    let (dir, log) = open_image("flagged", true, &stale);
    assert_eq!(log.state().last_index, last);
    let s = log.stats();
    assert_eq!((s.recycled_bytes_trimmed, s.torn_bytes_cut), (stale.len() as u64, 0), "{s:?}");
    assert_eq!(std::fs::metadata(dir.join(format::chunk_file_name(1))).unwrap().len(), sealed.len() as u64);
    // Still sealed: the next entry goes to a new chunk.
    let next = last.unwrap() + 1;
    log.append([(next, payload(next))]).unwrap();
    log.close().unwrap();
    assert!(dir.join(format::chunk_file_name(2)).exists());
    assert_eq!(ChunkLog::open(cfg(&dir)).unwrap().get(next).unwrap().as_deref(), Some(payload(next).as_slice()));
}

/// A `.free` file whose header does not read (a crash tore its rewrite):
/// the salt of its old bytes is unknown, so open deletes it instead of
/// reusing it; a readable one is kept.
#[test]
fn a_free_file_without_a_readable_header_is_deleted_not_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = || Config::new(dir).chunk_max_size(4096).recycle_chunks_max(4).reclaim_percent(0);
    let log = ChunkLog::open(cfg()).unwrap();
    log.append((1..=300).map(|i| (i, payload(i)))).unwrap();
    log.purge(250, b"p").unwrap();
    log.sync().unwrap();
    wait_for_purges(&log);
    assert_eq!(log.stats().recycled_files, 4);
    log.close().unwrap();
    let free: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "free"))
        .collect();
    assert_eq!(free.len(), 4);
    // Tear the first file's header.
    let mut bytes = std::fs::read(&free[0]).unwrap();
    bytes[20] ^= 0xFF;
    std::fs::write(&free[0], &bytes).unwrap();

    let log = ChunkLog::open(cfg()).unwrap();
    assert_eq!(log.stats().recycled_files, 3);
    assert!(!free[0].exists(), "the torn free file is deleted");
    assert!(free[1..].iter().all(|p| p.exists()));
    assert_eq!(log.read_range(251..=300).unwrap().len(), 50);
}
