//! mTLS over loopback with certificates from the enmesh CA tree: a real tokio-rustls handshake in
//! which both sides run the enmesh verifiers, and handshakes that must fail.

use enmesh_daemon::pki::issue::pem;
use enmesh_daemon::pki::tls::{self, EnmeshServerVerifier};
use enmesh_daemon::pki::{CaKey, Credential, NodeRequest, Role, TlsError, Validity, Verifier};
use enmesh_protocol::region::RegionId;
use rustls::{CertificateError, ClientConfig};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

struct Tree {
    root: CaKey,
    eu: CaKey,
}

impl Tree {
    fn new(root_name: &str) -> Self {
        let validity = Validity::days_from(OffsetDateTime::now_utc(), 30).unwrap();
        let root = CaKey::init_root(root_name, validity).unwrap();
        let eu = root
            .issue_cluster(&"EU".parse().unwrap(), validity)
            .unwrap();
        Self { root, eu }
    }

    fn node(&self, region: &str) -> Credential {
        let validity = Validity::days_from(OffsetDateTime::now_utc(), 30).unwrap();
        let (csr, key) = NodeRequest::generate(region).unwrap();
        let region: RegionId = region.parse().unwrap();
        let cert = self
            .eu
            .issue_node(&NodeRequest::from_pem(&csr).unwrap(), &region, validity)
            .unwrap();
        let cert_pem = pem("CERTIFICATE", &cert);
        Credential::from_pem(
            key.as_bytes(),
            &[cert_pem.as_bytes(), self.eu.cert_pem().as_bytes()],
        )
        .unwrap()
    }

    fn verifier(&self) -> Arc<Verifier> {
        Arc::new(Verifier::new(self.root.cert().clone(), &[]).unwrap())
    }
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from("node.enmesh.invalid").unwrap()
}

type Chain = Vec<CertificateDer<'static>>;

/// Runs one handshake over loopback; the server answers "pong" to "ping". Returns the client
/// chain the server saw, and what the client read.
async fn handshake(
    server: rustls::ServerConfig,
    client: ClientConfig,
) -> (std::io::Result<Chain>, std::io::Result<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let mut ping = [0u8; 4];
        tls.read_exact(&mut ping).await?;
        tls.write_all(b"pong").await?;
        tls.shutdown().await?;
        Ok::<_, std::io::Error>(
            tls.get_ref()
                .1
                .peer_certificates()
                .unwrap_or_default()
                .to_vec(),
        )
    });
    let client_result = async {
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = TlsConnector::from(Arc::new(client))
            .connect(server_name(), tcp)
            .await?;
        tls.write_all(b"ping").await?;
        let mut pong = Vec::new();
        tls.read_to_end(&mut pong).await?;
        Ok(pong)
    }
    .await;
    (server_task.await.unwrap(), client_result)
}

fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

#[tokio::test]
async fn full_chains_pass_both_verifiers_in_a_real_handshake() {
    let tree = Tree::new("enmesh test root");
    let verifier = tree.verifier();
    let de = tree.node("DE");
    let fr = tree.node("FR");
    let server = tls::server_config(verifier.clone(), &de).unwrap();
    let client = tls::client_config(verifier.clone(), &fr, Some("DE".parse().unwrap())).unwrap();
    let (server_side, client_side) = handshake(server, client).await;
    assert_eq!(client_side.unwrap(), b"pong");
    let chain = server_side.unwrap();
    let peer = verifier.verify_client(&chain, UnixTime::now()).unwrap();
    assert_eq!(peer.role(), Role::Node);
    assert_eq!(peer.region(), Some(&"FR".parse().unwrap()));
}

#[tokio::test]
async fn a_client_from_another_root_fails_the_handshake() {
    let tree = Tree::new("enmesh test root");
    let other = Tree::new("impostor root");
    let server = tls::server_config(tree.verifier(), &tree.node("DE")).unwrap();
    // The client trusts the real root (so it accepts the server) but holds a foreign chain.
    let client = tls::client_config(tree.verifier(), &other.node("FR"), None).unwrap();
    let (server_side, client_side) = handshake(server, client).await;
    let err = server_side.unwrap_err();
    assert!(
        matches!(
            rustls_error(&err),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
    assert!(
        client_side.is_err(),
        "client must not get data: {client_side:?}"
    );
}

#[tokio::test]
async fn a_client_without_a_certificate_fails_the_handshake() {
    let tree = Tree::new("enmesh test root");
    let server = tls::server_config(tree.verifier(), &tree.node("DE")).unwrap();
    let client = ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EnmeshServerVerifier::new(
            tree.verifier(),
            None,
        )))
        .with_no_client_auth();
    let (server_side, client_side) = handshake(server, client).await;
    let err = server_side.unwrap_err();
    assert!(
        matches!(
            rustls_error(&err),
            Some(rustls::Error::NoCertificatesPresented)
        ),
        "{err:?}"
    );
    assert!(client_side.is_err());
}

#[tokio::test]
async fn a_client_rejects_a_server_of_another_region() {
    let tree = Tree::new("enmesh test root");
    let verifier = tree.verifier();
    let server = tls::server_config(verifier.clone(), &tree.node("DE")).unwrap();
    let client =
        tls::client_config(verifier, &tree.node("FR"), Some("IT".parse().unwrap())).unwrap();
    let (_, client_side) = handshake(server, client).await;
    let err = client_side.unwrap_err();
    let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) =
        rustls_error(&err)
    else {
        panic!("wrong error {err:?}");
    };
    match other.0.downcast_ref::<TlsError>() {
        Some(TlsError::UnexpectedRegion { expected, found }) => {
            assert_eq!(expected, &"IT".parse::<RegionId>().unwrap());
            assert_eq!(found, &Some("DE".parse().unwrap()));
        }
        reason => panic!("wrong reason {reason:?}"),
    }
}
