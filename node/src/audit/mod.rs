//! The node's audit log around the store: the events it records, the plain
//! files auditors read, checkpoints, and the checkpoints of peers it keeps.
//!
//! The log itself lives in the store (`audit` tree), each entry written in
//! the transaction of the change it records. After every flush the node
//! appends the new entries to `audit/entries.jsonl` in its home folder
//! (closed, by size or age, as a compressed segment: see `segments`), and
//! after every checkpoint it rewrites `audit/checkpoints.jsonl` (its own
//! signed checkpoints) and `audit/witnessed.jsonl` (the latest checkpoint it
//! holds of each peer's log). Those files are what `veim audit` reads, with
//! the node running or not; they are never the source of truth: a node that
//! starts after a crash brings them up to date from the store, and sets aside
//! a copy that does not match the store instead of overwriting it.
//!
//! `mirror` keeps those files; `segments` names, lists and compresses the
//! closed segments; `files` reads them back for auditors; `verify` checks
//! what was read (for `veim audit` and the admin API alike);
//! `witness` is the service that signs checkpoints and tree heads, offers
//! them to peers and keeps theirs; `strangers` bounds what peers outside the
//! directory can add to the log.

mod files;
mod mirror;
pub mod segments;
mod strangers;
pub mod verify;
pub mod witness;

pub use files::{LogFiles, ReadError};
pub use mirror::{
    Mirror, SharedMirror, close, mirrored, rewritten, signed_at_each_flush, write_checkpoints, write_due_head,
};
pub use segments::Segmenting;
pub use verify::{Filter, LogError, Verified, Witnessed};
pub use witness::Witness;

use crate::storage::MessageRecord;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::{Body, Bytes32, Decision, StateCode};

pub const AUDIT_DIR: &str = "audit";
pub const ENTRIES_FILE: &str = "entries.jsonl";
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
pub const WITNESSED_FILE: &str = "witnessed.jsonl";
/// The checkpoint signed at the latest flush that added entries: no entry
/// the node wrote sits on disk uncovered by a signature.
pub const HEAD_FILE: &str = "head.jsonl";

/// The event of a message stored by this node.
pub fn message_event(at: i64, actor: Actor, action: Action, m: &MessageRecord, state: Option<StateCode>) -> Event {
    let mut e = Event::new(at, actor, action);
    e.state = state;
    e.exchange = Some(m.exchange_id);
    e.message = Some(m.message_id);
    e.kind = Some(m.kind);
    e.hash = Some(Bytes32(m.envelope_hash));
    e
}

/// What sending `body` is, for the log: consent decisions are named as such.
pub fn sent_action(body: &Body) -> Action {
    match body {
        Body::ConsentRequest(_) => Action::ConsentAsked,
        Body::ConsentDecision(d) => match d.record.decision {
            Decision::Granted { .. } => Action::ConsentGranted,
            Decision::Refused { .. } => Action::ConsentRefused,
        },
        Body::ConsentRevocation(_) => Action::ConsentRevoked,
        _ => Action::MessageSent,
    }
}
