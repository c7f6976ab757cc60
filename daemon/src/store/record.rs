//! The stored value encodings: a version byte ([`RECORD_V1`]) then a prost message defined here.
//!
//! Records are never JSON, and a key is converted to and from the `enmesh.v1.DiagnosisKey` wire
//! message with every field checked on the way back (a bad stored key is a corrupt record, never
//! a panic).

use enmesh_proto::v1::{DiagnosisKey as WireKey, SignedBatch};
use enmesh_protocol::keys::DiagnosisKey;
use prost::Message;

use super::error::Result;
use super::layout::{RECORD_V1, corrupt};
use crate::wire::key_from_wire;

/// A key in `local`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct LocalKeyRecord {
    /// The key.
    #[prost(message, optional, tag = "1")]
    pub key: Option<WireKey>,
    /// The upload it came with: its record in `uploads` is at `Arrival { this key's time,
    /// upload_seq }`.
    #[prost(uint64, tag = "2")]
    pub upload_seq: u64,
}

/// A key in `remote`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct RemoteKeyRecord {
    /// The key.
    #[prost(message, optional, tag = "1")]
    pub key: Option<WireKey>,
    /// The origin region's text.
    #[prost(string, tag = "2")]
    pub origin_region: String,
}

/// An upload in `uploads`: local only, never put into a batch.
#[derive(Clone, PartialEq, Message)]
pub(super) struct UploadRecord {
    /// Regions visited besides home (RegionId text).
    #[prost(string, repeated, tag = "1")]
    pub visited_regions: Vec<String>,
    /// Keys stored.
    #[prost(uint32, tag = "2")]
    pub key_count: u32,
    /// The hash of the code that authorised it.
    #[prost(bytes = "vec", tag = "3")]
    pub code_hash: Vec<u8>,
    /// The upload id (digest of its key set).
    #[prost(bytes = "vec", tag = "4")]
    pub upload_id: Vec<u8>,
}

/// A one-time code in `codes`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct CodeRecord {
    /// Expiry, unix seconds (the code is valid while `now < expires`).
    #[prost(uint64, tag = "1")]
    pub expires_unix_secs: u64,
    /// Set once the code is used.
    #[prost(message, optional, tag = "2")]
    pub used: Option<CodeUse>,
}

/// The upload a code authorised.
#[derive(Clone, PartialEq, Message)]
pub(super) struct CodeUse {
    /// The upload id.
    #[prost(bytes = "vec", tag = "1")]
    pub upload_id: Vec<u8>,
    /// Its arrival time.
    #[prost(uint64, tag = "2")]
    pub arrival_unix_secs: u64,
    /// Keys stored.
    #[prost(uint32, tag = "3")]
    pub key_count: u32,
}

/// A batch in `batches`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct BatchRecord {
    /// The batch as it travels.
    #[prost(message, optional, tag = "1")]
    pub signed: Option<SignedBatch>,
    /// When it was cut, unix seconds.
    #[prost(uint64, tag = "2")]
    pub created_unix_secs: u64,
}

/// A consumer cursor in `cursors`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct CursorRecord {
    /// Last committed sequence.
    #[prost(uint64, tag = "1")]
    pub last_sequence: u64,
    /// That batch's id.
    #[prost(bytes = "vec", tag = "2")]
    pub last_batch_id: Vec<u8>,
    /// Next poll time, unix seconds.
    #[prost(uint64, tag = "3")]
    pub next_poll_unix_secs: u64,
}

/// `RECORD_V1 ‖ message`.
pub(super) fn encode<M: Message>(message: &M) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut out = Vec::with_capacity(1 + body.len());
    out.push(RECORD_V1);
    out.extend_from_slice(&body);
    out
}

/// Decodes a value written by [`encode`]; `cf` and `key` name the record in errors.
pub(super) fn decode<M: Message + Default>(
    cf: &'static str,
    key: &[u8],
    value: &[u8],
) -> Result<M> {
    match value.split_first() {
        Some((&RECORD_V1, body)) => {
            M::decode(body).map_err(|_| corrupt(cf, key, "value does not decode"))
        }
        Some(_) => Err(corrupt(cf, key, "unknown record version")),
        None => Err(corrupt(cf, key, "empty value")),
    }
}

/// A 32-byte id field.
pub(super) fn id32(cf: &'static str, key: &[u8], bytes: &[u8]) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes).map_err(|_| corrupt(cf, key, "id is not 32 bytes"))
}

/// A stored wire key back as a [`DiagnosisKey`], every field checked.
pub(super) fn from_wire(
    cf: &'static str,
    db_key: &[u8],
    wire: Option<&WireKey>,
) -> Result<DiagnosisKey> {
    let wire = wire.ok_or_else(|| corrupt(cf, db_key, "record has no key"))?;
    key_from_wire(wire).map_err(|e| corrupt(cf, db_key, e.rule()))
}
