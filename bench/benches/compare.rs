//! Compares chunklog with its peers (raft-log, raft-engine, hiqlite-wal)
//! and with the raw disk (a plain `pwrite` + `fdatasync` loop).
//!
//! ```sh
//! cargo bench -p chunklog-bench             # full run, about 5 min
//! cargo bench -p chunklog-bench -- --quick  # every workload, tiny sizes
//! ```
//!
//! Progress goes to stderr, Markdown tables to stdout. Every (workload,
//! system) cell runs in its own child process (this binary, re-executed
//! with `--child`), so each cell starts with a clean heap and reports its
//! own peak RSS (`VmHWM`), and page-cache state is controlled between
//! cells. Options:
//!
//! - `--quick`: tiny sizes, seconds in all;
//! - `--reps N`: runs of each short write cell, the median reported
//!   (default 5, 1 with `--quick`);
//! - `--only a,b`: run only these groups: `serial`, `group`, `pipelined`,
//!   `bulk`, `fresh`, `biglog`, `adapters`, `groups` (many Raft groups:
//!   see `compare/multi.rs`); `single` stands for all but `groups`;
//! - `--data-dir DIR`: where logs are written (default `target/bench-data`
//!   in the workspace; must not be tmpfs);
//! - `--svg FILE`: where to write the chart (default `DATA_DIR/bench.svg`);
//!   the groups chart goes next to it, as `<stem>-groups.svg`.

#[path = "compare/adapters.rs"]
mod adapters;
#[path = "compare/chart.rs"]
mod chart;
#[path = "compare/measure.rs"]
mod measure;
#[path = "compare/multi.rs"]
mod multi;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/stores.rs"]
mod stores;
#[path = "compare/workloads.rs"]
mod workloads;

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::adapters::{Adapter, Opened};
use crate::measure::Payloads;
use crate::report::{Outcome, Results};
use crate::stores::{Options, RAW_FRAME_OVERHEAD, System};
use crate::workloads::{LARGE, Report, SMALL, Sizes};

/// Longest a child may run before it is killed and its cell marked failed.
const CHILD_TIMEOUT: Duration = Duration::from_secs(480);

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

// ------------------------------------------------------------------ child

/// `--child WORKLOAD SYSTEM DIR [--quick]`: runs one cell and prints
/// `value KEY NUMBER` and `note KEY TEXT` lines on stdout.
fn child(args: &[String]) -> Result<()> {
    let [workload, system, dir, rest @ ..] = args else { bail!("usage: --child WORKLOAD SYSTEM DIR [--quick]") };
    let sizes = if rest.iter().any(|a| a == "--quick") { Sizes::quick() } else { Sizes::full() };
    let dir = Path::new(dir);
    let mut out = Report::default();
    if multi::is_groups_workload(workload) {
        let gs =
            if rest.iter().any(|a| a == "--quick") { multi::GroupSizes::quick() } else { multi::GroupSizes::full() };
        if workload == "greopen-cold" {
            make_cold(dir, "cold", &mut out)?;
        }
        multi::cell(workload, system, dir, &gs, &mut out)?;
    } else if let Some(w) = workload.strip_prefix("a-") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(adapter_cell(w, Adapter::parse(system)?, dir, &sizes, &mut out))?;
    } else {
        engine_cell(workload, System::parse(system)?, dir, &sizes, &mut out)?;
    }
    for (k, v) in &out.values {
        println!("value {k} {v}");
    }
    for (k, v) in &out.notes {
        println!("note {k} {v}");
    }
    Ok(())
}

