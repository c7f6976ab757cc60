//! A bounded HTTP/1.1 GET for the importer: one connection per request (`http://`, or
//! `https://` over TLS with the source's configured roots), a time limit, a body cap enforced
//! while reading (a peer cannot make this node buffer more than the cap).
//!
//! This module never follows redirects, never retries, never reads past the cap, and never
//! fetches an `https://` URL without checking the server's chain against the given roots.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Time allowed for one request, headers and body.
pub const TIMEOUT: Duration = super::FETCH_TIMEOUT;

/// Why a download failed (retried later; never the file's verdict).
#[derive(Debug, Error)]
pub enum FetchError {
    /// Not an `http://host[:port]/path` URL.
    #[error("bad URL {0:?}")]
    Url(String),
    /// The host could not be reached.
    #[error("cannot reach {host}: {reason}")]
    Connect {
        /// `host:port`.
        host: String,
        /// The operating system's error.
        reason: std::io::Error,
    },
    /// The TLS handshake failed (the server's chain does not lead to the roots, say).
    #[error("TLS with {host}: {reason}")]
    Tls {
        /// `host:port`.
        host: String,
        /// rustls' error.
        reason: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// A status other than 200.
    #[error("{url}: status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
    },
    /// The body is larger than the cap.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// The request took longer than [`TIMEOUT`].
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// GETs `url`, returning a body of at most `max_bytes`. An `https://` URL needs `tls` (the
/// roots its server's chain must lead to, ALPN `http/1.1`).
pub async fn get(
    url: &str,
    max_bytes: usize,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Bytes, FetchError> {
    tokio::time::timeout(TIMEOUT, get_inner(url, max_bytes, tls))
        .await
        .map_err(|_| FetchError::Timeout(TIMEOUT))?
}

async fn get_inner(
    url: &str,
    max_bytes: usize,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Bytes, FetchError> {
    let uri: Uri = url.parse().map_err(|_| FetchError::Url(url.to_owned()))?;
    let (port, tls) = match (uri.scheme_str(), tls) {
        (Some("http"), _) => (80, None),
        (Some("https"), Some(tls)) => (443, Some(tls)),
        _ => return Err(FetchError::Url(url.to_owned())),
    };
    let host = uri
        .host()
        .ok_or_else(|| FetchError::Url(url.to_owned()))?
        .to_owned();
    let authority = format!("{host}:{}", uri.port_u16().unwrap_or(port));
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let stream = TcpStream::connect(&authority)
        .await
        .map_err(|reason| FetchError::Connect {
            host: authority.clone(),
            reason,
        })?;
    match tls {
        None => exchange(TokioIo::new(stream), url, authority, path, max_bytes).await,
        Some(tls) => {
            let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
                .map_err(|_| FetchError::Url(url.to_owned()))?
                .to_owned();
            let stream = TlsConnector::from(tls.clone())
                .connect(name, stream)
                .await
                .map_err(|reason| FetchError::Tls {
                    host: authority.clone(),
                    reason,
                })?;
            exchange(TokioIo::new(stream), url, authority, path, max_bytes).await
        }
    }
}

/// The HTTP/1.1 exchange of one GET on an open connection.
async fn exchange<S>(
    io: TokioIo<S>,
    url: &str,
    authority: String,
    path: String,
    max_bytes: usize,
) -> Result<Bytes, FetchError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(header::HOST, authority)
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    if response.status() != StatusCode::OK {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: response.status(),
        });
    }
    let body = Limited::new(response.into_body(), max_bytes)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                FetchError::TooLarge(max_bytes)
            } else {
                FetchError::Http(e.to_string())
            }
        })?;
    Ok(body.to_bytes())
}
