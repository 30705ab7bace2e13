//! Messages and exchanges (one transaction each with their audit entries),
//! the outbox, attachments and disclosures.

use super::*;
use sled::Transactional;
use veim_protocol::audit::Event;
use veim_protocol::ids::AttachmentId;
use veim_protocol::{ExchangeId, MessageId, MessageKind, StateCode};

/// The outbox key of a sent message: its sequence number (the order this
/// node stored it in), then its id.
fn outbox_key(record: &MessageRecord) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&record.sequence.to_be_bytes());
    key[8..].copy_from_slice(&record.message_id.0);
    key
}

fn body_key(id: MessageId, part: u8) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[..16].copy_from_slice(&id.0);
    key[16] = part;
    key
}
const ENVELOPE: u8 = 0;
const CONTENT: u8 = 1;

/// The record as kept in `messages`: without its envelope and sealed body,
/// which go to `bodies` (set aside while it is encoded, not copied).
fn record_bytes(record: &mut MessageRecord) -> Result<Vec<u8>, StoreError> {
    let content = record.content.take();
    let envelope = std::mem::take(&mut record.envelope);
    let bytes = enc("message", &*record);
    record.content = content;
    record.envelope = envelope;
    bytes
}

/// A stored record with its envelope and body put back (a format-1 record
/// holds them itself). A purged record gets none back, whatever `bodies`
/// may still hold (a purge made by a release that did not know of it).
fn joined(
    mut record: MessageRecord,
    body: impl Fn(u8) -> Result<Option<sled::IVec>, StoreError>,
) -> Result<MessageRecord, StoreError> {
    if record.purged_at.is_some() {
        return Ok(record);
    }
    if let Some(envelope) = body(ENVELOPE)? {
        record.envelope = envelope.to_vec();
    }
    if let Some(content) = body(CONTENT)? {
        record.content = Some(content.to_vec());
    }
    Ok(record)
}

/// The trees of [`MessageTx`], as sled's transactions take them.
pub(super) type MessageTrees<'a> = (
    &'a sled::Tree,
    &'a sled::Tree,
    &'a sled::Tree,
    &'a sled::Tree,
    &'a sled::Tree,
    &'a sled::Tree,
    &'a sled::Tree,
    &'a sled::Tree,
);

type TxTree = sled::transaction::TransactionalTree;

/// The trees a message's insert or update writes, inside one transaction.
pub(super) struct MessageTx<'a> {
    messages: &'a TxTree,
    bodies: &'a TxTree,
    exchanges: &'a TxTree,
    audit: &'a TxTree,
    meta: &'a TxTree,
    outbox: &'a TxTree,
    downloads: &'a TxTree,
    notices: &'a TxTree,
}