fn engine_cell(workload: &str, system: System, dir: &Path, sizes: &Sizes, out: &mut Report) -> Result<()> {
    let p = Payloads::new();
    let frame = |len: usize| (len + RAW_FRAME_OVERHEAD) as u64;
    let opt = |entry_len: usize, entries: u64, cache: bool| Options {
        file_bytes: sizes.file_bytes,
        cache,
        entry_len,
        prezero_bytes: entries * frame(entry_len),
        // A lone writer: raft-log's best is to sync at once.
        raft_log_wait: Duration::ZERO,
    };
    match workload {
        "serial" => {
            let store = stores::open(system, dir, &opt(SMALL, sizes.serial_ops, true))?;
            workloads::serial(&*store, &p, sizes.serial_ops, SMALL, out)?;
        }
        "group" | "pipelined" => {
            let ops = match workload {
                "group" => sizes.group_ops_per_thread * sizes.group_threads as u64,
                _ => sizes.pipelined_ops,
            };
            // Several flushes outstanding: raft-log batches them only with a
            // wait (its default is 1 ms); without one its worker syncs each
            // request on its own. For 4 writers run it both ways and keep
            // its better result; pipelined, wait 0 means one fsync per
            // entry (about 5,000/s here), so only its default is run.
            let waits: &[Duration] = match (system, workload) {
                (System::RaftLog, "group") => &[Duration::ZERO, Duration::from_millis(1)],
                (System::RaftLog, _) => &[Duration::from_millis(1)],
                _ => &[Duration::ZERO],
            };
            let mut best: Option<(Duration, Report)> = None;
            for &wait in waits {
                let mut r = Report::default();
                let sub = dir.join(format!("wait-{}us", wait.as_micros()));
                let store = stores::open(system, &sub, &Options { raft_log_wait: wait, ..opt(SMALL, ops, true) })?;
                if workload == "group" {
                    workloads::group(&*store, &p, sizes.group_threads, sizes.group_ops_per_thread, &mut r)?;
                } else {
                    workloads::pipelined(&*store, &p, sizes.pipelined_ops, &mut r)?;
                }
                drop(store);
                std::fs::remove_dir_all(&sub)?;
                let ops_of = |r: &Report| r.values.iter().find(|(k, _)| k.ends_with(".ops")).map_or(0.0, |(_, v)| *v);
                if best.as_ref().is_none_or(|(_, b)| ops_of(&r) > ops_of(b)) {
                    best = Some((wait, r));
                }
            }
            let (wait, r) = best.expect("at least one run");
            out.values.extend(r.values);
            if system == System::RaftLog {
                out.note("wait", format!("flush_batch_wait {} µs", wait.as_micros()));
            }
        }
        "bulk256" | "bulk4k" => {
            let (len, n) = if workload == "bulk256" {
                (SMALL, sizes.bulk_small_entries)
            } else {
                (LARGE, sizes.bulk_large_entries)
            };
            let store = stores::open(system, dir, &opt(len, n, true))?;
            workloads::bulk(&*store, &p, workload, n, len, sizes.batch, out)?;
            out.peak_rss("rss");
            if let Some((bytes, entries)) = store.index_bytes() {
                out.value("index.bpe", bytes as f64 / entries.max(1) as f64);
            }
        }
        "fresh" => {
            let n = sizes.fresh_batches * sizes.batch as u64;
            let store = stores::open(system, dir, &opt(SMALL, n, true))?;
            workloads::fresh(&*store, &p, sizes.fresh_batches, sizes.batch, out)?;
        }
        "ingest" => {
            let store = stores::open(system, dir, &opt(sizes.big_entry_len, sizes.big_entries, true))?;
            workloads::bulk(&*store, &p, "ingest", sizes.big_entries, sizes.big_entry_len, sizes.batch, out)?;
            out.peak_rss("rss");
        }
        "reopen-cold" | "reopen-warm" => {
            if workload == "reopen-cold" {
                make_cold(dir, "cold", out)?;
            }
            let rss0 = measure::proc_status_bytes("VmRSS");
            let t = Instant::now();
            let store = stores::open(system, dir, &opt(sizes.big_entry_len, 0, true))?;
            let secs = t.elapsed().as_secs_f64();
            let rss1 = measure::proc_status_bytes("VmRSS");
            let (first, last) = store.bounds().ok_or_else(|| anyhow!("reopened log is empty"))?;
            out.value("reopen.secs", secs);
            out.value("reopen.entries", (last - first + 1) as f64);
            out.value("reopen.bpe", rss1.saturating_sub(rss0) as f64 / (last - first + 1) as f64);
            out.peak_rss("rss");
        }
        "reads" => {
            let open = || stores::open(system, dir, &opt(sizes.big_entry_len, 0, false));
            for &t in sizes.read_threads {
                // A store of its own for every cold run: its descriptors
                // get no readahead (see `measure::no_readahead`), and the
                // warm runs below open one with readahead as usual.
                let store = open()?;
                let key = format!("cold{t}");
                // Reads spread over the log first, so a store that opens a
                // file on its first read (chunklog) holds all open when
                // they are advised; the eviction below drops what they read.
                let (first, last) = store.bounds().ok_or_else(|| anyhow!("reads: the log is empty"))?;
                let step = ((last - first) / 1024).max(1);
                for i in (first..=last).step_by(step as usize) {
                    store.read(i)?;
                }
                let fds = measure::no_readahead(dir)?;
                out.value(format!("{key}.no_readahead_fds"), fds as f64);
                // After the open and those reads.
                make_cold(dir, &key, out)?;
                workloads::random_reads(&*store, &key, t, sizes.read_time, out)?;
                let p50 = out.values.iter().find(|(k, _)| *k == format!("{key}.p50")).map(|(_, v)| *v);
                if let Some(p50) = p50.filter(|&v| v < measure::COLD_READ_MIN_US) {
                    eprintln!(
                        "warning: {} {key}: p50 {p50:.1} µs is a page-cache hit, not a device read: the row is warm",
                        system.name()
                    );
                }
            }
            let store = open()?;
            measure::warm_page_cache(dir)?;
            for &t in sizes.read_threads {
                workloads::random_reads(&*store, &format!("warm{t}"), t, sizes.read_time, out)?;
            }
        }
        "purge" => {
            let store = stores::open(system, dir, &opt(sizes.big_entry_len, 0, true))?;
            workloads::purge_half(&*store, dir, &p, sizes.purge_baseline_ops, out)?;
        }
        _ => bail!("unknown workload {workload:?}"),
    }
    Ok(())
}

