//! The CA side of the enmesh PKI: a root, cluster CAs, node key requests, node and auditor
//! certificates, and CRLs. Used by `enmesh pki`; the daemon itself never issues.
//!
//! A CA decides every field it signs from its own configuration: a request (CSR) contributes its
//! public key and nothing else (its subject and requested extensions are ignored). A cluster CA
//! signs only end-entity certificates of its own cluster (path length 0), the root signs only
//! cluster CAs. All keys are Ed25519. This module never reads or writes files.

use super::fields::{EnmeshFields, FieldsError, Role, ed25519_key, parse_der};
use enmesh_protocol::region::{ClusterId, RegionId};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CertificateSigningRequestParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ED25519,
    PublicKeyData, RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use thiserror::Error;
use time::{Duration, OffsetDateTime};

/// How far before "now" a new certificate starts, to absorb clock skew between machines.
pub const BACKDATE: Duration = Duration::minutes(5);

/// The validity window of a certificate or CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl Validity {
    /// An explicit window; `not_after` must be later than `not_before`.
    pub fn new(
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Self, CertIssueError> {
        if not_after <= not_before {
            return Err(CertIssueError::EmptyValidity);
        }
        Ok(Self {
            not_before,
            not_after,
        })
    }

    /// `days` days from `now` (started [`BACKDATE`] earlier).
    pub fn days_from(now: OffsetDateTime, days: u32) -> Result<Self, CertIssueError> {
        if days == 0 {
            return Err(CertIssueError::EmptyValidity);
        }
        Self::new(now - BACKDATE, now + Duration::days(i64::from(days)))
    }

    /// Start of the window.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of the window.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }
}

/// A node's (or auditor's) certificate request: its own Ed25519 public key, signed by itself.
#[derive(Debug)]
pub struct NodeRequest {
    params: CertificateSigningRequestParams,
}

impl NodeRequest {
    /// Generates a fresh Ed25519 key and a request for it. Returns the request and the private
    /// key as PKCS#8 PEM (which must stay on the node).
    pub fn generate(name: &str) -> Result<(String, String), CertIssueError> {
        let key = KeyPair::generate_for(&PKCS_ED25519)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(name);
        let csr = params.serialize_request(&key)?;
        Ok((csr.pem()?, key.serialize_pem()))
    }

    /// Parses a request and checks its self-signature and that its key is Ed25519.
    pub fn from_pem(pem: &str) -> Result<Self, CertIssueError> {
        let params =
            CertificateSigningRequestParams::from_pem(pem).map_err(CertIssueError::BadCsr)?;
        if params.public_key.algorithm() != &PKCS_ED25519 {
            return Err(CertIssueError::KeyNotEd25519);
        }
        Ok(Self { params })
    }
}

