//! The disclosure package: what a State hands to an authority (a court, a
//! prosecutor, another State Party) once the originator has consented.
//!
//! A package holds exactly the consented items, in readable form, and the
//! proofs a verifier checks with no node and no network: the directory
//! version (signed by the Secretariat) that lists the originator's key; the
//! original envelopes (signed by the originator) the items came in; the
//! originator's signed statement binding each item, through a salted
//! commitment, to that envelope's message; and the originator's signed
//! consent. Items the originator did not consent to stay out: their
//! commitments reveal nothing of them.

use crate::codec::{self, MAX_DIRECTORY, MAX_FRAME, MAX_RECORD};
use crate::consent::{Authority, Decision, ItemRef, SignedConsent};
use crate::directory::SignedDirectoryVersion;
use crate::envelope::Envelope;
use crate::fixed::Bytes32;
use crate::handling::Handling;
use crate::ids::{DisclosureId, ExchangeId, MessageId};
use crate::keys::{PublicIdentity, domain};
use crate::response::{InformationItem, SignedItemStatement, commitment};
use crate::state::StateCode;
use serde::{Deserialize, Serialize};

/// The `format` field of every package this version writes.
pub const FORMAT: &str = "veim-disclosure/1";

/// The largest package file a verifier reads (the items are text; the
/// proofs are envelopes).
pub const MAX_PACKAGE: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub format: String,
    pub disclosure_id: DisclosureId,
    /// Unix seconds, the discloser's clock.
    pub created_at: i64,
    /// The State that discloses (a recipient of the items).
    pub discloser: StateCode,
    /// The State the items came from, which consented.
    pub originator: StateCode,
    pub exchange_id: ExchangeId,
    pub authority: Authority,
    pub purpose: String,
    pub case_reference: String,
    /// The messages the items come from, with the restrictions the
    /// originator set on them.
    pub messages: Vec<DisclosedMessage>,
    pub items: Vec<DisclosedItem>,
    /// The consent relied on; none only when the originator waived consent
    /// for this kind of authority on every item.
    pub consent: Option<ConsentSummary>,
    pub proofs: Proofs,
    /// The discloser's Ed25519 signature (hex) over `"veim/1 disclosure
    /// package" || 0x00 || encode(package with this field empty)`: who made
    /// the package, for whom, when and why cannot be changed afterwards.
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosedMessage {
    pub message_id: MessageId,
    pub sent_at: i64,
    pub handling: Handling,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosedItem {
    pub item_ref: ItemRef,
    pub item: InformationItem,
    pub salt: Bytes32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSummary {
    pub consent_request: MessageId,
    pub decided_at: i64,
    pub conditions: Vec<String>,
    pub expires_at: Option<i64>,
}

/// The signed objects, each as the hex of its exact encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proofs {
    /// The Secretariat key that signed `directory`; compare its fingerprint
    /// with the one the ATT Secretariat publishes.
    pub secretariat_key: String,
    pub directory: String,
    pub envelopes: Vec<String>,
    pub statements: Vec<String>,
    pub consent: Option<String>,
}

/// Why a package does not verify: each names the part that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    #[error("this is not a veim disclosure package of format {FORMAT} (it says {0:?})")]
    Format(String),
    #[error("the package's Secretariat key is not valid: {0}")]
    SecretariatKey(String),
    #[error("the package was made with Secretariat key {found}, not the key {expected} you gave")]
    SecretariatKeyMismatch { found: String, expected: String },
    #[error("the directory proof is not valid: {0}")]
    Directory(String),
    #[error("the directory version {version} does not list {state}")]
    NotListed { version: u64, state: StateCode },
    #[error("the envelope of message {position} is damaged or altered: {reason}")]
    Envelope { position: usize, reason: String },
    #[error("the item statement {position} is damaged or altered: {reason}")]
    Statement { position: usize, reason: String },
    #[error("message {0}: its envelope and its item statement do not describe the same message")]
    StatementMismatch(MessageId),
    #[error("message {0} is named by an item but no statement for it is in the package")]
    MissingStatement(MessageId),
    #[error("message {0} has a statement but no envelope, or an envelope but no statement")]
    Unpaired(MessageId),
    #[error("{discloser} is not a recipient of message {message}: it cannot disclose it")]
    NotARecipient { discloser: StateCode, message: MessageId },
    #[error(
        "message {message} was sent by {sender} in exchange {exchange}, not by {originator} in exchange {expected}"
    )]
    WrongOrigin {
        message: MessageId,
        sender: StateCode,
        originator: StateCode,
        exchange: ExchangeId,
        expected: ExchangeId,
    },
    #[error("the handling restrictions shown for message {0} are not the ones its originator signed")]
    HandlingAltered(MessageId),
    #[error("item {position} ({item_ref}) was altered: it does not match what {originator} signed")]
    ItemAltered { position: usize, item_ref: ItemRef, originator: StateCode },
    #[error("item {position} names {item_ref}, but that message has only {count} items")]
    NoSuchItem { position: usize, item_ref: ItemRef, count: usize },
    #[error("the use of message {message} expired on {until}, before the disclosure")]
    UseExpired { message: MessageId, until: String },
    #[error("the package holds no consent, and {originator} requires consent for {kind} on item {item_ref}")]
    NoConsent { originator: StateCode, kind: crate::consent::AuthorityKind, item_ref: ItemRef },
    #[error("the consent is damaged or altered: {0}")]
    ConsentDamaged(String),
    #[error("the consent is not signed by the originator {0}")]
    ConsentNotSigned(StateCode),
    #[error("the consent does not match the package: {0}")]
    ConsentMismatch(String),
    #[error("the consent does not cover item {0}")]
    ConsentDoesNotCover(ItemRef),
    #[error("the consent had expired when the package was made")]
    ConsentExpired,
    #[error("the package is dated before the consent it relies on was given")]
    BeforeConsent,
    #[error("the package is not signed by the discloser {0}: who made it, for whom, when or why was changed")]
    NotSignedByDiscloser(StateCode),
    #[error("message {0} appears more than once in the package")]
    Duplicate(MessageId),
    #[error("message {0} is in the package but none of its items is")]
    NoItemOf(MessageId),
    #[error("the package discloses no item")]
    Empty,
    #[error("item {0} appears more than once in the package")]
    DuplicateItem(ItemRef),
}

