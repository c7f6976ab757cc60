//! F2: following the public feeds of the home region and of every region the agent was in
//! during the last 14 days, each from its own server with its own export key.
//!
//! Per region, either the GAEN export files ([`exports`]: `index.txt` and the zips it names,
//! each verified with the region's export key) or the chunked key feed ([`feed`]: complete
//! chunks only). A cursor per region (the last file name or chunk id read) is stored in the same
//! atomic write as the keys it covers, so nothing is downloaded twice and a refused file stores
//! nothing and leaves the cursor where it was. Keys are kept until their validity ended 14 days
//! ago. This module never matches; it only fetches, checks and stores.

pub mod exports;
pub mod feed;
pub mod tcn;

use crate::config::{AgentConfig, RegionConfig, RegionSource};
use crate::contact_log;
use crate::http::HttpError;
use crate::store::{CF_CURSORS, CF_KEYS, Store, StoreError};
use crate::{DAY_SECS, RETENTION_DAYS};
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, TEK_ROLLING_PERIOD};
use enmesh_protocol::keys::ReportType;
use enmesh_protocol::region::RegionId;
use serde::Serialize;
use thiserror::Error;
use tracing::Instrument as _;

/// Largest `index.txt` or chunk index read.
pub const MAX_INDEX_BODY: usize = 16 << 20;
/// Largest export zip or key chunk read.
pub const MAX_FILE_BODY: usize = 96 << 20;

/// A diagnosis key as the agent keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedKey {
    /// The TEK.
    pub tek: Tek,
    /// Its first interval.
    pub rolling_start: IntervalNumber,
    /// Its intervals of validity, 1..=144.
    pub rolling_period: u32,
    /// How it was reported.
    pub report_type: ReportType,
    /// Days since symptom onset, −14..=14, when known.
    pub days_since_onset: Option<i32>,
    /// The region whose feed served it.
    pub source: RegionId,
}

impl DownloadedKey {
    fn store_key(&self) -> Vec<u8> {
        let region = self.source.to_string();
        let mut key = Vec::with_capacity(region.len() + 21);
        key.extend_from_slice(region.as_bytes());
        key.push(0);
        key.extend_from_slice(&self.tek.0);
        key.extend_from_slice(&self.rolling_start.0.to_be_bytes());
        key
    }

    fn store_value(&self) -> [u8; 7] {
        let period = u8::try_from(self.rolling_period).unwrap_or(144);
        let report = u8::try_from(self.report_type.number()).unwrap_or(0);
        let (known, dso) = match self.days_since_onset {
            Some(d) => (1, d),
            None => (0, 0),
        };
        let [d0, d1, d2, d3] = dso.to_le_bytes();
        [period, report, known, d0, d1, d2, d3]
    }

    fn from_store(key: &[u8], value: &[u8]) -> Option<Self> {
        let zero = key.iter().position(|b| *b == 0)?;
        let (region, rest) = key.split_at(zero);
        let rest = rest.get(1..)?;
        let (tek, start) = rest.split_first_chunk::<16>()?;
        let start: [u8; 4] = start.try_into().ok()?;
        let [period, report, known, d0, d1, d2, d3]: [u8; 7] = value.try_into().ok()?;
        Some(Self {
            tek: Tek(*tek),
            rolling_start: IntervalNumber(u32::from_be_bytes(start)),
            rolling_period: u32::from(period),
            report_type: ReportType::from_number(i32::from(report))?,
            days_since_onset: (known == 1).then_some(i32::from_le_bytes([d0, d1, d2, d3])),
            source: std::str::from_utf8(region).ok()?.parse().ok()?,
        })
    }
}

/// How far a region was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cursor {
    /// The last export file name taken (names sort chronologically).
    Exports(String),
    /// The last complete chunk taken.
    Feed(u64),
}

impl Cursor {
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Exports(name) => [&[1u8][..], name.as_bytes()].concat(),
            Self::Feed(id) => [&[2u8][..], &id.to_be_bytes()].concat(),
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes.split_first()? {
            (1, name) => Some(Self::Exports(std::str::from_utf8(name).ok()?.to_owned())),
            (2, id) => Some(Self::Feed(u64::from_be_bytes(id.try_into().ok()?))),
            _ => None,
        }
    }
}

