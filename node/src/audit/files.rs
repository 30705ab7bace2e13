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
    /// No file holds entries `first..=last`: `next` (a segment, or the open
    /// file) begins after them.
    #[error(
        "the audit files do NOT verify: {} are missing: no file holds them ({next} begins at entry {}). \
         The node keeps every entry in its store: start it once, and it writes the missing segments anew \
         from its store (its start entry in the log names them); if a tool other than the node (logrotate) \
         moved or removed them, stop that tool. Only if the node's store is lost too, restore them from a backup",
        range(*first, *last), last + 1
    )]
    Missing { first: u64, last: u64, next: String },
    /// `path` begins at entry `first`, but the files before it already hold
    /// up to `held`.
    #[error(
        "the audit files do NOT verify: {path} begins at entry {first}, but the files before it already hold up \
         to entry {held}: two files overlap (one was copied or renamed)"
    )]
    Overlap { path: String, first: u64, held: u64 },
    /// The segment at `path`, named for entries `first..=last`, cannot be
    /// read to its end.
    #[error(
        "the audit files do NOT verify: {path} is damaged or cut short ({reason}); its name says it holds {}. \
         Move it aside and start the node, which writes it anew from its store, or restore it from a backup",
        range(*first, *last)
    )]
    Damaged { path: String, first: u64, last: u64, reason: String },
    /// The segment at `path`, named for entries `first..=last`, holds
    /// `entries` entries and ends at `ends_at` (none: it is empty).
    #[error(
        "the audit files do NOT verify: {path} {}, but its name says it holds {}: it was cut short. \
         Move it aside and start the node, which writes it anew from its store, or restore it from a backup",
        ends_at.map_or("is empty".to_string(), |e| format!("ends at entry {e} ({entries} entries)")),
        range(*first, *last)
    )]
    CutShort { path: String, first: u64, last: u64, ends_at: Option<u64>, entries: u64 },
    /// The segment at `path`, named for entries `first..=last`, begins at
    /// `begins_at`.
    #[error(
        "the audit files do NOT verify: {path} begins with entry {begins_at}, but its name says it holds {}: \
         segments were renamed or swapped",
        range(*first, *last)
    )]
    Renamed { path: String, first: u64, last: u64, begins_at: u64 },
    /// The segment at `path`, named for entries `first..=last`, holds
    /// `entries` entries up to `ends_at`.
    #[error(
        "the audit files do NOT verify: {path} holds {entries} entries up to entry {ends_at}, but its name says \
         it holds {}: entries were added to it",
        range(*first, *last)
    )]
    Appended { path: String, first: u64, last: u64, ends_at: u64, entries: u64 },
    /// `path` was listed but was gone when it was read: the running node
    /// closed it as a segment meanwhile.
    #[error("{path} was moved while the audit files were read (the node closed it as a segment): read them again")]
    Moved { path: String },
}

