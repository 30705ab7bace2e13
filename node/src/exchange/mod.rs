//! The exchange engine: sending a message (seal, store, flush, deliver, record
//! receipts) and receiving one (verify, refuse replays, open, store, flush,
//! sign a receipt).
//!
//! The order matters and is the point of this module: a sender stores and
//! flushes before anything leaves the node, and marks a copy delivered only on
//! a receipt whose signature verifies under the recipient's directory key; a
//! receiver answers with a receipt only after the flush that holds the
//! envelope has returned.
//!
//! `outbox` sends and retries, `inbox` receives, `reconcile` finds what a
//! peer lacks; [`Exchanges`] is the service that owns what they share (the
//! delivery claims, the outbox's wake-up, the reconciliation pace).

mod inbox;
mod outbox;
pub mod reconcile;

pub use outbox::{Claim, Claims};

use crate::clock::now;
use crate::directory::{Directory, dial_info};
use crate::home::keys::NodeKeys;
use crate::home::vault::Vault;
use crate::net::Client;
use crate::storage::{DeliveryState, ExchangeRecord, ExchangeStatus, MessageRecord, RuleRefusal, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use veim_protocol::DirectoryEntry;
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::wire::{Inventory, MAX_INVENTORY, MAX_RETURNED, NetRequest, NetResponse, Refusal, RefusalCode};
use veim_protocol::{
    Body, EncryptionKeypair, Envelope, EnvelopeError, ExchangeId, IdentityKeypair, MessageId, MessageKind,
    SignedReceipt, StateCode, ValidationErrors,
};

/// The record of a message this node stores, from its envelope's header:
/// the envelope as encoded and its hash, the body sealed with the storage
/// key. A message this node sent has a pending copy for each recipient.
fn message_record(
    h: &veim_protocol::envelope::Header,
    direction: crate::storage::Direction,
    envelope: Vec<u8>,
    envelope_hash: [u8; 32],
    content: Vec<u8>,
    now: i64,
) -> MessageRecord {
    let deliveries = match direction {
        crate::storage::Direction::Sent => h
            .recipients
            .iter()
            .map(|r| crate::storage::Delivery { recipient: *r, state: DeliveryState::Pending, updated_at: now })
            .collect(),
        crate::storage::Direction::Received => Vec::new(),
    };
    MessageRecord {
        message_id: h.message_id,
        exchange_id: h.exchange_id,
        direction,
        sender: h.sender,
        recipients: h.recipients.clone(),
        kind: h.kind,
        created_at: h.created_at,
        stored_at: now,
        content: Some(content),
        envelope,
        envelope_hash,
        deliveries,
        receipts: Vec::new(),
        purged_at: None,
        sequence: 0,
    }
}

impl ExchangeStatus {
    /// The status after a message of `kind`, or why that message cannot
    /// belong to the exchange now.
    pub fn after(self, kind: MessageKind) -> Result<ExchangeStatus, RuleRefusal> {
        use ExchangeStatus::*;
        match (self, kind) {
            // Consent may be asked, given and revoked long after an exchange
            // is closed: a case can reach a court years later.
            (status, MessageKind::ConsentRequest | MessageKind::ConsentDecision | MessageKind::ConsentRevocation) => {
                Ok(status)
            }
            (Closed, _) => Err(RuleRefusal("the exchange is closed; nothing more can be sent in it".into())),
            (_, MessageKind::Request) => {
                Err(RuleRefusal("the exchange already has its request; start a new exchange".into()))
            }
            (Open | Answered, MessageKind::Response) => Ok(Answered),
            (
                status,
                MessageKind::Note
                | MessageKind::Attachments
                | MessageKind::Measure
                | MessageKind::StageMove
                | MessageKind::RespondBy,
            ) => Ok(status),
            (Open | Answered, MessageKind::Close | MessageKind::Closing) => Ok(Closed),
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
/// - measures and stage moves go from any party to every other party (so
///   that every party holds the same record), the respond-by date from the
///   requesting State to every other party;
/// - consent messages go to one State, and a decision answers a consent
///   request of the same exchange.
fn next_exchange(
    current: Option<ExchangeRecord>,
    record: &MessageRecord,
    body: &Body,
) -> Result<ExchangeRecord, RuleRefusal> {
    let Some(mut x) = current else {
        let Body::Request(_) = body else {
            return Err(RuleRefusal(format!(
                "exchange {} is unknown here; a {} must follow a request",
                record.exchange_id, record.kind
            )));
        };
        if record.exchange_id != ExchangeId::for_request(record.sender, record.message_id) {
            return Err(RuleRefusal(format!(
                "exchange id {} is not the one derived from the request",
                record.exchange_id
            )));
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
        return Err(RuleRefusal(format!("{} does not take part in exchange {id}", record.sender)));
    }
    if let Some(outsider) = record.recipients.iter().find(|r| !x.participants.contains(r)) {
        return Err(RuleRefusal(format!("{outsider} does not take part in exchange {id}")));
    }
    let from_originator = record.sender == x.originator;
    let to_originator_only = record.recipients == [x.originator];
    match record.kind {
        MessageKind::Response if from_originator => {
            return Err(RuleRefusal("only the States a request was sent to respond to it; the requesting State adds information with a note".to_string()));
        }
        MessageKind::Response | MessageKind::Note | MessageKind::Attachments
            if !from_originator && !to_originator_only =>
        {
            return Err(RuleRefusal(format!(
                "{} writes in exchange {id} to the requesting State {} only",
                record.sender, x.originator
            )));
        }
        MessageKind::RespondBy if !from_originator => {
            return Err(RuleRefusal(format!(
                "only the requesting State ({}) sets the date to respond by in exchange {id}",
                x.originator
            )));
        }
        kind if kind.is_progress() && !to_every_other_party(&x, record) => {
            let others: Vec<String> =
                x.participants.iter().filter(|p| **p != record.sender).map(|p| p.to_string()).collect();
            return Err(RuleRefusal(format!(
                "a {kind} goes to every other party of exchange {id} ({}), so that every party holds the same record",
                others.join(", ")
            )));
        }
        kind if kind.closes() && !from_originator => {
            return Err(RuleRefusal(format!(
                "only the requesting State ({}) closes exchange {id}; send a note instead",
                x.originator
            )));
        }
        kind if kind.is_consent() && record.recipients.len() != 1 => {
            return Err(RuleRefusal(format!("a {kind} goes to one State only")));
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
        return Err(RuleRefusal(format!("consent request {asked} is not part of exchange {id}")));
    }
    x.status = x.status.after(record.kind)?;
    x.updated_at = record.stored_at;
    x.messages.push(record.message_id);
    Ok(x)
}

/// Whether a message goes to exactly the parties other than its sender.
fn to_every_other_party(x: &ExchangeRecord, record: &MessageRecord) -> bool {
    let mut others: Vec<StateCode> = x.participants.iter().copied().filter(|p| *p != record.sender).collect();
    let mut to = record.recipients.clone();
    others.sort();
    to.sort();
    to.dedup();
    to.len() == record.recipients.len() && others == to
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
    /// A progress record that breaks a rule of SPEC section 7.2 by name.
    #[error("{0}; nothing was sent")]
    Progress(veim_protocol::ProgressError),
    #[error("this node speaks for no State: only a national node sends messages")]
    NoState,
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
    /// The copies being delivered right now.
    pub claims: &'a Claims,
    pub retry: RetryPolicy,
    /// What deliveries came to, counted.
    pub tallies: &'a Tallies,
}

/// Refusals counted by code since the node started.
#[derive(Debug, Default)]
pub struct RefusalCounts(Mutex<HashMap<RefusalCode, u64>>);

impl RefusalCounts {
    pub fn add(&self, code: RefusalCode) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(code).or_default() += 1;
        }
    }

    /// Each code counted so far, with its count.
    pub fn counts(&self) -> Vec<(RefusalCode, u64)> {
        self.0.lock().map(|c| c.iter().map(|(code, n)| (*code, *n)).collect()).unwrap_or_default()
    }
}

/// What the exchange service counts since the node started (the node's
/// metrics read it): copies delivered with a valid receipt, messages
/// received and receipted, and the refusals peers answered deliveries with.
#[derive(Debug, Default)]
pub struct Tallies {
    delivered: AtomicU64,
    received: AtomicU64,
    refused: RefusalCounts,
    /// This node's clock against its peers', from their receipts.
    clocks: crate::clock::PeerClocks,
}

impl Tallies {
    /// Copies of this node's messages that peers receipted.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Messages from peers stored and receipted.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Refusals peers answered this node's deliveries with, by code.
    pub fn refused(&self) -> Vec<(RefusalCode, u64)> {
        self.refused.counts()
    }

    /// How far this node's clock is ahead of its peers' (negative:
    /// behind), as their receipts show it; `None` before the first receipt.
    pub fn clock_offset(&self) -> Option<i64> {
        self.clocks.offset()
    }
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

/// How a sender retries: capped exponential backoff with jitter, and how
/// long before it gives up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base_secs: i64,
    pub max_secs: i64,
    /// A message older than this is given up (recipients refuse it).
    pub max_age_secs: i64,
    /// How long the operator's send waits for its first attempt.
    pub send_wait: std::time::Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`: `base * 2^(attempts-1)`,
    /// capped, times a random factor in [0.8, 1.2).
    pub fn delay(&self, attempts: u32) -> i64 {
        let exp = self.base_secs.max(1).saturating_mul(1i64 << attempts.saturating_sub(1).min(30));
        let capped = exp.min(self.max_secs.max(1));
        ((capped as f64) * crate::clock::jitter()).round().max(1.0) as i64
    }
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

/// Every party of `exchange` but `me`: where a progress record goes.
pub fn other_parties(me: StateCode, exchange: &ExchangeRecord) -> Vec<StateCode> {
    exchange.participants.iter().copied().filter(|s| *s != me).collect()
}

/// The exchange service: what sending, receiving and reconciling share.
#[derive(Debug)]
pub struct Exchanges {
    store: Store,
    keys: Arc<NodeKeys>,
    vault: Arc<Vault>,
    state: Option<StateCode>,
    retry: RetryPolicy,
    window: Window,
    reconcile_secs: u64,
    directory: Arc<Directory>,
    client: Client,
    claims: Claims,
    /// Wakes the outbox before its next tick.
    pub wake: Notify,
    /// When each peer last had a reconciliation answered.
    reconciled_with: Mutex<HashMap<StateCode, i64>>,
    /// Per peer, the messages it sent this node that it said it lacks: their
    /// envelopes go back with the next inventory sent to it.
    to_return: Mutex<HashMap<StateCode, Vec<MessageId>>>,
    tallies: Tallies,
}

/// Why a peer's reconciliation was not answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    #[error("{0}")]
    NotActive(String),
    #[error("an inventory lists each exchange once and at most {MAX_INVENTORY} messages")]
    Malformed,
    #[error("reconciled a moment ago; try at the next period")]
    TooSoon,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Exchanges {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        keys: Arc<NodeKeys>,
        vault: Arc<Vault>,
        state: Option<StateCode>,
        retry: RetryPolicy,
        window: Window,
        reconcile_secs: u64,
        directory: Arc<Directory>,
        client: Client,
    ) -> Exchanges {
        Exchanges {
            store,
            keys,
            vault,
            state,
            retry,
            window,
            reconcile_secs,
            directory,
            client,
            claims: Claims::default(),
            wake: Notify::new(),
            reconciled_with: Mutex::new(HashMap::new()),
            to_return: Mutex::new(HashMap::new()),
            tallies: Tallies::default(),
        }
    }

    /// What deliveries, in and out, came to since the node started.
    pub fn tallies(&self) -> &Tallies {
        &self.tallies
    }

    /// What sending and receiving need of this node (national nodes only).
    pub fn me(&self) -> Option<Me<'_>> {
        Some(Me {
            state: self.state?,
            identity: &self.keys.identity,
            encryption: &self.keys.encryption,
            vault: &self.vault,
            claims: &self.claims,
            retry: self.retry,
            tallies: &self.tallies,
        })
    }

    /// Seals, stores, flushes and delivers a message the operator wrote.
    pub async fn send(&self, outgoing: Outgoing<'_>) -> Result<MessageRecord, SendError> {
        let me = self.me().ok_or(SendError::NoState)?;
        let sent = outbox::send(me, &self.store, &self.client, &self.directory.view(), outgoing, now()).await?;
        if sent.deliveries.iter().any(|d| d.state == DeliveryState::Pending) {
            // Left untried by a send that stopped waiting: the outbox takes it now.
            self.wake.notify_one();
        }
        Ok(sent)
    }

    /// Tries every outbox copy that is due; returns how many were delivered.
    pub async fn retry_due(&self) -> Result<usize, StoreError> {
        let Some(me) = self.me() else { return Ok(0) };
        outbox::retry_due(me, &self.store, &self.client, &self.directory.view(), now()).await
    }

    /// Tries the copies of one message now, whatever their schedule.
    pub async fn retry_now(&self, id: MessageId) -> Result<MessageRecord, SendError> {
        let me = self.me().ok_or(SendError::NoState)?;
        Ok(outbox::retry_now(me, &self.store, &self.client, &self.directory.view(), id, now()).await?)
    }

    /// Gives up the copies of one message not yet final.
    pub async fn cancel(&self, id: MessageId) -> Result<MessageRecord, StoreError> {
        outbox::cancel(&self.store, id, now()).await
    }

    /// An envelope delivered by `sender` (the active entry of the transport
    /// peer): the signed receipt, once it is stored and flushed.
    pub async fn receive(&self, sender: &DirectoryEntry, envelope: Envelope) -> Result<SignedReceipt, Refusal> {
        let view = self.directory.view();
        let Some(me) = self.me() else {
            return Err(Refusal { code: RefusalCode::WrongRole, detail: "this node speaks for no State".into() });
        };
        if !view.entry(me.state).is_some_and(|e| e.is_active()) {
            return Err(Refusal {
                code: RefusalCode::NotInDirectory,
                detail: format!(
                    "{} is not active in directory version {}: it takes no messages",
                    me.state,
                    view.version()
                ),
            });
        }
        let receipt = inbox::receive(me, &self.store, sender, envelope, now(), self.window).await?;
        self.tallies.received.fetch_add(1, Ordering::Relaxed);
        tracing::info!(message = %receipt.receipt.message_id, from = %sender.state(), "message received and stored");
        Ok(receipt)
    }

    /// The peer's side of a reconciliation asked by `from`: the ids listed
    /// that this node lacks (what it sent `from` that `from` lacks is queued
    /// again). At most one per peer in half a period: each may queue again
    /// everything sent to it.
    pub async fn reconcile(
        &self,
        from: StateCode,
        inventory: Box<Inventory>,
    ) -> Result<Vec<MessageId>, ReconcileError> {
        let view = self.directory.view();
        let Some(me) = self.state else {
            return Err(ReconcileError::NotActive("this node speaks for no State".into()));
        };
        if !view.entry(me).is_some_and(|e| e.is_active()) {
            return Err(ReconcileError::NotActive(format!(
                "{me} is not active in directory version {}: it does not reconcile",
                view.version()
            )));
        }
        let exchanges: HashSet<_> = inventory.exchanges.iter().map(|(x, _)| x).collect();
        if exchanges.len() != inventory.exchanges.len()
            || inventory.exchanges.iter().map(|(_, ids)| ids.len()).sum::<usize>() > MAX_INVENTORY
            || inventory.returned.len() > MAX_RETURNED
        {
            return Err(ReconcileError::Malformed);
        }
        let period = self.reconcile_secs.max(2) as i64;
        {
            let mut last = self
                .reconciled_with
                .lock()
                .map_err(|_| StoreError::Internal("reconciliation state poisoned".into()))?;
            if last.get(&from).is_some_and(|t| now() - t < period / 2) {
                return Err(ReconcileError::TooSoon);
            }
            last.insert(from, now());
        }
        if !inventory.returned.is_empty()
            && let Some(own) = self.me()
        {
            let taken = reconcile::take_back(&own, &self.store, from, &inventory.returned, now())?;
            if taken > 0 {
                tracing::info!(peer = %from, taken, "reconciliation: own messages lost in a restore given back");
            }
        }
        // A pass over the listed exchanges' records: off the runtime's
        // threads, which carry every other request meanwhile.
        let (store, max_age) = (self.store.clone(), self.retry.max_age_secs);
        let missing = blocking(move || reconcile::answer(&store, me, from, &inventory, now(), max_age)).await?;
        self.store.flush().await?;
        self.wake.notify_one();
        Ok(missing)
    }

    /// Sends each active counterpart the inventory of shared exchanges, and
    /// queues again what each lacks. Returns how many copies were queued.
    pub async fn reconcile_all(&self) -> Result<usize, StoreError> {
        let Some(me) = self.state else { return Ok(0) };
        let view = self.directory.view();
        let mut queued = 0;
        let max_age = self.retry.max_age_secs;
        let store = self.store.clone();
        let inventories = blocking(move || reconcile::inventories(&store, me, now(), max_age)).await?;
        for (peer, mut inventory) in inventories {
            let Some((peer_id, addrs)) = view.entry(peer).filter(|e| e.is_active()).and_then(dial_info) else {
                continue;
            };
            let owed = self.to_return.lock().ok().and_then(|mut m| m.remove(&peer)).unwrap_or_default();
            inventory.returned = reconcile::envelopes_to_return(&self.store, peer, &owed)?;
            let Ok(bytes) = codec::encode("request", &NetRequest::Reconcile(Box::new(inventory))) else { continue };
            let answer = self.client.request(peer_id, addrs, bytes).await;
            if let Ok(Ok(NetResponse::Reconciled { missing })) =
                answer.map(|b| codec::decode::<NetResponse, MAX_FRAME>("response", &b))
            {
                let (n, theirs) = reconcile::apply(&self.store, peer, &missing, now(), max_age)?;
                if !theirs.is_empty() {
                    tracing::info!(%peer, lost = theirs.len(), "reconciliation: the peer lost messages it sent; giving them back");
                    if let Ok(mut owed) = self.to_return.lock() {
                        owed.insert(peer, theirs);
                    }
                }
                if n > 0 {
                    tracing::info!(%peer, queued = n, "reconciliation: messages the peer lacks queued again");
                }
                queued += n;
            }
        }
        if queued > 0 {
            self.store.flush().await?;
            self.wake.notify_one();
        }
        Ok(queued)
    }

    /// The States this node shares at least one exchange with.
    pub fn counterparts(&self) -> Vec<StateCode> {
        self.state.and_then(|me| reconcile::counterparts(&self.store, me).ok()).unwrap_or_default()
    }
}

/// Runs a pass over the store on a thread of its own.
async fn blocking<T: Send + 'static>(
    pass: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(pass)
        .await
        .map_err(|e| StoreError::Internal(format!("a pass over the store stopped: {e}")))?
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
        assert_eq!(Answered.after(MessageKind::Closing), Ok(Closed));
        for kind in [MessageKind::Measure, MessageKind::StageMove, MessageKind::RespondBy] {
            assert_eq!(Open.after(kind), Ok(Open));
            assert_eq!(Answered.after(kind), Ok(Answered));
        }
    }

    #[test]
    fn forbidden_transitions() {
        for kind in [
            MessageKind::Request,
            MessageKind::Response,
            MessageKind::Note,
            MessageKind::Close,
            MessageKind::Measure,
            MessageKind::StageMove,
            MessageKind::RespondBy,
            MessageKind::Closing,
        ] {
            assert!(Closed.after(kind).is_err(), "closed exchange accepted a {kind}");
        }
        assert!(Open.after(MessageKind::Request).is_err());
        assert!(Answered.after(MessageKind::Request).is_err());
    }

    fn st(s: &str) -> StateCode {
        s.parse().expect("state")
    }

    fn message(exchange: ExchangeId, n: u8, kind: MessageKind, from: &str, to: &[&str]) -> MessageRecord {
        let sender = st(from);
        let mut id = [n; 16];
        id[..3].copy_from_slice(from.as_bytes());
        MessageRecord {
            message_id: MessageId(id),
            exchange_id: exchange,
            direction: crate::storage::Direction::Received,
            sender,
            recipients: to.iter().map(|s| st(s)).collect(),
            kind,
            created_at: i64::from(n),
            stored_at: i64::from(n),
            content: None,
            envelope: Vec::new(),
            envelope_hash: [0; 32],
            deliveries: Vec::new(),
            receipts: Vec::new(),
            purged_at: None,
            sequence: 0,
        }
    }

    fn progress_body(kind: MessageKind) -> Body {
        use veim_protocol::{CalendarDate, Closing, Measure, MeasureKind, Outcome, RespondBy, StageMove};
        let date = CalendarDate::parse("2026-11-30").expect("date");
        match kind {
            MessageKind::Measure => Body::Measure(Measure {
                provision: veim_protocol::request::Provision::Art11_4,
                kind: MeasureKind::ShipmentExamined,
                date,
                text: String::new(),
                handling: Default::default(),
            }),
            MessageKind::StageMove => {
                Body::StageMove(StageMove { stage: veim_protocol::request::Stage::ReachedEndUser, text: String::new() })
            }
            MessageKind::RespondBy => Body::RespondBy(RespondBy { date, text: String::new() }),
            _ => Body::Closing(Closing { outcome: Outcome::Inconclusive, reason: String::new() }),
        }
    }

    #[test]
    fn progress_records_go_from_any_party_to_every_other_and_stop_at_the_close() {
        let mut request = message(ExchangeId([0; 16]), 1, MessageKind::Request, "MEX", &["SWE", "FRA"]);
        request.exchange_id = ExchangeId::for_request(request.sender, request.message_id);
        let x = request.exchange_id;
        let open = next_exchange(None, &request, &Body::Request(crate_request())).expect("the request opens it");
        let fits = |kind, from: &str, to: &[&str]| {
            let m = message(x, 2, kind, from, to);
            next_exchange(Some(open.clone()), &m, &progress_body(kind))
        };
        for kind in [MessageKind::Measure, MessageKind::StageMove] {
            assert!(fits(kind, "SWE", &["MEX", "FRA"]).is_ok(), "{kind} from a recipient to every other party");
            assert!(fits(kind, "MEX", &["FRA", "SWE"]).is_ok(), "{kind} from the originator");
            let e = fits(kind, "SWE", &["MEX"]).expect_err("to one party only");
            assert!(e.0.contains("every other party"), "{}", e.0);
            assert!(fits(kind, "MEX", &["SWE"]).is_err(), "{kind} from the originator to one party only");
        }
        assert!(fits(MessageKind::RespondBy, "MEX", &["SWE", "FRA"]).is_ok());
        let e = fits(MessageKind::RespondBy, "SWE", &["MEX", "FRA"]).expect_err("not the originator");
        assert!(e.0.contains("only the requesting State (MEX) sets the date"), "{}", e.0);
        assert!(fits(MessageKind::Closing, "SWE", &["MEX"]).is_err(), "only the originator closes");
        let closed = fits(MessageKind::Closing, "MEX", &["SWE", "FRA"]).expect("the originator closes");
        assert_eq!(closed.status, Closed);
        let after = message(x, 3, MessageKind::Measure, "SWE", &["MEX", "FRA"]);
        let e = next_exchange(Some(closed), &after, &progress_body(MessageKind::Measure)).expect_err("closed");
        assert!(e.0.contains("closed"), "{}", e.0);
    }

    fn crate_request() -> veim_protocol::Request {
        use veim_protocol::request::{ArmsCategory, Provision, Stage, TransferInformation};
        veim_protocol::Request {
            summary: "s".into(),
            states_involved: vec![st("MEX")],
            stage: Stage::RiskAnalysis,
            provisions: vec![Provision::Art11_4],
            transfer: TransferInformation {
                categories: vec![ArmsCategory::SmallArmsAndLightWeapons],
                items: Vec::new(),
                state_of_origin: None,
                transit_states: Vec::new(),
                importing_state: None,
                end_user: None,
            },
            additional_information: None,
            handling: Default::default(),
        }
    }
}
