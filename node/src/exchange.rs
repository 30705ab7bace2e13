//! The exchange engine: sending a message (seal, store, flush, deliver, record
//! receipts) and receiving one (verify, refuse replays, open, store, flush,
//! sign a receipt).
//!
//! The order matters and is the point of this module: a sender stores and
//! flushes before anything leaves the node, and marks a copy delivered only on
//! a receipt whose signature verifies under the recipient's directory key; a
//! receiver answers with a receipt only after the flush that holds the
//! envelope has returned.

use crate::audit;
use crate::directory::{DirectoryView, dial_info};
use crate::network::Client;
use crate::store::{
    Claim, Delivery, DeliveryState, Direction, ExchangeRecord, ExchangeStatus, MessageRecord, Store, StoreError,
};
use crate::vault::Vault;
use std::collections::{HashMap, HashSet};
use veim_protocol::audit::{Action, Actor};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::envelope::{Draft, Recipient};
use veim_protocol::wire::{NetRequest, NetResponse, Refusal, RefusalCode};
use veim_protocol::{
    Body, EncryptionKeypair, Envelope, EnvelopeError, ExchangeId, IdentityKeypair, MessageContext, MessageId,
    MessageKind, Receipt, SignedReceipt, StateCode, ValidationErrors,
};

impl ExchangeStatus {
    /// The status after a message of `kind`, or why that message cannot
    /// belong to the exchange now.
    pub fn after(self, kind: MessageKind) -> Result<ExchangeStatus, String> {
        use ExchangeStatus::*;
        match (self, kind) {
            // Consent may be asked, given and revoked long after an exchange
            // is closed: a case can reach a court years later.
            (status, MessageKind::ConsentRequest | MessageKind::ConsentDecision | MessageKind::ConsentRevocation) => {
                Ok(status)
            }
            (Closed, _) => Err("the exchange is closed; nothing more can be sent in it".into()),
            (_, MessageKind::Request) => Err("the exchange already has its request; start a new exchange".into()),
            (Open | Answered, MessageKind::Response) => Ok(Answered),
            (status, MessageKind::Note | MessageKind::Attachments) => Ok(status),
            (Open | Answered, MessageKind::Close) => Ok(Closed),
        }
    }
}

