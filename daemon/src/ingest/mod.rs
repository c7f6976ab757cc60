//! Phone uploads: `POST /v1/publish`, the Google key server's publish API (formats.md §e) plus
//! `visitedRegions`, authorised by a one-time code.
//!
//! Authorisation: the one-time code issued by the operator (`enmesh admin issue-code`) travels in
//! `verificationPayload`, the field Google's API uses to authorise an upload. It takes the place
//! of the verification server's certificate: it proves a positive test, so every upload is
//! stored with report type `confirmed` (there is no certificate, hence no `tekmac`/`hmacKey`
//! check and no certificate onset). Revision tokens and `traveler` are accepted and ignored.
//!
//! Flow of a request: parse (400 `bad_request`, rule `json`, naming the field) → visited regions
//! (400, rule `visited_regions`; the home region and duplicates are dropped) → the strict
//! validation of `enmesh_protocol::keys::validate_upload` (400 listing every broken rule with its
//! key index) → one atomic store commit that consumes the code and stores the keys, the upload
//! record and its visited regions together (401 `invalid_code` for an unknown, expired or used
//! code). Commits go through the [`writer`] task, which groups the uploads waiting at that moment
//! into one fsynced store write; a request is answered only once its write returned. A retry with the same code and the same key set gets the first answer again and stores
//! nothing new. Oversized bodies are refused with 413 by the API router's body limit before they
//! are read whole.
//!
//! This module never stores anything of a refused upload, and never logs or labels the code or
//! key bytes (spans carry counts and the outcome only).

pub mod metrics;
mod request;
mod response;
pub mod writer;

pub use request::{ParseError, PublishKey, PublishRequest, VisitedRegionError};
pub use response::{ErrorBody, PublishError, PublishResponse, ViolationBody};

use crate::batch::BatcherHandle;
use crate::clock::SharedClock;
use crate::store::{CodeHash, Committed, Store, UploadId, UploadRefusal};
use crate::telemetry::{KeyKind, Metrics};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use enmesh_protocol::keys::{DiagnosisKey, ValidationConfig, validate_upload};
use enmesh_protocol::region::RegionId;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::oneshot;
use tracing::Instrument;
use writer::{Job, SharedStoreError, WriterHandle};

/// What the upload route needs. Cheap to clone.
#[derive(Clone)]
pub struct IngestState {
    /// The store uploads are committed to.
    pub store: Arc<Store>,
    /// The daemon's metrics (uploads, rejections by rule, keys stored).
    pub metrics: Metrics,
    /// The only source of "now" (validation windows, code expiry, arrival time).
    pub clock: SharedClock,
    /// This backend's region: dropped from `visitedRegions`.
    pub region: RegionId,
    /// Validation limits; the policy must be strict (the default).
    pub validation: ValidationConfig,
    /// The batcher to wake after each new upload (none in tests of ingest alone; the batcher
    /// also finds new keys on its own timer).
    pub batcher: Option<BatcherHandle>,
}

impl std::fmt::Debug for IngestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestState")
            .field("region", &self.region)
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}

/// The upload routes (`POST /v1/publish`) with their state applied; merge them into
/// [`crate::api::router`], which adds the body limit, tracing and HTTP metrics.
///
/// Starts the group-commit writer task on the current tokio runtime (call it inside one); the
/// task ends once the router is dropped and the queued uploads are answered.
pub fn routes(state: IngestState) -> Router {
    let writer = WriterHandle::spawn(Arc::clone(&state.store));
    Router::new()
        .route("/v1/publish", post(publish))
        .with_state(Shared { state, writer })
}

/// The route's state: the caller's plus the writer's queue.
#[derive(Clone)]
struct Shared {
    state: IngestState,
    writer: WriterHandle,
}

