//! The public key feed for phones: `GET /v1/keys` (the chunk index) and `GET /v1/keys/{chunk}`
//! (the keys of one chunk), as JSON by default or protobuf (`Accept: application/x-protobuf`).
//!
//! A chunk is a window of arrival time of `feed.chunk` seconds; its id is the chunk number
//! `start / chunk_seconds` (see [`chunk`]). A chunk holds every key, local or remote, whose
//! arrival time lies in its window, in arrival order. The index lists the chunks within retention
//! that hold keys; the chunk holding `now`, and one that ended less than
//! [`chunk::SETTLE_SECS`] ago, are `complete: false` and served with `Cache-Control: no-cache`;
//! complete chunks are cacheable until retention would delete their oldest keys (at most a day).
//!
//! Keys are served as they arrived: the embargo of keys still valid at upload applies to the GAEN
//! export files ([`crate::exports`]), not to this feed.
//!
//! This module never serves anything but keys (no origin region, no visited list, no upload
//! data) and never reads more than one chunk for a request (the store is read page by page).

pub mod accept;
pub mod body;
pub mod chunk;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prost::Message;
use thiserror::Error;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::store::{Store, StoreError};
use accept::Format;
use chunk::{Chunk, ChunkId, ChunkLength};

/// Keys read from the store per page while serving a chunk.
const PAGE_KEYS: usize = 10_000;
/// The longest `max-age` of a complete chunk.
const MAX_AGE_CAP_SECS: u64 = 86_400;

/// What the feed needs from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedSettings {
    /// Length of every chunk (`feed.chunk`).
    pub chunk: ChunkLength,
    /// How long keys are kept (`retention.days`): older chunks are not served.
    pub retention: Duration,
}

impl FeedSettings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            chunk: ChunkLength::new(config.feed.chunk),
            retention: Duration::from_secs(u64::from(config.retention.days) * 86_400),
        }
    }
}

/// Why a feed request failed; each becomes a status and a JSON body `{error, message}`.
#[derive(Debug, Error)]
pub enum FeedError {
    /// The chunk id in the path is not a decimal number.
    #[error("chunk id {0:?} is not a decimal chunk number")]
    BadChunkId(String),
    /// The chunk is in the future or older than retention.
    #[error("chunk {id} is not served (served chunks: {oldest}..={open})")]
    UnknownChunk {
        /// The requested chunk.
        id: u64,
        /// The oldest chunk within retention.
        oldest: u64,
        /// The open chunk.
        open: u64,
    },
    /// The `Accept` header names nothing the feed serves.
    #[error("cannot serve {accept:?}; use application/json or application/x-protobuf")]
    NotAcceptable {
        /// The header's value.
        accept: String,
    },
    /// The store failed.
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    /// The JSON body could not be encoded.
    #[error("cannot encode the JSON body: {0}")]
    Json(#[from] serde_json::Error),
    /// The blocking read task panicked or was cancelled.
    #[error("feed read task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl FeedError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadChunkId(_) => (StatusCode::BAD_REQUEST, "bad_chunk_id"),
            Self::UnknownChunk { .. } => (StatusCode::NOT_FOUND, "unknown_chunk"),
            Self::NotAcceptable { .. } => (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
            Self::Store(_) | Self::Json(_) | Self::Task(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        }
    }
}

impl IntoResponse for FeedError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "feed request failed");
        }
        let body = serde_json::json!({ "error": code, "message": self.to_string() });
        (status, axum::Json(body)).into_response()
    }
}

#[derive(Clone)]
struct FeedState {
    store: Arc<Store>,
    clock: SharedClock,
    settings: FeedSettings,
}

/// The feed's routes (`/v1/keys`, `/v1/keys/{chunk}`), state applied: merge them into
/// [`crate::api::router`].
pub fn routes(store: Arc<Store>, clock: SharedClock, settings: FeedSettings) -> Router {
    let state = FeedState {
        store,
        clock,
        settings,
    };
    Router::new()
        .route("/v1/keys", get(index))
        .route("/v1/keys/{chunk}", get(chunk_keys))
        .with_state(state)
}

