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

use crate::apply::{self, Change};
use crate::chunk::{self, ChunkInfo, ChunkReader, Rest, Tail};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::format::{self, Codec, Footer, HeaderError, Record, RecordKind, Stamp};
use crate::group::Group;
use crate::index::{Index, Slot};
use crate::state::LogState;
use crate::vfs::Vfs;

/// A change open makes to the directory after a successful replay (and
/// that `chunklog repair` makes): cut the newest chunk's torn tail,
/// give back its preallocated space, or remove a chunk never completely
/// created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repair {
    /// Cut `path` at `at`, dropping `dropped` bytes.
    Cut {
        /// The chunk file.
        path: PathBuf,
        /// New length.
        at: u64,
        /// Bytes dropped.
        dropped: u64,
    },
    /// Remove `path` (`bytes` long): a chunk that was never completely created.
    Remove {
        /// The chunk file.
        path: PathBuf,
        /// Its length.
        bytes: u64,
    },
    /// Give back the newest chunk's preallocated space: `bytes` zero bytes
    /// from `at` on that no record ever reached. Not damage: what an
    /// unclean stop leaves.
    TrimPreallocated {
        /// The chunk file.
        path: PathBuf,
        /// New length.
        at: u64,
        /// Zero bytes given back.
        bytes: u64,
    },
    /// Give back the bytes after the last record of a newest chunk
    /// written into a recycled file: its earlier life's frames (which fail
    /// this chunk's CRCs), and possibly a last record torn by the stop.
    /// Not damage: what an unclean stop leaves.
    TrimRecycled {
        /// The chunk file.
        path: PathBuf,
        /// New length.
        at: u64,
        /// Bytes given back.
        bytes: u64,
    },
}

pub(crate) struct Recovered {
    /// Every group that exists, with its state and index.
    pub groups: BTreeMap<u64, Group>,
    pub chunks: BTreeMap<u64, ChunkInfo>,
    pub tail: Option<Tail>,
    pub repairs: Vec<Repair>,
    /// The flush sequence number new records start at: after every one
    /// in the newest chunk.
    pub next_seq: u32,
}

/// A record with its blobs copied out of the read buffer.
enum Op {
    Entry(u64),
    Copy(u64),
    Vote(Bytes),
    Committed(Option<Bytes>),
    UserMeta(Option<Bytes>),
    Truncate(Option<u64>),
    Purge(u64, Bytes),
    Checkpoint(Vec<(u64, LogState)>),
    Footer,
    GroupRemoved,
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
            Record::GroupRemoved => Op::GroupRemoved,
            Record::EntryCopy { index, .. } => Op::Copy(index),
        }
    }
}

/// The running state of a replay.
#[derive(Default)]
struct Replay {
    /// Whether the first chunk's checkpoint was read.
    started: bool,
    groups: BTreeMap<u64, Group>,
    /// How many more holes copies may open in the indexes (an entry's
    /// copy can be replayed before the chunks that hold its neighbours):
    /// every hole must be filled by an entry frame of some chunk, so at
    /// most one per smallest entry frame the chunks could hold.
    holes_left: u64,
}

impl Replay {
    /// A chunk's opening checkpoint: the starting state for the first
    /// chunk, a cross-check for every later one.
    fn checkpoint(&mut self, cp: Vec<(u64, LogState)>) -> std::result::Result<(), String> {
        if !self.started {
            self.started = true;
            self.groups = cp.into_iter().map(|(g, state)| (g, Group { state, ..Group::default() })).collect();
            return Ok(());
        }
        for (g, s) in &cp {
            match self.groups.get(g) {
                Some(have) if have.state == *s => {}
                have => {
                    let have = have.map(|h| &h.state);
                    return Err(format!(
                        "checkpoint disagrees with the replay of earlier chunks: group {g}: checkpoint {s:?}, replay {have:?}"
                    ));
                }
            }
        }
        if let Some(g) = self.groups.keys().find(|g| !cp.iter().any(|(c, _)| c == *g)) {
            return Err(format!(
                "checkpoint disagrees with the replay of earlier chunks: group {g} is missing from it"
            ));
        }
        Ok(())
    }

