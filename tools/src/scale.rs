//! `veim bench network`: a whole network on this machine. A Secretariat and
//! N national nodes (each a real node: own sled store, own libp2p swarm on
//! 127.0.0.1) start, register, are admitted in batches, follow the directory
//! to its current version, and each sends one request to five others, which
//! receipt it. Next to it, the baseline: N plain libp2p swarms that fetch a
//! blob the size of the directory from a hub and echo one request with five
//! others. And the floor: the same swarms, each of which also checks every
//! directory entry's signature once and makes each directory version
//! durable (one fsync a version), the work a node cannot avoid. Each size
//! runs in a child process of its own, so that the memory figures of one
//! run are not those left over by another.

use crate::bench::rss_mib;
use crate::localnet::{LocalNet, blocking, deployed_periods, wait_for};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use veim_node::api::{ApproveManyRequest, ApproveRequest, PendingView, VersionView};
use veim_protocol::StateCode;

/// Each national node sends one request to this many others.
pub const PEERS: usize = 5;

/// One run of one size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleRun {
    /// "veim" or "libp2p".
    pub kind: String,
    pub nodes: usize,
    /// Seconds from the start until every node runs.
    pub started_secs: f64,
    /// Seconds from the start until the Secretariat held every registration
    /// (baseline: 0), and until it had published every approval.
    pub registered_secs: f64,
    pub approved_secs: f64,
    /// Seconds from the start until every node holds the current directory
    /// (baseline: until every swarm fetched the blob from the hub).
    pub directory_secs: f64,
    /// Seconds from the start until every node's request was receipted by
    /// its five recipients (baseline: echoed).
    pub exchanged_secs: f64,
    /// Resident memory the run added to the process, per node (the
    /// Secretariat or hub counted as one), MiB.
    pub rss_per_node_mib: f64,
    /// Resident memory of the process at the end, and at its peak, MiB.
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    /// Directory versions published (one per batch of approvals).
    pub versions: u64,
    /// Bytes of the current directory version, encoded.
    pub directory_bytes: usize,
    /// Requests sent, and deliveries receipted.
    pub requests: usize,
    pub deliveries: usize,
    /// Threads of the process at the end.
    pub threads: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleBench {
    pub batch: usize,
    pub runs: Vec<(ScaleRun, ScaleRun)>,
    /// The floor of each size, in the order of `runs`: the bare swarms
    /// plus every directory entry's signature checked once and one fsync
    /// per version at each node.
    pub floors: Vec<ScaleRun>,
    pub release_build: bool,
}

/// The first `n` ISO 3166 codes.
fn states(n: usize) -> anyhow::Result<Vec<StateCode>> {
    let all = StateCode::all();
    anyhow::ensure!(n <= all.len(), "at most {} national nodes: ISO 3166 lists that many States", all.len());
    Ok(all.into_iter().take(n).collect())
}