/// What a verified package establishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub disclosure_id: DisclosureId,
    pub originator: StateCode,
    pub originator_fingerprint: String,
    pub discloser: StateCode,
    pub authority: Authority,
    pub items: usize,
    pub messages: usize,
    pub directory_version: u64,
    pub secretariat_fingerprint: String,
    /// Whether the Secretariat key was pinned by the verifier; if not, the
    /// package only proves itself against the key it carries.
    pub anchored: bool,
    pub consent: Option<MessageId>,
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    hex::decode(text.trim()).map_err(|_| "not hexadecimal".to_string())
}

impl Package {
    /// The bytes the discloser signs.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, codec::CodecError> {
        let mut unsigned = self.clone();
        unsigned.signature.clear();
        codec::encode("disclosure package", &unsigned)
    }

    /// Signs the package as its discloser.
    pub fn sign(&mut self, key: &crate::keys::IdentityKeypair) -> Result<(), codec::CodecError> {
        self.signature = hex::encode(key.sign(domain::DISCLOSURE, &self.signed_bytes()?));
        Ok(())
    }

    fn check_signature(&self, key: &PublicIdentity) -> Result<(), PackageError> {
        let bad = || PackageError::NotSignedByDiscloser(self.discloser);
        let signature: [u8; 64] = unhex(&self.signature).ok().and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
        let bytes = self.signed_bytes().map_err(|_| bad())?;
        key.verify(domain::DISCLOSURE, &bytes, &signature).map_err(|_| bad())
    }

    /// Checks every proof and that the readable parts say what the signed
    /// parts say. `secretariat` pins the Secretariat key the verifier trusts;
    /// without it, the package's own key is used and its fingerprint is
    /// reported for the verifier to compare.
    pub fn verify(&self, secretariat: Option<&PublicIdentity>) -> Result<Verified, PackageError> {
        if self.format != FORMAT {
            return Err(PackageError::Format(self.format.clone()));
        }
        let p = &self.proofs;
        let sec_key =
            PublicIdentity::from_hex(&p.secretariat_key).map_err(|e| PackageError::SecretariatKey(e.to_string()))?;
        if let Some(expected) = secretariat
            && *expected != sec_key
        {
            return Err(PackageError::SecretariatKeyMismatch {
                found: sec_key.fingerprint(),
                expected: expected.fingerprint(),
            });
        }
        let directory: SignedDirectoryVersion = unhex(&p.directory)
            .and_then(|b| codec::decode::<_, MAX_DIRECTORY>("directory version", &b).map_err(|e| e.to_string()))
            .map_err(PackageError::Directory)?;
        directory.verify(&sec_key).map_err(|e| PackageError::Directory(e.to_string()))?;
        let version = directory.body.version;
        let key = directory
            .body
            .entry(self.originator)
            .map(|e| e.identity_key())
            .ok_or(PackageError::NotListed { version, state: self.originator })?;
        let discloser_key = directory
            .body
            .entry(self.discloser)
            .map(|e| e.identity_key())
            .ok_or(PackageError::NotListed { version, state: self.discloser })?;
        if self.items.is_empty() {
            return Err(PackageError::Empty);
        }

        let mut statements = Vec::new();
        for (position, text) in p.statements.iter().enumerate() {
            let s: SignedItemStatement = unhex(text)
                .and_then(|b| codec::decode::<_, MAX_RECORD>("item statement", &b).map_err(|e| e.to_string()))
                .map_err(|reason| PackageError::Statement { position, reason })?;
            s.verify(&key).map_err(|_| PackageError::Statement {
                position,
                reason: format!("its signature does not verify under {}'s key", self.originator),
            })?;
            statements.push(s.statement);
        }
        let mut envelopes = Vec::new();
        for (position, text) in p.envelopes.iter().enumerate() {
            let e: Envelope = unhex(text)
                .and_then(|b| codec::decode::<_, MAX_FRAME>("envelope", &b).map_err(|e| e.to_string()))
                .map_err(|reason| PackageError::Envelope { position, reason })?;
            e.verify(&key).map_err(|err| PackageError::Envelope { position, reason: err.to_string() })?;
            envelopes.push(e.header);
        }
        for (i, s) in statements.iter().enumerate() {
            if statements[..i].iter().any(|o| o.context.message_id == s.context.message_id) {
                return Err(PackageError::Duplicate(s.context.message_id));
            }
        }
        for (i, h) in envelopes.iter().enumerate() {
            if envelopes[..i].iter().any(|o| o.message_id == h.message_id) {
                return Err(PackageError::Duplicate(h.message_id));
            }
            if !statements.iter().any(|s| s.context.message_id == h.message_id) {
                return Err(PackageError::Unpaired(h.message_id));
            }
        }
        for (i, m) in self.messages.iter().enumerate() {
            if self.messages[..i].iter().any(|o| o.message_id == m.message_id) {
                return Err(PackageError::Duplicate(m.message_id));
            }
        }
        for s in &statements {
            let c = &s.context;
            let header =
                envelopes.iter().find(|h| h.message_id == c.message_id).ok_or(PackageError::Unpaired(c.message_id))?;
            if header.context() != *c {
                return Err(PackageError::StatementMismatch(c.message_id));
            }
            if c.sender != self.originator || c.exchange_id != self.exchange_id {
                return Err(PackageError::WrongOrigin {
                    message: c.message_id,
                    sender: c.sender,
                    originator: self.originator,
                    exchange: c.exchange_id,
                    expected: self.exchange_id,
                });
            }
            if !c.recipients.contains(&self.discloser) {
                return Err(PackageError::NotARecipient { discloser: self.discloser, message: c.message_id });
            }
            let shown = self.messages.iter().find(|m| m.message_id == c.message_id);
            if shown.is_none_or(|m| m.handling != s.handling || m.sent_at != c.created_at) {
                return Err(PackageError::HandlingAltered(c.message_id));
            }
            if s.handling.use_expired(self.created_at) {
                return Err(PackageError::UseExpired {
                    message: c.message_id,
                    until: s.handling.use_until.clone().unwrap_or_default(),
                });
            }
        }
        if self.messages.len() != statements.len() {
            let extra = self.messages.iter().find(|m| !statements.iter().any(|s| s.context.message_id == m.message_id));
            return Err(PackageError::MissingStatement(extra.map(|m| m.message_id).unwrap_or(MessageId([0; 16]))));
        }

        let mut needs_consent = Vec::new();
        for (position, d) in self.items.iter().enumerate() {
            let r = d.item_ref;
            if self.items[..position].iter().any(|o| o.item_ref == r) {
                return Err(PackageError::DuplicateItem(r));
            }
            let s = statements
                .iter()
                .find(|s| s.context.message_id == r.message_id)
                .ok_or(PackageError::MissingStatement(r.message_id))?;
            let expected = s.commitments.get(usize::from(r.index)).ok_or(PackageError::NoSuchItem {
                position,
                item_ref: r,
                count: s.commitments.len(),
            })?;
            let actual = commitment(&d.salt, &d.item).map_err(|_| PackageError::ItemAltered {
                position,
                item_ref: r,
                originator: self.originator,
            })?;
            if actual != *expected {
                return Err(PackageError::ItemAltered { position, item_ref: r, originator: self.originator });
            }
            if s.handling.needs_consent(&self.authority, self.discloser) {
                needs_consent.push(r);
            }
        }

        if let Some(s) =
            statements.iter().find(|s| !self.items.iter().any(|d| d.item_ref.message_id == s.context.message_id))
        {
            return Err(PackageError::NoItemOf(s.context.message_id));
        }
        let consent = match (&p.consent, &self.consent) {
            (None, None) => {
                if let Some(r) = needs_consent.first() {
                    return Err(PackageError::NoConsent {
                        originator: self.originator,
                        kind: self.authority.kind,
                        item_ref: *r,
                    });
                }
                None
            }
            (Some(text), Some(summary)) => {
                let c: SignedConsent = unhex(text)
                    .and_then(|b| codec::decode::<_, MAX_RECORD>("consent", &b).map_err(|e| e.to_string()))
                    .map_err(PackageError::ConsentDamaged)?;
                c.verify(&key).map_err(|_| PackageError::ConsentNotSigned(self.originator))?;
                self.check_consent(&c, summary, &needs_consent)?;
                Some(c.record.consent_request)
            }
            _ => {
                return Err(PackageError::ConsentMismatch(
                    "the readable consent and its proof do not go together".into(),
                ));
            }
        };
        // Last, so that an altered item, envelope or consent is named as such.
        self.check_signature(&discloser_key)?;
        Ok(Verified {
            disclosure_id: self.disclosure_id,
            originator: self.originator,
            originator_fingerprint: key.fingerprint(),
            discloser: self.discloser,
            authority: self.authority.clone(),
            items: self.items.len(),
            messages: statements.len(),
            directory_version: version,
            secretariat_fingerprint: sec_key.fingerprint(),
            anchored: secretariat.is_some(),
            consent,
        })
    }

    fn check_consent(
        &self,
        c: &SignedConsent,
        summary: &ConsentSummary,
        needs_consent: &[ItemRef],
    ) -> Result<(), PackageError> {
        let r = &c.record;
        let mismatch = |what: &str| Err(PackageError::ConsentMismatch(what.to_string()));
        if r.grantor != self.originator {
            return Err(PackageError::ConsentNotSigned(self.originator));
        }
        if r.grantee != self.discloser {
            return mismatch(&format!("it was given to {}, not to {}", r.grantee, self.discloser));
        }
        if r.exchange_id != self.exchange_id {
            return mismatch("it belongs to another exchange");
        }
        if !r.authority.same_as(&self.authority) {
            return mismatch(&format!("it is for {}, not for {}", r.authority, self.authority));
        }
        if r.purpose != self.purpose || r.case_reference != self.case_reference {
            return mismatch("its purpose or case reference differs from the package's");
        }
        let Decision::Granted { items, conditions, expires_at } = &r.decision else {
            return mismatch("it is a refusal");
        };
        let readable = ConsentSummary {
            consent_request: r.consent_request,
            decided_at: r.decided_at,
            conditions: conditions.clone(),
            expires_at: *expires_at,
        };
        if readable != *summary {
            return mismatch("the readable consent (conditions, expiry, date) differs from the signed one");
        }
        if expires_at.is_some_and(|t| self.created_at >= t) {
            return Err(PackageError::ConsentExpired);
        }
        if self.created_at < r.decided_at {
            return Err(PackageError::BeforeConsent);
        }
        if let Some(missing) = needs_consent.iter().find(|i| !items.contains(i)) {
            return Err(PackageError::ConsentDoesNotCover(*missing));
        }
        Ok(())
    }
}
