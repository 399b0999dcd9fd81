//! `chunklog`: inspect, check, dump and repair a chunklog directory offline.
//!
//! Exit status: 0 clean; 1 only a tail problem that `repair` (and open)
//! fixes; 2 damage that open refuses or a read would hit; 3 a usage or I/O
//! error (or a live process holds the directory).
//!
//! Preallocated space (zeros after the newest chunk's last record, which
//! every unclean stop leaves) is clean: reported as such, never as damage
//! or as a record. `stat`, `check` and `dump` open every file read-only
//! and create nothing, so they work on a read-only copy of a directory.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chunklog::format::RecordKind;
use chunklog::inspect::{self, Problem, RecordInfo, RepairAction, Report};
use chunklog::vfs::StdVfs;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

#[derive(Parser)]
#[command(name = "chunklog", version, about = "Inspect, check, dump and repair a chunklog log directory")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Chunks, their index ranges, sizes, record counts, the log state.
    Stat {
        /// The log directory.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Read even though a live process holds the directory lock.
        #[arg(long)]
        force_read: bool,
    },
    /// Verify every frame, CRC, header, footer and the index continuity;
    /// writes nothing. Exit 0 clean (preallocated space at the tail is
    /// clean), 1 repairable torn tail, 2 corruption.
    Check {
        /// The log directory.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Read even though a live process holds the directory lock.
        #[arg(long)]
        force_read: bool,
    },
    /// One line per record: chunk, offset, length, kind, index, CRC status.
    Dump {
        /// The log directory.
        dir: PathBuf,
        /// Only entries from this index.
        #[arg(long)]
        from: Option<u64>,
        /// Only entries up to this index (inclusive).
        #[arg(long)]
        to: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Decode entries as the openraft line the chunk tag names
        /// (default type config: `u64` node ids and terms) and show log id
        /// and payload kind.
        #[cfg(any(feature = "openraft-010", feature = "openraft-09"))]
        #[arg(long)]
        decode: bool,
        /// Read even though a live process holds the directory lock.
        #[arg(long)]
        force_read: bool,
    },
    /// Apply exactly the tail repair open would apply, saving the dropped
    /// bytes to `<chunk>.broken` (preallocated zeros are given back, not
    /// saved); refuse if the damage is not at the tail.
    Repair {
        /// The log directory.
        dir: PathBuf,
        /// Only say what would be done.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 3 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("chunklog: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.cmd {
        Cmd::Stat { dir, json, force_read } => {
            let _lock = read_lock(&dir, force_read)?;
            let report = inspect::check(&StdVfs, &dir, |_| {})?;
            stat(&report, json);
            Ok(0)
        }
        Cmd::Check { dir, json, force_read } => {
            let _lock = read_lock(&dir, force_read)?;
            let bar = progress(&dir)?;
            let report = inspect::check(&StdVfs, &dir, |n| bar.inc(n))?;
            bar.finish_and_clear();
            check(&report, json);
            Ok(report.exit_code() as u8)
        }
        Cmd::Dump {
            dir,
            from,
            to,
            format,
            #[cfg(any(feature = "openraft-010", feature = "openraft-09"))]
            decode,
            force_read,
        } => {
            #[cfg(not(any(feature = "openraft-010", feature = "openraft-09")))]
            let decode = false;
            let _lock = read_lock(&dir, force_read)?;
            dump(&dir, from, to, format, decode)
        }
        Cmd::Repair { dir, dry_run } => {
            let _lock = repair_lock(&dir)?;
            match inspect::repair(&StdVfs, &dir, dry_run) {
                Ok(actions) if actions.is_empty() => {
                    println!("nothing to repair: {} opens as it is", dir.display());
                    Ok(0)
                }
                Ok(actions) => {
                    for a in &actions {
                        let verb = if dry_run { "would" } else { "did" };
                        match a {
                            RepairAction::Cut { path, at, dropped } => println!(
                                "{verb} cut {} at byte {at}, dropping {dropped} bytes of torn tail{}",
                                path.display(),
                                if dry_run { String::new() } else { format!(" (saved to {}.broken)", path.display()) }
                            ),
                            RepairAction::Remove { path, bytes } => println!(
                                "{verb} remove {} ({bytes} bytes, never completely created){}",
                                path.display(),
                                if dry_run { String::new() } else { format!(" (saved to {}.broken)", path.display()) }
                            ),
                            RepairAction::TrimPreallocated { path, at, bytes } => println!(
                                "{verb} give back {bytes} bytes of preallocated space of {} from byte {at} \
                                 (not damage: zeros no record reached, nothing to save)",
                                path.display()
                            ),
                        }
                    }
                    Ok(0)
                }
                Err(e @ chunklog::Error::Io { .. }) => Err(e.into()),
                Err(e) => {
                    println!("refusing to repair: {e}");
                    println!("the damage is not a torn tail; repair would have to drop acknowledged data");
                    Ok(2)
                }
            }
        }
    }
}

