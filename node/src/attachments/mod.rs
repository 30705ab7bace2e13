//! Attachments on the node: staging a file (encrypted chunk by chunk into
//! `HOME/attachments/<id>.sealed`), serving chunks to the recipients of the
//! message that carries it, fetching the chunks of a received one (resuming
//! where an interruption left off), and saving a file for the operator
//! (never through a link planted in the folder, nor over a file unasked).
//! At no point is a whole file in memory: a few chunks at a time.

use crate::clock::now;
use crate::directory::Directory;
use crate::home::vault::Vault;
use crate::net::Client;
use crate::storage::Store;
use crate::storage::{AttachmentRecord, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use veim_protocol::attachment::{AttachmentRef, MAX_ATTACHMENT, MAX_CHUNK, TAG, open_chunk, seal_chunk};
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::codec::{self, MAX_RECORD};
use veim_protocol::ids::AttachmentId;
use veim_protocol::{Bytes32, StateCode};

mod fetch;

pub use fetch::fetch_pending;

pub const ATTACHMENTS_DIR: &str = "attachments";
/// Smallest chunk a node fetches (but for a file of one chunk): tiny chunks
/// would multiply requests and the 16-byte tags on disk.
pub const MIN_CHUNK: u32 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is {size} bytes; an attachment is at most {MAX_ATTACHMENT}")]
    TooLarge { path: String, size: u64 },
    #[error("cannot write {path}: {reason}. Check free disk space and permissions of the node's folder")]
    Write { path: String, reason: String },
    #[error(
        "cannot save to {path}: {reason}. The node writes the file itself: check that the folder exists, that the node's user may write in it, and that the disk has room"
    )]
    Save { path: String, reason: String },
    #[error(
        "{path} already exists, and the attachment was not saved: save it to another path, or pass --force to replace that file"
    )]
    Exists { path: String },
    #[error("no attachment {0} here; `veim attachment list` shows them")]
    NotFound(String),
    #[error("attachment {0} is not complete yet: it is still being fetched from its sender")]
    Incomplete(AttachmentId),
    #[error("{0}")]
    Refused(String),
    /// No later attempt can change it: the file is given up.
    #[error("{0}")]
    Final(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] crate::home::vault::VaultError),
    #[error("this node is not active in the directory")]
    NotActive,
    #[error("this node is the Secretariat's: only a national node sends files")]
    NotNational,
    #[error("the attachment task failed: {0}")]
    Task(String),
}

fn io(path: &Path, e: std::io::Error, write: bool) -> AttachmentError {
    let (path, reason) = (path.display().to_string(), e.to_string());
    if write { AttachmentError::Write { path, reason } } else { AttachmentError::Read { path, reason } }
}

/// The attachment service: files staged to send and received, chunk by
/// chunk, under `HOME/attachments/`.
#[derive(Debug)]
pub struct Attachments {
    home: PathBuf,
    store: Store,
    vault: Arc<Vault>,
    /// The chunk size this node stages files in.
    chunk_bytes: u32,
    /// How much received attachments may take, in MiB.
    quota_mib: u64,
    directory: Arc<Directory>,
    client: Client,
    /// Blocking work on attachments still running: it holds the store open,
    /// so stopping waits for it ([`Attachments::busy`]).
    blocking_work: Arc<AtomicUsize>,
    /// Wakes the fetcher (a message with attachments arrived).
    pub wake: tokio::sync::Notify,
}

