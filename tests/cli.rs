//! The `chunklog` command against directories the tests create: clean,
//! torn tail, bit flip in a sealed chunk, missing middle chunk, one locked
//! by an open store, crashed ones (preallocated space after the last
//! record, left by a SIGKILL or made by extending the newest chunk with
//! zeros), read-only ones, and openraft directories of both lines.
#![cfg(feature = "cli")]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chunklog::ChunkLog;
use common::*;

/// The preallocation the engine keeps ahead of the newest chunk's data.
const PREALLOCATED: u64 = 2 << 20;

/// Held while a process is spawned and while a store is closed. From
/// fork to exec a child holds a copy of every descriptor of this process,
/// a store's `LOCK` included, and the lock (flock) stays held while any
/// copy is open: a store closed in that window still looks live to a tool
/// that the test which closed it runs at once. `spawn` returns after the
/// child's exec.
static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn forks() -> std::sync::MutexGuard<'static, ()> {
    FORKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `write` (which opens an openraft store, writes and closes it) on a
/// runtime, with no tool spawned meanwhile (see [`forks`]).
#[cfg(any(feature = "openraft-010", feature = "openraft-09"))]
fn write_openraft_log(write: impl std::future::Future<Output = ()>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _forks = forks();
    rt.block_on(write);
}

fn cli() -> std::process::Command {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("chunklog"))
}

/// Runs `cmd` to its end: exit code, stdout, stderr.
fn output(cmd: &mut std::process::Command) -> (i32, String, String) {
    use std::process::Stdio;
    let child = {
        let _forks = forks();
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn build(dir: &std::path::Path) -> chunklog::Config {
    let cfg = small(dir, 5);
    let log = open(&cfg);
    log.save_vote(b"vote").unwrap();
    for i in 1..=30u64 {
        append_range(&log, i..=i);
        if i == 20 {
            log.purge(4, b"p").unwrap();
        }
        if i == 25 {
            log.save_vote(b"vote 2").unwrap();
        }
    }
    let _forks = forks();
    log.close().unwrap();
    cfg
}

fn run(args: &[&str]) -> (i32, String, String) {
    output(cli().args(args))
}

#[test]
fn clean_directory() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let d = dir.path().to_str().unwrap();
    let before = snapshot_dir(dir.path());

    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("clean"), "{out}");

    let (code, out, _) = run(&["stat", d]);
    assert_eq!(code, 0);
    assert!(out.contains("5..=30") && out.contains("purged     Some(4)"), "{out}");
    assert!(out.contains("sealed") && out.contains("open"), "{out}");
    // Not an openraft tag: the blobs are shown as they are.
    assert!(out.contains("vote       \"vote 2\""), "{out}");

    let (code, out, _) = run(&["stat", d, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"]["last_index"], 30);
    assert_eq!(v["state"]["purged_index"], 4);

    let (code, out, _) = run(&["dump", d, "--from", "10", "--to", "12"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].contains("kind=entry index=10 crc=ok"), "{out}");

    let (code, out, _) = run(&["dump", d, "--format", "json"]);
    assert_eq!(code, 0);
    let kinds: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.iter().any(|k| k == "vote")
            && kinds.iter().any(|k| k == "footer")
            && kinds.iter().any(|k| k == "purge-upto")
    );

    assert_eq!(snapshot_dir(dir.path()), before, "read-only commands changed files");
}

#[test]
fn torn_tail_is_repairable_and_repair_cuts_exactly_that() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let d = dir.path().to_str().unwrap();
    let newest = chunk_files(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    let last = *frames(&newest).last().unwrap();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(len - 5).unwrap();
    let before = snapshot_dir(dir.path());

    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(newest.to_str().unwrap()) && out.contains(&format!("at byte {}", last.offset)), "{out}");
    assert!(out.contains("repairable"), "{out}");
    let (code, out, _) = run(&["check", d, "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "repairable");
    assert_eq!(snapshot_dir(dir.path()), before, "check changed files");

    let (code, out, _) = run(&["repair", d, "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("would cut"), "{out}");
    assert_eq!(snapshot_dir(dir.path()), before, "dry run changed files");

    let (code, out, _) = run(&["repair", d]);
    assert_eq!(code, 0, "{out}");
    let broken = std::fs::read(format!("{}.broken", newest.display())).unwrap();
    assert_eq!(broken.len() as u64, len - 5 - last.offset, "the dropped bytes are kept");
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), last.offset);
    assert_eq!(run(&["check", d]).0, 0);
    assert_entries(&ChunkLog::open(cfg).unwrap(), 5, 29);
}

#[test]
fn bit_flip_in_a_sealed_chunk_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let d = dir.path().to_str().unwrap();
    let sealed = chunk_files(dir.path())[2].clone();
    let victim = frames(&sealed)[2];
    let mut b = std::fs::read(&sealed).unwrap();
    b[(victim.offset + victim.len - 8) as usize] ^= 0x40;
    std::fs::write(&sealed, &b).unwrap();
    let before = snapshot_dir(dir.path());
    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("{} at byte {}", sealed.display(), victim.offset)), "{out}");
    assert!(out.contains("NOT repairable"), "{out}");
    let (code, out, _) = run(&["repair", d]);
    assert_eq!(snapshot_dir(dir.path()), before, "check and a refused repair change nothing");
    // Open does not read sealed payloads, so repair finds nothing to cut;
    // the damage stays reported by check.
    assert!(code == 0 || code == 2, "{out}");
    let (code, out, _) = run(&["dump", d]);
    assert_eq!(code, 2);
    assert!(out.contains(&format!("offset={} ", victim.offset)) && out.contains("crc=BAD"), "dump keeps going: {out}");
    assert!(out.lines().count() > 30, "dump went past the bad record");
}

