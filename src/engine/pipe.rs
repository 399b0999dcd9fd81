//! The pipe between the writers and the flush thread: the queued and
//! in-flight segments, the flush callbacks, room-waiting, poisoning and
//! shutdown, behind one mutex and two condition variables.
//!
//! Lock order, for the whole engine: the engine's state lock
//! (`engine::Shared`), then the chunk table, then this queue. The flush
//! thread takes the chunk table and the queue, never the state lock, and
//! holds neither during I/O.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// A flush callback: receives `Ok(())` once everything submitted before it
/// is durable, or the error that made that impossible.
pub type Callback = Box<dyn FnOnce(Result<()>) + Send + 'static>;

/// The queue and what waits on it.
#[derive(Default)]
pub(crate) struct Pipe {
    pub queue: Mutex<Queue>,
    /// The flush thread waits here for work.
    pub work_cv: Condvar,
    /// Appenders wait here for room in the queue.
    pub space_cv: Condvar,
    /// Set once a flush failed: reads of what never reached the disk fail.
    pub poisoned: AtomicBool,
    /// Set once the flush thread has stopped: every call fails with `Closed`.
    pub closed: AtomicBool,
    /// The flush thread, whose callbacks must not wait for it.
    pub flush_thread: OnceLock<ThreadId>,
}

impl Pipe {
    /// Whether the calling thread is the flush thread (a callback runs).
    pub fn on_flush_thread(&self) -> bool {
        self.flush_thread.get() == Some(&std::thread::current().id())
    }

    /// `Closed` (or the poisoning error) once the flush thread has stopped.
    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(self.queue.lock().failure());
        }
        Ok(())
    }

    /// Marks the store poisoned by `e`, wakes every waiter, and fails the
    /// room waiters. Returns the poison.
    pub fn poison(&self, e: &Error) -> Poison {
        let (p, room) = {
            let mut q = self.queue.lock();
            let p = q.poisoned.get_or_insert_with(|| Poison::of(e)).clone();
            self.poisoned.store(true, Ordering::Release);
            self.space_cv.notify_all();
            (p, std::mem::take(&mut q.room_waiters))
        };
        for cb in room {
            fire(cb, Err(p.error()));
        }
        p
    }

    /// The flush thread is done: fail whatever callbacks are left and make
    /// later ones fail at once, on their caller's thread.
    pub fn stop(&self) {
        let (err, cbs) = {
            let mut q = self.queue.lock();
            q.stopped = true;
            q.shutdown = true;
            self.closed.store(true, Ordering::Release);
            self.space_cv.notify_all();
            let q = &mut *q;
            let cbs: Vec<Callback> = q.callbacks.drain(..).chain(q.room_waiters.drain(..)).collect();
            (q.failure(), cbs)
        };
        for cb in cbs {
            fire(cb, Err(clone_err(&err)));
        }
    }

    /// Asks the flush thread to finish what is queued and stop.
    pub fn shut_down(&self) {
        self.queue.lock().shutdown = true;
        self.work_cv.notify_all();
        self.space_cv.notify_all();
    }
}

/// Encoded bytes bound for one chunk file, contiguous from `start`.
///
/// The bytes are kept in parts, each encoded into a buffer sized for it
/// (one append call's frames, say): a segment never grows by copying what
/// it holds, the payload cache can keep slices of the parts instead of
/// copies, and the flush thread writes all parts with one vectored write.
#[derive(Debug)]
pub(crate) struct Segment {
    pub chunk: u64,
    /// The chunk's codec (format version and salt).
    pub codec: crate::format::Codec,
    pub start: u64,
    /// Frozen parts, in order: `(offset in the chunk, bytes)`.
    parts: Vec<(u64, Bytes)>,
    /// Bytes encoded after the last part, not frozen yet. Records are
    /// encoded here; [`freeze`](Self::freeze) makes them a part. Empty
    /// once the flush thread has taken the segment.
    pub open: Vec<u8>,
    /// The chunk file must be created (`create_new`) before this write.
    pub create: bool,
    /// For a created chunk: the length of its header and checkpoint, which
    /// are made durable (file and directory) before anything after them is
    /// written, so a damaged header followed by valid records can only be
    /// media damage, never a crash. They are the segment's first part.
    pub head_len: usize,
    /// The segment ends with the chunk's footer: sync the file after it.
    pub seal: bool,
}