impl Attachments {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        home: PathBuf,
        store: Store,
        vault: Arc<Vault>,
        chunk_bytes: u32,
        quota_mib: u64,
        directory: Arc<Directory>,
        client: Client,
    ) -> Attachments {
        Attachments {
            home,
            store,
            vault,
            chunk_bytes,
            quota_mib,
            directory,
            client,
            blocking_work: Arc::new(AtomicUsize::new(0)),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Removes the files (and their records, chunk keys with them) of the
    /// attachments received in `messages`, whose content was purged.
    pub fn remove_of(&self, messages: &[veim_protocol::MessageId]) -> Result<(), StoreError> {
        for a in self.store.attachments()? {
            if a.message.is_some_and(|m| messages.contains(&m)) {
                let _ = fs::remove_file(sealed_path(self, a.id));
                self.store.remove_attachment(a.id)?;
            }
        }
        Ok(())
    }

    /// Whether blocking work on a chunk still runs (and holds the store).
    pub fn busy(&self) -> bool {
        self.blocking_work.load(Ordering::SeqCst) > 0
    }

    /// A chunk asked for by `from`, served on a blocking thread; only while
    /// this node's own State is active.
    pub async fn serve(
        self: &Arc<Self>,
        from: StateCode,
        id: AttachmentId,
        index: u64,
    ) -> Result<Vec<u8>, AttachmentError> {
        let view = self.directory.view();
        let state_active = self.directory.own_state().is_some_and(|me| view.entry(me).is_some_and(|e| e.is_active()));
        if !state_active {
            return Err(AttachmentError::NotActive);
        }
        self.blocking(move |service| serve_chunk(service, from, id, index)).await
    }

    /// Runs `work` (file and store access) on a blocking thread, counted in
    /// [`Attachments::busy`] while it runs: it holds the store open, so the
    /// node waits for it when it stops.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Attachments) -> Result<T, AttachmentError> + Send + 'static,
    ) -> Result<T, AttachmentError> {
        let (service, guard) = (self.clone(), BlockingWork::start(self));
        tokio::task::spawn_blocking(move || {
            let _counted = guard;
            work(&service)
        })
        .await
        .map_err(|e| AttachmentError::Task(e.to_string()))?
    }
}

/// Blocking work on attachments, counted while it runs: it holds the store
/// open, so the node waits for it when it stops.
pub(super) struct BlockingWork(Arc<AtomicUsize>);

impl BlockingWork {
    pub(super) fn start(service: &Attachments) -> BlockingWork {
        service.blocking_work.fetch_add(1, Ordering::SeqCst);
        BlockingWork(service.blocking_work.clone())
    }
}

impl Drop for BlockingWork {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn sealed_path(service: &Attachments, id: AttachmentId) -> PathBuf {
    service.home.join(ATTACHMENTS_DIR).join(format!("{id}.sealed"))
}

fn open_ref(service: &Attachments, record: &AttachmentRecord) -> Result<AttachmentRef, AttachmentError> {
    let plain = service.vault.open("attachment", &record.id.0, &record.sealed_ref)?;
    codec::decode::<AttachmentRef, MAX_RECORD>("attachment", &plain)
        .map_err(|_| AttachmentError::Vault(crate::home::vault::VaultError::Tampered { what: "attachment" }))
}

fn seal_ref(service: &Attachments, r: &AttachmentRef) -> Result<Vec<u8>, AttachmentError> {
    let plain =
        zeroize::Zeroizing::new(codec::encode("attachment", r).map_err(|e| AttachmentError::Refused(e.to_string()))?);
    Ok(service.vault.seal("attachment", &r.id.0, &plain)?)
}

/// An attachment as the operator sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentView {
    pub id: AttachmentId,
    pub name: String,
    pub size: u64,
    pub chunks: u64,
    pub chunks_held: u64,
    pub outgoing: bool,
    pub sender: Option<StateCode>,
    pub recipients: Vec<StateCode>,
    pub fetched: u64,
    pub complete: bool,
    pub error: Option<String>,
}

impl From<AttachmentRecord> for AttachmentView {
    fn from(r: AttachmentRecord) -> AttachmentView {
        AttachmentView {
            id: r.id,
            name: r.name,
            size: r.size,
            chunks: r.chunks,
            chunks_held: r.chunks_held,
            outgoing: r.outgoing,
            sender: r.sender,
            recipients: r.recipients,
            fetched: r.fetched,
            complete: r.complete,
            error: r.error,
        }
    }
}

