//! The audit log: an append-only, hash-chained record of every
//! security-relevant event of a node, signed at checkpoints and witnessed by
//! the other nodes.
//!
//! An entry holds when, who, what and the ids and hashes of the objects
//! concerned, never confidential content. Entry `n` carries the hash of entry
//! `n-1`, so a changed, removed or reordered entry breaks the chain after
//! it. The node signs checkpoints (the number of entries and the hash of the
//! last one) and sends them to its peers, which keep the latest they have
//! seen: a node whose operator rewrites or truncates its own log (and
//! re-signs the result with the node's key) is caught by any peer's
//! checkpoint, which no longer matches.

use crate::body::MessageKind;
use crate::codec::{self, CodecError};
use crate::fixed::Bytes32;
use crate::ids::{ExchangeId, MessageId};
use crate::keys::{IdentityKeypair, KeyError, PublicIdentity, domain, hash};
use crate::state::StateCode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `format` of an audit export's first line.
pub const EXPORT_FORMAT: &str = "veim-audit/1";

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    /// The node itself (start, stop, directory sync, retention).
    Node,
    /// The operator, through the admin API.
    Operator,
    /// Another node, by the State it speaks for (or the Secretariat, `None`).
    Peer(Option<StateCode>),
    /// Someone not in the directory.
    Stranger,
    /// An official, by the account that acted at this node (through the
    /// admin API, the console or the CLI).
    Official(AccountName),
}

/// The name of an official's account at a node: 1 to
/// [`AccountName::MAX_LEN`] characters among lower-case ASCII letters,
/// digits, `.`, `-` and `_`, the first a letter. Encoded as a string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountName {
    len: u8,
    bytes: [u8; AccountName::MAX_LEN],
}

impl AccountName {
    pub const MAX_LEN: usize = 32;

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked by `parse`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// The name, or why it is not one.
    pub fn parse(s: &str) -> Result<AccountName, String> {
        let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'_');
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(format!("{s:?} is not an account name: 1 to {} characters", Self::MAX_LEN));
        }
        if !s.as_bytes()[0].is_ascii_lowercase() || !s.bytes().all(ok) {
            return Err(format!(
                "{s:?} is not an account name: lower-case letters, digits, '.', '-' and '_', beginning with a letter"
            ));
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(AccountName { len: s.len() as u8, bytes })
    }
}

