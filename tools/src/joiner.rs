//! `veim bench joiner`: a State admitted after the Secretariat has published
//! many directory versions. A node holds no version before it is listed (the
//! Secretariat serves the directory to listed nodes only); when the
//! announcement of its admission reaches it, the new node asks for a
//! snapshot (SPEC 8.2: the versions that hand the Secretariat's key over,
//! then the current one) and checks the current version at once, instead of
//! every version since the first. The States listed before it are listed by
//! nodes that registered and were admitted, then stopped. Measured: from the
//! approval's answer to the new node holding the current version. Next to
//! it, the floor: the same frames as the Secretariat answers with, fetched
//! over two bare swarms of the same transport, each version decoded and
//! checked (the Secretariat's signature, every entry's registration), and
//! made durable once a frame, as a node flushes once a fetch. The size of
//! the whole chain is reported beside them.

use crate::bench::rss_mib;
use crate::floor::{Journal, SwarmPair};
use crate::localnet::{LocalNet, blocking, deployed_periods, wait_for};
use anyhow::Context;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use veim_node::api::{ApproveManyRequest, PendingView};
use veim_node::net::InboundFrame;
use veim_protocol::directory::EntryAction;
use veim_protocol::wire::NetResponse;
use veim_protocol::{SignedDirectoryVersion, StateCode, codec};

#[derive(Debug, Clone, Serialize)]
pub struct JoinerBench {
    /// States listed before the new one, and the versions published before
    /// its admission.
    pub listed: usize,
    pub versions_before: u64,
    /// The version that lists the new State.
    pub current: u64,
    /// Bytes of the current version, encoded, and of the whole chain's frames.
    pub directory_bytes: usize,
    pub all_versions_bytes: usize,
    /// Fetches (frames) it takes: the snapshot, and versions after it if
    /// it did not reach the current one.
    pub fetches: usize,
    /// Fetches the whole chain would take (`MAX_VERSIONS_PER_FETCH` at a
    /// time, within half a frame), as a node fetched before snapshots.
    pub chain_fetches: usize,
    /// Seconds the Secretariat took to publish the versions before, and
    /// then to finish announcing them to the listed nodes (stopped: each
    /// announcement a failed dial).
    pub publish_secs: f64,
    pub drained_secs: f64,
    /// Seconds from the approval's answer to the new node holding the
    /// current version.
    pub join_secs: f64,
    /// The floor's seconds for the same versions.
    pub floor_secs: f64,
    /// `join_secs / floor_secs`.
    pub ratio: f64,
    pub rss_mib: f64,
    pub release_build: bool,
}

/// Suspends and reinstates one State in turn until the Secretariat has
/// published `versions` versions: each change publishes one.
async fn publish_versions(
    publisher: &veim_node::directory::publisher::Publisher,
    state: StateCode,
    versions: u64,
    from: u64,
) -> anyhow::Result<u64> {
    let mut head = from;
    let mut suspended = false;
    while head < versions {
        let action = if suspended { EntryAction::Reinstate } else { EntryAction::Suspend };
        head = publisher.change_status(state, action, "benchmark").await?.body.version;
        suspended = !suspended;
    }
    if suspended {
        head = publisher.change_status(state, EntryAction::Reinstate, "benchmark").await?.body.version;
    }
    Ok(head)
}

/// The `Directory` answers, encoded, that bring a node holding version
/// `after` to version `upto`, as the Secretariat serves them.
fn frames_after(store: &veim_node::storage::Store, mut after: u64, upto: u64) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut frames = Vec::new();
    while after < upto {
        let chunk = veim_node::directory::versions_after(store, after, upto)?;
        let Some(last) = chunk.last() else { break };
        after = last.body.version;
        frames.push(codec::encode("response", &NetResponse::Directory(chunk))?);
    }
    Ok(frames)
}