/// Makes the files under `dir` cold right before the cold measurement
/// `key`: drops the page cache where that is permitted (root), then evicts
/// every file with `posix_fadvise(DONTNEED)` and checks it with a few
/// timed reads, recorded as `KEY.probe_us` (the report marks the row warm
/// when they came from the page cache).
fn make_cold(dir: &Path, key: &str, out: &mut Report) -> Result<()> {
    measure::drop_page_cache();
    if let Some(us) = measure::make_cold(dir)? {
        out.value(format!("{key}.probe_us"), us);
        if us < measure::COLD_READ_MIN_US {
            eprintln!(
                "warning: {key}: reads of {} after eviction took {us:.1} µs (a page-cache hit): the row is warm",
                dir.display()
            );
        }
    }
    Ok(())
}

async fn adapter_cell(workload: &str, kind: Adapter, dir: &Path, sizes: &Sizes, out: &mut Report) -> Result<()> {
    let p = Payloads::new();
    match workload {
        "serial" => {
            let mut store = Opened::open(kind, dir, sizes.file_bytes).await?;
            let mut h = measure::histogram();
            let start = Instant::now();
            for i in 1..=sizes.serial_ops {
                let e = store.entries(i, vec![p.string(i, SMALL)]);
                measure::record(&mut h, store.append_durable(e).await?);
            }
            out.latencies("serial", sizes.serial_ops, start.elapsed(), &h);
            store.close().await?;
        }
        "bulk256" | "bulk4k" | "ingest" => {
            let (len, n) = match workload {
                "bulk256" => (SMALL, sizes.bulk_small_entries),
                "bulk4k" => (LARGE, sizes.bulk_large_entries),
                _ => (sizes.big_entry_len, sizes.big_entries),
            };
            let mut store = Opened::open(kind, dir, sizes.file_bytes).await?;
            let mut busy = Duration::ZERO;
            let mut i = 1;
            while i <= n {
                let end = (i + sizes.batch as u64).min(n + 1);
                let e = store.entries(i, (i..end).map(|k| p.string(k, len)).collect());
                busy += store.append_durable(e).await?;
                i = end;
            }
            let key = if workload == "ingest" { "ingest" } else { workload };
            out.value(format!("{key}.eps"), n as f64 / busy.as_secs_f64());
            out.value(format!("{key}.mibs"), (n * len as u64) as f64 / busy.as_secs_f64() / 1048576.0);
            out.peak_rss("rss");
            store.close().await?;
        }
        "reopen-cold" | "reopen-warm" => {
            if workload == "reopen-cold" {
                make_cold(dir, "cold", out)?;
            }
            let t = Instant::now();
            let mut store = Opened::open(kind, dir, sizes.file_bytes).await?;
            let last = store.last_index().await?;
            out.value("reopen.secs", t.elapsed().as_secs_f64());
            out.value("reopen.entries", last.unwrap_or(0) as f64);
            out.peak_rss("rss");
            store.close().await?;
        }
        _ => bail!("unknown adapter workload {workload:?}"),
    }
    Ok(())
}