/// The shared lock of a command that only reads: refuses while a live
/// store holds the directory (unless `force_read`), creates and writes
/// nothing. A `LOCK` file this process cannot open or lock cannot tell
/// whether a store is live; reading goes on with a warning, as reading
/// changes nothing.
fn read_lock(dir: &Path, force_read: bool) -> anyhow::Result<Option<chunklog::vfs::DirLock>> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    match inspect::lock_shared(dir) {
        Ok(l) => Ok(l),
        Err(chunklog::Error::Locked { .. }) if force_read => {
            eprintln!("warning: a live process holds {}; reading anyway (--force-read)", dir.display());
            Ok(None)
        }
        Err(chunklog::Error::Locked { .. }) => anyhow::bail!(
            "a live process holds the lock on {}; stop it first, or pass --force-read to read anyway",
            dir.display()
        ),
        Err(e @ chunklog::Error::Io { .. }) => {
            eprintln!("warning: cannot tell whether a live process holds {} ({e}); reading anyway", dir.display());
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The exclusive lock `repair` needs before it changes anything.
fn repair_lock(dir: &Path) -> anyhow::Result<Option<chunklog::vfs::DirLock>> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    match inspect::lock(dir) {
        Ok(l) => Ok(l),
        Err(chunklog::Error::Locked { .. }) => {
            anyhow::bail!("a live process holds the lock on {}; stop it first", dir.display())
        }
        Err(e) => Err(e.into()),
    }
}

fn progress(dir: &Path) -> anyhow::Result<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return Ok(indicatif::ProgressBar::hidden());
    }
    let mut total = 0;
    for (_, p) in inspect::chunk_files(&StdVfs, dir)? {
        total += std::fs::metadata(&p).with_context(|| format!("stat {}", p.display()))?.len();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Ok(bar)
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn stat(r: &Report, as_json: bool) {
    let state = r.state.as_ref();
    let disk: u64 = r.chunks.iter().map(|c| c.bytes).sum();
    // Every chunk carries the same tag (open refuses otherwise).
    let openraft = Openraft::for_tag(r.chunks.iter().find_map(|c| c.tag.as_deref()));
    let vote = |b: &[u8]| openraft.and_then(|o| o.vote(b)).unwrap_or_else(|| hex(b));
    let log_id = |b: &[u8]| openraft.and_then(|o| o.log_id(b)).unwrap_or_else(|| hex(b));
    if as_json {
        let chunks: Vec<_> = r
            .chunks
            .iter()
            .map(|c| {
                json!({"id": c.id, "file": file_name(&c.path), "bytes": c.bytes, "sealed": c.sealed,
                       "tag": c.tag, "records": c.records,
                       "first_index": c.entries.map(|e| e.0), "last_index": c.entries.map(|e| e.1),
                       "preallocated_bytes": c.preallocated.map(|p| p.1)})
            })
            .collect();
        let out = json!({
            "chunks": chunks,
            "bytes_on_disk": disk,
            "state": state.map(|s| json!({
                "vote": s.vote.as_deref().map(vote), "committed": s.committed.as_deref().map(log_id),
                "first_index": s.first_index, "last_index": s.last_index,
                "purged_index": s.purged_index(), "entries": s.entry_count(),
            })),
            "refusal": r.refusal,
        });
        println!("{out:#}");
        return;
    }
    println!("{} chunks, {disk} bytes on disk", r.chunks.len());
    for c in &r.chunks {
        let range = c.entries.map_or("no entries".to_string(), |(a, b)| format!("entries {a}..={b}"));
        let kinds: Vec<String> = c.records.iter().map(|(k, n)| format!("{k}={n}")).collect();
        let spare = c.preallocated.map_or(String::new(), |(_, n)| format!("  (of which {n} bytes preallocated)"));
        println!(
            "  {}  {:>10} bytes  {:<6}  {range:<24}  {}{spare}",
            file_name(&c.path),
            c.bytes,
            if c.sealed { "sealed" } else { "open" },
            kinds.join(" ")
        );
    }
    match state {
        Some(s) => {
            println!("log state:");
            println!(
                "  entries    {}",
                s.first_index.map_or("none".into(), |f| format!("{f}..={}", s.last_index.unwrap_or(f)))
            );
            println!("  last index {:?}", s.last_index);
            println!("  purged     {:?}", s.purged_index());
            println!("  vote       {}", s.vote.as_deref().map_or("none".into(), vote));
            println!("  committed  {}", s.committed.as_deref().map_or("none".into(), log_id));
        }
        None => println!("log state: unavailable, open would refuse: {}", r.refusal.as_deref().unwrap_or("?")),
    }
}

/// A blob as text when it is printable UTF-8, else as hex.
fn hex(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s:?}"),
        _ => format!("0x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
    }
}

