//! The closed segments of the audit file. The node rotates
//! `audit/entries.jsonl` itself (never an outside tool): when it reaches
//! `audit_segment_kib`, or once `audit_segment_days` UTC days have begun
//! since it got its first entry, the file is renamed to
//! `entries-<first>-<last>.jsonl` (the sequence numbers of its first and
//! last entries, twelve digits each) and then compressed, by the mirror's
//! one [`Compressor`] thread, to `entries-<first>-<last>.jsonl.gz`.
//! The names carry the range so that a reader finds a segment missing,
//! swapped or cut short by the numbers alone, before it checks the chain.

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// A closed segment's name starts so; the open one is `ENTRIES_FILE`.
pub const SEGMENT_PREFIX: &str = "entries-";
const PLAIN: &str = ".jsonl";
const COMPRESSED: &str = ".jsonl.gz";
const DIGITS: usize = 12;

/// A closed segment: the entries `first..=last`, in `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub first: u64,
    pub last: u64,
    pub path: PathBuf,
    pub compressed: bool,
}

/// When the open file is closed as a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segmenting {
    pub max_bytes: u64,
    pub max_days: u32,
}

impl Segmenting {
    /// Whether a segment of `bytes` whose first entry was written at
    /// `opened_at` (Unix seconds) is closed at `now`: at its size, or once
    /// `max_days` UTC days have begun since the day it was opened.
    pub fn closes(&self, bytes: u64, opened_at: i64, now: i64) -> bool {
        bytes >= self.max_bytes || now.div_euclid(86_400) - opened_at.div_euclid(86_400) >= i64::from(self.max_days)
    }
}

/// The file name of the segment of entries `first..=last`.
pub fn segment_name(first: u64, last: u64, compressed: bool) -> String {
    let ext = if compressed { COMPRESSED } else { PLAIN };
    format!("{SEGMENT_PREFIX}{first:0DIGITS$}-{last:0DIGITS$}{ext}")
}

/// The range and compression a segment's file name says, if it is one.
pub fn parse_name(name: &str) -> Option<(u64, u64, bool)> {
    let rest = name.strip_prefix(SEGMENT_PREFIX)?;
    let (range, compressed) = match rest.strip_suffix(COMPRESSED) {
        Some(r) => (r, true),
        None => (rest.strip_suffix(PLAIN)?, false),
    };
    let (first, last) = range.split_once('-')?;
    let digits = |s: &str| s.len() == DIGITS && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || !digits(last) {
        return None;
    }
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (first <= last).then_some((first, last, compressed))
}

/// Every file in `dir` named as a closed segment, by first entry, a range
/// held both plain and compressed listed twice (plain first).
pub fn list_all(dir: &Path) -> io::Result<Vec<Segment>> {
    let mut found: Vec<Segment> = Vec::new();
    for f in fs::read_dir(dir)? {
        let f = f?;
        let Some((first, last, compressed)) = f.file_name().to_str().and_then(parse_name) else { continue };
        found.push(Segment { first, last, path: f.path(), compressed });
    }
    found.sort_by_key(|s| (s.first, s.last, s.compressed));
    Ok(found)
}

/// `segments` (as [`list_all`] gives them) with each range once: a range
/// held both plain and compressed (a compression that stopped before it
/// removed the plain file) is kept plain, the compressed copy being the one
/// in doubt.
pub fn once_each(mut segments: Vec<Segment>) -> Vec<Segment> {
    segments.dedup_by(|later, kept| later.first == kept.first && later.last == kept.last);
    segments
}

/// The closed segments in `dir`, by first entry, each range once (see
/// [`once_each`]).
pub fn list(dir: &Path) -> io::Result<Vec<Segment>> {
    list_all(dir).map(once_each)
}

/// The lines of a segment, decompressed. A plain segment that was
/// compressed since it was listed is read compressed.
pub fn open(segment: &Segment) -> io::Result<Box<dyn BufRead>> {
    let file = match fs::File::open(&segment.path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && !segment.compressed => {
            let dir = segment.path.parent().unwrap_or(Path::new("."));
            return open(&Segment {
                path: dir.join(segment_name(segment.first, segment.last, true)),
                compressed: true,
                ..segment.clone()
            });
        }
        opened => opened?,
    };
    Ok(if segment.compressed {
        Box::new(BufReader::new(GzDecoder::new(BufReader::new(file))))
    } else {
        Box::new(BufReader::new(file))
    })
}

/// Compresses a plain segment: the compressed file is written under a
/// temporary name, synced, renamed into place, and only then the plain
/// file removed, so that a crash at any point leaves the entries whole.
/// A plain file already gone was compressed by another thread.
pub fn compress(segment: &Segment) -> io::Result<()> {
    if segment.compressed {
        return Ok(());
    }
    let dir = segment.path.parent().unwrap_or(Path::new("."));
    let mut plain = match fs::File::open(&segment.path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        opened => opened?,
    };
    let tmp = temporary(dir, "segment")?;
    let mut gz = GzEncoder::new(tmp, Compression::default());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = plain.read(&mut buf)?;
        if n == 0 {
            break;
        }
        gz.write_all(&buf[..n])?;
    }
    let tmp = gz.finish()?;
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join(segment_name(segment.first, segment.last, true))).map_err(|e| e.error)?;
    // The new name on disk before the old file goes.
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    match fs::remove_file(&segment.path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        removed => removed,
    }
}

