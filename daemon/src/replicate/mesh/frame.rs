//! The mesh's messages and their codec: what travels on the gossip topic (a [`Head`]) and over
//! the two request-response protocols (admission and sync), as length-prefixed protobuf. Sync
//! also carries the witnessing of replication logs between the nodes of a cluster: a node's
//! latest checkpoint, a consistency proof of its log, and a cosignature handed back.
//!
//! Every read is bounded: a length prefix above the protocol's limit is refused before anything
//! is allocated, and trailing or missing bytes are an error. This module never interprets a
//! message (no certificate or batch check happens here): it only frames and decodes.

use enmesh_proto::v1::{CheckpointResponse, SignedBatch};
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};
use prost::Message;
use std::io;
use std::marker::PhantomData;

/// The admission protocol: each side presents its certificate chain.
pub const ADMIT_PROTOCOL: StreamProtocol = StreamProtocol::new("/enmesh/mesh/admit/1");
/// The sync protocol: heads and pages of batches for catch-up.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/enmesh/mesh/sync/1");

/// Largest admission message (a two-certificate chain is about 1.5 KiB).
pub const MAX_ADMIT_BYTES: usize = 64 * 1024;
/// Largest sync request.
pub const MAX_SYNC_REQUEST_BYTES: usize = 4 * 1024;
/// Largest sync response (one page of batches).
pub const MAX_SYNC_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// A node's certificate chain, node first (both the admission request and its answer).
#[derive(Clone, PartialEq, Message)]
pub struct Admit {
    /// DER certificates: node, then cluster CA.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub chain: Vec<Vec<u8>>,
}

/// The highest contiguous sequence a node holds of one origin's all-to-all feed. Also the one
/// gossip message: an announcement that the sender holds the origin's batches up to `sequence`.
#[derive(Clone, PartialEq, Message)]
pub struct Head {
    /// The origin region (canonical text).
    #[prost(string, tag = "1")]
    pub origin: String,
    /// The highest sequence held without a gap (0: none).
    #[prost(uint64, tag = "2")]
    pub sequence: u64,
}

/// A sync request.
#[derive(Clone, PartialEq, Message)]
pub struct SyncRequest {
    /// What is asked.
    #[prost(oneof = "Ask", tags = "1, 2, 3, 4, 5")]
    pub ask: Option<Ask>,
}

/// What a sync request asks for.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Ask {
    /// The responder's heads, one per origin it knows.
    #[prost(message, tag = "1")]
    Heads(HeadsAsk),
    /// Batches of one origin after a sequence.
    #[prost(message, tag = "2")]
    Batches(BatchesAsk),
    /// The responder's latest signed checkpoint of its replication log.
    #[prost(message, tag = "3")]
    Checkpoint(CheckpointAsk),
    /// A consistency proof of the responder's replication log.
    #[prost(message, tag = "4")]
    Consistency(ConsistencyAsk),
    /// The asker's cosignature of the responder's checkpoint, to keep with it.
    #[prost(message, tag = "5")]
    Cosign(CosignAsk),
}

/// Asks for the responder's latest checkpoint.
#[derive(Clone, PartialEq, Message)]
pub struct CheckpointAsk {}

/// Asks for an RFC 9162 consistency proof from tree size `first` to `second`.
#[derive(Clone, PartialEq, Message)]
pub struct ConsistencyAsk {
    /// The smaller tree size (the checkpoint the asker holds).
    #[prost(uint64, tag = "1")]
    pub first: u64,
    /// The larger tree size (the checkpoint just received).
    #[prost(uint64, tag = "2")]
    pub second: u64,
}

/// Hands the responder its checkpoint cosigned by the asker.
#[derive(Clone, PartialEq, Message)]
pub struct CosignAsk {
    /// The checkpoint text with the asker's signature line (C2SP signed note).
    #[prost(string, tag = "1")]
    pub note: String,
}

/// Asks for the responder's heads.
#[derive(Clone, PartialEq, Message)]
pub struct HeadsAsk {}

/// Asks for up to `limit` batches of `origin` with a sequence above `after_sequence`.
#[derive(Clone, PartialEq, Message)]
pub struct BatchesAsk {
    /// The origin region.
    #[prost(string, tag = "1")]
    pub origin: String,
    /// The last sequence the asker holds.
    #[prost(uint64, tag = "2")]
    pub after_sequence: u64,
    /// At most this many batches (the responder may send fewer).
    #[prost(uint32, tag = "3")]
    pub limit: u32,
}

