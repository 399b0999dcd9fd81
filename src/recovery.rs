//! Open-time replay: rebuild the index and the log state from the chunk
//! files, repair a torn tail, refuse corruption anywhere else.
//!
//! Sealed chunks are read through their footers (and their opening
//! checkpoint, to cross-check the state); only the newest chunk, and any
//! chunk whose footer is missing or damaged, is scanned record by record.
//! Nothing is changed on disk here: repairs are returned and applied by
//! the caller only once the whole directory has been found consistent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::chunk::{self, ChunkInfo, ChunkReader};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::format::{self, Footer, HeaderError, Record, RecordKind};
use crate::index::{Index, Slot};
use crate::io::Vfs;
use crate::state::LogState;

/// A change open makes to the directory after a successful replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Repair {
    /// Cut the newest chunk at `at`, dropping `dropped` bytes of torn tail.
    Cut { path: PathBuf, at: u64, dropped: u64 },
    /// Remove the newest chunk: it was never completely created.
    Remove { path: PathBuf, len: u64 },
}

/// The chunk appends go to: its id, its size in bytes and its record
/// count (the engine's copy counts bytes still queued for the disk).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tail {
    pub id: u64,
    pub size: u64,
    pub records: u64,
}

pub(crate) struct Recovered {
    pub state: LogState,
    pub index: Index,
    pub chunks: BTreeMap<u64, ChunkInfo>,
    pub tail: Option<Tail>,
    pub repairs: Vec<Repair>,
}

/// A record with its blobs copied out of the read buffer.
enum Op {
    Entry(u64),
    Vote(Bytes),
    Committed(Option<Bytes>),
    UserMeta(Option<Bytes>),
    Truncate(Option<u64>),
    Purge(u64, Bytes),
    Checkpoint(LogState),
    Footer,
}

impl From<Record<'_>> for Op {
    fn from(r: Record<'_>) -> Op {
        let owned = |b: Option<&[u8]>| b.map(Bytes::copy_from_slice);
        match r {
            Record::Entry { index, .. } => Op::Entry(index),
            Record::Vote(v) => Op::Vote(Bytes::copy_from_slice(v)),
            Record::Committed(c) => Op::Committed(owned(c)),
            Record::UserMeta(m) => Op::UserMeta(owned(m)),
            Record::TruncateAfter(a) => Op::Truncate(a),
            Record::PurgeUpto { index, meta } => Op::Purge(index, Bytes::copy_from_slice(meta)),
            Record::Checkpoint(s) => Op::Checkpoint(s),
            Record::Footer(_) => Op::Footer,
        }
    }
}

/// The running state of a replay.
#[derive(Default)]
struct Replay {
    state: Option<LogState>,
    index: Index,
}

impl Replay {
    /// A chunk's opening checkpoint: the starting state for the first
    /// chunk, a cross-check for every later one.
    fn checkpoint(&mut self, cp: LogState) -> std::result::Result<(), String> {
        match &self.state {
            None => {
                self.state = Some(cp);
                Ok(())
            }
            Some(s) if *s == cp => Ok(()),
            Some(s) => {
                Err(format!("checkpoint disagrees with the replay of earlier chunks: checkpoint {cp:?}, replay {s:?}"))
            }
        }
    }

    fn apply(&mut self, op: Op, slot: Slot) -> std::result::Result<(), String> {
        let st = self.state.as_mut().ok_or("record before the chunk's checkpoint")?;
        match op {
            Op::Entry(i) => {
                st.apply_entry(i).map_err(|n| format!("entry {i} does not follow index {}", n - 1))?;
                if !self.index.push(i, slot) {
                    // Entries below were in chunks that are gone; the final
                    // check decides whether the purge point covers them.
                    self.index.truncate_after(None);
                    self.index.push(i, slot);
                }
            }
            Op::Vote(v) => st.vote = Some(v),
            Op::Committed(c) => st.committed = c,
            Op::UserMeta(m) => st.user_meta = m,
            Op::Truncate(after) => {
                if let Some(p) = st.purged_index()
                    && after.is_none_or(|a| a < p)
                {
                    return Err(format!("truncation after {after:?} is below the purge point {p}"));
                }
                st.apply_truncate(after);
                self.index.truncate_after(after);
            }
            Op::Purge(i, meta) => {
                if st.purged_index().is_some_and(|p| p >= i) {
                    return Err(format!("purge to {i} does not advance the purge point {:?}", st.purged_index()));
                }
                st.apply_purge(i, meta);
                self.index.purge_upto(i);
            }
            Op::Checkpoint(_) => return Err("checkpoint record in the middle of a chunk".into()),
            Op::Footer => return Err("footer record in the middle of a chunk".into()),
        }
        Ok(())
    }

