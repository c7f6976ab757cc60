//! The auditor's side of the replication log (`enmesh audit ...`): connects to a node's
//! mutual-TLS listener with an auditor (or node) certificate, and checks everything the node
//! serves instead of trusting it:
//!
//! - a checkpoint verifies only if its signer's chain verifies against the auditor's root (and
//!   CRLs) as a node certificate, its origin is that certificate's `enmesh/<cluster>/<region>`,
//!   and the note's signature is that certificate's key's;
//! - `verify` downloads every entry of the checkpoint's tree, recomputes the RFC 9162 root and
//!   compares it with the signed one, and, given an earlier checkpoint of the same node, checks
//!   the consistency proof between the two (a node that rewrote its history fails here);
//! - `prove` checks one entry's inclusion proof against the signed root.
//!
//! Output is JSON on stdout; progress of long downloads goes to stderr. This module never
//! writes to the node and never accepts an answer it did not check.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Subcommand};
use enmesh_proto::v1::audit_client::AuditClient;
use enmesh_proto::v1::{
    AuditEntry, AuditPeer, BatchRef, CheckpointRequest, CheckpointResponse,
    ConsistencyProofRequest, EntriesRequest, InclusionProofRequest, ReplicationPath, audit_entry,
};
use enmesh_protocol::checkpoint::{self, Checkpoint, CheckpointError, KeyName, NoteVerifier};
use enmesh_protocol::merkle::{self, Hash, LeafIndex, MerkleError};
use enmesh_protocol::region::RegionId;
use prost::Message;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{Value, json};
use thiserror::Error;
use tonic::transport::{Channel, Uri};

use super::checkpoints::origin;
use super::mirror::{Mirror, MirrorError};
use super::trace::{self, NodeLog};
use crate::pki::files::{self, FileError};
use crate::pki::{Credential, IdentityError, Rejection, TlsError, TrustError, Verifier, tls};
use crate::replicate::partial::connect::{ConnectError, tls_channel};

/// Most bytes of one `Audit` answer the client accepts.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// `enmesh audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Fetch and check the node's latest signed checkpoint.
    Checkpoint {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Download the node's new entries into a local copy, check the new checkpoint is
    /// consistent with the one kept there, and recompute the root from every entry.
    Sync {
        #[command(flatten)]
        node: NodeArgs,
        /// The local copy (created if missing).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print entries `[start, end)` of the node's log, decoded.
    Entries {
        #[command(flatten)]
        node: NodeArgs,
        /// First entry.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// End of the range (default: the checked checkpoint's size).
        #[arg(long)]
        end: Option<u64>,
    },
    /// Check entry `index`'s inclusion in the signed checkpoint's tree and print it.
    Prove {
        #[command(flatten)]
        node: NodeArgs,
        /// The entry.
        #[arg(long)]
        index: u64,
    },
    /// Where one batch went, in the checked logs of the given nodes: cut, served, stored,
    /// refused.
    Trace {
        #[command(flatten)]
        nodes: NodesArgs,
        /// The batch id (SHA-256 of its signed body, hex).
        #[arg(long)]
        batch: String,
    },
    /// Compare the checked logs of the given nodes: every batch stored was cut by its origin
    /// with the same id, every batch served reached its consumer's log. Prints every
    /// disagreement; exits non-zero if there is one.
    CrossCheck {
        #[command(flatten)]
        nodes: NodesArgs,
    },
}

/// Who the auditor is and what it trusts.
#[derive(Debug, Clone, Args)]
pub struct AuditorArgs {
    /// The auditor's certificate chain (PEM: certificate, then its cluster CA).
    #[arg(long)]
    pub cert: PathBuf,
    /// The auditor's PKCS#8 Ed25519 key (PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// The root certificate of the CA tree.
    #[arg(long)]
    pub root: PathBuf,
    /// A directory of CRLs (DER or PEM) to check chains against.
    #[arg(long)]
    pub crl_dir: Option<PathBuf>,
}

/// Which node to ask, and as whom.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// The node's gRPC listener, `https://host:port`.
    #[arg(long)]
    pub node: Uri,
    /// The region the node's certificate must carry (default: any node of the tree).
    #[arg(long)]
    pub region: Option<RegionId>,
    #[command(flatten)]
    pub auditor: AuditorArgs,
}

