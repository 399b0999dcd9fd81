//! The payload cache: the most recently appended entries, kept in memory
//! because the state machine reads them right after they are appended.
//!
//! Bounded by bytes and by count. It holds a consecutive run of indexes,
//! filled by appends only (never by reads, so a read racing a truncation
//! can never put stale bytes back). Eviction drops the oldest entries.

use std::collections::VecDeque;

use bytes::Bytes;

#[derive(Debug)]
pub(crate) struct Cache {
    max_bytes: usize,
    max_entries: usize,
    first: u64,
    entries: VecDeque<Bytes>,
    bytes: usize,
}

impl Cache {
    pub fn new(max_bytes: usize, max_entries: usize) -> Self {
        Cache { max_bytes, max_entries, first: 0, entries: VecDeque::new(), bytes: 0 }
    }

    fn enabled(&self) -> bool {
        self.max_bytes > 0 && self.max_entries > 0
    }

    pub fn get(&self, index: u64) -> Option<Bytes> {
        let pos = usize::try_from(index.checked_sub(self.first)?).ok()?;
        self.entries.get(pos).cloned()
    }

    /// Caches the payload of a just-appended entry.
    pub fn insert(&mut self, index: u64, payload: &[u8]) {
        if !self.enabled() || payload.len() > self.max_bytes {
            return;
        }
        if self.entries.is_empty() || Some(index) != self.first.checked_add(self.entries.len() as u64) {
            self.clear();
            self.first = index;
        }
        self.bytes += payload.len();
        self.entries.push_back(Bytes::copy_from_slice(payload));
        while self.entries.len() > self.max_entries || self.bytes > self.max_bytes {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some(b) = self.entries.pop_front() {
            self.bytes -= b.len();
            self.first += 1;
        }
    }

    pub fn truncate_after(&mut self, index: Option<u64>) {
        while let Some(back) = self.entries.back() {
            let back_index = self.first + self.entries.len() as u64 - 1;
            if index.is_some_and(|i| back_index <= i) {
                break;
            }
            self.bytes -= back.len();
            self.entries.pop_back();
        }
    }

    pub fn purge_upto(&mut self, index: u64) {
        while !self.entries.is_empty() && self.first <= index {
            self.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_count_and_bytes_and_follows_truncate() {
        let mut c = Cache::new(10, 3);
        for i in 1..=5 {
            c.insert(i, &[i as u8; 2]);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(2), None);
        assert_eq!(c.get(5).unwrap().as_ref(), &[5, 5]);
        c.truncate_after(Some(3));
        assert_eq!(c.get(4), None);
        assert_eq!(c.get(3).unwrap().as_ref(), &[3, 3]);
        c.insert(4, &[9; 8]);
        assert!(c.bytes() <= 10);
        assert_eq!(c.get(4).unwrap().as_ref(), &[9; 8]);
        c.purge_upto(4);
        assert_eq!(c.len(), 0);
        let mut off = Cache::new(0, 0);
        off.insert(1, b"x");
        assert_eq!(off.get(1), None);
    }
}
