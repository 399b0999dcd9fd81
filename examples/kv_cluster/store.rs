//! The key-value state machine: a `BTreeMap<String, String>` in memory, with
//! openraft snapshots (build, install, get current) persisted to one file.
//!
//! The state machine itself is not persisted: a restarted node loads its last
//! snapshot from `snapshot.bin` and openraft re-applies the committed log
//! entries after it from chunklog. The snapshot file is replaced atomically
//! (write a temporary file, fsync, rename, fsync the directory), so a crash
//! leaves either the old or the new snapshot.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::type_config::alias::{EntryPayloadOf, LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::{EntryPayload, OptionalSend, SnapshotMeta, StoredMembership};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::types::TypeConfig;

/// Name of the snapshot file in a node's data directory.
pub const SNAPSHOT_FILE: &str = "snapshot.bin";

/// The state machine's content; also the body of a snapshot (as JSON).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SmData {
    /// Log id of the last applied entry.
    pub last_applied: Option<LogIdOf<TypeConfig>>,
    /// The last applied membership.
    pub last_membership: StoredMembershipOf<TypeConfig>,
    /// The key-value pairs.
    pub kv: BTreeMap<String, String>,
}

/// A snapshot: its meta and its serialized [`SmData`].
#[derive(Debug, Clone)]
struct StoredSnapshot {
    meta: SnapshotMetaOf<TypeConfig>,
    data: Arc<Vec<u8>>,
}

/// Counters reported by the node's `/stats` endpoint.
#[derive(Debug, Default)]
pub struct SmCounters {
    /// Snapshots built by this node since it started.
    pub snapshots_built: AtomicU64,
    /// Snapshots received from a leader and installed since it started.
    pub snapshots_installed: AtomicU64,
}

struct Inner {
    dir: PathBuf,
    sm: RwLock<SmData>,
    current: Mutex<Option<StoredSnapshot>>,
    /// Serializes snapshot persistence: openraft may build a snapshot while
    /// it installs one from the leader.
    persist: tokio::sync::Mutex<()>,
    counters: SmCounters,
    /// Index of the snapshot loaded from disk at start, if any.
    loaded_at_start: Option<u64>,
    /// Every entry this process applied: index -> (log id, CRC of its
    /// payload), for the divergence check.
    applied: Mutex<BTreeMap<u64, (LogIdOf<TypeConfig>, u32)>>,
}

/// What a node applied, for the divergence check (`GET /applied`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// Log id of the last applied entry.
    pub last_applied: Option<LogIdOf<TypeConfig>>,
    /// CRC-32 of the state machine's key-value pairs at `last_applied`.
    pub state_crc: u32,
    /// Number of keys.
    pub keys: usize,
    /// Every entry applied since the node process started (entries covered by
    /// a snapshot it loaded or installed are not): (log id, payload CRC-32).
    pub entries: Vec<(LogIdOf<TypeConfig>, u32)>,
}

/// CRC-32 of an entry's payload: what "the same data" means.
fn payload_crc(payload: &EntryPayloadOf<TypeConfig>) -> u32 {
    let mut h = crc32fast::Hasher::new();
    match payload {
        EntryPayload::Blank => h.update(b"blank"),
        EntryPayload::Normal(req) => {
            h.update(b"set\0");
            h.update(req.key.as_bytes());
            h.update(b"\0");
            h.update(req.value.as_bytes());
        }
        EntryPayload::Membership(m) => h.update(format!("membership {m:?}").as_bytes()),
    }
    h.finalize()
}

/// The state machine store handed to openraft; clones share everything.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Inner>,
}

