//! The mesh actor: one task that owns the swarm and does the mesh's I/O, and nothing else.
//! It translates libp2p events, request handles, store results and ticks into
//! [`state::Event`]s, hands them to the node's [`State`] (which decides everything), and carries
//! out the [`state::Action`]s it answers with. Store work (checking and storing fetched pages,
//! reading pages to serve and the own head) runs off the async threads, in the
//! [`storing`](super::storing) worker and `spawn_blocking`.
//!
//! Gossip carries announcements only ("I hold origin O up to sequence N", a few dozen bytes);
//! the batches themselves travel once per node, fetched over the sync protocol from the peer
//! that announced them (see [`super::state`] for the rules). The witnessing of the peers' logs
//! runs as tasks the actor owns (aborted when it stops), whose sync requests it sends.
//!
//! The actor never decides: it never answers a request, admits a peer, publishes, or reports a
//! verdict except as the state machine says; it never reads the store on an async thread.
//!
//! The loop is not a [`crate::worker::Worker`]: each of its events (a swarm event, a store
//! result, a command, a batcher commit, the tick) is one step of the state machine on the swarm
//! it owns, so there is no separate "wait" and "work". It runs as a tracked task of the node's
//! actors stage, and its store work is the [`StoreWorker`] (a `Worker`) in the same stage.

use super::admission::Admission;
use super::behaviour::{self, Behaviour, BehaviourEvent, UNADMITTED_SCORE};
use super::frame::{Admit, Ask, BatchesAsk, Head, HeadsAsk, SyncRequest, SyncResponse};
use super::ledger::Ledger;
use super::state::AuditAsk;
use super::state::peers::{Dial, MAX_PEER_ADDRS};
use super::state::{self, Action, Event, Millis, ReplyId, RequestId, Start, State, Verdict};
use super::storing::{self, Job, PageTaken, StoreWorker};
use super::witnessing::{self, MeshLog, Outbound, Witnessing};
use super::{MeshError, MeshSettings};
use crate::audit;
use crate::clock::SharedClock;
use crate::node::Trust;
use crate::pki::Verifier;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::worker::{self, Runner};
use enmesh_proto::v1::SignedBatch;
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::{ClusterId, RegionId};
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, ping};
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Housekeeping period: admission deadlines, redials, heads exchanges, gauges.
const TICK: Duration = Duration::from_secs(1);
/// Received pages waiting for the worker.
const JOB_CAPACITY: usize = 1024;
/// Worker and blocking-read results waiting for the actor.
const DONE_CAPACITY: usize = 64;
/// Status requests waiting for the actor.
const COMMAND_CAPACITY: usize = 16;
/// Witnessing requests waiting for the actor.
const ASK_CAPACITY: usize = 64;
/// How long `start` waits for the listener to report its address.
const LISTEN_WAIT: Duration = Duration::from_secs(5);

/// The state machine's types in the daemon: libp2p's.
#[derive(Debug, PartialEq)]
pub struct Libp2p;

impl state::Types for Libp2p {
    type Peer = PeerId;
    type Addr = Multiaddr;
    type MsgId = MessageId;
    type Page = Vec<SignedBatch>;
}

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

