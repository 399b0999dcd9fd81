//! A simple in-memory model of the log, a generator of valid operations,
//! and the "nothing lost" rule: a recovered store must equal the model
//! applied to some prefix of the submitted operations that contains every
//! acknowledged one.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chunklog::ChunkLog;

/// One operation a test submits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Append(Vec<(u64, Vec<u8>)>),
    Truncate(Option<u64>),
    Purge(u64),
    Vote(Vec<u8>),
    Committed(Option<Vec<u8>>),
    /// Space reclamation by hand: copy the oldest chunk's live entries
    /// forward (`ChunkLog::copy_oldest_chunk`). Changes nothing a reader
    /// sees.
    CopyOldest,
    /// `remove_group` (of the group the operation is for; see [`GOp`]).
    RemoveGroup,
}

/// What the log must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub entries: BTreeMap<u64, Vec<u8>>,
    pub last: Option<u64>,
    pub purged: Option<(u64, Vec<u8>)>,
    pub vote: Option<Vec<u8>>,
    pub committed: Option<Vec<u8>>,
}

impl Model {
    /// The model of what `log` holds now.
    pub fn of(log: &ChunkLog) -> Model {
        let st = log.state();
        Model {
            entries: log.read_range(..).expect("read").into_iter().map(|(i, b)| (i, b.to_vec())).collect(),
            last: st.last_index,
            purged: st.purged.map(|p| (p.index, p.meta.to_vec())),
            vote: st.vote.map(|v| v.to_vec()),
            committed: st.committed.map(|c| c.to_vec()),
        }
    }

    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(es) => {
                for (i, b) in es {
                    self.entries.insert(*i, b.clone());
                    self.last = Some(*i);
                }
            }
            Op::Truncate(after) => {
                self.entries.retain(|&i, _| after.is_some_and(|a| i <= a));
                if self.entries.is_empty() {
                    self.last = self.purged.as_ref().map(|p| p.0);
                } else if let Some(a) = after {
                    self.last = self.last.map(|l| l.min(*a));
                }
            }
            Op::Purge(i) => {
                self.entries.retain(|&k, _| k > *i);
                self.purged = Some((*i, purge_meta(*i)));
                self.last = Some(self.last.map_or(*i, |l| l.max(*i)));
            }
            Op::Vote(v) => self.vote = Some(v.clone()),
            Op::Committed(c) => self.committed = c.clone(),
            Op::CopyOldest => {}
            Op::RemoveGroup => *self = Model::default(),
        }
    }

    /// Submits `op` to the engine (not waiting for durability).
    pub fn submit(log: &ChunkLog, op: &Op) -> chunklog::Result<()> {
        match op {
            Op::Append(es) => log.append(es.iter().map(|(i, b)| (*i, b.as_slice()))),
            Op::Truncate(a) => log.truncate_after(*a),
            Op::Purge(i) => log.purge(*i, &purge_meta(*i)),
            Op::Vote(v) => log.write_vote(v),
            Op::Committed(c) => log.save_committed(c.as_deref()),
            Op::CopyOldest => log.copy_oldest_chunk().map(|_| ()),
            Op::RemoveGroup => log.remove_group(),
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "entries {:?}..={:?} ({}), last {:?}, purged {:?}, vote {:?}, committed {:?}",
            self.entries.keys().next(),
            self.entries.keys().next_back(),
            self.entries.len(),
            self.last,
            self.purged.as_ref().map(|p| p.0),
            self.vote,
            self.committed
        )
    }
}

pub fn purge_meta(i: u64) -> Vec<u8> {
    format!("purged-{i}").into_bytes()
}

/// SplitMix64: a tiny deterministic generator for seeded workloads.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A payload that names its index and the operation that wrote it, so a
/// truncated-and-rewritten index never reads back as the old bytes.
pub fn entry_bytes(index: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(len.max(16));
    b.extend_from_slice(&index.to_le_bytes());
    b.extend_from_slice(&seq.to_le_bytes());
    let mut x = index.wrapping_mul(31).wrapping_add(seq);
    while b.len() < len.max(16) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        b.push((x >> 56) as u8);
    }
    b
}