fn to_io(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Frames a JSON header and a raw body: `[u64 BE header length][header][body]`.
/// Used for the snapshot file and for snapshot transfer.
pub fn frame<H: Serialize>(header: &H, body: &[u8]) -> io::Result<Vec<u8>> {
    let h = serde_json::to_vec(header).map_err(to_io)?;
    let mut out = Vec::with_capacity(8 + h.len() + body.len());
    out.extend_from_slice(&(h.len() as u64).to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(body);
    Ok(out)
}

/// Splits what [`frame`] made into the decoded header and the body.
pub fn unframe<H: DeserializeOwned>(bytes: &[u8]) -> io::Result<(H, &[u8])> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "truncated frame");
    let len: [u8; 8] = bytes.get(..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?;
    let len = usize::try_from(u64::from_be_bytes(len)).map_err(|_| bad())?;
    let end = 8usize.checked_add(len).ok_or_else(bad)?;
    let header = serde_json::from_slice(bytes.get(8..end).ok_or_else(bad)?).map_err(to_io)?;
    Ok((header, &bytes[end..]))
}

/// Writes `bytes` to `dir/name` atomically and durably.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

impl StateMachineStore {
    /// Opens the state machine of the node whose data directory is `dir`:
    /// loads `dir/snapshot.bin` if present, otherwise starts empty.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (data, current) = match std::fs::read(dir.join(SNAPSHOT_FILE)) {
            Ok(bytes) => {
                let (meta, body) = unframe::<SnapshotMetaOf<TypeConfig>>(&bytes)?;
                let data: SmData = serde_json::from_slice(body).map_err(to_io)?;
                if data.last_applied != meta.last_log_id {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "snapshot meta and data disagree"));
                }
                (data, Some(StoredSnapshot { meta, data: Arc::new(body.to_vec()) }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (SmData::default(), None),
            Err(e) => return Err(e),
        };
        let loaded_at_start = data.last_applied.map(|l| l.index);
        Ok(StateMachineStore {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                sm: RwLock::new(data),
                current: Mutex::new(current),
                persist: tokio::sync::Mutex::new(()),
                counters: SmCounters::default(),
                loaded_at_start,
                applied: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The value of `key` in this node's state machine and the index of the
    /// last applied entry.
    pub fn get(&self, key: &str) -> (Option<String>, Option<u64>) {
        let sm = self.inner.sm.read().unwrap_or_else(|p| p.into_inner());
        (sm.kv.get(key).cloned(), sm.last_applied.map(|l| l.index))
    }

    /// Number of keys and the last applied index.
    pub fn size(&self) -> (usize, Option<u64>) {
        let sm = self.inner.sm.read().unwrap_or_else(|p| p.into_inner());
        (sm.kv.len(), sm.last_applied.map(|l| l.index))
    }

    /// What this node applied, for the divergence check.
    pub fn applied(&self) -> Applied {
        let (last_applied, state_crc, keys) = {
            let sm = self.inner.sm.read().unwrap_or_else(|p| p.into_inner());
            let mut h = crc32fast::Hasher::new();
            for (k, v) in &sm.kv {
                h.update(&(k.len() as u64).to_le_bytes());
                h.update(k.as_bytes());
                h.update(&(v.len() as u64).to_le_bytes());
                h.update(v.as_bytes());
            }
            (sm.last_applied, h.finalize(), sm.kv.len())
        };
        let entries = self.inner.applied.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        Applied { last_applied, state_crc, keys, entries }
    }

    /// Snapshot counters.
    pub fn counters(&self) -> &SmCounters {
        &self.inner.counters
    }

    /// Index of the snapshot loaded from disk when the node started.
    pub fn loaded_at_start(&self) -> Option<u64> {
        self.inner.loaded_at_start
    }

    /// Index of the current snapshot, if any.
    pub fn snapshot_index(&self) -> Option<u64> {
        let cur = self.inner.current.lock().unwrap_or_else(|p| p.into_inner());
        cur.as_ref().and_then(|s| s.meta.last_log_id.map(|l| l.index))
    }

    /// Persists `snap` and makes it the current snapshot, unless the current
    /// one is newer.
    async fn save(&self, snap: StoredSnapshot) -> io::Result<()> {
        let _one_at_a_time = self.inner.persist.lock().await;
        let newer =
            |cur: &Option<StoredSnapshot>| cur.as_ref().is_some_and(|c| c.meta.last_log_id > snap.meta.last_log_id);
        if newer(&self.inner.current.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(());
        }
        let bytes = frame(&snap.meta, &snap.data)?;
        let dir = self.inner.dir.clone();
        tokio::task::spawn_blocking(move || write_atomic(&dir, SNAPSHOT_FILE, &bytes)).await.map_err(to_io)??;
        *self.inner.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(snap);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, Vec<u8>>, io::Error> {
        // Serialize under the read lock: `last_applied` and `kv` agree.
        let (meta, data) = {
            let sm = self.inner.sm.read().unwrap_or_else(|p| p.into_inner());
            let meta = SnapshotMeta { last_log_id: sm.last_applied, last_membership: sm.last_membership.clone() };
            (meta, serde_json::to_vec(&*sm).map_err(to_io)?)
        };
        let data = Arc::new(data);
        self.save(StoredSnapshot { meta: meta.clone(), data: data.clone() }).await?;
        self.inner.counters.snapshots_built.fetch_add(1, Ordering::Relaxed);
        Ok(Snapshot { meta, snapshot: data.as_ref().clone() })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        let sm = self.inner.sm.read().unwrap_or_else(|p| p.into_inner());
        Ok((sm.last_applied, sm.last_membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let crc = payload_crc(&entry.payload);
            self.inner
                .applied
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(entry.log_id.index, (entry.log_id, crc));
            {
                // The guard is dropped before the next `.await`.
                let mut sm = self.inner.sm.write().unwrap_or_else(|p| p.into_inner());
                match entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(req) => {
                        sm.kv.insert(req.key, req.value);
                    }
                    EntryPayload::Membership(m) => {
                        sm.last_membership = StoredMembership::new(Some(entry.log_id), m);
                    }
                }
                sm.last_applied = Some(entry.log_id);
            }
            if let Some(r) = responder {
                r.send(());
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        let data: SmData = serde_json::from_slice(&snapshot).map_err(to_io)?;
        if data.last_applied != meta.last_log_id {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "snapshot meta and data disagree"));
        }
        // Persist first: once the state machine moves past its log, the
        // snapshot is what a restart recovers from.
        self.save(StoredSnapshot { meta: meta.clone(), data: Arc::new(snapshot) }).await?;
        *self.inner.sm.write().unwrap_or_else(|p| p.into_inner()) = data;
        self.inner.counters.snapshots_installed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<TypeConfig, Vec<u8>>>, io::Error> {
        let cur = self.inner.current.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(cur.map(|s| Snapshot { meta: s.meta, snapshot: s.data.as_ref().clone() }))
    }
}
