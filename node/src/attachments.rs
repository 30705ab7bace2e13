//! Attachments on the node: staging a file (encrypted chunk by chunk into
//! `HOME/attachments/<id>.sealed`), serving chunks to the recipients of the
//! message that carries it, fetching the chunks of a received one (resuming
//! where an interruption left off), and saving a file for the operator.
//! At no point is a whole file in memory: a few chunks at a time.

use crate::service::{Node, now};
use crate::store::{AttachmentRecord, StoreError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use veim_protocol::attachment::{AttachmentRef, MAX_ATTACHMENT, MAX_CHUNK, TAG, open_chunk, seal_chunk};
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::codec::{self, MAX_FRAME, MAX_RECORD};
use veim_protocol::ids::AttachmentId;
use veim_protocol::wire::{NetRequest, NetResponse, RefusalCode};
use veim_protocol::{Body, Bytes32, StateCode};

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
    Vault(#[from] crate::vault::VaultError),
}

fn io(path: &Path, e: std::io::Error, write: bool) -> AttachmentError {
    let (path, reason) = (path.display().to_string(), e.to_string());
    if write { AttachmentError::Write { path, reason } } else { AttachmentError::Read { path, reason } }
}

fn sealed_path(node: &Node, id: AttachmentId) -> PathBuf {
    node.home.join(ATTACHMENTS_DIR).join(format!("{id}.sealed"))
}

fn open_ref(node: &Node, record: &AttachmentRecord) -> Result<AttachmentRef, AttachmentError> {
    let plain = node.vault.open("attachment", &record.id.0, &record.sealed_ref)?;
    codec::decode::<AttachmentRef, MAX_RECORD>("attachment", &plain)
        .map_err(|_| AttachmentError::Vault(crate::vault::VaultError::Tampered { what: "attachment" }))
}

fn seal_ref(node: &Node, r: &AttachmentRef) -> Result<Vec<u8>, AttachmentError> {
    let plain =
        zeroize::Zeroizing::new(codec::encode("attachment", r).map_err(|e| AttachmentError::Refused(e.to_string()))?);
    Ok(node.vault.seal("attachment", &r.id.0, &plain)?)
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
pub fn stage(node: &Node, path: &Path) -> Result<AttachmentRef, AttachmentError> {
    let size = fs::metadata(path).map_err(|e| io(path, e, false))?.len();
    if size > MAX_ATTACHMENT {
        return Err(AttachmentError::TooLarge { path: path.display().to_string(), size });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| AttachmentError::Read { path: path.display().to_string(), reason: "not a file".into() })?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let id = AttachmentId::random(&mut rng);
    let mut key = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut rng, &mut key);
    let chunk_size = node.config.attachment_chunk_bytes.clamp(1, MAX_CHUNK);
    // One pass: each chunk is hashed, sealed and written as it is read (the
    // seal does not depend on the file's hash, which is known at the end).
    let mut r = AttachmentRef { id, name: name.clone(), size, sha256: Bytes32([0; 32]), chunk_size, key: Bytes32(key) };
    let dir = node.home.join(ATTACHMENTS_DIR);
    fs::create_dir_all(&dir).map_err(|e| io(&dir, e, true))?;
    let out_path = sealed_path(node, id);
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
    node.store.put_attachment(&AttachmentRecord {
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
        sealed_ref: seal_ref(node, &r)?,
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
    node: &Node,
    ids: &[AttachmentId],
    recipients: &[StateCode],
) -> Result<Vec<AttachmentRef>, AttachmentError> {
    let mut out = Vec::new();
    for id in ids {
        let mut record = node
            .store
            .attachment(*id)?
            .filter(|r| r.outgoing)
            .ok_or_else(|| AttachmentError::NotFound(id.to_string()))?;
        out.push(open_ref(node, &record)?);
        for r in recipients {
            if !record.recipients.contains(r) {
                record.recipients.push(*r);
            }
        }
        node.store.put_attachment(&record)?;
    }
    Ok(out)
}

/// Serves sealed chunk `index` of an outgoing attachment to `from`, one of
/// the States it was sent to.
pub fn serve_chunk(node: &Node, from: StateCode, id: AttachmentId, index: u64) -> Result<Vec<u8>, AttachmentError> {
    let record = node
        .store
        .attachment(id)?
        .filter(|r| r.outgoing && r.recipients.contains(&from))
        .ok_or_else(|| AttachmentError::Refused(format!("attachment {id} was not sent to {from} by this node")))?;
    let r = open_ref(node, &record)?;
    if index >= r.chunks() {
        return Err(AttachmentError::Refused(format!("attachment {id} has {} chunks", r.chunks())));
    }
    let path = sealed_path(node, id);
    let mut file = File::open(&path).map_err(|e| io(&path, e, false))?;
    file.seek(SeekFrom::Start(r.sealed_offset(index))).map_err(|e| io(&path, e, false))?;
    let mut chunk = vec![0u8; (r.chunk_len(index) + TAG) as usize];
    file.read_exact(&mut chunk).map_err(|e| io(&path, e, false))?;
    Ok(chunk)
}

/// Fetches what is missing of every received attachment, chunk by chunk,
/// resuming from the chunks already held. Returns the files completed.
pub async fn fetch_pending(node: &Arc<Node>) -> Result<usize, AttachmentError> {
    let mut completed = 0;
    for message_id in node.store.pending_downloads()? {
        let Some(m) = node.store.message(message_id)? else { continue };
        let Some(Body::Attachments(a)) = node.vault.open_body(&m)? else {
            node.store.finish_download(message_id)?;
            continue;
        };
        let mut all = true;
        for r in &a.files {
            match fetch(node, m.sender, message_id, r).await {
                Ok(true) => completed += 1,
                Ok(false) => {}
                Err(AttachmentError::Final(why)) => {
                    tracing::warn!(attachment = %r.id, %why, "attachment not fetched, for good");
                    if let Some(mut record) =
                        node.store.attachment(r.id)?.filter(|a| !a.outgoing && a.message == Some(message_id))
                    {
                        record.given_up = true;
                        record.error = Some(why);
                        node.store.put_attachment(&record)?;
                    }
                }
                Err(e) => {
                    all = false;
                    tracing::warn!(attachment = %r.id, %e, "attachment fetch interrupted; it resumes later");
                }
            }
        }
        if all {
            node.store.finish_download(message_id)?;
        }
    }
    if completed > 0 {
        node.store.flush().await?;
    }
    Ok(completed)
}

/// Fetches the missing chunks of one attachment. `Ok(true)` when it was
/// completed now, `Ok(false)` when it was complete already.
async fn fetch(
    node: &Arc<Node>,
    sender: StateCode,
    message: veim_protocol::MessageId,
    r: &AttachmentRef,
) -> Result<bool, AttachmentError> {
    let record = match node.store.attachment(r.id)? {
        // An id this node already holds for another file (chosen by another
        // sender, or staged here) is not that file: never mix them up.
        Some(rec) if rec.outgoing || rec.sender != Some(sender) || rec.message != Some(message) => {
            return Err(AttachmentError::Final(format!(
                "attachment id {} of message {message} is already used here by another file; it is not fetched",
                r.id
            )));
        }
        Some(rec) if rec.complete || rec.given_up => return Ok(false),
        Some(rec) => rec,
        None => {
            if r.chunks() > 1 && r.chunk_size < MIN_CHUNK {
                return Err(AttachmentError::Final(format!(
                    "chunks of {} bytes: a node fetches chunks of at least {MIN_CHUNK} bytes",
                    r.chunk_size
                )));
            }
            let held: u64 =
                node.store.attachments()?.iter().filter(|a| !a.outgoing && !a.given_up).map(|a| a.size).sum();
            let quota = node.config.attachment_quota_mib.saturating_mul(1024 * 1024);
            if held.saturating_add(r.size) > quota {
                return Err(AttachmentError::Final(format!(
                    "{} bytes would take the attachments received past the quota of {} MiB (attachment_quota_mib)",
                    r.size, node.config.attachment_quota_mib
                )));
            }
            new_record(node, sender, message, r)?
        }
    };
    fetch_chunks(node, sender, message, r, record).await
}

fn new_record(
    node: &Node,
    sender: StateCode,
    message: veim_protocol::MessageId,
    r: &AttachmentRef,
) -> Result<AttachmentRecord, AttachmentError> {
    Ok(AttachmentRecord {
        id: r.id,
        name: r.name.clone(),
        size: r.size,
        chunks: r.chunks(),
        outgoing: false,
        recipients: Vec::new(),
        sender: Some(sender),
        message: Some(message),
        chunks_held: 0,
        fetched: 0,
        complete: false,
        error: None,
        given_up: false,
        sealed_ref: seal_ref(node, r)?,
    })
}

/// Chunk requests a recipient keeps in flight to the sender.
const FETCH_IN_FLIGHT: usize = 4;

/// One chunk from the sender, asked again (a moment later) while the sender
/// answers busy. Returns the sealed chunk; counts each request made in
/// `requests`.
async fn fetch_chunk(
    node: &Arc<Node>,
    peer: libp2p::PeerId,
    addrs: &[libp2p::Multiaddr],
    attachment: AttachmentId,
    index: u64,
    requests: &AtomicU64,
) -> Result<Vec<u8>, AttachmentError> {
    let request = codec::encode("request", &NetRequest::FetchChunk { attachment, index })
        .map_err(|e| AttachmentError::Refused(e.to_string()))?;
    let mut attempts = 0;
    loop {
        attempts += 1;
        requests.fetch_add(1, Ordering::Relaxed);
        let answer = node
            .client
            .request(peer, addrs.to_vec(), request.clone())
            .await
            .map_err(|e| AttachmentError::Refused(e.to_string()))?;
        match codec::decode::<NetResponse, MAX_FRAME>("response", &answer) {
            Ok(NetResponse::Chunk(bytes)) => return Ok(bytes),
            // The sender asks to slow down: the same chunk, a moment later.
            Ok(NetResponse::Refused(refusal)) if refusal.code == RefusalCode::Busy && attempts <= 50 => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok(NetResponse::Refused(refusal)) if refusal.code == RefusalCode::NotARecipient => {
                return Err(AttachmentError::Final(refusal.to_string()));
            }
            Ok(NetResponse::Refused(refusal)) => return Err(AttachmentError::Refused(refusal.to_string())),
            other => return Err(AttachmentError::Refused(format!("unexpected answer: {other:?}"))),
        }
    }
}

async fn fetch_chunks(
    node: &Arc<Node>,
    sender: StateCode,
    message: veim_protocol::MessageId,
    r: &AttachmentRef,
    mut record: AttachmentRecord,
) -> Result<bool, AttachmentError> {
    let dir = node.home.join(ATTACHMENTS_DIR);
    fs::create_dir_all(&dir).map_err(|e| io(&dir, e, true))?;
    let path = sealed_path(node, r.id);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| io(&path, e, true))?;
    // The file is the truth: whole chunks kept, each checked before it was
    // written; a chunk cut short by a crash is dropped.
    let len = file.metadata().map_err(|e| io(&path, e, false))?.len();
    let whole = (0..r.chunks()).take_while(|i| r.sealed_offset(*i) + r.chunk_len(*i) + TAG <= len).count() as u64;
    file.set_len(r.sealed_offset(whole).min(len)).map_err(|e| io(&path, e, true))?;
    file.seek(SeekFrom::End(0)).map_err(|e| io(&path, e, true))?;
    record.chunks_held = whole;
    // Progress is saved every 16 chunks: after a crash the count of requests
    // may lag the chunks held, each of which took one at least.
    record.fetched = record.fetched.max(whole);
    let view = node.view();
    let (peer, addrs) = view
        .entry(sender)
        .filter(|e| e.is_active())
        .and_then(crate::directory::dial_info)
        .ok_or_else(|| AttachmentError::Refused(format!("{sender} is not active in the directory")))?;
    // The SHA-256 of the plaintext is taken as each chunk is checked; after
    // an interruption, the chunks already held are read again first.
    let hasher = if whole > 0 {
        let (held, r, work) = (node.clone(), r.clone(), BlockingWork::start(node));
        tokio::task::spawn_blocking(move || {
            let hashed = stream_chunks(&held, &r, whole, |_| Ok(()));
            // The node (and its store) let go of before the work ends.
            drop(held);
            drop(work);
            hashed
        })
        .await
        .map_err(|e| AttachmentError::Refused(format!("hashing the chunks held failed: {e}")))??
    } else {
        Sha256::new()
    };
    let requests = Arc::new(AtomicU64::new(0));
    let fetched_before = record.fetched;
    // Each chunk is checked, hashed and written on a blocking thread while
    // the network brings the next ones: the async runtime never waits on the
    // cipher or the disk.
    let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(FETCH_IN_FLIGHT);
    let writer = {
        let (node, r, requests, path) = (node.clone(), r.clone(), requests.clone(), path.clone());
        let work = BlockingWork::start(&node);
        tokio::task::spawn_blocking(move || {
            let done = {
                let mut writer = ChunkWriter { node: &node, r: &r, path: &path, file, hasher, record };
                let written = writer.run(chunk_rx, whole, || fetched_before + requests.load(Ordering::Relaxed));
                (writer.record, writer.hasher, written)
            };
            // The node (and its store) let go of before the work ends.
            drop(node);
            drop(work);
            done
        })
    };
    let fetching = async {
        // Several chunks asked at once (one stream each), kept in order.
        let mut chunks = futures::stream::iter(whole..r.chunks())
            .map(|index| fetch_chunk(node, peer, &addrs, r.id, index, &requests))
            .buffered(FETCH_IN_FLIGHT);
        while let Some(fetched) = chunks.next().await {
            if chunk_tx.send(fetched?).await.is_err() {
                // The writer stopped on an error of its own, reported below.
                break;
            }
        }
        Ok::<(), AttachmentError>(())
    }
    .await;
    drop(chunk_tx);
    let (mut record, hasher, written) = match writer.await {
        Ok(done) => done,
        Err(e) => {
            // The writer's record is gone with it: what it held is in the
            // file, which the next attempt reads; the error is kept.
            let e = AttachmentError::Refused(format!("writing the chunks of attachment {} failed: {e}", r.id));
            if let Some(mut record) = node.store.attachment(r.id)? {
                record.fetched = fetched_before + requests.load(Ordering::Relaxed);
                record.error = Some(e.to_string());
                node.store.put_attachment(&record)?;
            }
            return Err(e);
        }
    };
    // Every request made counts, those of a chunk that failed too.
    record.fetched = fetched_before + requests.load(Ordering::Relaxed);
    // A chunk refused or a write that failed says more than the fetch
    // stopped because of it.
    if let Err(e) = written.and(fetching) {
        record.error = Some(e.to_string());
        node.store.put_attachment(&record)?;
        return Err(e);
    }
    // Every chunk held: the plaintext, as each chunk was checked, must be
    // what the sender hashed.
    let digest: [u8; 32] = hasher.finalize().into();
    if digest != r.sha256.0 {
        let _ = fs::remove_file(&path);
        record.chunks_held = 0;
        let again = record.error.as_deref().is_some_and(|e| e.contains("SHA-256"));
        record.error = Some("the file's SHA-256 does not match the sender's".into());
        node.store.put_attachment(&record)?;
        // Once more, in case a chunk was damaged here; twice is the sender's doing.
        return Err(if again {
            AttachmentError::Final("the file's SHA-256 does not match the sender's, twice: given up".into())
        } else {
            AttachmentError::Refused("attachment hash mismatch; fetching it again".into())
        });
    }
    record.complete = true;
    record.error = None;
    let mut event = Event::new(now(), Actor::Peer(Some(sender)), Action::MessageReceived);
    event.state = Some(sender);
    event.message = Some(message);
    event.object = Some(format!("attachment {}", r.id));
    event.hash = Some(r.sha256);
    event.detail = format!("{} bytes in {} chunk(s), {} fetch(es)", r.size, r.chunks(), record.fetched);
    node.store.put_attachment(&record)?;
    node.store.audit(&event)?;
    Ok(true)
}

/// Blocking work on attachments, counted while it runs: it holds the store
/// open, so the node waits for it when it stops.
struct BlockingWork(Arc<AtomicUsize>);

impl BlockingWork {
    fn start(node: &Node) -> BlockingWork {
        node.blocking_work.fetch_add(1, Ordering::SeqCst);
        BlockingWork(node.blocking_work.clone())
    }
}

impl Drop for BlockingWork {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The recipient's side of a fetch, on a blocking thread: checks each sealed
/// chunk as it arrives, in order, hashes its plaintext and appends it to the
/// sealed file, saving progress every 16 chunks.
struct ChunkWriter<'a> {
    node: &'a Node,
    r: &'a AttachmentRef,
    path: &'a Path,
    file: File,
    hasher: Sha256,
    record: AttachmentRecord,
}

impl ChunkWriter<'_> {
    fn run(
        &mut self,
        mut chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
        first: u64,
        fetched: impl Fn() -> u64,
    ) -> Result<(), AttachmentError> {
        let mut index = first;
        while let Some(sealed) = chunks.blocking_recv() {
            self.record.fetched = fetched();
            let plain = open_chunk(self.r, index, &sealed).map_err(|e| AttachmentError::Refused(e.to_string()))?;
            self.hasher.update(&plain);
            self.file.write_all(&sealed).map_err(|e| io(self.path, e, true))?;
            index += 1;
            self.record.chunks_held = index;
            if self.record.chunks_held.is_multiple_of(16) {
                self.file.sync_data().map_err(|e| io(self.path, e, true))?;
                self.node.store.put_attachment(&self.record)?;
            }
        }
        self.file.sync_all().map_err(|e| io(self.path, e, true))
    }
}

/// Streams the plaintext of a held attachment through `out` (chunk by chunk),
/// returning its SHA-256.
fn stream_plaintext(
    node: &Node,
    r: &AttachmentRef,
    out: impl FnMut(&[u8]) -> Result<(), AttachmentError>,
) -> Result<[u8; 32], AttachmentError> {
    Ok(stream_chunks(node, r, r.chunks(), out)?.finalize().into())
}

/// Reads, opens and hashes the first `upto` chunks of the sealed file,
/// giving each plaintext to `out`.
fn stream_chunks(
    node: &Node,
    r: &AttachmentRef,
    upto: u64,
    mut out: impl FnMut(&[u8]) -> Result<(), AttachmentError>,
) -> Result<Sha256, AttachmentError> {
    let path = sealed_path(node, r.id);
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

/// Writes a held attachment's file to `out` (decrypted, checked).
pub fn save(node: &Node, id: AttachmentId, out: &Path) -> Result<AttachmentView, AttachmentError> {
    let record = node.store.attachment(id)?.ok_or_else(|| AttachmentError::NotFound(id.to_string()))?;
    if !record.complete {
        return Err(AttachmentError::Incomplete(id));
    }
    let r = open_ref(node, &record)?;
    let tmp = out.with_extension("part");
    let mut file = File::create(&tmp).map_err(|e| io(&tmp, e, true))?;
    let digest = stream_plaintext(node, &r, |plain| file.write_all(plain).map_err(|e| io(&tmp, e, true)))?;
    if digest != r.sha256.0 {
        let _ = fs::remove_file(&tmp);
        return Err(AttachmentError::Refused(format!(
            "attachment {id} does not match its SHA-256: the stored file was altered"
        )));
    }
    file.sync_all().map_err(|e| io(&tmp, e, true))?;
    fs::rename(&tmp, out).map_err(|e| io(out, e, true))?;
    let mut event = Event::new(now(), Actor::Operator, Action::ContentShown);
    event.object = Some(format!("attachment {id}"));
    event.detail = "saved to a file".into();
    node.record(&event);
    Ok(record.into())
}

/// Finds an attachment by id or unique prefix (6+ hex digits).
pub fn find(node: &Node, prefix: &str) -> Result<AttachmentId, AttachmentError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    let found: Vec<AttachmentId> = node
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