    fn apply(&mut self, group: u64, op: Op, slot: Slot) -> std::result::Result<(), String> {
        if !self.started {
            return Err("record before the chunk's checkpoint".into());
        }
        if let Op::GroupRemoved = op {
            return match self.groups.remove(&group) {
                Some(_) => Ok(()),
                None => Err(format!("removal of group {group}, which does not exist")),
            };
        }
        let Group { state: st, index, .. } = self.groups.entry(group).or_default();
        if let Op::Copy(i) = op {
            apply::check(st, &Change::Copy { index: i, slot }).map_err(|r| r.to_string())?;
            if !index.place(i, slot, &mut self.holes_left) {
                return Err(format!("copy of entry {i} leaves more gaps than the chunks could fill"));
            }
            return Ok(());
        }
        if let Op::Entry(i) = op {
            // The index may hold copies of older entries with gaps that
            // later copies fill (their chunk was deleted): an entry past
            // the end leaves holes, it does not restart the index.
            apply::check(st, &Change::Entry { index: i, slot }).map_err(|r| r.to_string())?;
            let _ = st.apply_entry(i);
            if !index.place(i, slot, &mut self.holes_left) {
                return Err(format!("entry {i} leaves more gaps than the chunks could fill"));
            }
            return Ok(());
        }
        let change = match op {
            Op::Vote(v) => Change::Vote(v),
            Op::Committed(c) => Change::Committed(c),
            Op::UserMeta(m) => Change::UserMeta(m),
            Op::Truncate(after) => Change::Truncate(after),
            Op::Purge(index, meta) => Change::Purge { index, meta },
            Op::Checkpoint(_) => return Err("checkpoint record in the middle of a chunk".into()),
            Op::Footer => return Err("footer record in the middle of a chunk".into()),
            Op::GroupRemoved | Op::Copy(_) | Op::Entry(_) => unreachable!("handled above"),
        };
        apply::apply(st, index, change).map_err(|r| r.to_string())
    }

    /// A sealed chunk's footer: every group's state at sealing and its
    /// entries in the chunk. Groups it does not list were removed.
    fn apply_footer(&mut self, path: &Path, id: u64, codec: Codec, at: u64, f: Footer) -> Result<()> {
        let mut groups = BTreeMap::new();
        for gf in f.groups {
            let mut grp = self.groups.remove(&gf.group).unwrap_or_default();
            let corrupt = |why: String| Error::corruption(path, at, format!("footer, group {}: {why}", gf.group));
            apply_group_footer(&mut grp, id, codec, at, &gf.runs, &gf.state, &mut self.holes_left).map_err(corrupt)?;
            grp.state = gf.state;
            groups.insert(gf.group, grp);
        }
        self.groups = groups;
        Ok(())
    }
}

/// Rebuilds one group's index from its footer runs and bounds it by the
/// state at sealing: a run inside the index moves those entries here
/// (appended again after a truncation, or copied by reclamation); a run
/// past its end extends it. The error says what is wrong.
fn apply_group_footer(
    grp: &mut Group,
    id: u64,
    codec: Codec,
    at: u64,
    runs: &[format::Run],
    state: &LogState,
    holes_left: &mut u64,
) -> std::result::Result<(), String> {
    let index = &mut grp.index;
    let min_len = (codec.frame_overhead() + 8) as u32;
    // The state bounds the index on both sides: a truncation or purge
    // recorded in this chunk may have removed entries of earlier chunks.
    // First, so the runs (live entries only) land in what is left; a gap
    // they leave inside the state's entries is filled by a later copy.
    let bound = |index: &mut Index| match state.first_index {
        Some(first) => {
            index.truncate_after(state.last_index);
            if let Some(below) = first.checked_sub(1) {
                index.purge_upto(below);
            }
        }
        None => index.truncate_after(None),
    };
    bound(index);
    for run in runs {
        let Some(n) = (run.slots.len() as u64).checked_sub(1) else { continue };
        let last = run.first_index.checked_add(n).ok_or("entry indexes overflow")?;
        let (Some(first_live), Some(last_live)) = (state.first_index, state.last_index) else {
            return Err(format!("lists entries {}..={last} but the state holds none", run.first_index));
        };
        if run.first_index < first_live || last > last_live {
            return Err(format!(
                "lists entries {}..={last} outside the state's entries {first_live}..={last_live}",
                run.first_index
            ));
        }
        for &(off, len) in &run.slots {
            if u64::from(off) < format::HEADER_LEN as u64 || u64::from(off) + u64::from(len) > at || len < min_len {
                return Err(format!("entry slot ({off}, {len}) lies outside the chunk's records"));
            }
        }
        for (k, &(offset, len)) in run.slots.iter().enumerate() {
            let slot = Slot { chunk: id, offset, len };
            let i = run.first_index + k as u64;
            if !index.place(i, slot, holes_left) {
                return Err(format!("entry {i} leaves more gaps than the chunks could fill"));
            }
        }
    }
    bound(index);
    Ok(())
}

