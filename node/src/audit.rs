//! The node's audit log around the store: the events it records, the plain
//! files auditors read, checkpoints, and the checkpoints of peers it keeps.
//!
//! The log itself lives in the store (`audit` tree), each entry written in
//! the transaction of the change it records. After every flush the node
//! appends the new entries to `audit/entries.jsonl` in its home folder, and
//! after every checkpoint it rewrites `audit/checkpoints.jsonl` (its own
//! signed checkpoints) and `audit/witnessed.jsonl` (the latest checkpoint it
//! holds of each peer's log). Those files are what `veim audit` reads, with
//! the node running or not; they are never the source of truth: a node that
//! starts after a crash brings them up to date from the store, and sets aside
//! a copy that does not match the store instead of overwriting it.

use crate::config::write_file;
use crate::store::{MessageRecord, Store, StoreError};
use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use veim_protocol::audit::{Action, Actor, Entry, Event, ExportLine, SignedCheckpoint, SignedTreeHead};
use veim_protocol::{Body, Bytes32, Decision, StateCode};

pub const AUDIT_DIR: &str = "audit";
pub const ENTRIES_FILE: &str = "entries.jsonl";
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
pub const WITNESSED_FILE: &str = "witnessed.jsonl";

/// The event of a message stored by this node.
pub fn message_event(at: i64, actor: Actor, action: Action, m: &MessageRecord, state: Option<StateCode>) -> Event {
    let mut e = Event::new(at, actor, action);
    e.state = state;
    e.exchange = Some(m.exchange_id);
    e.message = Some(m.message_id);
    e.kind = Some(m.kind);
    e.hash = Some(Bytes32(m.envelope_hash));
    e
}

/// What sending `body` is, for the log: consent decisions are named as such.
pub fn sent_action(body: &Body) -> Action {
    match body {
        Body::ConsentRequest(_) => Action::ConsentAsked,
        Body::ConsentDecision(d) => match d.record.decision {
            Decision::Granted { .. } => Action::ConsentGranted,
            Decision::Refused { .. } => Action::ConsentRefused,
        },
        Body::ConsentRevocation(_) => Action::ConsentRevoked,
        _ => Action::MessageSent,
    }
}

/// The plain-file copy of the log.
#[derive(Debug)]
pub struct Mirror {
    dir: PathBuf,
    /// Entries already in `entries.jsonl`.
    written: u64,
    /// `entries.jsonl`, open for appending once and kept open.
    file: Option<fs::File>,
}

fn io_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Rejected(format!("cannot write the audit file {}: {e}", path.display()))
}

fn line(value: &ExportLine) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| StoreError::Corrupt { what: "audit entry", reason: e.to_string() })
}

impl Mirror {
    /// Opens the copy in `dir`, checks it against the store, and sets it
    /// aside (renamed with the time) if it holds entries the store does not.
    pub fn open(dir: &Path, store: &Store) -> Result<Mirror, StoreError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let path = dir.join(ENTRIES_FILE);
        let (count, _) = store.audit_head()?;
        let mut written = 0;
        let mut matches = true;
        if path.exists() {
            let file = fs::File::open(&path).map_err(|e| io_err(&path, e))?;
            let mut stored = store.audit_iter(0);
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
                written += 1;
            }
        }
        if !matches {
            let aside = dir.join(format!("{ENTRIES_FILE}.mismatch-{}", crate::service::now()));
            tracing::warn!(
                file = %path.display(), aside = %aside.display(),
                "the audit file does not match the log in the store; it is set aside and written anew"
            );
            fs::rename(&path, &aside).map_err(|e| io_err(&path, e))?;
            written = 0;
        }
        let mut mirror = Mirror { dir: dir.to_path_buf(), written, file: None };
        mirror.catch_up(store)?;
        mirror.write_checkpoints(store)?;
        Ok(mirror)
    }

    /// Appends the entries the store has and the file does not.
    pub fn catch_up(&mut self, store: &Store) -> Result<(), StoreError> {
        let (count, _) = store.audit_head()?;
        if count <= self.written {
            return Ok(());
        }
        let path = self.dir.join(ENTRIES_FILE);
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

/// A log as read from files (a node's `audit/` folder or an export).
#[derive(Debug, Default, Clone)]
pub struct LogFiles {
    pub header: Option<ExportLine>,
    pub entries: Vec<Entry>,
    pub checkpoints: Vec<SignedCheckpoint>,
    pub witnessed: Vec<SignedCheckpoint>,
    /// This node's signed tree heads.
    pub tree_heads: Vec<SignedTreeHead>,
    /// The tree heads this node holds of its peers' logs.
    pub witnessed_trees: Vec<SignedTreeHead>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path} line {line} is not an audit record: {reason}")]
    Line { path: String, line: usize, reason: String },
    #[error("{0} holds no audit log: is this a node's home folder (with an audit/ folder) or an export?")]
    Empty(String),
}

