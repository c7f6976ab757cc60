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
pub mod revision;
pub mod verification;
pub mod writer;

pub use request::{ParseError, PublishKey, PublishRequest, VisitedRegionError};
pub use response::{ErrorBody, PublishError, PublishResponse, ViolationBody};

use crate::batch::BatcherHandle;
use crate::clock::SharedClock;
use crate::store::{CodeHash, Committed, Store, StoreError, UploadId, UploadRefusal};
use crate::telemetry::{KeyKind, Metrics};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::keys::{
    DiagnosisKey, Upload, ValidationConfig, VerifiedReportType, validate_upload,
};
use enmesh_protocol::publish::verify_tekmac;
use enmesh_protocol::region::RegionId;
use revision::{Revisable, RevisionIndex, TokenKeys};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use tokio::sync::oneshot;
use tracing::Instrument;
use verification::{Authorities, CertificateError};
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
    routes_with(state, None)
}

/// What certificate uploads need: the trusted health authorities, the revision token keys and
/// the index of stored keys the revision rules consult. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Certified {
    /// The trusted health authorities.
    pub authorities: Authorities,
    /// The keys revision tokens are sealed with.
    pub tokens: TokenKeys,
    /// The stored keys (see [`revision::RevisionIndex`]).
    pub index: Arc<Mutex<RevisionIndex>>,
}

impl Certified {
    /// Builds the revision index from every local key in `store` (a blocking scan: call it
    /// from a blocking task at start).
    pub fn load(
        store: &Store,
        authorities: Authorities,
        tokens: TokenKeys,
    ) -> Result<Self, StoreError> {
        let mut index = RevisionIndex::default();
        let mut after = None;
        loop {
            let page = store.local_keys_after(after, 10_000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.at);
            for entry in &page {
                index.add_stored(&entry.key);
            }
        }
        Ok(Self {
            authorities,
            tokens,
            index: Arc::new(Mutex::new(index)),
        })
    }

