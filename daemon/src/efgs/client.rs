//! The EFGS client of a `format = "efgs"` peer: uploads this node's local keys to an EFGS (a real
//! one, or another node's gateway) and downloads the EFGS's daily batches (formats.md §g.1).
//!
//! Upload: local keys after the upload position, at most 5000 per batch, a `batchTag` unique to
//! this node and batch (`<region>-<arrival secs>-<seq>` of its first key), the CMS
//! `batchSignature` by the configured signing certificate, **no visitedCountries** (EFGS does not
//! validate them and sends every key to every member anyway: the list stays on this node).
//! 201 moves the position; 409 means an earlier attempt was stored (moves it too); 207 resends the
//! keys EFGS listed under "201" in a new batch (EFGS rolled the batch back) and skips the "409"
//! duplicates.
//!
//! Download: for each day of EFGS's window (today − 2 … today), from the day's first batch or the
//! last one processed, follow `nextBatchTag` until `null`. Each batch's audit entries are fetched
//! and every upload slice's CMS is verified against its signing certificate over the slice's
//! canonical bytes **before** the batch's keys are stored (remote keys of their origin country,
//! with the position, one atomic write). 410 for a day means it left the window: logged and
//! counted as missed once (the day's position records it).
//!
//! Decisions are pure functions ([`verify_audit`], [`upload_batch`], [`resend_after_207`]); the
//! [`ClientWorker`] does the I/O, one round at start and every `efgs_client.interval_secs`.
//! This module never stores a key from a batch whose audit did not verify, and never uploads a
//! key that was not uploaded to this node.

use crate::clock::SharedClock;
use crate::efgs::cms::{CmsSigner, Detached};
use crate::efgs::dsos::{key_from_efgs, key_to_efgs};
use crate::efgs::gateway::batches::Day;
use crate::efgs::https::{self, HttpsError};
use crate::efgs::metrics::Direction;
use crate::efgs::wire::{self, Media};
use crate::pki::efgs::thumbprint;
use crate::shutdown::ShutdownSignal;
use crate::store::{Arrival, Store, StoreError};
use crate::worker::{Ticker, Worker, WorkerState};
use axum::http::{Method, StatusCode, Uri};
use enmesh_protocol::efgs::{EfgsKey, batch_signing_bytes};
use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::{Country, RegionId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// The download position of a day the EFGS answered 410 for (no tag contains a NUL).
const GONE: &str = "\0gone";

/// Keys per uploaded batch at most.
pub const MAX_UPLOAD_KEYS: usize = 5000;
/// Batches followed per day and round at most (bounds one round's work).
pub const MAX_BATCHES_PER_ROUND: usize = 10_000;

/// One EFGS peer as the client sees it.
#[derive(Clone)]
pub struct EfgsPeer {
    /// Base URL (`https://host:port[/prefix]`); paths `/diagnosiskeys/...` are appended.
    pub url: Uri,
    /// A short name for positions and logs.
    pub name: String,
    /// TLS to the EFGS (client certificate, server trust).
    pub tls: Arc<rustls::ClientConfig>,
    /// The batch signing certificate and key.
    pub signer: Arc<CmsSigner>,
    /// Time between rounds.
    pub interval: Duration,
}

/// What the client shares with the node.
#[derive(Clone)]
pub struct ClientContext {
    /// The node's store.
    pub store: Arc<Store>,
    /// The node's clock.
    pub clock: SharedClock,
    /// The node's region (its country is the `origin` of uploaded keys).
    pub region: RegionId,
    /// The node's metrics (`metrics.efgs()`).
    pub metrics: crate::telemetry::Metrics,
}

/// Why a round step failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The EFGS could not be reached.
    #[error(transparent)]
    Https(#[from] HttpsError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The EFGS answered something else than the contract says.
    #[error("EFGS answered {status}: {message}")]
    Status {
        /// The status.
        status: StatusCode,
        /// Its body, shortened.
        message: String,
    },
    /// An audit did not verify the downloaded keys.
    #[error("audit of batch {tag}: {reason}")]
    Audit {
        /// The batch.
        tag: String,
        /// Why.
        reason: String,
    },
    /// A body did not parse.
    #[error("bad answer: {0}")]
    Body(String),
    /// This node's region has no country, so it cannot be an EFGS origin.
    #[error("region {0} has no country: it cannot upload to an EFGS")]
    NoCountry(RegionId),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(String),
}

/// One audit entry, the fields the client uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The uploader's country.
    pub country: String,
    /// Keys from that upload in the batch.
    pub amount: usize,
    /// The upload's CMS.
    pub batch_signature: String,
    /// Lowercase hex SHA-256 of the signing certificate.
    #[serde(default)]
    pub uploader_signing_thumbprint: String,
}