/// Replays the chunk files of `cfg.dir`.
pub(crate) fn recover(vfs: &dyn Vfs, cfg: &Config) -> Result<Recovered> {
    recover_dir(vfs, &cfg.dir, Some(&cfg.tag))
}

/// Replays `dir` without changing it. `tag`: the tag every chunk must
/// carry, or `None` to accept the first chunk's tag (and require the same
/// of the others). Every file is opened read-only and closed again.
pub(crate) fn recover_dir(vfs: &dyn Vfs, dir: &Path, tag: Option<&str>) -> Result<Recovered> {
    // A replay that finds the newest chunk's last flush only partly on
    // disk (its pages landed out of order) is run again, ending that
    // chunk where the flush began.
    let mut newest_end = None;
    loop {
        match replay_dir(vfs, dir, tag, newest_end)? {
            Pass::Done(r) => return Ok(r),
            Pass::CutNewestAt(at) if newest_end.is_none() => newest_end = Some(at),
            Pass::CutNewestAt(at) => {
                let why = format!("internal: the replay asked twice to end the newest chunk (at {at})");
                return Err(Error::corruption(dir, 0, why));
            }
        }
    }
}

/// The outcome of one replay of a directory.
enum Pass {
    Done(Recovered),
    /// Replay again, ending the newest chunk at this offset.
    CutNewestAt(u64),
}

fn replay_dir(vfs: &dyn Vfs, dir: &Path, tag: Option<&str>, newest_end: Option<u64>) -> Result<Pass> {
    let dir = &dir.to_path_buf();
    let mut ids = list_chunks(vfs, dir)?;
    let mut rc =
        Replayer { vfs, dir, expected_tag: tag.map(str::to_owned), newest_end, ..Replayer::default_for(vfs, dir) };
    for &id in &ids {
        let path = chunk::chunk_path(dir, id);
        let file = vfs.open_read(&path).map_err(|e| Error::io("open", &path, e))?;
        let len = file.size().map_err(|e| Error::io("stat", &path, e))?;
        rc.rp.holes_left += len / (Codec::V1.frame_overhead() as u64 + 8);
    }

    // A newest chunk without a whole header and checkpoint, and with
    // nothing valid in it, was being created when the process stopped;
    // whether it is short enough for that is judged once the state it
    // would have opened with is known.
    let headless_newest = match ids.last() {
        Some(&id) => headless(vfs, dir, id)?.map(|(len, why)| (id, len, why)),
        None => None,
    };
    if headless_newest.is_some() {
        ids.pop();
    }
    for (pos, &id) in ids.iter().enumerate() {
        rc.chunk(id, pos + 1 == ids.len())?;
        if let Some(at) = rc.cut_newest_at {
            return Ok(Pass::CutNewestAt(at));
        }
    }
    if let Some((id, len, why)) = headless_newest {
        rc.headless_newest(id, len, why, ids.is_empty())?;
    }

    let Replayer { rp, chunks, tail, repairs, last_seq, .. } = rc;
    // Every group's index must hold exactly the entries between its purge
    // point and its last index.
    for (g, grp) in &rp.groups {
        let want = grp.state.first_index.zip(grp.state.last_index);
        let have = grp.index.first().zip(grp.index.last());
        if want != have || grp.index.first_hole().is_some() {
            let first = ids.first().map(|&id| chunk::chunk_path(dir, id)).unwrap_or_else(|| dir.clone());
            let whose = if *g == 0 { String::new() } else { format!("group {g}: ") };
            return Err(Error::corruption(
                first,
                format::HEADER_LEN as u64,
                format!(
                    "{whose}the log state needs entries {want:?} but the chunks hold {have:?}: a chunk is missing or damaged"
                ),
            ));
        }
    }
    let next_seq = last_seq.wrapping_add(1);
    Ok(Pass::Done(Recovered { groups: rp.groups, chunks, tail, repairs, next_seq }))
}