/// A valid next operation for a log in state `m`; `seq` numbers it.
pub fn gen_op(rng: &mut Rng, m: &Model, seq: u64) -> Op {
    let next = m.last.map_or(1, |l| l + 1);
    match rng.below(20) {
        0..=11 => {
            let n = 1 + rng.below(6);
            let len = 16 + rng.below(200) as usize;
            Op::Append((next..next + n).map(|i| (i, entry_bytes(i, seq, len))).collect())
        }
        12 | 13 => match (m.entries.keys().next(), m.last) {
            (Some(&first), Some(last)) if last > first => Op::Truncate(Some(first + rng.below(last - first))),
            _ => Op::Vote(format!("vote-{seq}").into_bytes()),
        },
        14 | 15 => {
            let base = m.purged.as_ref().map_or(0, |p| p.0);
            let span = m.last.unwrap_or(base).saturating_sub(base);
            Op::Purge(base + 1 + rng.below(span.max(1) + 1) / 2)
        }
        16 => Op::Vote(format!("vote-{seq}").into_bytes()),
        17 if rng.below(2) == 0 => Op::CopyOldest,
        17 => Op::Vote(format!("vote-{seq}").into_bytes()),
        _ => Op::Committed((rng.below(4) != 0).then(|| format!("committed-{seq}").into_bytes())),
    }
}

/// The rule: `recovered` equals `start` with `ops[..k]` applied for some
/// `k >= acked`. Returns that `k` (counted in single-entry operations).
///
/// An append of several entries counts as one operation per entry: Raft
/// needs each entry to be durable once acknowledged and the log to stay a
/// prefix of what was appended, not batches to be atomic; a power cut may
/// keep the first entries of an unacknowledged batch.
pub fn check_rule(recovered: &Model, start: &Model, ops: &[Op], acked: usize) -> Result<usize, String> {
    let split = |op: &Op| -> Vec<Op> {
        match op {
            Op::Append(es) => es.iter().map(|e| Op::Append(vec![e.clone()])).collect(),
            other => vec![other.clone()],
        }
    };
    let acked = ops[..acked].iter().map(|op| split(op).len()).sum();
    let ops: Vec<Op> = ops.iter().flat_map(split).collect();
    let ops = &ops[..];
    let mut m = start.clone();
    for op in &ops[..acked] {
        m.apply(op);
    }
    let at_ack = m.clone();
    for k in acked..=ops.len() {
        if *recovered == m {
            return Ok(k);
        }
        if k < ops.len() {
            m.apply(&ops[k]);
        }
    }
    Err(format!(
        "nothing lost violated: {} ops submitted, {acked} acknowledged\n  recovered: {}\n  model at the last ack: {}",
        ops.len(),
        recovered.summary(),
        at_ack.summary()
    ))
}

/// The operations a seeded child runs from `start`, and whether it
/// registers a flush after each one. Parent and child both call this, so
/// the parent knows every operation the child may have submitted.
pub fn plan(start: &Model, seed: u64, n: u64) -> Vec<(Op, bool)> {
    let mut rng = Rng(seed);
    let mut m = start.clone();
    (0..n)
        .map(|seq| {
            let op = gen_op(&mut rng, &m, seq);
            m.apply(&op);
            (op, rng.below(2) == 0)
        })
        .collect()
}

/// An operation on one group of a store: `(group, op)`.
pub type GOp = (u64, Op);

/// What a store of groups must hold: each group that exists, with its
/// model (a group exists once something was written to it, until it is
/// removed).
pub type Groups = BTreeMap<u64, Model>;

/// The model of every group `log`'s store holds now.
pub fn groups_of(log: &ChunkLog) -> Groups {
    log.groups().into_iter().map(|g| (g, Model::of(&log.group(g)))).collect()
}

