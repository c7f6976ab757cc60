//! The replication log: one append-only RFC 9162 Merkle log per node, an entry for every event
//! that moves, refuses or deletes a batch, or decides who may connect (brief.md, data path step
//! 8), its signed checkpoints, and the `Audit` service auditors read it through.
//!
//! This module builds [`Entry`] values, the only thing the store appends to the log; the store
//! writes an event's entry in the same atomic write as the event itself (`store::audit`), and
//! the store's proofs are RFC 9162's (`enmesh_protocol::merkle`).
//!
//! - [`checkpoints`] signs a C2SP checkpoint of the log with the node's key when it grew;
//! - [`service`] serves checkpoints, entries and proofs (`enmesh.v1.Audit`) on the node's
//!   mutual-TLS listener to auditors and nodes of the CA tree;
//! - [`client`] is the auditor's side: it checks what a node serves (`enmesh audit`), keeps a
//!   local copy in a [`mirror`], and reads several nodes' logs together ([`trace`]);
//! - [`witness`] checks, keeps and cosigns the checkpoints producers pass on their partial
//!   streams, and raises the alarm on a fork.
//!
//! An entry carries digests, counts, feed names and certificate fingerprints. It must never
//! carry a diagnosis key or a visited region: every constructor here takes only references,
//! digests and counts, and `daemon/tests/partial.rs`, `daemon/tests/store_ops.rs` and the demo
//! (`demo::auditor`) scan the entries of real runs for key bytes. Text a peer controls (a refused batch's claimed origin and feed) is cut to
//! [`MAX_CLAIMED_CHARS`], so one bad batch cannot grow the log by more than a few hundred bytes.

use enmesh_proto::v1::{
    AuditEntry, AuditPeer, BatchBody, BatchCut, BatchRef, BatchRefused, BatchServed, BatchStored,
    CrlApplied, ExportBuilt, ExportFile, ForkDetected, PeerChecked, ReplicationPath,
    RetentionSwept, SignedBatch, SweptFamily, audit_entry,
};
use enmesh_protocol::merkle::{Hash, leaf_hash};
use enmesh_protocol::region::RegionId;
use prost::Message;
use sha2::{Digest, Sha256};

pub mod checkpoints;
pub mod client;
pub mod metrics;
pub mod mirror;
pub mod service;
pub mod trace;
pub mod witness;

use crate::pki::VerifiedPeer;
use crate::replicate::received::ReceivedBatch;
use crate::store::{BatchId, StoredBatch};
use enmesh_protocol::feed::Feed;

/// The version of the entry encoding this build writes.
pub const ENTRY_VERSION: u32 = 1;

/// The most characters of peer-controlled text (a refused batch's claims, a refusal's reason)
/// an entry keeps.
pub const MAX_CLAIMED_CHARS: usize = 128;

fn bounded(text: &str) -> String {
    text.chars().take(MAX_CLAIMED_CHARS).collect()
}

/// One serialized `enmesh.v1.AuditEntry`, as stored and served. Only this module builds one, so
/// every entry in the log comes from one of the event constructors below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry(Vec<u8>);

impl Entry {
    fn new(event: audit_entry::Event, unix_millis: u64) -> Self {
        let entry = AuditEntry {
            version: ENTRY_VERSION,
            unix_millis: i64::try_from(unix_millis).unwrap_or(i64::MAX),
            event: Some(event),
        };
        Self(entry.encode_to_vec())
    }

    /// The serialized entry.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Its RFC 9162 leaf hash, `SHA-256(0x00 ‖ bytes)`.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.0)
    }
}

/// The way an event happened: the entry's `ReplicationPath`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// `Replication.Pull`, across clusters.
    PartialStream,
    /// The cluster mesh (gossip and catch-up fetch).
    Mesh,
}

impl Path {
    fn wire(self) -> i32 {
        match self {
            Self::PartialStream => ReplicationPath::PartialStream,
            Self::Mesh => ReplicationPath::Mesh,
        }
        .into()
    }
}

/// A peer as the log records it: its certificate's fingerprint and what the CA tree says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer(AuditPeer);

impl Peer {
    /// A peer whose chain verified.
    pub fn verified(peer: &VerifiedPeer) -> Self {
        Self(AuditPeer {
            certificate_sha256: peer.fingerprint().to_vec(),
            region: peer.region().map(ToString::to_string).unwrap_or_default(),
            cluster: peer.cluster().to_string(),
            role: peer.role().as_str().to_owned(),
        })
    }

    /// A peer whose chain did not verify, known only by its leaf certificate (`None`: it sent
    /// none).
    pub fn unverified(leaf_der: Option<&[u8]>) -> Self {
        Self(AuditPeer {
            certificate_sha256: leaf_der.map(|der| sha256(der).to_vec()).unwrap_or_default(),
            ..AuditPeer::default()
        })
    }

    /// The producer of region `region` a partial stream came from, as the TLS handshake checked
    /// it (a node certificate of that region; its fingerprint is not at hand there).
    pub fn producer(region: &RegionId) -> Self {
        Self(AuditPeer {
            region: region.to_string(),
            role: crate::pki::Role::Node.as_str().to_owned(),
            ..AuditPeer::default()
        })
    }

    /// The certificate fingerprint (empty when none was presented).
    pub fn fingerprint(&self) -> &[u8] {
        &self.0.certificate_sha256
    }
}

/// Who sent a batch this node received, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The sending peer.
    pub peer: Peer,
    /// The path it came by.
    pub path: Path,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn batch_ref(origin: &str, feed: &str, sequence: u64, id: &BatchId) -> BatchRef {
    BatchRef {
        origin_region: origin.to_owned(),
        feed: feed.to_owned(),
        sequence,
        batch_id: id.0.to_vec(),
    }
}

