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

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentBench {
    pub mib: u64,
    pub figures: Vec<Figure>,
    /// Peak resident memory of this process (both nodes run in it), MiB.
    pub peak_rss_mib: f64,
    /// Before the transfer started, MiB.
    pub rss_before_mib: f64,
    pub release_build: bool,
}

fn rss_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// An attachment of `mib` MiB between two real nodes on loopback, next to a
/// plain TCP copy and raw ChaCha20-Poly1305 of the same bytes.
pub async fn attachment(mib: u64) -> anyhow::Result<AttachmentBench> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bytes = mib * 1024 * 1024;
    let dir = tempfile::Builder::new().prefix("veim-bench-").tempdir()?;
    let path = dir.path().join("attachment.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let block: Vec<u8> = (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        for _ in 0..mib {
            f.write_all(&block)?;
        }
        f.flush()?;
    }
    let block = vec![7u8; 1024 * 1024];

    // Raw ChaCha20-Poly1305 of the same bytes, 1 MiB at a time.
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&[1u8; 32].into());
    let started = Instant::now();
    for i in 0..mib {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&i.to_be_bytes());
        std::hint::black_box(cipher.encrypt(&nonce.into(), block.as_slice()).map_err(|_| anyhow::anyhow!("seal"))?);
    }
    let raw_crypto = mib as f64 / started.elapsed().as_secs_f64();

    // A plain TCP copy over loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let reader = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        let mut buf = vec![0u8; 1024 * 1024];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        anyhow::Ok(total)
    });
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    for _ in 0..mib {
        s.write_all(&block).await?;
    }
    s.shutdown().await?;
    let copied = reader.await??;
    let tcp = mib as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(copied == bytes, "the TCP copy lost bytes");

    // veim: two nodes, the file staged (encrypted) by SWE, fetched by MEX.
    let mut net = crate::localnet::LocalNet::new(&dir.path().join("net")).await?;
    net.add_national("MEX", "bench").await?;
    net.add_national("SWE", "bench").await?;
    net.admit("MEX").await?;
    let version = net.admit("SWE").await?.version;
    net.wait_directory(version).await?;
    {
        let swe = net.national_mut("SWE");
        swe.stop().await;
        let mut config = veim_node::config::Config::load(&swe.home)?;
        config.attachment_chunk_bytes = 1024 * 1024;
        config.save(&swe.home)?;
        swe.start().await?;
    }
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    let request: veim_protocol::RequestForm = toml::from_str(include_str!("../../deploy/examples/request.toml"))?;
    let sent: veim_node::api::MessageView = crate::localnet::blocking(|| {
        mex.post("/v1/requests", &veim_node::api::SendRequest { to: vec!["SWE".into()], request })
    })?;
    let rss_before = rss_mib("VmRSS:");
    let started = Instant::now();
    let staged: veim_node::attachments::AttachmentView = crate::localnet::blocking(|| {
        swe.post("/v1/attachments", &veim_node::api::StageRequest { path: path.display().to_string() })
    })?;
    let staging = mib as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let _: veim_node::api::MessageView = crate::localnet::blocking(|| {
        swe.post(
            &format!("/v1/exchanges/{}/attach", sent.exchange_id),
            &veim_node::api::AttachRequest {
                text: String::new(),
                attachments: vec![staged.id.to_hex()],
                handling: None,
            },
        )
    })?;
    crate::localnet::wait_for("the attachment to arrive", std::time::Duration::from_secs(1800), || {
        let list: Vec<veim_node::attachments::AttachmentView> = mex.get("/v1/attachments").ok()?;
        list.into_iter().find(|a| a.id == staged.id && a.complete)
    })
    .await?;
    let transfer = mib as f64 / started.elapsed().as_secs_f64();
    let peak = rss_mib("VmHWM:");
    net.shutdown().await;

    let figure = |what: &str, per_second: f64, baseline: &str, base: f64| Figure {
        what: what.into(),
        per_second,
        baseline: baseline.into(),
        baseline_per_second: base,
        ratio: per_second / base,
    };
    Ok(AttachmentBench {
        mib,
        figures: vec![
            figure("attachment fetched by the recipient (MiB/s)", transfer, "plain loopback TCP copy", tcp),
            figure("attachment fetched by the recipient (MiB/s)", transfer, "raw ChaCha20-Poly1305", raw_crypto),
            figure(
                "attachment staged: hashed and sealed to disk (MiB/s)",
                staging,
                "raw ChaCha20-Poly1305",
                raw_crypto,
            ),
        ],
        peak_rss_mib: peak,
        rss_before_mib: rss_before,
        release_build: !cfg!(debug_assertions),
    })
}

pub fn render_attachment(b: &AttachmentBench) -> String {
    let mut out = format!(
        "attachment of {} MiB between two nodes on loopback{}\n",
        b.mib,
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release" }
    );
    out.push_str(&format!("{:<55} {:>10} {:<26} {:>10} {:>7}\n", "", "MiB/s", "baseline", "MiB/s", "ratio"));
    for f in &b.figures {
        out.push_str(&format!(
            "{:<55} {:>10.1} {:<26} {:>10.1} {:>7.3}\n",
            f.what, f.per_second, f.baseline, f.baseline_per_second, f.ratio
        ));
    }
    out.push_str(&format!(
        "resident memory of the process holding both nodes: {:.0} MiB before, {:.0} MiB at its peak\n",
        b.rss_before_mib, b.peak_rss_mib
    ));
    out
}
