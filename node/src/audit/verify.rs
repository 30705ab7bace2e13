//! Verifying a node's audit log as read from its files (or an export):
//! the chain, the node's own checkpoints and tree heads, what other nodes
//! hold of it, and the clock's jumps back; and the filters an auditor reads
//! it with. `veim audit` runs these on files with no node, and the admin
//! API (`/v1/audit`) on the running node's own files: one verification.

use super::{LogFiles, ReadError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use veim_protocol::audit::{self, Action, AuditError, Entry, LogReport, SignedCheckpoint, SignedTreeHead, node_name};
use veim_protocol::{ExchangeId, StateCode};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path} is not a checkpoint: {reason}")]
    Witness { path: String, reason: String },
    #[error("the audit log does NOT verify: {0}")]
    Failed(AuditError),
    #[error("the export does NOT verify: {0}")]
    Header(String),
    #[error("the checkpoint of {node}'s log held here has a bad signature")]
    HeldCheckpoint { node: String },
    #[error("the tree head of {node}'s log held here has a bad signature")]
    HeldTreeHead { node: String },
    #[error(
        "the audit log does NOT verify: its last {uncovered} entr{} covered by no signature of the node. \
         A node signs the head of its log at every flush, so they were added to the files afterwards; \
         only if the node stopped abruptly (a crash, a power loss) may its files lag behind its store: \
         start it once (it writes them anew from the store) and verify again",
        if *uncovered == 1 { "y is" } else { "ies are" }
    )]
    Uncovered { uncovered: u64 },
}

/// Entries at the end of a log that no checkpoint covers.
pub fn uncovered(report: &LogReport) -> u64 {
    report.entries.saturating_sub(report.covered)
}

/// A log whose node is stopped (or an export) has every entry covered by a
/// checkpoint: the node signs the head of its log at every flush, and the
/// files hold only flushed entries. A running node may be between a write
/// and the flush that covers it, so its uncovered entries are only shown.
pub fn check_covered(report: &LogReport, running: bool) -> Result<(), LogError> {
    match uncovered(report) {
        0 => Ok(()),
        _ if running => Ok(()),
        uncovered => Err(LogError::Uncovered { uncovered }),
    }
}

/// What other nodes hold of this node's log, each with who holds it.
#[derive(Debug, Clone, Default)]
pub struct Witnessed {
    pub checkpoints: Vec<(String, SignedCheckpoint)>,
    pub trees: Vec<(String, SignedTreeHead)>,
}

impl Witnessed {
    /// Adds what the file `veim audit witness STATE --json` wrote on another
    /// node holds of this node's log.
    pub fn read(&mut self, path: &Path) -> Result<(), LogError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| LogError::Witness { path: shown.clone(), reason: e.to_string() })?;
        let held: HeldCheckpoints = serde_json::from_str(&text)
            .map_err(|e| LogError::Witness { path: shown.clone(), reason: e.to_string() })?;
        let holder = format!("{} ({shown})", node_name(held.holder));
        self.checkpoints.extend(held.checkpoints.into_iter().map(|c| (holder.clone(), c)));
        self.trees.extend(held.tree_head.into_iter().map(|t| (holder.clone(), t)));
        Ok(())
    }
}

/// What `veim audit witness STATE --json` prints: the checkpoints of STATE's
/// log that a node holds (its latest of each day), the tree head of it that
/// the node holds, and which node holds them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldCheckpoints {
    pub holder: Option<StateCode>,
    pub checkpoints: Vec<SignedCheckpoint>,
    #[serde(default)]
    pub tree_head: Option<SignedTreeHead>,
}

/// Verifies a log read from files: the chain, its own checkpoints and tree
/// heads, what other nodes hold of it (`witnessed`), and the signatures of
/// the checkpoints and tree heads of other nodes it holds.
pub fn verify(log: &LogFiles, witnessed: &Witnessed) -> Result<LogReport, LogError> {
    if let Some(audit::ExportLine::Header { format, entries, .. }) = &log.header {
        if format != audit::EXPORT_FORMAT {
            return Err(LogError::Header(format!("its format is {format:?}, not {}", audit::EXPORT_FORMAT)));
        }
        if *entries != log.entries.len() as u64 {
            return Err(LogError::Header(format!(
                "its header announces {entries} entries but it holds {}: entries were removed or added",
                log.entries.len()
            )));
        }
    }
    let mut trees: Vec<(String, SignedTreeHead)> =
        log.tree_heads.iter().map(|t| ("this node".to_string(), t.clone())).collect();
    trees.extend(witnessed.trees.iter().cloned());
    let report = audit::verify_log_with_trees(&log.entries, &log.checkpoints, &witnessed.checkpoints, &trees)
        .map_err(LogError::Failed)?;
    for c in &log.witnessed {
        if c.verify().is_err() {
            return Err(LogError::HeldCheckpoint { node: node_name(c.checkpoint.node) });
        }
    }
    for t in &log.witnessed_trees {
        if t.verify().is_err() {
            return Err(LogError::HeldTreeHead { node: node_name(t.head.node) });
        }
    }
    Ok(report)
}