impl LogFiles {
    /// Reads JSON Lines of [`ExportLine`] from `path`, adding them to `self`.
    pub fn read_file(&mut self, path: &Path) -> Result<(), ReadError> {
        let shown = path.display().to_string();
        let file = fs::File::open(path).map_err(|e| ReadError::Io { path: shown.clone(), reason: e.to_string() })?;
        for (i, text) in std::io::BufReader::new(file).lines().enumerate() {
            let text = text.map_err(|e| ReadError::Io { path: shown.clone(), reason: e.to_string() })?;
            if text.trim().is_empty() {
                continue;
            }
            let record: ExportLine = serde_json::from_str(&text).map_err(|e| ReadError::Line {
                path: shown.clone(),
                line: i + 1,
                reason: e.to_string(),
            })?;
            match record {
                ExportLine::Entry(e) => self.entries.push(e),
                ExportLine::Checkpoint(c) => self.checkpoints.push(c),
                ExportLine::Witnessed(c) => self.witnessed.push(c),
                ExportLine::TreeHead(t) => self.tree_heads.push(t),
                ExportLine::WitnessedTreeHead(t) => self.witnessed_trees.push(t),
                header @ ExportLine::Header { .. } => self.header = Some(header),
            }
        }
        Ok(())
    }

    /// Reads the audit files of the node whose home folder is `home`.
    pub fn read_home(home: &Path) -> Result<LogFiles, ReadError> {
        let dir = home.join(AUDIT_DIR);
        let mut log = LogFiles::default();
        let entries = dir.join(ENTRIES_FILE);
        if !entries.exists() {
            return Err(ReadError::Empty(home.display().to_string()));
        }
        log.read_file(&entries)?;
        for name in [CHECKPOINTS_FILE, WITNESSED_FILE] {
            if dir.join(name).exists() {
                log.read_file(&dir.join(name))?;
            }
        }
        Ok(log)
    }

    /// The log as one export: a header line, the entries, the checkpoints.
    pub fn export(&self, node: Option<StateCode>, exported_at: i64) -> Result<String, serde_json::Error> {
        let mut out = String::new();
        let mut push = |l: &ExportLine| -> Result<(), serde_json::Error> {
            out.push_str(&serde_json::to_string(l)?);
            out.push('\n');
            Ok(())
        };
        push(&ExportLine::Header {
            format: veim_protocol::audit::EXPORT_FORMAT.into(),
            node,
            entries: self.entries.len() as u64,
            exported_at,
        })?;
        for e in &self.entries {
            push(&ExportLine::Entry(e.clone()))?;
        }
        for c in &self.checkpoints {
            push(&ExportLine::Checkpoint(c.clone()))?;
        }
        for c in &self.witnessed {
            push(&ExportLine::Witnessed(c.clone()))?;
        }
        for t in &self.tree_heads {
            push(&ExportLine::TreeHead(t.clone()))?;
        }
        for t in &self.witnessed_trees {
            push(&ExportLine::WitnessedTreeHead(t.clone()))?;
        }
        Ok(out)
    }
}
