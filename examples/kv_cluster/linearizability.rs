//! The linearizability check of the register history (`history.rs`), key by
//! key, with `stateright`'s `LinearizabilityTester` over its `Register`
//! model. Linearizability is local (a history is linearizable if and only if
//! each object's sub-history is), so checking each register alone is exact,
//! and keeps each search small.
//!
//! How the history is fed to the tester: each key's operations become
//! invoke and return events in time order, so the tester's "completed
//! before invoked" order is real time. A return and an invoke stamped with
//! the same microsecond are fed return first: the completion is stamped
//! after the answer arrived and the invocation before the request left, so
//! that order did hold (and a client's next operation often starts in the
//! microsecond its last one ended). Failed operations had no
//! effect and are left out. A write of unknown fate is invoked and never
//! returns: the tester may then place it anywhere after its invocation or
//! leave it out. Its client can have only one operation in flight in the
//! tester, so the client's later operations on that key count as another
//! tester thread.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

use crate::history::{Call, Op, Outcome, register_key};

/// A key whose search takes longer than this is reported undecided.
const KEY_TIMEOUT: Duration = Duration::from_secs(20);

/// At most this many operations of a violating key are kept for the report.
const OPS_KEPT: usize = 40;

/// The verdict on the history, counted in operations and keys.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Operations recorded (all outcomes).
    pub recorded: u64,
    /// Operations by outcome: writes acknowledged, writes of unknown fate,
    /// reads answered, operations failed.
    pub written: u64,
    /// See `written`.
    pub unknown: u64,
    /// See `written`.
    pub read: u64,
    /// See `written`.
    pub failed: u64,
    /// Operations (and keys) on keys found linearizable.
    pub linearizable: (u64, u64),
    /// Operations (and keys) on keys found not linearizable.
    pub violations: (u64, u64),
    /// Operations (and keys) on keys whose search ran out of time.
    pub undecided: (u64, u64),
    /// The operations of the first violating key, for the report.
    pub example: Vec<String>,
}

impl Verdict {
    /// True if no key violates linearizability.
    pub fn ok(&self) -> bool {
        self.violations.1 == 0
    }
}

/// Checks every key of `ops`.
pub fn check(ops: &[Op]) -> Verdict {
    let mut v = Verdict { recorded: ops.len() as u64, ..Verdict::default() };
    for op in ops {
        match op.outcome {
            Outcome::Written => v.written += 1,
            Outcome::Unknown => v.unknown += 1,
            Outcome::Read(_) => v.read += 1,
            Outcome::Failed => v.failed += 1,
        }
    }
    let mut by_key: BTreeMap<u64, Vec<Op>> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.outcome != Outcome::Failed) {
        by_key.entry(op.key).or_default().push(*op);
    }
    for (key, ops) in by_key {
        let n = ops.len() as u64;
        let slot = match check_key_bounded(ops.clone()) {
            Some(true) => &mut v.linearizable,
            Some(false) => {
                if v.example.is_empty() {
                    v.example = describe(key, &ops);
                }
                &mut v.violations
            }
            None => &mut v.undecided,
        };
        slot.0 += n;
        slot.1 += 1;
    }
    v
}

/// [`check_key`] on its own thread, given up after [`KEY_TIMEOUT`] (`None`).
fn check_key_bounded(ops: Vec<Op>) -> Option<bool> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(check_key(&ops));
    });
    rx.recv_timeout(KEY_TIMEOUT).ok()
}

/// An event of one key's history: (time, 0 return / 1 invoke, operation).
type Event = (u64, u8, usize);

/// True if the operations of one key (none failed) are linearizable.
pub fn check_key(ops: &[Op]) -> bool {
    // Tester thread of each operation: (client, how many of the client's
    // earlier operations on this key had an unknown fate).
    let mut generation: BTreeMap<usize, u32> = BTreeMap::new();
    let mut by_client: Vec<usize> = (0..ops.len()).collect();
    by_client.sort_by_key(|&i| (ops[i].client, ops[i].invoked_us));
    let mut thread = vec![(0usize, 0u32); ops.len()];
    for i in by_client {
        let g = generation.entry(ops[i].client).or_default();
        thread[i] = (ops[i].client, *g);
        if ops[i].outcome == Outcome::Unknown {
            *g += 1;
        }
    }
    let mut events: Vec<Event> = Vec::with_capacity(2 * ops.len());
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoked_us, 1, i));
        if op.outcome != Outcome::Unknown {
            events.push((op.completed_us, 0, i));
        }
    }
    events.sort_unstable();
    let mut tester = LinearizabilityTester::new(Register(0u64));
    for (_, kind, i) in events {
        let op = &ops[i];
        let fed = if kind == 1 {
            let call = match op.call {
                Call::Write(id) => RegisterOp::Write(id),
                Call::Read => RegisterOp::Read,
            };
            tester.on_invoke(thread[i], call).map(|_| ())
        } else {
            let ret = match op.outcome {
                Outcome::Read(id) => RegisterRet::ReadOk(id),
                _ => RegisterRet::WriteOk,
            };
            tester.on_return(thread[i], ret).map(|_| ())
        };
        if fed.is_err() {
            // A malformed history (two operations in flight on one thread)
            // is a bug of the recorder: count it as a violation.
            return false;
        }
    }
    tester.is_consistent()
}

/// The operations of violating key `key`, one line each, in invoke order.
fn describe(key: u64, ops: &[Op]) -> Vec<String> {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|o| o.invoked_us);
    let mut lines: Vec<String> = ops
        .iter()
        .take(OPS_KEPT)
        .map(|o| {
            let what = match (o.call, o.outcome) {
                (Call::Write(id), Outcome::Unknown) => format!("write {id} -> unknown"),
                (Call::Write(id), _) => format!("write {id} -> ok"),
                (Call::Read, Outcome::Read(id)) => format!("read -> {id}"),
                (Call::Read, _) => "read -> failed".to_string(),
            };
            format!(
                "{} client {} [{:.3} s, {:.3} s] {what}",
                register_key(key),
                o.client,
                o.invoked_us as f64 / 1e6,
                o.completed_us as f64 / 1e6
            )
        })
        .collect();
    if ops.len() > OPS_KEPT {
        lines.push(format!("... and {} more operations", ops.len() - OPS_KEPT));
    }
    lines
}