    fn apply_footer(&mut self, path: &Path, id: u64, at: u64, f: Footer) -> Result<()> {
        let corrupt = |why: String| Error::corruption(path, at, format!("footer: {why}"));
        if !f.slots.is_empty() {
            let last = f
                .first_index
                .checked_add(f.slots.len() as u64 - 1)
                .ok_or_else(|| corrupt("entry indexes overflow".into()))?;
            if f.state.last_index != Some(last) {
                return Err(corrupt(format!(
                    "entries end at {last} but the state's last index is {:?}",
                    f.state.last_index
                )));
            }
            if f.state.first_index.is_none_or(|first| first > f.first_index) {
                return Err(corrupt(format!(
                    "lists entries from {} but the state's first index is {:?}",
                    f.first_index, f.state.first_index
                )));
            }
            let min_len = (format::FRAME_OVERHEAD + 8) as u32;
            for &(off, len) in &f.slots {
                if u64::from(off) < format::HEADER_LEN as u64 || u64::from(off) + u64::from(len) > at || len < min_len {
                    return Err(corrupt(format!("entry slot ({off}, {len}) lies outside the chunk's records")));
                }
            }
            self.index.truncate_after(f.first_index.checked_sub(1));
            for (k, &(offset, len)) in f.slots.iter().enumerate() {
                let slot = Slot { chunk: id, offset, len };
                let i = f.first_index + k as u64;
                if !self.index.push(i, slot) {
                    self.index.truncate_after(None);
                    self.index.push(i, slot);
                }
            }
        }
        // The state bounds the index on both sides: a truncation or purge
        // recorded in this chunk may have removed entries of earlier chunks.
        match f.state.first_index {
            Some(first) => {
                self.index.truncate_after(f.state.last_index);
                if let Some(below) = first.checked_sub(1) {
                    self.index.purge_upto(below);
                }
            }
            None => self.index.truncate_after(None),
        }
        self.state = Some(f.state);
        Ok(())
    }
}

/// Replays the chunk files of `cfg.dir`.
pub(crate) fn recover(vfs: &dyn Vfs, cfg: &Config) -> Result<Recovered> {
    recover_dir(vfs, &cfg.dir, Some(&cfg.tag))
}

