//! `veim bench`: measurements against the raw primitive of the same machine,
//! in the same run. Run it from a release build:
//! `cargo run --release --bin veim -- bench audit`.

use serde::Serialize;
use std::io::Write;
use std::time::Instant;
use veim_node::audit::LogFiles;
use veim_protocol::audit::{Action, Actor, Checkpoint, Entry, Event, ExportLine, SignedCheckpoint, verify_log};
use veim_protocol::{Bytes32, ExchangeId, IdentityKeypair, MessageId, MessageKind, codec};

/// One figure of a scenario, with the baseline it is compared to.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub what: String,
    pub per_second: f64,
    pub baseline: String,
    pub baseline_per_second: f64,
    /// `per_second / baseline_per_second`.
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditBench {
    pub entries: u64,
    pub export_bytes: u64,
    pub figures: Vec<Figure>,
    pub release_build: bool,
}

fn rate(count: u64, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// A log of `n` entries such as a busy node writes (messages received,
/// receipts), chained, with a checkpoint at the end.
pub fn make_log(n: u64) -> anyhow::Result<(Vec<Entry>, SignedCheckpoint)> {
    let key = IdentityKeypair::from_secret_bytes(&[7; 32]);
    let mut entries = Vec::with_capacity(n as usize);
    let mut previous = Bytes32([0; 32]);
    for seq in 0..n {
        let mut event =
            Event::new(1_800_000_000 + seq as i64, Actor::Peer(Some("SWE".parse()?)), Action::MessageReceived);
        event.state = Some("SWE".parse()?);
        event.exchange = Some(ExchangeId([(seq % 251) as u8; 16]));
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&seq.to_be_bytes());
        event.message = Some(MessageId(id));
        event.kind = Some(MessageKind::Request);
        event.hash = Some(Bytes32([(seq % 253) as u8; 32]));
        let entry = Entry { seq, previous, event };
        previous = entry.hash()?;
        entries.push(entry);
    }
    let checkpoint =
        Checkpoint { node: Some("MEX".parse()?), identity_key: key.public(), count: n, head: previous, at: 0 };
    Ok((entries, SignedCheckpoint::sign(checkpoint, &key)?))
}

/// How many entries per second `veim audit verify` checks, from the export
/// file and in memory, next to raw SHA-256 over the same encoded entries.
pub fn audit(n: u64) -> anyhow::Result<AuditBench> {
    let (entries, checkpoint) = make_log(n)?;
    let dir = tempfile::Builder::new().prefix("veim-bench-").tempdir()?;
    let path = dir.path().join("audit.jsonl");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for e in &entries {
            serde_json::to_writer(&mut file, &ExportLine::Entry(e.clone()))?;
            file.write_all(b"\n")?;
        }
        serde_json::to_writer(&mut file, &ExportLine::Checkpoint(checkpoint.clone()))?;
        file.write_all(b"\n")?;
        file.flush()?;
    }
    let export_bytes = std::fs::metadata(&path)?.len();
    let encoded: Vec<Vec<u8>> = entries.iter().map(|e| codec::encode("audit entry", e)).collect::<Result<_, _>>()?;

    // Baseline: raw SHA-256 of the same encoded entries (what the chain must hash at least).
    let started = Instant::now();
    let mut sink = 0u8;
    for bytes in &encoded {
        use sha2::Digest;
        sink ^= sha2::Sha256::digest(bytes)[0];
    }
    let raw_hash = rate(n, started);
    std::hint::black_box(sink);

    // The chain in memory (encode, hash, compare, per entry).
    let started = Instant::now();
    let report = verify_log(&entries, std::slice::from_ref(&checkpoint), &[])?;
    let in_memory = rate(n, started);
    anyhow::ensure!(report.entries == n, "the benchmark log does not verify");
    drop(entries);

    // What `veim audit verify --export FILE` does: read, parse, verify.
    let started = Instant::now();
    let mut log = LogFiles::default();
    log.read_file(&path)?;
    crate::audit::verify(&log, &[])?;
    let from_file = rate(n, started);

    let figure = |what: &str, per_second: f64| Figure {
        what: what.into(),
        per_second,
        baseline: "raw SHA-256 of the encoded entries".into(),
        baseline_per_second: raw_hash,
        ratio: per_second / raw_hash,
    };
    Ok(AuditBench {
        entries: n,
        export_bytes,
        figures: vec![
            figure("audit verify, chain in memory (entries/s)", in_memory),
            figure("audit verify --export FILE: read, parse, verify (entries/s)", from_file),
        ],
        release_build: !cfg!(debug_assertions),
    })
}

pub fn render_audit(b: &AuditBench) -> String {
    let mut out = format!(
        "audit verify on a log of {} entries ({:.0} MiB export){}\n",
        b.entries,
        b.export_bytes as f64 / (1024.0 * 1024.0),
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release for figures that mean anything" }
    );
    out.push_str(&format!("{:<62} {:>14} {:>14} {:>7}\n", "", "entries/s", "baseline/s", "ratio"));
    for f in &b.figures {
        out.push_str(&format!(
            "{:<62} {:>14.0} {:>14.0} {:>7.3}\n",
            f.what, f.per_second, f.baseline_per_second, f.ratio
        ));
    }
    out.push_str(&format!("baseline: {}\n", b.figures.first().map(|f| f.baseline.as_str()).unwrap_or_default()));
    out
}
