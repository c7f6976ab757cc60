//! The replication log's metric families: its size, checkpoints signed, and the `Audit`
//! service's requests by method and outcome (both closed sets).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::telemetry::i64_of;
use enmesh_protocol::region::RegionId;

/// An `Audit` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GetCheckpoint`.
    Checkpoint,
    /// `GetEntries`.
    Entries,
    /// `GetInclusionProof`.
    Inclusion,
    /// `GetConsistencyProof`.
    Consistency,
    /// `AddCosignature`.
    Cosign,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Self::Checkpoint => "checkpoint",
            Self::Entries => "entries",
            Self::Inclusion => "inclusion_proof",
            Self::Consistency => "consistency_proof",
            Self::Cosign => "add_cosignature",
        }
    }
}

/// How an `Audit` request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Answered.
    Answered,
    /// The client's certificate is not that of an auditor or a node of the CA tree.
    Refused,
    /// The request asked for something the log does not have.
    BadRequest,
    /// The node failed (its store).
    Failed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Refused => "refused",
            Self::BadRequest => "bad_request",
            Self::Failed => "failed",
        }
    }
}

/// Label set `{method, outcome}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabel {
    /// The method.
    pub method: &'static str,
    /// The outcome.
    pub outcome: &'static str,
}

/// Label set `{origin}`: the region of a witnessed log (a certified name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OriginLabel {
    /// The region.
    pub origin: String,
}

/// The replication log's families. Cloning shares the counters.
#[derive(Debug, Clone, Default)]
pub struct AuditMetrics {
    size: Gauge,
    checkpoints: Counter,
    requests: Family<RequestLabel, Counter>,
    witnessed: Family<OriginLabel, Counter>,
    forks: Family<OriginLabel, Counter>,
}

impl AuditMetrics {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "audit_log_entries",
            "Entries in this node's replication log at its latest checkpoint",
            m.size.clone(),
        );
        registry.register(
            "audit_checkpoints",
            "Checkpoints of the replication log signed by this node",
            m.checkpoints.clone(),
        );
        registry.register(
            "audit_witnessed",
            "Checkpoints of other nodes' logs checked and kept by this node, by the log's region",
            m.witnessed.clone(),
        );
        registry.register(
            "audit_forks",
            "Forks found: two signed checkpoints of one log that no consistency proof joins",
            m.forks.clone(),
        );
        registry.register(
            "audit_requests",
            "Requests to the Audit service, by method and outcome",
            m.requests.clone(),
        );
        m
    }

    /// A checkpoint of a log of `size` entries was signed.
    pub fn checkpoint(&self, size: u64) {
        self.checkpoints.inc();
        self.size.set(i64_of(size));
    }

    /// A checkpoint of `origin`'s log was witnessed and kept.
    pub fn witnessed(&self, origin: &RegionId) {
        self.witnessed
            .get_or_create(&OriginLabel {
                origin: origin.to_string(),
            })
            .inc();
    }

    /// A fork of `origin`'s log was found.
    pub fn fork(&self, origin: &RegionId) {
        self.forks
            .get_or_create(&OriginLabel {
                origin: origin.to_string(),
            })
            .inc();
    }

    /// Counts one `method` request that ended in `outcome`.
    pub fn request(&self, method: Method, outcome: Outcome) {
        self.requests
            .get_or_create(&RequestLabel {
                method: method.label(),
                outcome: outcome.label(),
            })
            .inc();
    }
}
