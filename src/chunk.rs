//! One chunk file: paths, header and footer reads, and a frame scanner
//! that reads through positional reads in windows.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{self, Codec, Footer, Frame, FrameError, Record, RecordKind};
use crate::vfs::VfsFile;

/// Bytes read at once while scanning a chunk record by record.
pub(crate) const SCAN_WINDOW: usize = 1 << 20;

/// Bytes read at once for the few structures of a sealed chunk (header,
/// checkpoint, trailer, footer): enough for a typical header and
/// checkpoint in one read, small enough that opening a log of many sealed
/// chunks reads little more than their footers.
pub(crate) const PROBE_WINDOW: usize = 4 << 10;

pub(crate) fn chunk_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format::chunk_file_name(id))
}

/// What follows a record that does not decode, up to the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rest {
    /// Only zeros: preallocated space that was never written.
    Zeros,
    /// Something else, but no valid frame: a torn record.
    Torn,
    /// A valid frame starts at this offset: damage, not a crash.
    ValidFrameAt(u64),
}

/// A read-only view of a chunk file for scanning: positional reads into a
/// window buffer, never more than the file holds. Every byte of a scan is
/// read a bounded number of times: a window is reloaded only when the
/// bytes asked for are not in it.
pub(crate) struct ChunkReader<'a> {
    pub file: &'a dyn VfsFile,
    pub path: &'a Path,
    pub len: u64,
    buf: Vec<u8>,
    buf_start: u64,
    /// Bytes loaded at least when the window moves.
    pub readahead: usize,
    /// How the chunk's frames are encoded (from its header; format 1
    /// until the header is read).
    pub codec: Codec,
    /// The header says the file is recycled: bytes after the last record
    /// may be an earlier life's frames.
    pub recycled: bool,
}

impl<'a> ChunkReader<'a> {
    /// A reader for a record-by-record scan ([`SCAN_WINDOW`] readahead).
    pub fn new(file: &'a dyn VfsFile, path: &'a Path) -> Result<Self> {
        let len = file.size().map_err(|e| Error::io("stat", path, e))?;
        Ok(ChunkReader {
            file,
            path,
            len,
            buf: Vec::new(),
            buf_start: 0,
            readahead: SCAN_WINDOW,
            codec: Codec::V1,
            recycled: false,
        })
    }

    /// Up to `n` bytes at `off` (fewer at the end of the file).
    pub fn bytes(&mut self, off: u64, n: usize) -> Result<&[u8]> {
        let end = off.saturating_add(n as u64).min(self.len);
        if off >= end {
            return Ok(&[]);
        }
        self.load(off, end)?;
        let s = (off - self.buf_start) as usize;
        Ok(&self.buf[s..s + (end - off) as usize])
    }

    /// Everything in the window from `off` on, after making sure it holds
    /// at least `min` bytes (fewer at the end of the file).
    fn window_from(&mut self, off: u64, min: usize) -> Result<&[u8]> {
        let end = off.saturating_add(min as u64).min(self.len);
        if off >= end {
            return Ok(&[]);
        }
        self.load(off, end)?;
        Ok(&self.buf[(off - self.buf_start) as usize..])
    }

    /// Makes the window hold `[off, end)`, reading from `off` on if not.
    fn load(&mut self, off: u64, end: u64) -> Result<()> {
        let have = self.buf_start..self.buf_start + self.buf.len() as u64;
        if have.contains(&off) && end <= have.end {
            return Ok(());
        }
        let want_end = off.saturating_add(self.readahead as u64).max(end).min(self.len);
        let size = usize::try_from(want_end - off).map_err(|_| self.corrupt(off, "range too large"))?;
        self.buf.resize(size, 0);
        self.file.read_exact_at(&mut self.buf, off).map_err(|e| Error::io("read", self.path, e))?;
        self.buf_start = off;
        Ok(())
    }

