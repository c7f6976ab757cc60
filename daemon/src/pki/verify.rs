//! The one certificate verifier of the daemon: chain to the configured root, validity at a given
//! time, path length, key usage, revocation by CRL, and the enmesh rules on top.
//!
//! Checks, in order: webpki path building and verification (Ed25519 signatures only; expired,
//! not-yet-valid, unknown issuer, end entity used as CA, path length, unknown critical extension,
//! extended key usage clientAuth (which every enmesh leaf carries), revocation of the leaf and the cluster CA by the CRLs given); then the
//! enmesh rules: the issuer of the leaf is a cluster CA, the leaf's cluster equals that CA's
//! cluster, the leaf has an allowed role, and its key is Ed25519. Who may act as a TLS server,
//! batch signer or libp2p peer is decided by the enmesh role (nodes only), not by EKU.
//! It returns a [`VerifiedPeer`] that only this module can build. It never reads the clock (the
//! time is passed in), never reads files, and never trusts what a peer says about itself.

use super::fields::{EnmeshFields, FieldsError, Role, ed25519_key, parse_der, peer_id_of};
use enmesh_protocol::region::{ClusterId, RegionId};
use libp2p_identity::PeerId;
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, SignatureVerificationAlgorithm, TrustAnchor,
    UnixTime,
};
use sha2::Digest;
use std::sync::{PoisonError, RwLock};
use thiserror::Error;
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};

/// The only signature algorithm of the enmesh CA tree.
static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[webpki::ring::ED25519];

/// A certificate chain that passed every check: who the peer is, according to the CA tree.
#[derive(Debug, Clone)]
pub struct VerifiedPeer {
    role: Role,
    cluster: ClusterId,
    region: Option<RegionId>,
    key: ed25519_dalek::VerifyingKey,
    peer_id: PeerId,
    serial: Vec<u8>,
    fingerprint: [u8; 32],
}

impl VerifiedPeer {
    /// The peer's role ([`Role::Node`] or [`Role::Auditor`]).
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's cluster (equal to its issuing cluster CA's).
    pub fn cluster(&self) -> &ClusterId {
        &self.cluster
    }

    /// The peer's region (always present for nodes, absent for auditors).
    pub fn region(&self) -> Option<&RegionId> {
        self.region.as_ref()
    }

    /// The peer's Ed25519 public key.
    pub fn public_key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.key
    }

    /// The libp2p PeerId of the peer's key.
    pub fn peer_id(&self) -> &PeerId {
        &self.peer_id
    }

    /// The certificate serial number.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// SHA-256 of the end-entity certificate's DER (what the replication log records).
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }
}

/// Checks certificate chains against one root and its CRLs.
#[derive(Debug)]
pub struct Verifier {
    root: CertificateDer<'static>,
    anchors: Vec<TrustAnchor<'static>>,
    /// Replaced whole by [`Verifier::replace_crls`]; every check reads the current list.
    crls: RwLock<Vec<CertRevocationList<'static>>>,
}

