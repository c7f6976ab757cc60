//! `upload`: a diagnosed user's last 14 days of TEKs to the home backend, as the publish JSON
//! of `POST /v1/publish` (formats.md §e) with the regions the user visited (`visitedRegions`)
//! and the one-time code the health authority gave them (`verificationPayload`).
//!
//! The body is padded with random bytes, as the Google key server recommends, so its size says
//! little about the number of keys. The visited list goes only to the home backend (it never
//! leaves it). This module never logs the code or key bytes.

use crate::http::{HttpError, Server};
use crate::identity::Identity;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::interval::IntervalNumber;
use enmesh_protocol::region::RegionId;
use hyper::StatusCode;
use serde::Serialize;
use thiserror::Error;
use tracing::Instrument as _;

/// Largest answer read from the publish endpoint.
pub const MAX_ANSWER: usize = 1 << 20;

/// Why an upload failed.
#[derive(Debug, Error)]
pub enum UploadError {
    /// The identity holds no key of the last 14 days.
    #[error("no keys of the last 14 days to upload")]
    NoKeys,
    /// The request failed or was refused.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The body could not be encoded.
    #[error("cannot encode the publish body: {0}")]
    Json(#[from] serde_json::Error),
}

/// What the server answered.
#[derive(Debug, Clone, Serialize)]
pub struct UploadOutcome {
    /// Keys sent.
    pub keys: usize,
    /// The server's `insertedExposures`, when it says.
    pub inserted: Option<u64>,
    /// The server's JSON answer.
    pub answer: serde_json::Value,
}

/// The publish JSON for `identity`'s keys at `now_secs`.
pub fn publish_body(
    identity: &Identity,
    code: &str,
    visited: &[RegionId],
    symptom_onset: Option<IntervalNumber>,
    padding: &[u8],
    now_secs: u64,
) -> Result<(usize, Vec<u8>), UploadError> {
    let keys = identity.upload_keys(now_secs);
    if keys.is_empty() {
        return Err(UploadError::NoKeys);
    }
    let visited: Vec<String> = visited.iter().map(ToString::to_string).collect();
    let mut body = serde_json::json!({
        "temporaryExposureKeys": keys.iter().map(|(tek, start, period)| serde_json::json!({
            "key": STANDARD.encode(tek.0),
            "rollingStartNumber": start.0,
            "rollingPeriod": period,
            "transmissionRisk": 0,
        })).collect::<Vec<_>>(),
        "healthAuthorityID": "ble-agent",
        "verificationPayload": code,
        "traveler": !visited.is_empty(),
        "visitedRegions": visited,
        "padding": STANDARD.encode(padding),
    });
    if let Some(onset) = symptom_onset {
        body["symptomOnsetInterval"] = serde_json::json!(onset.0);
    }
    Ok((keys.len(), serde_json::to_vec(&body)?))
}

/// Uploads to `server` (`POST /v1/publish`); anything but 200 is an error with the answer.
pub async fn upload(
    server: &Server,
    identity: &Identity,
    code: &str,
    visited: &[RegionId],
    symptom_onset: Option<IntervalNumber>,
    now_secs: u64,
) -> Result<UploadOutcome, UploadError> {
    let mut padding = vec![0u8; 1024 + usize::from(now_secs.to_le_bytes()[0]) * 4];
    // Padding needs no cryptographic quality; the OS RNG failing leaves zeros, which is fine.
    let _ = getrandom::fill(&mut padding);
    let (keys, body) = publish_body(identity, code, visited, symptom_onset, &padding, now_secs)?;
    let span = tracing::info_span!("upload", server = server.base(), keys);
    let answer = server
        .post_json("/v1/publish", body, MAX_ANSWER)
        .instrument(span)
        .await?;
    if answer.status != StatusCode::OK {
        return Err(server.status_error("/v1/publish", &answer).into());
    }
    let json: serde_json::Value =
        serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
    Ok(UploadOutcome {
        keys,
        inserted: json["insertedExposures"].as_u64(),
        answer: json,
    })
}
