//! The openraft log stores: chunklog's 0.10 and 0.9 adapters and
//! hiqlite-wal (openraft 0.9), all driven through the same trait calls
//! (`RaftLogStorage::append` with a flush callback, awaited with
//! `RaftLogStorageExt::blocking_append`; `get_log_state` after open).
//!
//! Entries are built before the clock starts: the timings cover what the
//! store does with them (encode, queue, write, sync, callback).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

openraft::declare_raft_types!(pub Tc10);
openraft09::declare_raft_types!(pub Tc09: D = String, R = String, SnapshotData = std::io::Cursor<Vec<u8>>);

/// The openraft log stores under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// `chunklog::LogStore` (openraft 0.10).
    Chunklog010,
    /// `chunklog::v09::LogStore` (openraft 0.9).
    Chunklog09,
    /// `hiqlite_wal::LogStore` (openraft 0.9), syncing every append
    /// (`LogSync::Immediate`).
    Hiqlite,
}

impl Adapter {
    pub const ALL: [Adapter; 3] = [Adapter::Chunklog010, Adapter::Chunklog09, Adapter::Hiqlite];

    pub fn name(self) -> &'static str {
        match self {
            Adapter::Chunklog010 => "chunklog-0.10",
            Adapter::Chunklog09 => "chunklog-0.9",
            Adapter::Hiqlite => "hiqlite-wal",
        }
    }

    pub fn parse(s: &str) -> Result<Adapter> {
        Adapter::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| anyhow!("unknown adapter {s:?}"))
    }
}

/// An open openraft log store.
pub enum Opened {
    Chunklog010(chunklog::LogStore<Tc10>),
    Chunklog09(chunklog::v09::LogStore<Tc09>),
    Hiqlite(hiqlite_wal::LogStore<Tc09>),
}

/// A batch of entries ready to append.
pub enum Entries {
    V010(Vec<openraft::type_config::alias::EntryOf<Tc10>>),
    V09(Vec<openraft09::Entry<Tc09>>),
}

impl Opened {
    /// Opens (or creates) the store in `dir`; chunk / WAL files of `file_bytes`.
    pub async fn open(kind: Adapter, dir: &Path, file_bytes: u64) -> Result<Opened> {
        let cfg = chunklog::Config::new(dir).chunk_max_size(file_bytes);
        Ok(match kind {
            Adapter::Chunklog010 => Opened::Chunklog010(chunklog::LogStore::open(cfg)?),
            Adapter::Chunklog09 => Opened::Chunklog09(chunklog::v09::LogStore::open(cfg)?),
            Adapter::Hiqlite => {
                let wal_size = u32::try_from(file_bytes)?;
                let store = hiqlite_wal::LogStore::<Tc09>::start(
                    dir.display().to_string(),
                    hiqlite_wal::LogSync::Immediate,
                    wal_size,
                )
                .await
                .map_err(|e| anyhow!("hiqlite-wal start: {e}"))?;
                Opened::Hiqlite(store)
            }
        })
    }

    /// Entries `first..first + payloads.len()` of term 1 for this store.
    pub fn entries(&self, first: u64, payloads: Vec<String>) -> Entries {
        match self {
            Opened::Chunklog010(_) => {
                use openraft::entry::RaftEntry;
                Entries::V010(
                    payloads
                        .into_iter()
                        .enumerate()
                        .map(|(k, s)| {
                            let id = openraft::testing::log_id::<Tc10>(1, 1, first + k as u64);
                            openraft::type_config::alias::EntryOf::<Tc10>::new_normal(id, s)
                        })
                        .collect(),
                )
            }
            Opened::Chunklog09(_) | Opened::Hiqlite(_) => Entries::V09(
                payloads
                    .into_iter()
                    .enumerate()
                    .map(|(k, s)| openraft09::Entry {
                        log_id: openraft09::testing::log_id(1, 1, first + k as u64),
                        payload: openraft09::EntryPayload::Normal(s),
                    })
                    .collect(),
            ),
        }
    }

    /// Appends `entries` and waits for the flush callback; returns the
    /// time that took.
    pub async fn append_durable(&mut self, entries: Entries) -> Result<Duration> {
        let t = Instant::now();
        match (self, entries) {
            (Opened::Chunklog010(s), Entries::V010(e)) => {
                use openraft::storage::RaftLogStorageExt;
                s.blocking_append(e).await.map_err(|e| anyhow!("{e}"))?
            }
            (Opened::Chunklog09(s), Entries::V09(e)) => {
                use openraft09::storage::RaftLogStorageExt;
                s.blocking_append(e).await.map_err(|e| anyhow!("{e}"))?
            }
            (Opened::Hiqlite(s), Entries::V09(e)) => {
                use openraft09::storage::RaftLogStorageExt;
                s.blocking_append(e).await.map_err(|e| anyhow!("{e}"))?
            }
            _ => bail!("entries of the wrong openraft line"),
        }
        Ok(t.elapsed())
    }

    /// The last log index, through `get_log_state`.
    pub async fn last_index(&mut self) -> Result<Option<u64>> {
        Ok(match self {
            Opened::Chunklog010(s) => {
                use openraft::storage::RaftLogStorage;
                s.get_log_state().await?.last_log_id.map(|l| l.index())
            }
            Opened::Chunklog09(s) => {
                use openraft09::storage::RaftLogStorage;
                s.get_log_state().await.map_err(|e| anyhow!("{e}"))?.last_log_id.map(|l| l.index)
            }
            Opened::Hiqlite(s) => {
                use openraft09::storage::RaftLogStorage;
                s.get_log_state().await.map_err(|e| anyhow!("{e}"))?.last_log_id.map(|l| l.index)
            }
        })
    }

    /// Closes the store (hiqlite-wal needs an explicit stop).
    pub async fn close(self) -> Result<()> {
        match self {
            Opened::Chunklog010(s) => s.engine().clone().close()?,
            Opened::Chunklog09(s) => s.engine().clone().close()?,
            Opened::Hiqlite(s) => s.stop().await.map_err(|e| anyhow!("hiqlite-wal stop: {e}"))?,
        }
        Ok(())
    }
}
