//! What the swarm counts for the node's health and metrics. The event loop
//! alone writes these numbers; anyone holding a `Client` reads them without
//! a round trip to the loop, so a scrape or a health probe never waits on
//! the swarm.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counts kept by the event loop.
#[derive(Debug, Default)]
pub struct NetStats {
    /// Peers with at least one open connection.
    peers: AtomicUsize,
    /// Addresses the swarm listens on.
    listen_addrs: AtomicUsize,
    /// Requests answered `Busy` by the swarm itself (a peer past its
    /// allowance, or the handlers saturated), before anything was decoded.
    busy: AtomicU64,
}

impl NetStats {
    /// Peers with at least one open connection.
    pub fn peers(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }

    /// Addresses the swarm listens on (0 once the event loop has stopped).
    pub fn listen_addrs(&self) -> usize {
        self.listen_addrs.load(Ordering::Relaxed)
    }

    /// Requests the swarm answered `Busy` since it started.
    pub fn busy(&self) -> u64 {
        self.busy.load(Ordering::Relaxed)
    }

    pub(super) fn set_peers(&self, n: usize) {
        self.peers.store(n, Ordering::Relaxed);
    }

    pub(super) fn listen_addr_added(&self) {
        self.listen_addrs.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn listen_addr_removed(&self) {
        let _ = self.listen_addrs.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
    }

    pub(super) fn busy_answered(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
    }

    /// The event loop ended: no listener, no connection.
    pub(super) fn stopped(&self) {
        self.listen_addrs.store(0, Ordering::Relaxed);
        self.peers.store(0, Ordering::Relaxed);
    }
}
