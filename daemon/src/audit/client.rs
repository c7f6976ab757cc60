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
    /// Download the whole log, recompute its root against the signed checkpoint and, given an
    /// earlier checkpoint of the node (a note file), check that the log only grew since.
    Verify {
        #[command(flatten)]
        node: NodeArgs,
        /// An earlier signed checkpoint note of the same node.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// Write the checked checkpoint's note here (for the next `--previous`).
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Check entry `index`'s inclusion in the signed checkpoint's tree and print it.
    Prove {
        #[command(flatten)]
        node: NodeArgs,
        /// The entry.
        #[arg(long)]
        index: u64,
    },
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
    /// A `--previous` file is not a checkpoint kept by `verify --save`.
    #[error("{0} is not a checkpoint kept by `enmesh audit verify --save`")]
    Saved(PathBuf),
    /// The earlier checkpoint's tree is larger than the current one: the log shrank.
    #[error("the log shrank from {previous} to {current} entries")]
    Shrank {
        /// The earlier size.
        previous: u64,
        /// The current size.
        current: u64,
    },
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
}

impl CheckedCheckpoint {
    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "origin": self.checkpoint.origin(),
            "tree_size": self.checkpoint.size().0,
            "root": BASE64.encode(self.checkpoint.root().0),
            "signer_certificate_sha256": hex(&self.signer_sha256),
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
    })
}

/// An auditor's connection to one node.
pub struct Auditor {
    client: AuditClient<Channel>,
    verifier: Arc<Verifier>,
    region: Option<RegionId>,
}

