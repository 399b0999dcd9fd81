//! The `metrics` feature: `publish_metrics` sends the store's statistics
//! and every group's through the facade's recorder.
#![cfg(feature = "metrics")]

mod common;

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// `(name, labels)` -> value, from one publish.
fn publish(log: &chunklog::ChunkLog, per_group: bool) -> HashMap<(String, Vec<(String, String)>), f64> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || log.publish_metrics(per_group));
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<(String, String)> =
                key.labels().map(|l| (l.key().to_string(), l.value().to_string())).collect();
            labels.sort();
            let v = match value {
                DebugValue::Counter(c) => c as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(_) => f64::NAN,
            };
            ((key.name().to_string(), labels), v)
        })
        .collect()
}

#[test]
fn whole_log_and_per_group_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::small(dir.path(), 4).reclaim_percent(0);
    let log = common::open(&cfg);
    let (a, b) = (log.group(1), log.group(2));
    a.append((1..=10u64).map(|i| (i, vec![1u8; 100]))).unwrap();
    a.sync().unwrap();
    b.append((5..=6u64).map(|i| (i, vec![2u8; 10]))).unwrap();
    b.sync().unwrap();
    b.sync().unwrap();
    a.purge(3, b"").unwrap();
    log.sync().unwrap();

    let d = dir.path().display().to_string();
    let whole = |name: &str| (name.to_string(), vec![("dir".to_string(), d.clone())]);
    let grp = |name: &str, g: u64| {
        (name.to_string(), vec![("dir".to_string(), d.clone()), ("group".to_string(), g.to_string())])
    };

    let m = publish(&log, false);
    let s = log.stats();
    assert_eq!(m[&whole("chunklog_groups")], 2.0);
    assert_eq!(m[&whole("chunklog_chunks")], s.chunks as f64);
    assert_eq!(m[&whole("chunklog_live_bytes")], s.live_bytes as f64);
    assert_eq!(m[&whole("chunklog_fsyncs_total")], s.fsyncs as f64);
    assert_eq!(m[&whole("chunklog_poisoned")], 0.0);
    assert!(!m.contains_key(&grp("chunklog_group_entries", 1)), "per-group metrics only when asked");

    let m = publish(&log, true);
    assert_eq!(m[&grp("chunklog_group_entries", 1)], 7.0);
    assert_eq!(m[&grp("chunklog_group_first_index", 1)], 4.0);
    assert_eq!(m[&grp("chunklog_group_last_index", 2)], 6.0);
    assert_eq!(m[&grp("chunklog_group_appends_total", 1)], 10.0);
    assert_eq!(m[&grp("chunklog_group_appends_total", 2)], 2.0);
    assert_eq!(m[&grp("chunklog_group_flushes_total", 2)], 2.0);
    let live: f64 = [1, 2].iter().map(|&g| m[&grp("chunklog_group_live_bytes", g)]).sum();
    assert_eq!(live, s.live_bytes as f64, "the groups' live bytes add up to the store's");
    // The oldest live chunk is pinned by the group whose entry is in it.
    let pins = log.pinning();
    let pinned: f64 = [1, 2].iter().map(|&g| m[&grp("chunklog_group_pinned_bytes", g)]).sum();
    assert_eq!(pinned, pins.iter().map(|p| p.bytes).sum::<u64>() as f64);
    assert!(m[&grp("chunklog_group_oldest_chunk", 2)] >= m[&grp("chunklog_group_oldest_chunk", 1)]);
}
