//! A node's audit files (or an export) read back, for `veim audit`.

use super::{AUDIT_DIR, CHECKPOINTS_FILE, ENTRIES_FILE, HEAD_FILE, WITNESSED_FILE};
use std::fs;
use std::io::BufRead;
use std::path::Path;
use veim_protocol::StateCode;
use veim_protocol::audit::{Entry, ExportLine};
use veim_protocol::audit::{SignedCheckpoint, SignedTreeHead};

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
        for name in [CHECKPOINTS_FILE, HEAD_FILE, WITNESSED_FILE] {
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
