//! Every sled call of the node lives here, so the storage engine can be
//! replaced without touching the rest.
//!
//! Trees: `meta` (the directory head), `directory` (every accepted directory
//! version, by number), `registrations` (Secretariat: what States submitted,
//! one per State and key), `rejections` (Secretariat: keys refused, and why),
//! `messages` (every message sent or received: ids, parties, times, delivery
//! state, receipts), `bodies` (each message's envelope and sealed body, written
//! once and removed by a purge, apart from the record that changes with each
//! delivery attempt), `exchanges` (one record per exchange). Writes that belong
//! together go in one sled transaction; nothing is acknowledged to a peer or an
//! operator before [`Store::flush`] has returned.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use veim_protocol::Bytes32;
use veim_protocol::audit::{Action, Actor, Entry, Event, SignedCheckpoint, SignedTreeHead};
use veim_protocol::codec::{self, MAX_DIRECTORY, MAX_RECORD};
use veim_protocol::contacts::SignedContactSet;
use veim_protocol::directory::DirectoryHead;
use veim_protocol::ids::{AttachmentId, DisclosureId};
use veim_protocol::keys::PublicIdentity;
use veim_protocol::{
    AuthorityKind, ExchangeId, ItemRef, MessageId, MessageKind, SignedDirectoryVersion, SignedReceipt,
    SignedRegistration, StateCode,
};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open the store at {path}: {reason}. If another node process uses this folder, stop it first")]
    Open { path: String, reason: String },
    #[error("the store failed: {0}. Check free disk space and permissions of the node's folder")]
    Io(#[from] sled::Error),
    #[error("a stored {what} is damaged: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("message {0} is already stored")]
    Duplicate(MessageId),
    #[error("message {0} is not in the store")]
    NotFound(MessageId),
    #[error("{0}")]
    Rejected(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Sent,
    Received,
}

/// Where one copy of a sent message is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    /// Queued: stored durably, not yet tried (or waiting for an earlier
    /// message of the same exchange to reach the same recipient).
    Pending,
    /// Tried and not yet acknowledged; tried again at `next_at`.
    Attempting { attempts: u32, next_at: i64, last_error: String },
    /// The recipient's signed receipt was checked and stored. Final.
    Delivered { stored_at: i64 },
    /// The recipient refused it for good (a refusal no retry can change). Final.
    Refused { code: String, detail: String },
    /// Given up: cancelled by the operator, or older than the recipient
    /// accepts. Final.
    Failed { reason: String },
}

