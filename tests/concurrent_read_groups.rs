//! Readers of many groups racing writers: 6 reader threads read random
//! ranges of 12 groups while 2 writer threads append, truncate and
//! re-append, purge and remove groups, in chunks of 6 records with the
//! cache off, so chunks rotate and are deleted under the readers. Every
//! payload names its group, its index and the write that made it (and
//! its bytes follow from those), so every read is checkable: it must
//! return consecutive indexes inside the range asked for, each the exact
//! bytes some write of that group put at that index; never an error.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chunklog::ChunkLog;
use common::model::Rng;
use common::*;

const GROUPS: [u64; 12] = [0, 1, 2, 3, 4, 5, 64, 1 << 20, 1 << 40, 1 << 63, u64::MAX - 1, u64::MAX];

/// A payload naming group `g`, index `i` and write `serial`, with filler
/// bytes that follow from the three.
fn body(g: u64, i: u64, serial: u64) -> Vec<u8> {
    let len = 24 + ((g ^ i ^ serial) % 200) as usize;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&g.to_le_bytes());
    b.extend_from_slice(&i.to_le_bytes());
    b.extend_from_slice(&serial.to_le_bytes());
    let mut x = g.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(31) ^ serial;
    while b.len() < len {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        b.push((x >> 56) as u8);
    }
    b
}

/// Checks one read of group `g` over `lo..=hi`; returns how many entries
/// it returned.
fn check_read(g: u64, lo: u64, hi: u64, got: &[(u64, bytes::Bytes)]) -> u64 {
    for (k, (i, b)) in got.iter().enumerate() {
        assert!((lo..=hi).contains(i), "group {g}: read of {lo}..={hi} returned entry {i}");
        assert_eq!(*i, got[0].0 + k as u64, "group {g}: read of {lo}..={hi} is not consecutive: {:?}", idx(got));
        assert!(b.len() >= 24, "group {g}: entry {i} is {} bytes", b.len());
        let field = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let (bg, bi, serial) = (field(0), field(8), field(16));
        assert_eq!((bg, bi), (g, *i), "group {g}: entry {i} holds entry {bi} of group {bg}");
        assert_eq!(b.as_ref(), body(g, *i, serial).as_slice(), "group {g}: entry {i} (write {serial}) bytes");
    }
    got.len() as u64
}

fn idx(got: &[(u64, bytes::Bytes)]) -> Vec<u64> {
    got.iter().map(|(i, _)| *i).collect()
}

/// One writer: owns `mine` (so it knows their states), and runs `rounds`
/// random operations on them.
fn writer(log: ChunkLog, mine: Vec<u64>, seed: u64, rounds: u64, serials: Arc<AtomicU64>) -> (u64, u64) {
    let mut rng = Rng(seed);
    let (mut removals, mut purges) = (0, 0);
    for round in 0..rounds {
        let g = mine[rng.below(mine.len() as u64) as usize];
        let h = log.group(g);
        let st = h.state();
        let next = st.last_index.map_or(1, |l| l + 1);
        let append = |from: u64, n: u64| {
            let serial = serials.fetch_add(1, Ordering::Relaxed);
            h.append((from..from + n).map(|i| (i, body(g, i, serial)))).unwrap();
        };
        match rng.below(20) {
            0..=12 => append(next, 1 + rng.below(4)),
            13 | 14 => {
                // Truncate into the live entries and write other bytes there.
                if let (Some(first), Some(last)) = (st.first_index, st.last_index)
                    && last > first
                {
                    let keep = first + rng.below(last - first);
                    h.truncate_after(Some(keep)).unwrap();
                    append(keep + 1, 1 + rng.below(3));
                }
            }
            15..=17 => {
                if let Some(last) = st.last_index {
                    h.purge(last.saturating_sub(rng.below(4)).max(1), b"p").unwrap();
                    purges += 1;
                }
            }
            18 => {
                h.remove_group().unwrap();
                removals += 1;
            }
            // Space reclamation under the readers: the oldest chunk's live
            // entries (of every group) move to the open chunk.
            19 if rng.below(2) == 0 => {
                log.copy_oldest_chunk().unwrap();
            }
            _ => h.write_vote(format!("vote {round}").as_bytes()).unwrap(),
        }
        if rng.below(4) == 0 {
            log.sync().unwrap();
        }
    }
    log.sync().unwrap();
    (removals, purges)
}

#[test]
fn readers_of_many_groups_race_writers_that_rotate_purge_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&small(dir.path(), 6));
    let serials = Arc::new(AtomicU64::new(0));
    for &g in &GROUPS {
        log.group(g).append((1..=5).map(|i| (i, body(g, i, 0)))).unwrap();
    }
    log.sync().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..6u64)
        .map(|t| {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(100 + t);
                let (mut reads, mut entries) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let g = GROUPS[rng.below(GROUPS.len() as u64) as usize];
                    let st = log.group(g).state();
                    let (first, last) = (st.first_index.unwrap_or(1), st.last_index.unwrap_or(1));
                    // Mostly live ranges; some reach below the purge point
                    // or past the end.
                    let lo = (first + rng.below(last.saturating_sub(first) + 4)).saturating_sub(2);
                    let hi = lo + rng.below(12);
                    let got = log.group(g).read_range(lo..=hi).unwrap_or_else(|e| panic!("group {g} {lo}..={hi}: {e}"));
                    entries += check_read(g, lo, hi, &got);
                    reads += 1;
                }
                (reads, entries)
            })
        })
        .collect();
    let rounds = 1500 * scale();
    let writers: Vec<_> = [0usize, 1]
        .into_iter()
        .map(|w| {
            let mine: Vec<u64> = GROUPS.iter().copied().skip(w).step_by(2).collect();
            let (log, serials) = (log.clone(), serials.clone());
            std::thread::spawn(move || writer(log, mine, 7 + w as u64, rounds, serials))
        })
        .collect();
    let (mut removals, mut purges) = (0, 0);
    for w in writers {
        let (r, p) = w.join().expect("writer panicked");
        removals += r;
        purges += p;
    }
    stop.store(true, Ordering::Relaxed);
    let (mut reads, mut entries) = (0, 0);
    for r in readers {
        let (a, b) = r.join().expect("reader panicked");
        reads += a;
        entries += b;
    }
    common::eventually("purges done", || log.stats().purges_pending == 0);
    let oldest = chunk_files(dir.path())
        .first()
        .and_then(|p| chunklog::format::parse_chunk_file_name(p.file_name()?.to_str()?))
        .unwrap();
    let copied = log.stats().copied_entries;
    println!(
        "6 readers: {reads} reads, {entries} entries checked; 2 writers: {purges} purges, {removals} removals, \
         {copied} entries copied forward; oldest chunk left: {oldest}, {} chunks",
        log.stats().chunks
    );
    assert!(copied > 0, "reclamation moved entries under the readers");
    assert!(reads > 1000 && entries > 1000, "{reads} reads, {entries} entries");
    assert!(removals > 10, "{removals} removals");
    assert!(oldest > 50, "chunks were deleted under the readers (oldest left: {oldest})");
    // What the readers raced is what a reopen serves.
    let before: Vec<_> = GROUPS.iter().map(|&g| (log.group(g).state(), log.group(g).read_range(..).unwrap())).collect();
    drop(log);
    let log = open(&small(dir.path(), 6));
    for (&g, (st, entries)) in GROUPS.iter().zip(before) {
        assert_eq!(log.group(g).state(), st, "group {g} after reopen");
        assert_eq!(log.group(g).read_range(..).unwrap(), entries, "group {g} after reopen");
    }
}