impl Verifier {
    /// A verifier trusting `root` (which must be an enmesh root CA) and honouring `crls`.
    ///
    /// Revocation is checked for the leaf and the cluster CA. A CA without a CRL here is treated
    /// as having revoked nothing; an expired CRL is still used (a stale list is better than none).
    pub fn new(
        root: CertificateDer<'static>,
        crls: &[CertificateRevocationListDer<'_>],
    ) -> Result<Self, TrustError> {
        let parsed = parse_der(&root).map_err(TrustError::Root)?;
        let fields = EnmeshFields::from_cert(&parsed).map_err(TrustError::Root)?;
        if fields.role() != Role::Root || !parsed.is_ca() {
            return Err(TrustError::NotARoot(fields.role()));
        }
        let anchor = webpki::anchor_from_trusted_cert(&root)
            .map_err(TrustError::Anchor)?
            .to_owned();
        Ok(Self {
            root,
            anchors: vec![anchor],
            crls: RwLock::new(parse_crls(crls)?),
        })
    }

    /// Checks every chain against `crls` from now on, instead of the CRLs it had (a CRL
    /// directory read again). Fails, keeping the old list, if one of them does not parse.
    pub fn replace_crls(
        &self,
        crls: &[CertificateRevocationListDer<'_>],
    ) -> Result<(), TrustError> {
        let parsed = parse_crls(crls)?;
        *self.crls.write().unwrap_or_else(PoisonError::into_inner) = parsed;
        Ok(())
    }

    /// The trusted root certificate.
    pub fn root(&self) -> &CertificateDer<'static> {
        &self.root
    }

    /// Checks a node's chain (`[node, cluster CA]`) at `now`: for batch signers, libp2p peers
    /// and TLS servers.
    pub fn verify_node(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedPeer, Rejection> {
        let (end_entity, intermediates) = chain.split_first().ok_or(Rejection::EmptyChain)?;
        self.verify(end_entity, intermediates, now, &[Role::Node])
    }

    /// Checks a TLS client's chain: a node or an auditor.
    pub fn verify_client(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedPeer, Rejection> {
        let (end_entity, intermediates) = chain.split_first().ok_or(Rejection::EmptyChain)?;
        self.verify(end_entity, intermediates, now, &[Role::Node, Role::Auditor])
    }

    /// Checks that a libp2p peer (authenticated by noise as `peer`) holds the node certificate
    /// `chain`: the chain verifies and its key is the PeerId's key.
    pub fn verify_libp2p_peer(
        &self,
        peer: &PeerId,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedPeer, Rejection> {
        let verified = self.verify_node(chain, now)?;
        if verified.peer_id() != peer {
            return Err(Rejection::PeerIdMismatch {
                claimed: Box::new(*peer),
                certified: Box::new(*verified.peer_id()),
            });
        }
        Ok(verified)
    }

    /// The full check; see the module documentation.
    pub(crate) fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        allowed: &[Role],
    ) -> Result<VerifiedPeer, Rejection> {
        let ee = EndEntityCert::try_from(end_entity).map_err(Rejection::from_webpki)?;
        let crls = self.crls.read().unwrap_or_else(PoisonError::into_inner);
        let crl_refs: Vec<&CertRevocationList<'_>> = crls.iter().collect();
        let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
            b.with_depth(RevocationCheckDepth::Chain)
                .with_status_policy(UnknownStatusPolicy::Allow)
                .with_expiration_policy(ExpirationPolicy::Ignore)
                .build()
        });
        let path = ee
            .verify_for_usage(
                ALGORITHMS,
                &self.anchors,
                intermediates,
                now,
                KeyUsage::client_auth(),
                revocation,
                None,
            )
            .map_err(Rejection::from_webpki)?;
        let issuer_der = path
            .intermediate_certificates()
            .next()
            .map(|c| c.der())
            .ok_or(Rejection::IssuerNotClusterCa(Role::Root))?;

        let issuer = parse_der(&issuer_der).map_err(Rejection::IssuerFields)?;
        let issuer_fields = EnmeshFields::from_cert(&issuer).map_err(Rejection::IssuerFields)?;
        let ca_cluster = match (issuer_fields.role(), issuer_fields.cluster()) {
            (Role::ClusterCa, Some(c)) => c.clone(),
            (role, _) => return Err(Rejection::IssuerNotClusterCa(role)),
        };

        let leaf = parse_der(end_entity).map_err(Rejection::Fields)?;
        let fields = EnmeshFields::from_cert(&leaf).map_err(Rejection::Fields)?;
        if !allowed.contains(&fields.role()) {
            return Err(Rejection::WrongRole {
                found: fields.role(),
                allowed: allowed.to_vec(),
            });
        }
        let cluster = fields
            .cluster()
            .cloned()
            .ok_or(Rejection::Fields(FieldsError::Missing("cluster")))?;
        if cluster != ca_cluster {
            return Err(Rejection::ClusterMismatch {
                ca: ca_cluster,
                certificate: cluster,
            });
        }
        let raw_key = ed25519_key(&leaf).map_err(Rejection::Fields)?;
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&raw_key).map_err(|_| Rejection::BadKey)?;
        let peer_id = peer_id_of(&raw_key).map_err(Rejection::Fields)?;
        Ok(VerifiedPeer {
            role: fields.role(),
            cluster,
            region: fields.region().cloned(),
            key,
            peer_id,
            serial: leaf.raw_serial().to_vec(),
            fingerprint: sha2::Sha256::digest(end_entity.as_ref()).into(),
        })
    }
}

/// Why a verifier could not be set up from its configuration.
#[derive(Debug, Error)]
pub enum TrustError {
    /// The root certificate does not parse or lacks its enmesh fields.
    #[error("root certificate: {0}")]
    Root(FieldsError),
    /// The configured root is not an enmesh root CA.
    #[error("configured root has role {0}, not a root CA")]
    NotARoot(Role),
    /// webpki refused the root as a trust anchor.
    #[error("root certificate is not a usable trust anchor: {0}")]
    Anchor(webpki::Error),
    /// A CRL that does not parse.
    #[error("bad CRL: {0}")]
    Crl(webpki::Error),
}

