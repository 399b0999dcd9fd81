//! Many Raft groups at once (`--only groups`): G groups, each with ONE
//! outstanding durable 256 B append at a time, on
//!
//! - `shared`: groups of one chunklog store (`log.group(g)`), one flush
//!   thread and one `fdatasync` for all of them;
//! - `separate`: one chunklog store (directory) per group;
//! - `raft-engine`: one engine, one region per group (its multi-Raft mode),
//!   every write synced;
//! - `raft-log`: one raft-log store per group (syncing at once).
//!
//! Three drivers: `t`, one thread per group (append, wait until durable,
//! repeat); `r4`, 4 threads each owning a quarter of the groups and keeping
//! one append outstanding per group, chunklog and raft-log via a flush
//! callback per append that sends the group back on the thread's channel
//! (raft-engine, which has no asynchronous flush, runs `b4` here); `b4`,
//! the same 4 threads writing one entry for every group they own per round
//! and waiting until all are durable: chunklog's shared log with one
//! `sync`, separate stores with a flush callback each, raft-engine with
//! one `LogBatch` across regions, synced (as a multi-Raft node writes its
//! ready groups).
//!
//! Also: RSS of a store of N idle groups after reopen, and the cold reopen
//! of 1,000 groups x 1,000 entries of 1 KiB.

use std::fmt::Write;
use std::path::Path;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::measure::{self, Payloads};
use crate::report::{Outcome, Results, num};
use crate::stores::{self, Done, Options, Store, System};
use crate::workloads::{Report, SMALL};

// ------------------------------------------------------------ fsync count

/// `fdatasync` + `fsync` calls made by this process, by any library.
static SYNC_CALLS: AtomicU64 = AtomicU64::new(0);

/// Interposes libc's `fdatasync` for this executable: every library here
/// (std's `File::sync_data`, nix in raft-engine) calls it through libc,
/// so this counts the syncs of every system alike. It makes the system
/// call itself (which sets `errno` as libc's would).
#[unsafe(no_mangle)]
pub extern "C" fn fdatasync(fd: libc::c_int) -> libc::c_int {
    SYNC_CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the system call takes a descriptor and touches no memory.
    unsafe { libc::syscall(libc::SYS_fdatasync, fd) as libc::c_int }
}

/// The same for `fsync` (std's `File::sync_all`: directories, new files).
#[unsafe(no_mangle)]
pub extern "C" fn fsync(fd: libc::c_int) -> libc::c_int {
    SYNC_CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_fsync, fd) as libc::c_int }
}

pub fn sync_calls() -> u64 {
    SYNC_CALLS.load(Ordering::Relaxed)
}

// ------------------------------------------------------------ sizes

/// Sizes of the groups workloads.
#[derive(Clone, Debug)]
pub struct GroupSizes {
    pub counts: Vec<usize>,
    /// Separate stores (chunklog and raft-log) run up to this many groups.
    pub separate_max: usize,
    pub warmup: Duration,
    pub window: Duration,
    pub idle_groups: u64,
    pub reopen_groups: u64,
    pub reopen_entries: u64,
    pub reopen_entry_len: usize,
    pub file_bytes: u64,
}

impl GroupSizes {
    pub fn full() -> Self {
        GroupSizes {
            counts: vec![1, 16, 256, 4096],
            separate_max: 4096,
            warmup: Duration::from_millis(500),
            window: Duration::from_secs(2),
            idle_groups: 4096,
            reopen_groups: 1000,
            reopen_entries: 1000,
            reopen_entry_len: 1024,
            file_bytes: 64 << 20,
        }
    }

    pub fn quick() -> Self {
        GroupSizes {
            counts: vec![1, 16, 256],
            warmup: Duration::from_millis(50),
            window: Duration::from_millis(200),
            reopen_groups: 20,
            reopen_entries: 50,
            file_bytes: 1 << 20,
            ..GroupSizes::full()
        }
    }
}

/// Threads of the round-robin driver.
pub const RR_THREADS: usize = 4;

/// The systems of the groups workloads: (name, title).
pub const SYSTEMS: [(&str, &str); 4] = [
    ("shared", "chunklog, one shared log"),
    ("separate", "chunklog, a store per group"),
    ("raft-engine", "raft-engine, a region per group"),
    ("raft-log", "raft-log, a store per group"),
];

