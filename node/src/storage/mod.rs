//! Every sled call of the node lives here, so the storage engine can be
//! replaced without touching the rest. Storage knows the node's records as
//! plain data and nothing of the rules that make them (those are the domain
//! services'); it imports nothing else of the node, only the protocol.
//!
//! Trees: `meta` (the directory head), `directory` (every accepted directory
//! version, by number), `registrations` (Secretariat: what States submitted,
//! one per State and key), `rejections` (Secretariat: keys refused, and why),
//! `messages` (every message sent or received: ids, parties, times, delivery
//! state, receipts), `bodies` (each message's envelope and sealed body, written
//! once and removed by a purge, apart from the record that changes with each
//! delivery attempt), `exchanges` (one record per exchange), `mail` (mails
//! waiting for the SMTP server) and `mail-notices` (received requests and
//! consent requests whose mail is still to be queued). Writes that belong
//! together go in one sled transaction; nothing is acknowledged to a peer or an
//! operator before [`Store::flush`] has returned.
//!
//! `Store` itself (this file) opens the database, runs the group commit of
//! [`Store::flush`] and remembers a failed write; its methods are grouped by
//! concern: `directory` (directory versions, registrations, contacts),
//! `messages` (messages, exchanges, outbox, attachments, disclosures), `mail`
//! (the mail queue), `audit` (the hash-chained log, checkpoints and tree
//! heads), and `reports` (reports to the CSP: `csp-reports`, a national
//! node's drafts, and `csp-register`, the Secretariat's register),
//! `publications` (the Secretariat's publication log, reports of measures,
//! meeting registrations) and `group` (the group commit itself).

mod accounts;
mod audit;
mod directory;
mod group;
mod grouped;
mod mail;
mod messages;
mod publications;
mod records;
mod reports;
mod snapshot;

pub use accounts::AccountRecord;
pub use group::GroupCommit;
pub use grouped::Grouping;
pub use messages::{LookupError, MessageWatch};
pub use publications::{ReportRecord, ReportState};
pub use records::*;
pub use snapshot::{SnapshotError, SnapshotReader, SnapshotSink};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use veim_protocol::Bytes32;
use veim_protocol::MessageId;
use veim_protocol::audit::{Entry, Event};
use veim_protocol::codec::{self, MAX_RECORD};

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
    /// A rule of the change refused it (decided by the caller, e.g. the
    /// exchange rules given to [`Store::insert_message`]); nothing was written.
    #[error("{0}")]
    Refused(#[from] RuleRefusal),
    /// A file kept beside the store (written after a flush) could not be written.
    #[error("cannot write {path}: {reason}. Check free disk space and permissions of the node's folder")]
    File { path: String, reason: String },
    /// The store's own machinery failed (a lock poisoned, a task lost).
    #[error("the store failed internally: {0}. Restart the node; if it happens again, report it")]
    Internal(String),
}

/// Why a caller's rule refused a change inside a store transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleRefusal(pub String);

/// A hook run before or after each flush.
#[derive(Clone)]
struct FlushHook(std::sync::Arc<Hook>);

type Hook = dyn Fn(&Store) -> Result<(), StoreError> + Send + Sync;

impl std::fmt::Debug for FlushHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlushHook")
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    /// The store's folder, for the disk it is on.
    path: std::sync::Arc<Path>,
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
    /// Disclosures asked for and not yet approved or refused, by id.
    disclosure_requests: sled::Tree,
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
    /// Mails waiting for the SMTP server, by their number in the queue.
    mail: sled::Tree,
    /// Received messages whose notification is still to be queued.
    mail_notices: sled::Tree,
    /// Reports to the CSP this node drafts or co-authors, by report id.
    csp_reports: sled::Tree,
    /// The Secretariat's register of reports to the CSP, by number.
    csp_register: sled::Tree,
    /// The Secretariat's publication log, by number.
    publications: sled::Tree,
    /// Reports of measures, by report id.
    reports: sled::Tree,
    /// Meeting registrations, by notice number then State.
    meeting: sled::Tree,
    /// Officials' accounts, by name ([`AccountRecord`]), and the SHA-256
    /// of each personal token to its account's name.
    accounts: sled::Tree,
    account_tokens: sled::Tree,
    /// Each account's second-factor secret, sealed with the storage key.
    account_totp: sled::Tree,
    /// The group commit of [`Store::flush`].
    group: std::sync::Arc<GroupCommit>,
    /// Message writes waiting for the next grouped transaction
    /// ([`Store::insert_message_grouped`]).
    grouped: std::sync::Arc<grouped::Grouped>,
    /// Run after every flush ([`Store::with_after_flush`]).
    after_flush: Option<FlushHook>,
    /// Run before every flush, its writes made durable by it
    /// ([`Store::with_before_flush`]).
    before_flush: Option<FlushHook>,
    /// Why a write to disk failed, once one has: sled fails every later
    /// write, so the node must reopen the store (see [`Store::failure`]).
    failure: std::sync::Arc<std::sync::OnceLock<String>>,
    /// Held shared by every write and alone by [`Store::snapshot`], so that
    /// a snapshot holds all of each change or none of it.
    gate: std::sync::Arc<std::sync::RwLock<()>>,
    /// The distinct lists of participants of the stored exchanges: read from
    /// them at the first [`Store::participant_lists`], extended by every
    /// insert after it.
    participants: std::sync::Arc<std::sync::Mutex<Option<std::collections::BTreeSet<Vec<veim_protocol::StateCode>>>>>,
}

