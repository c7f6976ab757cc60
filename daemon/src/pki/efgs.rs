//! EFGS member certificates: the allow-list an EFGS gateway keeps (formats.md §g.1, §g.5 step 7),
//! and the rustls client verifier of the `[efgs_gateway]` listener.
//!
//! A member keeps the certificates it used with the EU gateway: its TLS client ("authentication")
//! certificate and its batch signing certificate. Each is configured by file; a certificate is
//! accepted when its SHA-256 thumbprint is configured, its subject `C` is the configured country
//! and it is within its validity. As at EFGS, the chain of a member certificate is not validated
//! (a thumbprint allow-list). A node certificate of the CA tree is accepted too, through the one
//! [`Verifier`]; its country is its region's country.
//!
//! This module never accepts a member certificate by its subject alone, never takes a country from
//! a request header, and never accepts a CA-tree chain the [`Verifier`] rejects.

use super::fields::parse_der;
use super::verify::Verifier;
use enmesh_protocol::region::Country;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use thiserror::Error;

/// What a member certificate is configured for (the EFGS trusted-certificate `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberCertKind {
    /// The mTLS client certificate.
    Authentication,
    /// The batch signing certificate.
    Signing,
}

/// One configured member certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCert {
    /// The member's country.
    pub country: Country,
    /// Authentication or signing.
    pub kind: MemberCertKind,
    /// Lowercase hex SHA-256 of the DER.
    pub thumbprint: String,
    /// The DER.
    pub der: Vec<u8>,
}

/// Who a checked certificate belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberIdentity {
    /// The country (`C` of a member certificate; a CA-tree node's region country).
    pub country: Country,
    /// Lowercase hex SHA-256 of the certificate DER.
    pub thumbprint: String,
    /// The region of a CA-tree node (`None` for a configured member).
    pub ca_tree: Option<enmesh_protocol::region::RegionId>,
}

/// Why a member certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemberRejection {
    /// Not a DER certificate.
    #[error("not a DER certificate")]
    BadDer,
    /// The subject has no (single, known) `C`.
    #[error("the subject has no ISO 3166 country C")]
    NoCountry,
    /// Outside notBefore..notAfter.
    #[error("the certificate is not within its validity")]
    Validity,
    /// Its thumbprint, country and kind are not in the configured list (and no CA-tree chain).
    #[error(
        "certificate {thumbprint} of country {country} is not a configured member {kind:?} certificate"
    )]
    Unknown {
        /// The thumbprint.
        thumbprint: String,
        /// The C of its subject.
        country: String,
        /// What it was presented as.
        kind: MemberCertKind,
    },
    /// A CA-tree chain that the verifier rejected, or a CA-tree certificate without a country.
    #[error("CA tree: {0}")]
    CaTree(String),
}

/// Lowercase hex SHA-256 of a certificate's DER (the EFGS thumbprint).
pub fn thumbprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The single ISO 3166 alpha-2 `C` of a certificate's subject.
pub fn subject_country(der: &[u8]) -> Result<Country, MemberRejection> {
    let cert = parse_der(der).map_err(|_| MemberRejection::BadDer)?;
    let mut countries = cert.subject().iter_country();
    let first = countries.next().ok_or(MemberRejection::NoCountry)?;
    if countries.next().is_some() {
        return Err(MemberRejection::NoCountry);
    }
    let text = first.as_str().map_err(|_| MemberRejection::NoCountry)?;
    Country::from_alpha2(text).ok_or(MemberRejection::NoCountry)
}

/// The configured members plus the CA tree.
#[derive(Debug)]
pub struct Members {
    certs: Vec<MemberCert>,
    verifier: Arc<Verifier>,
}

impl Members {
    /// A member list. Each certificate's `C` must be its configured country.
    pub fn new(certs: Vec<MemberCert>, verifier: Arc<Verifier>) -> Result<Self, MemberRejection> {
        for cert in &certs {
            let country = subject_country(&cert.der)?;
            if country != cert.country {
                return Err(MemberRejection::Unknown {
                    thumbprint: cert.thumbprint.clone(),
                    country: country.alpha2().to_owned(),
                    kind: cert.kind,
                });
            }
        }
        Ok(Self { certs, verifier })
    }