impl std::str::FromStr for AccountName {
    type Err = String;
    fn from_str(s: &str) -> Result<AccountName, String> {
        AccountName::parse(s)
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Serialize for AccountName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AccountName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<AccountName, D::Error> {
        let s = String::deserialize(deserializer)?;
        AccountName::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Node => f.write_str("node"),
            Actor::Operator => f.write_str("operator"),
            Actor::Peer(Some(s)) => write!(f, "peer {s}"),
            Actor::Peer(None) => f.write_str("the Secretariat"),
            Actor::Stranger => f.write_str("stranger"),
            Actor::Official(name) => write!(f, "official {name}"),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    NodeStarted,
    NodeStopped,
    ConfigurationChanged,
    KeysInUse,
    KeysRotated,
    MessageSent,
    MessageReceived,
    ReceiptSent,
    ReceiptReceived,
    DeliveryFailed,
    RequestRefused,
    ContentShown,
    ConsentAsked,
    ConsentGranted,
    ConsentRefused,
    ConsentRevoked,
    DisclosureExported,
    DirectoryAccepted,
    DirectoryRefused,
    DirectoryPublished,
    AdminCall,
    AdminAuthFailed,
    Purged,
    CheckpointWitnessed,
    WitnessConflict,
    Restored,
    RestoreWitnessed,
    ExchangeOverdue,
    MailSent,
    MailFailed,
    CspReportDrafted,
    CspReportReceived,
    CspReportApproved,
    CspReportCommented,
    CspReportSubmitted,
    CspReportRegistered,
    ReportSubmitted,
    ReportRefused,
    PublicationPublished,
    PublicationAccepted,
    MeetingRegistered,
    PublicationRefused,
    MeetingInvited,
    AccountCreated,
    AccountChanged,
    DisclosureAsked,
    DisclosureRequestRefused,
    /// An official logged in to the web console: a session opened.
    ConsoleLogin,
    /// An official logged out of the web console.
    ConsoleLogout,
}

impl Action {
    pub const ALL: [Action; 49] = [
        Action::NodeStarted,
        Action::NodeStopped,
        Action::ConfigurationChanged,
        Action::KeysInUse,
        Action::KeysRotated,
        Action::MessageSent,
        Action::MessageReceived,
        Action::ReceiptSent,
        Action::ReceiptReceived,
        Action::DeliveryFailed,
        Action::RequestRefused,
        Action::ContentShown,
        Action::ConsentAsked,
        Action::ConsentGranted,
        Action::ConsentRefused,
        Action::ConsentRevoked,
        Action::DisclosureExported,
        Action::DirectoryAccepted,
        Action::DirectoryRefused,
        Action::DirectoryPublished,
        Action::AdminCall,
        Action::AdminAuthFailed,
        Action::Purged,
        Action::CheckpointWitnessed,
        Action::WitnessConflict,
        Action::Restored,
        Action::RestoreWitnessed,
        Action::ExchangeOverdue,
        Action::MailSent,
        Action::MailFailed,
        Action::CspReportDrafted,
        Action::CspReportReceived,
        Action::CspReportApproved,
        Action::CspReportCommented,
        Action::CspReportSubmitted,
        Action::CspReportRegistered,
        Action::ReportSubmitted,
        Action::ReportRefused,
        Action::PublicationPublished,
        Action::PublicationAccepted,
        Action::MeetingRegistered,
        Action::PublicationRefused,
        Action::MeetingInvited,
        Action::AccountCreated,
        Action::AccountChanged,
        Action::DisclosureAsked,
        Action::DisclosureRequestRefused,
        Action::ConsoleLogin,
        Action::ConsoleLogout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::NodeStarted => "node-started",
            Action::NodeStopped => "node-stopped",
            Action::ConfigurationChanged => "configuration-changed",
            Action::KeysInUse => "keys-in-use",
            Action::KeysRotated => "keys-rotated",
            Action::MessageSent => "message-sent",
            Action::MessageReceived => "message-received",
            Action::ReceiptSent => "receipt-sent",
            Action::ReceiptReceived => "receipt-received",
            Action::DeliveryFailed => "delivery-failed",
            Action::RequestRefused => "request-refused",
            Action::ContentShown => "content-shown",
            Action::ConsentAsked => "consent-asked",
            Action::ConsentGranted => "consent-granted",
            Action::ConsentRefused => "consent-refused",
            Action::ConsentRevoked => "consent-revoked",
            Action::DisclosureExported => "disclosure-exported",
            Action::DirectoryAccepted => "directory-accepted",
            Action::DirectoryRefused => "directory-refused",
            Action::DirectoryPublished => "directory-published",
            Action::AdminCall => "admin-call",
            Action::AdminAuthFailed => "admin-auth-failed",
            Action::Purged => "purged",
            Action::CheckpointWitnessed => "checkpoint-witnessed",
            Action::WitnessConflict => "witness-conflict",
            Action::Restored => "restored",
            Action::RestoreWitnessed => "restore-witnessed",
            Action::ExchangeOverdue => "exchange-overdue",
            Action::MailSent => "mail-sent",
            Action::MailFailed => "mail-failed",
            Action::CspReportDrafted => "csp-report-drafted",
            Action::CspReportReceived => "csp-report-received",
            Action::CspReportApproved => "csp-report-approved",
            Action::CspReportCommented => "csp-report-commented",
            Action::CspReportSubmitted => "csp-report-submitted",
            Action::CspReportRegistered => "csp-report-registered",
            Action::ReportSubmitted => "report-submitted",
            Action::ReportRefused => "report-refused",
            Action::PublicationPublished => "publication-published",
            Action::PublicationAccepted => "publication-accepted",
            Action::MeetingRegistered => "meeting-registered",
            Action::PublicationRefused => "publication-refused",
            Action::MeetingInvited => "meeting-invited",
            Action::AccountCreated => "account-created",
            Action::AccountChanged => "account-changed",
            Action::DisclosureAsked => "disclosure-asked",
            Action::DisclosureRequestRefused => "disclosure-request-refused",
            Action::ConsoleLogin => "console-login",
            Action::ConsoleLogout => "console-logout",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        Action::ALL.into_iter().find(|a| a.as_str() == s.trim()).ok_or_else(|| {
            let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            format!("{s:?} is not an audit action; use one of {}", names.join(", "))
        })
    }
}

/// An event as the node records it, before it takes its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: i64,
    pub actor: Actor,
    pub action: Action,
    /// The counterpart State, if there is one.
    pub state: Option<StateCode>,
    pub exchange: Option<ExchangeId>,
    pub message: Option<MessageId>,
    pub kind: Option<MessageKind>,
    /// Another object's id (a consent, a disclosure, a directory version, a
    /// key fingerprint, an API path).
    pub object: Option<String>,
    /// A hash of the object (an envelope, a package, a directory version).
    pub hash: Option<Bytes32>,
    /// A reason or a count; never content.
    pub detail: String,
}

impl Event {
    pub fn new(at: i64, actor: Actor, action: Action) -> Event {
        Event {
            at,
            actor,
            action,
            state: None,
            exchange: None,
            message: None,
            kind: None,
            object: None,
            hash: None,
            detail: String::new(),
        }
    }
}

/// How a log's node is named to people: its State code, or the Secretariat.
pub fn node_name(node: Option<StateCode>) -> String {
    node.map(|s| s.to_string()).unwrap_or_else(|| "the Secretariat".into())
}

/// One entry of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// Hash of entry `seq - 1` (zeros for the first).
    pub previous: Bytes32,
    pub event: Event,
}