/// The scenario: `listed` States admitted in one version, then versions
/// published until there are `versions`, then one more State admitted.
pub async fn joiner(versions: u64, listed: usize) -> anyhow::Result<JoinerBench> {
    anyhow::ensure!(listed >= 1, "at least one State must be listed before the new one");
    let all = StateCode::all();
    anyhow::ensure!(listed < all.len(), "at most {} States are listed before the new one", all.len() - 1);
    let (states, joining) = (&all[..listed], all[listed]);
    let dir = tempfile::Builder::new().prefix("veim-bench-").tempdir()?;
    let mut net = LocalNet::tuned(&dir.path().join("net"), deployed_periods).await?;
    for s in states {
        net.add_national(s.as_str(), "bench").await?;
    }
    let sec = net.secretariat.api()?;
    wait_for("every registration", Duration::from_secs(120), || {
        let pending: Vec<PendingView> = sec.get("/v1/directory/pending").ok()?;
        (pending.len() >= listed).then_some(())
    })
    .await?;
    let approvals = net.approvals()?;
    let first: veim_node::api::VersionView =
        blocking(|| sec.post("/v1/directory/approve-many", &ApproveManyRequest { approvals }))?;

    // The listed nodes stop once admitted: the measure is the new node's
    // work, and a few hundred nodes each following a thousand versions
    // would be the machine's load while it is measured. Their entries stay
    // listed; the Secretariat's announcements to them go unanswered.
    for node in &mut net.nationals {
        node.stop().await;
    }
    let secretariat = net.secretariat.handle.as_ref().map(|h| h.node.clone()).context("the Secretariat stopped")?;
    let publisher = secretariat.publisher.clone().context("the Secretariat node has no publisher")?;
    let started = Instant::now();
    let versions_before = publish_versions(&publisher, states[0], versions.max(first.version), first.version).await?;
    let publish_secs = started.elapsed().as_secs_f64();
    // Each version was announced to every listed node, and theirs are
    // stopped: the Secretariat's swarm dials each in turn. A request from the
    // Secretariat's own client to a bare swarm waits behind those dials, so
    // its answer says they are done and the new node's announcement will not
    // wait behind them.
    let drain = Instant::now();
    let (pair, mut inbound) = SwarmPair::start().await?;
    let server = pair.server.clone();
    tokio::spawn(async move {
        while let Some(request) = inbound.recv().await {
            let _ = server.respond(request.channel, Vec::new()).await;
        }
    });
    secretariat.client.request(pair.server_peer, pair.addrs.clone(), Vec::new()).await?;
    drop(pair);
    let drained_secs = drain.elapsed().as_secs_f64();

    let index = net.add_national(joining.as_str(), "bench").await?;
    let joiner = net.nationals[index].handle.as_ref().map(|h| h.node.clone()).context("the new node stopped")?;
    // `admit` waits for the registration and checks its fingerprint; the
    // clock starts at the approval's answer: the version is published.
    let approved = net.admit(joining.as_str()).await?;
    let t0 = Instant::now();
    let limit = Duration::from_secs(120);
    while joiner.directory.view().version() < approved.version {
        anyhow::ensure!(
            t0.elapsed() < limit,
            "the new node does not hold version {} after {limit:?}",
            approved.version
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let join_secs = t0.elapsed().as_secs_f64();

    // The frames the Secretariat answers the new node with: the snapshot,
    // then (if the snapshot did not reach the current version) the versions
    // after it.
    let snapshot = publisher.snapshot()?;
    let after = snapshot.last().map(|v| v.body.version).unwrap_or(0);
    let mut frames = vec![codec::encode("response", &NetResponse::Directory(snapshot))?];
    frames.extend(frames_after(&secretariat.store, after, approved.version)?);
    // The whole chain, as a node that fetches every version since the first gets it.
    let chain = frames_after(&secretariat.store, 0, approved.version)?;
    let current_version = secretariat.store.current_directory()?.context("the Secretariat holds no directory")?;
    let directory_bytes = codec::encode("directory version", &current_version)?.len();
    let all_versions_bytes = chain.iter().map(Vec::len).sum();
    let key = secretariat.keys.identity.public();
    let rss = rss_mib("VmRSS:");
    net.shutdown().await;
    let fetches = frames.len();
    let floor_secs = floor(frames, key, &dir.path().join("floor")).await?;
    Ok(JoinerBench {
        listed,
        versions_before,
        current: approved.version,
        directory_bytes,
        all_versions_bytes,
        fetches,
        chain_fetches: chain.len(),
        publish_secs,
        drained_secs,
        join_secs,
        floor_secs,
        ratio: join_secs / floor_secs.max(1e-9),
        rss_mib: rss,
        release_build: !cfg!(debug_assertions),
    })
}

/// The floor: `frames` fetched one after the other over two bare swarms,
/// each version decoded and checked as a successor of the one before, each
/// frame made durable with one fsync. Returns the seconds it took.
async fn floor(
    frames: Vec<Vec<u8>>,
    mut secretariat: veim_protocol::PublicIdentity,
    dir: &std::path::Path,
) -> anyhow::Result<f64> {
    let (pair, mut inbound) = SwarmPair::start().await?;
    let server = pair.server.clone();
    let count = frames.len();
    let frames = Arc::new(frames);
    let served = frames.clone();
    tokio::spawn(async move {
        while let Some(request) = inbound.recv().await {
            let index = match request.frame {
                InboundFrame::Bytes(b) => b.try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX),
                _ => u64::MAX,
            };
            let answer = usize::try_from(index).ok().and_then(|i| served.get(i)).cloned().unwrap_or_default();
            let _ = server.respond(request.channel, answer).await;
        }
    });
    let journal = Journal::create(dir)?;
    // Connected before the clock starts, as the new node is connected to
    // the Secretariat when it registers.
    pair.request(u64::MAX.to_be_bytes().to_vec()).await?;
    let started = Instant::now();
    let mut previous: Option<SignedDirectoryVersion> = None;
    for i in 0..count {
        let bytes = pair.request((i as u64).to_be_bytes().to_vec()).await?;
        let NetResponse::Directory(versions) = codec::decode::<NetResponse, { codec::MAX_FRAME }>("response", &bytes)?
        else {
            anyhow::bail!("frame {i} is not a directory answer");
        };
        for v in versions {
            v.verify_since(&secretariat, previous.as_ref().map(|p| &p.body))?;
            v.hash()?;
            if let Some(h) = &v.body.handover {
                secretariat = h.next_key;
            }
            previous = Some(v);
        }
        journal.append_durably(&[&bytes]).await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

pub fn render(b: &JoinerBench) -> String {
    let mut out = format!(
        "joiner: a State admitted after {} directory versions ({} States listed){}\n",
        b.versions_before,
        b.listed,
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release" }
    );
    out.push_str(&format!(
        "  current version       {:>10}   {:.1} KiB, fetched in {} frame(s) (the whole chain: {} fetches, {:.1} MiB)\n",
        b.current,
        b.directory_bytes as f64 / 1024.0,
        b.fetches,
        b.chain_fetches,
        b.all_versions_bytes as f64 / 1048576.0
    ));
    out.push_str(&format!(
        "  published in          {:>10.2} s   (announced to the stopped nodes {:.2} s later)\n",
        b.publish_secs, b.drained_secs
    ));
    out.push_str(&format!("  new node current in   {:>10.3} s   (from the approval's answer)\n", b.join_secs));
    out.push_str(&format!(
        "  floor                 {:>10.3} s   (bare swarms, the same frames, each version checked, one fsync a frame)\n",
        b.floor_secs
    ));
    out.push_str(&format!("  veim / floor          {:>10.2}\n", b.ratio));
    out
}
