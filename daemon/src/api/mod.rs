//! The HTTP server: router assembly, per-request observation, and graceful shutdown.
//!
//! [`router`] merges the operations routes (`/healthz`, `/metrics`) with the routes other modules
//! build (ingest, feeds, exports: each a `Router` with its own state applied), then wraps all of
//! them in the same layers: a request-body limit and a tracing span plus metrics per request.
//! [`serve`] runs the router on a listener until a [`ShutdownSignal`] fires, then stops accepting
//! and lets requests in flight finish.
//!
//! This module never logs request bodies, query strings or raw paths: only the matched route
//! pattern, method, status and latency.

pub mod client;
pub mod health;
pub mod metrics;
pub mod request_metrics;

use crate::shutdown::ShutdownSignal;
use crate::telemetry::Metrics;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use enmesh_protocol::region::{ClusterId, RegionId};
use request_metrics::HttpLabels;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tracing::Instrument;

/// Why the HTTP server could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The operating system's error.
        reason: std::io::Error,
    },
    /// The server failed while running.
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// What the operations routes need: who this node is, its metrics, and when it started.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

#[derive(Debug)]
struct StateInner {
    region: RegionId,
    cluster: ClusterId,
    metrics: Metrics,
    started: Instant,
}

impl AppState {
    /// State for a node of `region` in `cluster`; uptime counts from now.
    pub fn new(region: RegionId, cluster: ClusterId, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(StateInner {
                region,
                cluster,
                metrics,
                started: Instant::now(),
            }),
        }
    }

    /// The region this node serves.
    pub fn region(&self) -> &RegionId {
        &self.inner.region
    }

    /// The cluster this node belongs to.
    pub fn cluster(&self) -> &ClusterId {
        &self.inner.cluster
    }

    /// The daemon's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Time since the state was created.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }
}

/// The daemon's HTTP router: `/healthz`, `/metrics` and `routes`, all behind a request-body limit
/// of `max_body_bytes` (larger bodies get 413) and the per-request span and metrics.
pub fn router(state: AppState, routes: Router, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .with_state(state.clone())
        .merge(routes)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(middleware::from_fn_with_state(state, observe))
}

/// Runs each request inside a span (method, route, status, latency) and counts it.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().to_string();
    let span = tracing::info_span!(
        "http",
        method = %method,
        route = %route,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    span.record("status", status);
    span.record("latency_ms", latency.as_secs_f64() * 1e3);
    span.in_scope(|| tracing::debug!("request served"));
    state.metrics().http().request(
        HttpLabels {
            route,
            method,
            status,
        },
        latency.as_secs_f64(),
    );
    response
}

/// Binds the HTTP listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ApiError> {
    TcpListener::bind(addr)
        .await
        .map_err(|reason| ApiError::Bind { addr, reason })
}

/// Serves `router` on `listener` until `shutdown` fires; then stops accepting connections and
/// returns once the requests in flight have been answered.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: ShutdownSignal,
) -> Result<(), ApiError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP server listening");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.wait())
        .await
        .map_err(ApiError::Serve)?;
    tracing::info!("HTTP server stopped");
    Ok(())
}