/// Computes the exchange record after a message, for the store's
/// transaction, or why the message cannot belong to the exchange. The same
/// rules hold for what a node sends and what it receives:
/// - a request opens an exchange whose id derives from it;
/// - responses come from the States a request was sent to, to the requesting
///   State only;
/// - the requesting State writes notes to any of the others, the others to it;
/// - only the requesting State closes the exchange;
/// - consent messages go to one State, and a decision answers a consent
///   request of the same exchange.
fn next_exchange(
    current: Option<ExchangeRecord>,
    record: &MessageRecord,
    body: &Body,
) -> Result<ExchangeRecord, String> {
    let Some(mut x) = current else {
        let Body::Request(_) = body else {
            return Err(format!(
                "exchange {} is unknown here; a {} must follow a request",
                record.exchange_id, record.kind
            ));
        };
        if record.exchange_id != ExchangeId::for_request(record.sender, record.message_id) {
            return Err(format!("exchange id {} is not the one derived from the request", record.exchange_id));
        }
        let mut participants = vec![record.sender];
        participants.extend(record.recipients.iter().copied());
        return Ok(ExchangeRecord {
            exchange_id: record.exchange_id,
            originator: record.sender,
            participants,
            status: ExchangeStatus::Open,
            opened_at: record.created_at,
            updated_at: record.stored_at,
            messages: vec![record.message_id],
        });
    };
    let id = record.exchange_id;
    if !x.participants.contains(&record.sender) {
        return Err(format!("{} does not take part in exchange {id}", record.sender));
    }
    if let Some(outsider) = record.recipients.iter().find(|r| !x.participants.contains(r)) {
        return Err(format!("{outsider} does not take part in exchange {id}"));
    }
    let from_originator = record.sender == x.originator;
    let to_originator_only = record.recipients == [x.originator];
    match record.kind {
        MessageKind::Response if from_originator => {
            return Err("only the States a request was sent to respond to it; the requesting State adds information with a note".into());
        }
        MessageKind::Response | MessageKind::Note | MessageKind::Attachments
            if !from_originator && !to_originator_only =>
        {
            return Err(format!(
                "{} writes in exchange {id} to the requesting State {} only",
                record.sender, x.originator
            ));
        }
        MessageKind::Close if !from_originator => {
            return Err(format!(
                "only the requesting State ({}) closes exchange {id}; send a note instead",
                x.originator
            ));
        }
        kind if kind.is_consent() && record.recipients.len() != 1 => {
            return Err(format!("a {kind} goes to one State only"));
        }
        _ => {}
    }
    let answered = match body {
        Body::ConsentDecision(c) => Some(c.record.consent_request),
        Body::ConsentRevocation(r) => Some(r.consent_request),
        _ => None,
    };
    if let Some(asked) = answered
        && !x.messages.contains(&asked)
    {
        return Err(format!("consent request {asked} is not part of exchange {id}"));
    }
    x.status = x.status.after(record.kind)?;
    x.updated_at = record.stored_at;
    x.messages.push(record.message_id);
    Ok(x)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    #[error("the message is not valid:\n{0}")]
    Invalid(ValidationErrors),
    #[error(
        "{0} is not an active State in the directory (directory version {1}); check the code, or wait for the Secretariat to admit it"
    )]
    UnknownRecipient(StateCode, u64),
    #[error("{0} is {1} in directory version {2}: messages to it are refused until the Secretariat reinstates it")]
    RecipientNotActive(StateCode, veim_protocol::EntryStatus, u64),
    #[error("this node is not yet listed in the directory; wait for the Secretariat to approve it")]
    NotAdmitted,
    #[error("{0} is {1} in directory version {2}: it cannot send until the Secretariat reinstates it")]
    NotActive(StateCode, veim_protocol::EntryStatus, u64),
    #[error("{0}")]
    Refused(String),
    #[error("cannot seal the message: {0}")]
    Seal(#[from] EnvelopeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How far an envelope's `created_at` may be from the receiver's clock.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Ahead of the clock (skew).
    pub future_secs: i64,
    /// Behind it: the longest a sender retries.
    pub past_secs: i64,
}

/// What a node needs to send and receive.
#[derive(Debug, Clone, Copy)]
pub struct Me<'a> {
    pub state: StateCode,
    pub identity: &'a IdentityKeypair,
    pub encryption: &'a EncryptionKeypair,
    /// The storage key content is sealed with at rest.
    pub vault: &'a Vault,
    pub retry: RetryPolicy,
}

/// A message the operator asked to send.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The exchange the message belongs to; `None` for a request, which opens
    /// a new exchange.
    pub exchange_id: Option<ExchangeId>,
    pub recipients: &'a [StateCode],
    pub body: Body,
}

