//! The libp2p swarm, owned by one task; everything else talks to it through a
//! cloneable [`Client`].
//!
//! Transport: TCP (DNS names in addresses resolved through the system's
//! resolver configuration), Noise, Yamux, with a short handshake timeout;
//! behaviours: admission (connection slots by address and by standing,
//! `admission`), connection limits, identify, ping, and the `/veim/2`
//! request-response protocol with a length-prefixed codec that knows each
//! connection's peer and reads a frame's body only when the peer may send
//! that much now (`frames`, `held`). The node tells this layer which peers
//! its directory lists ([`Client::set_listed`]); it knows nothing else of
//! the directory. The event loop only moves bytes: decoding, checking and
//! storing happen in the node's handlers, which answer through
//! [`Client::respond`], so a slow disk never stalls the swarm.

mod admission;
mod allowance;
mod frames;
mod held;
mod refusal_log;
mod stats;

pub use admission::Denied;
pub use allowance::Limits;
pub use frames::{FrameCodec, InboundFrame};
pub use held::Busy;
pub use refusal_log::RefusalLog;
pub use stats::NetStats;

use crate::home::keys::fingerprint_of;
use crate::shutdown::Shutdown;
use allowance::{Allowances, Verdict, request_cost};
use held::{Held, HeldLimits, Listed};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, noise, ping, tcp, yamux};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::wire::{NetResponse, Refusal, RefusalCode};

/// How long a peer has to answer one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the reason of a failed dial is kept for the requests that
/// waited on it (they fail within the same turn of the event loop).
const DIAL_FAILURE_KEPT: Duration = Duration::from_secs(2);

/// Yamux, granting a peer no more than it accepts. rust-yamux refuses a
/// data frame over 1 MiB (and drops the connection for it), yet grows a
/// stream's receive window, by default, up to nearly 1 GiB; another
/// implementation may send as much as the window in one frame (js-libp2p's
/// does). A stream's window grows to at most 256 KiB plus the connection's
/// 1 GiB budget less 256 KiB for each stream allowed: with 4,093 streams
/// allowed that is exactly 1 MiB. (The request-response protocol never
/// keeps more than `max_concurrent_streams` open; the rest are reset.)
/// Public so that the benchmarks' floors run over the same transport.
pub fn yamux_config() -> yamux::Config {
    let mut config = yamux::Config::default();
    config.set_max_num_streams(4093);
    config
}

/// The behaviours of a veim swarm. (The derive does not implement Debug.)
#[allow(missing_debug_implementations)]
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    admission: admission::Admission,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    veim: frames::Framed,
}

#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    #[error("could not build the libp2p transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("peer {peer} did not answer: {reason}")]
    Unreachable { peer: PeerId, reason: String },
    /// The node at the address holds another key than the one expected:
    /// the wrong key was given for it, or another node took the address.
    /// The keys are given by their fingerprints (`fingerprint_of`).
    #[error(
        "{address} answered with the key of fingerprint {presented}, not the expected key of fingerprint {expected}"
    )]
    WrongPeer { address: String, expected: String, presented: String },
    /// The connection closed before the answer came (the peer restarted,
    /// or a stale connection was used): the request may or may not have
    /// been handled, and a new connection may succeed.
    #[error("peer {peer}: the connection was closed before a response was received")]
    ConnectionClosed { peer: PeerId },
    #[error("the network task has stopped (the node is shutting down)")]
    Stopped,
    /// The node that answered at `addr` holds this node's own key: another
    /// instance of this node (a copy of its home folder) runs there.
    #[error("the node at {addr} holds this node's own key")]
    OwnKey { addr: Multiaddr },
}

#[derive(Debug)]
enum Command {
    Request {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetworkError>>,
    },
    Respond {
        channel: ResponseChannel<Vec<u8>>,
        bytes: Vec<u8>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Discover {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NetworkError>>,
    },
}

/// An inbound request for the node's handlers.
#[derive(Debug)]
pub struct Inbound {
    pub peer: PeerId,
    pub frame: InboundFrame,
    pub channel: ResponseChannel<Vec<u8>>,
}

/// The handle everything outside the event loop uses.
#[derive(Debug, Clone)]
pub struct Client {
    tx: mpsc::Sender<Command>,
    refusals: Arc<RefusalLog>,
    listed: Arc<Listed>,
    stats: Arc<NetStats>,
}

impl Client {
    /// The peers the directory this node holds lists (the Secretariat, the
    /// States not withdrawn, keys rotated away from): they keep the slots
    /// and the frame size strangers cannot have. Takes effect for the
    /// connections and frames that start after it.
    pub fn set_listed(&self, peers: HashSet<PeerId>) {
        self.listed.set(peers);
    }

