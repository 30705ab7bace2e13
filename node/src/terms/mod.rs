//! The terms of reference (Annex 2 of the working paper), enforced by the
//! node: consent asked, granted, refused and revoked over the network;
//! disclosure only of items a valid grant covers; reciprocity figures.
//!
//! Consent messages are messages of the exchange they concern, so they are
//! sealed, signed, receipted and stored like every other; this module reads
//! them back (through the storage key) and applies the rules. `disclosure`
//! builds the packages a grant allows; `reciprocity` counts what was asked and
//! answered.

use crate::attachments::Attachments;
use crate::clock::now;
use crate::directory::Directory;
use crate::exchange::Exchanges;
use crate::exchange::{Outgoing, SendError};
use crate::home::keys::NodeKeys;
use crate::home::vault::Vault;
use crate::home::vault::VaultError;
use crate::storage::Store;
use crate::storage::{Direction, ExchangeRecord, LookupError, MessageRecord, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::consent::{Authority, ConsentRecord, ConsentRequest, Decision, ItemRef, Revocation, SignedConsent};
use veim_protocol::{Body, ExchangeId, FieldError, MessageId, MessageKind, StateCode, ValidationErrors};

mod disclosures;
mod reciprocity;

pub use disclosures::{
    Disclose, DisclosureRequestView, approve_disclosure, ask_disclosure, disclosure_requests, package_hash,
    refuse_disclosure,
};
pub use reciprocity::{Reciprocity, reciprocity};

/// The terms-of-reference service: consent and disclosure for this State.
#[derive(Debug)]
pub struct Terms {
    store: Store,
    keys: Arc<NodeKeys>,
    vault: Arc<Vault>,
    state: Option<StateCode>,
    directory: Arc<Directory>,
    exchanges: Arc<Exchanges>,
    attachments: Arc<Attachments>,
}

impl Terms {
    pub fn new(
        store: Store,
        keys: Arc<NodeKeys>,
        vault: Arc<Vault>,
        state: Option<StateCode>,
        directory: Arc<Directory>,
        exchanges: Arc<Exchanges>,
        attachments: Arc<Attachments>,
    ) -> Terms {
        Terms { store, keys, vault, state, directory, exchanges, attachments }
    }

    /// Retention: removes the content of received messages stored more than
    /// `older_than_secs` ago, and their attachment files; their metadata
    /// (ids, parties, times, envelope hash) stays. Returns the messages purged.
    pub async fn purge(&self, older_than_secs: i64, actor: Actor) -> Result<Vec<MessageId>, StoreError> {
        let now = now();
        let before = now.saturating_sub(older_than_secs);
        let mut purged = Vec::new();
        for m in self.store.messages()? {
            // Consent messages stay: they are the record of what may be disclosed.
            let information = matches!(
                m.kind,
                MessageKind::Request | MessageKind::Response | MessageKind::Note | MessageKind::Attachments
            );
            if information && m.direction == Direction::Received && m.stored_at <= before && m.purged_at.is_none() {
                let mut event = Event::new(now, actor, Action::Purged);
                event.state = Some(m.sender);
                event.exchange = Some(m.exchange_id);
                event.message = Some(m.message_id);
                event.kind = Some(m.kind);
                self.store.purge_message(m.message_id, now, event)?;
                purged.push(m.message_id);
            }
        }
        self.attachments.remove_of(&purged)?;
        self.store.flush().await?;
        Ok(purged)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TermsError {
    #[error("{0}")]
    NotFound(String),
    #[error("the request is not valid")]
    Invalid(ValidationErrors),
    /// Disclosure refused: what is missing, one problem per item or grant.
    #[error("{message}")]
    Refused { message: String, problems: Vec<FieldError> },
    #[error("{0}")]
    Conflict(String),
    #[error(
        "{0} asked for this disclosure: a disclosure needs a second official, so another account with the approver \
         role approves it (`veim disclosure approve ID`)"
    )]
    SameOfficial(veim_protocol::audit::AccountName),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<LookupError> for TermsError {
    fn from(e: LookupError) -> TermsError {
        match e {
            LookupError::Store(e) => TermsError::Store(e),
            other => TermsError::NotFound(other.to_string()),
        }
    }
}

/// What is wrong with one field the operator gave, before it is named.
#[derive(Debug)]
struct Problem(String);

impl From<Problem> for String {
    fn from(p: Problem) -> String {
        p.0
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> TermsError {
    let mut errors = ValidationErrors::default();
    errors.push(field, problem);
    TermsError::Invalid(errors)
}

/// A stored message with its body opened (`None` once purged).
#[derive(Debug, Clone)]
pub struct Opened {
    pub record: MessageRecord,
    pub body: Option<Body>,
}

pub fn open(terms: &Terms, record: MessageRecord) -> Result<Opened, VaultError> {
    let body = terms.vault.open_body(record.message_id, record.content.as_deref())?;
    Ok(Opened { record, body })
}

fn exchange_messages(terms: &Terms, x: &ExchangeRecord) -> Result<Vec<Opened>, TermsError> {
    let mut out = Vec::new();
    for id in &x.messages {
        if let Some(record) = terms.store.message(*id)? {
            out.push(open(terms, record)?);
        }
    }
    Ok(out)
}

/// Splits `MESSAGE#N` into the message id (or its first 6+ hex digits,
/// lower-cased) and the item number.
fn split_item(text: &str) -> Result<(String, u16), Problem> {
    let (prefix, index) = text.trim().split_once('#').ok_or_else(|| {
        Problem(format!("{text:?} is not an item; write MESSAGE#N as `veim exchange show` lists them"))
    })?;
    let index = index.parse().map_err(|_| Problem(format!("{index:?} is not an item number")))?;
    let prefix = prefix.to_ascii_lowercase();
    if prefix.len() < 6 {
        return Err(Problem(format!("{prefix:?} is too short; give at least 6 hex digits of the message id")));
    }
    Ok((prefix, index))
}

/// Resolves `MESSAGE#N` to a received response item of the exchange.
fn resolve_item(messages: &[Opened], text: &str, field: &str) -> Result<ItemRef, TermsError> {
    let (prefix, index) = split_item(text).map_err(|problem| invalid(field, problem))?;
    let found: Vec<&Opened> = messages.iter().filter(|m| m.record.message_id.to_hex().starts_with(&prefix)).collect();
    let m = match found.as_slice() {
        [m] => *m,
        [] => return Err(invalid(field, format!("no message {prefix} in this exchange"))),
        _ => return Err(invalid(field, format!("{prefix} names several messages; give more digits"))),
    };
    if m.record.direction != Direction::Received || m.record.kind != MessageKind::Response {
        return Err(invalid(field, format!("message {prefix} is not a response this State received")));
    }
    if let Some(Body::Response(r)) = &m.body
        && usize::from(index) >= r.items.len()
    {
        return Err(invalid(field, format!("response {prefix} has {} items, numbered from 0", r.items.len())));
    }
    Ok(ItemRef { message_id: m.record.message_id, index })
}

// --- consent -----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentStatus {
    Pending,
    Granted,
    Refused,
    Revoked,
}

/// A consent request as either side sees it, with what became of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentView {
    /// The id of the message that asked: the consent's id.
    pub consent_id: MessageId,
    pub exchange_id: ExchangeId,
    /// The State that asked (and may disclose).
    pub asked_by: StateCode,
    /// The originator of the items, who decides.
    pub asked_of: StateCode,
    pub asked_at: i64,
    pub request: Option<ConsentRequest>,
    pub status: ConsentStatus,
    pub decision: Option<SignedConsent>,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
}

impl ConsentView {
    pub fn expired(&self, at: i64) -> bool {
        self.decision.as_ref().and_then(|d| d.record.expires_at()).is_some_and(|t| at >= t)
    }
}

/// Every consent request this node sent or received, newest first.
pub fn consents(terms: &Terms) -> Result<Vec<ConsentView>, TermsError> {
    let mut consent_messages = Vec::new();
    for record in terms.store.messages()? {
        if record.kind.is_consent() {
            consent_messages.push(open(terms, record)?);
        }
    }
    let mut views: Vec<ConsentView> = consent_messages
        .iter()
        .filter_map(|m| match &m.body {
            Some(Body::ConsentRequest(r)) => Some((m, Some(r.clone()))),
            None if m.record.kind == MessageKind::ConsentRequest => Some((m, None)),
            _ => None,
        })
        .map(|(m, request)| ConsentView {
            consent_id: m.record.message_id,
            exchange_id: m.record.exchange_id,
            asked_by: m.record.sender,
            asked_of: m.record.recipients.first().copied().unwrap_or(m.record.sender),
            asked_at: m.record.created_at,
            request,
            status: ConsentStatus::Pending,
            decision: None,
            revoked_at: None,
            revocation_reason: None,
        })
        .collect();
    // Decisions first, then revocations, each in the order they were made.
    consent_messages.sort_by_key(|m| (m.record.kind != MessageKind::ConsentDecision, m.record.created_at));
    for m in &consent_messages {
        match &m.body {
            Some(Body::ConsentDecision(d)) => {
                if let Some(v) =
                    views.iter_mut().find(|v| v.consent_id == d.record.consent_request && v.asked_of == m.record.sender)
                    && v.decision.is_none()
                {
                    v.status = match d.record.decision {
                        Decision::Granted { .. } => ConsentStatus::Granted,
                        Decision::Refused { .. } => ConsentStatus::Refused,
                    };
                    v.decision = Some(d.clone());
                }
            }
            Some(Body::ConsentRevocation(r)) => {
                if let Some(v) = views.iter_mut().find(|v| {
                    v.consent_id == r.consent_request
                        && v.asked_of == m.record.sender
                        && v.status == ConsentStatus::Granted
                }) {
                    v.status = ConsentStatus::Revoked;
                    v.revoked_at = Some(m.record.created_at);
                    v.revocation_reason = Some(r.reason.clone());
                }
            }
            _ => {}
        }
    }
    views.sort_by_key(|v| std::cmp::Reverse(v.asked_at));
    Ok(views)
}

fn find_consent(terms: &Terms, prefix: &str) -> Result<ConsentView, TermsError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 6 {
        return Err(TermsError::NotFound(format!(
            "{prefix:?} is not a consent id: give at least 6 hex digits (`veim consent list` shows them)"
        )));
    }
    let mut found: Vec<ConsentView> =
        consents(terms)?.into_iter().filter(|c| c.consent_id.to_hex().starts_with(&prefix)).collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(TermsError::NotFound(format!("no consent request {prefix} here; `veim consent list` shows them"))),
        n => Err(TermsError::NotFound(format!("{n} consent requests start with {prefix}; give more digits"))),
    }
}

