//! The figures of a draft, from this node's own exchanges: their records,
//! and each request's provisions and stage from its body (opened with the
//! storage key).

use super::ReportsError;
use crate::home::vault::Vault;
use crate::storage::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use veim_protocol::report::{Figures, Period};
use veim_protocol::request::Stage;
use veim_protocol::{Body, MessageKind, StateCode};

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

fn stage_name(stage: &Stage) -> &'static str {
    match stage {
        Stage::RiskAnalysis => "risk-analysis",
        Stage::DiversionDetected => "diversion-detected",
        Stage::ReachedEndUser => "reached-end-user",
        Stage::Other(_) => "other",
    }
}

/// The exchanges `me` took part in that were opened in `period`.
pub fn build(
    store: &Store,
    vault: &Vault,
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
    for x in store.exchanges()? {
        if !x.participants.contains(&me) || x.opened_at < from || x.opened_at >= until {
            continue;
        }
        let mut request = None;
        let mut first_response = None;
        for id in &x.messages {
            let Some(m) = store.message(*id)? else { continue };
            match m.kind {
                MessageKind::Request if request.is_none() => request = Some(m),
                MessageKind::Response if first_response.is_none() => first_response = Some(m.created_at),
                _ => {}
            }
        }
        let Some(request) = request else { continue };
        out.figures.exchanges += 1;
        match vault.open_body(request.message_id, request.content.as_deref())? {
            Some(Body::Request(r)) => {
                for p in &r.provisions {
                    *out.figures.by_provision.entry(p.as_str().to_string()).or_default() += 1;
                }
                *out.figures.by_stage.entry(stage_name(&r.stage).to_string()).or_default() += 1;
            }
            _ => unreadable += 1,
        }
        if let Some(t) = first_response.filter(|t| *t >= request.created_at) {
            out.figures.answered += 1;
            days.push(u32::try_from((t - request.created_at) / SECONDS_PER_DAY).unwrap_or(u32::MAX));
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
    out.notes.push(
        "Outcome counts are empty: exchanges are closed with free text, not yet with a typed outcome. Fill in \
         figures.by_outcome by hand if the report gives them."
            .into(),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stage_names_are_the_protocols() {
        use super::*;
        let stages = [Stage::RiskAnalysis, Stage::DiversionDetected, Stage::ReachedEndUser, Stage::Other("x".into())];
        let names: Vec<&str> = stages.iter().map(stage_name).collect();
        assert_eq!(names, Stage::NAMES);
    }
}
