//! The demo's running backends: one node per prepared site, each cluster joined into its own
//! gossipsub mesh (the first node of a cluster is the others' bootstrap address), and every node
//! pulling its need-to-know feed from every node of the other clusters over mTLS gRPC.
//!
//! gRPC ports are picked before the nodes start (each node must name its producers in its
//! config, and producers and consumers are on both sides); if another process takes one in
//! between, [`Fleet::start`] stops what it started and tries again with fresh ports. This module only wires and starts
//! nodes and reads what they serve publicly; it never reaches into a node's store.

use super::drive;
use super::run::{DemoError, unexpected};
use super::sites::Site;
use crate::api::ApiError;
use crate::clock::SharedClock;
use crate::config::{Config, FeedFormat, PeerConfig, Replication};
use crate::node::{self, NodeError, NodeHandle};
use crate::replicate::mesh::MeshSettings;
use crate::telemetry::Metrics;
use enmesh_protocol::region::RegionId;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How many times [`Fleet::start`] tries.
const START_ATTEMPTS: u32 = 5;

/// Every node of the demo, in the order of the sites.
pub struct Fleet {
    nodes: Vec<(Site, NodeHandle)>,
}

/// How the keys of one upload reached one other node.
#[derive(Debug, Clone)]
pub struct Hop {
    /// The node.
    pub region: RegionId,
    /// `a2a` (same cluster) or `partial` (another cluster).
    pub path: &'static str,
    /// Time from the upload's answer to the node serving every key; `None`: never served.
    pub after: Option<Duration>,
}

impl Fleet {
    /// Starts a node per site on `clock`: meshes per cluster, partial pulls across clusters.
    /// If a gRPC port picked in advance was taken in between, stops what started and tries
    /// again with other ports (a few times).
    pub async fn start(sites: &[Site], clock: &SharedClock) -> Result<Self, DemoError> {
        let mut attempt = 1;
        loop {
            match Self::start_once(sites, clock).await {
                Err(DemoError::Node(NodeError::Api(ApiError::Bind { addr, reason })))
                    if attempt < START_ATTEMPTS =>
                {
                    tracing::info!(%addr, %reason, attempt, "a picked port was taken; retrying");
                    attempt += 1;
                }
                started => return started,
            }
        }
    }

    async fn start_once(sites: &[Site], clock: &SharedClock) -> Result<Self, DemoError> {
        let mut grpc = Vec::new();
        for _ in sites {
            grpc.push(free_local_port()?);
        }
        let mut nodes: Vec<(Site, NodeHandle)> = Vec::new();
        for (i, site) in sites.iter().enumerate() {
            let mut config: Config = site.config.clone();
            config.grpc.listen = grpc[i];
            for (j, other) in sites.iter().enumerate() {
                if other.pki.cluster != site.pki.cluster {
                    config.peers.push(PeerConfig {
                        url: format!("https://{}", grpc[j])
                            .parse()
                            .map_err(|_| unexpected("peer URL", grpc[j].to_string()))?,
                        region: other.pki.region.clone(),
                        replication: Replication::Partial,
                        format: FeedFormat::Enmesh,
                    });
                }
            }
            let bootstrap = nodes
                .iter()
                .find(|(s, _)| s.pki.cluster == site.pki.cluster)
                .and_then(|(_, n)| n.mesh())
                .map(|m| m.listen_addr().clone());
            config.mesh = Some(MeshSettings {
                listen: "/ip4/127.0.0.1/tcp/0"
                    .parse()
                    .map_err(|_| unexpected("mesh address", "/ip4/127.0.0.1/tcp/0"))?,
                bootstrap: bootstrap.into_iter().collect(),
            });
            match node::start(config, clock.clone(), Metrics::new()).await {
                Ok(node) => nodes.push((site.clone(), node)),
                Err(error) => {
                    Self { nodes }.shutdown().await?;
                    return Err(error.into());
                }
            }
        }
        Ok(Self { nodes })
    }

    /// The sites and their running nodes.
    pub fn nodes(&self) -> &[(Site, NodeHandle)] {
        &self.nodes
    }

