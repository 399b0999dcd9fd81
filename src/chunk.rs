//! One chunk file: paths, header and footer reads, and a frame scanner
//! that reads through positional reads in large windows.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{self, Footer, Frame, FrameError, Record, RecordKind};
use crate::io::VfsFile;

/// Bytes read at once while scanning a chunk.
const WINDOW: usize = 1 << 20;

pub(crate) fn chunk_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format::chunk_file_name(id))
}

/// A read-only view of a chunk file for scanning: positional reads into a
/// window buffer, never more than the file holds.
pub(crate) struct ChunkReader<'a> {
    pub file: &'a dyn VfsFile,
    pub path: &'a Path,
    pub len: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> ChunkReader<'a> {
    pub fn new(file: &'a dyn VfsFile, path: &'a Path) -> Result<Self> {
        let len = file.size().map_err(|e| Error::io("stat", path, e))?;
        Ok(ChunkReader { file, path, len, buf: Vec::new(), buf_start: 0 })
    }

    /// Up to `n` bytes at `off` (fewer at the end of the file).
    pub fn bytes(&mut self, off: u64, n: usize) -> Result<&[u8]> {
        let end = off.saturating_add(n as u64).min(self.len);
        if off >= end {
            return Ok(&[]);
        }
        let have = self.buf_start..self.buf_start + self.buf.len() as u64;
        if !(have.contains(&off) && end <= have.end) {
            let want_end = off.saturating_add(n.max(WINDOW) as u64).min(self.len);
            let size = usize::try_from(want_end - off).map_err(|_| self.corrupt(off, "range too large"))?;
            self.buf.resize(size, 0);
            self.file.read_exact_at(&mut self.buf, off).map_err(|e| Error::io("read", self.path, e))?;
            self.buf_start = off;
        }
        let s = (off - self.buf_start) as usize;
        Ok(&self.buf[s..s + (end - off) as usize])
    }

    /// The frame at `off`, which must end at or before `end`.
    pub fn frame(&mut self, off: u64, end: u64) -> Result<std::result::Result<Frame<'_>, FrameError>> {
        let limit = end.saturating_sub(off);
        let hdr = self.bytes(off, format::FRAME_HEADER_LEN.min(limit as usize))?;
        let body_len = match format::decode_frame_header(hdr) {
            Ok((len, _)) => len,
            Err(e) => return Ok(Err(e)),
        };
        let total = (format::FRAME_OVERHEAD as u64) + u64::from(body_len);
        if total > limit {
            return Ok(Err(FrameError::Incomplete { needed: Some(total) }));
        }
        let b = self.bytes(off, total as usize)?;
        Ok(format::decode_frame(b))
    }

    /// Whether any byte position in `from..end` starts a valid frame: the
    /// test for "nothing valid after" in the tail-repair rule.
    pub fn any_valid_frame_in(&mut self, from: u64, end: u64) -> Result<bool> {
        Ok(self.next_valid_frame(from, end)?.is_some())
    }

    /// The first byte position in `from..end` that starts a valid frame.
    pub fn next_valid_frame(&mut self, from: u64, end: u64) -> Result<Option<u64>> {
        let mut off = from;
        while off + format::FRAME_OVERHEAD as u64 <= end {
            // Skip zero runs quickly: zeros never start a frame.
            let w = self.bytes(off, WINDOW)?;
            if let Some(nz) = w.iter().position(|&b| b != 0) {
                off += nz as u64;
            } else {
                off += w.len() as u64;
                continue;
            }
            if off + format::FRAME_OVERHEAD as u64 > end {
                break;
            }
            if self.frame(off, end)?.is_ok() {
                return Ok(Some(off));
            }
            off += 1;
        }
        Ok(None)
    }

    pub fn corrupt(&self, offset: u64, reason: impl Into<String>) -> Error {
        Error::corruption(self.path, offset, reason)
    }
}

/// Reads and decodes the record of a frame that passed its CRC; a body
/// that does not decode is corruption.
pub(crate) fn decode<'f>(path: &Path, off: u64, f: &Frame<'f>) -> Result<Record<'f>> {
    format::decode_record(f.kind, f.body)
        .map_err(|why| Error::corruption(path, off, format!("{} record: {why}", f.kind.name())))
}

/// The footer of a sealed chunk, if its trailer and footer frame are
/// intact: `(footer offset, footer)`. `Ok(None)` means "no usable footer".
pub(crate) fn read_footer(r: &mut ChunkReader<'_>) -> Result<Option<(u64, Footer)>> {
    let min = (format::HEADER_LEN + format::TRAILER_LEN) as u64;
    if r.len < min {
        return Ok(None);
    }
    let trailer_at = r.len - format::TRAILER_LEN as u64;
    let Some(at) = format::decode_trailer(r.bytes(trailer_at, format::TRAILER_LEN)?) else {
        return Ok(None);
    };
    if at < format::HEADER_LEN as u64 || at >= trailer_at {
        return Ok(None);
    }
    let frame = match r.frame(at, trailer_at)? {
        Ok(f) if f.kind == RecordKind::Footer && at + f.len as u64 == trailer_at => f,
        _ => return Ok(None),
    };
    match format::decode_record(frame.kind, frame.body) {
        Ok(Record::Footer(footer)) => Ok(Some((at, footer))),
        _ => Ok(None),
    }
}

/// An on-disk chunk the engine knows about.
#[derive(Debug, Clone)]
pub(crate) struct ChunkInfo {
    pub file: std::sync::Arc<dyn VfsFile>,
    /// Bytes written to the file (its length once flushed).
    pub size: u64,
    /// Whether the chunk ends with a footer.
    pub sealed: bool,
}