impl<'a> MessageTx<'a> {
    #[allow(clippy::type_complexity)]
    pub(super) fn of(t: &'a (TxTree, TxTree, TxTree, TxTree, TxTree, TxTree, TxTree, TxTree)) -> MessageTx<'a> {
        let (messages, bodies, exchanges, audit, meta, outbox, downloads, notices) = t;
        MessageTx { messages, bodies, exchanges, audit, meta, outbox, downloads, notices }
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// [`Store::insert_message`]'s change, inside a transaction.
fn insert_in(
    tx: &MessageTx<'_>,
    record: &MessageRecord,
    update: &dyn Fn(Option<ExchangeRecord>) -> Result<ExchangeRecord, RuleRefusal>,
    events: &[Event],
) -> TxResult<ExchangeRecord> {
    let msg_key = record.message_id.0;
    let ex_key = record.exchange_id.0;
    let queued = record.direction == Direction::Sent && record.deliveries.iter().any(|d| !d.state.is_final());
    let download = record.direction == Direction::Received && record.kind == MessageKind::Attachments;
    // What an operator may be told of by mail: kept with the message, so
    // that a crash after the receipt loses no notification.
    let notice = record.direction == Direction::Received
        && matches!(record.kind, MessageKind::Request | MessageKind::ConsentRequest);
    if tx.messages.get(msg_key)?.is_some() {
        return Err(abort(StoreError::Duplicate(record.message_id)));
    }
    // The order of storing, taken in the transaction that stores:
    // the outbox order is the exchange log's order.
    let sequence: u64 = match tx.meta.get(MESSAGE_SEQUENCE)? {
        Some(b) => dec("message sequence", &b).map_err(abort)?,
        None => 0,
    } + 1;
    tx.meta.insert(MESSAGE_SEQUENCE, enc("message sequence", &sequence).map_err(abort)?)?;
    let mut record = record.clone();
    record.sequence = sequence;
    let msg_bytes = record_bytes(&mut record).map_err(abort)?;
    if queued {
        tx.outbox.insert(outbox_key(&record).to_vec(), &record.exchange_id.0)?;
    }
    if download {
        tx.downloads.insert(&msg_key, &[])?;
    }
    if notice {
        tx.notices.insert(&msg_key, &[])?;
    }
    for event in events {
        append(tx.audit, tx.meta, event)?;
    }
    let current = match tx.exchanges.get(ex_key)? {
        Some(b) => Some(dec::<ExchangeRecord>("exchange", &b).map_err(abort)?),
        None => None,
    };
    let next = update(current).map_err(|e| abort(StoreError::Refused(e)))?;
    tx.exchanges.insert(&ex_key, enc("exchange", &next).map_err(abort)?)?;
    tx.messages.insert(&msg_key, msg_bytes.as_slice())?;
    if !record.envelope.is_empty() {
        tx.bodies.insert(&body_key(record.message_id, ENVELOPE), record.envelope.as_slice())?;
    }
    if let Some(content) = &record.content {
        tx.bodies.insert(&body_key(record.message_id, CONTENT), content.as_slice())?;
    }
    Ok(next)
}

/// [`Store::update_message`]'s change, inside a transaction.
fn update_in(
    tx: &MessageTx<'_>,
    id: MessageId,
    change: &dyn Fn(&mut MessageRecord) -> Vec<Event>,
) -> TxResult<MessageRecord> {
    let old = tx.messages.get(id.0)?.ok_or_else(|| abort(StoreError::NotFound(id)))?;
    let old: MessageRecord = dec("message", &old).map_err(abort)?;
    // A format-1 record holds its body itself: written out below.
    let inline = !old.envelope.is_empty() || old.content.is_some();
    let held = [tx.bodies.get(body_key(id, ENVELOPE))?, tx.bodies.get(body_key(id, CONTENT))?];
    let mut record = joined(old, |part| Ok(held[usize::from(part)].clone())).map_err(abort)?;
    for event in change(&mut record) {
        append(tx.audit, tx.meta, &event)?;
    }
    if record.direction == Direction::Sent {
        if record.deliveries.iter().all(|d| d.state.is_final()) {
            tx.outbox.remove(outbox_key(&record).to_vec())?;
        } else {
            tx.outbox.insert(outbox_key(&record).to_vec(), &record.exchange_id.0)?;
        }
    }
    tx.messages.insert(&id.0, record_bytes(&mut record).map_err(abort)?)?;
    // The body is written again only when it changed (a purge),
    // not at each delivery attempt.
    // A purged record keeps no body (nor one a purge by an older
    // release left behind).
    let inline = inline || record.purged_at.is_some();
    if inline || held[usize::from(ENVELOPE)].as_deref().unwrap_or_default() != record.envelope.as_slice() {
        match record.envelope.is_empty() {
            true => tx.bodies.remove(&body_key(id, ENVELOPE))?,
            false => tx.bodies.insert(&body_key(id, ENVELOPE), record.envelope.as_slice())?,
        };
    }
    if inline || held[usize::from(CONTENT)].as_deref() != record.content.as_deref() {
        match &record.content {
            None => tx.bodies.remove(&body_key(id, CONTENT))?,
            Some(c) => tx.bodies.insert(&body_key(id, CONTENT), c.as_slice())?,
        };
    }
    Ok(record)
}

impl Store {
    // --- messages and exchanges -----------------------------------------

    /// Stores a new message and updates its exchange in one transaction.
    /// `update` computes the exchange record from the stored one (or `None`
    /// for a new exchange) and may refuse. A message id already stored is
    /// refused with [`StoreError::Duplicate`].
    pub fn insert_message(
        &self,
        record: &MessageRecord,
        update: impl Fn(Option<ExchangeRecord>) -> Result<ExchangeRecord, RuleRefusal>,
        events: &[Event],
    ) -> Result<ExchangeRecord, StoreError> {
        let _writing = self.writing()?;
        self.message_trees()
            .transaction(|t| insert_in(&MessageTx::of(t), record, &update, events))
            .map_err(tx_err)
            .inspect(|x| self.note_participants(&x.participants))
    }

    /// [`Store::insert_message`] in the next grouped transaction: for the
    /// paths where many messages arrive or leave at once (receiving,
    /// sending), which wait for the group instead of each for sled's commit
    /// (see `grouped`). The same answer, for the same change.
    /// `update` is given the record being stored.
    pub async fn insert_message_grouped(
        &self,
        record: MessageRecord,
        update: impl Fn(Option<ExchangeRecord>, &MessageRecord) -> Result<ExchangeRecord, RuleRefusal> + Send + 'static,
        events: Vec<Event>,
    ) -> Result<ExchangeRecord, StoreError> {
        self.grouped(move |tx| insert_in(tx, &record, &|current| update(current, &record), &events))
            .await
            .inspect(|x| self.note_participants(&x.participants))
    }

    /// The trees a message's insert or update writes.
    pub(super) fn message_trees(&self) -> MessageTrees<'_> {
        (
            &self.messages,
            &self.bodies,
            &self.exchanges,
            &self.audit,
            &self.meta,
            &self.outbox,
            &self.downloads,
            &self.mail_notices,
        )
    }

    /// Every distinct list of participants among the stored exchanges (who
    /// this node exchanges with, asked every minute by the audit's
    /// checkpoints): one pass over the exchanges at the first call, then
    /// kept as messages are inserted, so that later calls read nothing.
    pub fn participant_lists(&self) -> Result<Vec<Vec<StateCode>>, StoreError> {
        let mut held = self.participants.lock().map_err(|_| StoreError::Internal("participants poisoned".into()))?;
        if held.is_none() {
            // Under the lock: an insert committed meanwhile adds its list
            // once this pass has set the first ones, not before.
            let mut lists = std::collections::BTreeSet::new();
            for x in self.each_exchange() {
                lists.insert(x?.participants);
            }
            *held = Some(lists);
        }
        Ok(held.iter().flatten().cloned().collect())
    }

    fn note_participants(&self, participants: &[StateCode]) {
        if let Ok(mut held) = self.participants.lock()
            && let Some(lists) = held.as_mut()
            && !lists.contains(participants)
        {
            lists.insert(participants.to_vec());
        }
    }

    /// A message with its envelope and body, read together (a purge or an
    /// insert committing meanwhile is seen whole or not at all).
    pub fn message(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError> {
        match self.message_record(id)? {
            Some(record) => self.whole(record),
            None => Ok(None),
        }
    }

    /// A record read by [`Store::message_record`] (or a listing) with its
    /// envelope and body put back. Read without a transaction (sled writes
    /// each transaction, even one that only reads, to its log); only a part
    /// missing beside a record that is not purged (an insert or a purge
    /// committing meanwhile) reads them again, with the record, in one.
    pub fn whole(&self, record: MessageRecord) -> Result<Option<MessageRecord>, StoreError> {
        if record.purged_at.is_some() || !record.envelope.is_empty() {
            // Purged, or a format-1 record holding its parts itself.
            return Ok(Some(record));
        }
        let id = record.message_id;
        if let (Some(envelope), Some(content)) =
            (self.bodies.get(body_key(id, ENVELOPE))?, self.bodies.get(body_key(id, CONTENT))?)
        {
            return Ok(Some(MessageRecord { envelope: envelope.to_vec(), content: Some(content.to_vec()), ..record }));
        }
        self.message_together(id)
    }

    /// [`Store::message`] in one transaction.
    fn message_together(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError> {
        (&self.messages, &self.bodies)
            .transaction(|(messages, bodies)| {
                let Some(b) = messages.get(id.0)? else { return Ok(None) };
                let held = [bodies.get(body_key(id, ENVELOPE))?, bodies.get(body_key(id, CONTENT))?];
                let record = dec("message", &b).map_err(abort)?;
                joined(record, |part| Ok(held[usize::from(part)].clone())).map(Some).map_err(abort)
            })
            .map_err(tx_err)
    }

    /// A watch on one stored message: [`MessageWatch::changed`] resolves at
    /// each change written to it (a delivery state, a receipt, a purge).
    /// Made before the message is read, it misses no change after the read.
    /// Sled keeps every prefix ever watched for the life of the tree and
    /// looks through them at each write to it: watch only what is awaited
    /// (the benchmarks do, for a message not yet delivered), never one per
    /// message of a long-running loop.
    pub fn watch_message(&self, id: MessageId) -> MessageWatch {
        MessageWatch(self.messages.watch_prefix(id.0))
    }

    /// A message's record without its envelope and body, read without a
    /// transaction (sled writes each transaction, even one that only reads,
    /// to its log).
    pub fn message_record(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError> {
        self.messages.get(id.0)?.map(|b| dec("message", &b)).transpose()
    }

    /// The sealed body of a record read by [`Store::message_record`],
    /// without its envelope; `None` once purged. Read as [`Store::whole`]
    /// reads it.
    pub fn content_of(&self, record: &MessageRecord) -> Result<Option<Vec<u8>>, StoreError> {
        if record.purged_at.is_some() {
            return Ok(None);
        }
        if let Some(content) = &record.content {
            return Ok(Some(content.clone()));
        }
        if let Some(content) = self.bodies.get(body_key(record.message_id, CONTENT))? {
            return Ok(Some(content.to_vec()));
        }
        Ok(self.message_together(record.message_id)?.and_then(|m| m.content))
    }

    pub fn contains_message(&self, id: MessageId) -> Result<bool, StoreError> {
        Ok(self.messages.contains_key(id.0)?)
    }

    /// Changes one stored message (delivery states, receipts, purge) and
    /// records the events `change` returns, in one transaction. Concurrent
    /// changes are applied one after the other, none lost.
    pub fn update_message(
        &self,
        id: MessageId,
        change: impl Fn(&mut MessageRecord) -> Vec<Event>,
    ) -> Result<MessageRecord, StoreError> {
        let _writing = self.writing()?;
        self.message_trees().transaction(|t| update_in(&MessageTx::of(t), id, &change)).map_err(tx_err)
    }

    /// [`Store::update_message`] in the next grouped transaction (see
    /// [`Store::insert_message_grouped`]).
    pub async fn update_message_grouped(
        &self,
        id: MessageId,
        change: impl Fn(&mut MessageRecord) -> Vec<Event> + Send + 'static,
    ) -> Result<MessageRecord, StoreError> {
        self.grouped(move |tx| update_in(tx, id, &change)).await
    }

    /// Sent messages of exchange `exchange` with a copy still to deliver,
    /// oldest first (read from the outbox alone, no message decoded).
    pub fn outbox_of(&self, exchange: ExchangeId) -> Result<Vec<MessageId>, StoreError> {
        let mut out = Vec::new();
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            if v.as_ref() == exchange.0 {
                let id: [u8; 16] = k
                    .get(8..24)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt { what: "outbox key", reason: format!("{} bytes", k.len()) })?;
                out.push(MessageId(id));
            }
        }
        Ok(out)
    }

    /// Sent messages with a copy still to deliver, oldest first.
    pub fn outbox(&self) -> Result<Vec<MessageId>, StoreError> {
        self.outbox
            .iter()
            .map(|kv| {
                let (k, _) = kv?;
                let id: [u8; 16] = k
                    .get(8..24)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt { what: "outbox key", reason: format!("{} bytes", k.len()) })?;
                Ok(MessageId(id))
            })
            .collect()
    }

    /// How many sent messages have a copy still to deliver, and when the
    /// oldest of them was created (the outbox is in creation order).
    pub fn outbox_depth(&self) -> Result<(usize, Option<i64>), StoreError> {
        let oldest = match self.outbox.first()? {
            Some((k, _)) => {
                let id: [u8; 16] = k
                    .get(8..24)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt { what: "outbox key", reason: format!("{} bytes", k.len()) })?;
                self.message(MessageId(id))?.map(|m| m.created_at)
            }
            None => None,
        };
        Ok((self.outbox.len(), oldest))
    }

    pub fn put_attachment(&self, record: &AttachmentRecord) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.attachments.insert(record.id.0, enc("attachment", record)?)?;
        Ok(())
    }

