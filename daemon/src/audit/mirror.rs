//! An auditor's local copy of one node's replication log (`enmesh audit sync --dir D`): the
//! entries downloaded so far and the checkpoint they were checked against.
//!
//! - `D/entries`: every entry as a 4-byte big-endian length and the entry's bytes, in log order;
//! - `D/checkpoint.json`: the signed note and its signer's chain the entries were checked
//!   against (written after the entries, by rename, so a crash leaves the previous one).
//!
//! On open, entries beyond the kept checkpoint's size (a sync cut off between the two writes)
//! are dropped. This module never checks signatures or proofs (the client does) and never
//! rewrites an entry it kept: it only appends, and truncates back to the kept checkpoint.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use enmesh_proto::v1::CheckpointResponse;
use enmesh_protocol::merkle::{self, Hash};
use serde_json::{Value, json};
use thiserror::Error;

use super::checkpoints::size_of;

const ENTRIES: &str = "entries";
const CHECKPOINT: &str = "checkpoint.json";
/// The largest entry a mirror accepts (the node writes a few hundred bytes).
const MAX_ENTRY_BYTES: usize = 1 << 20;

/// Why a local copy could not be read or written.
#[derive(Debug, Error)]
pub enum MirrorError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is not what `sync` writes.
    #[error("{path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
}

/// One node's log as far as it was downloaded and checked.
#[derive(Debug)]
pub struct Mirror {
    dir: PathBuf,
    entries: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
    checkpoint: Option<CheckpointResponse>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MirrorError + '_ {
    move |source| MirrorError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Mirror {
    /// Opens (or creates) the copy in `dir`.
    pub fn open(dir: &Path) -> Result<Self, MirrorError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let checkpoint_path = dir.join(CHECKPOINT);
        let checkpoint = match std::fs::read_to_string(&checkpoint_path) {
            Ok(text) => Some(parse_checkpoint(&text).ok_or(MirrorError::Damaged {
                path: checkpoint_path.clone(),
                reason: "not a checkpoint written by `enmesh audit sync`",
            })?),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(io(&checkpoint_path)(error)),
        };
        let entries_path = dir.join(ENTRIES);
        let bytes = match std::fs::read(&entries_path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(io(&entries_path)(error)),
        };
        let mut entries = split(&bytes).ok_or(MirrorError::Damaged {
            path: entries_path.clone(),
            reason: "an entry's length runs past the end of the file",
        })?;
        let kept = checkpoint.as_ref().map_or(0, |c| size_of(&c.note));
        if (entries.len() as u64) < kept {
            return Err(MirrorError::Damaged {
                path: entries_path,
                reason: "fewer entries than the kept checkpoint's tree size",
            });
        }
        entries.truncate(usize::try_from(kept).unwrap_or(usize::MAX));
        let mut mirror = Self {
            dir: dir.to_owned(),
            leaves: entries.iter().map(|e| merkle::leaf_hash(e)).collect(),
            entries,
            checkpoint,
        };
        mirror.rewrite_entries()?;
        Ok(mirror)
    }

    /// The entries kept, in log order.
    pub fn entries(&self) -> &[Vec<u8>] {
        &self.entries
    }

