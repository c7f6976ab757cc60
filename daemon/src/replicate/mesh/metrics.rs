//! The cluster mesh's metric families (`enmesh_mesh_*`), registered by [`crate::telemetry`].
//!
//! Labels are static reasons and paths only (closed sets: [`super::admission::Refused::reason`],
//! [`super::state::Blocked::reason`], [`Path`], the batch checks' reasons); nothing here names a
//! peer.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::state::Path;
use crate::telemetry::{PathLabel, ReasonLabel, gauge_value};

/// The mesh's families. Cloning shares the counters.
#[derive(Debug, Default, Clone)]
pub struct MeshMetrics {
    admitted: Gauge,
    peers: Gauge,
    refused: Family<ReasonLabel, Counter>,
    published: Counter,
    received: Family<PathLabel, Counter>,
    received_keys: Family<PathLabel, Counter>,
    rejected: Family<ReasonLabel, Counter>,
    catchup_in_flight: Gauge,
    catchup_behind: Gauge,
}

impl MeshMetrics {
    /// The families, registered under `mesh_` in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("mesh");
        r.register(
            "admitted_peers",
            "Peers admitted by certificate",
            m.admitted.clone(),
        );
        r.register(
            "peers",
            "Peers in the gossip mesh of the cluster topic",
            m.peers.clone(),
        );
        r.register(
            "refused_peers",
            "Peers refused admission, by reason",
            m.refused.clone(),
        );
        r.register(
            "published_batches",
            "Own batches published",
            m.published.clone(),
        );
        r.register(
            "received_batches",
            "Batches stored, by path",
            m.received.clone(),
        );
        r.register(
            "received_keys",
            "Keys stored from the mesh, by path",
            m.received_keys.clone(),
        );
        r.register(
            "rejected_batches",
            "Batches or messages rejected, by reason",
            m.rejected.clone(),
        );
        r.register(
            "catchup_in_flight",
            "Origins being fetched by catch-up",
            m.catchup_in_flight.clone(),
        );
        r.register(
            "catchup_behind_batches",
            "Batches peers said they hold that this node does not hold yet, over all origins",
            m.catchup_behind.clone(),
        );
        m
    }

    /// Sets the number of admitted mesh peers.
    pub fn admitted(&self, count: usize) {
        self.admitted.set(gauge_value(count));
    }

    /// Sets the size of the gossip mesh.
    pub fn peers(&self, count: usize) {
        self.peers.set(gauge_value(count));
    }

    /// Counts one peer refused admission for `reason`.
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Counts one own batch published.
    pub fn published(&self) {
        self.published.inc();
    }

    /// Counts `batches` batches holding `keys` keys stored, arrived by `path`.
    pub fn received(&self, path: Path, batches: usize, keys: usize) {
        let label = PathLabel { path: path.label() };
        self.received
            .get_or_create(&label)
            .inc_by(u64::try_from(batches).unwrap_or(u64::MAX));
        self.received_keys
            .get_or_create(&label)
            .inc_by(u64::try_from(keys).unwrap_or(u64::MAX));
    }

    /// Counts one batch or message rejected for `reason`.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Sets how many batches this node lacks of what its peers hold.
    pub fn behind(&self, batches: u64) {
        self.catchup_behind
            .set(i64::try_from(batches).unwrap_or(i64::MAX));
    }

    /// Sets the number of origins being fetched.
    pub fn catchup(&self, in_flight: usize) {
        self.catchup_in_flight.set(gauge_value(in_flight));
    }
}