    /// The configured certificates.
    pub fn certs(&self) -> &[MemberCert] {
        &self.certs
    }

    /// Checks a certificate presented as `kind` at `now_secs`: a configured member certificate
    /// (thumbprint + C + kind, within validity), else a node chain of the CA tree (`chain` is the
    /// end entity first; for a signing certificate there is no intermediate: a CA-tree signer must
    /// then verify with the chain the verifier already knows).
    pub fn check(
        &self,
        chain: &[CertificateDer<'_>],
        kind: MemberCertKind,
        now_secs: u64,
    ) -> Result<MemberIdentity, MemberRejection> {
        let end_entity = chain.first().ok_or(MemberRejection::BadDer)?;
        let der = end_entity.as_ref();
        let parsed = parse_der(der).map_err(|_| MemberRejection::BadDer)?;
        let print = thumbprint(der);
        let configured = self
            .certs
            .iter()
            .find(|c| c.kind == kind && c.thumbprint == print);
        if let Some(member) = configured {
            let country = subject_country(der)?;
            if country != member.country {
                return Err(MemberRejection::Unknown {
                    thumbprint: print,
                    country: country.alpha2().to_owned(),
                    kind,
                });
            }
            let at = i64::try_from(now_secs).unwrap_or(i64::MAX);
            let valid = x509_parser::time::ASN1Time::from_timestamp(at)
                .map(|t| parsed.validity().is_valid_at(t))
                .unwrap_or(false);
            if !valid {
                return Err(MemberRejection::Validity);
            }
            return Ok(MemberIdentity {
                country,
                thumbprint: print,
                ca_tree: None,
            });
        }
        let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now_secs));
        match self.verifier.verify_node(chain, now) {
            Ok(peer) => {
                let country = peer
                    .region()
                    .and_then(|r| r.country_part())
                    .ok_or_else(|| MemberRejection::CaTree("node without a country".into()))?;
                Ok(MemberIdentity {
                    country,
                    thumbprint: print,
                    ca_tree: peer.region().cloned(),
                })
            }
            Err(rejection) if chain.len() > 1 => {
                Err(MemberRejection::CaTree(rejection.to_string()))
            }
            Err(_) => Err(MemberRejection::Unknown {
                thumbprint: print,
                country: subject_country(der)
                    .map(|c| c.alpha2().to_owned())
                    .unwrap_or_default(),
                kind,
            }),
        }
    }
}

/// The gateway listener's client verifier. It lets every handshake that proves possession of
/// its certificate's key through, because EFGS answers unknown callers with HTTP 403: the
/// listener then decides with [`Members::check`] (a member's authentication certificate or a
/// CA-tree node chain) and the gateway refuses a connection without an identity. Any signature
/// scheme rustls's ring provider verifies (members use RSA and ECDSA).
#[derive(Debug)]
pub struct MemberClientVerifier {
    members: Arc<Members>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl MemberClientVerifier {
    /// A verifier over `members`.
    pub fn new(members: Arc<Members>) -> Self {
        Self {
            members,
            algorithms: super::tls::provider().signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for MemberClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        // EFGS answers a missing or unknown client certificate with HTTP 403, not a TLS alert.
        false
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The handshake proceeds (rustls still checks the client's signature with this key);
        // the listener asks [`Members::check`] again and the gateway answers 403 to a connection
        // whose certificate is not a member's or the CA tree's.
        let mut chain = vec![end_entity.clone()];
        chain.extend(intermediates.iter().cloned());
        if let Err(rejection) =
            self.members
                .check(&chain, MemberCertKind::Authentication, now.as_secs())
        {
            tracing::warn!(reason = %rejection, "EFGS client certificate is not a member's");
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS server configuration of the gateway listener: presents `chain`/`key` (the node's
/// credential, or a configured server certificate) and requires a member or CA-tree client.
/// TLS 1.2 and 1.3 (EFGS clients of 2020 speak 1.2), ALPN `http/1.1`.
pub fn gateway_server_config(
    members: Arc<Members>,
    chain: Vec<CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(super::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(Arc::new(MemberClientVerifier::new(members)))
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
