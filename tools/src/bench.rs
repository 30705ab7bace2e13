//! `veim bench`: measurements against the raw primitive of the same machine,
//! in the same run. Run it from a release build:
//! `cargo run --release --bin veim -- bench audit`.

use serde::Serialize;
use std::io::Write;
use std::time::Instant;
use veim_node::audit::LogFiles;
use veim_protocol::audit::{
    Action, Actor, Checkpoint, Entry, Event, ExportLine, SignedCheckpoint, SignedTreeHead, TreeHead,
    verify_log_with_trees,
};
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
/// receipts), chained, with a checkpoint and a tree head at the end.
pub fn make_log(n: u64) -> anyhow::Result<(Vec<Entry>, SignedCheckpoint, SignedTreeHead)> {
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
    let checkpoint = Checkpoint {
        node: Some("MEX".parse()?),
        identity_key: key.public(),
        count: n,
        head: previous,
        at: 0,
        restore: None,
    };
    let hashes: Vec<Bytes32> = entries.iter().map(|e| e.hash()).collect::<Result<_, _>>()?;
    let root = veim_protocol::merkle::Tree::from_entries(&hashes)
        .root(n)
        .ok_or_else(|| anyhow::anyhow!("no root of {n} entries"))?;
    let tree_head =
        TreeHead { node: Some("MEX".parse()?), identity_key: key.public(), count: n, root, at: 0, restore: None };
    Ok((entries, SignedCheckpoint::sign(checkpoint, &key)?, SignedTreeHead::sign(tree_head, &key)?))
}

/// How many entries per second `veim audit verify` checks, from the export
/// file and in memory, next to raw SHA-256 over the same encoded entries.
pub fn audit(n: u64) -> anyhow::Result<AuditBench> {
    let (entries, checkpoint, tree_head) = make_log(n)?;
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
        serde_json::to_writer(&mut file, &ExportLine::TreeHead(tree_head.clone()))?;
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

    // The chain in memory (encode, hash, compare, per entry), then its
    // Merkle tree against the tree head.
    let started = Instant::now();
    let trees = [("this node".to_string(), tree_head)];
    let report = verify_log_with_trees(&entries, std::slice::from_ref(&checkpoint), &[], &trees)?;
    let in_memory = rate(n, started);
    anyhow::ensure!(report.entries == n && report.tree_heads == 1, "the benchmark log does not verify");
    drop(entries);

    // What `veim audit verify --export FILE` does: read, parse, verify.
    let started = Instant::now();
    let mut log = LogFiles::default();
    log.read_file(&path)?;
    crate::audit::verify(&log, &Default::default())?;
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
            figure("audit verify, chain and Merkle tree in memory (entries/s)", in_memory),
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
    /// Peak resident memory of this process (the Secretariat and the
    /// sender run in it), MiB.
    pub peak_rss_mib: f64,
    /// Before the transfer started, MiB.
    pub rss_before_mib: f64,
    /// The recipient's own process (`veim node run`): its resident memory
    /// once it served, and its peak by the end of the transfer, MiB.
    pub receiver_peak_rss_mib: f64,
    pub receiver_rss_before_mib: f64,
    pub release_build: bool,
}

