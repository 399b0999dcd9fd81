//! The payload cache: the most recently appended entries of every group,
//! kept in memory because a state machine reads them right after they are
//! appended.
//!
//! One cache for the whole store, bounded by bytes and by count across all
//! groups. Per group it holds a consecutive run of indexes, filled by
//! appends only (never by reads, so a read racing a truncation can never
//! put stale bytes back). Eviction drops the oldest insertions first,
//! whatever their group: an insertion serial per entry and a queue of
//! `(serial, group, index)` give that order; records of entries already
//! dropped by a truncation or purge are skipped, and the queue is compacted
//! once stale records outnumber live ones.
//!
//! The bounds count payload bytes. A payload appended in a run of its
//! group's entries is a slice of the queue part its frame was encoded into
//! (`engine::write`), not a copy: the part stays in memory while any of
//! its cached entries does. Parts hold one group's run, at most 64 KiB, so
//! besides the cached payloads and their frames' overhead each group keeps
//! at most two parts partly alive (where eviction or a purge reached, where
//! a truncation cut). Payloads of small runs that share a part with other
//! groups are copied.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use bytes::Bytes;

/// Hashes a group id (a `u64`) with one multiplication: the cache looks a
/// group up on every insertion and eviction, and the default SipHash
/// showed up in profiles of many-group appends. Ids are not chosen by an
/// adversary the cache must resist (they are the application's own).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // Fibonacci hashing; the high bits are spread, and hashbrown uses
        // the high 7 bits for its control bytes and the low ones to pick
        // the bucket, so fold them together.
        let h = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
}

type Runs = HashMap<u64, Run, BuildHasherDefault<IdHasher>>;

#[derive(Debug, Default)]
struct Run {
    first: u64,
    entries: VecDeque<(Bytes, u64)>,
}

impl Run {
    fn last(&self) -> Option<u64> {
        (!self.entries.is_empty()).then(|| self.first + self.entries.len() as u64 - 1)
    }
}

#[derive(Debug)]
pub(crate) struct Cache {
    max_bytes: usize,
    max_entries: usize,
    runs: Runs,
    /// `(serial, group, index)` in insertion order, live or stale.
    order: VecDeque<(u64, u64, u64)>,
    next_serial: u64,
    len: usize,
    bytes: usize,
}

impl Cache {
    pub fn new(max_bytes: usize, max_entries: usize) -> Self {
        Cache {
            max_bytes,
            max_entries,
            runs: Runs::default(),
            order: VecDeque::new(),
            next_serial: 0,
            len: 0,
            bytes: 0,
        }
    }

    /// Whether a payload of `len` bytes would be cached.
    pub fn accepts(&self, len: usize) -> bool {
        self.max_bytes > 0 && self.max_entries > 0 && len <= self.max_bytes
    }

    pub fn get(&self, group: u64, index: u64) -> Option<Bytes> {
        let run = self.runs.get(&group)?;
        let pos = usize::try_from(index.checked_sub(run.first)?).ok()?;
        run.entries.get(pos).map(|(b, _)| b.clone())
    }

