//! Uploads of real GAEN apps: `POST /v1/publish` with an ES256 verification certificate, through
//! a real HTTP server and a real store. Every certificate in this file is made by Python's
//! `cryptography` (`tests/support/jwt_tool.py`), never by the code under test: valid; each
//! claim wrong (iss, aud, expired, not yet valid, wrong kid, wrong key, alg none, HS256 keyed
//! with the public key); tekmac wrong and both accepted forms; revision tokens (allowed and
//! forbidden transitions, a replayed token, a token of other keys). After every refusal the store
//! holds exactly what it held before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_daemon::api::{self, AppState};
use enmesh_daemon::clock::ManualClock;
use enmesh_daemon::ingest::revision::TokenKeys;
use enmesh_daemon::ingest::verification::{self, Authorities, HealthAuthority};
use enmesh_daemon::ingest::{self, Certified, IngestState};
use enmesh_daemon::store::Store;
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::keys::ValidationConfig;
use serde_json::{Value, json};

/// A UTC noon: day 19676 (2023-11-15).
const DAY: u64 = 19_676;
const NOW: u64 = DAY * 86_400 + 12 * 3600;
const ISSUER: &str = "gov.example.verification";
const AUDIENCE: &str = "enmesh.example.keyserver";
const KID: &str = "v1";
const HMAC_KEY: [u8; 16] = [0x42; 16];

struct Tool {
    dir: tempfile::TempDir,
}

impl Tool {
    fn new() -> Self {
        let tool = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        tool.run(&["keygen", &tool.path("ha.key"), &tool.path("ha.pem")]);
        tool.run(&["keygen", &tool.path("other.key"), &tool.path("other.pem")]);
        tool
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn run(&self, args: &[&str]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/jwt_tool.py");
        let out = Command::new("python3")
            .arg(script)
            .args(args)
            .output()
            .expect("python3 with the `cryptography` package is needed to make test tokens");
        assert!(
            out.status.success(),
            "jwt_tool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn es256(&self, key: &str, header: &Value, claims: &Value) -> String {
        self.run(&[
            "es256",
            &self.path(key),
            &header.to_string(),
            &claims.to_string(),
        ])
    }

    /// HMAC-SHA256 by Python, standard base64.
    fn hmac(&self, message: &str) -> String {
        self.run(&["hmac", &STANDARD.encode(HMAC_KEY), message])
    }
}

/// A key valid on day `DAY - days_ago`.
fn key(seed: u8, days_ago: u64, risk: u8) -> Value {
    json!({
        "key": STANDARD.encode([seed; 16]),
        "rollingStartNumber": (DAY - days_ago) * 144,
        "rollingPeriod": 144,
        "transmissionRisk": risk,
    })
}

/// The tekmac cleartext, written from formats.md §e: `key.start.period[.risk]`, sorted by the
/// base64 key, joined with `,`.
fn cleartext(keys: &[Value], with_risk: bool) -> String {
    let mut entries: Vec<(String, String)> = keys
        .iter()
        .map(|k| {
            let text = k["key"].as_str().unwrap().to_owned();
            let mut entry = format!("{text}.{}.{}", k["rollingStartNumber"], k["rollingPeriod"]);
            if with_risk {
                entry.push_str(&format!(".{}", k["transmissionRisk"]));
            }
            (text, entry)
        })
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|(_, e)| e)
        .collect::<Vec<_>>()
        .join(",")
}

struct Node {
    addr: SocketAddr,
    store: Arc<Store>,
    tool: Tool,
    _dir: tempfile::TempDir,
}

fn header() -> Value {
    json!({"alg": "ES256", "kid": KID, "typ": "JWT"})
}

fn claims(report_type: &str, tekmac: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": NOW - 60,
        "exp": NOW + 900,
        "reportType": report_type,
        "symptomOnsetInterval": (DAY - 3) * 144,
        "tekmac": tekmac,
    })
}

