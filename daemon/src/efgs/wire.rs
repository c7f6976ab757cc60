//! The EFGS wire forms of `DiagnosisKeyBatch` (formats.md §g.2): protobuf (`Efgs.proto`, package
//! `eu.interop`, hand-declared with prost) and JSON (`version=1.0`: the same field names, bytes as
//! base64, enums by name), and the media types with their mandatory `version=1.0`.
//!
//! This module only converts bytes and text; it never validates key ranges (the gateway does,
//! [`super::gateway::upload`]) and never panics on input: decoding is bounded by the body limit
//! the router enforces and every failure is a [`WireError`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::efgs::EfgsKey;
use prost::Message;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// `DiagnosisKeyBatch`.
#[derive(Clone, PartialEq, Message)]
pub struct PbBatch {
    /// The keys.
    #[prost(message, repeated, tag = "1")]
    pub keys: Vec<PbKey>,
}

/// `DiagnosisKey` of `Efgs.proto`.
#[derive(Clone, PartialEq, Message)]
pub struct PbKey {
    /// 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub key_data: Vec<u8>,
    /// ENIN.
    #[prost(uint32, tag = "2")]
    pub rolling_start_interval_number: u32,
    /// 1..144.
    #[prost(uint32, tag = "3")]
    pub rolling_period: u32,
    /// 0..8 or 0x7FFFFFFF.
    #[prost(int32, tag = "4")]
    pub transmission_risk_level: i32,
    /// ISO alpha-2 codes.
    #[prost(string, repeated, tag = "5")]
    pub visited_countries: Vec<String>,
    /// ISO alpha-2 code of the uploader.
    #[prost(string, tag = "6")]
    pub origin: String,
    /// `ReportType` enum number.
    #[prost(int32, tag = "7")]
    pub report_type: i32,
    /// Days since onset (sint32).
    #[prost(sint32, tag = "8")]
    pub days_since_onset_of_symptoms: i32,
}

/// A media type of the EFGS API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/protobuf; version=1.0`.
    Protobuf,
    /// `application/json; version=1.0`.
    Json,
}

impl Media {
    /// The header value.
    pub fn header(self) -> &'static str {
        match self {
            Self::Protobuf => "application/protobuf; version=1.0",
            Self::Json => "application/json; version=1.0",
        }
    }
}

/// Why a media type or body was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// Missing or not protobuf/JSON (upload: 400; download: 406/415).
    #[error("unsupported media type {0:?}")]
    MediaType(String),
    /// The `version` parameter is missing or not `1.0` (406).
    #[error("media type version {0:?} is not acceptable (want 1.0)")]
    Version(String),
    /// The body is not a `DiagnosisKeyBatch` (400).
    #[error("body: {0}")]
    Body(String),
    /// A key whose `keyData` is not 16 bytes (400).
    #[error("keys[{index}]: keyData is {len} bytes (want 16)")]
    KeyData {
        /// Index in the batch.
        index: usize,
        /// Its length.
        len: usize,
    },
}

/// Parses a `Content-Type` or one `Accept` entry: `application/protobuf` (also
/// `application/x-protobuf`) or `application/json`, with `version=1.0`.
pub fn parse_media(value: &str) -> Result<Media, WireError> {
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
    let media = match essence.as_str() {
        "application/protobuf" | "application/x-protobuf" => Media::Protobuf,
        "application/json" => Media::Json,
        _ => return Err(WireError::MediaType(value.to_owned())),
    };
    let version = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
        .map(|(_, v)| v.trim().trim_matches('"'));
    match version {
        Some("1.0") => Ok(media),
        Some(other) => Err(WireError::Version(other.to_owned())),
        None => Err(WireError::Version(String::new())),
    }
}

