//! The public feed over real HTTP (127.0.0.1:0) on a real RocksDB store: uploaded and remotely
//! received keys land in the chunk of their release (their arrival when they had expired), as
//! JSON and protobuf; keys still valid at arrival are embargoed until their expiry, local and
//! remote alike; the index; complete and open chunks; the 400/404/406 cases; no field beyond the
//! key's own leaks.

use enmesh_protocol::feed::Feed;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_daemon::api::{self, AppState};
use enmesh_daemon::clock::{Clock as _, ManualClock};
use enmesh_daemon::phone_feed::{self, FeedSettings, chunk::ChunkLength};
use enmesh_daemon::shutdown::Shutdown;
use enmesh_daemon::store::{BatchId, CodeHash, Cursor, Store, UploadId};
use enmesh_daemon::telemetry::Metrics;
use enmesh_proto::v1 as pb;
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType, TransmissionRisk};
use enmesh_protocol::region::RegionId;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use prost::Message;
use serde_json::Value;

/// A UTC midnight; chunks of 600 s start here.
const T0: u64 = 1_700_006_400;
const CHUNK: u64 = 600;
const C0: u64 = T0 / CHUNK;

fn key(n: u8, report_type: ReportType, onset: Option<i32>) -> DiagnosisKey {
    DiagnosisKey {
        key: Tek([n; 16]),
        rolling_start: IntervalNumber(u32::try_from(T0 / 600).unwrap() - 144),
        rolling_period: RollingPeriod::new(144).unwrap(),
        transmission_risk: TransmissionRisk::new(i64::from(n % 9)).unwrap(),
        report_type,
        days_since_onset: onset.map(|d| DaysSinceOnset::new(d).unwrap()),
    }
}

struct Node {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    clock: Arc<ManualClock>,
    addr: SocketAddr,
    _shutdown: Shutdown,
}

async fn start() -> Node {
    start_with(Duration::from_secs(14 * 86_400)).await
}

async fn start_with(retention: Duration) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let clock = ManualClock::at_millis(T0 * 1000);
    let settings = FeedSettings {
        chunk: ChunkLength::new(Duration::from_secs(CHUNK)),
        retention,
    };
    let routes = phone_feed::routes(store.clone(), clock.clone(), settings);
    let state = AppState::new("DE".parse().unwrap(), "EU".parse().unwrap(), Metrics::new());
    let router = api::router(state, routes, 1 << 20);
    let listener = api::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    shutdown.spawn(api::serve(listener, router, shutdown.signal()));
    Node {
        _dir: dir,
        store,
        clock,
        addr,
        _shutdown: shutdown,
    }
}

fn upload(store: &Store, code: &str, keys: &[DiagnosisKey], visited: &[&str], now: u64) {
    let hash = CodeHash::of(code);
    store.put_code(&hash, now + 3600).unwrap().unwrap();
    let visited: Vec<RegionId> = visited.iter().map(|r| r.parse().unwrap()).collect();
    store
        .commit_upload(&hash, &UploadId::of_keys(keys), keys, &visited, now)
        .unwrap()
        .unwrap();
}

fn receive(store: &Store, sequence: u64, keys: &[DiagnosisKey], now: u64) {
    let cursor = Cursor {
        last_sequence: sequence,
        last_batch_id: BatchId([sequence as u8; 32]),
        next_poll_unix_secs: now,
    };
    store
        .commit_remote(
            &"FR".parse().unwrap(),
            &"a2a/EU".parse::<Feed>().unwrap(),
            keys,
            &cursor,
            now,
        )
        .unwrap()
        .unwrap();
}

/// Key bytes, rolling start, transmission risk, report type, days since onset.
type KeyFields = (Vec<u8>, u32, i32, i32, Option<i32>);

struct Reply {
    status: StatusCode,
    content_type: String,
    cache: String,
    body: Bytes,
}

async fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = Request::get(path).header("host", "feed");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = sender
        .send_request(request.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, content_type, cache) = (
        response.status(),
        header("content-type"),
        header("cache-control"),
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        cache,
        body,
    }
}

fn json(reply: &Reply) -> Value {
    assert_eq!(reply.content_type, "application/json", "{:?}", reply.body);
    serde_json::from_slice(&reply.body).unwrap()
}

