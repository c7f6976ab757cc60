//! Logs and metrics: the tracing subscriber and the daemon's Prometheus registry.
//!
//! [`init_tracing`] installs one compact subscriber writing to stderr. [`Metrics`] owns every
//! metric family the daemon exports; modules receive a clone and bump the typed fields, and the
//! `/metrics` endpoint calls [`Metrics::encode`]. Label values are closed sets (enums or static
//! reasons), so no request can grow the number of series.
//!
//! This module never records key material, codes or client addresses in a log line or a label.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use thiserror::Error;

pub use crate::replicate::mesh::metrics::MeshMetrics;
use tracing_subscriber::EnvFilter;

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

/// Label set `rule`: the static reason an upload was refused (e.g. `"rolling_period"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RuleLabel {
    /// The refused rule.
    pub rule: &'static str,
}

/// Label set `feed`: the feed a batch was cut for (`"a2a"` or `"partial/FR"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FeedLabel {
    /// The feed name.
    pub feed: String,
}

/// Label set `kind`: local or remote keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabel {
    /// Where the keys came from.
    pub kind: KeyKind,
}

/// Label set `cf`: a storage column family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ColumnFamilyLabel {
    /// The column family name.
    pub cf: &'static str,
}

/// Label set of an HTTP request: the route pattern (not the raw path), method and status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route pattern, e.g. `/healthz`, or `unmatched`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The response status code.
    pub status: u16,
}

/// Label set of an HTTP latency observation: the route pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabel {
    /// The matched route pattern.
    pub route: String,
}

/// Label set `producer`: a peer this backend pulls from (`"<region> <feed>"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProducerLabel {
    /// The producer's region and the feed pulled.
    pub producer: String,
}

/// Label set of a refused batch or pull: the producer (or puller) and the static reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PeerReasonLabels {
    /// The producer (consumer side) or the pulling region (producer side).
    pub peer: String,
    /// Why, e.g. `bad_signature` or `not_own_region`.
    pub reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;
type F64Gauge = Gauge<f64, AtomicU64>;

/// Every metric family of the daemon, with its registry. Cloning shares the same counters.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<MetricsInner>,
}

struct MetricsInner {
    registry: Registry,
    uploads: Counter,
    upload_rejections: Family<RuleLabel, Counter>,
    batches: Family<FeedLabel, Counter>,
    keys_stored: Family<KindLabel, Counter>,
    retention_deletions: Family<ColumnFamilyLabel, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabel>,
    replication: ReplicationMetrics,
    mesh: MeshMetrics,
}

/// The partial replication families (consumer and producer side).
#[derive(Default)]
struct ReplicationMetrics {
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
}

