//! Attacks on a national node's memory and connection slots by peers that
//! need not be in the directory: large frames held unfinished, sockets held
//! in their handshake, crowds of throwaway identities. Each is refused by a
//! bound while the States in the directory are still served.

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use std::time::Duration;
use veim_node::clock::now;
use veim_node::home::config::Config;
use veim_protocol::wire::{Inventory, NetRequest, NetResponse, RefusalCode};
use veim_protocol::{ExchangeId, MessageId, codec};
use veim_tests::{Holder, RawPeer, TestNet, frame, keys_of, peer_of, seal_request, unfinished_frame};

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A reconciliation listing `ids` message ids: a request a listed State
/// legitimately sends, here of 16 bytes an id.
fn large_reconcile(ids: usize) -> anyhow::Result<Vec<u8>> {
    let ids = (0..ids).map(|_| MessageId::random(&mut rng())).collect();
    let inventory = Inventory { exchanges: vec![(ExchangeId::random(&mut rng()), ids)], returned: Vec::new() };
    Ok(codec::encode("request", &NetRequest::Reconcile(Box::new(inventory)))?)
}

fn refusal(answer: &NetResponse) -> Option<(RefusalCode, &str)> {
    match answer {
        NetResponse::Refused(r) => Some((r.code, r.detail.as_str())),
        _ => None,
    }
}

/// A stranger's frame over the strangers' limit is answered from its
/// length alone: here only its first KiB is ever sent, and the answer comes
/// anyway (a node reading the body would wait for the rest, or fail). The
/// same request from a listed State, read whole, is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_strangers_large_request_is_refused_unread_and_a_listed_states_is_served() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["SWE", "ITA"]).await?;
    net.national_mut("ITA").stop().await;
    let swe = peer_of(&net.national("SWE").home);
    let addr = net.national("SWE").address.clone();
    let request = large_reconcile(10_000)?;
    assert!(request.len() > 64 * 1024, "larger than a stranger may send: {}", request.len());

    let mut stranger = Holder::stranger(swe, &addr)?;
    stranger.send(unfinished_frame(request.len() as u32, 1024), false);
    let answer = stranger.answer(Duration::from_secs(20)).await?;
    let answer = answer.map_err(|e| anyhow::anyhow!("no answer to the stranger's frame: {e}"))?;
    let (code, detail) = refusal(&answer).ok_or_else(|| anyhow::anyhow!("served: {answer:?}"))?;
    assert_eq!(code, RefusalCode::NotInDirectory, "{detail}");
    assert!(detail.contains("65536"), "the refusal names the limit: {detail}");

    let mut ita = RawPeer::impersonating(&net.national("ITA").home)?;
    let answer = ita.send_raw(swe, &addr, frame(&request)).await?;
    let answer: NetResponse = codec::decode::<_, { codec::MAX_FRAME }>("response", &answer)?;
    assert!(matches!(answer, NetResponse::Reconciled { .. }), "the listed State is served: {answer:?}");
    net.shutdown().await;
    Ok(())
}

