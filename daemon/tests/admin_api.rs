//! The operator API on a real listener (127.0.0.1:0) with a real store: the bearer token is
//! required (401 without it or with a wrong one), issued codes authorise an upload exactly once,
//! statistics come back as JSON, and the `enmesh admin` client reaches it through a config file.

use axum::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_daemon::admin::cli::{self, AdminCliError, AdminCommand};
use enmesh_daemon::admin::{self, AdminState, code, token};
use enmesh_daemon::api::{self, AppState};
use enmesh_daemon::clock::{Clock, ManualClock};
use enmesh_daemon::ingest::{self, IngestState};
use enmesh_daemon::store::Store;
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::keys::ValidationConfig;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const NOW: u64 = 19_676 * 86_400 + 12 * 3600;
const TTL: Duration = Duration::from_secs(3600);

struct Daemon {
    admin: SocketAddr,
    public: SocketAddr,
    data_dir: std::path::PathBuf,
    token: token::AdminToken,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = api::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

async fn start() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let token = token::load_or_create(&data_dir).unwrap();
    let store = Arc::new(Store::open(&data_dir.join("db")).unwrap());
    let clock = ManualClock::at_millis(NOW * 1000);
    let admin = serve(admin::routes(AdminState {
        store: Arc::clone(&store),
        clock: clock.clone(),
        token: token.clone(),
        code_ttl: TTL,
    }))
    .await;
    let metrics = Metrics::new();
    let app = AppState::new(
        "DE".parse().unwrap(),
        "EU".parse().unwrap(),
        metrics.clone(),
    );
    let public = serve(api::router(
        app,
        ingest::routes(IngestState {
            store,
            metrics,
            clock: clock.clone(),
            region: "DE".parse().unwrap(),
            validation: ValidationConfig::default(),
            batcher: None,
        }),
        1 << 20,
    ))
    .await;
    Daemon {
        admin,
        public,
        data_dir,
        token,
        clock,
        _dir: dir,
    }
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "test");
    if let Some(auth) = auth {
        builder = builder.header("authorization", auth);
    }
    let response = sender
        .send_request(builder.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn upload(code: &str, seed: u8) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "temporaryExposureKeys": [{
            "key": STANDARD.encode([seed; 16]),
            "rollingStartNumber": (19_676 - 1) * 144,
            "rollingPeriod": 144,
        }],
        "verificationPayload": code,
    }))
    .unwrap()
}

#[tokio::test]
async fn codes_need_the_token_and_authorise_one_upload() {
    let daemon = start().await;
    let bearer = format!("Bearer {}", daemon.token.as_str());
    for auth in [None, Some("Bearer wrong"), Some(daemon.token.as_str())] {
        let (status, answer) =
            request(daemon.admin, "POST", "/admin/codes", auth, Vec::new()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(answer["error"], "missing or wrong bearer token");
    }
    let (status, issued) = request(
        daemon.admin,
        "POST",
        "/admin/codes",
        Some(&bearer),
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let code = issued["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), code::LENGTH);
    assert!(code.bytes().all(|c| code::ALPHABET.contains(&c)));
    assert_eq!(issued["expiresAtUnix"], NOW + TTL.as_secs());
    assert_eq!(issued["expiresAt"], "2023-11-15T13:00:00Z");

    let (status, answer) =
        request(daemon.public, "POST", "/v1/publish", None, upload(&code, 1)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _) = request(daemon.public, "POST", "/v1/publish", None, upload(&code, 2)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a code works once");

    // A second code expires with the TTL.
    let (_, issued) = request(
        daemon.admin,
        "POST",
        "/admin/codes",
        Some(&bearer),
        Vec::new(),
    )
    .await;
    daemon.clock.advance_millis(TTL.as_millis() as u64);
    assert_eq!(daemon.clock.now_secs(), NOW + TTL.as_secs());
    let late = upload(issued["code"].as_str().unwrap(), 3);
    let (status, answer) = request(daemon.public, "POST", "/v1/publish", None, late).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["code"], "invalid_code");
}

#[tokio::test]
async fn stats_are_json_and_need_the_token() {
    let daemon = start().await;
    let bearer = format!("Bearer {}", daemon.token.as_str());
    let (status, _) = request(daemon.admin, "GET", "/admin/stats", None, Vec::new()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, issued) = request(
        daemon.admin,
        "POST",
        "/admin/codes",
        Some(&bearer),
        Vec::new(),
    )
    .await;
    let (status, _) = request(
        daemon.public,
        "POST",
        "/v1/publish",
        None,
        upload(issued["code"].as_str().unwrap(), 1),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, stats) = request(
        daemon.admin,
        "GET",
        "/admin/stats",
        Some(&bearer),
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert!(
        stats["approxKeys"]["local"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    assert!(
        stats["approxKeys"]["codes"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    assert_eq!(stats["oldestArrivalUnix"], NOW);
    assert_eq!(stats["newestArrivalUnix"], NOW);
}

#[tokio::test]
async fn the_cli_reads_config_and_token_and_calls_the_api() {
    let daemon = start().await;
    let config = enmesh_daemon::config::EXAMPLE
        .replace("/var/lib/enmesh", daemon.data_dir.to_str().unwrap())
        .replace("127.0.0.1:9090", &daemon.admin.to_string());
    let path = daemon.data_dir.join("enmesh.toml");
    std::fs::write(&path, config).unwrap();
    cli::run(AdminCommand::Stats {
        config: path.clone(),
    })
    .await
    .unwrap();
    cli::run(AdminCommand::IssueCode { config: path })
        .await
        .unwrap();
    let token = token::load(&daemon.data_dir).unwrap();
    let body = cli::call(daemon.admin, &token, Method::GET, "/admin/stats")
        .await
        .unwrap();
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert!(
        stats["approxKeys"]["codes"].as_u64().unwrap() >= 1,
        "{stats}"
    );

    // A wrong token is reported with the status.
    std::fs::write(token::path(&daemon.data_dir), "wrong\n").unwrap();
    let token = token::load(&daemon.data_dir).unwrap();
    let err = cli::call(daemon.admin, &token, Method::GET, "/admin/stats")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AdminCliError::Status {
                status: StatusCode::UNAUTHORIZED,
                ..
            }
        ),
        "{err}"
    );
}
