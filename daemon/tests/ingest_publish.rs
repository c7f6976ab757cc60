//! `POST /v1/publish` through a real HTTP server on 127.0.0.1:0 and a real store in a tempdir:
//! every validation rule of formats.md §e (table-driven), visited regions, malformed JSON,
//! unknown/expired/used codes, idempotent retry, one code raced by two uploads, the body limit,
//! and the rejection metrics. After every refusal the store is unchanged.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_daemon::api::{self, AppState};
use enmesh_daemon::clock::ManualClock;
use enmesh_daemon::ingest::{self, IngestState};
use enmesh_daemon::store::{CodeHash, Store};
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::keys::ValidationConfig;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

/// A UTC noon: day 19676 (2023-11-15), interval 2,833,416.
const DAY: u64 = 19_676;
const NOW: u64 = DAY * 86_400 + 12 * 3600;
const NOW_INTERVAL: i64 = (NOW / 600) as i64;
const MAX_BODY: usize = 64 * 1024;

struct Node {
    addr: SocketAddr,
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

async fn start() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let metrics = Metrics::new();
    let clock = ManualClock::at_millis(NOW * 1000);
    let app = AppState::new(
        "DE".parse().unwrap(),
        "EU".parse().unwrap(),
        metrics.clone(),
    );
    let routes = ingest::routes(IngestState {
        store: Arc::clone(&store),
        metrics: metrics.clone(),
        clock,
        region: "DE".parse().unwrap(),
        validation: ValidationConfig::default(),
        batcher: None,
    });
    let router = api::router(app, routes, MAX_BODY);
    let listener = api::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Node {
        addr,
        store,
        _dir: dir,
    }
}

impl Node {
    /// Stores a code valid until `expires`.
    fn code(&self, code: &str, expires: u64) -> String {
        self.store
            .put_code(&CodeHash::of(code), expires)
            .unwrap()
            .unwrap();
        code.to_owned()
    }

    async fn request(&self, method: &str, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "test")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    async fn publish(&self, body: &Value) -> (StatusCode, Value) {
        self.request("POST", "/v1/publish", serde_json::to_vec(body).unwrap())
            .await
    }

    async fn metrics_text(&self) -> String {
        match self.request("GET", "/metrics", Vec::new()).await.1 {
            Value::String(text) => text,
            other => panic!("metrics not text: {other}"),
        }
    }

