//! Partial replication's metric families: the consumer side (`enmesh_replication_*`, by
//! producer) and the producer side (`enmesh_feed_*`, by feed or pulling peer).
//!
//! Label values are a configured producer (`"<region> <feed>"`), a feed this node cuts, a
//! certified region, or a static reason: nothing a client can make up grows the series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::telemetry::{F64Gauge, FeedLabel, KeyKind, KeysStored, PeerReasonLabels, i64_of};

/// Label set `producer`: a peer this backend pulls from (`"<region> <feed>"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProducerLabel {
    /// The producer.
    pub producer: String,
}

/// The partial replication families. Cloning shares the counters.
#[derive(Debug, Clone)]
pub struct PartialMetrics {
    batches: Family<ProducerLabel, Counter>,
    keys: Family<ProducerLabel, Counter>,
    rejections: Family<PeerReasonLabels, Counter>,
    lag_batches: Family<ProducerLabel, Gauge>,
    lag_seconds: Family<ProducerLabel, F64Gauge>,
    last_success: Family<ProducerLabel, Gauge>,
    connected: Family<ProducerLabel, Gauge>,
    pulls: Family<FeedLabel, Counter>,
    pull_denials: Family<PeerReasonLabels, Counter>,
    batches_served: Family<FeedLabel, Counter>,
    keys_stored: KeysStored,
}

impl PartialMetrics {
    /// The families, registered in `registry`; stored keys also count in `keys_stored`.
    pub fn register(registry: &mut Registry, keys_stored: KeysStored) -> Self {
        let m = Self {
            batches: Family::default(),
            keys: Family::default(),
            rejections: Family::default(),
            lag_batches: Family::default(),
            lag_seconds: Family::default(),
            last_success: Family::default(),
            connected: Family::default(),
            pulls: Family::default(),
            pull_denials: Family::default(),
            batches_served: Family::default(),
            keys_stored,
        };
        registry.register(
            "replication_batches",
            "Batches received and stored, by producer",
            m.batches.clone(),
        );
        registry.register(
            "replication_keys",
            "Keys received and stored, by producer",
            m.keys.clone(),
        );
        registry.register(
            "replication_rejections",
            "Batches or sessions refused, by producer and reason (the cursor stays)",
            m.rejections.clone(),
        );
        registry.register(
            "replication_lag_batches",
            "Batches the producer has that this backend does not hold yet",
            m.lag_batches.clone(),
        );
        registry.register(
            "replication_lag_seconds",
            "Seconds from the producer cutting the last stored batch to storing it here",
            m.lag_seconds.clone(),
        );
        registry.register(
            "replication_last_success_unix_seconds",
            "When the last batch or keep-alive arrived from the producer",
            m.last_success.clone(),
        );
        registry.register(
            "replication_connected",
            "1 while a pull stream to the producer is open",
            m.connected.clone(),
        );
        registry.register(
            "feed_pulls",
            "Pull streams opened by consumers, by feed",
            m.pulls.clone(),
        );
        registry.register(
            "feed_pull_denials",
            "Pull requests refused, by pulling region and reason",
            m.pull_denials.clone(),
        );
        registry.register(
            "feed_batches_served",
            "Batches sent on pull streams, by feed",
            m.batches_served.clone(),
        );
        m
    }

    /// Counts one batch of `keys` keys received from `producer` and stored; records its lag.
    pub fn batch(&self, producer: &str, keys: u64, lag_seconds: f64, now_secs: u64) {
        let label = producer_label(producer);
        self.batches.get_or_create(&label).inc();
        self.keys.get_or_create(&label).inc_by(keys);
        self.lag_seconds.get_or_create(&label).set(lag_seconds);
        self.last_success
            .get_or_create(&label)
            .set(i64_of(now_secs));
        self.keys_stored.add(KeyKind::Remote, keys);
    }

    /// Records that `producer` is alive (a keep-alive) at `now_secs`, `behind` batches ahead of us.
    pub fn alive(&self, producer: &str, behind: u64, now_secs: u64) {
        let label = producer_label(producer);
        self.lag_batches.get_or_create(&label).set(i64_of(behind));
        self.last_success
            .get_or_create(&label)
            .set(i64_of(now_secs));
    }

    /// Counts one batch (or stream) from `producer` refused for `reason`.
    pub fn rejected(&self, producer: &str, reason: &'static str) {
        self.rejections
            .get_or_create(&PeerReasonLabels {
                peer: producer.to_owned(),
                reason,
            })
            .inc();
    }

    /// Marks the pull stream to `producer` open or closed.
    pub fn connected(&self, producer: &str, open: bool) {
        self.connected
            .get_or_create(&producer_label(producer))
            .set(i64::from(open));
    }

    /// Counts one pull stream opened on `feed` (producer side).
    pub fn pull(&self, feed: &str) {
        self.pulls
            .get_or_create(&FeedLabel {
                feed: feed.to_owned(),
            })
            .inc();
    }

    /// Counts one pull refused to `peer` for `reason` (producer side).
    pub fn pull_denied(&self, peer: &str, reason: &'static str) {
        self.pull_denials
            .get_or_create(&PeerReasonLabels {
                peer: peer.to_owned(),
                reason,
            })
            .inc();
    }

    /// Counts one batch sent on a pull stream of `feed`.
    pub fn batch_served(&self, feed: &str) {
        self.batches_served
            .get_or_create(&FeedLabel {
                feed: feed.to_owned(),
            })
            .inc();
    }
}

fn producer_label(producer: &str) -> ProducerLabel {
    ProducerLabel {
        producer: producer.to_owned(),
    }
}
