//! Read-only inspection of a log directory, for tools such as the
//! `chunklog` command: every frame and CRC of every chunk, what open would
//! repair or refuse, and the repair itself.
//!
//! Nothing here writes to the directory except [`repair`]: every other
//! function opens files read-only and creates nothing (not even `LOCK`),
//! so a read-only copy of a directory can be inspected.
//!
//! Preallocated space is not damage: the newest chunk is grown in zeros
//! ahead of its data, and every unclean stop (SIGKILL, OOM kill, power
//! loss) leaves those zeros after the last record. They are reported as
//! [`ChunkReport::preallocated`] and [`RepairAction::TrimPreallocated`],
//! never as a [`Problem`] or a record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::chunk::{self, ChunkReader};
use crate::error::{Error, Result};
use crate::format::{self, FrameError, RecordKind};
use crate::recovery;
use crate::state::LogState;
use crate::vfs::{DirLock, StdVfs, Vfs};

/// One frame (or one unreadable stretch) of a chunk file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// Chunk id.
    pub chunk: u64,
    /// Byte offset in the chunk file.
    pub offset: u64,
    /// Length in bytes of the frame (or of the unreadable stretch).
    pub len: u64,
    /// Record kind; `None` for bytes that are not a readable frame.
    pub kind: Option<RecordKind>,
    /// Log index, for entries.
    pub index: Option<u64>,
    /// The group the record belongs to (0 in format 1, and for
    /// checkpoints, footers and damage).
    pub group: u64,
    /// The flush that wrote it (format 2; 0 in format 1 and for damage).
    pub seq: u32,
    /// Whether the frame's CRCs matched.
    pub crc_ok: bool,
}

/// What one chunk file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkReport {
    /// Chunk id (from the file name).
    pub id: u64,
    /// The chunk file.
    pub path: PathBuf,
    /// File length in bytes.
    pub bytes: u64,
    /// The header's tag, when the header is readable.
    pub tag: Option<String>,
    /// The header's format version, when the header is readable.
    pub version: Option<u32>,
    /// Whether it ends with a valid footer and trailer.
    pub sealed: bool,
    /// Valid records by kind name.
    pub records: BTreeMap<String, u64>,
    /// Lowest and highest entry index among its valid entry records.
    pub entries: Option<(u64, u64)>,
    /// Preallocated space at the end of the newest chunk: `(offset, bytes)`
    /// of the zeros after its last record (or after its trailer) that no
    /// record reached. Not damage, and not part of any record.
    pub preallocated: Option<(u64, u64)>,
    /// The earlier life's bytes at the end of a newest chunk written into
    /// a recycled file: `(offset, bytes)` after its last record (or
    /// trailer), where no valid record of this chunk follows. Not damage:
    /// what an unclean stop leaves; open gives them back.
    pub recycled: Option<(u64, u64)>,
}

/// A problem found in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Byte offset of the problem in the file.
    pub offset: u64,
    /// What is wrong.
    pub what: String,
    /// Whether [`repair`] (and open) would fix it by cutting a torn tail.
    pub repairable: bool,
}

/// A repair open would make (the one type recovery decides and applies).
pub use crate::recovery::Repair as RepairAction;

/// The result of checking a directory.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every chunk, in id order.
    pub chunks: Vec<ChunkReport>,
    /// Group 0's log state, when open would succeed (the whole log of a
    /// store used for one log).
    pub state: Option<LogState>,
    /// Every group's log state open would recover, when it would open.
    pub groups: BTreeMap<u64, LogState>,
    /// Why open would refuse, if it would.
    pub refusal: Option<String>,
    /// The repairs open would make.
    pub repairs: Vec<RepairAction>,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

impl Report {
    /// 0: clean (preallocated space at the tail is clean: it is what every
    /// unclean stop leaves); 1: only problems the tail repair fixes; 2:
    /// damage open refuses or a read would hit. (3, usage or I/O errors,
    /// is the tool's.)
    pub fn exit_code(&self) -> i32 {
        if self.refusal.is_some() || self.problems.iter().any(|p| !p.repairable) {
            2
        } else if !self.problems.is_empty() || self.damage_repairs().next().is_some() {
            1
        } else {
            0
        }
    }

    /// The repairs that drop bytes that were written (a torn record, a
    /// chunk never completely created): every repair but giving back
    /// preallocated space.
    pub fn damage_repairs(&self) -> impl Iterator<Item = &RepairAction> {
        self.repairs
            .iter()
            .filter(|r| !matches!(r, RepairAction::TrimPreallocated { .. } | RepairAction::TrimRecycled { .. }))
    }
}