/// How far (seconds) an entry's time may be before the one of the entry
/// before it without a warning: events are stamped just before the write
/// that appends them, and two writes at once may append in the other order.
pub const CLOCK_SLACK_SECS: i64 = 2;

/// An entry whose time is before that of the entry before it: the node's
/// clock went back (set right by NTP, or by hand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockWentBack {
    pub position: u64,
    pub at: i64,
    /// The entry before it, and its time.
    pub previous_position: u64,
    pub previous_at: i64,
}

/// The entries whose time goes back more than [`CLOCK_SLACK_SECS`] from the
/// entry before them. Entries of a directory version accepted carry the
/// Secretariat's time of issue, not this node's, and are left out.
pub fn clock_went_back(entries: &[Entry]) -> Vec<ClockWentBack> {
    let mut found = Vec::new();
    let mut previous: Option<&Entry> = None;
    for e in entries.iter().filter(|e| e.event.action != Action::DirectoryAccepted) {
        if let Some(p) = previous
            && e.event.at < p.event.at - CLOCK_SLACK_SECS
        {
            found.push(ClockWentBack {
                position: e.seq,
                at: e.event.at,
                previous_position: p.seq,
                previous_at: p.event.at,
            });
        }
        previous = Some(e);
    }
    found
}

/// What `veim audit verify` (and `GET /v1/audit/verify`) reports: the
/// verification, and the warnings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verified {
    #[serde(flatten)]
    pub report: LogReport,
    pub clock_went_back: Vec<ClockWentBack>,
}

/// The filters of `veim audit show` and `GET /v1/audit`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub actions: Vec<Action>,
    pub state: Option<StateCode>,
    /// An exchange id's first hex digits, lower-case.
    pub exchange: Option<String>,
    /// Who acted: an official's account name, a peer's State code, or
    /// `node`, `operator`, `stranger`.
    pub actor: Option<String>,
}

/// Whether `actor` is the one `name` names (see [`Filter::actor`]).
fn actor_is(actor: &audit::Actor, name: &str) -> bool {
    use audit::Actor;
    let name = name.trim();
    match actor {
        Actor::Official(account) => account.as_str() == name,
        Actor::Peer(Some(state)) => state.as_str().eq_ignore_ascii_case(name),
        Actor::Peer(None) => name.eq_ignore_ascii_case("secretariat"),
        Actor::Node => name == "node",
        Actor::Operator => name == "operator",
        Actor::Stranger => name == "stranger",
    }
}

impl Filter {
    pub fn keeps(&self, e: &Entry) -> bool {
        let ev = &e.event;
        self.since.is_none_or(|t| ev.at >= t)
            && self.until.is_none_or(|t| ev.at <= t)
            && (self.actions.is_empty() || self.actions.contains(&ev.action))
            && self.state.is_none_or(|s| ev.state == Some(s))
            && self
                .exchange
                .as_ref()
                .is_none_or(|x| ev.exchange.is_some_and(|id: ExchangeId| id.to_hex().starts_with(x)))
            && self.actor.as_deref().is_none_or(|a| actor_is(&ev.actor, a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veim_protocol::audit::{Actor, Event};

    fn entry(seq: u64, at: i64, action: Action) -> Entry {
        Entry { seq, previous: veim_protocol::Bytes32([0; 32]), event: Event::new(at, Actor::Node, action) }
    }

    #[test]
    fn an_entry_whose_time_goes_back_is_named_with_both_times() {
        let entries = vec![
            entry(0, 1_000, Action::NodeStarted),
            entry(1, 1_010, Action::AdminCall),
            // Two writes at once, appended in the other order: no warning.
            entry(2, 1_008, Action::AdminCall),
            // The Secretariat's time of issue: not this node's clock.
            entry(3, 500, Action::DirectoryAccepted),
            // The clock set back ten minutes.
            entry(4, 410, Action::AdminCall),
            entry(5, 415, Action::AdminCall),
        ];
        assert_eq!(
            clock_went_back(&entries),
            vec![ClockWentBack { position: 4, at: 410, previous_position: 2, previous_at: 1_008 }]
        );
    }
}
