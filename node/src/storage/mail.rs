//! The mail queue (`mail`), and the received messages a notification is
//! still to be queued for (`mail-notices`, written in the transaction that
//! stores the message, so that no notification is lost between the receipt
//! and the queue).

use super::*;
use sled::Transactional;
use veim_protocol::audit::Event;

const MAIL_SEQUENCE: &[u8] = b"mail-sequence";

impl Store {
    /// Received messages whose notification is not queued yet.
    pub fn mail_notices(&self) -> Result<Vec<MessageId>, StoreError> {
        self.mail_notices
            .iter()
            .keys()
            .map(|k| {
                let k = k?;
                let id: [u8; 16] = k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "mail notice key",
                    reason: format!("{} bytes", k.len()),
                })?;
                Ok(MessageId(id))
            })
            .collect()
    }

    /// Forgets the notices `ids` at once (a node that sends no mail), in
    /// one batch of the notices' tree.
    pub fn forget_mail_notices(&self, ids: &[MessageId]) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let mut batch = sled::Batch::default();
        for id in ids {
            batch.remove(&id.0);
        }
        self.mail_notices.apply_batch(batch)?;
        Ok(())
    }

    /// Queues `mails` (each given its id in the queue) and, in the same
    /// transaction, forgets the notice they answer. Returns the mails as
    /// queued.
    pub fn queue_mails(&self, mails: &[QueuedMail], notice: Option<MessageId>) -> Result<Vec<QueuedMail>, StoreError> {
        let _writing = self.writing()?;
        (&self.mail, &self.mail_notices, &self.meta)
            .transaction(|(mail, notices, meta)| {
                let mut next: u64 = match meta.get(MAIL_SEQUENCE)? {
                    Some(b) => dec("mail sequence", &b).map_err(abort)?,
                    None => 0,
                };
                let mut queued = Vec::with_capacity(mails.len());
                for m in mails {
                    next += 1;
                    let mut m = m.clone();
                    m.id = next;
                    mail.insert(&next.to_be_bytes(), enc("queued mail", &m).map_err(abort)?)?;
                    queued.push(m);
                }
                meta.insert(MAIL_SEQUENCE, enc("mail sequence", &next).map_err(abort)?)?;
                if let Some(id) = notice {
                    notices.remove(&id.0)?;
                }
                Ok(queued)
            })
            .map_err(tx_err)
    }

    /// Every queued mail, oldest first.
    pub fn queued_mails(&self) -> Result<Vec<QueuedMail>, StoreError> {
        self.mail.iter().map(|kv| dec("queued mail", &kv?.1)).collect()
    }

    /// Keeps what an attempt changed in a queued mail (its count, next
    /// time, last error); a mail no longer queued stays so.
    pub fn update_mail(&self, m: &QueuedMail) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let key = m.id.to_be_bytes();
        let bytes = enc("queued mail", m)?;
        self.mail.fetch_and_update(key, |old| old.map(|_| bytes.clone()))?;
        Ok(())
    }

    /// Takes a mail out of the queue (sent, or refused for good) and
    /// records `event` in the same transaction.
    pub fn finish_mail(&self, id: u64, event: &Event) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        (&self.mail, &self.audit, &self.meta)
            .transaction(|(mail, audit, meta)| {
                mail.remove(&id.to_be_bytes())?;
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)
    }
}
