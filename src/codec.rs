//! The payload codec of the openraft adapters.
//!
//! The engine stores opaque bytes; the adapters turn openraft entries, log
//! ids and votes into bytes with a [`Codec`]. The codec's
//! [`NAME`](Codec::NAME) goes into every chunk header (with the openraft
//! line), so a directory written with one codec is never read with another.
//!
//! It also holds the one rule both adapters use to describe a chunklog
//! [`Error`] as openraft's `StorageError` (`error_context`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Turns serde values into bytes and back.
pub trait Codec: Send + Sync + 'static {
    /// A short, versioned name, recorded in every chunk header. Change it
    /// whenever the byte layout changes.
    const NAME: &'static str;

    /// Appends the encoding of `value` to `out`.
    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()>;

    /// Decodes a value that fills all of `bytes`.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T>;

    /// The encoding of `value` as a new buffer.
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        Self::encode_into(value, &mut out)?;
        Ok(out)
    }
}

/// bincode 2 in serde mode with its standard configuration (little-endian,
/// variable-length integers). The default codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bincode2;

impl Codec for Bincode2 {
    const NAME: &'static str = "bincode2";

    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
        bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
            .map(|_| ())
            .map_err(|e| Error::Codec { index: None, reason: e.to_string() })
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
        let (v, used) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .map_err(|e| Error::Codec { index: None, reason: e.to_string() })?;
        if used != bytes.len() {
            return Err(Error::Codec { index: None, reason: format!("{} trailing bytes", bytes.len() - used) });
        }
        Ok(v)
    }
}

/// Decodes an optional blob.
pub(crate) fn decode_opt<K: Codec, T: DeserializeOwned>(blob: Option<&[u8]>) -> Result<Option<T>> {
    blob.map(K::decode).transpose()
}

/// Decodes entries read from the engine, naming the index on failure.
pub(crate) fn decode_entries<K: Codec, E: DeserializeOwned>(raw: Vec<(u64, bytes::Bytes)>) -> Result<Vec<E>> {
    raw.into_iter()
        .map(|(i, b)| {
            K::decode(&b).map_err(|e| match e {
                Error::Codec { reason, .. } => Error::Codec { index: Some(i), reason },
                other => other,
            })
        })
        .collect()
}

/// Encodes a batch of entries into one buffer: `(index, range in buf)`.
pub(crate) fn encode_batch<K: Codec, E: Serialize>(
    entries: impl IntoIterator<Item = E>,
    index_of: impl Fn(&E) -> u64,
    buf: &mut Vec<u8>,
) -> Result<Vec<(u64, std::ops::Range<usize>)>> {
    let mut spans = Vec::new();
    for e in entries {
        let start = buf.len();
        let index = index_of(&e);
        K::encode_into(&e, buf).map_err(|err| match err {
            Error::Codec { reason, .. } => Error::Codec { index: Some(index), reason },
            other => other,
        })?;
        spans.push((index, start..buf.len()));
    }
    Ok(spans)
}

/// Awaits room in `log`'s flush queue, so that the append that follows
/// does not block (unless another handle fills the queue in between).
pub(crate) async fn room(log: &crate::ChunkLog) -> Result<()> {
    if log.has_room() {
        return Ok(());
    }
    let (tx, rx) = futures_channel::oneshot::channel();
    log.when_room(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    rx.await.unwrap_or(Err(Error::Closed))
}

/// Awaits a flush of `log`: everything submitted before is durable.
pub(crate) async fn flushed(log: &crate::ChunkLog) -> Result<()> {
    let (tx, rx) = futures_channel::oneshot::channel();
    log.flush(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    rx.await.unwrap_or(Err(Error::Closed))
}

/// What a failed operation was about, in the terms of openraft's
/// `ErrorSubject` (each adapter maps it to its openraft line's type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// The store as a whole (I/O, poisoning, opening).
    Store,
    /// The vote.
    Vote,
    /// A series of log entries.
    Logs,
    /// One log entry, by index.
    LogIndex(u64),
}

/// What was being done, in the terms of openraft's `ErrorVerb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Read,
    Write,
    Delete,
}

/// The openraft subject and verb that describe `e`, judged from the error
/// alone (the `From<Error>` conversions into `StorageError` know nothing
/// else): errors found while reading the directory are reads, a refused
/// change of the log or the vote is a write (a truncation a delete), and
/// a poisoned or closed store is a write failure of the store.
pub(crate) fn error_context(e: &Error) -> (Subject, Verb) {
    match e {
        Error::Io { op, .. } => {
            let verb = match *op {
                "read" | "list" | "stat" | "open" | "lock" | "spawn read thread" => Verb::Read,
                "remove" | "truncate" => Verb::Delete,
                _ => Verb::Write,
            };
            (Subject::Store, verb)
        }
        Error::Corruption { .. } | Error::UnsupportedVersion { .. } | Error::TagMismatch { .. } => {
            (Subject::Logs, Verb::Read)
        }
        Error::Locked { .. } | Error::InvalidConfig(_) => (Subject::Store, Verb::Read),
        Error::Codec { index: Some(i), .. } => (Subject::LogIndex(*i), Verb::Read),
        Error::Codec { index: None, .. } => (Subject::Store, Verb::Read),
        Error::NonConsecutive { got, .. } => (Subject::LogIndex(*got), Verb::Write),
        Error::TooLarge { .. } | Error::OutOfRange { .. } => (Subject::Logs, Verb::Write),
        Error::TruncateBelowPurged { .. } => (Subject::Logs, Verb::Delete),
        Error::VoteReversal { .. } => (Subject::Vote, Verb::Write),
        Error::Poisoned { .. } | Error::Closed | Error::FromCallback { .. } => (Subject::Store, Verb::Write),
    }
}
