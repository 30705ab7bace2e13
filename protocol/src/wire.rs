//! The messages of the `/veim/2` request-response protocol, and the refusals a
//! node sends back instead of a result.
//!
//! A refusal is an answer, not a dropped stream: the sender learns exactly why
//! (an operator can act on "not in the directory" or "outside the replay
//! window"), and the receiving node logs it and goes on serving.

use crate::directory::{SignedDirectoryVersion, SignedRegistration};
use crate::envelope::{Envelope, EnvelopeError};
use crate::receipt::SignedReceipt;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Most directory versions sent in one answer; a node that is further behind
/// asks again from where the answer stopped.
pub const MAX_VERSIONS_PER_FETCH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetRequest {
    /// To the Secretariat: list this node (accepted from unknown peers).
    Register(SignedRegistration),
    /// To the Secretariat: the directory versions after `after` (0 for all).
    FetchDirectory { after: u64 },
    /// To a national node: store this envelope and answer with a receipt.
    Deliver(Box<Envelope>),
    /// To the Secretariat: the sending State's points of contact, for review.
    SubmitContacts(Box<crate::contacts::SignedContactSet>),
    /// To the Secretariat: move the sending State to new keys. Answered with
    /// `Registration(Admitted)` once the version carrying them is published.
    RotateKeys(Box<crate::directory::SignedKeyRotation>),
    /// From the Secretariat to a listed node: version `version` is published;
    /// fetch it now rather than at the next poll.
    DirectoryUpdated { version: u64 },
    /// To a peer: the sender's latest signed audit checkpoint, for the peer
    /// to keep as a witness of the sender's log. Answered with `Witnessed`.
    Witness(Box<crate::audit::SignedCheckpoint>),
    /// To a peer (anti-entropy): the messages of the exchanges both take
    /// part in that the sender holds and the peer should hold too (sent to
    /// it and acknowledged, or received from it), each exchange listed once.
    /// Answered with `Reconciled`.
    Reconcile(Box<Inventory>),
    /// To the sender of an `Attachments` message, from one of its
    /// recipients: sealed chunk `index` of an attachment. Answered with `Chunk`.
    FetchChunk { attachment: crate::ids::AttachmentId, index: u64 },
    /// To a peer: the sender's latest signed tree head, with (when the
    /// sender knows what the peer holds) the proof that it extends the one
    /// the peer holds. Answered with `TreeWitnessed`.
    WitnessTree(Box<TreeWitness>),
    /// To a national node, from the State drafting a report to the CSP: a
    /// draft for the receiving State, one of its authors, to approve or
    /// comment on, with the approvals of this exact draft given so far (the
    /// drafter's among them). Answered with `Acknowledged`.
    CspDraft(Box<crate::report::SignedCspReport>),
    /// To the drafting State's node, from an author: its approval of the
    /// draft of report `report_id` whose hash the approval names. Answered
    /// with `Acknowledged`.
    CspApproval { report_id: crate::ids::ReportId, approval: crate::report::Approval },
    /// To the drafting State's node, from an author: comments on the draft
    /// of report `report_id` with hash `draft_hash`. Answered with
    /// `Acknowledged`.
    CspComment { report_id: crate::ids::ReportId, draft_hash: crate::Bytes32, text: String },
    /// To the Secretariat, from the drafting State: a report every author
    /// signed, for its register. Answered with `CspReportRegistered`.
    SubmitCspReport(Box<crate::report::SignedCspReport>),
    /// To the Secretariat, from an active State: its signed report of
    /// measures (Art. 11.6, 13.2), for review and circulation. Answered
    /// with `Report`.
    SubmitReport(Box<crate::publication::SignedMeasuresReport>),
    /// To the Secretariat, from an active State: the publications after
    /// `after` (0 for all). Answered with `Publications`.
    FetchPublications { after: u64 },
    /// From the Secretariat to a listed node: publication `seq` is
    /// published; fetch it now rather than at the next poll.
    PublicationsUpdated { seq: u64 },
    /// To the Secretariat, from an active State: its participants in the
    /// meeting a notice announced. Answered with `MeetingRegistered`.
    RegisterForMeeting(Box<crate::meeting::SignedMeetingRegistration>),
    /// To the Secretariat, from a listed node that holds no directory version
    /// yet (a State just admitted): the current version with, before it, the
    /// versions since the first that hand the Secretariat's key over to
    /// another, so that the node checks the current one at once under the key
    /// it pinned, not every version since the first. Answered with
    /// `Directory`; the node fetches later versions with `FetchDirectory`.
    FetchSnapshot,
}

/// Most publications sent in one answer; a node further behind asks again.
pub const MAX_PUBLICATIONS_PER_FETCH: usize = 32;

/// A tree head offered to a witness (see `NetRequest::WitnessTree`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeWitness {
    pub head: crate::audit::SignedTreeHead,
    /// The consistency proof from the tree of `from` entries to the head's
    /// (at most `merkle::MAX_PROOF` hashes).
    pub proof: Option<ConsistencyProof>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub from: u64,
    pub hashes: Vec<crate::Bytes32>,
}

