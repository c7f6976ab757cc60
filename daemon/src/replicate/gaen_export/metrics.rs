//! The GAEN export importer's metric families (`enmesh_import_*`), by source.
//!
//! A source label is a configured `gaen-export` peer (`"<region> <index url>"` is too long for
//! a label, so its region: one importer per region is what deployments run) and a refusal
//! reason is a static string of [`super::check::FileError::reason`]: nothing a peer serves can
//! grow the series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::telemetry::{KeyKind, KeysStored, i64_of};

/// Label set `source`: a configured importer (its region).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SourceLabel {
    /// The source's region.
    pub source: String,
}

/// Label set of a refused file: the source and the static reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SourceReasonLabels {
    /// The source's region.
    pub source: String,
    /// Why, e.g. `bad_signature` or `unknown_key`.
    pub reason: &'static str,
}

/// The importer families. Cloning shares the counters.
#[derive(Debug, Clone)]
pub struct ImportMetrics {
    files: Family<SourceLabel, Counter>,
    keys: Family<SourceLabel, Counter>,
    refusals: Family<SourceReasonLabels, Counter>,
    last_success: Family<SourceLabel, Gauge>,
    keys_stored: KeysStored,
}

impl ImportMetrics {
    /// The families, registered in `registry`; stored keys also count in `keys_stored`.
    pub fn register(registry: &mut Registry, keys_stored: KeysStored) -> Self {
        let m = Self {
            files: Family::default(),
            keys: Family::default(),
            refusals: Family::default(),
            last_success: Family::default(),
            keys_stored,
        };
        registry.register(
            "import_files",
            "GAEN export files imported, by source",
            m.files.clone(),
        );
        registry.register(
            "import_keys",
            "Keys imported from GAEN export files and stored, by source",
            m.keys.clone(),
        );
        registry.register(
            "import_refusals",
            "GAEN export files refused (nothing of them stored), by source and reason",
            m.refusals.clone(),
        );
        registry.register(
            "import_last_success_unix_seconds",
            "When the source's index was last read and its new files handled",
            m.last_success.clone(),
        );
        m
    }

    /// Counts one file of `keys` keys imported from `source`.
    pub fn imported(&self, source: &str, keys: u64) {
        let label = source_label(source);
        self.files.get_or_create(&label).inc();
        self.keys.get_or_create(&label).inc_by(keys);
        self.keys_stored.add(KeyKind::Remote, keys);
    }

    /// Counts one file from `source` refused for `reason`.
    pub fn refused(&self, source: &str, reason: &'static str) {
        self.refusals
            .get_or_create(&SourceReasonLabels {
                source: source.to_owned(),
                reason,
            })
            .inc();
    }

    /// Records a completed sync of `source` at `now_secs`.
    pub fn synced(&self, source: &str, now_secs: u64) {
        self.last_success
            .get_or_create(&source_label(source))
            .set(i64_of(now_secs));
    }
}

fn source_label(source: &str) -> SourceLabel {
    SourceLabel {
        source: source.to_owned(),
    }
}
