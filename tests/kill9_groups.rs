//! Killed process, 16 groups: a child interleaves appends, votes,
//! committed markers, truncates, purges and group removals across 16
//! groups of one store, printing one line per acknowledged operation
//! (from flush callbacks); the test kills it with SIGKILL at random
//! moments, reopens, and checks the nothing-lost rule for every group at
//! once against the printed acknowledgements. One directory lives through
//! every round, so each round also recovers the previous round's crash.

mod common;

use std::time::{Duration, Instant};

use chunklog::{ChunkLog, Config};
use common::model::{Groups, Rng, check_rule_groups, groups_of, plan_groups, submit_g};
use common::*;

const CHILD: &str = "CHUNKLOG_KILL9_GROUPS_CHILD";
const MAX_OPS: u64 = 400;
/// Odds 1 in this that an operation removes its (existing) group.
const REMOVE_ODDS: u64 = 40;

/// 16 groups: 0, small ids, and ids of every varint length up to u64::MAX.
fn ids() -> Vec<u64> {
    let mut v: Vec<u64> = (0..8).collect();
    v.extend([1 << 10, 1 << 20, 1 << 30, 1 << 40, 1 << 50, 1 << 60, u64::MAX - 1, u64::MAX]);
    v
}

fn cfg(dir: &str) -> Config {
    Config::new(dir).chunk_max_records(16).cache(0, 0)
}

fn state_of(dir: &str) -> Groups {
    let log = ChunkLog::open(cfg(dir)).unwrap();
    groups_of(&log)
}

/// Entry point of the child process (a no-op in a normal test run).
#[test]
fn child_entry_point() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let (dir, seed) = spec.split_once('|').unwrap();
    let log = ChunkLog::open(cfg(dir)).unwrap();
    let start = groups_of(&log);
    println!("ready");
    for (k, (op, flush)) in
        plan_groups(&start, seed.parse().unwrap(), MAX_OPS, &ids(), REMOVE_ODDS).into_iter().enumerate()
    {
        submit_g(&log, &op).unwrap();
        if flush {
            let n = k + 1;
            log.flush(Box::new(move |r| {
                if r.is_ok() {
                    println!("ack {n}");
                }
            }));
        }
    }
    log.sync().unwrap();
    println!("done");
    std::process::exit(0);
}

#[test]
fn sigkill_with_sixteen_groups_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let rounds = 60 * scale();
    let mut rng = Rng(1616);
    let (mut killed_mid_run, mut acked_total, mut removals) = (0, 0, 0);
    let mut groups_seen = std::collections::BTreeSet::new();
    for round in 0..rounds {
        let start = state_of(&d);
        let seed = 7000 + round;
        let mut child = ChildGuard(spawn_child("child_entry_point", &[(CHILD, format!("{d}|{seed}"))]));
        let rx = lines(&mut child.0);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut ready = false;
        while !ready && Instant::now() < deadline {
            ready = rx.recv_timeout(Duration::from_millis(100)).is_ok_and(|l| l == "ready");
        }
        assert!(ready, "round {round}: child did not start");
        std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        let mut acked = 0;
        let mut done = false;
        for line in rx.iter() {
            if let Some(n) = line.strip_prefix("ack ") {
                acked = acked.max(n.parse::<usize>().unwrap());
            }
            done |= line == "done";
        }
        killed_mid_run += u64::from(!done);
        acked_total += acked;
        let ops: Vec<_> =
            plan_groups(&start, seed, MAX_OPS, &ids(), REMOVE_ODDS).into_iter().map(|(op, _)| op).collect();
        removals += ops[..acked].iter().filter(|(_, op)| *op == common::model::Op::RemoveGroup).count();
        let log = ChunkLog::open(cfg(&d)).unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let got = groups_of(&log);
        groups_seen.extend(got.keys().copied());
        check_rule_groups(&got, &start, &ops, acked).unwrap_or_else(|e| panic!("round {round} (seed {seed}): {e}"));
    }
    println!(
        "{rounds} SIGKILL rounds over 16 groups: {killed_mid_run} killed mid-run, {acked_total} acknowledged \
         operations checked ({removals} acknowledged removals), {} groups seen",
        groups_seen.len()
    );
    assert!(killed_mid_run > rounds / 4, "most rounds kill the child while it works");
    assert!(removals > 0 && groups_seen.len() == 16, "{removals} removals, {groups_seen:?}");
}