    /// The site and node of `region`.
    pub fn get(&self, region: &str) -> Result<(&Site, &NodeHandle), DemoError> {
        self.nodes
            .iter()
            .find(|(s, _)| s.pki.region.to_string() == region)
            .map(|(s, n)| (s, n))
            .ok_or_else(|| unexpected("fleet", format!("no node {region}")))
    }

    /// Waits until every node has admitted every other node of its cluster.
    pub async fn until_meshed(&self, patience: Duration) -> Result<Duration, DemoError> {
        let started = Instant::now();
        for (site, node) in &self.nodes {
            let members = self
                .nodes
                .iter()
                .filter(|(s, _)| s.pki.cluster == site.pki.cluster)
                .count();
            let mesh = node
                .mesh()
                .ok_or_else(|| unexpected("mesh", "a node without a mesh"))?;
            drive::wait_for(patience, || async {
                let status = mesh
                    .status()
                    .await
                    .map_err(|e| unexpected("mesh", e.to_string()))?;
                Ok((status.admitted.len() + 1 >= members).then_some(()))
            })
            .await?
            .ok_or_else(|| {
                unexpected(
                    "mesh",
                    format!("{} did not admit its cluster", site.pki.region),
                )
            })?;
        }
        Ok(started.elapsed())
    }

    /// Where the keys of an upload at `from`, answered at `answered`, went. Every node of
    /// `expected` must serve all of `keys` in its public feed within `patience` (polled every
    /// 5 ms, all at once); every other node must serve none of them once those have.
    pub async fn hops(
        &self,
        from: &str,
        keys: &[drive::AppKey],
        answered: Instant,
        expected: &[&str],
        patience: Duration,
    ) -> Result<Vec<Hop>, DemoError> {
        let origin = self.get(from)?.0.pki.cluster.clone();
        let want: HashSet<String> = keys.iter().map(drive::key_text).collect();
        let mut watchers = tokio::task::JoinSet::new();
        let mut hops = Vec::new();
        for (site, node) in &self.nodes {
            let region = site.pki.region.clone();
            if region.to_string() == from {
                continue;
            }
            let path = if site.pki.cluster == origin {
                "a2a"
            } else {
                "partial"
            };
            let http = node.http_addr();
            if expected.contains(&region.to_string().as_str()) {
                let want = want.clone();
                watchers.spawn(async move {
                    let after = served_within(http, &want, answered, patience).await?;
                    Ok::<_, DemoError>(Hop {
                        region,
                        path,
                        after,
                    })
                });
            } else {
                hops.push((
                    Hop {
                        region,
                        path,
                        after: None,
                    },
                    http,
                ));
            }
        }
        let mut reached = Vec::new();
        while let Some(joined) = watchers.join_next().await {
            let hop = joined.map_err(|e| unexpected("hops", e.to_string()))??;
            if hop.after.is_none() {
                return Err(unexpected(
                    "hops",
                    format!("{} never served the keys", hop.region),
                ));
            }
            reached.push(hop);
        }
        // Give anything misrouted a moment to arrive, then check it did not.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (hop, http) in hops {
            if !drive::feed_keys(http).await?.is_disjoint(&want) {
                return Err(unexpected(
                    "hops",
                    format!("{} got keys it does not need", hop.region),
                ));
            }
            reached.push(hop);
        }
        reached.sort_by_key(|h| h.region.to_string());
        Ok(reached)
    }

    /// Stops every node, the last started first.
    pub async fn shutdown(self) -> Result<(), DemoError> {
        for (_, node) in self.nodes.into_iter().rev() {
            node.shutdown().await?;
        }
        Ok(())
    }
}

/// How long after `since` the feed at `http` served all of `want`; `None` after `patience`.
async fn served_within(
    http: SocketAddr,
    want: &HashSet<String>,
    since: Instant,
    patience: Duration,
) -> Result<Option<Duration>, DemoError> {
    while since.elapsed() < patience {
        if want.is_subset(&drive::feed_keys(http).await?) {
            return Ok(Some(since.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(None)
}

/// A loopback address with a port that was free a moment ago.
fn free_local_port() -> Result<SocketAddr, DemoError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
