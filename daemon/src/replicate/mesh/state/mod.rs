//! The mesh's pure state machine: every decision of one node's mesh, as
//! [`State::handle`]`(event, now) -> actions`.
//!
//! Events are what happened (a peer connected, a chain was checked, an announcement or a sync
//! request or answer arrived, the store worker took a page, this node cut a batch, a witnessing
//! ended, a tick); actions are what to do (dial, ask for admission, set a gossip score, block,
//! publish, report a validation verdict, ask for heads, fetch, serve, store, witness a peer's
//! replication log, answer a peer's question about this node's log). The libp2p actor
//! ([`super::Mesh::run`]) and the simulator (`super::sim`, tests only) both translate their
//! world to and from these, so the simulator tests the very code the daemon runs.
//!
//! How far this node holds each origin (its *heads*) is kept here, in memory: loaded once at
//! start and moved only by [`Event::OwnHead`] and the store worker's [`Event::Stored`].
//!
//! Rules (the mesh's invariants):
//! - Nothing from a peer is used or answered before its chain passed the admission check.
//! - Only this node's own origin is ever published, each sequence once.
//! - An announcement is accepted (so forwarded) only once this node holds its batch; it is
//!   rejected if its sender served a batch for it that failed a check.
//! - At most one fetch per origin is in flight; pages follow while the peer holds more.
//! - Every admitted peer's replication log is witnessed every `witness_every` ticks, at most one
//!   witnessing per peer at a time; only admitted peers are answered about this node's log.
//!
//! This module never does I/O, never reads a clock (`now` is passed in, monotonic
//! milliseconds) and draws no randomness.

pub mod announce;
pub mod peers;
#[cfg(test)]
mod tests;

use super::catchup::{CatchUp, PAGE_BATCHES};
use announce::Announcements;
use enmesh_protocol::region::RegionId;
use peers::{Dial, Peers};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::hash::Hash;

/// Monotonic milliseconds (since the node started, in the daemon; virtual in the simulator).
pub type Millis = u64;

/// Every this many ticks, ask one admitted peer for its heads (anti-entropy).
pub const HEADS_EVERY_TICKS: u64 = 3;
/// Every this many ticks, check the admitted peers' chains again.
pub const RECHECK_EVERY_TICKS: u64 = 60;

/// The types the state machine is generic over: libp2p's in the daemon, plain numbers in the
/// simulator and the unit tests.
pub trait Types: Debug {
    /// A peer's identity.
    type Peer: Copy + Ord + Hash + Debug;
    /// A dialable address.
    type Addr: Clone + PartialEq + Debug;
    /// A gossip message's id.
    type MsgId: Clone + PartialEq + Debug;
    /// A page of fetched batches, passed through to the store worker untouched.
    type Page: PartialEq + Debug;
}

/// Names a sync request this node sent (the actor maps it to its transport's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// Names a request a peer sent to this node, to answer (the actor maps it to its channel; a
/// request no action answers is dropped, unanswered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyId(pub u64);

/// How a fetched batch came to be fetched (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// After a gossip announcement.
    Announce,
    /// After a heads exchange (catch-up, anti-entropy).
    Catchup,
}

impl Path {
    /// The label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Announce => "announce",
            Self::Catchup => "catchup",
        }
    }
}

/// A gossip validation verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: deliver and forward.
    Accept,
    /// Drop without penalty.
    Ignore,
    /// Invalid: drop and penalise the sender.
    Reject,
    /// Not an announcement at all: drop, penalise and count.
    Malformed,
}

/// Why a peer is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// Its chain failed the admission check (the check's label).
    Refused(&'static str),
    /// It did not complete admission in time.
    Timeout,
}

impl Blocked {
    /// A stable label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Refused(reason) => reason,
            Self::Timeout => "timeout",
        }
    }
}

/// What a peer asks of this node's replication log (witnessing, see [`Action::AnswerAudit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAsk {
    /// The latest signed checkpoint.
    Checkpoint,
    /// A consistency proof from tree size `first` to `second`.
    Consistency {
        /// The smaller tree size.
        first: u64,
        /// The larger tree size.
        second: u64,
    },
    /// Keep the asker's cosignature of this node's checkpoint.
    Cosign {
        /// The checkpoint with the asker's signature line.
        note: String,
    },
}

