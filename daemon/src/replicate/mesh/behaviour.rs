//! The libp2p swarm of the mesh: TCP + noise + yamux under the node's own Ed25519 key, and the
//! behaviours that run on it (gossipsub, admission and sync request-response, identify, ping,
//! a block list), with the gossipsub tuning of the cluster topic.
//!
//! This module only builds: it never decides who is admitted and never looks inside a message.
//! Gossipsub is tuned so that nothing flows to or from a peer before admission: every new peer
//! gets an application score far below the graylist threshold until the actor admits it.

use super::frame::{
    ADMIT_PROTOCOL, Admit, Codec, SYNC_PROTOCOL, SyncRequest, SyncResponse, admit_codec, sync_codec,
};
use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode,
};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{Swarm, SwarmBuilder, allow_block_list, identify, identity, noise, ping, tcp, yamux};
use sha2::{Digest, Sha256};
use std::time::Duration;
use thiserror::Error;

/// Largest gossip message: announcements are an origin and a sequence.
pub const MAX_GOSSIP_BYTES: usize = 1024;
/// The application score of a peer that is not admitted (graylisted: all its gossip ignored,
/// nothing published or forwarded to it).
pub const UNADMITTED_SCORE: f64 = -1_000.0;
/// Connections stay open this long without traffic (libp2p's default of 10 s drops quiet links).
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Ping interval and timeout: how fast a dead link (a partition) is noticed and closed.
const PING_INTERVAL: Duration = Duration::from_secs(2);
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the swarm could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The noise handshake configuration could not be created from the key.
    #[error("noise: {0}")]
    Noise(#[from] noise::Error),
    /// Gossipsub refused its configuration.
    #[error("gossipsub configuration: {0}")]
    GossipConfig(#[from] gossipsub::ConfigBuilderError),
    /// Gossipsub refused its authenticity mode.
    #[error("gossipsub: {0}")]
    Gossipsub(&'static str),
    /// Gossipsub refused the peer score parameters (its own message).
    #[error("gossipsub peer score: {0}")]
    Score(String),
    /// The cluster topic could not be subscribed.
    #[error("gossipsub subscription: {0}")]
    Subscribe(#[from] gossipsub::SubscriptionError),
}

/// Every behaviour of the mesh swarm.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Peers refused or timed out in admission.
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// The cluster topic.
    pub gossip: gossipsub::Behaviour,
    /// Certificate exchange.
    pub admit: request_response::Behaviour<Codec<Admit, Admit>>,
    /// Heads and batch pages for catch-up.
    pub sync: request_response::Behaviour<Codec<SyncRequest, SyncResponse>>,
    /// Listen addresses of peers (to redial them after a partition).
    pub identify: identify::Behaviour,
    /// Liveness of links.
    pub ping: ping::Behaviour,
}

/// The gossip topic of `cluster`.
pub fn topic(cluster: &str) -> IdentTopic {
    IdentTopic::new(format!("/enmesh/a2a/{cluster}/1"))
}

/// Content-addressed message ids: SHA-256 of the message data.
fn content_id(message: &gossipsub::Message) -> MessageId {
    MessageId::new(&Sha256::digest(&message.data))
}

/// Gossipsub settings for a small cluster (a few to a few dozen nodes) whose messages are
/// announcements of a few dozen bytes (batches are fetched once per node over sync).
///
/// Every mesh peer that has not seen a message yet forwards it, so duplicates grow with the mesh
/// degree: it is lowered from the default 6 to 3 (low 2, high 4), and flood publishing is off
/// (the publisher sends to its mesh only). Duplicated announcements cost bytes, not batches.
fn gossip_config() -> Result<gossipsub::Config, BuildError> {
    gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(content_id)
        .max_transmit_size(MAX_GOSSIP_BYTES)
        .mesh_n(3)
        .mesh_n_low(2)
        .mesh_n_high(4)
        .mesh_outbound_min(1)
        .gossip_lazy(3)
        .flood_publish(false)
        .heartbeat_initial_delay(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(700))
        .build()
        .map_err(BuildError::from)
}

/// Peer scoring: only the application score (admission) and invalid messages count.
fn score_params(topic: &IdentTopic) -> PeerScoreParams {
    let mut params = PeerScoreParams {
        app_specific_weight: 1.0,
        // Regions of one cluster may share an address (and do in single-host tests).
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    params.topics.insert(
        topic.hash(),
        TopicScoreParams {
            topic_weight: 1.0,
            time_in_mesh_weight: 0.0,
            first_message_deliveries_weight: 0.0,
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            // One forged batch puts the sender below the graylist threshold (-80).
            invalid_message_deliveries_weight: -100.0,
            invalid_message_deliveries_decay: 0.99,
            ..TopicScoreParams::default()
        },
    );
    params
}

/// Builds the swarm for `keypair` (the node certificate's key), subscribed to `topic`.
pub fn build(
    keypair: identity::Keypair,
    topic: &IdentTopic,
) -> Result<Swarm<Behaviour>, BuildError> {
    let mut gossip = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config()?)
        .map_err(BuildError::Gossipsub)?;
    gossip
        .with_peer_score(score_params(topic), PeerScoreThresholds::default())
        .map_err(BuildError::Score)?;
    gossip.subscribe(topic)?;
    let behaviour = Behaviour {
        blocked: allow_block_list::Behaviour::default(),
        gossip,
        admit: request_response::Behaviour::with_codec(
            admit_codec(),
            [(ADMIT_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
        ),
        sync: request_response::Behaviour::with_codec(
            sync_codec(),
            [(SYNC_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
        ),
        identify: identify::Behaviour::new(identify::Config::new(
            "/enmesh/1".to_owned(),
            keypair.public(),
        )),
        ping: ping::Behaviour::new(
            ping::Config::new()
                .with_interval(PING_INTERVAL)
                .with_timeout(PING_TIMEOUT),
        ),
    };
    Ok(SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|_| behaviour)
        .unwrap_or_else(|never| match never {})
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build())
}
