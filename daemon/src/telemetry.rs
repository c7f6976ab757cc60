//! Logs and metrics: the tracing subscriber, and the daemon's Prometheus registry that gathers
//! every module's metric families.
//!
//! [`init_tracing`] installs one compact subscriber writing to stderr. Each module that counts
//! something owns its families in its own `metrics` (e.g. `ingest::metrics`,
//! `replicate::mesh::metrics`) and registers them here; [`Metrics`] holds the registry and hands
//! each module its families (`metrics.ingest()`, `metrics.mesh()`, ...), and the `/metrics`
//! endpoint calls [`Metrics::encode`]. Label values are closed sets (enums, static reasons,
//! configured or certified names), so no request can grow the number of series. This module
//! keeps only what several modules share: the label types, [`KeysStored`] and the registry.
//!
//! This module never records key material, codes or client addresses in a log line or a label.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use thiserror::Error;
use tracing_subscriber::EnvFilter;

use crate::api::request_metrics::HttpMetrics;
use crate::audit::metrics::AuditMetrics;
use crate::batch::metrics::BatchMetrics;
use crate::efgs::metrics::EfgsMetrics;
use crate::ingest::metrics::IngestMetrics;
use crate::replicate::federation::metrics::FederationMetrics;
use crate::replicate::gaen_export::metrics::ImportMetrics;
use crate::replicate::mesh::metrics::MeshMetrics;
use crate::replicate::partial::metrics::PartialMetrics;
use crate::retention::RetentionMetrics;
use crate::worker::WorkerMetrics;

/// Why the tracing subscriber could not be installed.
#[derive(Debug, Error)]
pub enum TelemetryError {
    /// The filter directive (from the caller or `RUST_LOG`) does not parse.
    #[error("bad log filter {filter:?}: {reason}")]
    BadFilter {
        /// The refused directive.
        filter: String,
        /// The parser's reason.
        reason: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was installed before.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Installs the global tracing subscriber: compact lines on stderr (coloured only on a terminal,
/// so log files and pipes stay plain text), filtered by `RUST_LOG` if it
/// is set, else by `default_filter` (e.g. `"info"` or `"info,enmesh_daemon=debug"`).
pub fn init_tracing(default_filter: &str) -> Result<(), TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => from_env,
        _ => default_filter.to_owned(),
    };
    let env_filter = EnvFilter::try_new(&filter)
        .map_err(|reason| TelemetryError::BadFilter { filter, reason })?;
    tracing_subscriber::fmt()
        .compact()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_env_filter(env_filter)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)
}

/// Where a stored key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Uploaded to this backend by its own users.
    Local,
    /// Received from another backend.
    Remote,
}

impl KeyKind {
    /// The label value: `local` or `remote`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
        }
    }
}

impl EncodeLabelValue for KeyKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// Label set `feed`: a feed of this node (`"a2a/EU"`, `"partial/FR"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FeedLabel {
    /// The feed.
    pub feed: String,
}

/// Label set `kind`: local or remote keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabel {
    /// The origin kind.
    pub kind: KeyKind,
}

/// Label set of a refused batch or pull: the producer (or puller) and the static reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PeerReasonLabels {
    /// The producer (consumer side) or the pulling region (producer side).
    pub peer: String,
    /// Why, e.g. `bad_signature` or `not_own_region`.
    pub reason: &'static str,
}

/// Label set `reason`: a static reason a peer or batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason.
    pub reason: &'static str,
}

/// Label set `path`: how a batch arrived (`announce` or `catchup`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PathLabel {
    /// The path.
    pub path: &'static str,
}

/// A gauge of `f64`.
pub type F64Gauge = Gauge<f64, AtomicU64>;

/// `enmesh_keys_stored_total{kind}`: keys written to the store, counted by whoever wrote them
/// (ingest for local keys, the receivers for remote ones).
#[derive(Debug, Clone, Default)]
pub struct KeysStored {
    family: Family<KindLabel, Counter>,
}

impl KeysStored {
    fn register(registry: &mut Registry) -> Self {
        let this = Self::default();
        // Both kinds are known up front: export them at zero from the start.
        for kind in [KeyKind::Local, KeyKind::Remote] {
            this.family.get_or_create(&KindLabel { kind }).inc_by(0);
        }
        registry.register(
            "keys_stored",
            "Diagnosis keys written to the store, by origin",
            this.family.clone(),
        );
        this
    }

