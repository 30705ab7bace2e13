//! The directory's life: rejection reported to the applicant, suspension and
//! reinstatement, and national nodes that keep exchanging while the
//! Secretariat's node is down, then catch up when it returns.

use std::time::Duration;
use veim_node::api::{
    ApproveRequest, MessageView, PendingView, RejectRequest, SendRequest, StatusChangeRequest, StatusView, VersionView,
};
use veim_node::clock::now;
use veim_node::storage::DeliveryState;
use veim_protocol::wire::{NetRequest, NetResponse, RefusalCode};
use veim_protocol::{EntryAction, ExchangeId, RequestForm};
use veim_tests::{LocalNet, RawPeer, TestNet, blocking, keys_of, peer_of, seal_request, wait_for};

fn request() -> RequestForm {
    toml::from_str(include_str!("../../../deploy/examples/request.toml")).expect("example request")
}

fn send(net: &LocalNet, from: &str, to: &str) -> Result<MessageView, veim_tools::ClientError> {
    blocking(|| {
        net.national(from).api()?.post("/v1/requests", &SendRequest { to: vec![to.into()], request: request() })
    })
}

fn delivered(m: &MessageView) -> bool {
    m.deliveries.iter().all(|d| matches!(d.state, DeliveryState::Delivered { .. }))
}

/// Waits, without asking for a sync, until `state`'s node holds `version`:
/// the Secretariat's announcement (or the node's own poll) brings it.
async fn holds(net: &LocalNet, state: &str, version: u64) -> anyhow::Result<()> {
    let api = net.national(state).api()?;
    wait_for(&format!("{state} to hold directory version {version}"), Duration::from_secs(20), || {
        let s: StatusView = api.get("/v1/status").ok()?;
        (s.directory_version >= version).then_some(())
    })
    .await
}

