//! # chunklog
//!
//! A crash-safe, fast, disk-based Raft log store. The engine,
//! [`ChunkLog`], keeps opaque entries, a vote, a committed marker and a
//! purge point in an append-only log split into chunk files:
//!
//! - every record is framed and CRC-checked; every chunk opens with a
//!   checkpoint of the whole log state, so old chunks are deleted whole
//!   after a purge; sealed chunks end with an index footer, so reopening
//!   reads footers instead of payloads;
//! - appends are encoded into memory on the caller's thread and readable
//!   at once; one background thread group-commits them (one write and one
//!   `fdatasync` for everything queued, no timer) and then fires flush
//!   callbacks in order;
//! - reads are positional (`pread`), so any number of threads read at
//!   once, with a bounded cache of recently appended payloads in front;
//! - open replays the log, cuts a torn tail of the newest chunk, and
//!   refuses damage anywhere else with an error naming file and offset;
//! - a failed write or fsync poisons the store: it is never retried.
//!
//! The on-disk format is specified byte by byte in `docs/FORMAT.md`.
//!
//! ```
//! use chunklog::{ChunkLog, Config};
//! # fn main() -> Result<(), chunklog::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let log = ChunkLog::open(Config::new(dir.path()))?;
//! log.append((1..=3).map(|i| (i, format!("entry {i}"))))?;
//! log.sync()?; // entries 1..=3 are durable now
//! let entries = log.read_range(2..)?;
//! assert_eq!(entries[0].1.as_ref(), b"entry 2");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod apply;
mod cache;
mod chunk;
mod config;
mod engine;
mod error;
pub mod format;
mod group;
mod index;
pub mod inspect;
#[cfg(feature = "metrics")]
mod metrics;
mod recovery;
mod state;
pub mod vfs;

#[cfg(any(feature = "openraft-010", feature = "openraft-09"))]
mod openraft;

#[cfg(any(feature = "openraft-010", feature = "openraft-09"))]
pub use crate::openraft::codec;
#[cfg(feature = "openraft-09")]
pub use crate::openraft::v09;
#[cfg(feature = "openraft-010")]
pub use crate::openraft::v010 as openraft_v010;
#[cfg(feature = "openraft-010")]
pub use crate::openraft::v010::{LogReader, LogStore};

/// The file-system layer under its old name.
#[doc(hidden)]
pub use vfs as io;

pub use config::Config;
pub use engine::{Callback, ChunkLog, Copied, Pin, Stats};
pub use error::{Error, Result};
pub use state::{LogState, Purged};
