//! Many groups in one chunklog store, measured in one run: reopen time
//! and memory (cold and warm), index bytes per entry, memory per idle
//! group, and bytes on disk against live bytes in the space reclamation
//! scenario, with reclamation on and off.
//!
//! ```sh
//! cargo bench -p chunklog-bench --bench groups                  # the sizes below, a few minutes
//! cargo bench -p chunklog-bench --bench groups -- --quick       # tiny sizes, seconds
//! ```
//!
//! Options (defaults in brackets):
//!
//! - `--data-dir DIR` [`target/bench-data/groups` in the workspace]: where
//!   the stores are written (not tmpfs); each part deletes its store when
//!   it is done;
//! - `--only reopen,idle,reclaim`: run only these parts;
//! - reopen: `--groups N` [1000] x `--entries N` [1000] entries of
//!   `--entry-bytes N` [1024];
//! - idle groups: `--idle N,N` [10000,100000];
//! - reclamation: `--reclaim-groups N` [1000], `--never-purge-percent N`
//!   [10], `--chunk-mib N` [4], `--window N` [16] live entries per purging
//!   group, `--reclaim-mib N` [256] of entries written per run;
//! - `--quick`: tiny sizes for a smoke test.
//!
//! Heap bytes come from a counting global allocator (exact: bytes
//! allocated and not yet freed); RSS from `/proc/self/status`; bytes read
//! from the disk from `/proc/self/io` (`read_bytes`). Every reopen runs in
//! a child process (this binary again, `--child open DIR`), so it starts
//! with a fresh heap. Cold: every chunk file is `fdatasync`ed and then
//! evicted from the page cache with `posix_fadvise(DONTNEED)` (no root
//! needed) before the child opens the store; warm: the child opens it
//! right after the writer closed it.

#[allow(dead_code)]
#[path = "compare/measure.rs"]
mod measure;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chunklog::{ChunkLog, Config};

use crate::measure::Payloads;

// ------------------------------------------------------------ allocator

/// Counts the heap bytes allocated and not freed, and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as it is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap bytes allocated and not freed now.
fn heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new peak measurement from the heap as it is now.
fn reset_peak() {
    PEAK.store(heap(), Ordering::Relaxed);
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Bytes this process caused to be fetched from the storage layer
/// (`/proc/self/io` `read_bytes`): page-cache hits do not count.
fn disk_read_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("read_bytes:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

// ------------------------------------------------------------ arguments

struct Args {
    data_dir: PathBuf,
    only: Option<Vec<String>>,
    groups: u64,
    entries: u64,
    entry_bytes: usize,
    idle: Vec<u64>,
    reclaim_groups: u64,
    never_purge_percent: u64,
    chunk_mib: u64,
    window: u64,
    reclaim_mib: u64,
}

impl Args {
    fn wants(&self, part: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == part))
    }
}