#[test]
fn missing_middle_chunk_is_refused_and_not_repaired() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let d = dir.path().to_str().unwrap();
    let chunks = chunk_files(dir.path());
    std::fs::remove_file(&chunks[2]).unwrap();
    let before = snapshot_dir(dir.path());
    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is missing") && out.contains(chunks[3].to_str().unwrap()), "{out}");
    let (code, out, _) = run(&["repair", d]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("refusing to repair"), "{out}");
    assert_eq!(snapshot_dir(dir.path()), before);
}

#[test]
fn a_live_store_holds_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let d = dir.path().to_str().unwrap();
    let _live = ChunkLog::open(cfg).unwrap();
    let (code, _, err) = run(&["check", d]);
    assert_eq!(code, 3);
    assert!(err.contains("live process holds the lock") && err.contains("--force-read"), "{err}");
    let (code, _, _) = run(&["repair", d]);
    assert_eq!(code, 3);
    let (code, out, err) = run(&["stat", d, "--force-read"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("5..=30"), "{out}");
}

#[test]
fn usage_errors_exit_3() {
    assert_eq!(run(&["check"]).0, 3);
    assert_eq!(run(&["frobnicate", "x"]).0, 3);
    assert_eq!(run(&["check", "/nonexistent/chunklog/dir"]).0, 3);
    assert_eq!(run(&["--help"]).0, 0);
}

#[cfg(feature = "openraft-010")]
#[test]
fn dump_decodes_openraft_entries() {
    use openraft::entry::RaftEntry;
    use openraft::storage::RaftLogStorage;
    use openraft::storage::RaftLogStorageExt;
    openraft::declare_raft_types!(TC);
    let dir = tempfile::tempdir().unwrap();
    write_openraft_log(async {
        let mut s = chunklog::LogStore::<TC>::open(chunklog::Config::new(dir.path())).unwrap();
        let entries = vec![
            openraft::testing::blank_ent::<TC>(1, 7, 1),
            openraft::type_config::alias::EntryOf::<TC>::new_normal(
                openraft::testing::log_id::<TC>(2, 7, 2),
                "x".to_string(),
            ),
        ];
        s.blocking_append(entries).await.unwrap();
        s.get_log_state().await.unwrap();
        // Dropping an adapter closes in the background; wait for it.
        s.close().await.unwrap();
    });
    let (code, out, _) = run(&["dump", dir.path().to_str().unwrap(), "--decode"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("index=1 crc=ok log_id=T1-N7.1 payload=blank") || out.contains("payload=blank"), "{out}");
    assert!(out.contains("payload=normal"), "{out}");
}

/// Extends `path` with zeros, as the engine's preallocation leaves the
/// newest chunk after an unclean stop.
fn preallocate(path: &Path) -> u64 {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len + PREALLOCATED).unwrap();
    len
}

fn broken_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".broken"))
        .collect()
}