/// A certificate authority (root or cluster CA): its certificate, fields and signing key.
pub struct CaKey {
    cert: CertificateDer<'static>,
    fields: EnmeshFields,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKey")
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl CaKey {
    /// Creates a self-signed root CA with a fresh key.
    pub fn init_root(name: &str, validity: Validity) -> Result<Self, CertIssueError> {
        let key = KeyPair::generate_for(&PKCS_ED25519)?;
        let fields = EnmeshFields::root();
        let params = ca_params(name, &fields, validity, BasicConstraints::Constrained(1))?;
        let cert = params.self_signed(&key)?.der().clone();
        Ok(Self {
            cert,
            fields,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA from its certificate and private key (PEM), checking that they belong together
    /// and that the certificate is a root or cluster CA.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertIssueError> {
        use rustls_pki_types::pem::PemObject;
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|_| CertIssueError::BadPem("CA certificate"))?;
        let key =
            KeyPair::from_pem(key_pem).map_err(|_| CertIssueError::BadPem("CA private key"))?;
        let parsed = parse_der(&cert)?;
        let fields = EnmeshFields::from_cert(&parsed)?;
        if !matches!(fields.role(), Role::Root | Role::ClusterCa) || !parsed.is_ca() {
            return Err(CertIssueError::NotACa(fields.role()));
        }
        if ed25519_key(&parsed)?.as_slice() != key.public_key_raw() {
            return Err(CertIssueError::KeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_der(&cert, key)?;
        Ok(Self {
            cert,
            fields,
            issuer,
        })
    }

    /// The CA certificate (DER).
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA's enmesh fields.
    pub fn fields(&self) -> &EnmeshFields {
        &self.fields
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", &self.cert)
    }

    /// The CA's private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Issues a cluster CA (with a fresh key) for `cluster`. Only the root may.
    pub fn issue_cluster(
        &self,
        cluster: &ClusterId,
        validity: Validity,
    ) -> Result<Self, CertIssueError> {
        self.require_root()?;
        let key = KeyPair::generate_for(&PKCS_ED25519)?;
        let fields = EnmeshFields::cluster_ca(cluster.clone());
        let name = format!("enmesh cluster CA {cluster}");
        let params = ca_params(&name, &fields, validity, BasicConstraints::Constrained(0))?;
        let cert = params.signed_by(&key, &self.issuer)?.der().clone();
        Ok(Self {
            cert,
            fields,
            issuer: Issuer::new(params, key),
        })
    }

    /// Issues a node certificate for `region` in this cluster CA's cluster.
    pub fn issue_node(
        &self,
        request: &NodeRequest,
        region: &RegionId,
        validity: Validity,
    ) -> Result<CertificateDer<'static>, CertIssueError> {
        let cluster = self.require_cluster_ca()?;
        let fields = EnmeshFields::node(cluster, region.clone());
        self.issue_leaf(
            &request.params.public_key,
            &format!("enmesh node {region}"),
            &fields,
            validity,
            Vec::new(),
        )
    }

    /// Issues a read-only auditor certificate (no region) in this cluster CA's cluster.
    pub fn issue_auditor(
        &self,
        request: &NodeRequest,
        name: &str,
        validity: Validity,
    ) -> Result<CertificateDer<'static>, CertIssueError> {
        let cluster = self.require_cluster_ca()?;
        let fields = EnmeshFields::auditor(cluster);
        self.issue_leaf(
            &request.params.public_key,
            &format!("enmesh auditor {name}"),
            &fields,
            validity,
            Vec::new(),
        )
    }

    /// Signs an end-entity certificate with exactly these fields and extra extensions. The
    /// public entry points above choose the fields; tests use this to forge bad certificates.
    pub(crate) fn issue_leaf(
        &self,
        public_key: &impl PublicKeyData,
        name: &str,
        fields: &EnmeshFields,
        validity: Validity,
        extra: Vec<CustomExtension>,
    ) -> Result<CertificateDer<'static>, CertIssueError> {
        let mut params = base_params(name, fields, validity)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match fields.role() {
            Role::Node => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            _ => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        params.custom_extensions = extra;
        Ok(params.signed_by(public_key, &self.issuer)?.der().clone())
    }

    /// Signs a CRL listing `revoked` (serial, revocation time) with CRL number `number`.
    pub fn crl(
        &self,
        revoked: &[(Vec<u8>, OffsetDateTime)],
        number: u64,
        validity: Validity,
    ) -> Result<CertificateRevocationListDer<'static>, CertIssueError> {
        let params = CertificateRevocationListParams {
            this_update: validity.not_before,
            next_update: validity.not_after,
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|(serial, at)| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: *at,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.der().clone())
    }

    /// Checks this CA is the root.
    fn require_root(&self) -> Result<(), CertIssueError> {
        match self.fields.role() {
            Role::Root => Ok(()),
            have => Err(CertIssueError::WrongIssuer {
                need: Role::Root,
                have,
            }),
        }
    }

    /// Checks this CA is a cluster CA and returns its cluster.
    fn require_cluster_ca(&self) -> Result<ClusterId, CertIssueError> {
        match (self.fields.role(), self.fields.cluster()) {
            (Role::ClusterCa, Some(cluster)) => Ok(cluster.clone()),
            (have, _) => Err(CertIssueError::WrongIssuer {
                need: Role::ClusterCa,
                have,
            }),
        }
    }
}

/// PEM text of one DER object.
pub fn pem(label: &str, der: &[u8]) -> String {
    use std::fmt::Write;
    let b64 = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        let _ = writeln!(out, "{}", String::from_utf8_lossy(chunk));
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "enmesh");
    dn.push(DnType::CommonName, name);
    dn
}

fn base_params(
    name: &str,
    fields: &EnmeshFields,
    validity: Validity,
) -> Result<CertificateParams, CertIssueError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(name);
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
    params.subject_alt_names = fields
        .to_uris()
        .into_iter()
        .map(|u| Ia5String::try_from(u).map(SanType::URI))
        .collect::<Result<_, _>>()?;
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn ca_params(
    name: &str,
    fields: &EnmeshFields,
    validity: Validity,
    path_len: BasicConstraints,
) -> Result<CertificateParams, CertIssueError> {
    let mut params = base_params(name, fields, validity)?;
    params.is_ca = IsCa::Ca(path_len);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// 16 random bytes, positive and without a leading zero byte.
fn random_serial() -> Result<[u8; 16], CertIssueError> {
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|_| CertIssueError::Random)?;
    serial[0] = (serial[0] & 0x7f).max(1);
    Ok(serial)
}

/// Why a certificate, request or CRL could not be issued.
#[derive(Debug, Error)]
pub enum CertIssueError {
    /// A validity window that ends before it starts (or zero days).
    #[error("empty validity window (not_after must be after not_before; days must be > 0)")]
    EmptyValidity,
    /// A PEM input that does not hold what it should.
    #[error("{0} is not valid PEM of the expected type")]
    BadPem(&'static str),
    /// A certificate request that does not parse or whose self-signature is wrong.
    #[error("bad certificate request: {0}")]
    BadCsr(rcgen::Error),
    /// A request for a key that is not Ed25519.
    #[error("certificate request key is not Ed25519")]
    KeyNotEd25519,
    /// The CA certificate's enmesh fields are missing or wrong.
    #[error("CA certificate: {0}")]
    Fields(#[from] FieldsError),
    /// The certificate given as CA is not a CA.
    #[error("certificate with role {0} is not a CA")]
    NotACa(Role),
    /// The private key does not belong to the CA certificate.
    #[error("private key does not match the CA certificate's public key")]
    KeyMismatch,
    /// The CA may not issue this (root issues cluster CAs, cluster CAs issue nodes and auditors).
    #[error("this needs a {need} CA, but the given CA is a {have}")]
    WrongIssuer {
        /// The role required to issue this.
        need: Role,
        /// The role of the given CA.
        have: Role,
    },
    /// The OS random source failed.
    #[error("operating system random source failed")]
    Random,
    /// rcgen refused to build or sign.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}
