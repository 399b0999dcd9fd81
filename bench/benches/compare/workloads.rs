//! The workloads, each run in a child process against one store. Every
//! function appends its results to a [`Report`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::measure::{self, Payloads, Rng};
use crate::stores::Store;

/// Workload sizes: the full run, or `--quick`.
#[derive(Clone, Debug)]
pub struct Sizes {
    pub serial_ops: u64,
    pub group_threads: usize,
    pub group_ops_per_thread: u64,
    pub pipelined_ops: u64,
    pub bulk_small_entries: u64,
    pub bulk_large_entries: u64,
    pub batch: usize,
    /// The "1 GiB log": entries of `big_entry_len` bytes.
    pub big_entries: u64,
    pub big_entry_len: usize,
    /// Chunk / segment / target file size of every system.
    pub file_bytes: u64,
    pub read_time: Duration,
    pub read_threads: &'static [usize],
    pub fresh_batches: u64,
    pub purge_baseline_ops: u64,
}

pub const SMALL: usize = 256;
pub const LARGE: usize = 4096;

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            serial_ops: 10_000,
            group_threads: 4,
            group_ops_per_thread: 2_500,
            pipelined_ops: 200_000,
            bulk_small_entries: 1_000_000,
            bulk_large_entries: 100_000,
            batch: 1024,
            big_entries: 1_000_000,
            big_entry_len: 1024,
            file_bytes: 64 << 20,
            read_time: Duration::from_secs(2),
            read_threads: &[1, 2, 4],
            fresh_batches: 100,
            purge_baseline_ops: 2_000,
        }
    }

    pub fn quick() -> Sizes {
        Sizes {
            serial_ops: 200,
            group_ops_per_thread: 50,
            pipelined_ops: 5_000,
            bulk_small_entries: 20_480,
            bulk_large_entries: 2_048,
            big_entries: 16_000,
            file_bytes: 1 << 20,
            read_time: Duration::from_millis(100),
            fresh_batches: 5,
            purge_baseline_ops: 50,
            ..Sizes::full()
        }
    }
}

/// Results of one child: numbers and notes, printed one per line.
#[derive(Default)]
pub struct Report {
    pub values: Vec<(String, f64)>,
    pub notes: Vec<(String, String)>,
}

impl Report {
    pub fn value(&mut self, key: impl Into<String>, v: f64) {
        self.values.push((key.into(), v));
    }

    pub fn note(&mut self, key: impl Into<String>, v: impl Into<String>) {
        self.notes.push((key.into(), v.into()));
    }

    /// Throughput, p50 and p99 (µs) under `key`.
    pub fn latencies(&mut self, key: &str, ops: u64, wall: Duration, h: &hdrhistogram::Histogram<u64>) {
        self.value(format!("{key}.ops"), ops as f64 / wall.as_secs_f64());
        self.value(format!("{key}.p50"), measure::quantile_us(h, 0.50));
        self.value(format!("{key}.p99"), measure::quantile_us(h, 0.99));
    }

    /// Peak resident set of this process so far, in MiB.
    pub fn peak_rss(&mut self, key: &str) {
        self.value(key, measure::proc_status_bytes("VmHWM") as f64 / 1048576.0);
    }
}

/// Workload 1, serial: one writer, one entry per call, wait until durable before the next.
pub fn serial(store: &dyn Store, p: &Payloads, ops: u64, len: usize, out: &mut Report) -> Result<()> {
    let mut h = measure::histogram();
    let start = Instant::now();
    for i in 0..ops {
        let t = Instant::now();
        store.append_durable(0, &[p.get(i, len)])?;
        measure::record(&mut h, t.elapsed());
    }
    out.latencies("serial", ops, start.elapsed(), &h);
    Ok(())
}

