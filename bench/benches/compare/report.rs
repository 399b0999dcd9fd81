//! The results of a run and the Markdown it prints: the engine table, the
//! openraft adapter table and the targets.

use std::collections::HashMap;
use std::fmt::Write;

use crate::measure::COLD_READ_MIN_US;

/// What became of one (workload, system) cell.
#[derive(Clone, Debug)]
pub enum Outcome {
    Done {
        values: HashMap<String, f64>,
        notes: HashMap<String, String>,
    },
    /// Not run: the system cannot do this workload (the reason is shown).
    Skipped(String),
    Failed(String),
}

/// Every outcome of a run, by (workload, system).
#[derive(Default)]
pub struct Results {
    map: HashMap<(String, String), Outcome>,
}

/// A table cell: a number, or a reason why there is none.
#[derive(Clone, Debug)]
pub enum Cell {
    Value(f64),
    Text(String),
}

impl Results {
    pub fn insert(&mut self, workload: &str, system: &str, o: Outcome) {
        self.map.insert((workload.to_string(), system.to_string()), o);
    }

    /// `(workload, system, error)` of every failed cell, sorted.
    pub fn failures(&self) -> Vec<(String, String, String)> {
        let mut f: Vec<_> = self
            .map
            .iter()
            .filter_map(|((w, s), o)| match o {
                Outcome::Failed(e) => Some((w.clone(), s.clone(), e.clone())),
                _ => None,
            })
            .collect();
        f.sort();
        f
    }

    pub fn outcome(&self, workload: &str, system: &str) -> Option<&Outcome> {
        self.map.get(&(workload.to_string(), system.to_string()))
    }

    pub fn value(&self, workload: &str, system: &str, key: &str) -> Option<f64> {
        match self.outcome(workload, system)? {
            Outcome::Done { values, .. } => values.get(key).copied(),
            _ => None,
        }
    }

    pub fn note(&self, workload: &str, system: &str, key: &str) -> Option<&str> {
        match self.outcome(workload, system)? {
            Outcome::Done { notes, .. } => notes.get(key).map(String::as_str),
            _ => None,
        }
    }

    /// Why the cold measurement `prefix` (`coldN` of `reads`, `cold` of a
    /// cold reopen) of a cell was warm, if it was: the probe reads after
    /// the eviction, or the random reads' own p50, came from the page cache.
    pub fn warm(&self, workload: &str, system: &str, prefix: &str) -> Option<String> {
        let hit =
            |key: &str| self.value(workload, system, &format!("{prefix}.{key}")).filter(|&us| us < COLD_READ_MIN_US);
        if let Some(us) = hit("probe_us") {
            return Some(format!("4 KiB reads right after the eviction took {} µs", num(us)));
        }
        match hit("p50") {
            Some(us) if workload == "reads" => Some(format!("p50 {} µs", num(us))),
            _ => None,
        }
    }

    /// Every warm cold measurement of the run, one line each.
    pub fn warm_notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ((w, sys), o) in &self.map {
            let Outcome::Done { values, .. } = o else { continue };
            let mut prefixes: Vec<&str> = values
                .keys()
                .filter_map(|k| k.strip_suffix(".probe_us").or_else(|| k.strip_suffix(".p50")))
                .filter(|p| p.starts_with("cold"))
                .collect();
            prefixes.sort();
            prefixes.dedup();
            for p in prefixes {
                if let Some(why) = self.warm(w, sys, p) {
                    out.push(format!(
                        "warm! {w} / {sys}, {p}: {why}, a page-cache hit (a device read takes over {COLD_READ_MIN_US} µs): \
                         this cold measurement is warm"
                    ));
                }
            }
        }
        out.sort();
        out
    }

    pub fn cell(&self, workload: &str, system: &str, key: &str) -> Cell {
        match self.outcome(workload, system) {
            None => Cell::Text("not run".into()),
            Some(Outcome::Skipped(why)) => Cell::Text(why.clone()),
            Some(Outcome::Failed(_)) => Cell::Text("failed".into()),
            Some(Outcome::Done { values, .. }) => match values.get(key) {
                Some(v) => Cell::Value(*v),
                None => Cell::Text("not reported".into()),
            },
        }
    }
}