impl DeliveryState {
    /// Whether nothing more will happen to this copy.
    pub fn is_final(&self) -> bool {
        matches!(self, DeliveryState::Delivered { .. } | DeliveryState::Refused { .. } | DeliveryState::Failed { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub recipient: StateCode,
    pub state: DeliveryState,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub message_id: MessageId,
    pub exchange_id: ExchangeId,
    pub direction: Direction,
    pub sender: StateCode,
    pub recipients: Vec<StateCode>,
    pub kind: MessageKind,
    pub created_at: i64,
    pub stored_at: i64,
    /// The body, encoded and sealed with the storage key ([`crate::vault`]);
    /// `None` once purged.
    #[serde(with = "serde_bytes")]
    pub content: Option<Vec<u8>>,
    /// The envelope exactly as signed, encoded: the proof of origin. Empty
    /// once purged (a received envelope can be opened with the node's key).
    #[serde(with = "serde_bytes")]
    pub envelope: Vec<u8>,
    pub envelope_hash: [u8; 32],
    /// Sent messages: one per recipient.
    pub deliveries: Vec<Delivery>,
    /// Sent messages: the recipients' signed receipts.
    pub receipts: Vec<SignedReceipt>,
    /// When the retention policy (or the operator) removed the content.
    pub purged_at: Option<i64>,
    /// The order in which this node stored its messages ([`Store::next_sequence`]).
    pub sequence: u64,
}

/// The life of an exchange. `Closed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExchangeStatus {
    /// A request was sent or received, and no response yet.
    Open,
    /// At least one response was given.
    Answered,
    /// One side closed it.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRecord {
    pub exchange_id: ExchangeId,
    /// The State that sent the request.
    pub originator: StateCode,
    /// Every State taking part, originator first.
    pub participants: Vec<StateCode>,
    pub status: ExchangeStatus,
    pub opened_at: i64,
    pub updated_at: i64,
    /// Messages in the order this node stored them.
    pub messages: Vec<MessageId>,
}

#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    directory: sled::Tree,
    registrations: sled::Tree,
    rejections: sled::Tree,
    contacts: sled::Tree,
    messages: sled::Tree,
    /// Each message's envelope (key: id, 0) and sealed body (key: id, 1).
    bodies: sled::Tree,
    exchanges: sled::Tree,
    disclosures: sled::Tree,
    audit: sled::Tree,
    /// Sent messages with a copy not yet final, by creation time then id.
    outbox: sled::Tree,
    /// Attachments staged to send, or received (metadata; the key sealed).
    attachments: sled::Tree,
    /// Received `Attachments` messages whose files are not all fetched yet.
    downloads: sled::Tree,
    checkpoints: sled::Tree,
    witnesses: sled::Tree,
    /// This node's signed tree heads, by count.
    tree_heads: sled::Tree,
    /// The latest tree head held of each peer's log.
    witness_trees: sled::Tree,
    /// The group commit of [`Store::flush`].
    group: std::sync::Arc<GroupCommit>,
    /// Copies being delivered right now (not stored: a restart frees them).
    in_flight: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<(MessageId, StateCode)>>>,
    /// The plain-file copy of the audit log that auditors read (see [`crate::audit`]).
    mirror: Option<std::sync::Arc<std::sync::Mutex<crate::audit::Mirror>>>,
    /// Why a write to disk failed, once one has: sled fails every later
    /// write, so the node must reopen the store (see [`Store::failure`]).
    failure: std::sync::Arc<std::sync::OnceLock<String>>,
}

/// An attachment this node holds: staged to send (`outgoing`), or received.
/// The file itself is in `HOME/attachments/<id>.sealed`, chunk by chunk,
/// encrypted under the key that `sealed_ref` (sealed with the storage key)
/// holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRecord {
    pub id: AttachmentId,
    pub name: String,
    pub size: u64,
    pub chunks: u64,
    pub outgoing: bool,
    /// Outgoing: the States it was sent to (who may fetch it).
    pub recipients: Vec<StateCode>,
    /// Received: who sent it, and in which message.
    pub sender: Option<StateCode>,
    pub message: Option<MessageId>,
    /// Chunks held (all of them for an outgoing attachment).
    pub chunks_held: u64,
    /// Received: chunk requests made, across interruptions.
    pub fetched: u64,
    /// Received: every chunk held and the file's SHA-256 checked.
    pub complete: bool,
    pub error: Option<String>,
    /// Received: not fetched, for good (see `error`).
    pub given_up: bool,
    /// The `AttachmentRef` (with its chunk key), sealed with the storage key.
    pub sealed_ref: Vec<u8>,
}

/// A disclosure this node made: what, to which kind of authority, on which
/// consent. No content: names, purpose and items are in the sealed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureSummary {
    pub disclosure_id: DisclosureId,
    pub created_at: i64,
    pub originator: StateCode,
    pub exchange_id: ExchangeId,
    pub items: Vec<ItemRef>,
    pub authority_kind: AuthorityKind,
    pub consent: Option<MessageId>,
    /// Hash of the package file as exported.
    pub package_hash: Bytes32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureRecord {
    pub summary: DisclosureSummary,
    /// The package, sealed with the storage key.
    pub package: Vec<u8>,
}

const HEAD_KEY: &[u8] = b"directory-head";
const SECRETARIAT_KEY: &[u8] = b"secretariat-key";
const PENDING_ROTATION: &[u8] = b"pending-rotation";
const STORAGE_CHECK: &[u8] = b"storage-key-check";
const AUDIT_HEAD: &[u8] = b"audit-head";
const MESSAGE_SEQUENCE: &[u8] = b"message-sequence";
/// The layout of the store: 2 since bodies moved out of message records.
const STORE_FORMAT: &[u8] = b"store-format";
const FORMAT: u64 = 2;
const LAST_CONFIG: &[u8] = b"last-config-hash";
const LAST_KEYS: &[u8] = b"last-key-fingerprint";

fn enc<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    codec::encode(what, value).map_err(|e| StoreError::Corrupt { what, reason: e.to_string() })
}