/// Chunk files of `dir`, in id order.
pub fn chunk_files(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let names = vfs.list(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut ids: Vec<u64> = names.iter().filter_map(|n| format::parse_chunk_file_name(n)).collect();
    ids.sort_unstable();
    Ok(ids.into_iter().map(|id| (id, chunk::chunk_path(dir, id))).collect())
}

/// Takes the directory lock for a repair, without creating anything:
/// `Ok(None)` if the directory has no `LOCK` file (no store ever opened
/// it), [`Error::Locked`] if a live store holds it. Opens `LOCK` for
/// writing: use [`lock_shared`] to only read.
pub fn lock(dir: &Path) -> Result<Option<DirLock>> {
    if !dir.join(crate::vfs::LOCK_FILE).exists() {
        return Ok(None);
    }
    StdVfs.lock_dir(dir).map(Some).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked { dir: dir.to_path_buf() },
        _ => Error::io("lock", dir.join(crate::vfs::LOCK_FILE), e),
    })
}

/// Takes a shared lock of `dir` for reading it, writing nothing: `LOCK` is
/// opened read-only and never created, so a read-only directory (or a copy
/// without `LOCK`) can be read. `Ok(None)` if there is no `LOCK` file (no
/// store ever opened the directory); [`Error::Locked`] if a live store
/// holds it. Holding it keeps a store from opening the directory while it
/// is read; any number of readers can hold it at once.
pub fn lock_shared(dir: &Path) -> Result<Option<DirLock>> {
    let path = dir.join(crate::vfs::LOCK_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(Box::new(file))),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { dir: dir.to_path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
    }
}

/// The tag in a chunk file's header, when the header is readable.
pub fn chunk_tag(vfs: &dyn Vfs, path: &Path) -> Result<Option<String>> {
    let file = vfs.open_read(path).map_err(|e| Error::io("open", path, e))?;
    let mut r = ChunkReader::new(&*file, path)?;
    Ok(format::decode_header(r.bytes(0, format::HEADER_LEN)?).ok().map(|h| h.tag))
}