fn object_keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Keys uploaded in chunk C0 (with a visited list) and received from FR in chunk C0 + 1; the
/// clock then stands in C0 + 2, where one more upload arrives.
async fn populated() -> (
    Node,
    Vec<DiagnosisKey>,
    Vec<DiagnosisKey>,
    Vec<DiagnosisKey>,
) {
    let node = start().await;
    let local = vec![
        key(1, ReportType::ConfirmedTest, Some(-3)),
        key(2, ReportType::ConfirmedClinicalDiagnosis, None),
    ];
    upload(&node.store, "code-1", &local, &["IT", "AT"], T0 + 100);
    let remote = vec![
        key(3, ReportType::SelfReport, Some(2000)),
        key(4, ReportType::ConfirmedTest, Some(5)),
        key(5, ReportType::Unknown, None),
    ];
    receive(&node.store, 1, &remote, T0 + CHUNK + 5);
    let open = vec![key(6, ReportType::ConfirmedTest, None)];
    upload(&node.store, "code-2", &open, &[], T0 + 2 * CHUNK + 1);
    node.clock.set_millis((T0 + 2 * CHUNK + 30) * 1000);
    (node, local, remote, open)
}

fn expected_json(key: &DiagnosisKey, report_type: &str) -> Value {
    let mut value = serde_json::json!({
        "key": STANDARD.encode(key.key.0),
        "rollingStartNumber": key.rolling_start.0,
        "rollingPeriod": 144,
        "transmissionRisk": key.transmission_risk.get(),
        "reportType": report_type,
    });
    if let Some(days) = key.days_since_onset {
        value["daysSinceOnsetOfSymptoms"] = days.get().into();
    }
    value
}