    /// What the swarm counts (peers connected, listen addresses, requests
    /// answered busy), read without a round trip to the event loop.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// Whether the event loop runs and listens on at least one address.
    pub fn listening(&self) -> bool {
        !self.tx.is_closed() && self.stats.listen_addrs() > 0
    }

    /// The bound on log lines about refused requests, per peer, that the
    /// swarm's own `Busy` answers share with the handlers' refusals.
    pub fn refusal_log(&self) -> &RefusalLog {
        &self.refusals
    }

    /// Sends one request and waits for its answer (or [`REQUEST_TIMEOUT`]).
    /// `addrs` are tried if there is no connection to `peer` yet.
    pub async fn request(&self, peer: PeerId, addrs: Vec<Multiaddr>, bytes: Vec<u8>) -> Result<Vec<u8>, NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Request { peer, addrs, bytes, reply }).await.map_err(|_| NetworkError::Stopped)?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Sends a request that may safely be handled twice, and sends it once
    /// more, on a new connection, if the connection closed before the
    /// answer came (the peer restarted and this node still held the old
    /// connection): the operator sees an error only if the peer is really
    /// gone.
    pub async fn request_idempotent(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        bytes: Vec<u8>,
    ) -> Result<Vec<u8>, NetworkError> {
        match self.request(peer, addrs.clone(), bytes.clone()).await {
            Err(NetworkError::ConnectionClosed { .. }) => self.request(peer, addrs, bytes).await,
            answer => answer,
        }
    }

    /// Answers an inbound request.
    pub async fn respond(&self, channel: ResponseChannel<Vec<u8>>, bytes: Vec<u8>) -> Result<(), NetworkError> {
        self.tx.send(Command::Respond { channel, bytes }).await.map_err(|_| NetworkError::Stopped)
    }

    /// Connects to `addr` without expecting a particular peer, and tells who
    /// answered. For reaching a node whose key changed: what it then says
    /// must still be verified by signatures, not by its transport identity.
    pub async fn discover(&self, addr: Multiaddr) -> Result<PeerId, NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Discover { addr, reply }).await.map_err(|_| NetworkError::Stopped)?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// The addresses the swarm listens on right now.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::ListenAddrs { reply }).await.map_err(|_| NetworkError::Stopped)?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }
}

pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    inbound: mpsc::Sender<Inbound>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, NetworkError>>>,
    listening: Vec<Multiaddr>,
    listen_waiters: Vec<oneshot::Sender<Vec<Multiaddr>>>,
    expected_listeners: usize,
    /// The encoded "busy" refusal, sent when the handlers are saturated.
    busy: Vec<u8>,
    discovering: HashMap<libp2p::swarm::ConnectionId, oneshot::Sender<Result<PeerId, NetworkError>>>,
    /// Why the last dial of a peer failed, kept a moment for the requests
    /// waiting on it (request-response reports only "dial failure").
    dial_failures: HashMap<PeerId, (Instant, NetworkError)>,
    limits: Limits,
    allowances: Allowances,
    refusals: Arc<RefusalLog>,
    stats: Arc<NetStats>,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop").field("peer", self.swarm.local_peer_id()).finish()
    }
}

