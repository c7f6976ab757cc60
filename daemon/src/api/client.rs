//! A minimal HTTP/1.1 client for enmesh's own tools (`enmesh admin`, `enmesh demo`), which talk
//! to a daemon only through its public HTTP interfaces, as an app or an operator would.
//!
//! One request per connection, whole bodies in memory: for operator commands and demos, never
//! for bulk transfer. It never retries and never follows redirects.

use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use thiserror::Error;
use tokio::net::TcpStream;

/// Why a request failed before an answer arrived.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server could not be reached.
    #[error("cannot reach {addr}: {reason}")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        reason: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP exchange with {addr} failed: {reason}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The error.
        reason: hyper::Error,
    },
    /// The request could not be built (a bad header value).
    #[error("cannot build the request: {0}")]
    Request(#[from] axum::http::Error),
}

/// An answer: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request to `addr` and returns the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(header::HeaderName, &str)],
    body: impl Into<Bytes>,
) -> Result<Answer, ClientError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|reason| ClientError::Connect { addr, reason })?;
    let http = |reason| ClientError::Http { addr, reason };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr.to_string());
    for (name, value) in headers {
        builder = builder.header(
            name,
            HeaderValue::from_str(value).map_err(axum::http::Error::from)?,
        );
    }
    let response = sender
        .send_request(builder.body(Full::new(body.into()))?)
        .await
        .map_err(http)?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(http)?.to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> Result<Answer, ClientError> {
    request(addr, Method::GET, path, &[], Bytes::new()).await
}
