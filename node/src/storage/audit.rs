//! The audit log as stored: hash-chained entries (appended inside the
//! transaction of the change they record), this node's checkpoints and tree
//! heads, and those it keeps of its peers' logs.

use super::*;
use sled::Transactional;
use veim_protocol::Bytes32;
use veim_protocol::StateCode;
use veim_protocol::audit::{Entry, Event, RestoreMark, SignedCheckpoint, SignedTreeHead};

impl Store {
    // --- audit ---------------------------------------------------------------

    /// Records an event that changes nothing else, where a failure must not
    /// stop the work it concerns (a refusal must still be answered): the
    /// failure is logged.
    pub fn record(&self, event: &Event) {
        if let Err(e) = self.audit(event) {
            tracing::error!(%e, action = %event.action, "cannot write the audit entry");
        }
    }

    /// Records an event that changes nothing else in the store.
    pub fn audit(&self, event: &Event) -> Result<u64, StoreError> {
        let _writing = self.writing()?;
        (&self.audit, &self.meta).transaction(|(audit, meta)| append(audit, meta, event)).map_err(tx_err)
    }

    /// Records an event once for `mark` (a caller's name for what it
    /// records, e.g. an exchange and its date): the mark is kept in `meta`
    /// in the transaction of the entry, so a restart, or two callers at once,
    /// never record it twice. Returns whether it was recorded now.
    pub fn record_once(&self, mark: &[u8], event: &Event) -> Result<bool, StoreError> {
        let _writing = self.writing()?;
        let key = [ONCE_PREFIX, mark].concat();
        (&self.audit, &self.meta)
            .transaction(|(audit, meta)| {
                if meta.get(&key)?.is_some() {
                    return Ok(false);
                }
                append(audit, meta, event)?;
                meta.insert(key.as_slice(), &[1u8])?;
                Ok(true)
            })
            .map_err(tx_err)
    }

    /// Whether an event was recorded for `mark` by [`Store::record_once`].
    pub fn recorded_once(&self, mark: &[u8]) -> Result<bool, StoreError> {
        Ok(self.meta.get([ONCE_PREFIX, mark].concat())?.is_some())
    }