fn change(net: &LocalNet, state: &str, action: EntryAction) -> anyhow::Result<VersionView> {
    let request = StatusChangeRequest { state: state.into(), action, reason: "test of the directory's life".into() };
    Ok(blocking(|| net.secretariat.api()?.post("/v1/directory/status", &request))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_suspended_state_is_refused_by_its_peers_until_reinstated() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut net = LocalNet::new(dir.path()).await?;
    // Polls far apart: new versions reach the nodes by the Secretariat's announcement.
    net.poll_secs = 3600;
    for s in ["MEX", "SWE"] {
        net.add_national(s, "authority").await?;
    }
    net.admit("MEX").await?;
    let v = net.admit("SWE").await?;
    holds(&net, "MEX", v.version).await?;
    holds(&net, "SWE", v.version).await?;

    let suspended = change(&net, "SWE", EntryAction::Suspend)?;
    assert!(suspended.change.contains("suspended SWE"), "{}", suspended.change);
    holds(&net, "MEX", suspended.version).await?;
    holds(&net, "SWE", suspended.version).await?;

    // MEX's node refuses to send to SWE, and SWE's node refuses to send at all.
    let to_swe = send(&net, "MEX", "SWE").expect_err("sending to a suspended State");
    assert!(to_swe.to_string().contains("SWE is suspended"), "{to_swe}");
    let from_swe = send(&net, "SWE", "MEX").expect_err("a suspended State sending");
    assert!(from_swe.to_string().contains("cannot send until the Secretariat reinstates it"), "{from_swe}");
    // And MEX refuses what SWE's key delivers anyway.
    let swe_keys = keys_of(&net.national("SWE").home);
    let envelope = seal_request(&net, &swe_keys.identity, "SWE", &["MEX"], now(), ExchangeId::for_request);
    let mut raw = RawPeer::impersonating(&net.national("SWE").home)?;
    let mex_peer = peer_of(&net.national("MEX").home);
    let answer = raw.send(mex_peer, &net.national("MEX").address, &NetRequest::Deliver(Box::new(envelope))).await?;
    let NetResponse::Refused(refusal) = answer else { panic!("a suspended State's message was accepted: {answer:?}") };
    assert_eq!(refusal.code, RefusalCode::NotInDirectory);
    assert!(refusal.detail.contains("SWE is suspended"), "{}", refusal.detail);
    // The raw peer holds SWE's identity: it must not stand in for SWE's node later.
    drop(raw);

    // Forbidden transitions are refused with the reason.
    let twice = change(&net, "SWE", EntryAction::Suspend).expect_err("suspending twice");
    assert!(twice.to_string().contains("already suspended"), "{twice}");

    let reinstated = change(&net, "SWE", EntryAction::Reinstate)?;
    holds(&net, "MEX", reinstated.version).await?;
    holds(&net, "SWE", reinstated.version).await?;
    assert!(delivered(&send(&net, "SWE", "MEX")?), "SWE's messages accepted again");
    let to_swe = send(&net, "MEX", "SWE")?;
    assert!(delivered(&to_swe), "messages to SWE accepted again: {:?}", to_swe.deliveries);

    // A withdrawal keeps the entry, withdrawn.
    let withdrawn = change(&net, "SWE", EntryAction::Withdraw)?;
    holds(&net, "MEX", withdrawn.version).await?;
    let listing: veim_node::api::DirectoryListing = blocking(|| net.national("MEX").api()?.get("/v1/directory"))?;
    let swe = listing.entries.iter().find(|e| e.state.as_str() == "SWE").expect("SWE stays listed");
    assert_eq!(swe.status, veim_protocol::EntryStatus::Withdrawn);
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_registration_is_reported_to_the_applicant_with_its_reason() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut net = LocalNet::new(dir.path()).await?;
    net.add_national("MEX", "authority").await?;
    let sec = net.secretariat.api()?;
    let pending = wait_for("MEX's registration", Duration::from_secs(20), || {
        let p: Vec<PendingView> = sec.get("/v1/directory/pending").ok()?;
        p.into_iter().find(|p| p.state.as_str() == "MEX")
    })
    .await?;
    let no_reason = RejectRequest { state: "MEX".into(), fingerprint: pending.fingerprint.clone(), reason: " ".into() };
    let err = blocking(|| sec.post::<_, serde_json::Value>("/v1/directory/reject", &no_reason)).expect_err("no reason");
    assert!(err.to_string().contains("needs a reason"), "{err}");
    let reason = "the fingerprint read by telephone did not match";
    let reject = RejectRequest { state: "MEX".into(), fingerprint: pending.fingerprint.clone(), reason: reason.into() };
    let _: serde_json::Value = blocking(|| sec.post("/v1/directory/reject", &reject))?;

    let mex = net.national("MEX").api()?;
    let err = blocking(|| mex.post::<_, StatusView>("/v1/directory/sync", &())).expect_err("a rejected node's sync");
    assert!(err.to_string().contains(reason), "{err}");
    let status: StatusView = blocking(|| mex.get("/v1/status"))?;
    assert_eq!(status.registration.as_deref(), Some(format!("rejected by the Secretariat: {reason}").as_str()));
    assert!(status.last_error.unwrap_or_default().contains("veim init"), "the operator is told what to do");
    let still: Vec<PendingView> = blocking(|| sec.get("/v1/directory/pending"))?;
    assert!(still.is_empty(), "a rejected registration is no longer pending: {still:?}");
    // The operator can still change its mind.
    let approve = ApproveRequest { state: "MEX".into(), fingerprint: pending.fingerprint };
    let v: VersionView = blocking(|| sec.post("/v1/directory/approve", &approve))?;
    assert_eq!(v.version, 1);
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn national_nodes_exchange_while_the_secretariat_is_down_and_catch_up_after() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    net.secretariat.stop().await;
    assert!(delivered(&send(&net, "MEX", "SWE")?), "MEX reaches SWE on the directory it holds");
    assert!(delivered(&send(&net, "SWE", "MEX")?));
    let mex = net.national("MEX").api()?;
    let err =
        blocking(|| mex.post::<_, StatusView>("/v1/directory/sync", &())).expect_err("sync with the Secretariat down");
    assert!(err.to_string().contains("unreachable"), "{err}");
    let status: StatusView = blocking(|| mex.get("/v1/status"))?;
    assert!(status.last_error.unwrap_or_default().contains("unreachable"), "veim status shows why");
    assert_eq!(status.directory_version, 2);

    net.secretariat.start().await?;
    net.add_national("DEU", "authority").await?;
    let v = net.admit("DEU").await?;
    assert_eq!(v.version, 3);
    holds(&net, "MEX", 3).await?;
    holds(&net, "DEU", 3).await?;
    assert!(delivered(&send(&net, "MEX", "DEU")?), "MEX reaches the newly admitted DEU");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_key_rotation_peers_accept_only_the_new_key() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex_home = net.national("MEX").home.clone();
    let old_keys = keys_of(&mex_home);
    let old_fingerprint = old_keys.identity.public().fingerprint();
    let rotation: veim_node::api::RotationView = blocking(|| net.national("MEX").api()?.post("/v1/keys/rotate", &()))?;
    assert_ne!(rotation.fingerprint, old_fingerprint);

    // The node moves to the new keys once the directory carries them, and restarts.
    wait_for("MEX to ask for a restart with its new keys", Duration::from_secs(20), || {
        net.national("MEX").handle.as_ref().is_some_and(|h| h.node.restart.asked()).then_some(())
    })
    .await?;
    assert!(net.national_mut("MEX").follow_restart().await?);
    let status: StatusView = blocking(|| net.national("MEX").api()?.get("/v1/status"))?;
    assert_eq!(status.fingerprint, rotation.fingerprint);
    let version = status.directory_version;
    holds(&net, "SWE", version).await?;
    let listing: veim_node::api::DirectoryListing = blocking(|| net.national("SWE").api()?.get("/v1/directory"))?;
    let mex = listing.entries.iter().find(|e| e.state.as_str() == "MEX").expect("MEX listed");
    assert_eq!(mex.fingerprint, rotation.fingerprint, "SWE lists MEX's new key");

    // Both directions work with the new keys...
    assert!(delivered(&send(&net, "MEX", "SWE")?));
    assert!(delivered(&send(&net, "SWE", "MEX")?));

    // ...and the old key is refused.
    let envelope = seal_request(&net, &old_keys.identity, "MEX", &["SWE"], now(), ExchangeId::for_request);
    let mut old = RawPeer::new(old_keys.libp2p_keypair())?;
    let swe_peer = peer_of(&net.national("SWE").home);
    let answer = old.send(swe_peer, &net.national("SWE").address, &NetRequest::Deliver(Box::new(envelope))).await?;
    let NetResponse::Refused(refusal) = answer else { panic!("the old key was accepted: {answer:?}") };
    assert_eq!(refusal.code, RefusalCode::NotInDirectory, "{}", refusal.detail);
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_configured_with_the_old_key_follow_a_secretariat_key_rotation() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    // SWE is away during the handover; MEX is there.
    net.national_mut("SWE").stop().await;
    let before: StatusView = blocking(|| net.secretariat.api()?.get("/v1/status"))?;
    let rotation: veim_node::api::RotationView = blocking(|| net.secretariat.api()?.post("/v1/keys/rotate", &()))?;
    assert_ne!(rotation.fingerprint, before.fingerprint);
    assert!(net.secretariat.follow_restart().await?, "the Secretariat restarts on its new key");
    let after: StatusView = blocking(|| net.secretariat.api()?.get("/v1/status"))?;
    assert_eq!(after.fingerprint, rotation.fingerprint);

    // A version signed by the new key: MEX, configured with the old key, accepts it.
    let suspended = change(&net, "SWE", EntryAction::Suspend)?;
    let reinstated = change(&net, "SWE", EntryAction::Reinstate)?;
    net.wait_directory(reinstated.version).await?;
    let mex: StatusView = blocking(|| net.national("MEX").api()?.get("/v1/status"))?;
    assert_eq!(mex.directory_version, reinstated.version, "{:?}", mex.last_error);
    assert_eq!(
        mex.secretariat_fingerprint.as_deref(),
        Some(rotation.fingerprint.as_str()),
        "MEX now trusts the new key"
    );
    assert!(suspended.version < reinstated.version);

    // SWE comes back, still configured with the old key, and catches up.
    net.national_mut("SWE").start().await?;
    net.wait_directory(reinstated.version).await?;
    let swe: StatusView = blocking(|| net.national("SWE").api()?.get("/v1/status"))?;
    assert_eq!(
        swe.secretariat_fingerprint.as_deref(),
        Some(rotation.fingerprint.as_str()),
        "SWE followed the handover"
    );
    assert!(delivered(&send(&net, "MEX", "SWE")?));
    assert!(delivered(&send(&net, "SWE", "MEX")?));
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_state_admitted_after_a_secretariat_handover_takes_a_snapshot_under_the_new_key_and_follows_the_chain()
-> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX"]).await?;
    let rotation: veim_node::api::RotationView = blocking(|| net.secretariat.api()?.post("/v1/keys/rotate", &()))?;
    assert!(net.secretariat.follow_restart().await?, "the Secretariat restarts on its new key");
    change(&net, "MEX", EntryAction::Suspend)?;
    change(&net, "MEX", EntryAction::Reinstate)?;

    // SWE's node is configured with the Secretariat's new key, as a State
    // joining now is given: the versions before the handover were signed
    // with a key it never held, and the snapshot passes over them.
    net.secretariat_key = keys_of(&net.secretariat.home).identity.public().to_string();
    net.add_national("SWE", "SWE export control authority").await?;
    let admitted = net.admit("SWE").await?;
    holds(&net, "SWE", admitted.version).await?;
    let swe = net.national("SWE").handle.as_ref().map(|h| h.node.clone()).expect("SWE runs");
    assert!(admitted.version >= 5, "versions: MEX, the handover, suspended, reinstated, SWE: {}", admitted.version);
    assert!(swe.store.directory_version(admitted.version)?.is_some(), "SWE holds the current version");
    assert!(swe.store.directory_version(1)?.is_none(), "and not the versions before its snapshot");
    let status: StatusView = blocking(|| net.national("SWE").api()?.get("/v1/status"))?;
    assert_eq!(
        status.secretariat_fingerprint.as_deref(),
        Some(rotation.fingerprint.as_str()),
        "SWE follows the Secretariat's new key"
    );
    let accepted = swe.store.audit_entries(0)?;
    assert!(
        accepted.iter().any(|e| e.event.detail.contains("a snapshot: the versions before it were not fetched")),
        "SWE's audit log says it started from a snapshot"
    );

    // The next version follows the chain from the snapshot.
    let next = change(&net, "MEX", EntryAction::Suspend)?;
    holds(&net, "SWE", next.version).await?;
    assert!(swe.store.directory_version(next.version)?.is_some());
    change(&net, "MEX", EntryAction::Reinstate)?;
    let version = change(&net, "SWE", EntryAction::Suspend)?.version;
    let version = version.max(change(&net, "SWE", EntryAction::Reinstate)?.version);
    net.wait_directory(version).await?;
    assert!(delivered(&send(&net, "MEX", "SWE")?));
    assert!(delivered(&send(&net, "SWE", "MEX")?));
    drop(swe);
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_moves_is_published_at_its_new_address_without_an_operator() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let swe = net.national_mut("SWE");
    swe.stop().await;
    let old_address = swe.address.clone();
    let mut config = veim_node::Config::load(&swe.home)?;
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.save(&swe.home)?;
    swe.start().await?;
    let new_address =
        swe.handle.as_ref().and_then(|h| h.node.listen.first().map(|a| a.to_string())).expect("listening");
    assert_ne!(new_address, old_address);

    // SWE re-registers at start; the Secretariat publishes the move itself.
    net.wait_directory(3).await?;
    let listing: veim_node::api::DirectoryListing = blocking(|| net.national("MEX").api()?.get("/v1/directory"))?;
    let entry = listing.entries.iter().find(|e| e.state.as_str() == "SWE").expect("SWE listed");
    assert_eq!(entry.addresses, [new_address]);
    let log: Vec<VersionView> = blocking(|| net.secretariat.api()?.get("/v1/directory/history"))?;
    assert!(log.last().is_some_and(|v| v.change.contains("SWE moved to")), "{log:?}");
    assert!(delivered(&send(&net, "MEX", "SWE")?), "MEX reaches SWE at its new address");
    net.shutdown().await;
    Ok(())
}