/// Seals a message for its recipients, stores and flushes it, then delivers
/// it to each recipient and records what each answered.
pub async fn send(
    me: Me<'_>,
    store: &Store,
    client: &Client,
    view: &DirectoryView,
    outgoing: Outgoing<'_>,
    now: i64,
) -> Result<MessageRecord, SendError> {
    let Outgoing { exchange_id, recipients, mut body } = outgoing;
    body.validate().map_err(SendError::Invalid)?;
    match view.entry(me.state).filter(|e| e.identity_key() == me.identity.public()) {
        None => return Err(SendError::NotAdmitted),
        Some(e) if !e.is_active() => return Err(SendError::NotActive(me.state, e.status, view.version())),
        Some(_) => {}
    }
    let mut targets = Vec::new();
    for r in recipients {
        let entry = view.entry(*r).ok_or(SendError::UnknownRecipient(*r, view.version()))?;
        if !entry.is_active() {
            return Err(SendError::RecipientNotActive(*r, entry.status, view.version()));
        }
        targets.push((entry.clone(), Recipient { state: *r, encryption_key: entry.encryption_key() }));
    }
    let keys: Vec<Recipient> = targets.iter().map(|(_, r)| *r).collect();
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let message_id = MessageId::random(&mut rng);
    // The operator's send tries its own copies first: they are claimed
    // before the message is stored, so the outbox loop cannot take them
    // however long the store and its flush take.
    let held: Vec<Claim> = recipients.iter().filter_map(|r| store.claim(message_id, *r)).collect();
    let exchange_id = exchange_id.unwrap_or_else(|| ExchangeId::for_request(me.state, message_id));
    if let Body::Response(response) = &mut body {
        let context = MessageContext {
            message_id,
            exchange_id,
            sender: me.state,
            recipients: recipients.to_vec(),
            created_at: now,
        };
        response
            .attest(context, me.identity, &mut rng)
            .map_err(|e| SendError::Seal(EnvelopeError::Seal(e.to_string())))?;
    }
    let draft = Draft { message_id, exchange_id, sender: me.state, recipients: &keys, created_at: now, body: &body };
    let envelope = Envelope::seal(&draft, me.identity, &mut rng)?;
    let envelope_bytes =
        codec::encode("envelope", &envelope).map_err(|e| SendError::Seal(EnvelopeError::Seal(e.to_string())))?;
    let envelope_hash = envelope.hash().map_err(|e| SendError::Seal(EnvelopeError::Seal(e.to_string())))?;
    let record = MessageRecord {
        message_id,
        exchange_id,
        direction: Direction::Sent,
        sender: me.state,
        recipients: recipients.to_vec(),
        kind: body.kind(),
        created_at: now,
        stored_at: now,
        content: Some(
            me.vault.seal_body(message_id, &body).map_err(|e| SendError::Seal(EnvelopeError::Seal(e.to_string())))?,
        ),
        envelope: envelope_bytes,
        envelope_hash,
        deliveries: recipients
            .iter()
            .map(|r| Delivery { recipient: *r, state: DeliveryState::Pending, updated_at: now })
            .collect(),
        receipts: Vec::new(),
        purged_at: None,
        sequence: 0,
    };
    let sent = audit::message_event(now, Actor::Operator, audit::sent_action(&body), &record, None);
    store.insert_message(&record, |current| next_exchange(current, &record, &body), &[sent]).map_err(|e| match e {
        StoreError::Rejected(reason) => SendError::Refused(reason),
        other => SendError::Store(other),
    })?;
    store.flush().await?;

    let blocked = blocked_before(store, &record)?;
    Ok(attempt(me, store, client, view, record, &blocked, &mut HashSet::new(), held, now).await?)
}