/// The drivers: (key, title).
pub const DRIVERS: [(&str, &str); 3] = [
    ("t", "one thread per group"),
    ("r4", "4 threads round-robin, a flush callback per group"),
    ("b4", "4 threads, one batch of all their groups per round"),
];

/// The workload name of G groups under driver `d`.
pub fn workload(g: usize, d: &str) -> String {
    format!("g{g}-{d}")
}

/// Why `system` does not run G groups under `driver`, if it does not.
pub fn skip_reason(system: &str, g: usize, driver: &str, sizes: &GroupSizes) -> Option<String> {
    match (system, driver) {
        ("separate" | "raft-log", _) if g > sizes.separate_max => {
            Some(format!("not run above {} stores", sizes.separate_max))
        }
        // 4,096 writers + 3 threads per store: each thread maps a stack,
        // a signal stack and their guard pages, and 16,384 threads pass
        // vm.max_map_count (65,530): thread creation fails with ENOMEM.
        ("separate", "t") if g >= 4096 => Some("16,384 threads: over vm.max_map_count".into()),
        _ => None,
    }
}

// ------------------------------------------------------------ the systems

/// G groups under test.
trait Groups: Send + Sync {
    /// Appends the next entry of group `g` and returns once it is durable.
    fn append_durable(&self, g: usize, payload: &[u8]) -> Result<()>;

    /// Appends the next entry of group `g`; `done` runs once it is durable.
    fn append_then(&self, g: usize, payload: &[u8], done: Done) -> Result<()>;

    /// Appends one entry to each group of `gs` and returns once all are durable.
    fn append_each_durable(&self, gs: &[usize], payloads: &[&[u8]]) -> Result<()>;

    /// Whether `append_then` is available (else the round-robin driver
    /// uses `append_each_durable`).
    fn asynchronous(&self) -> bool {
        true
    }

    /// The syncs the system itself counted (chunklog's `Stats::fsyncs`).
    fn own_fsyncs(&self) -> Option<u64>;
}

/// Groups 1..=G of one chunklog store.
struct Shared {
    log: chunklog::ChunkLog,
    groups: Vec<(chunklog::ChunkLog, AtomicU64)>,
}

impl Shared {
    fn open(dir: &Path, g: usize, file_bytes: u64) -> Result<Self> {
        let log = chunklog::ChunkLog::open(chunklog::Config::new(dir).chunk_max_size(file_bytes))?;
        let groups = (1..=g as u64).map(|k| (log.group(k), AtomicU64::new(1))).collect();
        Ok(Shared { log, groups })
    }

    fn append(&self, g: usize, payload: &[u8]) -> Result<&chunklog::ChunkLog> {
        let (grp, next) = &self.groups[g];
        // One outstanding append per group: no other thread uses `next` now.
        let i = next.fetch_add(1, Ordering::Relaxed);
        grp.append([(i, payload)])?;
        Ok(grp)
    }
}

impl Groups for Shared {
    fn append_durable(&self, g: usize, payload: &[u8]) -> Result<()> {
        self.append(g, payload)?.sync()?;
        Ok(())
    }

    fn append_then(&self, g: usize, payload: &[u8], done: Done) -> Result<()> {
        self.append(g, payload)?.flush(Box::new(move |r| r.map_or_else(|e| panic!("flush failed: {e}"), |()| done())));
        Ok(())
    }

    fn append_each_durable(&self, gs: &[usize], payloads: &[&[u8]]) -> Result<()> {
        // One hold of the engine's locks for the whole round
        // (`append_groups`), as raft-engine writes a round as one batch.
        let entries = gs.iter().zip(payloads).map(|(&g, p)| {
            let (_, next) = &self.groups[g];
            (g as u64 + 1, next.fetch_add(1, Ordering::Relaxed), *p)
        });
        self.log.append_groups(entries)?;
        self.log.sync()?;
        Ok(())
    }

    fn own_fsyncs(&self) -> Option<u64> {
        Some(self.log.stats().fsyncs)
    }
}

/// One store of the bench's engine interface per group.
struct Separate {
    stores: Vec<Box<dyn Store>>,
}

