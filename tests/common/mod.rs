//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chunklog::{ChunkLog, Config};

/// A deterministic payload for entry `i`, of a length that varies with `i`.
pub fn payload(i: u64) -> Vec<u8> {
    let len = 16 + (i % 23) as usize * 7;
    (0..len).map(|k| (i as usize * 31 + k * 7) as u8).collect()
}

/// A config with small chunks (`records` per chunk) and the cache off.
pub fn small(dir: &Path, records: u64) -> Config {
    Config::new(dir).chunk_max_records(records).cache(0, 0)
}

pub fn open(cfg: &Config) -> ChunkLog {
    ChunkLog::open(cfg.clone()).expect("open")
}

/// Appends `range` with [`payload`] and waits until durable.
pub fn append_range(log: &ChunkLog, range: std::ops::RangeInclusive<u64>) {
    log.append(range.map(|i| (i, payload(i)))).expect("append");
    log.sync().expect("sync");
}

/// Sorted chunk file paths in `dir`.
pub fn chunk_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "chunk"))
        .collect();
    v.sort();
    v
}

/// Every entry from first to last reads back as [`payload`].
pub fn assert_entries(log: &ChunkLog, first: u64, last: u64) {
    let st = log.state();
    assert_eq!(st.first_index, Some(first), "first index");
    assert_eq!(st.last_index, Some(last), "last index");
    let got = log.read_range(..).expect("read");
    assert_eq!(got.len() as u64, last - first + 1);
    for (k, (i, b)) in got.iter().enumerate() {
        assert_eq!(*i, first + k as u64);
        assert_eq!(b.as_ref(), payload(*i).as_slice(), "payload of entry {i}");
    }
}

/// Bytes of every file in `dir`, by name.
pub fn snapshot_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

/// One frame of a chunk file as the tests see it.
#[derive(Clone, Copy, Debug)]
pub struct FrameAt {
    pub offset: u64,
    pub len: u64,
    pub kind: chunklog::format::RecordKind,
    pub index: Option<u64>,
    /// The flush that wrote it (format 2).
    pub seq: u32,
}

/// Every valid frame of a chunk file from the header on, stopping at the
/// first invalid one (or after the footer), read with the library's own
/// chunk reader (`inspect::scan_chunk`).
pub fn frames(path: &Path) -> Vec<FrameAt> {
    let id = path.file_name().and_then(|n| chunklog::format::parse_chunk_file_name(n.to_str()?)).unwrap_or(0);
    let mut out = Vec::new();
    let mut bad = false;
    let mut problems = Vec::new();
    chunklog::inspect::scan_chunk(&chunklog::vfs::StdVfs, id, path, false, &mut problems, |r, _| {
        bad |= !r.crc_ok || r.kind.is_none();
        if !bad {
            let kind = r.kind.expect("checked");
            out.push(FrameAt { offset: r.offset, len: r.len, kind, index: r.index, seq: r.seq });
        }
    })
    .expect("scan chunk");
    out
}

/// Restores a file to `bytes` (after a test damaged or a repair cut it).
pub fn restore(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// A scale factor for heavy sweeps: `CHUNKLOG_FAULT_SCALE` (default 1).
pub fn scale() -> u64 {
    std::env::var("CHUNKLOG_FAULT_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

pub mod counting;
pub mod memfs;
pub mod model;
#[cfg(feature = "openraft-010")]
pub mod single_node;

/// Runs this test binary again as a child process that executes only the
/// test `entry` (which acts as a child when `env` is set).
pub fn spawn_child(entry: &str, env: &[(&str, String)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1", "-q"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    cmd.spawn().expect("spawn child")
}

/// Kills the child on drop, so a failing test leaves no process behind.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a child's stdout lines on a thread; lines arrive on the channel.
pub fn lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (at most 10 s) until `cond` holds: chunk deletion after a purge
/// runs on a background thread once the purge is durable.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Holds the flush thread inside a flush callback until dropped, so that
/// everything submitted meanwhile goes into one flush (one write, one
/// `fdatasync`, one flush sequence number): the flush thread otherwise
/// takes each write as soon as it is queued, and flush boundaries would
/// depend on timing. Do not wait for durability while holding it.
pub struct FlushGate(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

/// Returns once the flush thread is held (or at once if the store has
/// failed or closed).
pub fn hold_flushes(log: &ChunkLog) -> FlushGate {
    let (entered_tx, entered_rx) = std::sync::mpsc::sync_channel(1);
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    log.flush(Box::new(move |r| {
        let _ = entered_tx.send(());
        if r.is_ok() {
            // Returns when the gate's sender is dropped.
            let _ = release_rx.recv();
        }
    }));
    let _ = entered_rx.recv();
    FlushGate(release_tx)
}
