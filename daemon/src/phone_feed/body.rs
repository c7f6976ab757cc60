//! The public feed's two representations: JSON (field names of the Google publish API) and the
//! `enmesh.v1` protobuf messages `ChunkIndex` and `KeyChunk`.
//!
//! Both are built from a [`DiagnosisKey`] alone, so nothing but the key and its own metadata can
//! appear: never an origin region, a visited list or anything about the upload.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_proto::v1 as pb;
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType};
use serde::Serialize;

use super::chunk::{Chunk, ChunkLength};

/// One key in JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonKey {
    /// The 16-byte TEK, standard base64.
    pub key: String,
    /// ENIntervalNumber of the key's first interval.
    pub rolling_start_number: u32,
    /// Intervals of validity, 1..=144.
    pub rolling_period: u32,
    /// 0..=8.
    pub transmission_risk: u8,
    /// GAEN report type name, e.g. `CONFIRMED_TEST`.
    pub report_type: &'static str,
    /// Days since symptom onset; absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_since_onset_of_symptoms: Option<i32>,
}

impl From<&DiagnosisKey> for JsonKey {
    fn from(key: &DiagnosisKey) -> Self {
        Self {
            key: STANDARD.encode(key.key.0),
            rolling_start_number: key.rolling_start.0,
            rolling_period: key.rolling_period.get(),
            transmission_risk: key.transmission_risk.get(),
            report_type: report_type_name(key.report_type),
            days_since_onset_of_symptoms: key.days_since_onset.map(DaysSinceOnset::get),
        }
    }
}

/// The GAEN enum name of a report type.
fn report_type_name(report_type: ReportType) -> &'static str {
    match report_type {
        ReportType::Unknown => "UNKNOWN",
        ReportType::ConfirmedTest => "CONFIRMED_TEST",
        ReportType::ConfirmedClinicalDiagnosis => "CONFIRMED_CLINICAL_DIAGNOSIS",
        ReportType::SelfReport => "SELF_REPORT",
        ReportType::Recursive => "RECURSIVE",
        ReportType::Revoked => "REVOKED",
    }
}

/// One chunk's description in JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonChunkInfo {
    /// The chunk number (`start / chunkSeconds`).
    pub id: u64,
    /// First second of the window (release time, see `crate::embargo`).
    pub start: u64,
    /// First second after it.
    pub end: u64,
    /// False while keys may still arrive in it.
    pub complete: bool,
}

impl JsonChunkInfo {
    /// The description of `chunk` at `now`.
    pub fn new(chunk: &Chunk, now: u64) -> Self {
        Self {
            id: chunk.id.0,
            start: chunk.start,
            end: chunk.end,
            complete: chunk.complete_at(now),
        }
    }
}

/// `GET /v1/keys` in JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonIndex {
    /// Length of every chunk.
    pub chunk_seconds: u64,
    /// Chunks holding keys, oldest first.
    pub chunks: Vec<JsonChunkInfo>,
}

/// `GET /v1/keys/{chunk}` in JSON.
#[derive(Debug, Serialize)]
pub struct JsonChunk {
    /// Which chunk this is.
    pub chunk: JsonChunkInfo,
    /// Its keys, in arrival order.
    pub keys: Vec<JsonKey>,
}

/// The index as `enmesh.v1.ChunkIndex`.
pub fn proto_index(length: ChunkLength, chunks: &[Chunk], now: u64) -> pb::ChunkIndex {
    pb::ChunkIndex {
        chunk_seconds: length.secs(),
        chunks: chunks.iter().map(|c| proto_info(c, now)).collect(),
    }
}

/// A chunk's description as `enmesh.v1.ChunkInfo`.
pub fn proto_info(chunk: &Chunk, now: u64) -> pb::ChunkInfo {
    pb::ChunkInfo {
        chunk_id: chunk.id.0,
        start_unix_secs: chunk.start,
        end_unix_secs: chunk.end,
        complete: chunk.complete_at(now),
    }
}
