//! Each peer's request allowance: a token bucket in the swarm task, checked
//! before a request is decoded, so that a flooding peer costs the node
//! almost nothing and is cut off.

use super::InboundFrame;
use std::time::Duration;

/// Limits a node applies to connections, whoever the peer is.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_established: u32,
    pub max_per_peer: u32,
    pub max_pending_incoming: u32,
    pub max_concurrent_streams: usize,
    /// Requests a peer may send per second, on average...
    pub requests_per_sec: f64,
    /// ...and in one burst.
    pub burst: f64,
    /// A peer answered `Busy` this many times in a row is disconnected, and
    /// its connections are closed for `ban` afterwards.
    pub strikes: u32,
    pub ban: Duration,
    /// Log lines about one peer's refused requests in a minute; past them
    /// they are counted, and the count logged in one line when the minute
    /// ends (see [`super::RefusalLog`]).
    pub logged_refusals_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_established: 512,
            max_per_peer: 2,
            max_pending_incoming: 64,
            max_concurrent_streams: 64,
            requests_per_sec: 50.0,
            burst: 100.0,
            strikes: 200,
            ban: Duration::from_secs(60),
            logged_refusals_per_minute: 10,
        }
    }
}

/// What a request costs of its sender's allowance, read from its first
/// bytes only (the variant index, before anything is decoded): fetching an
/// attachment chunk is a tenth of a request, so that a recipient can fetch a
/// large file at speed; everything else costs one.
pub(super) fn request_cost(frame: &InboundFrame) -> f64 {
    const FETCH_CHUNK: u32 = 8;
    match frame {
        InboundFrame::Bytes(b) if b.len() >= 4 && u32::from_le_bytes([b[0], b[1], b[2], b[3]]) == FETCH_CHUNK => 0.1,
        _ => 1.0,
    }
}

/// A peer's request allowance: a token bucket, and how it has behaved.
#[derive(Debug)]
pub(super) struct Allowance {
    pub(super) tokens: f64,
    pub(super) updated: std::time::Instant,
    pub(super) strikes: u32,
    pub(super) banned_until: Option<std::time::Instant>,
}

impl Allowance {
    pub(super) fn new(limits: &Limits) -> Allowance {
        Allowance { tokens: limits.burst, updated: std::time::Instant::now(), strikes: 0, banned_until: None }
    }

    /// Takes `cost` tokens if there are that many.
    pub(super) fn take(&mut self, limits: &Limits, cost: f64) -> bool {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.updated).as_secs_f64() * limits.requests_per_sec;
        self.tokens = (self.tokens + refill).min(limits.burst);
        self.updated = now;
        if self.tokens >= cost {
            self.tokens -= cost;
            self.strikes = 0;
            true
        } else {
            self.strikes += 1;
            false
        }
    }

    pub(super) fn banned(&self) -> bool {
        self.banned_until.is_some_and(|t| std::time::Instant::now() < t)
    }
}