impl ReadError {
    /// Whether the files may only have been read in the middle of a
    /// rotation by the running node (read again before it is reported).
    fn maybe_rotating(&self) -> bool {
        matches!(self, ReadError::Missing { .. } | ReadError::Overlap { .. } | ReadError::Moved { .. })
    }
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
        if s.first > next {
            return Err(ReadError::Missing { first: next, last: s.first - 1, next: shown });
        }
        if s.first < next {
            return Err(ReadError::Overlap { path: shown, first: s.first, held: next - 1 });
        }
        let (first, last) = (s.first, s.last);
        let before = self.entries.len();
        let reader = segments::open(s).map_err(|e| ReadError::Io { path: shown.clone(), reason: e.to_string() })?;
        self.read_lines(reader, &shown).map_err(|e| match e {
            ReadError::Io { reason, .. } | ReadError::Line { reason, .. } => {
                ReadError::Damaged { path: shown.clone(), first, last, reason }
            }
            other => other,
        })?;
        let read = &self.entries[before..];
        let entries = read.len() as u64;
        let (Some(begins), Some(ends)) = (read.first(), read.last()) else {
            return Err(ReadError::CutShort { path: shown, first, last, ends_at: None, entries });
        };
        if begins.seq != first || ends.seq < begins.seq {
            return Err(ReadError::Renamed { path: shown, first, last, begins_at: begins.seq });
        }
        if ends.seq < last || entries < last - first + 1 {
            return Err(ReadError::CutShort { path: shown, first, last, ends_at: Some(ends.seq), entries });
        }
        if ends.seq > last || entries > last - first + 1 {
            return Err(ReadError::Appended { path: shown, first, last, ends_at: ends.seq, entries });
        }
        Ok(())
    }

    /// Reads the audit files of the node whose home folder is `home`. A
    /// running node may close its open file as a segment between the
    /// listing and the reading: segments that do not follow each other are
    /// read once more before they are reported.
    pub fn read_home(home: &Path) -> Result<LogFiles, ReadError> {
        match LogFiles::read_home_once(home) {
            Err(e) if e.maybe_rotating() => LogFiles::read_home_once(home),
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
            let shown = entries.display().to_string();
            match fs::File::open(&entries) {
                Ok(file) => log.read_lines(std::io::BufReader::new(file), &shown)?,
                // Closed as a segment since it was seen.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::Moved { path: shown }),
                Err(e) => return Err(ReadError::Io { path: shown, reason: e.to_string() }),
            }
            if let Some(e) = log.entries.get(before)
                && e.seq != next
            {
                return Err(if e.seq > next {
                    ReadError::Missing { first: next, last: e.seq - 1, next: shown }
                } else {
                    ReadError::Overlap { path: shown, first: e.seq, held: next.saturating_sub(1) }
                });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Mirror, Segmenting};
    use crate::storage::Store;
    use std::io::Read;
    use veim_protocol::audit::{Action, Actor, Event};

    /// The plain text of segment `s`.
    fn text_of(s: &Segment) -> String {
        let mut text = String::new();
        segments::open(s).expect("open").read_to_string(&mut text).expect("read");
        text
    }

    #[test]
    fn each_segment_problem_is_its_own_error_with_its_range() {
        let home = tempfile::tempdir().expect("dir");
        let dir = home.path().join(AUDIT_DIR);
        let store = Store::open(&home.path().join("store")).expect("store");
        for i in 0..60 {
            let mut e = Event::new(1_700_000_000, Actor::Operator, Action::AdminCall);
            e.object = Some(format!("/v1/requests/{i}"));
            store.audit(&e).expect("audit");
        }
        let mut mirror = Mirror::open(&dir, &store, Segmenting { max_bytes: 2048, max_days: 366 }).expect("mirror");
        mirror.stop();
        drop(mirror);
        let closed = segments::list(&dir).expect("list");
        assert!(closed.len() >= 3, "{closed:?}");
        let (a, b) = (&closed[0], &closed[1]);
        let text = text_of(b);
        let lines: Vec<&str> = text.lines().collect();
        let plain = |s: &Segment| dir.join(segments::segment_name(s.first, s.last, false));
        let read = || LogFiles::read_home(home.path()).expect_err("a problem");
        let restore = || {
            fs::write(plain(b), &text).expect("restore");
        };
        fs::remove_file(&b.path).expect("remove");

        // Cut short at a line's end: every line that is left parses.
        fs::write(plain(b), lines[..lines.len() - 1].join("\n") + "\n").expect("cut");
        let e = read();
        let ends = b.last - 1;
        assert!(
            matches!(&e, ReadError::CutShort { first, last, ends_at: Some(at), .. }
                if (*first, *last, *at) == (b.first, b.last, ends)),
            "{e:?}"
        );
        // A line added at its end.
        fs::write(plain(b), format!("{text}{}\n", text_of(&closed[2]).lines().next().expect("a line"))).expect("add");
        let e = read();
        assert!(matches!(&e, ReadError::Appended { ends_at, .. } if *ends_at == b.last + 1), "{e:?}");
        restore();
        // A copy of the first segment under a name that overlaps it.
        let overlap = dir.join(segments::segment_name(a.last, a.last, false));
        fs::write(&overlap, text_of(a).lines().last().expect("a line").to_string() + "\n").expect("copy");
        let e = read();
        assert!(matches!(&e, ReadError::Overlap { first, held, .. } if (*first, *held) == (a.last, a.last)), "{e:?}");
        fs::remove_file(&overlap).expect("remove");
        // Whole again.
        assert_eq!(LogFiles::read_home(home.path()).expect("whole").entries.len(), 60);
    }
}