/// Builds the swarm and starts listening. Returns the client, the stream of
/// inbound requests, and the event loop to spawn.
/// `listed` are the peers the node's directory lists as it starts (see
/// [`Client::set_listed`]).
pub fn new(
    keypair: Keypair,
    listen: &[Multiaddr],
    limits: Limits,
    listed: HashSet<PeerId>,
) -> Result<(Client, mpsc::Receiver<Inbound>, EventLoop), NetworkError> {
    let agent = format!("veim/{}", env!("CARGO_PKG_VERSION"));
    let listed = Arc::new(Listed::new(listed));
    let held = Held::new(HeldLimits {
        max_frame: MAX_FRAME as u64,
        stranger_max_frame: limits.stranger_max_frame as u64,
        stranger_streams: limits.stranger_streams,
        peer_bytes: limits.peer_held_bytes,
        stranger_bytes: limits.stranger_held_bytes,
        strangers_bytes: limits.strangers_held_bytes,
        total_bytes: limits.held_bytes,
    });
    let slots = admission::SlotLimits {
        pending_per_address: limits.max_pending_per_address,
        strangers_per_address: limits.max_stranger_connections_per_address,
        strangers: limits.max_stranger_connections,
    };
    let (dns_config, dns_options) = resolver_config();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux_config)
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_dns_config(dns_config, dns_options)
        .with_behaviour(|key| Behaviour {
            admission: admission::Admission::new(slots, listed.clone()),
            limits: connection_limits::Behaviour::new(
                ConnectionLimits::default()
                    .with_max_established(Some(limits.max_established))
                    .with_max_established_per_peer(Some(limits.max_per_peer))
                    .with_max_pending_incoming(Some(limits.max_pending_incoming)),
            ),
            identify: identify::Behaviour::new(
                identify::Config::new("/veim/id/1".into(), key.public()).with_agent_version(agent),
            ),
            ping: ping::Behaviour::new(ping::Config::new()),
            veim: frames::Framed::new(
                listed.clone(),
                held,
                request_response::Config::default()
                    .with_request_timeout(REQUEST_TIMEOUT)
                    .with_max_concurrent_streams(limits.max_concurrent_streams),
            ),
        })
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        // The whole handshake (TCP, Noise, Yamux) of a connection either
        // way: a socket that never finishes it frees its slot this soon.
        .with_connection_timeout(limits.handshake_timeout)
        .build();
    for addr in listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen { addr: addr.clone(), reason: e.to_string() })?;
    }
    let busy = NetResponse::Refused(Refusal {
        code: RefusalCode::Busy,
        detail: "this node is handling as many requests as it can; try again in a moment".into(),
    });
    let busy = codec::encode("response", &busy).map_err(|e| NetworkError::Transport(e.to_string()))?;
    let (tx, commands) = mpsc::channel(256);
    let (inbound, inbound_rx) = mpsc::channel(256);
    let refusals = Arc::new(RefusalLog::new(limits.logged_refusals_per_minute));
    let stats = Arc::new(NetStats::default());
    let event_loop = EventLoop {
        swarm,
        commands,
        inbound,
        pending: HashMap::new(),
        listening: Vec::new(),
        listen_waiters: Vec::new(),
        expected_listeners: listen.len(),
        busy,
        discovering: HashMap::new(),
        dial_failures: HashMap::new(),
        limits,
        allowances: Allowances::new(),
        refusals: refusals.clone(),
        stats: stats.clone(),
    };
    Ok((Client { tx, refusals, listed, stats }, inbound_rx, event_loop))
}

/// The system's resolver configuration (`/etc/resolv.conf`; the resolver
/// reads `/etc/hosts` as it is built). A machine with no name server
/// configured still resolves the names of its hosts file.
fn resolver_config() -> (libp2p::dns::ResolverConfig, libp2p::dns::ResolverOpts) {
    match hickory_resolver::system_conf::read_system_conf() {
        Ok(conf) => conf,
        Err(e) => {
            tracing::warn!(
                error = %e,
                "no usable name server in /etc/resolv.conf: DNS names in addresses resolve from /etc/hosts only"
            );
            (
                libp2p::dns::ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
                libp2p::dns::ResolverOpts::default(),
            )
        }
    }
}

/// A failed dial as the operator needs it: the key found at the address
/// when it is not the one expected, else each address tried and why it
/// failed (a name that did not resolve, a refused connection).
fn dial_failure(peer: PeerId, error: &libp2p::swarm::DialError) -> NetworkError {
    use libp2p::swarm::DialError;
    match error {
        DialError::WrongPeerId { obtained, address } => NetworkError::WrongPeer {
            address: as_dialed(address).to_string(),
            expected: fingerprint_of(&peer),
            presented: fingerprint_of(obtained),
        },
        DialError::Transport(attempts) if !attempts.is_empty() => {
            let reason = attempts
                .iter()
                .map(|(addr, e)| format!("{}: {}", as_dialed(addr), on_one_line(e)))
                .collect::<Vec<_>>()
                .join("; ");
            NetworkError::Unreachable { peer, reason: format!("could not connect to {reason}") }
        }
        error => NetworkError::Unreachable { peer, reason: error.to_string() },
    }
}

/// An address as the directory or the configuration gives it, without the
/// `/p2p/…` libp2p appends when it dials an expected peer.
fn as_dialed(address: &Multiaddr) -> Multiaddr {
    address.iter().filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_))).collect()
}

/// An error and its sources on one line, each said once (libp2p's wrappers
/// repeat their source's text, or say nothing themselves).
fn on_one_line(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string().replace("\n - ", " ").replace('\n', " ");
        let text = text.trim();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text)) {
            parts.push(text.to_string());
        }
        next = e.source();
    }
    parts.join(": ")
}

