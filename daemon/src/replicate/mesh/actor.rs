//! The mesh actor: one task that owns the swarm and drives admission, announcements, fetching
//! and catch-up; plus a worker task that checks and stores received batches one at a time (in
//! order, off the async threads).
//!
//! Gossip carries announcements only ("I hold origin O up to sequence N", a few dozen bytes);
//! the batches themselves travel once per node, fetched over the sync protocol from the peer
//! that announced them. An announcement is validated, and so forwarded, only once this node
//! holds the batch itself, so whoever receives it can fetch from the forwarder. A batch that
//! fails its checks makes the announcement that led to it rejected (gossipsub's penalty).
//!
//! The actor never announces anything but this node's own `a2a/<cluster>` batches (read from the
//! store after each batcher commit), never answers a sync request or takes a gossip message from
//! a peer that is not admitted, and never forwards an announcement of a batch it does not hold.

use super::admission::{Admission, Refused};
use super::behaviour::{self, Behaviour, BehaviourEvent, UNADMITTED_SCORE};
use super::catchup::{CatchUp, PAGE_BATCHES};
use super::ledger::{Ledger, TakeError, Taken};
use super::wire::{
    Admit, Ask, BatchesAsk, Head, HeadsAsk, MAX_SYNC_RESPONSE_BYTES, SyncRequest, SyncResponse,
};
use super::{MeshError, MeshSettings};
use crate::clock::SharedClock;
use crate::node::Trust;
use crate::pki::Verifier;
use crate::shutdown::ShutdownSignal;
use crate::store::Store;
use crate::telemetry::Metrics;
use enmesh_proto::v1::SignedBatch;
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::{ClusterId, RegionId};
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, ping};
use prost::Message;
use rustls_pki_types::UnixTime;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Housekeeping period: admission deadlines, redials, gauges.
const TICK: Duration = Duration::from_secs(1);
/// Every this many ticks, ask one admitted peer for its heads (anti-entropy).
const HEADS_EVERY_TICKS: u64 = 3;
/// Every this many ticks, check the admitted peers' chains again.
const RECHECK_EVERY_TICKS: u64 = 60;
/// Received batches waiting for the worker.
const JOB_CAPACITY: usize = 1024;
/// Worker results waiting for the actor.
const DONE_CAPACITY: usize = 64;
/// Status requests waiting for the actor.
const COMMAND_CAPACITY: usize = 16;
/// How long `start` waits for the listener to report its address.
const LISTEN_WAIT: Duration = Duration::from_secs(5);
/// Room left in a sync response for framing beyond the batches themselves.
const RESPONSE_SLACK: usize = 64 * 1024;
/// Most peer addresses taken from one heads response, and most peers whose addresses are kept.
const MAX_PEER_ADDRS: usize = 64;
const MAX_KNOWN_PEERS: usize = 1024;
/// How long an announcement waits for this node to hold its batch before it is dropped
/// (gossipsub forgets unvalidated messages after a few heartbeats anyway).
const ANNOUNCE_WAIT: Duration = Duration::from_secs(3);
/// Most announcements of one origin waiting for their batch (more are ignored, not forwarded).
const MAX_WAITING_ANNOUNCES: usize = 256;
/// Batch-count label of batches fetched after an announcement.
const BY_ANNOUNCE: &str = "announce";
/// Batch-count label of batches fetched after a heads exchange.
const BY_CATCHUP: &str = "catchup";

/// What a status request returns.
#[derive(Debug, Clone)]
pub struct MeshStatus {
    /// Admitted peers and their certified regions.
    pub admitted: Vec<(PeerId, RegionId)>,
    /// Peers in this node's gossip mesh for the cluster topic.
    pub mesh_peers: usize,
    /// The gossipsub score of every connected peer.
    pub scores: Vec<(PeerId, f64)>,
}

enum Command {
    Status(oneshot::Sender<MeshStatus>),
    Verifier(Arc<Verifier>, oneshot::Sender<()>),
}

/// A handle on the running mesh.
#[derive(Debug, Clone)]
pub struct MeshHandle {
    peer_id: PeerId,
    listen_addr: Multiaddr,
    commands: mpsc::Sender<Command>,
}

impl MeshHandle {
    /// This node's PeerId (its certificate key).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Where the swarm listens, with `/p2p/<peer id>`: what other nodes put in `mesh.bootstrap`.
    pub fn listen_addr(&self) -> &Multiaddr {
        &self.listen_addr
    }

