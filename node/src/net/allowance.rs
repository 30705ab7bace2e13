//! Each peer's request allowance: a token bucket in the swarm task, checked
//! before a request is decoded, so that a flooding peer costs the node
//! almost nothing; and a judgement over a window of time, so that a peer
//! that keeps flooding is cut off whatever its pace.

use super::InboundFrame;
use libp2p::PeerId;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use veim_protocol::codec::MAX_FRAME;

/// Limits a node applies to connections and requests.
///
/// Connections and frames are bounded before the peer's standing is
/// known, by address and in total, then by standing: peers outside the
/// directory ("strangers") legitimately send only small requests (a
/// registration to the Secretariat is a few KiB), so they get small frames,
/// few streams and a bounded share of the node; the States in the directory
/// and the Secretariat ("listed") keep the rest.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Established connections in all, listed peers' and strangers'.
    pub max_established: u32,
    pub max_per_peer: u32,
    /// Handshakes in progress in all, and from one address (an IPv4
    /// address or an IPv6 /64): who is behind a handshake is not known
    /// until it ends, so one host cannot take them all.
    pub max_pending_incoming: u32,
    pub max_pending_per_address: u32,
    /// How long a connection's handshake (TCP to Yamux) may take: a
    /// handshake held open holds its slot until then.
    pub handshake_timeout: Duration,
    /// Strangers' established connections in all (the rest of
    /// `max_established` is kept for listed peers), and from one address.
    pub max_stranger_connections: u32,
    pub max_stranger_connections_per_address: u32,
    /// Requests one connection may have open at once (listed peers).
    pub max_concurrent_streams: usize,
    /// Largest request a stranger may send; larger ones are refused from
    /// their length, before their body is read.
    pub stranger_max_frame: usize,
    /// Requests one stranger may have open at once, over its connections.
    pub stranger_streams: u32,
    /// Bytes held for frames not yet read whole: the claimed length is
    /// taken before the body is read, from the peer's share (one listed
    /// peer's, or one stranger's), from the strangers' together (for a
    /// stranger) and from the node's, and given back when the frame is
    /// handed on or its stream fails. Past a share the frame is answered
    /// `Busy` unread.
    pub peer_held_bytes: u64,
    pub stranger_held_bytes: u64,
    pub strangers_held_bytes: u64,
    pub held_bytes: u64,
    /// Requests a peer may send per second, on average...
    pub requests_per_sec: f64,
    /// ...and in one burst; past them it is answered `Busy`.
    pub burst: f64,
    /// How far back a peer is judged: when, over the last `window`, it has
    /// sent at least `judged_after` requests and more than `refused_share`
    /// of them were answered `Busy`, it is disconnected and its connections
    /// are closed for `ban`. A peer that keeps sending more than
    /// `requests_per_sec / (1 - refused_share)` (twice its allowance by
    /// default) is cut off whatever its pace, since at every pace the share
    /// refused tends to `1 - allowance / rate`; a burst within `burst` is
    /// never refused at all, and one of up to twice `burst` not more than
    /// half. Between the allowance and that rate a peer is held to its
    /// allowance by `Busy` answers, which cost the node nothing but a write.
    pub window: Duration,
    pub judged_after: u32,
    pub refused_share: f64,
    pub ban: Duration,
    /// Log lines about one peer's refused requests in a minute; past them
    /// they are counted, and the count logged in one line when the minute
    /// ends (see [`super::RefusalLog`]).
    pub logged_refusals_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // About 115 States Parties with 2 connections each, and room.
            max_established: 512,
            max_per_peer: 2,
            // A handshake costs little; 8 from one host is far more than
            // one node's reconnections need.
            max_pending_incoming: 256,
            max_pending_per_address: 8,
            // Three round trips on the slowest link a ministry may have.
            handshake_timeout: Duration::from_secs(5),
            max_stranger_connections: 128,
            max_stranger_connections_per_address: 8,
            max_concurrent_streams: 64,
            // 20 times a registration of the largest size allowed (8
            // addresses of 256 bytes, an operator of 200, keys and
            // signature: under 3 KiB).
            stranger_max_frame: 64 * 1024,
            stranger_streams: 4,
            // Two of the largest frames per listed peer, eight in all.
            peer_held_bytes: 2 * MAX_FRAME as u64,
            stranger_held_bytes: 4 * 64 * 1024,
            strangers_held_bytes: 4 * 1024 * 1024,
            held_bytes: 8 * MAX_FRAME as u64,
            requests_per_sec: 50.0,
            burst: 100.0,
            window: Duration::from_secs(10),
            judged_after: 100,
            refused_share: 0.5,
            ban: Duration::from_secs(60),
            logged_refusals_per_minute: 10,
        }
    }
}

