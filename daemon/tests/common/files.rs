//! A small real HTTP file server for the importer tests: serves whatever the test put at a path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;

/// Files by path (`/dir/index.txt`), changeable while the server runs.
#[derive(Clone, Default)]
pub struct Files {
    files: Arc<Mutex<HashMap<String, Bytes>>>,
    /// How many times each path was fetched.
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
    /// Milliseconds every answer waits before it is sent.
    pub delay_ms: Arc<AtomicU64>,
}

impl Files {
    /// Puts `body` at `path`.
    pub fn put(&self, path: &str, body: impl Into<Bytes>) {
        self.files
            .lock()
            .unwrap()
            .insert(path.to_owned(), body.into());
    }

    /// Times `path` was fetched.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Serves on 127.0.0.1:0; returns the address.
    pub async fn serve(&self) -> SocketAddr {
        let router = self.router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    /// Serves HTTP/1.1 over TLS (`config`) on 127.0.0.1:0; returns the address. A refused
    /// handshake just closes that connection.
    #[allow(dead_code)]
    pub async fn serve_tls(&self, config: Arc<rustls::ServerConfig>) -> SocketAddr {
        let router = self.router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        addr
    }

    fn router(&self) -> Router {
        let files = self.clone();
        Router::new().fallback(move |uri: Uri| {
            let files = files.clone();
            async move {
                let path = uri.path().to_owned();
                let delay = files.delay_ms.load(Ordering::Relaxed);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                *files.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                match files.files.lock().unwrap().get(&path) {
                    Some(body) => (StatusCode::OK, body.clone()).into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        })
    }
}
