//! Strangers cannot fill the log: refusals of peers outside the directory,
//! and failed logins at the admin API, are recorded one by one up to a limit
//! each minute, and counted past it.

use crate::clock::{format_time, now};
use veim_protocol::audit::{Action, Actor, Event};

/// Refusals of peers outside the directory: each minute, the first `limit`
/// are recorded one by one; the rest are counted, and the count recorded as
/// one entry when the minute ends (seen at the next such refusal), or at the
/// next checkpoint, whichever comes first. A checkpoint at stop records what
/// is left.
#[derive(Debug)]
pub(crate) struct StrangerTally {
    /// What the summary entry records, and the words it uses.
    action: Action,
    /// Whose events are counted: a stranger, or a listed peer (its State,
    /// none for the Secretariat).
    actor: Actor,
    what: &'static str,
    setting: &'static str,
    minute: i64,
    recorded: u32,
    counted: u64,
    since: i64,
    until: i64,
}

impl Default for StrangerTally {
    fn default() -> Self {
        StrangerTally::new(
            Action::RequestRefused,
            "refusals of peers outside the directory",
            "audit_stranger_refusals_per_minute",
        )
    }
}

impl StrangerTally {
    /// A tally of `what` (as the summary names them), recorded as `action`,
    /// bounded by the configuration's `setting`.
    pub(crate) fn new(action: Action, what: &'static str, setting: &'static str) -> StrangerTally {
        StrangerTally {
            action,
            actor: Actor::Stranger,
            what,
            setting,
            minute: 0,
            recorded: 0,
            counted: 0,
            since: 0,
            until: 0,
        }
    }

    /// A tally of the refusals of one listed peer's requests: a State in the
    /// directory (or the Secretariat) cannot fill the log either.
    pub(crate) fn for_peer(actor: Actor) -> StrangerTally {
        StrangerTally {
            actor,
            ..StrangerTally::new(
                Action::RequestRefused,
                "refusals of this peer's requests",
                "audit_peer_refusals_per_minute",
            )
        }
    }

    /// Whether a stranger's refusal at `at` is recorded one by one, and the
    /// count of an ended minute, to record first.
    pub(crate) fn admit(&mut self, at: i64, limit: u32) -> (bool, Option<Event>) {
        let ended = if at.div_euclid(60) != self.minute {
            self.minute = at.div_euclid(60);
            self.recorded = 0;
            self.summary()
        } else {
            None
        };
        if self.recorded < limit {
            self.recorded += 1;
            return (true, ended);
        }
        if self.counted == 0 {
            self.since = at;
        }
        self.counted += 1;
        self.until = at;
        (false, ended)
    }

    /// The refusals counted and not yet recorded, as one entry; none left.
    pub(crate) fn summary(&mut self) -> Option<Event> {
        let summary = self.pending();
        self.counted = 0;
        summary
    }

    /// The refusals counted and not yet recorded, as one entry; they stay
    /// counted.
    pub(crate) fn pending(&self) -> Option<Event> {
        if self.counted == 0 {
            return None;
        }
        let mut event = Event::new(now(), self.actor, self.action);
        if let Actor::Peer(state) = self.actor {
            event.state = state;
        }
        event.detail = format!(
            "{} more {} from {} to {}, counted and not recorded one by one ({})",
            self.counted,
            self.what,
            format_time(self.since),
            format_time(self.until),
            self.setting
        );
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strangers_refusals_past_the_allowance_are_counted_and_recorded_as_one_entry() {
        let mut tally = StrangerTally::default();
        let minute = 1_800_000_000 / 60 * 60;
        let admitted: Vec<bool> = (0..10).map(|i| tally.admit(minute + i, 3).0).collect();
        assert_eq!(admitted, [true, true, true, false, false, false, false, false, false, false]);
        // The next minute starts a new allowance, and brings the count of the last.
        let (one_by_one, ended) = tally.admit(minute + 60, 3);
        assert!(one_by_one);
        let ended = ended.expect("the count of the minute that ended");
        assert_eq!((ended.actor, ended.action), (Actor::Stranger, Action::RequestRefused));
        assert!(ended.detail.starts_with("7 more refusals"), "{}", ended.detail);
        assert!(tally.summary().is_none(), "a count is recorded once");
        // A checkpoint takes what is counted so far; the minute goes on.
        for i in 0..5 {
            tally.admit(minute + 61 + i, 3);
        }
        assert!(tally.summary().expect("counted so far").detail.starts_with("3 more"));
        assert!(!tally.admit(minute + 70, 3).0, "the allowance of the minute stays used");
        assert!(tally.summary().expect("one more").detail.starts_with("1 more"));
    }
}
