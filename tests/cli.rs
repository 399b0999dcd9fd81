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

// ------------------------------------------------------------ groups

/// A format-2 store of groups 1, 2, 3 and 4, group 3 removed, no group
/// 0: group 1 idle (two entries, a vote), copied forward once by
/// reclamation (entry-copy records) so chunk 1 went (with the vote
/// record: the checkpoints keep the vote); group 2 busy (40 entries,
/// purged to 30); group 4 three entries; group 3 five entries and a vote,
/// then removed. Background reclamation is off, so the layout is what
/// these calls made.
fn build_groups(dir: &Path) -> chunklog::Config {
    let cfg = small(dir, 8).reclaim_percent(0);
    let log = open(&cfg);
    let (idle, busy, gone, four) = (log.group(1), log.group(2), log.group(3), log.group(4));
    append_range(&idle, 1..=2);
    idle.save_vote(b"idle vote").unwrap();
    append_range(&four, 1..=3);
    for i in 1..=24u64 {
        append_range(&busy, i..=i);
    }
    let copied = log.copy_oldest_chunk().unwrap();
    assert_eq!(copied.chunk, Some(1), "{copied:?}");
    assert!(copied.entries >= 2, "group 1's entries were copied: {copied:?}");
    append_range(&gone, 1..=5);
    gone.save_vote(b"gone vote").unwrap();
    for i in 25..=40u64 {
        append_range(&busy, i..=i);
    }
    busy.purge(30, b"p2").unwrap();
    gone.remove_group().unwrap();
    log.sync().unwrap();
    assert_eq!(log.groups(), vec![1, 2, 4]);
    let _forks = forks();
    log.close().unwrap();
    cfg
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `dump --format json` of `args`: every record.
fn dump_json(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["dump"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let (code, out, err) = run(&all);
    assert_eq!(code, 0, "{out}{err}");
    out.lines().map(json).collect()
}

/// `stat` of a store of several groups agrees with what the engine
/// reports once it reopens the directory: groups, their entries, live
/// bytes, the groups pinning the oldest chunk.
#[test]
fn stat_summarises_groups_as_the_engine_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build_groups(dir.path());
    let d = dir.path().to_str().unwrap();
    let before = snapshot_dir(dir.path());
    let disk: u64 = chunk_files(dir.path()).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();

    let (code, out, _) = run(&["stat", d, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    let (code, all, _) = run(&["stat", d, "--json", "--all-groups"]);
    assert_eq!(code, 0, "{all}");
    let all = json(&all);
    let (code, top, _) = run(&["stat", d, "--json", "--groups", "1"]);
    assert_eq!(code, 0, "{top}");
    let top = json(&top);
    let (code, text, _) = run(&["stat", d]);
    assert_eq!(code, 0, "{text}");
    let (code, text2, _) = run(&["stat", d, "--groups", "2", "--group", "2"]);
    assert_eq!(code, 0, "{text2}");
    let (code, text0, _) = run(&["stat", d, "--group", "3"]);
    assert_eq!(code, 0, "{text0}");
    assert_eq!(snapshot_dir(dir.path()), before, "stat changed files");

    // What the engine says after open (reclamation off: open changes
    // nothing that these numbers count).
    let log = open(&cfg);
    let stats = log.stats();
    let pins = log.pinning();
    assert!(!pins.is_empty(), "group 1's copies pin an older chunk than the open one");
    assert_eq!(v["group_count"], 3, "{v}");
    assert_eq!(v["live_bytes"], stats.live_bytes, "{v}");
    assert_eq!(v["bytes_on_disk"], disk, "{v}");
    assert_eq!(v["formats"], serde_json::json!([2]), "{v}");
    assert!(v["chunks"].as_array().unwrap().iter().all(|c| c["version"] == 2), "{v}");
    let chunk_live: u64 = v["chunks"].as_array().unwrap().iter().map(|c| c["live_bytes"].as_u64().unwrap()).sum();
    assert_eq!(chunk_live, stats.live_bytes, "live bytes per chunk add up: {v}");
    let want_pins: Vec<serde_json::Value> = pins
        .iter()
        .map(|p| serde_json::json!({"group": p.group, "chunk": p.chunk, "entries": p.entries, "bytes": p.bytes}))
        .collect();
    assert_eq!(v["pinning"], serde_json::json!(want_pins), "{v}");
    let listed = all["groups"].as_array().unwrap();
    assert_eq!(listed.iter().map(|g| g["group"].as_u64().unwrap()).collect::<Vec<_>>(), log.groups());
    let mut live = 0;
    for g in listed {
        let st = log.group(g["group"].as_u64().unwrap()).state();
        assert_eq!(g["entries"], st.entry_count(), "{g}");
        assert_eq!(g["first_index"], serde_json::json!(st.first_index), "{g}");
        assert_eq!(g["last_index"], serde_json::json!(st.last_index), "{g}");
        live += g["live_bytes"].as_u64().unwrap();
    }
    assert_eq!(live, stats.live_bytes);
    let busy = &listed[1];
    assert_eq!(
        (busy["group"].as_u64(), busy["entries"].as_u64(), busy["purged_index"].as_u64()),
        (Some(2), Some(10), Some(30))
    );
    // --groups 1: the group with the most live bytes, group 2.
    assert_eq!(top["groups"].as_array().unwrap().len(), 1, "{top}");
    assert_eq!(top["groups"][0]["group"], 2, "{top}");
    assert_eq!(top["group_count"], 3, "{top}");
    // No group 0 in this store: its state is not there.
    assert_eq!(v["state"], serde_json::Value::Null, "{v}");
    drop(log);

    assert!(text.contains("format 2") && text.contains("  v2  "), "{text}");
    assert!(
        text.contains(&format!("3 groups, {} bytes of live entries, {disk} bytes on disk", stats.live_bytes)),
        "{text}"
    );
    let p = &pins[0];
    assert!(
        text.contains(&format!("pinned by {} group", pins.len()))
            && text.contains(&format!("group {} ({} entries, {} bytes)", p.group, p.entries, p.bytes)),
        "{text}"
    );
    assert!(!text.contains("log state"), "no group 0, none asked for: {text}");
    // One row per group: id, entries, first..=last, live bytes.
    let row = |out: &str, g: u64| {
        out.lines()
            .filter(|l| l.starts_with("  ") && l.split_whitespace().count() == 5)
            .find(|l| l.split_whitespace().next() == Some(&g.to_string()))
            .map(String::from)
    };
    assert!(
        row(&text, 2).is_some_and(|r| r.split_whitespace().take(3).collect::<Vec<_>>() == ["2", "10", "31..=40"]),
        "{text}"
    );
    assert!(row(&text, 3).is_none(), "group 3 was removed: {text}");
    assert!(text2.contains("(2 of 3 groups listed"), "{text2}");
    assert!(row(&text2, 2).is_some() && row(&text2, 1).is_none(), "the two with the most bytes: {text2}");
    assert!(
        text2.contains("log state of group 2:")
            && text2.contains("entries    31..=40")
            && text2.contains("purged     Some(30)"),
        "{text2}"
    );
    assert!(text0.contains("log state of group 3: no such group"), "{text0}");
}

/// `dump --group G` shows exactly G's records: its entries, entry copies,
/// vote and removal; plain `dump` names every record's group, `--verbose`
/// its flush.
#[test]
fn dump_shows_groups_and_filters_by_group() {
    let dir = tempfile::tempdir().unwrap();
    build_groups(dir.path());
    let d = dir.path().to_str().unwrap();

    let every = dump_json(&[d]);
    assert!(every.iter().all(|r| r["crc_ok"] == true && r["seq"].is_u64()), "format 2 frames carry a flush");
    assert!(every.iter().filter(|r| r["kind"] == "entry").all(|r| r["seq"].as_u64() > Some(0)));
    let groups: std::collections::BTreeSet<u64> = every.iter().map(|r| r["group"].as_u64().unwrap()).collect();
    assert_eq!(groups, [0, 1, 2, 3, 4].into(), "checkpoints and footers are group 0's");
    for g in [1u64, 2, 3, 4] {
        let mine: Vec<&serde_json::Value> =
            every.iter().filter(|r| r["group"] == g && r["kind"] != "checkpoint" && r["kind"] != "footer").collect();
        let filtered = dump_json(&[d, "--group", &g.to_string()]);
        assert_eq!(filtered.iter().collect::<Vec<_>>(), mine, "group {g}");
    }
    let kinds = |g: &str| -> Vec<(String, Option<u64>)> {
        dump_json(&[d, "--group", g])
            .iter()
            .map(|r| (r["kind"].as_str().unwrap().to_string(), r["index"].as_u64()))
            .collect()
    };
    // Group 1: chunk 1 went, its entries live on as copies.
    let one = kinds("1");
    assert_eq!(one, [("entry-copy".into(), Some(1)), ("entry-copy".into(), Some(2))], "chunk 1 went");
    // Group 3: its five entries, its vote and its removal.
    let three = kinds("3");
    let want: Vec<(String, Option<u64>)> = (1..=5)
        .map(|i| ("entry".into(), Some(i)))
        .chain([("vote".into(), None), ("group-removed".into(), None)])
        .collect();
    assert_eq!(three, want);
    assert!(kinds("9").is_empty(), "no such group, no records");

    let (code, out, _) = run(&["dump", d, "--group", "2", "--from", "35", "--to", "36"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains(" group=2 kind=entry index=35 crc=ok"), "{out}");
    let (code, out, _) = run(&["dump", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().all(|l| l.contains(" group=")), "{out}");
    assert!(out.contains(" group=0 kind=checkpoint ") && out.contains(" group=3 kind=group-removed "), "{out}");
    assert!(!out.contains(" seq="), "the flush only with --verbose: {out}");
    let (code, out, _) = run(&["dump", d, "--verbose", "--group", "3"]);
    assert_eq!(code, 0, "{out}");
    let removed = every.iter().find(|r| r["kind"] == "group-removed").unwrap();
    assert!(out.contains(&format!(" group=3 seq={} kind=group-removed ", removed["seq"])), "{out}");
}

/// `check --group G` reports G's state and entry count; damage anywhere
/// in the directory is still reported and still decides the exit code.
#[test]
fn check_reports_a_group_and_the_whole_directory() {
    let dir = tempfile::tempdir().unwrap();
    build_groups(dir.path());
    let d = dir.path().to_str().unwrap();

    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("clean: ") && out.contains(", 3 groups, every CRC verified"), "{out}");
    let (code, out, _) = run(&["check", d, "--group", "2"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("group 2: 10 entries") && out.contains("entries    31..=40"), "{out}");
    assert!(out.contains("purged     Some(30)") && out.contains("clean: "), "{out}");
    let (code, out, _) = run(&["check", d, "--group", "3"]);
    assert_eq!(code, 0, "a removed group is not damage: {out}");
    assert!(out.contains("group 3: no such group (3 groups in the log)"), "{out}");
    let (code, out, _) = run(&["check", d, "--group", "1", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    assert_eq!(v["groups"], 3, "{v}");
    assert_eq!(v["group"]["exists"], true, "{v}");
    assert_eq!(v["group"]["state"]["entries"], 2, "{v}");
    assert_eq!(v["group"]["state"]["vote"], "\"idle vote\"", "{v}");
    let (_, out, _) = run(&["check", d, "--group", "3", "--json"]);
    assert_eq!(json(&out)["group"]["exists"], false, "{out}");

    // A bit flip in a sealed chunk's entry of group 2: corrupt, whatever
    // group is asked about.
    let sealed = chunk_files(dir.path())[0].clone();
    let victim = *frames(&sealed).iter().find(|f| f.index.is_some()).unwrap();
    let mut b = std::fs::read(&sealed).unwrap();
    b[(victim.offset + victim.len - 8) as usize] ^= 0x40;
    std::fs::write(&sealed, &b).unwrap();
    let (code, out, _) = run(&["check", d, "--group", "4"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("{} at byte {}", sealed.display(), victim.offset)), "{out}");
    assert!(out.contains("group 4: 3 entries") && out.contains("corrupt:"), "{out}");
    let (code, out, _) = run(&["dump", d, "--group", "4"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("offset={} len={} group=? kind=", victim.offset, victim.len)),
        "damage is shown: {out}"
    );
}

/// A torn tail of a format-2 store of several groups: the torn record is
/// group 3's removal, so after the repair group 3 is back.
#[test]
fn repair_cuts_a_torn_tail_of_a_format_2_store_of_groups() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = build_groups(dir.path());
    let d = dir.path().to_str().unwrap();
    let newest = chunk_files(dir.path()).pop().unwrap();
    let last = *frames(&newest).last().unwrap();
    assert_eq!(last.kind, chunklog::format::RecordKind::GroupRemoved);
    let len = std::fs::metadata(&newest).unwrap().len();
    assert_eq!(last.offset + last.len, len);
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(len - 3).unwrap();

    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("at byte {}", last.offset)) && out.contains("repairable"), "{out}");
    let (code, out, _) = run(&["repair", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("did cut {} at byte {}", newest.display(), last.offset)), "{out}");
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), last.offset);
    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(", 4 groups,"), "the removal was cut: {out}");
    let log = open(&cfg);
    assert_eq!(log.groups(), vec![1, 2, 3, 4]);
    assert_entries(&log.group(3), 1, 5);
    assert_entries(&log.group(2), 31, 40);
}

/// A power cut during the last flush's fdatasync can persist a later page
/// and not an earlier one: a zeroed page in the middle of the newest
/// chunk's last flush (of several groups, several pages), valid frames of
/// that flush after it. Repairable (exit 1, not 2), and the repair cuts
/// the whole flush.
#[test]
fn repair_cuts_a_last_flush_whose_pages_landed_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    build_groups(dir.path());
    let d = dir.path().to_str().unwrap();
    // No rotation in the middle of the flush.
    let cfg = small(dir.path(), 1000).reclaim_percent(0);
    {
        let log = open(&cfg);
        log.sync().unwrap();
        // Hold the flush thread so the writes of three groups go in one flush.
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        log.flush(Box::new(move |_| {
            entered_tx.send(()).unwrap();
            let _ = wait.recv();
        }));
        entered.recv().unwrap();
        let big = |i: u64| vec![i as u8; 900];
        log.group(1).append((3..=10).map(|i| (i, big(i)))).unwrap();
        log.group(2).append((41..=50).map(|i| (i, big(i)))).unwrap();
        log.group(4).write_vote(b"four").unwrap();
        log.group(1).append((11..=14).map(|i| (i, big(i)))).unwrap();
        release.send(()).unwrap();
        log.sync().unwrap();
        let _forks = forks();
        log.close().unwrap();
    }
    let newest = chunk_files(dir.path()).pop().unwrap();
    let all = frames(&newest);
    let f = all.last().unwrap().seq;
    let flush: Vec<_> = all.iter().filter(|x| x.seq == f).copied().collect();
    assert_eq!(flush.len(), 8 + 10 + 1 + 4, "one flush wrote every record: {all:?}");
    let start = flush[0].offset;
    let end = flush.last().map(|x| x.offset + x.len).unwrap();
    assert_eq!(end, std::fs::metadata(&newest).unwrap().len());
    // The page holding the flush's middle, with whole frames of it after.
    let page = ((start + end) / 2) & !4095;
    assert!(page > start && page + 4096 < flush.last().unwrap().offset, "{start} {page} {end}");
    let bytes = std::fs::read(&newest).unwrap();
    let mut damaged = bytes.clone();
    damaged[page as usize..page as usize + 4096].fill(0);
    std::fs::write(&newest, &damaged).unwrap();

    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 1, "an unacknowledged flush is repairable, not corruption: {out}");
    assert!(out.contains("repairable: only a torn tail"), "{out}");
    let (code, out, _) = run(&["check", d, "--json"]);
    assert_eq!(code, 1, "{out}");
    let v = json(&out);
    assert_eq!(v["repairs"], serde_json::json!([{"cut": newest, "at": start, "dropped": end - start}]), "{v}");
    assert!(v["problems"].as_array().unwrap().iter().all(|p| p["repairable"] == true), "{v}");

    let (code, out, _) = run(&["repair", d]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("did cut {} at byte {start}, dropping {} bytes", newest.display(), end - start)),
        "{out}"
    );
    let broken = std::fs::read(format!("{}.broken", newest.display())).unwrap();
    assert_eq!(broken, damaged[start as usize..], "the whole flush is kept aside");
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), start);
    let (code, out, _) = run(&["check", d]);
    assert_eq!(code, 0, "{out}");
    let log = open(&cfg);
    assert_entries(&log.group(1), 1, 2);
    assert_entries(&log.group(2), 31, 40);
    assert_eq!(log.group(4).state().vote, None, "the vote of the cut flush is gone too");
}