/// Reads every frame of a chunk file, keeping going past damage: a frame
/// whose header is intact but whose CRC fails is reported and skipped by
/// its length; unreadable bytes are reported as one stretch up to the next
/// valid frame. `visit` sees each record with its body (empty for damage).
/// Problems are appended to `problems` (all marked not repairable).
///
/// In the `newest` chunk, zeros from after a valid record (or after the
/// trailer) to the end of the file are preallocated space, as open judges
/// them: reported in [`ChunkReport::preallocated`], neither visited nor a
/// problem. In any other chunk they are a problem.
pub fn scan_chunk(
    vfs: &dyn Vfs,
    id: u64,
    path: &Path,
    newest: bool,
    problems: &mut Vec<Problem>,
    mut visit: impl FnMut(&RecordInfo, &[u8]),
) -> Result<ChunkReport> {
    let file = vfs.open_read(path).map_err(|e| Error::io("open", path, e))?;
    let mut r = ChunkReader::new(&*file, path)?;
    let mut report = ChunkReport { id, path: path.to_path_buf(), bytes: r.len, ..ChunkReport::default() };
    let mut problem = |offset: u64, what: String| {
        problems.push(Problem { path: path.to_path_buf(), offset, what, repairable: false })
    };
    match format::decode_header(r.bytes(0, format::HEADER_LEN)?) {
        Ok(h) => {
            if h.chunk_id != id {
                problem(16, format!("header names chunk {}", h.chunk_id));
            }
            r.codec = h.codec;
            r.recycled = h.recycled;
            report.version = Some(h.codec.version);
            report.tag = Some(h.tag);
        }
        Err(e) => problem(0, e.to_string()),
    }
    let mut off = format::HEADER_LEN as u64;
    while off < r.len {
        let bad = r.frame(off, r.len)?.is_err();
        // A recycled file's earlier life after the last record (a torn
        // last record included): what open gives back, not damage.
        if bad && newest && r.recycled && !report.records.is_empty() && !r.any_valid_frame_in(off + 1, r.len)? {
            report.recycled = Some((off, r.len - off));
            break;
        }
        let (info, body) = match r.frame(off, r.len)? {
            Ok(f) => {
                let index = (matches!(f.kind, RecordKind::Entry | RecordKind::EntryCopy) && f.body.len() >= 8)
                    .then(|| u64::from_le_bytes(f.body[..8].try_into().unwrap_or_default()));
                let info = RecordInfo {
                    chunk: id,
                    offset: off,
                    len: f.len as u64,
                    kind: Some(f.kind),
                    index,
                    group: f.group,
                    seq: f.seq,
                    crc_ok: true,
                };
                (info, f.body.to_vec())
            }
            Err(FrameError::BadCrc) => {
                let codec = r.codec;
                let hdr = r.bytes(off, codec.frame_header_len())?;
                let h = format::decode_frame_header(codec, hdr).map_err(|e| r.corrupt(off, e.to_string()))?;
                let len = h.frame_len(codec);
                problem(off, format!("{} record: CRC mismatch", h.kind.name()));
                let info = RecordInfo {
                    chunk: id,
                    offset: off,
                    len,
                    kind: Some(h.kind),
                    index: None,
                    group: 0,
                    seq: h.seq,
                    crc_ok: false,
                };
                (info, Vec::new())
            }
            Err(e) => {
                if newest && !report.records.is_empty() && r.all_zero(off, r.len)? {
                    report.preallocated = Some((off, r.len - off));
                    break;
                }
                let found = r.next_valid_frame(off + 1, r.len)?;
                let end = found.unwrap_or(r.len);
                let zeros = r.bytes(off, (end - off) as usize)?.iter().all(|&b| b == 0);
                let what = if zeros && found.is_none() {
                    format!("zero-filled tail of {} bytes", end - off)
                } else {
                    format!("{e}; {} unreadable bytes", end - off)
                };
                problem(off, what);
                let info = RecordInfo {
                    chunk: id,
                    offset: off,
                    len: end - off,
                    kind: None,
                    index: None,
                    group: 0,
                    seq: 0,
                    crc_ok: false,
                };
                (info, Vec::new())
            }
        };
        visit(&info, &body);
        off += info.len;
        if let (Some(kind), true) = (info.kind, info.crc_ok) {
            *report.records.entry(kind.name().to_string()).or_default() += 1;
            if let Some(i) = info.index {
                report.entries = Some(report.entries.map_or((i, i), |(a, b)| (a.min(i), b.max(i))));
            }
            if kind == RecordKind::Footer {
                let trailer = r.bytes(off, format::TRAILER_LEN)?;
                let end = off + format::TRAILER_LEN as u64;
                if format::decode_trailer(trailer) == Some(info.offset) && end <= r.len {
                    if end == r.len {
                        report.sealed = true;
                        break;
                    }
                    // Sealed, but its preallocated space was not given back
                    // before the process stopped.
                    if newest && r.all_zero(end, r.len)? {
                        report.sealed = true;
                        report.preallocated = Some((end, r.len - end));
                        break;
                    }
                    if newest && r.recycled && !r.any_valid_frame_in(end, r.len)? {
                        report.sealed = true;
                        report.recycled = Some((end, r.len - end));
                        break;
                    }
                }
            }
        }
    }
    Ok(report)
}

/// Checks `dir` without changing it: every chunk scanned frame by frame,
/// and the verdict of a replay (what open would recover, repair or refuse).
pub fn check(vfs: &dyn Vfs, dir: &Path, mut progress: impl FnMut(u64)) -> Result<Report> {
    let mut report = Report::default();
    let files = chunk_files(vfs, dir)?;
    let newest = files.last().map(|(id, _)| *id);
    for (id, path) in files {
        let c = scan_chunk(vfs, id, &path, Some(id) == newest, &mut report.problems, |_, _| {})?;
        progress(c.bytes);
        report.chunks.push(c);
    }
    match recovery::recover_dir(vfs, dir, None) {
        Ok(rec) => {
            report.state = Some(rec.groups.get(&0).map(|g| g.state.clone()).unwrap_or_default());
            report.groups = rec.groups.into_iter().map(|(g, grp)| (g, grp.state)).collect();
            report.repairs = rec.repairs.clone();
        }
        Err(e @ Error::Io { .. }) => return Err(e),
        Err(e) => {
            let (path, offset) = match &e {
                Error::Corruption { chunk, offset, .. } => (chunk.clone(), *offset),
                Error::UnsupportedVersion { chunk, .. } | Error::TagMismatch { chunk, .. } => (chunk.clone(), 0),
                _ => (dir.to_path_buf(), 0),
            };
            if !report.problems.iter().any(|p| p.path == path && p.offset == offset) {
                report.problems.push(Problem { path, offset, what: e.to_string(), repairable: false });
            }
            report.refusal = Some(e.to_string());
        }
    }
    // Problems inside what the tail repair drops are repairable.
    for p in &mut report.problems {
        p.repairable = report.repairs.iter().any(|r| match r {
            RepairAction::Cut { path, at, .. } => *path == p.path && p.offset >= *at,
            RepairAction::Remove { path, .. } => *path == p.path,
            RepairAction::TrimPreallocated { path, at, .. } | RepairAction::TrimRecycled { path, at, .. } => {
                *path == p.path && p.offset >= *at
            }
        });
    }
    Ok(report)
}

