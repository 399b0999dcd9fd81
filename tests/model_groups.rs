//! Property test with groups: random sequences of append / truncate /
//! purge / vote / committed / user metadata / remove group / sync / reopen,
//! each on one of five groups (0, small ids, 2^33 and u64::MAX), checked
//! after every step against a model of every group: its state, every
//! entry, and the list of groups the store reports.

mod common;

use std::collections::BTreeMap;

use chunklog::{ChunkLog, Config};
use proptest::prelude::*;

const IDS: [u64; 5] = [0, 1, 2, 1 << 33, u64::MAX];

#[derive(Clone, Debug)]
enum Op {
    Append(u8, u8),
    Truncate(u8),
    Purge(u8),
    Vote(u8),
    Committed(Option<u8>),
    UserMeta(Option<u8>),
    Remove,
}

#[derive(Clone, Debug)]
enum Step {
    On(usize, Op),
    Sync,
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    let op = prop_oneof![
        6 => (1u8..10, any::<u8>()).prop_map(|(n, s)| Op::Append(n, s)),
        1 => any::<u8>().prop_map(Op::Truncate),
        1 => any::<u8>().prop_map(Op::Purge),
        1 => any::<u8>().prop_map(Op::Vote),
        1 => proptest::option::of(any::<u8>()).prop_map(Op::Committed),
        1 => proptest::option::of(any::<u8>()).prop_map(Op::UserMeta),
        1 => Just(Op::Remove),
    ];
    prop_oneof![
        12 => (0..IDS.len(), op).prop_map(|(g, op)| Step::On(g, op)),
        1 => Just(Step::Sync),
        1 => Just(Step::Reopen),
    ]
}

/// One group's model.
#[derive(Clone, Default, Debug)]
struct Model {
    entries: BTreeMap<u64, Vec<u8>>,
    last: Option<u64>,
    purged: Option<(u64, Vec<u8>)>,
    vote: Option<Vec<u8>>,
    committed: Option<Vec<u8>>,
    user_meta: Option<Vec<u8>>,
}

fn body(g: u64, i: u64, seed: u8) -> Vec<u8> {
    let len = (seed as usize * 3 + i as usize) % 300;
    (0..len).map(|k| (k as u8).wrapping_mul(seed).wrapping_add(i as u8) ^ (g as u8)).collect()
}

/// Applies `op` to group `g` of the store and of the model (which holds
/// exactly the groups that exist).
fn run(log: &ChunkLog, models: &mut BTreeMap<u64, Model>, g: u64, op: Op) {
    let h = log.group(g);
    let exists = models.contains_key(&g);
    match op {
        Op::Append(n, seed) => {
            let m = models.entry(g).or_default();
            let start = m.last.map_or(u64::from(seed % 4) + 1, |l| l + 1);
            let batch: Vec<(u64, Vec<u8>)> = (start..start + u64::from(n)).map(|i| (i, body(g, i, seed))).collect();
            h.append(batch.iter().map(|(i, b)| (*i, b.as_slice()))).unwrap();
            for (i, b) in batch {
                m.entries.insert(i, b);
                m.last = Some(i);
            }
        }
        Op::Truncate(k) => {
            let Some(m) = models.get_mut(&g) else {
                // Nothing to truncate: a no-op that creates nothing.
                h.truncate_after(Some(u64::from(k))).unwrap();
                return;
            };
            let Some(last) = m.last else { return };
            let lo = m.purged.as_ref().map_or(0, |p| p.0);
            let at = lo + u64::from(k) % (last - lo + 1);
            h.truncate_after(Some(at)).unwrap();
            m.entries.retain(|&i, _| i <= at);
            m.last = if m.entries.is_empty() { m.purged.as_ref().map(|p| p.0) } else { Some(at.min(last)) };
        }
        Op::Purge(k) => {
            let m = models.entry(g).or_default();
            let base = m.purged.as_ref().map_or(0, |p| p.0);
            let at = base + 1 + u64::from(k) % 8;
            let meta = at.to_le_bytes().to_vec();
            h.purge(at, &meta).unwrap();
            m.entries.retain(|&i, _| i > at);
            m.purged = Some((at, meta));
            m.last = Some(m.last.map_or(at, |l| l.max(at)));
        }
        Op::Vote(v) => {
            h.write_vote(&[v; 3]).unwrap();
            models.entry(g).or_default().vote = Some(vec![v; 3]);
        }
        Op::Committed(c) => {
            let blob = c.map(|c| vec![c; 2]);
            h.save_committed(blob.as_deref()).unwrap();
            models.entry(g).or_default().committed = blob;
        }
        Op::UserMeta(u) => {
            let blob = u.map(|u| vec![u; 5]);
            h.save_user_meta(blob.as_deref()).unwrap();
            models.entry(g).or_default().user_meta = blob;
        }
        Op::Remove => {
            h.remove_group().unwrap();
            if exists {
                models.remove(&g);
            }
        }
    }
}

fn check(log: &ChunkLog, models: &BTreeMap<u64, Model>, when: &str) {
    assert_eq!(log.groups(), models.keys().copied().collect::<Vec<_>>(), "{when}: groups");
    let empty = Model::default();
    for g in IDS {
        let m = models.get(&g).unwrap_or(&empty);
        let h = log.group(g);
        let st = h.state();
        assert_eq!(st.last_index, m.last, "{when}: group {g}: last");
        assert_eq!(st.purged.as_ref().map(|p| (p.index, p.meta.to_vec())), m.purged, "{when}: group {g}: purged");
        assert_eq!(st.vote.as_deref(), m.vote.as_deref(), "{when}: group {g}: vote");
        assert_eq!(st.committed.as_deref(), m.committed.as_deref(), "{when}: group {g}: committed");
        assert_eq!(st.user_meta.as_deref(), m.user_meta.as_deref(), "{when}: group {g}: user meta");
        assert_eq!(st.first_index, m.entries.keys().next().copied(), "{when}: group {g}: first");
        let got: Vec<(u64, Vec<u8>)> = h.read_range(..).unwrap().into_iter().map(|(k, v)| (k, v.to_vec())).collect();
        let want: Vec<(u64, Vec<u8>)> = m.entries.iter().map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(got, want, "{when}: group {g}: entries");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96 * common::scale() as u32, ..ProptestConfig::default() })]
    #[test]
    fn every_group_matches_its_model(
        steps in proptest::collection::vec(step(), 1..80),
        records in 3u64..12,
        cache in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(dir.path()).chunk_max_records(records);
        if !cache {
            cfg = cfg.cache(0, 0);
        }
        let mut log = ChunkLog::open(cfg.clone()).unwrap();
        let mut models: BTreeMap<u64, Model> = BTreeMap::new();
        for (k, s) in steps.into_iter().enumerate() {
            match s {
                Step::On(g, op) => run(&log, &mut models, IDS[g], op),
                Step::Sync => log.sync().unwrap(),
                Step::Reopen => {
                    log.sync().unwrap();
                    drop(log);
                    log = ChunkLog::open(cfg.clone()).unwrap();
                }
            }
            check(&log, &models, &format!("step {k}"));
        }
        drop(log);
        check(&ChunkLog::open(cfg).unwrap(), &models, "final reopen");
    }
}
