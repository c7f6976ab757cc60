//! The operations HTTP server, run for real on 127.0.0.1:0: health, metrics, the body limit,
//! per-request metrics, and graceful shutdown with requests in flight.

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use enmesh_daemon::api::{self, AppState};
use enmesh_daemon::shutdown::Shutdown;
use enmesh_daemon::telemetry::Metrics;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

const MAX_BODY: usize = 1024;
const DEADLINE: Duration = Duration::from_secs(5);

struct TestServer {
    addr: SocketAddr,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<Result<(), api::ApiError>>,
    metrics: Metrics,
    /// Notified when `/slow` has received its request.
    slow_started: Arc<Notify>,
}

/// Starts the real router with two test routes: `POST /echo` answers the body length, `GET /slow`
/// answers after 300 ms.
async fn start() -> TestServer {
    let metrics = Metrics::new();
    let state = AppState::new(
        "DE".parse().unwrap(),
        "EU".parse().unwrap(),
        metrics.clone(),
    );
    let slow_started = Arc::new(Notify::new());
    let started = slow_started.clone();
    let routes = Router::new()
        .route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/slow",
            get(move || async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
    let router = api::router(state, routes, MAX_BODY);
    let listener = api::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let server = shutdown.spawn(api::serve(listener, router, shutdown.signal()));
    TestServer {
        addr,
        shutdown,
        server,
        metrics,
        slow_started,
    }
}

/// Opens one HTTP/1.1 connection.
async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// Sends one request on `sender` and returns status, content type and body.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, String, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// One request on a fresh connection.
async fn fetch(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, String, String) {
    send(&mut connect(addr).await, method, path, body).await
}

#[tokio::test]
async fn healthz_answers_json_with_the_region() {
    let server = start().await;
    let (status, content_type, body) = fetch(server.addr, "GET", "/healthz", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["region"], "DE");
    assert_eq!(json["cluster"], "EU");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert!(json["uptime_seconds"].is_u64(), "{json}");
}

#[tokio::test]
async fn metrics_lists_every_family_and_counts_requests() {
    let server = start().await;
    // Labelled families appear once a label value is used; other modules bump them.
    server.metrics.ingest().rejected("too_many_keys");
    server.metrics.batch().cut("a2a");
    server.metrics.retention().deleted("remote", 5);
    let mut conn = connect(server.addr).await;
    send(&mut conn, "GET", "/healthz", vec![]).await;
    send(&mut conn, "GET", "/no/such/route", vec![]).await;
    let (status, content_type, body) = send(&mut conn, "GET", "/metrics", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for family in [
        "# TYPE enmesh_uploads counter",
        "# TYPE enmesh_upload_rejections counter",
        "# TYPE enmesh_batches counter",
        "# TYPE enmesh_keys_stored counter",
        "# TYPE enmesh_retention_deletions counter",
        "# TYPE enmesh_http_requests counter",
        "# TYPE enmesh_http_request_duration_seconds histogram",
    ] {
        assert!(body.contains(family), "{family} missing in\n{body}");
    }
    for sample in [
        "enmesh_uploads_total 0",
        "enmesh_keys_stored_total{kind=\"local\"} 0",
        "enmesh_keys_stored_total{kind=\"remote\"} 0",
        "enmesh_upload_rejections_total{rule=\"too_many_keys\"} 1",
        "enmesh_batches_total{feed=\"a2a\"} 1",
        "enmesh_retention_deletions_total{cf=\"remote\"} 5",
        "enmesh_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1",
        "enmesh_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "enmesh_http_request_duration_seconds_count{route=\"/healthz\"} 1",
    ] {
        assert!(
            body.lines().any(|l| l == sample),
            "{sample} missing in\n{body}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let server = start().await;
    let (status, _, body) = fetch(server.addr, "POST", "/echo", vec![7; MAX_BODY]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1024"));
    let (status, _, _) = fetch(server.addr, "POST", "/echo", vec![7; MAX_BODY + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Without a Content-Length the limit still holds while the body streams in.
    let mut raw = TcpStream::connect(server.addr).await.unwrap();
    let chunk = vec![b'a'; MAX_BODY + 1];
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n",
        chunk.len()
    )
    .into_bytes();
    request.extend_from_slice(&chunk);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    raw.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    raw.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");

    let (_, _, metrics) = fetch(server.addr, "GET", "/metrics", vec![]).await;
    let sample = "enmesh_http_requests_total{route=\"/echo\",method=\"POST\",status=\"413\"} 2";
    assert!(
        metrics.lines().any(|l| l == sample),
        "{sample} missing in\n{metrics}"
    );
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_stops_within_the_deadline() {
    let server = start().await;
    // An idle keep-alive connection must not hold the server open.
    let mut idle = connect(server.addr).await;
    assert_eq!(
        send(&mut idle, "GET", "/healthz", vec![]).await.0,
        StatusCode::OK
    );

    let addr = server.addr;
    let in_flight = tokio::spawn(async move { fetch(addr, "GET", "/slow", vec![]).await });
    server.slow_started.notified().await;

    let started = Instant::now();
    server.shutdown.drain(DEADLINE).await.unwrap();
    let took = started.elapsed();
    assert!(took < DEADLINE, "shutdown took {took:?}");
    assert!(server.server.await.unwrap().is_ok());

    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status, body.as_str()), (StatusCode::OK, "done"));
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}