impl Limits {
    /// No bound of the node's own, only the transport's: for measuring what
    /// the transport does (benchmark baselines), never for a node.
    pub fn unbounded() -> Limits {
        const MANY: u32 = 1 << 16;
        const LOTS: u64 = 1 << 40;
        Limits {
            max_established: MANY,
            max_pending_incoming: MANY,
            max_pending_per_address: MANY,
            max_stranger_connections: MANY,
            max_stranger_connections_per_address: MANY,
            stranger_max_frame: MAX_FRAME,
            stranger_streams: MANY,
            peer_held_bytes: LOTS,
            stranger_held_bytes: LOTS,
            strangers_held_bytes: LOTS,
            held_bytes: LOTS,
            requests_per_sec: 1e9,
            burst: 1e9,
            ..Limits::default()
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

/// What becomes of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Within the allowance: to the handlers.
    Served,
    /// Over it: answered `Busy`, undecoded.
    Busy,
    /// Over it, and the peer has been over it for most of the window: cut
    /// off, and banned from now on. `requests` and `refused` are the window's.
    Ban { requests: u64, refused: u64 },
}

/// The window is kept as this many counts of requests and refusals, one per
/// tenth of it: a peer's record is a fixed 80 bytes whatever its rate, and
/// the window judged spans between nine and ten tenths.
const SLOTS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    requests: u32,
    refused: u32,
}

/// A peer's request allowance: a token bucket, and how it has behaved.
#[derive(Debug)]
pub(super) struct Allowance {
    tokens: f64,
    /// The last request (for the refill, and to forget quiet peers).
    updated: Instant,
    slots: [Slot; SLOTS],
    /// The slot `now` falls in, and when it started.
    current: usize,
    slot_started: Instant,
    banned_until: Option<Instant>,
}

impl Allowance {
    pub(super) fn new(limits: &Limits, now: Instant) -> Allowance {
        Allowance {
            tokens: limits.burst,
            updated: now,
            slots: [Slot::default(); SLOTS],
            current: 0,
            slot_started: now,
            banned_until: None,
        }
    }

    /// Takes `cost` tokens if there are that many; if not, counts the
    /// refusal and judges the window.
    pub(super) fn judge(&mut self, limits: &Limits, cost: f64, now: Instant) -> Verdict {
        let refill = now.saturating_duration_since(self.updated).as_secs_f64() * limits.requests_per_sec;
        self.tokens = (self.tokens + refill).min(limits.burst);
        self.updated = now;
        self.advance(limits, now);
        let slot = &mut self.slots[self.current];
        slot.requests = slot.requests.saturating_add(1);
        if self.tokens >= cost {
            self.tokens -= cost;
            return Verdict::Served;
        }
        slot.refused = slot.refused.saturating_add(1);
        let (requests, refused) =
            self.slots.iter().fold((0u64, 0u64), |(n, r), s| (n + u64::from(s.requests), r + u64::from(s.refused)));
        if requests >= u64::from(limits.judged_after) && refused as f64 > limits.refused_share * requests as f64 {
            self.banned_until = Some(now + limits.ban);
            // When the ban ends the peer starts afresh: judged on what it
            // does then, with a full bucket.
            *self = Allowance { banned_until: self.banned_until, ..Allowance::new(limits, now) };
            return Verdict::Ban { requests, refused };
        }
        Verdict::Busy
    }

    /// Moves to the slot `now` falls in, emptying those it passes.
    fn advance(&mut self, limits: &Limits, now: Instant) {
        let slot = (limits.window / SLOTS as u32).max(Duration::from_millis(1));
        let passed = now.saturating_duration_since(self.slot_started).as_nanos() / slot.as_nanos();
        if passed == 0 {
            return;
        }
        for _ in 0..passed.min(SLOTS as u128) {
            self.current = (self.current + 1) % SLOTS;
            self.slots[self.current] = Slot::default();
        }
        // `passed` is at least SLOTS here only after a quiet window; the
        // slots then start at `now` (no multiplication that could overflow).
        self.slot_started = if passed < SLOTS as u128 { self.slot_started + slot * passed as u32 } else { now };
    }