/// A temporary file in `dir`, named `.{prefix}.*.tmp` (created exclusively,
/// under a fresh name) with the mode every audit file gets, the open one
/// included: 0666 less the process's umask (0644 under the usual 022, 0600
/// under the service's `UMask=0077`).
pub fn temporary(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    let prefix = format!(".{prefix}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Removes the temporary files a stopped node left in `dir` (a compression
/// or a rewrite cut short by a kill): hidden names ending in `.tmp`, which
/// only the node gives, never to a file of the log.
pub fn remove_temporaries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for f in fs::read_dir(dir)? {
        let f = f?;
        let name = f.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') && name.ends_with(".tmp") && f.file_type()?.is_file() {
            fs::remove_file(f.path())?;
            removed.push(f.path());
        }
    }
    Ok(removed)
}

/// Compresses every plain segment in `dir`: a failure is logged, and the
/// next rotation or start tries again.
fn compress_all(dir: &Path) {
    let segments = match list(dir) {
        Ok(s) => s,
        Err(e) => return tracing::warn!(dir = %dir.display(), %e, "cannot list the audit segments to compress"),
    };
    for s in segments.iter().filter(|s| !s.compressed) {
        if let Err(e) = compress(s) {
            tracing::warn!(file = %s.path.display(), %e, "cannot compress an audit segment; it stays plain");
        }
    }
}

/// The one thread that compresses the closed segments of a folder, woken
/// at each rotation: a segment is never compressed twice at once, and
/// [`Compressor::stop`] waits for the segments closed until then (one or
/// two at most: each is compressed as soon as it is closed).
#[derive(Debug)]
pub struct Compressor {
    wake: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Compressor {
    /// Starts the thread for `dir`; it compresses what is plain there now.
    pub fn start(dir: PathBuf) -> Compressor {
        let (wake, woken) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new().name("audit-compress".into()).spawn(move || {
            while woken.recv().is_ok() {
                // Wake-ups that came meanwhile are served by this pass.
                while woken.try_recv().is_ok() {}
                compress_all(&dir);
            }
        });
        let thread = match spawned {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(%e, "cannot start the thread that compresses audit segments; they stay plain");
                None
            }
        };
        let compressor = Compressor { wake: thread.as_ref().map(|_| wake), thread };
        compressor.wake();
        compressor
    }

    /// Has the plain segments compressed.
    pub fn wake(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.send(());
        }
    }

    /// Stops the thread once the segments closed until now are
    /// compressed, and waits for it.
    pub fn stop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the thread that compresses audit segments panicked");
        }
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_carry_their_range_and_nothing_else_parses() {
        let name = segment_name(0, 4_999, true);
        assert_eq!(name, "entries-000000000000-000000004999.jsonl.gz");
        assert_eq!(parse_name(&name), Some((0, 4_999, true)));
        assert_eq!(parse_name(&segment_name(5_000, 5_000, false)), Some((5_000, 5_000, false)));
        for other in [
            "entries.jsonl",
            "entries.jsonl.1",
            "entries.jsonl.2.gz",
            "entries.jsonl.mismatch-1700000000",
            "entries-1-2.jsonl",
            "entries-000000000009-000000000001.jsonl",
            "entries-00000000000a-000000000001.jsonl",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_segment_closes_at_its_size_or_once_its_days_have_begun() {
        let daily = Segmenting { max_bytes: 1000, max_days: 1 };
        let noon = 20_000 * 86_400 + 43_200;
        assert!(!daily.closes(999, noon, noon + 3600));
        assert!(daily.closes(1000, noon, noon + 1));
        assert!(daily.closes(1, noon, noon + 43_200), "the next UTC day has begun");
        let weekly = Segmenting { max_bytes: 1000, max_days: 7 };
        assert!(!weekly.closes(1, noon, noon + 6 * 86_400));
        assert!(weekly.closes(1, noon, noon + 7 * 86_400));
    }

    #[test]
    fn compression_keeps_every_line_and_a_listing_prefers_the_plain_copy() {
        let dir = tempfile::tempdir().expect("dir");
        let text: String = (0..500).map(|i| format!("{{\"line\":{i}}}\n")).collect();
        let plain = dir.path().join(segment_name(0, 499, false));
        fs::write(&plain, &text).expect("write");
        let listed = list(dir.path()).expect("list");
        assert_eq!(listed.len(), 1);
        // A compression cut short: a complete .gz beside the plain file.
        compress(&listed[0]).expect("compress");
        fs::write(&plain, &text).expect("write again");
        let listed = list(dir.path()).expect("list");
        assert_eq!(listed.len(), 1);
        assert!(!listed[0].compressed);
        compress(&listed[0]).expect("compress");
        let listed = list(dir.path()).expect("list");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].compressed && !plain.exists());
        let mut back = String::new();
        open(&listed[0]).expect("open").read_to_string(&mut back).expect("read");
        assert_eq!(back, text);
        assert!(fs::metadata(&listed[0].path).expect("meta").len() < text.len() as u64 / 3);
    }
}