const HEAD_KEY: &[u8] = b"directory-head";
const SECRETARIAT_KEY: &[u8] = b"secretariat-key";
const PENDING_ROTATION: &[u8] = b"pending-rotation";
const STORAGE_CHECK: &[u8] = b"storage-key-check";
const AUDIT_HEAD: &[u8] = b"audit-head";
const MESSAGE_SEQUENCE: &[u8] = b"message-sequence";
/// The layout of the store: 2 since bodies moved out of message records; 3
/// since checkpoints and tree heads carry a restore mark.
const STORE_FORMAT: &[u8] = b"store-format";
const FORMAT: u64 = 3;
const LAST_CONFIG: &[u8] = b"last-config-hash";
const LAST_KEYS: &[u8] = b"last-key-fingerprint";
/// The checkpoint signed at the latest flush that added audit entries.
const HEAD_CHECKPOINT: &[u8] = b"audit-head-checkpoint";
/// The summary entry of failed logins counted and not yet recorded.
const COUNTED: &[u8] = b"audit-counted";
/// Where the log was last restored from a backup (`RestoreMark`).
const RESTORE_MARK: &[u8] = b"audit-restore-mark";
/// Prefix of the marks of events recorded once ([`Store::record_once`]).
const ONCE_PREFIX: &[u8] = b"audit-once/";

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

/// The store's share of its disk, for the node's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// The store's files.
    pub store_bytes: u64,
    /// Free space on the store's file system for an unprivileged account
    /// (`None` where it cannot be read).
    pub free_bytes: Option<u64>,
}