/// The chunk ids in `dir`, sorted, refusing a gap.
fn list_chunks(vfs: &dyn Vfs, dir: &PathBuf) -> Result<Vec<u64>> {
    let names = vfs.list(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut ids: Vec<u64> = names.iter().filter_map(|n| format::parse_chunk_file_name(n)).collect();
    ids.sort_unstable();
    for w in ids.windows(2) {
        if w[0].checked_add(1) != Some(w[1]) {
            return Err(Error::corruption(
                chunk::chunk_path(dir, w[1]),
                0,
                format!("chunk {} is missing (found chunk {} and then chunk {})", w[0] + 1, w[0], w[1]),
            ));
        }
    }
    Ok(ids)
}

/// The replay of a directory's chunks, oldest first.
struct Replayer<'a> {
    vfs: &'a dyn Vfs,
    dir: &'a PathBuf,
    expected_tag: Option<String>,
    rp: Replay,
    chunks: BTreeMap<u64, ChunkInfo>,
    tail: Option<Tail>,
    repairs: Vec<Repair>,
    /// Where the newest chunk ends, when an earlier pass found its last
    /// flush only partly on disk.
    newest_end: Option<u64>,
    /// Set when the newest chunk must end earlier than this pass read it.
    cut_newest_at: Option<u64>,
    /// The flush sequence of the newest chunk's last frame (format 2).
    last_seq: u32,
}

impl<'a> Replayer<'a> {
    fn default_for(vfs: &'a dyn Vfs, dir: &'a PathBuf) -> Self {
        Replayer {
            vfs,
            dir,
            expected_tag: None,
            rp: Replay::default(),
            chunks: BTreeMap::new(),
            tail: None,
            repairs: Vec::new(),
            newest_end: None,
            cut_newest_at: None,
            last_seq: 0,
        }
    }

    /// Replays chunk `id`: through its footer if it is sealed and not the
    /// newest, record by record otherwise.
    fn chunk(&mut self, id: u64, newest: bool) -> Result<()> {
        let path = chunk::chunk_path(self.dir, id);
        let file = self.vfs.open_read(&path).map_err(|e| Error::io("open", &path, e))?;
        let mut r = ChunkReader::new(&*file, &path)?;
        r.readahead = if newest { chunk::SCAN_WINDOW } else { chunk::PROBE_WINDOW };
        self.header(&mut r, id)?;
        if !newest && let Some((at, footer)) = chunk::read_footer(&mut r)? {
            let cp = checkpoint_at(&mut r)?;
            self.rp.checkpoint(cp).map_err(|why| r.corrupt(format::HEADER_LEN as u64, why))?;
            self.rp.apply_footer(&path, id, r.codec, at, footer)?;
            self.chunks.insert(id, ChunkInfo { size: r.len, sealed: true, codec: r.codec });
            return Ok(());
        }
        r.readahead = chunk::SCAN_WINDOW;
        self.scan(&mut r, id, newest)
    }

    /// Checks the header: the chunk id, the tag and the format version.
    fn header(&mut self, r: &mut ChunkReader<'_>, id: u64) -> Result<()> {
        match format::decode_header(r.bytes(0, format::HEADER_LEN)?) {
            Ok(h) if h.chunk_id != id => {
                Err(r.corrupt(16, format!("header names chunk {} but the file name says {id}", h.chunk_id)))
            }
            Ok(h) if self.expected_tag.as_ref().is_some_and(|t| *t != h.tag) => {
                let expected = self.expected_tag.clone().unwrap_or_default();
                Err(Error::TagMismatch { chunk: r.path.to_path_buf(), found: h.tag, expected })
            }
            Ok(h) => {
                self.expected_tag.get_or_insert(h.tag);
                r.codec = h.codec;
                r.recycled = h.recycled;
                Ok(())
            }
            Err(HeaderError::UnsupportedVersion(v)) => Err(Error::UnsupportedVersion {
                chunk: r.path.to_path_buf(),
                found: v,
                supported: format::FORMAT_VERSION,
            }),
            Err(e) => Err(r.corrupt(0, e.to_string())),
        }
    }

