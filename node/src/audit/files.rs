//! A node's audit files (or an export) read back, for `veim audit`: the
//! closed segments in the order of their names, each checked against the
//! range its name says, then the open file.

use super::segments::{self, Segment};
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
    /// The segments of the log do not follow each other (one missing, cut
    /// short, swapped or renamed).
    #[error("the audit files do NOT verify: {0}")]
    Segment(String),
}

/// The entries a file holds, as a range for messages.
fn range(first: u64, last: u64) -> String {
    if first == last { format!("entry {first}") } else { format!("entries {first} to {last}") }
}

impl LogFiles {
    /// Reads JSON Lines of [`ExportLine`] from `path`, adding them to `self`.
    pub fn read_file(&mut self, path: &Path) -> Result<(), ReadError> {
        let shown = path.display().to_string();
        let file = fs::File::open(path).map_err(|e| ReadError::Io { path: shown.clone(), reason: e.to_string() })?;
        self.read_lines(std::io::BufReader::new(file), &shown)
    }

    fn read_lines(&mut self, lines: impl BufRead, shown: &str) -> Result<(), ReadError> {
        for (i, text) in lines.lines().enumerate() {
            let text = text.map_err(|e| ReadError::Io { path: shown.to_string(), reason: e.to_string() })?;
            if text.trim().is_empty() {
                continue;
            }
            let record: ExportLine = serde_json::from_str(&text).map_err(|e| ReadError::Line {
                path: shown.to_string(),
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

    /// Reads one closed segment, checking that it holds exactly the entries
    /// its name says, and that it follows the one before (`next` is the
    /// entry that comes next).
    fn read_segment(&mut self, s: &Segment, next: u64) -> Result<(), ReadError> {
        let shown = s.path.display().to_string();
        let named = range(s.first, s.last);
        if s.first > next {
            return Err(ReadError::Segment(format!(
                "{} are missing: no segment holds them (the next one, {shown}, begins at entry {}). \
                 Restore the segment from a backup; the node cannot write it again",
                range(next, s.first - 1),
                s.first
            )));
        }
        if s.first < next {
            return Err(ReadError::Segment(format!(
                "{shown} holds {named}, but the segments before it already hold up to entry {}: \
                 two segments overlap (one was copied or renamed)",
                next - 1
            )));
        }
        let before = self.entries.len();
        let reader = segments::open(s).map_err(|e| ReadError::Io { path: shown.clone(), reason: e.to_string() })?;
        self.read_lines(reader, &shown).map_err(|e| match e {
            ReadError::Io { reason, .. } | ReadError::Line { reason, .. } => ReadError::Segment(format!(
                "{shown} is cut short or damaged ({reason}); its name says it holds {named}. \
                 Restore it from a backup"
            )),
            other => other,
        })?;
        let read = &self.entries[before..];
        let (Some(first), Some(last)) = (read.first(), read.last()) else {
            return Err(ReadError::Segment(format!("{shown} is empty; its name says it holds {named}")));
        };
        if first.seq != s.first || last.seq < first.seq {
            return Err(ReadError::Segment(format!(
                "{shown} begins with entry {}, but its name says it holds {named}: segments were renamed or \
                 swapped",
                first.seq
            )));
        }
        if last.seq < s.last || (read.len() as u64) < s.last - s.first + 1 {
            return Err(ReadError::Segment(format!(
                "{shown} ends at entry {} ({} entries), but its name says it holds {named}: it was cut short. \
                 Restore it from a backup",
                last.seq,
                read.len()
            )));
        }
        if last.seq > s.last || read.len() as u64 > s.last - s.first + 1 {
            return Err(ReadError::Segment(format!(
                "{shown} holds {} entries up to entry {}, but its name says it holds {named}: entries were \
                 added to it",
                read.len(),
                last.seq
            )));
        }
        Ok(())
    }

    /// Reads the audit files of the node whose home folder is `home`. A
    /// running node may close its open file as a segment between the
    /// listing and the reading: segments that do not follow each other are
    /// read once more before they are reported.
    pub fn read_home(home: &Path) -> Result<LogFiles, ReadError> {
        match LogFiles::read_home_once(home) {
            Err(ReadError::Segment(_)) => LogFiles::read_home_once(home),
            read => read,
        }
    }

    fn read_home_once(home: &Path) -> Result<LogFiles, ReadError> {
        let dir = home.join(AUDIT_DIR);
        let mut log = LogFiles::default();
        let entries = dir.join(ENTRIES_FILE);
        let closed = if dir.is_dir() {
            segments::list(&dir)
                .map_err(|e| ReadError::Io { path: dir.display().to_string(), reason: e.to_string() })?
        } else {
            Vec::new()
        };
        if !entries.exists() && closed.is_empty() {
            return Err(ReadError::Empty(home.display().to_string()));
        }
        let mut next = 0;
        for s in &closed {
            log.read_segment(s, next)?;
            next = s.last + 1;
        }
        if entries.exists() {
            let before = log.entries.len();
            log.read_file(&entries)?;
            if let Some(e) = log.entries.get(before)
                && e.seq != next
            {
                return Err(ReadError::Segment(if e.seq > next {
                    format!(
                        "{} are missing: the segments end before them and {} begins at entry {}. \
                         If a tool other than the node (logrotate) moved or emptied that file, start the node \
                         once: it writes the file anew from its store; otherwise restore the missing segment \
                         from a backup",
                        range(next, e.seq - 1),
                        entries.display(),
                        e.seq
                    )
                } else {
                    format!(
                        "{} begins at entry {}, but the segments already hold up to entry {}: a segment and the \
                         open file overlap",
                        entries.display(),
                        e.seq,
                        next.saturating_sub(1)
                    )
                }));
            }
        }
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
