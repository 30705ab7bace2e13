//! The terms of reference (Annex 2 of the working paper), enforced by the
//! node: consent asked, granted, refused and revoked over the network;
//! disclosure only of items a valid grant covers; reciprocity figures.
//!
//! Consent messages are messages of the exchange they concern, so they are
//! sealed, signed, receipted and stored like every other; this module reads
//! them back (through the storage key) and applies the rules.

use crate::exchange::{self, Outgoing, SendError};
use crate::service::{Node, now};
use crate::store::{
    Direction, DisclosureRecord, DisclosureSummary, ExchangeRecord, LookupError, MessageRecord, StoreError,
};
use crate::vault::VaultError;
use serde::{Deserialize, Serialize};
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::consent::{Authority, ConsentRecord, ConsentRequest, Decision, ItemRef, Revocation, SignedConsent};
use veim_protocol::disclosure::{self, ConsentSummary, DisclosedItem, DisclosedMessage, Package, Proofs};
use veim_protocol::ids::DisclosureId;
use veim_protocol::keys::PublicIdentity;
use veim_protocol::{
    Body, Bytes32, Envelope, ExchangeId, FieldError, MessageId, MessageKind, Response, StateCode, ValidationErrors,
};

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

pub fn open(node: &Node, record: MessageRecord) -> Result<Opened, VaultError> {
    let body = node.vault.open_body(&record)?;
    Ok(Opened { record, body })
}

fn exchange_messages(node: &Node, x: &ExchangeRecord) -> Result<Vec<Opened>, TermsError> {
    let mut out = Vec::new();
    for id in &x.messages {
        if let Some(record) = node.store.message(*id)? {
            out.push(open(node, record)?);
        }
    }
    Ok(out)
}

