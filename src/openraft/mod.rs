//! The openraft adapters: chunklog as the log store of openraft 0.10
//! ([`v010`], feature `openraft-010`, re-exported at the crate root and as
//! `chunklog::openraft_v010`) and of openraft 0.9 ([`v09`], feature
//! `openraft-09`, as `chunklog::v09`).
//!
//! The engine knows indexes, bytes and opaque blobs; everything an adapter
//! adds to it is written once, in [`core`]: opening and the tag check,
//! the log ids of the stored entries ([`log_ids`]), append with a flush
//! callback, truncate and purge, vote ordering, non-owning readers, and a
//! drop that never blocks. [`line`] says what the core needs of a line's
//! types, [`codec`] turns openraft values into bytes, and
//! [`storage_error`] holds the rule that describes an [`Error`] as
//! openraft's `StorageError`. The files per line only map openraft's
//! traits, types and errors onto the core, so both lines behave alike:
//!
//! - Both check the engine's tag in `from_engine`: a directory written by
//!   the other line or codec is refused before any byte of it is decoded.
//! - Both skip entries at or below the purge point in `append`: a snapshot
//!   covers them. openraft (0.9 and 0.10) does not hand such entries over
//!   today, since it counts every index up to the committed one as present
//!   and purges only applied entries; skipping them keeps a store that
//!   receives one anyway consistent instead of failing with
//!   [`Error::NonConsecutive`].
//! - Both keep the first log id of every leader run since open, so the
//!   last log id is known from memory after any append, truncate or purge,
//!   also after an append that stopped part way. 0.9's `truncate` needs it
//!   to learn the new last log id (0.10's `truncate_after` is given it).
//! - Both order votes by leader id, then committed, and let openraft judge
//!   incomparable leader ids (0.9's own `Vote` order panics on two
//!   incomparable committed votes; a vote read from disk must not panic).
//!
//! [`Error`]: crate::Error
//! [`Error::NonConsecutive`]: crate::Error::NonConsecutive

pub mod codec;
mod core;
mod line;
mod log_ids;
mod storage_error;
#[cfg(feature = "openraft-010")]
pub mod v010;
#[cfg(feature = "openraft-09")]
pub mod v09;