/// Workload 2a, group commit: `threads` writers, each appending one entry and waiting for its
/// own durability.
pub fn group(store: &dyn Store, p: &Payloads, threads: usize, per_thread: u64, out: &mut Report) -> Result<()> {
    let barrier = Barrier::new(threads + 1);
    let (wall, hists) = std::thread::scope(|s| -> Result<_> {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                let barrier = &barrier;
                s.spawn(move || -> Result<_> {
                    let mut h = measure::histogram();
                    barrier.wait();
                    for i in 0..per_thread {
                        let t = Instant::now();
                        store.append_durable(w, &[p.get(i * threads as u64 + w as u64, SMALL)])?;
                        measure::record(&mut h, t.elapsed());
                    }
                    Ok(h)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut hists = Vec::new();
        for h in handles {
            hists.push(h.join().expect("writer thread")?);
        }
        Ok((start.elapsed(), hists))
    })?;
    let mut h = measure::histogram();
    for x in hists {
        h.add(x)?;
    }
    out.latencies("group", threads as u64 * per_thread, wall, &h);
    Ok(())
}

/// Workload 2b, pipelined: one thread submits single-entry appends, each with its own flush
/// callback, without waiting: many flushes outstanding.
pub fn pipelined(store: &dyn Store, p: &Payloads, ops: u64, out: &mut Report) -> Result<()> {
    let ends: Arc<Vec<AtomicU64>> = Arc::new((0..ops).map(|_| AtomicU64::new(0)).collect());
    let remaining = Arc::new(AtomicU64::new(ops));
    let mut starts = Vec::with_capacity(ops as usize);
    let t0 = Instant::now();
    for i in 0..ops {
        starts.push(t0.elapsed().as_nanos() as u64);
        let (ends, remaining) = (ends.clone(), remaining.clone());
        store.append_then(
            p.get(i, SMALL),
            Box::new(move || {
                ends[i as usize].store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                remaining.fetch_sub(1, Ordering::Release);
            }),
        )?;
    }
    store.finish()?;
    while remaining.load(Ordering::Acquire) > 0 {
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("pipelined: {} flushes never completed", remaining.load(Ordering::Relaxed));
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    let mut h = measure::histogram();
    let mut last = 0;
    for (s, e) in starts.iter().zip(ends.iter()) {
        let e = e.load(Ordering::Relaxed);
        last = last.max(e);
        measure::record(&mut h, Duration::from_nanos(e.saturating_sub(*s)));
    }
    out.latencies("pipelined", ops, Duration::from_nanos(last), &h);
    Ok(())
}

/// Workload 3, bulk: `entries` of `len` bytes in batches of `batch`, one durable
/// flush per batch. Keys `KEY.eps` (entries/s), `KEY.mibs` (payload MiB/s).
pub fn bulk(
    store: &dyn Store,
    p: &Payloads,
    key: &str,
    entries: u64,
    len: usize,
    batch: usize,
    out: &mut Report,
) -> Result<()> {
    let mut payloads: Vec<&[u8]> = Vec::with_capacity(batch);
    let start = Instant::now();
    let mut i = 0;
    while i < entries {
        let n = (batch as u64).min(entries - i);
        payloads.clear();
        payloads.extend((i..i + n).map(|k| p.get(k, len)));
        store.append_durable(0, &payloads)?;
        i += n;
    }
    let secs = start.elapsed().as_secs_f64();
    out.value(format!("{key}.eps"), entries as f64 / secs);
    out.value(format!("{key}.mibs"), (entries * len as u64) as f64 / secs / 1048576.0);
    Ok(())
}

/// Workload 5, reads of just-appended entries: append a batch durably (not timed),
/// then read each entry of it once (timed).
pub fn fresh(store: &dyn Store, p: &Payloads, batches: u64, batch: usize, out: &mut Report) -> Result<()> {
    let mut payloads: Vec<&[u8]> = Vec::with_capacity(batch);
    let mut reading = Duration::ZERO;
    let mut next = store.bounds().map_or(1, |(_, l)| l + 1);
    for b in 0..batches {
        payloads.clear();
        payloads.extend((0..batch as u64).map(|k| p.get(b * batch as u64 + k, SMALL)));
        store.append_durable(0, &payloads)?;
        let t = Instant::now();
        for i in next..next + batch as u64 {
            std::hint::black_box(store.read(i)?);
        }
        reading += t.elapsed();
        next += batch as u64;
    }
    out.value("fresh.rps", (batches * batch as u64) as f64 / reading.as_secs_f64());
    Ok(())
}

/// Workload 4, random single-entry reads for `time` by `threads` threads; keys
/// `KEY.ops`, `KEY.p50`, `KEY.p99`.
pub fn random_reads(store: &dyn Store, key: &str, threads: usize, time: Duration, out: &mut Report) -> Result<()> {
    let Some((first, last)) = store.bounds() else { bail!("random reads: the log is empty") };
    let barrier = Barrier::new(threads + 1);
    let (wall, results) = std::thread::scope(|s| -> Result<_> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || -> Result<_> {
                    let mut rng = Rng::new(0xC0FFEE + t as u64);
                    let mut h = measure::histogram();
                    let mut n = 0u64;
                    barrier.wait();
                    let start = Instant::now();
                    while start.elapsed() < time {
                        for _ in 0..16 {
                            let i = rng.range(first, last);
                            let t = Instant::now();
                            std::hint::black_box(store.read(i)?);
                            measure::record(&mut h, t.elapsed());
                            n += 1;
                        }
                    }
                    Ok((n, h))
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut results = Vec::new();
        for h in handles {
            results.push(h.join().expect("reader thread")?);
        }
        Ok((start.elapsed(), results))
    })?;
    let mut h = measure::histogram();
    let mut n = 0;
    for (k, x) in results {
        n += k;
        h.add(x)?;
    }
    out.latencies(key, n, wall, &h);
    Ok(())
}

/// Workload 7, purge half of the log while one writer keeps appending 256-byte
/// entries durably; the writer's latency before and during the purge.
pub fn purge_half(
    store: &dyn Store,
    dir: &std::path::Path,
    p: &Payloads,
    baseline_ops: u64,
    out: &mut Report,
) -> Result<()> {
    let Some((first, last)) = store.bounds() else { bail!("purge: the log is empty") };
    let mut base = measure::histogram();
    for i in 0..baseline_ops {
        let t = Instant::now();
        store.append_durable(0, &[p.get(i, SMALL)])?;
        measure::record(&mut base, t.elapsed());
    }
    let stop = AtomicBool::new(false);
    let (purge_time, freed, during) = std::thread::scope(|s| -> Result<_> {
        let writer = s.spawn(|| -> Result<Vec<(Instant, Duration)>> {
            let mut ops = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                store.append_durable(0, &[p.get(i, SMALL)])?;
                ops.push((t, t.elapsed()));
                i += 1;
            }
            Ok(ops)
        });
        std::thread::sleep(Duration::from_millis(50));
        let before = measure::disk_usage(dir)?;
        let t0 = Instant::now();
        let r = store.purge(first + (last - first) / 2);
        let t1 = Instant::now();
        // Let the writer run a little past the purge, then stop it.
        std::thread::sleep(Duration::from_millis(20));
        stop.store(true, Ordering::Relaxed);
        let ops = writer.join().expect("writer thread")?;
        r?;
        let after = measure::disk_usage(dir)?;
        let mut during = measure::histogram();
        let mut samples = 0;
        for (start, d) in ops {
            if start < t1 && start + d > t0 {
                measure::record(&mut during, d);
                samples += 1;
            }
        }
        out.value("purge.samples", samples as f64);
        Ok((t1 - t0, before.saturating_sub(after), during))
    })?;
    out.value("purge.ms", purge_time.as_secs_f64() * 1000.0);
    out.value("purge.freed_mib", freed as f64 / 1048576.0);
    out.value("purge.base_p99", measure::quantile_us(&base, 0.99));
    out.value("purge.during_p99", measure::quantile_us(&during, 0.99));
    out.value("purge.during_max", during.max() as f64 / 1000.0);
    Ok(())
}
