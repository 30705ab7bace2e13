//! Who gets a connection slot.
//!
//! A connection costs the node a socket, a handshake and buffers before
//! anything is asked on it, so slots are bounded by remote address as well
//! as in total: handshakes in progress per address (who is behind them is
//! not known yet), and established connections per address for strangers.
//! Strangers together may hold only a share of the established slots; the
//! States in the directory and the Secretariat are admitted up to the
//! overall bound (`connection_limits`, kept beside this behaviour), so a
//! crowd of throwaway identities cannot shut them out.

use super::held::Listed;
use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::{ConnectionClosed, ConnectionEstablished, ListenFailure};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    dummy,
};
use libp2p::{Multiaddr, PeerId};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The bounds on slots (see [`super::Limits`] for the defaults and why).
#[derive(Debug, Clone, Copy)]
pub(super) struct SlotLimits {
    /// Handshakes in progress from one address.
    pub pending_per_address: u32,
    /// Strangers' established connections from one address.
    pub strangers_per_address: u32,
    /// Strangers' established connections in all.
    pub strangers: u32,
}

/// Why a connection was refused, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    #[error("{address} already has {limit} handshakes in progress with this node")]
    PendingFromAddress { address: IpAddr, limit: u32 },
    #[error("{address} already holds {limit} connections of peers not in the directory")]
    StrangersFromAddress { address: IpAddr, limit: u32 },
    #[error(
        "peers not in the directory already hold the {limit} connections they may (the rest is kept for listed peers)"
    )]
    Strangers { limit: u32 },
}

/// The address a connection is counted under: the IPv4 address, or the
/// IPv6 /64 (one host commonly has a whole /64).
pub(super) fn address_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => {
            let prefix = u128::from(ip) & !((1u128 << 64) - 1);
            Some(IpAddr::V6(prefix.into()))
        }
        _ => None,
    })
}

/// The counts, apart from libp2p, so that they can be tested alone.
#[derive(Debug)]
pub(super) struct Slots {
    limits: SlotLimits,
    pending: HashMap<ConnectionId, IpAddr>,
    pending_by_address: HashMap<IpAddr, u32>,
    /// Strangers' inbound connections, by id.
    strangers: HashMap<ConnectionId, (IpAddr, PeerId)>,
    strangers_by_address: HashMap<IpAddr, u32>,
}

fn up(counts: &mut HashMap<IpAddr, u32>, address: IpAddr) {
    *counts.entry(address).or_default() += 1;
}

fn down(counts: &mut HashMap<IpAddr, u32>, address: IpAddr) {
    if let Some(n) = counts.get_mut(&address) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&address);
        }
    }
}

impl Slots {
    pub(super) fn new(limits: SlotLimits) -> Slots {
        Slots {
            limits,
            pending: HashMap::new(),
            pending_by_address: HashMap::new(),
            strangers: HashMap::new(),
            strangers_by_address: HashMap::new(),
        }
    }

    /// A handshake starts from `address`.
    pub(super) fn pending(&mut self, id: ConnectionId, address: Option<IpAddr>) -> Result<(), Denied> {
        let Some(address) = address else { return Ok(()) };
        let limit = self.limits.pending_per_address;
        if self.pending_by_address.get(&address).copied().unwrap_or(0) >= limit {
            return Err(Denied::PendingFromAddress { address, limit });
        }
        self.pending.insert(id, address);
        up(&mut self.pending_by_address, address);
        Ok(())
    }

    /// The handshake ended (established, refused or failed).
    pub(super) fn handshake_over(&mut self, id: ConnectionId) {
        if let Some(address) = self.pending.remove(&id) {
            down(&mut self.pending_by_address, address);
        }
    }

    /// Whether an inbound connection of a stranger (`listed` false) from
    /// `address` may be established. Listed peers are not counted here.
    pub(super) fn admit(&self, listed: bool, address: Option<IpAddr>) -> Result<(), Denied> {
        if listed {
            return Ok(());
        }
        if self.strangers.len() >= self.limits.strangers as usize {
            return Err(Denied::Strangers { limit: self.limits.strangers });
        }
        if let Some(address) = address {
            let limit = self.limits.strangers_per_address;
            if self.strangers_by_address.get(&address).copied().unwrap_or(0) >= limit {
                return Err(Denied::StrangersFromAddress { address, limit });
            }
        }
        Ok(())
    }

    /// A stranger's inbound connection was established.
    pub(super) fn established(&mut self, id: ConnectionId, peer: PeerId, address: Option<IpAddr>) {
        let address = address.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        if self.strangers.insert(id, (address, peer)).is_none() {
            up(&mut self.strangers_by_address, address);
        }
    }

    pub(super) fn closed(&mut self, id: ConnectionId) {
        if let Some((address, _)) = self.strangers.remove(&id) {
            down(&mut self.strangers_by_address, address);
        }
    }

    /// Stops counting the connections of strangers the directory now lists
    /// (a State admitted while connected, to register): they no longer
    /// take strangers' slots.
    pub(super) fn forget_listed(&mut self, listed: impl Fn(&PeerId) -> bool) {
        let now_listed: Vec<ConnectionId> =
            self.strangers.iter().filter(|(_, (_, peer))| listed(peer)).map(|(id, _)| *id).collect();
        for id in now_listed {
            self.closed(id);
        }
    }
}