impl ReplicationMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "replication_batches",
            "Batches received and stored, by producer",
            self.batches.clone(),
        );
        registry.register(
            "replication_keys",
            "Keys received and stored, by producer",
            self.keys.clone(),
        );
        registry.register(
            "replication_rejections",
            "Batches or sessions refused, by producer and reason (the cursor stays)",
            self.rejections.clone(),
        );
        registry.register(
            "replication_lag_batches",
            "Batches the producer has that this backend does not hold yet",
            self.lag_batches.clone(),
        );
        registry.register(
            "replication_lag_seconds",
            "Seconds from the producer cutting the last stored batch to storing it here",
            self.lag_seconds.clone(),
        );
        registry.register(
            "replication_last_success_unix_seconds",
            "When the last batch or keep-alive arrived from the producer",
            self.last_success.clone(),
        );
        registry.register(
            "replication_connected",
            "1 while a pull stream to the producer is open",
            self.connected.clone(),
        );
        registry.register(
            "feed_pulls",
            "Pull streams opened by consumers, by feed",
            self.pulls.clone(),
        );
        registry.register(
            "feed_pull_denials",
            "Pull requests refused, by pulling region and reason",
            self.pull_denials.clone(),
        );
        registry.register(
            "feed_batches_served",
            "Batches sent on pull streams, by feed",
            self.batches_served.clone(),
        );
    }
}
fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s in 15 doublings.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    /// A fresh registry (prefix `enmesh_`) holding every family at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("enmesh");
        let uploads = Counter::default();
        let upload_rejections = Family::default();
        let batches = Family::default();
        let keys_stored: Family<KindLabel, Counter> = Family::default();
        // Both kinds are known up front: export them at zero from the start.
        for kind in [KeyKind::Local, KeyKind::Remote] {
            keys_stored.get_or_create(&KindLabel { kind }).inc_by(0);
        }
        let retention_deletions = Family::default();
        let http_requests = Family::default();
        let http_duration: HistogramFamily<RouteLabel> =
            Family::new_with_constructor(latency_histogram);
        registry.register("uploads", "Accepted key uploads", uploads.clone());
        registry.register(
            "upload_rejections",
            "Refused key uploads, by the rule that refused them",
            upload_rejections.clone(),
        );
        registry.register("batches", "Signed batches cut, by feed", batches.clone());
        registry.register(
            "keys_stored",
            "Diagnosis keys written to the store, by origin",
            keys_stored.clone(),
        );
        registry.register(
            "retention_deletions",
            "Entries deleted by retention, by column family",
            retention_deletions.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests served, by route, method and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by route",
            http_duration.clone(),
        );
        let replication = ReplicationMetrics::default();
        replication.register(&mut registry);
        let mesh = MeshMetrics::register(&mut registry);
        Self {
            inner: Arc::new(MetricsInner {
                registry,
                uploads,
                upload_rejections,
                batches,
                keys_stored,
                retention_deletions,
                http_requests,
                http_duration,
                replication,
                mesh,
            }),
        }
    }

    /// Counts one accepted upload.
    pub fn upload_accepted(&self) {
        self.inner.uploads.inc();
    }

    /// Counts one upload refused by `rule`.
    pub fn upload_rejected(&self, rule: &'static str) {
        self.inner
            .upload_rejections
            .get_or_create(&RuleLabel { rule })
            .inc();
    }

    /// Counts one batch cut for `feed`.
    pub fn batch_cut(&self, feed: &str) {
        self.inner
            .batches
            .get_or_create(&FeedLabel {
                feed: feed.to_owned(),
            })
            .inc();
    }

    /// Counts `count` keys written to the store.
    pub fn keys_stored(&self, kind: KeyKind, count: u64) {
        self.inner
            .keys_stored
            .get_or_create(&KindLabel { kind })
            .inc_by(count);
    }

    /// Counts `count` entries deleted by retention from column family `cf`.
    pub fn retention_deleted(&self, cf: &'static str, count: u64) {
        self.inner
            .retention_deletions
            .get_or_create(&ColumnFamilyLabel { cf })
            .inc_by(count);
    }

    /// Counts one HTTP request and records its latency.
    pub fn http_request(&self, labels: HttpLabels, seconds: f64) {
        self.inner
            .http_duration
            .get_or_create(&RouteLabel {
                route: labels.route.clone(),
            })
            .observe(seconds);
        self.inner.http_requests.get_or_create(&labels).inc();
    }

    /// Counts one batch of `keys` keys received from `producer` and stored; records its lag.
    pub fn replication_batch(&self, producer: &str, keys: u64, lag_seconds: f64, now_secs: u64) {
        let r = &self.inner.replication;
        let label = producer_label(producer);
        r.batches.get_or_create(&label).inc();
        r.keys.get_or_create(&label).inc_by(keys);
        r.lag_seconds.get_or_create(&label).set(lag_seconds);
        r.last_success
            .get_or_create(&label)
            .set(i64::try_from(now_secs).unwrap_or(i64::MAX));
        self.keys_stored(KeyKind::Remote, keys);
    }

    /// Records that `producer` is alive (a keep-alive) at `now_secs`, `behind` batches ahead of us.
    pub fn replication_alive(&self, producer: &str, behind: u64, now_secs: u64) {
        let r = &self.inner.replication;
        let label = producer_label(producer);
        r.lag_batches
            .get_or_create(&label)
            .set(i64::try_from(behind).unwrap_or(i64::MAX));
        r.last_success
            .get_or_create(&label)
            .set(i64::try_from(now_secs).unwrap_or(i64::MAX));
    }

    /// Counts one batch (or stream) from `producer` refused for `reason`.
    pub fn replication_rejected(&self, producer: &str, reason: &'static str) {
        self.inner
            .replication
            .rejections
            .get_or_create(&PeerReasonLabels {
                peer: producer.to_owned(),
                reason,
            })
            .inc();
    }

    /// Marks the pull stream to `producer` open or closed.
    pub fn replication_connected(&self, producer: &str, open: bool) {
        self.inner
            .replication
            .connected
            .get_or_create(&producer_label(producer))
            .set(i64::from(open));
    }

    /// Counts one pull stream opened on `feed` (producer side).
    pub fn feed_pull(&self, feed: &str) {
        self.inner
            .replication
            .pulls
            .get_or_create(&FeedLabel {
                feed: feed.to_owned(),
            })
            .inc();
    }

    /// Counts one pull refused to `peer` for `reason` (producer side).
    pub fn feed_pull_denied(&self, peer: &str, reason: &'static str) {
        self.inner
            .replication
            .pull_denials
            .get_or_create(&PeerReasonLabels {
                peer: peer.to_owned(),
                reason,
            })
            .inc();
    }

    /// Counts one batch sent on a pull stream of `feed`.
    pub fn feed_batch_served(&self, feed: &str) {
        self.inner
            .replication
            .batches_served
            .get_or_create(&FeedLabel {
                feed: feed.to_owned(),
            })
            .inc();
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

fn producer_label(producer: &str) -> ProducerLabel {
    ProducerLabel {
        producer: producer.to_owned(),
    }
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

impl Metrics {
    /// The cluster mesh's metric families.
    pub fn mesh(&self) -> &MeshMetrics {
        &self.inner.mesh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_exported_with_their_labels() {
        let metrics = Metrics::new();
        metrics.upload_accepted();
        metrics.upload_rejected("rolling_period");
        metrics.upload_rejected("rolling_period");
        metrics.batch_cut("partial/FR");
        metrics.keys_stored(KeyKind::Remote, 14);
        metrics.retention_deleted("local", 3);
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
        metrics.clone().upload_accepted();
        assert!(metrics.encode().contains("enmesh_uploads_total 1\n"));
    }
}