impl EventLoop {
    pub async fn run(mut self, mut shutdown: Shutdown) {
        use futures::StreamExt;
        // The counts of refusals not logged one by one are logged within a
        // second of the end of their minute, even if the peer has gone quiet.
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                _ = sweep.tick() => {
                    self.refusals.sweep();
                    self.dial_failures.retain(|_, (at, _)| at.elapsed() < DIAL_FAILURE_KEPT);
                }
                _ = shutdown.recv() => break,
            }
        }
        self.refusals.flush();
        self.stats.stopped();
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(NetworkError::Stopped));
        }
        tracing::debug!("network event loop stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request { peer, addrs, bytes, reply } => {
                let id = self.swarm.behaviour_mut().veim.inner().send_request_with_addresses(
                    &peer,
                    InboundFrame::Bytes(bytes),
                    addrs,
                );
                self.pending.insert(id, reply);
            }
            Command::Respond { channel, bytes } => {
                if self.swarm.behaviour_mut().veim.inner().send_response(channel, bytes).is_err() {
                    tracing::debug!("a peer went away before its answer could be sent");
                }
            }
            Command::Discover { addr, reply } => {
                let opts = libp2p::swarm::dial_opts::DialOpts::unknown_peer_id().address(addr.clone()).build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.discovering.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetworkError::Listen { addr, reason: e.to_string() }));
                    }
                }
            }
            Command::ListenAddrs { reply } => {
                if self.listening.len() >= self.expected_listeners {
                    let _ = reply.send(self.listening.clone());
                } else {
                    self.listen_waiters.push(reply);
                }
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.stats.listen_addr_added();
                self.listening.push(address);
                if self.listening.len() >= self.expected_listeners {
                    for w in self.listen_waiters.drain(..) {
                        let _ = w.send(self.listening.clone());
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Veim(event)) => self.on_veim_event(event),
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                tracing::debug!(%send_back_addr, %error, "incoming connection failed");
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                tracing::warn!(%address, "no longer listening");
                self.stats.listen_addr_removed();
            }
            SwarmEvent::ConnectionClosed { .. } => {
                self.stats.set_peers(self.swarm.connected_peers().count());
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, .. } => {
                self.dial_failures.remove(&peer_id);
                self.stats.set_peers(self.swarm.connected_peers().count());
                if let Some(reply) = self.discovering.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                let now = Instant::now();
                if self.allowances.banned(&peer_id, now) {
                    tracing::debug!(%peer_id, "connection from a banned peer closed");
                    let _ = self.swarm.close_connection(connection_id);
                }
                // Every new identity needs a connection before its first
                // request: the table is pruned here, as it grows.
                self.allowances.prune(&self.limits, now);
            }
            SwarmEvent::OutgoingConnectionError { peer_id, connection_id, error } => {
                tracing::debug!(?peer_id, %error, "outgoing connection failed");
                if let Some(reply) = self.discovering.remove(&connection_id) {
                    let _ = reply.send(Err(match &error {
                        libp2p::swarm::DialError::LocalPeerId { address } => {
                            NetworkError::OwnKey { addr: address.clone() }
                        }
                        other => NetworkError::Unreachable {
                            peer: peer_id.unwrap_or(PeerId::random()),
                            reason: other.to_string(),
                        },
                    }));
                }
                if let Some(peer) = peer_id {
                    let failure = dial_failure(peer, &error);
                    if let NetworkError::WrongPeer { .. } = &failure {
                        tracing::warn!(%failure, "dialed a node that holds another key");
                    }
                    self.dial_failures.insert(peer, (Instant::now(), failure));
                }
            }
            _ => {}
        }
    }

    fn on_veim_event(&mut self, event: request_response::Event<InboundFrame, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                // Each peer gets its share: past its allowance it is told to
                // slow down before anything is decoded; a peer refused most
                // of the time over the window is cut off for a while. A
                // request that comes before a banned peer's connections are
                // closed is told busy, and not counted.
                let now = Instant::now();
                let verdict = if self.allowances.banned(&peer, now) {
                    Verdict::Busy
                } else {
                    self.allowances.judge(peer, &self.limits, request_cost(&request), now)
                };
                match verdict {
                    Verdict::Served => {}
                    Verdict::Busy => {
                        self.stats.busy_answered();
                        let _ = self.swarm.behaviour_mut().veim.inner().send_response(channel, self.busy.clone());
                        if self.refusals.admit(&peer) {
                            tracing::warn!(%peer, "peer over its request rate; answering busy");
                        }
                        return;
                    }
                    Verdict::Ban { requests, refused } => {
                        self.stats.busy_answered();
                        let _ = self.swarm.behaviour_mut().veim.inner().send_response(channel, self.busy.clone());
                        // Always logged: each ban takes at least
                        // `judged_after` requests of one identity.
                        tracing::warn!(
                            %peer,
                            requests,
                            refused,
                            window = ?self.limits.window,
                            ban = ?self.limits.ban,
                            "peer kept flooding (most of its requests over the window refused as busy); \
                             disconnected, and its connections closed for the ban"
                        );
                        let _ = self.swarm.disconnect_peer_id(peer);
                        return;
                    }
                }
                // A frame put off unread: the peer is told which bound it
                // met, and to come back when its earlier requests are answered.
                if let InboundFrame::Deferred(why) = request {
                    let answer = NetResponse::Refused(Refusal { code: RefusalCode::Busy, detail: why.to_string() });
                    let bytes = codec::encode("response", &answer).unwrap_or_else(|_| self.busy.clone());
                    self.stats.busy_answered();
                    let _ = self.swarm.behaviour_mut().veim.inner().send_response(channel, bytes);
                    if self.refusals.admit(&peer) {
                        tracing::warn!(%peer, %why, "request not read; answering busy");
                    }
                    return;
                }
                let inbound = Inbound { peer, frame: request, channel };
                // The swarm never waits for the handlers: when they are
                // saturated the peer is told to come back later, and pings,
                // identify and this node's own requests go on.
                match self.inbound.try_send(inbound) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(inbound)) => {
                        if self.refusals.admit(&inbound.peer) {
                            tracing::warn!(peer = %inbound.peer, "handlers saturated; answering busy");
                        }
                        self.stats.busy_answered();
                        let _ =
                            self.swarm.behaviour_mut().veim.inner().send_response(inbound.channel, self.busy.clone());
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        tracing::debug!("inbound request dropped: the node is stopping");
                    }
                }
            }
            Event::Message { message: Message::Response { request_id, response }, .. } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let failure = match error {
                        request_response::OutboundFailure::ConnectionClosed => NetworkError::ConnectionClosed { peer },
                        // Another release's `/veim/N`: name it, so the operator
                        // knows that waiting alone will not help (SPEC 4.1).
                        request_response::OutboundFailure::UnsupportedProtocols => NetworkError::Unreachable {
                            peer,
                            reason: format!(
                                "it does not speak {} (a node of another veim release; the copy waits until both run the same protocol version)",
                                veim_protocol::WIRE_PROTOCOL
                            ),
                        },
                        // The swarm told why just before (`OutgoingConnectionError`).
                        request_response::OutboundFailure::DialFailure => match self.dial_failures.get(&peer) {
                            Some((at, failure)) if at.elapsed() < DIAL_FAILURE_KEPT => failure.clone(),
                            _ => NetworkError::Unreachable { peer, reason: error.to_string() },
                        },
                        error => NetworkError::Unreachable { peer, reason: error.to_string() },
                    };
                    let _ = reply.send(Err(failure));
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound request failed");
            }
            Event::ResponseSent { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::TransportError;
    use libp2p::swarm::DialError;

    #[test]
    fn a_failed_dial_says_where_and_why_on_one_line() {
        let expected = Keypair::generate_ed25519().public().to_peer_id();
        let presented = Keypair::generate_ed25519().public().to_peer_id();
        let dialed: Multiaddr = format!("/dns4/directory.example.org/tcp/7040/p2p/{expected}").parse().expect("addr");
        let wrong = dial_failure(expected, &DialError::WrongPeerId { obtained: presented, address: dialed.clone() });
        let said = wrong.to_string();
        assert!(said.starts_with("/dns4/directory.example.org/tcp/7040 answered"), "{said}");
        assert!(said.contains(&fingerprint_of(&expected)) && said.contains(&fingerprint_of(&presented)), "{said}");

        let refused = std::io::Error::other("Multiple dial errors occurred:\n - no record found for Query");
        let failed = dial_failure(expected, &DialError::Transport(vec![(dialed, TransportError::Other(refused))]));
        let said = failed.to_string();
        assert!(
            said.ends_with("could not connect to /dns4/directory.example.org/tcp/7040: Multiple dial errors occurred: no record found for Query"),
            "{said}"
        );
    }
}
