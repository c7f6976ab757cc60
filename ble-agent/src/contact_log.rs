//! The contact log: what the agent heard, per identifier, for 14 days, in a bounded store.
//!
//! A record is keyed by `day ‖ protocol ‖ identifier` (the UTC day of the sightings it holds) and
//! keeps the region where the identifier was heard, 4 extra bytes (a GAEN sighting's AEM, which
//! only the matching key can decrypt) and its *scan instances*: sightings grouped into windows of
//! [`INSTANCE_MS`], each with its first and last time, strongest RSSI, RSSI sum and count (what
//! GAEN v2 turns into minimum and typical attenuation once the tx power is known). An identifier
//! heard on both sides of midnight has one record per day; matching joins them.
//!
//! [`Ingest`] buffers sightings in memory, merges them per identifier and writes them with the
//! record count in one atomic write; when the log holds `max_records` records, a flush that would
//! add more is refused with [`LogError::Full`] and stores nothing. [`sweep`] deletes every
//! sighting older than 14 days. This module never decrypts, matches or uploads anything.

use crate::sighting::{Protocol, Sighting};
use crate::store::{CF_META, CF_SIGHTINGS, Store, StoreError};
use crate::{DAY_SECS, RETENTION_DAYS};
use enmesh_protocol::region::RegionId;
use std::collections::HashMap;
use thiserror::Error;

/// Sightings of one identifier within this many milliseconds of an instance's first sighting
/// join that instance.
pub const INSTANCE_MS: u64 = 60_000;
/// Most scan instances one record keeps; later sightings widen the nearest instance.
pub const MAX_INSTANCES: usize = 1440;
/// Sightings buffered before [`Ingest`] writes them.
pub const FLUSH_SIGHTINGS: usize = 1 << 16;
/// Default bound on the number of records.
pub const DEFAULT_MAX_RECORDS: u64 = 5_000_000;

const DAY_MS: u64 = DAY_SECS * 1000;
const RECORD_VERSION: u8 = 1;
const META_RECORDS: &[u8] = b"records";

