//! The EFGS-compatible gateway API of a node (`[efgs_gateway]`): a national backend built for the
//! EU Federation Gateway points its EFGS client at its enmesh node instead (formats.md §g.1).
//!
//! - `POST /diagnosiskeys/upload`: [`upload::check_upload`] decides (the checks of §g.5 in order);
//!   accepted keys of the node's own country become local keys with their `visitedCountries` as
//!   the upload's visited list (so they travel the mesh and partial feeds like app uploads, and
//!   the list never leaves this node); keys of a CA-tree node of another region become remote
//!   keys of that region. One atomic write with the batchTag and each key's record hash; a key
//!   whose record is stored already makes the upload a 207 (EFGS's `{"201":…,"409":…}`) and
//!   nothing is stored.
//! - `GET /diagnosiskeys/download/{date}`: gateway batches of the node's keys ([`batches`]:
//!   its own region's and those received from other backends), minus the caller's country, with
//!   `batchTag`/`nextBatchTag`.
//! - `GET /diagnosiskeys/audit/download/{date}/{batchTag}`: one entry per origin run of the batch,
//!   each with a detached CMS by this gateway's signing certificate over that run's keys as served.
//! - `GET/PUT/DELETE /diagnosiskeys/callback...` ([`callbacks`]).
//!
//! Callers are authenticated by mutual TLS ([`listen`], `pki::efgs`). Every error is EFGS's JSON
//! `{"message": ...}` with EFGS's status. This module never stores anything of a refused upload,
//! never serves the caller's own country's keys, never returns a visited list, and never trusts a header for identity.

pub mod batches;
pub mod callbacks;
pub mod listen;
pub mod upload;

use crate::clock::SharedClock;
use crate::efgs::cms::CmsSigner;
use crate::efgs::dsos::key_to_efgs;
use crate::efgs::wire::{self, WireError};
use crate::pki::efgs::{MemberCertKind, MemberIdentity, Members, thumbprint};
use crate::store::{MemberGroup, Store, StoreError, UploadRefusal, efgs_key_code, efgs_tag_code};
use crate::telemetry::KeyKind;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use batches::{BatchTag, Day, GatewayBatch, NotServed};
use enmesh_protocol::efgs::{EfgsKey, batch_signing_bytes, record_dedup_hash};
use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::{Country, RegionId};
use listen::MemberConn;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use upload::{UploadError, UploadRequest};

/// Largest upload body: 5001 keys of protobuf with ten visited countries stay well under it.
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// Days before today a download or audit may ask for (formats.md §g.7).
pub const WINDOW_DAYS: u64 = 2;

/// What the gateway's handlers share.
pub struct Gateway {
    /// The node's store.
    pub store: Arc<Store>,
    /// Members and the CA tree.
    pub members: Arc<Members>,
    /// The certificate and key that sign audit entries.
    pub signer: Arc<CmsSigner>,
    /// The node's clock.
    pub clock: SharedClock,
    /// The node's region.
    pub region: RegionId,
    /// Registered callbacks.
    pub callbacks: callbacks::Registry,
    /// The node's metrics (uploads accepted/refused with an `efgs_*` rule, keys stored).
    pub metrics: crate::telemetry::Metrics,
    /// Serialises the dedup lookup and commit of uploads (a key record is taken once; the
    /// batchTag is re-checked atomically by the commit). The checks before it (decoding, key
    /// validation, the CMS) run outside it, so uploads of several members verify in parallel.
    upload_lock: Mutex<()>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway of the node of `region`.
    pub fn new(
        store: Arc<Store>,
        members: Arc<Members>,
        signer: Arc<CmsSigner>,
        clock: SharedClock,
        region: RegionId,
        callbacks: callbacks::Registry,
        metrics: crate::telemetry::Metrics,
    ) -> Self {
        Self {
            store,
            members,
            signer,
            clock,
            region,
            callbacks,
            metrics,
            upload_lock: Mutex::new(()),
        }
    }
}

/// An EFGS error answer: status and `{"message": ...}`.
#[derive(Debug, Clone)]
pub struct EfgsError {
    /// The status.
    pub status: StatusCode,
    /// The message.
    pub message: String,
}

impl EfgsError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
        }
    }

    fn store(error: &StoreError) -> Self {
        tracing::error!(%error, "EFGS gateway: store failed");
        Self::new(500, "internal error")
    }
}

impl IntoResponse for EfgsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message }).to_string();
        (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }
}