    pub fn attachment(&self, id: AttachmentId) -> Result<Option<AttachmentRecord>, StoreError> {
        self.attachments.get(id.0)?.map(|b| dec("attachment", &b)).transpose()
    }

    pub fn remove_attachment(&self, id: AttachmentId) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.attachments.remove(id.0)?;
        Ok(())
    }

    pub fn attachments(&self) -> Result<Vec<AttachmentRecord>, StoreError> {
        self.attachments.iter().map(|kv| dec("attachment", &kv?.1)).collect()
    }

    /// Received `Attachments` messages with files still to fetch.
    pub fn pending_downloads(&self) -> Result<Vec<MessageId>, StoreError> {
        self.downloads
            .iter()
            .map(|kv| {
                let (k, _) = kv?;
                let id: [u8; 16] = k
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { what: "download key", reason: format!("{} bytes", k.len()) })?;
                Ok(MessageId(id))
            })
            .collect()
    }

    pub fn finish_download(&self, id: MessageId) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.downloads.remove(id.0)?;
        Ok(())
    }

    pub fn messages(&self) -> Result<Vec<MessageRecord>, StoreError> {
        let mut out = Vec::new();
        for record in self.message_records()? {
            out.extend(self.whole(record)?);
        }
        Ok(out)
    }

    /// Every message's record without its envelope and body (ids, kind,
    /// parties, times, delivery states): what a listing filters and sorts
    /// by, read without the bodies it does not show.
    pub fn message_records(&self) -> Result<Vec<MessageRecord>, StoreError> {
        self.messages.iter().values().map(|v| dec("message", &v?)).collect()
    }

    pub fn exchange(&self, id: ExchangeId) -> Result<Option<ExchangeRecord>, StoreError> {
        self.exchanges.get(id.0)?.map(|b| dec("exchange", &b)).transpose()
    }

    pub fn exchanges(&self) -> Result<Vec<ExchangeRecord>, StoreError> {
        self.each_exchange().collect()
    }

    /// Every exchange record, read one at a time: a pass that keeps few of
    /// them (or none) holds no more than it keeps, however many the store has.
    pub fn each_exchange(&self) -> impl Iterator<Item = Result<ExchangeRecord, StoreError>> + '_ {
        self.exchanges.iter().map(|kv| dec("exchange", &kv?.1))
    }

    /// Removes a message's content (its sealed body and envelope), keeping
    /// its metadata (ids, kind, parties, times, envelope hash); `event`
    /// records the purge in the same transaction. Which messages are purged
    /// is the retention rule's choice (`terms`), not the store's.
    pub fn purge_message(&self, id: MessageId, now: i64, event: Event) -> Result<MessageRecord, StoreError> {
        self.update_message(id, |r| {
            r.content = None;
            r.envelope = Vec::new();
            r.purged_at.get_or_insert(now);
            vec![event.clone()]
        })
    }

    /// Keeps a disclosure made, with its audit entry, and forgets the
    /// request it answers (`request`), in one step: a request is never
    /// disclosed twice.
    pub fn put_disclosure(
        &self,
        record: &DisclosureRecord,
        event: &Event,
        request: Option<[u8; 16]>,
    ) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let key = record.summary.disclosure_id.0;
        let bytes = enc("disclosure", record)?;
        (&self.disclosures, &self.disclosure_requests, &self.audit, &self.meta)
            .transaction(|(disclosures, requests, audit, meta)| {
                if let Some(id) = request
                    && requests.remove(id.as_slice())?.is_none()
                {
                    return Err(abort(StoreError::Refused(RuleRefusal(format!(
                        "disclosure request {} was approved or refused meanwhile",
                        hex::encode(id)
                    )))));
                }
                disclosures.insert(&key, bytes.as_slice())?;
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)
    }

    /// Keeps a disclosure asked for, with its audit entry.
    pub fn put_disclosure_request(&self, record: &DisclosureRequestRecord, event: &Event) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let bytes = enc("disclosure request", record)?;
        (&self.disclosure_requests, &self.audit, &self.meta)
            .transaction(|(requests, audit, meta)| {
                requests.insert(record.id.as_slice(), bytes.as_slice())?;
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)
    }

    /// The disclosures asked for and not yet approved or refused.
    pub fn disclosure_requests(&self) -> Result<Vec<DisclosureRequestRecord>, StoreError> {
        self.disclosure_requests.iter().values().map(|v| dec("disclosure request", &v?)).collect()
    }

    /// Forgets a request refused, with its audit entry; `false` when it was
    /// no longer there.
    pub fn remove_disclosure_request(&self, id: [u8; 16], event: &Event) -> Result<bool, StoreError> {
        let _writing = self.writing()?;
        (&self.disclosure_requests, &self.audit, &self.meta)
            .transaction(|(requests, audit, meta)| {
                if requests.remove(id.as_slice())?.is_none() {
                    return Ok(false);
                }
                append(audit, meta, event)?;
                Ok(true)
            })
            .map_err(tx_err)
    }

    /// The disclosures made, without their packages.
    pub fn disclosures(&self) -> Result<Vec<DisclosureSummary>, StoreError> {
        self.disclosures.iter().map(|kv| dec::<DisclosureRecord>("disclosure", &kv?.1).map(|r| r.summary)).collect()
    }

    /// Finds an exchange by its full id or a unique prefix of at least 6 hex digits.
    pub fn find_exchange(&self, prefix: &str) -> Result<ExchangeRecord, LookupError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if let Ok(id) = prefix.parse::<ExchangeId>() {
            return self.exchange(id)?.ok_or(LookupError::NotFound(prefix));
        }
        if prefix.len() < 6 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LookupError::TooShort(prefix));
        }
        let mut found: Vec<ExchangeRecord> =
            self.exchanges()?.into_iter().filter(|x| x.exchange_id.to_hex().starts_with(&prefix)).collect();
        match found.len() {
            0 => Err(LookupError::NotFound(prefix)),
            1 => Ok(found.remove(0)),
            n => Err(LookupError::Ambiguous(prefix, n)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    #[error("no exchange {0} here; `veim exchange list` shows the exchanges")]
    NotFound(String),
    #[error("{0:?} is not an exchange id: give the 32 hexadecimal digits, or at least the first 6")]
    TooShort(String),
    #[error("{1} exchanges start with {0}; give more digits")]
    Ambiguous(String, usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A watch on one stored message, from [`Store::watch_message`].
pub struct MessageWatch(sled::Subscriber);

impl std::fmt::Debug for MessageWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageWatch")
    }
}

impl MessageWatch {
    /// Waits for the next change written to the message; false once the
    /// store is closed.
    pub async fn changed(&mut self) -> bool {
        (&mut self.0).await.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veim_protocol::StateCode;
    use veim_protocol::audit::{Action, Actor};

    fn record(id: u8, content: &[u8]) -> MessageRecord {
        let mex: StateCode = "MEX".parse().expect("MEX");
        MessageRecord {
            message_id: MessageId([id; 16]),
            exchange_id: ExchangeId([id; 16]),
            direction: Direction::Received,
            sender: mex,
            recipients: vec!["SWE".parse().expect("SWE")],
            kind: MessageKind::Request,
            created_at: 1,
            stored_at: 1,
            content: Some(content.to_vec()),
            envelope: vec![id; 300],
            envelope_hash: [id; 32],
            deliveries: Vec::new(),
            receipts: Vec::new(),
            purged_at: None,
            sequence: 0,
        }
    }

    fn exchange_of(r: &MessageRecord) -> ExchangeRecord {
        ExchangeRecord {
            exchange_id: r.exchange_id,
            originator: r.sender,
            participants: vec![r.sender],
            status: ExchangeStatus::Open,
            messages: vec![r.message_id],
            opened_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn a_received_request_or_consent_request_is_noted_for_mail_with_it_and_the_note_leaves_with_its_mail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        let store = Store::open(&path).expect("open");
        let request = record(1, b"r");
        let mut consent = record(2, b"c");
        consent.kind = MessageKind::ConsentRequest;
        let mut note = record(3, b"n");
        note.kind = MessageKind::Note;
        let mut sent = record(4, b"s");
        sent.direction = Direction::Sent;
        for r in [&request, &consent, &note, &sent] {
            store.insert_message(r, |_| Ok(exchange_of(r)), &[]).expect("insert");
        }
        // A message refused by its rule is not noted either.
        let refused = record(5, b"x");
        let _ = store.insert_message(&refused, |_| Err(RuleRefusal("no".into())), &[]);
        store.flush_blocking().expect("flush");
        drop(store);

        let store = Store::open(&path).expect("reopen");
        let mut noted = store.mail_notices().expect("notices");
        noted.sort_by_key(|id| id.0);
        assert_eq!(noted, [request.message_id, consent.message_id]);
        let mail = QueuedMail {
            id: 0,
            event: "request-received".into(),
            exchange: Some(request.exchange_id),
            message: Some(request.message_id),
            state: Some(request.sender),
            to: vec!["desk@example.org".into()],
            language: "en".into(),
            subject: "s".into(),
            body: "b".into(),
            queued_at: 1,
            attempts: 0,
            next_attempt_at: 1,
            last_error: None,
        };
        let queued = store.queue_mails(&[mail.clone(), mail], Some(request.message_id)).expect("queue");
        assert_eq!(queued.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(store.mail_notices().expect("notices"), [consent.message_id]);
        assert_eq!(store.queued_mails().expect("mails").len(), 2);
    }

    #[test]
    fn bodies_are_kept_apart_and_written_once_and_a_format_one_record_still_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("open");
        let sealed = b"sealed body".to_vec();
        let r = record(1, &sealed);
        store.insert_message(&r, |_| Ok(exchange_of(&r)), &[]).expect("insert");
        // The record itself holds no body; the body is in `bodies`, once.
        let bare: MessageRecord =
            dec("message", &store.messages.get(r.message_id.0).expect("get").expect("held")).expect("decode");
        assert!(bare.content.is_none() && bare.envelope.is_empty());
        assert_eq!(store.message(r.message_id).expect("read").expect("held").content, Some(sealed.clone()));
        assert_eq!(store.content_of(&bare).expect("content"), Some(sealed.clone()));
        assert_eq!(store.message_record(r.message_id).expect("record"), Some(bare.clone()));
        assert_eq!(store.bodies.len(), 2);
        // A change of state leaves the body where it is.
        let changed = store
            .update_message(r.message_id, |m| {
                m.stored_at = 2;
                Vec::new()
            })
            .expect("update");
        assert_eq!((changed.stored_at, changed.content.as_deref()), (2, Some(sealed.as_slice())));
        assert_eq!(changed.envelope, r.envelope);

        // A record written by format 1, body inside: read as it is, and its
        // body moves out at its next change; a purge removes it.
        let old = record(2, b"older body");
        store.messages.insert(old.message_id.0, enc("message", &old).expect("encode")).expect("insert");
        assert_eq!(store.message(old.message_id).expect("read").expect("held"), old);
        assert_eq!(store.content_of(&old).expect("content"), old.content);
        let moved = store.update_message(old.message_id, |_| Vec::new()).expect("update");
        assert_eq!(moved, old);
        assert_eq!(store.bodies.len(), 4);
        let listed = store.messages().expect("list");
        assert_eq!(listed.iter().filter(|m| m.content.is_some() && !m.envelope.is_empty()).count(), 2);
        let purged: Vec<_> = listed
            .iter()
            .map(|m| store.purge_message(m.message_id, 10, Event::new(10, Actor::Node, Action::Purged)).expect("purge"))
            .collect();
        assert_eq!(purged.len(), 2);
        assert_eq!(store.bodies.len(), 0, "a purge leaves no body behind");
        let after = store.message(old.message_id).expect("read").expect("held");
        assert!(after.content.is_none() && after.envelope.is_empty() && after.purged_at == Some(10));
        let record = store.message_record(old.message_id).expect("record").expect("held");
        assert_eq!(store.content_of(&record).expect("content"), None, "nothing once purged");
        // A body left behind by a purge that did not know of `bodies` is
        // never given back, and goes at the record's next change.
        store.bodies.insert(body_key(old.message_id, CONTENT), b"older body".as_slice()).expect("insert");
        assert!(store.message(old.message_id).expect("read").expect("held").content.is_none());
        store.update_message(old.message_id, |_| Vec::new()).expect("update");
        assert_eq!(store.bodies.len(), 0);
    }

    #[test]
    fn a_store_of_an_unknown_format_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        let store = Store::open(&path).expect("open");
        store.meta.insert(STORE_FORMAT, &9u64.to_be_bytes()).expect("insert");
        store.db.flush().expect("flush");
        drop(store);
        let e = Store::open(&path).expect_err("format 9");
        assert!(e.to_string().contains("format 9, which this version of veim (format 3) does not know"), "{e}");
    }

    #[tokio::test]
    async fn a_watch_on_a_message_wakes_at_its_change_and_not_at_another_s() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("open");
        let (a, b) = (record(1, b"a"), record(2, b"b"));
        for r in [&a, &b] {
            store.insert_message(r, |_| Ok(exchange_of(r)), &[]).expect("insert");
        }
        let mut watch = store.watch_message(a.message_id);
        let soon = std::time::Duration::from_millis(200);
        store.update_message(b.message_id, |_| Vec::new()).expect("update");
        assert!(tokio::time::timeout(soon, watch.changed()).await.is_err(), "another message's change wakes nobody");
        store
            .update_message(a.message_id, |m| {
                m.stored_at = 9;
                Vec::new()
            })
            .expect("update");
        assert_eq!(tokio::time::timeout(soon, watch.changed()).await, Ok(true));
        assert_eq!(store.message(a.message_id).expect("read").expect("held").stored_at, 9);
    }

    /// Inserts and updates asked for at once are written in grouped
    /// transactions, and each caller gets its own change's answer: every
    /// accepted message stored once, with a sequence number of its own and
    /// its audit entry, a refused one and a duplicate failing alone, and
    /// every one of many updates of one message applied; all of it still
    /// there after a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_writes_each_get_their_own_answer_and_lose_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        let store = Store::open(&path).expect("open");
        let held = record(200, b"held");
        store.insert_message(&held, |_| Ok(exchange_of(&held)), &[]).expect("insert");
        let refused = |i: u8| i.is_multiple_of(20);
        // Held as a snapshot holds it, the gate stops the writer at its
        // first group while the others queue behind it: they are then
        // written in groups, which the refused ones abort.
        let gate = store.gate.clone();
        let snapshot = gate.write().expect("gate");
        let mut inserts = Vec::new();
        for i in 1..=60u8 {
            let store = store.clone();
            let event = Event::new(1, Actor::Node, Action::MessageReceived);
            inserts.push(tokio::spawn(async move {
                let rule = move |_, r: &MessageRecord| match refused(i) {
                    true => Err(RuleRefusal(format!("the rule refuses {}", r.message_id))),
                    false => Ok(exchange_of(r)),
                };
                store.insert_message_grouped(record(i, &[i]), rule, vec![event]).await
            }));
        }
        let again = store.clone();
        let duplicate = tokio::spawn(async move {
            again.insert_message_grouped(record(200, b"other"), |_, r| Ok(exchange_of(r)), Vec::new()).await
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while store.grouped_unanswered() < 61 {
            assert!(std::time::Instant::now() < deadline, "the changes did not queue");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(snapshot);
        for (i, insert) in (1..=60u8).zip(inserts) {
            match insert.await.expect("task") {
                Err(StoreError::Refused(RuleRefusal(why))) if refused(i) => {
                    assert!(why.contains(&MessageId([i; 16]).to_string()), "{why}")
                }
                Ok(x) if !refused(i) => assert_eq!(x.exchange_id, ExchangeId([i; 16])),
                other => panic!("message {i}: {other:?}"),
            }
        }
        match duplicate.await.expect("task") {
            Err(StoreError::Duplicate(id)) => assert_eq!(id, held.message_id),
            other => panic!("the duplicate: {other:?}"),
        }

        let mut updates = Vec::new();
        for _ in 0..40 {
            let store = store.clone();
            updates.push(tokio::spawn(async move {
                store
                    .update_message_grouped(held.message_id, |m| {
                        m.stored_at += 1;
                        vec![Event::new(2, Actor::Node, Action::ReceiptReceived)]
                    })
                    .await
            }));
        }
        for update in updates {
            update.await.expect("task").expect("update");
        }
        let grouping = store.grouping();
        assert_eq!(grouping.changes, 61 + 40, "every grouped change written: {grouping:?}");
        assert!(grouping.groups < grouping.changes, "some written together: {grouping:?}");
        assert!(grouping.alone > 0, "an aborted group's changes run again alone: {grouping:?}");
        store.flush().await.expect("flush");
        drop(store);

        let store = Store::open(&path).expect("reopen");
        let records = store.message_records().expect("records");
        let mut sequences: Vec<u64> = records.iter().map(|r| r.sequence).collect();
        sequences.sort_unstable();
        assert_eq!(sequences, (1..=58).collect::<Vec<u64>>(), "one each, none twice");
        let kept = store.message(held.message_id).expect("read").expect("held");
        assert_eq!((kept.stored_at, kept.content), (41, Some(b"held".to_vec())), "every update applied");
        assert_eq!(store.audit_head().expect("head").0, 57 + 40, "one entry per accepted change");
        assert_eq!(store.audit_entries(0).expect("entries").len(), 97);
    }

    /// A grouped write is made on the writer's thread, and its audit
    /// entries still name the official whose call asked for it.
    #[tokio::test]
    async fn a_grouped_write_names_the_official_whose_call_asked_for_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("open");
        let maria = veim_protocol::audit::AccountName::parse("maria").expect("a name");
        let r = record(1, b"a");
        let id = r.message_id;
        let event = |at| vec![Event::new(at, Actor::Operator, Action::MessageReceived)];
        let insert = store.insert_message_grouped(r, |_, r| Ok(exchange_of(r)), event(1));
        crate::acting::as_official(maria, insert).await.expect("insert");
        store.update_message_grouped(id, move |_| event(2)).await.expect("update");
        let actors: Vec<Actor> = store.audit_entries(0).expect("entries").into_iter().map(|e| e.event.actor).collect();
        assert_eq!(actors, [Actor::Official(maria), Actor::Operator]);
    }
}
