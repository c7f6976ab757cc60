//! The client end of a backend link: a tonic channel whose connector dials TCP and runs a
//! TLS 1.3 handshake with `pki::tls::client_config`, presenting this node's certificate and
//! accepting only a server chain of the expected region.
//!
//! tonic's own TLS would build its rustls configuration itself; this connector keeps the one
//! PKI-made configuration instead. The URL's scheme selects nothing here: every link is TLS.
//! This module never connects without TLS and never skips the server check.

use std::sync::Arc;
use std::time::Duration;

use enmesh_proto::v1::replication_client::ReplicationClient;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use super::{KEEP_ALIVE, MAX_MESSAGE_BYTES};

/// How long dialling and the handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a link could not be opened.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// The URL has no host.
    #[error("peer URL {0} has no host")]
    NoHost(Uri),
    /// The URL cannot be an endpoint.
    #[error("peer URL {url}: {source}")]
    Url {
        /// The URL.
        url: Uri,
        /// tonic's complaint.
        source: tonic::transport::Error,
    },
    /// Dialling, the handshake or HTTP/2 failed.
    #[error("connecting to {url}: {source}")]
    Connect {
        /// The URL.
        url: Uri,
        /// What failed.
        source: tonic::transport::Error,
    },
}

/// A `Replication` client for `url`, over TLS configured by `tls`.
pub async fn replication_client(
    url: &Uri,
    tls: Arc<rustls::ClientConfig>,
) -> Result<ReplicationClient<Channel>, ConnectError> {
    Ok(replication_client_on(tls_channel(url, tls).await?))
}

/// A `Replication` client on an open `channel` (shared with the producer's `Audit` service).
pub fn replication_client_on(channel: Channel) -> ReplicationClient<Channel> {
    ReplicationClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A gRPC channel to `url` (host and port; `https` scheme or not) over TLS configured by `tls`,
/// the server name being the URL's host. Also the federation puller's `https://` channel.
pub async fn tls_channel(
    url: &Uri,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Channel, ConnectError> {
    let host = url
        .host()
        .ok_or_else(|| ConnectError::NoHost(url.clone()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_u16().unwrap_or(443);
    // The endpoint's own scheme must not ask tonic for TLS: the connector does it.
    let endpoint = Endpoint::from_shared(format!("http://{}", authority(&host, port)))
        .map_err(|source| ConnectError::Url {
            url: url.clone(),
            source,
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEP_ALIVE)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    let connector = TlsConnector::from(tls);
    let server_name = ServerName::try_from(host.clone())
        .map_err(|_| ConnectError::NoHost(url.clone()))?
        .to_owned();
    let dial = tower::service_fn(move |_: Uri| {
        let (connector, server_name, host) = (connector.clone(), server_name.clone(), host.clone());
        async move {
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    endpoint
        .connect_with_connector(dial)
        .await
        .map_err(|source| ConnectError::Connect {
            url: url.clone(),
            source,
        })
}

/// `host:port`, with brackets around an IPv6 host.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
