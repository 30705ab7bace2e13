//! The plain-file copy of the log that auditors read, kept up to date after
//! every flush of the store.

use super::segments::{self, Segmenting};
use super::{CHECKPOINTS_FILE, ENTRIES_FILE, HEAD_FILE, WITNESSED_FILE};
use crate::home::write_file;
use crate::storage::{Store, StoreError};
use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use veim_protocol::audit::{Entry, ExportLine};

/// The plain-file copy of the log: closed segments (see `segments`) and
/// the open file, `entries.jsonl`.
#[derive(Debug)]
pub struct Mirror {
    dir: PathBuf,
    /// Entries already in the files (closed segments and the open file).
    written: u64,
    /// The first entry of the open file (the entries before it are in
    /// closed segments).
    first: u64,
    /// Bytes this mirror wrote to the open file.
    bytes: u64,
    /// When the open file got its first entry.
    opened_at: Option<i64>,
    segmenting: Segmenting,
    /// `entries.jsonl`, open for appending once and kept open.
    file: Option<fs::File>,
    /// The count of the head checkpoint last written to `head.jsonl`.
    head_written: u64,
}

fn io_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::File { path: path.display().to_string(), reason: e.to_string() }
}

fn line(value: &ExportLine) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| StoreError::Corrupt { what: "audit entry", reason: e.to_string() })
}

/// `path` renamed aside with the time, as a file that does not match the
/// store is: kept for a person to look at, never read as part of the log.
fn set_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".mismatch-{}", crate::clock::now()));
    fs::rename(path, &aside).map_err(|e| io_err(path, e))?;
    Ok(aside.into())
}