// ----------------------------------------------------------------- parent

struct Args {
    quick: bool,
    /// Runs of each short write cell; the median is reported.
    reps: usize,
    only: Option<Vec<String>>,
    data_dir: PathBuf,
    svg: Option<PathBuf>,
    /// `--group-counts`: the group counts of `groups` (default 1,16,256,4096).
    group_counts: Option<Vec<usize>>,
}

fn parse_args(args: &[String]) -> Result<Args> {
    let mut a = Args {
        quick: false,
        reps: 0,
        only: None,
        // The workspace's `target/`, where it was when the bench lived in the library.
        data_dir: Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("target").join("bench-data"),
        svg: None,
        group_counts: None,
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--quick" => a.quick = true,
            "--reps" => a.reps = it.next().context("--reps needs a number")?.parse()?,
            "--only" => {
                let v = it.next().context("--only needs a list")?;
                let mut only = Vec::new();
                for g in v.split(',') {
                    match g {
                        "single" => only.extend(SINGLE_LOG_GROUPS.iter().map(|x| x.to_string())),
                        _ => only.push(g.to_string()),
                    }
                }
                a.only = Some(only);
            }
            "--data-dir" => a.data_dir = PathBuf::from(it.next().context("--data-dir needs a path")?),
            "--svg" => a.svg = Some(PathBuf::from(it.next().context("--svg needs a path")?)),
            "--group-counts" => {
                let v = it.next().context("--group-counts needs a list")?;
                a.group_counts =
                    Some(v.split(',').map(|n| n.parse().context("--group-counts")).collect::<Result<_>>()?);
            }
            "-h" | "--help" => {
                eprintln!(
                    "compare [--quick] [--reps N] [--only single|serial,group,pipelined,bulk,fresh,biglog,adapters,groups] [--group-counts 1,16,256,4096] [--data-dir DIR] [--svg FILE]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if a.reps == 0 {
        a.reps = if a.quick { 1 } else { 5 };
    }
    Ok(a)
}

/// What `--only single` stands for: every group of one log per store (all
/// but `groups`).
const SINGLE_LOG_GROUPS: [&str; 7] = ["serial", "group", "pipelined", "bulk", "fresh", "biglog", "adapters"];

/// Why `system` does not run `workload`, if it does not.
fn skip_reason(workload: &str, system: System) -> Option<&'static str> {
    match (workload, system) {
        ("pipelined", System::RaftEngine) => Some("no async flush API"),
        ("reopen-cold" | "reopen-warm", System::Raw) => Some("no index to load"),
        ("fresh" | "ingest" | "reopen-cold" | "reopen-warm" | "reads" | "purge", System::RawPrezeroed) => Some("-"),
        _ => None,
    }
}

struct Runner {
    exe: PathBuf,
    quick: bool,
    results: Results,
    started: Instant,
}

impl Runner {
    /// Runs one cell in a child process and records its outcome.
    fn run(&mut self, workload: &str, system: &str, dir: &Path) {
        let outcome = self.run_once(workload, system, dir);
        self.results.insert(workload, system, outcome);
    }

    /// Runs one cell in a child process and returns its outcome.
    fn run_once(&self, workload: &str, system: &str, dir: &Path) -> Outcome {
        // Write back what earlier cells left dirty, so it does not compete.
        let _ = Command::new("sync").status();
        let t = Instant::now();
        eprint!("[{:>5.0} s] {workload:<12} {system:<14} ", self.started.elapsed().as_secs_f64());
        let outcome = match self.spawn(workload, system, dir) {
            Ok(o) => o,
            Err(e) => Outcome::Failed(format!("{e:#}")),
        };
        match &outcome {
            Outcome::Done { values, .. } => {
                let mut keys: Vec<_> = values.iter().collect();
                keys.sort_by(|a, b| a.0.cmp(b.0));
                let summary: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={}", report::num(**v))).collect();
                eprintln!("{:>6.1} s  {}", t.elapsed().as_secs_f64(), summary.join(" "));
            }
            Outcome::Failed(e) => eprintln!("FAILED: {e}"),
            Outcome::Skipped(_) => eprintln!(),
        }
        outcome
    }

    fn spawn(&self, workload: &str, system: &str, dir: &Path) -> Result<Outcome> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("--child").arg(workload).arg(system).arg(dir);
        if self.quick {
            cmd.arg("--quick");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
        let stdout = child.stdout.take().context("child stdout")?;
        let reader = std::thread::spawn(move || -> Vec<String> {
            std::io::BufReader::new(stdout).lines().map_while(Result::ok).collect()
        });
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break s;
            }
            if start.elapsed() > CHILD_TIMEOUT {
                child.kill()?;
                child.wait()?;
                bail!("timed out after {} s", CHILD_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let lines = reader.join().map_err(|_| anyhow!("reader thread panicked"))?;
        if !status.success() {
            bail!("child exited with {status}");
        }
        let (mut values, mut notes) = (HashMap::new(), HashMap::new());
        for l in lines {
            let mut parts = l.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("value"), Some(k), Some(v)) => {
                    values.insert(k.to_string(), v.parse::<f64>().with_context(|| format!("bad value line {l:?}"))?);
                }
                (Some("note"), Some(k), Some(v)) => {
                    notes.insert(k.to_string(), v.to_string());
                }
                _ => {}
            }
        }
        Ok(Outcome::Done { values, notes })
    }
}