fn dec<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    codec::decode::<T, MAX_RECORD>(what, bytes).map_err(|e| StoreError::Corrupt { what, reason: e.to_string() })
}

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Io(e),
    }
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// Flush requests and the flushes that served them.
#[derive(Debug, Default)]
struct GroupCommit {
    state: std::sync::Mutex<FlushState>,
    done: tokio::sync::Notify,
    /// Flushes run (each one fsync or more).
    runs: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct FlushState {
    /// Tickets handed out, and the highest ticket a finished flush covers.
    requested: u64,
    completed: u64,
    running: bool,
    /// Recent failed flushes: the tickets they covered, and why.
    failures: std::collections::VecDeque<(u64, u64, String)>,
}

/// A copy claimed for one delivery attempt ([`Store::claim`]).
#[derive(Debug)]
pub struct Claim {
    set: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<(MessageId, StateCode)>>>,
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

/// The outbox key of a sent message: its sequence number (the order this
/// node stored it in), then its id.
fn outbox_key(record: &MessageRecord) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&record.sequence.to_be_bytes());
    key[8..].copy_from_slice(&record.message_id.0);
    key
}

/// Appends an event to the audit chain, inside the transaction of the change
/// it records: the entry and the change are durable together or not at all.
fn append(
    audit: &sled::transaction::TransactionalTree,
    meta: &sled::transaction::TransactionalTree,
    event: &Event,
) -> Result<u64, ConflictableTransactionError<StoreError>> {
    let (count, previous): (u64, Bytes32) = match meta.get(AUDIT_HEAD)? {
        Some(b) => dec("audit head", &b).map_err(abort)?,
        None => (0, Bytes32([0; 32])),
    };
    let entry = Entry { seq: count, previous, event: event.clone() };
    let hash = entry.hash().map_err(|e| abort(StoreError::Corrupt { what: "audit entry", reason: e.to_string() }))?;
    audit.insert(&count.to_be_bytes(), enc("audit entry", &entry).map_err(abort)?)?;
    meta.insert(AUDIT_HEAD, enc("audit head", &(count + 1, hash)).map_err(abort)?)?;
    Ok(count)
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

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            // No background flushes: durability comes from `flush`, called
            // before every acknowledgement, and nowhere else by chance.
            .flush_every_ms(None)
            .open()
            .map_err(|e| StoreError::Open { path: path.display().to_string(), reason: e.to_string() })?;
        let format = db.open_tree("meta")?.get(STORE_FORMAT)?;
        match format.as_deref() {
            // Format 1 kept bodies inside the message records; they are still
            // read there, and move to `bodies` when the record next changes.
            None => {
                db.open_tree("meta")?.insert(STORE_FORMAT, &FORMAT.to_be_bytes())?;
            }
            Some(b) if b == FORMAT.to_be_bytes() => {}
            Some(other) => {
                return Err(StoreError::Open {
                    path: path.display().to_string(),
                    reason: format!(
                        "the store is in format {}, which this version of veim (format {FORMAT}) does not know: run the veim release that wrote it, or a newer one",
                        other.iter().fold(0u64, |n, b| n << 8 | u64::from(*b))
                    ),
                });
            }
        }
        Ok(Store {
            meta: db.open_tree("meta")?,
            directory: db.open_tree("directory")?,
            registrations: db.open_tree("registrations")?,
            rejections: db.open_tree("rejections")?,
            contacts: db.open_tree("contacts")?,
            messages: db.open_tree("messages")?,
            bodies: db.open_tree("bodies")?,
            exchanges: db.open_tree("exchanges")?,
            disclosures: db.open_tree("disclosures")?,
            audit: db.open_tree("audit")?,
            outbox: db.open_tree("outbox")?,
            attachments: db.open_tree("attachments")?,
            downloads: db.open_tree("downloads")?,
            checkpoints: db.open_tree("checkpoints")?,
            witnesses: db.open_tree("witnesses")?,
            tree_heads: db.open_tree("tree-heads")?,
            witness_trees: db.open_tree("witness-trees")?,
            mirror: None,
            in_flight: Default::default(),
            failure: Default::default(),
            group: Default::default(),
            db,
        })
    }

    /// Makes every write so far durable. Runs on a blocking thread: a sled
    /// flush is an fsync.
    ///
    /// Group commit: callers that ask while a flush is running wait for the
    /// next one, which then serves them all; a flush counts for a caller
    /// only if it started after the caller asked (so it covers the caller's
    /// writes).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let g = &self.group;
        let ticket = {
            let mut s = g.state.lock().map_err(|_| StoreError::Rejected("flush state poisoned".into()))?;
            s.requested += 1;
            s.requested
        };
        loop {
            let notified = g.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let run = {
                let mut s = g.state.lock().map_err(|_| StoreError::Rejected("flush state poisoned".into()))?;
                if s.completed >= ticket {
                    return match s.failures.iter().find(|(from, to, _)| (*from..=*to).contains(&ticket)) {
                        Some((_, _, why)) => Err(StoreError::Rejected(format!("flush failed: {why}"))),
                        None => Ok(()),
                    };
                }
                if s.running {
                    None
                } else {
                    s.running = true;
                    Some((s.completed + 1, s.requested))
                }
            };
            let Some((from, target)) = run else {
                notified.await;
                continue;
            };
            let store = self.clone();
            g.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = tokio::task::spawn_blocking(move || store.flush_blocking())
                .await
                .map_err(|e| StoreError::Rejected(format!("flush task failed: {e}")))
                .and_then(|r| r);
            {
                let mut s = g.state.lock().map_err(|_| StoreError::Rejected("flush state poisoned".into()))?;
                s.running = false;
                s.completed = target;
                if let Err(e) = &result {
                    s.failures.push_back((from, target, e.to_string()));
                    if s.failures.len() > 64 {
                        s.failures.pop_front();
                    }
                }
            }
            g.done.notify_waiters();
        }
    }

    /// Flushes the store's log, remembering a failure to write to disk
    /// (see [`Store::failure`]). Costs no disk access when nothing is waiting
    /// to be written.
    pub fn check_disk(&self) {
        let _ = self.flush_log();
    }

    /// Flushes sled's log, remembering a failure to write to disk.
    fn flush_log(&self) -> Result<(), sled::Error> {
        let flushed = self.db.flush();
        if let Err(e @ sled::Error::Io(_)) = &flushed {
            let _ = self.failure.set(e.to_string());
        }
        flushed.map(|_| ())
    }

    /// Why the store could not write to disk (a full disk, a failing
    /// device), if that happened since it was opened. sled fails every later
    /// write once one has failed, even when there is room again: only
    /// reopening the store clears it.
    pub fn failure(&self) -> Option<String> {
        self.failure.get().cloned()
    }

    /// How many flushes have run since the store was opened.
    pub fn flush_runs(&self) -> u64 {
        self.group.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps the plain-file copy of the audit log in `dir`, brought up to
    /// date at every flush (and now).
    pub fn with_audit_mirror(mut self, dir: &Path) -> Result<Store, StoreError> {
        let mirror = crate::audit::Mirror::open(dir, &self)?;
        self.mirror = Some(std::sync::Arc::new(std::sync::Mutex::new(mirror)));
        Ok(self)
    }

    /// `flush`, for callers outside the runtime (start-up, offline tools).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.flush_log()?;
        if let Some(mirror) = &self.mirror {
            let mut mirror =
                mirror.lock().map_err(|_| StoreError::Rejected("the audit mirror lock is poisoned".into()))?;
            mirror.catch_up(self)?;
        }
        Ok(())
    }

    /// Claims a copy for one delivery attempt; `None` if another attempt
    /// holds it. The claim ends when the returned guard is dropped.
    pub fn claim(&self, message: MessageId, recipient: StateCode) -> Option<Claim> {
        let mut set = self.in_flight.lock().ok()?;
        set.insert((message, recipient)).then(|| Claim { set: self.in_flight.clone(), key: (message, recipient) })
    }

    // --- directory -------------------------------------------------------

    pub fn directory_head(&self) -> Result<Option<DirectoryHead>, StoreError> {
        self.meta.get(HEAD_KEY)?.map(|b| dec("directory head", &b)).transpose()
    }

    pub fn directory_version(&self, version: u64) -> Result<Option<SignedDirectoryVersion>, StoreError> {
        self.directory
            .get(version.to_be_bytes())?
            .map(|b| {
                codec::decode::<_, MAX_DIRECTORY>("directory version", &b)
                    .map_err(|e| StoreError::Corrupt { what: "directory version", reason: e.to_string() })
            })
            .transpose()
    }

    pub fn current_directory(&self) -> Result<Option<SignedDirectoryVersion>, StoreError> {
        match self.directory_head()? {
            Some(head) => self.directory_version(head.version),
            None => Ok(None),
        }
    }

    pub fn directory_versions_after(&self, after: u64, max: usize) -> Result<Vec<SignedDirectoryVersion>, StoreError> {
        let start = after.saturating_add(1).to_be_bytes();
        self.directory
            .range(start..)
            .take(max)
            .map(|kv| {
                let (_, v) = kv?;
                dec("directory version", &v)
            })
            .collect()
    }

    /// Stores an accepted version and makes it the head, in one step.
    pub fn put_directory_version(
        &self,
        version: &SignedDirectoryVersion,
        event: &Event,
    ) -> Result<DirectoryHead, StoreError> {
        let head =
            version.head().map_err(|e| StoreError::Corrupt { what: "directory version", reason: e.to_string() })?;
        let bytes = enc("directory version", version)?;
        let head_bytes = enc("directory head", &head)?;
        let anchor = version.body.handover.as_ref().map(|h| h.next_key.0.to_vec());
        let key = head.version.to_be_bytes();
        (&self.directory, &self.meta, &self.audit)
            .transaction(|(dir, meta, audit)| {
                dir.insert(&key, bytes.as_slice())?;
                meta.insert(HEAD_KEY, head_bytes.as_slice())?;
                if let Some(anchor) = &anchor {
                    meta.insert(SECRETARIAT_KEY, anchor.as_slice())?;
                }
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)?;
        Ok(head)
    }

    /// Secretariat: when a State's last move (new addresses) was published.
    pub fn last_move(&self, state: StateCode) -> Result<Option<i64>, StoreError> {
        let key = [b"moved:".as_slice(), state.as_bytes()].concat();
        Ok(self.meta.get(key)?.and_then(|b| b.as_ref().try_into().ok().map(i64::from_be_bytes)))
    }

    pub fn set_last_move(&self, state: StateCode, at: i64) -> Result<(), StoreError> {
        let key = [b"moved:".as_slice(), state.as_bytes()].concat();
        self.meta.insert(key, &at.to_be_bytes())?;
        Ok(())
    }

    /// National node: the key rotation it sent and re-sends, byte for byte,
    /// until the directory carries it.
    pub fn put_pending_rotation(&self, rotation: &veim_protocol::SignedKeyRotation) -> Result<(), StoreError> {
        self.meta.insert(PENDING_ROTATION, enc("key rotation", rotation)?)?;
        Ok(())
    }

    pub fn pending_rotation(&self) -> Result<Option<veim_protocol::SignedKeyRotation>, StoreError> {
        self.meta.get(PENDING_ROTATION)?.map(|b| dec("key rotation", &b)).transpose()
    }

    pub fn clear_pending_rotation(&self) -> Result<(), StoreError> {
        self.meta.remove(PENDING_ROTATION)?;
        Ok(())
    }

    /// The Secretariat key the directory last handed over to, if it ever did
    /// (otherwise the key pinned in the configuration holds).
    pub fn secretariat_key(&self) -> Result<Option<PublicIdentity>, StoreError> {
        let Some(bytes) = self.meta.get(SECRETARIAT_KEY)? else { return Ok(None) };
        let bytes: [u8; 32] = bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            what: "Secretariat key",
            reason: format!("{} bytes instead of 32", bytes.len()),
        })?;
        Ok(Some(PublicIdentity(bytes)))
    }

    /// The value proving which storage key this store's content is sealed with.
    pub fn storage_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(STORAGE_CHECK)?.map(|v| v.to_vec()))
    }

    /// Whether any message or disclosure is stored.
    pub fn has_content(&self) -> Result<bool, StoreError> {
        Ok(!self.messages.is_empty() || !self.disclosures.is_empty())
    }

    pub fn set_storage_check(&self, check: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(STORAGE_CHECK, check)?;
        Ok(())
    }

    // --- registrations (Secretariat) ------------------------------------

    fn registration_key(registration: &SignedRegistration) -> Vec<u8> {
        let r = &registration.registration;
        let mut key = r.state.as_bytes().to_vec();
        key.extend_from_slice(&r.identity_key.0);
        key
    }

    /// Keeps a registration, one per State and identity key: a registration
    /// sent with another key never replaces the one an operator is checking.
    pub fn put_registration(&self, registration: &SignedRegistration) -> Result<(), StoreError> {
        self.registrations.insert(Self::registration_key(registration), enc("registration", registration)?)?;
        Ok(())
    }

    /// The registration stored for this State and key, if any.
    pub fn registration(&self, registration: &SignedRegistration) -> Result<Option<SignedRegistration>, StoreError> {
        self.registrations.get(Self::registration_key(registration))?.map(|b| dec("registration", &b)).transpose()
    }

    /// Every registration received from a State, one per key.
    pub fn registrations_of(&self, state: StateCode) -> Result<Vec<SignedRegistration>, StoreError> {
        self.registrations.scan_prefix(state.as_bytes()).map(|kv| dec("registration", &kv?.1)).collect()
    }

    /// Records that the operator refused this State's key, and why.
    pub fn put_rejection(&self, registration: &SignedRegistration, reason: &str) -> Result<(), StoreError> {
        self.rejections.insert(Self::registration_key(registration), reason.as_bytes())?;
        Ok(())
    }

    /// Why this State's key was refused, if it was.
    pub fn rejection(&self, registration: &SignedRegistration) -> Result<Option<String>, StoreError> {
        Ok(self.rejections.get(Self::registration_key(registration))?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    // --- points of contact ------------------------------------------------

    /// Secretariat: the submission waiting for review from a State (one per
    /// State, the latest). National node: its own latest submission, under
    /// its own State code.
    pub fn put_contacts(&self, set: &SignedContactSet) -> Result<(), StoreError> {
        self.contacts.insert(set.set.state.as_bytes(), enc("contacts", set)?)?;
        Ok(())
    }

    pub fn contacts(&self, state: StateCode) -> Result<Option<SignedContactSet>, StoreError> {
        self.contacts.get(state.as_bytes())?.map(|b| dec("contacts", &b)).transpose()
    }

    pub fn all_contacts(&self) -> Result<Vec<SignedContactSet>, StoreError> {
        self.contacts.iter().map(|kv| dec("contacts", &kv?.1)).collect()
    }

    pub fn remove_contacts(&self, state: StateCode) -> Result<(), StoreError> {
        self.contacts.remove(state.as_bytes())?;
        Ok(())
    }

    /// Secretariat: a submission refused, by its hash, and why.
    pub fn put_contacts_rejection(&self, hash: [u8; 32], reason: &str) -> Result<(), StoreError> {
        let mut key = b"contacts:".to_vec();
        key.extend_from_slice(&hash);
        self.rejections.insert(key, reason.as_bytes())?;
        Ok(())
    }

    pub fn contacts_rejection(&self, hash: [u8; 32]) -> Result<Option<String>, StoreError> {
        let mut key = b"contacts:".to_vec();
        key.extend_from_slice(&hash);
        Ok(self.rejections.get(key)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    pub fn registrations(&self) -> Result<Vec<SignedRegistration>, StoreError> {
        self.registrations.iter().map(|kv| dec("registration", &kv?.1)).collect()
    }

    // --- messages and exchanges -----------------------------------------

    /// Stores a new message and updates its exchange in one transaction.
    /// `update` computes the exchange record from the stored one (or `None`
    /// for a new exchange) and may refuse. A message id already stored is
    /// refused with [`StoreError::Duplicate`].
    pub fn insert_message(
        &self,
        record: &MessageRecord,
        update: impl Fn(Option<ExchangeRecord>) -> Result<ExchangeRecord, String>,
        events: &[Event],
    ) -> Result<ExchangeRecord, StoreError> {
        let msg_key = record.message_id.0;
        let ex_key = record.exchange_id.0;
        let queued = record.direction == Direction::Sent && record.deliveries.iter().any(|d| !d.state.is_final());
        let download = record.direction == Direction::Received && record.kind == MessageKind::Attachments;
        (&self.messages, &self.bodies, &self.exchanges, &self.audit, &self.meta, &self.outbox, &self.downloads)
            .transaction(|(messages, bodies, exchanges, audit, meta, outbox, downloads)| {
                if messages.get(msg_key)?.is_some() {
                    return Err(abort(StoreError::Duplicate(record.message_id)));
                }
                // The order of storing, taken in the transaction that stores:
                // the outbox order is the exchange log's order.
                let sequence: u64 = match meta.get(MESSAGE_SEQUENCE)? {
                    Some(b) => dec("message sequence", &b).map_err(abort)?,
                    None => 0,
                } + 1;
                meta.insert(MESSAGE_SEQUENCE, enc("message sequence", &sequence).map_err(abort)?)?;
                let mut record = record.clone();
                record.sequence = sequence;
                let msg_bytes = record_bytes(&mut record).map_err(abort)?;
                if queued {
                    outbox.insert(outbox_key(&record).to_vec(), &record.exchange_id.0)?;
                }
                if download {
                    downloads.insert(&msg_key, &[])?;
                }
                for event in events {
                    append(audit, meta, event)?;
                }
                let current = match exchanges.get(ex_key)? {
                    Some(b) => Some(dec::<ExchangeRecord>("exchange", &b).map_err(abort)?),
                    None => None,
                };
                let next = update(current).map_err(|e| abort(StoreError::Rejected(e)))?;
                exchanges.insert(&ex_key, enc("exchange", &next).map_err(abort)?)?;
                messages.insert(&msg_key, msg_bytes.as_slice())?;
                if !record.envelope.is_empty() {
                    bodies.insert(&body_key(record.message_id, ENVELOPE), record.envelope.as_slice())?;
                }
                if let Some(content) = &record.content {
                    bodies.insert(&body_key(record.message_id, CONTENT), content.as_slice())?;
                }
                Ok(next)
            })
            .map_err(tx_err)
    }

    /// A message with its envelope and body, read together (a purge or an
    /// insert committing meanwhile is seen whole or not at all).
    pub fn message(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError> {
        (&self.messages, &self.bodies)
            .transaction(|(messages, bodies)| {
                let Some(b) = messages.get(id.0)? else { return Ok(None) };
                let held = [bodies.get(body_key(id, ENVELOPE))?, bodies.get(body_key(id, CONTENT))?];
                let record = dec("message", &b).map_err(abort)?;
                joined(record, |part| Ok(held[usize::from(part)].clone())).map(Some).map_err(abort)
            })
            .map_err(tx_err)
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
        (&self.messages, &self.bodies, &self.audit, &self.meta, &self.outbox)
            .transaction(|(messages, bodies, audit, meta, outbox)| {
                let old = messages.get(id.0)?.ok_or_else(|| abort(StoreError::NotFound(id)))?;
                let old: MessageRecord = dec("message", &old).map_err(abort)?;
                // A format-1 record holds its body itself: written out below.
                let inline = !old.envelope.is_empty() || old.content.is_some();
                let held = [bodies.get(body_key(id, ENVELOPE))?, bodies.get(body_key(id, CONTENT))?];
                let mut record = joined(old, |part| Ok(held[usize::from(part)].clone())).map_err(abort)?;
                for event in change(&mut record) {
                    append(audit, meta, &event)?;
                }
                if record.direction == Direction::Sent {
                    if record.deliveries.iter().all(|d| d.state.is_final()) {
                        outbox.remove(outbox_key(&record).to_vec())?;
                    } else {
                        outbox.insert(outbox_key(&record).to_vec(), &record.exchange_id.0)?;
                    }
                }
                messages.insert(&id.0, record_bytes(&mut record).map_err(abort)?)?;
                // The body is written again only when it changed (a purge),
                // not at each delivery attempt.
                // A purged record keeps no body (nor one a purge by an older
                // release left behind).
                let inline = inline || record.purged_at.is_some();
                if inline || held[usize::from(ENVELOPE)].as_deref().unwrap_or_default() != record.envelope.as_slice() {
                    match record.envelope.is_empty() {
                        true => bodies.remove(&body_key(id, ENVELOPE))?,
                        false => bodies.insert(&body_key(id, ENVELOPE), record.envelope.as_slice())?,
                    };
                }
                if inline || held[usize::from(CONTENT)].as_deref() != record.content.as_deref() {
                    match &record.content {
                        None => bodies.remove(&body_key(id, CONTENT))?,
                        Some(c) => bodies.insert(&body_key(id, CONTENT), c.as_slice())?,
                    };
                }
                Ok(record)
            })
            .map_err(tx_err)
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

    pub fn put_attachment(&self, record: &AttachmentRecord) -> Result<(), StoreError> {
        self.attachments.insert(record.id.0, enc("attachment", record)?)?;
        Ok(())
    }

    pub fn attachment(&self, id: AttachmentId) -> Result<Option<AttachmentRecord>, StoreError> {
        self.attachments.get(id.0)?.map(|b| dec("attachment", &b)).transpose()
    }

    pub fn remove_attachment(&self, id: AttachmentId) -> Result<(), StoreError> {
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
        self.downloads.remove(id.0)?;
        Ok(())
    }

    pub fn messages(&self) -> Result<Vec<MessageRecord>, StoreError> {
        let mut out = Vec::new();
        for key in self.messages.iter().keys() {
            let key = key?;
            let id =
                MessageId(key.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "message key",
                    reason: format!("{} bytes", key.len()),
                })?);
            out.extend(self.message(id)?);
        }
        Ok(out)
    }

    pub fn exchange(&self, id: ExchangeId) -> Result<Option<ExchangeRecord>, StoreError> {
        self.exchanges.get(id.0)?.map(|b| dec("exchange", &b)).transpose()
    }

    pub fn exchanges(&self) -> Result<Vec<ExchangeRecord>, StoreError> {
        self.exchanges.iter().map(|kv| dec("exchange", &kv?.1)).collect()
    }

    /// Removes the content (sealed body and envelope) of every received
    /// request, response and note stored before `before` (consent messages
    /// stay: they are the record of what may be disclosed), keeping its metadata (ids, kind,
    /// parties, times, envelope hash). Returns the messages purged.
    pub fn purge_received(&self, before: i64, now: i64, actor: Actor) -> Result<Vec<MessageId>, StoreError> {
        let mut purged = Vec::new();
        for m in self.messages()? {
            let information = matches!(
                m.kind,
                MessageKind::Request | MessageKind::Response | MessageKind::Note | MessageKind::Attachments
            );
            if information && m.direction == Direction::Received && m.stored_at <= before && m.purged_at.is_none() {
                self.update_message(m.message_id, |r| {
                    r.content = None;
                    r.envelope = Vec::new();
                    r.purged_at.get_or_insert(now);
                    let mut event = Event::new(now, actor, Action::Purged);
                    event.state = Some(r.sender);
                    event.exchange = Some(r.exchange_id);
                    event.message = Some(r.message_id);
                    event.kind = Some(r.kind);
                    vec![event]
                })?;
                purged.push(m.message_id);
            }
        }
        Ok(purged)
    }

    pub fn put_disclosure(&self, record: &DisclosureRecord, event: &Event) -> Result<(), StoreError> {
        let key = record.summary.disclosure_id.0;
        let bytes = enc("disclosure", record)?;
        (&self.disclosures, &self.audit, &self.meta)
            .transaction(|(disclosures, audit, meta)| {
                disclosures.insert(&key, bytes.as_slice())?;
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)
    }

    // --- audit ---------------------------------------------------------------

    /// Records an event that changes nothing else in the store.
    pub fn audit(&self, event: &Event) -> Result<u64, StoreError> {
        (&self.audit, &self.meta).transaction(|(audit, meta)| append(audit, meta, event)).map_err(tx_err)
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

    /// Rewrites the audit files of checkpoints, if this store keeps them.
    pub fn write_audit_checkpoints(&self) -> Result<(), StoreError> {
        if let Some(mirror) = &self.mirror {
            let mirror = mirror.lock().map_err(|_| StoreError::Rejected("the audit mirror lock is poisoned".into()))?;
            mirror.write_checkpoints(self)?;
        }
        Ok(())
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
        let mut key = Self::witness_prefix(checkpoint.checkpoint.node);
        key.extend_from_slice(&day.to_be_bytes());
        Ok(self.witnesses.insert(key, enc("checkpoint", checkpoint)?)?.is_none())
    }

    pub fn witnesses(&self) -> Result<Vec<SignedCheckpoint>, StoreError> {
        self.witnesses.iter().map(|kv| dec("checkpoint", &kv?.1)).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_flushes_share_fsyncs_and_each_covers_its_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("open");
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.meta.insert(i.to_be_bytes(), &[1]).expect("insert");
                store.flush().await.expect("flush");
                i
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let runs = store.flush_runs();
        assert!((1..64).contains(&runs), "64 flushes asked, {runs} run");
        drop(store);
        // Every write acknowledged by a flush is on disk.
        let reopened = Store::open(&dir.path().join("store")).expect("reopen");
        for i in 0..64u64 {
            assert!(reopened.meta.get(i.to_be_bytes()).expect("get").is_some(), "write {i}");
        }
    }

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
        let moved = store.update_message(old.message_id, |_| Vec::new()).expect("update");
        assert_eq!(moved, old);
        assert_eq!(store.bodies.len(), 4);
        let listed = store.messages().expect("list");
        assert_eq!(listed.iter().filter(|m| m.content.is_some() && !m.envelope.is_empty()).count(), 2);
        let purged = store.purge_received(10, 10, Actor::Node).expect("purge");
        assert_eq!(purged.len(), 2);
        assert_eq!(store.bodies.len(), 0, "a purge leaves no body behind");
        let after = store.message(old.message_id).expect("read").expect("held");
        assert!(after.content.is_none() && after.envelope.is_empty() && after.purged_at == Some(10));
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
        assert!(e.to_string().contains("format 9, which this version of veim (format 2) does not know"), "{e}");
    }
}