fn check(r: &Report, as_json: bool) {
    let code = r.exit_code();
    if as_json {
        let problems: Vec<_> = r
            .problems
            .iter()
            .map(|p: &Problem| json!({"file": p.path, "offset": p.offset, "problem": p.what, "repairable": p.repairable}))
            .collect();
        let repairs: Vec<_> = r
            .damage_repairs()
            .map(|a| match a {
                RepairAction::Cut { path, at, dropped } => json!({"cut": path, "at": at, "dropped": dropped}),
                RepairAction::Remove { path, bytes } => json!({"remove": path, "bytes": bytes}),
                RepairAction::TrimPreallocated { path, at, bytes } => {
                    json!({"trim_preallocated": path, "at": at, "bytes": bytes})
                }
            })
            .collect();
        let preallocated: Vec<_> =
            preallocated(r).map(|(path, at, bytes)| json!({"file": path, "at": at, "bytes": bytes})).collect();
        let status = ["clean", "repairable", "corrupt"][code as usize];
        let out = json!({"status": status, "exit_code": code, "chunks": r.chunks.len(), "problems": problems,
                         "repairs": repairs, "preallocated": preallocated, "refusal": r.refusal});
        println!("{out:#}");
        return;
    }
    for (path, at, bytes) in preallocated(r) {
        println!(
            "{}: newest chunk ends with {bytes} bytes of preallocated space from byte {at} \
             (not damage: what an unclean stop leaves; open gives it back)",
            path.display()
        );
    }
    for p in &r.problems {
        let fix = if p.repairable { "repairable: `chunklog repair` cuts it" } else { "NOT repairable" };
        println!("{} at byte {}: {} ({fix})", p.path.display(), p.offset, p.what);
    }
    if let Some(why) = &r.refusal {
        println!("open would refuse: {why}");
    }
    let frames: u64 = r.chunks.iter().flat_map(|c| c.records.values()).sum();
    match code {
        0 => println!("clean: {} chunks, {frames} records, every CRC verified", r.chunks.len()),
        1 => println!("repairable: only a torn tail; `chunklog repair` (or opening the store) fixes it"),
        _ => println!(
            "corrupt: damage beyond the tail; keep a copy of the directory and rebuild the node from its peers"
        ),
    }
}

/// The preallocated space open would give back: `(chunk, offset, bytes)`.
fn preallocated(r: &Report) -> impl Iterator<Item = (&Path, u64, u64)> {
    r.repairs.iter().filter_map(|a| match a {
        RepairAction::TrimPreallocated { path, at, bytes } => Some((path.as_path(), *at, *bytes)),
        _ => None,
    })
}

fn dump(dir: &Path, from: Option<u64>, to: Option<u64>, format: Format, decode: bool) -> anyhow::Result<u8> {
    let bar = progress(dir)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let mut problems = Vec::new();
    let ranged = from.is_some() || to.is_some();
    let mut write_err = None;
    let files = inspect::chunk_files(&StdVfs, dir)?;
    let newest = files.last().map(|(id, _)| *id);
    let mut undecodable = None;
    for (id, path) in files {
        let openraft = if decode {
            let tag = inspect::chunk_tag(&StdVfs, &path)?;
            let o = Openraft::for_tag(tag.as_deref());
            if o.is_none() && undecodable.is_none() {
                undecodable = Some(tag.unwrap_or_default());
            }
            o
        } else {
            None
        };
        let c = inspect::scan_chunk(
            &StdVfs,
            id,
            &path,
            Some(id) == newest,
            &mut problems,
            |rec: &RecordInfo, body: &[u8]| {
                if write_err.is_some() {
                    return;
                }
                if ranged {
                    let Some(i) = rec.index else { return };
                    if from.is_some_and(|f| i < f) || to.is_some_and(|t| i > t) {
                        return;
                    }
                }
                let kind = rec.kind.map_or("unreadable", |k| k.name());
                let decoded = match openraft {
                    Some(o)
                        if rec.crc_ok
                            && matches!(rec.kind, Some(RecordKind::Entry | RecordKind::EntryCopy))
                            && body.len() > 8 =>
                    {
                        o.entry(&body[8..])
                    }
                    _ => None,
                };
                let r = match format {
                    Format::Text => writeln!(
                        out,
                        "chunk={:020} offset={} len={} kind={kind} index={} crc={}{}",
                        rec.chunk,
                        rec.offset,
                        rec.len,
                        rec.index.map_or("-".to_string(), |i| i.to_string()),
                        if rec.crc_ok { "ok" } else { "BAD" },
                        decoded.as_deref().map_or(String::new(), |d| format!(" {d}")),
                    ),
                    Format::Json => writeln!(
                        out,
                        "{}",
                        json!({"chunk": rec.chunk, "offset": rec.offset, "len": rec.len, "kind": kind,
                           "index": rec.index, "crc_ok": rec.crc_ok, "decoded": decoded})
                    ),
                };
                if let Err(e) = r {
                    write_err = Some(e);
                }
            },
        )?;
        bar.inc(c.bytes);
    }
    bar.finish_and_clear();
    if let Some(tag) = undecodable {
        eprintln!("warning: entries of chunk tag {tag:?} are not openraft entries this build knows; not decoded");
    }
    if let Some(e) = write_err {
        // A closed pipe (`| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
        return Ok(0);
    }
    out.flush()?;
    Ok(if problems.is_empty() { 0 } else { 2 })
}

