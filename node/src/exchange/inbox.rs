//! Receiving: verify, refuse replays, open, store and flush, then sign the
//! receipt.

use super::*;
use crate::audit;
use crate::storage::{Direction, RuleRefusal, Store, StoreError};
use veim_protocol::audit::{Action, Actor};
use veim_protocol::codec::{self};
use veim_protocol::wire::{Refusal, RefusalCode};
use veim_protocol::{Envelope, Receipt, SignedReceipt};

fn refusal(code: RefusalCode, detail: impl Into<String>) -> Refusal {
    Refusal { code, detail: detail.into() }
}

/// Receives an envelope delivered by `sender` (the active directory entry of
/// the transport peer). Returns the signed receipt, only after the flush.
pub async fn receive(
    me: Me<'_>,
    store: &Store,
    sender: &DirectoryEntry,
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
    // A message id names its sender, so that no State can take an id another
    // State used (a co-recipient learns them): otherwise the true sender's
    // copy would later be refused as a replay.
    if !h.message_id.is_issued_by(h.sender) {
        let e = EnvelopeError::ForeignMessageId { id: h.message_id, sender: h.sender };
        return Err(refusal(RefusalCode::SenderMismatch, e.to_string()));
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
    body.check_dated(h.created_at).map_err(|e| refusal(RefusalCode::InvalidBody, e.to_string()))?;
    let content =
        me.vault.seal_body(message_id, &body).map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()))?;
    let envelope_bytes =
        codec::encode("envelope", &envelope).map_err(|e| refusal(RefusalCode::Malformed, e.to_string()))?;
    let record = message_record(h, Direction::Received, envelope_bytes, envelope_hash, content, now);
    let from = Actor::Peer(Some(h.sender));
    let events = vec![
        audit::message_event(now, from, Action::MessageReceived, &record, Some(h.sender)),
        audit::message_event(now, from, Action::ReceiptSent, &record, Some(h.sender)),
    ];
    let rules = move |current, record: &MessageRecord| next_exchange(current, record, &body);
    let stored_at = match store.insert_message_grouped(record, rules, events).await {
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
        Err(StoreError::Refused(RuleRefusal(reason))) => return Err(refusal(RefusalCode::InvalidBody, reason)),
        Err(other) => return Err(refusal(RefusalCode::StorageFailure, other.to_string())),
    };
    store.flush().await.map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()))?;
    let receipt = Receipt { message_id, envelope_hash, recipient: me.state, stored_at };
    SignedReceipt::sign(receipt, me.identity).map_err(|e| refusal(RefusalCode::StorageFailure, e.to_string()))
}