/// The behaviour that applies [`Slots`] to the swarm's inbound connections.
#[derive(Debug)]
pub struct Admission {
    slots: Slots,
    listed: Arc<Listed>,
}

impl Admission {
    pub(super) fn new(limits: SlotLimits, listed: Arc<Listed>) -> Admission {
        Admission { slots: Slots::new(limits), listed }
    }
}

impl NetworkBehaviour for Admission {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.slots.pending(connection_id, address_of(remote_addr)).map_err(ConnectionDenied::new)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.slots.handshake_over(connection_id);
        self.slots.forget_listed(|p| self.listed.contains(Some(p)));
        let listed = self.listed.contains(Some(&peer));
        self.slots.admit(listed, address_of(remote_addr)).map_err(ConnectionDenied::new)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            // Counted only once every behaviour accepted it.
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint: ConnectedPoint::Listener { send_back_addr, .. },
                ..
            }) if !self.listed.contains(Some(&peer_id)) => {
                self.slots.established(connection_id, peer_id, address_of(send_back_addr));
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => self.slots.closed(connection_id),
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => self.slots.handshake_over(connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        libp2p::core::util::unreachable(event)
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SlotLimits {
        SlotLimits { pending_per_address: 2, strangers_per_address: 3, strangers: 5 }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("an address"))
    }

    #[test]
    fn handshakes_are_bounded_per_address_and_counted_until_they_end() {
        let mut slots = Slots::new(limits());
        let (a, b, c) =
            (ConnectionId::new_unchecked(1), ConnectionId::new_unchecked(2), ConnectionId::new_unchecked(3));
        slots.pending(a, ip("10.0.0.1")).expect("allowed");
        slots.pending(b, ip("10.0.0.1")).expect("allowed");
        assert_eq!(
            slots.pending(c, ip("10.0.0.1")),
            Err(Denied::PendingFromAddress { address: "10.0.0.1".parse().expect("an address"), limit: 2 })
        );
        // Another address is not held back.
        slots.pending(c, ip("10.0.0.2")).expect("allowed");
        slots.handshake_over(a);
        slots.handshake_over(a);
        slots.pending(ConnectionId::new_unchecked(4), ip("10.0.0.1")).expect("allowed");
        for id in 2..5 {
            slots.handshake_over(ConnectionId::new_unchecked(id));
        }
        assert!(slots.pending.is_empty() && slots.pending_by_address.is_empty());
    }

    #[test]
    fn strangers_get_a_share_of_the_slots_and_listed_peers_are_not_counted_in_it() {
        let mut slots = Slots::new(limits());
        let mut id = 0;
        let mut next = || {
            id += 1;
            ConnectionId::new_unchecked(id)
        };
        // Three from one address, then that address is full.
        for _ in 0..3 {
            slots.admit(false, ip("10.0.0.1")).expect("allowed");
            slots.established(next(), PeerId::random(), ip("10.0.0.1"));
        }
        assert!(matches!(slots.admit(false, ip("10.0.0.1")), Err(Denied::StrangersFromAddress { limit: 3, .. })));
        // Two more from elsewhere fill the strangers' share.
        for a in ["10.0.0.2", "10.0.0.3"] {
            slots.admit(false, ip(a)).expect("allowed");
            slots.established(next(), PeerId::random(), ip(a));
        }
        assert_eq!(slots.admit(false, ip("10.0.0.4")), Err(Denied::Strangers { limit: 5 }));
        // A listed peer, from any address, is still admitted.
        assert_eq!(slots.admit(true, ip("10.0.0.1")), Ok(()));
        // A closed connection frees its slot.
        slots.closed(ConnectionId::new_unchecked(1));
        assert_eq!(slots.admit(false, ip("10.0.0.4")), Ok(()));
        assert_eq!(slots.admit(false, ip("10.0.0.1")), Ok(()));
    }

    #[test]
    fn a_stranger_the_directory_comes_to_list_no_longer_takes_a_strangers_slot() {
        let mut slots = Slots::new(limits());
        let registering = PeerId::random();
        for id in 1..=5 {
            let peer = if id == 1 { registering } else { PeerId::random() };
            slots.established(ConnectionId::new_unchecked(id), peer, ip(&format!("10.0.0.{id}")));
        }
        assert_eq!(slots.admit(false, ip("10.0.0.9")), Err(Denied::Strangers { limit: 5 }));
        slots.forget_listed(|p| *p == registering);
        assert_eq!(slots.admit(false, ip("10.0.0.9")), Ok(()));
        // Its connection closing later changes nothing.
        slots.closed(ConnectionId::new_unchecked(1));
        assert_eq!(slots.strangers.len(), 4);
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_bit_prefix() {
        let a: Multiaddr = "/ip6/2001:db8:1:2:aaaa::1/tcp/1".parse().expect("an address");
        let b: Multiaddr = "/ip6/2001:db8:1:2:bbbb::9/tcp/2".parse().expect("an address");
        let c: Multiaddr = "/ip6/2001:db8:1:3::1/tcp/2".parse().expect("an address");
        assert_eq!(address_of(&a), address_of(&b));
        assert_ne!(address_of(&a), address_of(&c));
        assert_eq!(address_of(&"/ip4/192.0.2.7/tcp/9".parse().expect("allowed")), ip("192.0.2.7"));
    }
}