impl Mirror {
    /// Opens the copy in `dir`, checks the open file against the store, and
    /// sets aside (renamed with the time) what holds entries the store does
    /// not: the open file, or closed segments past the store's log.
    pub fn open(dir: &Path, store: &Store, segmenting: Segmenting) -> Result<Mirror, StoreError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let path = dir.join(ENTRIES_FILE);
        let (count, _) = store.audit_head()?;
        let mut closed = segments::list(dir).map_err(|e| io_err(dir, e))?;
        for s in closed.iter().filter(|s| s.last >= count) {
            let aside = set_aside(&s.path)?;
            tracing::warn!(
                file = %s.path.display(), aside = %aside.display(), entries = count,
                "an audit segment holds entries the store does not; it is set aside"
            );
        }
        closed.retain(|s| s.last < count);
        let mut expected = 0;
        for s in &closed {
            if s.first != expected {
                tracing::warn!(
                    dir = %dir.display(), from = expected, to = s.first.saturating_sub(1),
                    "audit segments are missing (or overlap); `veim audit verify` names them"
                );
            }
            expected = s.last + 1;
        }
        let first = expected;
        let mut written = first;
        let mut matches = true;
        let mut opened_at = None;
        if path.exists() {
            let file = fs::File::open(&path).map_err(|e| io_err(&path, e))?;
            let mut stored = store.audit_iter(first);
            for text in std::io::BufReader::new(file).lines() {
                let Ok(text) = text else {
                    matches = false;
                    break;
                };
                if text.trim().is_empty() {
                    continue;
                }
                let parsed: Option<Entry> = match serde_json::from_str(&text) {
                    Ok(ExportLine::Entry(e)) => Some(e),
                    _ => None,
                };
                let expected = stored.next().transpose()?;
                if parsed.is_none() || parsed != expected || written >= count {
                    matches = false;
                    break;
                }
                opened_at = opened_at.or(parsed.map(|e| e.event.at));
                written += 1;
            }
        }
        if !matches {
            let aside = set_aside(&path)?;
            tracing::warn!(
                file = %path.display(), aside = %aside.display(),
                "the audit file does not match the log in the store; it is set aside and written anew"
            );
            written = first;
            opened_at = None;
        }
        let bytes = if written > first { fs::metadata(&path).map_err(|e| io_err(&path, e))?.len() } else { 0 };
        if closed.iter().any(|s| !s.compressed) {
            segments::compress_in_background(dir.to_path_buf());
        }
        let mut mirror = Mirror {
            dir: dir.to_path_buf(),
            written,
            first,
            bytes,
            opened_at,
            segmenting,
            file: None,
            head_written: 0,
        };
        mirror.catch_up(store)?;
        mirror.write_checkpoints(store)?;
        Ok(mirror)
    }

    /// Appends the entries the store has and the files do not, closing the
    /// open file as a segment first when it is due.
    pub fn catch_up(&mut self, store: &Store) -> Result<(), StoreError> {
        let path = self.dir.join(ENTRIES_FILE);
        if self.moved_or_cut(&path) {
            self.write_open_file_anew(store, &path)?;
        }
        let (count, _) = store.audit_head()?;
        if count <= self.written {
            return self.write_head(store);
        }
        let now = crate::clock::now();
        if self.written > self.first && self.opened_at.is_some_and(|t| self.segmenting.closes(self.bytes, t, now)) {
            self.close_segment(&path)?;
        }
        let mut text = String::new();
        let entries = store.audit_entries(self.written)?;
        let n = entries.len() as u64;
        for e in entries {
            text.push_str(&line(&ExportLine::Entry(e))?);
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io_err(&path, e))?),
        };
        if let Err(e) = file.write_all(text.as_bytes()) {
            // Opened again at the next flush (the entries after `written`
            // are written again; a torn line is set aside at the next start).
            self.file = None;
            return Err(io_err(&path, e));
        }
        self.written += n;
        self.bytes += text.len() as u64;
        self.opened_at.get_or_insert(now);
        self.write_head(store)
    }

    /// Whether another program moved the open file away, replaced it or cut
    /// it short since this mirror wrote to it (logrotate, with `create` or
    /// `copytruncate`).
    fn moved_or_cut(&self, path: &Path) -> bool {
        let Ok(on_disk) = fs::metadata(path) else { return self.written > self.first };
        if on_disk.len() < self.bytes {
            return true;
        }
        #[cfg(unix)]
        if let Some(file) = &self.file {
            use std::os::unix::fs::MetadataExt;
            return file.metadata().map_or(true, |ours| ours.ino() != on_disk.ino() || ours.dev() != on_disk.dev());
        }
        false
    }

    /// Writes the open file anew from the store (its entries from `first`),
    /// after another program moved or cut it.
    fn write_open_file_anew(&mut self, store: &Store, path: &Path) -> Result<(), StoreError> {
        tracing::warn!(
            file = %path.display(),
            "another program moved or truncated the audit file (an external logrotate?); it is written anew from \
             the store. The node rotates its audit files itself: remove any logrotate rule for them"
        );
        self.file = None;
        let mut text = String::new();
        for entry in store.audit_iter(self.first) {
            let entry = entry?;
            if entry.seq >= self.written {
                break;
            }
            text.push_str(&line(&ExportLine::Entry(entry))?);
        }
        write_file(path, text.as_bytes(), false).map_err(|e| io_err(path, e))?;
        self.bytes = text.len() as u64;
        Ok(())
    }

    /// Closes the open file as the segment of its entries (synced first: a
    /// segment is never renamed into place shorter than it was written),
    /// and has it compressed.
    fn close_segment(&mut self, path: &Path) -> Result<(), StoreError> {
        let file = match self.file.take() {
            Some(f) => f,
            None => fs::File::open(path).map_err(|e| io_err(path, e))?,
        };
        file.sync_all().map_err(|e| io_err(path, e))?;
        let closed = self.dir.join(segments::segment_name(self.first, self.written - 1, false));
        fs::rename(path, &closed).map_err(|e| io_err(path, e))?;
        tracing::info!(segment = %closed.display(), "audit file closed as a segment");
        self.first = self.written;
        self.bytes = 0;
        self.opened_at = None;
        segments::compress_in_background(self.dir.clone());
        Ok(())
    }

    /// Rewrites `head.jsonl` when the store holds a newer head checkpoint.
    /// Not synced to disk: the store is the truth, and the file is written
    /// anew from it at every start.
    fn write_head(&mut self, store: &Store) -> Result<(), StoreError> {
        let Some(head) = store.head_checkpoint()? else { return Ok(()) };
        if head.checkpoint.count <= self.head_written || head.checkpoint.count > self.written {
            return Ok(());
        }
        let path = self.dir.join(HEAD_FILE);
        let count = head.checkpoint.count;
        // A fresh name, created exclusively, as `write_file` does, but
        // without its fsync: the store is the truth.
        let mut tmp = tempfile::Builder::new()
            .prefix(".head.")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(|e| io_err(&self.dir, e))?;
        tmp.write_all(line(&ExportLine::Checkpoint(head))?.as_bytes()).map_err(|e| io_err(tmp.path(), e))?;
        tmp.persist(&path).map_err(|e| io_err(&path, e.error))?;
        self.head_written = count;
        Ok(())
    }

    /// Rewrites the files of checkpoints: this node's, and those it holds of peers.
    pub fn write_checkpoints(&self, store: &Store) -> Result<(), StoreError> {
        let mut own = String::new();
        for c in store.checkpoints()? {
            own.push_str(&line(&ExportLine::Checkpoint(c))?);
        }
        for t in store.tree_heads()? {
            own.push_str(&line(&ExportLine::TreeHead(t))?);
        }
        let path = self.dir.join(CHECKPOINTS_FILE);
        write_file(&path, own.as_bytes(), false).map_err(|e| io_err(&path, e))?;
        let mut held = String::new();
        for c in store.witnesses()? {
            held.push_str(&line(&ExportLine::Witnessed(c))?);
        }
        for t in store.witness_trees()? {
            held.push_str(&line(&ExportLine::WitnessedTreeHead(t))?);
        }
        let path = self.dir.join(WITNESSED_FILE);
        write_file(&path, held.as_bytes(), false).map_err(|e| io_err(&path, e))
    }
}