    /// Replays a chunk record by record. In an older chunk, a damaged
    /// footer that an intact trailer points at ends the records (the
    /// chunk was sealed), and so does an intact footer behind a damaged
    /// trailer.
    fn scan(&mut self, r: &mut ChunkReader<'_>, id: u64, newest: bool) -> Result<()> {
        let path = r.path.to_path_buf();
        // An earlier pass found that the newest chunk's last flush is
        // only partly on disk: it ends where that flush began.
        let limit = if newest { self.newest_end } else { None };
        let scan_end = limit.unwrap_or(r.len);
        let mut off = format::HEADER_LEN as u64;
        let mut records = 0u64;
        let mut sealed = false;
        let mut end = scan_end;
        let mut size = r.len;
        // The flush sequence of the checkpoint, and `(seq, offset)` of the
        // first frame of the last flush seen after it (format 2).
        let mut head_seq = 0u32;
        let mut run: Option<(u32, u64)> = None;
        while off < scan_end {
            let codec = r.codec;
            let (group, seq, op, len) = match r.frame(off, scan_end)? {
                Ok(f) => (f.group, f.seq, Op::from(chunk::decode(codec, &path, off, &f)?), f.len as u64),
                Err(fe) => {
                    if !newest && records > 0 && trailer_points_at(r, off)? {
                        tracing::warn!(chunk = %path.display(), offset = off, "damaged footer; the chunk was replayed record by record");
                        sealed = true;
                        break;
                    }
                    if !newest {
                        return Err(r.corrupt(off, fe.to_string()));
                    }
                    if records > 0
                        && let Some(at) = self.unacknowledged_flush(r, off, head_seq, run)?
                    {
                        if at < off {
                            self.cut_newest_at = Some(at);
                            return Ok(());
                        }
                        let path = path.clone();
                        self.repairs.push(Repair::Cut { path, at: off, dropped: r.len - off });
                    } else {
                        self.torn_tail(r, off, records, &fe.to_string())?;
                    }
                    end = off;
                    break;
                }
            };
            if newest {
                self.last_seq = seq;
            }
            if records == 0 {
                let Op::Checkpoint(cp) = op else {
                    return Err(r.corrupt(off, "chunk does not start with a checkpoint"));
                };
                if group != 0 {
                    return Err(r.corrupt(off, format!("checkpoint of group {group}")));
                }
                self.rp.checkpoint(cp).map_err(|why| r.corrupt(off, why))?;
                head_seq = seq;
            } else if let Op::Footer = op {
                if let Some(chunk_end) = self.footer_ends_chunk(r, off, off + len, newest)? {
                    sealed = true;
                    size = chunk_end;
                    break;
                }
                end = off;
                break;
            } else {
                if run.is_none_or(|(s, _)| s != seq) {
                    run = Some((seq, off));
                }
                let slot = Slot { chunk: id, offset: off as u32, len: len as u32 };
                self.rp.apply(group, op, slot).map_err(|why| r.corrupt(off, why))?;
            }
            records += 1;
            off += len;
        }
        if let Some(at) = limit
            && !sealed
        {
            self.repairs.push(Repair::Cut { path: path.clone(), at, dropped: r.len - at });
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
            self.tail = Some(Tail { id, size: end, records, codec: r.codec });
        }
        let size = if sealed { size } else { end };
        self.chunks.insert(id, ChunkInfo { size, sealed, codec: r.codec });
        Ok(())
    }