/// Format-1 directories (frozen fixtures): one group, 0, version 1.
#[test]
fn format_1_fixtures_are_group_0_version_1() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    for name in ["one_chunk", "sealed_chunks", "truncate_purge"] {
        let dir = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(fixtures.join(name)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
        let d = dir.path().to_str().unwrap();
        let (code, out, _) = run(&["stat", d, "--json"]);
        assert_eq!(code, 0, "{name}: {out}");
        let v = json(&out);
        assert_eq!(v["formats"], serde_json::json!([1]), "{name}: {v}");
        assert_eq!(v["group_count"], 1, "{name}: {v}");
        assert_eq!(v["groups"][0]["group"], 0, "{name}: {v}");
        assert!(v["pinning"].as_array().unwrap().iter().all(|p| p["group"] == 0), "{name}: {v}");
        let (code, out, _) = run(&["stat", d]);
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains(", format 1\n") && out.contains("  v1  ") && out.contains("\n1 group, "), "{name}: {out}");
        assert!(out.contains("log state:\n"), "{name}: {out}");

        let every = dump_json(&[d]);
        assert!(every.iter().all(|r| r["group"] == 0 && r["seq"] == 0), "{name}");
        let zero = dump_json(&[d, "--group", "0"]);
        let entries = |rs: &[serde_json::Value]| rs.iter().filter(|r| r["kind"] == "entry").count();
        assert_eq!(entries(&zero), entries(&every), "{name}");
        assert!(zero.iter().all(|r| r["kind"] != "checkpoint" && r["kind"] != "footer"), "{name}");
        assert!(dump_json(&[d, "--group", "1"]).is_empty(), "{name}");
        let (code, out, _) = run(&["check", d, "--group", "0"]);
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains(", 1 group, every CRC verified"), "{name}: {out}");
    }
}