/// Why a region's download failed (what was stored before the failure stays).
#[derive(Debug, Error)]
pub enum DownloadError {
    /// The server could not be used.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// An index or file was refused (bad signature, bad zip, bad names).
    #[error(transparent)]
    Exports(#[from] exports::ExportsError),
    /// A feed body was refused.
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one region's download did.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    /// The region.
    pub region: String,
    /// `exports` or `feed`.
    pub source: &'static str,
    /// Files or chunks taken.
    pub fetched: usize,
    /// Keys stored.
    pub keys: usize,
    /// Keys dropped for breaking a rule.
    pub dropped: usize,
    /// The cursor after the download.
    pub cursor: Option<Cursor>,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// The cursor of `region`.
pub fn cursor(store: &Store, region: &RegionId) -> Result<Option<Cursor>, StoreError> {
    Ok(store
        .get(CF_CURSORS, region.to_string().as_bytes())?
        .and_then(|bytes| Cursor::decode(&bytes)))
}

/// Stores `keys` and moves `region`'s cursor to `cursor` in one atomic, synced write.
pub fn commit(
    store: &Store,
    region: &RegionId,
    keys: &[DownloadedKey],
    cursor: &Cursor,
) -> Result<(), StoreError> {
    let cf = store.cf(CF_KEYS)?;
    let mut batch = rocksdb::WriteBatch::default();
    for key in keys {
        batch.put_cf(cf, key.store_key(), key.store_value());
    }
    batch.put_cf(
        store.cf(CF_CURSORS)?,
        region.to_string().as_bytes(),
        cursor.encode(),
    );
    store.write(batch, true)
}

/// Every stored key.
pub fn stored_keys(store: &Store) -> Result<Vec<DownloadedKey>, StoreError> {
    let cf = store.cf(CF_KEYS)?;
    let mut out = Vec::new();
    for item in store.db().iterator_cf(cf, rocksdb::IteratorMode::Start) {
        let (key, value) = item.map_err(|e| store.rocks(e))?;
        out.push(
            DownloadedKey::from_store(&key, &value)
                .ok_or_else(|| store.corrupt("downloaded key"))?,
        );
    }
    Ok(out)
}

/// Deletes keys whose validity ended more than 14 days before `now_secs`; returns how many.
pub fn sweep(store: &Store, now_secs: u64) -> Result<u64, StoreError> {
    let cutoff =
        IntervalNumber::from_unix_seconds(now_secs.saturating_sub(RETENTION_DAYS * DAY_SECS))
            .unwrap_or(IntervalNumber(0));
    let cf = store.cf(CF_KEYS)?;
    let mut batch = rocksdb::WriteBatch::default();
    let mut deleted = 0;
    for item in store.db().iterator_cf(cf, rocksdb::IteratorMode::Start) {
        let (key, value) = item.map_err(|e| store.rocks(e))?;
        let old = DownloadedKey::from_store(&key, &value).is_none_or(|k| {
            u64::from(k.rolling_start.0) + u64::from(k.rolling_period) < u64::from(cutoff.0)
        });
        if old {
            batch.delete_cf(cf, &key);
            deleted += 1;
        }
    }
    store.write(batch, true)?;
    Ok(deleted)
}

/// The regions to follow at `now_secs`: home, every region in the contact log during the last
/// 14 days, and `extra` (given by the user), sorted and deduplicated.
pub fn follow_regions(
    store: &Store,
    home: &RegionId,
    extra: &[RegionId],
    now_secs: u64,
) -> Result<Vec<RegionId>, StoreError> {
    let mut regions =
        contact_log::regions_since(store, now_secs.saturating_sub(RETENTION_DAYS * DAY_SECS))?;
    regions.push(home.clone());
    regions.extend(extra.iter().cloned());
    regions.sort_by_key(ToString::to_string);
    regions.dedup();
    Ok(regions)
}

/// Downloads every followed region that has a config entry; regions without one are reported.
pub async fn download_all(
    store: &Store,
    config: &AgentConfig,
    extra: &[RegionId],
    now_secs: u64,
) -> Result<Vec<RegionReport>, StoreError> {
    let mut reports = Vec::new();
    for region in follow_regions(store, &config.home, extra, now_secs)? {
        let report = match config.region(&region) {
            Some(region_config) => download_region(store, region_config).await,
            None => RegionReport {
                region: region.to_string(),
                source: "none",
                fetched: 0,
                keys: 0,
                dropped: 0,
                cursor: None,
                error: Some("no [[regions]] entry in the config: not followed".into()),
            },
        };
        reports.push(report);
    }
    Ok(reports)
}

/// Downloads what `region` published since its cursor.
pub async fn download_region(store: &Store, region: &RegionConfig) -> RegionReport {
    let mut report = RegionReport {
        region: region.id.to_string(),
        source: match region.source {
            RegionSource::Exports { .. } => "exports",
            RegionSource::Feed => "feed",
        },
        fetched: 0,
        keys: 0,
        dropped: 0,
        cursor: None,
        error: None,
    };
    let span = tracing::info_span!("download", region = %region.id, source = report.source);
    let result = match &region.source {
        RegionSource::Exports { key } => {
            download_exports(store, region, key, &mut report)
                .instrument(span)
                .await
        }
        RegionSource::Feed => {
            download_feed(store, region, &mut report)
                .instrument(span)
                .await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "download stopped");
        report.error = Some(e.to_string());
    }
    report.cursor = cursor(store, &region.id).ok().flatten();
    report
}

async fn download_exports(
    store: &Store,
    region: &RegionConfig,
    key: &p256::ecdsa::VerifyingKey,
    report: &mut RegionReport,
) -> Result<(), DownloadError> {
    let index = region
        .server
        .get_ok("/v1/exports/index.txt", MAX_INDEX_BODY)
        .await?;
    let mut names = exports::parse_index(&index)?;
    names.sort();
    let after = match cursor(store, &region.id)? {
        Some(Cursor::Exports(last)) => Some(last),
        _ => None,
    };
    for name in names {
        if after
            .as_ref()
            .is_some_and(|last| name.as_str() <= last.as_str())
        {
            continue;
        }
        let path = format!("/v1/exports/{}", exports::file_part(&name));
        let zip = region.server.get_ok(&path, MAX_FILE_BODY).await?;
        let file = exports::verified_keys(&name, &zip, key, &region.id)?;
        commit(
            store,
            &region.id,
            &file.keys,
            &Cursor::Exports(name.clone()),
        )?;
        report.fetched += 1;
        report.keys += file.keys.len();
        report.dropped += file.dropped;
    }
    Ok(())
}

async fn download_feed(
    store: &Store,
    region: &RegionConfig,
    report: &mut RegionReport,
) -> Result<(), DownloadError> {
    let index = region.server.get_ok("/v1/keys", MAX_INDEX_BODY).await?;
    let chunks = feed::parse_index(&index)?;
    let after = match cursor(store, &region.id)? {
        Some(Cursor::Feed(last)) => Some(last),
        _ => None,
    };
    let mut ids: Vec<u64> = chunks
        .iter()
        .filter(|c| c.complete && after.is_none_or(|last| c.id > last))
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    for id in ids {
        let body = region
            .server
            .get_ok(&format!("/v1/keys/{id}"), MAX_FILE_BODY)
            .await?;
        let (keys, dropped) = feed::parse_chunk(&body, id, &region.id)?;
        commit(store, &region.id, &keys, &Cursor::Feed(id))?;
        report.fetched += 1;
        report.keys += keys.len();
        report.dropped += dropped;
    }
    Ok(())
}

/// The rolling start of the day holding `now_secs` (used by tests and the simulation).
pub fn day_start_interval(now_secs: u64) -> IntervalNumber {
    IntervalNumber(
        u32::try_from(now_secs / DAY_SECS)
            .unwrap_or(0)
            .saturating_mul(TEK_ROLLING_PERIOD),
    )
}
