//! Anti-entropy: two nodes compare the messages of the exchanges they share,
//! so that a gap (a node restored from an older backup, a store that lost
//! what it had acknowledged) is filled without anyone re-sending by hand.
//!
//! A node sends a peer its inventory: for each exchange both take part in,
//! the messages it holds that the peer should hold too (those it sent the
//! peer and the peer acknowledged, and those it received from the peer).
//! The peer answers with the ids it lacks among those sent to it, which the
//! first node queues again; and the peer queues again what it sent the first
//! node that the inventory lacks. The outbox then delivers as usual, and the
//! receiver's exactly-once rule makes any overlap harmless.

use super::Me;
use crate::audit;
use crate::storage::{DeliveryState, Direction, MessageRecord, RuleRefusal, Store, StoreError};
use std::collections::{BTreeMap, HashSet};
use veim_protocol::audit::{Action, Actor};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::wire::{Inventory, MAX_INVENTORY, MAX_RETURNED};
use veim_protocol::{Envelope, MessageId, StateCode};

fn delivered_to(m: &MessageRecord, peer: StateCode) -> bool {
    m.deliveries.iter().any(|d| d.recipient == peer && matches!(d.state, DeliveryState::Delivered { .. }))
}

/// What this node holds that each counterpart should hold too, newest
/// exchanges first, in one pass over the exchanges. Only exchanges with a
/// message in the last `max_age` seconds (before `now`) are listed: an older
/// message could not be delivered again (recipients refuse it), so listing
/// it would only grow every round.
pub fn inventories(
    store: &Store,
    me: StateCode,
    now: i64,
    max_age: i64,
) -> Result<BTreeMap<StateCode, Inventory>, StoreError> {
    // Read one at a time and only the recent ones kept: a round holds the
    // window's exchanges, not the store's.
    let mut exchanges = Vec::new();
    for x in store.each_exchange() {
        let x = x?;
        if x.participants.contains(&me) && x.updated_at >= now - max_age {
            exchanges.push(x);
        }
    }
    exchanges.sort_by_key(|x| std::cmp::Reverse(x.updated_at));
    let mut out: BTreeMap<StateCode, (Inventory, usize)> = BTreeMap::new();
    for x in exchanges {
        // The records alone: who sent each and to whom it was delivered,
        // not the envelopes and bodies.
        let messages: Vec<MessageRecord> =
            x.messages.iter().filter_map(|id| store.message_record(*id).transpose()).collect::<Result<_, _>>()?;
        for peer in x.participants.iter().copied().filter(|p| *p != me) {
            let ids: Vec<MessageId> = messages
                .iter()
                .filter(|m| match m.direction {
                    Direction::Sent => delivered_to(m, peer),
                    Direction::Received => m.sender == peer,
                })
                .map(|m| m.message_id)
                .collect();
            let (inventory, listed) =
                out.entry(peer).or_insert_with(|| (Inventory { exchanges: Vec::new(), returned: Vec::new() }, 0));
            // An exchange that does not fit is left for a later round, whole:
            // a partial list would read as messages the other side lacks.
            if *listed + ids.len() > MAX_INVENTORY {
                continue;
            }
            *listed += ids.len();
            inventory.exchanges.push((x.exchange_id, ids));
        }
    }
    Ok(out.into_iter().map(|(peer, (inventory, _))| (peer, inventory)).collect())
}

/// Queues a sent message again for `peer`, which lacks it.
pub fn requeue(store: &Store, id: MessageId, peer: StateCode, now: i64, max_age: i64) -> Result<bool, StoreError> {
    // The change runs again if the transaction is retried: the last run counts.
    let changed = std::cell::Cell::new(false);
    store.update_message(id, |m| {
        changed.set(false);
        // Older than a recipient accepts: delivering again could only fail.
        if now - m.created_at > max_age {
            return Vec::new();
        }
        let Some(d) = m.deliveries.iter_mut().find(|d| d.recipient == peer) else { return Vec::new() };
        if !matches!(d.state, DeliveryState::Delivered { .. }) {
            return Vec::new();
        }
        d.state = DeliveryState::Pending;
        d.updated_at = now;
        changed.set(true);
        let mut e = audit::message_event(now, Actor::Peer(Some(peer)), Action::DeliveryFailed, m, Some(peer));
        e.detail = "queued again: the recipient no longer holds it (reconciliation)".into();
        vec![e]
    })?;
    Ok(changed.get())
}

