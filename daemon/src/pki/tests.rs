//! Tests of the pki module with real certificates made by [`super::issue`]: every rejection
//! asserts the reason reported, and the accept paths check what the proof types carry.

use super::batch::BatchRejection;
use super::fields::{CertInfo, EnmeshFields, Role};
use super::identity::{Credential, NodeIdentity};
use super::issue::{CaKey, CertIssueError, NodeRequest, Validity, pem};
use super::verify::{Rejection, Verifier};
use enmesh_proto::v1::BatchBody;
use enmesh_protocol::region::{ClusterId, RegionId};
use prost::Message;
use rcgen::{CertificateParams, CustomExtension, Issuer, KeyPair, PKCS_ED25519, SanType};
use rustls_pki_types::{CertificateDer, UnixTime};
use time::{Duration, OffsetDateTime};

/// The fixed "now" of these tests: 2030-01-01T00:00:00Z.
fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_893_456_000).unwrap()
}

fn at(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.unix_timestamp() as u64))
}

fn days(n: u32) -> Validity {
    Validity::days_from(t0(), n).unwrap()
}

fn cluster(id: &str) -> ClusterId {
    id.parse().unwrap()
}

fn region(id: &str) -> RegionId {
    id.parse().unwrap()
}

struct Node {
    key_pem: String,
    cert: CertificateDer<'static>,
}

impl Node {
    fn credential(&self, ca: &CaKey) -> Credential {
        let cert_pem = pem("CERTIFICATE", &self.cert);
        Credential::from_pem(
            self.key_pem.as_bytes(),
            &[cert_pem.as_bytes(), ca.cert_pem().as_bytes()],
        )
        .unwrap()
    }
}

fn node(ca: &CaKey, region_id: &str, validity: Validity) -> Node {
    let (csr, key_pem) = NodeRequest::generate("test node").unwrap();
    let request = NodeRequest::from_pem(&csr).unwrap();
    let cert = ca
        .issue_node(&request, &region(region_id), validity)
        .unwrap();
    Node { key_pem, cert }
}

struct Tree {
    root: CaKey,
    eu: CaKey,
    de: Node,
}

impl Tree {
    fn new() -> Self {
        Self::with_root_name("test root")
    }

    fn with_root_name(name: &str) -> Self {
        let root = CaKey::init_root(name, days(3650)).unwrap();
        let eu = root.issue_cluster(&cluster("EU"), days(1825)).unwrap();
        let de = node(&eu, "DE", days(365));
        Self { root, eu, de }
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(self.root.cert().clone(), &[]).unwrap()
    }