/// What the store worker did with a page (see [`Action::Store`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPage<P> {
    /// The peer that served it.
    pub peer: P,
    /// The origin.
    pub origin: RegionId,
    /// Batches in the page.
    pub got: usize,
    /// How far this node holds the origin now.
    pub held: u64,
    /// A batch failed its checks (the sender misbehaved).
    pub refused: bool,
    /// The worker stopped before the page's end (gap, refusal, store failure).
    pub stopped: bool,
    /// How the page came to be fetched.
    pub path: Path,
}

/// What happened.
#[derive(Debug, PartialEq)]
pub enum Event<T: Types> {
    /// A connection to `peer` opened (this node dialled it if `dialer`; for bootstrap entry
    /// `bootstrap` if that dial found it).
    Connected {
        /// The peer.
        peer: T::Peer,
        /// Whether this node dialled.
        dialer: bool,
        /// The bootstrap entry the dial was for.
        bootstrap: Option<usize>,
    },
    /// The last connection to `peer` closed.
    Disconnected {
        /// The peer.
        peer: T::Peer,
    },
    /// A dial of bootstrap entry `bootstrap` failed.
    DialFailed {
        /// The entry.
        bootstrap: usize,
    },
    /// `peer` listens on `addrs`.
    Identified {
        /// The peer.
        peer: T::Peer,
        /// Its listen addresses.
        addrs: Vec<T::Addr>,
    },
    /// `peer`'s chain was checked (presented in its request `reply`, or in its answer to this
    /// node's request, or kept and checked again): its certified region, or why it failed.
    Checked {
        /// The peer.
        peer: T::Peer,
        /// Its region, or the refusal's label.
        outcome: Result<RegionId, &'static str>,
        /// Its admission request, to answer if it passed.
        reply: Option<ReplyId>,
    },
    /// This node's admission request to `peer` failed before an answer.
    AdmitFailed {
        /// The peer.
        peer: T::Peer,
    },
    /// A gossip message `id` from `peer`: an announcement (`None`: not one).
    Announced {
        /// The peer it came from.
        peer: T::Peer,
        /// The message id.
        id: T::MsgId,
        /// The origin and sequence announced.
        head: Option<(RegionId, u64)>,
    },
    /// `peer` asks for this node's heads.
    HeadsAsked {
        /// The peer.
        peer: T::Peer,
        /// The request.
        reply: ReplyId,
    },
    /// `peer` asks for batches of `origin` after `after` (`origin` `None`: not a region).
    BatchesAsked {
        /// The peer.
        peer: T::Peer,
        /// The request.
        reply: ReplyId,
        /// The origin.
        origin: Option<RegionId>,
        /// After this sequence.
        after: u64,
        /// At most this many.
        limit: u32,
    },
    /// The answer to heads request `request`.
    HeadsAnswered {
        /// The request.
        request: RequestId,
        /// The peer's heads.
        heads: Vec<(RegionId, u64)>,
        /// Addresses of the peer's admitted peers.
        peers: Vec<(T::Peer, T::Addr)>,
    },
    /// The answer to fetch `request`.
    Fetched {
        /// The request.
        request: RequestId,
        /// The batches.
        page: T::Page,
    },
    /// Request `request` failed (timeout, connection closed, no answer).
    RequestFailed {
        /// The request.
        request: RequestId,
    },
    /// The store worker had no room for a page of `origin` from `peer`.
    StoreBusy {
        /// The peer.
        peer: T::Peer,
        /// The origin.
        origin: RegionId,
    },
    /// The store worker took a page.
    Stored(StoredPage<T::Peer>),
    /// `peer` asks about this node's replication log.
    AuditAsked {
        /// The peer.
        peer: T::Peer,
        /// The request.
        reply: ReplyId,
        /// What it asks.
        ask: AuditAsk,
    },
    /// The witnessing of `peer`'s log (see [`Action::Witness`]) ended, whatever it found.
    Witnessed {
        /// The peer.
        peer: T::Peer,
    },
    /// This node's own feed head is `sequence` (after a batcher commit).
    OwnHead {
        /// The head.
        sequence: u64,
    },
    /// Time passed (once a second).
    Tick,
}

