//! Admission checks: whether the certificate chain a peer presented is that of a node of this
//! cluster whose key is its libp2p identity, and the chains of admitted peers, kept to check them
//! again (certificates expire; a newer CRL revokes).
//!
//! A peer passes only from a [`VerifiedPeer`] (the PKI verifier's proof) of a node of this
//! cluster whose PeerId is the connection's. This module never admits on what a peer says about
//! itself. It decides nothing else: who waits, who is admitted and who is blocked is the state
//! machine's ([`super::state`]) bookkeeping, fed with this module's answers by the actor.

use crate::audit;
use crate::audit::service::cosigner;
use crate::pki::{Rejection, VerifiedPeer, Verifier};
use enmesh_protocol::checkpoint::NoteVerifier;
use enmesh_protocol::region::{ClusterId, RegionId};
use libp2p::PeerId;
use rustls_pki_types::{CertificateDer, UnixTime};
use std::collections::HashMap;
use thiserror::Error;

/// Why a peer was refused.
#[derive(Debug, Error)]
pub enum Refused {
    /// Its chain failed the PKI checks (or its key is not its PeerId).
    #[error("certificate rejected: {0}")]
    Certificate(#[from] Rejection),
    /// A valid node of another cluster.
    #[error("node of cluster {0}, not of this cluster")]
    OtherCluster(ClusterId),
    /// A node certificate without a region.
    #[error("node certificate without a region")]
    NoRegion,
}

impl Refused {
    /// A stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Certificate(Rejection::PeerIdMismatch { .. }) => "peer_id_mismatch",
            Self::Certificate(Rejection::Revoked) => "revoked",
            Self::Certificate(Rejection::Expired | Rejection::NotYetValid) => "validity",
            Self::Certificate(Rejection::WrongRole { .. }) => "role",
            Self::Certificate(_) => "chain",
            Self::OtherCluster(_) => "other_cluster",
            Self::NoRegion => "no_region",
        }
    }
}

/// An admitted peer's chain, kept to check it again, how the replication log names it, and
/// the key its cosignatures of this node's checkpoints must verify with.
#[derive(Debug)]
struct Admitted {
    chain: Vec<CertificateDer<'static>>,
    logged: audit::Peer,
    cosigner: Option<NoteVerifier>,
}

/// The chains of admitted peers, and the cluster they must belong to.
#[derive(Debug)]
pub struct Admission {
    cluster: ClusterId,
    chains: HashMap<PeerId, Admitted>,
}

impl Admission {
    /// Admission checks for the nodes of `cluster`.
    pub fn new(cluster: ClusterId) -> Self {
        Self {
            cluster,
            chains: HashMap::new(),
        }
    }

    /// Checks `chain` presented by `peer` at `now`: the peer's region if it passes (the chain is
    /// kept for [`Admission::recheck`]). Either way, the peer as the replication log names it.
    pub fn check(
        &mut self,
        verifier: &Verifier,
        peer: PeerId,
        chain: &[Vec<u8>],
        now: UnixTime,
    ) -> (audit::Peer, Result<RegionId, Refused>) {
        let chain: Vec<CertificateDer<'static>> = chain
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect();
        let verified = match self.verify(verifier, &peer, &chain, now) {
            Ok(verified) => verified,
            Err(refused) => {
                let leaf = chain.first().map(|der| der.as_ref());
                return (audit::Peer::unverified(leaf), Err(refused));
            }
        };
        let logged = audit::Peer::verified(&verified);
        let Some(region) = verified.region().cloned() else {
            return (logged, Err(Refused::NoRegion));
        };
        let cosigner = cosigner(verified.cluster(), &region, *verified.public_key()).ok();
        self.chains.insert(
            peer,
            Admitted {
                chain,
                logged: logged.clone(),
                cosigner,
            },
        );
        (logged, Ok(region))
    }

    /// How the replication log names `peer`: its verified certificate if it is admitted, an
    /// unknown peer otherwise.
    pub fn logged(&self, peer: &PeerId) -> audit::Peer {
        self.chains
            .get(peer)
            .map_or_else(|| audit::Peer::unverified(None), |a| a.logged.clone())
    }

    /// The key `peer`'s cosignatures verify with (its certified key under its log origin), if
    /// it is admitted.
    pub fn cosigner(&self, peer: &PeerId) -> Option<NoteVerifier> {
        self.chains.get(peer).and_then(|a| a.cosigner.clone())
    }

    fn verify(
        &self,
        verifier: &Verifier,
        peer: &PeerId,
        chain: &[CertificateDer<'static>],
        now: UnixTime,
    ) -> Result<VerifiedPeer, Refused> {
        let verified = verifier.verify_libp2p_peer(peer, chain, now)?;
        if verified.cluster() != &self.cluster {
            return Err(Refused::OtherCluster(verified.cluster().clone()));
        }
        Ok(verified)
    }

    /// Checks every kept chain again at `now`: returns the peers that no longer pass, forgotten.
    pub fn recheck(
        &mut self,
        verifier: &Verifier,
        now: UnixTime,
    ) -> Vec<(PeerId, audit::Peer, Refused)> {
        let failed: Vec<(PeerId, Refused)> = self
            .chains
            .iter()
            .filter_map(|(peer, admitted)| {
                self.verify(verifier, peer, &admitted.chain, now)
                    .err()
                    .map(|e| (*peer, e))
            })
            .collect();
        failed
            .into_iter()
            .filter_map(|(peer, refused)| {
                let admitted = self.chains.remove(&peer)?;
                Some((peer, admitted.logged, refused))
            })
            .collect()
    }

    /// Forgets `peer`'s chain (it disconnected or was refused).
    pub fn forget(&mut self, peer: &PeerId) {
        self.chains.remove(peer);
    }
}
