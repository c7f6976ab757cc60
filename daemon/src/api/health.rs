//! `GET /healthz`: liveness for load balancers and orchestrators.
//!
//! Answers 200 with a small JSON document while the server runs. It never touches the store or
//! the network, so it stays cheap under load.

use super::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;

/// The body of a health answer.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `ok` while the server answers.
    pub status: &'static str,
    /// The region this backend serves.
    pub region: String,
    /// The cluster this backend belongs to.
    pub cluster: String,
    /// The daemon's version.
    pub version: &'static str,
    /// Whole seconds since the API state was created.
    pub uptime_seconds: u64,
}

/// Handles `GET /healthz`.
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        region: state.region().to_string(),
        cluster: state.cluster().to_string(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.uptime().as_secs(),
    })
}