/// Which nodes to ask (any node of the tree each), and as whom.
#[derive(Debug, Clone, Args)]
pub struct NodesArgs {
    /// A node's gRPC listener, `https://host:port` (repeat for each node).
    #[arg(long = "node", required = true)]
    pub nodes: Vec<Uri>,
    #[command(flatten)]
    pub auditor: AuditorArgs,
}

/// Why an audit failed: the auditor's set-up, the connection, or the node's answers.
#[derive(Debug, Error)]
pub enum AuditClientError {
    /// A file of the auditor's could not be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// The auditor's key or certificate is unusable.
    #[error("auditor credential: {0}")]
    Identity(#[from] IdentityError),
    /// The root or a CRL is unusable.
    #[error("trust: {0}")]
    Trust(#[from] TrustError),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The node could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The node answered with an error.
    #[error("the node answered {}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
    /// The checkpoint's signer is not a valid node of the CA tree.
    #[error("the checkpoint's signer: {0}")]
    Signer(#[from] Rejection),
    /// The checkpoint note does not verify or parse.
    #[error("checkpoint: {0}")]
    Note(#[from] CheckpointError),
    /// The checkpoint names another log than its signer's.
    #[error("checkpoint origin {found:?} is not its signer's {expected:?}")]
    Origin {
        /// The origin the signer's certificate gives.
        expected: String,
        /// The origin in the note.
        found: String,
    },
    /// The signer is not the node of the region asked for.
    #[error("checkpoint signed by {found}, not by the node of {expected}")]
    Region {
        /// The region asked for.
        expected: RegionId,
        /// The signer's region.
        found: String,
    },
    /// The entries served do not hash to the signed root.
    #[error("the {size} entries served hash to {computed}, the checkpoint signs {signed}")]
    RootMismatch {
        /// The tree size.
        size: u64,
        /// The root computed from the entries.
        computed: String,
        /// The signed root.
        signed: String,
    },
    /// The node served too few or too many entries.
    #[error("the node served {got} entries where {want} were asked for")]
    EntryCount {
        /// Entries asked for.
        want: u64,
        /// Entries served.
        got: u64,
    },
    /// A served proof has a hash that is not 32 bytes.
    #[error("the node served a proof hash that is not 32 bytes")]
    MalformedProof,
    /// A proof does not verify: the node's log is not what it signed, or it forked.
    #[error("proof: {0}")]
    Proof(#[from] MerkleError),
    /// The earlier checkpoint is of another node's log.
    #[error("the earlier checkpoint is of {previous:?}, this one of {current:?}")]
    OtherLog {
        /// The earlier checkpoint's origin.
        previous: String,
        /// This one's.
        current: String,
    },
    /// Two checkpoints of one log whose consistency proof does not verify: a fork, or a
    /// rewritten history.
    #[error(transparent)]
    Inconsistent(Box<Inconsistency>),
    /// The local copy does not hash to the checkpoint kept with it.
    #[error("the local copy's {size} entries do not hash to its kept checkpoint's root")]
    LocalCopy {
        /// Its size.
        size: u64,
    },
    /// The local copy could not be read or written.
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    /// A batch id is not 64 hex digits.
    #[error("batch id {0:?} is not 64 hex digits")]
    BatchId(String),
    /// The logs disagree (`cross-check`).
    #[error("{0} disagreements between the logs")]
    Disagreements(usize),
    /// The earlier checkpoint's tree is larger than the current one: the log shrank.
    #[error("the log {origin} shrank from {previous} to {current} entries")]
    Shrank {
        /// The log.
        origin: String,
        /// The earlier size.
        previous: u64,
        /// The current size.
        current: u64,
    },
}

/// Two checkpoints of one log that a consistency proof does not join, named.
#[derive(Debug, Error)]
#[error(
    "checkpoints {previous_size} ({previous_root}) and {current_size} ({current_root}) of {origin} are not consistent: {source}"
)]
pub struct Inconsistency {
    /// The log.
    pub origin: String,
    /// The earlier tree size.
    pub previous_size: u64,
    /// Its root, base64.
    pub previous_root: String,
    /// The later tree size.
    pub current_size: u64,
    /// Its root, base64.
    pub current_root: String,
    /// What failed.
    pub source: MerkleError,
}

/// A checkpoint whose signature, signer and origin were checked.
#[derive(Debug, Clone)]
pub struct CheckedCheckpoint {
    /// The signed note and its signer's chain, as served.
    pub answer: CheckpointResponse,
    /// Its checkpoint.
    pub checkpoint: Checkpoint,
    /// The signer's certificate fingerprint (SHA-256 of its DER).
    pub signer_sha256: [u8; 32],
    /// The signer's region.
    pub region: RegionId,
    /// The signer's certified Ed25519 key.
    pub signer_key: ed25519_dalek::VerifyingKey,
}

impl CheckedCheckpoint {
    /// As JSON; `cosignatures` names the witnesses whose signature lines the note carries
    /// (checked by the node when it took them, not here: the auditor holds no witness keys).
    pub fn json(&self) -> Value {
        let own = format!("\u{2014} {} ", self.checkpoint.origin());
        let cosignatures: Vec<&str> = self
            .answer
            .note
            .lines()
            .filter(|line| line.starts_with('\u{2014}') && !line.starts_with(&own))
            .filter_map(|line| line.split(' ').nth(1))
            .collect();
        json!({
            "origin": self.checkpoint.origin(),
            "tree_size": self.checkpoint.size().0,
            "root": BASE64.encode(self.checkpoint.root().0),
            "signer_certificate_sha256": hex::encode(self.signer_sha256),
            "cosignatures": cosignatures,
        })
    }
}

/// Checks `answer` against `verifier` at `now`: the signer is a node of the tree (of `region`
/// if given), the origin is its own, and the note carries its valid signature.
pub fn check_checkpoint(
    answer: &CheckpointResponse,
    verifier: &Verifier,
    region: Option<&RegionId>,
    now: UnixTime,
) -> Result<CheckedCheckpoint, AuditClientError> {
    let chain: Vec<CertificateDer<'_>> = answer
        .signer_chain
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    let signer = verifier.verify_node(&chain, now)?;
    let signer_region = signer.region().map(ToString::to_string).unwrap_or_default();
    if let Some(expected) = region
        && signer.region() != Some(expected)
    {
        return Err(AuditClientError::Region {
            expected: expected.clone(),
            found: signer_region,
        });
    }
    let Some(signer_of) = signer.region() else {
        return Err(AuditClientError::Signer(Rejection::EmptyChain));
    };
    let expected = origin(signer.cluster(), signer_of);
    let key = NoteVerifier::new(KeyName::new(&expected)?, *signer.public_key());
    let opened = checkpoint::open(&answer.note, std::slice::from_ref(&key))?;
    let parsed = Checkpoint::parse(opened.text())?;
    if parsed.origin() != expected {
        return Err(AuditClientError::Origin {
            expected,
            found: parsed.origin().to_owned(),
        });
    }
    Ok(CheckedCheckpoint {
        answer: answer.clone(),
        checkpoint: parsed,
        signer_sha256: *signer.fingerprint(),
        region: signer_of.clone(),
        signer_key: *signer.public_key(),
    })
}

/// An auditor's connection to one node.
pub struct Auditor {
    client: AuditClient<Channel>,
    verifier: Arc<Verifier>,
    region: Option<RegionId>,
}

impl Auditor {
    /// Connects to `url` (a node of `region`, or any) with the auditor's credential and trust.
    pub async fn connect(
        url: &Uri,
        region: Option<RegionId>,
        args: &AuditorArgs,
    ) -> Result<Self, AuditClientError> {
        let key = std::fs::read(&args.key).map_err(|source| FileError::Io {
            path: args.key.clone(),
            source,
        })?;
        let chain = std::fs::read(&args.cert).map_err(|source| FileError::Io {
            path: args.cert.clone(),
            source,
        })?;
        let credential = Credential::from_pem(&key, &[&chain])?;
        let root = files::read_first_cert(&args.root)?;
        let crls = files::read_crl_dir(args.crl_dir.as_deref())?;
        let verifier = Arc::new(Verifier::new(root, &crls)?);
        Self::with(url, verifier, &credential, region).await
    }

    /// Connects to `url` as `credential`, checking the node and its answers with `verifier`.
    pub async fn with(
        url: &Uri,
        verifier: Arc<Verifier>,
        credential: &Credential,
        region: Option<RegionId>,
    ) -> Result<Self, AuditClientError> {
        let config = tls::client_config(verifier.clone(), credential, region.clone())?;
        let channel = tls_channel(url, Arc::new(config)).await?;
        Ok(Self {
            client: AuditClient::new(channel).max_decoding_message_size(MAX_ANSWER_BYTES),
            verifier,
            region,
        })
    }

    /// The node's latest checkpoint, checked.
    pub async fn checkpoint(&mut self) -> Result<CheckedCheckpoint, AuditClientError> {
        let answer = self
            .client
            .get_checkpoint(CheckpointRequest {})
            .await?
            .into_inner();
        self.check(&answer)
    }

    /// Checks a checkpoint of this node (one fetched now, or kept from earlier) now.
    pub fn check(
        &self,
        answer: &CheckpointResponse,
    ) -> Result<CheckedCheckpoint, AuditClientError> {
        check_checkpoint(
            answer,
            &self.verifier,
            self.region.as_ref(),
            UnixTime::now(),
        )
    }

    /// Entries `[start, end)` as served, with `progress` called after each chunk.
    pub async fn entries(
        &mut self,
        start: u64,
        end: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<Vec<Vec<u8>>, AuditClientError> {
        let mut stream = self
            .client
            .get_entries(EntriesRequest { start, end })
            .await?
            .into_inner();
        let want = end.saturating_sub(start);
        let mut entries = Vec::new();
        while let Some(chunk) = stream.message().await? {
            let at = start + entries.len() as u64;
            if chunk.start != at || entries.len() as u64 + chunk.entries.len() as u64 > want {
                return Err(AuditClientError::EntryCount {
                    want,
                    got: entries.len() as u64 + chunk.entries.len() as u64,
                });
            }
            entries.extend(chunk.entries);
            progress(entries.len() as u64);
        }
        if entries.len() as u64 != want {
            return Err(AuditClientError::EntryCount {
                want,
                got: entries.len() as u64,
            });
        }
        Ok(entries)
    }

    /// Brings `mirror` (this node's local copy) up to the node's latest checkpoint: the kept
    /// checkpoint is checked again and must hash the kept entries, the new one must be
    /// consistent with it, and all entries, old and new, must hash to the new root. Nothing is
    /// kept unless every check passed. A summary of what was added.
    pub async fn sync(
        &mut self,
        mirror: &mut Mirror,
        progress: impl FnMut(u64),
    ) -> Result<Value, AuditClientError> {
        let current = self.checkpoint().await?;
        let previous = mirror
            .checkpoint()
            .map(|kept| self.check(kept))
            .transpose()?;
        let have = mirror.entries().len() as u64;
        if let Some(previous) = &previous {
            if merkle::root(mirror.leaves()) != previous.checkpoint.root() {
                return Err(AuditClientError::LocalCopy { size: have });
            }
            self.consistent(previous, &current).await?;
        }
        let size = current.checkpoint.size();
        let new = self.entries(have, size.0, progress).await?;
        let mut leaves = mirror.leaves().to_vec();
        leaves.extend(new.iter().map(|e| merkle::leaf_hash(e)));
        check_root(&leaves, &current)?;
        let kinds = kinds(&new);
        let added = new.len();
        mirror.append(new, &current.answer)?;
        Ok(json!({
            "checkpoint": current.json(),
            "previous_tree_size": previous.map(|p| p.checkpoint.size().0),
            "new_entries": added,
            "root_recomputed": true,
            "new_by_kind": kinds,
        }))
    }

    /// The node's whole log, checked against its latest checkpoint.
    pub async fn fetch_log(
        &mut self,
        progress: impl FnMut(u64),
    ) -> Result<(CheckedCheckpoint, Vec<Vec<u8>>), AuditClientError> {
        let current = self.checkpoint().await?;
        let entries = self
            .entries(0, current.checkpoint.size().0, progress)
            .await?;
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        check_root(&leaves, &current)?;
        Ok((current, entries))
    }

    /// Checks that `current` extends `previous`: the previous size back.
    pub async fn consistent(
        &mut self,
        previous: &CheckedCheckpoint,
        current: &CheckedCheckpoint,
    ) -> Result<u64, AuditClientError> {
        let (old, new) = (&previous.checkpoint, &current.checkpoint);
        if old.origin() != new.origin() {
            return Err(AuditClientError::OtherLog {
                previous: old.origin().to_owned(),
                current: new.origin().to_owned(),
            });
        }
        if old.size() > new.size() {
            return Err(AuditClientError::Shrank {
                origin: old.origin().to_owned(),
                previous: old.size().0,
                current: new.size().0,
            });
        }
        let proof = self
            .client
            .get_consistency_proof(ConsistencyProofRequest {
                first: old.size().0,
                second: new.size().0,
            })
            .await?
            .into_inner();
        let proof = proof_hashes(&proof.hashes)?;
        merkle::verify_consistency(old.size(), new.size(), &old.root(), &new.root(), &proof)
            .map_err(|source| {
                AuditClientError::Inconsistent(Box::new(Inconsistency {
                    origin: old.origin().to_owned(),
                    previous_size: old.size().0,
                    previous_root: BASE64.encode(old.root().0),
                    current_size: new.size().0,
                    current_root: BASE64.encode(new.root().0),
                    source,
                }))
            })?;
        Ok(old.size().0)
    }

    /// Entry `index` of `current`'s tree, its inclusion proof checked.
    pub async fn prove(
        &mut self,
        current: &CheckedCheckpoint,
        index: u64,
    ) -> Result<Value, AuditClientError> {
        let size = current.checkpoint.size();
        let entry = self
            .entries(index, index.saturating_add(1).min(size.0), |_| {})
            .await?;
        let entry = entry
            .into_iter()
            .next()
            .ok_or(AuditClientError::EntryCount { want: 1, got: 0 })?;
        let proof = self
            .client
            .get_inclusion_proof(InclusionProofRequest {
                index,
                tree_size: size.0,
            })
            .await?
            .into_inner();
        let proof = proof_hashes(&proof.hashes)?;
        merkle::verify_inclusion(
            LeafIndex(index),
            size,
            &merkle::leaf_hash(&entry),
            &proof,
            &current.checkpoint.root(),
        )?;
        Ok(json!({
            "checkpoint": current.json(),
            "index": index,
            "proof_hashes": proof.len(),
            "entry": entry_json(&entry),
        }))
    }
}

/// Checks that `leaves` hash to `checkpoint`'s root.
fn check_root(leaves: &[Hash], checkpoint: &CheckedCheckpoint) -> Result<(), AuditClientError> {
    let computed = merkle::root(leaves);
    if computed != checkpoint.checkpoint.root() {
        return Err(AuditClientError::RootMismatch {
            size: leaves.len() as u64,
            computed: BASE64.encode(computed.0),
            signed: BASE64.encode(checkpoint.checkpoint.root().0),
        });
    }
    Ok(())
}

/// How many of `entries` are of each kind.
fn kinds(entries: &[Vec<u8>]) -> BTreeMap<&'static str, u64> {
    let mut kinds = BTreeMap::new();
    for entry in entries {
        let name = AuditEntry::decode(entry.as_slice()).map_or("undecodable", |e| kind(&e));
        *kinds.entry(name).or_default() += 1;
    }
    kinds
}

/// The hashes of a served proof (`Err`: one is not 32 bytes).
pub(super) fn proof_hashes(proof: &[Vec<u8>]) -> Result<Vec<Hash>, AuditClientError> {
    proof
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()).map(Hash))
        .collect::<Result<_, _>>()
        .map_err(|_| AuditClientError::MalformedProof)
}

/// The entry's kind, as the JSON names it.
fn kind(entry: &AuditEntry) -> &'static str {
    match &entry.event {
        Some(audit_entry::Event::BatchCut(_)) => "batch_cut",
        Some(audit_entry::Event::BatchServed(_)) => "batch_served",
        Some(audit_entry::Event::BatchStored(_)) => "batch_stored",
        Some(audit_entry::Event::BatchRefused(_)) => "batch_refused",
        Some(audit_entry::Event::RetentionSwept(_)) => "retention_swept",
        Some(audit_entry::Event::ExportBuilt(_)) => "export_built",
        Some(audit_entry::Event::PeerChecked(_)) => "peer_checked",
        Some(audit_entry::Event::CrlApplied(_)) => "crl_applied",
        Some(audit_entry::Event::ForkDetected(_)) => "fork_detected",
        None => "unknown",
    }
}