fn parse_args(args: &[String]) -> Result<Args> {
    let mut a = Args {
        // The workspace's `target/`, beside the comparison's data.
        data_dir: Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("target/bench-data/groups"),
        only: None,
        groups: 1000,
        entries: 1000,
        entry_bytes: 1024,
        idle: vec![10_000, 100_000],
        reclaim_groups: 1000,
        never_purge_percent: 10,
        chunk_mib: 4,
        window: 16,
        reclaim_mib: 256,
    };
    let mut it = args.iter();
    let num = |v: Option<&String>, flag: &str| -> Result<u64> {
        v.with_context(|| format!("{flag} needs a number"))?.parse().with_context(|| flag.to_string())
    };
    while let Some(x) = it.next() {
        match x.as_str() {
            "--quick" => {
                a.groups = 20;
                a.entries = 50;
                a.idle = vec![100, 1000];
                a.reclaim_groups = 50;
                a.chunk_mib = 1;
                a.reclaim_mib = 8;
            }
            "--data-dir" => a.data_dir = PathBuf::from(it.next().context("--data-dir needs a path")?),
            "--only" => a.only = Some(it.next().context("--only needs a list")?.split(',').map(String::from).collect()),
            "--groups" => a.groups = num(it.next(), x)?,
            "--entries" => a.entries = num(it.next(), x)?,
            "--entry-bytes" => a.entry_bytes = num(it.next(), x)? as usize,
            "--idle" => {
                let v = it.next().context("--idle needs a list")?;
                a.idle = v.split(',').map(|n| n.parse().context("--idle")).collect::<Result<_>>()?;
            }
            "--reclaim-groups" => a.reclaim_groups = num(it.next(), x)?,
            "--never-purge-percent" => a.never_purge_percent = num(it.next(), x)?,
            "--chunk-mib" => a.chunk_mib = num(it.next(), x)?,
            "--window" => a.window = num(it.next(), x)?,
            "--reclaim-mib" => a.reclaim_mib = num(it.next(), x)?,
            "-h" | "--help" => {
                eprintln!(
                    "groups [--quick] [--data-dir DIR] [--only reopen,idle,reclaim] [--groups N] [--entries N] \
                     [--entry-bytes N] [--idle N,N] [--reclaim-groups N] [--never-purge-percent N] \
                     [--chunk-mib N] [--window N] [--reclaim-mib N]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    ensure!(a.groups > 0 && a.entries > 0 && a.entry_bytes > 0 && a.entry_bytes <= 8192, "sizes out of range");
    ensure!(a.never_purge_percent <= 100 && a.window > 0 && a.chunk_mib > 0, "reclamation settings out of range");
    Ok(a)
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; it means nothing here.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let result = if args.first().map(String::as_str) == Some("--child") { child(&args[1..]) } else { parent(&args) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------ child

/// `--child open DIR`: opens the store in `DIR` with the default
/// configuration and prints `KEY VALUE` lines.
fn child(args: &[String]) -> Result<()> {
    let [what, dir] = args else { bail!("usage: --child open DIR") };
    ensure!(what == "open", "unknown child {what:?}");
    let cfg = Config::new(dir);
    let rss0 = measure::proc_status_bytes("VmRSS");
    let read0 = disk_read_bytes();
    let heap0 = heap();
    reset_peak();
    let t = Instant::now();
    let log = ChunkLog::open(cfg)?;
    let secs = t.elapsed().as_secs_f64();
    let heap1 = heap();
    let peak1 = peak();
    let read1 = disk_read_bytes();
    let rss1 = measure::proc_status_bytes("VmRSS");
    let stats = log.stats();
    let groups = log.groups();
    let entries: u64 = groups.iter().map(|&g| log.group(g).state().entry_count()).sum();
    println!("secs {secs}");
    println!("heap {}", heap1 - heap0);
    println!("heap_peak {}", peak1 - heap0);
    println!("rss {}", rss1.saturating_sub(rss0));
    println!("read {}", read1 - read0);
    println!("index_bytes {}", stats.index_bytes);
    println!("groups {}", groups.len());
    println!("entries {entries}");
    println!("chunks {}", stats.chunks);
    println!("disk {}", stats.disk_bytes);
    log.close()?;
    Ok(())
}

/// What a child reported about one open.
#[derive(Default)]
struct Opened {
    secs: f64,
    heap: u64,
    heap_peak: u64,
    rss: u64,
    read: u64,
    index_bytes: u64,
    groups: u64,
    entries: u64,
    chunks: u64,
    disk: u64,
}

fn open_in_child(dir: &Path) -> Result<Opened> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--child")
        .arg("open")
        .arg(dir)
        .output()
        .context("run the child that opens the store")?;
    ensure!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout)?;
    let mut o = Opened::default();
    for l in text.lines() {
        let (k, v) = l.split_once(' ').with_context(|| format!("child said {l:?}"))?;
        let int = || v.parse::<u64>().with_context(|| format!("child said {l:?}"));
        match k {
            "secs" => o.secs = v.parse()?,
            "heap" => o.heap = int()?,
            "heap_peak" => o.heap_peak = int()?,
            "rss" => o.rss = int()?,
            "read" => o.read = int()?,
            "index_bytes" => o.index_bytes = int()?,
            "groups" => o.groups = int()?,
            "entries" => o.entries = int()?,
            "chunks" => o.chunks = int()?,
            "disk" => o.disk = int()?,
            _ => bail!("child said {l:?}"),
        }
    }
    Ok(o)
}

// ------------------------------------------------------------ parent

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

fn fresh_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let d = root.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d).with_context(|| format!("remove {}", d.display()))?;
    }
    Ok(d)
}

/// Makes every chunk file in `dir` durable, then drops its pages from the
/// page cache (`posix_fadvise(DONTNEED)` drops clean pages only, hence
/// the sync first).
fn evict(dir: &Path) -> Result<u64> {
    let mut bytes = 0;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_none_or(|x| x != "chunk") {
            continue;
        }
        let f = std::fs::File::open(&p).with_context(|| format!("open {}", p.display()))?;
        f.sync_data().with_context(|| format!("fdatasync {}", p.display()))?;
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)
            .with_context(|| format!("fadvise {}", p.display()))?;
        bytes += f.metadata()?.len();
    }
    Ok(bytes)
}

