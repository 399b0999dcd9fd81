//! Many groups in one store: each group is an independent log (entries,
//! vote, committed, purge point) that survives reopen; removal is durable;
//! chunks are deleted only once no group has live entries in them; one
//! flush covers every group.

mod common;

use std::collections::BTreeMap;

use chunklog::{ChunkLog, Config};
use common::model::{Model, Op, Rng, entry_bytes, gen_op};
use common::*;

/// Every group's model equals what the store serves for it, and the store
/// lists exactly the groups with something in them (and maybe groups that
/// were written and then emptied).
fn check_all(log: &ChunkLog, models: &BTreeMap<u64, Model>, when: &str) {
    for (&g, m) in models {
        let got = Model::of(&log.group(g));
        assert_eq!(&got, m, "{when}: group {g}");
    }
    let listed = log.groups();
    for (&g, m) in models {
        if *m != Model::default() {
            assert!(listed.contains(&g), "{when}: group {g} holds something but is not listed in {listed:?}");
        }
    }
    for g in &listed {
        assert!(models.contains_key(g), "{when}: group {g} was never written");
    }
}

#[test]
fn sixteen_groups_interleaved_match_their_models_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 16);
    let mut log = open(&cfg);
    let mut rng = Rng(12);
    let mut models: BTreeMap<u64, Model> = BTreeMap::new();
    let mut removals = 0;
    for step in 0..3_000u64 {
        // Ids spread over the varint's range: 0, small, and huge.
        let g = match rng.below(16) {
            0 => 0,
            15 => u64::MAX,
            k => k * 1_000_003,
        };
        if rng.below(150) == 0 && models.contains_key(&g) {
            log.group(g).remove_group().unwrap();
            models.remove(&g);
            removals += 1;
            continue;
        }
        let m = models.entry(g).or_default();
        let op = gen_op(&mut rng, m, step);
        Model::submit(&log.group(g), &op).unwrap();
        m.apply(&op);
        if step % 500 == 499 {
            check_all(&log, &models, &format!("step {step}, live"));
            log.close().unwrap();
            log = open(&cfg);
            check_all(&log, &models, &format!("step {step}, reopened"));
        }
    }
    assert!(removals > 5, "{removals} removals");
    assert!(chunk_files(dir.path()).len() > 3);
    let stats = log.stats();
    assert_eq!(stats.groups, log.groups().len());
}

#[test]
fn one_flush_covers_every_group() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&Config::new(dir.path()));
    log.sync().unwrap();
    // Hold the flush thread in a callback while 100 groups write, so all
    // of it is queued when the thread takes its next batch.
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    log.flush(Box::new(move |_| {
        entered_tx.send(()).unwrap();
        let _ = wait.recv();
    }));
    entered.recv().unwrap();
    let before = log.stats().fsyncs;
    for g in 1..=100u64 {
        log.group(g).append([(1, format!("group {g}"))]).unwrap();
        log.group(g).write_vote(format!("vote {g}").as_bytes()).unwrap();
    }
    release.send(()).unwrap();
    log.sync().unwrap();
    assert_eq!(log.stats().fsyncs - before, 1, "one fdatasync for the writes of 100 groups");
    drop(log);
    let log = open(&Config::new(dir.path()));
    assert_eq!(log.groups(), (1..=100).collect::<Vec<_>>());
    for g in 1..=100u64 {
        let grp = log.group(g);
        assert_eq!(grp.get(1).unwrap().unwrap().as_ref(), format!("group {g}").as_bytes());
        assert_eq!(grp.state().vote.unwrap().as_ref(), format!("vote {g}").as_bytes());
    }
    assert_eq!(log.get(1).unwrap(), None, "group 0 is untouched");
}