/// Splits `MESSAGE#N` into the message id (or its first 6+ hex digits,
/// lower-cased) and the item number.
fn split_item(text: &str) -> Result<(String, u16), String> {
    let (prefix, index) = text
        .trim()
        .split_once('#')
        .ok_or_else(|| format!("{text:?} is not an item; write MESSAGE#N as `veim exchange show` lists them"))?;
    let index = index.parse().map_err(|_| format!("{index:?} is not an item number"))?;
    let prefix = prefix.to_ascii_lowercase();
    if prefix.len() < 6 {
        return Err(format!("{prefix:?} is too short; give at least 6 hex digits of the message id"));
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
pub fn consents(node: &Node) -> Result<Vec<ConsentView>, TermsError> {
    let mut consent_messages = Vec::new();
    for record in node.store.messages()? {
        if record.kind.is_consent() {
            consent_messages.push(open(node, record)?);
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

fn find_consent(node: &Node, prefix: &str) -> Result<ConsentView, TermsError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 6 {
        return Err(TermsError::NotFound(format!(
            "{prefix:?} is not a consent id: give at least 6 hex digits (`veim consent list` shows them)"
        )));
    }
    let mut found: Vec<ConsentView> =
        consents(node)?.into_iter().filter(|c| c.consent_id.to_hex().starts_with(&prefix)).collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(TermsError::NotFound(format!("no consent request {prefix} here; `veim consent list` shows them"))),
        n => Err(TermsError::NotFound(format!("{n} consent requests start with {prefix}; give more digits"))),
    }
}

async fn send_in(node: &Node, exchange_id: ExchangeId, to: StateCode, body: Body) -> Result<MessageRecord, TermsError> {
    let me = node.me().ok_or_else(|| TermsError::Conflict("this node speaks for no State".into()))?;
    let view = node.view();
    let outgoing = Outgoing { exchange_id: Some(exchange_id), recipients: &[to], body };
    Ok(exchange::send(me, &node.store, &node.client, &view, outgoing, now()).await?)
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
pub async fn ask(node: &Node, exchange: &str, ask: AskConsent) -> Result<MessageRecord, TermsError> {
    let x = node.store.find_exchange(exchange)?;
    let messages = exchange_messages(node, &x)?;
    let mut items = Vec::new();
    for (i, text) in ask.items.iter().enumerate() {
        items.push(resolve_item(&messages, text, &format!("items[{i}]"))?);
    }
    let grantor = single_originator(&messages, &items)?;
    let request =
        ConsentRequest { items, authority: ask.authority, purpose: ask.purpose, case_reference: ask.case_reference };
    request.validate().map_err(TermsError::Invalid)?;
    send_in(node, x.exchange_id, grantor, Body::ConsentRequest(request)).await
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
pub async fn decide(node: &Node, consent: &str, decision: DecideConsent) -> Result<MessageRecord, TermsError> {
    let me = node.state().ok_or_else(|| TermsError::Conflict("this node speaks for no State".into()))?;
    let c = find_consent(node, consent)?;
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
    let signed = SignedConsent::sign(record, &node.keys.identity)
        .map_err(|e| TermsError::Conflict(format!("cannot sign the decision: {e}")))?;
    send_in(node, c.exchange_id, c.asked_by, Body::ConsentDecision(signed)).await
}

/// An item of a consent request, named in full or by its message prefix.
fn parse_asked_item(asked: &[ItemRef], text: &str) -> Result<ItemRef, String> {
    let (prefix, index) = split_item(text)?;
    asked
        .iter()
        .find(|r| r.index == index && r.message_id.to_hex().starts_with(&prefix))
        .copied()
        .ok_or_else(|| format!("{text} was not asked for; a grant covers the items asked for or fewer"))
}

/// Revokes a grant this node gave; disclosures made before stand.
pub async fn revoke(node: &Node, consent: &str, reason: String) -> Result<MessageRecord, TermsError> {
    let me = node.state().ok_or_else(|| TermsError::Conflict("this node speaks for no State".into()))?;
    let c = find_consent(node, consent)?;
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
    send_in(node, c.exchange_id, c.asked_by, Body::ConsentRevocation(revocation)).await
}

// --- disclosure ----------------------------------------------------------------

/// What the operator wants to disclose, and to whom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Disclose {
    pub exchange: String,
    /// Items as `MESSAGE#N`.
    pub items: Vec<String>,
    pub authority: Authority,
    /// As in the grant; taken from it when absent.
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub case_reference: Option<String>,
}

fn problem(field: impl Into<String>, text: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), problem: text.into() }
}

/// Why one grant cannot serve this disclosure; empty when it can.
fn grant_problems(
    c: &ConsentView,
    authority: &Authority,
    purpose: Option<&str>,
    case: Option<&str>,
    needed: &[ItemRef],
    at: i64,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(d) = &c.decision else { return vec!["is not decided yet".into()] };
    let r = &d.record;
    match c.status {
        ConsentStatus::Refused => out.push("was refused".into()),
        ConsentStatus::Revoked => out.push(format!(
            "was revoked{}",
            c.revocation_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        )),
        _ => {}
    }
    if c.expired(at) {
        out.push(format!("expired at {}", r.expires_at().map(crate::service::format_time).unwrap_or_default()));
    }
    if !r.authority.same_as(authority) {
        out.push(format!("is for {}, not for {authority}", r.authority));
    }
    if purpose.is_some_and(|p| p.trim() != r.purpose.trim()) {
        out.push(format!("is for the purpose {:?}", r.purpose));
    }
    if case.is_some_and(|p| p.trim() != r.case_reference.trim()) {
        out.push(format!("is for case {:?}", r.case_reference));
    }
    if c.status == ConsentStatus::Granted || c.status == ConsentStatus::Revoked {
        let missing: Vec<String> =
            needed.iter().filter(|i| !r.granted_items().contains(i)).map(ToString::to_string).collect();
        if !missing.is_empty() {
            out.push(format!("does not cover {}", missing.join(", ")));
        }
    }
    out
}

/// Builds the disclosure package, or refuses and says what is missing.
pub async fn disclose(node: &Node, req: Disclose) -> Result<Package, TermsError> {
    let me = node.state().ok_or_else(|| TermsError::Conflict("this node speaks for no State".into()))?;
    let mut errors = ValidationErrors::default();
    req.authority.check("authority", &mut errors);
    if req.items.is_empty() {
        errors.push("items", "is missing; name at least one item");
    }
    if !errors.is_empty() {
        return Err(TermsError::Invalid(errors));
    }
    let x = node.store.find_exchange(&req.exchange)?;
    let messages = exchange_messages(node, &x)?;
    let mut items = Vec::new();
    for (i, text) in req.items.iter().enumerate() {
        let r = resolve_item(&messages, text, &format!("items[{i}]"))?;
        if items.contains(&r) {
            return Err(invalid(&format!("items[{i}]"), format!("{r} is named twice")));
        }
        items.push(r);
    }
    let originator = single_originator(&messages, &items)?;
    if req.authority.kind == veim_protocol::AuthorityKind::StateParty && req.authority.state == originator {
        return Err(invalid("authority.state", "the items came from this State; there is nothing to forward to it"));
    }
    let at = now();
    let mut problems = Vec::new();
    let mut needed = Vec::new();
    let mut sources: Vec<(&Opened, &Response)> = Vec::new();
    for r in &items {
        let Some(m) = messages.iter().find(|m| m.record.message_id == r.message_id) else { continue };
        let Some(Body::Response(response)) = &m.body else {
            problems.push(problem(r.to_string(), "its content was purged under the retention policy"));
            continue;
        };
        if response.handling.use_expired(at) {
            problems.push(problem(
                r.to_string(),
                format!(
                    "{originator} allowed its use until {} only",
                    response.handling.use_until.as_deref().unwrap_or_default()
                ),
            ));
        }
        if response.handling.needs_consent(&req.authority, me) {
            needed.push(*r);
        }
        if !sources.iter().any(|(s, _)| s.record.message_id == m.record.message_id) {
            sources.push((m, response));
        }
    }
    if !problems.is_empty() {
        return Err(TermsError::Refused {
            message: format!("disclosure refused: {} item(s) cannot be disclosed", problems.len()),
            problems,
        });
    }
    let consent = if needed.is_empty() {
        None
    } else {
        let candidates: Vec<ConsentView> = consents(node)?
            .into_iter()
            .filter(|c| c.asked_of == originator && c.asked_by == me && c.exchange_id == x.exchange_id)
            .filter(|c| c.decision.is_some())
            .collect();
        let purpose = req.purpose.as_deref();
        let case = req.case_reference.as_deref();
        let usable =
            candidates.iter().find(|c| grant_problems(c, &req.authority, purpose, case, &needed, at).is_empty());
        match usable {
            Some(c) => c.decision.clone(),
            None => {
                let mut problems: Vec<FieldError> = candidates
                    .iter()
                    .map(|c| {
                        let why = grant_problems(c, &req.authority, purpose, case, &needed, at);
                        problem(format!("consent {}", c.consent_id), why.join("; "))
                    })
                    .collect();
                if problems.is_empty() {
                    problems.push(problem(
                        "consent",
                        format!(
                            "{originator} has granted no consent for these items; ask with `veim consent ask` and wait for its decision"
                        ),
                    ));
                }
                let named: Vec<String> = needed.iter().map(ToString::to_string).collect();
                return Err(TermsError::Refused {
                    message: format!(
                        "disclosure refused: no valid, unexpired, unrevoked grant from {originator} covers {} for {}",
                        named.join(", "),
                        req.authority
                    ),
                    problems,
                });
            }
        }
    };
    let package = build_package(node, me, originator, &x, &req, &items, &sources, consent, at)?;
    record_disclosure(node, &package, &items).await?;
    Ok(package)
}

#[allow(clippy::too_many_arguments)]
fn build_package(
    node: &Node,
    me: StateCode,
    originator: StateCode,
    x: &ExchangeRecord,
    req: &Disclose,
    items: &[ItemRef],
    sources: &[(&Opened, &Response)],
    consent: Option<SignedConsent>,
    at: i64,
) -> Result<Package, TermsError> {
    let damaged = |what: &str, e: String| TermsError::Conflict(format!("the stored {what} is damaged: {e}"));
    let mut envelopes = Vec::new();
    let mut statements = Vec::new();
    let mut shown = Vec::new();
    let mut sender_key = None;
    for (m, response) in sources {
        let envelope: Envelope = codec::decode::<_, MAX_FRAME>("envelope", &m.record.envelope)
            .map_err(|e| damaged("envelope", e.to_string()))?;
        if sender_key.is_some_and(|k| k != envelope.header.sender_key) {
            return Err(TermsError::Conflict(format!(
                "{originator} changed keys between these responses; disclose the items of each response separately"
            )));
        }
        sender_key = Some(envelope.header.sender_key);
        let statement =
            response.signed_statement(envelope.header.context()).map_err(|e| damaged("response", e.to_string()))?;
        statements.push(hex::encode(
            codec::encode("item statement", &statement).map_err(|e| damaged("response", e.to_string()))?,
        ));
        envelopes.push(hex::encode(&m.record.envelope));
        shown.push(DisclosedMessage {
            message_id: m.record.message_id,
            sent_at: m.record.created_at,
            handling: response.handling.clone(),
        });
    }
    let mut disclosed = Vec::new();
    for r in items {
        let Some((_, response)) = sources.iter().find(|(m, _)| m.record.message_id == r.message_id) else { continue };
        let i = usize::from(r.index);
        let (Some(item), Some(salt)) = (response.items.get(i), response.salts.get(i)) else {
            return Err(damaged("response", format!("item {r} is missing")));
        };
        disclosed.push(DisclosedItem { item_ref: *r, item: item.clone(), salt: *salt });
    }
    let key = sender_key.ok_or_else(|| invalid("items", "is missing"))?;
    let (secretariat_key, directory) = directory_proof(node, originator, &key)?;
    let (purpose, case_reference) = match &consent {
        Some(c) => (c.record.purpose.clone(), c.record.case_reference.clone()),
        None => (req.purpose.clone().unwrap_or_default(), req.case_reference.clone().unwrap_or_default()),
    };
    let summary = consent.as_ref().map(|c| ConsentSummary {
        consent_request: c.record.consent_request,
        decided_at: c.record.decided_at,
        conditions: match &c.record.decision {
            Decision::Granted { conditions, .. } => conditions.clone(),
            Decision::Refused { .. } => Vec::new(),
        },
        expires_at: c.record.expires_at(),
    });
    let consent_hex = consent
        .as_ref()
        .map(|c| codec::encode("consent", c).map(hex::encode))
        .transpose()
        .map_err(|e| damaged("consent", e.to_string()))?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let mut package = Package {
        format: disclosure::FORMAT.into(),
        disclosure_id: DisclosureId::random(&mut rng),
        created_at: at,
        discloser: me,
        originator,
        exchange_id: x.exchange_id,
        authority: req.authority.clone(),
        purpose,
        case_reference,
        messages: shown,
        items: disclosed,
        consent: summary,
        proofs: Proofs {
            secretariat_key: secretariat_key.to_string(),
            directory,
            envelopes,
            statements,
            consent: consent_hex,
        },
        signature: String::new(),
    };
    package.sign(&node.keys.identity).map_err(|e| damaged("package", e.to_string()))?;
    Ok(package)
}

/// The newest directory version this node holds that lists `state` with
/// `key`, with the Secretariat key that verifies it.
fn directory_proof(
    node: &Node,
    state: StateCode,
    key: &PublicIdentity,
) -> Result<(PublicIdentity, String), TermsError> {
    let mut signers: Vec<PublicIdentity> = node.secretariat_key().into_iter().collect();
    if let Some(pin) = &node.config.secretariat
        && let Ok(k) = PublicIdentity::from_hex(&pin.public_key)
        && !signers.contains(&k)
    {
        signers.push(k);
    }
    let head = node.view().version();
    for v in (1..=head).rev() {
        let Some(version) = node.store.directory_version(v)? else { continue };
        if version.body.entry(state).is_none_or(|e| e.identity_key() != *key)
            || node.state().is_some_and(|me| version.body.entry(me).is_none())
        {
            continue;
        }
        if let Some(signer) = signers.iter().find(|s| version.verify(s).is_ok()) {
            let bytes = codec::encode("directory version", &version)
                .map_err(|e| TermsError::Conflict(format!("cannot encode directory version {v}: {e}")))?;
            return Ok((*signer, hex::encode(bytes)));
        }
    }
    Err(TermsError::Conflict(format!(
        "no directory version held here lists {state} with the key that signed these items; the package could not be verified"
    )))
}

async fn record_disclosure(node: &Node, package: &Package, items: &[ItemRef]) -> Result<(), TermsError> {
    let json = serde_json::to_vec_pretty(package)
        .map_err(|e| TermsError::Conflict(format!("cannot write the package: {e}")))?;
    let record = DisclosureRecord {
        summary: DisclosureSummary {
            disclosure_id: package.disclosure_id,
            created_at: package.created_at,
            originator: package.originator,
            exchange_id: package.exchange_id,
            items: items.to_vec(),
            authority_kind: package.authority.kind,
            consent: package.consent.as_ref().map(|c| c.consent_request),
            package_hash: Bytes32(package_hash(&json)),
        },
        package: node.vault.seal("disclosure package", &package.disclosure_id.0, &json)?,
    };
    let mut event = Event::new(package.created_at, Actor::Operator, Action::DisclosureExported);
    event.state = Some(package.originator);
    event.exchange = Some(package.exchange_id);
    event.object = Some(format!("disclosure {}", package.disclosure_id));
    event.hash = Some(record.summary.package_hash);
    event.detail = format!(
        "{} item(s) to a {} of {}{}",
        items.len(),
        package.authority.kind,
        package.authority.state,
        package.consent.as_ref().map(|c| format!(" on consent {}", c.consent_request)).unwrap_or_default()
    );
    node.store.put_disclosure(&record, &event)?;
    node.store.flush().await?;
    Ok(())
}

/// Plain SHA-256 of the package's JSON, as `veim disclosure list` shows it
/// (what `sha256sum` prints for the file `veim disclose` writes).
pub fn package_hash(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

// --- reciprocity -------------------------------------------------------------

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

fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 })
}

/// Per counterpart State, from message metadata only (no content is opened).
pub fn reciprocity(node: &Node) -> Result<Vec<Reciprocity>, TermsError> {
    let me = node.state().ok_or_else(|| TermsError::Conflict("this node speaks for no State".into()))?;
    let mut rows: std::collections::BTreeMap<StateCode, (Reciprocity, Vec<i64>, Vec<i64>)> = Default::default();
    for x in node.store.exchanges()? {
        let mut meta = Vec::new();
        for id in &x.messages {
            if let Some(m) = node.store.message(*id)? {
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

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5]), Some(5));
        assert_eq!(median(vec![9, 1, 5]), Some(5));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    }
}