/// Whether more or less is better in a row.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One row: a label and where its numbers come from.
pub struct Row {
    pub label: &'static str,
    pub workload: &'static str,
    pub key: &'static str,
    pub better: Better,
    /// A throughput row (drawn in the chart).
    pub throughput: bool,
}

impl Row {
    /// The cold measurement this row belongs to, if any: `coldN` of the
    /// random reads, `cold` of a cold reopen.
    fn cold_prefix(&self) -> Option<&'static str> {
        if self.workload.ends_with("reopen-cold") {
            return Some("cold");
        }
        let prefix = self.key.split('.').next()?;
        (self.workload == "reads" && prefix.starts_with("cold")).then_some(prefix)
    }
}

const fn row(label: &'static str, workload: &'static str, key: &'static str, better: Better) -> Row {
    Row { label, workload, key, better, throughput: false }
}

const fn rate(label: &'static str, workload: &'static str, key: &'static str) -> Row {
    Row { label, workload, key, better: Better::Higher, throughput: true }
}

use Better::{Higher, Lower};

/// The engine table, in order.
pub const ENGINE_ROWS: &[Row] = &[
    rate("1. serial durable append, 256 B: ops/s", "serial", "serial.ops"),
    row("1. serial: p50 µs", "serial", "serial.p50", Lower),
    row("1. serial: p99 µs", "serial", "serial.p99", Lower),
    rate("2. group commit, 4 threads: ops/s", "group", "group.ops"),
    row("2. group commit, 4 threads: p99 µs", "group", "group.p99", Lower),
    rate("2. pipelined 1-entry flushes: entries/s", "pipelined", "pipelined.ops"),
    rate("3. bulk 256 B x 1,024/sync: entries/s", "bulk256", "bulk256.eps"),
    row("3. bulk 256 B: MiB/s", "bulk256", "bulk256.mibs", Higher),
    rate("3. bulk 4 KiB x 1,024/sync: entries/s", "bulk4k", "bulk4k.eps"),
    row("3. bulk 4 KiB: MiB/s", "bulk4k", "bulk4k.mibs", Higher),
    row("4. random reads, cache off, cold, 1 thread: reads/s", "reads", "cold1.ops", Higher),
    row("4. cold, 1 thread: p50 µs", "reads", "cold1.p50", Lower),
    row("4. cold, 1 thread: p99 µs", "reads", "cold1.p99", Lower),
    row("4. cold, 2 threads: reads/s", "reads", "cold2.ops", Higher),
    row("4. cold, 2 threads: p50 µs", "reads", "cold2.p50", Lower),
    row("4. cold, 2 threads: p99 µs", "reads", "cold2.p99", Lower),
    rate("4. cold, 4 threads: reads/s", "reads", "cold4.ops"),
    row("4. cold, 4 threads: p50 µs", "reads", "cold4.p50", Lower),
    row("4. cold, 4 threads: p99 µs", "reads", "cold4.p99", Lower),
    row("4. warm, 1 thread: reads/s", "reads", "warm1.ops", Higher),
    row("4. warm, 1 thread: p50 µs", "reads", "warm1.p50", Lower),
    row("4. warm, 1 thread: p99 µs", "reads", "warm1.p99", Lower),
    row("4. warm, 2 threads: reads/s", "reads", "warm2.ops", Higher),
    row("4. warm, 2 threads: p50 µs", "reads", "warm2.p50", Lower),
    row("4. warm, 2 threads: p99 µs", "reads", "warm2.p99", Lower),
    rate("4. warm, 4 threads: reads/s", "reads", "warm4.ops"),
    row("4. warm, 4 threads: p50 µs", "reads", "warm4.p50", Lower),
    row("4. warm, 4 threads: p99 µs", "reads", "warm4.p99", Lower),
    rate("5. reads of just-appended entries, cache on: reads/s", "fresh", "fresh.rps"),
    rate("6. ingest of the 1 GiB log (1 KiB x 1,024/sync): MiB/s", "ingest", "ingest.mibs"),
    row("6. ingest: peak RSS MiB", "ingest", "rss", Lower),
    row("6. reopen 1 GiB / 1M entries, cold: s", "reopen-cold", "reopen.secs", Lower),
    row("6. reopen, cold: peak RSS MiB", "reopen-cold", "rss", Lower),
    row("6. reopen, warm: s", "reopen-warm", "reopen.secs", Lower),
    row("6. reopen, warm: peak RSS MiB", "reopen-warm", "rss", Lower),
    row("6. memory after reopen: bytes/entry", "reopen-warm", "reopen.bpe", Lower),
    row("7. purge half (first 512 MiB): ms", "purge", "purge.ms", Lower),
    row("7. purge half: MiB freed", "purge", "purge.freed_mib", Higher),
    row("7. 256 B append p99 before purge: µs", "purge", "purge.base_p99", Lower),
    row("7. 256 B append p99 during purge: µs", "purge", "purge.during_p99", Lower),
    row("8. bulk 256 B: peak RSS MiB", "bulk256", "rss", Lower),
    row("8. bulk 4 KiB: peak RSS MiB", "bulk4k", "rss", Lower),
    row("8. index bytes per entry", "bulk256", "index.bpe", Lower),
];