/// The veim run of `n` national nodes, admitted `batch` at a time.
pub async fn veim_run(n: usize, batch: usize) -> anyhow::Result<ScaleRun> {
    anyhow::ensure!(n > PEERS, "the network needs more than {PEERS} national nodes");
    let states = states(n)?;
    let dir = tempfile::Builder::new().prefix("veim-bench-").tempdir()?;
    // sled makes its process-wide state (its metrics' tables) when the
    // first store of a process opens: the process's, as the runtime is, not
    // a node's, so made before the baseline is taken.
    drop(veim_node::storage::Store::open(&dir.path().join("process"))?);
    let rss_before = rss_mib("VmRSS:");
    let t0 = Instant::now();
    let mut net = LocalNet::tuned(&dir.path().join("net"), deployed_periods).await?;
    // Started together, as the States' machines are, each on its own.
    net.add_nationals(&states, "bench").await?;
    let started_secs = t0.elapsed().as_secs_f64();

    // Every node registers on its own; the Secretariat approves in batches,
    // each State under the fingerprint its node shows.
    let sec = net.secretariat.api()?;
    let limit = Duration::from_secs(120 + n as u64);
    wait_for("every registration", limit, || {
        let pending: Vec<PendingView> = sec.get("/v1/directory/pending").ok()?;
        (pending.len() >= n).then_some(())
    })
    .await?;
    let registered_secs = t0.elapsed().as_secs_f64();
    let approvals = net.approvals()?;
    let mut head = 0;
    let mut versions = 0;
    let mut chunks = approvals.into_iter().peekable();
    while chunks.peek().is_some() {
        let approvals: Vec<ApproveRequest> = chunks.by_ref().take(batch.max(1)).collect();
        let v: VersionView = blocking(|| sec.post("/v1/directory/approve-many", &ApproveManyRequest { approvals }))?;
        head = v.version;
        versions += 1;
    }
    let approved_secs = t0.elapsed().as_secs_f64();

    // Each node follows the announcement of each version; none is asked to.
    let nodes: Vec<Arc<veim_node::Node>> = net
        .nationals
        .iter()
        .map(|n| n.handle.as_ref().map(|h| h.node.clone()).ok_or_else(|| anyhow::anyhow!("{} stopped", n.label)))
        .collect::<anyhow::Result<_>>()?;
    loop {
        let behind = nodes.iter().filter(|n| n.directory.view().version() < head).count();
        if behind == 0 {
            break;
        }
        anyhow::ensure!(t0.elapsed() < limit * 3, "{behind} node(s) still lack directory version {head}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let directory_secs = t0.elapsed().as_secs_f64();
    let directory_bytes = nodes[0]
        .directory
        .view()
        .current
        .as_ref()
        .map(|v| veim_protocol::codec::encode("directory version", v).map(|b| b.len()))
        .transpose()?
        .unwrap_or(0);

    // Each node sends one request to the next five, all at once.
    let body = crate::bench::request_of(1024)?;
    let sends = (0..n).map(|i| {
        let to: Vec<StateCode> = (1..=PEERS).map(|k| states[(i + k) % n]).collect();
        crate::bench::send_delivered(nodes[i].clone(), to, body.clone(), limit)
    });
    futures::future::try_join_all(sends).await?;
    let exchanged_secs = t0.elapsed().as_secs_f64();
    let rss = rss_mib("VmRSS:");
    let run = ScaleRun {
        kind: "veim".into(),
        nodes: n,
        started_secs,
        registered_secs,
        approved_secs,
        directory_secs,
        exchanged_secs,
        rss_per_node_mib: (rss - rss_before) / (n + 1) as f64,
        rss_mib: rss,
        peak_rss_mib: rss_mib("VmHWM:"),
        versions,
        directory_bytes,
        requests: n,
        deliveries: n * PEERS,
        threads: crate::bench::status_figure("Threads:") as u64,
    };
    drop(nodes);
    net.shutdown().await;
    Ok(run)
}

/// What the floor of a network run adds to the bare swarms: the work a
/// node cannot avoid to hold the directory.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryWork {
    /// Directory versions the veim run published: each node makes each one
    /// durable (one fsync of a file of its own per version).
    pub versions: u64,
}

/// The entries of a directory of `n` States as their signatures cost to
/// check: `bytes` in all, each piece signed by a key of its own.
fn signed_pieces(n: usize, bytes: usize) -> Vec<(veim_protocol::PublicIdentity, Vec<u8>, [u8; 64])> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    (0..n)
        .map(|i| {
            let key = veim_protocol::IdentityKeypair::generate(&mut rng);
            let piece = vec![i as u8; (bytes / n.max(1)).max(1)];
            let signature = key.sign("directory entry", &piece);
            (key.public(), piece, signature)
        })
        .collect()
}

/// A node of the floor, once it fetched the directory: every entry's
/// signature checked once, and each version made durable in its folder.
fn hold_directory(
    pieces: &[(veim_protocol::PublicIdentity, Vec<u8>, [u8; 64])],
    versions: u64,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use std::io::Write;
    for (key, piece, signature) in pieces {
        key.verify("directory entry", piece, signature)?;
    }
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::File::create(dir.join("directory.bin"))?;
    for version in 0..versions {
        file.write_all(&version.to_be_bytes())?;
        file.sync_data()?;
    }
    Ok(())
}