    pub(super) fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|t| now < t)
    }
}

/// Past this many peers the table forgets the quiet ones, then every peer
/// not banned, then every ban: each identity is cheap to make, so what a
/// peer forgotten regains (a full bucket, a clean window) any new identity
/// has anyway, while the memory stays bounded whatever the number of
/// identities (at most this, plus one per connection opened since).
const MAX_ALLOWANCES: usize = 65_536;

/// Every peer's allowance, pruned as the table grows.
#[derive(Debug)]
pub(super) struct Allowances {
    peers: HashMap<PeerId, Allowance>,
    /// The size at which the table is next pruned: twice what the last
    /// pruning kept (at least 1024, at most [`MAX_ALLOWANCES`]), so that the
    /// scans cost a constant per peer added.
    prune_at: usize,
}

impl Allowances {
    pub(super) fn new() -> Allowances {
        Allowances { peers: HashMap::new(), prune_at: 1024 }
    }

    pub(super) fn judge(&mut self, peer: PeerId, limits: &Limits, cost: f64, now: Instant) -> Verdict {
        self.peers.entry(peer).or_insert_with(|| Allowance::new(limits, now)).judge(limits, cost, now)
    }

    pub(super) fn banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.peers.get(peer).is_some_and(|a| a.banned(now))
    }

    /// Called as each connection is established (a peer has one before its
    /// first request): once the table has grown past `prune_at`, forgets
    /// the peers that are not banned and have been quiet for longer than a
    /// window and a full refill (they would start with a full bucket and an
    /// empty window anyway); if that is not enough, see [`MAX_ALLOWANCES`].
    pub(super) fn prune(&mut self, limits: &Limits, now: Instant) {
        if self.peers.len() <= self.prune_at {
            return;
        }
        let refill = Duration::from_secs_f64(limits.burst / limits.requests_per_sec.max(1e-3));
        let quiet = refill.max(limits.window);
        self.peers.retain(|_, a| a.banned(now) || now.saturating_duration_since(a.updated) < quiet);
        if self.peers.len() > MAX_ALLOWANCES / 2 {
            tracing::warn!(
                peers = self.peers.len(),
                "too many peers to keep each one's allowance; forgetting those not banned"
            );
            self.peers.retain(|_, a| a.banned(now));
        }
        if self.peers.len() > MAX_ALLOWANCES / 2 {
            tracing::warn!(peers = self.peers.len(), "too many peers banned to keep each ban; forgetting them");
            self.peers.clear();
        }
        self.prune_at = (2 * self.peers.len()).clamp(1024, MAX_ALLOWANCES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` requests at `per_sec`, evenly paced, from `start`, up to a
    /// ban (the swarm judges no request of a banned peer); returns the
    /// verdicts, each with its time since `start`.
    fn paced(a: &mut Allowance, limits: &Limits, start: Instant, per_sec: f64, n: usize) -> Vec<(Duration, Verdict)> {
        let mut verdicts = Vec::new();
        for i in 0..n {
            let at = Duration::from_secs_f64(i as f64 / per_sec);
            let verdict = a.judge(limits, 1.0, start + at);
            verdicts.push((at, verdict));
            if matches!(verdict, Verdict::Ban { .. }) {
                break;
            }
        }
        verdicts
    }

    fn first_ban(verdicts: &[(Duration, Verdict)]) -> Option<Duration> {
        verdicts.iter().find(|(_, v)| matches!(v, Verdict::Ban { .. })).map(|(at, _)| *at)
    }

    #[test]
    fn a_peer_sustaining_more_than_twice_its_allowance_is_banned_within_the_window() {
        let limits = Limits::default();
        for (times, within) in [(10.0, 1.0), (3.0, 10.0), (2.5, 10.0)] {
            let start = Instant::now();
            let mut a = Allowance::new(&limits, start);
            let rate = times * limits.requests_per_sec;
            let verdicts = paced(&mut a, &limits, start, rate, (rate * 30.0) as usize);
            let at = first_ban(&verdicts).unwrap_or_else(|| panic!("a peer at {times}x was never banned"));
            assert!(at.as_secs_f64() <= within, "a peer at {times}x banned only after {at:?}");
            // Some of it was served at each refill before the ban: the
            // pattern that a count of refusals in a row never caught.
            let served = verdicts.iter().take_while(|(t, _)| *t < at).filter(|(_, v)| *v == Verdict::Served).count();
            assert!(served as f64 >= limits.burst, "{times}x: {served} served before the ban");
            assert!(a.banned(start + at), "{times}x: banned from the verdict on");
            assert!(a.banned(start + at + limits.ban - Duration::from_millis(1)));
            assert!(!a.banned(start + at + limits.ban), "{times}x: the ban ends");
        }
    }

    #[test]
    fn a_peer_within_its_allowance_or_sending_one_burst_is_never_banned() {
        let limits = Limits::default();
        // At 0.9x for a minute: never even answered busy.
        let start = Instant::now();
        let mut a = Allowance::new(&limits, start);
        let verdicts = paced(&mut a, &limits, start, 0.9 * limits.requests_per_sec, 2700);
        assert!(verdicts.iter().all(|(_, v)| *v == Verdict::Served), "0.9x refused");
        // One burst of `burst` at once, then 0.9x again: all served.
        let burst = start + Duration::from_secs(70);
        assert!((0..limits.burst as usize).all(|_| a.judge(&limits, 1.0, burst) == Verdict::Served));
        let after = burst + Duration::from_secs(3);
        assert!(
            paced(&mut a, &limits, after, 0.9 * limits.requests_per_sec, 500)
                .iter()
                .all(|(_, v)| *v == Verdict::Served)
        );
        // Twice the burst at once: half refused, and not banned for it.
        let double = after + Duration::from_secs(20);
        let verdicts: Vec<Verdict> = (0..2 * limits.burst as usize).map(|_| a.judge(&limits, 1.0, double)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Busy).count(), limits.burst as usize);
        assert!(!a.banned(double));
        // At 1.5x for a minute: held to its allowance, not banned.
        let start = Instant::now();
        let mut a = Allowance::new(&limits, start);
        let verdicts = paced(&mut a, &limits, start, 1.5 * limits.requests_per_sec, 4500);
        assert_eq!(first_ban(&verdicts), None, "1.5x banned");
        let served = verdicts.iter().filter(|(_, v)| *v == Verdict::Served).count() as f64;
        assert!(served <= limits.burst + 60.0 * limits.requests_per_sec + 1.0, "1.5x: {served} served");
    }

    #[test]
    fn cheap_requests_count_one_each_in_the_window_but_cost_a_tenth() {
        // Chunk fetches at 400/s cost 40/s: within the allowance, never refused.
        let limits = Limits::default();
        let start = Instant::now();
        let mut a = Allowance::new(&limits, start);
        let verdicts: Vec<Verdict> =
            (0..8000).map(|i| a.judge(&limits, 0.1, start + Duration::from_secs_f64(i as f64 / 400.0))).collect();
        assert!(verdicts.iter().all(|v| *v == Verdict::Served));
    }

    #[test]
    fn the_table_of_allowances_stays_bounded_whatever_the_number_of_identities() {
        let limits = Limits::default();
        let mut table = Allowances::new();
        let start = Instant::now();
        // 200,000 identities, one request each, a thousand a second: the
        // quiet ones are forgotten.
        for i in 0..200_000u64 {
            let now = start + Duration::from_millis(i);
            table.judge(PeerId::random(), &limits, 1.0, now);
            table.prune(&limits, now);
            assert!(table.peers.len() <= MAX_ALLOWANCES + 1, "{} peers kept", table.peers.len());
        }
        assert!(
            table.peers.len() <= 2 * 10_000 + 1024,
            "only the last window's peers and a margin: {}",
            table.peers.len()
        );
        // As many at once (no one quiet): bounded still.
        let mut table = Allowances::new();
        for _ in 0..200_000u64 {
            table.judge(PeerId::random(), &limits, 1.0, start);
            table.prune(&limits, start);
            assert!(table.peers.len() <= MAX_ALLOWANCES + 1);
        }
        // A banned peer stays banned through pruning, a quiet one is forgotten.
        let mut table = Allowances::new();
        let flooder = PeerId::random();
        let mut t = start;
        while !matches!(table.judge(flooder, &limits, 1.0, t), Verdict::Ban { .. }) {
            t += Duration::from_millis(2);
        }
        let quiet = PeerId::random();
        table.judge(quiet, &limits, 1.0, t);
        let later = t + Duration::from_secs(30);
        for _ in 0..2000 {
            table.judge(PeerId::random(), &limits, 1.0, later);
        }
        table.prune(&limits, later);
        assert!(table.banned(&flooder, later));
        assert!(!table.peers.contains_key(&quiet));
    }
}