    /// Caches the payload of a just-appended entry: a slice of its frame
    /// in the queue, so the cache keeps that part of the queue's memory
    /// (one group's run of entries) until the entry is dropped.
    pub fn insert(&mut self, group: u64, index: u64, payload: Bytes) {
        if !self.accepts(payload.len()) {
            return;
        }
        let run = self.runs.entry(group).or_default();
        if run.last().and_then(|l| l.checked_add(1)) != Some(index) {
            let (n, b) = drop_run(run);
            self.len -= n;
            self.bytes -= b;
            run.first = index;
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        self.len += 1;
        self.bytes += payload.len();
        run.entries.push_back((payload, serial));
        self.order.push_back((serial, group, index));
        while self.len > self.max_entries || self.bytes > self.max_bytes {
            self.evict_oldest();
        }
        if self.order.len() > 2 * self.len + 1024 {
            self.compact();
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((serial, group, index)) = self.order.pop_front() {
            let Some(run) = self.runs.get_mut(&group) else { continue };
            if run.first != index || run.entries.front().is_none_or(|&(_, s)| s != serial) {
                continue; // dropped already
            }
            let (b, _) = run.entries.pop_front().expect("front was just seen");
            run.first += 1;
            self.len -= 1;
            self.bytes -= b.len();
            if run.entries.is_empty() {
                self.runs.remove(&group);
            }
            return;
        }
    }

    /// Rebuilds the eviction queue from the live entries.
    fn compact(&mut self) {
        let mut live: Vec<(u64, u64, u64)> = Vec::with_capacity(self.len);
        for (&g, run) in &self.runs {
            for (k, (_, s)) in run.entries.iter().enumerate() {
                live.push((*s, g, run.first + k as u64));
            }
        }
        live.sort_unstable();
        self.order = live.into();
    }

    pub fn truncate_after(&mut self, group: u64, index: Option<u64>) {
        let Some(run) = self.runs.get_mut(&group) else { return };
        while let Some(back) = run.last() {
            if index.is_some_and(|i| back <= i) {
                break;
            }
            let (b, _) = run.entries.pop_back().expect("a last entry exists");
            self.len -= 1;
            self.bytes -= b.len();
        }
        if run.entries.is_empty() {
            self.runs.remove(&group);
        }
    }

    pub fn purge_upto(&mut self, group: u64, index: u64) {
        let Some(run) = self.runs.get_mut(&group) else { return };
        while !run.entries.is_empty() && run.first <= index {
            let (b, _) = run.entries.pop_front().expect("not empty");
            run.first += 1;
            self.len -= 1;
            self.bytes -= b.len();
        }
        if run.entries.is_empty() {
            self.runs.remove(&group);
        }
    }

    /// Drops every entry of `group`.
    pub fn remove_group(&mut self, group: u64) {
        if let Some(mut run) = self.runs.remove(&group) {
            let (n, b) = drop_run(&mut run);
            self.len -= n;
            self.bytes -= b;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Empties `run`: `(entries, bytes)` dropped.
fn drop_run(run: &mut Run) -> (usize, usize) {
    let n = run.entries.len();
    let b = run.entries.drain(..).map(|(b, _)| b.len()).sum();
    (n, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_count_and_bytes_and_follows_truncate() {
        let mut c = Cache::new(10, 3);
        for i in 1..=5 {
            c.insert(0, i, Bytes::copy_from_slice(&[i as u8; 2]));
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(0, 2), None);
        assert_eq!(c.get(0, 5).unwrap().as_ref(), &[5, 5]);
        c.truncate_after(0, Some(3));
        assert_eq!(c.get(0, 4), None);
        assert_eq!(c.get(0, 3).unwrap().as_ref(), &[3, 3]);
        c.insert(0, 4, Bytes::copy_from_slice(&[9; 8]));
        assert!(c.bytes() <= 10);
        assert_eq!(c.get(0, 4).unwrap().as_ref(), &[9; 8]);
        c.purge_upto(0, 4);
        assert_eq!(c.len(), 0);
        let mut off = Cache::new(0, 0);
        off.insert(0, 1, Bytes::copy_from_slice(b"x"));
        assert_eq!(off.get(0, 1), None);
    }

    #[test]
    fn one_bound_for_all_groups_oldest_insertion_goes_first() {
        let mut c = Cache::new(1 << 20, 4);
        c.insert(1, 10, Bytes::copy_from_slice(b"a"));
        c.insert(2, 20, Bytes::copy_from_slice(b"b"));
        c.insert(1, 11, Bytes::copy_from_slice(b"c"));
        c.insert(3, 30, Bytes::copy_from_slice(b"d"));
        c.insert(2, 21, Bytes::copy_from_slice(b"e")); // evicts group 1's entry 10
        assert_eq!(c.len(), 4);
        assert_eq!(c.get(1, 10), None);
        assert_eq!(c.get(1, 11).unwrap().as_ref(), b"c");
        c.remove_group(2);
        assert_eq!((c.len(), c.get(2, 21)), (2, None));
        // Truncate and re-append the same index: the old record is stale.
        c.truncate_after(1, None);
        c.insert(1, 11, Bytes::copy_from_slice(b"x"));
        c.insert(4, 1, Bytes::copy_from_slice(b"y"));
        c.insert(4, 2, Bytes::copy_from_slice(b"z"));
        c.insert(4, 3, Bytes::copy_from_slice(b"w")); // evicts group 3's entry 30, not the new 11
        assert_eq!(c.get(3, 30), None);
        assert_eq!(c.get(1, 11).unwrap().as_ref(), b"x");
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn stale_records_are_compacted() {
        let mut c = Cache::new(1 << 20, 1 << 20);
        for round in 0..5_000u64 {
            c.insert(round % 7, 1, Bytes::copy_from_slice(b"p"));
            c.truncate_after(round % 7, None);
        }
        assert!(c.order.len() <= 2 * c.len() + 1025, "{} records for {} entries", c.order.len(), c.len());
        assert_eq!(c.len(), 0);
        assert!(c.runs.is_empty());
    }
}