    /// Everything a refused upload could have touched: approximate counts per column family
    /// and the exact local keys.
    fn snapshot(&self) -> (Vec<(&'static str, u64)>, usize) {
        (
            self.store.stats().unwrap().approx_keys,
            self.store.local_keys_after(None, usize::MAX).unwrap().len(),
        )
    }
}

/// A key valid on day `DAY - days_ago`, data derived from `seed`.
fn key(seed: u8, days_ago: u64) -> Value {
    json!({
        "key": STANDARD.encode([seed; 16]),
        "rollingStartNumber": (DAY - days_ago) * 144,
        "rollingPeriod": 144,
        "transmissionRisk": 0,
    })
}

/// A valid upload of three keys (1, 2 and 3 days ago).
fn valid(code: &str) -> Value {
    json!({
        "temporaryExposureKeys": [key(1, 1), key(2, 2), key(3, 3)],
        "healthAuthorityID": "enmesh-app",
        "verificationPayload": code,
        "hmacKey": STANDARD.encode([9u8; 32]),
        "traveler": true,
        "revisionToken": "",
        "padding": STANDARD.encode([0u8; 1024]),
        "visitedRegions": ["FR", "DE", "FRA", "IT"],
        "appVersion": "1.2.3",
    })
}

/// Replaces key `index` of `body` with `key`.
fn with_key(mut body: Value, index: usize, key: Value) -> Value {
    body["temporaryExposureKeys"][index] = key;
    body
}

fn set(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

#[tokio::test]
async fn every_validation_rule_is_refused_with_its_name_and_key_index() {
    let node = start().await;
    let code = node.code("RULECODE", NOW + 3600);
    let base = valid(&code);
    let start1 = (DAY - 1) * 144;
    let too_many: Vec<Value> = (0..31).map(|i| key(i, 1 + u64::from(i) / 3)).collect();
    let rows: Vec<(&str, Value, Option<u64>)> = vec![
        (
            "key_count",
            set(base.clone(), "temporaryExposureKeys", json!([])),
            None,
        ),
        (
            "key_count",
            set(base.clone(), "temporaryExposureKeys", json!(too_many)),
            None,
        ),
        (
            "key_base64",
            with_key(
                base.clone(),
                1,
                json!({"key": "not base64!", "rollingStartNumber": start1 - 144, "rollingPeriod": 144}),
            ),
            Some(1),
        ),
        (
            "key_length",
            with_key(
                base.clone(),
                1,
                json!({"key": STANDARD.encode([7u8; 15]), "rollingStartNumber": start1 - 144, "rollingPeriod": 144}),
            ),
            Some(1),
        ),
        (
            "rolling_period",
            with_key(
                base.clone(),
                2,
                json!({"key": STANDARD.encode([7u8; 16]), "rollingStartNumber": start1 - 288, "rollingPeriod": 0}),
            ),
            Some(2),
        ),
        (
            "rolling_period",
            with_key(
                base.clone(),
                0,
                json!({"key": STANDARD.encode([7u8; 16]), "rollingStartNumber": start1, "rollingPeriod": 145}),
            ),
            Some(0),
        ),
        (
            "transmission_risk",
            with_key(
                base.clone(),
                1,
                json!({"key": STANDARD.encode([7u8; 16]), "rollingStartNumber": start1 - 144, "rollingPeriod": 144, "transmissionRisk": 9}),
            ),
            Some(1),
        ),
        (
            "rolling_start",
            with_key(
                base.clone(),
                2,
                json!({"key": STANDARD.encode([7u8; 16]), "rollingStartNumber": -1, "rollingPeriod": 144}),
            ),
            Some(2),
        ),
        (
            "future_key",
            with_key(
                base.clone(),
                0,
                json!({"key": STANDARD.encode([7u8; 16]), "rollingStartNumber": NOW_INTERVAL + 1, "rollingPeriod": 1}),
            ),
            Some(0),
        ),
        (
            "key_too_old",
            with_key(base.clone(), 2, key(7, 20)),
            Some(2),
        ),
        // Onset 27 days ago is usable; a key 10 days ago is then 17 days after it.
        (
            "days_since_onset",
            set(
                with_key(base.clone(), 0, key(7, 10)),
                "symptomOnsetInterval",
                json!((DAY - 27) * 144),
            ),
            Some(0),
        ),
        (
            "overlap",
            with_key(
                base.clone(),
                1,
                json!({"key": STANDARD.encode([7u8; 16]), "rollingStartNumber": start1 + 1, "rollingPeriod": 10}),
            ),
            Some(1),
        ),
        (
            "same_start_limit",
            set(
                base.clone(),
                "temporaryExposureKeys",
                json!([key(1, 1), key(2, 1), key(3, 1), key(4, 1)]),
            ),
            Some(3),
        ),
        (
            "duplicate_key",
            with_key(base.clone(), 2, key(1, 3)),
            Some(2),
        ),
    ];
    let before = node.snapshot();
    for (rule, body, index) in &rows {
        let (status, answer) = node.publish(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{rule}: {answer}");
        assert_eq!(answer["code"], "bad_request", "{rule}: {answer}");
        let violations = answer["violations"].as_array().unwrap();
        assert!(
            violations.iter().any(|v| v["rule"] == *rule
                && v["keyIndex"] == json!(index)
                && v["message"].is_string()),
            "{rule} at {index:?} not named in {answer}"
        );
        assert_eq!(node.snapshot(), before, "{rule}: the store changed");
    }
    // The code was never consumed: the valid upload still goes through.
    let (status, answer) = node.publish(&base).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["insertedExposures"], 3);
    let metrics = node.metrics_text().await;
    for (rule, count) in [
        ("key_count", 2),
        ("rolling_period", 2),
        ("duplicate_key", 1),
        ("future_key", 1),
    ] {
        let line = format!("enmesh_upload_rejections_total{{rule=\"{rule}\"}} {count}");
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing in\n{metrics}"
        );
    }
    assert!(metrics.contains("enmesh_uploads_total 1\n"), "{metrics}");
    assert!(
        metrics.contains("enmesh_keys_stored_total{kind=\"local\"} 3\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn accepted_upload_answers_like_google_and_stores_visited_without_home() {
    let node = start().await;
    let code = node.code("GOODCODE", NOW + 3600);
    let (status, answer) = node.publish(&valid(&code)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["insertedExposures"], 3);
    assert_eq!(answer["warnings"], json!([]));
    let padding = STANDARD
        .decode(answer["padding"].as_str().unwrap())
        .unwrap();
    assert!((1024..2048).contains(&padding.len()), "{}", padding.len());
    let entries = node.store.local_keys_after(None, 100).unwrap();
    assert_eq!(entries.len(), 3);
    for entry in &entries {
        let visited: Vec<String> = entry.visited.iter().map(ToString::to_string).collect();
        assert_eq!(visited, ["FR", "IT"]);
        assert_eq!(entry.key.transmission_risk.get(), 2, "confirmed backfill");
    }
}

#[tokio::test]
async fn bad_visited_region_and_bad_json_are_400_naming_the_culprit() {
    let node = start().await;
    let code = node.code("JSONCODE", NOW + 3600);
    let before = node.snapshot();
    let (status, answer) = node
        .publish(&set(
            valid(&code),
            "visitedRegions",
            json!(["FR", "NOT A REGION"]),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], "bad_request");
    assert_eq!(answer["violations"][0]["rule"], "visited_regions");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("visitedRegions[1]: "),
        "{answer}"
    );

    let (status, answer) = node
        .request(
            "POST",
            "/v1/publish",
            b"{\"temporaryExposureKeys\": [".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "bad_request");

    let wrong_type = with_key(
        valid(&code),
        1,
        json!({"key": STANDARD.encode([7u8; 16]), "rollingStartNumber": "2833000", "rollingPeriod": 144}),
    );
    let (status, answer) = node.publish(&wrong_type).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.starts_with("temporaryExposureKeys[1].rollingStartNumber: invalid type"),
        "{error}"
    );
    assert_eq!(node.snapshot(), before);
    let metrics = node.metrics_text().await;
    assert!(
        metrics.contains("enmesh_upload_rejections_total{rule=\"visited_regions\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("enmesh_upload_rejections_total{rule=\"json\"} 2\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn unknown_expired_used_and_missing_codes_are_401_and_store_nothing() {
    let node = start().await;
    let expired = node.code("EXPIRED", NOW);
    let used = node.code("USEDCODE", NOW + 3600);
    let (status, _) = node.publish(&valid(&used)).await;
    assert_eq!(status, StatusCode::OK);
    let before = node.snapshot();
    let other_keys = set(valid(&used), "temporaryExposureKeys", json!([key(5, 1)]));
    let mut missing = valid("x");
    missing
        .as_object_mut()
        .unwrap()
        .remove("verificationPayload");
    for (what, body) in [
        ("unknown", valid("NEVERISSUED")),
        ("expired", valid(&expired)),
        ("used", other_keys),
        ("missing", missing),
    ] {
        let (status, answer) = node.publish(&body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
        assert_eq!(answer["code"], "invalid_code", "{what}");
        assert_eq!(node.snapshot(), before, "{what}: the store changed");
    }
    let metrics = node.metrics_text().await;
    assert!(
        metrics.contains("enmesh_upload_rejections_total{rule=\"code\"} 4\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_retry_returns_the_same_answer_without_new_keys() {
    let node = start().await;
    let code = node.code("RETRYCODE", NOW + 3600);
    let body = valid(&code);
    let (status, first) = node.publish(&body).await;
    assert_eq!(status, StatusCode::OK);
    let after_first = node.store.local_keys_after(None, 100).unwrap();
    // Same keys in another order, different padding: still the same upload.
    let mut again = body.clone();
    again["temporaryExposureKeys"]
        .as_array_mut()
        .unwrap()
        .reverse();
    again["padding"] = json!("other");
    let (status, second) = node.publish(&again).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["insertedExposures"], first["insertedExposures"]);
    assert_eq!(node.store.local_keys_after(None, 100).unwrap(), after_first);
    let metrics = node.metrics_text().await;
    assert!(metrics.contains("enmesh_uploads_total 1\n"), "{metrics}");
    assert!(
        metrics.contains("enmesh_keys_stored_total{kind=\"local\"} 3\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn two_concurrent_uploads_with_one_code_store_exactly_one() {
    let node = Arc::new(start().await);
    for round in 0..10u8 {
        let code = node.code(&format!("RACE{round}"), NOW + 3600);
        let a = set(
            valid(&code),
            "temporaryExposureKeys",
            json!([key(10 + round, 1), key(40 + round, 2)]),
        );
        let b = set(
            valid(&code),
            "temporaryExposureKeys",
            json!([key(70 + round, 1)]),
        );
        let before = node.store.local_keys_after(None, usize::MAX).unwrap().len();
        let (ra, rb) = tokio::join!(node.publish(&a), node.publish(&b));
        let statuses = [ra.0, rb.0];
        assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
        assert!(statuses.contains(&StatusCode::UNAUTHORIZED), "{statuses:?}");
        let stored = node.store.local_keys_after(None, usize::MAX).unwrap().len() - before;
        let winner = if ra.0 == StatusCode::OK { 2 } else { 1 };
        assert_eq!(stored, winner);
    }
}

#[tokio::test]
async fn oversized_body_is_413_and_stores_nothing() {
    let node = start().await;
    let code = node.code("BIGCODE", NOW + 3600);
    let before = node.snapshot();
    let body = set(valid(&code), "padding", json!("A".repeat(MAX_BODY + 1)));
    let (status, _) = node.publish(&body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(node.snapshot(), before);
    // The code is still usable.
    let (status, _) = node.publish(&valid(&code)).await;
    assert_eq!(status, StatusCode::OK);
}