/// The baseline of `n` nodes: plain libp2p swarms (the node's own transport:
/// TCP, Noise, Yamux, the same framing) with an echo behind each, no storage
/// and no signatures; each fetches `directory_bytes` from a hub, then sends
/// 1 KiB to five others and waits for the echo. With `floor`, each swarm
/// also does what holding the directory cannot do without
/// ([`DirectoryWork`]), on a blocking thread, before it counts as current.
pub async fn libp2p_run(n: usize, directory_bytes: usize, floor: Option<DirectoryWork>) -> anyhow::Result<ScaleRun> {
    use veim_node::net::{self, Limits};
    let pieces = Arc::new(signed_pieces(n + 1, directory_bytes));
    let dir = tempfile::Builder::new().prefix("veim-floor-").tempdir()?;
    let rss_before = rss_mib("VmRSS:");
    let t0 = Instant::now();
    // No limits of the node's own: the baseline is what the transport does
    // (its swarms start faster than nodes do, and all dial the hub at once).
    let unlimited = Limits::unbounded();
    let listen: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse()?;
    let mut stops = Vec::new();
    let mut swarms: Vec<(net::Client, libp2p::PeerId, Vec<libp2p::Multiaddr>)> = Vec::new();
    let mut fetches = Vec::new();
    for _ in 0..=n {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let peer = key.public().to_peer_id();
        let (client, mut inbound, run) = net::new(key, std::slice::from_ref(&listen), unlimited, Default::default())?;
        let (stop, shutdown) = veim_node::shutdown::channel();
        tokio::spawn(run.run(shutdown));
        stops.push(stop);
        let addrs = client.listen_addrs().await?;
        let server = client.clone();
        // The hub (the first) answers with the directory's bytes; the others echo.
        let hub = swarms.is_empty();
        tokio::spawn(async move {
            while let Some(request) = inbound.recv().await {
                let bytes = match request.frame {
                    _ if hub => vec![3u8; directory_bytes],
                    net::InboundFrame::Bytes(b) => b,
                    _ => Vec::new(),
                };
                let _ = server.respond(request.channel, bytes).await;
            }
        });
        // As a node registers as soon as it starts, each swarm asks the hub
        // as soon as it runs.
        if let Some((_, hub, hub_addrs)) = swarms.first().cloned() {
            let client = client.clone();
            let (pieces, folder) = (pieces.clone(), dir.path().join(swarms.len().to_string()));
            fetches.push(tokio::spawn(async move {
                let got = client.request(hub, hub_addrs, vec![1u8; 16]).await.context("fetching from the hub")?;
                anyhow::ensure!(got.len() == directory_bytes, "the hub's answer lost bytes");
                if let Some(work) = floor {
                    tokio::task::spawn_blocking(move || hold_directory(&pieces, work.versions, &folder)).await??;
                }
                anyhow::Ok(())
            }));
        }
        swarms.push((client, peer, addrs));
    }
    let started_secs = t0.elapsed().as_secs_f64();
    for fetch in fetches {
        fetch.await??;
    }
    let directory_secs = t0.elapsed().as_secs_f64();
    let nationals = &swarms[1..];
    let echoes = (0..n).flat_map(|i| {
        (1..=PEERS).map(move |k| {
            let (client, _, _) = nationals[i].clone();
            let (_, peer, addrs) = nationals[(i + k) % n].clone();
            async move {
                let back = client.request(peer, addrs, vec![5u8; 1024]).await.context("echo with another swarm")?;
                anyhow::ensure!(back.len() == 1024, "the echo lost bytes");
                anyhow::Ok(())
            }
        })
    });
    futures::future::try_join_all(echoes).await?;
    let exchanged_secs = t0.elapsed().as_secs_f64();
    let rss = rss_mib("VmRSS:");
    let run = ScaleRun {
        kind: if floor.is_some() { "floor" } else { "libp2p" }.into(),
        nodes: n,
        started_secs,
        registered_secs: 0.0,
        approved_secs: 0.0,
        directory_secs,
        exchanged_secs,
        rss_per_node_mib: (rss - rss_before) / (n + 1) as f64,
        rss_mib: rss,
        peak_rss_mib: rss_mib("VmHWM:"),
        versions: floor.map_or(0, |w| w.versions),
        directory_bytes,
        requests: n * PEERS,
        deliveries: n * PEERS,
        threads: crate::bench::status_figure("Threads:") as u64,
    };
    for stop in stops {
        stop.trigger();
    }
    Ok(run)
}

