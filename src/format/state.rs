//! The log state as checkpoints and footers carry it (`docs/FORMAT.md`,
//! "State"), and the little-endian cursor the bodies are read with.

use bytes::Bytes;

use super::{u32_at, u64_at};
use crate::state::{LogState, Purged};

const HAS_VOTE: u8 = 1;
const HAS_COMMITTED: u8 = 2;
const HAS_PURGED: u8 = 4;
const HAS_LAST: u8 = 8;
const HAS_USER_META: u8 = 16;
const HAS_FIRST: u8 = 32;

/// State layout: `u8 flags | [u32 len | vote] | [u32 len | committed]
/// | [u64 purged index | u32 len | purged meta] | [u64 first] | [u64 last] | [u32 len | user meta]`.
pub(crate) fn encode_state(out: &mut Vec<u8>, s: &LogState) {
    let mut flags = 0u8;
    flags |= if s.vote.is_some() { HAS_VOTE } else { 0 };
    flags |= if s.committed.is_some() { HAS_COMMITTED } else { 0 };
    flags |= if s.purged.is_some() { HAS_PURGED } else { 0 };
    flags |= if s.last_index.is_some() { HAS_LAST } else { 0 };
    flags |= if s.user_meta.is_some() { HAS_USER_META } else { 0 };
    flags |= if s.first_index.is_some() { HAS_FIRST } else { 0 };
    out.push(flags);
    let blob = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    if let Some(v) = &s.vote {
        blob(out, v);
    }
    if let Some(c) = &s.committed {
        blob(out, c);
    }
    if let Some(p) = &s.purged {
        out.extend_from_slice(&p.index.to_le_bytes());
        blob(out, &p.meta);
    }
    if let Some(f) = s.first_index {
        out.extend_from_slice(&f.to_le_bytes());
    }
    if let Some(l) = s.last_index {
        out.extend_from_slice(&l.to_le_bytes());
    }
    if let Some(m) = &s.user_meta {
        blob(out, m);
    }
}

pub(crate) fn decode_state(c: &mut Cursor<'_>) -> Result<LogState, String> {
    let flags = c.u8()?;
    if flags & !(HAS_VOTE | HAS_COMMITTED | HAS_PURGED | HAS_LAST | HAS_USER_META | HAS_FIRST) != 0 {
        return Err(format!("unknown state flags {flags:#x}"));
    }
    let mut s = LogState::default();
    if flags & HAS_VOTE != 0 {
        s.vote = Some(c.blob()?);
    }
    if flags & HAS_COMMITTED != 0 {
        s.committed = Some(c.blob()?);
    }
    if flags & HAS_PURGED != 0 {
        let index = c.u64()?;
        s.purged = Some(Purged { index, meta: c.blob()? });
    }
    if flags & HAS_FIRST != 0 {
        s.first_index = Some(c.u64()?);
    }
    if flags & HAS_LAST != 0 {
        s.last_index = Some(c.u64()?);
    }
    if flags & HAS_USER_META != 0 {
        s.user_meta = Some(c.blob()?);
    }
    s.validate()?;
    Ok(s)
}

/// A bounds-checked reader over a record body.
pub(crate) struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `b`.
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Cursor { b, pos: 0 }
    }
}

impl<'a> Cursor<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| format!("record body too short: needs {n} bytes at {}", self.pos))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn flag(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            f => Err(format!("invalid presence flag {f}")),
        }
    }
    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        let (v, n) = super::varint::decode(&self.b[self.pos..]).ok_or("invalid group id varint")?;
        self.pos += n;
        Ok(v)
    }
    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32_at(self.take(4)?, 0))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64_at(self.take(8)?, 0))
    }
    pub(crate) fn blob(&mut self) -> Result<Bytes, String> {
        let n = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.pos..];
        self.pos = self.b.len();
        s
    }
    pub(crate) fn opt_rest(&mut self) -> Result<Option<&'a [u8]>, String> {
        if self.flag()? { Ok(Some(self.rest())) } else { self.end().map(|_| None) }
    }
    pub(crate) fn end(&self) -> Result<(), String> {
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(format!("{} unexpected bytes at the end of the record body", self.b.len() - self.pos))
        }
    }
}