/// `check` (text and JSON), `dump` (text and JSON) and `stat` on a
/// directory whose newest chunk `newest` ends with preallocated space from
/// byte `at`: clean, and no record or problem for the zeros.
fn assert_preallocated_is_clean(d: &str, newest: &Path, at: u64) {
    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 0, "preallocated space is not damage: {out}");
    assert!(
        out.contains(&format!(
            "{}: newest chunk ends with {PREALLOCATED} bytes of preallocated space from byte {at}",
            newest.display()
        )),
        "{out}"
    );
    assert!(out.contains("clean:") && !out.contains("zero-filled") && !out.contains("repairable"), "{out}");

    let (code, out, _) = run(&["check", d, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "clean", "{out}");
    assert_eq!(v["problems"], serde_json::json!([]), "{out}");
    assert_eq!(v["repairs"], serde_json::json!([]), "{out}");
    assert_eq!(v["preallocated"], serde_json::json!([{"file": newest, "at": at, "bytes": PREALLOCATED}]), "{out}");

    let (code, out, _) = run(&["dump", d]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("crc=BAD") && !out.contains("unreadable"), "the zeros are not a record: {out}");
    let (code, out, _) = run(&["dump", d, "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let records: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(records.iter().all(|r| r["crc_ok"] == true), "{out}");
    // The last record (with a sealed chunk's trailer) ends where the zeros start.
    let last = records.last().unwrap();
    let trailer = if last["kind"] == "footer" { chunklog::format::TRAILER_LEN as u64 } else { 0 };
    assert_eq!(last["offset"].as_u64().unwrap() + last["len"].as_u64().unwrap() + trailer, at, "{out}");

    let (code, out, _) = run(&["stat", d, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let chunks = v["chunks"].as_array().unwrap();
    assert_eq!(chunks.last().unwrap()["preallocated_bytes"], PREALLOCATED, "{out}");
}

#[test]
fn preallocated_space_is_clean_and_repair_gives_it_back_unsaved() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let d = dir.path().to_str().unwrap();
    let newest = chunk_files(dir.path()).pop().unwrap();
    let at = preallocate(&newest);
    let before = snapshot_dir(dir.path());

    assert_preallocated_is_clean(d, &newest, at);
    assert_eq!(snapshot_dir(dir.path()), before, "read-only commands changed files");

    let (code, out, _) = run(&["repair", d, "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("would give back {PREALLOCATED} bytes of preallocated space")), "{out}");
    assert_eq!(snapshot_dir(dir.path()), before, "dry run changed files");
    let (code, out, _) = run(&["repair", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("did give back") && out.contains("nothing to save") && !out.contains(".broken"), "{out}");
    assert_eq!(broken_files(dir.path()), Vec::<PathBuf>::new(), "zeros are not saved");
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), at);
    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("preallocated"), "{out}");
    assert_entries(&ChunkLog::open(cfg).unwrap(), 5, 30);
}

/// A crash after a chunk was sealed but before its preallocated space was
/// given back and the next chunk created: the newest chunk is sealed and
/// zeros follow its trailer.
#[test]
fn preallocated_space_after_a_sealed_newest_chunk_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let d = dir.path().to_str().unwrap();
    let chunks = chunk_files(dir.path());
    let sealed = chunks[chunks.len() - 2].clone();
    std::fs::remove_file(chunks.last().unwrap()).unwrap();
    let last_index = frames(&sealed).iter().filter_map(|f| f.index).max().unwrap();
    let at = preallocate(&sealed);

    assert_preallocated_is_clean(d, &sealed, at);
    let (code, out, _) = run(&["stat", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" sealed ") && out.contains(&format!("of which {PREALLOCATED} bytes preallocated")), "{out}");

    let (code, out, _) = run(&["repair", d]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(broken_files(dir.path()), Vec::<PathBuf>::new(), "zeros are not saved");
    assert_eq!(std::fs::metadata(&sealed).unwrap().len(), at);
    assert_entries(&ChunkLog::open(cfg).unwrap(), 5, last_index);
}

/// A record torn by the crash, with the preallocated zeros after it: still
/// a torn tail (exit 1), and `repair` keeps exactly the bytes it drops.
#[test]
fn torn_record_before_preallocated_space_is_still_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    let d = dir.path().to_str().unwrap();
    let newest = chunk_files(dir.path()).pop().unwrap();
    let last = *frames(&newest).last().unwrap();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(last.offset + last.len - 3).unwrap();
    preallocate(&newest);
    let bytes = std::fs::read(&newest).unwrap();

    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("at byte {}", last.offset)) && out.contains("repairable"), "{out}");
    assert!(!out.contains("preallocated"), "{out}");
    let (code, out, _) = run(&["check", d, "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "repairable");
    assert_eq!(v["repairs"][0]["at"], last.offset, "{out}");
    assert_eq!(v["preallocated"], serde_json::json!([]), "{out}");
    let (code, out, _) = run(&["dump", d]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("offset={} ", last.offset)) && out.contains("crc=BAD"), "{out}");

    let (code, out, _) = run(&["repair", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("saved to"), "{out}");
    let broken = std::fs::read(format!("{}.broken", newest.display())).unwrap();
    assert_eq!(broken, bytes[last.offset as usize..], "the .broken copy holds exactly the dropped bytes");
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), last.offset);
    assert_entries(&ChunkLog::open(cfg).unwrap(), 5, 29);
}