    /// Admitted peers, mesh size and peer scores.
    pub async fn status(&self) -> Result<MeshStatus, MeshError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Status(reply))
            .await
            .map_err(|_| MeshError::Stopped)?;
        answer.await.map_err(|_| MeshError::Stopped)
    }

    /// Checks peers and batches with `verifier` from now on (e.g. one with a newer CRL), and
    /// checks every admitted peer again at once: a revoked peer is dropped and blocked.
    pub async fn set_verifier(&self, verifier: Arc<Verifier>) -> Result<(), MeshError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Verifier(verifier, reply))
            .await
            .map_err(|_| MeshError::Stopped)?;
        answer.await.map_err(|_| MeshError::Stopped)
    }
}

/// A page of fetched batches for the worker.
struct Job {
    peer: PeerId,
    origin: RegionId,
    batches: Vec<SignedBatch>,
    first_held: bool,
    path: &'static str,
}

/// An announcement waiting until this node holds the batch.
struct Announced {
    id: MessageId,
    source: PeerId,
    sequence: u64,
    at: Instant,
}

/// What the worker (or a blocking read) did.
enum Done {
    /// A page of batches read for a peer's sync request.
    Served {
        channel: request_response::ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    /// What the worker did with a page.
    Page {
        peer: PeerId,
        origin: RegionId,
        got: usize,
        stored: usize,
        keys: usize,
        held: u64,
        refusal: Option<&'static str>,
        stopped: bool,
        path: &'static str,
    },
}

/// Where the actor's handlers send work: received batches to the worker, and results (of the
/// worker and of blocking reads) back to the actor.
struct Channels {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Sender<Done>,
}

/// A sync request this node sent.
enum Pending {
    Heads,
    Batches {
        origin: RegionId,
        after: u64,
        path: &'static str,
    },
}

/// A configured bootstrap address and what dialling it found.
struct Bootstrap {
    addr: Multiaddr,
    peer: Option<PeerId>,
    dialing: Option<ConnectionId>,
}

/// The mesh, ready to run (see [`Mesh::run`]).
pub struct Mesh {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    ledger: Ledger,
    chain: Vec<Vec<u8>>,
    admission: Admission,
    catchup: CatchUp,
    announced: HashMap<RegionId, Vec<Announced>>,
    pending: HashMap<OutboundRequestId, (PeerId, Pending)>,
    admitting: HashMap<OutboundRequestId, PeerId>,
    bootstrap: Vec<Bootstrap>,
    addresses: HashMap<PeerId, Vec<Multiaddr>>,
    published: u64,
    committed: watch::Receiver<u64>,
    commands: mpsc::Receiver<Command>,
    clock: SharedClock,
    metrics: Metrics,
    ticks: u64,
}

/// Builds the swarm, binds the listener and dials the bootstrap peers. The returned [`Mesh`]
/// does nothing until [`Mesh::run`] is awaited.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    settings: &MeshSettings,
    store: Arc<Store>,
    trust: &Trust,
    cluster: &ClusterId,
    region: &RegionId,
    cluster_regions: &[RegionId],
    committed: watch::Receiver<u64>,
    clock: SharedClock,
    metrics: Metrics,
) -> Result<(MeshHandle, Mesh), MeshError> {
    let now = UnixTime::since_unix_epoch(Duration::from_millis(clock.now_millis()));
    let credential = trust.identity.active(now);
    let peer_id = credential.peer_id()?;
    let topic = behaviour::topic(cluster.as_str());
    let mut swarm = behaviour::build(credential.libp2p_keypair()?, &topic)?;
    swarm
        .listen_on(settings.listen.clone())
        .map_err(|e| MeshError::Listen {
            addr: settings.listen.clone(),
            reason: e.to_string(),
        })?;
    let bound = tokio::time::timeout(LISTEN_WAIT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => return Ok(address),
                SwarmEvent::ListenerError { error, .. } => return Err(error.to_string()),
                SwarmEvent::ListenerClosed { reason, .. } => {
                    return Err(format!("listener closed: {reason:?}"));
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err("no listen address reported".to_owned()))
    .map_err(|reason| MeshError::Listen {
        addr: settings.listen.clone(),
        reason,
    })?;
    let listen_addr = bound.with(Protocol::P2p(peer_id));
    let feed = Feed::AllToAll(cluster.clone());
    let ledger = Ledger::new(
        store,
        trust.verifier.clone(),
        feed,
        cluster.clone(),
        region.clone(),
    );
    let published = {
        let ledger = ledger.clone();
        let region = region.clone();
        tokio::task::spawn_blocking(move || ledger.head(&region))
            .await
            .map_err(|_| MeshError::Stopped)??
    };
    let (commands_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
    let origins = cluster_regions.iter().filter(|r| *r != region).cloned();
    let mut mesh = Mesh {
        swarm,
        topic,
        ledger,
        chain: credential.chain().iter().map(|c| c.to_vec()).collect(),
        admission: Admission::new(cluster.clone()),
        catchup: CatchUp::new(origins),
        announced: HashMap::new(),
        pending: HashMap::new(),
        admitting: HashMap::new(),
        bootstrap: settings
            .bootstrap
            .iter()
            .map(|addr| Bootstrap {
                addr: addr.clone(),
                peer: peer_of(addr),
                dialing: None,
            })
            .collect(),
        addresses: HashMap::new(),
        published,
        committed,
        commands,
        clock,
        metrics,
        ticks: 0,
    };
    mesh.redial();
    tracing::info!(%listen_addr, "mesh listening");
    Ok((
        MeshHandle {
            peer_id,
            listen_addr,
            commands: commands_tx,
        },
        mesh,
    ))
}

/// The PeerId in a `/p2p/...` address, if any.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

impl Mesh {
    /// Runs the mesh until `stop` fires.
    pub async fn run(mut self, stop: ShutdownSignal) -> Result<(), MeshError> {
        let (jobs_tx, jobs) = mpsc::channel(JOB_CAPACITY);
        let (done_tx, mut done) = mpsc::channel(DONE_CAPACITY);
        let ch = Channels {
            jobs: jobs_tx,
            done: done_tx.clone(),
        };
        let worker = tokio::spawn(work(self.ledger.clone(), self.clock.clone(), jobs, done_tx));
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batcher_alive = true;
        let stopped = stop.wait();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                () = &mut stopped => break,
                event = self.swarm.select_next_some() => self.on_swarm(event, &ch),
                Some(done) = done.recv() => self.on_done(done),
                Some(command) = self.commands.recv() => self.on_command(command),
                changed = self.committed.changed(), if batcher_alive => match changed {
                    Ok(()) => self.publish_own(),
                    Err(_) => batcher_alive = false,
                },
                _ = ticks.tick() => self.on_tick(),
            }
        }
        drop(ch);
        worker.abort();
        tracing::info!("mesh stopped");
        Ok(())
    }

    fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_millis(self.clock.now_millis()))
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let gossip = &self.swarm.behaviour().gossip;
                let status = MeshStatus {
                    admitted: self
                        .admission
                        .admitted()
                        .map(|(p, a)| (*p, a.region.clone()))
                        .collect(),
                    mesh_peers: gossip.mesh_peers(&self.topic.hash()).count(),
                    scores: self
                        .swarm
                        .connected_peers()
                        .filter_map(|p| gossip.peer_score(p).map(|s| (*p, s)))
                        .collect(),
                };
                let _ = reply.send(status);
            }
            Command::Verifier(verifier, reply) => {
                self.ledger.set_verifier(verifier);
                self.recheck();
                let _ = reply.send(());
            }
        }
    }

    /// Announces this node's own batches committed since the last round, one message each.
    fn publish_own(&mut self) {
        let me = self.ledger.me().clone();
        let head = self.held(&me);
        for sequence in self.published.saturating_add(1)..=head {
            let data = Head {
                origin: me.to_string(),
                sequence,
            }
            .encode_to_vec();
            match self
                .swarm
                .behaviour_mut()
                .gossip
                .publish(self.topic.clone(), data)
            {
                Ok(_) => self.metrics.mesh().published(),
                // Peers that miss it (none connected yet, ...) catch up from the heads.
                Err(error) => tracing::debug!(%error, sequence, "mesh: not announced"),
            }
        }
        self.published = self.published.max(head);
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>, ch: &Channels) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                for b in &mut self.bootstrap {
                    if b.dialing == Some(connection_id) {
                        b.dialing = None;
                        b.peer = Some(peer_id);
                    }
                }
                if self.admission.get(&peer_id).is_none() {
                    self.admission.connected(peer_id, Instant::now());
                    self.swarm
                        .behaviour_mut()
                        .gossip
                        .set_application_score(&peer_id, UNADMITTED_SCORE);
                    if endpoint.is_dialer() && !self.admitting.values().any(|p| *p == peer_id) {
                        self.request_admission(peer_id);
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.admission.disconnected(&peer_id);
                self.catchup.peer_gone(&peer_id);
                self.metrics.mesh().admitted(self.admission.len());
            }
            SwarmEvent::OutgoingConnectionError { connection_id, .. } => {
                for b in &mut self.bootstrap {
                    if b.dialing == Some(connection_id) {
                        b.dialing = None;
                    }
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour(event, ch),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, event: BehaviourEvent, ch: &Channels) {
        match event {
            BehaviourEvent::Admit(event) => self.on_admit(event),
            BehaviourEvent::Sync(event) => self.on_sync(event, ch),
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.on_gossip(propagation_source, message_id, &message.data),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.addresses.insert(peer_id, info.listen_addrs);
            }
            // A link that stopped answering (a partition): close it, the redial restores it.
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(error),
            }) => {
                tracing::debug!(%peer, %error, "mesh: ping failed, closing the link");
                self.swarm.close_connection(connection);
            }
            _ => {}
        }
    }

    fn on_admit(&mut self, event: request_response::Event<Admit, Admit>) {
        let request_response::Event::Message { peer, message, .. } = event else {
            if let request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } = event
            {
                self.admitting.remove(&request_id);
                tracing::debug!(%peer, %error, "mesh: admission request failed");
                // E.g. the connection it went on lost a simultaneous-dial race: ask again on
                // the one that is left (the admission deadline still bounds it).
                if self.swarm.is_connected(&peer) && self.admission.get(&peer).is_none() {
                    self.request_admission(peer);
                }
            }
            return;
        };
        let now = self.now();
        match message {
            request_response::Message::Request {
                request, channel, ..
            } => {
                if self.admit(peer, &request.chain, now) {
                    let answer = Admit {
                        chain: self.chain.clone(),
                    };
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .admit
                        .send_response(channel, answer);
                }
            }
            request_response::Message::Response {
                request_id,
                response,
            } => {
                self.admitting.remove(&request_id);
                self.admit(peer, &response.chain, now);
            }
        }
    }

    /// Presents this node's chain to `peer`; its answer is its own chain.
    fn request_admission(&mut self, peer: PeerId) {
        let request = Admit {
            chain: self.chain.clone(),
        };
        let id = self
            .swarm
            .behaviour_mut()
            .admit
            .send_request(&peer, request);
        self.admitting.insert(id, peer);
    }

    /// Checks `peer`'s chain; admits it (and asks for its heads) or refuses and blocks it.
    fn admit(&mut self, peer: PeerId, chain: &[Vec<u8>], now: UnixTime) -> bool {
        let already = self.admission.get(&peer).is_some();
        match self
            .admission
            .check(&self.ledger.verifier(), peer, chain, now)
        {
            Ok(admitted) => {
                if !already {
                    tracing::info!(%peer, region = %admitted.region, "mesh: peer admitted");
                    self.swarm
                        .behaviour_mut()
                        .gossip
                        .set_application_score(&peer, 0.0);
                    self.metrics.mesh().admitted(self.admission.len());
                    self.ask_heads(peer);
                }
                true
            }
            Err(refused) => {
                self.refuse(peer, &refused);
                false
            }
        }
    }

    /// Checks every admitted peer's chain again; drops and blocks those that fail now.
    fn recheck(&mut self) {
        let failed = self.admission.recheck(&self.ledger.verifier(), self.now());
        for (peer, refused) in failed {
            self.refuse(peer, &refused);
        }
    }

    fn refuse(&mut self, peer: PeerId, refused: &Refused) {
        tracing::warn!(%peer, reason = %refused, "mesh: peer refused and blocked");
        self.metrics.mesh().refused(refused.reason());
        self.admission.block(peer, Instant::now());
        self.addresses.remove(&peer);
        self.catchup.peer_gone(&peer);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.metrics.mesh().admitted(self.admission.len());
    }

    fn ask_heads(&mut self, peer: PeerId) {
        let request = SyncRequest {
            ask: Some(Ask::Heads(HeadsAsk {})),
        };
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.pending.insert(id, (peer, Pending::Heads));
    }

    fn ask_batches(&mut self, peer: PeerId, origin: RegionId, after: u64, path: &'static str) {
        let request = SyncRequest {
            ask: Some(Ask::Batches(BatchesAsk {
                origin: origin.to_string(),
                after_sequence: after,
                limit: PAGE_BATCHES,
            })),
        };
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        let pending = Pending::Batches {
            origin,
            after,
            path,
        };
        self.pending.insert(id, (peer, pending));
    }

    /// This node's head of `origin` (0 on a store error, which is logged).
    fn held(&self, origin: &RegionId) -> u64 {
        self.ledger.head(origin).unwrap_or_else(|error| {
            tracing::error!(%error, %origin, "mesh: cannot read the held sequence");
            0
        })
    }

    /// `peer` says (in heads or an announcement, which `path` names) that it holds `origin` up
    /// to `sequence`: fetch from it if that is more, unless a fetch of `origin` is under way.
    fn peer_holds(&mut self, peer: PeerId, origin: RegionId, sequence: u64, path: &'static str) {
        if origin == *self.ledger.me() {
            return;
        }
        let held = self.held(&origin);
        if self
            .catchup
            .peer_holds(peer, origin.clone(), sequence, held)
        {
            self.ask_batches(peer, origin, held, path);
        }
        self.metrics.mesh().catchup(self.catchup.in_flight());
    }

    fn on_sync(
        &mut self,
        event: request_response::Event<SyncRequest, SyncResponse>,
        ch: &Channels,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if self.admission.get(&peer).is_none() {
                    // No answer at all for a peer that is not admitted.
                    return;
                }
                match request.ask {
                    Some(Ask::Batches(ask)) => {
                        // Pages can be megabytes: read them off the async threads.
                        let (ledger, done) = (self.ledger.clone(), ch.done.clone());
                        tokio::task::spawn_blocking(move || {
                            let response = serve_batches(&ledger, &ask);
                            let _ = done.blocking_send(Done::Served { channel, response });
                        });
                    }
                    Some(Ask::Heads(_)) => {
                        let response = self.heads();
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .sync
                            .send_response(channel, response);
                    }
                    None => {}
                }
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => match self.pending.remove(&request_id) {
                Some((_, Pending::Heads)) => {
                    self.learn_peers(&response.peers);
                    for head in response.heads {
                        if let Ok(origin) = head.origin.parse::<RegionId>() {
                            self.peer_holds(peer, origin, head.sequence, BY_CATCHUP);
                        }
                    }
                }
                Some((
                    _,
                    Pending::Batches {
                        origin,
                        after,
                        path,
                    },
                )) => {
                    let job = Job {
                        peer,
                        origin: origin.clone(),
                        batches: response.batches,
                        first_held: after == 0,
                        path,
                    };
                    if ch.jobs.try_send(job).is_err() {
                        self.catchup.failed(&origin);
                    }
                }
                None => {}
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((peer, Pending::Batches { origin, .. })) =
                    self.pending.remove(&request_id)
                {
                    tracing::debug!(%peer, %origin, %error, "mesh: fetch failed");
                    self.catchup.failed(&origin);
                }
            }
            _ => {}
        }
    }

    /// This node's heads, and the addresses of its admitted peers.
    fn heads(&self) -> SyncResponse {
        let me = self.ledger.me();
        let heads = std::iter::once(me)
            .chain(self.catchup.origins())
            .map(|origin| Head {
                origin: origin.to_string(),
                sequence: self.held(origin),
            })
            .filter(|head| head.sequence > 0)
            .collect();
        let peers = self
            .admission
            .admitted()
            .flat_map(|(peer, _)| {
                self.addresses.get(peer).into_iter().flatten().map(|addr| {
                    let addr = match peer_of(addr) {
                        Some(_) => addr.clone(),
                        None => addr.clone().with(Protocol::P2p(*peer)),
                    };
                    addr.to_string()
                })
            })
            .take(MAX_PEER_ADDRS)
            .collect();
        SyncResponse {
            heads,
            batches: Vec::new(),
            peers,
        }
    }

    /// An announcement from `source`: accepted at once if this node holds the batch already,
    /// else kept until the fetch from `source` (or another peer) brings it.
    fn on_gossip(&mut self, source: PeerId, id: MessageId, data: &[u8]) {
        let verdict = if self.admission.get(&source).is_none() {
            MessageAcceptance::Ignore
        } else {
            match Head::decode(data).map(|h| (h.origin.parse::<RegionId>(), h.sequence)) {
                Ok((Ok(origin), _)) if origin == *self.ledger.me() => MessageAcceptance::Ignore,
                Ok((Ok(origin), sequence)) if sequence > 0 => {
                    let waiting = self.announced.get(&origin).map_or(0, Vec::len);
                    if self.held(&origin) >= sequence {
                        MessageAcceptance::Accept
                    } else if waiting >= MAX_WAITING_ANNOUNCES {
                        MessageAcceptance::Ignore
                    } else {
                        self.announced
                            .entry(origin.clone())
                            .or_default()
                            .push(Announced {
                                id,
                                source,
                                sequence,
                                at: Instant::now(),
                            });
                        self.peer_holds(source, origin, sequence, BY_ANNOUNCE);
                        return;
                    }
                }
                _ => {
                    self.metrics.mesh().rejected("malformed");
                    MessageAcceptance::Reject
                }
            }
        };
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(&id, &source, verdict);
    }

    /// Settles the announcements of `origin`: accepted (so forwarded) once this node holds their
    /// batch, rejected if `refused_by` served a batch that failed its checks for them, dropped
    /// after [`ANNOUNCE_WAIT`]. If some still wait and no fetch runs, fetch from their sender.
    fn settle(&mut self, origin: &RegionId, refused_by: Option<PeerId>) {
        let Some(waiting) = self.announced.remove(origin) else {
            return;
        };
        let (held, now) = (self.held(origin), Instant::now());
        let mut left = Vec::new();
        for a in waiting {
            let verdict = if a.sequence <= held {
                MessageAcceptance::Accept
            } else if Some(a.source) == refused_by {
                MessageAcceptance::Reject
            } else if now.duration_since(a.at) > ANNOUNCE_WAIT {
                MessageAcceptance::Ignore
            } else {
                left.push(a);
                continue;
            };
            self.swarm
                .behaviour_mut()
                .gossip
                .report_message_validation_result(&a.id, &a.source, verdict);
        }
        if let Some(last) = left.last() {
            let (source, sequence) = (last.source, last.sequence);
            self.announced.insert(origin.clone(), left);
            self.peer_holds(source, origin.clone(), sequence, BY_ANNOUNCE);
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Served { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Done::Page {
                peer,
                origin,
                got,
                stored,
                keys,
                held,
                refusal,
                stopped,
                path,
            } => {
                self.metrics.mesh().received(path, stored, keys);
                if let Some(reason) = refusal {
                    tracing::warn!(%peer, %origin, reason, "mesh: fetched batch rejected");
                    self.metrics.mesh().rejected(reason);
                }
                if self.catchup.page_done(peer, &origin, got, held, stopped) {
                    self.ask_batches(peer, origin.clone(), held, path);
                }
                self.settle(&origin, refusal.map(|_| peer));
                self.metrics.mesh().catchup(self.catchup.in_flight());
            }
        }
    }

    fn on_tick(&mut self) {
        self.ticks += 1;
        let now = Instant::now();
        let origins: Vec<RegionId> = self.announced.keys().cloned().collect();
        for origin in origins {
            self.settle(&origin, None);
        }
        for peer in self.admission.overdue(now) {
            self.refuse(peer, &Refused::Timeout(super::admission::ADMIT_DEADLINE));
        }
        for peer in self.admission.unblocked(now) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
        if self.ticks.is_multiple_of(RECHECK_EVERY_TICKS) {
            self.recheck();
        }
        self.redial();
        if self.ticks.is_multiple_of(HEADS_EVERY_TICKS) && !self.admission.is_empty() {
            let peers: Vec<PeerId> = self.admission.admitted().map(|(p, _)| *p).collect();
            let index = usize::try_from(self.ticks / HEADS_EVERY_TICKS).unwrap_or(0) % peers.len();
            if let Some(peer) = peers.get(index) {
                self.ask_heads(*peer);
            }
        }
        let mesh = self
            .swarm
            .behaviour()
            .gossip
            .mesh_peers(&self.topic.hash())
            .count();
        self.metrics.mesh().peers(mesh);
        let behind = self.catchup.behind(|origin| self.held(origin));
        self.metrics.mesh().behind(behind);
    }

    /// Keeps the addresses of peers this node has not met yet (dialled on the next tick).
    fn learn_peers(&mut self, addrs: &[String]) {
        let me = *self.swarm.local_peer_id();
        for text in addrs.iter().take(MAX_PEER_ADDRS) {
            let Ok(addr) = text.parse::<Multiaddr>() else {
                continue;
            };
            let Some(peer) = peer_of(&addr) else {
                continue;
            };
            let known = self.addresses.contains_key(&peer);
            if peer != me && !known && self.addresses.len() < MAX_KNOWN_PEERS {
                self.addresses.insert(peer, vec![addr]);
            }
        }
    }

    /// Dials bootstrap addresses and known peers that are not connected.
    fn redial(&mut self) {
        let mut dials: Vec<(Option<usize>, DialOpts)> = Vec::new();
        for (i, b) in self.bootstrap.iter().enumerate() {
            match b.peer {
                Some(peer) if self.swarm.is_connected(&peer) => {}
                Some(peer) => dials.push((
                    None,
                    DialOpts::peer_id(peer)
                        .addresses(vec![b.addr.clone()])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build(),
                )),
                None if b.dialing.is_none() => {
                    dials.push((
                        Some(i),
                        DialOpts::unknown_peer_id().address(b.addr.clone()).build(),
                    ));
                }
                None => {}
            }
        }
        for (peer, addrs) in &self.addresses {
            if !self.swarm.is_connected(peer) && !addrs.is_empty() {
                dials.push((
                    None,
                    DialOpts::peer_id(*peer)
                        .addresses(addrs.clone())
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build(),
                ));
            }
        }
        for (bootstrap, opts) in dials {
            let connection = opts.connection_id();
            if self.swarm.dial(opts).is_ok()
                && let Some(b) = bootstrap.and_then(|i| self.bootstrap.get_mut(i))
            {
                b.dialing = Some(connection);
            }
        }
    }
}