/// Encrypts a file into the node's attachments folder, chunk by chunk, and
/// returns its reference for a message. Runs on a blocking thread.
pub fn stage(service: &Attachments, path: &Path) -> Result<AttachmentRef, AttachmentError> {
    let size = fs::metadata(path).map_err(|e| io(path, e, false))?.len();
    if size > MAX_ATTACHMENT {
        return Err(AttachmentError::TooLarge { path: path.display().to_string(), size });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| AttachmentError::Read { path: path.display().to_string(), reason: "not a file".into() })?;
    // A file's id begins with the code of the State that sends it; only a
    // national node sends files.
    let state = service.directory.own_state().ok_or(AttachmentError::NotNational)?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let id = AttachmentId::issued_by(state, &mut rng);
    let mut key = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut rng, &mut key);
    let chunk_size = service.chunk_bytes.clamp(1, MAX_CHUNK);
    // One pass: each chunk is hashed, sealed and written as it is read (the
    // seal does not depend on the file's hash, which is known at the end).
    let mut r = AttachmentRef { id, name: name.clone(), size, sha256: Bytes32([0; 32]), chunk_size, key: Bytes32(key) };
    let dir = service.home.join(ATTACHMENTS_DIR);
    fs::create_dir_all(&dir).map_err(|e| io(&dir, e, true))?;
    let out_path = sealed_path(service, id);
    let mut out = File::create(&out_path).map_err(|e| io(&out_path, e, true))?;
    let mut input = File::open(path).map_err(|e| io(path, e, false))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; chunk_size as usize];
    for index in 0..r.chunks() {
        let len = r.chunk_len(index) as usize;
        input.read_exact(&mut buf[..len]).map_err(|e| io(path, e, false))?;
        hasher.update(&buf[..len]);
        let sealed = seal_chunk(&r, index, &buf[..len]).map_err(|e| AttachmentError::Refused(e.to_string()))?;
        out.write_all(&sealed).map_err(|e| io(&out_path, e, true))?;
    }
    if read_full(&mut input, &mut buf[..1]).map_err(|e| io(path, e, false))? != 0 {
        let _ = fs::remove_file(&out_path);
        return Err(AttachmentError::Read {
            path: path.display().to_string(),
            reason: "the file grew while it was read".into(),
        });
    }
    out.sync_all().map_err(|e| io(&out_path, e, true))?;
    r.sha256 = Bytes32(hasher.finalize().into());
    service.store.put_attachment(&AttachmentRecord {
        id,
        name,
        size,
        chunks: r.chunks(),
        outgoing: true,
        recipients: Vec::new(),
        sender: None,
        message: None,
        chunks_held: r.chunks(),
        fetched: 0,
        complete: true,
        error: None,
        given_up: false,
        sealed_ref: seal_ref(service, &r)?,
    })?;
    Ok(r)
}

fn read_full(input: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The references of staged attachments, for a message to `recipients`,
/// who may then fetch them.
pub fn for_message(
    service: &Attachments,
    ids: &[AttachmentId],
    recipients: &[StateCode],
) -> Result<Vec<AttachmentRef>, AttachmentError> {
    let mut out = Vec::new();
    for id in ids {
        let mut record = service
            .store
            .attachment(*id)?
            .filter(|r| r.outgoing)
            .ok_or_else(|| AttachmentError::NotFound(id.to_string()))?;
        out.push(open_ref(service, &record)?);
        for r in recipients {
            if !record.recipients.contains(r) {
                record.recipients.push(*r);
            }
        }
        service.store.put_attachment(&record)?;
    }
    Ok(out)
}

/// Serves sealed chunk `index` of an outgoing attachment to `from`, one of
/// the States it was sent to.
fn serve_chunk(
    service: &Attachments,
    from: StateCode,
    id: AttachmentId,
    index: u64,
) -> Result<Vec<u8>, AttachmentError> {
    let record = service
        .store
        .attachment(id)?
        .filter(|r| r.outgoing && r.recipients.contains(&from))
        .ok_or_else(|| AttachmentError::Refused(format!("attachment {id} was not sent to {from} by this node")))?;
    let r = open_ref(service, &record)?;
    if index >= r.chunks() {
        return Err(AttachmentError::Refused(format!("attachment {id} has {} chunks", r.chunks())));
    }
    let path = sealed_path(service, id);
    let mut file = File::open(&path).map_err(|e| io(&path, e, false))?;
    file.seek(SeekFrom::Start(r.sealed_offset(index))).map_err(|e| io(&path, e, false))?;
    let mut chunk = vec![0u8; (r.chunk_len(index) + TAG) as usize];
    file.read_exact(&mut chunk).map_err(|e| io(&path, e, false))?;
    Ok(chunk)
}

/// Streams the plaintext of a held attachment through `out` (chunk by chunk),
/// returning its SHA-256.
fn stream_plaintext(
    service: &Attachments,
    r: &AttachmentRef,
    out: impl FnMut(&[u8]) -> Result<(), AttachmentError>,
) -> Result<[u8; 32], AttachmentError> {
    Ok(stream_chunks(service, r, r.chunks(), out)?.finalize().into())
}

/// Reads, opens and hashes the first `upto` chunks of the sealed file,
/// giving each plaintext to `out`.
fn stream_chunks(
    service: &Attachments,
    r: &AttachmentRef,
    upto: u64,
    mut out: impl FnMut(&[u8]) -> Result<(), AttachmentError>,
) -> Result<Sha256, AttachmentError> {
    let path = sealed_path(service, r.id);
    let mut file = File::open(&path).map_err(|e| io(&path, e, false))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; (u64::from(r.chunk_size) + TAG) as usize];
    for index in 0..upto.min(r.chunks()) {
        let len = (r.chunk_len(index) + TAG) as usize;
        file.read_exact(&mut buf[..len]).map_err(|e| io(&path, e, false))?;
        let plain = open_chunk(r, index, &buf[..len]).map_err(|e| AttachmentError::Refused(e.to_string()))?;
        hasher.update(&plain);
        out(&plain)?;
    }
    Ok(hasher)
}

