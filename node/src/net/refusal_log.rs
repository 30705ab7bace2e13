//! A flooding peer cannot fill the node's log: lines about a peer's refused
//! requests are logged one by one up to a limit in each minute, and counted
//! past it (as the audit log does for strangers, `audit/strangers.rs`).

use libp2p::PeerId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);

/// Past this many peers with refusals in their minute, the others share one
/// tally: the table stays bounded whatever the number of identities.
const MAX_PEERS: usize = 1024;

/// Lines about refused requests, per peer, whichever layer refused them
/// (the swarm's `Busy`, the handlers' refusals): in the minute from a peer's
/// first refusal, the first `per_minute` lines are logged, the rest counted,
/// and the count logged in one line when the minute ends (at the sweep the
/// swarm task runs each second, or at that peer's next refusal).
#[derive(Debug)]
pub struct RefusalLog {
    per_minute: u32,
    tallies: Mutex<Tallies>,
}

#[derive(Debug, Default)]
struct Tallies {
    peers: HashMap<PeerId, Tally>,
    /// Peers past [`MAX_PEERS`].
    others: Option<Tally>,
}

#[derive(Debug)]
struct Tally {
    since: Instant,
    logged: u32,
    counted: u64,
}

/// Refusals of a minute that ended, counted and not logged one by one.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Counted {
    /// None: peers past [`MAX_PEERS`], together.
    pub(super) peer: Option<PeerId>,
    pub(super) refusals: u64,
}

impl Tally {
    fn new(now: Instant) -> Tally {
        Tally { since: now, logged: 0, counted: 0 }
    }

    fn ended(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= MINUTE
    }

    /// Whether this refusal is logged; if its minute had ended, the count
    /// of that minute, and a new minute from now.
    fn admit(&mut self, now: Instant, per_minute: u32) -> (bool, Option<u64>) {
        let ended = if self.ended(now) {
            let counted = std::mem::replace(self, Tally::new(now)).counted;
            (counted > 0).then_some(counted)
        } else {
            None
        };
        if self.logged < per_minute {
            self.logged += 1;
            return (true, ended);
        }
        self.counted += 1;
        (false, ended)
    }
}

impl RefusalLog {
    pub fn new(per_minute: u32) -> RefusalLog {
        RefusalLog { per_minute, tallies: Mutex::new(Tallies::default()) }
    }

    /// Whether a line about a refusal of `peer`'s request is to be logged
    /// now; if not, it is counted, and the count logged later.
    pub fn admit(&self, peer: &PeerId) -> bool {
        let (log, counted) = self.admit_at(peer, Instant::now());
        if let Some(c) = counted {
            log_counted(&c);
        }
        log
    }

    /// Logs the counts of the minutes that ended, and forgets them.
    pub(super) fn sweep(&self) {
        for c in self.ended_at(Instant::now(), false) {
            log_counted(&c);
        }
    }

    /// Logs every count so far (the node is stopping).
    pub(super) fn flush(&self) {
        for c in self.ended_at(Instant::now(), true) {
            log_counted(&c);
        }
    }

    fn admit_at(&self, peer: &PeerId, now: Instant) -> (bool, Option<Counted>) {
        let mut tallies = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        let Tallies { peers, others } = &mut *tallies;
        let (tally, who) = if peers.contains_key(peer) || peers.len() < MAX_PEERS {
            (peers.entry(*peer).or_insert_with(|| Tally::new(now)), Some(*peer))
        } else {
            (others.get_or_insert_with(|| Tally::new(now)), None)
        };
        let (log, ended) = tally.admit(now, self.per_minute);
        (log, ended.map(|refusals| Counted { peer: who, refusals }))
    }

    /// The counts of the minutes that ended by `now` (or all, with `all`),
    /// their tallies forgotten.
    fn ended_at(&self, now: Instant, all: bool) -> Vec<Counted> {
        let mut tallies = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        tallies.peers.retain(|peer, t| {
            if !all && !t.ended(now) {
                return true;
            }
            if t.counted > 0 {
                out.push(Counted { peer: Some(*peer), refusals: t.counted });
            }
            false
        });
        if let Some(t) = tallies.others.take_if(|t| all || t.ended(now))
            && t.counted > 0
        {
            out.push(Counted { peer: None, refusals: t.counted });
        }
        out
    }
}

fn log_counted(c: &Counted) {
    match c.peer {
        Some(peer) => {
            tracing::warn!(%peer, refusals = c.refusals, "more refused requests of this peer in its minute, counted and not logged one by one")
        }
        None => tracing::warn!(
            refusals = c.refusals,
            "more refused requests of peers past the {MAX_PEERS} followed one by one, counted and not logged one by one"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peers_refusals_past_the_minutes_lines_are_counted_and_logged_as_one_line() {
        let log = RefusalLog::new(3);
        let (a, b) = (PeerId::random(), PeerId::random());
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // 2,677 refusals in a minute from one peer: three lines, one count.
        let logged = (0..2677).filter(|i| log.admit_at(&a, at(*i * 20)).0).count();
        assert_eq!(logged, 3);
        // Another peer has lines of its own.
        assert!(log.admit_at(&b, at(1000)).0);
        assert_eq!(log.ended_at(at(59_999), false), [], "the minute has not ended");
        assert_eq!(log.ended_at(at(60_000), false), [Counted { peer: Some(a), refusals: 2674 }]);
        assert_eq!(log.ended_at(at(61_000), false), [], "b had nothing counted; a's count is logged once");
        // A new minute, new lines; its count comes with the next refusal
        // after it ends if no sweep came first.
        let logged = (0..10).filter(|i| log.admit_at(&a, at(70_000 + i)).0).count();
        assert_eq!(logged, 3);
        let (logged, counted) = log.admit_at(&a, at(130_000));
        assert!(logged);
        assert_eq!(counted, Some(Counted { peer: Some(a), refusals: 7 }));
        // At stop, what is counted so far.
        for i in 0..5 {
            log.admit_at(&a, at(130_001 + i));
        }
        assert_eq!(log.ended_at(at(130_100), true), [Counted { peer: Some(a), refusals: 3 }]);
    }

    #[test]
    fn past_the_peers_followed_one_by_one_the_others_share_a_tally() {
        let log = RefusalLog::new(2);
        let now = Instant::now();
        for _ in 0..MAX_PEERS {
            assert!(log.admit_at(&PeerId::random(), now).0);
        }
        let logged = (0..1000).filter(|_| log.admit_at(&PeerId::random(), now).0).count();
        assert_eq!(logged, 2, "the others share the minute's lines");
        assert_eq!(log.tallies.lock().expect("lock").peers.len(), MAX_PEERS);
        let ended = log.ended_at(now + MINUTE, false);
        assert_eq!(ended, [Counted { peer: None, refusals: 998 }]);
        assert!(log.tallies.lock().expect("lock").peers.is_empty(), "ended minutes are forgotten");
    }
}