const CRASH_CHILD: &str = "CHUNKLOG_CLI_CRASH_CHILD";

/// The store that `a_killed_store_leaves_a_clean_directory` kills (a no-op
/// in a normal test run).
#[test]
fn crash_child_entry_point() {
    let Ok(dir) = std::env::var(CRASH_CHILD) else { return };
    let log = open(&small(Path::new(&dir), 5));
    log.save_vote(b"vote").unwrap();
    for i in 1..=12u64 {
        append_range(&log, i..=i);
    }
    println!("synced");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_killed_store_leaves_a_clean_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let mut child = {
        let _forks = forks();
        ChildGuard(spawn_child("crash_child_entry_point", &[(CRASH_CHILD, d.to_string())]))
    };
    let rx = lines(&mut child.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rx.recv_timeout(Duration::from_millis(100)).is_ok_and(|l| l == "synced") {
        assert!(Instant::now() < deadline, "child did not sync");
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();

    let newest = chunk_files(dir.path()).pop().unwrap();
    let end = frames(&newest).last().map(|f| f.offset + f.len).unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    assert!(len > end, "the killed store left preallocated space ({len} bytes, records end at {end})");

    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 0, "a killed store is not a damaged one: {out}");
    assert!(out.contains(&format!("ends with {} bytes of preallocated space from byte {end}", len - end)), "{out}");
    let (code, out, _) = run(&["dump", d]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("crc=BAD"), "{out}");
    let (code, out, _) = run(&["stat", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("entries    1..=12"), "{out}");
}

/// Name, bytes, permissions and modification time of every file.
fn snapshot_meta(dir: &Path) -> Vec<(String, Vec<u8>, u32, std::time::SystemTime)> {
    use std::os::unix::fs::PermissionsExt;
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap(), m.permissions().mode(), m.modified().unwrap())
        })
        .collect();
    v.sort();
    v
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Makes directories writable again on drop, so that a failing test's
/// temporary directory can still be removed.
struct Writable(Vec<PathBuf>);

impl Drop for Writable {
    fn drop(&mut self) {
        for d in &self.0 {
            set_mode(d, 0o755);
        }
    }
}

/// Runs the tool so that the directory is read-only to it: as user and
/// group `nobody` when the tests run as root (for whom permission bits do
/// not stop a write), as the current user otherwise.
fn run_read_only(args: &[&str]) -> (i32, String, String) {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let mut cmd = cli();
    cmd.args(args);
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        cmd.uid(65534).gid(65534);
    }
    output(&mut cmd)
}

/// `check`, `stat` and `dump` of a crashed directory whose files and
/// directory are read-only, with the store's `LOCK` and without (a copy
/// of the chunk files): they open nothing for writing, create no `LOCK`,
/// and change no byte or modification time.
#[test]
fn read_only_directory_is_read_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let with_lock = dir.path().join("with-lock");
    let copy = dir.path().join("copy");
    build(&with_lock);
    preallocate(&chunk_files(&with_lock).pop().unwrap());
    std::fs::create_dir(&copy).unwrap();
    for c in chunk_files(&with_lock) {
        std::fs::copy(&c, copy.join(c.file_name().unwrap())).unwrap();
    }
    set_mode(dir.path(), 0o755);
    let _writable = Writable(vec![with_lock.clone(), copy.clone()]);
    for d in [&with_lock, &copy] {
        for f in std::fs::read_dir(d).unwrap() {
            set_mode(&f.unwrap().path(), 0o444);
        }
        set_mode(d, 0o555);
    }
    let snapshot = || [snapshot_meta(&with_lock), snapshot_meta(&copy)];
    let before = snapshot();

    for d in [&with_lock, &copy] {
        let d = d.to_str().unwrap();
        let (code, out, err) = run_read_only(&["check", d]);
        assert_eq!(code, 0, "check {d}: {out}{err}");
        assert!(out.contains("preallocated space") && out.contains("clean:"), "{out}");
        let (code, out, err) = run_read_only(&["stat", d]);
        assert_eq!(code, 0, "stat {d}: {out}{err}");
        assert!(out.contains("5..=30"), "{out}");
        let (code, out, err) = run_read_only(&["dump", d]);
        assert_eq!(code, 0, "dump {d}: {err}");
        assert!(out.lines().count() > 30 && !out.contains("crc=BAD"), "{out}");
        assert!(err.is_empty(), "no warning when the lock can be taken: {err}");
    }
    assert_eq!(snapshot(), before, "the read-only commands changed a file");
    assert!(!copy.join("LOCK").exists(), "no LOCK is created");
}