/// The engine table's system columns.
pub const ENGINE_COLUMNS: [(&str, &str); 5] = [
    ("chunklog", "chunklog"),
    ("raft-log", "raft-log"),
    ("raft-engine", "raft-engine"),
    ("raw", "raw limit"),
    ("raw-prezeroed", "raw, pre-zeroed"),
];

/// The adapter table: workload `W` of the engine, `a-W` of the adapters.
pub const ADAPTER_ROWS: &[Row] = &[
    rate("1. serial durable append, 256 B: ops/s", "serial", "serial.ops"),
    row("1. serial: p50 µs", "serial", "serial.p50", Lower),
    row("1. serial: p99 µs", "serial", "serial.p99", Lower),
    rate("3. bulk 256 B x 1,024/sync: entries/s", "bulk256", "bulk256.eps"),
    rate("3. bulk 4 KiB x 1,024/sync: entries/s", "bulk4k", "bulk4k.eps"),
    row("3. bulk 4 KiB: MiB/s", "bulk4k", "bulk4k.mibs", Higher),
    row("3. bulk 256 B: peak RSS MiB", "bulk256", "rss", Lower),
    row("6. ingest of the 1 GiB log: MiB/s", "ingest", "ingest.mibs", Higher),
    row("6. reopen, cold: s", "reopen-cold", "reopen.secs", Lower),
    row("6. reopen, cold: peak RSS MiB", "reopen-cold", "rss", Lower),
    row("6. reopen, warm: s", "reopen-warm", "reopen.secs", Lower),
];

/// A number for a table: thousands separators from 100 up, else 3
/// significant digits.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.abs() >= 100.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 { format!("-{out}") } else { out }
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Value(v) => num(*v),
        Cell::Text(t) => t.clone(),
    }
}

fn ratio(a: &Cell, b: &Cell) -> String {
    match (a, b) {
        (Cell::Value(a), Cell::Value(b)) if *b != 0.0 => format!("{:.2}x", a / b),
        _ => "".into(),
    }
}

/// The engine table as Markdown.
pub fn engine_table(r: &Results) -> String {
    let mut s = String::new();
    s.push_str("| workload: metric |");
    for (_, title) in ENGINE_COLUMNS {
        let _ = write!(s, " {title} |");
    }
    s.push_str(" chunklog / raft-log | chunklog / raft-engine | chunklog / raw | chunklog / pre-zeroed |\n|---|");
    s.push_str(&"---:|".repeat(ENGINE_COLUMNS.len() + 4));
    s.push('\n');
    for row in ENGINE_ROWS {
        let cells: Vec<Cell> = ENGINE_COLUMNS.iter().map(|(sys, _)| r.cell(row.workload, sys, row.key)).collect();
        // The best of the three systems (not the raw loops) in bold.
        let best = cells[..3]
            .iter()
            .enumerate()
            .filter_map(|(k, c)| match c {
                Cell::Value(v) => Some((k, *v)),
                Cell::Text(_) => None,
            })
            .reduce(|a, b| match row.better {
                Higher if b.1 > a.1 => b,
                Lower if b.1 < a.1 => b,
                _ => a,
            })
            .map(|(k, _)| k);
        let _ = write!(s, "| {} |", row.label);
        for (k, c) in cells.iter().enumerate() {
            let warm = row.cold_prefix().and_then(|p| r.warm(row.workload, ENGINE_COLUMNS[k].0, p));
            let text = format!("{}{}", cell_text(c), if warm.is_some() { " warm!" } else { "" });
            if best == Some(k) {
                let _ = write!(s, " **{text}** |");
            } else {
                let _ = write!(s, " {text} |");
            }
        }
        for peer in 1..5 {
            let _ = write!(s, " {} |", ratio(&cells[0], &cells[peer]));
        }
        s.push('\n');
    }
    s
}

