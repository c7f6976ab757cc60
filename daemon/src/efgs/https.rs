//! One HTTPS/1.1 request per connection, for the EFGS client and the gateway's callbacks: TCP,
//! TLS with a given rustls client configuration (a member certificate, the trusted roots), the
//! exchange, the whole answer in memory up to a limit.
//!
//! It never follows redirects, never retries (callers decide), and never reads an answer body
//! beyond [`MAX_ANSWER_BYTES`] or waits past [`DEADLINE`].

use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Largest answer body read.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;
/// Longest one exchange may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Why a request got no answer.
#[derive(Debug, Error)]
pub enum HttpsError {
    /// The URL has no host or is not https.
    #[error("bad URL {0}")]
    Url(String),
    /// TCP or TLS failed.
    #[error("cannot connect to {host}: {reason}")]
    Connect {
        /// The host.
        host: String,
        /// Why.
        reason: std::io::Error,
    },
    /// The HTTP exchange failed or the body was too large.
    #[error("HTTP exchange failed: {0}")]
    Http(String),
    /// No answer within [`DEADLINE`].
    #[error("no answer within {DEADLINE:?}")]
    Timeout,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Answer {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `method` to `base` + `path_and_query` with `headers` and `body`.
pub async fn request(
    tls: Arc<rustls::ClientConfig>,
    base: &Uri,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<Answer, HttpsError> {
    tokio::time::timeout(
        DEADLINE,
        exchange(tls, base, method, path_and_query, headers, body),
    )
    .await
    .map_err(|_| HttpsError::Timeout)?
}

async fn exchange(
    tls: Arc<rustls::ClientConfig>,
    base: &Uri,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<Answer, HttpsError> {
    let host = base
        .host()
        .ok_or_else(|| HttpsError::Url(base.to_string()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if base.scheme_str() != Some("https") {
        return Err(HttpsError::Url(base.to_string()));
    }
    let port = base.port_u16().unwrap_or(443);
    let connect = |reason| HttpsError::Connect {
        host: host.clone(),
        reason,
    };
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(connect)?;
    let name = ServerName::try_from(host.clone()).map_err(|_| HttpsError::Url(host.clone()))?;
    let stream = TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(connect)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| HttpsError::Http(e.to_string()))?;
    tokio::spawn(connection);
    let prefix = base.path().trim_end_matches('/');
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{prefix}{path_and_query}"))
        .header(header::HOST, format!("{host}:{port}"));
    for (name, value) in headers {
        let value = HeaderValue::from_str(value).map_err(|e| HttpsError::Http(e.to_string()))?;
        builder = builder.header(*name, value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| HttpsError::Http(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| HttpsError::Http(e.to_string()))?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| HttpsError::Http(e.to_string()))?
        .to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}
