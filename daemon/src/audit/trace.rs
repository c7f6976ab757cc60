//! Reading several nodes' checked logs together (`enmesh audit trace` and `cross-check`): where
//! one batch went, and whether the nodes tell the same story.
//!
//! Pure: it takes logs the client already checked against their signed checkpoints and never
//! talks to a node. The cross-check rules:
//! - a batch a node stored was cut by its origin with the same id (when the origin's log is
//!   among those given);
//! - a batch a node served to a peer of region R reached R's log (stored or refused, from
//!   anyone: a node that held it already stored it earlier) when R's log is among those given.

use std::collections::{HashMap, HashSet};

use enmesh_proto::v1::{AuditEntry, BatchRef, audit_entry::Event};
use enmesh_protocol::region::RegionId;
use prost::Message;
use serde_json::{Value, json};

use super::client::{CheckedCheckpoint, entry_json};

/// One node's log, decoded, with the checkpoint it was checked against.
#[derive(Debug, Clone)]
pub struct NodeLog {
    /// The node's checkpoint.
    pub checkpoint: CheckedCheckpoint,
    /// Its entries that decode, with their index.
    pub entries: Vec<(u64, AuditEntry)>,
}

impl NodeLog {
    /// The log of the node that signed `checkpoint`, from its `entries` (as served).
    pub fn new(checkpoint: CheckedCheckpoint, entries: &[Vec<u8>]) -> Self {
        let entries = (0u64..)
            .zip(entries)
            .filter_map(|(i, bytes)| AuditEntry::decode(bytes.as_slice()).ok().map(|e| (i, e)))
            .collect();
        Self {
            checkpoint,
            entries,
        }
    }

    fn region(&self) -> &RegionId {
        &self.checkpoint.region
    }
}

/// The batch an event is about, if any.
fn batch_of(event: &Event) -> Option<&BatchRef> {
    match event {
        Event::BatchCut(e) => e.batch.as_ref(),
        Event::BatchServed(e) => e.batch.as_ref(),
        Event::BatchStored(e) => e.batch.as_ref(),
        Event::BatchRefused(e) => e.batch.as_ref(),
        _ => None,
    }
}

/// Every entry of `logs` about batch `id`, per node, in log order.
pub fn trace(logs: &[NodeLog], id: &[u8; 32]) -> Value {
    let nodes: Vec<Value> = logs
        .iter()
        .map(|log| {
            let events: Vec<Value> = log
                .entries
                .iter()
                .filter(|(_, e)| {
                    e.event
                        .as_ref()
                        .and_then(batch_of)
                        .is_some_and(|b| b.batch_id == id)
                })
                .map(|(i, e)| json!({ "index": i, "entry": entry_json(&e.encode_to_vec()) }))
                .collect();
            json!({
                "node": log.checkpoint.checkpoint.origin(),
                "tree_size": log.checkpoint.checkpoint.size().0,
                "events": events,
            })
        })
        .collect();
    json!({ "batch_id": hex::encode(id), "nodes": nodes })
}

/// The result of [`cross_check`].
#[derive(Debug, Clone, Default)]
pub struct CrossCheck {
    /// Each disagreement, described.
    pub disagreements: Vec<String>,
    /// Per node: (origin, entries, batches stored checked, batches served checked).
    pub nodes: Vec<(String, u64, u64, u64)>,
}

impl CrossCheck {
    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "consistent": self.disagreements.is_empty(),
            "nodes": self.nodes.iter().map(|(origin, entries, stored, served)| json!({
                "node": origin,
                "entries": entries,
                "stored_checked": stored,
                "served_checked": served,
            })).collect::<Vec<_>>(),
            "disagreements": self.disagreements,
        })
    }
}

fn describe(b: &BatchRef) -> String {
    format!(
        "{} {} #{} ({})",
        b.origin_region,
        b.feed,
        b.sequence,
        hex::encode(&b.batch_id)
    )
}

/// Compares `logs` by the rules of the module documentation.
pub fn cross_check(logs: &[NodeLog]) -> CrossCheck {
    let by_region: HashMap<String, &NodeLog> =
        logs.iter().map(|l| (l.region().to_string(), l)).collect();
    // What each origin says it cut: (feed, sequence) → id.
    let cuts: HashMap<String, HashMap<(String, u64), Vec<u8>>> = logs
        .iter()
        .map(|log| {
            let cut = log
                .entries
                .iter()
                .filter_map(|(_, e)| match &e.event {
                    Some(Event::BatchCut(c)) => c.batch.as_ref(),
                    _ => None,
                })
                .map(|b| ((b.feed.clone(), b.sequence), b.batch_id.clone()))
                .collect();
            (log.region().to_string(), cut)
        })
        .collect();
    // Which batch ids each node's log has stored or refused.
    let reached: HashMap<String, HashSet<Vec<u8>>> = logs
        .iter()
        .map(|log| {
            let ids = log
                .entries
                .iter()
                .filter_map(|(_, e)| match &e.event {
                    Some(Event::BatchStored(s)) => s.batch.as_ref(),
                    Some(Event::BatchRefused(r)) => r.batch.as_ref(),
                    _ => None,
                })
                .map(|b| b.batch_id.clone())
                .collect();
            (log.region().to_string(), ids)
        })
        .collect();
    let mut report = CrossCheck::default();
    for log in logs {
        let me = log.checkpoint.checkpoint.origin().to_owned();
        let (mut stored_checked, mut served_checked) = (0u64, 0u64);
        for (index, entry) in &log.entries {
            match &entry.event {
                Some(Event::BatchStored(stored)) => {
                    let Some(b) = stored.batch.as_ref() else {
                        continue;
                    };
                    let Some(cut) = cuts.get(&b.origin_region) else {
                        continue;
                    };
                    stored_checked += 1;
                    match cut.get(&(b.feed.clone(), b.sequence)) {
                        Some(id) if *id == b.batch_id => {}
                        Some(id) => report.disagreements.push(format!(
                            "{me} entry {index} stored {} but its origin cut {}",
                            describe(b),
                            hex::encode(id)
                        )),
                        None => report.disagreements.push(format!(
                            "{me} entry {index} stored {} that its origin's log never cut",
                            describe(b)
                        )),
                    }
                }
                Some(Event::BatchServed(served)) => {
                    let (Some(b), Some(peer)) = (served.batch.as_ref(), served.peer.as_ref())
                    else {
                        continue;
                    };
                    let Some(ids) = reached.get(&peer.region) else {
                        continue;
                    };
                    served_checked += 1;
                    if !ids.contains(&b.batch_id) {
                        let to = by_region
                            .get(&peer.region)
                            .map_or(peer.region.clone(), |l| {
                                l.checkpoint.checkpoint.origin().to_owned()
                            });
                        report.disagreements.push(format!(
                            "{me} entry {index} served {} to {to}, whose log neither stored nor refused it",
                            describe(b)
                        ));
                    }
                }
                _ => {}
            }
        }
        report.nodes.push((
            me,
            log.checkpoint.checkpoint.size().0,
            stored_checked,
            served_checked,
        ));
    }
    report
}
