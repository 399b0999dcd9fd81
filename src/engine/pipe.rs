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
#[derive(Debug)]
pub(crate) struct Segment {
    pub chunk: u64,
    /// The chunk's codec (format version and salt).
    pub codec: crate::format::Codec,
    pub start: u64,
    pub bytes: Vec<u8>,
    /// The chunk file must be created (`create_new`) before this write.
    pub create: bool,
    /// For a created chunk: the length of its header and checkpoint, which
    /// are made durable (file and directory) before anything after them is
    /// written, so a damaged header followed by valid records can only be
    /// media damage, never a crash.
    pub head_len: usize,
    /// The segment ends with the chunk's footer: sync the file after it.
    pub seal: bool,
}

impl Segment {
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// The bytes at `[offset, offset + len)` of the chunk, if this segment holds them.
    pub fn get(&self, chunk: u64, offset: u64, len: usize) -> Option<&[u8]> {
        if chunk != self.chunk || offset < self.start || offset + len as u64 > self.end() {
            return None;
        }
        let s = (offset - self.start) as usize;
        Some(&self.bytes[s..s + len])
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