/// Checks a downloaded batch against its audit (formats.md §g.6): entries of `own` are skipped
/// (a download omits the caller's keys), the keys are cut into consecutive slices of `amount`,
/// and each slice's CMS must verify over its canonical bytes with a signer certificate whose
/// thumbprint is the entry's. Every key must be covered.
pub fn verify_audit(keys: &[EfgsKey], entries: &[AuditEntry], own: &str) -> Result<(), String> {
    let mut at = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        if entry.country == own {
            continue;
        }
        let end = at
            .checked_add(entry.amount)
            .filter(|end| *end <= keys.len())
            .ok_or_else(|| format!("entry {i}: amount {} runs past the keys", entry.amount))?;
        let slice = &keys[at..end];
        if let Some(bad) = slice.iter().find(|k| k.origin != entry.country) {
            return Err(format!(
                "entry {i}: a key of origin {} in an entry of {}",
                bad.origin, entry.country
            ));
        }
        let cms = Detached::parse_base64(&entry.batch_signature)
            .map_err(|e| format!("entry {i}: {e}"))?;
        if !entry.uploader_signing_thumbprint.is_empty()
            && !entry
                .uploader_signing_thumbprint
                .eq_ignore_ascii_case(&thumbprint(cms.signer_cert_der()))
        {
            return Err(format!(
                "entry {i}: the CMS signer is not the entry's certificate"
            ));
        }
        cms.verify(&batch_signing_bytes(slice))
            .map_err(|e| format!("entry {i}: {e}"))?;
        at = end;
    }
    if at != keys.len() {
        return Err(format!("the audit covers {at} of {} keys", keys.len()));
    }
    Ok(())
}

/// The EFGS form of local keys for an upload from `country`: no visited countries.
pub fn upload_batch(keys: &[DiagnosisKey], country: Country) -> Vec<EfgsKey> {
    keys.iter()
        .map(|k| key_to_efgs(k, country.alpha2(), Vec::new()))
        .collect()
}

/// The keys to send again after a 207: those EFGS listed under "201" (its transaction was
/// rolled back); "409" ones are already there, "500" ones are sent again too.
pub fn resend_after_207(keys: &[EfgsKey], body: &[u8]) -> Result<Vec<EfgsKey>, String> {
    let parsed: BTreeMap<String, Vec<usize>> =
        serde_json::from_slice(body).map_err(|e| format!("207 body: {e}"))?;
    let mut indices: Vec<usize> = ["201", "500"]
        .iter()
        .filter_map(|k| parsed.get(*k))
        .flatten()
        .copied()
        .collect();
    indices.sort_unstable();
    indices.dedup();
    indices
        .into_iter()
        .map(|i| {
            keys.get(i)
                .cloned()
                .ok_or_else(|| format!("207 names key {i} of {}", keys.len()))
        })
        .collect()
}

fn status_error(answer: &https::Answer) -> ClientError {
    ClientError::Status {
        status: answer.status,
        message: String::from_utf8_lossy(&answer.body)
            .chars()
            .take(300)
            .collect(),
    }
}

fn up_position(peer: &EfgsPeer) -> String {
    format!("up\0{}", peer.name)
}

fn down_position(peer: &EfgsPeer, day: Day) -> String {
    format!("down\0{}\0{}", peer.name, day.iso())
}

/// What one upload step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadReport {
    /// Batches EFGS took.
    pub batches: usize,
    /// Keys in them.
    pub keys: usize,
}

async fn post_batch(
    ctx: &ClientContext,
    peer: &EfgsPeer,
    tag: &str,
    keys: &[EfgsKey],
) -> Result<https::Answer, ClientError> {
    let signature = peer
        .signer
        .sign_base64(&batch_signing_bytes(keys), ctx.clock.now_secs())
        .map_err(|e| ClientError::Sign(e.to_string()))?;
    Ok(https::request(
        peer.tls.clone(),
        &peer.url,
        Method::POST,
        "/diagnosiskeys/upload",
        &[
            ("content-type", Media::Protobuf.header().to_owned()),
            ("batchTag", tag.to_owned()),
            ("batchSignature", signature),
        ],
        wire::encode(Media::Protobuf, keys),
    )
    .await?)
}

