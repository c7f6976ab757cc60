//! A deterministic simulator of many mesh nodes on the daemon's own state machine
//! ([`super::state::State`]), in one thread, in virtual time: seeded message loss and delay,
//! partitions that close links the way failed pings do, a gossip layer that forwards accepted
//! announcements to a few admitted peers (gossipsub's mesh, simplified), request-response with
//! timeouts, and an in-memory store per node that applies the outcomes of the daemon's checks
//! (a batch the simulation marks forged is refused; a batch that does not follow is a gap; one
//! already held is held).
//!
//! What is simulated is the transport and the store; every decision is the real
//! [`State::handle`]. The simulator never reads a clock or an unseeded RNG: one seed gives one
//! run. Built for tests only; never in the daemon binary.

#[cfg(test)]
mod tests;

use super::state::peers::Dial;
use super::state::{
    Action, Event, Millis, Path, ReplyId, RequestId, Start, State, StoredPage, Types, Verdict,
};
use enmesh_protocol::region::{RegionError, RegionId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// A node of the simulation (its index): its peer identity and its address.
pub type NodeId = u32;

/// Gossip fan-out: how many admitted peers a node sends a message it publishes or accepts to.
pub const GOSSIP_DEGREE: usize = 3;
/// How long a sync request waits for its answer (as `behaviour` configures it).
pub const REQUEST_TIMEOUT_MS: Millis = 30_000;
/// How long an admission request waits for its answer (as `behaviour` configures it).
pub const ADMIT_TIMEOUT_MS: Millis = 10_000;
/// How long a link across a partition lives on (pings fail, then the link is closed).
pub const PING_CLOSE_MS: Millis = 7_000;
/// How long the store worker takes with a page.
pub const STORE_MS: Millis = 1;
/// The tick period.
pub const TICK_MS: Millis = 1_000;

/// A batch in the simulation: its origin and sequence, and whether it fails the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBatch {
    /// The origin region.
    pub origin: RegionId,
    /// Its sequence in the origin's feed.
    pub sequence: u64,
    /// Whether it fails the checks (bad signature, wrong origin, ...).
    pub forged: bool,
}

/// An announcement: the gossip message, which is also its id (gossipsub ids by content).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Announce {
    /// The origin.
    pub origin: RegionId,
    /// The sequence.
    pub sequence: u64,
}

/// The state machine's types in the simulation.
#[derive(Debug, PartialEq)]
pub struct Sim;

impl Types for Sim {
    type Peer = NodeId;
    type Addr = NodeId;
    type MsgId = Announce;
    type Page = Vec<SimBatch>;
}

/// The shape of a simulation.
#[derive(Debug, Clone)]
pub struct Config {
    /// The RNG seed: one seed, one run.
    pub seed: u64,
    /// Clusters.
    pub clusters: usize,
    /// Nodes in each cluster.
    pub nodes_per_cluster: usize,
    /// Chance in a million that a message is lost.
    pub loss_ppm: u32,
    /// Shortest and longest one-way delay of a message, in milliseconds.
    pub delay_ms: (Millis, Millis),
    /// Node 1 of each cluster also has node 0 of the next cluster as a bootstrap address
    /// (which must refuse it: another cluster).
    pub cross_cluster_bootstrap: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 1,
            clusters: 1,
            nodes_per_cluster: 5,
            loss_ppm: 0,
            delay_ms: (1, 20),
            cross_cluster_bootstrap: false,
        }
    }
}

