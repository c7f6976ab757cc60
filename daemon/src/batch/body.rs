//! Batch bodies: a planned batch as the `enmesh.v1.BatchBody` that the node signs.
//!
//! The body carries the origin region, the feed, the sequence, the creation time, the keys and
//! the previous batch's id; nothing else (in particular no visited region: there is no field for
//! one). This module never signs and never writes; the actor does both.

use enmesh_proto::v1::BatchBody;
use enmesh_protocol::keys::DiagnosisKey;
use enmesh_protocol::region::RegionId;

use enmesh_protocol::feed::Feed;

use crate::store::FeedHead;
use crate::wire::key_to_wire;

/// The body of the batch after `head` (`None`: the feed's first batch) in `feed`.
pub fn batch_body(
    origin: &RegionId,
    feed: &Feed,
    head: Option<FeedHead>,
    created_unix_millis: u64,
    keys: &[DiagnosisKey],
) -> BatchBody {
    BatchBody {
        origin_region: origin.to_string(),
        feed: feed.to_string(),
        sequence: head.map_or(1, |h| h.sequence.saturating_add(1)),
        created_unix_millis: i64::try_from(created_unix_millis).unwrap_or(i64::MAX),
        keys: keys.iter().map(key_to_wire).collect(),
        previous_batch_id: head.map_or_else(Vec::new, |h| h.batch_id.0.to_vec()),
    }
}