impl Auditor {
    /// Connects to `args.node` with the auditor's credential and trust.
    pub async fn connect(args: &NodeArgs) -> Result<Self, AuditClientError> {
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
        Self::with(&args.node, verifier, &credential, args.region.clone()).await
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

    /// Checks the whole log against `current`, and its consistency with `previous` (a checked
    /// earlier checkpoint of the same node); a summary of what it holds.
    pub async fn verify(
        &mut self,
        current: &CheckedCheckpoint,
        previous: Option<&CheckedCheckpoint>,
        progress: impl FnMut(u64),
    ) -> Result<Value, AuditClientError> {
        let size = current.checkpoint.size();
        let entries = self.entries(0, size.0, progress).await?;
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let computed = merkle::root(&leaves);
        if computed != current.checkpoint.root() {
            return Err(AuditClientError::RootMismatch {
                size: size.0,
                computed: BASE64.encode(computed.0),
                signed: BASE64.encode(current.checkpoint.root().0),
            });
        }
        let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut undecodable = 0u64;
        for entry in &entries {
            match AuditEntry::decode(entry.as_slice()) {
                Ok(entry) => *kinds.entry(kind(&entry)).or_default() += 1,
                Err(_) => undecodable += 1,
            }
        }
        let consistent = match previous {
            Some(previous) => Some(self.consistent(previous, current).await?),
            None => None,
        };
        Ok(json!({
            "checkpoint": current.json(),
            "entries": size.0,
            "root_recomputed": true,
            "undecodable_entries": undecodable,
            "by_kind": kinds,
            "consistent_with_previous": consistent.map(|size: u64| json!({ "previous_tree_size": size })),
        }))
    }

    /// Checks that `current` extends `previous`: the previous size back.
    async fn consistent(
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
        let proof = hashes(&proof.hashes)?;
        merkle::verify_consistency(old.size(), new.size(), &old.root(), &new.root(), &proof)?;
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
        let proof = hashes(&proof.hashes)?;
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

fn hashes(proof: &[Vec<u8>]) -> Result<Vec<Hash>, AuditClientError> {
    proof
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()).map(Hash))
        .collect::<Result<_, _>>()
        .map_err(|_| AuditClientError::Proof(MerkleError::ProofOverLimit { len: proof.len() }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        None => "unknown",
    }
}

fn batch_json(batch: Option<&BatchRef>) -> Value {
    batch.map_or(Value::Null, |b| {
        json!({
            "origin_region": b.origin_region,
            "feed": b.feed,
            "sequence": b.sequence,
            "batch_id": hex(&b.batch_id),
        })
    })
}

fn peer_json(peer: Option<&AuditPeer>) -> Value {
    peer.map_or(Value::Null, |p| {
        json!({
            "certificate_sha256": hex(&p.certificate_sha256),
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
            "refused_sha256": hex(&e.refused_sha256),
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
                "zip_sha256": hex(&f.zip_sha256),
            })).collect::<Vec<_>>(),
        }),
        Some(audit_entry::Event::PeerChecked(e)) => json!({
            "peer": peer_json(e.peer.as_ref()),
            "path": path_json(e.path),
            "admitted": e.admitted,
            "reason": e.reason,
        }),
        Some(audit_entry::Event::CrlApplied(e)) => json!({
            "crl_sha256": e.crl_sha256.iter().map(|d| hex(d)).collect::<Vec<_>>(),
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

/// Prints progress of a download of `total` entries to stderr, at most every two seconds.
fn progress(total: u64) -> impl FnMut(u64) {
    let (mut last, started) = (Instant::now(), Instant::now());
    move |done| {
        if last.elapsed() >= Duration::from_secs(2) || (done == total && total > 10_000) {
            eprintln!(
                "{done}/{total} entries ({}%) in {:.1}s",
                done * 100 / total.max(1),
                started.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
    }
}

/// Runs one `enmesh audit` command; prints its JSON on stdout.
pub async fn run(command: AuditCommand) -> Result<(), AuditClientError> {
    let out = match command {
        AuditCommand::Checkpoint { node } => {
            let mut auditor = Auditor::connect(&node).await?;
            auditor.checkpoint().await?.json()
        }
        AuditCommand::Entries { node, start, end } => {
            let mut auditor = Auditor::connect(&node).await?;
            let end = match end {
                Some(end) => end,
                None => auditor.checkpoint().await?.checkpoint.size().0,
            };
            let entries = auditor
                .entries(start, end, progress(end.saturating_sub(start)))
                .await?;
            Value::Array(entries.iter().map(|e| entry_json(e)).collect())
        }
        AuditCommand::Verify {
            node,
            previous,
            save,
        } => {
            let mut auditor = Auditor::connect(&node).await?;
            let current = auditor.checkpoint().await?;
            let previous = match previous {
                Some(path) => {
                    let text = files::read_text(&path)?;
                    let answer = saved(&text).ok_or(AuditClientError::Saved(path))?;
                    Some(auditor.check(&answer)?)
                }
                None => None,
            };
            let size = current.checkpoint.size().0;
            let report = auditor
                .verify(&current, previous.as_ref(), progress(size))
                .await?;
            if let Some(path) = save {
                let text = format!("{:#}\n", saved_json(&current.answer));
                std::fs::write(&path, text).map_err(|source| FileError::Io { path, source })?;
            }
            report
        }
        AuditCommand::Prove { node, index } => {
            let mut auditor = Auditor::connect(&node).await?;
            let current = auditor.checkpoint().await?;
            auditor.prove(&current, index).await?
        }
    };
    println!("{out:#}");
    Ok(())
}

/// A checkpoint as `verify --save` keeps it: the note and its signer's chain.
fn saved_json(answer: &CheckpointResponse) -> Value {
    json!({
        "note": answer.note,
        "signer_chain": answer.signer_chain.iter().map(|der| BASE64.encode(der)).collect::<Vec<_>>(),
    })
}

/// A checkpoint kept by `verify --save`, read back (`None`: not that shape).
fn saved(text: &str) -> Option<CheckpointResponse> {
    let value: Value = serde_json::from_str(text).ok()?;
    let note = value.get("note")?.as_str()?.to_owned();
    let signer_chain = value
        .get("signer_chain")?
        .as_array()?
        .iter()
        .map(|der| BASE64.decode(der.as_str()?).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(CheckpointResponse { note, signer_chain })
}
