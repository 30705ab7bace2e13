//! What a node acknowledged survives: a receipt is signed only after the flush
//! that holds the envelope, so killing the receiver (SIGKILL, no shutdown)
//! right after a receipt loses nothing, and a restarted node still holds
//! every message it acknowledged.

use std::collections::BTreeSet;
use veim_node::api::{MessageView, SendRequest};
use veim_node::store::DeliveryState;
use veim_tests::{NodeProcess, TestNet, blocking};

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
