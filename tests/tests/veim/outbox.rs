//! The outbox: a message accepted from the operator is durable at once, and
//! tried again (across restarts of either node) until a valid receipt comes;
//! each recipient gets it exactly once and an exchange's messages in order.

use std::time::Duration;
use veim_node::api::{ExchangeView, MessageView, NoteRequest, SendRequest};
use veim_node::audit::LogFiles;
use veim_node::store::DeliveryState;
use veim_protocol::audit::Action;
use veim_tests::{TestNet, blocking, wait_for};

fn example_request() -> veim_protocol::RequestForm {
    toml::from_str(include_str!("../../../deploy/examples/request.toml")).expect("example request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_to_a_node_that_is_down_arrive_once_and_in_order_after_it_starts() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    net.national_mut("SWE").stop().await;
    let mex = net.national("MEX").api()?;

    // Accepted while SWE is down: the request is tried and waits; the notes
    // of the same exchange queue behind it.
    let request: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    assert!(
        matches!(request.deliveries[0].state, DeliveryState::Attempting { attempts: 1, .. }),
        "{:?}",
        request.deliveries
    );
    let exchange = request.exchange_id.clone();
    let mut notes = Vec::new();
    for i in 1..=2 {
        let note: MessageView = blocking(|| {
            mex.post(
                &format!("/v1/exchanges/{exchange}/note"),
                &NoteRequest { text: format!("note {i}"), handling: None },
            )
        })?;
        assert_eq!(note.deliveries[0].state, DeliveryState::Pending, "queued behind the request");
        notes.push(note);
    }
    // A message given up by the operator is never delivered.
    let dropped: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    let cancelled: MessageView =
        blocking(|| mex.post(&format!("/v1/outbox/{}/cancel", &dropped.message_id[..8]), &()))?;
    assert_eq!(cancelled.deliveries[0].state, DeliveryState::Failed { reason: "cancelled by the operator".into() });

    // The sender restarts in the meantime: its outbox is in its store.
    net.national_mut("MEX").stop().await;
    net.national_mut("MEX").start().await?;
    net.national_mut("SWE").start().await?;

    let mex = net.national("MEX").api()?;
    let outbox: Vec<MessageView> = wait_for("MEX's outbox to be delivered", Duration::from_secs(30), || {
        let outbox: Vec<MessageView> = mex.get("/v1/outbox").ok()?;
        outbox
            .iter()
            .filter(|m| m.message_id != dropped.message_id)
            .all(|m| matches!(m.deliveries[0].state, DeliveryState::Delivered { .. }))
            .then_some(outbox)
    })
    .await?;
    assert_eq!(outbox.len(), 4);

    // At SWE: each message once, in the order MEX sent them; the cancelled one never.
    let swe = net.national("SWE").api()?;
    let view: ExchangeView = blocking(|| swe.get(&format!("/v1/exchanges/{exchange}")))?;
    let ids: Vec<&str> = view.messages.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, [request.message_id.as_str(), notes[0].message_id.as_str(), notes[1].message_id.as_str()]);
    let inbox: Vec<MessageView> = blocking(|| swe.get("/v1/inbox"))?;
    assert_eq!(inbox.len(), 3);
    assert!(inbox.iter().all(|m| m.message_id != dropped.message_id));
    let log = LogFiles::read_home(&net.national("SWE").home)?;
    for id in &ids {
        let received = log
            .entries
            .iter()
            .filter(|e| e.event.action == Action::MessageReceived && e.event.message.is_some_and(|m| m.to_hex() == *id))
            .count();
        assert_eq!(received, 1, "{id} received once");
    }
    net.shutdown().await;
    Ok(())
}