/// What the simulation counted.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Times each node received each honest batch in a fetched page: (node, origin, sequence).
    pub fetched: BTreeMap<(NodeId, RegionId, u64), u32>,
    /// Times each node stored each batch.
    pub stored: BTreeMap<(NodeId, RegionId, u64), u32>,
    /// Forged batches received in fetched pages (and refused).
    pub forged_fetched: u64,
    /// Announcements delivered to a state machine.
    pub announcements: u64,
    /// Announcements dropped as already seen (gossip duplicates).
    pub duplicate_announcements: u64,
    /// Rejections reported: (node, sender).
    pub rejects: Vec<(NodeId, NodeId)>,
    /// Blocks: (node, blocked peer, reason).
    pub blocks: Vec<(NodeId, NodeId, &'static str)>,
    /// Messages sent and lost.
    pub sent: u64,
    /// Messages lost (loss or partition).
    pub lost: u64,
    /// Events handled by state machines.
    pub events: u64,
    /// A fold of every action every node took, with its time: equal for equal runs.
    pub trace: u64,
}

/// What one node is, beside its state machine.
struct Node {
    state: State<Sim>,
    region: RegionId,
    cluster: usize,
    store: BTreeMap<RegionId, Vec<SimBatch>>,
    blocked: BTreeSet<NodeId>,
    scored: BTreeSet<NodeId>,
    seen: BTreeSet<Announce>,
    outstanding: BTreeSet<RequestId>,
    admitting: BTreeSet<NodeId>,
    replies: BTreeMap<ReplyId, (NodeId, Asked)>,
    next_reply: u64,
    dialing: BTreeSet<NodeId>,
}

/// What a request a node received asked.
#[derive(Debug, Clone, Copy)]
enum Asked {
    Admit,
    Sync(RequestId),
}

/// A message between two nodes.
#[derive(Debug, Clone)]
enum Msg {
    Gossip(Announce),
    AdmitRequest,
    AdmitAnswer,
    AdmitNoAnswer,
    AskHeads(RequestId),
    AskBatches {
        request: RequestId,
        origin: RegionId,
        after: u64,
        limit: u32,
    },
    Heads {
        request: RequestId,
        heads: Vec<(RegionId, u64)>,
        peers: Vec<(NodeId, NodeId)>,
    },
    Batches {
        request: RequestId,
        page: Vec<SimBatch>,
    },
    NoAnswer(RequestId),
}

/// Something due at a time.
#[derive(Debug)]
enum Item {
    Tick(NodeId),
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: Msg,
    },
    Timeout {
        node: NodeId,
        request: RequestId,
    },
    AdmitTimeout {
        node: NodeId,
        peer: NodeId,
    },
    Connect {
        dialer: NodeId,
        target: NodeId,
        bootstrap: Option<usize>,
    },
    Close {
        a: NodeId,
        b: NodeId,
    },
    Stored {
        node: NodeId,
        page: StoredPage<NodeId>,
    },
}