/// How a sender retries: capped exponential backoff with jitter, and how
/// long before it gives up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base_secs: i64,
    pub max_secs: i64,
    /// A message older than this is given up (recipients refuse it).
    pub max_age_secs: i64,
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`: `base * 2^(attempts-1)`,
    /// capped, times a random factor in [0.8, 1.2).
    pub fn delay(&self, attempts: u32) -> i64 {
        let exp = self.base_secs.max(1).saturating_mul(1i64 << attempts.saturating_sub(1).min(30));
        let capped = exp.min(self.max_secs.max(1));
        let jitter = 0.8
            + 0.4 * (rand_core::Rng::next_u32(&mut rand_core::UnwrapErr(getrandom::SysRng)) as f64 / u32::MAX as f64);
        ((capped as f64) * jitter).round().max(1.0) as i64
    }
}

/// The recipients an earlier sent message of the same exchange still has
/// to reach: a later message waits for them, so each recipient gets an
/// exchange's messages in the order they were sent.
fn blocked_before(store: &Store, record: &MessageRecord) -> Result<HashSet<StateCode>, StoreError> {
    let mut blocked = HashSet::new();
    for id in store.outbox_of(record.exchange_id)? {
        if id == record.message_id {
            break;
        }
        if let Some(earlier) = store.message(id)? {
            blocked.extend(earlier.deliveries.iter().filter(|d| !d.state.is_final()).map(|d| d.recipient));
        }
    }
    Ok(blocked)
}

/// Tries, once, every copy of the outbox that is due, oldest message first,
/// keeping each exchange's order per recipient, and skipping for this round
/// a recipient that could not be reached.
pub async fn retry_due(
    me: Me<'_>,
    store: &Store,
    client: &Client,
    view: &DirectoryView,
    now: i64,
) -> Result<usize, StoreError> {
    let mut waiting: HashMap<ExchangeId, HashSet<StateCode>> = HashMap::new();
    let mut unreachable = HashSet::new();
    let mut delivered = 0;
    for id in store.outbox()? {
        let Some(record) = store.message(id)? else { continue };
        let blocked = waiting.entry(record.exchange_id).or_default().clone();
        let before = record.deliveries.iter().filter(|d| matches!(d.state, DeliveryState::Delivered { .. })).count();
        // A copy queued this very moment is the sender's own to try first.
        if record.stored_at > now - 2
            && record
                .deliveries
                .iter()
                .all(|d| matches!(d.state, DeliveryState::Pending | DeliveryState::Delivered { .. }))
        {
            let still = record.deliveries.iter().filter(|d| !d.state.is_final()).map(|d| d.recipient);
            waiting.entry(record.exchange_id).or_default().extend(still);
            continue;
        }
        let updated = attempt(me, store, client, view, record, &blocked, &mut unreachable, Vec::new(), now).await?;
        delivered += updated
            .deliveries
            .iter()
            .filter(|d| matches!(d.state, DeliveryState::Delivered { .. }))
            .count()
            .saturating_sub(before);
        let still = updated.deliveries.iter().filter(|d| !d.state.is_final()).map(|d| d.recipient);
        waiting.entry(updated.exchange_id).or_default().extend(still);
    }
    Ok(delivered)
}

/// What one delivery attempt came to.
#[derive(Debug)]
enum Outcome {
    Delivered(SignedReceipt),
    /// Refused for a reason no retry changes.
    Refused(Refusal),
    /// Worth trying again: unreachable, busy, a bad or missing receipt.
    Transient(String),
    GiveUp(String),
}

/// Refusals a later attempt may overcome.
fn transient(code: RefusalCode) -> bool {
    matches!(
        code,
        RefusalCode::Busy | RefusalCode::StorageFailure | RefusalCode::NotInDirectory | RefusalCode::OutsideWindow
    )
}

/// Tries the due copies of one sent message (not those to `blocked` or
/// `unreachable` recipients) and records each outcome with its audit entry.
/// `held`: claims the caller already holds on copies of this message.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    me: Me<'_>,
    store: &Store,
    client: &Client,
    view: &DirectoryView,
    record: MessageRecord,
    blocked: &HashSet<StateCode>,
    unreachable: &mut HashSet<StateCode>,
    mut held: Vec<Claim>,
    now: i64,
) -> Result<MessageRecord, StoreError> {
    let due: Vec<StateCode> = record
        .deliveries
        .iter()
        .filter(|d| match &d.state {
            DeliveryState::Pending => true,
            DeliveryState::Attempting { next_at, .. } => *next_at <= now,
            _ => false,
        })
        .map(|d| d.recipient)
        .filter(|r| !blocked.contains(r) && !unreachable.contains(r))
        .collect();
    // One attempt at a time per copy: the operator's send and the outbox
    // loop never deliver the same copy at once.
    let claims: Vec<Claim> = due
        .iter()
        .filter_map(|r| match held.iter().position(|c| c.recipient() == *r) {
            Some(i) => Some(held.swap_remove(i)),
            None => store.claim(record.message_id, *r),
        })
        .collect();
    let due: Vec<StateCode> = claims.iter().map(|c| c.recipient()).collect();
    if due.is_empty() {
        return Ok(record);
    }
    let mut outcomes: Vec<(StateCode, Outcome)> = Vec::new();
    if now - record.created_at > me.retry.max_age_secs {
        let days = me.retry.max_age_secs / 86_400;
        for r in &due {
            outcomes.push((
                *r,
                Outcome::GiveUp(format!("not delivered within {days} days; recipients refuse older messages")),
            ));
        }
    } else {
        let envelope: Envelope = codec::decode::<_, MAX_FRAME>("envelope", &record.envelope)
            .map_err(|e| StoreError::Corrupt { what: "envelope", reason: e.to_string() })?;
        let request = codec::encode("request", &NetRequest::Deliver(Box::new(envelope)))
            .map_err(|e| StoreError::Corrupt { what: "envelope", reason: e.to_string() })?;
        let tries = due.iter().map(|r| {
            let request = request.clone();
            let entry = view.entry(*r).filter(|e| e.is_active()).cloned();
            let (id, hash) = (record.message_id, record.envelope_hash);
            async move {
                let outcome = match entry {
                    Some(entry) => deliver(client, &entry, request, id, &hash).await,
                    None => Outcome::Transient(format!("{r} is not active in directory version {}", view.version())),
                };
                (*r, outcome)
            }
        });
        outcomes = futures::future::join_all(tries).await;
    }
    for (r, o) in &outcomes {
        if matches!(o, Outcome::Transient(_)) {
            unreachable.insert(*r);
        }
    }
    // Each outcome is merged into the stored record; a copy another attempt
    // finished meanwhile keeps its final state.
    let updated = store.update_message(record.message_id, |m| {
        let mut events = Vec::new();
        for (recipient, outcome) in &outcomes {
            let Some(d) = m.deliveries.iter_mut().find(|d| d.recipient == *recipient) else { continue };
            // A final state stays, but a receipt beats a cancellation made
            // while the copy was on its way: it was delivered.
            let receipted_after_cancel =
                matches!(outcome, Outcome::Delivered(_)) && matches!(d.state, DeliveryState::Failed { .. });
            if d.state.is_final() && !receipted_after_cancel {
                continue;
            }
            let attempts = match &d.state {
                DeliveryState::Attempting { attempts, .. } => *attempts + 1,
                _ => 1,
            };
            let (state, action, detail) = match outcome {
                Outcome::Delivered(receipt) => {
                    if !m.receipts.contains(receipt) {
                        m.receipts.push(receipt.clone());
                    }
                    let stored_at = receipt.receipt.stored_at;
                    (DeliveryState::Delivered { stored_at }, Action::ReceiptReceived, format!("attempt {attempts}"))
                }
                Outcome::Refused(r) => (
                    DeliveryState::Refused { code: format!("{:?}", r.code), detail: r.detail.clone() },
                    Action::DeliveryFailed,
                    format!("refused: {:?}", r.code),
                ),
                Outcome::Transient(reason) => (
                    DeliveryState::Attempting {
                        attempts,
                        next_at: now + me.retry.delay(attempts),
                        last_error: reason.clone(),
                    },
                    Action::DeliveryFailed,
                    format!("attempt {attempts}, will retry: {reason}"),
                ),
                Outcome::GiveUp(reason) => (
                    DeliveryState::Failed { reason: reason.clone() },
                    Action::DeliveryFailed,
                    format!("given up: {reason}"),
                ),
            };
            d.state = state;
            d.updated_at = now;
            let mut e = audit::message_event(now, Actor::Peer(Some(*recipient)), action, m, Some(*recipient));
            e.detail = detail;
            events.push(e);
        }
        events
    })?;
    store.flush().await?;
    Ok(updated)
}

/// The operator's hand on one sent message: try its undelivered copies now,
/// or give them up.
pub async fn retry_now(
    me: Me<'_>,
    store: &Store,
    client: &Client,
    view: &DirectoryView,
    id: MessageId,
    now: i64,
) -> Result<MessageRecord, StoreError> {
    let record = store.update_message(id, |m| {
        for d in m.deliveries.iter_mut().filter(|d| !d.state.is_final()) {
            if let DeliveryState::Attempting { next_at, .. } = &mut d.state {
                *next_at = now;
            }
        }
        Vec::new()
    })?;
    let blocked = blocked_before(store, &record)?;
    attempt(me, store, client, view, record, &blocked, &mut HashSet::new(), Vec::new(), now).await
}

pub async fn cancel(store: &Store, id: MessageId, now: i64) -> Result<MessageRecord, StoreError> {
    let record = store.update_message(id, |m| {
        let mut cancelled = Vec::new();
        for d in m.deliveries.iter_mut().filter(|d| !d.state.is_final()) {
            d.state = DeliveryState::Failed { reason: "cancelled by the operator".into() };
            d.updated_at = now;
            cancelled.push(d.recipient);
        }
        cancelled
            .into_iter()
            .map(|r| {
                let mut e = audit::message_event(now, Actor::Operator, Action::DeliveryFailed, m, Some(r));
                e.detail = "cancelled by the operator".into();
                e
            })
            .collect()
    })?;
    store.flush().await?;
    Ok(record)
}

/// Delivers one envelope to one recipient and checks its receipt.
async fn deliver(
    client: &Client,
    entry: &veim_protocol::DirectoryEntry,
    request: Vec<u8>,
    message_id: MessageId,
    envelope_hash: &[u8; 32],
) -> Outcome {
    let Some((peer, addrs)) = dial_info(entry) else {
        return Outcome::Transient("the directory entry has no usable identity key".into());
    };
    let answer = match client.request(peer, addrs, request).await {
        Ok(bytes) => bytes,
        Err(e) => return Outcome::Transient(e.to_string()),
    };
    match codec::decode::<NetResponse, MAX_FRAME>("response", &answer) {
        Ok(NetResponse::Receipt(receipt)) => {
            let r = &receipt.receipt;
            if receipt.verify(&entry.identity_key()).is_err() {
                return Outcome::Transient("the receipt's signature does not verify under the recipient's key".into());
            }
            if r.message_id != message_id || r.envelope_hash != *envelope_hash || r.recipient != entry.state() {
                return Outcome::Transient("the receipt is for another message or another recipient".into());
            }
            Outcome::Delivered(receipt)
        }
        Ok(NetResponse::Refused(refusal)) if transient(refusal.code) => {
            Outcome::Transient(format!("refused: {:?}: {}", refusal.code, refusal.detail))
        }
        Ok(NetResponse::Refused(refusal)) => Outcome::Refused(refusal),
        Ok(other) => Outcome::Transient(format!("unexpected answer: {other:?}")),
        Err(e) => Outcome::Transient(format!("unreadable answer: {e}")),
    }
}

fn refusal(code: RefusalCode, detail: impl Into<String>) -> Refusal {
    Refusal { code, detail: detail.into() }
}

/// Receives an envelope delivered by `sender` (the active directory entry of
/// the transport peer). Returns the signed receipt, only after the flush.
pub async fn receive(
    me: Me<'_>,
    store: &Store,
    sender: &veim_protocol::DirectoryEntry,
    envelope: Envelope,
    now: i64,
    window: Window,
) -> Result<SignedReceipt, Refusal> {
    let h = &envelope.header;
    if h.sender != sender.state() {
        return Err(refusal(
            RefusalCode::SenderMismatch,
            format!("the envelope says it is from {} but was delivered by the node of {}", h.sender, sender.state()),
        ));
    }
    envelope.verify(&sender.identity_key()).map_err(|e| refusal((&e).into(), e.to_string()))?;
    let message_id = h.message_id;
    let envelope_hash = envelope.hash().map_err(|e| refusal(RefusalCode::Malformed, e.to_string()))?;
    // Exactly once: the same envelope again (a retry whose receipt was lost)
    // is answered with the receipt it had, and stored nowhere twice.
    if let Some(stored) = store.message(message_id).map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()))? {
        if stored.direction != Direction::Received || stored.envelope_hash != envelope_hash {
            return Err(refusal(
                RefusalCode::Replay,
                format!("message {message_id} is already held here with other content: refusing a replay"),
            ));
        }
        let receipt = Receipt { message_id, envelope_hash, recipient: me.state, stored_at: stored.stored_at };
        let mut event =
            audit::message_event(now, Actor::Peer(Some(h.sender)), Action::ReceiptSent, &stored, Some(h.sender));
        event.detail = "again, for a duplicate delivery".into();
        store.audit(&event).map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()))?;
        // The first delivery may still be flushing: this receipt, too, only
        // after the message is on disk.
        store.flush().await.map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()))?;
        return SignedReceipt::sign(receipt, me.identity)
            .map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()));
    }
    envelope
        .check_window(now, window.future_secs, window.past_secs)
        .map_err(|e| refusal((&e).into(), e.to_string()))?;
    let body = envelope.open(me.state, me.encryption).map_err(|e| refusal((&e).into(), e.to_string()))?;
    body.validate().map_err(|e| refusal(RefusalCode::InvalidBody, e.to_string()))?;
    body.check_signed_parts(h).map_err(|e| refusal(RefusalCode::InvalidBody, e))?;
    let content =
        me.vault.seal_body(message_id, &body).map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()))?;
    let envelope_bytes =
        codec::encode("envelope", &envelope).map_err(|e| refusal(RefusalCode::Malformed, e.to_string()))?;
    let record = MessageRecord {
        message_id,
        exchange_id: h.exchange_id,
        direction: Direction::Received,
        sender: h.sender,
        recipients: h.recipients.clone(),
        kind: h.kind,
        created_at: h.created_at,
        stored_at: now,
        content: Some(content),
        envelope: envelope_bytes,
        envelope_hash,
        deliveries: Vec::new(),
        receipts: Vec::new(),
        purged_at: None,
        sequence: 0,
    };
    let from = Actor::Peer(Some(h.sender));
    let events = [
        audit::message_event(now, from, Action::MessageReceived, &record, Some(h.sender)),
        audit::message_event(now, from, Action::ReceiptSent, &record, Some(h.sender)),
    ];
    let stored_at = match store.insert_message(&record, |current| next_exchange(current, &record, &body), &events) {
        Ok(_) => now,
        // The same envelope, delivered twice at once: the other delivery stored it.
        Err(StoreError::Duplicate(id)) => match store.message(id) {
            Ok(Some(stored)) if stored.envelope_hash == envelope_hash => stored.stored_at,
            _ => {
                return Err(refusal(
                    RefusalCode::Replay,
                    format!("message {id} is already held here: refusing a replay"),
                ));
            }
        },
        Err(StoreError::Rejected(reason)) => return Err(refusal(RefusalCode::InvalidBody, reason)),
        Err(other) => return Err(refusal(RefusalCode::StorageFailure, other.to_string())),
    };
    store.flush().await.map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()))?;
    let receipt = Receipt { message_id, envelope_hash, recipient: me.state, stored_at };
    SignedReceipt::sign(receipt, me.identity).map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()))
}

/// Who a message of `kind` in `exchange` goes to, seen from `me`: the
/// originator writes to every other participant, the others to the originator.
pub fn counterparts(me: StateCode, exchange: &ExchangeRecord) -> Vec<StateCode> {
    if exchange.originator == me {
        exchange.participants.iter().copied().filter(|s| *s != me).collect()
    } else {
        vec![exchange.originator]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExchangeStatus::*;

    #[test]
    fn allowed_transitions() {
        assert_eq!(Open.after(MessageKind::Response), Ok(Answered));
        assert_eq!(Answered.after(MessageKind::Response), Ok(Answered));
        assert_eq!(Open.after(MessageKind::Note), Ok(Open));
        assert_eq!(Answered.after(MessageKind::Close), Ok(Closed));
        assert_eq!(Open.after(MessageKind::Close), Ok(Closed));
    }

    #[test]
    fn forbidden_transitions() {
        for kind in [MessageKind::Request, MessageKind::Response, MessageKind::Note, MessageKind::Close] {
            assert!(Closed.after(kind).is_err(), "closed exchange accepted a {kind}");
        }
        assert!(Open.after(MessageKind::Request).is_err());
        assert!(Answered.after(MessageKind::Request).is_err());
    }
}