impl Groups for Separate {
    fn append_durable(&self, g: usize, payload: &[u8]) -> Result<()> {
        self.stores[g].append_durable(0, &[payload])
    }

    fn append_then(&self, g: usize, payload: &[u8], done: Done) -> Result<()> {
        self.stores[g].append_then(payload, done)
    }

    fn append_each_durable(&self, gs: &[usize], payloads: &[&[u8]]) -> Result<()> {
        // Every store's append and flush first, then wait for all of them.
        let (tx, rx) = channel();
        for (g, p) in gs.iter().zip(payloads) {
            let tx = tx.clone();
            self.stores[*g].append_then(
                p,
                Box::new(move || {
                    let _ = tx.send(());
                }),
            )?;
        }
        for _ in gs {
            rx.recv_timeout(Duration::from_secs(60)).map_err(|_| anyhow!("no flush callback for 60 s"))?;
        }
        Ok(())
    }

    fn own_fsyncs(&self) -> Option<u64> {
        self.stores.iter().map(|s| s.fsyncs()).sum()
    }
}

/// One raft-engine, region `g + 1` for group `g`.
struct Engine {
    store: Box<dyn Store>,
}

impl Groups for Engine {
    fn append_durable(&self, g: usize, payload: &[u8]) -> Result<()> {
        self.store.append_durable(g, &[payload])
    }

    fn append_then(&self, _g: usize, _payload: &[u8], _done: Done) -> Result<()> {
        bail!("raft-engine has no asynchronous flush")
    }

    fn append_each_durable(&self, gs: &[usize], payloads: &[&[u8]]) -> Result<()> {
        self.store.append_regions_durable(gs, payloads)
    }

    fn asynchronous(&self) -> bool {
        false
    }

    fn own_fsyncs(&self) -> Option<u64> {
        None
    }
}

fn options(file_bytes: u64) -> Options {
    Options {
        file_bytes,
        cache: true,
        entry_len: SMALL,
        prezero_bytes: 0,
        // One outstanding flush per store: syncing at once is raft-log's best.
        raft_log_wait: Duration::ZERO,
    }
}

fn open(system: &str, dir: &Path, g: usize, file_bytes: u64) -> Result<Box<dyn Groups>> {
    let opt = options(file_bytes);
    let separate = |s: System| -> Result<Box<dyn Groups>> {
        let stores = (0..g).map(|k| stores::open(s, &dir.join(format!("g{k}")), &opt)).collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Separate { stores }))
    };
    Ok(match system {
        "shared" => Box::new(Shared::open(dir, g, file_bytes)?),
        "separate" => separate(System::Chunklog)?,
        "raft-log" => separate(System::RaftLog)?,
        "raft-engine" => Box::new(Engine { store: stores::open(System::RaftEngine, dir, &opt)? }),
        _ => bail!("unknown groups system {system:?}"),
    })
}

// ------------------------------------------------------------ the cells

/// Threads of this process now.
fn threads() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Open file descriptors of this process now.
fn open_files() -> u64 {
    // Minus the one reading the directory.
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64).saturating_sub(1)
}

/// Shared state of one throughput cell's driver threads.
struct Run {
    stop: AtomicBool,
    measuring: AtomicBool,
    completed: AtomicU64,
}