struct Scheduled {
    at: Millis,
    order: u64,
    item: Item,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Earliest first out of the (max-)heap.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// The simulated world.
pub struct World {
    config: Config,
    nodes: Vec<Node>,
    links: BTreeSet<(NodeId, NodeId)>,
    groups: Option<Vec<usize>>,
    queue: BinaryHeap<Scheduled>,
    order: u64,
    now: Millis,
    rng: StdRng,
    stats: Stats,
}

/// The region of node `index` of cluster `cluster` (`c<cluster>:n<index>`).
pub fn region(cluster: usize, index: usize) -> Result<RegionId, RegionError> {
    RegionId::site(&format!("c{cluster}"), &format!("n{index}"))
}

fn link(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

fn index(node: NodeId) -> usize {
    usize::try_from(node).unwrap_or(usize::MAX)
}

impl World {
    /// A world of `config.clusters` clusters of `config.nodes_per_cluster` nodes, all up,
    /// none connected yet: each node bootstraps from the first node of its cluster (node 0
    /// from node 1).
    pub fn new(config: Config) -> Result<Self, RegionError> {
        let n = config.clusters * config.nodes_per_cluster;
        let mut world = Self {
            nodes: Vec::with_capacity(n),
            links: BTreeSet::new(),
            groups: None,
            queue: BinaryHeap::new(),
            order: 0,
            now: 0,
            rng: StdRng::seed_from_u64(config.seed),
            stats: Stats::default(),
            config,
        };
        let npc = world.config.nodes_per_cluster;
        let mut first = Vec::new();
        for c in 0..world.config.clusters {
            let regions = (0..npc)
                .map(|i| region(c, i))
                .collect::<Result<Vec<RegionId>, RegionError>>()?;
            for (i, me) in regions.iter().cloned().enumerate() {
                let id = world.id(c, i);
                let mut bootstrap = vec![];
                let seed = if i == 0 { 1 } else { 0 };
                if seed < npc && seed != i {
                    bootstrap.push((world.id(c, seed), None));
                }
                if world.config.cross_cluster_bootstrap && i == 1 && world.config.clusters > 1 {
                    let next = (c + 1) % world.config.clusters;
                    bootstrap.push((world.id(next, 0), None));
                }
                let (state, actions) = State::new(Start {
                    me_peer: id,
                    me: me.clone(),
                    origins: regions.clone(),
                    heads: Vec::new(),
                    bootstrap,
                    witness_every: 0,
                });
                world.nodes.push(Node {
                    state,
                    region: me,
                    cluster: c,
                    store: BTreeMap::new(),
                    blocked: BTreeSet::new(),
                    scored: BTreeSet::new(),
                    seen: BTreeSet::new(),
                    outstanding: BTreeSet::new(),
                    admitting: BTreeSet::new(),
                    replies: BTreeMap::new(),
                    next_reply: 0,
                    dialing: BTreeSet::new(),
                });
                first.push((id, actions));
            }
        }
        for (id, actions) in first {
            world.apply_all(id, actions);
            let offset = (Millis::from(id) * 37) % TICK_MS;
            world.schedule(offset.max(1), Item::Tick(id));
        }
        Ok(world)
    }

    /// The node id of node `index` of cluster `cluster`.
    pub fn id(&self, cluster: usize, index: usize) -> NodeId {
        NodeId::try_from(cluster * self.config.nodes_per_cluster + index).unwrap_or(NodeId::MAX)
    }

    /// Every node's id.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + use<> {
        let n = NodeId::try_from(self.nodes.len()).unwrap_or(NodeId::MAX);
        0..n
    }

    /// The virtual time.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// What was counted so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The region of `node`.
    pub fn region_of(&self, node: NodeId) -> Option<&RegionId> {
        self.nodes.get(index(node)).map(|n| &n.region)
    }

    /// The cluster of `node`.
    pub fn cluster_of(&self, node: NodeId) -> Option<usize> {
        self.nodes.get(index(node)).map(|n| n.cluster)
    }

    /// How many batches of `origin` `node` stores.
    pub fn held(&self, node: NodeId, origin: &RegionId) -> u64 {
        self.nodes.get(index(node)).map_or(0, |n| {
            n.store
                .get(origin)
                .map_or(0, |b| u64::try_from(b.len()).unwrap_or(u64::MAX))
        })
    }

    /// The head `node`'s state machine believes it holds of `origin` (must equal [`held`]).
    ///
    /// [`held`]: World::held
    pub fn state_held(&self, node: NodeId, origin: &RegionId) -> u64 {
        self.nodes
            .get(index(node))
            .map_or(0, |n| n.state.held(origin))
    }

    /// Peers `node` has admitted.
    pub fn admitted(&self, node: NodeId) -> Vec<NodeId> {
        self.nodes
            .get(index(node))
            .map_or_else(Vec::new, |n| n.state.admitted().map(|(p, _)| *p).collect())
    }

    /// `node` cuts its next batch (forged: one that fails every check), which its store holds
    /// at once; its state machine learns its new head.
    pub fn cut(&mut self, node: NodeId, forged: bool) {
        let Some(n) = self.nodes.get_mut(index(node)) else {
            return;
        };
        let own = n.store.entry(n.region.clone()).or_default();
        let sequence = u64::try_from(own.len()).unwrap_or(u64::MAX) + 1;
        own.push(SimBatch {
            origin: n.region.clone(),
            sequence,
            forged,
        });
        self.handle(node, Event::OwnHead { sequence });
    }

    /// Splits the world: links between nodes of different groups stop carrying anything, and
    /// close after [`PING_CLOSE_MS`]. `group` gives each node's group.
    pub fn partition(&mut self, group: impl Fn(NodeId) -> usize) {
        let groups: Vec<usize> = self.ids().map(group).collect();
        let crossing: Vec<(NodeId, NodeId)> = self
            .links
            .iter()
            .filter(|(a, b)| groups.get(index(*a)) != groups.get(index(*b)))
            .copied()
            .collect();
        self.groups = Some(groups);
        for (a, b) in crossing {
            self.schedule(PING_CLOSE_MS, Item::Close { a, b });
        }
    }

    /// Ends the partition.
    pub fn heal(&mut self) {
        self.groups = None;
    }

    /// Runs until the virtual time has moved `ms` on.
    pub fn run_for(&mut self, ms: Millis) {
        let until = self.now.saturating_add(ms);
        while let Some(next) = self.queue.peek() {
            if next.at > until {
                break;
            }
            let Some(next) = self.queue.pop() else {
                break;
            };
            self.now = next.at;
            self.step(next.item);
        }
        self.now = until;
    }

    /// Runs (in steps of `step` ms, at most `limit` ms) until `done` holds; the time it took.
    pub fn run_until(
        &mut self,
        step: Millis,
        limit: Millis,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Option<Millis> {
        let start = self.now;
        while self.now - start < limit {
            if done(self) {
                return Some(self.now - start);
            }
            self.run_for(step);
        }
        done(self).then(|| self.now - start)
    }

    /// Whether every node holds every batch of every honest origin of its cluster (an origin
    /// whose feed starts with a forged batch is held by no one).
    pub fn converged(&self) -> bool {
        self.nodes.iter().all(|n| {
            self.nodes
                .iter()
                .filter(|o| o.cluster == n.cluster && o.region != n.region)
                .all(|o| {
                    let own = o.store.get(&o.region).map_or(&[][..], Vec::as_slice);
                    let honest = own.iter().take_while(|b| !b.forged).count();
                    n.store.get(&o.region).map_or(0, Vec::len) == honest
                })
        })
    }

    fn schedule(&mut self, after: Millis, item: Item) {
        self.order += 1;
        self.queue.push(Scheduled {
            at: self.now.saturating_add(after),
            order: self.order,
            item,
        });
    }

    fn delay(&mut self) -> Millis {
        let (low, high) = self.config.delay_ms;
        if high <= low {
            return low;
        }
        self.rng.random_range(low..=high)
    }

    fn apart(&self, a: NodeId, b: NodeId) -> bool {
        self.groups
            .as_ref()
            .is_some_and(|g| g.get(index(a)) != g.get(index(b)))
    }

    /// Sends `msg` from `from` to `to` over their link: lost if there is none, if they are
    /// apart, or by chance.
    fn send(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        self.stats.sent += 1;
        let lost = !self.links.contains(&link(from, to))
            || self.apart(from, to)
            || (self.config.loss_ppm > 0
                && self.rng.random_range(0..1_000_000u32) < self.config.loss_ppm);
        if lost {
            self.stats.lost += 1;
            return;
        }
        let delay = self.delay();
        self.schedule(delay, Item::Deliver { from, to, msg });
    }

    fn handle(&mut self, node: NodeId, event: Event<Sim>) {
        let Some(n) = self.nodes.get_mut(index(node)) else {
            return;
        };
        self.stats.events += 1;
        let actions = n.state.handle(event, self.now);
        self.apply_all(node, actions);
    }

    fn apply_all(&mut self, node: NodeId, actions: Vec<Action<Sim>>) {
        for action in actions {
            self.trace(node, &action);
            self.apply(node, action);
        }
    }

    fn trace(&mut self, node: NodeId, action: &Action<Sim>) {
        let kind: u64 = match action {
            Action::Dial(_) => 1,
            Action::RequestAdmission { .. } => 2,
            Action::AnswerAdmission { .. } => 3,
            Action::Score { .. } => 4,
            Action::Block { .. } => 5,
            Action::Unblock { .. } => 6,
            Action::Recheck => 7,
            Action::Publish { .. } => 8,
            Action::Validate { .. } => 9,
            Action::AskHeads { .. } => 10,
            Action::Fetch { after, .. } => 11 + after * 64,
            Action::AnswerHeads { .. } => 12,
            Action::Serve { .. } => 13,
            Action::Store { page, .. } => 14 + u64::try_from(page.len()).unwrap_or(0) * 64,
            Action::Witness { .. } => 15,
            Action::AnswerAudit { .. } => 16,
        };
        let t = &mut self.stats.trace;
        for part in [self.now, u64::from(node), kind] {
            *t = (*t ^ part).wrapping_mul(0x0100_0000_01b3).rotate_left(5);
        }
    }

    fn step(&mut self, item: Item) {
        match item {
            Item::Tick(node) => {
                self.handle(node, Event::Tick);
                self.schedule(TICK_MS, Item::Tick(node));
            }
            Item::Deliver { from, to, msg } => self.deliver(from, to, msg),
            Item::Timeout { node, request } => {
                let pending = self
                    .nodes
                    .get_mut(index(node))
                    .is_some_and(|n| n.outstanding.remove(&request));
                if pending {
                    self.handle(node, Event::RequestFailed { request });
                }
            }
            Item::AdmitTimeout { node, peer } => {
                let pending = self
                    .nodes
                    .get_mut(index(node))
                    .is_some_and(|n| n.admitting.remove(&peer));
                if pending {
                    self.handle(node, Event::AdmitFailed { peer });
                }
            }
            Item::Connect {
                dialer,
                target,
                bootstrap,
            } => self.connect(dialer, target, bootstrap),
            Item::Close { a, b } => self.close(a, b),
            Item::Stored { node, page } => self.handle(node, Event::Stored(page)),
        }
    }

    fn connect(&mut self, dialer: NodeId, target: NodeId, bootstrap: Option<usize>) {
        if let Some(n) = self.nodes.get_mut(index(dialer)) {
            n.dialing.remove(&target);
        }
        let refused = |w: &Self, a: NodeId, b: NodeId| {
            w.nodes.get(index(a)).is_none_or(|n| n.blocked.contains(&b))
        };
        let failed = self.apart(dialer, target)
            || refused(self, dialer, target)
            || refused(self, target, dialer)
            || dialer == target;
        if failed {
            if let Some(bootstrap) = bootstrap {
                self.handle(dialer, Event::DialFailed { bootstrap });
            }
            return;
        }
        if !self.links.insert(link(dialer, target)) {
            // Already linked: the dial found the peer on the link there is.
            if bootstrap.is_some() {
                let event = Event::Connected {
                    peer: target,
                    dialer: true,
                    bootstrap,
                };
                self.handle(dialer, event);
            }
            return;
        }
        self.handle(
            dialer,
            Event::Connected {
                peer: target,
                dialer: true,
                bootstrap,
            },
        );
        self.handle(
            target,
            Event::Connected {
                peer: dialer,
                dialer: false,
                bootstrap: None,
            },
        );
        // Identify runs on every new connection.
        for (node, peer) in [(dialer, target), (target, dialer)] {
            self.handle(
                node,
                Event::Identified {
                    peer,
                    addrs: vec![peer],
                },
            );
        }
    }

    fn close(&mut self, a: NodeId, b: NodeId) {
        if !self.links.remove(&link(a, b)) {
            return;
        }
        for (node, peer) in [(a, b), (b, a)] {
            let failed_admission = self
                .nodes
                .get_mut(index(node))
                .is_some_and(|n| n.admitting.remove(&peer));
            self.handle(node, Event::Disconnected { peer });
            if failed_admission {
                self.handle(node, Event::AdmitFailed { peer });
            }
        }
    }

    /// The admission check's outcome in the simulation: a node of the same cluster passes.
    fn check(&self, checker: NodeId, peer: NodeId) -> Result<RegionId, &'static str> {
        match (self.nodes.get(index(checker)), self.nodes.get(index(peer))) {
            (Some(c), Some(p)) if c.cluster == p.cluster => Ok(p.region.clone()),
            _ => Err("other_cluster"),
        }
    }

    fn reply_id(&mut self, node: NodeId, requester: NodeId, asked: Asked) -> Option<ReplyId> {
        let n = self.nodes.get_mut(index(node))?;
        n.next_reply += 1;
        let reply = ReplyId(n.next_reply);
        n.replies.insert(reply, (requester, asked));
        Some(reply)
    }

    /// A request `node` received and did not answer: the requester learns it failed.
    fn unanswered(&mut self, node: NodeId, reply: ReplyId) {
        let left = self
            .nodes
            .get_mut(index(node))
            .and_then(|n| n.replies.remove(&reply));
        match left {
            Some((requester, Asked::Sync(request))) => {
                self.send(node, requester, Msg::NoAnswer(request));
            }
            Some((requester, Asked::Admit)) => self.send(node, requester, Msg::AdmitNoAnswer),
            None => {}
        }
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        if !self.links.contains(&link(from, to)) {
            self.stats.lost += 1;
            return;
        }
        let Some(n) = self.nodes.get_mut(index(to)) else {
            return;
        };
        match msg {
            Msg::Gossip(id) => {
                if n.seen.contains(&id) {
                    self.stats.duplicate_announcements += 1;
                } else if n.scored.contains(&from) {
                    n.seen.insert(id.clone());
                    self.stats.announcements += 1;
                    let head = Some((id.origin.clone(), id.sequence));
                    self.handle(
                        to,
                        Event::Announced {
                            peer: from,
                            id,
                            head,
                        },
                    );
                }
            }
            Msg::AdmitRequest => {
                let outcome = self.check(to, from);
                if let Some(reply) = self.reply_id(to, from, Asked::Admit) {
                    self.handle(
                        to,
                        Event::Checked {
                            peer: from,
                            outcome,
                            reply: Some(reply),
                        },
                    );
                    self.unanswered(to, reply);
                }
            }
            Msg::AdmitAnswer => {
                if n.admitting.remove(&from) {
                    let outcome = self.check(to, from);
                    self.handle(
                        to,
                        Event::Checked {
                            peer: from,
                            outcome,
                            reply: None,
                        },
                    );
                }
            }
            Msg::AdmitNoAnswer => {
                if n.admitting.remove(&from) {
                    self.handle(to, Event::AdmitFailed { peer: from });
                }
            }
            Msg::AskHeads(request) => {
                if let Some(reply) = self.reply_id(to, from, Asked::Sync(request)) {
                    self.handle(to, Event::HeadsAsked { peer: from, reply });
                    self.unanswered(to, reply);
                }
            }
            Msg::AskBatches {
                request,
                origin,
                after,
                limit,
            } => {
                if let Some(reply) = self.reply_id(to, from, Asked::Sync(request)) {
                    let event = Event::BatchesAsked {
                        peer: from,
                        reply,
                        origin: Some(origin),
                        after,
                        limit,
                    };
                    self.handle(to, event);
                    self.unanswered(to, reply);
                }
            }
            Msg::Heads {
                request,
                heads,
                peers,
            } => {
                if n.outstanding.remove(&request) {
                    let event = Event::HeadsAnswered {
                        request,
                        heads,
                        peers,
                    };
                    self.handle(to, event);
                }
            }
            Msg::Batches { request, page } => {
                if n.outstanding.remove(&request) {
                    self.handle(to, Event::Fetched { request, page });
                }
            }
            Msg::NoAnswer(request) => {
                if n.outstanding.remove(&request) {
                    self.handle(to, Event::RequestFailed { request });
                }
            }
        }
    }

    /// Up to [`GOSSIP_DEGREE`] admitted, linked peers of `node` other than `except`, at random.
    fn gossip_targets(&mut self, node: NodeId, except: Option<NodeId>) -> Vec<NodeId> {
        let Some(n) = self.nodes.get(index(node)) else {
            return Vec::new();
        };
        let mut peers: Vec<NodeId> = n
            .scored
            .iter()
            .copied()
            .filter(|p| Some(*p) != except && self.links.contains(&link(node, *p)))
            .collect();
        let take = GOSSIP_DEGREE.min(peers.len());
        for i in 0..take {
            let j = self.rng.random_range(i..peers.len());
            peers.swap(i, j);
        }
        peers.truncate(take);
        peers
    }

    fn request(&mut self, node: NodeId, peer: NodeId, request: RequestId, msg: Msg) {
        if let Some(n) = self.nodes.get_mut(index(node)) {
            n.outstanding.insert(request);
        }
        self.schedule(REQUEST_TIMEOUT_MS, Item::Timeout { node, request });
        self.send(node, peer, msg);
    }

    fn apply(&mut self, node: NodeId, action: Action<Sim>) {
        match action {
            Action::Dial(Dial {
                peer,
                addrs,
                bootstrap,
            }) => {
                let Some(target) = peer.or_else(|| addrs.first().copied()) else {
                    return;
                };
                let Some(n) = self.nodes.get_mut(index(node)) else {
                    return;
                };
                let busy = n.dialing.contains(&target)
                    || (peer.is_some() && self.links.contains(&link(node, target)));
                if busy {
                    return;
                }
                n.dialing.insert(target);
                let delay = self.delay();
                self.schedule(
                    delay.saturating_mul(2),
                    Item::Connect {
                        dialer: node,
                        target,
                        bootstrap,
                    },
                );
            }
            Action::RequestAdmission { peer } => {
                if let Some(n) = self.nodes.get_mut(index(node)) {
                    n.admitting.insert(peer);
                }
                self.schedule(ADMIT_TIMEOUT_MS, Item::AdmitTimeout { node, peer });
                self.send(node, peer, Msg::AdmitRequest);
            }
            Action::AnswerAdmission { reply } => {
                let answered = self
                    .nodes
                    .get_mut(index(node))
                    .and_then(|n| n.replies.remove(&reply));
                if let Some((requester, _)) = answered {
                    self.send(node, requester, Msg::AdmitAnswer);
                }
            }
            Action::Score { peer, admitted } => {
                if let Some(n) = self.nodes.get_mut(index(node)) {
                    if admitted {
                        n.scored.insert(peer);
                    } else {
                        n.scored.remove(&peer);
                    }
                }
            }
            Action::Block { peer, reason } => {
                self.stats.blocks.push((node, peer, reason.reason()));
                if let Some(n) = self.nodes.get_mut(index(node)) {
                    n.blocked.insert(peer);
                }
                if self.links.contains(&link(node, peer)) {
                    self.schedule(0, Item::Close { a: node, b: peer });
                }
            }
            Action::Unblock { peer } => {
                if let Some(n) = self.nodes.get_mut(index(node)) {
                    n.blocked.remove(&peer);
                }
            }
            // Chains do not expire or get revoked in the simulation.
            Action::Recheck => {}
            Action::Publish { origin, sequence } => {
                let id = Announce { origin, sequence };
                if let Some(n) = self.nodes.get_mut(index(node)) {
                    n.seen.insert(id.clone());
                }
                for peer in self.gossip_targets(node, None) {
                    self.send(node, peer, Msg::Gossip(id.clone()));
                }
            }
            Action::Validate {
                id,
                source,
                verdict,
            } => match verdict {
                Verdict::Accept => {
                    for peer in self.gossip_targets(node, Some(source)) {
                        self.send(node, peer, Msg::Gossip(id.clone()));
                    }
                }
                Verdict::Reject | Verdict::Malformed => self.stats.rejects.push((node, source)),
                Verdict::Ignore => {}
            },
            Action::AskHeads { peer, request } => {
                self.request(node, peer, request, Msg::AskHeads(request));
            }
            Action::Fetch {
                peer,
                request,
                origin,
                after,
                limit,
            } => {
                let msg = Msg::AskBatches {
                    request,
                    origin,
                    after,
                    limit,
                };
                self.request(node, peer, request, msg);
            }
            Action::AnswerHeads {
                reply,
                heads,
                peers,
            } => {
                let answered = self
                    .nodes
                    .get_mut(index(node))
                    .and_then(|n| n.replies.remove(&reply));
                if let Some((requester, Asked::Sync(request))) = answered {
                    let msg = Msg::Heads {
                        request,
                        heads,
                        peers,
                    };
                    self.send(node, requester, msg);
                }
            }
            Action::Serve {
                reply,
                origin,
                after,
                limit,
                ..
            } => {
                let Some(n) = self.nodes.get_mut(index(node)) else {
                    return;
                };
                let answered = n.replies.remove(&reply);
                let page: Vec<SimBatch> = n
                    .store
                    .get(&origin)
                    .map(|b| {
                        b.iter()
                            .filter(|b| b.sequence > after)
                            .take(usize::try_from(limit).unwrap_or(usize::MAX))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some((requester, Asked::Sync(request))) = answered {
                    self.send(node, requester, Msg::Batches { request, page });
                }
            }
            Action::Store {
                peer,
                origin,
                page,
                first_held,
                path,
            } => {
                let page = self.take(node, peer, origin, page, first_held, path);
                self.schedule(STORE_MS, Item::Stored { node, page });
            }
            // The simulated nodes keep no replication log (witnessing is off in `Start`).
            Action::Witness { .. } | Action::AnswerAudit { .. } => {}
        }
    }

    /// The store worker: the outcomes of `Ledger::take`, page by page, in order.
    fn take(
        &mut self,
        node: NodeId,
        peer: NodeId,
        origin: RegionId,
        page: Vec<SimBatch>,
        first_held: bool,
        path: Path,
    ) -> StoredPage<NodeId> {
        let (mut refused, mut stopped) = (false, false);
        let got = page.len();
        let Some(n) = self.nodes.get_mut(index(node)) else {
            return StoredPage {
                peer,
                origin,
                got,
                held: 0,
                refused,
                stopped: true,
                path,
            };
        };
        for (i, batch) in page.into_iter().enumerate() {
            if batch.forged {
                self.stats.forged_fetched += 1;
                refused = true;
                stopped = true;
                break;
            }
            let key = (node, batch.origin.clone(), batch.sequence);
            *self.stats.fetched.entry(key.clone()).or_insert(0) += 1;
            // A batch of another origin than asked fails the checks too (the feed is the
            // origin's): the simulation's servers never send one.
            let stored = n.store.entry(batch.origin.clone()).or_default();
            let held = u64::try_from(stored.len()).unwrap_or(u64::MAX);
            if held >= batch.sequence {
                continue;
            }
            let starts = held == 0 && batch.sequence != 1 && !(first_held && i == 0);
            // The simulation keeps every batch (no retention), so a chain starts at 1.
            if starts || batch.sequence != held + 1 {
                stopped = true;
                break;
            }
            stored.push(batch);
            *self.stats.stored.entry(key).or_insert(0) += 1;
        }
        let held = n
            .store
            .get(&origin)
            .map_or(0, |b| u64::try_from(b.len()).unwrap_or(u64::MAX));
        StoredPage {
            peer,
            origin,
            got,
            held,
            refused,
            stopped,
            path,
        }
    }
}
