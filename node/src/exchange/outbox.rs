//! Sending: seal, store and flush, then deliver each copy and record what
//! each recipient answered; retry what is due, in each exchange's order.

use super::*;
use crate::audit;
use crate::directory::{DirectoryView, dial_info};
use crate::net::Client;
use crate::storage::{DeliveryState, Direction, MessageRecord, RuleRefusal, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use veim_protocol::audit::{Action, Actor};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::envelope::{Draft, Recipient};
use veim_protocol::wire::{NetRequest, NetResponse, Refusal, RefusalCode};
use veim_protocol::{Body, Envelope, EnvelopeError, ExchangeId, MessageContext, MessageId, SignedReceipt, StateCode};

/// The copies being delivered right now (not stored: a restart frees them).
/// One attempt at a time per copy: the operator's send and the outbox loop
/// never deliver the same copy at once.
#[derive(Debug, Default)]
pub struct Claims(Arc<Mutex<HashSet<(MessageId, StateCode)>>>);

impl Claims {
    /// Claims a copy for one delivery attempt; `None` if another attempt
    /// holds it. The claim ends when the returned guard is dropped.
    pub fn claim(&self, message: MessageId, recipient: StateCode) -> Option<Claim> {
        let mut set = self.0.lock().ok()?;
        set.insert((message, recipient)).then(|| Claim { set: self.0.clone(), key: (message, recipient) })
    }
}

/// A copy claimed for one delivery attempt ([`Claims::claim`]).
#[derive(Debug)]
pub struct Claim {
    set: Arc<Mutex<HashSet<(MessageId, StateCode)>>>,
    key: (MessageId, StateCode),
}

impl Claim {
    pub fn recipient(&self) -> StateCode {
        self.key.1
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.key);
        }
    }
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
    body.check_dated(now).map_err(SendError::Progress)?;
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
    let message_id = MessageId::issued_by(me.state, &mut rng);
    // The operator's send tries its own copies first: they are claimed
    // before the message is stored, so the outbox loop cannot take them
    // however long the store and its flush take.
    let held: Vec<Claim> = recipients.iter().filter_map(|r| me.claims.claim(message_id, *r)).collect();
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
    let draft = Draft {
        message_id,
        exchange_id,
        sender: me.state,
        recipients: &keys,
        sender_encryption_key: me.encryption.public(),
        created_at: now,
        body: &body,
    };
    let envelope = Envelope::seal(&draft, me.identity, &mut rng)?;
    let envelope_bytes =
        codec::encode("envelope", &envelope).map_err(|e| SendError::Seal(EnvelopeError::Seal(e.to_string())))?;
    let envelope_hash = envelope.hash().map_err(|e| SendError::Seal(EnvelopeError::Seal(e.to_string())))?;
    let content =
        me.vault.seal_body(message_id, &body).map_err(|e| SendError::Seal(EnvelopeError::Seal(e.to_string())))?;
    let record = message_record(&envelope.header, Direction::Sent, envelope_bytes, envelope_hash, content, now);
    let sent = audit::message_event(now, Actor::Operator, audit::sent_action(&body), &record, None);
    let rules = move |current, record: &MessageRecord| next_exchange(current, record, &body);
    store.insert_message_grouped(record.clone(), rules, vec![sent]).await.map_err(|e| match e {
        StoreError::Refused(RuleRefusal(reason)) => SendError::Refused(reason),
        other => SendError::Store(other),
    })?;
    store.flush().await?;

    let blocked = blocked_before(store, &record)?;
    let message_id = record.message_id;
    let mut unreachable = HashSet::new();
    let first = attempt(me, store, client, view, record.clone(), &blocked, &mut unreachable, held, now);
    match tokio::time::timeout(me.retry.send_wait, first).await {
        Ok(tried) => Ok(tried?),
        // A recipient that does not answer (a dial or a request that hangs)
        // does not hold the operator: the attempt is dropped, its claims
        // with it, and the copies stay queued for the outbox, which tries
        // them at once (a recipient that got the message meanwhile answers
        // the same receipt again).
        Err(_) => {
            tracing::info!(message = %message_id, "no answer yet from a recipient; the copy is queued");
            Ok(store.message(message_id)?.unwrap_or(record))
        }
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
            None => me.claims.claim(record.message_id, *r),
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
            // A retry's receipt may carry the time of an earlier attempt's
            // storing: only a first attempt's tells the peer's clock well.
            // Even a "first" attempt may find the copy stored already (a
            // crash before its receipt was kept, a restore): the peer stored
            // it after the message was made, so the creation time, not this
            // attempt's, bounds when it could have.
            let first = record
                .deliveries
                .iter()
                .any(|d| d.recipient == *r && d.state == DeliveryState::Pending)
                .then_some(record.created_at);
            async move {
                let outcome = match entry {
                    Some(entry) => deliver(client, &entry, request, id, &hash, me.tallies, first).await,
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
    let retry = me.retry;
    let updated = store
        .update_message_grouped(record.message_id, move |m| {
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
                            next_at: now + retry.delay(attempts),
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
        })
        .await?;
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
    entry: &DirectoryEntry,
    request: Vec<u8>,
    message_id: MessageId,
    envelope_hash: &[u8; 32],
    tallies: &Tallies,
    first_attempt: Option<i64>,
) -> Outcome {
    let Some((peer, addrs)) = dial_info(entry) else {
        return Outcome::Transient("the directory entry has no usable identity key".into());
    };
    let sent = now();
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
            tallies.delivered.fetch_add(1, Ordering::Relaxed);
            if let Some(created_at) = first_attempt {
                tallies.clocks.observe(entry.state(), created_at.min(sent), r.stored_at, now());
            }
            Outcome::Delivered(receipt)
        }
        Ok(NetResponse::Refused(refusal)) if transient(refusal.code) => {
            tallies.refused.add(refusal.code);
            Outcome::Transient(format!("refused: {:?}: {}", refusal.code, refusal.detail))
        }
        Ok(NetResponse::Refused(refusal)) => {
            tallies.refused.add(refusal.code);
            Outcome::Refused(refusal)
        }
        Ok(other) => Outcome::Transient(format!("unexpected answer: {other:?}")),
        Err(e) => Outcome::Transient(format!("unreadable answer: {e}")),
    }
}