async fn start() -> Node {
    let tool = Tool::new();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let metrics = Metrics::new();
    let public = verification::load_pem_key("test", &PathBuf::from(tool.path("ha.pem"))).unwrap();
    let authorities = Authorities::new(vec![HealthAuthority {
        name: "test-ha".into(),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        keys: [(KID.to_owned(), public)].into(),
    }]);
    let tokens = TokenKeys::new("r1", &[("r1".to_owned(), [7; 32])], b"test").unwrap();
    let certified = Certified::load(&store, authorities, tokens).unwrap();
    let routes = ingest::routes_with(
        IngestState {
            store: Arc::clone(&store),
            metrics: metrics.clone(),
            clock: ManualClock::at_millis(NOW * 1000),
            region: "DE".parse().unwrap(),
            validation: ValidationConfig::default(),
            batcher: None,
        },
        Some(certified),
    );
    let app = AppState::new("DE".parse().unwrap(), "EU".parse().unwrap(), metrics);
    let router = api::router(app, routes, 64 * 1024);
    let listener = api::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Node {
        addr,
        store,
        tool,
        _dir: dir,
    }
}

impl Node {
    async fn publish(&self, body: &Value) -> (u16, Value) {
        let answer = enmesh_daemon::demo::drive::post_json(
            self.addr,
            "/v1/publish",
            serde_json::to_vec(body).unwrap(),
        )
        .await
        .unwrap();
        let value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        (answer.status.as_u16(), value)
    }

    fn local_keys(&self) -> Vec<(String, i32)> {
        self.store
            .local_keys_after(None, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| (STANDARD.encode(e.key.key.0), e.key.report_type.number()))
            .collect()
    }

    fn body(&self, keys: &[Value], certificate: &str, token: Option<&str>) -> Value {
        let mut body = json!({
            "temporaryExposureKeys": keys,
            "healthAuthorityID": "app",
            "verificationPayload": certificate,
            "hmacKey": STANDARD.encode(HMAC_KEY),
            "padding": "AAAA",
        });
        if let Some(token) = token {
            body["revisionToken"] = json!(token);
        }
        body
    }

    /// A valid certificate of `report_type` for `keys` (tekmac with transmission risk).
    fn certificate(&self, report_type: &str, keys: &[Value]) -> String {
        let tekmac = self.tool.hmac(&cleartext(keys, true));
        self.tool
            .es256("ha.key", &header(), &claims(report_type, &tekmac))
    }

    /// Publishes and expects a refusal with `status` and `code`, and nothing stored.
    async fn refused(&self, body: &Value, status: u16, code: &str) -> Value {
        let before = self.local_keys();
        let (got, answer) = self.publish(body).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{answer}"
        );
        assert_eq!(
            self.local_keys(),
            before,
            "a refused upload stored something"
        );
        answer
    }
}

#[tokio::test]
async fn a_valid_certificate_stores_the_keys_with_its_report_type_and_returns_a_token() {
    let node = start().await;
    let keys = [key(1, 2, 0), key(2, 3, 0)];
    let (status, answer) = node
        .publish(&node.body(&keys, &node.certificate("likely", &keys), None))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["insertedExposures"], 2);
    assert!(
        answer["revisionToken"]
            .as_str()
            .is_some_and(|t| t.len() > 100)
    );
    let stored = node.local_keys();
    assert_eq!(stored.len(), 2);
    // likely = CONFIRMED_CLINICAL_DIAGNOSIS (2).
    assert!(stored.iter().all(|(_, rt)| *rt == 2), "{stored:?}");
}

