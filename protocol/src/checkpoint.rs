//! C2SP signed notes (Ed25519) and transparency-log checkpoints (c2sp.org/tlog-checkpoint): the
//! signed tree heads of the replication log, and cosigning by peers.
//!
//! A signed note is `text ‖ "\n" ‖ signature lines`; each line is `— <key name> <base64(key id ‖
//! signature)>\n` and signs the text including its final newline. [`open`] checks every
//! signature from a key it was given and returns a [`VerifiedNote`], the only way to obtain the
//! text of a note and to cosign it. This module never accepts a note none of the given keys
//! signed, never lets a failed signature from a known key pass, and never prints secret keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::merkle::{Hash, TreeSize};

/// The signature type byte of Ed25519 keys in key ids and verifier keys.
const ED25519_TYPE: u8 = 0x01;
/// Every signature line starts with U+2014 EM DASH and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// The most signature lines a note may carry (the Go implementation's cap).
pub const MAX_SIGNATURES: usize = 100;
/// Length of a base64 (padded) SHA-256 root hash in a checkpoint.
const ROOT_BASE64_LEN: usize = 44;

/// Why a key, note or checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// A key name is empty or contains whitespace or `+`.
    #[error("key name {0:?} is empty or contains whitespace or '+'")]
    InvalidKeyName(String),
    /// A verifier key is not `<name>+<8 hex digits>+<base64>`.
    #[error("verifier key is not <name>+<key id hex>+<base64 key>")]
    VerifierKeyFormat,
    /// The key id of a verifier key is not 8 hex digits.
    #[error("verifier key id {0:?} is not 8 hex digits")]
    VerifierKeyIdHex(String),
    /// The key part of a verifier key is not valid base64.
    #[error("verifier key material is not valid base64")]
    VerifierKeyBase64,
    /// The key is not an Ed25519 key (type byte 0x01 followed by 32 bytes).
    #[error("verifier key has type {key_type:#04x} and {len} key bytes, expected 0x01 and 32")]
    UnsupportedKey {
        /// The type byte found (0 for an empty key).
        key_type: u8,
        /// The number of key bytes after the type byte.
        len: usize,
    },
    /// The 32 key bytes are not a valid Ed25519 public key.
    #[error("verifier key is not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// The key id in a verifier key does not match its name and key.
    #[error("verifier key states key id {stated} but its name and key give {computed}")]
    KeyIdMismatch {
        /// The key id written in the verifier key.
        stated: KeyId,
        /// The key id computed from the name and key.
        computed: KeyId,
    },
    /// The note text is empty.
    #[error("note text is empty")]
    EmptyText,
    /// The note text does not end with a newline.
    #[error("note text does not end with a newline")]
    TextNotNewlineTerminated,
    /// A line of the note text is empty.
    #[error("line {line} of the note text is empty")]
    EmptyTextLine {
        /// 1-based line number.
        line: usize,
    },
    /// The note contains a control character other than newline.
    #[error("note contains control character {0:#04x}")]
    ControlCharacter(u8),
    /// The note has no blank line separating text from signatures, or no signatures after it.
    #[error("note has no signature block after a blank line")]
    MissingSignatures,
    /// The signature block does not end with a newline.
    #[error("note's last signature line does not end with a newline")]
    SignatureBlockNotNewlineTerminated,
    /// A signature line does not start with an em dash and a space.
    #[error("signature line {line} does not start with \"\u{2014} \"")]
    SignatureLinePrefix {
        /// 1-based signature line number.
        line: usize,
    },
    /// A signature line is not `<key name> <base64 of at least 5 bytes>`.
    #[error("signature line {line} is not <key name> <base64(key id ‖ signature)>")]
    SignatureLineFormat {
        /// 1-based signature line number.
        line: usize,
    },
    /// The note has more signature lines than [`MAX_SIGNATURES`].
    #[error("note has {count} signature lines, the limit is {MAX_SIGNATURES}")]
    TooManySignatures {
        /// The number of signature lines.
        count: usize,
    },
    /// A known key signed the note more than once.
    #[error("key {name} ({key_id}) signed the note more than once")]
    DuplicateSignature {
        /// The key's name.
        name: String,
        /// The key's id.
        key_id: KeyId,
    },
    /// A signature from a known key does not verify over the text.
    #[error("signature of key {name} ({key_id}) does not verify")]
    InvalidSignature {
        /// The key's name.
        name: String,
        /// The key's id.
        key_id: KeyId,
    },
    /// None of the given verifiers signed the note.
    #[error("note carries no signature from any of the {verifiers} known keys")]
    NoKnownSignature {
        /// How many verifiers were given.
        verifiers: usize,
    },
    /// The signer already signed this note.
    #[error("key {name} ({key_id}) already signed this note")]
    AlreadySigned {
        /// The signer's name.
        name: String,
        /// The signer's key id.
        key_id: KeyId,
    },
    /// A checkpoint has fewer than its three mandatory lines (origin, size, root).
    #[error("checkpoint has {lines} lines, at least 3 are needed (origin, tree size, root)")]
    CheckpointTooShort {
        /// The number of lines found.
        lines: usize,
    },
    /// A checkpoint origin or extension line is empty or contains a newline or control character.
    #[error("checkpoint line {0:?} is empty or contains a control character")]
    InvalidCheckpointLine(String),
    /// The tree size line is not a decimal u64 without leading zeros.
    #[error("checkpoint tree size {0:?} is not a decimal number without leading zeros")]
    InvalidTreeSize(String),
    /// The root line is not the standard base64 of 32 bytes.
    #[error("checkpoint root {0:?} is not the base64 of a 32-byte hash")]
    InvalidRootHash(String),
}