/// The chunks within retention that hold keys at `now`, oldest first: one seek per chunk found.
pub fn chunks_with_keys(
    store: &Store,
    settings: &FeedSettings,
    now: u64,
) -> Result<Vec<Chunk>, StoreError> {
    let length = settings.chunk;
    let (oldest, open) = chunk::served_range(length, now, settings.retention.as_secs());
    let (Some(first), Some(last)) = (length.window(oldest), length.window(open)) else {
        return Ok(Vec::new());
    };
    let mut chunks = Vec::new();
    let mut from = first.start;
    while from < last.end {
        let page = store.keys_arrived(from, last.end, None, 1)?;
        let Some(entry) = page.entries.first() else {
            break;
        };
        let Some(found) = length.window(length.chunk_of(entry.at.unix_secs)) else {
            break;
        };
        from = found.end;
        chunks.push(found);
    }
    Ok(chunks)
}

/// Every key that arrived in `chunk`, in arrival order, read page by page.
pub fn chunk_keys_of(
    store: &Store,
    chunk: &Chunk,
) -> Result<Vec<enmesh_protocol::keys::DiagnosisKey>, StoreError> {
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = store.keys_arrived(chunk.start, chunk.end, after, PAGE_KEYS)?;
        keys.extend(page.entries.into_iter().map(|e| e.key));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(keys),
        }
    }
}

fn format_of(headers: &HeaderMap) -> Result<Format, FeedError> {
    let accept = headers
        .get(header::ACCEPT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    accept::negotiate(accept.as_deref()).ok_or(FeedError::NotAcceptable {
        accept: accept.unwrap_or_default(),
    })
}

/// Encodes the body in `format` (building only that representation) with the feed's headers.
fn respond<J: serde::Serialize, P: Message>(
    format: Format,
    cache: HeaderValue,
    json: impl FnOnce() -> J,
    protobuf: impl FnOnce() -> P,
) -> Result<Response, FeedError> {
    let (content_type, body) = match format {
        Format::Json => (accept::JSON, serde_json::to_vec(&json())?),
        Format::Protobuf => (accept::PROTOBUF, protobuf().encode_to_vec()),
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, cache),
            (header::VARY, HeaderValue::from_static("accept")),
        ],
        body,
    )
        .into_response())
}

async fn index(State(state): State<FeedState>, headers: HeaderMap) -> Result<Response, FeedError> {
    let format = format_of(&headers)?;
    let now = state.clock.now_secs();
    let store = state.store.clone();
    let settings = state.settings;
    let chunks =
        tokio::task::spawn_blocking(move || chunks_with_keys(&store, &settings, now)).await??;
    respond(
        format,
        HeaderValue::from_static("no-cache"),
        || body::JsonIndex {
            chunk_seconds: settings.chunk.secs(),
            chunks: chunks
                .iter()
                .map(|c| body::JsonChunkInfo::new(c, now))
                .collect(),
        },
        || body::proto_index(settings.chunk, &chunks, now),
    )
}

async fn chunk_keys(
    State(state): State<FeedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, FeedError> {
    let format = format_of(&headers)?;
    let id: u64 = id.parse().map_err(|_| FeedError::BadChunkId(id.clone()))?;
    let now = state.clock.now_secs();
    let settings = state.settings;
    let retention = settings.retention.as_secs();
    let (oldest, open) = chunk::served_range(settings.chunk, now, retention);
    let chunk = (oldest.0..=open.0)
        .contains(&id)
        .then(|| settings.chunk.window(ChunkId(id)))
        .flatten()
        .ok_or(FeedError::UnknownChunk {
            id,
            oldest: oldest.0,
            open: open.0,
        })?;
    let store = state.store.clone();
    let keys = tokio::task::spawn_blocking(move || chunk_keys_of(&store, &chunk)).await??;

    let cache = if chunk.complete_at(now) {
        // Cacheable until retention deletes the chunk's oldest keys (start + retention).
        let age = chunk
            .start
            .saturating_add(retention)
            .saturating_sub(now)
            .min(MAX_AGE_CAP_SECS);
        HeaderValue::from_str(&format!("public, max-age={age}"))
            .unwrap_or(HeaderValue::from_static("no-cache"))
    } else {
        HeaderValue::from_static("no-cache")
    };
    respond(
        format,
        cache,
        || body::JsonChunk {
            chunk: body::JsonChunkInfo::new(&chunk, now),
            keys: keys.iter().map(body::JsonKey::from).collect(),
        },
        || enmesh_proto::v1::KeyChunk {
            chunk: Some(body::proto_info(&chunk, now)),
            keys: keys.iter().map(crate::wire::key_to_wire).collect(),
        },
    )
}
