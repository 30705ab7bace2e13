//! What a node acknowledged survives: a receipt is signed only after the flush
//! that holds the envelope, so killing the receiver (SIGKILL, no shutdown)
//! right after a receipt loses nothing, and a restarted node still holds
//! every message it acknowledged.

use std::collections::BTreeSet;
use std::time::Duration;
use veim_node::api::{MessageView, SendRequest, StatusView};
use veim_node::storage::DeliveryState;
use veim_tests::{NodeProcess, TestNet, blocking, wait_for};

const NODE: &str = env!("CARGO_BIN_EXE_veim-test-node");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_acknowledged_before_a_kill_are_there_after_restart() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    // SWE continues as its own process, which the test can kill.
    let (swe_home, process) = net.as_process("SWE", NODE).await?;

    let mex = net.national("MEX").api()?;
    let mut acknowledged = BTreeSet::new();
    for i in 0..5 {
        let mut request: veim_protocol::RequestForm =
            toml::from_str(include_str!("../../../deploy/examples/request.toml"))?;
        request.summary = format!("request {i}: {}", request.summary);
        let sent: MessageView =
            blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request }))?;
        assert!(matches!(sent.deliveries[0].state, DeliveryState::Delivered { .. }), "{:?}", sent.deliveries);
        acknowledged.insert(sent.message_id);
    }
    // No clean shutdown: whatever was not flushed is lost now.
    process.kill();

    let process = NodeProcess::started(NODE, &swe_home).await?;
    let inbox: Vec<MessageView> = blocking(|| veim_tools::AdminClient::for_home(&swe_home)?.get("/v1/inbox"))?;
    let held: BTreeSet<String> = inbox.into_iter().map(|m| m.message_id).collect();
    assert_eq!(held, acknowledged, "every acknowledged message survived the kill");
    process.kill();

    // A clean stop and start in-process keeps the sender's records too.
    net.national_mut("MEX").stop().await;
    net.national_mut("MEX").start().await?;
    let outbox: Vec<MessageView> = blocking(|| net.national("MEX").api()?.get("/v1/outbox"))?;
    assert_eq!(outbox.len(), 5);
    assert!(outbox.iter().all(|m| matches!(m.deliveries[0].state, DeliveryState::Delivered { .. })));
    net.shutdown().await;
    Ok(())
}

/// The largest file under `dir`, in bytes.
fn largest_file(dir: &std::path::Path) -> u64 {
    let mut largest = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let len = if path.is_dir() { largest_file(&path) } else { entry.metadata().map(|m| m.len()).unwrap_or(0) };
        largest = largest.max(len);
    }
    largest
}

/// A receiving node whose disk fills: it refuses what it cannot store, by
/// name, keeps serving, says so in its status, and once there is room again
/// reopens its store by itself and receives every message the sender
/// accepted, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_by_name_and_loses_nothing_accepted() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    net.national_mut("SWE").stop().await;
    let swe_home = net.national("SWE").home.clone();
    let limit = largest_file(&swe_home) + 2 * 1024 * 1024;
    let swe = NodeProcess::started_with_file_limit(NODE, &swe_home, limit).await?;

    // Requests of about 60 KiB each, until SWE can store no more.
    let mex = net.national("MEX").api()?;
    let filler: String =
        (0..60 * 1024u32).map(|i| char::from(b'a' + ((i.wrapping_mul(2_654_435_761) >> 27) % 26) as u8)).collect();
    let send = |summary: String, filler: Option<String>| -> anyhow::Result<MessageView> {
        let mut request: veim_protocol::RequestForm =
            toml::from_str(include_str!("../../../deploy/examples/request.toml"))?;
        request.summary = summary;
        request.additional_information = filler;
        Ok(mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request })?)
    };
    let mut accepted = BTreeSet::new();
    let mut refusal = None;
    for i in 0..2000 {
        let sent = blocking(|| send(format!("request {i}"), Some(filler.clone())))?;
        accepted.insert(sent.message_id.clone());
        if let DeliveryState::Attempting { last_error, .. } = &sent.deliveries[0].state {
            refusal = Some(last_error.clone());
            break;
        }
    }
    let refusal = refusal.expect("SWE's disk filled within 2,000 requests");
    println!("after {} requests: {refusal}", accepted.len());
    assert!(refusal.contains("StorageFailure") && refusal.contains("disk space"), "{refusal}");
    // SWE still serves, and says what is wrong.
    let status: StatusView = blocking(|| veim_tools::AdminClient::for_home(&swe_home)?.get("/v1/status"))?;
    assert!(status.store_failure.as_deref().is_some_and(|f| f.contains("File too large")), "{status:?}");

    // Room again (the limit raised on the running process): SWE reopens its
    // store by itself, and every accepted message arrives, once.
    let raised = std::process::Command::new("prlimit")
        .args(["--pid", &swe.child.id().to_string(), "--fsize=unlimited:"])
        .status()?;
    assert!(raised.success(), "prlimit");
    let after = blocking(|| send("after the disk was freed".into(), None))?;
    accepted.insert(after.message_id);
    let home = swe_home.clone();
    let expected = accepted.clone();
    let held = wait_for("SWE to hold every accepted message", Duration::from_secs(60), || {
        let inbox: Vec<MessageView> = veim_tools::AdminClient::for_home(&home).ok()?.get("/v1/inbox").ok()?;
        let held: Vec<String> = inbox.into_iter().map(|m| m.message_id).collect();
        (held.iter().cloned().collect::<BTreeSet<_>>() == expected).then_some(held)
    })
    .await?;
    assert_eq!(held.len(), accepted.len(), "a message shown twice");
    let status: StatusView = blocking(|| veim_tools::AdminClient::for_home(&swe_home)?.get("/v1/status"))?;
    assert!(status.store_failure.is_none(), "reopened: {status:?}");
    swe.kill();
    net.shutdown().await;
    Ok(())
}
