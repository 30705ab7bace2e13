//! Reciprocity: per counterpart, what was asked and answered, both ways,
//! from message metadata only.

use super::*;
use crate::tracking::median;
use serde::{Deserialize, Serialize};
use veim_protocol::{MessageKind, StateCode};

/// Requests between this State and one counterpart, both ways.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reciprocity {
    pub state: Option<StateCode>,
    pub requests_sent: u32,
    pub sent_answered: u32,
    pub sent_unanswered: u32,
    /// Median seconds from our request to their first response.
    pub their_median_answer_secs: Option<i64>,
    pub requests_received: u32,
    pub received_answered: u32,
    pub received_unanswered: u32,
    /// Median seconds from their request to our first response.
    pub our_median_answer_secs: Option<i64>,
}

/// Per counterpart State, from message metadata only (no content is opened).
pub fn reciprocity(terms: &Terms) -> Result<Vec<Reciprocity>, TermsError> {
    let me = terms.state.ok_or_else(|| TermsError::Conflict("this node speaks for no State".into()))?;
    let mut rows: std::collections::BTreeMap<StateCode, (Reciprocity, Vec<i64>, Vec<i64>)> = Default::default();
    for x in terms.store.each_exchange() {
        let x = x?;
        let mut meta = Vec::new();
        for id in &x.messages {
            if let Some(m) = terms.store.message_record(*id)? {
                meta.push((m.kind, m.sender, m.created_at));
            }
        }
        let Some(&(MessageKind::Request, _, asked_at)) = meta.first() else { continue };
        let first_response = |from: StateCode| {
            meta.iter().find(|(k, s, _)| *k == MessageKind::Response && *s == from).map(|(_, _, t)| t - asked_at)
        };
        if x.originator == me {
            for p in x.participants.iter().filter(|p| **p != me) {
                let (row, theirs, _) = rows.entry(*p).or_default();
                row.requests_sent += 1;
                match first_response(*p) {
                    Some(t) => {
                        row.sent_answered += 1;
                        theirs.push(t);
                    }
                    None => row.sent_unanswered += 1,
                }
            }
        } else if x.participants.contains(&me) {
            let (row, _, ours) = rows.entry(x.originator).or_default();
            row.requests_received += 1;
            match first_response(me) {
                Some(t) => {
                    row.received_answered += 1;
                    ours.push(t);
                }
                None => row.received_unanswered += 1,
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|(state, (mut row, theirs, ours))| {
            row.state = Some(state);
            row.their_median_answer_secs = median(theirs);
            row.our_median_answer_secs = median(ours);
            row
        })
        .collect())
}
