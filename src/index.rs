//! The in-memory index from log index to where the entry sits on disk.
//!
//! Log indexes are consecutive, so the index is a deque of fixed-size
//! slots (16 bytes each) addressed by `index - first`: no tree, no hashing.

use std::collections::VecDeque;

/// Where one entry's frame sits: chunk id, offset and frame length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub chunk: u64,
    pub offset: u32,
    pub len: u32,
}

/// A slot no chunk holds: chunk ids start at 1.
const HOLE: Slot = Slot { chunk: 0, offset: 0, len: 0 };

/// Consecutive slots from `first`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Index {
    first: u64,
    slots: VecDeque<Slot>,
}

impl Index {
    pub fn first(&self) -> Option<u64> {
        (!self.slots.is_empty()).then_some(self.first)
    }

    pub fn last(&self) -> Option<u64> {
        (!self.slots.is_empty()).then(|| self.first + self.slots.len() as u64 - 1)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn get(&self, index: u64) -> Option<Slot> {
        let pos = index.checked_sub(self.first)?;
        self.slots.get(usize::try_from(pos).ok()?).copied()
    }

    /// Adds the slot of `index`. Returns false (and adds nothing) unless
    /// `index` follows the last slot or the index is empty.
    pub fn push(&mut self, index: u64, slot: Slot) -> bool {
        if self.slots.is_empty() {
            self.first = index;
        } else if Some(index) != self.last().and_then(|l| l.checked_add(1)) {
            return false;
        }
        self.slots.push_back(slot);
        true
    }

    /// Moves entry `index` to `slot` (its copy). Returns false (and changes
    /// nothing) if the index does not hold `index`.
    pub fn set(&mut self, index: u64, slot: Slot) -> bool {
        let Some(pos) = index.checked_sub(self.first).and_then(|p| usize::try_from(p).ok()) else { return false };
        match self.slots.get_mut(pos) {
            Some(s) => {
                *s = slot;
                true
            }
            None => false,
        }
    }

    /// Puts entry `index` at `slot` during a replay, where the copy of an
    /// entry may come before the chunks that hold its neighbours: inside
    /// the index it moves the entry; right after it, it extends it; before
    /// or past it, the entries in between become holes (to be filled by
    /// later copies), at most `*holes_left` of them. Returns false,
    /// changing nothing, if the holes would exceed the budget.
    pub fn place(&mut self, index: u64, slot: Slot, holes_left: &mut u64) -> bool {
        if self.set(index, slot) || self.push(index, slot) {
            return true;
        }
        let Some(last) = self.last() else { unreachable!("push succeeds on an empty index") };
        if index > last {
            let gap = index - last - 1;
            if gap > *holes_left {
                return false;
            }
            *holes_left -= gap;
            for _ in 0..gap {
                self.slots.push_back(HOLE);
            }
            self.slots.push_back(slot);
            return true;
        }
        let gap = self.first - index - 1;
        if gap > *holes_left {
            return false;
        }
        *holes_left -= gap;
        for _ in 0..gap {
            self.slots.push_front(HOLE);
        }
        self.slots.push_front(slot);
        self.first = index;
        true
    }

    /// The first index that is a hole (see [`place`](Self::place)).
    pub fn first_hole(&self) -> Option<u64> {
        self.slots.iter().position(|s| *s == HOLE).map(|p| self.first + p as u64)
    }

    /// Calls `f` with the slot of every entry in `lo..=hi` the index holds.
    pub fn for_each(&self, lo: u64, hi: u64, mut f: impl FnMut(u64, Slot)) {
        let (Some(first), Some(last)) = (self.first(), self.last()) else { return };
        for i in lo.max(first)..=hi.min(last) {
            if let Some(s) = self.get(i) {
                f(i, s);
            }
        }
    }

    /// The runs of consecutive entries whose slots lie in `chunk`, among
    /// the trailing run of entries in `chunk` and the `extra` ranges
    /// (inclusive, any order; entries copied into the chunk), in index
    /// order: `(first index, [(offset, length)])`.
    pub fn runs_in_chunk(&self, chunk: u64, extra: &[(u64, u64)]) -> Vec<(u64, Vec<(u32, u32)>)> {
        let (tail_first, tail) = self.tail_in_chunk(chunk);
        let mut ranges: Vec<(u64, u64)> = extra.to_vec();
        if !tail.is_empty() {
            ranges.push((tail_first, tail_first + tail.len() as u64 - 1));
        }
        ranges.sort_unstable();
        let mut runs: Vec<(u64, Vec<(u32, u32)>)> = Vec::new();
        let mut next = 0u64; // first index not yet looked at
        for (lo, hi) in ranges {
            for i in lo.max(next)..=hi {
                let Some(s) = self.get(i).filter(|s| s.chunk == chunk) else { continue };
                match runs.last_mut() {
                    Some((first, slots)) if *first + slots.len() as u64 == i => slots.push((s.offset, s.len)),
                    _ => runs.push((i, vec![(s.offset, s.len)])),
                }
            }
            next = next.max(hi.saturating_add(1));
        }
        runs
    }

    /// Removes every slot above `index` (`None`: all).
    pub fn truncate_after(&mut self, index: Option<u64>) {
        match index {
            Some(i) if i >= self.first => {
                let keep = (i - self.first).saturating_add(1);
                self.slots.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
            }
            _ => self.slots.clear(),
        }
    }

    /// Removes every slot at or below `index`, at once (a purge of
    /// millions of entries runs under the engine's state lock).
    pub fn purge_upto(&mut self, index: u64) {
        if index >= self.first {
            let n = usize::try_from(index - self.first + 1).unwrap_or(usize::MAX).min(self.slots.len());
            self.slots.drain(..n);
            self.first += n as u64;
        }
        if self.slots.is_empty() {
            self.first = self.first.max(index.saturating_add(1));
        }
    }

    /// The slots of the entries in `lo..=hi` the index holds, in order.
    pub fn slots(&self, lo: u64, hi: u64) -> impl Iterator<Item = Slot> + '_ {
        let (start, end) = match (self.first(), self.last()) {
            (Some(first), Some(last)) if lo <= last && hi >= first => {
                ((lo.max(first) - first) as usize, (hi.min(last) - first) as usize + 1)
            }
            _ => (0, 0),
        };
        self.slots.range(start..end).copied()
    }