/// `--child gG-D SYSTEM DIR`: G groups, driver D.
pub fn throughput(workload: &str, system: &str, dir: &Path, sizes: &GroupSizes, out: &mut Report) -> Result<()> {
    let (g, driver) = workload
        .strip_prefix('g')
        .and_then(|w| w.split_once('-'))
        .ok_or_else(|| anyhow!("bad groups workload {workload:?}"))?;
    let g: usize = g.parse().context("groups")?;
    let p = Payloads::new();
    let f_open = sync_calls();
    let t_open = Instant::now();
    let store = open(system, dir, g, sizes.file_bytes)?;
    out.value("g.open_secs", t_open.elapsed().as_secs_f64());
    let run = Run { stop: AtomicBool::new(false), measuring: AtomicBool::new(false), completed: AtomicU64::new(0) };
    let drivers = match driver {
        "t" => g,
        "r4" | "b4" => RR_THREADS.min(g),
        _ => bail!("unknown driver {driver:?}"),
    };
    let barrier = Barrier::new(drivers + 1);
    let (store, run, p, barrier) = (&*store, &run, &p, &barrier);
    let (lats, window, fsyncs, own, sampled) = std::thread::scope(|s| -> Result<_> {
        let mut handles = Vec::with_capacity(drivers);
        for d in 0..drivers {
            // The groups this thread drives: d, d + drivers, ...
            let mine: Vec<usize> = (d..g).step_by(drivers).collect();
            let h = std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn_scoped(s, move || -> Result<Vec<u64>> {
                    barrier.wait();
                    if mine.len() == 1 {
                        one_group(store, run, p, mine[0])
                    } else if store.asynchronous() && driver == "r4" {
                        round_robin(store, run, p, &mine)
                    } else {
                        batches(store, run, p, &mine)
                    }
                })
                .context("spawn a driver thread")?;
            handles.push(h);
        }
        barrier.wait();
        std::thread::sleep(sizes.warmup);
        let (c0, f0, o0) = (run.completed.load(Ordering::Relaxed), sync_calls(), store.own_fsyncs());
        let t0 = Instant::now();
        run.measuring.store(true, Ordering::Relaxed);
        std::thread::sleep(sizes.window / 2);
        let sampled = (threads(), open_files(), measure::disk_usage(dir).unwrap_or(0));
        std::thread::sleep(sizes.window.saturating_sub(t0.elapsed()));
        let (c1, f1, o1) = (run.completed.load(Ordering::Relaxed), sync_calls(), store.own_fsyncs());
        let window = t0.elapsed();
        run.measuring.store(false, Ordering::Relaxed);
        run.stop.store(true, Ordering::Relaxed);
        let mut lats = Vec::new();
        for h in handles {
            lats.extend(h.join().map_err(|_| anyhow!("driver thread panicked"))??);
        }
        let own = o0.zip(o1).map(|(a, b)| b - a);
        // Both counts from open to now (the snapshots above may lag behind
        // each other: `stats()` waits for the store's lock).
        if let Some(total) = store.own_fsyncs() {
            out.value("g.own_total", total as f64);
            out.value("g.sync_total", (sync_calls() - f_open) as f64);
        }
        Ok(((c1 - c0, lats), window, f1 - f0, own, sampled))
    })?;
    let ((ops, lats), secs) = (lats, window.as_secs_f64());
    ensure!(ops > 0, "no append completed in the window");
    let mut h = measure::histogram();
    for ns in &lats {
        h.saturating_record(*ns);
    }
    out.value("g.ops", ops as f64 / secs);
    out.value("g.p50", measure::quantile_us(&h, 0.50));
    out.value("g.p99", measure::quantile_us(&h, 0.99));
    out.value("g.fsyncs", fsyncs as f64 / secs);
    out.value("g.per_fsync", ops as f64 / fsyncs.max(1) as f64);
    if let Some(own) = own {
        out.value("g.own_fsyncs", own as f64 / secs);
    }
    let (threads_run, fds, disk) = sampled;
    out.value("g.threads", threads_run as f64);
    out.value("g.drivers", drivers as f64);
    // Besides the drivers and this main thread: the system's own threads.
    out.value("g.store_threads", threads_run.saturating_sub(drivers as u64 + 1) as f64);
    out.value("g.fds", fds as f64);
    out.value("g.disk_mib", disk as f64 / 1048576.0);
    out.peak_rss("rss");
    Ok(())
}

/// One group, one thread: append, wait until durable, repeat. Returns the
/// latencies (ns) of the appends started while measuring.
fn one_group(store: &dyn Groups, run: &Run, p: &Payloads, g: usize) -> Result<Vec<u64>> {
    let mut lats = Vec::new();
    let mut i = g as u64 * 1_000_003;
    while !run.stop.load(Ordering::Relaxed) {
        let measuring = run.measuring.load(Ordering::Relaxed);
        let t = Instant::now();
        store.append_durable(g, p.get(i, SMALL))?;
        let d = t.elapsed();
        run.completed.fetch_add(1, Ordering::Relaxed);
        if measuring {
            lats.push(d.as_nanos() as u64);
        }
        i += 1;
    }
    Ok(lats)
}

