//! A small HTTP/1.1 client for the agent's calls to backends' public APIs: plain `http://` or
//! `https://` with rustls (trusting the CA certificates given in the config; there is no
//! built-in root store), one request per connection, a timeout on every exchange and a cap on
//! every body read, so a hostile server can neither hang the agent nor fill its memory.
//!
//! It never retries, never follows redirects and never sends anything but what its caller gives.

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpStream;

/// How long one exchange may take, connect to last body byte.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request failed.
#[derive(Debug, Error)]
pub enum HttpError {
    /// The URL is not `http://host[:port][/path]` or `https://…`.
    #[error("bad URL {0:?}: expected http://host[:port][/path] or https://…")]
    BadUrl(String),
    /// `https://` without any trusted CA certificate.
    #[error("{0}: https needs ca_cert in the region's config (there is no built-in root store)")]
    NoRoots(String),
    /// The CA certificate file could not be read.
    #[error("CA certificates {path}: {reason}")]
    Roots {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("{url}: {reason}")]
    Io {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The exchange took longer than [`TIMEOUT`].
    #[error("{0}: no complete answer within {TIMEOUT:?}")]
    Timeout(String),
    /// The body was larger than allowed.
    #[error("{url}: answer larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// The server answered with a status other than the one expected.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
}

/// A server base URL with its TLS settings.
#[derive(Clone)]
pub struct Server {
    base: String,
    scheme_https: bool,
    host: String,
    port: u16,
    base_path: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("base", &self.base).finish()
    }
}

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Server {
    /// A server at `url`, trusting the CA certificates in `ca_cert` for `https`.
    pub fn new(url: &str, ca_cert: Option<&Path>) -> Result<Self, HttpError> {
        let bad = || HttpError::BadUrl(url.to_owned());
        let uri: Uri = url.parse().map_err(|_| bad())?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad()),
        };
        let host = uri.host().ok_or_else(bad)?.to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if uri.query().is_some() {
            return Err(bad());
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let tls = if https {
            let path = ca_cert.ok_or_else(|| HttpError::NoRoots(url.to_owned()))?;
            Some(Arc::new(client_config(path)?))
        } else {
            None
        };
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            scheme_https: https,
            host,
            port,
            base_path,
            tls,
        })
    }

    /// The base URL as given.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`; the body must fit in `limit` bytes.
    pub async fn get(&self, path: &str, limit: usize) -> Result<Answer, HttpError> {
        self.exchange(Method::GET, path, None, limit).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: Vec<u8>,
        limit: usize,
    ) -> Result<Answer, HttpError> {
        self.exchange(Method::POST, path, Some(body), limit).await
    }

    /// `GET path`, requiring 200.
    pub async fn get_ok(&self, path: &str, limit: usize) -> Result<Bytes, HttpError> {
        let answer = self.get(path, limit).await?;
        if answer.status != StatusCode::OK {
            return Err(self.status_error(path, &answer));
        }
        Ok(answer.body)
    }

    /// The error for an unexpected answer.
    pub fn status_error(&self, path: &str, answer: &Answer) -> HttpError {
        HttpError::Status {
            url: format!("{}{path}", self.base),
            status: answer.status,
            body: String::from_utf8_lossy(&answer.body)
                .chars()
                .take(300)
                .collect(),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Answer, HttpError> {
        let url = format!("{}{path}", self.base);
        match tokio::time::timeout(
            TIMEOUT,
            self.exchange_inner(&url, method, path, body, limit),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout(url)),
        }
    }

    async fn exchange_inner(
        &self,
        url: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Answer, HttpError> {
        let io = |reason: String| HttpError::Io {
            url: url.to_owned(),
            reason,
        };
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| io(e.to_string()))?;
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_path))
            .header(header::HOST, format!("{}:{}", self.host, self.port))
            .header(header::USER_AGENT, "ble-agent");
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| io(e.to_string()))?;
        let response = match (&self.tls, self.scheme_https) {
            (Some(tls), true) => {
                let name =
                    ServerName::try_from(self.host.clone()).map_err(|e| io(e.to_string()))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| io(e.to_string()))?;
                send(TokioIo::new(stream), request).await
            }
            _ => send(TokioIo::new(tcp), request).await,
        }
        .map_err(|e| io(e.to_string()))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    HttpError::TooLarge {
                        url: url.to_owned(),
                        limit,
                    }
                } else {
                    io(e.to_string())
                }
            })?
            .to_bytes();
        Ok(Answer { status, body })
    }
}

async fn send<T>(
    io: TokioIo<T>,
    request: Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    sender.send_request(request).await
}

fn client_config(path: &Path) -> Result<rustls::ClientConfig, HttpError> {
    let roots_error = |reason: String| HttpError::Roots {
        path: path.display().to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| roots_error(e.to_string()))? {
        let cert = cert.map_err(|e| roots_error(e.to_string()))?;
        roots.add(cert).map_err(|e| roots_error(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(roots_error("no certificate in the file".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| roots_error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