/// The handler: one span per upload, recording its outcome.
async fn publish(
    State(Shared { state, writer }): State<Shared>,
    body: Bytes,
) -> Result<Json<PublishResponse>, PublishError> {
    let span = tracing::info_span!(
        "upload",
        keys = tracing::field::Empty,
        visited = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let result = handle(&state, &writer, &body)
        .instrument(span.clone())
        .await;
    let outcome = match &result {
        Ok(Committed::New(_)) => "stored",
        Ok(Committed::Retry(_)) => "retry",
        Err(Failure::Refused { rule, .. }) => rule,
        Err(Failure::Internal(_)) => "internal_error",
    };
    span.record("outcome", outcome);
    match result {
        Ok(stored) => {
            let outcome = stored.outcome();
            if let Committed::New(outcome) = stored {
                state.metrics.ingest().accepted();
                state
                    .metrics
                    .keys_stored()
                    .add(KeyKind::Local, u64::from(outcome.key_count));
                if let Some(batcher) = &state.batcher {
                    batcher.notify_upload();
                }
            }
            span.in_scope(|| tracing::debug!("upload answered"));
            let padding = response::padding().ok_or_else(|| {
                span.in_scope(|| tracing::error!("no randomness for the response padding"));
                PublishError::internal()
            })?;
            Ok(Json(PublishResponse {
                inserted_exposures: outcome.key_count,
                padding,
                warnings: Vec::new(),
            }))
        }
        Err(Failure::Refused { rule, refusal }) => {
            state.metrics.ingest().rejected(rule);
            span.in_scope(|| tracing::info!("upload refused"));
            Err(refusal)
        }
        Err(Failure::Internal(error)) => {
            span.in_scope(|| tracing::error!(%error, "upload could not be stored"));
            Err(PublishError::internal())
        }
    }
}

/// Why an upload was not stored.
enum Failure {
    /// The client's fault; `rule` is the metric label.
    Refused {
        rule: &'static str,
        refusal: PublishError,
    },
    /// Ours.
    Internal(IngestError),
}

/// A failure of this server while storing an upload (never the client's fault).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed to commit (shared by every upload of the failed group).
    #[error("store commit failed: {0}")]
    Store(SharedStoreError),
    /// The writer task ended before answering (it panicked or the runtime is shutting down).
    #[error("the ingest writer ended without an answer")]
    WriterGone,
}

fn refused(rule: &'static str, refusal: PublishError) -> Failure {
    Failure::Refused { rule, refusal }
}

async fn handle(
    state: &IngestState,
    writer: &WriterHandle,
    body: &[u8],
) -> Result<Committed, Failure> {
    let request = PublishRequest::from_json(body)
        .map_err(|e| refused("json", PublishError::bad_request(e.to_string(), Vec::new())))?;
    let span = tracing::Span::current();
    span.record("keys", request.temporary_exposure_keys.len());
    span.record("visited", request.visited_regions.len());
    let visited = request.visited(&state.region).map_err(|e| {
        let violation = ViolationBody {
            rule: "visited_regions",
            key_index: None,
            message: e.to_string(),
        };
        refused(
            "visited_regions",
            PublishError::bad_request(e.to_string(), vec![violation]),
        )
    })?;
    let now = state.clock.now_secs();
    let keys = validate_upload(&request.upload(), now, &state.validation)
        .map_err(|rejected| {
            let violations = rejected.violations();
            let rule = violations.first().map_or("validation", |v| v.rule());
            refused(
                rule,
                PublishError::bad_request(
                    rejected.to_string(),
                    violations.iter().map(ViolationBody::from).collect(),
                ),
            )
        })?
        .into_keys();
    let Some(code) = request
        .verification_payload
        .as_deref()
        .filter(|c| !c.is_empty())
    else {
        return Err(refused(
            "code",
            PublishError::invalid_code("verificationPayload (the upload code) is missing"),
        ));
    };
    let (reply, answer) = oneshot::channel();
    let job = Job {
        code: CodeHash::of(code),
        upload_id: upload_id(&keys),
        keys,
        visited,
        now,
        reply,
    };
    if !writer.submit(job).await {
        return Err(Failure::Internal(IngestError::WriterGone));
    }
    answer
        .await
        .map_err(|_| Failure::Internal(IngestError::WriterGone))?
        .map_err(|error| Failure::Internal(IngestError::Store(error)))?
        .map_err(code_refused)
}

/// The answer to an upload the store refused.
fn code_refused(refusal: UploadRefusal) -> Failure {
    let message = match refusal {
        UploadRefusal::CodeUnknown => "the upload code is unknown",
        UploadRefusal::CodeExpired { .. } => "the upload code has expired",
        UploadRefusal::CodeUsed => "the upload code was already used for other keys",
        UploadRefusal::CodeExists | UploadRefusal::TooManyKeys(_) => {
            return refused(
                "keys",
                PublishError::bad_request(refusal.to_string(), Vec::new()),
            );
        }
    };
    refused("code", PublishError::invalid_code(message))
}

/// An id of the upload's key set (TEK, start, period, in sorted order), so a retry of the same
/// keys is recognised whatever their order and whenever it comes.
fn upload_id(keys: &[DiagnosisKey]) -> UploadId {
    let mut encoded: Vec<[u8; 24]> = keys
        .iter()
        .map(|k| {
            let mut out = [0u8; 24];
            out[..16].copy_from_slice(&k.key.0);
            out[16..20].copy_from_slice(&k.rolling_start.0.to_be_bytes());
            out[20..].copy_from_slice(&k.rolling_period.get().to_be_bytes());
            out
        })
        .collect();
    encoded.sort_unstable();
    let mut hasher = Sha256::new_with_prefix(b"enmesh.ingest.upload.v1\0");
    for key in &encoded {
        hasher.update(key);
    }
    UploadId(hasher.finalize().into())
}