/// What to do.
#[derive(Debug, PartialEq)]
pub enum Action<T: Types> {
    /// Dial a peer (skipped by the transport if connected or being dialled).
    Dial(Dial<T>),
    /// Present this node's chain to `peer`.
    RequestAdmission {
        /// The peer.
        peer: T::Peer,
    },
    /// Answer admission request `reply` with this node's chain.
    AnswerAdmission {
        /// The request.
        reply: ReplyId,
    },
    /// Set `peer`'s gossip score: neutral if `admitted`, below the graylist otherwise.
    Score {
        /// The peer.
        peer: T::Peer,
        /// Whether it is admitted.
        admitted: bool,
    },
    /// Close every connection to `peer` and refuse new ones until unblocked.
    Block {
        /// The peer.
        peer: T::Peer,
        /// Why.
        reason: Blocked,
    },
    /// Accept connections from `peer` again.
    Unblock {
        /// The peer.
        peer: T::Peer,
    },
    /// Check every admitted peer's chain again (answer with [`Event::Checked`] for failures).
    Recheck,
    /// Announce that this node holds `origin` (its own) up to `sequence`.
    Publish {
        /// This node's region.
        origin: RegionId,
        /// The sequence.
        sequence: u64,
    },
    /// Report a gossip validation verdict on message `id` from `source`.
    Validate {
        /// The message.
        id: T::MsgId,
        /// Its sender.
        source: T::Peer,
        /// The verdict.
        verdict: Verdict,
    },
    /// Ask `peer` for its heads.
    AskHeads {
        /// The peer.
        peer: T::Peer,
        /// The request's name.
        request: RequestId,
    },
    /// Ask `peer` for up to `limit` batches of `origin` after `after`.
    Fetch {
        /// The peer.
        peer: T::Peer,
        /// The request's name.
        request: RequestId,
        /// The origin.
        origin: RegionId,
        /// After this sequence.
        after: u64,
        /// At most this many.
        limit: u32,
    },
    /// Answer heads request `reply`.
    AnswerHeads {
        /// The request.
        reply: ReplyId,
        /// This node's heads (sequence above 0).
        heads: Vec<(RegionId, u64)>,
        /// Addresses of this node's admitted peers.
        peers: Vec<(T::Peer, T::Addr)>,
    },
    /// Answer batches request `reply` of `peer` with a page read from the store.
    Serve {
        /// The asking peer (the replication log records whom each batch was served to).
        peer: T::Peer,
        /// The request.
        reply: ReplyId,
        /// The origin.
        origin: RegionId,
        /// After this sequence.
        after: u64,
        /// At most this many.
        limit: u32,
    },
    /// Witness `peer`'s replication log: ask for its checkpoint, check it against the one held
    /// (a consistency proof from the peer joins them), keep and cosign it, or raise a fork
    /// alarm. The actor answers with [`Event::Witnessed`] when it ends.
    Witness {
        /// The peer.
        peer: T::Peer,
        /// Its certified region (the checkpoint must be signed as that region's node).
        region: RegionId,
    },
    /// Answer `peer`'s question `ask` about this node's log (request `reply`).
    AnswerAudit {
        /// The asking peer (a cosignature is checked against its certified key).
        peer: T::Peer,
        /// The request.
        reply: ReplyId,
        /// What it asks.
        ask: AuditAsk,
    },
    /// Check and store `page` in order (the worker answers with [`Event::Stored`]).
    Store {
        /// The peer that served it.
        peer: T::Peer,
        /// The origin.
        origin: RegionId,
        /// The batches.
        page: T::Page,
        /// Whether the page was asked after 0 (its first batch may start the origin's chain
        /// where the server's retention left it).
        first_held: bool,
        /// How the batches came to be fetched.
        path: Path,
    },
}

/// A sync request this node sent.
#[derive(Debug, Clone)]
enum Pending {
    Heads,
    Batches {
        origin: RegionId,
        after: u64,
        path: Path,
    },
}

/// What the state machine starts from.
#[derive(Debug, Clone)]
pub struct Start<T: Types> {
    /// This node's peer identity.
    pub me_peer: T::Peer,
    /// This node's region.
    pub me: RegionId,
    /// The other regions of the cluster (configured).
    pub origins: Vec<RegionId>,
    /// How far this node holds each origin (its own included), read from the store at start.
    pub heads: Vec<(RegionId, u64)>,
    /// Bootstrap addresses (and the peer they name, if they do).
    pub bootstrap: Vec<(T::Addr, Option<T::Peer>)>,
    /// Witness every admitted peer's log every this many ticks (0: never).
    pub witness_every: u64,
}