    /// Keeps the summary entry of events counted and not yet recorded
    /// (failed logins past the minute's allowance), so that a crash does
    /// not take the count with it: it is durable at the next flush, and
    /// recorded at the next start if no summary took it first.
    pub fn keep_counted(&self, summary: &Event) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.meta.insert(COUNTED, enc("counted events", summary)?)?;
        Ok(())
    }

    /// Records a summary of counted events and forgets the one kept, in one
    /// transaction (a failure is logged, as for [`Store::record`]).
    pub fn record_counted(&self, summary: &Event) {
        let recorded = self.writing().and_then(|_writing| {
            (&self.audit, &self.meta)
                .transaction(|(audit, meta)| {
                    append(audit, meta, summary)?;
                    meta.remove(COUNTED)?;
                    Ok(())
                })
                .map_err(tx_err)
        });
        if let Err(e) = recorded {
            tracing::error!(%e, action = %summary.action, "cannot write the audit entry");
        }
    }

    /// The summary of counted events kept by a node that stopped before it
    /// recorded it.
    pub fn counted_left(&self) -> Result<Option<Event>, StoreError> {
        self.meta.get(COUNTED)?.map(|b| dec("counted events", &b)).transpose()
    }

    /// Records the restore of the node from a backup, and keeps where it is
    /// in the log: every later checkpoint and tree head carries it.
    pub fn record_restore(&self, event: &Event) -> Result<RestoreMark, StoreError> {
        let _writing = self.writing()?;
        (&self.audit, &self.meta)
            .transaction(|(audit, meta)| {
                let entry = append(audit, meta, event)?;
                let (_, hash): (u64, Bytes32) = match meta.get(AUDIT_HEAD)? {
                    Some(b) => dec("audit head", &b).map_err(abort)?,
                    None => (0, Bytes32([0; 32])),
                };
                let mark = RestoreMark { entry, hash };
                meta.insert(RESTORE_MARK, enc("restore mark", &mark).map_err(abort)?)?;
                Ok(mark)
            })
            .map_err(tx_err)
    }

    /// Where the log was last restored from a backup, if ever.
    pub fn restore_mark(&self) -> Result<Option<RestoreMark>, StoreError> {
        self.meta.get(RESTORE_MARK)?.map(|b| dec("restore mark", &b)).transpose()
    }

    /// The configuration hash and key fingerprint recorded at the last start.
    pub fn last_start(&self) -> Result<(Option<[u8; 32]>, Option<String>), StoreError> {
        let config = self.meta.get(LAST_CONFIG)?.and_then(|b| b.as_ref().try_into().ok());
        let keys = self.meta.get(LAST_KEYS)?.map(|b| String::from_utf8_lossy(&b).into_owned());
        Ok((config, keys))
    }

    /// Records the start events with the configuration hash and key
    /// fingerprint they speak of, in one transaction.
    pub fn record_start(&self, events: &[Event], config: [u8; 32], keys: &str) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        (&self.audit, &self.meta)
            .transaction(|(audit, meta)| {
                for e in events {
                    append(audit, meta, e)?;
                }
                meta.insert(LAST_CONFIG, &config)?;
                meta.insert(LAST_KEYS, keys.as_bytes())?;
                Ok(())
            })
            .map_err(tx_err)
    }

    /// Keeps the checkpoint of the log's head signed at a flush (one is kept:
    /// each covers every entry before it).
    pub fn put_head_checkpoint(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.meta.insert(HEAD_CHECKPOINT, enc("checkpoint", checkpoint)?)?;
        Ok(())
    }

    /// The checkpoint of the log's head signed at the latest flush that
    /// added entries.
    pub fn head_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.meta.get(HEAD_CHECKPOINT)?.map(|b| dec("checkpoint", &b)).transpose()
    }

    /// Number of entries and hash of the last one.
    pub fn audit_head(&self) -> Result<(u64, Bytes32), StoreError> {
        Ok(match self.meta.get(AUDIT_HEAD)? {
            Some(b) => dec("audit head", &b)?,
            None => (0, Bytes32([0; 32])),
        })
    }

    /// Entries from `from` on, in order.
    pub fn audit_entries(&self, from: u64) -> Result<Vec<Entry>, StoreError> {
        self.audit_iter(from).collect()
    }

    /// Entries from `from` on, one at a time.
    pub fn audit_iter(&self, from: u64) -> impl Iterator<Item = Result<Entry, StoreError>> + use<> {
        self.audit.range(from.to_be_bytes()..).map(|kv| dec("audit entry", &kv?.1))
    }

    pub fn put_checkpoint(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.checkpoints.insert(checkpoint.checkpoint.count.to_be_bytes(), enc("checkpoint", checkpoint)?)?;
        Ok(())
    }

    /// This node's own checkpoints, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, StoreError> {
        self.checkpoints.iter().map(|kv| dec("checkpoint", &kv?.1)).collect()
    }

    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.checkpoints.last()?.map(|(_, v)| dec("checkpoint", &v)).transpose()
    }

    pub fn put_tree_head(&self, head: &SignedTreeHead) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.tree_heads.insert(head.head.count.to_be_bytes(), enc("tree head", head)?)?;
        Ok(())
    }

    /// This node's own tree heads, oldest first.
    pub fn tree_heads(&self) -> Result<Vec<SignedTreeHead>, StoreError> {
        self.tree_heads.iter().map(|kv| dec("tree head", &kv?.1)).collect()
    }

    pub fn latest_tree_head(&self) -> Result<Option<SignedTreeHead>, StoreError> {
        self.tree_heads.last()?.map(|(_, v)| dec("tree head", &v)).transpose()
    }

    /// The tree head held of another node's log.
    pub fn witness_tree(&self, node: Option<StateCode>) -> Result<Option<SignedTreeHead>, StoreError> {
        self.witness_trees.get(Self::witness_prefix(node))?.map(|v| dec("tree head", &v)).transpose()
    }

    /// Keeps `head` as the tree head held of its node's log, in place of the
    /// one it extends.
    pub fn put_witness_tree(&self, head: &SignedTreeHead) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.witness_trees.insert(Self::witness_prefix(head.head.node), enc("tree head", head)?)?;
        Ok(())
    }

    pub fn witness_trees(&self) -> Result<Vec<SignedTreeHead>, StoreError> {
        self.witness_trees.iter().map(|kv| dec("tree head", &kv?.1)).collect()
    }

    fn witness_prefix(node: Option<StateCode>) -> Vec<u8> {
        match node {
            Some(s) => [b"S".as_slice(), s.as_bytes()].concat(),
            None => b"X---".to_vec(),
        }
    }

    /// The latest checkpoint held of another node's log.
    pub fn witness(&self, node: Option<StateCode>) -> Result<Option<SignedCheckpoint>, StoreError> {
        match self.witnesses.scan_prefix(Self::witness_prefix(node)).last() {
            Some(kv) => Ok(Some(dec("checkpoint", &kv?.1)?)),
            None => Ok(None),
        }
    }

    /// Keeps a checkpoint of another node's log as that node's checkpoint of
    /// `day`, replacing the day's earlier one. Returns whether it is the
    /// first kept that day.
    pub fn put_witness(&self, checkpoint: &SignedCheckpoint, day: i64) -> Result<bool, StoreError> {
        let _writing = self.writing()?;
        let mut key = Self::witness_prefix(checkpoint.checkpoint.node);
        key.extend_from_slice(&day.to_be_bytes());
        Ok(self.witnesses.insert(key, enc("checkpoint", checkpoint)?)?.is_none())
    }

    pub fn witnesses(&self) -> Result<Vec<SignedCheckpoint>, StoreError> {
        self.witnesses.iter().map(|kv| dec("checkpoint", &kv?.1)).collect()
    }
}