/// The openraft adapter table as Markdown.
pub fn adapter_table(r: &Results) -> String {
    let mut s = String::from(
        "| workload: metric | chunklog engine | chunklog 0.10 adapter | chunklog 0.9 adapter | hiqlite-wal (0.9) \
         | 0.10 adapter / engine | 0.9 adapter / engine | 0.9 adapter / hiqlite-wal |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in ADAPTER_ROWS {
        let aw = format!("a-{}", row.workload);
        let columns = [(row.workload, "chunklog"), (&aw, "chunklog-0.10"), (&aw, "chunklog-0.9"), (&aw, "hiqlite-wal")];
        let cells = columns.map(|(w, sys)| r.cell(w, sys, row.key));
        let _ = write!(s, "| {} |", row.label);
        for (c, (w, sys)) in cells.iter().zip(columns) {
            let warm = row.cold_prefix().and_then(|p| r.warm(w, sys, p));
            let _ = write!(s, " {}{} |", cell_text(c), if warm.is_some() { " warm!" } else { "" });
        }
        let _ = writeln!(
            s,
            " {} | {} | {} |",
            ratio(&cells[1], &cells[0]),
            ratio(&cells[2], &cells[0]),
            ratio(&cells[2], &cells[3])
        );
    }
    s
}

/// One target: its text, what was measured, and whether it is met
/// (`None`: not measured).
struct Target {
    text: &'static str,
    measured: String,
    met: Option<bool>,
    /// A cold measurement the target rests on was warm: not judged.
    warm: bool,
}

impl Target {
    fn new(text: &'static str, measured: String, met: Option<bool>) -> Target {
        Target { text, measured, met, warm: false }
    }

    /// Not judged if one of `cells` (workload, system, cold prefix) was warm.
    fn cold(mut self, r: &Results, cells: &[(&str, &str, &str)]) -> Target {
        if self.met.is_some() && cells.iter().any(|&(w, sys, p)| r.warm(w, sys, p).is_some()) {
            self.warm = true;
        }
        self
    }
}

/// `a / b` of two results, if both exist.
fn over(r: &Results, a: (&str, &str, &str), b: (&str, &str, &str)) -> Option<(f64, f64, f64)> {
    let x = r.value(a.0, a.1, a.2)?;
    let y = r.value(b.0, b.1, b.2)?;
    Some((x / y, x, y))
}

fn ratio_target(
    text: &'static str,
    r: &Results,
    a: (&str, &str, &str),
    b: (&str, &str, &str),
    ok: impl Fn(f64) -> bool,
) -> Target {
    match over(r, a, b) {
        Some((q, x, y)) => Target::new(text, format!("{:.3}x ({} vs {})", q, num(x), num(y)), Some(ok(q))),
        None => Target::new(text, "not measured".into(), None),
    }
}

/// A throughput ratio of two systems on one repeated workload, judged on
/// the median runs (as [`ratio_target`]), with the ratio's spread taken
/// run by run: run `i` of both systems ran in the same round.
fn runs_ratio_target(
    text: &'static str,
    r: &Results,
    a: (&str, &str, &str),
    b: (&str, &str, &str),
    ok: impl Fn(f64) -> bool,
) -> Target {
    let mut t = ratio_target(text, r, a, b, ok);
    let q: Vec<f64> = (0..64)
        .filter_map(|i| {
            let k = format!("run.{i}");
            Some(r.value(a.0, a.1, &k)? / r.value(b.0, b.1, &k)?)
        })
        .collect();
    if t.met.is_some() && q.len() > 1 {
        let lo = q.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = q.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let _ = write!(t.measured, "; run by run {lo:.2}x - {hi:.2}x over {} runs", q.len());
    }
    t
}