impl Entry {
    /// `SHA-256("veim/1 audit entry" || 0x00 || encode(entry))`.
    pub fn hash(&self) -> Result<Bytes32, CodecError> {
        Ok(Bytes32(hash(domain::AUDIT_ENTRY, &codec::encode("audit entry", self)?)))
    }
}

/// The head of a node's log at a moment, as the node signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The State whose node keeps the log (`None`: the Secretariat's).
    pub node: Option<StateCode>,
    pub identity_key: PublicIdentity,
    /// Number of entries covered: entries `0..count`.
    pub count: u64,
    /// Hash of entry `count - 1`.
    pub head: Bytes32,
    pub at: i64,
    /// The latest restore of the log from a backup, if any (see
    /// [`RestoreMark`]).
    pub restore: Option<RestoreMark>,
}

/// Where a node's log was restored from a backup: the position and hash of
/// the `restored` entry it wrote first after the restore. Every checkpoint
/// and tree head signed after it carries it, so that a witness holding more
/// of the log than the backup did sees a declared restore, once (a new
/// mark), and not a log cut; a log that goes back without a new mark is
/// still a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreMark {
    /// The position of the `restored` entry.
    pub entry: u64,
    /// Its entry hash.
    pub hash: Bytes32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// Ed25519 over `"veim/1 audit checkpoint" || 0x00 || encode(checkpoint)`.
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

impl Checkpoint {
    /// The bytes the signature covers: the encoding of the checkpoint, less
    /// the `restore` field when it is none (so a checkpoint signed before
    /// restore marks existed still verifies).
    pub fn signed_bytes(&self) -> Result<Vec<u8>, CodecError> {
        match &self.restore {
            None => {
                codec::encode("audit checkpoint", &(&self.node, &self.identity_key, self.count, &self.head, self.at))
            }
            Some(_) => codec::encode("audit checkpoint", self),
        }
    }
}

impl SignedCheckpoint {
    pub fn sign(checkpoint: Checkpoint, key: &IdentityKeypair) -> Result<SignedCheckpoint, CodecError> {
        let bytes = checkpoint.signed_bytes()?;
        Ok(SignedCheckpoint { signature: key.sign(domain::AUDIT_CHECKPOINT, &bytes), checkpoint })
    }

    /// Checks the signature under the key the checkpoint names.
    pub fn verify(&self) -> Result<(), KeyError> {
        let key = &self.checkpoint.identity_key;
        let bytes = self.checkpoint.signed_bytes().map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::AUDIT_CHECKPOINT, &bytes, &self.signature)
    }
}

/// The root of the Merkle tree (RFC 9162, see [`crate::merkle`]) of a node's
/// log at a moment, as the node signs it. Beside the checkpoint's head (the
/// last entry's hash), it lets a node that holds an older tree head of the
/// log check that a newer one extends it, from a proof of a few hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    /// The State whose node keeps the log (`None`: the Secretariat's).
    pub node: Option<StateCode>,
    pub identity_key: PublicIdentity,
    /// Number of entries covered: entries `0..count`.
    pub count: u64,
    /// The tree's root over the hashes of entries `0..count`.
    pub root: Bytes32,
    pub at: i64,
    /// As the checkpoint's.
    pub restore: Option<RestoreMark>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    pub head: TreeHead,
    /// Ed25519 over `"veim/1 audit tree head" || 0x00 || encode(head)`.
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