/// Most message ids one `Reconcile` lists.
pub const MAX_INVENTORY: usize = 20_000;

/// Most envelopes one `Reconcile` gives back.
pub const MAX_RETURNED: usize = 64;

/// The messages a node holds of the exchanges it shares with one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub exchanges: Vec<(crate::ids::ExchangeId, Vec<crate::ids::MessageId>)>,
    /// Envelopes the peer sent this node and no longer holds (it said so in
    /// an earlier `Reconciled`, having been restored from an older backup):
    /// given back as they were received, for the peer to open with its own
    /// key share. Oldest first.
    pub returned: Vec<Envelope>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetResponse {
    Registration(RegistrationStatus),
    Directory(Vec<SignedDirectoryVersion>),
    Receipt(SignedReceipt),
    Refused(Refusal),
    /// Taken note of (an announcement).
    Acknowledged,
    Contacts(ContactsStatus),
    /// A checkpoint was kept; here is the answering node's own latest.
    Witnessed(Option<Box<crate::audit::SignedCheckpoint>>),
    /// The ids listed by `Reconcile` that this node does not hold: the
    /// sender delivers again those it sent.
    /// (This node, for its part, queues again what it sent that the list lacks.)
    Reconciled {
        missing: Vec<crate::ids::MessageId>,
    },
    /// One sealed chunk of an attachment (`attachment::seal_chunk`).
    Chunk(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The number of entries of the sender's log that the tree head this
    /// node now holds covers: the offered head's when it was kept; an older
    /// one's when a proof from it is needed (the sender offers the head again
    /// with that proof), or when the head does not extend it (a conflict,
    /// recorded).
    TreeWitnessed {
        held: u64,
    },
    /// The Secretariat registered the report (`SubmitCspReport`): its signed
    /// registration. A report already registered is answered with the same.
    CspReportRegistered(Box<crate::report::SignedReportRegistration>),
    /// Where a submitted report stands.
    Report(ReportStatus),
    /// Publications after the one asked, in order; the content of those
    /// whose audience leaves out the asker is absent.
    Publications(Vec<crate::publication::SignedPublication>),
    /// The registration is kept (in place of any earlier one of the State
    /// for this meeting): `participants` are registered.
    MeetingRegistered {
        notice: u64,
        participants: u64,
    },
}

/// Where a State's report of measures stands with the Secretariat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportStatus {
    /// Kept; waiting for the Secretariat's review.
    Pending,
    /// Circulated as publication `seq`.
    Circulated { seq: u64 },
    /// Refused by the Secretariat's operator, for this reason.
    Refused { reason: String },
}

/// Where a State's submission of points of contact stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactsStatus {
    /// Waiting for the Secretariat's review.
    Pending,
    /// Carried by this directory version.
    Accepted { version: u64 },
    /// Refused by the Secretariat's operator, for this reason.
    Rejected { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistrationStatus {
    /// Received; waiting for the Secretariat operator to check the fingerprint
    /// and approve.
    Pending,
    /// Listed, active, in this directory version.
    Admitted { version: u64 },
    /// The Secretariat's operator refused this registration, for this reason.
    /// A registration with another key starts over.
    Rejected { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: RefusalCode,
    pub detail: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.detail)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RefusalCode {
    /// The peer is not listed as an active node in the directory.
    NotInDirectory,
    /// The request does not apply to this node's role.
    WrongRole,
    /// The bytes do not decode as a veim request.
    Malformed,
    UnsupportedVersion,
    /// The envelope's sender is not the peer that delivered it, or is not active.
    SenderMismatch,
    BadSignature,
    NotARecipient,
    /// The content key or the body does not decrypt.
    Undecryptable,
    /// The body decrypts but breaks the template's rules.
    InvalidBody,
    OutsideWindow,
    /// The message id was seen before.
    Replay,
    /// The registration is not signed by the key it names, or conflicts with
    /// another State's.
    BadRegistration,
    /// The node could not store the message; try again later.
    StorageFailure,
    /// The node is handling as many requests as it can; try again later.
    Busy,
    /// A report to the CSP, or an approval of or comment on one, that does
    /// not verify or does not fit what the node holds; the detail names why.
    BadReport,
}

/// The refusal a node sends for each reason it refuses an envelope.
impl From<&EnvelopeError> for RefusalCode {
    fn from(e: &EnvelopeError) -> RefusalCode {
        match e {
            EnvelopeError::UnsupportedVersion(_) => RefusalCode::UnsupportedVersion,
            EnvelopeError::BadSignature => RefusalCode::BadSignature,
            EnvelopeError::NotARecipient { .. } => RefusalCode::NotARecipient,
            EnvelopeError::KeyUnwrap(_) | EnvelopeError::KeyCommitment(_) | EnvelopeError::BodyDecrypt => {
                RefusalCode::Undecryptable
            }
            EnvelopeError::ForeignMessageId { .. } => RefusalCode::SenderMismatch,
            EnvelopeError::Body(_) | EnvelopeError::KindMismatch { .. } => RefusalCode::InvalidBody,
            EnvelopeError::OutsideWindow { .. } => RefusalCode::OutsideWindow,
            _ => RefusalCode::Malformed,
        }
    }
}
