//! mTLS for backend links (SP5): rustls client and server certificate verifiers that run the one
//! [`Verifier`], and configurations (TLS 1.3, ALPN `h2`, the ring provider) for tokio-rustls and
//! tonic (`serve_with_incoming` on the server, `tls_config_with_verifier` on the client).
//!
//! The TLS server name is not used to identify a peer: identity is the enmesh fields of a chain
//! that verifies. A client may pin the region it expects the server to be. These verifiers never
//! accept a handshake on a chain that [`Verifier`] rejects, and they log every rejection.

use super::identity::Credential;
use super::verify::{Rejection, Verifier};
use enmesh_protocol::region::RegionId;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    ServerConfig, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::sync::Arc;
use thiserror::Error;

/// The crypto provider of every enmesh TLS configuration (ring; one provider, see stack.md).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide rustls provider (for libraries that use the default).
/// Returns false if another provider was installed first.
pub fn install_default_provider() -> bool {
    rustls::crypto::ring::default_provider()
        .install_default()
        .is_ok()
}

fn to_rustls(rejection: Rejection) -> rustls::Error {
    tracing::warn!(reason = %rejection, "peer certificate rejected");
    let e = match rejection {
        Rejection::Expired => CertificateError::Expired,
        Rejection::NotYetValid => CertificateError::NotValidYet,
        Rejection::UnknownIssuer => CertificateError::UnknownIssuer,
        Rejection::BadSignature => CertificateError::BadSignature,
        Rejection::Revoked => CertificateError::Revoked,
        Rejection::UnknownCriticalExtension => CertificateError::UnhandledCriticalExtension,
        other => CertificateError::Other(OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(e)
}

fn chain<'a>(
    end_entity: &CertificateDer<'a>,
    intermediates: &[CertificateDer<'a>],
) -> Vec<CertificateDer<'a>> {
    let mut chain = Vec::with_capacity(1 + intermediates.len());
    chain.push(end_entity.clone());
    chain.extend(intermediates.iter().cloned());
    chain
}

/// Server side: checks a connecting client's chain (node or auditor).
#[derive(Debug)]
pub struct EnmeshClientVerifier {
    verifier: Arc<Verifier>,
    algorithms: WebPkiSupportedAlgorithms,
    hints: Vec<DistinguishedName>,
}

impl EnmeshClientVerifier {
    /// A client verifier over `verifier`.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self {
            verifier,
            algorithms: provider().signature_verification_algorithms,
            hints: Vec::new(),
        }
    }
}

impl ClientCertVerifier for EnmeshClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier
            .verify_client(&chain(end_entity, intermediates), now)
            .map_err(to_rustls)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// Client side: checks the server's chain (a node, optionally of an expected region).
#[derive(Debug)]
pub struct EnmeshServerVerifier {
    verifier: Arc<Verifier>,
    algorithms: WebPkiSupportedAlgorithms,
    expect_region: Option<RegionId>,
}

impl EnmeshServerVerifier {
    /// A server verifier over `verifier`; with `expect_region`, only that region's node passes.
    pub fn new(verifier: Arc<Verifier>, expect_region: Option<RegionId>) -> Self {
        Self {
            verifier,
            algorithms: provider().signature_verification_algorithms,
            expect_region,
        }
    }
}

impl ServerCertVerifier for EnmeshServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let peer = self
            .verifier
            .verify_node(&chain(end_entity, intermediates), now)
            .map_err(to_rustls)?;
        if let Some(expected) = &self.expect_region
            && peer.region() != Some(expected)
        {
            tracing::warn!(expected = %expected, found = ?peer.region(), "server is not the expected region");
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(TlsError::UnexpectedRegion {
                    expected: expected.clone(),
                    found: peer.region().cloned(),
                })),
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// A TLS 1.3 server configuration that presents `credential` and requires a client chain that
/// `verifier` accepts. ALPN `h2` (gRPC).
pub fn server_config(
    verifier: Arc<Verifier>,
    credential: &Credential,
) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(EnmeshClientVerifier::new(verifier)))
        .with_single_cert(credential.chain().to_vec(), credential.private_key())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// A TLS 1.3 client configuration that presents `credential` and requires a server chain that
/// `verifier` accepts as a node (of `expect_region`, if given). ALPN `h2` (gRPC).
pub fn client_config(
    verifier: Arc<Verifier>,
    credential: &Credential,
    expect_region: Option<RegionId>,
) -> Result<ClientConfig, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EnmeshServerVerifier::new(
            verifier,
            expect_region,
        )))
        .with_client_auth_cert(credential.chain().to_vec(), credential.private_key())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// A client verifier that lets a client connect without a certificate, and checks with
/// [`Verifier`] every chain a client does present (the federation listener: Google pullers
/// authenticate with a bearer token, enmesh nodes with their chain).
#[derive(Debug)]
struct OptionalClientVerifier(EnmeshClientVerifier);

impl ClientCertVerifier for OptionalClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A server configuration (TLS 1.2/1.3, ALPN `h2`) that presents `chain` with `key` and lets
/// a client connect with no certificate or with a chain that `verifier` accepts (checked again
/// per request to learn who it is).
pub fn optional_client_server_config(
    verifier: Arc<Verifier>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(OptionalClientVerifier(EnmeshClientVerifier::new(
            verifier,
        ))))
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// A client configuration (TLS 1.2/1.3, ALPN `alpn`, no client certificate) that accepts a
/// server chain leading to one of `roots` (web PKI rules, server name checked): for servers
/// outside the CA tree, such as a Google federation server (`h2`) or an export CDN
/// (`http/1.1`).
pub fn roots_client_config(
    roots: rustls::RootCertStore,
    alpn: &[u8],
) -> Result<ClientConfig, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}

/// The certificates of a PEM file as a root store (at least one must be usable).
pub fn read_roots(path: &std::path::Path) -> Result<rustls::RootCertStore, String> {
    use rustls_pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err("no usable certificate".to_owned());
    }
    Ok(roots)
}

/// Why a TLS configuration could not be built or a server was refused.
#[derive(Debug, Error)]
pub enum TlsError {
    /// rustls refused the configuration (e.g. a key it cannot use).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The server's certificate verified, but for another region than the one dialled.
    #[error("server is region {found:?}, expected {expected}")]
    UnexpectedRegion {
        /// The region the client dialled.
        expected: RegionId,
        /// The region in the server's certificate.
        found: Option<RegionId>,
    },
}