/// Several groups, one thread, one append outstanding per group: a flush
/// callback sends the group back on this thread's channel, which appends
/// its next entry.
fn round_robin(store: &dyn Groups, run: &Run, p: &Payloads, mine: &[usize]) -> Result<Vec<u64>> {
    let (tx, rx) = channel::<(usize, Instant, bool)>();
    let mut lats = Vec::new();
    let mut seq = mine[0] as u64 * 1_000_003;
    let issue = |g: usize, seq: u64| -> Result<()> {
        let tx = tx.clone();
        let measuring = run.measuring.load(Ordering::Relaxed);
        let t = Instant::now();
        store.append_then(
            g,
            p.get(seq, SMALL),
            Box::new(move || {
                let _ = tx.send((g, t, measuring));
            }),
        )
    };
    for &g in mine {
        issue(g, seq)?;
        seq += 1;
    }
    let mut outstanding = mine.len();
    while outstanding > 0 {
        let (g, t, measuring) =
            rx.recv_timeout(Duration::from_secs(60)).map_err(|_| anyhow!("no flush callback for 60 s"))?;
        let d = t.elapsed();
        run.completed.fetch_add(1, Ordering::Relaxed);
        if measuring {
            lats.push(d.as_nanos() as u64);
        }
        if run.stop.load(Ordering::Relaxed) {
            outstanding -= 1;
        } else {
            issue(g, seq)?;
            seq += 1;
        }
    }
    Ok(lats)
}

/// Several groups, one thread, for a system without an asynchronous flush:
/// one entry for every group in one synced write, repeated.
fn batches(store: &dyn Groups, run: &Run, p: &Payloads, mine: &[usize]) -> Result<Vec<u64>> {
    let mut lats = Vec::new();
    let mut seq = mine[0] as u64 * 1_000_003;
    while !run.stop.load(Ordering::Relaxed) {
        let payloads: Vec<&[u8]> = mine.iter().map(|_| p.get(seq, SMALL)).collect();
        seq += 1;
        let measuring = run.measuring.load(Ordering::Relaxed);
        let t = Instant::now();
        store.append_each_durable(mine, &payloads)?;
        let d = t.elapsed().as_nanos() as u64;
        run.completed.fetch_add(mine.len() as u64, Ordering::Relaxed);
        if measuring {
            lats.extend(std::iter::repeat_n(d, mine.len()));
        }
    }
    Ok(lats)
}

/// `--child idle-write shared DIR`: a store of N idle groups, each with one
/// 256 B entry and a vote.
pub fn idle_write(dir: &Path, sizes: &GroupSizes, out: &mut Report) -> Result<()> {
    let p = Payloads::new();
    let log = chunklog::ChunkLog::open(chunklog::Config::new(dir).chunk_max_size(sizes.file_bytes))?;
    let rss0 = measure::proc_status_bytes("VmRSS");
    for g in 1..=sizes.idle_groups {
        let grp = log.group(g);
        grp.append([(1, p.get(g, SMALL))])?;
        grp.write_vote(&[7u8; 16])?;
    }
    log.sync()?;
    let rss1 = measure::proc_status_bytes("VmRSS");
    out.value("idle.groups", sizes.idle_groups as f64);
    out.value("idle.write_rss_mib", rss1.saturating_sub(rss0) as f64 / 1048576.0);
    log.close()?;
    Ok(())
}

/// `--child idle-open shared DIR`: RSS after opening the store in DIR (an
/// empty store if there is none) and one sync.
pub fn idle_open(dir: &Path, out: &mut Report) -> Result<()> {
    let log = chunklog::ChunkLog::open(chunklog::Config::new(dir))?;
    log.sync()?;
    out.value("idle.rss_mib", measure::proc_status_bytes("VmRSS") as f64 / 1048576.0);
    out.value("idle.groups", log.groups().len() as f64);
    out.value("idle.index_bytes", log.stats().index_bytes as f64);
    log.close()?;
    Ok(())
}