    /// Their leaf hashes.
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }

    /// The checkpoint they were checked against (`None`: never synced).
    pub fn checkpoint(&self) -> Option<&CheckpointResponse> {
        self.checkpoint.as_ref()
    }

    /// Appends `new` entries and keeps `checkpoint` as the one they were checked against.
    pub fn append(
        &mut self,
        new: Vec<Vec<u8>>,
        checkpoint: &CheckpointResponse,
    ) -> Result<(), MirrorError> {
        let path = self.dir.join(ENTRIES);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let mut bytes = Vec::new();
        for entry in &new {
            bytes.extend_from_slice(&u32::try_from(entry.len()).unwrap_or(u32::MAX).to_be_bytes());
            bytes.extend_from_slice(entry);
        }
        file.write_all(&bytes).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        let text = format!("{:#}\n", checkpoint_json(checkpoint));
        let (tmp, kept) = (
            self.dir.join("checkpoint.json.tmp"),
            self.dir.join(CHECKPOINT),
        );
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &kept).map_err(io(&kept))?;
        self.leaves.extend(new.iter().map(|e| merkle::leaf_hash(e)));
        self.entries.extend(new);
        self.checkpoint = Some(checkpoint.clone());
        Ok(())
    }

    /// Writes the kept entries again when the file holds more (a cut-off sync).
    fn rewrite_entries(&mut self) -> Result<(), MirrorError> {
        let path = self.dir.join(ENTRIES);
        let kept: usize = self.entries.iter().map(|e| e.len() + 4).sum();
        let on_disk = std::fs::metadata(&path).map_or(0, |m| m.len());
        if on_disk as usize == kept {
            return Ok(());
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len(kept as u64).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))
    }
}

/// The entries of an `entries` file (`None`: a length runs past the end).
fn split(mut bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if len > MAX_ENTRY_BYTES || len > rest.len() {
            return None;
        }
        entries.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    Some(entries)
}

/// A checkpoint and its signer's chain as `checkpoint.json` holds it.
pub fn checkpoint_json(answer: &CheckpointResponse) -> Value {
    json!({
        "note": answer.note,
        "signer_chain": answer.signer_chain.iter().map(|der| BASE64.encode(der)).collect::<Vec<_>>(),
    })
}

/// A `checkpoint.json` read back (`None`: not that shape).
pub fn parse_checkpoint(text: &str) -> Option<CheckpointResponse> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn entries_files_round_trip_and_garbage_never_panics(
            entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20),
            garbage in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut bytes = Vec::new();
            for entry in &entries {
                bytes.extend_from_slice(&(entry.len() as u32).to_be_bytes());
                bytes.extend_from_slice(entry);
            }
            prop_assert_eq!(split(&bytes), Some(entries));
            let _ = split(&garbage);
            let _ = parse_checkpoint(&String::from_utf8_lossy(&garbage));
        }
    }

    #[test]
    fn a_sync_cut_off_after_its_entries_is_rolled_back_to_the_kept_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let root = merkle::root(&[merkle::leaf_hash(b"one")]);
        let checkpoint = enmesh_protocol::checkpoint::Checkpoint::new(
            "enmesh/EU/DE",
            merkle::TreeSize(1),
            root,
            Vec::new(),
        )
        .unwrap();
        let signer = enmesh_protocol::checkpoint::NoteSigner::from_seed(
            enmesh_protocol::checkpoint::KeyName::new("enmesh/EU/DE").unwrap(),
            &[7; 32],
        );
        let answer = CheckpointResponse {
            note: checkpoint.sign(&signer),
            signer_chain: vec![vec![1, 2, 3]],
        };
        let mut mirror = Mirror::open(dir.path()).unwrap();
        mirror.append(vec![b"one".to_vec()], &answer).unwrap();
        // A second sync appended its entries, then stopped before its checkpoint.
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(ENTRIES))
            .unwrap();
        file.write_all(&[0, 0, 0, 3, b't', b'w', b'o']).unwrap();
        drop(file);
        let mirror = Mirror::open(dir.path()).unwrap();
        assert_eq!(mirror.entries(), [b"one".to_vec()]);
        assert_eq!(mirror.leaves(), [merkle::leaf_hash(b"one")]);
        assert_eq!(mirror.checkpoint(), Some(&answer));
        assert_eq!(
            std::fs::metadata(dir.path().join(ENTRIES)).unwrap().len(),
            7
        );
        // A damaged file is named, not trusted.
        std::fs::write(dir.path().join(ENTRIES), [0, 0, 0, 9, 1]).unwrap();
        assert!(matches!(
            Mirror::open(dir.path()),
            Err(MirrorError::Damaged { .. })
        ));
    }
}