/// Picks the first acceptable entry of an `Accept` header.
pub fn parse_accept(value: &str) -> Result<Media, WireError> {
    let mut first_err = None;
    for entry in value.split(',') {
        match parse_media(entry) {
            Ok(media) => return Ok(media),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| WireError::MediaType(value.to_owned())))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonBatch {
    #[serde(default)]
    keys: Vec<JsonKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonKey {
    key_data: String,
    #[serde(default)]
    rolling_start_interval_number: u32,
    #[serde(default)]
    rolling_period: u32,
    #[serde(default)]
    transmission_risk_level: i32,
    #[serde(default)]
    visited_countries: Vec<String>,
    #[serde(default)]
    origin: String,
    #[serde(default = "unknown_report")]
    report_type: String,
    #[serde(default, alias = "days_since_onset_of_symptoms")]
    days_since_onset_of_symptoms: i32,
}

fn unknown_report() -> String {
    "UNKNOWN".to_owned()
}

const REPORT_TYPES: [&str; 6] = [
    "UNKNOWN",
    "CONFIRMED_TEST",
    "CONFIRMED_CLINICAL_DIAGNOSIS",
    "SELF_REPORT",
    "RECURSIVE",
    "REVOKED",
];

fn report_name(number: i32) -> String {
    usize::try_from(number)
        .ok()
        .and_then(|i| REPORT_TYPES.get(i))
        .map_or_else(|| number.to_string(), |s| (*s).to_owned())
}

fn report_number(name: &str) -> Result<i32, WireError> {
    REPORT_TYPES
        .iter()
        .position(|n| *n == name)
        .and_then(|i| i32::try_from(i).ok())
        .or_else(|| name.parse().ok())
        .ok_or_else(|| WireError::Body(format!("unknown reportType {name:?}")))
}

fn key_data(index: usize, bytes: &[u8]) -> Result<[u8; 16], WireError> {
    <[u8; 16]>::try_from(bytes).map_err(|_| WireError::KeyData {
        index,
        len: bytes.len(),
    })
}

/// Decodes a batch body.
pub fn decode(media: Media, body: &[u8]) -> Result<Vec<EfgsKey>, WireError> {
    match media {
        Media::Protobuf => {
            let batch = PbBatch::decode(body).map_err(|e| WireError::Body(e.to_string()))?;
            batch
                .keys
                .into_iter()
                .enumerate()
                .map(|(i, k)| {
                    Ok(EfgsKey {
                        key_data: key_data(i, &k.key_data)?,
                        rolling_start_interval_number: k.rolling_start_interval_number,
                        rolling_period: k.rolling_period,
                        transmission_risk_level: k.transmission_risk_level,
                        visited_countries: k.visited_countries,
                        origin: k.origin,
                        report_type: k.report_type,
                        days_since_onset_of_symptoms: k.days_since_onset_of_symptoms,
                    })
                })
                .collect()
        }
        Media::Json => {
            let batch: JsonBatch =
                serde_json::from_slice(body).map_err(|e| WireError::Body(e.to_string()))?;
            batch
                .keys
                .into_iter()
                .enumerate()
                .map(|(i, k)| {
                    let raw = STANDARD
                        .decode(&k.key_data)
                        .map_err(|e| WireError::Body(format!("keys[{i}].keyData: {e}")))?;
                    Ok(EfgsKey {
                        key_data: key_data(i, &raw)?,
                        rolling_start_interval_number: k.rolling_start_interval_number,
                        rolling_period: k.rolling_period,
                        transmission_risk_level: k.transmission_risk_level,
                        visited_countries: k.visited_countries,
                        origin: k.origin,
                        report_type: report_number(&k.report_type)?,
                        days_since_onset_of_symptoms: k.days_since_onset_of_symptoms,
                    })
                })
                .collect()
        }
    }
}

/// Encodes a batch body.
pub fn encode(media: Media, keys: &[EfgsKey]) -> Vec<u8> {
    match media {
        Media::Protobuf => PbBatch {
            keys: keys
                .iter()
                .map(|k| PbKey {
                    key_data: k.key_data.to_vec(),
                    rolling_start_interval_number: k.rolling_start_interval_number,
                    rolling_period: k.rolling_period,
                    transmission_risk_level: k.transmission_risk_level,
                    visited_countries: k.visited_countries.clone(),
                    origin: k.origin.clone(),
                    report_type: k.report_type,
                    days_since_onset_of_symptoms: k.days_since_onset_of_symptoms,
                })
                .collect(),
        }
        .encode_to_vec(),
        Media::Json => {
            let batch = JsonBatch {
                keys: keys
                    .iter()
                    .map(|k| JsonKey {
                        key_data: STANDARD.encode(k.key_data),
                        rolling_start_interval_number: k.rolling_start_interval_number,
                        rolling_period: k.rolling_period,
                        transmission_risk_level: k.transmission_risk_level,
                        visited_countries: k.visited_countries.clone(),
                        origin: k.origin.clone(),
                        report_type: report_name(k.report_type),
                        days_since_onset_of_symptoms: k.days_since_onset_of_symptoms,
                    })
                    .collect(),
            };
            serde_json::to_vec(&batch).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn media_types() {
        assert_eq!(
            parse_media("application/protobuf; version=1.0"),
            Ok(Media::Protobuf)
        );
        assert_eq!(parse_media("application/json;version=1.0"), Ok(Media::Json));
        assert!(matches!(
            parse_media("application/json"),
            Err(WireError::Version(_))
        ));
        assert!(matches!(
            parse_media("application/json; version=2.0"),
            Err(WireError::Version(v)) if v == "2.0"
        ));
        assert!(matches!(
            parse_media("text/plain; version=1.0"),
            Err(WireError::MediaType(_))
        ));
        assert_eq!(
            parse_accept("text/html, application/json; version=1.0"),
            Ok(Media::Json)
        );
    }

    fn key(i: u8) -> EfgsKey {
        EfgsKey {
            key_data: [i; 16],
            rolling_start_interval_number: 2_700_000 + u32::from(i),
            rolling_period: 144,
            transmission_risk_level: 0x7FFF_FFFF,
            visited_countries: vec!["FR".into(), "IT".into()],
            origin: "DE".into(),
            report_type: 1,
            days_since_onset_of_symptoms: -2,
        }
    }

    #[test]
    fn both_forms_round_trip() {
        let keys: Vec<_> = (0..5).map(key).collect();
        for media in [Media::Protobuf, Media::Json] {
            assert_eq!(decode(media, &encode(media, &keys)), Ok(keys.clone()));
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(Media::Protobuf, &body);
            let _ = decode(Media::Json, &body);
        }

        #[test]
        fn media_garbage_never_panics(text in ".{0,80}") {
            let _ = parse_accept(&text);
        }
    }
}
