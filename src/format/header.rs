//! The 64-byte chunk header (`docs/FORMAT.md`, "Header").

use super::{CHUNK_MAGIC, Codec, FORMAT_VERSION, HEADER_LEN, MAX_TAG_LEN, MIN_FORMAT_VERSION, u32_at, u64_at};

/// A decoded chunk header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    /// The chunk's id (also in its file name).
    pub chunk_id: u64,
    /// The tag set by the engine's user.
    pub tag: String,
    /// How the chunk's frames are encoded: its format version and salt.
    pub codec: Codec,
    /// The file is a recycled one (format 2, flag bit 0 of byte 57): the
    /// bytes after its last record may be an earlier life's frames, which
    /// fail this chunk's CRCs.
    pub recycled: bool,
}

/// Byte 57 of the header: flags (format 2; reserved and ignored before).
const FLAGS_AT: usize = 57;
/// Flag: the chunk was written into a recycled file.
const FLAG_RECYCLED: u8 = 1;

/// Marks an encoded header (the first [`HEADER_LEN`] bytes of `h`) as a
/// recycled file's and renews its CRC.
pub fn set_recycled(h: &mut [u8]) {
    h[FLAGS_AT] |= FLAG_RECYCLED;
    let crc = crc32fast::hash(&h[0..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
}

/// Why a chunk header was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Short,
    /// The magic bytes are wrong.
    BadMagic,
    /// A version this build does not read.
    UnsupportedVersion(u32),
    /// The header CRC does not match.
    BadCrc,
    /// The tag length or bytes are invalid.
    BadTag,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Short => write!(f, "chunk header is incomplete"),
            HeaderError::BadMagic => write!(f, "bad magic bytes in chunk header"),
            HeaderError::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            HeaderError::BadCrc => write!(f, "chunk header CRC mismatch"),
            HeaderError::BadTag => write!(f, "invalid tag in chunk header"),
        }
    }
}

/// Encodes a chunk header for frames encoded with `codec` (the version is
/// the codec's; format 2 keeps the salt in bytes 12..16). `tag` must be
/// at most [`MAX_TAG_LEN`] bytes (checked by `Config::validate`).
pub fn encode_header(chunk_id: u64, tag: &str, codec: Codec) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&CHUNK_MAGIC);
    h[8..12].copy_from_slice(&codec.version.to_le_bytes());
    if codec.version >= 2 {
        h[12..16].copy_from_slice(&codec.salt.to_le_bytes());
    }
    h[16..24].copy_from_slice(&chunk_id.to_le_bytes());
    let tag = &tag.as_bytes()[..tag.len().min(MAX_TAG_LEN)];
    h[24] = tag.len() as u8;
    h[25..25 + tag.len()].copy_from_slice(tag);
    let crc = crc32fast::hash(&h[0..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a chunk header: magic, then version, then CRC, then tag.
pub fn decode_header(b: &[u8]) -> Result<ChunkHeader, HeaderError> {
    if b.len() < HEADER_LEN {
        return Err(HeaderError::Short);
    }
    if b[0..8] != CHUNK_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let version = u32_at(b, 8);
    if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    if crc32fast::hash(&b[0..60]) != u32_at(b, 60) {
        return Err(HeaderError::BadCrc);
    }
    let tag_len = usize::from(b[24]);
    if tag_len > MAX_TAG_LEN {
        return Err(HeaderError::BadTag);
    }
    let tag = std::str::from_utf8(&b[25..25 + tag_len]).map_err(|_| HeaderError::BadTag)?;
    let codec = if version == 1 { Codec::V1 } else { Codec { version, salt: u32_at(b, 12) } };
    let recycled = version >= 2 && b[FLAGS_AT] & FLAG_RECYCLED != 0;
    Ok(ChunkHeader { chunk_id: u64_at(b, 16), tag: tag.to_owned(), codec, recycled })
}
