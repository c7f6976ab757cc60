//! The public key feed for phones: `GET /v1/keys` (the chunk index) and `GET /v1/keys/{chunk}`
//! (the keys of one chunk), as JSON by default or protobuf (`Accept: application/x-protobuf`).
//!
//! A chunk is a window of `feed.chunk` seconds; its id is the chunk number
//! `start / chunk_seconds` (see [`chunk`]). A chunk holds every key, local or remote, whose
//! **release time** lies in its window, in arrival order, from that release time on. The release
//! time is the one rule of [`crate::embargo`], the same the GAEN export files use: a key that had
//! expired when it arrived is released on arrival; a key still valid at upload (today's key) is
//! embargoed until its validity ends (formats.md §e.6), so no phone ever sees a key in use.
//!
//! The index lists the chunks within retention that hold released keys. Every key released into
//! a chunk arrived before the chunk's end (release is never before arrival), so the settle time
//! after the end is the same as for arrival-time chunks: the chunk holding `now`, and one that
//! ended less than [`chunk::SETTLE_SECS`] ago, are `complete: false` and served with
//! `Cache-Control: no-cache`; after that no key can be released into it any more, and it is
//! cacheable until retention would delete its oldest key (by arrival, so an embargoed key counts
//! from before the chunk started; at most a day).
//!
//! This module never serves anything but keys (no origin region, no visited list, no upload
//! data), never serves a key before its release time, and never holds more than one chunk's keys
//! for a request: the store is read page by page over the arrival range that can release into the
//! chunk (`[start − MAX_EMBARGO_SECS, end)`); the index keeps only chunk ids.

pub mod accept;
pub mod body;
pub mod chunk;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use enmesh_protocol::keys::DiagnosisKey;
use prost::Message;
use thiserror::Error;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::embargo::{MAX_EMBARGO_SECS, release_time};
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

/// The chunks within retention that hold keys released at `now`, oldest first.
///
/// Keys released into the served chunks arrived at most [`MAX_EMBARGO_SECS`] before the oldest
/// one, so this reads every key that arrived in `[oldest start − MAX_EMBARGO_SECS, now]`, page by
/// page, keeping only the set of chunk ids (at most the chunks within retention).
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
    let mut ids = BTreeSet::new();
    let from = first.start.saturating_sub(MAX_EMBARGO_SECS);
    // A released key arrived at or before `now`.
    let until = last.end.min(now.saturating_add(1));
    let mut after = None;
    loop {
        let page = store.keys_arrived(from, until, after, PAGE_KEYS)?;
        for entry in &page.entries {
            let release = release_time(&entry.key, entry.at.unix_secs);
            if release <= now && release >= first.start {
                ids.insert(length.chunk_of(release));
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(ids.into_iter().filter_map(|id| length.window(id)).collect())
}

/// The keys one chunk serves at a given time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkKeys {
    /// The keys released in the chunk by then, in arrival order.
    pub keys: Vec<DiagnosisKey>,
    /// The earliest arrival among them (retention deletes that key first).
    pub oldest_arrival: Option<u64>,
}

/// Every key released in `chunk` by `now` (its release time, [`release_time`], lies in the
/// chunk's window and is not after `now`), local and remote, in arrival order.
///
/// Such keys arrived in `[start − MAX_EMBARGO_SECS, min(end, now + 1))`; that range is read page
/// by page (`PAGE_KEYS` at a time) and only the chunk's keys are kept.
pub fn chunk_keys_of(store: &Store, chunk: &Chunk, now: u64) -> Result<ChunkKeys, StoreError> {
    let from = chunk.start.saturating_sub(MAX_EMBARGO_SECS);
    let until = chunk.end.min(now.saturating_add(1));
    let mut out = ChunkKeys::default();
    let mut after = None;
    loop {
        let page = store.keys_arrived(from, until, after, PAGE_KEYS)?;
        for entry in page.entries {
            let release = release_time(&entry.key, entry.at.unix_secs);
            if release <= now && (chunk.start..chunk.end).contains(&release) {
                out.oldest_arrival = Some(
                    out.oldest_arrival
                        .map_or(entry.at.unix_secs, |t| t.min(entry.at.unix_secs)),
                );
                out.keys.push(entry.key);
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
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
    let ChunkKeys {
        keys,
        oldest_arrival,
    } = tokio::task::spawn_blocking(move || chunk_keys_of(&store, &chunk, now)).await??;

    let cache = if chunk.complete_at(now) {
        // Cacheable until retention deletes the chunk's oldest key (its arrival + retention;
        // an embargoed key arrived before the chunk started).
        let age = oldest_arrival
            .unwrap_or(chunk.start)
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