fn batch_json(batch: Option<&BatchRef>) -> Value {
    batch.map_or(Value::Null, |b| {
        json!({
            "origin_region": b.origin_region,
            "feed": b.feed,
            "sequence": b.sequence,
            "batch_id": hex::encode(&b.batch_id),
        })
    })
}

fn peer_json(peer: Option<&AuditPeer>) -> Value {
    peer.map_or(Value::Null, |p| {
        json!({
            "certificate_sha256": hex::encode(&p.certificate_sha256),
            "region": p.region,
            "cluster": p.cluster,
            "role": p.role,
        })
    })
}

fn path_json(path: i32) -> &'static str {
    match ReplicationPath::try_from(path) {
        Ok(ReplicationPath::PartialStream) => "partial_stream",
        Ok(ReplicationPath::Mesh) => "mesh",
        Ok(ReplicationPath::Audit) => "audit",
        _ => "unspecified",
    }
}

/// One stored entry as JSON (`{"undecodable": ...}` if it does not decode).
pub fn entry_json(bytes: &[u8]) -> Value {
    let Ok(entry) = AuditEntry::decode(bytes) else {
        return json!({ "undecodable": BASE64.encode(bytes) });
    };
    let event = match &entry.event {
        Some(audit_entry::Event::BatchCut(e)) => json!({
            "batch": batch_json(e.batch.as_ref()),
            "key_count": e.key_count,
            "padding_count": e.padding_count,
            "created_unix_millis": e.created_unix_millis,
        }),
        Some(audit_entry::Event::BatchServed(e)) => json!({
            "batch": batch_json(e.batch.as_ref()),
            "peer": peer_json(e.peer.as_ref()),
            "path": path_json(e.path),
        }),
        Some(audit_entry::Event::BatchStored(e)) => json!({
            "batch": batch_json(e.batch.as_ref()),
            "peer": peer_json(e.peer.as_ref()),
            "path": path_json(e.path),
            "key_count": e.key_count,
        }),
        Some(audit_entry::Event::BatchRefused(e)) => json!({
            "batch": batch_json(e.batch.as_ref()),
            "refused_sha256": hex::encode(&e.refused_sha256),
            "peer": peer_json(e.peer.as_ref()),
            "path": path_json(e.path),
            "reason": e.reason,
        }),
        Some(audit_entry::Event::RetentionSwept(e)) => json!({
            "cutoff_unix_secs": e.cutoff_unix_secs,
            "families": e.families.iter().map(|f| json!({
                "column_family": f.column_family,
                "deleted": f.deleted,
            })).collect::<Vec<_>>(),
        }),
        Some(audit_entry::Event::ExportBuilt(e)) => json!({
            "window_start_unix_secs": e.window_start_unix_secs,
            "window_end_unix_secs": e.window_end_unix_secs,
            "files": e.files.iter().map(|f| json!({
                "file_number": f.file_number,
                "zip_sha256": hex::encode(&f.zip_sha256),
            })).collect::<Vec<_>>(),
        }),
        Some(audit_entry::Event::PeerChecked(e)) => json!({
            "peer": peer_json(e.peer.as_ref()),
            "path": path_json(e.path),
            "admitted": e.admitted,
            "reason": e.reason,
        }),
        Some(audit_entry::Event::CrlApplied(e)) => json!({
            "crl_sha256": e.crl_sha256.iter().map(hex::encode).collect::<Vec<_>>(),
        }),
        Some(audit_entry::Event::ForkDetected(e)) => json!({
            "origin": e.origin,
            "held_tree_size": e.held_tree_size,
            "held_note_sha256": hex::encode(&e.held_note_sha256),
            "new_tree_size": e.new_tree_size,
            "new_note_sha256": hex::encode(&e.new_note_sha256),
            "reason": e.reason,
        }),
        None => Value::Null,
    };
    json!({
        "version": entry.version,
        "unix_millis": entry.unix_millis,
        "kind": kind(&entry),
        "event": event,
    })
}