/// A read-only command that can only open `LOCK` for reading still sees a
/// live store's lock and refuses.
#[test]
fn read_only_command_still_sees_a_live_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build(dir.path());
    set_mode(dir.path(), 0o755);
    let _live = ChunkLog::open(cfg).unwrap();
    let d = dir.path().to_str().unwrap();
    for cmd in ["check", "stat", "dump"] {
        let (code, _, err) = run_read_only(&[cmd, d]);
        assert_eq!(code, 3, "{cmd}: {err}");
        assert!(err.contains("live process holds the lock"), "{cmd}: {err}");
    }
    let (code, out, err) = run_read_only(&["stat", d, "--force-read"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("5..=30"), "{out}");
}

#[cfg(feature = "openraft-010")]
#[test]
fn stat_decodes_the_openraft_010_vote_and_committed_log_id() {
    use openraft::entry::RaftEntry;
    use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
    use openraft::testing::log_id;
    openraft::declare_raft_types!(TC);
    let dir = tempfile::tempdir().unwrap();
    write_openraft_log(async {
        let mut s = chunklog::LogStore::<TC>::open(chunklog::Config::new(dir.path())).unwrap();
        let entries = (1..=3)
            .map(|i| openraft::type_config::alias::EntryOf::<TC>::new_normal(log_id::<TC>(2, 7, i), format!("e{i}")));
        s.blocking_append(entries.collect::<Vec<_>>()).await.unwrap();
        s.save_vote(&openraft::Vote::new_committed(2, 7)).await.unwrap();
        s.save_committed(Some(log_id::<TC>(2, 7, 2))).await.unwrap();
        // Dropping an adapter closes in the background; wait for it.
        s.close().await.unwrap();
    });
    let d = dir.path().to_str().unwrap();
    let (code, out, _) = run(&["stat", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("vote       <T2-N7:Q>"), "{out}");
    assert!(out.contains("committed  T2-N7.2"), "{out}");
    let (code, out, _) = run(&["stat", d, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"]["vote"], "<T2-N7:Q>", "{out}");
    assert_eq!(v["state"]["committed"], "T2-N7.2", "{out}");
}

#[cfg(feature = "openraft-09")]
#[test]
fn stat_and_dump_decode_an_openraft_09_directory_as_09() {
    use openraft09::storage::{RaftLogStorage, RaftLogStorageExt};
    use openraft09::testing::log_id;
    use openraft09::{Entry, EntryPayload, Vote};
    openraft09::declare_raft_types!(TC9: D = String, R = String, SnapshotData = std::io::Cursor<Vec<u8>>);
    let dir = tempfile::tempdir().unwrap();
    write_openraft_log(async {
        let mut s = chunklog::v09::LogStore::<TC9>::open(chunklog::Config::new(dir.path())).unwrap();
        let entries: Vec<Entry<TC9>> = (1..=3)
            .map(|i| Entry { log_id: log_id(1, 1, i), payload: EntryPayload::Normal(format!("e{i}")) })
            .collect();
        s.blocking_append(entries).await.unwrap();
        s.save_vote(&Vote::new(3, 1)).await.unwrap();
        s.save_committed(Some(log_id(1, 1, 2))).await.unwrap();
        // Dropping an adapter closes in the background; wait for it.
        s.close().await.unwrap();
    });
    let d = dir.path().to_str().unwrap();
    let (code, out, _) = run(&["stat", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("vote       T3-N1:uncommitted"), "{out}");
    assert!(out.contains("committed  T1-N1-2"), "{out}");
    let (code, out, _) = run(&["dump", d, "--decode"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("index=1 crc=ok log_id=T1-N1-1 payload=normal"), "{out}");
}