async fn send_in(
    terms: &Terms,
    exchange_id: ExchangeId,
    to: StateCode,
    body: Body,
) -> Result<MessageRecord, TermsError> {
    let outgoing = Outgoing { exchange_id: Some(exchange_id), recipients: &[to], body };
    Ok(terms.exchanges.send(outgoing).await?)
}

/// What the operator asks consent for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AskConsent {
    /// Items as `MESSAGE#N`.
    pub items: Vec<String>,
    pub authority: Authority,
    pub purpose: String,
    pub case_reference: String,
}

/// Asks the originator of received items for consent to disclose them.
pub async fn ask(terms: &Terms, exchange: &str, ask: AskConsent) -> Result<MessageRecord, TermsError> {
    let x = terms.store.find_exchange(exchange)?;
    let messages = exchange_messages(terms, &x)?;
    let mut items = Vec::new();
    for (i, text) in ask.items.iter().enumerate() {
        items.push(resolve_item(&messages, text, &format!("items[{i}]"))?);
    }
    let grantor = single_originator(&messages, &items)?;
    let request =
        ConsentRequest { items, authority: ask.authority, purpose: ask.purpose, case_reference: ask.case_reference };
    request.validate().map_err(TermsError::Invalid)?;
    send_in(terms, x.exchange_id, grantor, Body::ConsentRequest(request)).await
}