/// This node cut batch `body` (id `id`), `padding_count` of whose keys are padding.
pub fn batch_cut(body: &BatchBody, id: &BatchId, padding_count: u32, now_millis: u64) -> Entry {
    Entry::new(
        audit_entry::Event::BatchCut(BatchCut {
            batch: Some(batch_ref(
                &body.origin_region,
                &body.feed,
                body.sequence,
                id,
            )),
            key_count: u32::try_from(body.keys.len()).unwrap_or(u32::MAX),
            padding_count,
            created_unix_millis: body.created_unix_millis,
        }),
        now_millis,
    )
}

/// This node sent its stored batch `batch` of `origin`'s feed `feed` to `peer` by `path`.
pub fn batch_served(
    origin: &RegionId,
    feed: &Feed,
    batch: &StoredBatch,
    peer: &Peer,
    path: Path,
    now_millis: u64,
) -> Entry {
    Entry::new(
        audit_entry::Event::BatchServed(BatchServed {
            batch: Some(batch_ref(
                &origin.to_string(),
                &feed.to_string(),
                batch.sequence,
                &batch.id,
            )),
            peer: Some(peer.0.clone()),
            path: path.wire(),
        }),
        now_millis,
    )
}

/// This node checked `batch` from `from` and stored it.
pub fn batch_stored(batch: &ReceivedBatch, from: &Sender, now_millis: u64) -> Entry {
    Entry::new(
        audit_entry::Event::BatchStored(BatchStored {
            batch: Some(batch_ref(
                &batch.origin().to_string(),
                &batch.feed().to_string(),
                batch.sequence(),
                &batch.id(),
            )),
            peer: Some(from.peer.0.clone()),
            path: from.path.wire(),
            key_count: u32::try_from(batch.keys().len()).unwrap_or(u32::MAX),
        }),
        now_millis,
    )
}

/// This node refused `signed` (received from `from`) because of `reason`; nothing was stored.
pub fn batch_refused(signed: &SignedBatch, from: &Sender, reason: &str, now_millis: u64) -> Entry {
    // What the body says of itself, as far as it decodes (nothing of it is trusted).
    let claimed = BatchBody::decode(signed.body.as_slice()).unwrap_or_default();
    Entry::new(
        audit_entry::Event::BatchRefused(BatchRefused {
            batch: Some(batch_ref(
                &bounded(&claimed.origin_region),
                &bounded(&claimed.feed),
                claimed.sequence,
                &BatchId::of_body(&signed.body),
            )),
            refused_sha256: sha256(&signed.encode_to_vec()).to_vec(),
            peer: Some(from.peer.0.clone()),
            path: from.path.wire(),
            reason: bounded(reason),
        }),
        now_millis,
    )
}

/// Retention deleted `deleted` records per column family, everything before `cutoff_unix_secs`.
pub fn retention_swept(
    cutoff_unix_secs: u64,
    deleted: &[(&'static str, u64)],
    now_millis: u64,
) -> Entry {
    Entry::new(
        audit_entry::Event::RetentionSwept(RetentionSwept {
            cutoff_unix_secs: i64::try_from(cutoff_unix_secs).unwrap_or(i64::MAX),
            families: deleted
                .iter()
                .map(|(name, count)| SweptFamily {
                    column_family: (*name).to_owned(),
                    deleted: *count,
                })
                .collect(),
        }),
        now_millis,
    )
}

/// The export window `[start, end)` was built into `zips` (file number 1, 2, ...).
pub fn export_built<'z>(
    window_start_unix_secs: u64,
    window_end_unix_secs: u64,
    zips: impl IntoIterator<Item = &'z [u8]>,
    now_millis: u64,
) -> Entry {
    Entry::new(
        audit_entry::Event::ExportBuilt(ExportBuilt {
            window_start_unix_secs,
            window_end_unix_secs,
            files: (1..)
                .zip(zips)
                .map(|(file_number, zip)| ExportFile {
                    file_number,
                    zip_sha256: sha256(zip).to_vec(),
                })
                .collect(),
        }),
        now_millis,
    )
}

/// A connection's peer was admitted (`refused: None`) or refused, on `path`.
pub fn peer_checked(peer: &Peer, path: Path, refused: Option<&str>, now_millis: u64) -> Entry {
    Entry::new(
        audit_entry::Event::PeerChecked(PeerChecked {
            peer: Some(peer.0.clone()),
            path: path.wire(),
            admitted: refused.is_none(),
            reason: bounded(refused.unwrap_or_default()),
        }),
        now_millis,
    )
}

/// A new set of CRLs (their DER) took effect.
pub fn crl_applied<'c>(crls: impl IntoIterator<Item = &'c [u8]>, now_millis: u64) -> Entry {
    Entry::new(
        audit_entry::Event::CrlApplied(CrlApplied {
            crl_sha256: crls.into_iter().map(|der| sha256(der).to_vec()).collect(),
        }),
        now_millis,
    )
}

/// This node, witnessing log `origin`, holds checkpoints `held` and `new` (their notes and
/// tree sizes) that no consistency proof joins, because of `reason`.
pub fn fork_detected(
    origin: &str,
    held: (&str, u64),
    new: (&str, u64),
    reason: &str,
    now_millis: u64,
) -> Entry {
    Entry::new(
        audit_entry::Event::ForkDetected(ForkDetected {
            origin: bounded(origin),
            held_tree_size: held.1,
            held_note_sha256: sha256(held.0.as_bytes()).to_vec(),
            new_tree_size: new.1,
            new_note_sha256: sha256(new.0.as_bytes()).to_vec(),
            reason: bounded(reason),
        }),
        now_millis,
    )
}
