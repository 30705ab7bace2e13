//! The kill-9 harness: two node processes exchange a stream of messages while
//! one or the other is killed with SIGKILL at random moments and restarted.
//! Every message whose send the operator saw acknowledged must reach the
//! recipient exactly once, and every store must open again. An attachment
//! transfer killed the same way resumes and completes.
//!
//! CI runs a few kills; the full run is
//! `VEIM_KILLS=50 cargo test -p veim-tests kill_9 -- --nocapture`.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use veim_node::api::{AttachRequest, MessageView, SaveRequest, SendRequest, StageRequest};
use veim_node::attachments::AttachmentView;
use veim_node::audit::LogFiles;
use veim_node::storage::DeliveryState;
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
    anyhow::ensure!(!acknowledged.is_empty(), "no request was acknowledged between the kills: nothing was tested");

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
    veim_tools::audit::verify(&log, &Default::default())?;
    for (i, home) in homes.iter().enumerate() {
        net.nationals[i].home = home.clone();
        net.nationals[i].start().await?;
    }
    net.shutdown().await;
    Ok(())
}

/// An attachment fetched while the recipient and the sender are killed in
/// turn (SIGKILL, then restarted): it completes, byte for byte, and no restart
/// fetches it again from the start: the recipient's file never shrinks by
/// more than the chunk a kill may cut short.
///
/// The full run is
/// `VEIM_ATTACHMENT_KILLS=20 cargo test -p veim-tests kill_9_during -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_an_attachment_transfer_resumes_it_and_completes_it() -> anyhow::Result<()> {
    let kills: usize = std::env::var("VEIM_ATTACHMENT_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(4);
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let (mex_home, mex) = net.as_process("MEX", NODE).await?;
    let (swe_home, swe) = net.as_process("SWE", NODE).await?;
    let homes = [mex_home.clone(), swe_home.clone()];
    let mut processes = [Some(mex), Some(swe)];

    // A 32 MiB manifest (512 chunks of 64 KiB on the local network), sent by
    // SWE in answer to MEX's request.
    let file = net.dir.path().join("manifest.bin");
    let data: Vec<u8> = (0..32 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8).collect();
    std::fs::write(&file, &data)?;
    let expected: [u8; 32] = Sha256::digest(&data).into();
    drop(data);
    let (request_home, stage_home) = (mex_home.clone(), swe_home.clone());
    let (staged, attached) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let request: veim_protocol::RequestForm =
            toml::from_str(include_str!("../../../deploy/examples/request.toml"))?;
        let sent: MessageView = AdminClient::for_home(&request_home)?
            .post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request })?;
        let swe = AdminClient::for_home(&stage_home)?;
        let staged: AttachmentView = swe.post("/v1/attachments", &StageRequest { path: file.display().to_string() })?;
        let attached: MessageView = swe.post(
            &format!("/v1/exchanges/{}/attach", sent.exchange_id),
            &AttachRequest { text: "Manifest".into(), attachments: vec![staged.id.to_hex()], handling: None },
        )?;
        Ok((staged, attached))
    })
    .await??;
    assert!(matches!(attached.deliveries[0].state, DeliveryState::Delivered { .. }));
    let sealed_len = staged.chunks * (64 * 1024 + 16);

    // Watch MEX's sealed file throughout: its largest drop below the longest
    // it has been is what a restart took back.
    let sealed = mex_home.join("attachments").join(format!("{}.sealed", staged.id));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (sealed, watching) = (sealed.clone(), watching.clone());
        std::thread::spawn(move || {
            let (mut longest, mut largest_drop) = (0u64, 0u64);
            while watching.load(Ordering::Relaxed) {
                let len = std::fs::metadata(&sealed).map(|m| m.len()).unwrap_or(0);
                longest = longest.max(len);
                largest_drop = largest_drop.max(longest - len);
                std::thread::sleep(Duration::from_millis(2));
            }
            (longest, largest_drop)
        })
    };

    // Kill the recipient and the sender in turn while the transfer runs:
    // kill k comes once MEX holds k/(kills+1) of the file, a moment later.
    let started = Instant::now();
    let mut during = 0;
    for k in 0..kills {
        let share = sealed_len * (k as u64 + 1) / (kills as u64 + 1);
        let waiting = Instant::now();
        let len = loop {
            let len = std::fs::metadata(&sealed).map(|m| m.len()).unwrap_or(0);
            if len >= share {
                break len;
            }
            anyhow::ensure!(waiting.elapsed() < Duration::from_secs(60), "the transfer stalled at {len} bytes");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        tokio::time::sleep(Duration::from_millis(random(100))).await;
        if len >= sealed_len {
            break;
        }
        during += 1;
        let victim = k % 2;
        if let Some(p) = processes[victim].take() {
            p.kill();
        }
        processes[victim] = Some(NodeProcess::started(NODE, &homes[victim]).await?);
    }
    let done = wait_for("the attachment to complete", Duration::from_secs(120), || {
        let list: Vec<AttachmentView> = AdminClient::for_home(&mex_home).ok()?.get("/v1/attachments").ok()?;
        list.into_iter().find(|a| a.id == staged.id && a.complete)
    })
    .await?;
    watching.store(false, Ordering::Relaxed);
    let (longest, largest_drop) = watcher.join().map_err(|_| anyhow::anyhow!("watcher"))?;
    println!(
        "{during} kills during the transfer, completed in {:?}: {} chunk requests for {} chunks; \
         largest drop of the file {largest_drop} bytes (longest {longest})",
        started.elapsed(),
        done.fetched,
        done.chunks
    );
    assert_eq!(during, kills, "every kill came while the transfer ran");
    assert!(done.fetched >= done.chunks, "each chunk took a request: {} for {}", done.fetched, done.chunks);
    assert!(largest_drop <= 64 * 1024 + 16, "a restart took back {largest_drop} bytes of chunks already held");
    let out = net.dir.path().join("received.bin");
    let save_home = mex_home.clone();
    let out_path = out.display().to_string();
    let id = staged.id.to_hex();
    let _: AttachmentView = tokio::task::spawn_blocking(move || {
        AdminClient::for_home(&save_home)?
            .post(&format!("/v1/attachments/{id}/save"), &SaveRequest { out: out_path, force: false })
    })
    .await??;
    let received: [u8; 32] = Sha256::digest(std::fs::read(&out)?).into();
    assert_eq!(received, expected, "the file MEX saved is the file SWE sent");

    // Both stores open again, and both logs verify.
    for p in processes.into_iter().flatten() {
        p.kill();
    }
    for home in &homes {
        veim_tools::audit::verify(&LogFiles::read_home(home)?, &Default::default())?;
    }
    for (i, home) in homes.iter().enumerate() {
        net.nationals[i].home = home.clone();
        net.nationals[i].start().await?;
    }
    net.shutdown().await;
    Ok(())
}
