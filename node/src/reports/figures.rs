//! The figures of a draft, from this node's exchanges as the tracking
//! service sees them: each request's provisions, the exchange's stage now
//! (after its stage moves), its outcome once closed, its first response.

use super::ReportsError;
use crate::tracking::Tracking;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use veim_protocol::StateCode;
use veim_protocol::progress::stage_name;
use veim_protocol::report::{Figures, Period};

/// What a draft was built from, for the operator (not part of the report).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drafted {
    pub figures: Figures,
    /// Exchanges with each co-author (the only States a report may name).
    pub counterparts: BTreeMap<StateCode, u64>,
    /// What the operator should know about the figures.
    pub notes: Vec<String>,
}

const SECONDS_PER_DAY: i64 = 86_400;

/// The exchanges `me` took part in that were opened in `period`, as tracked
/// at `now`.
pub fn build(
    tracking: &Tracking,
    now: i64,
    me: StateCode,
    authors: &[StateCode],
    period: &Period,
) -> Result<Drafted, ReportsError> {
    let (from, until) = period.bounds().ok_or_else(|| {
        let mut e = veim_protocol::ValidationErrors::default();
        e.push("period", format!("{period} is not a period"));
        ReportsError::Invalid(e)
    })?;
    let mut out = Drafted::default();
    let mut days = Vec::new();
    let mut unreadable = 0u64;
    let tracked =
        tracking.exchanges(now, |x| x.participants.contains(&me) && x.opened_at >= from && x.opened_at < until)?;
    for x in tracked {
        out.figures.exchanges += 1;
        for p in &x.provisions {
            *out.figures.by_provision.entry(p.as_str().to_string()).or_default() += 1;
        }
        match &x.stage {
            Some(stage) => *out.figures.by_stage.entry(stage_name(stage).to_string()).or_default() += 1,
            None => unreadable += 1,
        }
        if let Some(outcome) = &x.outcome {
            *out.figures.by_outcome.entry(outcome.clone()).or_default() += 1;
        }
        if let Some(t) = x.first_response_at {
            out.figures.answered += 1;
            days.push(u32::try_from((t - x.opened_at).max(0) / SECONDS_PER_DAY).unwrap_or(u32::MAX));
        }
        for a in authors.iter().filter(|a| **a != me && x.participants.contains(a)) {
            *out.counterparts.entry(*a).or_default() += 1;
        }
    }
    days.sort_unstable();
    let n = days.len();
    out.figures.response_days_median = match n {
        0 => None,
        _ if n % 2 == 1 => Some(days[n / 2]),
        _ => Some(days[n / 2 - 1] / 2 + days[n / 2] / 2 + (days[n / 2 - 1] % 2 + days[n / 2] % 2) / 2),
    };
    out.figures.response_days_max = days.last().copied();
    if unreadable > 0 {
        out.notes.push(format!(
            "{unreadable} request(s) no longer hold their content (purged): their provisions and stages are not counted"
        ));
    }
    Ok(out)
}
#[cfg(test)]
mod tests {
    #[test]
    fn outcome_names_are_the_reports() {
        use veim_protocol::Outcome;
        use veim_protocol::report::OUTCOMES;
        for name in Outcome::NAMES.iter().chain(&["other", "not-recorded"]) {
            assert!(OUTCOMES.contains(name), "{name} is not among the report's outcomes");
        }
    }
}
