//! The node's one clock. Everything the node stamps (messages, receipts,
//! audit entries, directory versions) reads the time here, as Unix seconds,
//! so that the protocol crate never reads a clock itself.
//!
//! Peers' clocks are seen in their receipts (signed with the time the
//! recipient stored the message): `PeerClocks` keeps, per peer, how far
//! this node's clock is from the peer's, and warns when the peers together
//! say it is off by more than [`CLOCK_WARN_SECS`]: peers refuse messages
//! whose time is too far from theirs, and the audit log's times are only as
//! good as the clock.

use std::collections::HashMap;
use std::sync::Mutex;
use veim_protocol::StateCode;

/// How far (seconds) this node's clock may be from its peers' before it warns.
pub const CLOCK_WARN_SECS: i64 = 60;

/// How often the warning is logged again while the clock stays off.
const WARN_EVERY_SECS: i64 = 3600;

/// Now, in Unix seconds (UTC).
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A random factor in [0.8, 1.2): what a period or a backoff is multiplied
/// by so that nodes started together (after an outage, a deployment) do not
/// keep doing the same work at the same moment.
pub fn jitter() -> f64 {
    use rand_core::Rng;
    0.8 + 0.4 * (rand_core::UnwrapErr(getrandom::SysRng).next_u32() as f64 / (u32::MAX as f64 + 1.0))
}

/// Unix seconds as an RFC 3339 UTC time, for messages to people.
pub fn format_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

/// This node's clock against its peers', as their receipts show it.
#[derive(Debug, Default)]
pub struct PeerClocks {
    state: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Per peer, the latest offset: this node's clock minus the peer's.
    offsets: HashMap<StateCode, i64>,
    /// When the warning was last logged (while the clock is off).
    warned_at: Option<i64>,
}

/// How far this node's clock is ahead of a peer's (negative: behind), from
/// the peer's time `theirs`, stamped between `sent` and `received` by this
/// node's clock: 0 when it falls within that span, else the distance to its
/// nearer end. `theirs` comes from the peer: the arithmetic saturates.
pub fn offset(sent: i64, theirs: i64, received: i64) -> i64 {
    if theirs < sent {
        sent.saturating_sub(theirs)
    } else if theirs > received {
        received.saturating_sub(theirs)
    } else {
        0
    }
}

impl PeerClocks {
    /// Records `peer`'s time `theirs`, stamped between `sent` and
    /// `received` by this node's clock, and warns (at most once an hour)
    /// while the peers' median offset is past [`CLOCK_WARN_SECS`].
    pub fn observe(&self, peer: StateCode, sent: i64, theirs: i64, received: i64) {
        let Ok(mut seen) = self.state.lock() else { return };
        seen.offsets.insert(peer, offset(sent, theirs, received));
        let Some(median) = median(&seen.offsets) else { return };
        if median.abs() <= CLOCK_WARN_SECS {
            if seen.warned_at.take().is_some() {
                tracing::info!(offset_secs = median, "this node's clock agrees with its peers' again");
            }
            return;
        }
        if seen.warned_at.is_some_and(|at| received - at < WARN_EVERY_SECS) {
            return;
        }
        seen.warned_at = Some(received);
        let side = if median > 0 { "ahead of" } else { "behind" };
        tracing::warn!(
            offset_secs = median,
            peers = seen.offsets.len(),
            "this node's clock is {} s {side} its peers' (by the times in their receipts): check the clocks, and \
             that this machine follows NTP; peers refuse messages dated too far from their own time, and the \
             audit log's times are only as good as this clock",
            median.abs()
        );
    }

    /// How far this node's clock is ahead of its peers' (the median of each
    /// peer's latest; negative: behind), once a receipt has shown it.
    pub fn offset(&self) -> Option<i64> {
        self.state.lock().ok().and_then(|seen| median(&seen.offsets))
    }
}

fn median(offsets: &HashMap<StateCode, i64>) -> Option<i64> {
    let mut all: Vec<i64> = offsets.values().copied().collect();
    all.sort_unstable();
    let n = all.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(all[n / 2]),
        _ => Some(((i128::from(all[n / 2 - 1]) + i128::from(all[n / 2])) / 2) as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peers_time_within_the_round_trip_is_no_offset_and_outside_it_the_distance_to_it() {
        assert_eq!(offset(100, 100, 102), 0);
        assert_eq!(offset(100, 102, 102), 0);
        assert_eq!(offset(100, 30, 101), 70, "the peer's time is before the request left: this node is ahead");
        assert_eq!(offset(100, 700, 101), -599, "the peer's time is after the answer came: this node is behind");
        assert_eq!(offset(100, i64::MIN, 101), i64::MAX, "a peer's absurd time saturates");
        assert_eq!(offset(100, i64::MAX, 101), 101 - i64::MAX);
    }

    #[test]
    fn the_offset_is_the_median_of_each_peers_latest() {
        let clocks = PeerClocks::default();
        assert_eq!(clocks.offset(), None);
        let (mex, swe, ita) = ("MEX".parse().expect("MEX"), "SWE".parse().expect("SWE"), "ITA".parse().expect("ITA"));
        clocks.observe(mex, 1000, 1000, 1001);
        clocks.observe(swe, 1000, 400, 1001);
        assert_eq!(clocks.offset(), Some(300));
        // One peer's wrong clock does not outvote the others.
        clocks.observe(ita, 1000, 1001, 1001);
        assert_eq!(clocks.offset(), Some(0));
        // A peer's latest receipt replaces its earlier one.
        clocks.observe(swe, 2000, 2000, 2000);
        assert_eq!(clocks.offset(), Some(0));
    }
}
