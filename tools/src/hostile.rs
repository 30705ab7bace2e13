//! `veim bench hostile`: a national node (SWE, its own process, so that its
//! memory is its own) attacked by peers outside the directory while MEX
//! sends it requests: strangers sending nearly complete large frames and
//! holding them, idle sockets from one host, crowds of throwaway
//! identities. Reports the node's resident memory (idle, peak under each
//! attack, settled after), whether a listed State can still open a new
//! connection to it during each attack, and MEX's round trips with and
//! without the attack.
//!
//! The node keeps serving MEX throughout, and what it stores for MEX takes
//! memory too; so the same run is made first with no attack at all (the
//! same requests, dials and pauses), and the attacked node's settled memory
//! is compared with that control's: what is left above it is what the
//! attacks left behind.

use crate::bench::{request_of, send_delivered};
use futures::{AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, noise, tcp, yamux};
use serde::Serialize;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use veim_protocol::codec;
use veim_protocol::wire::{NetRequest, NetResponse};

/// How the run is sized.
#[derive(Debug, Clone, Copy)]
pub struct HostileOptions {
    /// Smaller attacks and fewer requests: a smoke run.
    pub quick: bool,
    /// How long after the last attack the settled memory is read (the
    /// target is within 10% of idle a minute after).
    pub settle: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttackRun {
    pub attack: String,
    /// What the attackers did, in words.
    pub what: String,
    pub peak_rss_mib: f64,
    /// Fresh connections of a listed State (MEX's key) that got an answer.
    pub dials_ok: usize,
    pub dials: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostileBench {
    pub idle_rss_mib: f64,
    pub settled_rss_mib: f64,
    /// The same run with no attack: its node's memory when idle and at the
    /// same point as `settled_rss_mib`.
    pub control_idle_rss_mib: f64,
    pub control_settled_rss_mib: f64,
    pub settle_secs: u64,
    /// MEX's requests to SWE with no attack.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: usize,
    pub attacks: Vec<AttackRun>,
    pub release_build: bool,
}

/// Resident memory of process `pid`, in MiB (0 when it cannot be read).
fn rss_of(pid: u32) -> f64 {
    crate::localnet::memory_of(pid, "VmRSS:")
}

/// Samples `pid`'s memory every 50 ms and keeps the highest (in KiB).
fn sample_peak(pid: u32) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let peak = Arc::new(AtomicU64::new(0));
    let seen = peak.clone();
    let task = tokio::spawn(async move {
        loop {
            let kib = (rss_of(pid) * 1024.0) as u64;
            seen.fetch_max(kib, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (peak, task)
}

/// A request of an attacker: a frame's length claiming `claimed` bytes, then
/// all of them but the last, then silence until the node gives up.
#[derive(Debug, Clone, Copy)]
struct Held {
    claimed: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct HoldingCodec;

impl request_response::Codec for HoldingCodec {
    type Protocol = StreamProtocol;
    type Request = Held;
    type Response = Vec<u8>;

    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Held> {
        Err(io::Error::other("an attacker takes no requests"))
    }

    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Vec<u8>> {
        Err(io::Error::other("never reached"))
    }

    async fn write_request<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Held,
    ) -> io::Result<()> {
        io.write_all(&req.claimed.to_be_bytes()).await?;
        let chunk = vec![0x5au8; 64 * 1024];
        let mut left = req.claimed.saturating_sub(1) as usize;
        while left > 0 {
            let n = left.min(chunk.len());
            io.write_all(&chunk[..n]).await?;
            left -= n;
        }
        io.flush().await?;
        futures::future::pending::<()>().await;
        Ok(())
    }

    async fn write_response<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()> {
        Ok(())
    }
}

/// A stranger that keeps `streams` frames of `claimed` bytes open to
/// `peer`, opening a new one whenever one ends (refused, reset, timed out).
async fn hold_frames(peer: PeerId, addr: Multiaddr, claimed: u32, streams: usize) -> anyhow::Result<()> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                HoldingCodec,
                [(StreamProtocol::new(veim_protocol::WIRE_PROTOCOL), ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(120))
                    .with_max_concurrent_streams(streams),
            )
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    for _ in 0..streams {
        swarm.behaviour_mut().send_request_with_addresses(&peer, Held { claimed }, vec![addr.clone()]);
    }
    loop {
        if let SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) = swarm.select_next_some().await {
            // Pace the next one a little: a ban would end the attack.
            tokio::time::sleep(Duration::from_millis(100)).await;
            swarm.behaviour_mut().send_request_with_addresses(&peer, Held { claimed }, vec![addr.clone()]);
        }
    }
}

/// A socket from 127.0.0.2 that never says a word, opened again whenever
/// the node closes it.
async fn idle_socket(port: u16) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    loop {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind("127.0.0.2:0".parse()?)?;
        match socket.connect(([127, 0, 0, 1], port).into()).await {
            Ok(mut stream) => {
                let mut buf = [0u8; 1024];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A throwaway identity that connects and holds its connection, connecting
/// again whenever it is refused or closed.
async fn throwaway(addr: Multiaddr) -> anyhow::Result<()> {
    use veim_node::net::{self, Limits};
    let key = libp2p::identity::Keypair::generate_ed25519();
    let (client, _inbound, run) = net::new(key, &[], Limits::unbounded(), Default::default())?;
    let (_stop, shutdown) = veim_node::shutdown::channel();
    tokio::spawn(run.run(shutdown));
    loop {
        if client.discover(addr.clone()).await.is_ok() {
            // Held while the event loop runs; probe now and then.
            tokio::time::sleep(Duration::from_secs(5)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One fresh connection with `key` (a listed State's) to `peer`: whether
/// a request on it got an answer within 10 s.
async fn fresh_dial(key: libp2p::identity::Keypair, peer: PeerId, addr: Multiaddr) -> bool {
    use veim_node::net::{self, Limits};
    let Ok((client, _inbound, run)) = net::new(key, &[], Limits::unbounded(), Default::default()) else {
        return false;
    };
    let (stop, shutdown) = veim_node::shutdown::channel();
    let task = tokio::spawn(run.run(shutdown));
    let Ok(bytes) = codec::encode("request", &NetRequest::DirectoryUpdated { version: 0 }) else { return false };
    let answer = tokio::time::timeout(Duration::from_secs(10), client.request(peer, vec![addr], bytes)).await;
    stop.trigger();
    let _ = task.await;
    matches!(answer, Ok(Ok(b)) if codec::decode::<NetResponse, { codec::MAX_FRAME }>("response", &b).is_ok())
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| if ms.is_empty() { 0.0 } else { ms[((ms.len() as f64 - 1.0) * p).round() as usize] };
    (at(0.5), at(0.99))
}

/// `n` requests MEX -> SWE one after the other, each to its receipt; the
/// round trips in ms.
async fn exchange(mex: &Arc<veim_node::Node>, n: usize) -> anyhow::Result<Vec<f64>> {
    let to = vec!["SWE".parse::<veim_protocol::StateCode>()?];
    let body = request_of(1024)?;
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        send_delivered(mex.clone(), to.clone(), body.clone(), Duration::from_secs(60)).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(ms)
}

pub async fn hostile(options: HostileOptions) -> anyhow::Result<HostileBench> {
    let control = run(options, false).await?;
    let mut attacked = run(options, true).await?;
    attacked.control_idle_rss_mib = control.idle_rss_mib;
    attacked.control_settled_rss_mib = control.settled_rss_mib;
    Ok(attacked)
}

/// One run, with the attacks or (`attacking` false) without them.
async fn run(options: HostileOptions, attacking: bool) -> anyhow::Result<HostileBench> {
    let quick = options.quick;
    let dir = tempfile::Builder::new().prefix("veim-bench-").tempdir()?;
    // SWE keeps the connection bounds of a deployed node (a local network
    // lifts them, its nodes all sharing one address); two States register.
    let tune = |c: &mut veim_node::home::config::Config| {
        crate::localnet::deployed_periods(c);
        let deployed = veim_node::home::config::Config::default();
        c.max_connections = deployed.max_connections;
        c.max_stranger_connections = deployed.max_stranger_connections;
        c.max_connections_per_address = deployed.max_connections_per_address;
    };
    let mut net = crate::localnet::LocalNet::tuned(&dir.path().join("net"), tune).await?;
    net.add_national("MEX", "bench").await?;
    net.add_national("SWE", "bench").await?;
    net.admit("MEX").await?;
    let version = net.admit("SWE").await?.version;
    net.wait_directory(version).await?;

    let swe_process = crate::localnet::NodeProcess::take_over(net.national_mut("SWE")).await?;
    let pid = swe_process.pid();
    let swe_home = net.national("SWE").home.clone();
    let swe = veim_node::home::keys::NodeKeys::load(&swe_home)?.peer_id();
    let addr: Multiaddr = net.national("SWE").address.parse()?;
    let port: u16 = net
        .national("SWE")
        .address
        .rsplit('/')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no port in SWE's address"))?;
    let mex_key = veim_node::home::keys::NodeKeys::load(&net.national("MEX").home)?.libp2p_keypair();
    let mex =
        net.national("MEX").handle.as_ref().map(|h| h.node.clone()).ok_or_else(|| anyhow::anyhow!("MEX stopped"))?;

    // Warm up, then idle memory and the round trips without an attack.
    let requests = if quick { 20 } else { 200 };
    exchange(&mex, 10).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss_mib = rss_of(pid);
    let (p50_ms, p99_ms) = percentiles(exchange(&mex, requests).await?);

    let scale = |quick_n: usize, full_n: usize| if quick { quick_n } else { full_n };
    let plans: [(&str, String); 3] = [
        (
            "frames",
            format!(
                "{} strangers, each holding 8 frames of 8 MiB and 4 of 60 KiB sent whole but their last byte",
                scale(4, 16)
            ),
        ),
        ("sockets", format!("{} sockets from 127.0.0.2 that never start their handshake", scale(100, 400))),
        ("identities", format!("{} throwaway identities holding a connection each", scale(100, 600))),
    ];
    let mut attacks = Vec::new();
    for (attack, what) in plans {
        let mut attackers: JoinSet<anyhow::Result<()>> = JoinSet::new();
        match attack {
            _ if !attacking => {}
            "frames" => {
                for _ in 0..scale(4, 16) {
                    attackers.spawn(hold_frames(swe, addr.clone(), 8 * 1024 * 1024, 8));
                    attackers.spawn(hold_frames(swe, addr.clone(), 60 * 1024, 4));
                }
            }
            "sockets" => {
                for _ in 0..scale(100, 400) {
                    attackers.spawn(idle_socket(port));
                }
            }
            _ => {
                for _ in 0..scale(100, 600) {
                    attackers.spawn(throwaway(addr.clone()));
                }
            }
        }
        let (peak, sampler) = sample_peak(pid);
        // Let the attack take hold before measuring under it.
        tokio::time::sleep(Duration::from_secs(if quick { 3 } else { 10 })).await;
        let dials = scale(3, 10);
        let mut dials_ok = 0;
        for _ in 0..dials {
            dials_ok += usize::from(fresh_dial(mex_key.clone(), swe, addr.clone()).await);
        }
        let (p50, p99) = percentiles(exchange(&mex, requests).await?);
        attackers.abort_all();
        while attackers.join_next().await.is_some() {}
        sampler.abort();
        attacks.push(AttackRun {
            attack: attack.into(),
            what,
            peak_rss_mib: peak.load(Ordering::Relaxed) as f64 / 1024.0,
            dials_ok,
            dials,
            p50_ms: p50,
            p99_ms: p99,
        });
    }
    tokio::time::sleep(options.settle).await;
    let settled_rss_mib = rss_of(pid);
    drop(swe_process);
    net.shutdown().await;
    Ok(HostileBench {
        idle_rss_mib,
        settled_rss_mib,
        control_idle_rss_mib: 0.0,
        control_settled_rss_mib: 0.0,
        settle_secs: options.settle.as_secs(),
        p50_ms,
        p99_ms,
        requests,
        attacks,
        release_build: !cfg!(debug_assertions),
    })
}

pub fn render_hostile(b: &HostileBench) -> String {
    let mut out = format!(
        "hostile: SWE's node (its own process) attacked by strangers while MEX sends it {} requests of 1 KiB{}\n",
        b.requests,
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release" }
    );
    out += &format!(
        "  no attack: RSS {:.1} MiB, round trip p50 {:.1} ms, p99 {:.1} ms\n",
        b.idle_rss_mib, b.p50_ms, b.p99_ms
    );
    for a in &b.attacks {
        let above = a.peak_rss_mib - b.idle_rss_mib;
        out += &format!(
            "  {:<10} peak RSS {:.1} MiB ({:+.1} over idle; target under 64: {}), new connections of a listed State {}/{}, \
             p50 {:.1} ms, p99 {:.1} ms\n             ({})\n",
            a.attack,
            a.peak_rss_mib,
            above,
            if above < 64.0 { "met" } else { "MISSED" },
            a.dials_ok,
            a.dials,
            a.p50_ms,
            a.p99_ms,
            a.what
        );
    }
    let off = (b.settled_rss_mib - b.control_settled_rss_mib) / b.control_settled_rss_mib.max(1e-9);
    out += &format!(
        "  settled {} s after: RSS {:.1} MiB, against {:.1} MiB for the same node serving the same requests \
         with no attack (idle {:.1} MiB): {:+.0}%; target within 10% a minute after: {}\n",
        b.settle_secs,
        b.settled_rss_mib,
        b.control_settled_rss_mib,
        b.control_idle_rss_mib,
        off * 100.0,
        if off.abs() <= 0.10 {
            "met"
        } else if b.settle_secs < 60 {
            "not met yet (wait longer: --settle-secs 60)"
        } else {
            "MISSED"
        }
    );
    out
}
