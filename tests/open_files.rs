//! A log with more chunks than the process may open files: open, read,
//! append across rotations and purge under `RLIMIT_NOFILE` 256, in a child
//! process so the limit binds nothing else. Before chunk handles were
//! bounded, such a log refused to open with EMFILE.

mod common;

use chunklog::{ChunkLog, Config};
use common::payload;

const CHILD: &str = "CHUNKLOG_OPEN_FILES_CHILD";
const CHUNKS: u64 = 2000;
/// Two entries per chunk (the checkpoint is the third record).
const PER_CHUNK: u64 = 2;

fn cfg(dir: &str) -> Config {
    Config::new(dir).chunk_max_records(PER_CHUNK + 1).cache(0, 0)
}

/// Entry point of the child process (a no-op in a normal test run).
#[test]
fn child_entry_point() {
    let Ok(dir) = std::env::var(CHILD) else { return };
    let limit = libc::rlimit { rlim_cur: 256, rlim_max: 256 };
    // SAFETY: setrlimit with a valid, initialised struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);

    let log = ChunkLog::open(cfg(&dir)).expect("open under RLIMIT_NOFILE 256");
    let last = CHUNKS * PER_CHUNK;
    assert_eq!(log.state().last_index, Some(last));
    for start in (1..=last).step_by(100) {
        for (i, b) in log.read_range(start..start + 100).expect("read") {
            assert_eq!(b.as_ref(), payload(i).as_slice(), "entry {i}");
        }
    }
    let open = log.stats().open_chunk_files;
    assert!(open <= Config::new(&dir).open_chunks_max, "{open} chunk files open");
    // Append across 300 rotations, then purge half the log.
    for i in last + 1..=last + 600 {
        log.append([(i, payload(i))]).expect("append");
    }
    log.sync().expect("sync");
    log.purge(last / 2, b"half").expect("purge");
    log.sync().expect("sync");
    for (i, b) in log.read_range(last / 2 + 1..).expect("read after purge") {
        assert_eq!(b.as_ref(), payload(i).as_slice(), "entry {i}");
    }
    log.close().expect("close");
    let log = ChunkLog::open(cfg(&dir)).expect("reopen");
    assert_eq!(log.state().first_index, Some(last / 2 + 1));
    assert_eq!(log.state().last_index, Some(last + 600));
    println!("child ok");
}

#[test]
fn thousands_of_chunks_under_a_low_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    {
        let log = ChunkLog::open(cfg(&d)).unwrap();
        for start in (1..=CHUNKS * PER_CHUNK).step_by(PER_CHUNK as usize) {
            log.append((start..start + PER_CHUNK).map(|i| (i, payload(i)))).unwrap();
        }
        log.close().unwrap();
    }
    assert!(common::chunk_files(dir.path()).len() as u64 >= CHUNKS);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry_point", "--nocapture", "--test-threads=1", "-q"])
        .env(CHILD, d)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("child ok"), "child failed: {:?}\n{stdout}\n{stderr}", out.status);
}