impl Segment {
    /// An empty segment of `chunk` starting at `start`.
    pub fn new(chunk: u64, codec: crate::format::Codec, start: u64) -> Segment {
        Segment { chunk, codec, start, parts: Vec::new(), open: Vec::new(), create: false, head_len: 0, seal: false }
    }

    /// A segment that creates `chunk`: `head` (header and checkpoint) is
    /// its first part.
    pub fn create(chunk: u64, codec: crate::format::Codec, head: Vec<u8>) -> Segment {
        let head_len = head.len();
        let parts = vec![(0, Bytes::from(head))];
        Segment { chunk, codec, start: 0, parts, open: Vec::new(), create: true, head_len, seal: false }
    }

    /// Bytes held, frozen or not.
    pub fn len(&self) -> usize {
        (self.frozen_end() - self.start) as usize + self.open.len()
    }

    pub fn end(&self) -> u64 {
        self.frozen_end() + self.open.len() as u64
    }

    fn frozen_end(&self) -> u64 {
        self.parts.last().map_or(self.start, |(at, b)| at + b.len() as u64)
    }

    /// Makes the open bytes a part; returns it (`None` if nothing is open).
    pub fn freeze(&mut self) -> Option<&(u64, Bytes)> {
        if self.open.is_empty() {
            return None;
        }
        let at = self.frozen_end();
        self.parts.push((at, Bytes::from(std::mem::take(&mut self.open))));
        self.parts.last()
    }

    /// A created chunk's header and checkpoint.
    pub fn head(&self) -> &[u8] {
        self.parts.first().map_or(&[][..], |(_, b)| &b[..self.head_len.min(b.len())])
    }

    /// The bytes from `skip` bytes into the segment on.
    pub fn body(&self, skip: usize) -> Body<'_> {
        let from = self.start + skip as u64;
        let mut slices = Vec::with_capacity(self.parts.len() + 1);
        let open = (self.frozen_end(), &self.open[..]);
        for (at, b) in self.parts.iter().map(|(at, b)| (*at, &b[..])).chain(std::iter::once(open)) {
            let end = at + b.len() as u64;
            if end > from {
                slices.push(&b[from.saturating_sub(at) as usize..]);
            }
        }
        Body { len: (self.end().saturating_sub(from)) as usize, slices }
    }

    /// The bytes at `[offset, offset + len)` of the chunk, if this segment
    /// holds them. A record never spans two parts.
    pub fn get(&self, chunk: u64, offset: u64, len: usize) -> Option<&[u8]> {
        if chunk != self.chunk || offset < self.start || offset + len as u64 > self.end() {
            return None;
        }
        let open_at = self.frozen_end();
        let (at, b) = if offset >= open_at {
            (open_at, &self.open[..])
        } else {
            let k = self.parts.partition_point(|(at, _)| *at <= offset).checked_sub(1)?;
            let (at, b) = &self.parts[k];
            (*at, &b[..])
        };
        let s = (offset - at) as usize;
        b.get(s..s + len)
    }
}

/// Some of a segment's bytes, as the slices of its parts.
pub(crate) struct Body<'a> {
    pub slices: Vec<&'a [u8]>,
    len: usize,
}

impl Body<'_> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What the appenders hand to the flush thread.
#[derive(Default)]
pub(crate) struct Queue {
    /// Segments not taken yet; the last one may still grow.
    pub segments: Vec<Segment>,
    /// Segments taken by the flush thread and not yet durable; readers
    /// serve un-synced entries from here.
    pub inflight: Vec<Arc<Segment>>,
    pub callbacks: Vec<Callback>,
    /// Fired once the queue is below its byte limit again.
    pub room_waiters: Vec<Callback>,
    /// Fired once the store has closed and released its directory.
    pub closed_waiters: Vec<Callback>,
    /// Encoded bytes queued or in flight (for back-pressure).
    pub bytes: usize,
    /// After the next sync, delete sealed chunks with ids below this.
    pub purge_below: Option<u64>,
    /// The flush sequence number of the next flush, which every record
    /// queued now carries (format 2): the flush thread takes everything
    /// queued and moves this on, under this lock.
    pub flush_seq: u32,
    pub poisoned: Option<Poison>,
    /// An inline flush released room waiters: the flush thread fires them.
    pub room_check: bool,
    /// Callbacks the flush thread took and has not fired yet.
    pub unfired: usize,
    /// A writer is flushing inline (it holds the flush state).
    pub leader: bool,
    pub shutdown: bool,
    /// The flush thread has exited: nothing will fire callbacks any more.
    pub stopped: bool,
}