    fn chain(&self, leaf: &CertificateDer<'static>) -> Vec<CertificateDer<'static>> {
        vec![leaf.clone(), self.eu.cert().clone()]
    }
}

fn now() -> UnixTime {
    at(t0() + Duration::days(1))
}

#[test]
fn accepts_a_full_chain_and_reports_the_certificate_fields() {
    let tree = Tree::new();
    let peer = tree
        .verifier()
        .verify_node(&tree.chain(&tree.de.cert), now())
        .unwrap();
    assert_eq!(peer.role(), Role::Node);
    assert_eq!(peer.cluster(), &cluster("EU"));
    assert_eq!(peer.region(), Some(&region("DE")));
    let info = CertInfo::read(&tree.de.cert).unwrap();
    assert_eq!(hex::encode(peer.serial()), info.serial);
    assert_eq!(hex::encode(peer.public_key().to_bytes()), info.public_key);
    let cred = tree.de.credential(&tree.eu);
    assert_eq!(peer.public_key(), &cred.public_key());
    assert_eq!(peer.peer_id(), &cred.peer_id().unwrap());
}

#[test]
fn rejects_expired() {
    let tree = Tree::new();
    let later = at(t0() + Duration::days(400));
    let err = tree
        .verifier()
        .verify_node(&tree.chain(&tree.de.cert), later)
        .unwrap_err();
    assert!(matches!(err, Rejection::Expired), "{err:?}");
}

#[test]
fn rejects_not_yet_valid() {
    let tree = Tree::new();
    let earlier = at(t0() - Duration::days(1));
    let err = tree
        .verifier()
        .verify_node(&tree.chain(&tree.de.cert), earlier)
        .unwrap_err();
    assert!(matches!(err, Rejection::NotYetValid), "{err:?}");
}

#[test]
fn rejects_a_chain_to_another_root() {
    let tree = Tree::new();
    let other = Tree::with_root_name("other root");
    let err = tree
        .verifier()
        .verify_node(&other.chain(&other.de.cert), now())
        .unwrap_err();
    assert!(matches!(err, Rejection::UnknownIssuer), "{err:?}");
    // An impostor root with the same name: the names chain, the signature does not.
    let impostor = Tree::new();
    let err = tree
        .verifier()
        .verify_node(&impostor.chain(&impostor.de.cert), now())
        .unwrap_err();
    assert!(matches!(err, Rejection::BadSignature), "{err:?}");
}

#[test]
fn rejects_a_self_signed_node() {
    let tree = Tree::new();
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut params = CertificateParams::default();
    params.not_before = t0() - Duration::days(1);
    params.not_after = t0() + Duration::days(30);
    params.subject_alt_names = EnmeshFields::node(cluster("EU"), region("DE"))
        .to_uris()
        .into_iter()
        .map(|u| SanType::URI(u.try_into().unwrap()))
        .collect();
    let cert = params.self_signed(&key).unwrap().der().clone();
    let err = tree.verifier().verify_node(&[cert], now()).unwrap_err();
    assert!(matches!(err, Rejection::UnknownIssuer), "{err:?}");
}

#[test]
fn rejects_a_node_certificate_used_as_a_ca() {
    let tree = Tree::new();
    let node_key = KeyPair::from_pem(&tree.de.key_pem).unwrap();
    let node_as_ca = CaKey::from_pem(&pem("CERTIFICATE", &tree.de.cert), &tree.de.key_pem);
    assert!(matches!(
        node_as_ca,
        Err(CertIssueError::NotACa(Role::Node))
    ));
    // Forge it with rcgen directly: the node key signs a certificate for another key.
    let issuer = Issuer::from_ca_cert_der(&tree.de.cert, node_key).unwrap();
    let victim = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut params = CertificateParams::default();
    params.not_before = t0() - Duration::days(1);
    params.not_after = t0() + Duration::days(30);
    params.subject_alt_names = EnmeshFields::node(cluster("EU"), region("FR"))
        .to_uris()
        .into_iter()
        .map(|u| SanType::URI(u.try_into().unwrap()))
        .collect();
    let forged = params.signed_by(&victim, &issuer).unwrap().der().clone();
    let chain = vec![forged, tree.de.cert.clone(), tree.eu.cert().clone()];
    let err = tree.verifier().verify_node(&chain, now()).unwrap_err();
    assert!(matches!(err, Rejection::EndEntityUsedAsCa), "{err:?}");
}

#[test]
fn rejects_a_cluster_ca_issuing_for_another_cluster() {
    let tree = Tree::new();
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let fields = EnmeshFields::node(cluster("USA"), region("US-CA"));
    let cert = tree
        .eu
        .issue_leaf(&key, "forged", &fields, days(30), Vec::new())
        .unwrap();
    let err = tree
        .verifier()
        .verify_node(&tree.chain(&cert), now())
        .unwrap_err();
    match err {
        Rejection::ClusterMismatch { ca, certificate } => {
            assert_eq!(ca, cluster("EU"));
            assert_eq!(certificate, cluster("USA"));
        }
        other => panic!("wrong reason {other:?}"),
    }
}

#[test]
fn rejects_a_node_issued_directly_by_the_root() {
    let tree = Tree::new();
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let fields = EnmeshFields::node(cluster("EU"), region("DE"));
    let cert = tree
        .root
        .issue_leaf(&key, "root-issued", &fields, days(30), Vec::new())
        .unwrap();
    let err = tree.verifier().verify_node(&[cert], now()).unwrap_err();
    assert!(
        matches!(err, Rejection::IssuerNotClusterCa(Role::Root)),
        "{err:?}"
    );
}

#[test]
fn rejects_a_revoked_node_and_a_revoked_cluster_ca() {
    let tree = Tree::new();
    let serial = CertInfo::read(&tree.de.cert).unwrap().serial;
    let crl = tree
        .eu
        .crl(&[(hex::decode(&serial).unwrap(), t0())], 1, days(7))
        .unwrap();
    let verifier = Verifier::new(tree.root.cert().clone(), &[crl]).unwrap();
    let err = verifier
        .verify_node(&tree.chain(&tree.de.cert), now())
        .unwrap_err();
    assert!(matches!(err, Rejection::Revoked), "{err:?}");
    // Another node of the same CA is not affected.
    let fr = node(&tree.eu, "FR", days(365));
    verifier.verify_node(&tree.chain(&fr.cert), now()).unwrap();

    // Revoking the cluster CA at the root takes its whole subtree out.
    let eu_serial = CertInfo::read(tree.eu.cert()).unwrap().serial;
    let root_crl = tree
        .root
        .crl(&[(hex::decode(&eu_serial).unwrap(), t0())], 1, days(7))
        .unwrap();
    let verifier = Verifier::new(tree.root.cert().clone(), &[root_crl]).unwrap();
    let err = verifier
        .verify_node(&tree.chain(&fr.cert), now())
        .unwrap_err();
    assert!(matches!(err, Rejection::Revoked), "{err:?}");
}

#[test]
fn rejects_an_auditor_acting_as_a_node() {
    let tree = Tree::new();
    let (csr, _key) = NodeRequest::generate("auditor").unwrap();
    let cert = tree
        .eu
        .issue_auditor(&NodeRequest::from_pem(&csr).unwrap(), "who", days(30))
        .unwrap();
    let verifier = tree.verifier();
    let err = verifier.verify_node(&tree.chain(&cert), now()).unwrap_err();
    match err {
        Rejection::WrongRole { found, allowed } => {
            assert_eq!(found, Role::Auditor);
            assert_eq!(allowed, vec![Role::Node]);
        }
        other => panic!("wrong reason {other:?}"),
    }
    // As a TLS client (read-only access) the auditor is accepted, without a region.
    let peer = verifier.verify_client(&tree.chain(&cert), now()).unwrap();
    assert_eq!(peer.role(), Role::Auditor);
    assert_eq!(peer.region(), None);
}

#[test]
fn rejects_a_tampered_certificate_signature() {
    let tree = Tree::new();
    let mut der = tree.de.cert.to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let err = tree
        .verifier()
        .verify_node(&[CertificateDer::from(der), tree.eu.cert().clone()], now())
        .unwrap_err();
    assert!(matches!(err, Rejection::BadSignature), "{err:?}");
}

#[test]
fn rejects_an_unknown_critical_extension() {
    let tree = Tree::new();
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut ext =
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![0x05, 0x00]);
    ext.set_criticality(true);
    let fields = EnmeshFields::node(cluster("EU"), region("DE"));
    let cert = tree
        .eu
        .issue_leaf(&key, "critical", &fields, days(30), vec![ext])
        .unwrap();
    let err = tree
        .verifier()
        .verify_node(&tree.chain(&cert), now())
        .unwrap_err();
    assert!(
        matches!(err, Rejection::UnknownCriticalExtension),
        "{err:?}"
    );
}