/// Replays `dir` without changing it. `tag`: the tag every chunk must
/// carry, or `None` to accept the first chunk's tag (and require the same
/// of the others).
pub(crate) fn recover_dir(vfs: &dyn Vfs, dir: &Path, tag: Option<&str>) -> Result<Recovered> {
    let dir = &dir.to_path_buf();
    let mut expected_tag = tag.map(str::to_owned);
    let names = vfs.list(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut ids: Vec<u64> = names.iter().filter_map(|n| format::parse_chunk_file_name(n)).collect();
    ids.sort_unstable();
    for w in ids.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(Error::corruption(
                chunk::chunk_path(dir, w[1]),
                0,
                format!("chunk {} is missing (found chunk {} and then chunk {})", w[0] + 1, w[0], w[1]),
            ));
        }
    }

    let mut rp = Replay::default();
    let mut chunks = BTreeMap::new();
    let mut tail = None;
    let mut repairs = Vec::new();

    // A newest chunk without a whole header and checkpoint, and with
    // nothing valid in it, was being created when the process stopped.
    if let Some(&id) = ids.last() {
        let path = chunk::chunk_path(dir, id);
        let file = vfs.open(&path).map_err(|e| Error::io("open", &path, e))?;
        let mut r = ChunkReader::new(&*file, &path)?;
        if let Some(why) = headless(&mut r)? {
            if ids.len() == 1 && id != 1 {
                return Err(r.corrupt(0, format!("{why}; it is the only chunk, so the log state would be lost")));
            }
            repairs.push(Repair::Remove { path: path.clone(), len: r.len });
            ids.pop();
        }
    }

    for (pos, &id) in ids.iter().enumerate() {
        let newest = pos + 1 == ids.len();
        let path = chunk::chunk_path(dir, id);
        let file = vfs.open(&path).map_err(|e| Error::io("open", &path, e))?;
        let mut r = ChunkReader::new(&*file, &path)?;

        match format::decode_header(r.bytes(0, format::HEADER_LEN)?) {
            Ok(h) if h.chunk_id != id => {
                return Err(r.corrupt(16, format!("header names chunk {} but the file name says {id}", h.chunk_id)));
            }
            Ok(h) if expected_tag.as_ref().is_some_and(|t| *t != h.tag) => {
                let expected = expected_tag.clone().unwrap_or_default();
                return Err(Error::TagMismatch { chunk: path.clone(), found: h.tag, expected });
            }
            Ok(h) => {
                expected_tag.get_or_insert(h.tag);
            }
            Err(HeaderError::UnsupportedVersion(v)) => {
                return Err(Error::UnsupportedVersion {
                    chunk: path.clone(),
                    found: v,
                    supported: format::FORMAT_VERSION,
                });
            }
            Err(e) => return Err(r.corrupt(0, e.to_string())),
        }

        if !newest && let Some((at, footer)) = chunk::read_footer(&mut r)? {
            let hdr_end = format::HEADER_LEN as u64;
            let cp = match r.frame(hdr_end, at)? {
                Ok(f) if f.kind == RecordKind::Checkpoint => match chunk::decode(&path, hdr_end, &f)? {
                    Record::Checkpoint(s) => s,
                    _ => unreachable!("decode_record keeps the kind"),
                },
                Ok(f) => {
                    let why = format!("chunk starts with a {} record, not a checkpoint", f.kind.name());
                    return Err(Error::corruption(&path, hdr_end, why));
                }
                Err(e) => return Err(Error::corruption(&path, hdr_end, format!("checkpoint: {e}"))),
            };
            rp.checkpoint(cp).map_err(|why| r.corrupt(hdr_end, why))?;
            rp.apply_footer(&path, id, at, footer)?;
            chunks.insert(id, ChunkInfo { file: file.clone(), size: r.len, sealed: true });
            continue;
        }

        // Full scan. A non-last chunk whose trailer survived but whose
        // footer did not is scanned up to the footer.
        let trailer_at = r.len.saturating_sub(format::TRAILER_LEN as u64);
        let scan_end = if newest {
            r.len
        } else {
            match format::decode_trailer(r.bytes(trailer_at, format::TRAILER_LEN)?) {
                Some(at) if at >= format::HEADER_LEN as u64 && at < trailer_at => at,
                _ => r.len,
            }
        };
        let mut off = format::HEADER_LEN as u64;
        let mut records = 0u64;
        let mut sealed = scan_end != r.len;
        let mut end = scan_end;
        while off < scan_end {
            let (op, len) = match r.frame(off, scan_end)? {
                Ok(f) => (Op::from(chunk::decode(&path, off, &f)?), f.len as u64),
                Err(fe) => {
                    if !newest {
                        return Err(r.corrupt(off, fe.to_string()));
                    }
                    if r.any_valid_frame_in(off + 1, r.len)? {
                        return Err(r.corrupt(off, format!("{fe}, and valid records follow it")));
                    }
                    if records == 0 {
                        return Err(r.corrupt(off, format!("checkpoint: {fe}")));
                    }
                    repairs.push(Repair::Cut { path: path.clone(), at: off, dropped: r.len - off });
                    end = off;
                    break;
                }
            };
            if records == 0 {
                let Op::Checkpoint(cp) = op else {
                    return Err(r.corrupt(off, "chunk does not start with a checkpoint"));
                };
                rp.checkpoint(cp).map_err(|why| r.corrupt(off, why))?;
            } else if let Op::Footer = op {
                let after = off + len;
                let trailer_ok = after + format::TRAILER_LEN as u64 == r.len
                    && format::decode_trailer(r.bytes(after, format::TRAILER_LEN)?) == Some(off);
                if trailer_ok {
                    sealed = true;
                    break;
                }
                if !newest || r.any_valid_frame_in(off + 1, r.len)? {
                    return Err(r.corrupt(off, "footer is not followed by a valid trailer"));
                }
                repairs.push(Repair::Cut { path: path.clone(), at: off, dropped: r.len - off });
                end = off;
                break;
            } else {
                let slot = Slot { chunk: id, offset: off as u32, len: len as u32 };
                rp.apply(op, slot).map_err(|why| r.corrupt(off, why))?;
            }
            records += 1;
            off += len;
        }
        if !newest && !sealed {
            return Err(
                r.corrupt(end, "older chunk ends without its footer (cut short?): only the newest chunk is unsealed")
            );
        }
        if records == 0 {
            return Err(r.corrupt(format::HEADER_LEN as u64, "chunk holds no checkpoint"));
        }
        if newest && !sealed {
            tail = Some(Tail { id, size: end, records });
        }
        chunks.insert(id, ChunkInfo { file: file.clone(), size: end, sealed });
    }

    let state = rp.state.unwrap_or_default();
    let index = rp.index;
    // The index must hold exactly the entries between purge point and last.
    let want = state.first_index.zip(state.last_index);
    let have = index.first().zip(index.last());
    if want != have {
        let first = ids.first().map(|&id| chunk::chunk_path(dir, id)).unwrap_or_else(|| dir.clone());
        return Err(Error::corruption(
            first,
            format::HEADER_LEN as u64,
            format!("the log state needs entries {want:?} but the chunks hold {have:?}: a chunk is missing or damaged"),
        ));
    }
    Ok(Recovered { state, index, chunks, tail, repairs })
}