/// The number a line of /proc/self/status starts with `field` ("Threads:",
/// "VmRSS:"), 0 when there is none.
pub fn status_figure(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// A figure of /proc/self/status in kB (VmRSS:, VmHWM:), in MiB.
pub fn rss_mib(field: &str) -> f64 {
    status_figure(field) / 1024.0
}

/// A Secretariat and the nodes of MEX and SWE, admitted, each configured by
/// `tune` before it first starts.
pub(crate) async fn mex_and_swe(
    root: &std::path::Path,
    tune: fn(&mut veim_node::home::config::Config),
) -> anyhow::Result<crate::localnet::LocalNet> {
    let mut net = crate::localnet::LocalNet::tuned(root, tune).await?;
    net.add_national("MEX", "bench").await?;
    net.add_national("SWE", "bench").await?;
    net.admit("MEX").await?;
    let version = net.admit("SWE").await?.version;
    net.wait_directory(version).await?;
    Ok(net)
}

/// An attachment of `mib` MiB between two real nodes on loopback, next to
/// its floor ([`crate::floor::attachment`]), a plain TCP copy and raw
/// ChaCha20-Poly1305 of the same bytes.
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
    let tune = |c: &mut veim_node::home::config::Config| {
        crate::localnet::deployed_periods(c);
        c.attachment_chunk_bytes = 1024 * 1024;
    };
    let mut net = mex_and_swe(&dir.path().join("net"), tune).await?;
    // The recipient in a process of its own, so that its memory is its own.
    let receiver = crate::localnet::NodeProcess::take_over(net.national_mut("MEX")).await?;
    let receiver_rss_before = crate::localnet::memory_of(receiver.pid(), "VmRSS:");
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    let request: veim_protocol::RequestForm = toml::from_str(include_str!("../../deploy/examples/request.toml"))?;
    let sent: veim_node::api::MessageView = crate::localnet::blocking(|| {
        mex.post("/v1/requests", &veim_node::api::SendRequest { to: vec!["SWE".into()], request })
    })?;
    let rss_before = rss_mib("VmRSS:");
    let started = Instant::now();
    let staged: veim_node::api::types::AttachmentView = crate::localnet::blocking(|| {
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
        let list: Vec<veim_node::api::types::AttachmentView> = mex.get("/v1/attachments").ok()?;
        list.into_iter().find(|a| a.id == staged.id && a.complete)
    })
    .await?;
    let transfer = mib as f64 / started.elapsed().as_secs_f64();
    let peak = rss_mib("VmHWM:");
    let receiver_peak = crate::localnet::memory_of(receiver.pid(), "VmHWM:");
    drop(receiver);
    net.shutdown().await;
    // Floor, once veim's memory is read: the same bytes over one stream of
    // the same transport, each chunk opened and hashed, synced as a node does.
    let floor = crate::floor::attachment(&path, 1024 * 1024, &dir.path().join("floor")).await?;

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
            figure("attachment fetched by the recipient (MiB/s)", transfer, "floor: stream, AEAD, SHA-256", floor),
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
        receiver_peak_rss_mib: receiver_peak,
        receiver_rss_before_mib: receiver_rss_before,
        release_build: !cfg!(debug_assertions),
    })
}

pub fn render_attachment(b: &AttachmentBench) -> String {
    let mut out = format!(
        "attachment of {} MiB between two nodes on loopback{}\n",
        b.mib,
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release" }
    );
    out.push_str(&format!("{:<55} {:>10} {:<30} {:>10} {:>7}\n", "", "MiB/s", "baseline", "MiB/s", "ratio"));
    for f in &b.figures {
        out.push_str(&format!(
            "{:<55} {:>10.1} {:<30} {:>10.1} {:>7.3}\n",
            f.what, f.per_second, f.baseline, f.baseline_per_second, f.ratio
        ));
    }
    out.push_str(&format!(
        "resident memory of the recipient's own process: {:.0} MiB before, {:.0} MiB at its peak\n",
        b.receiver_rss_before_mib, b.receiver_peak_rss_mib
    ));
    out.push_str(&format!(
        "resident memory of the process holding the Secretariat and the sender: {:.0} MiB before, {:.0} MiB at its peak\n",
        b.rss_before_mib, b.peak_rss_mib
    ));
    out
}

/// Round trips and throughput of one kind of request.
#[derive(Debug, Clone, Serialize)]
pub struct Rtt {
    pub what: String,
    pub size: usize,
    pub in_flight: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Store flushes (fsyncs) per message on the sending and on the
    /// receiving node (veim only): what the group commit saves.
    pub flushes_per_message: Option<(f64, f64)>,
    /// Message writes per grouped transaction on the sending and on the
    /// receiving node (veim only): what the grouping saves.
    pub writes_per_transaction: Option<(f64, f64)>,
    /// CPU time (user and system, both ends: they share this process) per
    /// message, ms.
    pub cpu_ms_per_message: f64,
}

