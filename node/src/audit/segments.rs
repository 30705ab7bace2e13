//! The closed segments of the audit file. The node rotates
//! `audit/entries.jsonl` itself (never an outside tool): when it reaches
//! `audit_segment_kib` or its first entry is `audit_segment_days` days old,
//! the file is renamed to `entries-<first>-<last>.jsonl` (the sequence
//! numbers of its first and last entries, twelve digits each) and then
//! compressed, by a thread of its own, to `entries-<first>-<last>.jsonl.gz`.
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

/// The closed segments in `dir`, by first entry. A range held both plain
/// and compressed (a compression that stopped before it removed the plain
/// file) is listed once, plain: the compressed copy is the one in doubt.
pub fn list(dir: &Path) -> io::Result<Vec<Segment>> {
    let mut found: Vec<Segment> = Vec::new();
    for f in fs::read_dir(dir)? {
        let f = f?;
        let Some((first, last, compressed)) = f.file_name().to_str().and_then(parse_name) else { continue };
        found.push(Segment { first, last, path: f.path(), compressed });
    }
    found.sort_by_key(|s| (s.first, s.last, s.compressed));
    found.dedup_by(|later, kept| later.first == kept.first && later.last == kept.last);
    Ok(found)
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
    let tmp = tempfile::Builder::new().prefix(".segment.").suffix(".tmp").tempfile_in(dir)?;
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

/// Compresses every plain segment in `dir`, on a thread of its own: a
/// failure is logged, and the next rotation or start tries again.
pub fn compress_in_background(dir: PathBuf) {
    let spawned = std::thread::Builder::new().name("audit-compress".into()).spawn(move || {
        let segments = match list(&dir) {
            Ok(s) => s,
            Err(e) => return tracing::warn!(dir = %dir.display(), %e, "cannot list the audit segments to compress"),
        };
        for s in segments.iter().filter(|s| !s.compressed) {
            if let Err(e) = compress(s) {
                tracing::warn!(file = %s.path.display(), %e, "cannot compress an audit segment; it stays plain");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(%e, "cannot start the thread that compresses audit segments");
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