/// One node's mesh state.
#[derive(Debug)]
pub struct State<T: Types> {
    me_peer: T::Peer,
    me: RegionId,
    heads: BTreeMap<RegionId, u64>,
    published: u64,
    peers: Peers<T>,
    catchup: CatchUp<T::Peer>,
    announced: Announcements<T>,
    pending: BTreeMap<RequestId, (T::Peer, Pending)>,
    next_request: u64,
    ticks: u64,
    witness_every: u64,
    witnessing: BTreeSet<T::Peer>,
}

impl<T: Types> State<T> {
    /// The state at start, and the first dials.
    pub fn new(start: Start<T>) -> (Self, Vec<Action<T>>) {
        let heads: BTreeMap<RegionId, u64> = start.heads.into_iter().collect();
        let published = heads.get(&start.me).copied().unwrap_or(0);
        let me = start.me;
        let origins: Vec<RegionId> = start.origins.into_iter().filter(|r| *r != me).collect();
        let mut state = Self {
            me_peer: start.me_peer,
            me,
            heads,
            published,
            peers: Peers::new(start.bootstrap),
            catchup: CatchUp::new(origins),
            announced: Announcements::default(),
            pending: BTreeMap::new(),
            next_request: 0,
            ticks: 0,
            witness_every: start.witness_every,
            witnessing: BTreeSet::new(),
        };
        let mut out = Vec::new();
        state.redial(&mut out);
        (state, out)
    }

    /// Handles `event` at `now`: what to do.
    pub fn handle(&mut self, event: Event<T>, now: Millis) -> Vec<Action<T>> {
        let mut out = Vec::new();
        match event {
            Event::Connected {
                peer,
                dialer,
                bootstrap,
            } => {
                let admitted = self.peers.connected(peer, bootstrap, now);
                if !admitted {
                    out.push(Action::Score {
                        peer,
                        admitted: false,
                    });
                    if dialer && self.peers.start_admitting(peer) {
                        out.push(Action::RequestAdmission { peer });
                    }
                }
            }
            Event::Disconnected { peer } => {
                self.peers.disconnected(&peer);
                self.catchup.peer_gone(&peer);
            }
            Event::DialFailed { bootstrap } => self.peers.dial_failed(bootstrap),
            Event::Identified { peer, addrs } => self.peers.identified(peer, addrs),
            Event::Checked {
                peer,
                outcome,
                reply,
            } => match outcome {
                Ok(region) => {
                    if reply.is_none() {
                        self.peers.done_admitting(&peer);
                    }
                    if self.peers.admit(peer, region) {
                        out.push(Action::Score {
                            peer,
                            admitted: true,
                        });
                        self.ask_heads(peer, &mut out);
                    }
                    if let Some(reply) = reply {
                        out.push(Action::AnswerAdmission { reply });
                    }
                }
                Err(reason) => {
                    self.peers.done_admitting(&peer);
                    self.refuse(peer, Blocked::Refused(reason), now, &mut out);
                }
            },
            Event::AdmitFailed { peer } => {
                self.peers.done_admitting(&peer);
                // E.g. the connection it went on lost a simultaneous-dial race: ask again on
                // the one that is left (the admission deadline still bounds it).
                if self.peers.is_connected(&peer)
                    && !self.peers.is_admitted(&peer)
                    && self.peers.start_admitting(peer)
                {
                    out.push(Action::RequestAdmission { peer });
                }
            }
            Event::Announced { peer, id, head } => self.announced(peer, id, head, now, &mut out),
            Event::HeadsAsked { peer, reply } => {
                if self.peers.is_admitted(&peer) {
                    out.push(Action::AnswerHeads {
                        reply,
                        heads: self.heads(),
                        peers: self.peers.admitted_addresses(),
                    });
                }
            }
            Event::BatchesAsked {
                peer,
                reply,
                origin,
                after,
                limit,
            } => {
                if let Some(origin) = origin
                    && self.peers.is_admitted(&peer)
                {
                    out.push(Action::Serve {
                        peer,
                        reply,
                        origin,
                        after,
                        limit: limit.min(PAGE_BATCHES),
                    });
                }
            }
            Event::HeadsAnswered {
                request,
                heads,
                peers,
            } => {
                if let Some((peer, Pending::Heads)) = self.pending.remove(&request) {
                    self.peers.learn(self.me_peer, peers);
                    for (origin, sequence) in heads {
                        self.peer_holds(peer, origin, sequence, Path::Catchup, &mut out);
                    }
                }
            }
            Event::Fetched { request, page } => match self.pending.remove(&request) {
                Some((
                    peer,
                    Pending::Batches {
                        origin,
                        after,
                        path,
                    },
                )) => out.push(Action::Store {
                    peer,
                    origin,
                    page,
                    first_held: after == 0,
                    path,
                }),
                Some((_, Pending::Heads)) | None => {}
            },
            Event::RequestFailed { request } => {
                if let Some((peer, Pending::Batches { origin, .. })) = self.pending.remove(&request)
                {
                    self.catchup.failed(&origin, peer);
                }
            }
            Event::StoreBusy { peer, origin } => self.catchup.failed(&origin, peer),
            Event::AuditAsked { peer, reply, ask } => {
                if self.peers.is_admitted(&peer) {
                    out.push(Action::AnswerAudit { peer, reply, ask });
                }
            }
            Event::Witnessed { peer } => {
                self.witnessing.remove(&peer);
            }
            Event::Stored(page) => self.stored(page, now, &mut out),
            Event::OwnHead { sequence } => {
                for s in self.published.saturating_add(1)..=sequence {
                    out.push(Action::Publish {
                        origin: self.me.clone(),
                        sequence: s,
                    });
                }
                self.published = self.published.max(sequence);
                let head = self.heads.entry(self.me.clone()).or_insert(0);
                *head = (*head).max(sequence);
            }
            Event::Tick => self.tick(now, &mut out),
        }
        out
    }

