//! Google federation's metric families: the puller side (`enmesh_federation_pull_*`, by
//! configured peer) and the server side (`enmesh_federation_served_*`, by configured puller;
//! `enmesh_federation_denials_total` by static reason).
//!
//! Label values are configured names (a peer's region, a puller's `name`) or static reasons:
//! an unknown token is counted without a name, so nothing a client sends grows the series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::telemetry::{KeyKind, KeysStored, ReasonLabel, i64_of};

/// Label set `peer`: a configured `google-federation` peer (its region).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PeerLabel {
    /// The peer's region.
    pub peer: String,
}

/// Label set of a skipped key: the peer and the static reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PeerReasonLabel {
    /// The peer's region.
    pub peer: String,
    /// Why.
    pub reason: &'static str,
}

/// Label set `puller`: a configured puller of this server (its `name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PullerLabel {
    /// The puller's configured name.
    pub puller: String,
}

/// The federation families. Cloning shares the counters.
#[derive(Debug, Clone)]
pub struct FederationMetrics {
    pages: Family<PeerLabel, Counter>,
    keys: Family<PeerLabel, Counter>,
    skipped: Family<PeerReasonLabel, Counter>,
    last_success: Family<PeerLabel, Gauge>,
    served_pages: Family<PullerLabel, Counter>,
    served_keys: Family<PullerLabel, Counter>,
    denials: Family<ReasonLabel, Counter>,
    keys_stored: KeysStored,
}

impl FederationMetrics {
    /// The families, registered in `registry`; stored keys also count in `keys_stored`.
    pub fn register(registry: &mut Registry, keys_stored: KeysStored) -> Self {
        let m = Self {
            pages: Family::default(),
            keys: Family::default(),
            skipped: Family::default(),
            last_success: Family::default(),
            served_pages: Family::default(),
            served_keys: Family::default(),
            denials: Family::default(),
            keys_stored,
        };
        registry.register(
            "federation_pull_pages",
            "Federation pages fetched and stored, by peer",
            m.pages.clone(),
        );
        registry.register(
            "federation_pull_keys",
            "Keys fetched by federation and stored, by peer",
            m.keys.clone(),
        );
        registry.register(
            "federation_pull_skipped_keys",
            "Federated keys skipped for a bad field, by peer and reason",
            m.skipped.clone(),
        );
        registry.register(
            "federation_pull_last_success_unix_seconds",
            "When the last complete federation sync with the peer ended",
            m.last_success.clone(),
        );
        registry.register(
            "federation_served_pages",
            "Federation pages served, by puller",
            m.served_pages.clone(),
        );
        registry.register(
            "federation_served_keys",
            "Keys served by federation, by puller",
            m.served_keys.clone(),
        );
        registry.register(
            "federation_denials",
            "Federation fetches refused, by reason",
            m.denials.clone(),
        );
        m
    }

    /// Counts one page of `keys` keys fetched from `peer` and stored.
    pub fn page(&self, peer: &str, keys: u64) {
        let label = peer_label(peer);
        self.pages.get_or_create(&label).inc();
        self.keys.get_or_create(&label).inc_by(keys);
        self.keys_stored.add(KeyKind::Remote, keys);
    }

    /// Counts one key from `peer` skipped for `reason`.
    pub fn skipped(&self, peer: &str, reason: &'static str) {
        self.skipped
            .get_or_create(&PeerReasonLabel {
                peer: peer.to_owned(),
                reason,
            })
            .inc();
    }

    /// Records a complete sync with `peer` at `now_secs`.
    pub fn synced(&self, peer: &str, now_secs: u64) {
        self.last_success
            .get_or_create(&peer_label(peer))
            .set(i64_of(now_secs));
    }

    /// Counts one page of `keys` keys served to `puller`.
    pub fn served(&self, puller: &str, keys: u64) {
        let label = PullerLabel {
            puller: puller.to_owned(),
        };
        self.served_pages.get_or_create(&label).inc();
        self.served_keys.get_or_create(&label).inc_by(keys);
    }

    /// Counts one fetch refused for `reason`.
    pub fn denied(&self, reason: &'static str) {
        self.denials.get_or_create(&ReasonLabel { reason }).inc();
    }
}

fn peer_label(peer: &str) -> PeerLabel {
    PeerLabel {
        peer: peer.to_owned(),
    }
}
