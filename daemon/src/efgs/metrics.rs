//! The EFGS parts' metric families (`enmesh_efgs_*`): the gateway's uploads (accepted, refused by
//! rule), the batches it served and the callbacks it called; the client's batches and keys by
//! direction, the downloads it refused because their audit did not verify, and the days it
//! missed. Keys either side stores also count in `enmesh_keys_stored_total`.
//!
//! Every label value is a static name (a rule, a direction, an outcome): nothing a member or an
//! EFGS sends grows the series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::telemetry::{KeyKind, KeysStored};

/// Label set `rule`: why the gateway refused an upload (`efgs::gateway::upload::UploadError::reason`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RuleLabel {
    /// The rule.
    pub rule: &'static str,
}

/// Label set `direction`: `upload` (to an EFGS) or `download` (from it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DirectionLabel {
    /// The direction.
    pub direction: &'static str,
}

/// Label set `outcome` of a callback call: `delivered`, `failed`, `deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// The outcome.
    pub outcome: &'static str,
}

/// Which way the client moved keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// This node's keys to the EFGS.
    Upload,
    /// The EFGS's keys to this node.
    Download,
}

impl Direction {
    fn label(self) -> DirectionLabel {
        DirectionLabel {
            direction: match self {
                Self::Upload => "upload",
                Self::Download => "download",
            },
        }
    }
}

/// What became of one callback call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// 2xx.
    Delivered,
    /// Anything else, or no answer.
    Failed,
    /// The subscription was deleted after repeated failures.
    Deleted,
}

impl CallbackOutcome {
    fn label(self) -> OutcomeLabel {
        OutcomeLabel {
            outcome: match self {
                Self::Delivered => "delivered",
                Self::Failed => "failed",
                Self::Deleted => "deleted",
            },
        }
    }
}

/// The EFGS families. Cloning shares the counters.
#[derive(Debug, Clone)]
pub struct EfgsMetrics {
    uploads: Counter,
    rejections: Family<RuleLabel, Counter>,
    served: Counter,
    callbacks: Family<OutcomeLabel, Counter>,
    client_batches: Family<DirectionLabel, Counter>,
    client_keys: Family<DirectionLabel, Counter>,
    audit_refusals: Counter,
    missed_days: Counter,
    keys_stored: KeysStored,
}

impl EfgsMetrics {
    /// The families, registered in `registry`; stored keys also count in `keys_stored`.
    pub fn register(registry: &mut Registry, keys_stored: KeysStored) -> Self {
        let m = Self {
            uploads: Counter::default(),
            rejections: Family::default(),
            served: Counter::default(),
            callbacks: Family::default(),
            client_batches: Family::default(),
            client_keys: Family::default(),
            audit_refusals: Counter::default(),
            missed_days: Counter::default(),
            keys_stored,
        };
        registry.register(
            "efgs_gateway_uploads",
            "Member uploads the EFGS gateway accepted",
            m.uploads.clone(),
        );
        registry.register(
            "efgs_gateway_upload_rejections",
            "Member uploads the EFGS gateway refused, by rule",
            m.rejections.clone(),
        );
        registry.register(
            "efgs_gateway_batches_served",
            "Gateway batches served to members (downloads answered 200)",
            m.served.clone(),
        );
        registry.register(
            "efgs_gateway_callbacks",
            "Callback calls to members, by outcome",
            m.callbacks.clone(),
        );
        registry.register(
            "efgs_client_batches",
            "Batches the EFGS client moved, by direction (taken by the EFGS, or verified and stored)",
            m.client_batches.clone(),
        );
        registry.register(
            "efgs_client_keys",
            "Keys the EFGS client moved, by direction",
            m.client_keys.clone(),
        );
        registry.register(
            "efgs_client_audit_refusals",
            "Downloaded EFGS batches not stored because their audit did not verify them",
            m.audit_refusals.clone(),
        );
        registry.register(
            "efgs_client_missed_days",
            "Days whose EFGS keys were missed (they left the EFGS download window first)",
            m.missed_days.clone(),
        );
        m
    }

    /// Counts an accepted member upload of `keys` keys stored as `kind`.
    pub fn upload_accepted(&self, kind: KeyKind, keys: u64) {
        self.uploads.inc();
        self.keys_stored.add(kind, keys);
    }

    /// Counts a member upload refused by `rule`.
    pub fn upload_refused(&self, rule: &'static str) {
        self.rejections.get_or_create(&RuleLabel { rule }).inc();
    }

    /// Counts a gateway batch served.
    pub fn batch_served(&self) {
        self.served.inc();
    }

    /// Counts a callback call's outcome.
    pub fn callback(&self, outcome: CallbackOutcome) {
        self.callbacks.get_or_create(&outcome.label()).inc();
    }

    /// Counts a batch of `keys` keys the client moved; downloaded keys count as stored remote keys.
    pub fn client_batch(&self, direction: Direction, keys: u64) {
        self.client_batches.get_or_create(&direction.label()).inc();
        self.client_keys
            .get_or_create(&direction.label())
            .inc_by(keys);
        if direction == Direction::Download {
            self.keys_stored.add(KeyKind::Remote, keys);
        }
    }

    /// Counts a downloaded batch refused because its audit did not verify.
    pub fn audit_refused(&self) {
        self.audit_refusals.inc();
    }

    /// Counts `days` missed days.
    pub fn missed(&self, days: u64) {
        self.missed_days.inc_by(days);
    }
}