/// Applies `(g, op)` to the models of a store.
pub fn apply_g(gs: &mut Groups, (g, op): &GOp) {
    match op {
        Op::RemoveGroup => {
            gs.remove(g);
        }
        // Reclamation by hand touches every group and creates none.
        Op::CopyOldest => {}
        op => gs.entry(*g).or_default().apply(op),
    }
}

/// Submits `(g, op)` to group `g` of `log`'s store.
pub fn submit_g(log: &ChunkLog, (g, op): &GOp) -> chunklog::Result<()> {
    Model::submit(&log.group(*g), op)
}

/// A one-line summary of every group's model.
pub fn summary_g(gs: &Groups) -> String {
    gs.iter().map(|(g, m)| format!("\n    group {g}: {}", m.summary())).collect()
}

/// A valid next operation on one of `ids`: mostly [`gen_op`] for a random
/// group, sometimes the removal of an existing one (odds 1 in
/// `remove_odds`).
pub fn gen_gop(rng: &mut Rng, gs: &Groups, ids: &[u64], seq: u64, remove_odds: u64) -> GOp {
    let g = ids[rng.below(ids.len() as u64) as usize];
    if gs.contains_key(&g) && rng.below(remove_odds) == 0 {
        return (g, Op::RemoveGroup);
    }
    let empty = Model::default();
    (g, gen_op(rng, gs.get(&g).unwrap_or(&empty), seq))
}

/// The nothing-lost rule for a store of groups: `recovered` equals `start`
/// with `ops[..k]` applied for some `k >= acked`, one `k` for every group
/// at once (the groups share one ordered record stream, so a crash keeps a
/// prefix of the global order of submission, not of each group's on its
/// own). Appends of several entries count one operation per entry, as in
/// [`check_rule`]. Returns that `k` (in single-entry operations).
pub fn check_rule_groups(recovered: &Groups, start: &Groups, ops: &[GOp], acked: usize) -> Result<usize, String> {
    let split = |(g, op): &GOp| -> Vec<GOp> {
        match op {
            Op::Append(es) => es.iter().map(|e| (*g, Op::Append(vec![e.clone()]))).collect(),
            other => vec![(*g, other.clone())],
        }
    };
    let acked = ops[..acked].iter().map(|op| split(op).len()).sum();
    let ops: Vec<GOp> = ops.iter().flat_map(split).collect();
    let mut m = start.clone();
    for op in &ops[..acked] {
        apply_g(&mut m, op);
    }
    let at_ack = m.clone();
    for k in acked..=ops.len() {
        if *recovered == m {
            return Ok(k);
        }
        if k < ops.len() {
            apply_g(&mut m, &ops[k]);
        }
    }
    // Name the groups that differ from the model at the last ack.
    let ids: std::collections::BTreeSet<u64> = recovered.keys().chain(at_ack.keys()).copied().collect();
    let differ: Vec<u64> = ids.into_iter().filter(|g| recovered.get(g) != at_ack.get(g)).collect();
    Err(format!(
        "nothing lost violated: {} ops submitted, {acked} acknowledged; groups differing from the model at the \
         last ack: {differ:?}\n  recovered:{}\n  model at the last ack:{}",
        ops.len(),
        summary_g(recovered),
        summary_g(&at_ack)
    ))
}

/// The operations a seeded child runs on groups `ids` from `start`, and
/// whether it registers a flush after each one (see [`plan`]).
pub fn plan_groups(start: &Groups, seed: u64, n: u64, ids: &[u64], remove_odds: u64) -> Vec<(GOp, bool)> {
    let mut rng = Rng(seed);
    let mut m = start.clone();
    (0..n)
        .map(|seq| {
            let op = gen_gop(&mut rng, &m, ids, seq, remove_odds);
            apply_g(&mut m, &op);
            (op, rng.below(2) == 0)
        })
        .collect()
}
