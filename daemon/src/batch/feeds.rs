//! Backend feed names and the routing of one upload's keys to feeds.
//!
//! The only place that spells feed ids: `a2a/<cluster>` is the cluster's all-to-all feed,
//! `partial/<region>` holds the keys meant for one destination region. Routing reads an upload's
//! visited regions and returns feed ids only: the regions themselves never go further.

use crate::config::Replication;
use crate::store::{FeedId, StoreError};
use enmesh_protocol::region::{ClusterId, RegionId};

/// The all-to-all feed of `cluster`: `a2a/<cluster>`.
pub fn a2a(cluster: &ClusterId) -> Result<FeedId, StoreError> {
    FeedId::new(&format!("a2a/{cluster}"))
}

/// The partial (need-to-know) feed for destination `region`: `partial/<region>`.
pub fn partial(region: &RegionId) -> Result<FeedId, StoreError> {
    FeedId::new(&format!("partial/{region}"))
}

/// Where this node's local keys go: its home region, its cluster and how keys travel inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// This node's region (`node.region`): never a destination.
    pub home: RegionId,
    /// This node's cluster (`node.cluster`): names the all-to-all feed.
    pub cluster: ClusterId,
    /// The regions the all-to-all feed reaches (`node.cluster_regions`).
    pub cluster_regions: Vec<RegionId>,
    /// `A2a`: one feed for the cluster; `Partial`: need-to-know inside the cluster too.
    pub intra_cluster: Replication,
}

impl Routing {
    /// The feeds of an upload that visited `visited` (sorted, without repeats).
    ///
    /// In `A2a` mode: the all-to-all feed, plus `partial/R` for each visited R that is neither
    /// home nor in the cluster. In `Partial` mode: `partial/R` for each visited R but home (so an
    /// upload that visited nothing outside home goes nowhere).
    pub fn destinations(&self, visited: &[RegionId]) -> Result<Vec<FeedId>, StoreError> {
        let mut feeds = Vec::new();
        if self.intra_cluster == Replication::A2a {
            feeds.push(a2a(&self.cluster)?);
        }
        for region in visited {
            let reached_by_a2a =
                self.intra_cluster == Replication::A2a && self.cluster_regions.contains(region);
            if *region != self.home && !reached_by_a2a {
                feeds.push(partial(region)?);
            }
        }
        feeds.sort();
        feeds.dedup();
        Ok(feeds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> RegionId {
        text.parse().unwrap()
    }

    fn names(feeds: &[FeedId]) -> Vec<&str> {
        feeds.iter().map(FeedId::as_str).collect()
    }

    fn routing(mode: Replication) -> Routing {
        Routing {
            home: r("DE"),
            cluster: ClusterId::new("EU").unwrap(),
            cluster_regions: vec![r("DE"), r("FR"), r("IT")],
            intra_cluster: mode,
        }
    }

    #[test]
    fn feed_names() {
        assert_eq!(
            a2a(&ClusterId::new("EU").unwrap()).unwrap().as_str(),
            "a2a/EU"
        );
        assert_eq!(partial(&r("US-CA")).unwrap().as_str(), "partial/US-CA");
        assert_eq!(
            partial(&r("acme:zurich-1")).unwrap().as_str(),
            "partial/acme:zurich-1"
        );
    }

    #[test]
    fn a2a_mode_adds_partial_feeds_outside_the_cluster_only() {
        let routing = routing(Replication::A2a);
        assert_eq!(names(&routing.destinations(&[]).unwrap()), ["a2a/EU"]);
        assert_eq!(
            names(&routing.destinations(&[r("DE")]).unwrap()),
            ["a2a/EU"]
        );
        assert_eq!(
            names(
                &routing
                    .destinations(&[r("US-CA"), r("FR"), r("DE"), r("CH"), r("CH")])
                    .unwrap()
            ),
            ["a2a/EU", "partial/CH", "partial/US-CA"]
        );
    }

    #[test]
    fn partial_mode_has_no_a2a_feed_and_a_feed_per_visited_region_but_home() {
        let routing = routing(Replication::Partial);
        assert!(routing.destinations(&[]).unwrap().is_empty());
        assert!(routing.destinations(&[r("DE")]).unwrap().is_empty());
        assert_eq!(
            names(&routing.destinations(&[r("IT"), r("DE"), r("CH")]).unwrap()),
            ["partial/CH", "partial/IT"]
        );
    }
}