/// The peer's side of `Reconcile` from `from`: the listed ids it lacks,
/// after queueing again what it sent `from`, in the exchanges both take part
/// in, that `from` lacks.
pub fn answer(
    store: &Store,
    me: StateCode,
    from: StateCode,
    inventory: &Inventory,
    now: i64,
    max_age: i64,
) -> Result<Vec<MessageId>, StoreError> {
    let mut missing = Vec::new();
    for (exchange, ids) in &inventory.exchanges {
        // Every listed id this node lacks, even of an exchange it lost whole
        // (restored from an older backup): that is the gap to fill. (Message
        // ids are 128 random bits: answering reveals nothing guessable.)
        let listed: HashSet<&MessageId> = ids.iter().collect();
        let mut lacking = Vec::new();
        for id in ids {
            if !store.contains_message(*id)? {
                lacking.push(*id);
            }
        }
        // This node's own messages come back first (the peer gives back
        // their envelopes at its next round): the replies to them would be
        // refused until the messages they answer are here again.
        if lacking.iter().any(|id| id.is_issued_by(me)) {
            lacking.retain(|id| id.is_issued_by(me));
        }
        missing.extend(lacking);
        let Some(x) = store.exchange(*exchange)? else { continue };
        if !x.participants.contains(&from) || !x.participants.contains(&me) {
            continue;
        }
        for id in &x.messages {
            if listed.contains(id) {
                continue;
            }
            if let Some(m) = store.message_record(*id)?
                && m.direction == Direction::Sent
                && delivered_to(&m, from)
            {
                requeue(store, m.message_id, from, now, max_age)?;
            }
        }
    }
    Ok(missing)
}

/// The first node's side of `Reconciled { missing }` from `peer`: queue again
/// what it sent `peer` among `missing`. Returns how many were queued, and
/// the messages `peer` itself sent that it lacks (to give back at the next
/// round).
pub fn apply(
    store: &Store,
    peer: StateCode,
    missing: &[MessageId],
    now: i64,
    max_age: i64,
) -> Result<(usize, Vec<MessageId>), StoreError> {
    let mut queued = 0;
    let mut theirs = Vec::new();
    for id in missing {
        match store.message(*id)? {
            Some(m) if m.direction == Direction::Sent && requeue(store, m.message_id, peer, now, max_age)? => {
                queued += 1;
            }
            Some(m) if m.direction == Direction::Sent => {}
            Some(m) if m.direction == Direction::Received && m.sender == peer && !m.envelope.is_empty() => {
                theirs.push(m.message_id)
            }
            _ => {}
        }
    }
    Ok((queued, theirs))
}

/// The envelopes of `ids` (messages `peer` sent this node) to give back to
/// `peer`, oldest first, at most [`MAX_RETURNED`] and about 4 MiB.
pub fn envelopes_to_return(store: &Store, peer: StateCode, ids: &[MessageId]) -> Result<Vec<Envelope>, StoreError> {
    let mut held: Vec<MessageRecord> = Vec::new();
    for id in ids {
        if let Some(m) = store.message(*id)?
            && m.direction == Direction::Received
            && m.sender == peer
            && !m.envelope.is_empty()
        {
            held.push(m);
        }
    }
    held.sort_by_key(|m| (m.created_at, m.stored_at));
    let mut out = Vec::new();
    let mut bytes = 0;
    for m in held.into_iter().take(MAX_RETURNED) {
        bytes += m.envelope.len();
        if bytes > RETURNED_BYTES && !out.is_empty() {
            break;
        }
        match codec::decode::<Envelope, MAX_FRAME>("envelope", &m.envelope) {
            Ok(e) => out.push(e),
            Err(e) => tracing::warn!(%e, message = %m.message_id, "a stored envelope does not decode; not given back"),
        }
    }
    Ok(out)
}

/// About how many bytes of envelopes one inventory gives back.
const RETURNED_BYTES: usize = 4 << 20;