    /// The rule for a newest format-2 chunk whose frame at `off` does not
    /// decode but valid frames follow it. A flush is acknowledged only
    /// after its `fdatasync`, so only the last flush can be partly on
    /// disk, and a power cut during its sync can persist its pages in any
    /// order. If every valid frame after `off` belongs to one flush F, and
    /// the frames just before `off` belong to F or to the flush before it,
    /// then the damage is F's and F was never acknowledged: returns where
    /// F begins (its first frame after the checkpoint, which was synced on
    /// its own), so that all of F is cut. Otherwise (valid frames of two
    /// flushes after the damage, or of a flush later than the one after
    /// the records before it: the damaged flush was synced before a later
    /// one was written; or a damaged frame whose header still reads and
    /// names another flush) returns `None`: media damage, refused by the
    /// caller.
    fn unacknowledged_flush(
        &mut self,
        r: &mut ChunkReader<'_>,
        off: u64,
        head_seq: u32,
        run: Option<(u32, u64)>,
    ) -> Result<Option<u64>> {
        if r.codec.version < 2 {
            return Ok(None);
        }
        let mut flush = None;
        let mut at = off.saturating_add(1);
        while let Some(v) = r.next_valid_frame(at, r.len)? {
            let (seq, len) = match r.frame(v, r.len)? {
                Ok(f) => (f.seq, f.len as u64),
                Err(_) => unreachable!("next_valid_frame found a valid frame"),
            };
            match flush {
                None => flush = Some(seq),
                Some(f) if f != seq => return Ok(None),
                Some(_) => {}
            }
            at = v + len;
        }
        let Some(f) = flush else { return Ok(None) };
        // A damaged frame whose own header is intact names the flush that
        // wrote it. If that is not F, the damage is in a flush synced
        // before F was written: not what a power cut during F leaves.
        let codec = r.codec;
        let hdr = r.bytes(off, codec.frame_header_len())?;
        if format::decode_frame_header(codec, hdr).is_ok_and(|h| h.seq != f) {
            return Ok(None);
        }
        // Flushes number on by one, and each writes its records into the
        // newest chunk right after the previous flush's: the damage is F's
        // if F is the flush of the records before it, or the next one.
        let next = |s: u32| s.wrapping_add(1) == f;
        let cut = match run {
            Some((s, start)) if s == f => Some(start),
            Some((s, _)) if next(s) => Some(off),
            None if head_seq == f || next(head_seq) => Some(off),
            _ => None,
        };
        if cut.is_some() {
            self.last_seq = f;
        }
        Ok(cut)
    }

    /// Decides what a frame that does not decode at `off` of the newest
    /// chunk means: preallocated space never written (trimmed), a torn
    /// last record (cut), or damage with valid records after it (refused).
    fn torn_tail(&mut self, r: &mut ChunkReader<'_>, off: u64, records: u64, why: &str) -> Result<()> {
        let path = r.path.to_path_buf();
        match r.rest(off)? {
            Rest::ValidFrameAt(at) => {
                return Err(r.corrupt(off, format!("{why}, and valid records follow it (the first at byte {at})")));
            }
            _ if records == 0 => return Err(r.corrupt(off, format!("checkpoint: {why}"))),
            Rest::Zeros => self.repairs.push(Repair::TrimPreallocated { path, at: off, bytes: r.len - off }),
            Rest::Torn if r.recycled => self.repairs.push(Repair::TrimRecycled { path, at: off, bytes: r.len - off }),
            Rest::Torn => self.repairs.push(Repair::Cut { path, at: off, dropped: r.len - off }),
        }
        Ok(())
    }

    /// Whether the footer at `off` (its frame ending at `after`) seals the
    /// chunk: `Some(end of the chunk)` if it does; a repair or a refusal
    /// when it does not.
    fn footer_ends_chunk(
        &mut self,
        r: &mut ChunkReader<'_>,
        off: u64,
        after: u64,
        newest: bool,
    ) -> Result<Option<u64>> {
        let trailer_end = after + format::TRAILER_LEN as u64;
        let trailer_ok = format::decode_trailer(r.bytes(after, format::TRAILER_LEN)?) == Some(off);
        if trailer_ok && trailer_end == r.len {
            return Ok(Some(trailer_end));
        }
        if trailer_ok && newest && r.all_zero(trailer_end, r.len)? {
            // Sealed, but its preallocated space was not given back yet.
            let path = r.path.to_path_buf();
            self.repairs.push(Repair::TrimPreallocated { path, at: trailer_end, bytes: r.len - trailer_end });
            return Ok(Some(trailer_end));
        }
        if trailer_ok && newest && r.recycled && !r.any_valid_frame_in(trailer_end, r.len)? {
            // Sealed, but the recycled file's old bytes were not cut yet.
            let path = r.path.to_path_buf();
            self.repairs.push(Repair::TrimRecycled { path, at: trailer_end, bytes: r.len - trailer_end });
            return Ok(Some(trailer_end));
        }
        if !newest && trailer_end == r.len {
            // The footer passed its CRC; only the trailer that points at it
            // is damaged. The records before it were replayed one by one.
            tracing::warn!(chunk = %r.path.display(), offset = after, "damaged trailer after an intact footer");
            return Ok(Some(trailer_end));
        }
        if !newest || r.any_valid_frame_in(off + 1, r.len)? {
            return Err(r.corrupt(off, "footer is not followed by a valid trailer"));
        }
        let path = r.path.to_path_buf();
        self.repairs.push(Repair::Cut { path, at: off, dropped: r.len - off });
        Ok(None)
    }