impl TreeHead {
    /// The bytes the signature covers, as for [`Checkpoint::signed_bytes`].
    pub fn signed_bytes(&self) -> Result<Vec<u8>, CodecError> {
        match &self.restore {
            None => {
                codec::encode("audit tree head", &(&self.node, &self.identity_key, self.count, &self.root, self.at))
            }
            Some(_) => codec::encode("audit tree head", self),
        }
    }
}

impl SignedTreeHead {
    pub fn sign(head: TreeHead, key: &IdentityKeypair) -> Result<SignedTreeHead, CodecError> {
        let bytes = head.signed_bytes()?;
        Ok(SignedTreeHead { signature: key.sign(domain::AUDIT_TREE_HEAD, &bytes), head })
    }

    /// Checks the signature under the key the tree head names.
    pub fn verify(&self) -> Result<(), KeyError> {
        let key = &self.head.identity_key;
        let bytes = self.head.signed_bytes().map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::AUDIT_TREE_HEAD, &bytes, &self.signature)
    }
}

/// One line of an audit export, or of a node's audit files (JSON Lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportLine {
    /// The first line of an export.
    Header {
        format: String,
        node: Option<StateCode>,
        entries: u64,
        exported_at: i64,
    },
    Entry(Entry),
    /// A checkpoint of the node whose log this is.
    Checkpoint(SignedCheckpoint),
    /// A checkpoint of another node's log, held by this node.
    Witnessed(SignedCheckpoint),
    /// A tree head of the node whose log this is.
    TreeHead(SignedTreeHead),
    /// A tree head of another node's log, held by this node.
    WitnessedTreeHead(SignedTreeHead),
}

/// Why a log does not verify: the first position that fails, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("entry at position {position} has sequence number {found}: entries before it were removed or reordered")]
    Sequence { position: u64, found: u64 },
    #[error(
        "entry {position} does not name the hash of the entry before it (zeros for entry 0): the entry before it was altered, or entries were removed or reordered"
    )]
    Broken { position: u64 },
    #[error("entry {position} cannot be encoded: {reason}")]
    Encoding { position: u64, reason: String },
    #[error(
        "checkpoint {position} ({count} entries) has a bad signature: it was altered or not made by this node's key"
    )]
    CheckpointSignature { position: usize, count: u64 },
    #[error("the checkpoint held by {holder} covers {count} entries, but the log has only {have}: entries {have} to {} were removed", count - 1)]
    Truncated { holder: String, count: u64, have: u64 },
    #[error("the checkpoint held by {holder} at {count} entries names another last entry than entry {} of this log: the log was rewritten at or before entry {}", count - 1, count - 1)]
    Rewritten { holder: String, count: u64 },
    #[error("a checkpoint held as {holder} is for another node ({found}), not this log's ({expected})")]
    OtherNode { holder: String, found: String, expected: String },
    #[error(
        "the tree head held by {holder} at {count} entries has a bad signature: it was altered or not made by this node's key"
    )]
    TreeHeadSignature { holder: String, count: u64 },
    #[error("the tree head held by {holder} covers {count} entries, but the log has only {have}: entries {have} to {} were removed", count - 1)]
    TreeTruncated { holder: String, count: u64, have: u64 },
    #[error(
        "the tree head held by {holder} at {count} entries is not the Merkle root of this log's first {count} entries: the log was rewritten before entry {count}"
    )]
    TreeRewritten { holder: String, count: u64 },
}

/// What a verified log establishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogReport {
    pub entries: u64,
    pub head: Option<Bytes32>,
    /// Checkpoints checked against the log, own and witnessed.
    pub checkpoints: usize,
    /// The newest checkpoint count any of them covers.
    pub covered: u64,
    /// Identity key fingerprints the checkpoints were signed with.
    pub keys: Vec<String>,
    /// Tree heads checked against the log (Merkle roots), own and witnessed.
    #[serde(default)]
    pub tree_heads: usize,
}