/// The gateway's routes (serve them with `ConnectInfo<MemberConn>`, see [`listen`]).
pub fn routes(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/diagnosiskeys/upload", post(upload_handler))
        .route("/diagnosiskeys/download/{date}", get(download_handler))
        .route(
            "/diagnosiskeys/audit/download/{date}/{tag}",
            get(audit_handler),
        )
        .route("/diagnosiskeys/callback", get(callbacks::list))
        .route(
            "/diagnosiskeys/callback/{id}",
            put(callbacks::register).delete(callbacks::remove),
        )
        .fallback(|| async { EfgsError::new(404, "no such endpoint") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(gateway)
}

/// The caller of a request, or 403 (formats.md §g.1: client certificate missing, unknown or
/// revoked). The connection's certificate is checked again for every request, so a keep-alive
/// connection loses its identity when the certificate expires or its CA-tree chain is revoked
/// (a CRL reload) while it is open.
pub fn caller(gateway: &Gateway, conn: &MemberConn) -> Result<MemberIdentity, EfgsError> {
    let refused = || EfgsError::new(403, "client certificate missing, unknown or revoked");
    if conn.identity.is_none() {
        return Err(refused());
    }
    gateway
        .members
        .check(
            &conn.chain,
            MemberCertKind::Authentication,
            gateway.clock.now_secs(),
        )
        .map_err(|error| {
            tracing::info!(peer = %conn.peer, %error, "EFGS caller no longer a member");
            refused()
        })
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The visited regions of a `visitedCountries` list: its countries, without `home`.
fn visited_regions(visited_countries: &[String], home: &RegionId) -> Vec<RegionId> {
    let mut out: Vec<RegionId> = visited_countries
        .iter()
        .filter_map(|c| Country::from_alpha2(c))
        .map(RegionId::country)
        .filter(|r| r != home)
        .collect();
    out.sort_by_key(ToString::to_string);
    out.dedup();
    out
}

async fn upload_handler(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(conn): ConnectInfo<MemberConn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let identity = match caller(&gateway, &conn) {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    let span = tracing::info_span!("efgs_upload", country = %identity.country.alpha2());
    let started = std::time::Instant::now();
    let gw = gateway.clone();
    let blocking_span = span.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _enter = blocking_span.enter();
        commit_upload(&gw, &identity, &headers, &body)
    })
    .await
    .unwrap_or_else(|_| Err(UploadError::Store("upload task failed".into())));
    // Entered only after the await: a guard held across it would mark other tasks' events.
    let _enter = span.enter();
    match result {
        Ok((tag, count, kind)) => {
            gateway.metrics.efgs().upload_accepted(kind, count as u64);
            tracing::info!(
                keys = count,
                ms = started.elapsed().as_millis() as u64,
                "EFGS upload stored"
            );
            let mut response = StatusCode::CREATED.into_response();
            if let Ok(value) = HeaderValue::from_str(&tag) {
                response.headers_mut().insert("batchTag", value);
            }
            response
        }
        Err(error) => {
            gateway.metrics.efgs().upload_refused(error.reason());
            tracing::info!(reason = error.reason(), %error, "EFGS upload refused");
            match error {
                UploadError::KeysExist { created, conflicts } => {
                    let body = serde_json::json!({ "201": created, "409": conflicts, "500": [] });
                    (StatusCode::MULTI_STATUS, axum::Json(body)).into_response()
                }
                error => EfgsError::new(error.status(), error.to_string()).into_response(),
            }
        }
    }
}

/// Checks and stores one upload (blocking: the store and the CMS).
fn commit_upload(
    gateway: &Gateway,
    caller: &MemberIdentity,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, usize, KeyKind), UploadError> {
    let request = UploadRequest {
        caller,
        batch_tag: header_text(headers, "batchTag"),
        signature: header_text(headers, "batchSignature"),
        content_type: header_text(headers, header::CONTENT_TYPE.as_str()),
        body,
    };
    let country = caller.country.alpha2();
    let now = gateway.clock.now_secs();
    // Steps 0–10 outside the lock: a tag accepted meanwhile is refused by the commit (409).
    let accepted = upload::check_upload(&request, &gateway.members, now, |tag| {
        gateway
            .store
            .efgs_tag_seen(&efgs_tag_code(country, tag))
            .map_err(|e| e.to_string())
    })?;
    let code = efgs_tag_code(country, &accepted.tag);
    let key_codes: Vec<_> = accepted
        .records
        .iter()
        .map(|record| efgs_key_code(&record_dedup_hash(record)))
        .collect();
    // 11. The insert: a key whose record is stored already makes the upload a 207, nothing
    // stored. The lookup and the commit are one step for concurrent uploads.
    let _serial = gateway
        .upload_lock
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // 2. again, now that no other upload can commit: the same tag sent twice at once is one
    // 201 and one 409 (not a 207 for the keys the first one stored).
    if gateway
        .store
        .efgs_tag_seen(&code)
        .map_err(|e| UploadError::Store(e.to_string()))?
    {
        return Err(UploadError::TagExists(accepted.tag));
    }
    let stored = gateway
        .store
        .efgs_codes_seen(&key_codes)
        .map_err(|e| UploadError::Store(e.to_string()))?;
    if let Some(refusal) = upload::duplicates(&key_codes, &stored) {
        return Err(refusal);
    }
    let origin = caller
        .ca_tree
        .clone()
        .unwrap_or_else(|| RegionId::country(caller.country));
    let local = origin.country_part() == gateway.region.country_part()
        && caller.ca_tree.as_ref().is_none_or(|r| r == &gateway.region);
    let result = if local {
        // Group the keys by visited list as sent; one upload record per distinct list of
        // regions (lists that differ only in order, repeats, non-countries or home merge).
        let mut by_list: BTreeMap<&[String], Vec<DiagnosisKey>> = BTreeMap::new();
        for (efgs, key) in accepted.keys.iter().zip(&accepted.translated) {
            by_list
                .entry(efgs.visited_countries.as_slice())
                .or_default()
                .push(*key);
        }
        let mut groups: BTreeMap<Vec<String>, (Vec<RegionId>, Vec<DiagnosisKey>)> = BTreeMap::new();
        for (list, keys) in by_list {
            let visited = visited_regions(list, &gateway.region);
            let name = visited.iter().map(ToString::to_string).collect();
            groups
                .entry(name)
                .or_insert_with(|| (visited, Vec::new()))
                .1
                .extend(keys);
        }
        let groups: Vec<MemberGroup<'_>> = groups
            .values()
            .map(|(visited, keys)| MemberGroup { keys, visited })
            .collect();
        gateway
            .store
            .commit_member_upload(&code, &groups, &key_codes, now)
    } else {
        gateway
            .store
            .commit_gateway_remote(&code, &origin, &accepted.translated, &key_codes, now)
    };
    match result {
        Ok(Ok(_)) => Ok((
            accepted.tag,
            accepted.keys.len(),
            if local {
                KeyKind::Local
            } else {
                KeyKind::Remote
            },
        )),
        Ok(Err(UploadRefusal::CodeUsed)) => Err(UploadError::TagExists(accepted.tag)),
        Ok(Err(refusal)) => Err(UploadError::Store(refusal.to_string())),
        Err(e) => Err(UploadError::Store(e.to_string())),
    }
}

/// Checks a `{date}` path segment against the download window: the day, or 400/410/404.
fn day_in_window(date: &str, now: u64) -> Result<Day, EfgsError> {
    let day = Day::parse_iso(date)
        .ok_or_else(|| EfgsError::new(400, format!("bad date {date:?} (want yyyy-MM-dd)")))?;
    let today = Day::of(now);
    if day.0 + WINDOW_DAYS < today.0 {
        return Err(EfgsError::new(
            410,
            format!("{date} is older than today - {WINDOW_DAYS} days"),
        ));
    }
    if day > today {
        return Err(EfgsError::new(404, format!("no batch on {date}")));
    }
    Ok(day)
}

/// Reads the batch for a request: the day's first or the one named by `tag`.
fn batch_for(gateway: &Gateway, day: Day, tag: Option<&str>) -> Result<GatewayBatch, EfgsError> {
    let tag = match tag {
        None => None,
        Some(text) => {
            let tag = BatchTag::parse(text)
                .ok_or_else(|| EfgsError::new(404, format!("unknown batchTag {text:?}")))?;
            if tag.day < day {
                return Err(EfgsError::new(400, "the batch was created before the date"));
            }
            if tag.day != day {
                return Err(EfgsError::new(404, format!("unknown batchTag {text:?}")));
            }
            Some(tag)
        }
    };
    match batches::read_batch(
        &gateway.store,
        &gateway.region,
        day,
        tag,
        gateway.clock.now_secs(),
    ) {
        Ok(Ok(batch)) => Ok(batch),
        Ok(Err(NotServed::NotFound)) => Err(EfgsError::new(404, "no such batch")),
        Err(e) => Err(EfgsError::store(&e)),
    }
}

/// A remote key as EFGS serves it: origin = its region's country, no visited list.
fn served(entry: &crate::store::RemoteEntry) -> Option<EfgsKey> {
    let country = entry.origin.country_part()?;
    Some(key_to_efgs(&entry.key, country.alpha2(), Vec::new()))
}

async fn download_handler(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(conn): ConnectInfo<MemberConn>,
    Path(date): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match caller(&gateway, &conn) {
        Ok(identity) => identity.country,
        Err(e) => return e.into_response(),
    };
    let accept = header_text(&headers, header::ACCEPT.as_str()).unwrap_or_default();
    let media = match wire::parse_accept(accept) {
        Ok(media) => media,
        Err(WireError::Version(v)) => {
            return EfgsError::new(406, format!("version {v:?} is not acceptable")).into_response();
        }
        Err(e) => return EfgsError::new(406, e.to_string()).into_response(),
    };
    let tag = header_text(&headers, "batchTag").map(str::to_owned);
    let gw = gateway.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let day = day_in_window(&date, gw.clock.now_secs())?;
        let batch = batch_for(&gw, day, tag.as_deref())?;
        let keys: Vec<EfgsKey> = batch
            .keys
            .iter()
            .filter_map(served)
            .filter(|k| k.origin != caller.alpha2())
            .collect();
        Ok::<_, EfgsError>((batch.tag, batch.next, keys))
    })
    .await
    .unwrap_or_else(|_| Err(EfgsError::new(500, "download task failed")));
    match answer {
        Ok((tag, next, keys)) => {
            gateway.metrics.efgs().batch_served();
            let mut response = (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(media.header()),
                )],
                wire::encode(media, &keys),
            )
                .into_response();
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&tag.text()) {
                headers.insert("batchTag", value);
            }
            let next = next.map_or_else(|| "null".to_owned(), |t| t.text());
            if let Ok(value) = HeaderValue::from_str(&next) {
                headers.insert("nextBatchTag", value);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

/// One audit entry (formats.md §g.6).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The origin country of this run of keys.
    pub country: String,
    /// When the run's first key arrived here, ISO-8601 UTC.
    pub uploaded_time: String,
    /// PEM of the certificate that vouches for the run (this gateway's signing certificate).
    pub uploader_certificate: String,
    /// Its thumbprint.
    pub uploader_thumbprint: String,
    /// EFGS's trust-anchor signature; enmesh has no such operator: empty.
    pub uploader_operator_signature: String,
    /// PEM of the signing certificate.
    pub signing_certificate: String,
    /// Its thumbprint.
    pub uploader_signing_thumbprint: String,
    /// Empty, as `uploaderOperatorSignature`.
    pub signing_certificate_operator_signature: String,
    /// Keys of the run.
    pub amount: usize,
    /// Base64 detached CMS over the run's canonical bytes.
    pub batch_signature: String,
}

fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn iso_time(unix_secs: u64) -> String {
    let t = i64::try_from(unix_secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The audit entries of a batch: one per run of consecutive keys of one country.
pub fn audit_entries(
    batch: &GatewayBatch,
    signer: &CmsSigner,
    now: u64,
) -> Result<Vec<AuditEntry>, crate::efgs::cms::CmsError> {
    let mut runs: Vec<(u64, Vec<EfgsKey>)> = Vec::new();
    for entry in &batch.keys {
        let Some(key) = served(entry) else { continue };
        match runs.last_mut() {
            Some((_, run)) if run.first().is_some_and(|k| k.origin == key.origin) => run.push(key),
            _ => runs.push((entry.at.unix_secs, vec![key])),
        }
    }
    let cert = pem(signer.cert_der());
    let print = thumbprint(signer.cert_der());
    runs.into_iter()
        .map(|(at, keys)| {
            Ok(AuditEntry {
                country: keys.first().map(|k| k.origin.clone()).unwrap_or_default(),
                uploaded_time: iso_time(at),
                uploader_certificate: cert.clone(),
                uploader_thumbprint: print.clone(),
                uploader_operator_signature: String::new(),
                signing_certificate: cert.clone(),
                uploader_signing_thumbprint: print.clone(),
                signing_certificate_operator_signature: String::new(),
                amount: keys.len(),
                batch_signature: signer.sign_base64(&batch_signing_bytes(&keys), now)?,
            })
        })
        .collect()
}

async fn audit_handler(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(conn): ConnectInfo<MemberConn>,
    Path((date, tag)): Path<(String, String)>,
) -> Response {
    if let Err(e) = caller(&gateway, &conn) {
        return e.into_response();
    }
    let gw = gateway.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let now = gw.clock.now_secs();
        let day = day_in_window(&date, now)?;
        let parsed = BatchTag::parse(&tag)
            .filter(|t| t.day == day)
            .ok_or_else(|| EfgsError::new(404, format!("unknown batchTag {tag:?} on {date}")))?;
        let batch = batch_for(&gw, day, Some(&parsed.text()))?;
        audit_entries(&batch, &gw.signer, now)
            .map_err(|e| EfgsError::new(500, format!("audit signature: {e}")))
    })
    .await
    .unwrap_or_else(|_| Err(EfgsError::new(500, "audit task failed")));
    match answer {
        Ok(entries) => axum::Json(entries).into_response(),
        Err(e) => e.into_response(),
    }
}