/// `--child reopen-write shared DIR`: groups x entries of the reopen size,
/// in rounds of 10 entries per group, one sync per round (every group's
/// entries spread over every chunk, as with many groups writing at once).
pub fn reopen_write(dir: &Path, sizes: &GroupSizes, out: &mut Report) -> Result<()> {
    let p = Payloads::new();
    let log = chunklog::ChunkLog::open(chunklog::Config::new(dir))?;
    let t = Instant::now();
    let mut next = 1;
    while next <= sizes.reopen_entries {
        let end = (next + 10).min(sizes.reopen_entries + 1);
        for g in 1..=sizes.reopen_groups {
            let seed = g.wrapping_mul(1_000_003);
            log.group(g).append((next..end).map(|i| (i, p.get(seed + i, sizes.reopen_entry_len))))?;
        }
        log.sync()?;
        next = end;
    }
    log.close()?;
    out.value("reopen.write_secs", t.elapsed().as_secs_f64());
    out.value("reopen.disk_mib", measure::disk_usage(dir)? as f64 / 1048576.0);
    Ok(())
}

/// `--child reopen-open shared DIR`: the time and memory to open the store.
pub fn reopen_open(dir: &Path, sizes: &GroupSizes, out: &mut Report) -> Result<()> {
    let rss0 = measure::proc_status_bytes("VmRSS");
    let t = Instant::now();
    let log = chunklog::ChunkLog::open(chunklog::Config::new(dir))?;
    let secs = t.elapsed().as_secs_f64();
    let rss1 = measure::proc_status_bytes("VmRSS");
    let groups = log.groups();
    let entries: u64 = groups.iter().map(|&g| log.group(g).state().entry_count()).sum();
    ensure!(
        groups.len() as u64 == sizes.reopen_groups && entries == sizes.reopen_groups * sizes.reopen_entries,
        "reopened {} groups, {entries} entries",
        groups.len()
    );
    out.value("reopen.secs", secs);
    out.value("reopen.groups", groups.len() as f64);
    out.value("reopen.entries", entries as f64);
    out.value("reopen.rss_growth_mib", rss1.saturating_sub(rss0) as f64 / 1048576.0);
    out.peak_rss("rss");
    log.close()?;
    Ok(())
}

/// Whether `workload` is one of this module's.
pub fn is_groups_workload(workload: &str) -> bool {
    let rest = workload.strip_prefix('g').unwrap_or("");
    rest.starts_with(|c: char| c.is_ascii_digit()) || rest.starts_with("idle-") || rest.starts_with("reopen-")
}

/// Runs one cell of this module in this (child) process.
pub fn cell(workload: &str, system: &str, dir: &Path, sizes: &GroupSizes, out: &mut Report) -> Result<()> {
    match workload {
        "gidle-write" => idle_write(dir, sizes, out),
        "gidle-empty" | "gidle-open" => idle_open(dir, out),
        "greopen-write" => reopen_write(dir, sizes, out),
        "greopen-cold" | "greopen-warm" => reopen_open(dir, sizes, out),
        _ => throughput(workload, system, dir, sizes, out),
    }
}

// ------------------------------------------------------------ tables

/// The group counts any run may have measured.
pub const ALL_COUNTS: [usize; 4] = [1, 16, 256, 4096];