/// Checks the chain: sequence numbers from 0, each entry naming the hash of
/// the one before. Returns the hash of each entry, in order.
pub fn verify_chain(entries: &[Entry]) -> Result<Vec<Bytes32>, AuditError> {
    let mut hashes = Vec::with_capacity(entries.len());
    let mut previous = Bytes32([0; 32]);
    for (i, e) in entries.iter().enumerate() {
        let position = i as u64;
        if e.seq != position {
            return Err(AuditError::Sequence { position, found: e.seq });
        }
        if e.previous != previous {
            return Err(AuditError::Broken { position });
        }
        previous = e.hash().map_err(|err| AuditError::Encoding { position, reason: err.to_string() })?;
        hashes.push(previous);
    }
    Ok(hashes)
}

/// Checks a checkpoint (signature, then the head it names) against the
/// chain's hashes. `source` says whose record it is, for the error.
pub fn check_checkpoint(
    hashes: &[Bytes32],
    checkpoint: &SignedCheckpoint,
    position: usize,
    source: &str,
) -> Result<(), AuditError> {
    let c = &checkpoint.checkpoint;
    checkpoint.verify().map_err(|_| AuditError::CheckpointSignature { position, count: c.count })?;
    if c.count == 0 {
        return Ok(());
    }
    let have = hashes.len() as u64;
    if c.count > have {
        return Err(AuditError::Truncated { holder: source.into(), count: c.count, have });
    }
    if hashes[(c.count - 1) as usize] != c.head {
        return Err(AuditError::Rewritten { holder: source.into(), count: c.count });
    }
    Ok(())
}

/// Verifies a log: the chain, then the node's own checkpoints, then the
/// checkpoints of this node that peers hold (`witnessed`, each with the name
/// of who held it).
pub fn verify_log(
    entries: &[Entry],
    own: &[SignedCheckpoint],
    witnessed: &[(String, SignedCheckpoint)],
) -> Result<LogReport, AuditError> {
    verify_log_with_trees(entries, own, witnessed, &[])
}

