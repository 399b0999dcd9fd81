//! The `chunklog` command against directories the tests create: clean,
//! torn tail, bit flip in a sealed chunk, missing middle chunk, and one
//! locked by an open store.
#![cfg(feature = "cli")]

mod common;

use chunklog::ChunkLog;
use common::*;

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
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The store is dropped at the end of the block.
    let forks_held = forks();
    rt.block_on(async {
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
    });
    drop(forks_held);
    let (code, out, _) = run(&["dump", dir.path().to_str().unwrap(), "--decode"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("index=1 crc=ok log_id=T1-N7.1 payload=blank") || out.contains("payload=blank"), "{out}");
    assert!(out.contains("payload=normal"), "{out}");
}