    /// The frame at `off`, which must end at or before `end`.
    pub fn frame(&mut self, off: u64, end: u64) -> Result<std::result::Result<Frame<'_>, FrameError>> {
        let limit = end.saturating_sub(off);
        let codec = self.codec;
        let hdr = self.bytes(off, codec.frame_header_len().min(limit as usize))?;
        let total = match format::decode_frame_header(codec, hdr) {
            Ok(h) => h.frame_len(codec),
            Err(e) => return Ok(Err(e)),
        };
        if total > limit {
            return Ok(Err(FrameError::Incomplete { needed: Some(total) }));
        }
        let b = self.bytes(off, total as usize)?;
        Ok(format::decode_frame(codec, b))
    }

    /// Whether any byte position in `from..end` starts a valid frame: the
    /// test for "nothing valid after" in the tail-repair rule.
    pub fn any_valid_frame_in(&mut self, from: u64, end: u64) -> Result<bool> {
        Ok(self.next_valid_frame(from, end)?.is_some())
    }

    /// Classifies `[from, len)`, which follows a record that did not
    /// decode at `from`.
    pub fn rest(&mut self, from: u64) -> Result<Rest> {
        if self.all_zero(from, self.len)? {
            return Ok(Rest::Zeros);
        }
        Ok(match self.next_valid_frame(from.saturating_add(1), self.len)? {
            Some(at) => Rest::ValidFrameAt(at),
            None => Rest::Torn,
        })
    }

    /// Whether every byte in `[from, end)` is zero.
    pub fn all_zero(&mut self, from: u64, end: u64) -> Result<bool> {
        let mut off = from;
        while off < end {
            let w = self.window_from(off, 1)?;
            let w = &w[..w.len().min((end - off) as usize)];
            if w.is_empty() {
                break;
            }
            if w.iter().any(|&b| b != 0) {
                return Ok(false);
            }
            off += w.len() as u64;
        }
        Ok(true)
    }

    /// The first byte position in `from..end` that starts a valid frame.
    /// Reads each byte of the range a bounded number of times: zero runs
    /// are skipped a window at a time, and a candidate position costs a
    /// header check in the window already loaded (a whole frame is read
    /// only when its header's own CRC holds).
    pub fn next_valid_frame(&mut self, from: u64, end: u64) -> Result<Option<u64>> {
        let mut off = from;
        let overhead = self.codec.frame_overhead() as u64;
        while off.saturating_add(overhead) <= end {
            // Skip zero runs quickly: zeros never start a frame.
            let w = self.window_from(off, self.codec.frame_header_len())?;
            let w = &w[..w.len().min((end - off) as usize)];
            match w.iter().position(|&b| b != 0) {
                Some(nz) => off += nz as u64,
                None => {
                    off += w.len().max(1) as u64;
                    continue;
                }
            }
            if off.saturating_add(overhead) > end {
                break;
            }
            // Most positions fail on their kind or reserved bytes, without
            // a CRC: what keeps a scan over a recycled file's old frames,
            // or over random bytes, cheap.
            let codec = self.codec;
            if !format::plausible_frame_header(codec, self.window_from(off, codec.frame_header_len())?) {
                off += 1;
                continue;
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
pub(crate) fn decode<'f>(codec: Codec, path: &Path, off: u64, f: &Frame<'f>) -> Result<Record<'f>> {
    format::decode_record(codec, f.kind, f.body)
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
    let codec = r.codec;
    let frame = match r.frame(at, trailer_at)? {
        Ok(f) if f.kind == RecordKind::Footer && f.group == 0 && at + f.len as u64 == trailer_at => f,
        _ => return Ok(None),
    };
    match format::decode_record(codec, frame.kind, frame.body) {
        Ok(Record::Footer(footer)) => Ok(Some((at, footer))),
        _ => Ok(None),
    }
}

/// An on-disk chunk the engine knows about (its file is opened on
/// demand through [`crate::handles::Handles`]).
#[derive(Debug, Clone)]
pub(crate) struct ChunkInfo {
    /// Bytes written to the file (its length once flushed).
    pub size: u64,
    /// Whether the chunk ends with a footer.
    pub sealed: bool,
    /// How its frames are encoded.
    pub codec: Codec,
}

/// The chunk appends go to: its id, its size in bytes and its record
/// count (the engine's copy counts bytes still queued for the disk).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tail {
    pub id: u64,
    pub size: u64,
    pub records: u64,
    pub codec: Codec,
}
