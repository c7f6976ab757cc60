//! The batcher's metric family: signed batches cut, by feed (this node's own feeds only).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::telemetry::FeedLabel;

/// The batcher's families. Cloning shares the counters.
#[derive(Debug, Clone, Default)]
pub struct BatchMetrics {
    batches: Family<FeedLabel, Counter>,
}

impl BatchMetrics {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register("batches", "Signed batches cut, by feed", m.batches.clone());
        m
    }

    /// Counts one batch cut for `feed`.
    pub fn cut(&self, feed: &str) {
        self.batches
            .get_or_create(&FeedLabel {
                feed: feed.to_owned(),
            })
            .inc();
    }
}