#[tokio::test]
async fn each_wrong_claim_is_refused_with_its_code_and_nothing_is_stored() {
    let node = start().await;
    let keys = [key(1, 2, 0)];
    let tekmac = node.tool.hmac(&cleartext(&keys, true));
    let good = claims("confirmed", &tekmac);
    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    let invalid = "health_authority_verification_certificate_invalid";
    let cases: Vec<(&str, String, u16, &str, Option<&str>)> = vec![
        (
            "issuer",
            node.tool
                .es256("ha.key", &header(), &with("iss", json!("someone.else"))),
            401,
            "unknown_health_authority_id",
            None,
        ),
        (
            "audience",
            node.tool
                .es256("ha.key", &header(), &with("aud", json!("other.server"))),
            401,
            invalid,
            Some("audience"),
        ),
        (
            "expired",
            node.tool
                .es256("ha.key", &header(), &with("exp", json!(NOW - 120))),
            401,
            invalid,
            Some("expired"),
        ),
        (
            "not yet valid",
            node.tool
                .es256("ha.key", &header(), &with("iat", json!(NOW + 600))),
            401,
            invalid,
            Some("not_yet_valid"),
        ),
        (
            "wrong kid",
            node.tool.es256(
                "ha.key",
                &json!({"alg": "ES256", "kid": "v2", "typ": "JWT"}),
                &good,
            ),
            401,
            invalid,
            Some("kid"),
        ),
        (
            "wrong key",
            node.tool.es256("other.key", &header(), &good),
            401,
            invalid,
            Some("signature"),
        ),
        (
            "alg none",
            node.tool.run(&[
                "none",
                &json!({"alg": "none", "kid": KID}).to_string(),
                &good.to_string(),
            ]),
            401,
            invalid,
            Some("algorithm"),
        ),
        (
            "HS256 keyed with the public key",
            node.tool.run(&[
                "hs256",
                &node.tool.path("ha.pem"),
                &json!({"alg": "HS256", "kid": KID, "typ": "JWT"}).to_string(),
                &good.to_string(),
            ]),
            401,
            invalid,
            Some("algorithm"),
        ),
        (
            "tekmac of other keys",
            node.tool.es256(
                "ha.key",
                &header(),
                &with(
                    "tekmac",
                    json!(node.tool.hmac(&cleartext(&[key(9, 2, 0)], true))),
                ),
            ),
            401,
            invalid,
            Some("tekmac"),
        ),
        (
            "unknown report type",
            node.tool
                .es256("ha.key", &header(), &with("reportType", json!("positive"))),
            401,
            invalid,
            Some("claim"),
        ),
    ];
    for (what, certificate, status, code, rule) in cases {
        let answer = node
            .refused(&node.body(&keys, &certificate, None), status, code)
            .await;
        if let Some(rule) = rule {
            assert_eq!(answer["violations"][0]["rule"], rule, "{what}: {answer}");
        }
    }
    // A flipped byte in a good certificate's signature.
    let mut certificate = node.certificate("confirmed", &keys).into_bytes();
    let last = certificate.len() - 3;
    certificate[last] = if certificate[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let certificate = String::from_utf8(certificate).unwrap();
    node.refused(&node.body(&keys, &certificate, None), 401, invalid)
        .await;
    // The same certificate with another hmacKey.
    let mut body = node.body(&keys, &node.certificate("confirmed", &keys), None);
    body["hmacKey"] = json!(STANDARD.encode([1u8; 16]));
    node.refused(&body, 401, invalid).await;
    assert!(node.local_keys().is_empty());
}

#[tokio::test]
async fn both_tekmac_forms_are_accepted_the_short_one_only_when_every_risk_is_zero() {
    let node = start().await;
    // All TR 0: the form without `.transmissionRisk` is accepted.
    let keys = [key(1, 2, 0), key(2, 3, 0)];
    let short = node.tool.hmac(&cleartext(&keys, false));
    let certificate = node
        .tool
        .es256("ha.key", &header(), &claims("confirmed", &short));
    let (status, answer) = node.publish(&node.body(&keys, &certificate, None)).await;
    assert_eq!(status, 200, "{answer}");
    // With TR set: the long form is accepted...
    let keys = [key(3, 2, 5), key(4, 3, 0)];
    let (status, answer) = node
        .publish(&node.body(&keys, &node.certificate("confirmed", &keys), None))
        .await;
    assert_eq!(status, 200, "{answer}");
    // ...and the short one is not.
    let keys = [key(5, 2, 5)];
    let short = node.tool.hmac(&cleartext(&keys, false));
    let certificate = node
        .tool
        .es256("ha.key", &header(), &claims("confirmed", &short));
    node.refused(
        &node.body(&keys, &certificate, None),
        401,
        "health_authority_verification_certificate_invalid",
    )
    .await;
    assert_eq!(node.local_keys().len(), 4);
}

#[tokio::test]
async fn revisions_follow_the_token_and_the_allowed_transitions() {
    let node = start().await;
    let keys = [key(1, 2, 0), key(2, 3, 0)];
    let (status, first) = node
        .publish(&node.body(&keys, &node.certificate("likely", &keys), None))
        .await;
    assert_eq!(status, 200, "{first}");
    let token = first["revisionToken"].as_str().unwrap().to_owned();

    // The same keys again without a token, or with garbage (treated as absent).
    let confirmed = node.certificate("confirmed", &keys);
    node.refused(
        &node.body(&keys, &confirmed, None),
        400,
        "missing_revision_token",
    )
    .await;
    node.refused(
        &node.body(&keys, &confirmed, Some("bm90IGEgdG9rZW4=")),
        400,
        "missing_revision_token",
    )
    .await;
    // A valid token of other keys.
    let other = [key(7, 2, 0)];
    let (_, other_answer) = node
        .publish(&node.body(&other, &node.certificate("user-report", &other), None))
        .await;
    let other_token = other_answer["revisionToken"].as_str().unwrap().to_owned();
    node.refused(
        &node.body(&keys, &confirmed, Some(&other_token)),
        400,
        "invalid_revision_token",
    )
    .await;
    // likely -> user-report is not a transition.
    node.refused(
        &node.body(&keys, &node.certificate("user-report", &keys), Some(&token)),
        400,
        "invalid_report_type_transition",
    )
    .await;

    // likely -> confirmed with the token: stored again as CONFIRMED_TEST.
    let (status, revised) = node
        .publish(&node.body(&keys, &confirmed, Some(&token)))
        .await;
    assert_eq!(status, 200, "{revised}");
    let stored = node.local_keys();
    assert_eq!(
        stored.iter().filter(|(_, rt)| *rt == 1).count(),
        2,
        "{stored:?}"
    );

    // The first token replayed (and the new one) cannot revise the keys a second time.
    let negative = node.certificate("negative", &keys);
    node.refused(
        &node.body(&keys, &negative, Some(&token)),
        400,
        "key_already_revised",
    )
    .await;
    let new_token = revised["revisionToken"].as_str().unwrap().to_owned();
    node.refused(
        &node.body(&keys, &negative, Some(&new_token)),
        400,
        "key_already_revised",
    )
    .await;

    // user-report -> negative is allowed: stored as REVOKED; negative never stores new keys.
    let (status, answer) = node
        .publish(&node.body(
            &other,
            &node.certificate("negative", &other),
            Some(&other_token),
        ))
        .await;
    assert_eq!(status, 200, "{answer}");
    let fresh = [key(8, 2, 0)];
    node.refused(
        &node.body(&fresh, &node.certificate("negative", &fresh), None),
        400,
        "bad_request",
    )
    .await;
    let revoked = STANDARD.encode([7u8; 16]);
    assert!(node.local_keys().contains(&(revoked, 5)));
}

#[tokio::test]
async fn a_one_time_code_still_works_next_to_certificates() {
    let node = start().await;
    node.store
        .put_code(&enmesh_daemon::store::CodeHash::of("CODE-1"), NOW + 60)
        .unwrap()
        .unwrap();
    let keys = [key(1, 2, 0)];
    let mut body = node.body(&keys, "CODE-1", None);
    body["hmacKey"] = Value::Null;
    let (status, answer) = node.publish(&body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("revisionToken").is_none());
}
