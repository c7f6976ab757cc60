//! EFGS callbacks (formats.md §g.1, §g.7): members register an https URL; when a new gateway
//! batch is served, the gateway calls `GET <url>?batchTag=<tag>&date=<yyyy-MM-dd>`; 2xx is
//! delivered, after [`MAX_FAILURES`] failed calls in a row the subscription is deleted.
//!
//! Registrations are stored (`store::efgs`, in `meta`) before they are answered and read back when
//! the node starts, so a restart keeps them; which tag each was last told is kept in memory (after
//! a restart the newest batch is announced once more). A URL must be https, without a query,
//! resolve, and (unless `allow_private` is set for a lab) resolve to no loopback or private
//! address. This module
//! never calls a URL it did not check and never calls more than one URL at a time per member.

use super::batches::{self, Day};
use super::listen::MemberConn;
use super::{EfgsError, Gateway, caller};
use crate::efgs::https;
use crate::efgs::metrics::CallbackOutcome;
use crate::shutdown::ShutdownSignal;
use crate::worker::{Ticker, Worker, WorkerState};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Failed calls in a row before a subscription is deleted.
pub const MAX_FAILURES: u32 = 5;
/// Callbacks a member may register.
pub const MAX_PER_MEMBER: usize = 16;
/// Longest callback id.
pub const MAX_ID_LEN: usize = 64;

#[derive(Debug, Clone)]
struct Subscription {
    url: Uri,
    delivered: Option<String>,
    failures: u32,
}

/// The registered callbacks, by member country and id.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Mutex<BTreeMap<(String, String), Subscription>>>,
    allow_private: bool,
}

impl Registry {
    /// An empty registry; `allow_private` admits loopback/private URLs (labs and tests only).
    pub fn new(allow_private: bool) -> Self {
        Self {
            inner: Arc::new(Mutex::new(BTreeMap::new())),
            allow_private,
        }
    }