    /// This node's head of `origin` (0: none).
    pub fn held(&self, origin: &RegionId) -> u64 {
        self.heads.get(origin).copied().unwrap_or(0)
    }

    /// This node's region.
    pub fn me(&self) -> &RegionId {
        &self.me
    }

    /// Every admitted peer and its region.
    pub fn admitted(&self) -> impl Iterator<Item = (&T::Peer, &RegionId)> {
        self.peers.admitted()
    }

    /// How many peers are admitted.
    pub fn admitted_len(&self) -> usize {
        self.peers.admitted_len()
    }

    /// How many origins are being fetched.
    pub fn fetches_in_flight(&self) -> usize {
        self.catchup.in_flight()
    }

    /// How many batches this node lacks of what its peers said they hold.
    pub fn behind(&self) -> u64 {
        self.catchup.behind(|origin| self.held(origin))
    }

    /// This node's heads with a sequence above 0: its own, then every origin seen.
    fn heads(&self) -> Vec<(RegionId, u64)> {
        std::iter::once(&self.me)
            .chain(self.catchup.origins())
            .map(|origin| (origin.clone(), self.held(origin)))
            .filter(|(_, sequence)| *sequence > 0)
            .collect()
    }

    fn request_id(&mut self) -> RequestId {
        self.next_request = self.next_request.wrapping_add(1);
        RequestId(self.next_request)
    }

    fn ask_heads(&mut self, peer: T::Peer, out: &mut Vec<Action<T>>) {
        let request = self.request_id();
        self.pending.insert(request, (peer, Pending::Heads));
        out.push(Action::AskHeads { peer, request });
    }

    fn fetch(
        &mut self,
        peer: T::Peer,
        origin: RegionId,
        after: u64,
        path: Path,
        out: &mut Vec<Action<T>>,
    ) {
        let request = self.request_id();
        let pending = Pending::Batches {
            origin: origin.clone(),
            after,
            path,
        };
        self.pending.insert(request, (peer, pending));
        out.push(Action::Fetch {
            peer,
            request,
            origin,
            after,
            limit: PAGE_BATCHES,
        });
    }

    fn refuse(&mut self, peer: T::Peer, reason: Blocked, now: Millis, out: &mut Vec<Action<T>>) {
        self.peers.block(peer, now);
        self.catchup.peer_gone(&peer);
        out.push(Action::Block { peer, reason });
    }

    /// `peer` says (in heads or an announcement, which `path` names) that it holds `origin` up
    /// to `sequence`: fetch from it if that is more, unless a fetch of `origin` is under way.
    fn peer_holds(
        &mut self,
        peer: T::Peer,
        origin: RegionId,
        sequence: u64,
        path: Path,
        out: &mut Vec<Action<T>>,
    ) {
        if origin == self.me {
            return;
        }
        let held = self.held(&origin);
        if self
            .catchup
            .peer_holds(peer, origin.clone(), sequence, held)
        {
            self.fetch(peer, origin, held, path, out);
        }
    }

