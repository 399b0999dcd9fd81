//! Two openers: a second open in the same process and from a second process
//! fail at once with `Locked`; a reopen after the holder was SIGKILLed works.

mod common;

use std::time::{Duration, Instant};

use chunklog::{ChunkLog, Config, Error};
use common::*;

const CHILD: &str = "CHUNKLOG_LOCK_CHILD";

/// Entry point of the child process (a no-op in a normal test run).
#[test]
fn child_entry_point() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let (mode, dir) = spec.split_once('|').unwrap();
    match mode {
        "hold" => {
            let log = ChunkLog::open(Config::new(dir)).unwrap();
            log.append([(1, b"held")]).unwrap();
            log.sync().unwrap();
            println!("locked");
            std::thread::sleep(Duration::from_secs(30)); // bounded: killed long before
        }
        _ => match ChunkLog::open(Config::new(dir)) {
            Err(Error::Locked { .. }) => println!("result locked"),
            Err(e) => println!("result error {e}"),
            Ok(_) => println!("result opened"),
        },
    }
    std::process::exit(0);
}

fn wait_for(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if rx.recv_timeout(Duration::from_millis(100)).is_ok_and(|l| l == what) {
            return true;
        }
    }
    false
}

#[test]
fn same_process_second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _log = ChunkLog::open(Config::new(dir.path())).unwrap();
    let t = Instant::now();
    assert!(matches!(ChunkLog::open(Config::new(dir.path())), Err(Error::Locked { .. })));
    assert!(t.elapsed() < Duration::from_secs(5), "fails at once, does not wait");
}

#[test]
fn second_process_is_locked_and_a_killed_holder_releases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let mut holder = ChildGuard(spawn_child("child_entry_point", &[(CHILD, format!("hold|{d}"))]));
    let rx = lines(&mut holder.0);
    assert!(wait_for(&rx, "locked"), "holder started");

    // This process is a second process to the holder.
    match ChunkLog::open(Config::new(&d)) {
        Err(Error::Locked { dir }) => assert_eq!(dir.to_str().unwrap(), d),
        other => panic!("expected Locked, got {other:?}"),
    }
    // And a third one.
    let mut other = ChildGuard(spawn_child("child_entry_point", &[(CHILD, format!("try|{d}"))]));
    let orx = lines(&mut other.0);
    assert!(wait_for(&orx, "result locked"), "another process is refused too");

    holder.0.kill().unwrap(); // SIGKILL: the kernel drops the lock
    holder.0.wait().unwrap();
    let log = ChunkLog::open(Config::new(&d)).expect("open after the holder was killed");
    assert_eq!(log.get(1).unwrap().unwrap().as_ref(), b"held");
}