#[test]
fn a_group_that_never_purges_pins_chunks_until_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 8);
    let log = open(&cfg);
    let idle = log.group(7);
    idle.append([(1, b"idle")]).unwrap();
    let busy = log.group(8);
    for i in 1..=200u64 {
        busy.append([(i, payload(i))]).unwrap();
    }
    busy.purge(190, b"p").unwrap();
    log.sync().unwrap();
    wait_for_purges(&log);
    let pinned = chunk_files(dir.path()).len();
    assert!(pinned > 20, "group 7's entry in the first chunk keeps every chunk: {pinned}");
    idle.remove_group().unwrap();
    log.sync().unwrap();
    wait_for_purges(&log);
    let after = chunk_files(dir.path()).len();
    assert!(after <= 3, "removing group 7 frees the chunks: {pinned} -> {after}");
    assert_eq!(idle.get(1).unwrap(), None);
    assert_eq!(log.groups(), vec![8]);
    drop((idle, busy, log));
    let log = open(&cfg);
    assert_eq!(log.groups(), vec![8]);
    assert_entries(&log.group(8), 191, 200);
    assert_eq!(log.group(7).state(), chunklog::LogState::default());
}

fn wait_for_purges(log: &ChunkLog) {
    eventually("purges done", || log.stats().purges_pending == 0);
}

#[test]
fn removed_group_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 4);
    let log = open(&cfg);
    let g = log.group(3);
    g.append((10..=20).map(|i| (i, payload(i)))).unwrap();
    g.purge(12, b"p").unwrap();
    g.save_vote(b"v").unwrap();
    g.remove_group().unwrap();
    assert_eq!(g.state(), chunklog::LogState::default());
    g.append([(1, b"again")]).unwrap();
    log.sync().unwrap();
    drop((g, log));
    let log = open(&cfg);
    let g = log.group(3);
    assert_eq!(g.state().first_index, Some(1));
    assert_eq!(g.state().vote, None);
    assert_eq!(g.get(1).unwrap().unwrap().as_ref(), b"again");
    // Removing a group that does not exist writes nothing.
    let before = log.stats().bytes_written;
    log.group(99).remove_group().unwrap();
    log.sync().unwrap();
    assert_eq!(log.stats().bytes_written, before);
}

#[test]
fn ops_submitted_as_one_plan_per_group() {
    // Sanity of the shared model helpers with groups: an op refused for
    // one group does not touch another.
    let dir = tempfile::tempdir().unwrap();
    let log = open(&Config::new(dir.path()));
    log.group(1).append([(5, b"x")]).unwrap();
    assert!(Model::submit(&log.group(1), &Op::Append(vec![(9, b"gap".to_vec())])).is_err());
    Model::submit(&log.group(2), &Op::Append(vec![(9, b"fine".to_vec())])).unwrap();
    assert_eq!(log.group(2).get(9).unwrap().unwrap().as_ref(), b"fine");
    assert_eq!(log.group(1).state().last_index, Some(5));
}

/// 100 groups, 10 of which append a little and never purge, the rest
/// append and purge across many small chunks: with reclamation the chunk
/// files stay within twice the live bytes plus two chunks; without it the
/// idle groups keep every chunk. Every group reads back whole after a
/// reopen either way.
#[test]
fn reclamation_keeps_disk_within_twice_the_live_bytes() {
    let run = |percent: u32| -> (u64, u64, u64, usize) {
        let dir = tempfile::tempdir().unwrap();
        let chunk = 64 << 10;
        let cfg = Config::new(dir.path()).chunk_max_size(chunk).reclaim_percent(percent);
        let log = open(&cfg);
        let mut models: BTreeMap<u64, Model> = BTreeMap::new();
        let mut next: BTreeMap<u64, u64> = BTreeMap::new();
        for round in 0..60u64 {
            for g in 0..100u64 {
                let n = next.entry(g).or_insert(1);
                let idle = g % 10 == 0;
                if idle && round > 0 {
                    continue;
                }
                let op = Op::Append((*n..*n + 4).map(|i| (i, entry_bytes(i, round, 200))).collect());
                *n += 4;
                Model::submit(&log.group(g), &op).unwrap();
                models.entry(g).or_default().apply(&op);
                if !idle && round % 5 == 4 {
                    let op = Op::Purge(*n - 3);
                    Model::submit(&log.group(g), &op).unwrap();
                    models.entry(g).or_default().apply(&op);
                }
            }
            log.sync().unwrap();
        }
        eventually("reclamation and purges done", || {
            let s = log.stats();
            s.purges_pending == 0 && (percent == 0 || s.disk_bytes <= 2 * s.live_bytes + 2 * chunk)
        });
        let s = log.stats();
        let pins = log.pinning();
        check_all(&log, &models, "before reopen");
        drop(log);
        let log = open(&cfg);
        check_all(&log, &models, "reopened");
        (s.disk_bytes, s.live_bytes, s.copied_entries, pins.len())
    };
    let (disk, live, copied, _) = run(200);
    let (disk_off, live_off, copied_off, pins_off) = run(0);
    println!(
        "reclamation on: {disk} bytes on disk for {live} live, {copied} entries copied; \
         off: {disk_off} for {live_off}, {pins_off} groups pin the oldest chunk"
    );
    assert!(disk <= 2 * live + 2 * (64 << 10), "{disk} > 2 x {live} + 2 chunks");
    assert!(copied > 0);
    assert_eq!(copied_off, 0);
    assert!(disk_off > 2 * disk, "without reclamation the idle groups keep every chunk: {disk_off} vs {disk}");
    assert!(pins_off >= 1);
}

