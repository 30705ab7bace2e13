//! The outbox: a message accepted from the operator is durable at once, and
//! tried again (across restarts of either node) until a valid receipt comes;
//! each recipient gets it exactly once and an exchange's messages in order.

use std::time::Duration;
use veim_node::api::{ExchangeView, MessageView, NoteRequest, SendRequest};
use veim_node::audit::LogFiles;
use veim_node::storage::DeliveryState;
use veim_protocol::audit::Action;
use veim_tests::{TestNet, blocking, example_request, wait_for};

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
    let cancelled: MessageView = blocking(|| {
        mex.post(&format!("/v1/outbox/{}/cancel", &dropped.message_id[..veim_protocol::MessageId::SHORT_HEX]), &())
    })?;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooding_peer_is_slowed_while_other_peers_are_served() -> anyhow::Result<()> {
    use veim_protocol::codec;
    use veim_protocol::wire::NetRequest;
    let mut net = TestNet::admitted(&["MEX", "SWE", "ITA"]).await?;
    // ITA's key, in a raw peer that sends SWE far more than its share.
    net.national_mut("ITA").stop().await;
    let mut flooder = veim_tests::RawPeer::impersonating(&net.national("ITA").home)?;
    let swe_peer = veim_tests::peer_of(&net.national("SWE").home);
    let swe_addr = net.national("SWE").address.clone();
    let request = veim_tests::frame(&codec::encode("request", &NetRequest::DirectoryUpdated { version: 1 })?);

    let mex = net.national("MEX").api()?;
    let honest = tokio::task::spawn_blocking(move || {
        let mut latencies = Vec::new();
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let sent: MessageView =
                mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })?;
            latencies.push(started.elapsed());
            anyhow::ensure!(
                matches!(sent.deliveries[0].state, DeliveryState::Delivered { .. }),
                "MEX's request was not served during the flood: {:?}",
                sent.deliveries
            );
        }
        Ok(latencies)
    });
    let started = std::time::Instant::now();
    let flood = flooder.flood(swe_peer, &swe_addr, &request, 1500).await?;
    let took = started.elapsed();
    let latencies = honest.await??;
    println!("flood: {flood:?} in {took:?}; MEX's requests during it took {latencies:?}");
    // Slowed (answered busy), then cut off (its connection closed): at most
    // its burst (100) and its rate (50/s) over the flood's time are handled.
    // (However slow this machine, at least a quarter of the flood must be refused.)
    let allowed = (100.0 + 50.0 * took.as_secs_f64().min(20.0)).ceil() as usize + 10;
    assert!(flood.busy > 0, "the flooder was told to slow down: {flood:?}");
    assert!(flood.answered <= allowed, "at most its burst and rate ({allowed}) were served: {flood:?}");
    assert!(flood.busy + flood.failed >= 1500 - allowed.min(1500), "the rest was slowed or cut off: {flood:?}");
    // SWE still serves after the flood.
    let after: MessageView = blocking(|| {
        net.national("MEX")
            .api()?
            .post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
    })?;
    assert!(matches!(after.deliveries[0].state, DeliveryState::Delivered { .. }));
    net.shutdown().await;
    Ok(())
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_restored_from_an_older_backup_gets_back_what_it_lacks() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let swe_home = net.national("SWE").home.clone();
    let backup = net.dir.path().join("swe-store-backup");
    net.national_mut("SWE").stop().await;
    copy_dir(&swe_home.join("store"), &backup)?;
    net.national_mut("SWE").start().await?;

    let mex = net.national("MEX").api()?;
    let sent: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    assert!(matches!(sent.deliveries[0].state, DeliveryState::Delivered { .. }));

    // SWE's store goes back to before the message; nobody re-sends by hand.
    net.national_mut("SWE").stop().await;
    std::fs::remove_dir_all(swe_home.join("store"))?;
    copy_dir(&backup, &swe_home.join("store"))?;
    net.national_mut("SWE").start().await?;
    let swe = net.national("SWE").api()?;
    let inbox: Vec<MessageView> = wait_for("SWE to get the message it lost back", Duration::from_secs(30), || {
        let inbox: Vec<MessageView> = swe.get("/v1/inbox").ok()?;
        inbox.iter().any(|m| m.message_id == sent.message_id).then_some(inbox)
    })
    .await?;
    assert_eq!(inbox.len(), 1);
    // SWE stores the message before its receipt reaches MEX: MEX's copy is
    // delivered once that receipt is recorded.
    wait_for("MEX to record SWE's new receipt", Duration::from_secs(30), || {
        let outbox: Vec<MessageView> = mex.get("/v1/outbox").ok()?;
        matches!(outbox[0].deliveries[0].state, DeliveryState::Delivered { .. }).then_some(())
    })
    .await?;
    net.shutdown().await;
    Ok(())
}

/// A recipient whose address takes the connection and never answers: the
/// operator's send does not wait for the dial to time out (an hour here),
/// it answers that the copy is queued, and the outbox delivers it once the
/// recipient is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_to_a_recipient_that_does_not_answer_returns_queued_without_waiting_for_the_dial() -> anyhow::Result<()>
{
    let mut net = TestNet::admitted_with(&["MEX", "SWE"], |c| {
        c.handshake_timeout_secs = 3600;
        c.retry_base_secs = 1;
        c.retry_max_secs = 1;
    })
    .await?;
    net.national_mut("SWE").stop().await;
    // SWE's address now answers nothing: connections are taken and held.
    let address: libp2p::Multiaddr = net.national("SWE").address.parse()?;
    let port = address
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("a TCP port");
    let silent = std::net::TcpListener::bind(("127.0.0.1", port))?;
    silent.set_nonblocking(true)?;
    let mex = net.national("MEX").api()?;
    let send = tokio::task::spawn_blocking(move || {
        mex.post::<_, MessageView>("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
    });
    // A bound far below the hour of the dial timeout: a send that waited
    // for the dial fails here instead of holding the test for an hour.
    let sent = tokio::time::timeout(Duration::from_secs(300), send).await??.map_err(anyhow::Error::from)?;
    assert_eq!(sent.deliveries[0].state, DeliveryState::Pending, "the answer says queued: {:?}", sent.deliveries);
    let mut held = Vec::new();
    while let Ok((connection, _)) = silent.accept() {
        held.push(connection);
    }
    assert!(!held.is_empty(), "the send did dial SWE's address, which never answered");

    // SWE back on its address: the queued copy is delivered by the outbox.
    drop(held);
    drop(silent);
    net.national_mut("SWE").start().await?;
    let mex = net.national("MEX").api()?;
    let id = sent.message_id.clone();
    wait_for("the queued request to be delivered", Duration::from_secs(60), || {
        let outbox: Vec<MessageView> = mex.get("/v1/outbox").ok()?;
        let m = outbox.into_iter().find(|m| m.message_id == id)?;
        matches!(m.deliveries[0].state, DeliveryState::Delivered { .. }).then_some(())
    })
    .await?;
    net.shutdown().await;
    Ok(())
}