    /// An announcement from `source`: accepted at once if this node holds the batch already,
    /// else kept until the fetch from `source` (or another peer) brings it.
    fn announced(
        &mut self,
        source: T::Peer,
        id: T::MsgId,
        head: Option<(RegionId, u64)>,
        now: Millis,
        out: &mut Vec<Action<T>>,
    ) {
        let verdict = if !self.peers.is_admitted(&source) {
            Verdict::Ignore
        } else {
            match head {
                Some((origin, _)) if origin == self.me => Verdict::Ignore,
                Some((origin, sequence)) if sequence > 0 => {
                    if self.held(&origin) >= sequence {
                        Verdict::Accept
                    } else if !self.announced.has_room(&origin) {
                        Verdict::Ignore
                    } else {
                        self.announced
                            .wait(origin.clone(), id, source, sequence, now);
                        self.peer_holds(source, origin, sequence, Path::Announce, out);
                        return;
                    }
                }
                _ => Verdict::Malformed,
            }
        };
        out.push(Action::Validate {
            id,
            source,
            verdict,
        });
    }

    /// Settles the announcements of `origin` (see [`Announcements::settle`]); if some still
    /// wait and no fetch runs, fetch from their sender.
    fn settle(
        &mut self,
        origin: &RegionId,
        refused_by: Option<T::Peer>,
        now: Millis,
        out: &mut Vec<Action<T>>,
    ) {
        let held = self.held(origin);
        let settled = self.announced.settle(origin, held, refused_by, now);
        for (id, source, verdict) in settled.verdicts {
            out.push(Action::Validate {
                id,
                source,
                verdict,
            });
        }
        if let Some((source, sequence)) = settled.still_waiting {
            self.peer_holds(source, origin.clone(), sequence, Path::Announce, out);
        }
    }

    fn stored(&mut self, page: StoredPage<T::Peer>, now: Millis, out: &mut Vec<Action<T>>) {
        let head = self.heads.entry(page.origin.clone()).or_insert(0);
        *head = (*head).max(page.held);
        let held = *head;
        let ours = self.catchup.fetching_from(&page.origin, page.peer);
        if ours
            && self
                .catchup
                .page_done(page.peer, &page.origin, page.got, held, page.stopped)
        {
            self.fetch(page.peer, page.origin.clone(), held, page.path, out);
        }
        let refused_by = page.refused.then_some(page.peer);
        self.settle(&page.origin, refused_by, now, out);
    }

    fn tick(&mut self, now: Millis, out: &mut Vec<Action<T>>) {
        self.ticks = self.ticks.wrapping_add(1);
        for origin in self.announced.origins() {
            self.settle(&origin, None, now, out);
        }
        for peer in self.peers.overdue(now) {
            self.refuse(peer, Blocked::Timeout, now, out);
        }
        for peer in self.peers.unblocked(now) {
            out.push(Action::Unblock { peer });
        }
        if self.ticks.is_multiple_of(RECHECK_EVERY_TICKS) {
            out.push(Action::Recheck);
        }
        self.redial(out);
        if self.witness_every > 0 && self.ticks.is_multiple_of(self.witness_every) {
            let due: Vec<(T::Peer, RegionId)> = self
                .peers
                .admitted()
                .filter(|(peer, _)| !self.witnessing.contains(peer))
                .map(|(peer, region)| (*peer, region.clone()))
                .collect();
            for (peer, region) in due {
                self.witnessing.insert(peer);
                out.push(Action::Witness { peer, region });
            }
        }
        if self.ticks.is_multiple_of(HEADS_EVERY_TICKS) && self.peers.admitted_len() > 0 {
            let round = usize::try_from(self.ticks / HEADS_EVERY_TICKS).unwrap_or(0);
            let index = round % self.peers.admitted_len();
            let peer = self.peers.admitted().nth(index).map(|(p, _)| *p);
            if let Some(peer) = peer {
                self.ask_heads(peer, out);
            }
        }
    }

    fn redial(&mut self, out: &mut Vec<Action<T>>) {
        out.extend(self.peers.dials().into_iter().map(Action::Dial));
    }
}