    /// Counts `count` keys of `kind` written to the store.
    pub fn add(&self, kind: KeyKind, count: u64) {
        self.family.get_or_create(&KindLabel { kind }).inc_by(count);
    }
}

/// A count as a gauge value.
pub fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A `u64` as a gauge value.
pub fn i64_of(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The daemon's registry and every module's families. Cloning shares the same counters.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<MetricsInner>,
}

struct MetricsInner {
    registry: Registry,
    keys_stored: KeysStored,
    http: HttpMetrics,
    ingest: IngestMetrics,
    batch: BatchMetrics,
    retention: RetentionMetrics,
    partial: PartialMetrics,
    mesh: MeshMetrics,
    efgs: EfgsMetrics,
    import: ImportMetrics,
    federation: FederationMetrics,
    audit: AuditMetrics,
    workers: WorkerMetrics,
}

impl Metrics {
    /// A fresh registry (prefix `enmesh_`) holding every family at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("enmesh");
        let keys_stored = KeysStored::register(&mut registry);
        let ingest = IngestMetrics::register(&mut registry);
        let batch = BatchMetrics::register(&mut registry);
        let retention = RetentionMetrics::register(&mut registry);
        let http = HttpMetrics::register(&mut registry);
        let partial = PartialMetrics::register(&mut registry, keys_stored.clone());
        let mesh = MeshMetrics::register(&mut registry);
        let efgs = EfgsMetrics::register(&mut registry, keys_stored.clone());
        let import = ImportMetrics::register(&mut registry, keys_stored.clone());
        let federation = FederationMetrics::register(&mut registry, keys_stored.clone());
        let audit = AuditMetrics::register(&mut registry);
        let workers = WorkerMetrics::register(&mut registry);
        Self {
            inner: Arc::new(MetricsInner {
                registry,
                keys_stored,
                http,
                ingest,
                batch,
                retention,
                partial,
                mesh,
                efgs,
                import,
                federation,
                audit,
                workers,
            }),
        }
    }

    /// Keys written to the store.
    pub fn keys_stored(&self) -> &KeysStored {
        &self.inner.keys_stored
    }

    /// The HTTP servers' families.
    pub fn http(&self) -> &HttpMetrics {
        &self.inner.http
    }

    /// The upload API's families.
    pub fn ingest(&self) -> &IngestMetrics {
        &self.inner.ingest
    }

    /// The batcher's families.
    pub fn batch(&self) -> &BatchMetrics {
        &self.inner.batch
    }

    /// Retention's families.
    pub fn retention(&self) -> &RetentionMetrics {
        &self.inner.retention
    }

    /// Partial replication's families (consumer and producer side).
    pub fn partial(&self) -> &PartialMetrics {
        &self.inner.partial
    }

    /// The cluster mesh's families.
    pub fn mesh(&self) -> &MeshMetrics {
        &self.inner.mesh
    }

    /// The EFGS gateway's and client's families.
    pub fn efgs(&self) -> &EfgsMetrics {
        &self.inner.efgs
    }

    /// The GAEN export importer's families.
    pub fn import(&self) -> &ImportMetrics {
        &self.inner.import
    }

    /// Google federation's families (puller and server side).
    pub fn federation(&self) -> &FederationMetrics {
        &self.inner.federation
    }

    /// The replication log's families.
    pub fn audit(&self) -> &AuditMetrics {
        &self.inner.audit
    }

    /// The background workers' families.
    pub fn workers(&self) -> &WorkerMetrics {
        &self.inner.workers
    }

    /// The registry in the OpenMetrics text format ([`Metrics::CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// The content type of [`Metrics::encode`]'s output.
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_exported_with_their_labels() {
        let metrics = Metrics::new();
        metrics.ingest().accepted();
        metrics.ingest().rejected("rolling_period");
        metrics.ingest().rejected("rolling_period");
        metrics.batch().cut("partial/FR");
        metrics.keys_stored().add(KeyKind::Remote, 14);
        metrics.retention().deleted("local", 3);
        let text = metrics.encode();
        for line in [
            "enmesh_uploads_total 1",
            "enmesh_upload_rejections_total{rule=\"rolling_period\"} 2",
            "enmesh_batches_total{feed=\"partial/FR\"} 1",
            "enmesh_keys_stored_total{kind=\"remote\"} 14",
            "enmesh_retention_deletions_total{cf=\"local\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn clones_share_counters() {
        let metrics = Metrics::new();
        metrics.clone().ingest().accepted();
        assert!(metrics.encode().contains("enmesh_uploads_total 1\n"));
    }
}