/// Copying the oldest chunk forward, by hand, over and over: every entry
/// still reads back, before and after a reopen, and the copied chunks go.
#[test]
fn copies_of_the_oldest_chunk_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 6).reclaim_percent(0);
    let mut log = open(&cfg);
    append_range(&log, 1..=20);
    log.group(5).append([(1, b"five")]).unwrap();
    let mut copied = 0;
    for round in 0..8 {
        let before = chunk_files(dir.path());
        let c = log.copy_oldest_chunk().unwrap();
        copied += c.entries;
        log.sync().unwrap();
        eventually("purges done", || log.stats().purges_pending == 0);
        let what = format!("round {round}: {c:?}, chunks before {}", before.len());
        assert_eq!(Model::of(&log).entries.len(), 20, "{what}");
        log.close().unwrap();
        log = open(&cfg);
        assert_eq!(Model::of(&log).entries.len(), 20, "{what}, reopened");
        assert_entries(&log, 1, 20);
        assert_eq!(log.group(5).get(1).unwrap().unwrap().as_ref(), b"five", "{what}");
        if round % 2 == 1 {
            append_range(&log, 21..=21);
            log.truncate_after(Some(20)).unwrap();
        }
    }
    assert!(copied > 20, "{copied}");
}

/// `append_groups` writes entries of many groups, interleaved, under one
/// hold of the locks: every group reads back its own, they survive a
/// reopen, and a gap in one group stops the batch there.
#[test]
fn append_groups_writes_many_groups_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(dir.path(), 8);
    let log = open(&cfg);
    let batch: Vec<(u64, u64, Vec<u8>)> =
        (1..=5u64).flat_map(|i| [3u64, 1, 2].map(|g| (g, i, format!("g{g} e{i}").into_bytes()))).collect();
    log.append_groups(batch).unwrap();
    log.sync().unwrap();
    let err = log.append_groups([(1, 6, b"ok".to_vec()), (2, 9, b"gap".to_vec()), (3, 6, b"never".to_vec())]);
    assert!(matches!(err, Err(chunklog::Error::NonConsecutive { expected: 6, got: 9 })), "{err:?}");
    drop(log);
    let log = open(&cfg);
    assert_eq!(log.groups(), vec![1, 2, 3]);
    for g in 1..=3u64 {
        let got: Vec<(u64, Vec<u8>)> =
            log.group(g).read_range(..).unwrap().into_iter().map(|(i, b)| (i, b.to_vec())).collect();
        let mut want: Vec<(u64, Vec<u8>)> = (1..=5).map(|i| (i, format!("g{g} e{i}").into_bytes())).collect();
        if g == 1 {
            want.push((6, b"ok".to_vec()));
        }
        assert_eq!(got, want, "group {g}");
    }
}