/// Why a certificate chain was rejected. Each variant is one reason, reported to the operator.
#[derive(Debug, Clone, Error)]
pub enum Rejection {
    /// No certificate was presented.
    #[error("empty certificate chain")]
    EmptyChain,
    /// A certificate in the chain has expired.
    #[error("certificate expired")]
    Expired,
    /// A certificate in the chain is not valid yet.
    #[error("certificate not valid yet")]
    NotYetValid,
    /// The chain does not lead to the configured root (wrong root, self-signed, missing CA).
    #[error("certificate does not chain to the configured root (unknown issuer)")]
    UnknownIssuer,
    /// A certificate signature does not verify.
    #[error("certificate signature does not verify")]
    BadSignature,
    /// An end-entity (node/auditor) certificate was used to issue another certificate.
    #[error("an end-entity certificate was used as a CA")]
    EndEntityUsedAsCa,
    /// A CA issued below its path length constraint (a cluster CA issuing a CA).
    #[error("path length constraint violated")]
    PathTooLong,
    /// A certificate in the chain is on its issuer's CRL.
    #[error("certificate revoked")]
    Revoked,
    /// A certificate carries a critical extension that is not understood.
    #[error("unknown critical extension")]
    UnknownCriticalExtension,
    /// The leaf's extended key usage does not allow this use.
    #[error("extended key usage does not allow this use")]
    WrongKeyUsage,
    /// Any other webpki refusal.
    #[error("chain verification failed: {0}")]
    Chain(webpki::Error),
    /// The leaf was issued by something other than a cluster CA.
    #[error("leaf was issued by a {0} certificate, not a cluster CA")]
    IssuerNotClusterCa(Role),
    /// The issuing CA's enmesh fields are missing or wrong.
    #[error("issuing CA: {0}")]
    IssuerFields(FieldsError),
    /// The leaf's enmesh fields are missing or wrong.
    #[error("certificate: {0}")]
    Fields(FieldsError),
    /// The leaf's role is not allowed for this use (e.g. an auditor acting as a node).
    #[error("certificate role {found} is not allowed here (allowed: {allowed:?})")]
    WrongRole {
        /// The role in the certificate.
        found: Role,
        /// The roles this check accepts.
        allowed: Vec<Role>,
    },
    /// A cluster CA issued a certificate for another cluster.
    #[error("cluster CA of {ca} issued a certificate for cluster {certificate}")]
    ClusterMismatch {
        /// The issuing CA's cluster.
        ca: ClusterId,
        /// The cluster named in the certificate.
        certificate: ClusterId,
    },
    /// The leaf's Ed25519 key is not a valid curve point.
    #[error("certificate key is not a valid Ed25519 public key")]
    BadKey,
    /// A libp2p PeerId that is not the certificate key's.
    #[error("libp2p peer {claimed} does not match the certificate's key ({certified})")]
    PeerIdMismatch {
        /// The PeerId the connection authenticated.
        claimed: Box<PeerId>,
        /// The PeerId of the certificate's key.
        certified: Box<PeerId>,
    },
}

/// Parses CRLs (DER).
fn parse_crls(
    crls: &[CertificateRevocationListDer<'_>],
) -> Result<Vec<CertRevocationList<'static>>, TrustError> {
    crls.iter()
        .map(|der| OwnedCertRevocationList::from_der(der).map(CertRevocationList::from))
        .collect::<Result<_, _>>()
        .map_err(TrustError::Crl)
}

impl Rejection {
    fn from_webpki(e: webpki::Error) -> Self {
        use webpki::Error as E;
        match e {
            E::CertExpired { .. } => Self::Expired,
            E::CertNotValidYet { .. } => Self::NotYetValid,
            E::UnknownIssuer => Self::UnknownIssuer,
            E::InvalidSignatureForPublicKey => Self::BadSignature,
            E::EndEntityUsedAsCa => Self::EndEntityUsedAsCa,
            E::PathLenConstraintViolated => Self::PathTooLong,
            E::CertRevoked => Self::Revoked,
            E::UnsupportedCriticalExtension => Self::UnknownCriticalExtension,
            E::RequiredEkuNotFoundContext(_) => Self::WrongKeyUsage,
            other => Self::Chain(other),
        }
    }
}
