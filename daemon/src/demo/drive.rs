//! Driving nodes from outside, as an app, a phone and an operator would: issue a code over the
//! operator API, upload a traveller's keys, read a node's public key feed. Shared by the demo,
//! the multi-node tests and the replication benchmarks, so they all exercise the public
//! interfaces the same way. This module never reaches into a node's store.

use super::run::{DemoError, unexpected};
use crate::admin::token::AdminToken;
use crate::api::client::{self, Answer};
use axum::http::{Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::interval::{IntervalNumber, TEK_ROLLING_PERIOD};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A key as an app uploads it: (key bytes, rolling period, rolling start).
pub type AppKey = ([u8; 16], u32, u32);

/// Issues a one-time upload code over the operator API at `admin`, as
/// `enmesh admin issue-code` does.
pub async fn issue_code(admin: SocketAddr, token: &AdminToken) -> Result<String, DemoError> {
    let body = crate::admin::cli::call(admin, token, Method::POST, "/admin/codes")
        .await
        .map_err(|e| unexpected("issue a code", e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| unexpected("issue a code", e.to_string()))?;
    value["code"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| unexpected("issue a code", format!("no \"code\" in {body}")))
}

/// Issues a code at `admin` and uploads `keys` at `http` with `visited` regions; fails unless
/// the node answers 200.
pub async fn upload(
    http: SocketAddr,
    admin: SocketAddr,
    token: &AdminToken,
    keys: &[AppKey],
    visited: &[&str],
    now: u64,
) -> Result<(), DemoError> {
    let code = issue_code(admin, token).await?;
    let answer = post_json(
        http,
        "/v1/publish",
        publish_body(keys, &code, visited, now)?,
    )
    .await?;
    if answer.status != StatusCode::OK {
        return Err(unexpected(
            "upload",
            format!("expected 200, got {}: {}", answer.status, answer.text()),
        ));
    }
    Ok(())
}

/// Every key (base64) the public feed at `http` serves now, over all chunks.
pub async fn feed_keys(http: SocketAddr) -> Result<HashSet<String>, DemoError> {
    let json = |answer: &Answer, step| -> Result<serde_json::Value, DemoError> {
        if answer.status != StatusCode::OK {
            return Err(unexpected(step, format!("status {}", answer.status)));
        }
        serde_json::from_slice(&answer.body).map_err(|e| unexpected(step, e.to_string()))
    };
    let index = json(&client::get(http, "/v1/keys").await?, "chunk index")?;
    let mut keys = HashSet::new();
    for chunk in index["chunks"].as_array().into_iter().flatten() {
        let id = chunk["id"].to_string();
        let chunk = json(
            &client::get(http, &format!("/v1/keys/{id}")).await?,
            "chunk",
        )?;
        for key in chunk["keys"].as_array().into_iter().flatten() {
            if let Some(text) = key["key"].as_str() {
                keys.insert(text.to_owned());
            }
        }
    }
    Ok(keys)
}

/// The base64 text of a key, as the feed serves it.
pub fn key_text(key: &AppKey) -> String {
    STANDARD.encode(key.0)
}

/// 14 random keys of a traveller, one a day for the 14 days before `now`'s day:
/// (key bytes, rolling period, rolling start).
pub fn traveller_keys(now: u64) -> Result<Vec<AppKey>, DemoError> {
    let today = IntervalNumber::from_unix_seconds(now)
        .ok_or_else(|| unexpected("keys", "clock out of range"))?
        .day_start();
    (1..=14)
        .map(|day| {
            let mut key = [0u8; 16];
            getrandom::fill(&mut key).map_err(|e| unexpected("keys", e.to_string()))?;
            Ok((key, TEK_ROLLING_PERIOD, today.0 - day * TEK_ROLLING_PERIOD))
        })
        .collect()
}

/// The publish JSON of `keys` with `code` and `visited` regions, at `now`.
pub fn publish_body(
    keys: &[AppKey],
    code: &str,
    visited: &[&str],
    now: u64,
) -> Result<Vec<u8>, DemoError> {
    let onset = IntervalNumber::from_unix_seconds(now.saturating_sub(3 * 86_400))
        .ok_or_else(|| unexpected("keys", "clock out of range"))?;
    let body = serde_json::json!({
        "temporaryExposureKeys": keys.iter().map(|(key, period, start)| serde_json::json!({
            "key": STANDARD.encode(key),
            "rollingStartNumber": start,
            "rollingPeriod": period,
            "transmissionRisk": 0,
        })).collect::<Vec<_>>(),
        "healthAuthorityID": "enmesh-demo",
        "verificationPayload": code,
        "symptomOnsetInterval": onset.0,
        "traveler": !visited.is_empty(),
        "visitedRegions": visited,
    });
    serde_json::to_vec(&body).map_err(|e| unexpected("upload body", e.to_string()))
}

/// POSTs a JSON `body` to `path` at `addr`.
pub async fn post_json(addr: SocketAddr, path: &str, body: Vec<u8>) -> Result<Answer, DemoError> {
    Ok(client::request(
        addr,
        Method::POST,
        path,
        &[(header::CONTENT_TYPE, "application/json")],
        body,
    )
    .await?)
}

/// Polls `probe` every 20 ms until it yields a value or `patience` runs out.
pub async fn wait_for<T, F, Fut>(patience: Duration, mut probe: F) -> Result<Option<T>, DemoError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, DemoError>>,
{
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if let Some(value) = probe().await? {
            return Ok(Some(value));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(None)
}