/// A sync answer: heads for a heads request, batches (in sequence order) for a batches request.
#[derive(Clone, PartialEq, Message)]
pub struct SyncResponse {
    /// The responder's heads.
    #[prost(message, repeated, tag = "1")]
    pub heads: Vec<Head>,
    /// Batches, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub batches: Vec<SignedBatch>,
    /// With heads: addresses (`.../p2p/<peer id>`) of the responder's admitted peers, so a node
    /// bootstrapped with one address finds the rest of its cluster.
    #[prost(string, repeated, tag = "3")]
    pub peers: Vec<String>,
    /// With a checkpoint request: the responder's latest checkpoint (none before the first).
    #[prost(message, optional, tag = "4")]
    pub checkpoint: Option<CheckpointResponse>,
    /// With a consistency request: the proof's hashes.
    #[prost(bytes = "vec", repeated, tag = "5")]
    pub proof: Vec<Vec<u8>>,
    /// With a consistency or cosignature request the responder could not answer: why.
    #[prost(string, tag = "6")]
    pub refused: String,
}

/// A request-response codec for one request and one response message type: a 4-byte big-endian
/// length, then the protobuf bytes.
#[derive(Debug)]
pub struct Codec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Clone for Codec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new(self.max_request, self.max_response)
    }
}

impl<Req, Resp> Codec<Req, Resp> {
    /// A codec refusing requests above `max_request` and responses above `max_response` bytes.
    pub fn new(max_request: usize, max_response: usize) -> Self {
        Self {
            max_request,
            max_response,
            _types: PhantomData,
        }
    }
}

/// The admission codec.
pub fn admit_codec() -> Codec<Admit, Admit> {
    Codec::new(MAX_ADMIT_BYTES, MAX_ADMIT_BYTES)
}

/// The sync codec.
pub fn sync_codec() -> Codec<SyncRequest, SyncResponse> {
    Codec::new(MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES)
}

async fn read_frame<T, M>(io: &mut T, max: usize) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: Message + Default,
{
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut bytes = vec![0u8; len];
    io.read_exact(&mut bytes).await?;
    let mut rest = [0u8; 1];
    if io.read(&mut rest).await? != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "trailing bytes after the message",
        ));
    }
    M::decode(bytes.as_slice()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_frame<T, M>(io: &mut T, message: &M, max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    M: Message,
{
    let len = message.encoded_len();
    let prefix = u32::try_from(len)
        .ok()
        .filter(|_| len <= max)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("message of {len} bytes exceeds the limit of {max}"),
            )
        })?;
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&prefix.to_be_bytes());
    message.encode(&mut frame).map_err(io::Error::other)?;
    io.write_all(&frame).await?;
    io.close().await
}

impl<Req, Resp> request_response::Codec for Codec<Req, Resp>
where
    Req: Message + Default + Send + 'static,
    Resp: Message + Default + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, self.max_response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::futures::executor::block_on;
    use libp2p::futures::io::Cursor;
    use proptest::prelude::*;

    fn framed(message: &impl Message) -> Vec<u8> {
        let mut out = Vec::new();
        block_on(write_frame(&mut Cursor::new(&mut out), message, usize::MAX)).unwrap();
        out
    }

    proptest! {
        #[test]
        fn sync_response_round_trips(origin in "[A-Z]{2}", seq in any::<u64>(),
                                     body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let message = SyncResponse {
                heads: vec![Head { origin, sequence: seq }],
                batches: vec![SignedBatch { body, signer_chain: vec![vec![1, 2]], signature: vec![3; 64] }],
                peers: vec!["/ip4/127.0.0.1/tcp/1".to_owned()],
                ..SyncResponse::default()
            };
            let bytes = framed(&message);
            let back: SyncResponse = block_on(read_frame(&mut Cursor::new(bytes), usize::MAX)).unwrap();
            prop_assert_eq!(back, message);
        }

        #[test]
        fn truncated_extended_or_garbled_frames_fail_without_panic(
            chain in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 0..4),
            cut in any::<prop::sample::Index>(), garbage in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bytes = framed(&Admit { chain });
            let short = &bytes[..cut.index(bytes.len())];
            prop_assert!(block_on(read_frame::<_, Admit>(&mut Cursor::new(short), usize::MAX)).is_err());
            let mut long = bytes.clone();
            long.push(0);
            prop_assert!(block_on(read_frame::<_, Admit>(&mut Cursor::new(long), usize::MAX)).is_err());
            let _ = block_on(read_frame::<_, SyncResponse>(&mut Cursor::new(garbage), usize::MAX));
        }
    }

    #[test]
    fn a_length_above_the_limit_is_refused_before_reading() {
        let bytes = framed(&Admit {
            chain: vec![vec![0; 100]],
        });
        let err = block_on(read_frame::<_, Admit>(&mut Cursor::new(bytes), 50)).unwrap_err();
        assert!(err.to_string().contains("exceeds the limit of 50"), "{err}");
    }
}