/// Uploads every local key after the position, in batches of at most 5000.
pub async fn upload_round(
    ctx: &ClientContext,
    peer: &EfgsPeer,
) -> Result<UploadReport, ClientError> {
    let country = ctx
        .region
        .country_part()
        .ok_or_else(|| ClientError::NoCountry(ctx.region.clone()))?;
    let mut report = UploadReport::default();
    loop {
        let (store, name) = (ctx.store.clone(), up_position(peer));
        let (position, entries) = tokio::task::spawn_blocking(move || {
            let position = store
                .efgs_position(&name)?
                .and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok())
                .map(|b| Arrival {
                    unix_secs: u64::from_be_bytes(b[..8].try_into().unwrap_or_default()),
                    seq: u64::from_be_bytes(b[8..].try_into().unwrap_or_default()),
                });
            Ok::<_, StoreError>((
                position,
                store.local_keys_only_after(position, MAX_UPLOAD_KEYS)?,
            ))
        })
        .await
        .map_err(|e| ClientError::Body(e.to_string()))??;
        let _ = position;
        let (Some((first, _)), Some((last, _))) = (entries.first(), entries.last()) else {
            return Ok(report);
        };
        let (first, last) = (*first, *last);
        let keys: Vec<DiagnosisKey> = entries.iter().map(|(_, k)| *k).collect();
        let batch = upload_batch(&keys, country);
        let tag = format!("{}-{}-{}", ctx.region, first.unix_secs, first.seq);
        let answer = post_batch(ctx, peer, &tag, &batch).await?;
        match answer.status.as_u16() {
            201 => {}
            409 => tracing::info!(%tag, "EFGS already has this batch"),
            207 => {
                let again = resend_after_207(&batch, &answer.body).map_err(ClientError::Body)?;
                if !again.is_empty() {
                    let retry = post_batch(ctx, peer, &format!("{tag}-r"), &again).await?;
                    if !matches!(retry.status.as_u16(), 201 | 409) {
                        return Err(status_error(&retry));
                    }
                }
            }
            _ => return Err(status_error(&answer)),
        }
        let mut value = last.unix_secs.to_be_bytes().to_vec();
        value.extend_from_slice(&last.seq.to_be_bytes());
        let (store, name) = (ctx.store.clone(), up_position(peer));
        tokio::task::spawn_blocking(move || store.set_efgs_position(&name, &value))
            .await
            .map_err(|e| ClientError::Body(e.to_string()))??;
        report.batches += 1;
        report.keys += batch.len();
        ctx.metrics
            .efgs()
            .client_batch(Direction::Upload, batch.len() as u64);
        tracing::info!(%tag, keys = batch.len(), peer = %peer.name, "EFGS upload");
    }
}

/// What one download step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DownloadReport {
    /// Batches verified and stored.
    pub batches: usize,
    /// Keys stored.
    pub keys: usize,
    /// Days the EFGS no longer serves (410).
    pub missed_days: usize,
}

async fn get(
    peer: &EfgsPeer,
    path: &str,
    headers: &[(&str, String)],
) -> Result<https::Answer, ClientError> {
    Ok(https::request(
        peer.tls.clone(),
        &peer.url,
        Method::GET,
        path,
        headers,
        Vec::new(),
    )
    .await?)
}