    /// The consecutive slots at the end of the index that lie in `chunk`,
    /// and the log index of the first of them.
    pub fn tail_in_chunk(&self, chunk: u64) -> (u64, Vec<(u32, u32)>) {
        let n = self.slots.iter().rev().take_while(|s| s.chunk == chunk).count();
        let start = self.slots.len() - n;
        let slots = self.slots.range(start..).map(|s| (s.offset, s.len)).collect();
        (self.first + start as u64, slots)
    }

    /// Bytes of memory held by the slots (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(chunk: u64, offset: u32) -> Slot {
        Slot { chunk, offset, len: 10 }
    }

    #[test]
    fn push_truncate_purge() {
        let mut ix = Index::default();
        assert!(ix.push(5, s(1, 0)));
        assert!(ix.push(6, s(1, 10)));
        assert!(!ix.push(8, s(1, 20)), "gap refused");
        assert!(ix.push(7, s(2, 0)));
        assert_eq!((ix.first(), ix.last()), (Some(5), Some(7)));
        assert_eq!(ix.get(6), Some(s(1, 10)));
        assert_eq!(ix.get(4), None);
        assert_eq!(ix.get(8), None);
        assert_eq!(ix.tail_in_chunk(2), (7, vec![(0, 10)]));
        assert_eq!(ix.slots(6, 100).collect::<Vec<_>>(), vec![s(1, 10), s(2, 0)]);
        assert_eq!(ix.slots(0, 5).collect::<Vec<_>>(), vec![s(1, 0)]);
        assert_eq!(ix.slots(8, 9).count() + ix.slots(0, 4).count(), 0);
        // Entry 5 copied into chunk 2: two runs there.
        assert!(ix.set(5, s(2, 40)));
        assert!(!ix.set(9, s(2, 50)));
        assert_eq!(ix.runs_in_chunk(2, &[(5, 5)]), vec![(5, vec![(40, 10)]), (7, vec![(0, 10)])]);
        assert_eq!(ix.runs_in_chunk(1, &[]), vec![]);
        assert!(ix.set(5, s(1, 0)));
        ix.truncate_after(Some(5));
        assert_eq!(ix.last(), Some(5));
        ix.truncate_after(Some(100));
        assert_eq!(ix.last(), Some(5));
        ix.purge_upto(5);
        assert_eq!(ix.first(), None);
        let mut big = Index::default();
        for i in 1..=1000 {
            assert!(big.push(i, s(1 + i / 100, i as u32)));
        }
        big.purge_upto(0);
        assert_eq!(big.first(), Some(1));
        big.purge_upto(600);
        assert_eq!((big.first(), big.get(601), big.get(600)), (Some(601), Some(s(7, 601)), None));
        big.purge_upto(5000);
        assert_eq!(big.first(), None);
        assert!(big.push(5001, s(9, 0)));
        assert!(ix.push(6, s(3, 0)));
        ix.truncate_after(Some(2));
        assert_eq!(ix.len(), 0);
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn place_fills_holes_within_the_budget() {
        let mut ix = Index::default();
        let mut budget = 3;
        assert!(ix.place(10, s(5, 0), &mut budget));
        assert!(ix.place(11, s(5, 10), &mut budget));
        // A copy of entry 6 arrives before 7..=9: three holes.
        assert!(ix.place(6, s(9, 0), &mut budget));
        assert_eq!((budget, ix.first_hole()), (0, Some(7)));
        assert!(!ix.place(1, s(9, 0), &mut budget), "over budget");
        for i in 7..=9 {
            assert!(ix.place(i, s(9, 10 * i as u32), &mut budget));
        }
        assert_eq!((ix.first(), ix.last(), ix.first_hole()), (Some(6), Some(11), None));
        let mut seen = Vec::new();
        ix.for_each(0, 8, |i, _| seen.push(i));
        assert_eq!(seen, vec![6, 7, 8]);
        // Past the end: holes again.
        assert!(!ix.place(40, s(9, 0), &mut budget), "over budget");
        let mut budget = 1;
        assert!(ix.place(13, s(9, 0), &mut budget));
        assert_eq!((ix.last(), ix.first_hole(), budget), (Some(13), Some(12), 0));
    }
}