/// The 4-byte id of a note key: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0..4]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    fn of(name: &KeyName, key: &VerifyingKey) -> Self {
        let digest = Sha256::new()
            .chain_update(name.0.as_bytes())
            .chain_update([b'\n', ED25519_TYPE])
            .chain_update(key.as_bytes())
            .finalize();
        let [a, b, c, d, ..] = <[u8; 32]>::from(digest);
        Self([a, b, c, d])
    }
}

impl std::fmt::Display for KeyId {
    /// Eight lowercase hex digits, as in verifier keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}", u32::from_be_bytes(self.0))
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A note key name: non-empty, without whitespace or `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName(String);

impl KeyName {
    /// Checks the name rules.
    pub fn new(name: &str) -> Result<Self, CheckpointError> {
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '+') {
            return Err(CheckpointError::InvalidKeyName(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A named Ed25519 note signing key.
pub struct NoteSigner {
    name: KeyName,
    key: SigningKey,
    key_id: KeyId,
}

impl NoteSigner {
    /// The signer for a name and a 32-byte Ed25519 seed.
    pub fn from_seed(name: KeyName, seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let key_id = KeyId::of(&name, &key.verifying_key());
        Self { name, key, key_id }
    }

    /// The key's name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` (checked: non-empty lines each ending in a newline, no control characters)
    /// and returns the signed note.
    pub fn sign_note(&self, text: &str) -> Result<String, CheckpointError> {
        check_text(text)?;
        Ok(self.sign_checked_text(text))
    }

    /// `text ‖ "\n" ‖ signature line` for text already checked.
    fn sign_checked_text(&self, text: &str) -> String {
        let mut note = String::with_capacity(text.len() + 1 + self.name.0.len() + 100);
        note.push_str(text);
        note.push('\n');
        note.push_str(&self.signature_line(text));
        note
    }

    /// `— <name> <base64(key id ‖ signature over text)>\n`.
    fn signature_line(&self, text: &str) -> String {
        let signature: Signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.key_id.0);
        blob.extend_from_slice(&signature.to_bytes());
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(blob))
    }
}

impl std::fmt::Debug for NoteSigner {
    /// Shows the name and key id, never the secret key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A named Ed25519 note verification key; its text form is
/// `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: KeyName,
    key_id: KeyId,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// The verifier for a name and an Ed25519 public key.
    pub fn new(name: KeyName, key: VerifyingKey) -> Self {
        let key_id = KeyId::of(&name, &key);
        Self { name, key_id, key }
    }

    /// Parses the verifier key text and checks that its key id matches its name and key.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CheckpointError::VerifierKeyFormat);
        };
        let name = KeyName::new(name)?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CheckpointError::VerifierKeyIdHex(id_hex.to_owned()));
        }
        let stated = u32::from_str_radix(id_hex, 16)
            .map(|id| KeyId(id.to_be_bytes()))
            .map_err(|_| CheckpointError::VerifierKeyIdHex(id_hex.to_owned()))?;
        let key_bytes = BASE64
            .decode(key_b64)
            .map_err(|_| CheckpointError::VerifierKeyBase64)?;
        let key = match key_bytes.split_first() {
            Some((&ED25519_TYPE, key)) => {
                <&[u8; 32]>::try_from(key).map_err(|_| CheckpointError::UnsupportedKey {
                    key_type: ED25519_TYPE,
                    len: key.len(),
                })?
            }
            Some((&key_type, key)) => {
                return Err(CheckpointError::UnsupportedKey {
                    key_type,
                    len: key.len(),
                });
            }
            None => {
                return Err(CheckpointError::UnsupportedKey {
                    key_type: 0,
                    len: 0,
                });
            }
        };
        let key = VerifyingKey::from_bytes(key).map_err(|_| CheckpointError::InvalidPublicKey)?;
        let verifier = Self::new(name, key);
        if verifier.key_id != stated {
            return Err(CheckpointError::KeyIdMismatch {
                stated,
                computed: verifier.key_id,
            });
        }
        Ok(verifier)
    }

    /// The key's name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl std::fmt::Display for NoteVerifier {
    /// The verifier key text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut key = [ED25519_TYPE; 33];
        key[1..].copy_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.key_id, BASE64.encode(key))
    }
}

