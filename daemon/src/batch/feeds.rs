//! The routing of one upload's keys to this node's feeds ([`Feed`]: the cluster's all-to-all
//! feed, and one partial feed per destination region).
//!
//! Routing reads an upload's visited regions and returns feeds only: the regions themselves never
//! go further than the choice of partial feeds.

use crate::config::Replication;
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::{ClusterId, RegionId};

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
    pub fn destinations(&self, visited: &[RegionId]) -> Vec<Feed> {
        let mut feeds = Vec::new();
        if self.intra_cluster == Replication::A2a {
            feeds.push(Feed::AllToAll(self.cluster.clone()));
        }
        for region in visited {
            let reached_by_a2a =
                self.intra_cluster == Replication::A2a && self.cluster_regions.contains(region);
            if *region != self.home && !reached_by_a2a {
                feeds.push(Feed::Partial(region.clone()));
            }
        }
        feeds.sort();
        feeds.dedup();
        feeds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> RegionId {
        text.parse().unwrap()
    }

    fn names(feeds: &[Feed]) -> Vec<String> {
        feeds.iter().map(ToString::to_string).collect()
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
    fn a2a_mode_adds_partial_feeds_outside_the_cluster_only() {
        let routing = routing(Replication::A2a);
        assert_eq!(names(&routing.destinations(&[])), ["a2a/EU"]);
        assert_eq!(names(&routing.destinations(&[r("DE")])), ["a2a/EU"]);
        assert_eq!(
            names(&routing.destinations(&[r("US-CA"), r("FR"), r("DE"), r("CH"), r("CH")])),
            ["a2a/EU", "partial/CH", "partial/US-CA"]
        );
    }

    #[test]
    fn partial_mode_has_no_a2a_feed_and_a_feed_per_visited_region_but_home() {
        let routing = routing(Replication::Partial);
        assert!(routing.destinations(&[]).is_empty());
        assert!(routing.destinations(&[r("DE")]).is_empty());
        assert_eq!(
            names(&routing.destinations(&[r("IT"), r("DE"), r("CH")])),
            ["partial/CH", "partial/IT"]
        );
    }
}
