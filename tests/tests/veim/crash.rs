//! The kill-9 harness: two node processes exchange a stream of messages while
//! one or the other is killed with SIGKILL at random moments and restarted.
//! Every message whose send the operator saw acknowledged must reach the
//! recipient exactly once, and every store must open again.
//!
//! CI runs a few kills; the full run is
//! `VEIM_KILLS=50 cargo test -p veim-tests kill_9 -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use veim_node::api::{MessageView, SendRequest};
use veim_node::audit::LogFiles;
use veim_node::store::DeliveryState;
use veim_protocol::audit::Action;
use veim_tests::{NodeProcess, TestNet, wait_for};
use veim_tools::AdminClient;

const NODE: &str = env!("CARGO_BIN_EXE_veim-test-node");

fn random(below: u64) -> u64 {
    u64::from(rand_core::Rng::next_u32(&mut rand_core::UnwrapErr(getrandom::SysRng))) % below
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_at_random_moments_loses_and_duplicates_no_acknowledged_message() -> anyhow::Result<()> {
    let kills: usize = std::env::var("VEIM_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(6);
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let homes = [net.national("MEX").home.clone(), net.national("SWE").home.clone()];
    net.national_mut("MEX").stop().await;
    net.national_mut("SWE").stop().await;
    let mut processes = Vec::new();
    for home in &homes {
        processes.push(Some(NodeProcess::started(NODE, home).await?));
    }

    // The operator's side: requests sent in a loop; an answer is an acknowledgement.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        let home = homes[0].clone();
        std::thread::spawn(move || {
            let mut acknowledged = BTreeSet::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let mut request: veim_protocol::RequestForm =
                    toml::from_str(include_str!("../../../deploy/examples/request.toml")).expect("example");
                request.summary = format!("request {i}");
                let sent = AdminClient::for_home(&home).and_then(|api| {
                    api.post::<_, MessageView>("/v1/requests", &SendRequest { to: vec!["SWE".into()], request })
                });
                match sent {
                    Ok(m) => {
                        acknowledged.insert(m.message_id);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            acknowledged
        })
    };

    let started = Instant::now();
    let mut killed = [0usize; 2];
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(80 + random(320))).await;
        let victim = random(2) as usize;
        if let Some(p) = processes[victim].take() {
            p.kill();
        }
        killed[victim] += 1;
        processes[victim] = Some(NodeProcess::started(NODE, &homes[victim]).await?);
    }
    stop.store(true, Ordering::Relaxed);
    let acknowledged =
        tokio::task::spawn_blocking(move || sender.join()).await?.map_err(|_| anyhow::anyhow!("sender"))?;

    // Whatever was acknowledged is delivered, once.
    let mex_home = homes[0].clone();
    wait_for("MEX's outbox to be delivered", Duration::from_secs(60), || {
        let outbox: Vec<MessageView> = AdminClient::for_home(&mex_home).ok()?.get("/v1/outbox").ok()?;
        outbox.iter().all(|m| matches!(m.deliveries[0].state, DeliveryState::Delivered { .. })).then_some(())
    })
    .await?;
    let inbox: Vec<MessageView> = AdminClient::for_home(&homes[1])?.get("/v1/inbox")?;
    let held: BTreeSet<String> = inbox.iter().map(|m| m.message_id.clone()).collect();
    let lost: Vec<&String> = acknowledged.difference(&held).collect();
    println!(
        "{kills} kills in {:?} (MEX {}, SWE {}): {} acknowledged, {} received, {} lost",
        started.elapsed(),
        killed[0],
        killed[1],
        acknowledged.len(),
        held.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged and never delivered: {lost:?}");
    assert_eq!(inbox.len(), held.len(), "a message shown twice");
    for p in processes.into_iter().flatten() {
        p.kill();
    }
    // Both stores open again, and SWE's log records each message received once.
    let log = LogFiles::read_home(&homes[1])?;
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    for e in log.entries.iter().filter(|e| e.event.action == Action::MessageReceived) {
        if let Some(m) = e.event.message {
            *received.entry(m.to_hex()).or_default() += 1;
        }
    }
    let twice: Vec<&String> = received.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id).collect();
    assert!(twice.is_empty(), "stored twice: {twice:?}");
    veim_tools::audit::verify(&log, &[])?;
    for (i, home) in homes.iter().enumerate() {
        net.nationals[i].home = home.clone();
        net.nationals[i].start().await?;
    }
    net.shutdown().await;
    Ok(())
}