/// The mirror, shared by the store's after-flush hook (new entries) and the
/// audit service (checkpoint files).
pub type SharedMirror = std::sync::Arc<std::sync::Mutex<Mirror>>;

/// Keeps the plain-file copy of `store`'s log in `dir`, brought up to date
/// now and after every flush, in segments cut as `segmenting` says.
pub fn mirrored(store: Store, dir: &Path, segmenting: Segmenting) -> Result<(Store, SharedMirror), StoreError> {
    let mirror: SharedMirror = std::sync::Arc::new(std::sync::Mutex::new(Mirror::open(dir, &store, segmenting)?));
    let hook = mirror.clone();
    let store = store.with_after_flush(move |store| {
        hook.lock().map_err(|_| StoreError::Internal("the audit mirror lock is poisoned".into()))?.catch_up(store)
    });
    Ok((store, mirror))
}

/// Signs a checkpoint of the log's head before every flush that follows new
/// entries, so that the flush makes it durable with them: an entry added to
/// the files after the node's last flush is covered by no signature, and
/// `veim audit verify` says so.
pub fn signed_at_each_flush(
    store: Store,
    identity: veim_protocol::IdentityKeypair,
    node: Option<veim_protocol::StateCode>,
) -> Result<Store, StoreError> {
    let signed = std::sync::atomic::AtomicU64::new(store.head_checkpoint()?.map_or(0, |c| c.checkpoint.count));
    Ok(store.with_before_flush(move |store| {
        let (count, head) = store.audit_head()?;
        if count <= signed.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let checkpoint = veim_protocol::audit::Checkpoint {
            node,
            identity_key: identity.public(),
            count,
            head,
            at: crate::clock::now(),
            restore: store.restore_mark()?,
        };
        let signed_head = veim_protocol::audit::SignedCheckpoint::sign(checkpoint, &identity)
            .map_err(|e| StoreError::Corrupt { what: "audit checkpoint", reason: e.to_string() })?;
        store.put_head_checkpoint(&signed_head)?;
        signed.store(count, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }))
}

/// Rewrites the audit files of checkpoints from the store.
pub fn write_checkpoints(mirror: &SharedMirror, store: &Store) -> Result<(), StoreError> {
    mirror
        .lock()
        .map_err(|_| StoreError::Internal("the audit mirror lock is poisoned".into()))?
        .write_checkpoints(store)
}
