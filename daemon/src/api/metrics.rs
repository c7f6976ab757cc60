//! `GET /metrics`: the Prometheus scrape endpoint.
//!
//! Serves [`Metrics::encode`](crate::telemetry::Metrics::encode) in the OpenMetrics text format.
//! It never changes a metric.

use super::AppState;
use crate::telemetry::Metrics;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

/// Handles `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, Metrics::CONTENT_TYPE)],
        state.metrics().encode(),
    )
}
