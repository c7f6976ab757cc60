//! Retention's metric family: entries deleted, by column family (a static name).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Label set `cf`: a storage column family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ColumnFamilyLabel {
    /// The column family name.
    pub cf: &'static str,
}

/// Retention's families. Cloning shares the counters.
#[derive(Debug, Clone, Default)]
pub struct RetentionMetrics {
    deletions: Family<ColumnFamilyLabel, Counter>,
}

impl RetentionMetrics {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "retention_deletions",
            "Entries deleted by retention, by column family",
            m.deletions.clone(),
        );
        m
    }

    /// Counts `count` entries deleted by retention from column family `cf`.
    pub fn deleted(&self, cf: &'static str, count: u64) {
        self.deletions
            .get_or_create(&ColumnFamilyLabel { cf })
            .inc_by(count);
    }
}