/// A page of `ask.origin`'s batches for a peer (blocking: reads the store).
fn serve_batches(ledger: &Ledger, ask: &BatchesAsk) -> SyncResponse {
    let limit = usize::try_from(ask.limit.min(PAGE_BATCHES)).unwrap_or(0);
    let Ok(origin) = ask.origin.parse::<RegionId>() else {
        return SyncResponse::default();
    };
    let max_bytes = MAX_SYNC_RESPONSE_BYTES - RESPONSE_SLACK;
    match ledger.page(&origin, ask.after_sequence, limit, max_bytes) {
        Ok(page) => SyncResponse {
            batches: page.into_iter().map(|b| b.signed).collect(),
            ..SyncResponse::default()
        },
        Err(error) => {
            tracing::error!(%error, "mesh: cannot read batches to serve");
            SyncResponse::default()
        }
    }
}

/// The worker: takes received batches one at a time, in arrival order.
async fn work(
    ledger: Ledger,
    clock: SharedClock,
    mut jobs: mpsc::Receiver<Job>,
    done: mpsc::Sender<Done>,
) {
    while let Some(job) = jobs.recv().await {
        let (ledger, now) = (ledger.clone(), clock.now_millis());
        let Ok(result) = tokio::task::spawn_blocking(move || take(&ledger, job, now)).await else {
            return;
        };
        if done.send(result).await.is_err() {
            return;
        }
    }
}

/// Checks and stores a page in order; stops at the first gap, refusal or store failure.
fn take(ledger: &Ledger, job: Job, now_millis: u64) -> Done {
    let (mut stored, mut keys, mut refusal, mut stopped) = (0, 0, None, false);
    for (i, signed) in job.batches.iter().enumerate() {
        match ledger.take(signed, job.first_held && i == 0, now_millis) {
            Ok(Taken::Stored { keys: n, .. }) => {
                stored += 1;
                keys += n;
            }
            Ok(Taken::Held) => {}
            Ok(Taken::Gap { .. }) => {
                stopped = true;
                break;
            }
            Err(TakeError::Refused(r)) => {
                refusal = Some(r.reason());
                stopped = true;
                break;
            }
            Err(TakeError::Store(error)) => {
                tracing::error!(%error, "mesh: cannot store a fetched batch");
                stopped = true;
                break;
            }
        }
    }
    let held = ledger.head(&job.origin).unwrap_or(0);
    Done::Page {
        peer: job.peer,
        origin: job.origin,
        got: job.batches.len(),
        stored,
        keys,
        held,
        refusal,
        stopped,
        path: job.path,
    }
}
