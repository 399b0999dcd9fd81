//! Measuring tools shared by every workload: payloads, a seeded random
//! sequence, latency histograms, memory of this process, the page cache
//! and disk usage.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

/// Incompressible payload bytes. Entry `i` of length `len` is a window of
/// one shared buffer, so every system gets the same bytes for the same
/// entry and no workload allocates to make a payload. The bytes are ASCII
/// letters and digits so the openraft adapters can carry them as `String`.
pub struct Payloads {
    buf: Vec<u8>,
}

impl Payloads {
    pub fn new() -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut rng = Rng::new(0x5eed);
        let buf = (0..(4 << 20) + 8192).map(|_| ALPHABET[(rng.next() >> 58) as usize]).collect();
        Payloads { buf }
    }

    /// The payload of entry `index`, `len` bytes (at most 8 KiB).
    pub fn get(&self, index: u64, len: usize) -> &[u8] {
        let start = (index.wrapping_mul(0x9E37_79B9) % (4 << 20)) as usize;
        &self.buf[start..start + len]
    }

    /// The same payload as a string (the bytes are ASCII).
    pub fn string(&self, index: u64, len: usize) -> String {
        String::from_utf8(self.get(index, len).to_vec()).expect("payload bytes are ASCII")
    }
}

/// splitmix64: a seeded sequence, the same for every system.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// A latency histogram in nanoseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Records one latency (saturating at the histogram's bound).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record(d.as_nanos().min(u128::from(u64::MAX)) as u64);
}

/// The `q` quantile of `h` in microseconds.
pub fn quantile_us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// A field of `/proc/self/status` in bytes (`VmHWM`: peak resident set,
/// `VmRSS`: resident set now).
pub fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Writes dirty pages back and drops the page cache (needs root). Returns
/// false where that is not permitted.
pub fn drop_page_cache() -> bool {
    let synced = std::process::Command::new("sync").status().is_ok_and(|s| s.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

/// A 4 KiB read faster than this (µs) came from the page cache, not the
/// device: a read from this machine's virtio disk takes 50-100 µs.
pub const COLD_READ_MIN_US: f64 = 20.0;

/// 4 KiB reads the cold probe times.
const PROBE_READS: usize = 32;

/// Makes every file under `dir` (recursively) cold and checks it: each is
/// `fdatasync`ed (`posix_fadvise(DONTNEED)` drops clean pages only) and
/// evicted with `posix_fadvise(DONTNEED)`, which needs no root and works
/// on files a store holds open; then a few 4 KiB reads at random offsets
/// are timed and evicted again. Returns the probe's median read in µs
/// (`None`: no file to probe); below [`COLD_READ_MIN_US`] the eviction
/// did not take and a "cold" measurement would be warm.
pub fn make_cold(dir: &Path) -> Result<Option<f64>> {
    let files = evict_page_cache(dir)?;
    let probe = probe_reads_us(&files)?;
    evict_page_cache(dir)?;
    Ok(probe)
}

/// Turns readahead off on every descriptor this process holds open on a
/// file under `dir` (`posix_fadvise(POSIX_FADV_RANDOM)` on the store's
/// own descriptors, found through `/proc/self/fd`); returns how many.
///
/// For cold random reads: with readahead on, a miss next to cached pages
/// reads ahead up to `read_ahead_kb` (8 MiB on this machine), so a few
/// thousand random reads pull most of the log in and a "cold" run turns
/// warm within it. The advice stays with the descriptors: open the store
/// again for warm runs.
pub fn no_readahead(dir: &Path) -> Result<usize> {
    let dir = dir.canonicalize().with_context(|| format!("canonicalize {}", dir.display()))?;
    let mut n = 0;
    for e in std::fs::read_dir("/proc/self/fd").context("list /proc/self/fd")? {
        let e = e?;
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<libc::c_int>().ok()) else { continue };
        // The descriptor of the listing itself is gone by now: skip what no longer resolves.
        let Ok(target) = std::fs::read_link(e.path()) else { continue };
        if !target.starts_with(&dir) || !target.is_file() {
            continue;
        }
        // SAFETY: posix_fadvise only reads `fd`; a descriptor closed or
        // reused since the listing gets the advice or EBADF, harmlessly.
        let rc = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_RANDOM) };
        if rc == 0 {
            n += 1;
        }
    }
    Ok(n)
}

/// `fdatasync` and `posix_fadvise(DONTNEED)` on every file under `dir`;
/// returns the files and their lengths.
fn evict_page_cache(dir: &Path) -> Result<Vec<(std::path::PathBuf, u64)>> {
    let mut out = Vec::new();
    for p in walk(dir)? {
        let f = std::fs::File::open(&p).with_context(|| format!("open {}", p.display()))?;
        f.sync_data().with_context(|| format!("fdatasync {}", p.display()))?;
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)
            .with_context(|| format!("fadvise {}", p.display()))?;
        out.push((p, f.metadata()?.len()));
    }
    Ok(out)
}

/// The median of [`PROBE_READS`] timed 4 KiB `pread`s at seeded random
/// offsets of `files` (weighted by length), with readahead off on the
/// probe's own descriptors so each reads one page.
fn probe_reads_us(files: &[(std::path::PathBuf, u64)]) -> Result<Option<f64>> {
    use std::os::unix::fs::FileExt;
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    if total == 0 {
        return Ok(None);
    }
    let mut rng = Rng::new(0x0C01D);
    let mut buf = vec![0u8; 4096];
    let mut times = Vec::with_capacity(PROBE_READS);
    for _ in 0..PROBE_READS {
        // A byte of all the files, then the file holding it.
        let mut at = rng.range(0, total - 1);
        let mut k = 0;
        while at >= files[k].1 {
            at -= files[k].1;
            k += 1;
        }
        let (path, len) = &files[k];
        let off = at.min(len.saturating_sub(4096)) & !4095;
        let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::Random)
            .with_context(|| format!("fadvise {}", path.display()))?;
        let t = std::time::Instant::now();
        f.read_at(&mut buf, off).with_context(|| format!("read {}", path.display()))?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(Some(times[times.len() / 2]))
}

/// Reads every file under `dir` once, so the page cache holds them.
pub fn warm_page_cache(dir: &Path) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    for entry in walk(dir)? {
        let mut f = std::fs::File::open(&entry).with_context(|| format!("open {}", entry.display()))?;
        while f.read(&mut buf)? > 0 {}
    }
    Ok(())
}

/// Bytes allocated on disk under `dir` (like `du`).
pub fn disk_usage(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for f in walk(dir)? {
        total += std::fs::metadata(&f)?.blocks() * 512;
    }
    Ok(total)
}

fn walk(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("list {}", d.display()))? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}