#[tokio::test]
async fn index_lists_chunks_with_keys_and_marks_the_open_one() {
    let (node, _, _, _) = populated().await;
    let reply = get(node.addr, "/v1/keys", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.cache, "no-cache");
    let index = json(&reply);
    assert_eq!(object_keys(&index), ["chunkSeconds", "chunks"]);
    assert_eq!(index["chunkSeconds"], 600);
    let chunks = index["chunks"].as_array().unwrap();
    let summary: Vec<(u64, u64, u64, bool)> = chunks
        .iter()
        .map(|c| {
            assert_eq!(object_keys(c), ["complete", "end", "id", "start"]);
            (
                c["id"].as_u64().unwrap(),
                c["start"].as_u64().unwrap(),
                c["end"].as_u64().unwrap(),
                c["complete"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (C0, T0, T0 + CHUNK, true),
            (C0 + 1, T0 + CHUNK, T0 + 2 * CHUNK, true),
            (C0 + 2, T0 + 2 * CHUNK, T0 + 3 * CHUNK, false),
        ]
    );

    let reply = get(node.addr, "/v1/keys", Some("application/x-protobuf")).await;
    assert_eq!(reply.content_type, "application/x-protobuf");
    let index = pb::ChunkIndex::decode(reply.body.clone()).unwrap();
    assert_eq!(index.chunk_seconds, CHUNK);
    let ids: Vec<(u64, bool)> = index
        .chunks
        .iter()
        .map(|c| (c.chunk_id, c.complete))
        .collect();
    assert_eq!(ids, [(C0, true), (C0 + 1, true), (C0 + 2, false)]);

    // A chunk just ended is not complete until it settles.
    node.clock.set_millis((T0 + 3 * CHUNK + 1) * 1000);
    let index = json(&get(node.addr, "/v1/keys", None).await);
    assert_eq!(index["chunks"][2]["complete"], false);
    node.clock.set_millis((T0 + 3 * CHUNK + 10) * 1000);
    let index = json(&get(node.addr, "/v1/keys", None).await);
    assert_eq!(index["chunks"][2]["complete"], true);

    // Past retention, nothing is listed.
    node.clock.set_millis((T0 + 15 * 86_400) * 1000);
    let index = json(&get(node.addr, "/v1/keys", None).await);
    assert_eq!(index["chunks"], serde_json::json!([]));
}

#[tokio::test]
async fn chunks_hold_local_and_remote_keys_of_their_window_as_json() {
    let (node, local, remote, open) = populated().await;

    let reply = get(
        node.addr,
        &format!("/v1/keys/{C0}"),
        Some("application/json"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Complete chunk: cacheable (well below the cap of a day; never beyond retention).
    assert_eq!(reply.cache, "public, max-age=86400");
    let chunk = json(&reply);
    assert_eq!(object_keys(&chunk), ["chunk", "keys"]);
    assert_eq!(chunk["chunk"]["id"], C0);
    assert_eq!(chunk["chunk"]["complete"], true);
    assert_eq!(
        chunk["keys"],
        serde_json::json!([
            expected_json(&local[0], "CONFIRMED_TEST"),
            expected_json(&local[1], "CONFIRMED_CLINICAL_DIAGNOSIS"),
        ])
    );
    // Only the key's own fields: no visited list, origin or upload data.
    for k in chunk["keys"].as_array().unwrap() {
        for field in object_keys(k) {
            assert!(
                [
                    "key",
                    "rollingStartNumber",
                    "rollingPeriod",
                    "transmissionRisk",
                    "reportType",
                    "daysSinceOnsetOfSymptoms"
                ]
                .contains(&field),
                "{field}"
            );
        }
    }

    let chunk = json(&get(node.addr, &format!("/v1/keys/{}", C0 + 1), None).await);
    assert_eq!(
        chunk["keys"],
        serde_json::json!([
            expected_json(&remote[0], "SELF_REPORT"),
            expected_json(&remote[1], "CONFIRMED_TEST"),
            expected_json(&remote[2], "UNKNOWN"),
        ])
    );

    let reply = get(node.addr, &format!("/v1/keys/{}", C0 + 2), None).await;
    assert_eq!(reply.cache, "no-cache");
    let chunk = json(&reply);
    assert_eq!(chunk["chunk"]["complete"], false);
    assert_eq!(
        chunk["keys"],
        serde_json::json!([expected_json(&open[0], "CONFIRMED_TEST")])
    );

    // A served chunk without keys is an empty list.
    let chunk = json(&get(node.addr, &format!("/v1/keys/{}", C0 - 1), None).await);
    assert_eq!(chunk["keys"], serde_json::json!([]));
}

#[tokio::test]
async fn chunks_as_protobuf_carry_exactly_the_keys() {
    let (node, local, remote, _) = populated().await;
    for (id, want) in [(C0, &local), (C0 + 1, &remote)] {
        let reply = get(
            node.addr,
            &format!("/v1/keys/{id}"),
            Some("application/json;q=0.5, application/x-protobuf"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.content_type, "application/x-protobuf");
        let chunk = pb::KeyChunk::decode(reply.body.clone()).unwrap();
        // Re-encoding gives the same bytes: the body holds no field the message lacks.
        assert_eq!(chunk.encode_to_vec(), reply.body.to_vec());
        let info = chunk.chunk.unwrap();
        assert_eq!(
            (
                info.chunk_id,
                info.start_unix_secs,
                info.end_unix_secs,
                info.complete
            ),
            (id, id * CHUNK, (id + 1) * CHUNK, true)
        );
        let got: Vec<KeyFields> = chunk
            .keys
            .iter()
            .map(|k| {
                (
                    k.key_data.clone(),
                    k.rolling_start_interval_number,
                    k.transmission_risk_level,
                    k.report_type,
                    k.has_days_since_onset
                        .then_some(k.days_since_onset_of_symptoms),
                )
            })
            .collect();
        let want: Vec<KeyFields> = want
            .iter()
            .map(|k| {
                (
                    k.key.0.to_vec(),
                    k.rolling_start.0,
                    i32::from(k.transmission_risk.get()),
                    k.report_type.number(),
                    k.days_since_onset.map(DaysSinceOnset::get),
                )
            })
            .collect();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let (node, _, _, _) = populated().await;
    let cases: &[(String, Option<&str>, StatusCode, &str)] = &[
        (
            "/v1/keys/abc".into(),
            None,
            StatusCode::BAD_REQUEST,
            "bad_chunk_id",
        ),
        (
            "/v1/keys/-1".into(),
            None,
            StatusCode::BAD_REQUEST,
            "bad_chunk_id",
        ),
        (
            "/v1/keys/99999999999999999999999".into(),
            None,
            StatusCode::BAD_REQUEST,
            "bad_chunk_id",
        ),
        (
            format!("/v1/keys/{}", C0 + 3),
            None,
            StatusCode::NOT_FOUND,
            "unknown_chunk",
        ),
        (
            format!("/v1/keys/{}", C0 - 15 * 144),
            None,
            StatusCode::NOT_FOUND,
            "unknown_chunk",
        ),
        (
            format!("/v1/keys/{C0}"),
            Some("text/html"),
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
        ),
        (
            "/v1/keys".into(),
            Some("application/xml"),
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
        ),
    ];
    for (path, accept, status, code) in cases {
        let reply = get(node.addr, path, *accept).await;
        assert_eq!(reply.status, *status, "{path} {accept:?}");
        let body = json(&reply);
        assert_eq!(body["error"], *code, "{path}");
        assert!(body["message"].as_str().unwrap().len() > 10);
    }
}

/// A key valid over `[start, start + period · 600)`.
fn valid_key(n: u8, start_secs: u64, period: u32) -> DiagnosisKey {
    DiagnosisKey {
        rolling_start: IntervalNumber(u32::try_from(start_secs / 600).unwrap()),
        rolling_period: RollingPeriod::new(period).unwrap(),
        ..key(n, ReportType::ConfirmedTest, None)
    }
}

/// Every served chunk (oldest within retention to the open one, listed or not) and the key
/// bytes it serves now; and the index's (id, complete) list.
async fn everything_served(node: &Node, retention: u64) -> (Vec<(u64, Vec<[u8; 16]>)>, Vec<u64>) {
    let now = node.clock.now_secs();
    let index = json(&get(node.addr, "/v1/keys", None).await);
    let listed: Vec<u64> = index["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    let mut served = Vec::new();
    for id in (now - retention) / CHUNK..=now / CHUNK {
        let reply = get(node.addr, &format!("/v1/keys/{id}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "chunk {id}");
        let chunk = json(&reply);
        let keys: Vec<[u8; 16]> = chunk["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                STANDARD
                    .decode(k["key"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect();
        // The index lists exactly the chunks that serve keys.
        assert_eq!(
            listed.contains(&id),
            !keys.is_empty(),
            "chunk {id} at {now}"
        );
        if !keys.is_empty() {
            served.push((id, keys));
        }
    }
    (served, listed)
}

#[tokio::test]
async fn keys_still_valid_at_arrival_wait_for_their_expiry() {
    const RETENTION: u64 = 2 * 86_400;
    let node = start_with(Duration::from_secs(RETENTION)).await;
    // Uploaded at T0 + 100: yesterday's key (expired), today's key (valid until T0 + 1 day) and a
    // key valid until T0 + 2400 (the start of chunk C0 + 4).
    let old = key(1, ReportType::ConfirmedTest, None);
    let today = valid_key(2, T0, 144);
    let short = valid_key(3, T0, 4);
    upload(&node.store, "code-1", &[old, today, short], &[], T0 + 100);
    // Received from FR at T0 + 605 (chunk C0 + 1): an expired key and FR's today's key.
    let remote_old = key(4, ReportType::SelfReport, None);
    let remote_today = valid_key(5, T0, 144);
    receive(&node.store, 1, &[remote_old, remote_today], T0 + CHUNK + 5);

    let at = |secs: u64| node.clock.set_millis(secs * 1000);
    // Expired keys are served at once, in the chunk of their arrival; the others nowhere.
    let before_short = vec![(C0, vec![old.key.0]), (C0 + 1, vec![remote_old.key.0])];
    for now in [T0 + CHUNK + 5, T0 + 2 * CHUNK, T0 + 2399] {
        at(now);
        let (served, _) = everything_served(&node, RETENTION).await;
        assert_eq!(served, before_short, "at T0 + {}", now - T0);
    }

    // At T0 + 2400 the short key's validity ended: it is released into the chunk starting then,
    // which is open (no-cache) and not complete.
    at(T0 + 2400);
    let (served, _) = everything_served(&node, RETENTION).await;
    let mut with_short = before_short.clone();
    with_short.push((C0 + 4, vec![short.key.0]));
    assert_eq!(served, with_short);
    let reply = get(node.addr, &format!("/v1/keys/{}", C0 + 4), None).await;
    assert_eq!(reply.cache, "no-cache");
    assert_eq!(json(&reply)["chunk"]["complete"], false);

    // Today's keys (local and remote) stay embargoed until the end of the day...
    at(T0 + 86_399);
    let (served, _) = everything_served(&node, RETENTION).await;
    assert_eq!(served, with_short);

    // ...and then appear exactly once, in the chunk starting at their expiry.
    at(T0 + 86_400);
    let (served, listed) = everything_served(&node, RETENTION).await;
    let mut all = with_short.clone();
    all.push((C0 + 144, vec![today.key.0, remote_today.key.0]));
    assert_eq!(served, all);
    assert_eq!(listed, [C0, C0 + 1, C0 + 4, C0 + 144]);

    // Once settled, that chunk is complete and cacheable until retention deletes its oldest key
    // by arrival (today's key, which arrived at T0 + 100), not until its start + retention.
    let settled = T0 + 86_400 + CHUNK + 10;
    at(settled);
    let reply = get(node.addr, &format!("/v1/keys/{}", C0 + 144), None).await;
    assert_eq!(json(&reply)["chunk"]["complete"], true);
    assert_eq!(
        reply.cache,
        format!("public, max-age={}", T0 + 100 + RETENTION - settled)
    );
    let (served, _) = everything_served(&node, RETENTION).await;
    assert_eq!(served, all);
}

#[tokio::test]
async fn a_key_uploaded_after_its_expiry_is_served_at_once() {
    let node = start().await;
    // A key of the first 20 minutes of T0's day, uploaded at T0 + 1 hour: long expired.
    let earlier_today = valid_key(7, T0, 2);
    node.clock.set_millis((T0 + 3600) * 1000);
    upload(
        &node.store,
        "code-1",
        std::slice::from_ref(&earlier_today),
        &[],
        T0 + 3600,
    );
    let chunk = json(&get(node.addr, &format!("/v1/keys/{}", C0 + 6), None).await);
    let keys = chunk["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["key"], STANDARD.encode(earlier_today.key.0));
    assert_eq!(keys[0]["rollingPeriod"], 2);
}