/// Checks note text: non-empty lines each ending in `\n`, no control character but `\n`.
fn check_text(text: &str) -> Result<(), CheckpointError> {
    if text.is_empty() {
        return Err(CheckpointError::EmptyText);
    }
    check_controls(text)?;
    let Some(body) = text.strip_suffix('\n') else {
        return Err(CheckpointError::TextNotNewlineTerminated);
    };
    match body.split('\n').position(str::is_empty) {
        Some(index) => Err(CheckpointError::EmptyTextLine { line: index + 1 }),
        None => Ok(()),
    }
}

/// Rejects ASCII control characters other than `\n` (the only place non-ASCII bytes can be
/// controls in UTF-8 is outside this range, so a byte scan is exact).
fn check_controls(text: &str) -> Result<(), CheckpointError> {
    match text.bytes().find(|&b| b < 0x20 && b != b'\n') {
        Some(b) => Err(CheckpointError::ControlCharacter(b)),
        None => Ok(()),
    }
}

/// One parsed signature line.
struct SignatureLine<'n> {
    name: &'n str,
    key_id: KeyId,
    signature: Vec<u8>,
}

/// Splits a note into its text (with final newline) and its signature lines, checking structure
/// but no signatures.
fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), CheckpointError> {
    check_controls(note)?;
    let split = note
        .find("\n\n")
        .ok_or(CheckpointError::MissingSignatures)?;
    let (text, block) = note.split_at(split + 1);
    let block = block.strip_prefix('\n').unwrap_or(block);
    check_text(text)?;
    if block.is_empty() {
        return Err(CheckpointError::MissingSignatures);
    }
    let block = block
        .strip_suffix('\n')
        .ok_or(CheckpointError::SignatureBlockNotNewlineTerminated)?;
    let count = block.split('\n').count();
    if count > MAX_SIGNATURES {
        return Err(CheckpointError::TooManySignatures { count });
    }
    block
        .split('\n')
        .enumerate()
        .map(|(index, line)| parse_signature_line(line, index + 1))
        .collect::<Result<Vec<_>, _>>()
        .map(|lines| (text, lines))
}

fn parse_signature_line(line: &str, number: usize) -> Result<SignatureLine<'_>, CheckpointError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(CheckpointError::SignatureLinePrefix { line: number })?;
    let malformed = CheckpointError::SignatureLineFormat { line: number };
    let (name, b64) = rest.split_once(' ').ok_or(malformed.clone())?;
    KeyName::new(name).map_err(|_| malformed.clone())?;
    let blob = BASE64.decode(b64).map_err(|_| malformed.clone())?;
    match blob.as_slice() {
        [a, b, c, d, signature @ ..] if !signature.is_empty() => Ok(SignatureLine {
            name,
            key_id: KeyId([*a, *b, *c, *d]),
            signature: signature.to_vec(),
        }),
        _ => Err(malformed),
    }
}

/// A note whose signatures from known keys all verified, with at least one such signature.
#[derive(Debug)]
pub struct VerifiedNote<'n, 'v> {
    note: &'n str,
    text: &'n str,
    signers: Vec<&'v NoteVerifier>,
}

impl<'n, 'v> VerifiedNote<'n, 'v> {
    /// The signed text, including its final newline.
    pub fn text(&self) -> &'n str {
        self.text
    }

    /// The verifiers whose signatures verified, in signature-line order.
    pub fn signers(&self) -> &[&'v NoteVerifier] {
        &self.signers
    }

    /// The whole note as opened.
    pub fn note(&self) -> &'n str {
        self.note
    }

    /// Cosigns: the note with one more signature line by `signer` over the same text.
    pub fn cosign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        let (_, lines) = split_note(self.note)?;
        if lines
            .iter()
            .any(|line| line.name == signer.name.as_str() && line.key_id == signer.key_id)
        {
            return Err(CheckpointError::AlreadySigned {
                name: signer.name.0.clone(),
                key_id: signer.key_id,
            });
        }
        if lines.len() >= MAX_SIGNATURES {
            return Err(CheckpointError::TooManySignatures {
                count: lines.len() + 1,
            });
        }
        Ok(format!("{}{}", self.note, signer.signature_line(self.text)))
    }
}