/// CPU time this process has used (user + system), seconds.
pub fn cpu_secs() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks (100 a second on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

#[derive(Debug, Clone, Serialize)]
pub struct ExchangeBench {
    pub veim: Vec<Rtt>,
    /// The same cryptography and fsyncs over the same transport, nothing
    /// else ([`crate::floor::ExchangeFloor`]).
    pub floor: Vec<Rtt>,
    pub baseline: Vec<Rtt>,
    pub figures: Vec<Figure>,
    pub release_build: bool,
}

/// The `p` quantile (0 to 1) of values sorted in ascending order, the
/// nearest rank; `None` when there are none.
pub(crate) fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get((last as f64 * p).round() as usize).copied()
}

/// [`quantile`], 0 when there are no values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    quantile(sorted, p).unwrap_or(0.0)
}

/// Runs `n` operations, `in_flight` at a time; returns (ops/s, p50 ms, p99 ms).
pub(crate) async fn drive<F, Fut>(n: usize, in_flight: usize, op: F) -> anyhow::Result<(f64, f64, f64)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let mut latencies = latencies(n, in_flight, op).await?;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok((rate, percentile(&latencies, 0.5), percentile(&latencies, 0.99)))
}

/// Runs `n` operations, `in_flight` at a time; each one's time in
/// milliseconds, in the order they ended.
pub(crate) async fn latencies<F, Fut>(n: usize, in_flight: usize, op: F) -> anyhow::Result<Vec<f64>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    use futures::StreamExt;
    futures::stream::iter(0..n)
        .map(|i| {
            let fut = op(i);
            async move {
                let t = Instant::now();
                fut.await.map(|_| t.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(in_flight.max(1))
        .collect::<Vec<anyhow::Result<f64>>>()
        .await
        .into_iter()
        .collect()
}

/// A valid request whose body encodes to about `size` bytes.
pub fn request_of(size: usize) -> anyhow::Result<veim_protocol::Body> {
    let mut form: veim_protocol::RequestForm = toml::from_str(include_str!("../../deploy/examples/request.toml"))?;
    let base = veim_protocol::Body::Request(form.parse().map_err(|e| anyhow::anyhow!("{e}"))?);
    let now = codec::encode("body", &base)?.len();
    form.additional_information = Some("x".repeat(size.saturating_sub(now + 8).max(1)));
    Ok(veim_protocol::Body::Request(form.parse().map_err(|e| anyhow::anyhow!("{e}"))?))
}

/// Two real nodes on loopback: requests sent and receipted (seal, sign,
/// store, flush, audit on both sides), one at a time and 64 in flight; next
/// to their floor (the same cryptography and fsyncs over the same
/// transport, nothing else) and to a plain request-response echo over the
/// same transport (TCP, Noise, Yamux, the same framing), with no storage.
pub async fn exchange(quick: bool) -> anyhow::Result<ExchangeBench> {
    use veim_node::net;
    let n = if quick { 64 } else { 512 };
    let sizes = [1024usize, 64 * 1024];
    let modes = [1usize, 64];

    // Baseline: an echo server and a client, two swarms on loopback.
    let (pair, mut inbound) = crate::floor::SwarmPair::start().await?;
    let server = pair.server.clone();
    tokio::spawn(async move {
        while let Some(request) = inbound.recv().await {
            let bytes = match request.frame {
                net::InboundFrame::Bytes(b) => b,
                _ => Vec::new(),
            };
            let _ = server.respond(request.channel, bytes).await;
        }
    });
    let pair = std::sync::Arc::new(pair);
    let mut baseline = Vec::new();
    for size in sizes {
        let payload = vec![5u8; size];
        pair.request(payload.clone()).await?; // connect
        for in_flight in modes {
            let cpu = cpu_secs();
            let (rate, p50, p99) = drive(n, in_flight, |_| {
                let (pair, payload) = (pair.clone(), payload.clone());
                async move {
                    let back = pair.request(payload).await?;
                    anyhow::ensure!(back.len() == size, "echo lost bytes");
                    Ok(())
                }
            })
            .await?;
            baseline.push(Rtt {
                what: "libp2p echo".into(),
                size,
                in_flight,
                per_second: rate,
                p50_ms: p50,
                p99_ms: p99,
                flushes_per_message: None,
                writes_per_transaction: None,
                cpu_ms_per_message: (cpu_secs() - cpu) * 1000.0 / n as f64,
            });
        }
    }
    drop(pair);

    // Floor: the same transport, the same cryptography and fsyncs, nothing else.
    let floor_run = std::sync::Arc::new(crate::floor::ExchangeFloor::start().await?);
    let mut floor = Vec::new();
    for size in sizes {
        let body = std::sync::Arc::new(request_of(size)?);
        floor_run.send(&body).await?; // connect
        for in_flight in modes {
            let fsyncs = floor_run.fsyncs();
            let cpu = cpu_secs();
            let (rate, p50, p99) = drive(n, in_flight, |_| {
                let (floor_run, body) = (floor_run.clone(), body.clone());
                async move { floor_run.send(&body).await }
            })
            .await?;
            let now = floor_run.fsyncs();
            let per_message = |now: u64, before: u64| (now - before) as f64 / n as f64;
            floor.push(Rtt {
                what: "floor".into(),
                size,
                in_flight,
                per_second: rate,
                p50_ms: p50,
                p99_ms: p99,
                flushes_per_message: Some((per_message(now.0, fsyncs.0), per_message(now.1, fsyncs.1))),
                writes_per_transaction: None,
                cpu_ms_per_message: (cpu_secs() - cpu) * 1000.0 / n as f64,
            });
        }
    }
    drop(floor_run);

    // veim: MEX sends requests to SWE.
    let dir = tempfile::Builder::new().prefix("veim-bench-").tempdir()?;
    let tune = |c: &mut veim_node::home::config::Config| {
        crate::localnet::deployed_periods(c);
        c.peer_requests_per_sec = 1e9;
        c.peer_request_burst = 1e9;
    };
    let net = mex_and_swe(&dir.path().join("net"), tune).await?;
    let node = |state: &str| net.national(state).handle.as_ref().map(|h| h.node.clone());
    let (mex, swe) = node("MEX").zip(node("SWE")).ok_or_else(|| anyhow::anyhow!("a node stopped"))?;
    let to = ["SWE".parse::<veim_protocol::StateCode>()?];
    let mut veim = Vec::new();
    for size in sizes {
        let body = request_of(size)?;
        for in_flight in modes {
            let flushes = (mex.store.flush_runs(), swe.store.flush_runs());
            let grouped = (mex.store.grouping(), swe.store.grouping());
            let cpu = cpu_secs();
            let (rate, p50, p99) = drive(n, in_flight, |_| {
                let (mex, body) = (mex.clone(), body.clone());
                async move { send_delivered(mex, to.to_vec(), body, std::time::Duration::from_secs(60)).await }
            })
            .await?;
            let per_message = |now: u64, before: u64| (now - before) as f64 / n as f64;
            let per_group = |now: veim_node::storage::Grouping, before: veim_node::storage::Grouping| {
                (now.changes - before.changes) as f64 / (now.groups - before.groups).max(1) as f64
            };
            veim.push(Rtt {
                what: "veim request".into(),
                size,
                in_flight,
                per_second: rate,
                p50_ms: p50,
                p99_ms: p99,
                flushes_per_message: Some((
                    per_message(mex.store.flush_runs(), flushes.0),
                    per_message(swe.store.flush_runs(), flushes.1),
                )),
                writes_per_transaction: Some((
                    per_group(mex.store.grouping(), grouped.0),
                    per_group(swe.store.grouping(), grouped.1),
                )),
                cpu_ms_per_message: (cpu_secs() - cpu) * 1000.0 / n as f64,
            });
        }
    }
    net.shutdown().await;

    let mut figures = Vec::new();
    for ((v, b), f) in veim.iter().zip(&baseline).zip(&floor) {
        let what = |figure: &str| format!("{} KiB, {} in flight: {figure}", v.size / 1024, v.in_flight);
        for (base, name) in [(f, "floor"), (b, "libp2p echo")] {
            figures.push(Figure {
                what: what("messages/s"),
                per_second: v.per_second,
                baseline: format!("{name}/s"),
                baseline_per_second: base.per_second,
                ratio: v.per_second / base.per_second,
            });
            figures.push(Figure {
                what: what("p50 round trip (ms)"),
                per_second: v.p50_ms,
                baseline: format!("{name} p50 (ms)"),
                baseline_per_second: base.p50_ms,
                ratio: v.p50_ms / base.p50_ms.max(1e-9),
            });
        }
    }
    Ok(ExchangeBench { veim, floor, baseline, figures, release_build: !cfg!(debug_assertions) })
}

/// Sends `body` from `node` to `to` as the operator's command does (seal,
/// sign, store, flush, audit, deliver), and waits until every recipient's
/// receipt is recorded (a copy queued behind another attempt is delivered by
/// the outbox).
pub async fn send_delivered(
    node: std::sync::Arc<veim_node::Node>,
    to: Vec<veim_protocol::StateCode>,
    body: veim_protocol::Body,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    use veim_node::api::types::{DeliveryState, MessageRecord};
    let outgoing = veim_node::exchange::Outgoing { exchange_id: None, recipients: &to, body };
    let sent = node.exchanges.send(outgoing).await?;
    let delivered = |m: &MessageRecord| m.deliveries.iter().all(|d| matches!(d.state, DeliveryState::Delivered { .. }));
    // Most sends come back delivered (the first attempt is waited for). A
    // watch is made only for the others: sled keeps every prefix ever
    // watched for the life of its tree, and looks through them at each
    // write, so a watch per message would grow the benchmark's own memory
    // and cost with every message it sends.
    if delivered(&sent) {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    // Woken by the store when the message's record changes (its receipt),
    // not by polling it: a poll a millisecond per message in flight would
    // take the nodes' CPU and the store's locks from what is measured.
    let mut watch = node.store.watch_message(sent.message_id);
    let read = || -> anyhow::Result<MessageRecord> {
        node.store.message(sent.message_id)?.ok_or_else(|| anyhow::anyhow!("the message was lost"))
    };
    let mut current = read()?;
    while !delivered(&current) {
        match tokio::time::timeout_at(deadline, watch.changed()).await {
            Err(_) => anyhow::bail!("not delivered in {timeout:?}: {:?}", current.deliveries),
            Ok(false) => anyhow::bail!("the store closed before the message was delivered"),
            Ok(true) => current = read()?,
        }
    }
    Ok(())
}

pub fn render_exchange(b: &ExchangeBench) -> String {
    let mut out = format!(
        "exchange: requests MEX -> SWE on loopback, receipted{}\n",
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release" }
    );
    out.push_str(&format!(
        "{:<14} {:>7} {:>9} {:>12} {:>9} {:>9} {:>11} {:>22} {:>22}\n",
        "",
        "size",
        "in flight",
        "per second",
        "p50 ms",
        "p99 ms",
        "CPU ms/msg",
        "fsyncs/msg (MEX, SWE)",
        "writes/tx (MEX, SWE)"
    ));
    for r in b.baseline.iter().chain(&b.floor).chain(&b.veim) {
        let pair = |p: Option<(f64, f64)>| p.map(|(s, r)| format!("{s:.2}, {r:.2}")).unwrap_or_default();
        out.push_str(&format!(
            "{:<14} {:>6}K {:>9} {:>12.0} {:>9.2} {:>9.2} {:>11.3} {:>22} {:>22}\n",
            r.what,
            r.size / 1024,
            r.in_flight,
            r.per_second,
            r.p50_ms,
            r.p99_ms,
            r.cpu_ms_per_message,
            pair(r.flushes_per_message),
            pair(r.writes_per_transaction)
        ));
    }
    out.push_str("ratios veim / baseline:\n");
    for f in &b.figures {
        out.push_str(&format!("  {:<44} / {:<22} {:>7.3}\n", f.what, f.baseline, f.ratio));
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct CryptoBench {
    pub figures: Vec<Figure>,
    pub release_build: bool,
}

/// Sealing and opening the envelope of a 1 KiB body for 1, 5 and 20
/// recipients, next to raw ChaCha20-Poly1305 and Ed25519 of the same bytes.
pub fn crypto(quick: bool) -> anyhow::Result<CryptoBench> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    use veim_protocol::envelope::{Draft, Recipient};
    let n = if quick { 200 } else { 2000 };
    let body = request_of(1024)?;
    let bytes = codec::encode("body", &body)?;
    let sender = IdentityKeypair::from_secret_bytes(&[1; 32]);
    let own = veim_protocol::EncryptionKeypair::from_secret_bytes(&[2; 32]);
    let keys: Vec<veim_protocol::EncryptionKeypair> =
        (0..20u8).map(|i| veim_protocol::EncryptionKeypair::from_secret_bytes(&[i + 10; 32])).collect();
    let states: Vec<veim_protocol::StateCode> = [
        "SWE", "DEU", "FRA", "ITA", "ESP", "NLD", "BEL", "AUT", "PRT", "POL", "CZE", "HUN", "GRC", "IRL", "DNK", "FIN",
        "NOR", "CHE", "ARG", "BRA",
    ]
    .iter()
    .map(|s| s.parse())
    .collect::<Result<_, _>>()?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    // Baselines on the same bytes.
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&[3u8; 32].into());
    let started = Instant::now();
    for i in 0..n as u64 {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&i.to_be_bytes());
        std::hint::black_box(cipher.encrypt(&nonce.into(), bytes.as_slice()).map_err(|_| anyhow::anyhow!("seal"))?);
    }
    let raw_aead = rate(n as u64, started);
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(sender.sign("bench", &bytes));
    }
    let raw_sign = rate(n as u64, started);
    let signature = sender.sign("bench", &bytes);
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(sender.public().verify("bench", &bytes, &signature).is_ok());
    }
    let raw_verify = rate(n as u64, started);

    let mut figures = Vec::new();
    for count in [1usize, 5, 20] {
        let recipients: Vec<Recipient> =
            (0..count).map(|i| Recipient { state: states[i], encryption_key: keys[i].public() }).collect();
        let draft = |i: u64| Draft {
            message_id: MessageId({
                let mut id = *b"MEX\0\0\0\0\0\0\0\0\0\0\0\0\0";
                id[8..].copy_from_slice(&i.to_be_bytes());
                id
            }),
            exchange_id: ExchangeId([1; 16]),
            sender: "MEX".parse().expect("MEX"),
            recipients: &recipients,
            sender_encryption_key: own.public(),
            created_at: 1_800_000_000,
            body: &body,
        };
        let started = Instant::now();
        let mut last = None;
        for i in 0..n as u64 {
            last = Some(veim_protocol::Envelope::seal(&draft(i), &sender, &mut rng)?);
        }
        let seal = rate(n as u64, started);
        let envelope = last.ok_or_else(|| anyhow::anyhow!("no envelope"))?;
        let started = Instant::now();
        for _ in 0..n {
            envelope.verify(&sender.public())?;
            std::hint::black_box(envelope.open(states[0], &keys[0])?);
        }
        let open = rate(n as u64, started);
        let fig = |what: String, v: f64, base: &str, b: f64| Figure {
            what,
            per_second: v,
            baseline: base.into(),
            baseline_per_second: b,
            ratio: v / b,
        };
        figures.push(fig(format!("seal for {count} recipient(s) (envelopes/s)"), seal, "raw Ed25519 sign", raw_sign));
        figures.push(fig(
            format!("seal for {count} recipient(s) (envelopes/s)"),
            seal,
            "raw ChaCha20-Poly1305",
            raw_aead,
        ));
        figures.push(fig(
            format!("verify+open, {count} recipient(s) (envelopes/s)"),
            open,
            "raw Ed25519 verify",
            raw_verify,
        ));
    }
    Ok(CryptoBench { figures, release_build: !cfg!(debug_assertions) })
}

#[derive(Debug, Clone, Serialize)]
pub struct StorageBench {
    pub figures: Vec<Figure>,
    pub release_build: bool,
}

/// Durable message stores per second (what a receiver does before its
/// receipt: seal the body at rest, one transaction with the exchange and the
/// audit entries, grouped with the stores asked for meanwhile, flush), one
/// at a time and 64 at once; next to a raw sled
/// insert+flush loop and a raw write+fsync loop on the same disk.
pub async fn storage(quick: bool) -> anyhow::Result<StorageBench> {
    use std::io::Write as _;
    let n = if quick { 100 } else { 1000 };
    let dir = tempfile::Builder::new().prefix("veim-bench-").tempdir()?;
    let value = vec![9u8; 1024];

    let path = dir.path().join("fsync.bin");
    let mut file = std::fs::File::create(&path)?;
    let started = Instant::now();
    for _ in 0..n {
        file.write_all(&value)?;
        file.sync_data()?;
    }
    let raw_fsync = rate(n as u64, started);

    let db = sled::Config::new().path(dir.path().join("raw-sled")).flush_every_ms(None).open()?;
    let started = Instant::now();
    for i in 0..n as u64 {
        db.insert(i.to_be_bytes(), value.as_slice())?;
        db.flush()?;
    }
    let raw_sled = rate(n as u64, started);
    drop(db);

    let store = veim_node::storage::Store::open(&dir.path().join("store"))?;
    std::fs::create_dir_all(dir.path().join("keys"))?;
    let (vault, _) = veim_node::home::vault::Vault::load_or_create(dir.path(), None, false, None)?;
    let body = request_of(1024)?;
    let record = |i: u64| -> anyhow::Result<veim_node::api::types::MessageRecord> {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&i.to_be_bytes());
        let message_id = MessageId(id);
        Ok(veim_node::api::types::MessageRecord {
            message_id,
            exchange_id: ExchangeId(id),
            direction: veim_node::api::types::Direction::Received,
            sender: "MEX".parse()?,
            recipients: vec!["SWE".parse()?],
            kind: MessageKind::Request,
            created_at: 1_800_000_000,
            stored_at: 1_800_000_000,
            content: Some(vault.seal_body(message_id, &body)?),
            envelope: vec![0; 1500],
            envelope_hash: [0; 32],
            deliveries: Vec::new(),
            receipts: Vec::new(),
            purged_at: None,
            sequence: 0,
        })
    };
    let exchange_of = |r: &veim_node::api::types::MessageRecord| veim_node::api::types::ExchangeRecord {
        exchange_id: r.exchange_id,
        originator: r.sender,
        participants: vec![r.sender, r.recipients[0]],
        status: veim_node::api::types::ExchangeStatus::Open,
        opened_at: r.created_at,
        updated_at: r.stored_at,
        messages: vec![r.message_id],
    };
    let event = |r: &veim_node::api::types::MessageRecord| {
        veim_node::audit::message_event(
            r.stored_at,
            Actor::Peer(Some(r.sender)),
            Action::MessageReceived,
            r,
            Some(r.sender),
        )
    };
    let mut results = Vec::new();
    for (offset, in_flight) in [(0u64, 1usize), (1_000_000, 64)] {
        let (per_second, _, _) = drive(n, in_flight, |i| {
            let store = store.clone();
            let r = record(offset + i as u64);
            async move {
                let r = r?;
                let (x, e) = (exchange_of(&r), event(&r));
                // As a receiver stores it: in the next grouped transaction.
                store.insert_message_grouped(r, move |_, _| Ok(x.clone()), vec![e]).await?;
                store.flush().await?;
                Ok(())
            }
        })
        .await?;
        results.push((in_flight, per_second));
    }
    let mut figures = Vec::new();
    for (in_flight, per_second) in results {
        figures.push(Figure {
            what: format!("durable message stores/s, {in_flight} at once"),
            per_second,
            baseline: "raw sled insert+flush".into(),
            baseline_per_second: raw_sled,
            ratio: per_second / raw_sled,
        });
        figures.push(Figure {
            what: format!("durable message stores/s, {in_flight} at once"),
            per_second,
            baseline: "raw 1 KiB write+fsync".into(),
            baseline_per_second: raw_fsync,
            ratio: per_second / raw_fsync,
        });
    }
    Ok(StorageBench { figures, release_build: !cfg!(debug_assertions) })
}

