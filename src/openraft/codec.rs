//! The payload codec of the openraft adapters.
//!
//! The engine stores opaque bytes; the adapters turn openraft entries, log
//! ids and votes into bytes with a [`Codec`]. The codec's
//! [`NAME`](Codec::NAME) goes into every chunk header (with the openraft
//! line), so a directory written with one codec is never read with another.

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
    raw.into_iter().map(|(i, b)| K::decode(&b).map_err(|e| at_index(e, i))).collect()
}

/// Encodes a batch of `(index, entry)` into one buffer: `(index, range in
/// buf)` per entry.
pub(crate) fn encode_batch<K: Codec, E: Serialize>(
    entries: impl IntoIterator<Item = (u64, E)>,
    buf: &mut Vec<u8>,
) -> Result<Vec<(u64, std::ops::Range<usize>)>> {
    let mut spans = Vec::new();
    for (index, e) in entries {
        let start = buf.len();
        K::encode_into(&e, buf).map_err(|err| at_index(err, index))?;
        spans.push((index, start..buf.len()));
    }
    Ok(spans)
}

/// Names the entry a codec error is about.
fn at_index(e: Error, index: u64) -> Error {
    match e {
        Error::Codec { reason, .. } => Error::Codec { index: Some(index), reason },
        other => other,
    }
}
