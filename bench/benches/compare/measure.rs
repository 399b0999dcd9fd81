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