#[cfg(unix)]
fn free_bytes(path: &Path) -> Option<u64> {
    let fs = rustix::fs::statvfs(path).ok()?;
    Some(fs.f_bavail.saturating_mul(fs.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_: &Path) -> Option<u64> {
    None
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
    let mut event = event.clone();
    event.actor = crate::acting::official(event.actor);
    let entry = Entry { seq: count, previous, event };
    let hash = entry.hash().map_err(|e| abort(StoreError::Corrupt { what: "audit entry", reason: e.to_string() }))?;
    audit.insert(&count.to_be_bytes(), enc("audit entry", &entry).map_err(abort)?)?;
    meta.insert(AUDIT_HEAD, enc("audit head", &(count + 1, hash)).map_err(abort)?)?;
    Ok(count)
}

/// Rewrites the checkpoints and tree heads of a format 1 or 2 store with an
/// empty restore mark: the field's `None` (one zero byte) goes where it
/// belongs, before the 64-byte signature. Their signatures stay valid (they
/// cover the fields without the mark, `Checkpoint::signed_bytes`). Durable
/// with the format's change, at the next flush.
fn add_restore_marks(db: &sled::Db) -> Result<(), String> {
    fn with_empty_mark(old: &[u8]) -> Option<Vec<u8>> {
        let at = old.len().checked_sub(64)?;
        Some([&old[..at], &[0u8], &old[at..]].concat())
    }
    let checkpoints = [("checkpoints", None), ("witnesses", None), ("meta", Some(HEAD_CHECKPOINT))];
    let tree_heads = ["tree-heads", "witness-trees"];
    let rewrite = |tree: &str, only: Option<&[u8]>, is_head: bool| -> Result<(), String> {
        let t = db.open_tree(tree).map_err(|e| e.to_string())?;
        for kv in t.iter() {
            let (k, v) = kv.map_err(|e| e.to_string())?;
            if only.is_some_and(|key| k.as_ref() != key) {
                continue;
            }
            let new = with_empty_mark(&v).ok_or_else(|| format!("a stored {tree} record is too short"))?;
            let decodes = if is_head {
                codec::decode::<veim_protocol::audit::SignedTreeHead, MAX_RECORD>("tree head", &new).is_ok()
            } else {
                codec::decode::<veim_protocol::audit::SignedCheckpoint, MAX_RECORD>("checkpoint", &new).is_ok()
            };
            if !decodes {
                return Err(format!("a stored {tree} record does not read as a checkpoint of format 2"));
            }
            t.insert(k, new).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    for (tree, only) in checkpoints {
        rewrite(tree, only, false)?;
    }
    for tree in tree_heads {
        rewrite(tree, None, true)?;
    }
    Ok(())
}

/// Whether sled refused to open a store because its folder's lock is held
/// by another handle. sled 0.34.7 reports the refused `flock` as an error of
/// kind `Other` whose text begins "could not acquire lock on" and ends with
/// the refusal's own (`WouldBlock`), not as an error of kind `WouldBlock`;
/// a lock that cannot be taken at all (no locks on the file system) is not
/// waited for.
fn locked(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            let said = io.to_string();
            io.kind() == std::io::ErrorKind::WouldBlock
                || (io.kind() == std::io::ErrorKind::Other
                    && said.starts_with("could not acquire lock on")
                    && said.contains("WouldBlock"))
        }
        _ => false,
    }
}

/// How long `Store::open` waits for the folder's lock, and how often it
/// tries again: a node restarting in its own process, or opening a store
/// the process has just filled (a restore), waits for sled's threads to let
/// go of the previous handle; a second process holding the folder is named
/// after this wait.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
const LOCK_STEP: std::time::Duration = std::time::Duration::from_millis(20);

/// MiB of pages a store keeps in memory unless told otherwise; a node's
/// `store_cache_mib` has the same default. sled's own default, 1 GiB, let a
/// node's memory grow with everything it ever stored.
pub const DEFAULT_CACHE_MIB: u64 = 64;

impl Store {
    /// Opens the store at `path` with the default cache.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, DEFAULT_CACHE_MIB)
    }

    /// Opens the store at `path`, keeping about `cache_mib` MiB of its pages
    /// in memory.
    pub fn open_with_cache(path: &Path, cache_mib: u64) -> Result<Store, StoreError> {
        Store::open_waiting(path, cache_mib, LOCK_WAIT)
    }

    fn open_waiting(path: &Path, cache_mib: u64, lock_wait: std::time::Duration) -> Result<Store, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_mib.saturating_mul(1024 * 1024))
            .mode(sled::Mode::HighThroughput)
            // No background flushes: durability comes from `flush`, called
            // before every acknowledgement, and nowhere else by chance.
            .flush_every_ms(None);
        // The folder's lock is let go when the last of sled's own threads
        // holding the previous handle ends, a moment after that handle is
        // dropped (a node restarting in the same process): wait for it a
        // little before taking the lock as another process's.
        let mut waited = std::time::Duration::ZERO;
        let db = loop {
            match config.open() {
                Err(e) if locked(&e) && waited < lock_wait => {
                    if waited.is_zero() {
                        tracing::info!(
                            path = %path.display(),
                            "the store's folder is locked: waiting up to {:?} for it to be let go",
                            lock_wait
                        );
                    }
                    std::thread::sleep(LOCK_STEP);
                    waited += LOCK_STEP;
                }
                other => {
                    break other
                        .map_err(|e| StoreError::Open { path: path.display().to_string(), reason: e.to_string() })?;
                }
            }
        };
        let format = db.open_tree("meta")?.get(STORE_FORMAT)?;
        match format.as_deref() {
            // Format 1 kept bodies inside the message records; they are still
            // read there, and move to `bodies` when the record next changes.
            // Formats 1 and 2 kept checkpoints and tree heads without a
            // restore mark: they gain an empty one.
            None => {
                add_restore_marks(&db)
                    .map_err(|reason| StoreError::Open { path: path.display().to_string(), reason })?;
                db.open_tree("meta")?.insert(STORE_FORMAT, &FORMAT.to_be_bytes())?;
            }
            Some(b) if b == 2u64.to_be_bytes() => {
                add_restore_marks(&db)
                    .map_err(|reason| StoreError::Open { path: path.display().to_string(), reason })?;
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
            disclosure_requests: db.open_tree("disclosure-requests")?,
            audit: db.open_tree("audit")?,
            outbox: db.open_tree("outbox")?,
            attachments: db.open_tree("attachments")?,
            downloads: db.open_tree("downloads")?,
            checkpoints: db.open_tree("checkpoints")?,
            witnesses: db.open_tree("witnesses")?,
            tree_heads: db.open_tree("tree-heads")?,
            witness_trees: db.open_tree("witness-trees")?,
            mail: db.open_tree("mail")?,
            mail_notices: db.open_tree("mail-notices")?,
            csp_reports: db.open_tree("csp-reports")?,
            csp_register: db.open_tree("csp-register")?,
            publications: db.open_tree("publications")?,
            reports: db.open_tree("reports")?,
            meeting: db.open_tree("meeting")?,
            accounts: db.open_tree("accounts")?,
            account_tokens: db.open_tree("account-tokens")?,
            account_totp: db.open_tree("account-totp")?,
            after_flush: None,
            before_flush: None,
            failure: Default::default(),
            gate: Default::default(),
            participants: Default::default(),
            group: Default::default(),
            grouped: Default::default(),
            path: path.into(),
            db,
        })
    }

    /// Taken by every method that writes, for as long as it writes; never
    /// taken twice by one call (a write method calls no other).
    fn writing(&self) -> Result<std::sync::RwLockReadGuard<'_, ()>, StoreError> {
        self.gate.read().map_err(|_| StoreError::Internal("the store's write gate is poisoned".into()))
    }

    /// Makes every write so far durable. Runs on a blocking thread: a sled
    /// flush is an fsync.
    ///
    /// Group commit: callers that ask while a flush is running wait for the
    /// next one, which then serves them all; a flush counts for a caller
    /// only if it started after the caller asked (so it covers the caller's
    /// writes).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let store = self.clone();
        self.group.flush(move || store.flush_blocking()).await
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

    /// The store's size on disk and the room left on its file system.
    pub fn disk_usage(&self) -> Result<DiskUsage, StoreError> {
        Ok(DiskUsage { store_bytes: self.db.size_on_disk()?, free_bytes: free_bytes(&self.path) })
    }

    /// How many flushes have run since the store was opened.
    pub fn flush_runs(&self) -> u64 {
        self.group.runs()
    }

    /// Runs `hook` after every flush, once the flushed writes are durable
    /// (the audit module keeps its plain-file copy of the log this way).
    /// The store knows nothing of what the hook does.
    pub fn with_after_flush(
        mut self,
        hook: impl Fn(&Store) -> Result<(), StoreError> + Send + Sync + 'static,
    ) -> Store {
        self.after_flush = Some(FlushHook(std::sync::Arc::new(hook)));
        self
    }

    /// Runs `hook` before every flush, so that what it writes is made
    /// durable with the writes the flush was asked for (the audit module
    /// signs the head of the log this way).
    pub fn with_before_flush(
        mut self,
        hook: impl Fn(&Store) -> Result<(), StoreError> + Send + Sync + 'static,
    ) -> Store {
        self.before_flush = Some(FlushHook(std::sync::Arc::new(hook)));
        self
    }

    /// `flush`, for callers outside the runtime (start-up, offline tools).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        if let Some(FlushHook(hook)) = &self.before_flush {
            hook(self)?;
        }
        self.flush_log()?;
        if let Some(FlushHook(hook)) = &self.after_flush {
            hook(self)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_let_go_of_a_moment_later_in_this_process_is_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        // The previous handle, let go of 300 ms from now (as sled's threads
        // do after a node stops or a restore drops its store).
        let held = sled::Config::new().path(&path).open().expect("first handle");
        let (opened, open) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(held);
            opened.send(()).expect("send");
        });
        let store = Store::open(&path).expect("opened once let go of");
        open.recv().expect("the holder let go first");
        holder.join().expect("holder");
        store.meta.insert(b"k", b"v").expect("insert");
    }

    #[test]
    fn a_store_held_past_the_wait_is_refused_naming_its_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        let _held = sled::Config::new().path(&path).open().expect("first handle");
        let wait = std::time::Duration::from_millis(100);
        let began = std::time::Instant::now();
        let e = Store::open_waiting(&path, DEFAULT_CACHE_MIB, wait).expect_err("the folder is held");
        assert!(began.elapsed() >= wait, "refused only after the wait, not at once");
        let said = e.to_string();
        assert!(said.contains(&path.display().to_string()), "{said}");
        assert!(said.contains("could not acquire lock"), "{said}");
        assert!(said.contains("If another node process uses this folder, stop it first"), "{said}");
    }

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
}