fn parent(args: &[String]) -> Result<()> {
    let a = parse_args(args)?;
    std::fs::create_dir_all(&a.data_dir)?;
    let fs_line = machine(&a.data_dir);
    if fs_line.contains("tmpfs") {
        bail!("{} is on tmpfs: pass --data-dir on a disk", a.data_dir.display());
    }
    let started = Instant::now();
    println!("$ cargo bench -p chunklog-bench --bench groups -- {}", args.join(" "));
    println!("machine: {fs_line}");
    println!();
    if a.wants("reopen") {
        reopen(&a)?;
    }
    if a.wants("idle") {
        idle(&a)?;
    }
    if a.wants("reclaim") {
        reclaim(&a)?;
    }
    println!("total run time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Parts 1 and 2: write `groups x entries` entries, interleaved across
/// groups, and reopen the store warm and cold.
fn reopen(a: &Args) -> Result<()> {
    let dir = fresh_dir(&a.data_dir, "reopen")?;
    let p = Payloads::new();
    let total = a.groups * a.entries;
    eprintln!("reopen: writing {} groups x {} entries of {} B ...", a.groups, a.entries, a.entry_bytes);
    let t = Instant::now();
    {
        let log = ChunkLog::open(Config::new(&dir))?;
        // Rounds of 10 entries per group, every group in turn, one sync per
        // round: each group's entries spread over every chunk, as with
        // many Raft groups writing at once.
        let batch = 10.min(a.entries);
        let mut next = 1;
        while next <= a.entries {
            let end = (next + batch).min(a.entries + 1);
            for g in 1..=a.groups {
                let seed = g.wrapping_mul(1_000_003);
                log.group(g).append((next..end).map(|i| (i, p.get(seed + i, a.entry_bytes))))?;
            }
            log.sync()?;
            next = end;
        }
        log.close()?;
    }
    let write_secs = t.elapsed().as_secs_f64();
    eprintln!("reopen: written in {write_secs:.1} s; warm reopen ...");
    let warm = open_in_child(&dir)?;
    let evicted = evict(&dir)?;
    eprintln!("reopen: evicted {:.0} MiB from the page cache; cold reopen ...", mib(evicted));
    let cold = open_in_child(&dir)?;
    for o in [&warm, &cold] {
        ensure!(o.groups == a.groups && o.entries == total, "reopened {} groups, {} entries", o.groups, o.entries);
    }

    println!(
        "## 1. Reopen: {} groups x {} entries of {} B ({:.0} MiB of payload; {} chunks, {:.0} MiB of chunk files; written in {write_secs:.1} s)",
        a.groups,
        a.entries,
        a.entry_bytes,
        mib(total * a.entry_bytes as u64),
        cold.chunks,
        mib(cold.disk)
    );
    println!();
    println!(
        "| reopen | time (s) | heap after open (MiB) | heap peak during open (MiB) | RSS growth (MiB) | read from disk (MiB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, o) in [("warm (right after close)", &warm), ("cold (chunk files evicted)", &cold)] {
        println!(
            "| {name} | {:.3} | {:.1} | {:.1} | {:.1} | {:.1} |",
            o.secs,
            mib(o.heap),
            mib(o.heap_peak),
            mib(o.rss),
            mib(o.read)
        );
    }
    println!();
    println!("## 2. Index bytes per entry");
    println!();
    println!(
        "`Stats::index_bytes` after the cold reopen / entries: {} / {} = {:.2} bytes per entry \
         (heap after open / entries: {:.2})",
        cold.index_bytes,
        total,
        cold.index_bytes as f64 / total as f64,
        cold.heap as f64 / total as f64
    );
    println!();
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Part 3: heap of a store of N idle groups after reopen, minus an empty
/// store's, per group; two kinds of idle group.
fn idle(a: &Args) -> Result<()> {
    let empty_dir = fresh_dir(&a.data_dir, "idle-empty")?;
    ChunkLog::open(Config::new(&empty_dir))?.close()?;
    let empty = open_in_child(&empty_dir)?;
    ensure!(empty.groups == 0, "the empty store has {} groups", empty.groups);
    std::fs::remove_dir_all(&empty_dir)?;
    // An openraft 0.10 vote (term, node id, committed) encodes to a few
    // bytes with bincode; 16 is generous. A purge keeps a log id, as
    // the adapters store it.
    let vote = [7u8; 16];
    let purged_log_id = [9u8; 16];
    let mut rows = Vec::new();
    for &n in &a.idle {
        for kind in ["vote", "purged"] {
            let dir = fresh_dir(&a.data_dir, &format!("idle-{kind}-{n}"))?;
            eprintln!("idle: {n} groups ({kind}) ...");
            {
                let log = ChunkLog::open(Config::new(&dir))?;
                for g in 1..=n {
                    let grp = log.group(g);
                    match kind {
                        "vote" => grp.write_vote(&vote)?,
                        _ => {
                            grp.append([(1, b"entry")])?;
                            grp.purge(1, &purged_log_id)?;
                        }
                    }
                }
                log.close()?;
            }
            let o = open_in_child(&dir)?;
            ensure!(o.groups == n && o.entries == 0, "reopened {} groups, {} entries", o.groups, o.entries);
            rows.push((n, kind, o));
            std::fs::remove_dir_all(&dir)?;
        }
    }
    println!("## 3. Memory per idle group");
    println!();
    println!(
        "Heap after reopening a store of N idle groups, minus after reopening an empty store ({} B), divided by N. \
         Idle \"vote\": the group wrote one 16-byte vote and nothing else; idle \"purged\": it appended one \
         entry and purged it (16-byte purge meta), so it holds a purge point and no entry.",
        empty.heap
    );
    println!();
    println!("| idle groups | idle kind | heap after open (MiB) | per group (B) | reopen (s) |");
    println!("|---:|---|---:|---:|---:|");
    for (n, kind, o) in rows {
        println!(
            "| {n} | {kind} | {:.2} | {:.0} | {:.3} |",
            mib(o.heap),
            (o.heap as f64 - empty.heap as f64) / n as f64,
            o.secs
        );
    }
    println!();
    Ok(())
}

/// One run of the reclamation scenario.
struct ReclaimRun {
    percent: u32,
    written: u64,
    rounds: u64,
    secs: f64,
    end: chunklog::Stats,
    du: u64,
    /// The most bytes on disk after any round, and the live bytes then.
    peak: (u64, u64),
    /// Rounds after which the disk held more than 2 x live + 2 chunks.
    over: u64,
}

/// Part 4: groups append and purge, a tenth never purge; bytes on disk
/// against live bytes with reclamation at `percent` (0: off).
fn reclaim_run(a: &Args, percent: u32) -> Result<ReclaimRun> {
    let dir = fresh_dir(&a.data_dir, &format!("reclaim-{percent}"))?;
    let chunk = a.chunk_mib << 20;
    let cfg = Config::new(&dir).chunk_max_size(chunk).reclaim_percent(percent);
    let log = ChunkLog::open(cfg)?;
    let p = Payloads::new();
    let len = a.entry_bytes;
    // Every tenth group (with the default 10%) never purges: it appends a
    // window of entries first, then nothing.
    let never = |g: u64| (g * a.never_purge_percent) % 100 < a.never_purge_percent;
    let bound = |s: &chunklog::Stats| 2 * s.live_bytes + 2 * chunk;
    let t = Instant::now();
    let mut written = 0u64;
    for g in 1..=a.reclaim_groups {
        log.group(g).append((1..=a.window).map(|i| (i, p.get(g * 7919 + i, len))))?;
        written += a.window * len as u64;
    }
    log.sync()?;
    let (mut rounds, mut peak, mut over) = (0, (0, 0), 0);
    let per_round = 4;
    let target = a.reclaim_mib << 20;
    let mut last = a.window;
    while written < target {
        for g in (1..=a.reclaim_groups).filter(|&g| !never(g)) {
            let grp = log.group(g);
            grp.append((last + 1..=last + per_round).map(|i| (i, p.get(g * 7919 + i, len))))?;
            grp.purge(last + per_round - a.window, b"purged")?;
            written += per_round * len as u64;
        }
        last += per_round;
        log.sync()?;
        rounds += 1;
        let s = log.stats();
        if s.disk_bytes > peak.0 {
            peak = (s.disk_bytes, s.live_bytes);
        }
        if s.disk_bytes > bound(&s) {
            over += 1;
        }
        if rounds % 10 == 0 {
            eprintln!(
                "reclaim {percent}%: {:.0} MiB written, disk {:.1} MiB, live {:.1} MiB",
                mib(written),
                mib(s.disk_bytes),
                mib(s.live_bytes)
            );
        }
    }
    // Let the purge and reclamation threads finish: until the bytes on
    // disk stay the same for half a second (at most 10 s).
    log.sync()?;
    let settle = Instant::now();
    let mut same_since = Instant::now();
    let mut disk = log.stats().disk_bytes;
    while settle.elapsed() < Duration::from_secs(10) && same_since.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(50));
        let s = log.stats();
        if s.disk_bytes != disk || s.purges_pending > 0 {
            disk = s.disk_bytes;
            same_since = Instant::now();
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let end = log.stats();
    let du = measure::disk_usage(&dir)?;
    log.close()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(ReclaimRun { percent, written, rounds, secs, end, du, peak, over })
}

fn reclaim(a: &Args) -> Result<()> {
    let mut runs = Vec::new();
    for percent in [200, 0] {
        eprintln!("reclaim: reclaim_percent {percent} ...");
        runs.push(reclaim_run(a, percent)?);
    }
    let never = (1..=a.reclaim_groups).filter(|g| (g * a.never_purge_percent) % 100 < a.never_purge_percent).count();
    println!("## 4. Space reclamation");
    println!();
    println!(
        "{} groups, {never} of them never purge (they append {} entries of {} B first, then nothing); the others \
         append 4 entries per round and purge all but their last {}, one sync per round, until {} MiB of entries \
         were written; {} MiB chunks. \"End\" is after the last round, once the chunk files stopped changing. \
         Target: disk <= 2 x live + 2 chunks.",
        a.reclaim_groups, a.window, a.entry_bytes, a.window, a.reclaim_mib, a.chunk_mib
    );
    println!();
    println!(
        "| reclaim_percent | written (MiB) | rounds | time (s) | end: chunk files (MiB) | end: du (MiB) | end: live (MiB) | \
         2 x live + 2 chunks (MiB) | end within | chunks | copied entries | copied (MiB) | peak chunk files (MiB), live then | rounds over target |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|");
    let chunk = a.chunk_mib << 20;
    for r in &runs {
        let s = &r.end;
        let bound = 2 * s.live_bytes + 2 * chunk;
        println!(
            "| {}{} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.1} | {:.1}, {:.1} | {} of {} |",
            r.percent,
            if r.percent == 0 { " (off)" } else { "" },
            mib(r.written),
            r.rounds,
            r.secs,
            mib(s.disk_bytes),
            mib(r.du),
            mib(s.live_bytes),
            mib(bound),
            if s.disk_bytes <= bound { "yes" } else { "no" },
            s.chunks,
            s.copied_entries,
            mib(s.copied_bytes),
            mib(r.peak.0),
            mib(r.peak.1),
            r.over,
            r.rounds
        );
    }
    println!();
    Ok(())
}

fn machine(data: &Path) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let data = data.canonicalize().unwrap_or_else(|_| data.to_path_buf());
    let fs = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 3 && data.starts_with(f[1])).then(|| (f[1].len(), format!("{} on {} ({})", f[2], f[0], f[1])))
        })
        .max()
        .map_or_else(|| "unknown".into(), |(_, s)| s);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split(' ').take(3).collect();
    format!("{cpus} CPUs, Linux {}, data on {fs}, load average {}", kernel.trim(), load.join(" "))
}
