//! The chunked key feed (`GET /v1/keys`, `GET /v1/keys/{chunk}`, JSON): its index and chunks.
//!
//! Parsers of outside input: a body that is not the documented shape is refused with an error
//! naming the field; each key is checked (16-byte base64, rolling period 1..=144, a known report
//! type) and a key breaking a rule is dropped and counted. The feed is not signed: it is trusted
//! as far as the transport is (https with the region's CA). This module does no I/O.

use super::DownloadedKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::ReportType;
use enmesh_protocol::region::RegionId;
use serde::Deserialize;
use thiserror::Error;

/// Most chunks an index may list.
pub const MAX_CHUNKS: usize = 100_000;

/// Why a feed body was refused.
#[derive(Debug, Error)]
pub enum FeedError {
    /// Not JSON of the expected shape.
    #[error("{what}: {source}")]
    Json {
        /// Index or chunk.
        what: &'static str,
        /// serde_json's reason.
        #[source]
        source: serde_json::Error,
    },
    /// The index lists more chunks than allowed.
    #[error("the chunk index lists more than {MAX_CHUNKS} chunks")]
    TooManyChunks,
    /// A chunk answered for another id than asked.
    #[error("asked for chunk {asked}, got chunk {got}")]
    WrongChunk {
        /// Requested.
        asked: u64,
        /// Answered.
        got: u64,
    },
}

/// One chunk in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ChunkInfo {
    /// The chunk number.
    pub id: u64,
    /// Whether no key can arrive in it any more.
    pub complete: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    chunks: Vec<ChunkInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedKey {
    key: String,
    rolling_start_number: i64,
    #[serde(default = "full_day")]
    rolling_period: i64,
    #[serde(default)]
    report_type: Option<String>,
    #[serde(default)]
    days_since_onset_of_symptoms: Option<i64>,
}

fn full_day() -> i64 {
    144
}

#[derive(Deserialize)]
struct Chunk {
    chunk: ChunkInfo,
    keys: Vec<FeedKey>,
}

/// The chunks of an index body, in its order.
pub fn parse_index(body: &[u8]) -> Result<Vec<ChunkInfo>, FeedError> {
    let index: Index = serde_json::from_slice(body).map_err(|source| FeedError::Json {
        what: "chunk index",
        source,
    })?;
    if index.chunks.len() > MAX_CHUNKS {
        return Err(FeedError::TooManyChunks);
    }
    Ok(index.chunks)
}

/// The keys of chunk `asked` (and how many were dropped for breaking a rule).
pub fn parse_chunk(
    body: &[u8],
    asked: u64,
    source: &RegionId,
) -> Result<(Vec<DownloadedKey>, usize), FeedError> {
    let chunk: Chunk = serde_json::from_slice(body).map_err(|source| FeedError::Json {
        what: "key chunk",
        source,
    })?;
    if chunk.chunk.id != asked {
        return Err(FeedError::WrongChunk {
            asked,
            got: chunk.chunk.id,
        });
    }
    let mut keys = Vec::with_capacity(chunk.keys.len());
    let mut dropped = 0;
    for k in chunk.keys {
        match key_of(&k, source) {
            Some(key) => keys.push(key),
            None => dropped += 1,
        }
    }
    Ok((keys, dropped))
}

fn key_of(k: &FeedKey, source: &RegionId) -> Option<DownloadedKey> {
    let tek = Tek::from_slice(&STANDARD.decode(&k.key).ok()?).ok()?;
    let start = u32::try_from(k.rolling_start_number).ok()?;
    let period = RollingPeriod::new(u32::try_from(k.rolling_period).ok()?).ok()?;
    IntervalNumber(start).checked_add(period.get())?;
    let report_type = match k.report_type.as_deref() {
        None | Some("UNKNOWN") => ReportType::Unknown,
        Some("CONFIRMED_TEST") => ReportType::ConfirmedTest,
        Some("CONFIRMED_CLINICAL_DIAGNOSIS") => ReportType::ConfirmedClinicalDiagnosis,
        Some("SELF_REPORT") => ReportType::SelfReport,
        Some("RECURSIVE") => ReportType::Recursive,
        Some("REVOKED") => ReportType::Revoked,
        Some(_) => return None,
    };
    let dso = k
        .days_since_onset_of_symptoms
        .filter(|d| (-14..=14).contains(d))
        .and_then(|d| i32::try_from(d).ok());
    Some(DownloadedKey {
        tek,
        rolling_start: IntervalNumber(start),
        rolling_period: period.get(),
        report_type,
        days_since_onset: dso,
        source: source.clone(),
    })
}