#[test]
fn binds_the_libp2p_peer_id_to_the_certificate_key() {
    let tree = Tree::new();
    let verifier = tree.verifier();
    let chain = tree.chain(&tree.de.cert);
    let own = tree.de.credential(&tree.eu).peer_id().unwrap();
    verifier.verify_libp2p_peer(&own, &chain, now()).unwrap();
    let stranger = node(&tree.eu, "FR", days(30))
        .credential(&tree.eu)
        .peer_id()
        .unwrap();
    let err = verifier
        .verify_libp2p_peer(&stranger, &chain, now())
        .unwrap_err();
    match err {
        Rejection::PeerIdMismatch { claimed, certified } => {
            assert_eq!(*claimed, stranger);
            assert_eq!(*certified, own);
        }
        other => panic!("wrong reason {other:?}"),
    }
}

fn body(origin: &str) -> Vec<u8> {
    BatchBody {
        origin_region: origin.to_owned(),
        feed: "a2a/EU".to_owned(),
        sequence: 1,
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn accepts_a_batch_signed_by_its_origin() {
    let tree = Tree::new();
    let batch = tree.de.credential(&tree.eu).sign_batch(body("DE"));
    let verified = tree.verifier().verify_batch(&batch, now()).unwrap();
    assert_eq!(verified.origin(), &region("DE"));
    assert_eq!(verified.signer().region(), Some(&region("DE")));
    assert_eq!(verified.body().sequence, 1);
}

#[test]
fn rejects_a_batch_whose_origin_is_not_the_signer_region() {
    let tree = Tree::new();
    let batch = tree.de.credential(&tree.eu).sign_batch(body("FR"));
    let err = tree.verifier().verify_batch(&batch, now()).unwrap_err();
    match err {
        BatchRejection::OriginMismatch { batch, certificate } => {
            assert_eq!(batch, region("FR"));
            assert_eq!(certificate, Some(region("DE")));
        }
        other => panic!("wrong reason {other:?}"),
    }
}

#[test]
fn rejects_tampered_batches() {
    let tree = Tree::new();
    let verifier = tree.verifier();
    let good = tree.de.credential(&tree.eu).sign_batch(body("DE"));

    let mut body_changed = good.clone();
    let last = body_changed.body.len() - 1;
    body_changed.body[last] ^= 0x01;
    let err = verifier.verify_batch(&body_changed, now()).unwrap_err();
    assert!(matches!(err, BatchRejection::BadSignature), "{err:?}");

    let mut sig_changed = good.clone();
    sig_changed.signature[0] ^= 0x01;
    let err = verifier.verify_batch(&sig_changed, now()).unwrap_err();
    assert!(matches!(err, BatchRejection::BadSignature), "{err:?}");

    let mut sig_cut = good.clone();
    sig_cut.signature.truncate(63);
    let err = verifier.verify_batch(&sig_cut, now()).unwrap_err();
    assert!(
        matches!(err, BatchRejection::SignatureLength(63)),
        "{err:?}"
    );

    // Another node's valid chain in front of DE's signature.
    let mut other_signer = good;
    let fr = node(&tree.eu, "FR", days(30));
    other_signer.signer_chain[0] = fr.cert.to_vec();
    let err = verifier.verify_batch(&other_signer, now()).unwrap_err();
    assert!(matches!(err, BatchRejection::BadSignature), "{err:?}");
}

#[test]
fn rejects_a_batch_signed_by_an_auditor() {
    let tree = Tree::new();
    let (csr, key_pem) = NodeRequest::generate("auditor").unwrap();
    let cert = tree
        .eu
        .issue_auditor(&NodeRequest::from_pem(&csr).unwrap(), "who", days(30))
        .unwrap();
    let auditor = Node { key_pem, cert }.credential(&tree.eu);
    let batch = auditor.sign_batch(body("DE"));
    let err = tree.verifier().verify_batch(&batch, now()).unwrap_err();
    assert!(
        matches!(
            err,
            BatchRejection::Signer(Rejection::WrongRole {
                found: Role::Auditor,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn rotation_overlap_both_certificates_verify() {
    let tree = Tree::new();
    let verifier = tree.verifier();
    let current = node(&tree.eu, "DE", days(30));
    let next_validity =
        Validity::new(t0() + Duration::days(20), t0() + Duration::days(365)).unwrap();
    let next = node(&tree.eu, "DE", next_validity);
    let identity =
        NodeIdentity::new(current.credential(&tree.eu)).with_next(next.credential(&tree.eu));

    let before = at(t0() + Duration::days(10));
    let overlap = at(t0() + Duration::days(25));
    let after = at(t0() + Duration::days(40));

    // Before the overlap only the current certificate is valid, and it is the one used.
    assert_eq!(identity.active(before).chain()[0], current.cert);
    verifier
        .verify_batch(&identity.sign_batch(body("DE"), before), before)
        .unwrap();
    // During the overlap both verify; the node already uses the next one.
    verifier
        .verify_node(&tree.chain(&current.cert), overlap)
        .unwrap();
    verifier
        .verify_node(&tree.chain(&next.cert), overlap)
        .unwrap();
    assert_eq!(identity.active(overlap).chain()[0], next.cert);
    // After it, the old one is expired and only the next one is used.
    let err = verifier
        .verify_node(&tree.chain(&current.cert), after)
        .unwrap_err();
    assert!(matches!(err, Rejection::Expired), "{err:?}");
    verifier
        .verify_batch(&identity.sign_batch(body("DE"), after), after)
        .unwrap();
}

#[test]
fn cas_issue_only_what_their_role_allows_and_ignore_csr_fields() {
    let tree = Tree::new();
    let err = tree.eu.issue_cluster(&cluster("X"), days(30)).unwrap_err();
    assert!(matches!(
        err,
        CertIssueError::WrongIssuer {
            need: Role::Root,
            have: Role::ClusterCa
        }
    ));
    let (csr, _) = NodeRequest::generate("n").unwrap();
    let request = NodeRequest::from_pem(&csr).unwrap();
    let err = tree
        .root
        .issue_node(&request, &region("DE"), days(30))
        .unwrap_err();
    assert!(matches!(
        err,
        CertIssueError::WrongIssuer {
            need: Role::ClusterCa,
            have: Role::Root
        }
    ));

    // A request asking for another cluster and region gets what the CA decides.
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = EnmeshFields::node(cluster("USA"), region("US-CA"))
        .to_uris()
        .into_iter()
        .map(|u| SanType::URI(u.try_into().unwrap()))
        .collect();
    let greedy = params.serialize_request(&key).unwrap().pem().unwrap();
    let request = NodeRequest::from_pem(&greedy).unwrap();
    let cert = tree
        .eu
        .issue_node(&request, &region("DE"), days(30))
        .unwrap();
    let info = CertInfo::read(&cert).unwrap();
    assert_eq!(info.cluster.as_deref(), Some("EU"));
    assert_eq!(info.region.as_deref(), Some("DE"));
    assert_eq!(info.role, Role::Node);

    // A CA key that does not belong to the CA certificate is refused.
    let other = Tree::new();
    let err = CaKey::from_pem(&tree.eu.cert_pem(), &other.eu.key_pem()).unwrap_err();
    assert!(matches!(err, CertIssueError::KeyMismatch), "{err:?}");
}
