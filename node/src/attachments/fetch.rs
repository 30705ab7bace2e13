//! Fetching received attachments from their senders: chunk by chunk, a few
//! requests in flight, each chunk checked, hashed and written on a blocking
//! thread while the network brings the next; resumed from the chunks on disk
//! after any interruption.

use super::*;
use crate::clock::now;
use crate::storage::AttachmentRecord;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use veim_protocol::attachment::{AttachmentRef, TAG, open_chunk};
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::ids::AttachmentId;
use veim_protocol::wire::{NetRequest, NetResponse, RefusalCode};
use veim_protocol::{Body, StateCode};

/// Fetches what is missing of every received attachment, chunk by chunk,
/// resuming from the chunks already held. Returns the files completed.
pub async fn fetch_pending(service: &Arc<Attachments>) -> Result<usize, AttachmentError> {
    let mut completed = 0;
    for message_id in service.store.pending_downloads()? {
        let Some(m) = service.store.message(message_id)? else { continue };
        let Some(Body::Attachments(a)) = service.vault.open_body(m.message_id, m.content.as_deref())? else {
            service.store.finish_download(message_id)?;
            continue;
        };
        let mut all = true;
        for r in &a.files {
            match fetch(service, m.sender, message_id, r).await {
                Ok(true) => completed += 1,
                Ok(false) => {}
                Err(AttachmentError::Final(why)) => {
                    tracing::warn!(attachment = %r.id, %why, "attachment not fetched, for good");
                    if let Some(mut record) =
                        service.store.attachment(r.id)?.filter(|a| !a.outgoing && a.message == Some(message_id))
                    {
                        record.given_up = true;
                        record.error = Some(why);
                        service.store.put_attachment(&record)?;
                    }
                }
                Err(e) => {
                    all = false;
                    tracing::warn!(attachment = %r.id, %e, "attachment fetch interrupted; it resumes later");
                }
            }
        }
        if all {
            service.store.finish_download(message_id)?;
        }
    }
    if completed > 0 {
        service.store.flush().await?;
    }
    Ok(completed)
}

/// Fetches the missing chunks of one attachment. `Ok(true)` when it was
/// completed now, `Ok(false)` when it was complete already.
async fn fetch(
    service: &Arc<Attachments>,
    sender: StateCode,
    message: veim_protocol::MessageId,
    r: &AttachmentRef,
) -> Result<bool, AttachmentError> {
    let record = match service.store.attachment(r.id)? {
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
                service.store.attachments()?.iter().filter(|a| !a.outgoing && !a.given_up).map(|a| a.size).sum();
            let quota = service.quota_mib.saturating_mul(1024 * 1024);
            if held.saturating_add(r.size) > quota {
                return Err(AttachmentError::Final(format!(
                    "{} bytes would take the attachments received past the quota of {} MiB (attachment_quota_mib)",
                    r.size, service.quota_mib
                )));
            }
            new_record(service, sender, message, r)?
        }
    };
    fetch_chunks(service, sender, message, r, record).await
}

fn new_record(
    service: &Attachments,
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
        sealed_ref: seal_ref(service, r)?,
    })
}

/// Chunk requests a recipient keeps in flight to the sender.
const FETCH_IN_FLIGHT: usize = 4;

/// One chunk from the sender, asked again (a moment later) while the sender
/// answers busy. Returns the sealed chunk; counts each request made in
/// `requests`.
async fn fetch_chunk(
    service: &Arc<Attachments>,
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
        let answer = service
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
    service: &Arc<Attachments>,
    sender: StateCode,
    message: veim_protocol::MessageId,
    r: &AttachmentRef,
    mut record: AttachmentRecord,
) -> Result<bool, AttachmentError> {
    let dir = service.home.join(ATTACHMENTS_DIR);
    fs::create_dir_all(&dir).map_err(|e| io(&dir, e, true))?;
    let path = sealed_path(service, r.id);
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
    let view = service.directory.view();
    let (peer, addrs) = view
        .entry(sender)
        .filter(|e| e.is_active())
        .and_then(crate::directory::dial_info)
        .ok_or_else(|| AttachmentError::Refused(format!("{sender} is not active in the directory")))?;
    // The SHA-256 of the plaintext is taken as each chunk is checked; after
    // an interruption, the chunks already held are read again first.
    let hasher = if whole > 0 {
        let (held, r, work) = (service.clone(), r.clone(), BlockingWork::start(service));
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
        let (service, r, requests, path) = (service.clone(), r.clone(), requests.clone(), path.clone());
        let work = BlockingWork::start(&service);
        tokio::task::spawn_blocking(move || {
            let done = {
                let mut writer = ChunkWriter { service: &service, r: &r, path: &path, file, hasher, record };
                let written = writer.run(chunk_rx, whole, || fetched_before + requests.load(Ordering::Relaxed));
                (writer.record, writer.hasher, written)
            };
            // The node (and its store) let go of before the work ends.
            drop(service);
            drop(work);
            done
        })
    };
    let fetching = async {
        // Several chunks asked at once (one stream each), kept in order.
        let mut chunks = futures::stream::iter(whole..r.chunks())
            .map(|index| fetch_chunk(service, peer, &addrs, r.id, index, &requests))
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
            if let Some(mut record) = service.store.attachment(r.id)? {
                record.fetched = fetched_before + requests.load(Ordering::Relaxed);
                record.error = Some(e.to_string());
                service.store.put_attachment(&record)?;
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
        service.store.put_attachment(&record)?;
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
        service.store.put_attachment(&record)?;
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
    service.store.put_attachment(&record)?;
    service.store.audit(&event)?;
    Ok(true)
}

/// The recipient's side of a fetch, on a blocking thread: checks each sealed
/// chunk as it arrives, in order, hashes its plaintext and appends it to the
/// sealed file, saving progress every 16 chunks.
struct ChunkWriter<'a> {
    service: &'a Attachments,
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
                self.service.store.put_attachment(&self.record)?;
            }
        }
        self.file.sync_all().map_err(|e| io(self.path, e, true))
    }
}