/// The groups tables as Markdown: one per driver, then idle groups and reopen.
pub fn tables(r: &Results, reps: usize) -> String {
    let int = |x: f64| format!("{x:.0}");
    let mut s = String::new();
    for (d, title) in DRIVERS {
        let _ = writeln!(
            s,
            "### Many groups, {title}: one outstanding durable 256 B append per group (median of {reps} runs)\n"
        );
        s.push_str(
            "| groups | system | appends/s | p50 µs | p99 µs | fsyncs/s | appends per fsync | threads: process (system's own) \
             | open files | peak RSS MiB | disk MiB | shared log / this (appends/s) | runs: slowest - fastest appends/s |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for g in ALL_COUNTS {
            let w = workload(g, d);
            if r.outcome(&w, "shared").is_none() {
                continue;
            }
            let shared = r.value(&w, "shared", "g.ops");
            for (sys, name) in SYSTEMS {
                let v = |k: &str| r.value(&w, sys, k);
                let _ = write!(s, "| {g} | {name} |");
                match r.outcome(&w, sys) {
                    Some(Outcome::Done { .. }) => {
                        let f = |k: &str| v(k).map_or_else(|| "-".to_string(), num);
                        let threads = match (v("g.threads"), v("g.store_threads")) {
                            (Some(t), Some(o)) => format!("{t:.0} ({o:.0})"),
                            _ => "-".into(),
                        };
                        let ratio = match (shared, v("g.ops")) {
                            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                            _ => String::new(),
                        };
                        let spread = match (v("runs.min"), v("runs.max")) {
                            (Some(lo), Some(hi)) => format!("{} - {}", num(lo), num(hi)),
                            _ => String::new(),
                        };
                        let _ = writeln!(
                            s,
                            " {} | {} | {} | {} | {} | {threads} | {} | {} | {} | {ratio} | {spread} |",
                            f("g.ops"),
                            f("g.p50"),
                            f("g.p99"),
                            f("g.fsyncs"),
                            f("g.per_fsync"),
                            v("g.fds").map_or_else(|| "-".to_string(), int),
                            f("rss"),
                            f("g.disk_mib"),
                        );
                    }
                    Some(Outcome::Skipped(why)) => {
                        let _ = writeln!(s, " {why} |{}", " |".repeat(10));
                    }
                    Some(Outcome::Failed(_)) => {
                        let _ = writeln!(s, " failed |{}", " |".repeat(10));
                    }
                    None => {
                        let _ = writeln!(s, " not run |{}", " |".repeat(10));
                    }
                }
            }
        }
        s.push('\n');
    }
    // chunklog's own count against the interposed libc count.
    let mut worst: f64 = 0.0;
    for g in ALL_COUNTS {
        for (d, _) in DRIVERS {
            for sys in ["shared", "separate"] {
                let w = workload(g, d);
                if let (Some(a), Some(b)) = (r.value(&w, sys, "g.own_total"), r.value(&w, sys, "g.sync_total"))
                    && b > 0.0
                {
                    worst = worst.max((a - b).abs() / b);
                }
            }
        }
    }
    let _ = writeln!(
        s,
        "fsyncs/s counts every `fdatasync` and `fsync` call of the process (libc's, interposed by the benchmark); \
         for chunklog, from open to the end of a cell, it differs from its own `Stats::fsyncs` by at most {:.1}% in this run.\n",
        worst * 100.0
    );
    let v = |w: &str, k: &str| r.value(w, "shared", k);
    let _ = writeln!(s, "### Idle groups and reopen (chunklog, one shared log)\n");
    s.push_str("| measurement | value |\n|---|---:|\n");
    let mut row = |label: String, x: Option<f64>| {
        let _ = writeln!(s, "| {label} | {} |", x.map_or_else(|| "-".into(), num));
    };
    let idle = v("gidle-open", "idle.groups").unwrap_or(0.0);
    row("RSS after opening an empty store and one sync: MiB".into(), v("gidle-empty", "idle.rss_mib"));
    row(format!("RSS after opening a store of {} idle groups (one entry and a vote each): MiB", num(idle)), {
        v("gidle-open", "idle.rss_mib")
    });
    let added = v("gidle-open", "idle.rss_mib").zip(v("gidle-empty", "idle.rss_mib")).map(|(a, b)| a - b);
    row(format!("added by {} idle groups: MiB", num(idle)), added);
    row("added per idle group: bytes".into(), added.map(|m| m * 1048576.0 / idle.max(1.0)));
    row(
        format!("RSS growth while writing those {} groups in one process: MiB", num(idle)),
        v("gidle-write", "idle.write_rss_mib"),
    );
    let (rg, re) = (v("greopen-cold", "reopen.groups"), v("greopen-cold", "reopen.entries"));
    let what = match (rg, re) {
        (Some(g), Some(e)) => format!("{} groups x {} entries of 1 KiB", int(g), int(e / g.max(1.0))),
        _ => "groups".into(),
    };
    row(
        format!("write {what}, rounds of 10 entries per group, a sync per round: s"),
        v("greopen-write", "reopen.write_secs"),
    );
    row("  its chunk files: MiB".into(), v("greopen-write", "reopen.disk_mib"));
    row(format!("reopen {what}, cold (page cache dropped): s"), v("greopen-cold", "reopen.secs"));
    row("  RSS growth during the cold reopen: MiB".into(), v("greopen-cold", "reopen.rss_growth_mib"));
    row("  peak RSS of the cold reopen: MiB".into(), v("greopen-cold", "rss"));
    row(format!("reopen {what}, warm: s"), v("greopen-warm", "reopen.secs"));
    s
}