fn single_originator(messages: &[Opened], items: &[ItemRef]) -> Result<StateCode, TermsError> {
    let senders: Vec<StateCode> = items
        .iter()
        .filter_map(|i| messages.iter().find(|m| m.record.message_id == i.message_id).map(|m| m.record.sender))
        .collect();
    match senders.first() {
        None => Err(invalid("items", "is missing; name at least one item")),
        Some(first) if senders.iter().all(|s| s == first) => Ok(*first),
        Some(_) => Err(invalid("items", "the items come from several States; ask (and disclose) one State at a time")),
    }
}

/// The originator's answer to a consent request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "decision")]
pub enum DecideConsent {
    Grant {
        /// The items granted, as `MESSAGE#N`; all those asked for when absent.
        #[serde(default)]
        items: Option<Vec<String>>,
        #[serde(default)]
        conditions: Vec<String>,
        /// Unix seconds after which the grant no longer holds.
        #[serde(default)]
        expires_at: Option<i64>,
    },
    Refuse {
        reason: String,
    },
}

/// Decides a consent request this node received, and sends the signed decision.
pub async fn decide(terms: &Terms, consent: &str, decision: DecideConsent) -> Result<MessageRecord, TermsError> {
    let me = terms.state.ok_or_else(|| TermsError::Conflict("this node speaks for no State".into()))?;
    let c = find_consent(terms, consent)?;
    if c.asked_of != me {
        return Err(TermsError::Conflict(format!(
            "consent {} was asked of {}, not of this State: only the originator of the items decides",
            c.consent_id, c.asked_of
        )));
    }
    if c.status != ConsentStatus::Pending {
        return Err(TermsError::Conflict(format!(
            "consent {} was already decided ({:?}); a grant can be revoked with `veim consent revoke`",
            c.consent_id, c.status
        )));
    }
    let request = c.request.ok_or_else(|| TermsError::Conflict("the consent request's content was purged".into()))?;
    let now = now();
    let decision = match decision {
        DecideConsent::Grant { items, conditions, expires_at } => {
            let items = match items {
                None => request.items.clone(),
                Some(list) => {
                    let mut out = Vec::new();
                    for (i, text) in list.iter().enumerate() {
                        let r = parse_asked_item(&request.items, text)
                            .map_err(|problem| invalid(&format!("items[{i}]"), problem))?;
                        out.push(r);
                    }
                    out
                }
            };
            if expires_at.is_some_and(|t| t <= now) {
                return Err(invalid("expires_at", "is in the past; a grant must expire after it is given"));
            }
            Decision::Granted { items, conditions, expires_at }
        }
        DecideConsent::Refuse { reason } => Decision::Refused { reason },
    };
    let record = ConsentRecord {
        exchange_id: c.exchange_id,
        consent_request: c.consent_id,
        grantor: me,
        grantee: c.asked_by,
        authority: request.authority,
        purpose: request.purpose,
        case_reference: request.case_reference,
        decision,
        decided_at: now,
    };
    record.validate().map_err(TermsError::Invalid)?;
    let signed = SignedConsent::sign(record, &terms.keys.identity)
        .map_err(|e| TermsError::Conflict(format!("cannot sign the decision: {e}")))?;
    send_in(terms, c.exchange_id, c.asked_by, Body::ConsentDecision(signed)).await
}

