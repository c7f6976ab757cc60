//! The mesh's view of the store: how far this node holds each origin's all-to-all feed, taking
//! in a received batch (checked by [`check_batch`], then committed with its cursor in one
//! write), and reading pages of batches to serve to peers.
//!
//! This module never stores a batch that failed a check, never stores one out of sequence (a
//! gap is reported, not filled), and serves only signed batches as their origin signed them:
//! this node's own feed for its region, relayed batches for the others. Its calls block on the
//! store: run them off the async threads.

use crate::audit::{self, Entry};
use crate::replicate::received::{Refusal, Source, check_batch};
use crate::store::{NotTaken, Store, StoreError, StoredBatch};
use enmesh_proto::v1::SignedBatch;
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::{ClusterId, RegionId};
use prost::Message;
use rustls_pki_types::UnixTime;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use thiserror::Error;

use crate::pki::Verifier;

/// What became of a received batch that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Stored: the origin's cursor moved to `sequence`.
    Stored {
        /// The origin.
        origin: RegionId,
        /// The new cursor.
        sequence: u64,
        /// Keys stored.
        keys: usize,
    },
    /// This node already holds it.
    Held,
    /// It does not follow what this node holds of `origin` (which is `held`).
    Gap {
        /// The origin.
        origin: RegionId,
        /// The held sequence.
        held: u64,
    },
}

/// Why a received batch was not taken.
#[derive(Debug, Error)]
pub enum TakeError {
    /// It failed a check: the sender misbehaved.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The store, as the mesh of one node sees it.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<Store>,
    verifier: Arc<RwLock<Arc<Verifier>>>,
    feed: Feed,
    cluster: ClusterId,
    me: RegionId,
}

impl Ledger {
    /// The ledger of node `me` of `cluster`, whose all-to-all feed is `feed`.
    pub fn new(
        store: Arc<Store>,
        verifier: Arc<Verifier>,
        feed: Feed,
        cluster: ClusterId,
        me: RegionId,
    ) -> Self {
        Self {
            store,
            verifier: Arc::new(RwLock::new(verifier)),
            feed,
            cluster,
            me,
        }
    }

    /// The verifier batches and peers are checked with now.
    pub fn verifier(&self) -> Arc<Verifier> {
        self.verifier
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Checks everything from now on with `verifier` (e.g. with a newer CRL), in every clone.
    pub fn set_verifier(&self, verifier: Arc<Verifier>) {
        *self
            .verifier
            .write()
            .unwrap_or_else(PoisonError::into_inner) = verifier;
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// This node's region.
    pub fn me(&self) -> &RegionId {
        &self.me
    }

    /// The highest sequence of `origin`'s feed held without a gap (0: none): this node's own
    /// feed head for its own region, the cursor for the others.
    pub fn head(&self, origin: &RegionId) -> Result<u64, StoreError> {
        if *origin == self.me {
            return Ok(self.store.feed_head(&self.feed)?.map_or(0, |h| h.sequence));
        }
        Ok(self
            .store
            .cursor(origin, &self.feed)?
            .map_or(0, |c| c.last_sequence))
    }

    /// Appends `entries` (events that write nothing else) to the replication log.
    pub fn record(&self, entries: &[Entry]) -> Result<(), StoreError> {
        self.store.record(entries).map(|_| ())
    }

    /// Checks and stores `signed`, fetched from `from`, at `now_millis`. Without a cursor for
    /// its origin only the first batch of the feed follows, unless `first_held` (a page served
    /// after sequence 0 starts where the server's retention left it). A stored batch and a
    /// refused one are both logged; one already held or out of sequence is not (nothing
    /// happened to it).
    pub fn take(
        &self,
        signed: &SignedBatch,
        from: &audit::Peer,
        first_held: bool,
        now_millis: u64,
    ) -> Result<Taken, TakeError> {
        let now = UnixTime::since_unix_epoch(Duration::from_millis(now_millis));
        let source = Source::Cluster {
            cluster: &self.cluster,
            me: &self.me,
        };
        let sender = audit::Sender {
            peer: from.clone(),
            path: audit::Path::Mesh,
        };
        let batch = match check_batch(&self.verifier(), signed, &self.feed, source, now) {
            Ok(batch) => batch,
            Err(refusal) => {
                let reason = format!("{}: {refusal}", refusal.reason());
                self.record(&[audit::batch_refused(signed, &sender, &reason, now_millis)])?;
                return Err(refusal.into());
            }
        };
        let held = self.head(batch.origin())?;
        if held >= batch.sequence() {
            return Ok(Taken::Held);
        }
        if held == 0 && batch.sequence() != 1 && !first_held {
            return Ok(Taken::Gap {
                origin: batch.origin().clone(),
                held,
            });
        }
        let now_secs = now_millis / 1000;
        match self
            .store
            .commit_received(&batch, &sender, now_secs, now_secs)?
        {
            Ok(()) => Ok(Taken::Stored {
                sequence: batch.sequence(),
                keys: batch.keys().len(),
                origin: batch.origin().clone(),
            }),
            Err(NotTaken::AlreadyHeld { .. }) => Ok(Taken::Held),
            Err(NotTaken::NotNext { held, origin, .. }) => Ok(Taken::Gap { origin, held }),
        }
    }

    /// Up to `limit` batches of `origin` after `after` to serve to `to`, stopping before
    /// `max_bytes` of encoded batches (at least one batch is returned if there is one). Each
    /// batch returned is logged as served.
    pub fn page(
        &self,
        origin: &RegionId,
        after: u64,
        limit: usize,
        max_bytes: usize,
        to: &audit::Peer,
        now_millis: u64,
    ) -> Result<Vec<StoredBatch>, StoreError> {
        let stored = if *origin == self.me {
            self.store.batches_after(&self.feed, after, limit)?
        } else {
            self.store
                .received_batches_after(origin, &self.feed, after, limit)?
        };
        let mut page = Vec::with_capacity(stored.len());
        let mut bytes = 0usize;
        for batch in stored {
            bytes = bytes.saturating_add(batch.signed.encoded_len() + 16);
            if bytes > max_bytes && !page.is_empty() {
                break;
            }
            page.push(batch);
        }
        let served: Vec<Entry> = page
            .iter()
            .map(|batch| {
                audit::batch_served(origin, &self.feed, batch, to, audit::Path::Mesh, now_millis)
            })
            .collect();
        if !served.is_empty() {
            self.store.record_served(&served)?;
        }
        Ok(page)
    }
}