/// Why the chunk has no usable header and checkpoint and nothing valid
/// in it, or `None` if it has them (or holds valid records: damage then).
fn headless(r: &mut ChunkReader<'_>) -> Result<Option<String>> {
    let why = match format::decode_header(r.bytes(0, format::HEADER_LEN)?) {
        Err(HeaderError::UnsupportedVersion(_)) => return Ok(None),
        Err(e) => e.to_string(),
        Ok(_) => match r.frame(format::HEADER_LEN as u64, r.len)? {
            Ok(_) => return Ok(None),
            Err(e) => format!("checkpoint: {e}"),
        },
    };
    if r.any_valid_frame_in(0, r.len)? { Ok(None) } else { Ok(Some(why)) }
}

/// Applies the repairs recovery found, now that the directory passed every
/// check. With `keep_broken`, the bytes a repair drops are first copied to
/// `<chunk>.broken` beside the chunk.
pub(crate) fn apply_repairs(vfs: &dyn Vfs, dir: &Path, repairs: &[Repair], keep_broken: bool) -> Result<()> {
    for r in repairs {
        let (path, from) = match r {
            Repair::Cut { path, at, .. } => (path, *at),
            Repair::Remove { path, .. } => (path, 0),
        };
        if keep_broken {
            let f = vfs.open(path).map_err(|e| Error::io("open", path, e))?;
            let len = f.size().map_err(|e| Error::io("stat", path, e))?;
            let mut bytes = vec![0u8; len.saturating_sub(from) as usize];
            f.read_exact_at(&mut bytes, from).map_err(|e| Error::io("read", path, e))?;
            let mut name = path.as_os_str().to_owned();
            name.push(".broken");
            std::fs::write(&name, &bytes).map_err(|e| Error::io("write", PathBuf::from(&name), e))?;
        }
        match r {
            Repair::Cut { path, at, dropped } => {
                tracing::warn!(chunk = %path.display(), offset = at, bytes_dropped = dropped, "cutting torn tail of the newest chunk");
                let f = vfs.open(path).map_err(|e| Error::io("open", path, e))?;
                f.set_len(*at).map_err(|e| Error::io("truncate", path, e))?;
                f.sync_data().map_err(|e| Error::io("fdatasync", path, e))?;
            }
            Repair::Remove { path, len } => {
                tracing::warn!(chunk = %path.display(), bytes_dropped = len, "removing newest chunk that was never completely created");
                vfs.remove_file(path).map_err(|e| Error::io("remove", path, e))?;
                vfs.sync_dir(dir).map_err(|e| Error::io("fsync directory", dir, e))?;
            }
        }
    }
    Ok(())
}
