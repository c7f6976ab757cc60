//! The agent's data directory: one RocksDB with a column family per concern.
//!
//! | CF | key | value |
//! |---|---|---|
//! | `sightings` | day u32 BE ‖ protocol tag ‖ identifier | a contact record ([`crate::contact_log`]) |
//! | `identity` | `self` | the agent's own keys ([`crate::identity`]) |
//! | `keys` | region ‖ 0 ‖ TEK ‖ rolling start u32 BE | a downloaded diagnosis key ([`crate::download`]) |
//! | `reports` | region ‖ 0 ‖ SHA-256 of the report | a downloaded signed TCN report |
//! | `cursors` | region | how far that region's feed or exports were read |
//! | `meta` | `records` | the number of contact records (the size bound) |
//!
//! Every write that must be atomic (keys with their cursor, records with their count) is one
//! `WriteBatch` with the WAL on. This module owns opening and the CF names; it never interprets
//! values.

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, Options};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Column family of contact records.
pub const CF_SIGHTINGS: &str = "sightings";
/// Column family of the agent's own keys.
pub const CF_IDENTITY: &str = "identity";
/// Column family of downloaded diagnosis keys.
pub const CF_KEYS: &str = "keys";
/// Column family of downloaded TCN reports.
pub const CF_REPORTS: &str = "reports";
/// Column family of per-region download cursors.
pub const CF_CURSORS: &str = "cursors";
/// Column family of counters.
pub const CF_META: &str = "meta";

const ALL: [&str; 6] = [
    CF_SIGHTINGS,
    CF_IDENTITY,
    CF_KEYS,
    CF_REPORTS,
    CF_CURSORS,
    CF_META,
];

/// Why the data directory failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// RocksDB refused an operation.
    #[error("agent store {path}: {source}")]
    Rocks {
        /// The directory.
        path: PathBuf,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// A column family is missing (the directory was made by something else).
    #[error("agent store {path}: column family {cf} is missing")]
    MissingCf {
        /// The directory.
        path: PathBuf,
        /// The name.
        cf: &'static str,
    },
    /// A stored value could not be decoded: the directory is damaged.
    #[error("agent store {path}: corrupt {what}")]
    Corrupt {
        /// The directory.
        path: PathBuf,
        /// What could not be read.
        what: &'static str,
    },
}

/// The open data directory.
pub struct Store {
    db: DB,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the data directory at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let cfs = ALL
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db =
            DB::open_cf_descriptors(&options, path, cfs).map_err(|source| StoreError::Rocks {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            db,
            path: path.to_owned(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The RocksDB handle.
    pub fn db(&self) -> &DB {
        &self.db
    }

    /// A column family by name.
    pub fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::MissingCf {
                path: self.path.clone(),
                cf: name,
            })
    }

    /// Wraps a RocksDB error with the directory.
    pub fn rocks(&self, source: rocksdb::Error) -> StoreError {
        StoreError::Rocks {
            path: self.path.clone(),
            source,
        }
    }

    /// A corruption error naming `what`.
    pub fn corrupt(&self, what: &'static str) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what,
        }
    }

    /// Writes `batch` atomically (WAL on; `sync` makes it durable before returning).
    pub fn write(&self, batch: rocksdb::WriteBatch, sync: bool) -> Result<(), StoreError> {
        let mut options = rocksdb::WriteOptions::default();
        options.set_sync(sync);
        self.db
            .write_opt(batch, &options)
            .map_err(|e| self.rocks(e))
    }

    /// Reads one value.
    pub fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let handle = self.cf(cf)?;
        self.db.get_cf(handle, key).map_err(|e| self.rocks(e))
    }
}
