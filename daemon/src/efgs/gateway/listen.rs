//! The gateway's TLS listener: TCP accept, the mTLS handshake (member or CA-tree client, see
//! `pki::efgs`) in its own task with a deadline, and the caller's identity handed to axum as the
//! connection's address ([`MemberConn`], read by handlers through `ConnectInfo`).
//!
//! It never gives a connection an identity its certificate did not prove, never
//! runs more than [`MAX_HANDSHAKES`] handshakes at once, never lets one slow client hold the
//! accept loop, and runs its tasks only in the servers' shutdown stage (they end when it stops).

use crate::clock::SharedClock;
use crate::pki::efgs::{MemberCertKind, MemberIdentity, Members};
use crate::shutdown::ShutdownSignal;
use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls_pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Handshakes in progress at most.
pub const MAX_HANDSHAKES: usize = 256;
/// How long a client may take to finish its handshake.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Who is on a connection: its address and the identity its client certificate proved.
#[derive(Debug, Clone)]
pub struct MemberConn {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The verified caller at the handshake; `None` (answered with 403) when its certificate is
    /// missing, unknown or revoked.
    pub identity: Option<MemberIdentity>,
    /// The certificate chain it presented (checked again per request).
    pub chain: Arc<[CertificateDer<'static>]>,
}

impl Connected<IncomingStream<'_, GatewayListener>> for MemberConn {
    fn connect_info(stream: IncomingStream<'_, GatewayListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A listener that yields only verified mTLS connections.
pub struct GatewayListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, MemberConn)>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for GatewayListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl GatewayListener {
    /// Starts accepting on `listener` with `config` (from `pki::efgs::gateway_server_config`),
    /// in the stage of `stop` until it stops.
    pub fn new(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        members: Arc<Members>,
        clock: SharedClock,
        stop: ShutdownSignal,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let spawner = stop.clone();
        let accept_task = stop.clone().spawn(async move {
            loop {
                let permit = tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => return,
                    },
                    () = stop.clone().wait() => return,
                };
                let (tcp, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(error) => {
                            tracing::warn!(%error, "EFGS gateway accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = stop.clone().wait() => return,
                };
                let (acceptor, tx, members) = (acceptor.clone(), tx.clone(), members.clone());
                let now = clock.now_secs();
                let handshake_stop = spawner.clone();
                spawner.spawn(async move {
                    let _permit = permit;
                    let handshake = tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(tcp));
                    let tls = tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(error)) => {
                                tracing::info!(%peer, %error, "EFGS gateway handshake refused");
                                return;
                            }
                            Err(_) => {
                                tracing::info!(%peer, "EFGS gateway handshake timed out");
                                return;
                            }
                        },
                        () = handshake_stop.wait() => return,
                    };
                    let chain: Vec<CertificateDer<'static>> = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                        .unwrap_or_default();
                    let identity = match members.check(&chain, MemberCertKind::Authentication, now)
                    {
                        Ok(identity) => Some(identity),
                        Err(error) => {
                            tracing::warn!(%peer, %error, "EFGS caller without a member identity");
                            None
                        }
                    };
                    let conn = MemberConn {
                        peer,
                        identity,
                        chain: chain.into(),
                    };
                    let _ = tx.send((tls, conn)).await;
                });
            }
        });
        Ok(Self {
            local,
            ready,
            accept_task,
        })
    }
}

impl axum::serve::Listener for GatewayListener {
    type Io = TlsStream<TcpStream>;
    type Addr = MemberConn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(next) => next,
            // The accept task only ends when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Err(std::io::Error::other(format!(
            "the gateway listens on {}; its connections carry member identities",
            self.local
        )))
    }
}

impl GatewayListener {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.local
    }
}
