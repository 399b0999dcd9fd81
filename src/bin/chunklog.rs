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
//!
//! Groups: `stat` counts them, lists the ones with the most live bytes
//! (`--groups N`, `--all-groups`) and names the ones pinning the oldest
//! chunk, worked out from the same replay open makes
//! ([`inspect::layout`]); `dump --group G` and `check --group G` narrow
//! to one group. A format-1 directory is group 0.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chunklog::LogState;
use chunklog::format::RecordKind;
use chunklog::inspect::{self, GroupLayout, Problem, RecordInfo, RepairAction, Report};
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
    /// Chunks (format version, index ranges, sizes, live bytes, record
    /// counts), the groups (count, the ones with the most live bytes, the
    /// ones pinning the oldest chunk), live bytes against bytes on disk,
    /// and one group's log state.
    Stat {
        /// The log directory.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// List this many groups, those with the most live bytes (0: none).
        #[arg(long, value_name = "N", default_value_t = 10)]
        groups: usize,
        /// List every group, in id order (overrides --groups).
        #[arg(long)]
        all_groups: bool,
        /// Show this group's log state (vote, committed, purge point);
        /// without it, group 0's, if the log holds group 0 (or no group).
        #[arg(long, value_name = "G")]
        group: Option<u64>,
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
        /// Also report this group's log state and entry count (the whole
        /// directory is still checked, and its damage reported).
        #[arg(long, value_name = "G")]
        group: Option<u64>,
        /// Read even though a live process holds the directory lock.
        #[arg(long)]
        force_read: bool,
    },
    /// One line per record: chunk, offset, length, group, kind, index, CRC
    /// status.
    Dump {
        /// The log directory.
        dir: PathBuf,
        /// Only this group's records (entries, entry copies, votes,
        /// committed, truncations, purges, user metadata, its removal).
        /// Checkpoints and footers, which hold every group, are left out;
        /// damage, whose group cannot be known, is still shown.
        #[arg(long, value_name = "G")]
        group: Option<u64>,
        /// Also show the flush sequence number of each record (format 2;
        /// 0 in format 1).
        #[arg(long, short)]
        verbose: bool,
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
        Cmd::Stat { dir, json, groups, all_groups, group, force_read } => {
            let _lock = read_lock(&dir, force_read)?;
            let report = inspect::check(&StdVfs, &dir, |_| {})?;
            // Where the groups' entries sit: only when open would succeed
            // (the replay is the one `check` just made).
            let layout = match &report.refusal {
                None => Some(inspect::layout(&StdVfs, &dir)?),
                Some(_) => None,
            };
            let list = if all_groups { List::All } else { List::Top(groups) };
            stat(&report, layout.as_ref(), list, group, json);
            Ok(0)
        }
        Cmd::Check { dir, json, group, force_read } => {
            let _lock = read_lock(&dir, force_read)?;
            let bar = progress(&dir)?;
            let report = inspect::check(&StdVfs, &dir, |n| bar.inc(n))?;
            bar.finish_and_clear();
            check(&report, group, json);
            Ok(report.exit_code() as u8)
        }
        Cmd::Dump {
            dir,
            group,
            verbose,
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
            dump(&dir, DumpOptions { group, verbose, from, to, format, decode })
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
                            RepairAction::TrimRecycled { path, at, bytes } => println!(
                                "{verb} give back {bytes} bytes of {} from byte {at}: the earlier contents of \
                                 its recycled file (not damage: no record of this chunk, nothing to save)",
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

/// Which groups `stat` lists.
#[derive(Clone, Copy)]
enum List {
    /// The `n` with the most live bytes (ties: lowest id first).
    Top(usize),
    /// Every group, in id order.
    All,
}

/// How a directory's blobs are shown: decoded as the openraft line its
/// chunk tag names, else as text or hex.
struct Blobs(Option<Openraft>);

impl Blobs {
    fn of(r: &Report) -> Blobs {
        // Every chunk carries the same tag (open refuses otherwise).
        Blobs(Openraft::for_tag(r.chunks.iter().find_map(|c| c.tag.as_deref())))
    }

    fn vote(&self, b: &[u8]) -> String {
        self.0.and_then(|o| o.vote(b)).unwrap_or_else(|| hex(b))
    }

    fn log_id(&self, b: &[u8]) -> String {
        self.0.and_then(|o| o.log_id(b)).unwrap_or_else(|| hex(b))
    }

    /// A group's state as JSON.
    fn state_json(&self, s: &LogState) -> serde_json::Value {
        json!({
            "vote": s.vote.as_deref().map(|b| self.vote(b)),
            "committed": s.committed.as_deref().map(|b| self.log_id(b)),
            "first_index": s.first_index, "last_index": s.last_index,
            "purged_index": s.purged_index(), "entries": s.entry_count(),
        })
    }

    /// A group's state as the indented lines of `stat` and `check`.
    fn print_state(&self, s: &LogState) {
        println!(
            "  entries    {}",
            s.first_index.map_or("none".into(), |f| format!("{f}..={}", s.last_index.unwrap_or(f)))
        );
        println!("  last index {:?}", s.last_index);
        println!("  purged     {:?}", s.purged_index());
        println!("  vote       {}", s.vote.as_deref().map_or("none".into(), |b| self.vote(b)));
        println!("  committed  {}", s.committed.as_deref().map_or("none".into(), |b| self.log_id(b)));
    }
}

/// `a..=b` of a range of ids, or the one id.
fn span(first: u64, last: u64) -> String {
    if first == last { first.to_string() } else { format!("{first}..={last}") }
}

/// The format versions of the chunks, as `2` or `1 (chunks 1..=8), 2
/// (chunks 9..=12)`; `?` for a chunk whose header does not read.
fn formats(r: &Report) -> String {
    let mut runs: Vec<(Option<u32>, u64, u64)> = Vec::new();
    for c in &r.chunks {
        match runs.last_mut() {
            Some((v, _, hi)) if *v == c.version => *hi = c.id,
            _ => runs.push((c.version, c.id, c.id)),
        }
    }
    let name = |v: Option<u32>| v.map_or("?".to_string(), |v| v.to_string());
    match runs.as_slice() {
        [] => "none".into(),
        [(v, _, _)] => name(*v),
        _ => {
            runs.iter().map(|&(v, a, b)| format!("{} (chunks {})", name(v), span(a, b))).collect::<Vec<_>>().join(", ")
        }
    }
}

/// The groups `stat` lists: every one in id order, or the `n` with the
/// most live bytes.
fn listed(layout: &inspect::Layout, list: List) -> Vec<(u64, &GroupLayout)> {
    let mut groups: Vec<(u64, &GroupLayout)> = layout.groups.iter().map(|(&g, l)| (g, l)).collect();
    if let List::Top(n) = list {
        groups.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
        groups.truncate(n);
    }
    groups
}

fn stat(r: &Report, layout: Option<&inspect::Layout>, list: List, chosen: Option<u64>, as_json: bool) {
    let disk: u64 = r.chunks.iter().map(|c| c.bytes).sum();
    let blobs = Blobs::of(r);
    let live_per_chunk = layout.map(|l| l.chunk_live_bytes()).unwrap_or_default();
    let chunk_live = |id: u64| layout.map(|_| live_per_chunk.get(&id).copied().unwrap_or(0));
    // A store used as one log (group 0 only, or empty) shows group 0's
    // state, empty or not, under the plain heading; a store of other
    // groups shows group 0's only if asked.
    let only_zero = r.groups.keys().all(|&g| g == 0);
    let group = chosen.unwrap_or(0);
    let show_state = chosen.is_some() || only_zero || r.groups.contains_key(&0);
    // The state shown: the chosen group's, when open would succeed.
    let state: Option<Option<LogState>> = r
        .state
        .as_ref()
        .map(|_| r.groups.get(&group).cloned().or_else(|| (group == 0 && only_zero).then(LogState::default)));
    let pins = layout.map(|l| l.pinning()).unwrap_or_default();
    let pin_limit = match list {
        List::All => usize::MAX,
        List::Top(_) => 5,
    };
    if as_json {
        let chunks: Vec<_> = r
            .chunks
            .iter()
            .map(|c| {
                json!({"id": c.id, "file": file_name(&c.path), "version": c.version, "bytes": c.bytes,
                       "sealed": c.sealed, "tag": c.tag, "records": c.records,
                       "first_index": c.entries.map(|e| e.0), "last_index": c.entries.map(|e| e.1),
                       "live_bytes": chunk_live(c.id),
                       "preallocated_bytes": c.preallocated.map(|p| p.1),
                       "recycled_bytes": c.recycled.map(|p| p.1)})
            })
            .collect();
        let mut versions: Vec<u32> = r.chunks.iter().filter_map(|c| c.version).collect();
        versions.sort_unstable();
        versions.dedup();
        let groups = layout.map(|l| {
            listed(l, list)
                .into_iter()
                .map(|(g, gl)| {
                    let chunks: serde_json::Map<String, serde_json::Value> = gl
                        .chunks
                        .iter()
                        .map(|(c, s)| (c.to_string(), json!({"entries": s.entries, "bytes": s.bytes})))
                        .collect();
                    json!({"group": g, "entries": gl.entries, "first_index": gl.state.first_index,
                           "last_index": gl.state.last_index, "purged_index": gl.state.purged_index(),
                           "live_bytes": gl.bytes, "chunks": chunks})
                })
                .collect::<Vec<_>>()
        });
        let pinning: Option<Vec<_>> = layout.map(|_| {
            pins.iter()
                .map(|p| json!({"group": p.group, "chunk": p.chunk, "entries": p.entries, "bytes": p.bytes}))
                .collect()
        });
        let out = json!({
            "chunks": chunks,
            "formats": versions,
            "bytes_on_disk": disk,
            "live_bytes": layout.map(|l| l.live_bytes()),
            "group_count": layout.map(|l| l.groups.len()),
            "groups": groups,
            "pinning": pinning,
            "group": group,
            "state": state.as_ref().map(|s| s.as_ref().map_or(serde_json::Value::Null, |s| blobs.state_json(s))),
            "refusal": r.refusal,
        });
        println!("{out:#}");
        return;
    }
    println!("{} chunks, {disk} bytes on disk, format {}", r.chunks.len(), formats(r));
    for c in &r.chunks {
        let range = c.entries.map_or("no entries".to_string(), |(a, b)| format!("entries {a}..={b}"));
        let kinds: Vec<String> = c.records.iter().map(|(k, n)| format!("{k}={n}")).collect();
        let spare = match (c.preallocated, c.recycled) {
            (Some((_, n)), _) => format!("  (of which {n} bytes preallocated)"),
            (None, Some((_, n))) => format!("  (of which {n} bytes a recycled file's earlier contents)"),
            (None, None) => String::new(),
        };
        let live = chunk_live(c.id).map_or(String::new(), |b| format!("live {b:>10}  "));
        println!(
            "  {}  v{}  {:>10} bytes  {:<6}  {range:<24}  {live}{}{spare}",
            file_name(&c.path),
            c.version.map_or("?".to_string(), |v| v.to_string()),
            c.bytes,
            if c.sealed { "sealed" } else { "open" },
            kinds.join(" ")
        );
    }
    if let Some(l) = layout {
        let live = l.live_bytes();
        let ratio =
            if live > 0 { format!(" ({:.2}x the live bytes)", disk as f64 / live as f64) } else { String::new() };
        let n = l.groups.len();
        println!(
            "{n} group{}, {live} bytes of live entries, {disk} bytes on disk{ratio}",
            if n == 1 { "" } else { "s" }
        );
        let shown = listed(l, list);
        if !shown.is_empty() {
            println!("  {:>20}  {:>10}  {:<24}  {:>12}  chunks", "group", "entries", "first..=last", "live bytes");
            for (g, gl) in &shown {
                let range =
                    gl.state.first_index.zip(gl.state.last_index).map_or("none".to_string(), |(a, b)| span(a, b));
                let chunks = match (gl.chunks.keys().next(), gl.chunks.keys().next_back()) {
                    (Some(&a), Some(&b)) => span(a, b),
                    _ => "-".into(),
                };
                println!("  {g:>20}  {:>10}  {range:<24}  {:>12}  {chunks}", gl.entries, gl.bytes);
            }
        }
        if shown.len() < l.groups.len() {
            println!(
                "  ({} of {} groups listed, most live bytes first; --groups N lists more, --all-groups every one)",
                shown.len(),
                l.groups.len()
            );
        }
        match pins.first() {
            None if live == 0 => println!("oldest live chunk: none (no live entries)"),
            None => println!("oldest live chunk: the open chunk (no older chunk is pinned)"),
            Some(p) => {
                let names: Vec<String> = pins
                    .iter()
                    .take(pin_limit)
                    .map(|p| format!("group {} ({} entries, {} bytes)", p.group, p.entries, p.bytes))
                    .collect();
                let more = pins.len().saturating_sub(pin_limit);
                let more = if more > 0 { format!(", and {more} more") } else { String::new() };
                println!(
                    "oldest live chunk: {} ({} live bytes), pinned by {} group{}: {}{more}",
                    file_name(&chunklog_path(r, p.chunk)),
                    live_per_chunk.get(&p.chunk).copied().unwrap_or(0),
                    pins.len(),
                    if pins.len() == 1 { "" } else { "s" },
                    names.join(", ")
                );
            }
        }
    }
    if !show_state {
        return;
    }
    let heading = if group == 0 && only_zero { "log state".to_string() } else { format!("log state of group {group}") };
    match state {
        Some(Some(s)) => {
            println!("{heading}:");
            blobs.print_state(&s);
        }
        Some(None) => println!("{heading}: no such group"),
        None => println!("{heading}: unavailable, open would refuse: {}", r.refusal.as_deref().unwrap_or("?")),
    }
}

/// The path of chunk `id` among the report's chunks.
fn chunklog_path(r: &Report, id: u64) -> PathBuf {
    r.chunks.iter().find(|c| c.id == id).map_or_else(|| PathBuf::from(format!("chunk {id}")), |c| c.path.clone())
}

/// A blob as text when it is printable UTF-8, else as hex.
fn hex(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s:?}"),
        _ => format!("0x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
    }
}

fn check(r: &Report, group: Option<u64>, as_json: bool) {
    let code = r.exit_code();
    let blobs = Blobs::of(r);
    // The group counts and states only when open would succeed.
    let groups = r.state.as_ref().map(|_| r.groups.len());
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
                RepairAction::TrimRecycled { path, at, bytes } => {
                    json!({"trim_recycled": path, "at": at, "bytes": bytes})
                }
            })
            .collect();
        let preallocated: Vec<_> =
            preallocated(r).map(|(path, at, bytes)| json!({"file": path, "at": at, "bytes": bytes})).collect();
        let recycled: Vec<_> =
            recycled(r).map(|(path, at, bytes)| json!({"file": path, "at": at, "bytes": bytes})).collect();
        let status = ["clean", "repairable", "corrupt"][code as usize];
        let mut out = json!({"status": status, "exit_code": code, "chunks": r.chunks.len(), "groups": groups,
                             "problems": problems, "repairs": repairs, "preallocated": preallocated,
                             "recycled": recycled,
                             "refusal": r.refusal});
        if let Some(g) = group {
            out["group"] = match (&r.state, r.groups.get(&g)) {
                (None, _) => json!({"id": g, "exists": null, "state": null}),
                (Some(_), None) => json!({"id": g, "exists": false, "state": null}),
                (Some(_), Some(s)) => json!({"id": g, "exists": true, "state": blobs.state_json(s)}),
            };
        }
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
    for (path, at, bytes) in recycled(r) {
        println!(
            "{}: newest chunk ends with {bytes} bytes of its recycled file's earlier contents from byte {at} \
             (not damage: what an unclean stop leaves; open gives them back)",
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
    if let Some(g) = group {
        match (&r.state, r.groups.get(&g)) {
            (None, _) => println!("group {g}: state unavailable, open would refuse the directory"),
            (Some(_), None) => println!("group {g}: no such group ({} groups in the log)", r.groups.len()),
            (Some(_), Some(s)) => {
                println!("group {g}: {} entries", s.entry_count());
                blobs.print_state(s);
            }
        }
    }
    let frames: u64 = r.chunks.iter().flat_map(|c| c.records.values()).sum();
    let groups = groups.map_or(String::new(), |n| format!(", {n} group{}", if n == 1 { "" } else { "s" }));
    match code {
        0 => println!("clean: {} chunks, {frames} records{groups}, every CRC verified", r.chunks.len()),
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

/// The old bytes of a recycled file open would give back: `(chunk,
/// offset, bytes)`.
fn recycled(r: &Report) -> impl Iterator<Item = (&Path, u64, u64)> {
    r.repairs.iter().filter_map(|a| match a {
        RepairAction::TrimRecycled { path, at, bytes } => Some((path.as_path(), *at, *bytes)),
        _ => None,
    })
}

/// What `dump` shows.
struct DumpOptions {
    group: Option<u64>,
    verbose: bool,
    from: Option<u64>,
    to: Option<u64>,
    format: Format,
    decode: bool,
}

fn dump(dir: &Path, opts: DumpOptions) -> anyhow::Result<u8> {
    let DumpOptions { group, verbose, from, to, format, decode } = opts;
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
                // A damaged record's group is not known (its group bytes
                // are not covered by a CRC that passed).
                let rec_group = rec.crc_ok.then_some(rec.group);
                if let Some(g) = group
                    && rec.crc_ok
                    && (rec.group != g || matches!(rec.kind, Some(RecordKind::Checkpoint | RecordKind::Footer)))
                {
                    return;
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
                        "chunk={:020} offset={} len={} group={}{} kind={kind} index={} crc={}{}",
                        rec.chunk,
                        rec.offset,
                        rec.len,
                        rec_group.map_or("?".to_string(), |g| g.to_string()),
                        if verbose { format!(" seq={}", rec.seq) } else { String::new() },
                        rec.index.map_or("-".to_string(), |i| i.to_string()),
                        if rec.crc_ok { "ok" } else { "BAD" },
                        decoded.as_deref().map_or(String::new(), |d| format!(" {d}")),
                    ),
                    Format::Json => writeln!(
                        out,
                        "{}",
                        json!({"chunk": rec.chunk, "offset": rec.offset, "len": rec.len, "group": rec_group,
                           "seq": rec.seq, "kind": kind, "index": rec.index, "crc_ok": rec.crc_ok,
                           "decoded": decoded})
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