/// An openraft line, named by a chunk tag, whose blobs this build decodes
/// with openraft's default type config (`u64` terms and node ids), printed
/// as that line prints them. Tags of other lines or codecs get `None`,
/// and their blobs are shown raw.
#[derive(Clone, Copy)]
enum Openraft {
    #[cfg(feature = "openraft-010")]
    V010,
    #[cfg(feature = "openraft-09")]
    V09,
}

#[cfg(feature = "openraft-010")]
mod v010 {
    openraft::declare_raft_types!(pub DefaultConfig);
    pub type LogId = openraft::type_config::alias::LogIdOf<DefaultConfig>;
    pub type Vote = openraft::type_config::alias::VoteOf<DefaultConfig>;
}

// A build without either openraft line has no variant to decode with.
#[cfg_attr(not(any(feature = "openraft-010", feature = "openraft-09")), allow(unused_variables))]
impl Openraft {
    fn for_tag(tag: Option<&str>) -> Option<Openraft> {
        let tag = tag?;
        #[cfg(feature = "openraft-010")]
        if tag == chunklog::openraft_v010::tag::<chunklog::codec::Bincode2>() {
            return Some(Openraft::V010);
        }
        #[cfg(feature = "openraft-09")]
        if tag == chunklog::v09::tag::<chunklog::codec::Bincode2>() {
            return Some(Openraft::V09);
        }
        None
    }

    /// `log_id=… payload=…` of an entry's encoding.
    fn entry(self, bytes: &[u8]) -> Option<String> {
        match self {
            #[cfg(feature = "openraft-010")]
            Openraft::V010 => prefix::<v010::LogId>(bytes).map(entry_line),
            #[cfg(feature = "openraft-09")]
            Openraft::V09 => prefix::<openraft09::LogId<u64>>(bytes).map(entry_line),
        }
    }

    /// A saved vote, as openraft prints it.
    fn vote(self, blob: &[u8]) -> Option<String> {
        match self {
            #[cfg(feature = "openraft-010")]
            Openraft::V010 => whole::<v010::Vote>(blob),
            #[cfg(feature = "openraft-09")]
            Openraft::V09 => whole::<openraft09::Vote<u64>>(blob),
        }
    }

    /// A saved log id (the committed one), as openraft prints it.
    fn log_id(self, blob: &[u8]) -> Option<String> {
        match self {
            #[cfg(feature = "openraft-010")]
            Openraft::V010 => whole::<v010::LogId>(blob),
            #[cfg(feature = "openraft-09")]
            Openraft::V09 => whole::<openraft09::LogId<u64>>(blob),
        }
    }
}

/// An entry's log id and payload kind. An entry is `{ log_id, payload }`;
/// the payload enum's variant index follows the log id (blank, normal,
/// membership on both lines).
#[cfg(any(feature = "openraft-010", feature = "openraft-09"))]
fn entry_line((log_id, variant): (impl std::fmt::Display, u32)) -> String {
    let kind = match variant {
        0 => "blank",
        1 => "normal",
        2 => "membership",
        _ => "unknown",
    };
    format!("log_id={log_id} payload={kind}")
}

/// A value of type `T` that fills all of `blob`, displayed.
#[cfg(any(feature = "openraft-010", feature = "openraft-09"))]
fn whole<T: serde::de::DeserializeOwned + std::fmt::Display>(blob: &[u8]) -> Option<String> {
    use chunklog::codec::Codec;
    chunklog::codec::Bincode2::decode::<T>(blob).ok().map(|v| v.to_string())
}

/// A value of type `T` followed by an enum's variant index, at the start
/// of `bytes`.
#[cfg(any(feature = "openraft-010", feature = "openraft-09"))]
fn prefix<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<(T, u32)> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard()).ok().map(|(v, _)| v)
}