    /// A newest chunk without a usable header and checkpoint: removed if it
    /// is no longer than the header and checkpoint a crash during its
    /// creation can leave, refused otherwise.
    fn headless_newest(&mut self, id: u64, len: u64, why: String, only: bool) -> Result<()> {
        let path = chunk::chunk_path(self.dir, id);
        if only && id != 1 {
            let why = format!("{why}; it is the only chunk, so the log state would be lost");
            return Err(Error::corruption(&path, 0, why));
        }
        // The longest checkpoint either format would write for the state
        // so far (format 1 only for a store of group 0 alone: no format-1
        // build wrote any other).
        let mut max = 0;
        let only_group_0 = self.rp.groups.keys().all(|&g| g == 0);
        for codec in [Codec::V1, Codec::v2(0)] {
            if codec.version == 1 && !only_group_0 {
                continue;
            }
            let mut head = Vec::new();
            let groups = self.rp.groups.iter().map(|(&g, grp)| (g, &grp.state));
            format::encode_checkpoint(&mut head, Stamp { codec, seq: 0 }, groups);
            max = max.max((format::HEADER_LEN + head.len()) as u64);
        }
        if len > max {
            let why = format!(
                "{why}; the chunk is {len} bytes, longer than the {max} bytes of header and checkpoint \
                 a crash while creating it can leave"
            );
            return Err(Error::corruption(&path, 0, why));
        }
        self.repairs.push(Repair::Remove { path, bytes: len });
        Ok(())
    }
}

/// Whether the chunk's trailer is intact and points at `at` (where its
/// footer should start).
fn trailer_points_at(r: &mut ChunkReader<'_>, at: u64) -> Result<bool> {
    let Some(trailer_at) = r.len.checked_sub(format::TRAILER_LEN as u64) else { return Ok(false) };
    Ok(format::decode_trailer(r.bytes(trailer_at, format::TRAILER_LEN)?) == Some(at))
}

/// The checkpoint that opens a chunk.
fn checkpoint_at(r: &mut ChunkReader<'_>) -> Result<Vec<(u64, LogState)>> {
    let hdr_end = format::HEADER_LEN as u64;
    let path = r.path.to_path_buf();
    let codec = r.codec;
    match r.frame(hdr_end, r.len)? {
        Ok(f) if f.kind == RecordKind::Checkpoint && f.group != 0 => {
            Err(Error::corruption(&path, hdr_end, format!("checkpoint of group {}", f.group)))
        }
        Ok(f) if f.kind == RecordKind::Checkpoint => match chunk::decode(codec, &path, hdr_end, &f)? {
            Record::Checkpoint(s) => Ok(s),
            _ => unreachable!("decode_record keeps the kind"),
        },
        Ok(f) => {
            let why = format!("chunk starts with a {} record, not a checkpoint", f.kind.name());
            Err(Error::corruption(&path, hdr_end, why))
        }
        Err(e) => Err(Error::corruption(&path, hdr_end, format!("checkpoint: {e}"))),
    }
}