/// An item of a consent request, named in full or by its message prefix.
fn parse_asked_item(asked: &[ItemRef], text: &str) -> Result<ItemRef, Problem> {
    let (prefix, index) = split_item(text)?;
    asked
        .iter()
        .find(|r| r.index == index && r.message_id.to_hex().starts_with(&prefix))
        .copied()
        .ok_or_else(|| Problem(format!("{text} was not asked for; a grant covers the items asked for or fewer")))
}

/// Revokes a grant this node gave; disclosures made before stand.
pub async fn revoke(terms: &Terms, consent: &str, reason: String) -> Result<MessageRecord, TermsError> {
    let me = terms.state.ok_or_else(|| TermsError::Conflict("this node speaks for no State".into()))?;
    let c = find_consent(terms, consent)?;
    if c.asked_of != me {
        return Err(TermsError::Conflict(format!("consent {} was not given by this State", c.consent_id)));
    }
    if c.status != ConsentStatus::Granted {
        return Err(TermsError::Conflict(format!(
            "consent {} is {:?}: only a grant in force can be revoked",
            c.consent_id, c.status
        )));
    }
    let revocation = Revocation { consent_request: c.consent_id, reason };
    revocation.validate().map_err(TermsError::Invalid)?;
    send_in(terms, c.exchange_id, c.asked_by, Body::ConsentRevocation(revocation)).await
}