/// Why the contact log refused or failed.
#[derive(Debug, Error)]
pub enum LogError {
    /// The log holds its maximum number of records; nothing of the refused flush was stored.
    #[error(
        "the contact log is full: {records} records, limit {limit}; {refused} new identifiers were not stored"
    )]
    Full {
        /// Records held.
        records: u64,
        /// The limit.
        limit: u64,
        /// New identifiers in the refused flush.
        refused: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One group of sightings of an identifier within [`INSTANCE_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanInstance {
    /// First sighting, unix ms.
    pub start_ms: u64,
    /// Last sighting, unix ms.
    pub end_ms: u64,
    /// Strongest RSSI, dBm (gives the minimum attenuation).
    pub max_rssi: i8,
    /// Sum of the RSSIs (with `count`, the mean: the typical attenuation).
    pub rssi_sum: i32,
    /// Sightings in the instance.
    pub count: u16,
}

impl ScanInstance {
    fn single(at_ms: u64, rssi: i8) -> Self {
        Self {
            start_ms: at_ms,
            end_ms: at_ms,
            max_rssi: rssi,
            rssi_sum: i32::from(rssi),
            count: 1,
        }
    }

    /// The mean RSSI, rounded towards zero.
    pub fn mean_rssi(&self) -> i8 {
        let mean = self.rssi_sum / i32::from(self.count.max(1));
        i8::try_from(mean).unwrap_or(if mean < 0 { i8::MIN } else { i8::MAX })
    }

    fn absorb(&mut self, other: &ScanInstance) {
        self.start_ms = self.start_ms.min(other.start_ms);
        self.end_ms = self.end_ms.max(other.end_ms);
        self.max_rssi = self.max_rssi.max(other.max_rssi);
        // Keep the mean exact while the count fits; past u16::MAX sightings the mean is frozen.
        if let Some(count) = self.count.checked_add(other.count) {
            self.count = count;
            self.rssi_sum = self.rssi_sum.saturating_add(other.rssi_sum);
        }
    }
}

/// What the log keeps about one identifier on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Where it was heard (the first sighting's region).
    pub region: RegionId,
    /// The AEM of a GAEN identifier; zeros otherwise.
    pub extra: [u8; 4],
    /// Scan instances, sorted by start.
    pub instances: Vec<ScanInstance>,
}

impl Record {
    fn new(region: RegionId, extra: [u8; 4]) -> Self {
        Self {
            region,
            extra,
            instances: Vec::new(),
        }
    }

    /// First time heard, unix ms.
    pub fn first_ms(&self) -> Option<u64> {
        self.instances.first().map(|i| i.start_ms)
    }

    /// Last time heard, unix ms.
    pub fn last_ms(&self) -> Option<u64> {
        self.instances.iter().map(|i| i.end_ms).max()
    }

    /// Adds one instance, joining the instance whose window holds its start.
    pub fn add(&mut self, instance: ScanInstance) {
        let at = instance.start_ms;
        // The last instance starting at or before `at`.
        let position = self.instances.partition_point(|i| i.start_ms <= at);
        if let Some(before) = position
            .checked_sub(1)
            .and_then(|p| self.instances.get_mut(p))
            && at - before.start_ms < INSTANCE_MS
        {
            before.absorb(&instance);
            return;
        }
        if let Some(after) = self.instances.get_mut(position)
            && after.start_ms - at < INSTANCE_MS
        {
            after.absorb(&instance);
            return;
        }
        if self.instances.len() >= MAX_INSTANCES {
            let nearest = position.min(self.instances.len().saturating_sub(1));
            if let Some(near) = self.instances.get_mut(nearest) {
                near.absorb(&instance);
            }
            return;
        }
        self.instances.insert(position, instance);
    }

    /// Adds every instance of `other`.
    pub fn merge(&mut self, other: &Record) {
        for instance in &other.instances {
            self.add(*instance);
        }
    }

    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        let region = self.region.to_string();
        let region = region.as_bytes();
        let mut out = Vec::with_capacity(8 + region.len() + self.instances.len() * 19);
        out.push(RECORD_VERSION);
        // Region ids are short (ISO codes, enterprise sites of at most a few dozen bytes).
        let len = u8::try_from(region.len()).unwrap_or(u8::MAX);
        out.push(len);
        out.extend_from_slice(region.get(..usize::from(len)).unwrap_or(region));
        out.extend_from_slice(&self.extra);
        let count = u16::try_from(self.instances.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for i in self.instances.iter().take(usize::from(count)) {
            out.extend_from_slice(&i.start_ms.to_le_bytes());
            let span = u32::try_from(i.end_ms.saturating_sub(i.start_ms)).unwrap_or(u32::MAX);
            out.extend_from_slice(&span.to_le_bytes());
            out.extend_from_slice(&i.max_rssi.to_le_bytes());
            out.extend_from_slice(&i.count.to_le_bytes());
            out.extend_from_slice(&i.rssi_sum.to_le_bytes());
        }
        out
    }

    /// Decodes stored bytes; `None` if they are not a record of this version.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = enmesh_protocol::codec::Reader::new(bytes);
        if r.u8("version").ok()? != RECORD_VERSION {
            return None;
        }
        let len = r.u8("region length").ok()?;
        let region = std::str::from_utf8(r.take(usize::from(len), "region").ok()?).ok()?;
        let region: RegionId = region.parse().ok()?;
        let extra = r.array::<4>("extra").ok()?;
        let count = r.u16_le("instances").ok()?;
        let mut instances = Vec::with_capacity(usize::from(count).min(MAX_INSTANCES));
        for _ in 0..count {
            let start_ms = u64::from_le_bytes(r.array::<8>("start").ok()?);
            let span = r.u32_le("span").ok()?;
            let max_rssi = i8::from_le_bytes([r.u8("rssi").ok()?]);
            let count = r.u16_le("count").ok()?;
            let rssi_sum = i32::from_le_bytes(r.array::<4>("sum").ok()?);
            instances.push(ScanInstance {
                start_ms,
                end_ms: start_ms.saturating_add(u64::from(span)),
                max_rssi,
                rssi_sum,
                count,
            });
        }
        r.expect_end("record").ok()?;
        Some(Self {
            region,
            extra,
            instances,
        })
    }
}

/// The key of the record of `protocol`/`identifier` on `day`.
pub fn record_key(day: u32, protocol: Protocol, identifier: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(5 + identifier.len());
    key.extend_from_slice(&day.to_be_bytes());
    key.push(protocol.tag());
    key.extend_from_slice(identifier);
    key
}

/// A stored record with its key parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The UTC day (days since 1970-01-01).
    pub day: u32,
    /// The protocol.
    pub protocol: Protocol,
    /// The identifier bytes (RPI, TCN, Herald contact id or payload, unknown service ‖ data).
    pub identifier: Vec<u8>,
    /// What was heard.
    pub record: Record,
}

fn split_key(key: &[u8]) -> Option<(u32, Protocol, &[u8])> {
    let (day, rest) = key.split_first_chunk::<4>()?;
    let (tag, identifier) = rest.split_first()?;
    Some((
        u32::from_be_bytes(*day),
        Protocol::from_tag(*tag)?,
        identifier,
    ))
}

/// Every record, in key order (day, protocol, identifier), optionally of one protocol only.
pub fn entries(store: &Store, only: Option<Protocol>) -> Result<Vec<Entry>, StoreError> {
    let cf = store.cf(CF_SIGHTINGS)?;
    let mut out = Vec::new();
    for item in store.db().iterator_cf(cf, rocksdb::IteratorMode::Start) {
        let (key, value) = item.map_err(|e| store.rocks(e))?;
        let (day, protocol, identifier) =
            split_key(&key).ok_or_else(|| store.corrupt("contact record key"))?;
        if only.is_some_and(|p| p != protocol) {
            continue;
        }
        let record = Record::decode(&value).ok_or_else(|| store.corrupt("contact record"))?;
        out.push(Entry {
            day,
            protocol,
            identifier: identifier.to_vec(),
            record,
        });
    }
    Ok(out)
}

/// The number of records the log holds.
pub fn record_count(store: &Store) -> Result<u64, StoreError> {
    Ok(store
        .get(CF_META, META_RECORDS)?
        .and_then(|v| v.as_slice().try_into().ok().map(u64::from_le_bytes))
        .unwrap_or(0))
}

/// What one flush wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Sightings written.
    pub sightings: u64,
    /// Records created.
    pub new_records: u64,
    /// Records updated.
    pub updated_records: u64,
}

/// Buffers sightings and writes them, merged per identifier, in atomic flushes.
pub struct Ingest<'s> {
    store: &'s Store,
    max_records: u64,
    buffer: HashMap<Vec<u8>, Record>,
    pending: usize,
    scratch: Vec<u8>,
    total: FlushStats,
}

impl<'s> Ingest<'s> {
    /// An ingest into `store` that refuses to hold more than `max_records` records.
    pub fn new(store: &'s Store, max_records: u64) -> Self {
        Self {
            store,
            max_records,
            buffer: HashMap::new(),
            pending: 0,
            scratch: Vec::with_capacity(64),
            total: FlushStats::default(),
        }
    }

    /// Buffers one sighting; flushes when [`FLUSH_SIGHTINGS`] are pending.
    pub fn add(&mut self, sighting: &Sighting) -> Result<(), LogError> {
        let day = u32::try_from(sighting.at_ms / DAY_MS).unwrap_or(u32::MAX);
        self.scratch.clear();
        self.scratch.extend_from_slice(&day.to_be_bytes());
        self.scratch.push(sighting.payload.protocol().tag());
        sighting.payload.identifier_into(&mut self.scratch);
        let instance = ScanInstance::single(sighting.at_ms, sighting.rssi);
        match self.buffer.get_mut(self.scratch.as_slice()) {
            Some(record) => record.add(instance),
            None => {
                let mut record = Record::new(sighting.region.clone(), sighting.payload.extra());
                record.add(instance);
                self.buffer.insert(self.scratch.clone(), record);
            }
        }
        self.pending += 1;
        if self.pending >= FLUSH_SIGHTINGS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes everything buffered in one atomic, synced write.
    pub fn flush(&mut self) -> Result<FlushStats, LogError> {
        if self.buffer.is_empty() {
            return Ok(FlushStats::default());
        }
        let store = self.store;
        let cf = store.cf(CF_SIGHTINGS)?;
        let buffered: Vec<(Vec<u8>, Record)> = self.buffer.drain().collect();
        let sightings = self.pending as u64;
        self.pending = 0;
        let existing =
            store
                .db()
                .batched_multi_get_cf(cf, buffered.iter().map(|(k, _)| k.as_slice()), false);
        let mut batch = rocksdb::WriteBatch::default();
        let mut stats = FlushStats {
            sightings,
            ..FlushStats::default()
        };
        for ((key, mut record), old) in buffered.into_iter().zip(existing) {
            match old.map_err(|e| store.rocks(e))? {
                Some(old) => {
                    let mut old =
                        Record::decode(&old).ok_or_else(|| store.corrupt("contact record"))?;
                    old.merge(&record);
                    record = old;
                    stats.updated_records += 1;
                }
                None => stats.new_records += 1,
            }
            batch.put_cf(cf, key, record.encode());
        }
        let records = record_count(store)?;
        if records.saturating_add(stats.new_records) > self.max_records {
            return Err(LogError::Full {
                records,
                limit: self.max_records,
                refused: stats.new_records,
            });
        }
        let meta = store.cf(CF_META)?;
        batch.put_cf(
            meta,
            META_RECORDS,
            (records + stats.new_records).to_le_bytes(),
        );
        store.write(batch, true)?;
        self.total.sightings += stats.sightings;
        self.total.new_records += stats.new_records;
        self.total.updated_records += stats.updated_records;
        Ok(stats)
    }

    /// Everything written so far (after the last flush).
    pub fn totals(&self) -> FlushStats {
        self.total
    }
}

/// What a retention sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Records deleted.
    pub records_deleted: u64,
    /// Records whose oldest instances were cut.
    pub records_trimmed: u64,
}

/// Deletes every sighting older than 14 days before `now_secs`: whole days by range delete, the
/// boundary day instance by instance; the record count is updated in the same write.
pub fn sweep(store: &Store, now_secs: u64) -> Result<SweepStats, StoreError> {
    let cutoff_ms = now_secs
        .saturating_sub(RETENTION_DAYS * DAY_SECS)
        .saturating_mul(1000);
    let cutoff_day = u32::try_from(cutoff_ms / DAY_MS).unwrap_or(u32::MAX);
    let cf = store.cf(CF_SIGHTINGS)?;
    let mut stats = SweepStats::default();
    let mut batch = rocksdb::WriteBatch::default();
    let boundary_end = cutoff_day.saturating_add(1).to_be_bytes();
    for item in store.db().iterator_cf(cf, rocksdb::IteratorMode::Start) {
        let (key, value) = item.map_err(|e| store.rocks(e))?;
        if key.as_ref() >= boundary_end.as_slice() {
            break;
        }
        let (day, _, _) = split_key(&key).ok_or_else(|| store.corrupt("contact record key"))?;
        if day < cutoff_day {
            stats.records_deleted += 1;
            continue;
        }
        let mut record = Record::decode(&value).ok_or_else(|| store.corrupt("contact record"))?;
        let before = record.instances.len();
        record.instances.retain(|i| i.end_ms >= cutoff_ms);
        if record.instances.is_empty() {
            batch.delete_cf(cf, &key);
            stats.records_deleted += 1;
        } else if record.instances.len() != before {
            batch.put_cf(cf, &key, record.encode());
            stats.records_trimmed += 1;
        }
    }
    batch.delete_range_cf(cf, [0u8; 4], cutoff_day.to_be_bytes());
    let records = record_count(store)?.saturating_sub(stats.records_deleted);
    batch.put_cf(store.cf(CF_META)?, META_RECORDS, records.to_le_bytes());
    store.write(batch, true)?;
    Ok(stats)
}

/// The regions the agent was in since `since_secs` (from its records), sorted, deduplicated.
pub fn regions_since(store: &Store, since_secs: u64) -> Result<Vec<RegionId>, StoreError> {
    let since_ms = since_secs.saturating_mul(1000);
    let mut regions: Vec<RegionId> = entries(store, None)?
        .into_iter()
        .filter(|e| e.record.last_ms().is_some_and(|l| l >= since_ms))
        .map(|e| e.record.region)
        .collect();
    regions.sort_by_key(ToString::to_string);
    regions.dedup();
    Ok(regions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_group_by_window_and_roundtrip() {
        let mut r = Record::new("FR".parse().unwrap(), [1, 2, 3, 4]);
        for (t, rssi) in [
            (1_000, -60),
            (30_000, -50),
            (61_000, -70),
            (200_000, -80),
            (10, -90),
        ] {
            r.add(ScanInstance::single(t, rssi));
        }
        assert_eq!(r.instances.len(), 3, "{:?}", r.instances);
        assert_eq!(r.instances[0].start_ms, 10);
        assert_eq!(r.instances[0].end_ms, 30_000);
        assert_eq!(r.instances[0].max_rssi, -50);
        assert_eq!(r.instances[0].count, 3);
        assert_eq!(r.instances[0].mean_rssi(), -66);
        assert_eq!(Record::decode(&r.encode()), Some(r.clone()));
        assert_eq!(Record::decode(&r.encode()[..5]), None);
    }
}