fn abs_target(text: &'static str, r: &Results, a: (&str, &str, &str), unit: &str, ok: impl Fn(f64) -> bool) -> Target {
    match r.value(a.0, a.1, a.2) {
        Some(x) => Target::new(text, format!("{} {unit}", num(x)), Some(ok(x))),
        None => Target::new(text, "not measured".into(), None),
    }
}

/// The issues' targets, checked against this run, as Markdown: issue 14's
/// first (marked), then the earlier ones and the many-groups ones.
pub fn targets_table(r: &Results) -> String {
    const C: &str = "chunklog";
    const RE: &str = "raft-engine";
    const PZ: &str = "raw-prezeroed";
    let mut t = vec![
        runs_ratio_target(
            "issue 14: serial durable 256 B appends ≥ 1.0x raft-engine",
            r,
            ("serial", C, "serial.ops"),
            ("serial", RE, "serial.ops"),
            |q| q >= 1.0,
        ),
        runs_ratio_target(
            "issue 14: serial durable 256 B appends ≥ 0.97x the pre-zeroed raw loop",
            r,
            ("serial", C, "serial.ops"),
            ("serial", PZ, "serial.ops"),
            |q| q >= 0.97,
        ),
        runs_ratio_target(
            "issue 14: 4 threads, durable each (group commit) ≥ 1.2x raft-engine",
            r,
            ("group", C, "group.ops"),
            ("group", RE, "group.ops"),
            |q| q >= 1.2,
        ),
        runs_ratio_target(
            "issue 14: bulk 256 B ≥ 1.5x raft-engine",
            r,
            ("bulk256", C, "bulk256.eps"),
            ("bulk256", RE, "bulk256.eps"),
            |q| q >= 1.5,
        ),
        runs_ratio_target(
            "issue 14: bulk 256 B ≥ 0.8x the pre-zeroed raw loop",
            r,
            ("bulk256", C, "bulk256.eps"),
            ("bulk256", PZ, "bulk256.eps"),
            |q| q >= 0.8,
        ),
        runs_ratio_target(
            "issue 14: bulk 4 KiB ≥ 1.2x raft-engine",
            r,
            ("bulk4k", C, "bulk4k.eps"),
            ("bulk4k", RE, "bulk4k.eps"),
            |q| q >= 1.2,
        ),
        runs_ratio_target(
            "issue 14: bulk 4 KiB ≥ 0.9x the pre-zeroed raw loop",
            r,
            ("bulk4k", C, "bulk4k.eps"),
            ("bulk4k", PZ, "bulk4k.eps"),
            |q| q >= 0.9,
        ),
        ratio_target(
            "issue 14: append p99 during a purge of half the log ≤ 2x the p99 before it",
            r,
            ("purge", C, "purge.during_p99"),
            ("purge", C, "purge.base_p99"),
            |q| q <= 2.0,
        ),
        ratio_target(
            "issue 14: ingest of the 1 GiB log: peak RSS ≤ raft-engine's",
            r,
            ("ingest", C, "rss"),
            ("ingest", RE, "rss"),
            |q| q <= 1.0,
        ),
        abs_target(
            "issue 14: reopen 1 GiB / 1M entries ≤ 0.1 s (cold)",
            r,
            ("reopen-cold", C, "reopen.secs"),
            "s",
            |x| x <= 0.1,
        )
        .cold(r, &[("reopen-cold", C, "cold")]),
        ratio_target(
            "serial p50 ≤ 1.15x raw fdatasync (growing file)",
            r,
            ("serial", C, "serial.p50"),
            ("serial", "raw", "serial.p50"),
            |q| q <= 1.15,
        ),
        ratio_target(
            "pipelined ≥ 60% of raw batched rate (1,024 frames per fdatasync)",
            r,
            ("pipelined", C, "pipelined.ops"),
            ("pipelined", "raw", "pipelined.ops"),
            |q| q >= 0.6,
        ),
        ratio_target(
            "bulk 256 B ≥ 1.2x raft-log",
            r,
            ("bulk256", C, "bulk256.eps"),
            ("bulk256", "raft-log", "bulk256.eps"),
            |q| q >= 1.2,
        ),
        ratio_target(
            "bulk 4 KiB ≥ 1.2x raft-log",
            r,
            ("bulk4k", C, "bulk4k.eps"),
            ("bulk4k", "raft-log", "bulk4k.eps"),
            |q| q >= 1.2,
        ),
        ratio_target(
            "bulk 256 B ≥ 65% of raw entries/s",
            r,
            ("bulk256", C, "bulk256.eps"),
            ("bulk256", "raw", "bulk256.eps"),
            |q| q >= 0.65,
        ),
        ratio_target(
            "bulk 4 KiB ≥ 65% of raw entries/s",
            r,
            ("bulk4k", C, "bulk4k.eps"),
            ("bulk4k", "raw", "bulk4k.eps"),
            |q| q >= 0.65,
        ),
        abs_target("bulk 256 B peak RSS < 100 MiB", r, ("bulk256", C, "rss"), "MiB", |x| x < 100.0),
        abs_target("bulk 4 KiB peak RSS < 100 MiB", r, ("bulk4k", C, "rss"), "MiB", |x| x < 100.0),
        ratio_target(
            "random reads, cache off, cold, 4 threads ≥ 0.9x raw",
            r,
            ("reads", C, "cold4.ops"),
            ("reads", "raw", "cold4.ops"),
            |q| q >= 0.9,
        )
        .cold(r, &[("reads", C, "cold4"), ("reads", "raw", "cold4")]),
        abs_target("random reads, warm, 4 threads ≥ 300k/s", r, ("reads", C, "warm4.ops"), "reads/s", |x| {
            x >= 300_000.0
        }),
        ratio_target(
            "random reads p99 ≤ 2x raw (cold, 4 threads)",
            r,
            ("reads", C, "cold4.p99"),
            ("reads", "raw", "cold4.p99"),
            |q| q <= 2.0,
        )
        .cold(r, &[("reads", C, "cold4"), ("reads", "raw", "cold4")]),
        ratio_target(
            "random reads p99 ≤ 2x raw (warm, 4 threads)",
            r,
            ("reads", C, "warm4.p99"),
            ("reads", "raw", "warm4.p99"),
            |q| q <= 2.0,
        ),
        abs_target("reopen peak RSS ≤ 100 MiB (cold)", r, ("reopen-cold", C, "rss"), "MiB", |x| x <= 100.0)
            .cold(r, &[("reopen-cold", C, "cold")]),
        ratio_target(
            "purge half ≤ 1.5x raw unlink",
            r,
            ("purge", C, "purge.ms"),
            ("purge", "raw", "purge.ms"),
            |q| q <= 1.5,
        ),
    ];
    t.extend(group_targets(r));
    let measured = t.len();
    t.retain(|x| x.met.is_some());
    let mut s = String::from("| target | measured (chunklog vs reference) | met |\n|---|---|---|\n");
    let left_out = measured - t.len();
    for x in t {
        let met = match x.met {
            _ if x.warm => "warm!: not judged",
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        let _ = writeln!(s, "| {} | {} | {met} |", x.text, x.measured);
    }
    if left_out > 0 {
        let _ = writeln!(s, "\n({left_out} targets not measured in this run are left out.)");
    }
    s
}

/// The many-groups targets (`--only groups`).
fn group_targets(r: &Results) -> Vec<Target> {
    let mut t = Vec::new();
    for d in ["t", "r4", "b4"] {
        let w = format!("g256-{d}");
        let text: &'static str = match d {
            "t" => "256 groups, one thread per group: shared log ≥ 10x 256 separate chunklog stores",
            "r4" => "256 groups, 4 threads, a callback per group: shared log ≥ 10x 256 separate chunklog stores",
            _ => "256 groups, 4 threads, a batch per round: shared log ≥ 10x 256 separate chunklog stores",
        };
        t.push(ratio_target(text, r, (&w, "shared", "g.ops"), (&w, "separate", "g.ops"), |q| q >= 10.0));
        let text: &'static str = match d {
            "t" => "256 groups, one thread per group: shared log ≥ 1.2x raft-engine with 256 regions",
            "r4" => "256 groups, 4 threads, a callback per group: shared log ≥ 1.2x raft-engine with 256 regions",
            _ => "256 groups, 4 threads, a batch per round: shared log ≥ 1.2x raft-engine with 256 regions",
        };
        t.push(ratio_target(text, r, (&w, "shared", "g.ops"), (&w, "raft-engine", "g.ops"), |q| q >= 1.2));
    }
    // The store's own threads (process threads minus drivers and main) at every G.
    for (d, text) in [
        ("t", "shared log's threads constant as groups grow (one thread per group)"),
        ("r4", "shared log's threads constant as groups grow (4 threads, a callback per group)"),
        ("b4", "shared log's threads constant as groups grow (4 threads, a batch per round)"),
    ] {
        let counts = [1usize, 16, 256, 4096];
        let own: Vec<(usize, f64, f64)> = counts
            .iter()
            .filter_map(|&g| {
                let w = format!("g{g}-{d}");
                Some((g, r.value(&w, "shared", "g.store_threads")?, r.value(&w, "shared", "g.threads")?))
            })
            .collect();
        if own.len() < 2 {
            t.push(Target::new(text, "not measured".into(), None));
            continue;
        }
        let list = |k: usize| {
            own.iter().map(|x| format!("{:.0}", if k == 1 { x.1 } else { x.2 })).collect::<Vec<_>>().join(" / ")
        };
        let gs = own.iter().map(|x| x.0.to_string()).collect::<Vec<_>>().join(" / ");
        let constant = own.iter().all(|x| x.1 == own[0].1);
        t.push(Target::new(
            text,
            format!("at {gs} groups: the store's own {}; the process's {}", list(1), list(2)),
            Some(constant),
        ));
    }
    match (r.value("gidle-open", "shared", "idle.rss_mib"), r.value("gidle-empty", "shared", "idle.rss_mib")) {
        (Some(a), Some(b)) => {
            let n = r.value("gidle-open", "shared", "idle.groups").unwrap_or(0.0);
            t.push(Target::new(
                "4,096 idle groups add ≤ 16 MiB RSS (opened store vs empty store)",
                format!("{} MiB for {n:.0} groups ({} vs {} MiB)", num(a - b), num(a), num(b)),
                Some(n >= 4096.0 && a - b <= 16.0),
            ));
        }
        _ => t.push(Target::new("4,096 idle groups add ≤ 16 MiB RSS", String::new(), None)),
    }
    let n = r.value("greopen-cold", "shared", "reopen.groups").unwrap_or(0.0);
    let mut x = abs_target(
        "reopen 1,000 groups / 1 GiB ≤ 0.3 s (cold)",
        r,
        ("greopen-cold", "shared", "reopen.secs"),
        "s",
        |x| x <= 0.3,
    )
    .cold(r, &[("greopen-cold", "shared", "cold")]);
    if x.met.is_some() && n < 1000.0 {
        x.measured.push_str(&format!(" ({n:.0} groups only: not the target's size)"));
        x.met = Some(false);
    }
    t.push(x);
    t
}

/// The slowest and fastest run of each repeated throughput row.
pub fn spread_table(r: &Results) -> String {
    let mut s = String::from("| workload |");
    for (_, title) in ENGINE_COLUMNS {
        let _ = write!(s, " {title} |");
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(ENGINE_COLUMNS.len()));
    s.push('\n');
    let rows = ENGINE_ROWS.iter().chain(ADAPTER_ROWS).filter(|row| row.throughput);
    let mut seen = Vec::new();
    for row in rows {
        if seen.contains(&row.workload)
            || !matches!(row.workload, "serial" | "group" | "pipelined" | "bulk256" | "bulk4k" | "fresh")
        {
            continue;
        }
        seen.push(row.workload);
        let cells: Vec<String> = ENGINE_COLUMNS
            .iter()
            .map(|(sys, _)| match (r.value(row.workload, sys, "runs.min"), r.value(row.workload, sys, "runs.max")) {
                (Some(lo), Some(hi)) => format!("{} - {}", num(lo), num(hi)),
                _ => String::new(),
            })
            .collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        let _ = writeln!(s, "| {} | {} |", row.label, cells.join(" | "));
    }
    s
}