/// Downloads and stores one batch (audit first). Returns the next tag (`None` for `null`).
async fn take_batch(
    ctx: &ClientContext,
    peer: &EfgsPeer,
    day: Day,
    tag: Option<&str>,
    store_it: bool,
    report: &mut DownloadReport,
) -> Result<Option<(String, Option<String>)>, ClientError> {
    let mut headers = vec![("accept", Media::Protobuf.header().to_owned())];
    if let Some(tag) = tag {
        headers.push(("batchTag", tag.to_owned()));
    }
    let answer = get(
        peer,
        &format!("/diagnosiskeys/download/{}", day.iso()),
        &headers,
    )
    .await?;
    match answer.status.as_u16() {
        200 => {}
        404 => return Ok(None),
        410 => {
            // Said (and counted) once: the day's position records that it is gone.
            let (store, name) = (ctx.store.clone(), down_position(peer, day));
            tokio::task::spawn_blocking(move || store.set_efgs_position(&name, GONE.as_bytes()))
                .await
                .map_err(|e| ClientError::Body(e.to_string()))??;
            report.missed_days += 1;
            ctx.metrics.efgs().missed(1);
            tracing::warn!(day = %day.iso(), peer = %peer.name, "EFGS no longer serves this day (410): its keys were missed");
            return Ok(None);
        }
        _ => return Err(status_error(&answer)),
    }
    let this = answer
        .header("batchTag")
        .ok_or_else(|| ClientError::Body("no batchTag header".into()))?
        .to_owned();
    let next = answer
        .header("nextBatchTag")
        .filter(|t| !t.is_empty() && *t != "null")
        .map(str::to_owned);
    if !store_it {
        return Ok(Some((this, next)));
    }
    let keys = wire::decode(Media::Protobuf, &answer.body)
        .map_err(|e| ClientError::Body(e.to_string()))?;
    let audit = get(
        peer,
        &format!("/diagnosiskeys/audit/download/{}/{this}", day.iso()),
        &[("accept", "application/json".to_owned())],
    )
    .await?;
    if audit.status != StatusCode::OK {
        return Err(status_error(&audit));
    }
    let entries: Vec<AuditEntry> =
        serde_json::from_slice(&audit.body).map_err(|e| ClientError::Body(e.to_string()))?;
    let own = ctx
        .region
        .country_part()
        .map(|c| c.alpha2().to_owned())
        .unwrap_or_default();
    if let Err(reason) = verify_audit(&keys, &entries, &own) {
        ctx.metrics.efgs().audit_refused();
        return Err(ClientError::Audit {
            tag: this.clone(),
            reason,
        });
    }
    let mut groups: BTreeMap<String, (RegionId, Vec<DiagnosisKey>)> = BTreeMap::new();
    let mut skipped = 0usize;
    for key in &keys {
        let (Some(country), Ok(translated)) =
            (Country::from_alpha2(&key.origin), key_from_efgs(key))
        else {
            skipped += 1;
            continue;
        };
        if key.origin == own {
            continue;
        }
        groups
            .entry(key.origin.clone())
            .or_insert_with(|| (RegionId::country(country), Vec::new()))
            .1
            .push(translated);
    }
    if skipped > 0 {
        tracing::warn!(tag = %this, skipped, "EFGS keys without an enmesh form were skipped");
    }
    let groups: Vec<(RegionId, Vec<DiagnosisKey>)> = groups.into_values().collect();
    let stored: usize = groups.iter().map(|(_, k)| k.len()).sum();
    let (store, name, value, now) = (
        ctx.store.clone(),
        down_position(peer, day),
        this.clone().into_bytes(),
        ctx.clock.now_secs(),
    );
    tokio::task::spawn_blocking(move || store.commit_efgs_download(&groups, &name, &value, now))
        .await
        .map_err(|e| ClientError::Body(e.to_string()))??;
    report.batches += 1;
    report.keys += stored;
    ctx.metrics
        .efgs()
        .client_batch(Direction::Download, stored as u64);
    tracing::info!(tag = %this, keys = stored, peer = %peer.name, "EFGS batch verified and stored");
    Ok(Some((this, next)))
}