/// Takes back this node's own messages that `from` gave back (this node
/// was restored from an older backup): each must be signed by this node's
/// key, addressed to `from` among others, and open with this node's own
/// key share. Stored as sent, each copy pending: the outbox delivers them
/// again, and recipients that hold them answer with their receipt again.
/// Returns how many were taken back.
pub fn take_back(
    me: &Me<'_>,
    store: &Store,
    from: StateCode,
    returned: &[Envelope],
    now: i64,
) -> Result<usize, StoreError> {
    let mut taken = 0;
    for envelope in returned {
        let h = &envelope.header;
        let own = h.sender == me.state && h.recipients.contains(&from);
        if !own || store.contains_message(h.message_id)? {
            continue;
        }
        let opened = envelope.verify(&me.identity.public()).and_then(|()| envelope.open(me.state, me.encryption));
        let body = match opened {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(%e, %from, message = %h.message_id, "a message given back does not verify or open with this node's keys; ignored");
                continue;
            }
        };
        let (Ok(envelope_bytes), Ok(envelope_hash)) = (codec::encode("envelope", envelope), envelope.hash()) else {
            continue;
        };
        let content = me
            .vault
            .seal_body(h.message_id, &body)
            .map_err(|e| StoreError::Internal(format!("cannot seal a message given back: {e}")))?;
        let record = super::message_record(h, Direction::Sent, envelope_bytes, envelope_hash, content, now);
        let mut event =
            audit::message_event(now, Actor::Peer(Some(from)), audit::sent_action(&body), &record, Some(from));
        event.detail = format!("given back by {from}: this node lost it (restored from an older backup)");
        match store.insert_message(&record, |current| super::next_exchange(current, &record, &body), &[event]) {
            Ok(_) => taken += 1,
            Err(StoreError::Duplicate(_)) => {}
            // An exchange rule refuses it (a later message before the one it
            // follows): the next round gives it back again.
            Err(StoreError::Refused(RuleRefusal(reason))) => {
                tracing::info!(%from, message = %h.message_id, %reason, "a message given back waits for an earlier one")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(taken)
}

/// The States this node shares at least one exchange with.
pub fn counterparts(store: &Store, me: StateCode) -> Result<Vec<StateCode>, StoreError> {
    let mut out: Vec<StateCode> = Vec::new();
    for participants in store.participant_lists()? {
        if participants.contains(&me) {
            for p in participants {
                if p != me && !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Delivery, ExchangeRecord, ExchangeStatus};
    use veim_protocol::{ExchangeId, MessageKind};

    fn state(s: &str) -> StateCode {
        s.parse().expect("state")
    }

    /// MEX sent one request to SWE and DEU, delivered to both, at `at`.
    fn sent(store: &Store, id: u8, at: i64) {
        let record = MessageRecord {
            message_id: MessageId([id; 16]),
            exchange_id: ExchangeId([id; 16]),
            direction: Direction::Sent,
            sender: state("MEX"),
            recipients: vec![state("SWE"), state("DEU")],
            kind: MessageKind::Request,
            created_at: at,
            stored_at: at,
            content: Some(vec![id; 8]),
            envelope: vec![id; 8],
            envelope_hash: [id; 32],
            deliveries: ["SWE", "DEU"]
                .iter()
                .map(|s| Delivery {
                    recipient: state(s),
                    state: DeliveryState::Delivered { stored_at: at },
                    updated_at: at,
                })
                .collect(),
            receipts: Vec::new(),
            purged_at: None,
            sequence: 0,
        };
        let exchange = ExchangeRecord {
            exchange_id: record.exchange_id,
            originator: record.sender,
            participants: vec![state("MEX"), state("SWE"), state("DEU")],
            status: ExchangeStatus::Open,
            opened_at: at,
            updated_at: at,
            messages: vec![record.message_id],
        };
        store.insert_message(&record, |_| Ok(exchange.clone()), &[]).expect("insert");
    }

    #[test]
    fn one_pass_lists_each_counterpart_its_recent_exchanges_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("open");
        let day = 86_400;
        sent(&store, 1, 100 * day); // 30 days before "now": still recent
        sent(&store, 2, 50 * day); // older than any recipient accepts
        sent(&store, 3, 120 * day);
        let all = inventories(&store, state("MEX"), 130 * day, 30 * day).expect("inventories");
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![state("DEU"), state("SWE")]);
        for inventory in all.values() {
            // Newest first; the exchange of day 50 left out.
            let listed: Vec<(ExchangeId, Vec<MessageId>)> = inventory.exchanges.clone();
            assert_eq!(
                listed,
                vec![(ExchangeId([3; 16]), vec![MessageId([3; 16])]), (ExchangeId([1; 16]), vec![MessageId([1; 16])])]
            );
        }
    }
}