/// Applies exactly the tail repair open would apply, and nothing more,
/// first copying the bytes it drops to `<chunk>.broken` and making that
/// copy durable (file and directory) before anything is cut. Preallocated
/// space is given back without a copy: it holds no data. Refuses (with
/// open's error) if the damage is not at the tail. With `dry_run`, only
/// returns what it would do. Take [`lock`] first.
pub fn repair(vfs: &dyn Vfs, dir: &Path, dry_run: bool) -> Result<Vec<RepairAction>> {
    let rec = recovery::recover_dir(vfs, dir, None)?;
    if !dry_run {
        recovery::apply_repairs(vfs, dir, &rec.repairs, true)?;
    }
    Ok(rec.repairs.clone())
}

/// One group's live entries in one chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkShare {
    /// Live entries of the group whose frame is in the chunk.
    pub entries: u64,
    /// Their frame bytes.
    pub bytes: u64,
}

/// Where one group's live entries sit, as open would index them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupLayout {
    /// The group's log state.
    pub state: LogState,
    /// Its live entries (between its purge point and its last index).
    pub entries: u64,
    /// Frame bytes of its live entries (what
    /// [`Stats::live_bytes`](crate::Stats::live_bytes) counts).
    pub bytes: u64,
    /// Its live entries per chunk id (chunks without any are absent).
    pub chunks: BTreeMap<u64, ChunkShare>,
}

/// Every group's live entries per chunk, from the replay open would make:
/// what [`ChunkLog::pinning`](crate::ChunkLog::pinning) and
/// [`Stats::live_bytes`](crate::Stats::live_bytes) would report right
/// after open, worked out offline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Every group that exists, by id.
    pub groups: BTreeMap<u64, GroupLayout>,
    /// The chunk open would keep appending to (the newest, when it is not
    /// sealed); `None` when open would start a new chunk.
    pub open_chunk: Option<u64>,
}

impl Layout {
    /// Frame bytes of every group's live entries.
    pub fn live_bytes(&self) -> u64 {
        self.groups.values().map(|g| g.bytes).sum()
    }

    /// Live entry bytes per chunk id, every group together (chunks
    /// without a live entry are absent).
    pub fn chunk_live_bytes(&self) -> BTreeMap<u64, u64> {
        let mut live = BTreeMap::new();
        for g in self.groups.values() {
            for (&c, s) in &g.chunks {
                *live.entry(c).or_default() += s.bytes;
            }
        }
        live
    }

    /// The groups with live entries in the oldest chunk that holds any,
    /// most bytes first, as [`ChunkLog::pinning`](crate::ChunkLog::pinning)
    /// reports them after open: empty when only the open chunk holds
    /// live entries.
    pub fn pinning(&self) -> Vec<crate::Pin> {
        let Some(&chunk) = self.chunk_live_bytes().keys().next() else { return Vec::new() };
        if Some(chunk) == self.open_chunk {
            return Vec::new();
        }
        let mut pins: Vec<crate::Pin> = self
            .groups
            .iter()
            .filter_map(|(&group, g)| {
                let s = g.chunks.get(&chunk)?;
                Some(crate::Pin { group, chunk, entries: s.entries, bytes: s.bytes })
            })
            .collect();
        pins.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.group.cmp(&b.group)));
        pins
    }
}

/// Replays `dir` as open would (without changing it, creating nothing)
/// and returns where every group's live entries sit. Fails as open would
/// on a directory it refuses.
pub fn layout(vfs: &dyn Vfs, dir: &Path) -> Result<Layout> {
    let rec = recovery::recover_dir(vfs, dir, None)?;
    let groups = rec
        .groups
        .into_iter()
        .map(|(id, grp)| {
            let mut g = GroupLayout { entries: grp.state.entry_count(), state: grp.state, ..GroupLayout::default() };
            grp.index.for_each(0, u64::MAX, |_, slot| {
                let share = g.chunks.entry(slot.chunk).or_default();
                share.entries += 1;
                share.bytes += u64::from(slot.len);
                g.bytes += u64::from(slot.len);
            });
            (id, g)
        })
        .collect();
    Ok(Layout { groups, open_chunk: rec.tail.map(|t| t.id) })
}
