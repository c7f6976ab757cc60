//! The operator API, on its own listener (`admin.listen`, loopback by default): issue one-time
//! upload codes and read store statistics. `enmesh admin ...` ([`cli`]) is its client.
//!
//! | route               | answer                                                        |
//! |---------------------|---------------------------------------------------------------|
//! | `POST /admin/codes` | `{"code": "…16 chars…", "expiresAt": "RFC 3339", "expiresAtUnix": n}` |
//! | `GET /admin/stats`  | `{"approxKeys": {cf: n, …}, "oldestArrivalUnix": n|null, "newestArrivalUnix": n|null}` |
//!
//! Every request needs `Authorization: Bearer <token>` with the token of
//! `<data_dir>/admin.token` ([`token::load_or_create`]); anything else gets 401. This module
//! never logs a code or the token, and never serves without the token check.

pub mod cli;
pub mod code;
pub mod token;

use crate::clock::SharedClock;
use crate::store::Store;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use token::AdminToken;

/// What the operator API needs. Cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    /// The store codes go to and statistics come from.
    pub store: Arc<Store>,
    /// The only source of "now" (code expiry).
    pub clock: SharedClock,
    /// The bearer token every request must carry.
    pub token: AdminToken,
    /// How long an issued code stays valid (`upload.code_ttl`).
    pub code_ttl: Duration,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("code_ttl", &self.code_ttl)
            .finish_non_exhaustive()
    }
}

/// The body of `POST /admin/codes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCode {
    /// The one-time code, to hand to the diagnosed user.
    pub code: String,
    /// When it stops being accepted, RFC 3339 UTC.
    pub expires_at: String,
    /// The same, unix seconds.
    pub expires_at_unix: u64,
}

/// The body of `GET /admin/stats`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Approximate entries per column family (RocksDB's estimate).
    pub approx_keys: BTreeMap<&'static str, u64>,
    /// The oldest arrival among stored keys, unix seconds.
    pub oldest_arrival_unix: Option<u64>,
    /// The newest arrival among stored keys, unix seconds.
    pub newest_arrival_unix: Option<u64>,
}

/// The error body of the operator API.
#[derive(Debug, Serialize)]
struct ErrorBody {
    error: &'static str,
}

/// The operator routes with their state and the token check applied. Serve them on their own
/// listener (`admin.listen`), e.g. with [`crate::api::serve`].
pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/admin/codes", post(issue_code))
        .route("/admin/stats", get(stats))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorise))
        .with_state(state)
}

fn error(status: StatusCode, error: &'static str) -> Response {
    (status, Json(ErrorBody { error })).into_response()
}

/// Refuses requests without the right bearer token.
async fn authorise(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if state.token.matches(token) => next.run(request).await,
        _ => {
            tracing::warn!("admin request without a valid token refused");
            let mut response = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

async fn issue_code(State(state): State<AdminState>) -> Response {
    let expires = state
        .clock
        .now_secs()
        .saturating_add(state.code_ttl.as_secs());
    let store = Arc::clone(&state.store);
    let issued = tokio::task::spawn_blocking(move || code::issue(&store, expires)).await;
    let expires_at = i64::try_from(expires)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok());
    match (issued, expires_at) {
        (Ok(Ok(code)), Some(expires_at)) => {
            tracing::info!(expires_at_unix = expires, "upload code issued");
            Json(IssuedCode {
                code,
                expires_at,
                expires_at_unix: expires,
            })
            .into_response()
        }
        (Ok(Err(e)), _) => {
            tracing::error!(error = %e, "upload code not issued");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the code could not be issued",
            )
        }
        _ => {
            tracing::error!("upload code not issued: task failed or expiry out of range");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the code could not be issued",
            )
        }
    }
}

async fn stats(State(state): State<AdminState>) -> Response {
    let store = Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || store.stats()).await {
        Ok(Ok(stats)) => Json(Stats {
            approx_keys: stats.approx_keys.into_iter().collect(),
            oldest_arrival_unix: stats.oldest_arrival_unix_secs,
            newest_arrival_unix: stats.newest_arrival_unix_secs,
        })
        .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "store statistics failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "statistics unavailable")
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "statistics unavailable"),
    }
}
