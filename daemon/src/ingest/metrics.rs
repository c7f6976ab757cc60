//! The upload API's metric families: accepted uploads, and refused ones by the rule that
//! refused them (a static rule name: a closed set).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Label set `rule`: the static reason an upload was refused (e.g. `"rolling_period"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RuleLabel {
    /// The rule's name.
    pub rule: &'static str,
}

/// The upload families. Cloning shares the counters.
#[derive(Debug, Clone, Default)]
pub struct IngestMetrics {
    uploads: Counter,
    rejections: Family<RuleLabel, Counter>,
}

impl IngestMetrics {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register("uploads", "Accepted key uploads", m.uploads.clone());
        registry.register(
            "upload_rejections",
            "Refused key uploads, by the rule that refused them",
            m.rejections.clone(),
        );
        m
    }

    /// Counts one accepted upload.
    pub fn accepted(&self) {
        self.uploads.inc();
    }

    /// Counts one upload refused by `rule`.
    pub fn rejected(&self, rule: &'static str) {
        self.rejections.get_or_create(&RuleLabel { rule }).inc();
    }
}