/// Prints progress of a download (of `total` entries, if known) to stderr, at most every two
/// seconds.
fn progress(total: Option<u64>) -> impl FnMut(u64) {
    let (mut last, started) = (Instant::now(), Instant::now());
    move |done| {
        if last.elapsed() >= Duration::from_secs(2) {
            let elapsed = started.elapsed().as_secs_f64();
            match total {
                Some(total) => eprintln!(
                    "{done}/{total} entries ({}%) in {elapsed:.1}s",
                    done * 100 / total.max(1)
                ),
                None => eprintln!("{done} entries in {elapsed:.1}s"),
            }
            last = Instant::now();
        }
    }
}

/// Runs one `enmesh audit` command; prints its JSON on stdout.
pub async fn run(command: AuditCommand) -> Result<(), AuditClientError> {
    let out = match command {
        AuditCommand::Checkpoint { node } => {
            let mut auditor = Auditor::connect(&node.node, node.region, &node.auditor).await?;
            auditor.checkpoint().await?.json()
        }
        AuditCommand::Sync { node, dir } => {
            let mut mirror = Mirror::open(&dir)?;
            let mut auditor = Auditor::connect(&node.node, node.region, &node.auditor).await?;
            auditor.sync(&mut mirror, progress(None)).await?
        }
        AuditCommand::Entries { node, start, end } => {
            let mut auditor = Auditor::connect(&node.node, node.region, &node.auditor).await?;
            let end = match end {
                Some(end) => end,
                None => auditor.checkpoint().await?.checkpoint.size().0,
            };
            let entries = auditor
                .entries(start, end, progress(Some(end.saturating_sub(start))))
                .await?;
            Value::Array(entries.iter().map(|e| entry_json(e)).collect())
        }
        AuditCommand::Prove { node, index } => {
            let mut auditor = Auditor::connect(&node.node, node.region, &node.auditor).await?;
            let current = auditor.checkpoint().await?;
            auditor.prove(&current, index).await?
        }
        AuditCommand::Trace { nodes, batch } => {
            let id = parse_batch_id(&batch)?;
            let logs = fetch_logs(&nodes).await?;
            trace::trace(&logs, &id)
        }
        AuditCommand::CrossCheck { nodes } => {
            let logs = fetch_logs(&nodes).await?;
            let report = trace::cross_check(&logs);
            let count = report.disagreements.len();
            println!("{:#}", report.json());
            if count > 0 {
                return Err(AuditClientError::Disagreements(count));
            }
            return Ok(());
        }
    };
    println!("{out:#}");
    Ok(())
}

/// The checked log of every node of `args`.
pub async fn fetch_logs(args: &NodesArgs) -> Result<Vec<NodeLog>, AuditClientError> {
    let mut logs = Vec::with_capacity(args.nodes.len());
    for url in &args.nodes {
        let mut auditor = Auditor::connect(url, None, &args.auditor).await?;
        let (checkpoint, entries) = auditor.fetch_log(progress(None)).await?;
        logs.push(NodeLog::new(checkpoint, &entries));
    }
    Ok(logs)
}

fn parse_batch_id(text: &str) -> Result<[u8; 32], AuditClientError> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(text, &mut id).map_err(|_| AuditClientError::BatchId(text.to_owned()))?;
    Ok(id)
}