/// What blocking work and the worker send back to the actor.
enum Done {
    /// A page of batches read for a peer's sync request.
    Served {
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    /// What the worker did with a page.
    Taken(PageTaken),
    /// This node's own feed head, read after a batcher commit.
    OwnHead(u64),
}

/// A request of a peer, waiting for the state machine's answer.
enum Reply {
    Admit(ResponseChannel<Admit>),
    Sync(ResponseChannel<SyncResponse>),
}

/// What a sync request this node sent asked, and where its answer goes.
enum Asked {
    Heads(RequestId),
    Batches(RequestId),
    Witness(oneshot::Sender<SyncResponse>),
}

/// The mesh, ready to run (see [`Mesh::run`]).
pub struct Mesh {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    ledger: Ledger,
    chain: Vec<Vec<u8>>,
    admission: Admission,
    state: State<Libp2p>,
    requests: HashMap<OutboundRequestId, Asked>,
    replies: HashMap<ReplyId, Reply>,
    next_reply: u64,
    dialing: HashMap<ConnectionId, usize>,
    committed: watch::Receiver<u64>,
    commands: mpsc::Receiver<Command>,
    clock: SharedClock,
    metrics: Metrics,
    started: Instant,
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Sender<Done>,
    done_rx: Option<mpsc::Receiver<Done>>,
    witness: witnessing::Witnessing,
    witnessing: JoinSet<PeerId>,
    asks: mpsc::Sender<Outbound>,
    asks_rx: Option<mpsc::Receiver<Outbound>>,
}

/// Builds the swarm, binds the listener, reads the heads and dials the bootstrap peers. The
/// returned [`Mesh`] does nothing until [`Mesh::run`] is awaited.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    settings: &MeshSettings,
    store: Arc<Store>,
    trust: &Trust,
    cluster: &ClusterId,
    region: &RegionId,
    cluster_regions: &[RegionId],
    committed: watch::Receiver<u64>,
    witness: Witnessing,
    clock: SharedClock,
    metrics: Metrics,
) -> Result<(MeshHandle, Mesh), MeshError> {
    let now = clock.unix_time();
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
    let origins: Vec<RegionId> = cluster_regions
        .iter()
        .filter(|r| *r != region)
        .cloned()
        .collect();
    let heads = {
        let (ledger, origins) = (ledger.clone(), origins.clone());
        tokio::task::spawn_blocking(move || storing::heads(&ledger, &origins))
            .await
            .map_err(|_| MeshError::Stopped)??
    };
    let (state, first) = State::new(Start {
        me_peer: peer_id,
        me: region.clone(),
        origins,
        heads,
        bootstrap: settings
            .bootstrap
            .iter()
            .map(|addr| (addr.clone(), peer_of(addr)))
            .collect(),
        witness_every: witness.every.as_secs().max(1) / TICK.as_secs().max(1),
    });
    let (commands_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
    let (done, done_rx) = mpsc::channel(DONE_CAPACITY);
    let (asks, asks_rx) = mpsc::channel(ASK_CAPACITY);
    let mut mesh = Mesh {
        swarm,
        topic,
        ledger,
        chain: credential.chain().iter().map(|c| c.to_vec()).collect(),
        admission: Admission::new(cluster.clone()),
        state,
        requests: HashMap::new(),
        replies: HashMap::new(),
        next_reply: 0,
        dialing: HashMap::new(),
        committed,
        commands,
        clock,
        metrics,
        started: Instant::now(),
        jobs: None,
        done,
        done_rx: Some(done_rx),
        witness,
        witnessing: JoinSet::new(),
        asks,
        asks_rx: Some(asks_rx),
    };
    mesh.apply_all(first);
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
    /// Runs the mesh until `runner`'s stage stops. The store worker runs beside it, a
    /// [`StoreWorker`] in the same stage; it ends when this loop drops its inbox.
    pub async fn run(mut self, runner: &Runner) -> Result<(), MeshError> {
        let (jobs_tx, jobs) = mpsc::channel(JOB_CAPACITY);
        let (taken_tx, mut taken) = mpsc::channel(DONE_CAPACITY);
        self.jobs = Some(jobs_tx);
        let mut done = self.done_rx.take().ok_or(MeshError::Stopped)?;
        let mut asks = self.asks_rx.take().ok_or(MeshError::Stopped)?;
        let _store = worker::spawn(
            runner,
            StoreWorker::new(self.ledger.clone(), self.clock.clone(), jobs, taken_tx),
        );
        let stop = runner.stage.clone();
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batcher_alive = true;
        let stopped = stop.wait();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                () = &mut stopped => break,
                event = self.swarm.select_next_some() => self.on_swarm(event),
                Some(done) = done.recv() => self.on_done(done),
                Some(page) = taken.recv() => self.on_done(Done::Taken(page)),
                Some(command) = self.commands.recv() => self.on_command(command),
                Some(outbound) = asks.recv() => self.send_ask(outbound),
                Some(ended) = self.witnessing.join_next(), if !self.witnessing.is_empty() => {
                    if let Ok(peer) = ended {
                        self.feed(Event::Witnessed { peer });
                    }
                }
                changed = self.committed.changed(), if batcher_alive => match changed {
                    Ok(()) => self.read_own_head(),
                    Err(_) => batcher_alive = false,
                },
                _ = ticks.tick() => self.on_tick(),
            }
        }
        self.jobs = None;
        self.witnessing.abort_all();
        tracing::info!("mesh stopped");
        Ok(())
    }

    fn now(&self) -> Millis {
        Millis::try_from(self.started.elapsed().as_millis()).unwrap_or(Millis::MAX)
    }

    /// Hands `event` to the state machine and carries out what it says.
    fn feed(&mut self, event: Event<Libp2p>) {
        let actions = self.state.handle(event, self.now());
        self.apply_all(actions);
        self.metrics.mesh().admitted(self.state.admitted_len());
        self.metrics.mesh().catchup(self.state.fetches_in_flight());
    }

    fn apply_all(&mut self, actions: Vec<Action<Libp2p>>) {
        for action in actions {
            self.apply(action);
        }
    }

    fn reply_id(&mut self, reply: Reply) -> ReplyId {
        self.next_reply = self.next_reply.wrapping_add(1);
        let id = ReplyId(self.next_reply);
        self.replies.insert(id, reply);
        id
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let gossip = &self.swarm.behaviour().gossip;
                let status = MeshStatus {
                    admitted: self
                        .state
                        .admitted()
                        .map(|(p, r)| (*p, r.clone()))
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

    /// Reads this node's own feed head off the async threads (after a batcher commit).
    fn read_own_head(&self) {
        let (ledger, done) = (self.ledger.clone(), self.done.clone());
        tokio::task::spawn_blocking(move || match ledger.head(ledger.me()) {
            Ok(head) => {
                let _ = done.blocking_send(Done::OwnHead(head));
            }
            Err(error) => tracing::error!(%error, "mesh: cannot read the own feed head"),
        });
    }

    /// Checks `chain` presented by `peer` now; the outcome goes into the replication log.
    fn check(&mut self, peer: PeerId, chain: &[Vec<u8>]) -> Result<RegionId, &'static str> {
        let now = self.clock.unix_time();
        let (logged, outcome) = self
            .admission
            .check(&self.ledger.verifier(), peer, chain, now);
        let refused = outcome.as_ref().err().map(ToString::to_string);
        self.log(audit::peer_checked(
            &logged,
            audit::Path::Mesh,
            refused.as_deref(),
            self.clock.now_millis(),
        ));
        outcome.map_err(|refused| {
            tracing::warn!(%peer, reason = %refused, "mesh: peer's certificate refused");
            refused.reason()
        })
    }

    /// Checks every admitted peer's chain again; those that fail now are refused (and logged).
    fn recheck(&mut self) {
        let now = self.clock.unix_time();
        let failed = self.admission.recheck(&self.ledger.verifier(), now);
        for (peer, logged, refused) in failed {
            tracing::warn!(%peer, reason = %refused, "mesh: peer's certificate fails now");
            self.log(audit::peer_checked(
                &logged,
                audit::Path::Mesh,
                Some(&refused.to_string()),
                self.clock.now_millis(),
            ));
            self.feed(Event::Checked {
                peer,
                outcome: Err(refused.reason()),
                reply: None,
            });
        }
    }

    /// Appends `entry` to the replication log off the async threads.
    fn log(&self, entry: audit::Entry) {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = ledger.record(std::slice::from_ref(&entry)) {
                tracing::error!(%error, "mesh: cannot append to the replication log");
            }
        });
    }

    fn apply(&mut self, action: Action<Libp2p>) {
        match action {
            Action::Dial(dial) => self.dial(dial),
            Action::RequestAdmission { peer } => {
                let request = Admit {
                    chain: self.chain.clone(),
                };
                self.swarm
                    .behaviour_mut()
                    .admit
                    .send_request(&peer, request);
            }
            Action::AnswerAdmission { reply } => {
                if let Some(Reply::Admit(channel)) = self.replies.remove(&reply) {
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
            Action::Score { peer, admitted } => {
                let score = if admitted {
                    let region = self.state.admitted().find(|(p, _)| **p == peer);
                    if let Some((_, region)) = region {
                        tracing::info!(%peer, %region, "mesh: peer admitted");
                    }
                    0.0
                } else {
                    UNADMITTED_SCORE
                };
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .set_application_score(&peer, score);
            }
            Action::Block { peer, reason } => {
                tracing::warn!(%peer, reason = reason.reason(), "mesh: peer refused and blocked");
                self.metrics.mesh().refused(reason.reason());
                self.admission.forget(&peer);
                self.swarm.behaviour_mut().blocked.block_peer(peer);
            }
            Action::Unblock { peer } => {
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            }
            Action::Recheck => self.recheck(),
            Action::Publish { origin, sequence } => {
                let data = Head {
                    origin: origin.to_string(),
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
            Action::Validate {
                id,
                source,
                verdict,
            } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                    Verdict::Reject => MessageAcceptance::Reject,
                    Verdict::Malformed => {
                        self.metrics.mesh().rejected("malformed");
                        MessageAcceptance::Reject
                    }
                };
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .report_message_validation_result(&id, &source, acceptance);
            }
            Action::AskHeads { peer, request } => {
                let ask = SyncRequest {
                    ask: Some(Ask::Heads(HeadsAsk {})),
                };
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, ask);
                self.requests.insert(id, Asked::Heads(request));
            }
            Action::Fetch {
                peer,
                request,
                origin,
                after,
                limit,
            } => {
                let ask = SyncRequest {
                    ask: Some(Ask::Batches(BatchesAsk {
                        origin: origin.to_string(),
                        after_sequence: after,
                        limit,
                    })),
                };
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, ask);
                self.requests.insert(id, Asked::Batches(request));
            }
            Action::AnswerHeads {
                reply,
                heads,
                peers,
            } => {
                if let Some(Reply::Sync(channel)) = self.replies.remove(&reply) {
                    let response = SyncResponse {
                        heads: heads
                            .into_iter()
                            .map(|(origin, sequence)| Head {
                                origin: origin.to_string(),
                                sequence,
                            })
                            .collect(),
                        peers: peers
                            .into_iter()
                            .map(|(peer, addr)| match peer_of(&addr) {
                                Some(_) => addr.to_string(),
                                None => addr.with(Protocol::P2p(peer)).to_string(),
                            })
                            .collect(),
                        ..SyncResponse::default()
                    };
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response);
                }
            }
            Action::Serve {
                peer,
                reply,
                origin,
                after,
                limit,
            } => {
                if let Some(Reply::Sync(channel)) = self.replies.remove(&reply) {
                    // Pages can be megabytes: read them off the async threads.
                    let (ledger, done) = (self.ledger.clone(), self.done.clone());
                    let (to, now) = (self.admission.logged(&peer), self.clock.now_millis());
                    tokio::task::spawn_blocking(move || {
                        let response = storing::serve(&ledger, &origin, after, limit, &to, now);
                        let _ = done.blocking_send(Done::Served { channel, response });
                    });
                }
            }
            Action::Witness { peer, region } => {
                let (witness, log) = (
                    self.witness.witness.clone(),
                    MeshLog::new(peer, self.asks.clone()),
                );
                self.witnessing.spawn(async move {
                    witnessing::witness_peer(&witness, log, &region).await;
                    peer
                });
            }
            Action::AnswerAudit { peer, reply, ask } => {
                if let Some(Reply::Sync(channel)) = self.replies.remove(&reply) {
                    let (store, done) = (self.ledger.store().clone(), self.done.clone());
                    let cosigner = self.admission.cosigner(&peer);
                    let metrics = self.metrics.clone();
                    tokio::task::spawn_blocking(move || {
                        let response =
                            witnessing::answer(&store, &ask, cosigner.as_ref(), &metrics);
                        let _ = done.blocking_send(Done::Served { channel, response });
                    });
                }
            }
            Action::Store {
                peer,
                origin,
                page,
                first_held,
                path,
            } => {
                let job = Job {
                    peer,
                    logged: self.admission.logged(&peer),
                    origin: origin.clone(),
                    batches: page,
                    first_held,
                    path,
                };
                let queued = self.jobs.as_ref().is_some_and(|j| j.try_send(job).is_ok());
                if !queued {
                    self.feed(Event::StoreBusy { peer, origin });
                }
            }
        }
    }

    /// Sends a witnessing's request; its answer goes back to the witnessing.
    fn send_ask(&mut self, outbound: Outbound) {
        let Outbound {
            peer,
            request,
            answer,
        } = outbound;
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.requests.insert(id, Asked::Witness(answer));
    }

    fn dial(&mut self, dial: Dial<Libp2p>) {
        let opts = match (dial.peer, dial.addrs.first()) {
            (Some(peer), _) => DialOpts::peer_id(peer)
                .addresses(dial.addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build(),
            (None, Some(addr)) => DialOpts::unknown_peer_id().address(addr.clone()).build(),
            (None, None) => return,
        };
        let connection = opts.connection_id();
        match (self.swarm.dial(opts), dial.bootstrap) {
            (Ok(()), Some(i)) => {
                self.dialing.insert(connection, i);
            }
            (Err(_), Some(bootstrap)) => self.feed(Event::DialFailed { bootstrap }),
            (_, None) => {}
        }
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let bootstrap = self.dialing.remove(&connection_id);
                self.feed(Event::Connected {
                    peer: peer_id,
                    dialer: endpoint.is_dialer(),
                    bootstrap,
                });
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.admission.forget(&peer_id);
                self.feed(Event::Disconnected { peer: peer_id });
            }
            SwarmEvent::OutgoingConnectionError { connection_id, .. } => {
                if let Some(bootstrap) = self.dialing.remove(&connection_id) {
                    self.feed(Event::DialFailed { bootstrap });
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour(event),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Admit(event) => self.on_admit(event),
            BehaviourEvent::Sync(event) => self.on_sync(event),
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let head = Head::decode(message.data.as_slice())
                    .ok()
                    .and_then(|h| Some((h.origin.parse::<RegionId>().ok()?, h.sequence)));
                self.feed(Event::Announced {
                    peer: propagation_source,
                    id: message_id,
                    head,
                });
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.feed(Event::Identified {
                    peer: peer_id,
                    addrs: info.listen_addrs,
                });
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
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let outcome = self.check(peer, &request.chain);
                let reply = self.reply_id(Reply::Admit(channel));
                self.feed(Event::Checked {
                    peer,
                    outcome,
                    reply: Some(reply),
                });
                // Unanswered (refused): the channel drops.
                self.replies.remove(&reply);
            }
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { response, .. },
                ..
            } => {
                let outcome = self.check(peer, &response.chain);
                self.feed(Event::Checked {
                    peer,
                    outcome,
                    reply: None,
                });
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "mesh: admission request failed");
                self.feed(Event::AdmitFailed { peer });
            }
            _ => {}
        }
    }

    fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let reply = self.reply_id(Reply::Sync(channel));
                match request.ask {
                    Some(Ask::Batches(ask)) => self.feed(Event::BatchesAsked {
                        peer,
                        reply,
                        origin: ask.origin.parse().ok(),
                        after: ask.after_sequence,
                        limit: ask.limit,
                    }),
                    Some(Ask::Heads(_)) => self.feed(Event::HeadsAsked { peer, reply }),
                    Some(Ask::Checkpoint(_)) => self.feed(Event::AuditAsked {
                        peer,
                        reply,
                        ask: AuditAsk::Checkpoint,
                    }),
                    Some(Ask::Consistency(ask)) => self.feed(Event::AuditAsked {
                        peer,
                        reply,
                        ask: AuditAsk::Consistency {
                            first: ask.first,
                            second: ask.second,
                        },
                    }),
                    Some(Ask::Cosign(ask)) => self.feed(Event::AuditAsked {
                        peer,
                        reply,
                        ask: AuditAsk::Cosign { note: ask.note },
                    }),
                    None => {}
                }
                // Unanswered (unadmitted peer, bad request): the channel drops.
                self.replies.remove(&reply);
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => match self.requests.remove(&request_id) {
                Some(Asked::Heads(request)) => {
                    let heads = response
                        .heads
                        .into_iter()
                        .filter_map(|h| Some((h.origin.parse::<RegionId>().ok()?, h.sequence)))
                        .collect();
                    let peers = response
                        .peers
                        .iter()
                        .take(MAX_PEER_ADDRS)
                        .filter_map(|text| text.parse::<Multiaddr>().ok())
                        .filter_map(|addr| Some((peer_of(&addr)?, addr)))
                        .collect();
                    self.feed(Event::HeadsAnswered {
                        request,
                        heads,
                        peers,
                    });
                }
                Some(Asked::Batches(request)) => self.feed(Event::Fetched {
                    request,
                    page: response.batches,
                }),
                Some(Asked::Witness(answer)) => {
                    let _ = answer.send(response);
                }
                None => {}
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                match self.requests.remove(&request_id) {
                    Some(Asked::Heads(request) | Asked::Batches(request)) => {
                        tracing::debug!(%peer, %error, "mesh: sync request failed");
                        self.feed(Event::RequestFailed { request });
                    }
                    // The witnessing sees its answer dropped.
                    Some(Asked::Witness(_)) | None => {}
                }
            }
            _ => {}
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
            Done::Taken(taken) => {
                let page = &taken.page;
                self.metrics
                    .mesh()
                    .received(page.path, taken.stored, taken.keys);
                if let Some(reason) = taken.refusal {
                    tracing::warn!(peer = %page.peer, origin = %page.origin, reason, "mesh: fetched batch rejected");
                    self.metrics.mesh().rejected(reason);
                }
                self.feed(Event::Stored(taken.page));
            }
            Done::OwnHead(sequence) => self.feed(Event::OwnHead { sequence }),
        }
    }

    fn on_tick(&mut self) {
        self.feed(Event::Tick);
        let mesh = self
            .swarm
            .behaviour()
            .gossip
            .mesh_peers(&self.topic.hash())
            .count();
        self.metrics.mesh().peers(mesh);
        self.metrics.mesh().behind(self.state.behind());
    }
}