/// As [`verify_log`], and also checks tree heads of this log (each with whose
/// record it is: this node's own, or held by a peer): the signature, then
/// that its root is the Merkle root of the entries it covers.
pub fn verify_log_with_trees(
    entries: &[Entry],
    own: &[SignedCheckpoint],
    witnessed: &[(String, SignedCheckpoint)],
    trees: &[(String, SignedTreeHead)],
) -> Result<LogReport, AuditError> {
    let hashes = verify_chain(entries)?;
    let mut keys: Vec<String> = Vec::new();
    let mut covered = 0;
    // Whose log this is: as its own checkpoints say, else as the first
    // witnessed one does; every checkpoint must name that node.
    let node = own
        .first()
        .or(witnessed.first().map(|(_, c)| c))
        .map(|c| c.checkpoint.node)
        .or(trees.first().map(|(_, t)| t.head.node));
    for (i, c) in own.iter().enumerate() {
        if let Some(node) = node
            && c.checkpoint.node != node
        {
            return Err(AuditError::OtherNode {
                holder: "this node".into(),
                found: node_name(c.checkpoint.node),
                expected: node_name(node),
            });
        }
        check_checkpoint(&hashes, c, i, "this node")?;
        covered = covered.max(c.checkpoint.count);
        let fp = c.checkpoint.identity_key.fingerprint();
        if !keys.contains(&fp) {
            keys.push(fp);
        }
    }
    for (i, (source, c)) in witnessed.iter().enumerate() {
        if let Some(node) = node
            && c.checkpoint.node != node
        {
            return Err(AuditError::OtherNode {
                holder: source.clone(),
                found: node_name(c.checkpoint.node),
                expected: node_name(node),
            });
        }
        check_checkpoint(&hashes, c, own.len() + i, source)?;
        covered = covered.max(c.checkpoint.count);
    }
    let tree =
        if trees.is_empty() { crate::merkle::Tree::default() } else { crate::merkle::Tree::from_entries(&hashes) };
    let have = hashes.len() as u64;
    for (source, t) in trees {
        let h = &t.head;
        if let Some(node) = node
            && h.node != node
        {
            return Err(AuditError::OtherNode {
                holder: source.clone(),
                found: node_name(h.node),
                expected: node_name(node),
            });
        }
        t.verify().map_err(|_| AuditError::TreeHeadSignature { holder: source.clone(), count: h.count })?;
        if h.count > have {
            return Err(AuditError::TreeTruncated { holder: source.clone(), count: h.count, have });
        }
        if tree.root(h.count) != Some(h.root) {
            return Err(AuditError::TreeRewritten { holder: source.clone(), count: h.count });
        }
        covered = covered.max(h.count);
    }
    Ok(LogReport {
        entries: entries.len() as u64,
        head: hashes.last().copied(),
        checkpoints: own.len() + witnessed.len(),
        covered,
        keys,
        tree_heads: trees.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        let mut previous = Bytes32([0; 32]);
        for seq in 0..n {
            let mut event = Event::new(1_700_000_000 + seq as i64, Actor::Node, Action::MessageSent);
            event.detail = format!("event {seq}");
            let e = Entry { seq, previous, event };
            previous = e.hash().expect("hash");
            out.push(e);
        }
        out
    }

    fn checkpoint(entries: &[Entry], key: &IdentityKeypair) -> SignedCheckpoint {
        let head = entries.last().map(|e| e.hash().expect("hash")).unwrap_or(Bytes32([0; 32]));
        let c = Checkpoint {
            node: Some("MEX".parse().expect("state")),
            identity_key: key.public(),
            count: entries.len() as u64,
            head,
            at: 0,
            restore: None,
        };
        SignedCheckpoint::sign(c, key).expect("sign")
    }

    #[test]
    fn an_untouched_log_verifies() {
        let key = IdentityKeypair::from_secret_bytes(&[1; 32]);
        let entries = log(10);
        let own = [checkpoint(&entries[..5], &key), checkpoint(&entries, &key)];
        let report = verify_log(&entries, &own, &[]).expect("verifies");
        assert_eq!((report.entries, report.covered, report.checkpoints), (10, 10, 2));
    }

    #[test]
    fn each_tampering_is_found_at_its_position() {
        let key = IdentityKeypair::from_secret_bytes(&[1; 32]);
        let entries = log(10);
        let mut changed = entries.clone();
        changed[4].event.detail = "something else".into();
        assert_eq!(verify_chain(&changed), Err(AuditError::Broken { position: 5 }));
        let mut removed = entries.clone();
        removed.remove(4);
        assert_eq!(verify_chain(&removed), Err(AuditError::Sequence { position: 4, found: 5 }));
        let mut swapped = entries.clone();
        swapped.swap(3, 4);
        assert_eq!(verify_chain(&swapped), Err(AuditError::Sequence { position: 3, found: 4 }));
        // Truncated: invisible to the chain, caught by a peer's checkpoint.
        let held = checkpoint(&entries, &key);
        assert!(verify_chain(&entries[..7]).is_ok());
        let err = verify_log(&entries[..7], &[], &[("SWE".into(), held.clone())]).expect_err("truncated");
        assert_eq!(err, AuditError::Truncated { holder: "SWE".into(), count: 10, have: 7 });
        // Rewritten from entry 6 and re-chained: caught the same way.
        let mut rewritten = entries[..6].to_vec();
        let mut previous = rewritten[5].hash().expect("hash");
        for seq in 6..10 {
            let e = Entry { seq, previous, event: Event::new(0, Actor::Node, Action::NodeStarted) };
            previous = e.hash().expect("hash");
            rewritten.push(e);
        }
        assert!(verify_chain(&rewritten).is_ok());
        let err = verify_log(&rewritten, &[], &[("SWE".into(), held.clone())]).expect_err("rewritten");
        assert_eq!(err, AuditError::Rewritten { holder: "SWE".into(), count: 10 });
        // A first entry that does not start the chain: named, and printable.
        let mut first = entries.clone();
        first[0].previous = Bytes32([1; 32]);
        let err = verify_chain(&first).expect_err("not a start");
        assert_eq!(err, AuditError::Broken { position: 0 });
        assert!(err.to_string().contains("entry 0"));
        // Checkpoints of two different nodes' logs, with no own checkpoint.
        let mut other = checkpoint(&entries, &key);
        other.checkpoint.node = Some("SWE".parse().expect("state"));
        let witnessed = [("DEU".to_string(), checkpoint(&entries, &key)), ("FRA".to_string(), other)];
        assert!(matches!(verify_log(&entries, &[], &witnessed), Err(AuditError::OtherNode { .. })));
        // A checkpoint with a bad signature.
        let mut bad = held;
        bad.signature[0] ^= 1;
        assert_eq!(verify_log(&entries, &[bad], &[]), Err(AuditError::CheckpointSignature { position: 0, count: 10 }));
    }
}