/// Of several runs of one cell, the one with the median throughput (so
/// all of a row's numbers come from one run); a failure if none succeeded.
/// `runs` are in the order they ran: the throughput of run `i` is kept as
/// `run.I`, so a ratio can be taken run by run across systems (the runs
/// are interleaved: run `i` of every system ran in the same round).
fn median_run(mut runs: Vec<Outcome>) -> Outcome {
    let rate = |o: &Outcome| match o {
        Outcome::Done { values, .. } => values
            .iter()
            .find(|(k, _)| k.ends_with(".ops") || k.ends_with(".eps") || k.ends_with(".rps"))
            .map(|(_, v)| *v),
        _ => None,
    };
    let failed = runs.iter().find(|o| rate(o).is_none()).cloned();
    let each: Vec<(usize, f64)> = runs.iter().enumerate().filter_map(|(i, o)| Some((i, rate(o)?))).collect();
    runs.retain(|o| rate(o).is_some());
    if runs.is_empty() {
        return failed.unwrap_or(Outcome::Failed("no run".into()));
    }
    runs.sort_by(|a, b| rate(a).partial_cmp(&rate(b)).unwrap_or(std::cmp::Ordering::Equal));
    let (lo, hi) = (rate(&runs[0]), rate(&runs[runs.len() - 1]));
    let mid = runs.len() / 2;
    let mut median = runs.swap_remove(mid);
    if let (Outcome::Done { values, .. }, Some(lo), Some(hi)) = (&mut median, lo, hi) {
        values.insert("runs.min".into(), lo);
        values.insert("runs.max".into(), hi);
        for (i, v) in each {
            values.insert(format!("run.{i}"), v);
        }
    }
    median
}

/// A fresh, empty directory `name` under `data`.
fn fresh_dir(data: &Path, name: &str) -> Result<PathBuf> {
    let d = data.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    Ok(d)
}

fn remove(dir: &Path) {
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        eprintln!("warning: could not remove {}: {e}", dir.display());
    }
}

/// One line about the machine: CPUs, kernel, the data directory's file system, load.
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
    format!("{cpus} CPUs, Linux {}, data on {fs}, load average {}", kernel.trim(), load())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
}