/// Follows the tag chain of every day in the window.
pub async fn download_round(
    ctx: &ClientContext,
    peer: &EfgsPeer,
) -> Result<DownloadReport, ClientError> {
    let today = Day::of(ctx.clock.now_secs());
    let mut report = DownloadReport::default();
    // Days that left EFGS's window while this node was away: say which.
    let seen_name = format!("seen\0{}", peer.name);
    let (store, name) = (ctx.store.clone(), seen_name.clone());
    let seen = tokio::task::spawn_blocking(move || store.efgs_position(&name))
        .await
        .map_err(|e| ClientError::Body(e.to_string()))??
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(u64::from_be_bytes);
    if let Some(missed) = missed_days(seen.map(Day), today) {
        report.missed_days += missed.len();
        ctx.metrics.efgs().missed(missed.len() as u64);
        let first = missed.first().map(|d| d.iso()).unwrap_or_default();
        let last = missed.last().map(|d| d.iso()).unwrap_or_default();
        tracing::warn!(peer = %peer.name, from = %first, to = %last, days = missed.len(),
            "EFGS keys of these days were missed: they left the EFGS download window (today - 2) before this node caught up");
    }
    for back in (0..=2u64).rev() {
        let day = Day(today.0.saturating_sub(back));
        let (store, name) = (ctx.store.clone(), down_position(peer, day));
        let position = tokio::task::spawn_blocking(move || store.efgs_position(&name))
            .await
            .map_err(|e| ClientError::Body(e.to_string()))??
            .and_then(|v| String::from_utf8(v).ok());
        let mut next = match position {
            Some(gone) if gone == GONE => continue,
            None => match take_batch(ctx, peer, day, None, true, &mut report).await? {
                Some((_, next)) => next,
                None => continue,
            },
            // Ask the last processed batch again for its (possibly new) successor.
            Some(last) => {
                match take_batch(ctx, peer, day, Some(&last), false, &mut report).await? {
                    Some((_, next)) => next,
                    None => continue,
                }
            }
        };
        let mut followed = 0;
        while let Some(tag) = next.take() {
            followed += 1;
            if followed > MAX_BATCHES_PER_ROUND {
                break;
            }
            next = match take_batch(ctx, peer, day, Some(&tag), true, &mut report).await? {
                Some((_, n)) => n,
                None => None,
            };
        }
    }
    let (store, value) = (ctx.store.clone(), today.0.to_be_bytes());
    tokio::task::spawn_blocking(move || store.set_efgs_position(&seen_name, &value))
        .await
        .map_err(|e| ClientError::Body(e.to_string()))??;
    Ok(report)
}

/// The days EFGS no longer serves that a client which last ran on `seen` did not download:
/// those after `seen` and before the window `today − 2 ..= today`. `None` when nothing was missed.
pub fn missed_days(seen: Option<Day>, today: Day) -> Option<Vec<Day>> {
    let seen = seen?;
    let window_start = today.0.saturating_sub(2);
    let missed: Vec<Day> = (seen.0 + 1..window_start).map(Day).collect();
    (!missed.is_empty()).then_some(missed)
}

/// Why a round failed: its upload step, its download step, or both (the other step still ran).
#[derive(Debug, Error)]
pub struct RoundError {
    /// The upload step's failure.
    pub upload: Option<ClientError>,
    /// The download step's failure.
    pub download: Option<ClientError>,
}

impl std::fmt::Display for RoundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.upload, &self.download) {
            (Some(up), Some(down)) => write!(f, "upload: {up}; download: {down}"),
            (Some(up), None) => write!(f, "upload: {up}"),
            (None, Some(down)) => write!(f, "download: {down}"),
            (None, None) => write!(f, "no failure"),
        }
    }
}

/// The `efgs_client` worker of one EFGS peer: a round (upload, then download) at start and every
/// `peer.interval`. A failed step is the round's error (counted and kept by the runner); the
/// next round tries again from the stored positions.
///
/// A round may be long (a day of batches, each request up to [`https::DEADLINE`]), so when its
/// stage stops, the round stops at its next await instead of holding up the node's shutdown.
/// That is safe at any point: every position moves in the same atomic write as what it covers
/// (or after the EFGS took the batch, which a repeated tag then answers with 409).
pub struct ClientWorker {
    ctx: ClientContext,
    peer: EfgsPeer,
    ticker: Ticker,
    stop: ShutdownSignal,
}

impl ClientWorker {
    /// The worker of `peer` in the stage of `stop`; its first round runs at once.
    pub fn new(ctx: ClientContext, peer: EfgsPeer, stop: ShutdownSignal) -> Self {
        let ticker = Ticker::new(peer.interval, true);
        Self {
            ctx,
            peer,
            ticker,
            stop,
        }
    }

    /// One round: the upload step, then the download step (which runs even if the upload
    /// failed).
    pub async fn round(&self) -> Result<(UploadReport, DownloadReport), RoundError> {
        let (ctx, peer) = (&self.ctx, &self.peer);
        let upload = upload_round(ctx, peer).await;
        if let Ok(r) = &upload
            && r.batches > 0
        {
            tracing::info!(batches = r.batches, keys = r.keys, "EFGS upload round");
        }
        let download = download_round(ctx, peer).await;
        if let Ok(r) = &download
            && (r.batches > 0 || r.missed_days > 0)
        {
            tracing::info!(
                batches = r.batches,
                keys = r.keys,
                missed_days = r.missed_days,
                "EFGS download round"
            );
        }
        match (upload, download) {
            (Ok(up), Ok(down)) => Ok((up, down)),
            (up, down) => Err(RoundError {
                upload: up.err(),
                download: down.err(),
            }),
        }
    }
}