/// Why chunk `id` has no usable header and checkpoint and nothing valid
/// in it (with its length), or `None` if it has them (or holds valid
/// records: damage then, which the replay reports).
fn headless(vfs: &dyn Vfs, dir: &Path, id: u64) -> Result<Option<(u64, String)>> {
    let path = chunk::chunk_path(dir, id);
    let file = vfs.open_read(&path).map_err(|e| Error::io("open", &path, e))?;
    let mut r = ChunkReader::new(&*file, &path)?;
    r.readahead = chunk::PROBE_WINDOW;
    let why = match format::decode_header(r.bytes(0, format::HEADER_LEN)?) {
        Err(HeaderError::UnsupportedVersion(_)) => return Ok(None),
        Err(e) => e.to_string(),
        Ok(h) => {
            r.codec = h.codec;
            match r.frame(format::HEADER_LEN as u64, r.len)? {
                Ok(_) => return Ok(None),
                Err(e) => format!("checkpoint: {e}"),
            }
        }
    };
    r.readahead = chunk::SCAN_WINDOW;
    if r.any_valid_frame_in(0, r.len)? { Ok(None) } else { Ok(Some((r.len, why))) }
}

/// Applies the repairs recovery found, now that the directory passed every
/// check. With `keep_broken`, the bytes a cut or a removal drops are first
/// copied to `<chunk>.broken` beside the chunk, and that copy is durable
/// (file and directory) before anything is cut. Preallocated space is not
/// data and is never copied.
pub(crate) fn apply_repairs(vfs: &dyn Vfs, dir: &Path, repairs: &[Repair], keep_broken: bool) -> Result<()> {
    for r in repairs {
        if keep_broken {
            match r {
                Repair::Cut { path, at, .. } => save_broken(vfs, dir, path, *at)?,
                Repair::Remove { path, .. } => save_broken(vfs, dir, path, 0)?,
                Repair::TrimPreallocated { .. } | Repair::TrimRecycled { .. } => {}
            }
        }
        match r {
            Repair::TrimPreallocated { path, at, bytes: len } => {
                tracing::debug!(chunk = %path.display(), offset = at, bytes = len, "giving back preallocated space of the newest chunk");
                cut(vfs, path, *at)?;
            }
            Repair::TrimRecycled { path, at, bytes: len } => {
                tracing::debug!(chunk = %path.display(), offset = at, bytes = len, "giving back the old bytes of the newest chunk's recycled file");
                cut(vfs, path, *at)?;
            }
            Repair::Cut { path, at, dropped } => {
                tracing::warn!(chunk = %path.display(), offset = at, bytes_dropped = dropped, "cutting torn tail of the newest chunk");
                cut(vfs, path, *at)?;
            }
            Repair::Remove { path, bytes: len } => {
                tracing::warn!(chunk = %path.display(), bytes_dropped = len, "removing newest chunk that was never completely created");
                vfs.remove_file(path).map_err(|e| Error::io("remove", path, e))?;
                vfs.sync_dir(dir).map_err(|e| Error::io("fsync directory", dir, e))?;
            }
        }
    }
    Ok(())
}

/// Truncates `path` to `at` bytes and makes that durable.
fn cut(vfs: &dyn Vfs, path: &Path, at: u64) -> Result<()> {
    let f = vfs.open(path).map_err(|e| Error::io("open", path, e))?;
    f.set_len(at).map_err(|e| Error::io("truncate", path, e))?;
    f.sync_data().map_err(|e| Error::io("fdatasync", path, e))
}

/// Copies the bytes of `path` from `from` on to `<path>.broken`, durably.
fn save_broken(vfs: &dyn Vfs, dir: &Path, path: &Path, from: u64) -> Result<()> {
    let f = vfs.open_read(path).map_err(|e| Error::io("open", path, e))?;
    let len = f.size().map_err(|e| Error::io("stat", path, e))?;
    let mut bytes = vec![0u8; len.saturating_sub(from) as usize];
    f.read_exact_at(&mut bytes, from).map_err(|e| Error::io("read", path, e))?;
    let mut name = path.as_os_str().to_owned();
    name.push(".broken");
    let broken = PathBuf::from(name);
    match vfs.remove_file(&broken) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io("remove", &broken, e)),
        _ => {}
    }
    let out = vfs.create_new(&broken).map_err(|e| Error::io("create", &broken, e))?;
    out.write_all_at(&bytes, 0).map_err(|e| Error::io("write", &broken, e))?;
    out.sync_data().map_err(|e| Error::io("fdatasync", &broken, e))?;
    vfs.sync_dir(dir).map_err(|e| Error::io("fsync directory", dir, e))
}
