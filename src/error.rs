//! The library's one error type.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout chunklog.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in chunklog.
///
/// Every variant carries the context a person or a program needs to act on
/// it: the file, the byte offset, the two values of a broken invariant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"open"`, `"write"`, `"fdatasync"`, ...).
        op: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A file holds bytes that cannot be what chunklog wrote, at a place where
    /// the tail-repair rule does not apply. Nothing was changed on disk.
    #[error("corruption in {chunk} at byte {offset}: {reason}")]
    Corruption {
        /// The chunk file.
        chunk: PathBuf,
        /// Byte offset of the damaged record or structure within the file.
        offset: u64,
        /// What was wrong.
        reason: String,
    },

    /// Another `open` (in this process or another) holds the directory lock.
    #[error("log directory {dir} is locked by another open store")]
    Locked {
        /// The log directory.
        dir: PathBuf,
    },

    /// A chunk was written by a format version this build does not read.
    #[error("{chunk}: unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The chunk file.
        chunk: PathBuf,
        /// Version found in the chunk header.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },

    /// A chunk was written with another tag (payload codec / openraft line)
    /// than the one this store was opened with.
    #[error("{chunk}: written with tag {found:?}, but the store was opened with tag {expected:?}")]
    TagMismatch {
        /// The chunk file.
        chunk: PathBuf,
        /// Tag found in the chunk header.
        found: String,
        /// Tag the store was opened with.
        expected: String,
    },

    /// An earlier write or fsync failed; the store refuses all further
    /// writes and must be reopened. A failed fsync is never retried, because
    /// a retried fsync can report success for data the kernel dropped.
    #[error("store is poisoned by an earlier I/O failure: {cause}")]
    Poisoned {
        /// The failure that poisoned the store.
        cause: String,
        /// The kind of that failure's I/O error (`StorageFull` for ENOSPC,
        /// `Other` for EIO, ...), so a program can tell a full disk from a
        /// failing one. Also the kind of the `io::Error` this converts into.
        kind: io::ErrorKind,
        /// The operating system's error code of that failure (28 for
        /// ENOSPC, 5 for EIO), when it had one.
        raw_os_error: Option<i32>,
    },

    /// An appended entry's index does not follow the last one.
    #[error("non-consecutive append: expected index {expected}, got {got}")]
    NonConsecutive {
        /// The index that would have been consecutive.
        expected: u64,
        /// The index that was given.
        got: u64,
    },

    /// A truncation would remove entries that are already purged.
    #[error("cannot truncate after {index:?}: entries up to {purged} are purged")]
    TruncateBelowPurged {
        /// The requested truncation point (`None`: delete every entry).
        index: Option<u64>,
        /// The purge point.
        purged: u64,
    },

    /// The vote would go backwards (raised by the openraft adapters).
    #[error("vote reversal: current {current}, attempted {attempted}")]
    VoteReversal {
        /// The stored vote.
        current: String,
        /// The vote that was rejected.
        attempted: String,
    },

    /// A payload or metadata blob exceeds the format's size limit.
    #[error("record of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The length that was given.
        len: u64,
        /// The largest length accepted.
        max: u64,
    },

    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A payload could not be encoded or decoded by the adapter's codec.
    #[error("codec error at index {index:?}: {reason}")]
    Codec {
        /// The log index involved, where there is one.
        index: Option<u64>,
        /// What went wrong.
        reason: String,
    },

    /// The store was shut down while the operation was pending, or the
    /// handle does not keep the store open and every handle that did is
    /// gone ([`ChunkLog::non_owning`](crate::ChunkLog::non_owning)).
    #[error("store is closed")]
    Closed,

    /// A call from a flush callback (which runs on the store's flush
    /// thread) would wait for that same thread: `sync`, `save_vote`, or an
    /// `append` into a full queue. Nothing was waited for; `append` and
    /// `write_vote` made no change.
    #[error("{op} called from a flush callback of the same store would wait for itself")]
    FromCallback {
        /// The call that was refused.
        op: &'static str,
    },

    /// A log index or chunk id would leave the range the format holds.
    #[error("{what} {value} is out of range (at most {max})")]
    OutOfRange {
        /// What overflowed (`"entry index"`, `"chunk id"`).
        what: &'static str,
        /// The value given or reached.
        value: u64,
        /// The largest value accepted.
        max: u64,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }

    pub(crate) fn corruption(chunk: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption { chunk: chunk.into(), offset, reason: reason.into() }
    }

    /// The kind of the operating system's error behind this one, if any:
    /// an I/O failure, or the failure that poisoned the store.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            Error::Poisoned { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The operating system's error code behind this one (28 for ENOSPC,
    /// 5 for EIO), if any: an I/O failure, or the failure that poisoned
    /// the store.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Poisoned { raw_os_error, .. } => *raw_os_error,
            _ => None,
        }
    }

    /// Whether this error means data on disk is damaged (open refused).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io { source, .. } => source.kind(),
            Error::Corruption { .. } | Error::UnsupportedVersion { .. } | Error::TagMismatch { .. } => {
                io::ErrorKind::InvalidData
            }
            Error::Locked { .. } => io::ErrorKind::WouldBlock,
            Error::NonConsecutive { .. }
            | Error::TruncateBelowPurged { .. }
            | Error::VoteReversal { .. }
            | Error::TooLarge { .. }
            | Error::OutOfRange { .. }
            | Error::InvalidConfig(_) => io::ErrorKind::InvalidInput,
            Error::Codec { .. } => io::ErrorKind::InvalidData,
            Error::Poisoned { kind, .. } => *kind,
            Error::FromCallback { .. } => io::ErrorKind::Deadlock,
            Error::Closed => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}