/// Writes a held attachment's file to `out` (decrypted, checked), replacing
/// a file already there only if `force`.
///
/// The folder of `out` may be shared with other users, who can guess any
/// name the node would pick and plant a symlink there. So the file is
/// written to a temporary file created exclusively (`O_CREAT|O_EXCL`, which
/// never follows a symlink) under a random name in that folder, readable by
/// the operator alone (0600: the content is another State's information),
/// then renamed into place: without `force`, by a rename that fails if
/// `out` exists (`renameat2(RENAME_NOREPLACE)`, else a hard link), so a file
/// appearing meanwhile is not replaced either. The temporary file is
/// removed on every failure.
pub fn save(
    service: &Attachments,
    id: AttachmentId,
    out: &Path,
    force: bool,
) -> Result<AttachmentView, AttachmentError> {
    let record = service.store.attachment(id)?.ok_or_else(|| AttachmentError::NotFound(id.to_string()))?;
    if !record.complete {
        return Err(AttachmentError::Incomplete(id));
    }
    let exists = || AttachmentError::Exists { path: out.display().to_string() };
    let failed = |path: &Path, e: std::io::Error| AttachmentError::Save {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    // Refused before any work; the rename below still refuses a file that
    // appears in the meantime.
    if !force && fs::symlink_metadata(out).is_ok() {
        return Err(exists());
    }
    let r = open_ref(service, &record)?;
    let folder = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".veim-attachment-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o600));
    }
    // Dropped on any early return below, which removes the file.
    let mut tmp = builder.tempfile_in(folder).map_err(|e| failed(folder, e))?;
    let tmp_path = tmp.path().to_path_buf();
    let digest =
        stream_plaintext(service, &r, |plain| tmp.as_file_mut().write_all(plain).map_err(|e| failed(&tmp_path, e)))?;
    if digest != r.sha256.0 {
        return Err(AttachmentError::Refused(format!(
            "attachment {id} does not match its SHA-256: the stored file was altered"
        )));
    }
    tmp.as_file().sync_all().map_err(|e| failed(&tmp_path, e))?;
    let placed = if force { tmp.persist(out) } else { tmp.persist_noclobber(out) };
    // A failed persist hands the temporary file back in the error; dropping
    // the error removes it.
    placed.map_err(|e| match e.error.kind() {
        std::io::ErrorKind::AlreadyExists if !force => exists(),
        _ => failed(out, e.error),
    })?;
    // The new name survives a crash only once the folder is on disk.
    if let Ok(d) = File::open(folder) {
        let _ = d.sync_all();
    }
    let mut event = Event::new(now(), Actor::Operator, Action::ContentShown);
    event.object = Some(format!("attachment {id}"));
    event.detail = "saved to a file".into();
    service.store.record(&event);
    Ok(record.into())
}

/// Finds an attachment by id or unique prefix (6+ hex digits).
pub fn find(service: &Attachments, prefix: &str) -> Result<AttachmentId, AttachmentError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    let found: Vec<AttachmentId> = service
        .store
        .attachments()?
        .into_iter()
        .map(|a| a.id)
        .filter(|id| prefix.len() >= 6 && id.to_hex().starts_with(&prefix))
        .collect();
    match found.as_slice() {
        [id] => Ok(*id),
        _ => Err(AttachmentError::NotFound(prefix)),
    }
}