    fn index(&self) -> std::sync::MutexGuard<'_, RevisionIndex> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`routes`] that also accept verification certificates (the uploads of real GAEN apps, see
/// [`verification`]) and revision tokens ([`revision`]); one-time codes stay accepted.
pub fn routes_with(state: IngestState, certified: Option<Certified>) -> Router {
    let writer = WriterHandle::spawn(Arc::clone(&state.store));
    Router::new()
        .route("/v1/publish", post(publish))
        .with_state(Shared {
            state,
            writer,
            certified: certified.map(Arc::new),
        })
}

/// The route's state: the caller's plus the writer's queue and the certificate path. Cloned
/// for every request, so the certificate path (authorities and token ciphers) sits behind an
/// `Arc`.
#[derive(Clone)]
struct Shared {
    state: IngestState,
    writer: WriterHandle,
    certified: Option<Arc<Certified>>,
}

/// The handler: one span per upload, recording its outcome.
async fn publish(
    State(Shared {
        state,
        writer,
        certified,
    }): State<Shared>,
    body: Bytes,
) -> Result<Json<PublishResponse>, PublishError> {
    let span = tracing::info_span!(
        "upload",
        keys = tracing::field::Empty,
        visited = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let result = handle(&state, &writer, certified.as_deref(), &body)
        .instrument(span.clone())
        .await;
    let outcome = match &result {
        Ok((Committed::New(_), _)) => "stored",
        Ok((Committed::Retry(_), _)) => "retry",
        Err(Failure::Refused { rule, .. }) => rule,
        Err(Failure::Internal(_)) => "internal_error",
    };
    span.record("outcome", outcome);
    match result {
        Ok((stored, revision_token)) => {
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
                revision_token,
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
    /// The revision token of a stored upload could not be sealed.
    #[error("revision token: {0}")]
    Token(revision::IssueError),
}

fn refused(rule: &'static str, refusal: PublishError) -> Failure {
    Failure::Refused { rule, refusal }
}

async fn handle(
    state: &IngestState,
    writer: &WriterHandle,
    certified: Option<&Certified>,
    body: &[u8],
) -> Result<(Committed, Option<String>), Failure> {
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
    let payload = request.verification_payload.as_deref().unwrap_or_default();
    let certified =
        certified.filter(|c| !c.authorities.is_empty() && verification::looks_like_jwt(payload));
    let mut upload = request.upload();
    let mut certificate = None;
    if let Some(c) = certified {
        let checked = check_certificate(&request, &upload, &c.authorities, now)?;
        upload.report_type = checked.report_type;
        upload.certificate_onset_interval = checked.symptom_onset_interval;
        certificate = Some(checked);
    }
    // A negative certificate only revises (the rules below refuse new keys with it), and the
    // protocol's validation refuses `negative` outright: its keys are checked as a confirmed
    // upload and then marked revoked, with the negative transmission-risk backfill.
    let negative = upload.report_type == VerifiedReportType::Negative;
    if negative {
        upload.report_type = VerifiedReportType::Confirmed;
    }
    let raw_risks: Vec<i64> = upload.keys.iter().map(|k| k.transmission_risk).collect();
    let mut keys = validate_upload(&upload, now, &state.validation)
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
    if negative {
        for (key, raw) in keys.iter_mut().zip(&raw_risks) {
            key.report_type = VerifiedReportType::Negative.report_type();
            if *raw == 0 {
                key.transmission_risk = VerifiedReportType::Negative.backfill_transmission_risk();
            }
        }
    }
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
    let id = upload_id(&keys);
    let code_hash = CodeHash::of(code);
    // Certificate uploads: the revision rules, then the keys are reserved in the index (undone
    // if the commit fails), so two uploads of one key cannot both revise it.
    let reserved = match (certified, &certificate) {
        (Some(c), Some(cert)) => {
            let token = request
                .revision_token
                .as_deref()
                .and_then(|t| c.tokens.open(t));
            let mut index = c.index();
            // A retry is the same certificate again (a revision has the same key set, so the
            // upload id cannot tell them apart).
            let stored = index.stored(&keys, code_hash.0);
            let revisions = revision::plan(&keys, &stored, token.as_deref(), cert.report_type)
                .map_err(|e| refused(e.code(), PublishError::revision(e.code(), e.to_string())))?;
            if cert.report_type == VerifiedReportType::Negative && revisions < keys.len() {
                return Err(refused(
                    "negative",
                    PublishError::bad_request(
                        "a negative certificate only revises keys; none are stored as new"
                            .to_owned(),
                        Vec::new(),
                    ),
                ));
            }
            Some((c, index.reserve(&keys, &stored, code_hash.0)))
        }
        _ => None,
    };
    let revisable: Vec<Revisable> = keys.iter().map(Revisable::of).collect();
    let (reply, answer) = oneshot::channel();
    let job = Job {
        code: code_hash,
        upload_id: id,
        keys,
        visited,
        now,
        certificate_expiry: certificate
            .as_ref()
            .map(|c| c.expires.saturating_add(verification::CLOCK_SKEW_SECS)),
        reply,
    };
    let committed = if writer.submit(job).await {
        answer
            .await
            .map_err(|_| Failure::Internal(IngestError::WriterGone))
            .and_then(|r| {
                r.map_err(|error| Failure::Internal(IngestError::Store(error)))?
                    .map_err(code_refused)
            })
    } else {
        Err(Failure::Internal(IngestError::WriterGone))
    };
    match (committed, reserved) {
        (Ok(committed), Some((c, _))) => {
            let token = c
                .tokens
                .issue(&revisable)
                .map_err(|e| Failure::Internal(IngestError::Token(e)))?;
            Ok((committed, Some(token)))
        }
        (Ok(committed), None) => Ok((committed, None)),
        (Err(failure), Some((c, reservation))) => {
            c.index().rollback(reservation);
            Err(failure)
        }
        (Err(failure), None) => Err(failure),
    }
}

/// Checks the verification certificate of `request` and its `tekmac` over the keys as
/// uploaded. Every failure is the uploader's and is answered with Google's error code.
fn check_certificate(
    request: &PublishRequest,
    upload: &Upload,
    authorities: &Authorities,
    now: u64,
) -> Result<verification::Certificate, Failure> {
    let token = request.verification_payload.as_deref().unwrap_or_default();
    let certificate = verification::verify(token, authorities, now).map_err(|e| match e {
        CertificateError::UnknownIssuer(_) => refused(
            "unknown_health_authority",
            PublishError::unknown_health_authority(e.to_string()),
        ),
        other => refused(
            "certificate",
            PublishError::certificate_invalid(other.reason(), other.to_string()),
        ),
    })?;
    let hmac_key = request
        .hmac_key
        .as_deref()
        .and_then(|k| STANDARD.decode(k).ok())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            refused(
                "certificate",
                PublishError::certificate_invalid(
                    "hmac_key",
                    "hmacKey is missing or not base64".to_owned(),
                ),
            )
        })?;
    verify_tekmac(&hmac_key, &upload.keys, &certificate.tekmac).map_err(|e| {
        refused(
            "certificate",
            PublishError::certificate_invalid("tekmac", e.to_string()),
        )
    })?;
    Ok(certificate)
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