fn parent(args: &[String]) -> Result<()> {
    let a = parse_args(args)?;
    std::fs::create_dir_all(&a.data_dir)?;
    let fs_line = machine(&a.data_dir);
    if fs_line.contains("tmpfs") {
        bail!("{} is on tmpfs: fsync would cost nothing; pass --data-dir on a disk", a.data_dir.display());
    }
    let wants = |g: &str| a.only.as_ref().is_none_or(|o| o.iter().any(|x| x == g));
    let mut r =
        Runner { exe: std::env::current_exe()?, quick: a.quick, results: Results::default(), started: Instant::now() };
    eprintln!("chunklog compare ({}): {fs_line}", if a.quick { "quick" } else { "full" });
    if !measure::drop_page_cache() {
        eprintln!("note: cannot drop the page cache (not root?): cold cells rely on posix_fadvise(DONTNEED) alone");
    }

    // 1-3 and 5: a fresh log per cell.
    let engine_groups: [(&str, &[&str]); 5] = [
        ("serial", &["serial"]),
        ("group", &["group"]),
        ("pipelined", &["pipelined"]),
        ("bulk", &["bulk256", "bulk4k"]),
        ("fresh", &["fresh"]),
    ];
    for (group, workloads) in engine_groups {
        if !wants(group) {
            continue;
        }
        for w in workloads {
            // Repetitions interleaved across systems, so drift in the
            // disk's speed touches every system alike.
            let mut runs: HashMap<&str, Vec<Outcome>> = HashMap::new();
            for _ in 0..a.reps {
                for s in System::ALL {
                    if skip_reason(w, s).is_some() {
                        continue;
                    }
                    let dir = fresh_dir(&a.data_dir, &format!("{w}-{}", s.name()))?;
                    runs.entry(s.name()).or_default().push(r.run_once(w, s.name(), &dir));
                    remove(&dir);
                }
            }
            for s in System::ALL {
                let o = match skip_reason(w, s) {
                    Some(why) => Outcome::Skipped(why.into()),
                    None => median_run(runs.remove(s.name()).unwrap_or_default()),
                };
                r.results.insert(w, s.name(), o);
            }
        }
    }

    // 4, 6, 7: one big log per system, kept across these cells.
    if wants("biglog") {
        for s in System::ALL {
            let dir = fresh_dir(&a.data_dir, &format!("big-{}", s.name()))?;
            for w in ["ingest", "reopen-cold", "reopen-warm", "reads", "purge"] {
                if let Some(why) = skip_reason(w, s) {
                    r.results.insert(w, s.name(), Outcome::Skipped(why.into()));
                    continue;
                }
                if w == "reopen-cold" {
                    measure::drop_page_cache();
                }
                r.run(w, s.name(), &dir);
                if matches!(r.results.outcome("ingest", s.name()), Some(Outcome::Failed(_))) {
                    break;
                }
            }
            remove(&dir);
        }
    }

    // The openraft adapters: 1, 3 and 6.
    if wants("adapters") {
        for w in ["a-serial", "a-bulk256", "a-bulk4k"] {
            let mut runs: HashMap<&str, Vec<Outcome>> = HashMap::new();
            // hiqlite-wal's bulk runs take long: at most 3 runs here.
            for _ in 0..a.reps.min(3) {
                for ad in Adapter::ALL {
                    let dir = fresh_dir(&a.data_dir, &format!("{w}-{}", ad.name()))?;
                    runs.entry(ad.name()).or_default().push(r.run_once(w, ad.name(), &dir));
                    remove(&dir);
                }
            }
            for (name, v) in runs {
                r.results.insert(w, name, median_run(v));
            }
        }
        for ad in Adapter::ALL {
            let dir = fresh_dir(&a.data_dir, &format!("big-{}", ad.name()))?;
            for w in ["a-ingest", "a-reopen-cold", "a-reopen-warm"] {
                if w == "a-reopen-cold" {
                    measure::drop_page_cache();
                }
                r.run(w, ad.name(), &dir);
            }
            remove(&dir);
        }
    }

    // Many Raft groups: throughput cells interleaved like workloads 1-3,
    // then idle groups and the reopen of 1,000 groups.
    if wants("groups") {
        let mut gs = if a.quick { multi::GroupSizes::quick() } else { multi::GroupSizes::full() };
        if let Some(c) = &a.group_counts {
            gs.counts = c.clone();
        }
        let mut runs: HashMap<(String, &str), Vec<Outcome>> = HashMap::new();
        for _ in 0..a.reps {
            for &g in &gs.counts {
                for (d, _) in multi::DRIVERS {
                    for (s, _) in multi::SYSTEMS {
                        if multi::skip_reason(s, g, d, &gs).is_some() {
                            continue;
                        }
                        let w = multi::workload(g, d);
                        let dir = fresh_dir(&a.data_dir, &format!("groups-{s}"))?;
                        let o = r.run_once(&w, s, &dir);
                        runs.entry((w, s)).or_default().push(o);
                        remove(&dir);
                    }
                }
            }
        }
        for &g in &gs.counts {
            for (d, _) in multi::DRIVERS {
                for (s, _) in multi::SYSTEMS {
                    let w = multi::workload(g, d);
                    let o = match multi::skip_reason(s, g, d, &gs) {
                        Some(why) => Outcome::Skipped(why),
                        None => median_run(runs.remove(&(w.clone(), s)).unwrap_or_default()),
                    };
                    r.results.insert(&w, s, o);
                }
            }
        }
        let dir = fresh_dir(&a.data_dir, "groups-idle-empty")?;
        r.run("gidle-empty", "shared", &dir);
        remove(&dir);
        let dir = fresh_dir(&a.data_dir, "groups-idle")?;
        r.run("gidle-write", "shared", &dir);
        r.run("gidle-open", "shared", &dir);
        remove(&dir);
        let dir = fresh_dir(&a.data_dir, "groups-reopen")?;
        r.run("greopen-write", "shared", &dir);
        // The child evicts the files itself as well (and checks it).
        measure::drop_page_cache();
        r.run("greopen-cold", "shared", &dir);
        r.run("greopen-warm", "shared", &dir);
        remove(&dir);
    }

    let total = r.started.elapsed();
    let results = r.results;
    let mut notes = results.warm_notes();
    if let Some(n) = results.note("group", "raft-log", "wait") {
        notes.push(format!("raft-log, group commit: {n} was the better of 0 and 1 ms"));
    }
    if let Some(n) = results.note("pipelined", "raft-log", "wait") {
        notes.push(format!("raft-log, pipelined: {n} (with 0 it syncs every request alone)"));
    }
    println!(
        "## chunklog compare: {} run, {:.0} s\n\nMachine: {}; load average at the end {}. \
         Workloads 1-3 and 5: the median of {} runs ({} for the adapters), interleaved across systems.\n",
        if a.quick { "quick (tiny sizes: the row labels give the full sizes)" } else { "full" },
        total.as_secs_f64(),
        fs_line,
        load(),
        a.reps,
        a.reps.min(3)
    );
    let engine = ["serial", "group", "pipelined", "bulk", "fresh", "biglog"].iter().any(|g| wants(g));
    if engine {
        println!("### Engines and the raw disk\n\n{}", report::engine_table(&results));
    }
    if wants("adapters") {
        println!("### openraft adapters\n\n{}", report::adapter_table(&results));
    }
    if wants("groups") {
        println!("{}", multi::tables(&results, a.reps));
    }
    println!("### Targets\n\n{}", report::targets_table(&results));
    if engine {
        println!("### Spread: slowest and fastest of the {} runs\n\n{}", a.reps, report::spread_table(&results));
    }
    for n in notes {
        println!("Note: {n}\n");
    }
    for (w, s, e) in results.failures() {
        println!("Failed: {w} / {s}: {e} (its stderr is in the progress log)\n");
    }
    let svg = a.svg.unwrap_or_else(|| a.data_dir.join("bench.svg"));
    if engine {
        let title = "chunklog vs raft-log vs raft-engine, one log: throughput relative to the raw-disk loop, \
                     2 vCPU, ext4 on virtio";
        match chart::write_svg(&results, &svg, title) {
            Ok(()) => eprintln!("chart written to {}", svg.display()),
            Err(e) => eprintln!("no chart: {e:#}"),
        }
    }
    if wants("groups") {
        let path = chart::groups_path(&svg);
        let title = "Many Raft groups, a durable 256 B append in flight each: appends/s relative to raft-engine, \
                     2 vCPU, ext4 on virtio";
        match chart::write_groups_svg(&results, &path, title) {
            Ok(()) => eprintln!("groups chart written to {}", path.display()),
            Err(e) => eprintln!("no groups chart: {e:#}"),
        }
    }
    Ok(())
}
