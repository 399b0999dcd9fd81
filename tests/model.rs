//! Property test: random sequences of append / truncate / purge / vote /
//! committed / reopen, checked after every step against a simple model.

mod common;

use std::collections::BTreeMap;

use chunklog::{ChunkLog, Config};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append(u8, u8),
    Truncate(u8),
    Purge(u8),
    Vote(u8),
    Committed(Option<u8>),
    Sync,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..12, any::<u8>()).prop_map(|(n, s)| Op::Append(n, s)),
        1 => any::<u8>().prop_map(Op::Truncate),
        1 => any::<u8>().prop_map(Op::Purge),
        1 => any::<u8>().prop_map(Op::Vote),
        1 => proptest::option::of(any::<u8>()).prop_map(Op::Committed),
        1 => Just(Op::Sync),
        2 => Just(Op::Reopen),
    ]
}

#[derive(Default, Debug)]
struct Model {
    entries: BTreeMap<u64, Vec<u8>>,
    last: Option<u64>,
    purged: Option<u64>,
    vote: Option<Vec<u8>>,
    committed: Option<Vec<u8>>,
}

fn body(i: u64, seed: u8) -> Vec<u8> {
    let len = (seed as usize * 3 + i as usize) % 300;
    (0..len).map(|k| (k as u8).wrapping_mul(seed).wrapping_add(i as u8)).collect()
}

fn check(log: &ChunkLog, m: &Model) {
    let st = log.state();
    assert_eq!(st.last_index, m.last, "last");
    assert_eq!(st.purged.as_ref().map(|p| p.index), m.purged, "purged");
    assert_eq!(st.vote.as_deref(), m.vote.as_deref(), "vote");
    assert_eq!(st.committed.as_deref(), m.committed.as_deref(), "committed");
    assert_eq!(st.first_index, m.entries.keys().next().copied(), "first");
    let got = log.read_range(..).unwrap();
    let want: Vec<(u64, Vec<u8>)> = m.entries.iter().map(|(k, v)| (*k, v.clone())).collect();
    let got: Vec<(u64, Vec<u8>)> = got.into_iter().map(|(k, v)| (k, v.to_vec())).collect();
    assert_eq!(got, want, "entries");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128 * common::scale() as u32, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(op(), 1..60), records in 3u64..12, cache in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(dir.path()).chunk_max_records(records);
        if !cache {
            cfg = cfg.cache(0, 0);
        }
        let mut log = ChunkLog::open(cfg.clone()).unwrap();
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::Append(n, seed) => {
                    let start = m.last.map_or(u64::from(seed % 4) + 1, |l| l + 1);
                    let batch: Vec<(u64, Vec<u8>)> = (start..start + u64::from(n)).map(|i| (i, body(i, seed))).collect();
                    log.append(batch.iter().map(|(i, b)| (*i, b.as_slice()))).unwrap();
                    for (i, b) in batch {
                        m.entries.insert(i, b);
                        m.last = Some(i);
                    }
                }
                Op::Truncate(k) => {
                    let Some(last) = m.last else { continue };
                    let lo = m.purged.unwrap_or(0);
                    let at = lo + u64::from(k) % (last - lo + 1);
                    log.truncate_after(Some(at)).unwrap();
                    m.entries.retain(|&i, _| i <= at);
                    m.last = if m.entries.is_empty() { m.purged } else { Some(at.min(last)) };
                }
                Op::Purge(k) => {
                    let base = m.purged.unwrap_or(0);
                    let at = base + 1 + u64::from(k) % 8;
                    log.purge(at, &at.to_le_bytes()).unwrap();
                    m.entries.retain(|&i, _| i > at);
                    m.purged = Some(at);
                    m.last = Some(m.last.map_or(at, |l| l.max(at)));
                }
                Op::Vote(v) => {
                    log.write_vote(&[v; 3]).unwrap();
                    m.vote = Some(vec![v; 3]);
                }
                Op::Committed(c) => {
                    let blob = c.map(|c| vec![c; 2]);
                    log.save_committed(blob.as_deref()).unwrap();
                    m.committed = blob;
                }
                Op::Sync => log.sync().unwrap(),
                Op::Reopen => {
                    log.sync().unwrap();
                    drop(log);
                    log = ChunkLog::open(cfg.clone()).unwrap();
                }
            }
            check(&log, &m);
        }
        drop(log);
        check(&ChunkLog::open(cfg).unwrap(), &m);
    }
}