/// Sends `frame` (not held) from `holder` until the node answers `Busy`
/// with a detail containing `naming` (a probe that comes before the bound
/// is reached is read, and fails when its stream ends).
async fn until_busy(holder: &mut Holder, frame: &[u8], naming: &str) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while tokio::time::Instant::now() < deadline {
        holder.send(frame.to_vec(), false);
        match holder.answer(Duration::from_secs(10)).await? {
            Ok(NetResponse::Refused(r)) if r.code == RefusalCode::Busy && r.detail.contains(naming) => {
                return Ok(r.detail);
            }
            other => seen.push(format!("{other:?}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = &seen[seen.len().saturating_sub(3)..];
    anyhow::bail!("never answered busy naming {naming:?} in {} tries; the last answers: {last:?}", seen.len())
}

/// Strangers holding frames unfinished (each a length and one KiB of body,
/// then silence) fill the share of bytes strangers may have held and the
/// streams one stranger may have open: past them they are answered busy,
/// unread, and a listed State's large request is still read and served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_holding_unfinished_frames_are_put_off_and_a_listed_state_is_served() -> anyhow::Result<()> {
    fn tune(c: &mut Config) {
        c.strangers_held_frames_kib = 512;
    }
    let mut net = TestNet::admitted_with(&["SWE", "ITA"], tune).await?;
    net.national_mut("ITA").stop().await;
    let swe = peer_of(&net.national("SWE").home);
    let addr = net.national("SWE").address.clone();
    let held = unfinished_frame(64 * 1024, 1024);

    // Two strangers, four frames of 64 KiB each: the strangers' 512 KiB.
    let mut a = Holder::stranger(swe, &addr)?;
    let b = Holder::stranger(swe, &addr)?;
    for _ in 0..4 {
        a.send(held.clone(), true);
        b.send(held.clone(), true);
    }
    // A fifth frame of the first: one stranger has at most four open.
    let detail = until_busy(&mut a, &held, "requests open at once").await?;
    println!("a fifth frame of one stranger: {detail}");
    // A third stranger: the strangers' share is held.
    let mut c = Holder::stranger(swe, &addr)?;
    let detail = until_busy(&mut c, &held, "524288 bytes").await?;
    println!("a third stranger: {detail}");

    // A listed State's large request is read and served meanwhile.
    let mut ita = RawPeer::impersonating(&net.national("ITA").home)?;
    let answer = ita.send_raw(swe, &addr, frame(&large_reconcile(10_000)?)).await?;
    let answer: NetResponse = codec::decode::<_, { codec::MAX_FRAME }>("response", &answer)?;
    assert!(matches!(answer, NetResponse::Reconciled { .. }), "the listed State is served: {answer:?}");
    drop((a, b, c));
    net.shutdown().await;
    Ok(())
}

/// How a stranger's attempt to hold a connection ended first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Established,
    Refused,
}

/// Dials `peer` with a fresh identity and keeps the connection while the
/// returned task runs; the first outcome is sent on `outcome`.
fn hold_connection(
    peer: libp2p::PeerId,
    addr: &str,
    outcome: tokio::sync::mpsc::UnboundedSender<Attempt>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut stranger = RawPeer::stranger()?;
    let addr: libp2p::Multiaddr = addr.parse()?;
    stranger.swarm.dial(DialOpts::peer_id(peer).addresses(vec![addr]).build())?;
    Ok(tokio::spawn(async move {
        let mut told = false;
        loop {
            let first = match stranger.swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => Some(Attempt::Established),
                SwarmEvent::OutgoingConnectionError { .. } | SwarmEvent::ConnectionClosed { .. } => {
                    Some(Attempt::Refused)
                }
                _ => None,
            };
            if let Some(first) = first.filter(|_| !told) {
                told = true;
                let _ = outcome.send(first);
            }
        }
    }))
}

/// Sockets from one host held in their handshake, then throwaway
/// identities holding connections (more than the node's connections in
/// all): a listed State that connects afresh is admitted and its message
/// delivered. Before, 64 idle sockets took every handshake slot for 10 s
/// and 512 identities every connection slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sockets_and_strangers_holding_slots_do_not_keep_a_listed_state_out() -> anyhow::Result<()> {
    fn tune(c: &mut Config) {
        // The per-address bounds a deployed node has (a local network
        // lifts them: all its nodes share one address).
        c.max_connections = 24;
        c.max_stranger_connections = 12;
        c.max_connections_per_address = Config::default().max_connections_per_address;
    }
    let mut net = TestNet::admitted_with(&["SWE", "ITA"], tune).await?;
    net.national_mut("ITA").stop().await;
    let swe = peer_of(&net.national("SWE").home);
    let addr = net.national("SWE").address.clone();
    let port: u16 = addr.rsplit('/').next().and_then(|p| p.parse().ok()).ok_or_else(|| anyhow::anyhow!("{addr}"))?;

    // Throwaway identities from this host, more than the node's slots.
    let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let mut strangers = Vec::new();
    for _ in 0..30 {
        strangers.push(hold_connection(swe, &addr, tx.clone())?);
    }
    let mut first = Vec::new();
    while first.len() < strangers.len() {
        let outcome = tokio::time::timeout(Duration::from_secs(30), outcomes.recv()).await?;
        first.extend(outcome);
    }
    println!(
        "strangers: {} established first, {} refused",
        first.iter().filter(|a| **a == Attempt::Established).count(),
        first.iter().filter(|a| **a == Attempt::Refused).count()
    );
    // Sockets from another host (127.0.0.2) that never say a word.
    let mut idle = Vec::new();
    for _ in 0..80 {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind("127.0.0.2:0".parse()?)?;
        idle.push(socket.connect(([127, 0, 0, 1], port).into()).await?);
    }

    // ITA connects afresh and delivers a request.
    let mut ita = RawPeer::impersonating(&net.national("ITA").home)?;
    let ita_keys = keys_of(&net.national("ITA").home);
    let envelope = seal_request(&net, &ita_keys.identity, "ITA", &["SWE"], now(), ExchangeId::for_request);
    let answer =
        tokio::time::timeout(Duration::from_secs(20), ita.send(swe, &addr, &NetRequest::Deliver(Box::new(envelope))))
            .await
            .map_err(|_| anyhow::anyhow!("ITA's delivery had no answer within 20 s"))?
            .map_err(|e| anyhow::anyhow!("ITA could not reach SWE: {e}"))?;
    assert!(matches!(answer, NetResponse::Receipt(_)), "ITA's request delivered: {answer:?}");
    for s in strangers {
        s.abort();
    }
    drop(idle);
    net.shutdown().await;
    Ok(())
}