/// A table of figures with their baselines and ratios.
pub fn render_figures(title: &str, figures: &[Figure], release: bool) -> String {
    let mut out = format!("{title}{}\n", if release { "" } else { " — DEBUG BUILD: run with --release" });
    out.push_str(&format!("{:<48} {:>12} {:<26} {:>12} {:>7}\n", "", "per second", "baseline", "per second", "ratio"));
    for f in figures {
        out.push_str(&format!(
            "{:<48} {:>12.0} {:<26} {:>12.0} {:>7.3}\n",
            f.what, f.per_second, f.baseline, f.baseline_per_second, f.ratio
        ));
    }
    out
}

/// `veim bench all`: every scenario in turn; each table printed as it
/// finishes and its JSON written to `out/<scenario>.json`.
pub fn all(quick: bool, out: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let started = Instant::now();
    let write = |name: &str, value: &dyn erased::Json, table: String| -> anyhow::Result<()> {
        crate::say!("{table}");
        let path = out.join(format!("{name}.json"));
        std::fs::write(&path, value.json()?).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        std::io::stdout().flush()?;
        Ok(())
    };
    let runtime = tokio::runtime::Runtime::new()?;
    // First the scenario whose memory figures matter, while the process is fresh.
    let b = runtime.block_on(attachment(if quick { 16 } else { 256 }))?;
    write("attachment", &b, render_attachment(&b))?;
    let b = crypto(quick)?;
    write("crypto", &b, render_figures("crypto: the envelope of a 1 KiB body", &b.figures, b.release_build))?;
    let b = runtime.block_on(storage(quick))?;
    write("storage", &b, render_figures("storage: durable stores of received messages", &b.figures, b.release_build))?;
    let b = runtime.block_on(exchange(quick))?;
    write("exchange", &b, render_exchange(&b))?;
    let b = runtime.block_on(crate::bench_console::console(quick, crate::bench_console::THINK))?;
    write("console", &b, crate::bench_console::render(&b))?;
    let b = audit(if quick { 50_000 } else { 1_000_000 })?;
    write("audit", &b, render_audit(&b))?;
    let b = runtime.block_on(crate::joiner::joiner(if quick { 40 } else { 1000 }, if quick { 3 } else { 20 }))?;
    write("joiner", &b, crate::joiner::render(&b))?;
    // The nodes' leftover tasks are not waited for: their runs are measured.
    runtime.shutdown_background();
    let sizes: &[usize] = if quick { &[20] } else { &[50, 100, 200] };
    let b = crate::scale::network(sizes, 50)?;
    write("network", &b, crate::scale::render(&b))?;
    crate::say!(
        "all scenarios in {:.0} s; JSON in {}{}",
        started.elapsed().as_secs_f64(),
        out.display(),
        if cfg!(debug_assertions) { " — DEBUG BUILD: run with --release for figures that mean anything" } else { "" }
    );
    Ok(())
}

/// Serialize without a generic parameter, so that one closure writes every
/// scenario's result.
mod erased {
    pub trait Json {
        fn json(&self) -> anyhow::Result<String>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> anyhow::Result<String> {
            Ok(serde_json::to_string_pretty(self)?)
        }
    }
}