/// The failure that poisoned the store.
#[derive(Clone, Debug)]
pub(crate) struct Poison {
    pub cause: String,
    pub kind: std::io::ErrorKind,
    pub raw_os_error: Option<i32>,
}

impl Poison {
    pub fn of(e: &Error) -> Poison {
        let (kind, raw_os_error) = match e {
            Error::Io { source, .. } => (source.kind(), source.raw_os_error()),
            Error::Poisoned { kind, raw_os_error, .. } => (*kind, *raw_os_error),
            _ => (std::io::ErrorKind::Other, None),
        };
        Poison { cause: e.to_string(), kind, raw_os_error }
    }

    pub fn error(&self) -> Error {
        Error::Poisoned { cause: self.cause.clone(), kind: self.kind, raw_os_error: self.raw_os_error }
    }
}

impl Queue {
    pub fn check(&self) -> Result<()> {
        match &self.poisoned {
            Some(p) => Err(p.error()),
            None if self.shutdown => Err(Error::Closed),
            None => Ok(()),
        }
    }

    /// What a closed store reports: `Ok` unless it was poisoned.
    pub fn close_result(&self) -> Result<()> {
        self.poisoned.as_ref().map_or(Ok(()), |p| Err(p.error()))
    }

    /// The error a callback gets once nothing more can be made durable.
    pub fn failure(&self) -> Error {
        self.poisoned.as_ref().map_or(Error::Closed, Poison::error)
    }

    /// Asks the next flush to delete, once it is durable, the sealed
    /// chunks below `below` (a request never moves back).
    pub fn delete_below_after_flush(&mut self, below: u64) {
        self.purge_below = Some(self.purge_below.map_or(below, |b| b.max(below)));
    }

    /// Whether the flush thread has something to do (a poisoned store: fail
    /// what is left).
    pub fn has_work(&self) -> bool {
        !self.segments.is_empty()
            || !self.callbacks.is_empty()
            || self.purge_below.is_some()
            || self.room_check
            || self.poisoned.is_some()
    }
}

/// Runs a user callback; a panic in it is logged, not spread.
pub(crate) fn fire(cb: Callback, r: Result<()>) {
    if catch_unwind(AssertUnwindSafe(move || cb(r))).is_err() {
        tracing::error!("a chunklog flush callback panicked; the store goes on");
    }
}

/// A copy of a poisoning or closing error for one more callback.
pub(crate) fn clone_err(e: &Error) -> Error {
    match e {
        Error::Poisoned { cause, kind, raw_os_error } => {
            Error::Poisoned { cause: cause.clone(), kind: *kind, raw_os_error: *raw_os_error }
        }
        _ => Error::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Codec;

    #[test]
    fn a_segment_reads_and_writes_across_its_parts() {
        let mut s = Segment::create(7, Codec::v2(1), b"head".to_vec());
        s.open.extend_from_slice(b"abc");
        assert_eq!(s.freeze().map(|(at, b)| (*at, b.len())), Some((4, 3)));
        assert!(s.freeze().is_none(), "nothing open");
        s.open.extend_from_slice(b"defg");
        s.freeze();
        s.open.extend_from_slice(b"hi");
        assert_eq!((s.len(), s.end()), (13, 13));
        assert_eq!(s.head(), b"head");
        // Each record lies in one part; a range across two is not served.
        assert_eq!(s.get(7, 4, 3), Some(&b"abc"[..]));
        assert_eq!(s.get(7, 7, 4), Some(&b"defg"[..]));
        assert_eq!(s.get(7, 11, 2), Some(&b"hi"[..]));
        assert_eq!(s.get(7, 6, 2), None);
        assert_eq!(s.get(7, 12, 2), None, "past the end");
        assert_eq!(s.get(8, 4, 3), None, "another chunk");
        let body = s.body(4);
        assert_eq!((body.len(), body.slices.concat()), (9, b"abcdefghi".to_vec()));
        assert_eq!(s.body(5).slices, [&b"bc"[..], b"defg", b"hi"]);
        assert!(s.body(13).is_empty());

        let mut t = Segment::new(7, Codec::v2(1), 100);
        t.open.extend_from_slice(b"xy");
        assert_eq!((t.get(7, 100, 2), t.get(7, 99, 2)), (Some(&b"xy"[..]), None));
        t.freeze();
        assert_eq!((t.get(7, 101, 1), t.body(0).slices.concat()), (Some(&b"y"[..]), b"xy".to_vec()));
    }
}
