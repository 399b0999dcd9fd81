//! The one rule both openraft lines use to describe a chunklog [`Error`]
//! as openraft's `StorageError`: each line maps [`Subject`] and [`Verb`]
//! to its own `ErrorSubject` and `ErrorVerb`.

use crate::Error;

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