impl Worker for ClientWorker {
    type Error = RoundError;

    fn name(&self) -> &'static str {
        "efgs_client"
    }

    async fn work(&mut self) -> Result<WorkerState, RoundError> {
        let span = tracing::info_span!("efgs_client", peer = %self.peer.name);
        let stop = self.stop.clone();
        tokio::select! {
            result = tracing::Instrument::instrument(self.round(), span) => {
                result?;
            }
            () = stop.wait() => tracing::info!(peer = %self.peer.name, "EFGS round stopped by shutdown"),
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) -> WorkerState {
        self.ticker.tick().await;
        WorkerState::Busy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(origin: &str, n: u8) -> EfgsKey {
        EfgsKey {
            key_data: [n; 16],
            rolling_start_interval_number: 2_900_000,
            rolling_period: 144,
            transmission_risk_level: 2,
            visited_countries: Vec::new(),
            origin: origin.into(),
            report_type: 1,
            days_since_onset_of_symptoms: 0,
        }
    }

    #[test]
    fn days_that_left_the_window_are_reported() {
        let today = Day(20_000);
        assert_eq!(missed_days(None, today), None);
        assert_eq!(missed_days(Some(Day(19_999)), today), None);
        assert_eq!(missed_days(Some(Day(19_997)), today), None);
        assert_eq!(
            missed_days(Some(Day(19_996)), today),
            Some(vec![Day(19_997)])
        );
        assert_eq!(
            missed_days(Some(Day(19_990)), today).map(|d| d.len()),
            Some(7)
        );
    }

    #[test]
    fn after_a_207_the_201_and_500_keys_are_sent_again() {
        let keys: Vec<_> = (0..5).map(|n| key("DE", n)).collect();
        let again = resend_after_207(&keys, br#"{"201":[0,3],"409":[1,2],"500":[4]}"#).unwrap();
        assert_eq!(
            again,
            vec![keys[0].clone(), keys[3].clone(), keys[4].clone()]
        );
        assert!(resend_after_207(&keys, br#"{"201":[9]}"#).is_err());
        assert!(resend_after_207(&keys, b"not json").is_err());
    }

    #[test]
    fn an_audit_must_cover_every_key_with_a_verifying_signature() {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["efgs.test".into()]).unwrap();
        let signer = CmsSigner::from_pem(
            cert.pem().as_bytes(),
            signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        let fr: Vec<_> = (0..3).map(|n| key("FR", n)).collect();
        let it: Vec<_> = (10..12).map(|n| key("IT", n)).collect();
        let entry = |country: &str, keys: &[EfgsKey]| AuditEntry {
            country: country.into(),
            amount: keys.len(),
            batch_signature: signer
                .sign_base64(&batch_signing_bytes(keys), 1_760_000_000)
                .unwrap(),
            uploader_signing_thumbprint: thumbprint(signer.cert_der()),
        };
        let downloaded: Vec<_> = fr.iter().chain(&it).cloned().collect();
        let own = entry("DE", &[key("DE", 99)]);
        let entries = vec![entry("FR", &fr), own, entry("IT", &it)];
        assert_eq!(verify_audit(&downloaded, &entries, "DE"), Ok(()));
        // A changed key, a missing key, an extra key, a wrong thumbprint: refused.
        let mut changed = downloaded.clone();
        changed[4].transmission_risk_level = 5;
        assert!(verify_audit(&changed, &entries, "DE").is_err());
        assert!(verify_audit(&downloaded[..4], &entries, "DE").is_err());
        let mut extra = downloaded.clone();
        extra.push(key("IT", 50));
        assert!(verify_audit(&extra, &entries, "DE").is_err());
        let mut wrong = entries.clone();
        wrong[0].uploader_signing_thumbprint = "00".repeat(32);
        assert!(verify_audit(&downloaded, &wrong, "DE").is_err());
    }
}