/// Opens a signed note: checks its structure and every signature made by one of `verifiers`
/// (matched by name and key id; lines from other keys are ignored). Fails if a known key's
/// signature does not verify, if a known key signed twice, or if no known key signed.
pub fn open<'n, 'v>(
    note: &'n str,
    verifiers: &'v [NoteVerifier],
) -> Result<VerifiedNote<'n, 'v>, CheckpointError> {
    let (text, lines) = split_note(note)?;
    let mut signers: Vec<&'v NoteVerifier> = Vec::new();
    for line in &lines {
        let Some(verifier) = verifiers
            .iter()
            .find(|v| v.name.as_str() == line.name && v.key_id == line.key_id)
        else {
            continue;
        };
        let error = |duplicate: bool| {
            let (name, key_id) = (line.name.to_owned(), line.key_id);
            if duplicate {
                CheckpointError::DuplicateSignature { name, key_id }
            } else {
                CheckpointError::InvalidSignature { name, key_id }
            }
        };
        if signers.iter().any(|s| std::ptr::eq(*s, verifier)) {
            return Err(error(true));
        }
        let signature = Signature::from_slice(&line.signature).map_err(|_| error(false))?;
        verifier
            .key
            .verify_strict(text.as_bytes(), &signature)
            .map_err(|_| error(false))?;
        signers.push(verifier);
    }
    if signers.is_empty() {
        return Err(CheckpointError::NoKnownSignature {
            verifiers: verifiers.len(),
        });
    }
    Ok(VerifiedNote {
        note,
        text,
        signers,
    })
}

/// A transparency-log checkpoint: the log's origin, a tree size, its root hash and optional
/// opaque extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: TreeSize,
    root: Hash,
    extensions: Vec<String>,
}

/// Checks an origin or extension line: non-empty, no newline or other control character.
fn check_line(line: &str) -> Result<(), CheckpointError> {
    if line.is_empty() || line.bytes().any(|b| b < 0x20) {
        return Err(CheckpointError::InvalidCheckpointLine(line.to_owned()));
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint; `origin` and each extension must be a non-empty line without control
    /// characters.
    pub fn new(
        origin: &str,
        size: TreeSize,
        root: Hash,
        extensions: Vec<String>,
    ) -> Result<Self, CheckpointError> {
        check_line(origin)?;
        extensions.iter().try_for_each(|line| check_line(line))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Parses checkpoint text strictly: note-text rules, a decimal size without leading zeros,
    /// a canonical base64 32-byte root.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        check_text(text)?;
        let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::CheckpointTooShort { lines: lines.len() });
        };
        let size = parse_size(size)?;
        let root = parse_root(root)?;
        Self::new(
            origin,
            size,
            root,
            extensions.iter().map(|line| (*line).to_owned()).collect(),
        )
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> TreeSize {
        self.size
    }

    /// The root hash of the tree of that size.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The extension lines, without newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// Signs the checkpoint text into a signed note.
    pub fn sign(&self, signer: &NoteSigner) -> String {
        signer.sign_checked_text(&self.to_string())
    }
}

impl std::fmt::Display for Checkpoint {
    /// The checkpoint text, every line ending in a newline.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(f, "{}", self.size.0)?;
        writeln!(f, "{}", BASE64.encode(self.root.0))?;
        self.extensions
            .iter()
            .try_for_each(|line| writeln!(f, "{line}"))
    }
}

fn parse_size(line: &str) -> Result<TreeSize, CheckpointError> {
    let invalid = || CheckpointError::InvalidTreeSize(line.to_owned());
    if line.is_empty()
        || !line.bytes().all(|b| b.is_ascii_digit())
        || (line.len() > 1 && line.starts_with('0'))
    {
        return Err(invalid());
    }
    line.parse().map(TreeSize).map_err(|_| invalid())
}

fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    let invalid = || CheckpointError::InvalidRootHash(line.to_owned());
    if line.len() != ROOT_BASE64_LEN {
        return Err(invalid());
    }
    let bytes = BASE64.decode(line).map_err(|_| invalid())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(Hash)
        .map_err(|_| invalid())
}