/// Runs each size in a child process of this program (`veim bench network
/// --one veim|libp2p --nodes N --json`), veim first, then the baseline with
/// the directory's size of the veim run.
pub fn network(sizes: &[usize], batch: usize) -> anyhow::Result<ScaleBench> {
    let exe = std::env::current_exe()?;
    let child = |args: Vec<String>| -> anyhow::Result<ScaleRun> {
        let out = std::process::Command::new(&exe)
            .args(["bench", "network", "--json"])
            .args(&args)
            .stderr(std::process::Stdio::inherit())
            .output()?;
        anyhow::ensure!(out.status.success(), "the run `{}` failed ({})", args.join(" "), out.status);
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let (mut runs, mut floors) = (Vec::new(), Vec::new());
    for &n in sizes {
        crate::say_err!("network of {n} national nodes ...");
        let veim = child(vec![
            "--one".into(),
            "veim".into(),
            "--nodes".into(),
            n.to_string(),
            "--batch".into(),
            batch.to_string(),
        ])?;
        let bare = |kind: &str| {
            child(vec![
                "--one".into(),
                kind.into(),
                "--nodes".into(),
                n.to_string(),
                "--directory-bytes".into(),
                veim.directory_bytes.to_string(),
                "--versions".into(),
                veim.versions.to_string(),
            ])
        };
        let raw = bare("libp2p")?;
        floors.push(bare("floor")?);
        runs.push((veim, raw));
    }
    Ok(ScaleBench { batch, runs, floors, release_build: !cfg!(debug_assertions) })
}

pub fn render(b: &ScaleBench) -> String {
    let mut out = format!(
        "network: a Secretariat and N national nodes on loopback, admitted {} per directory version, each sending one request to {PEERS} others{}\n",
        b.batch,
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release" }
    );
    out.push_str(&format!(
        "{:>5} {:<7} {:>9} {:>12} {:>10} {:>11} {:>11} {:>12} {:>10} {:>8} {:>8}\n",
        "N",
        "",
        "started s",
        "registered s",
        "approved s",
        "directory s",
        "exchanged s",
        "MiB per node",
        "peak MiB",
        "threads",
        "versions"
    ));
    for ((veim, raw), floor) in b.runs.iter().zip(&b.floors) {
        for r in [raw, floor, veim] {
            out.push_str(&format!(
                "{:>5} {:<7} {:>9.2} {:>12.2} {:>10.2} {:>11.2} {:>11.2} {:>12.2} {:>10.0} {:>8} {:>8}\n",
                r.nodes,
                r.kind,
                r.started_secs,
                r.registered_secs,
                r.approved_secs,
                r.directory_secs,
                r.exchanged_secs,
                r.rss_per_node_mib,
                r.peak_rss_mib,
                r.threads,
                r.versions
            ));
        }
    }
    // The exchanges' time is given from the start (it holds the directory's
    // too) and alone, from every node current to every exchange receipted.
    let ratios = |veim: &ScaleRun, base: &ScaleRun| {
        let alone = |r: &ScaleRun| (r.exchanged_secs - r.directory_secs).max(1e-9);
        format!(
            "  N = {:<4} time to the current directory {:>6.2}, time to all exchanged {:>6.2} (the exchanges alone {:>5.2}), memory per node {:>6.2}",
            veim.nodes,
            veim.directory_secs / base.directory_secs.max(1e-9),
            veim.exchanged_secs / base.exchanged_secs.max(1e-9),
            alone(veim) / alone(base),
            veim.rss_per_node_mib / base.rss_per_node_mib.max(1e-9),
        )
    };
    out.push_str("ratios veim / floor:\n");
    for ((veim, _), floor) in b.runs.iter().zip(&b.floors) {
        out.push_str(&format!("{}\n", ratios(veim, floor)));
    }
    out.push_str("ratios veim / libp2p:\n");
    for (veim, raw) in &b.runs {
        out.push_str(&format!("{} (directory version of {} KiB)\n", ratios(veim, raw), veim.directory_bytes / 1024));
    }
    out
}