    /// Takes back registrations read from the store (`Store::efgs_callbacks`); an entry whose URL
    /// no longer passes [`check_url`] is skipped (and logged).
    pub fn restore(&self, stored: Vec<(String, String, String)>) {
        let mut registry = self.lock();
        for (country, id, url) in stored {
            match check_url(&url) {
                Ok(url) => {
                    registry.insert(
                        (country, id),
                        Subscription {
                            url,
                            delivered: None,
                            failures: 0,
                        },
                    );
                }
                Err(reason) => {
                    tracing::warn!(member = %country, %id, %reason, "stored EFGS callback skipped");
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Subscription>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Checks a callback URL's shape: https, a host, no query or fragment, at most 2048 characters.
pub fn check_url(text: &str) -> Result<Uri, String> {
    if text.len() > 2048 {
        return Err("the URL is longer than 2048 characters".into());
    }
    let uri: Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err("the URL must be https".into());
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if uri.query().is_some() || text.contains('#') {
        return Err("the URL must not have a query".into());
    }
    Ok(uri)
}

/// Whether an address is loopback, private, link-local or otherwise not public.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

async fn resolves_publicly(uri: &Uri, allow_private: bool) -> Result<(), String> {
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(443);
    let addrs: Vec<_> = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host, port)),
    )
    .await
    .map_err(|_| "the host does not resolve in time".to_owned())?
    .map_err(|_| "the host does not resolve".to_owned())?
    .collect();
    if addrs.is_empty() {
        return Err("the host does not resolve".into());
    }
    if !allow_private && addrs.iter().any(|a| is_private(a.ip())) {
        return Err("the host resolves to a private or loopback address".into());
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    callback_id: String,
    url: String,
}

/// `GET /diagnosiskeys/callback`.
pub async fn list(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(conn): ConnectInfo<MemberConn>,
) -> Response {
    let country = match caller(&gateway, &conn) {
        Ok(identity) => identity.country.alpha2().to_owned(),
        Err(e) => return e.into_response(),
    };
    let listed: Vec<Listed> = gateway
        .callbacks
        .lock()
        .iter()
        .filter(|((c, _), _)| *c == country)
        .map(|((_, id), sub)| Listed {
            callback_id: id.clone(),
            url: sub.url.to_string(),
        })
        .collect();
    axum::Json(listed).into_response()
}

/// The query of `PUT /diagnosiskeys/callback/{id}`.
#[derive(Debug, Deserialize)]
pub struct RegisterQuery {
    url: Option<String>,
}

/// `PUT /diagnosiskeys/callback/{id}?url=...`.
pub async fn register(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(conn): ConnectInfo<MemberConn>,
    Path(id): Path<String>,
    query: Result<Query<RegisterQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let bad = |m: String| EfgsError::new(400, m).into_response();
    let country = match caller(&gateway, &conn) {
        Ok(identity) => identity.country.alpha2().to_owned(),
        Err(e) => return e.into_response(),
    };
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return bad(format!(
            "callback id must be 1..={MAX_ID_LEN} characters, none a control character"
        ));
    }
    let Ok(Query(query)) = query else {
        return bad("bad query".into());
    };
    let Some(text) = query.url else {
        return bad("the url parameter is missing".into());
    };
    let uri = match check_url(&text) {
        Ok(uri) => uri,
        Err(m) => return bad(m),
    };
    if let Err(m) = resolves_publicly(&uri, gateway.callbacks.allow_private).await {
        return bad(m);
    }
    {
        let registry = gateway.callbacks.lock();
        let own = registry.keys().filter(|(c, _)| *c == country).count();
        if own >= MAX_PER_MEMBER && !registry.contains_key(&(country.clone(), id.clone())) {
            return bad(format!("at most {MAX_PER_MEMBER} callbacks per member"));
        }
    }
    let (store, c, i, u) = (
        gateway.store.clone(),
        country.clone(),
        id.clone(),
        uri.to_string(),
    );
    match tokio::task::spawn_blocking(move || store.put_efgs_callback(&c, &i, &u)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return EfgsError::store(&error).into_response(),
        Err(_) => return EfgsError::new(500, "callback task failed").into_response(),
    }
    gateway.callbacks.lock().insert(
        (country, id),
        Subscription {
            url: uri,
            delivered: None,
            failures: 0,
        },
    );
    axum::http::StatusCode::OK.into_response()
}

/// `DELETE /diagnosiskeys/callback/{id}`.
pub async fn remove(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(conn): ConnectInfo<MemberConn>,
    Path(id): Path<String>,
) -> Response {
    let country = match caller(&gateway, &conn) {
        Ok(identity) => identity.country.alpha2().to_owned(),
        Err(e) => return e.into_response(),
    };
    let key = (country, id);
    if !gateway.callbacks.lock().contains_key(&key) {
        return EfgsError::new(404, "no such callback").into_response();
    }
    if let Err(e) = forget(&gateway, &key).await {
        return e.into_response();
    }
    axum::http::StatusCode::OK.into_response()
}

/// Deletes a subscription from the store, then from memory.
async fn forget(gateway: &Gateway, key: &(String, String)) -> Result<(), EfgsError> {
    let (store, (c, i)) = (gateway.store.clone(), key.clone());
    match tokio::task::spawn_blocking(move || store.delete_efgs_callback(&c, &i)).await {
        Ok(Ok(())) => {
            gateway.callbacks.lock().remove(key);
            Ok(())
        }
        Ok(Err(error)) => Err(EfgsError::store(&error)),
        Err(_) => Err(EfgsError::new(500, "callback task failed")),
    }
}

/// The newest served batch of `day` (following the chain from its first batch).
fn newest_tag(gateway: &Gateway, day: Day, now: u64) -> Option<String> {
    let mut batch = batches::read_batch(&gateway.store, &gateway.region, day, None, now)
        .ok()?
        .ok()?;
    while let Some(next) = batch.next {
        batch = batches::read_batch(&gateway.store, &gateway.region, day, Some(next), now)
            .ok()?
            .ok()?;
    }
    Some(batch.tag.text())
}

/// The `efgs_callbacks` worker: every `interval`, calls every subscription whose member has not
/// been told of the newest batch. `tls` verifies the members' callback servers. When its stage
/// stops, a round ends at its next await (the calls not made yet are made after a restart).
pub struct CallbackWorker {
    gateway: Arc<Gateway>,
    tls: Arc<rustls::ClientConfig>,
    ticker: Ticker,
    stop: ShutdownSignal,
}

impl CallbackWorker {
    /// The worker in the stage of `stop`; its first round runs after one `interval`.
    pub fn new(
        gateway: Arc<Gateway>,
        tls: Arc<rustls::ClientConfig>,
        interval: Duration,
        stop: ShutdownSignal,
    ) -> Self {
        Self {
            gateway,
            tls,
            ticker: Ticker::new(interval, false),
            stop,
        }
    }
}

impl Worker for CallbackWorker {
    type Error = std::convert::Infallible;

    fn name(&self) -> &'static str {
        "efgs_callbacks"
    }

    async fn work(&mut self) -> Result<WorkerState, Self::Error> {
        let stop = self.stop.clone();
        tokio::select! {
            () = deliver_once(&self.gateway, &self.tls) => {}
            () = stop.wait() => {}
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        self.ticker.tick().await;
        WorkerState::Busy
    }
}

/// One delivery round.
pub async fn deliver_once(gateway: &Arc<Gateway>, tls: &Arc<rustls::ClientConfig>) {
    let now = gateway.clock.now_secs();
    let day = Day::of(now);
    let gw = gateway.clone();
    let Ok(Some(tag)) = tokio::task::spawn_blocking(move || newest_tag(&gw, day, now)).await else {
        return;
    };
    let due: Vec<((String, String), Uri)> = gateway
        .callbacks
        .lock()
        .iter()
        .filter(|(_, s)| s.delivered.as_deref() != Some(tag.as_str()))
        .map(|(k, s)| (k.clone(), s.url.clone()))
        .collect();
    for (key, url) in due {
        let query = format!("?batchTag={tag}&date={}", day.iso());
        let outcome = https::request(tls.clone(), &url, Method::GET, &query, &[], Vec::new()).await;
        let ok = matches!(&outcome, Ok(a) if a.status.is_success());
        let metrics = gateway.metrics.efgs();
        let exhausted = {
            let mut registry = gateway.callbacks.lock();
            let Some(sub) = registry.get_mut(&key) else {
                continue;
            };
            if ok {
                metrics.callback(CallbackOutcome::Delivered);
                sub.delivered = Some(tag.clone());
                sub.failures = 0;
                tracing::info!(member = %key.0, id = %key.1, %tag, "EFGS callback delivered");
            } else {
                metrics.callback(CallbackOutcome::Failed);
                sub.failures += 1;
                tracing::warn!(member = %key.0, id = %key.1, failures = sub.failures, "EFGS callback failed");
            }
            sub.failures >= MAX_FAILURES
        };
        if exhausted {
            match forget(gateway, &key).await {
                Ok(()) => {
                    metrics.callback(CallbackOutcome::Deleted);
                    tracing::warn!(member = %key.0, id = %key.1, "EFGS callback deleted after repeated failures");
                }
                Err(e) => {
                    tracing::error!(member = %key.0, id = %key.1, error = %e.message, "EFGS callback not deleted")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://backend.example/cb").is_ok());
        assert!(check_url("http://backend.example/cb").is_err());
        assert!(check_url("https://backend.example/cb?x=1").is_err());
        assert!(check_url("https:///cb").is_err());
        assert!(check_url("not a url").is_err());
        assert!(is_private("127.0.0.1".parse().unwrap()));
        assert!(is_private("10.1.2.3".parse().unwrap()));
        assert!(is_private("::1".parse().unwrap()));
        assert!(is_private("fd00::1".parse().unwrap()));
        assert!(!is_private("93.184.216.34".parse().unwrap()));
    }
}
