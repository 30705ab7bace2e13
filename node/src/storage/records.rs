//! The records the node keeps, as plain data: what each holds and nothing of
//! the rules that change them.

use serde::{Deserialize, Serialize};
use veim_protocol::Bytes32;
use veim_protocol::ids::{AttachmentId, DisclosureId};
use veim_protocol::{AuthorityKind, ExchangeId, ItemRef, MessageId, MessageKind, SignedReceipt, StateCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Sent,
    Received,
}

/// Where one copy of a sent message is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    /// Queued: stored durably, not yet tried (or waiting for an earlier
    /// message of the same exchange to reach the same recipient).
    Pending,
    /// Tried and not yet acknowledged; tried again at `next_at`.
    Attempting { attempts: u32, next_at: i64, last_error: String },
    /// The recipient's signed receipt was checked and stored. Final.
    Delivered { stored_at: i64 },
    /// The recipient refused it for good (a refusal no retry can change). Final.
    Refused { code: String, detail: String },
    /// Given up: cancelled by the operator, or older than the recipient
    /// accepts. Final.
    Failed { reason: String },
}

impl DeliveryState {
    /// Whether nothing more will happen to this copy.
    pub fn is_final(&self) -> bool {
        matches!(self, DeliveryState::Delivered { .. } | DeliveryState::Refused { .. } | DeliveryState::Failed { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub recipient: StateCode,
    pub state: DeliveryState,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub message_id: MessageId,
    pub exchange_id: ExchangeId,
    pub direction: Direction,
    pub sender: StateCode,
    pub recipients: Vec<StateCode>,
    pub kind: MessageKind,
    pub created_at: i64,
    pub stored_at: i64,
    /// The body, encoded and sealed with the storage key ([`crate::home::vault`]);
    /// `None` once purged.
    #[serde(with = "serde_bytes")]
    pub content: Option<Vec<u8>>,
    /// The envelope exactly as signed, encoded: the proof of origin. Empty
    /// once purged (a received envelope can be opened with the node's key).
    #[serde(with = "serde_bytes")]
    pub envelope: Vec<u8>,
    pub envelope_hash: [u8; 32],
    /// Sent messages: one per recipient.
    pub deliveries: Vec<Delivery>,
    /// Sent messages: the recipients' signed receipts.
    pub receipts: Vec<SignedReceipt>,
    /// When the retention policy (or the operator) removed the content.
    pub purged_at: Option<i64>,
    /// The order in which this node stored its messages ([`Store::next_sequence`]).
    pub sequence: u64,
}

/// The life of an exchange. `Closed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExchangeStatus {
    /// A request was sent or received, and no response yet.
    Open,
    /// At least one response was given.
    Answered,
    /// One side closed it.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRecord {
    pub exchange_id: ExchangeId,
    /// The State that sent the request.
    pub originator: StateCode,
    /// Every State taking part, originator first.
    pub participants: Vec<StateCode>,
    pub status: ExchangeStatus,
    pub opened_at: i64,
    pub updated_at: i64,
    /// Messages in the order this node stored them.
    pub messages: Vec<MessageId>,
}

/// An attachment this node holds: staged to send (`outgoing`), or received.
/// The file itself is in `HOME/attachments/<id>.sealed`, chunk by chunk,
/// encrypted under the key that `sealed_ref` (sealed with the storage key)
/// holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRecord {
    pub id: AttachmentId,
    pub name: String,
    pub size: u64,
    pub chunks: u64,
    pub outgoing: bool,
    /// Outgoing: the States it was sent to (who may fetch it).
    pub recipients: Vec<StateCode>,
    /// Received: who sent it, and in which message.
    pub sender: Option<StateCode>,
    pub message: Option<MessageId>,
    /// Chunks held (all of them for an outgoing attachment).
    pub chunks_held: u64,
    /// Received: chunk requests made, across interruptions.
    pub fetched: u64,
    /// Received: every chunk held and the file's SHA-256 checked.
    pub complete: bool,
    pub error: Option<String>,
    /// Received: not fetched, for good (see `error`).
    pub given_up: bool,
    /// The `AttachmentRef` (with its chunk key), sealed with the storage key.
    pub sealed_ref: Vec<u8>,
}

/// A disclosure this node made: what, to which kind of authority, on which
/// consent. No content: names, purpose and items are in the sealed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureSummary {
    pub disclosure_id: DisclosureId,
    pub created_at: i64,
    pub originator: StateCode,
    pub exchange_id: ExchangeId,
    pub items: Vec<ItemRef>,
    pub authority_kind: AuthorityKind,
    pub consent: Option<MessageId>,
    /// Hash of the package file as exported.
    pub package_hash: Bytes32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureRecord {
    pub summary: DisclosureSummary,
    /// The package, sealed with the storage key.
    pub package: Vec<u8>,
}

/// A disclosure an official asked for, waiting for an approver who is not
/// that official. `request` is the request as the API took it (JSON: it
/// names the authority), sealed with the storage key; it is made into a
/// package only once approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureRequestRecord {
    pub id: [u8; 16],
    pub exchange_id: ExchangeId,
    pub originator: StateCode,
    /// The items, as `MESSAGE#N`.
    pub items: Vec<String>,
    pub request: Vec<u8>,
    pub asked_by: veim_protocol::audit::AccountName,
    pub asked_at: i64,
}

/// A mail waiting for the SMTP server: written whole when it is queued
/// (its text is final), changed only by its attempts, removed once sent or
/// refused for good. It holds what a notification says (ids, States, kinds,
/// dates), never the content of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMail {
    /// Its place in the queue, given by the store.
    pub id: u64,
    /// What it tells of (`request-received`, …, or `letter` for a mail a
    /// service wrote itself).
    pub event: String,
    pub exchange: Option<ExchangeId>,
    pub message: Option<MessageId>,
    /// The State the event concerns (the sender of what was received).
    pub state: Option<StateCode>,
    pub to: Vec<String>,
    /// `en`, `fr` or `es`.
    pub language: String,
    pub subject: String,
    pub body: String,
    pub queued_at: i64,
    pub attempts: u32,
    /// Not tried before this time.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

/// A report to the CSP this node's State drafts or co-authors: the current
/// draft with the approvals of it held here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CspReportRecord {
    pub signed: veim_protocol::report::SignedCspReport,
    /// Comments returned by co-authors (drafter), or sent (co-author).
    pub comments: Vec<CspComment>,
    /// The drafter's: each co-author and whether the current draft reached
    /// it (`None`), or why not.
    pub sent: Vec<(StateCode, Option<String>)>,
    /// The Secretariat's registration, once submitted.
    pub registration: Option<veim_protocol::report::SignedReportRegistration>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CspComment {
    pub from: StateCode,
    /// The draft commented on.
    pub revision: u32,
    pub draft_hash: Bytes32,
    pub text: String,
    pub at: i64,
}

/// A report in the Secretariat's register of reports to the CSP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredCspReport {
    pub signed: veim_protocol::report::SignedCspReport,
    pub registration: veim_protocol::report::SignedReportRegistration,
}
