//! A national node facing a Secretariat that serves bad directory versions:
//! signed by another key, rolled back, forked. The node refuses each, names
//! why, keeps the version it holds, and keeps exchanging with its peers.

use std::sync::{Arc, Mutex};
use veim_node::api::{MessageView, SendRequest, StatusView};
use veim_node::storage::DeliveryState;
use veim_protocol::wire::{NetRequest, NetResponse, RegistrationStatus};
use veim_protocol::{DirectoryVersion, IdentityKeypair, SignedDirectoryVersion};
use veim_tests::{RawPeer, TestNet, blocking, keys_of, peer_of};

/// Replaces the Secretariat with a peer holding its key that answers every
/// directory fetch with `versions`, and has MEX sync against it.
async fn sync_against(net: &TestNet, versions: Vec<SignedDirectoryVersion>) -> anyhow::Result<String> {
    let mut fake = RawPeer::impersonating(&net.secretariat.home)?;
    let mex = net.national("MEX").api()?;
    let outcome: Arc<Mutex<Option<String>>> = Arc::default();
    let slot = outcome.clone();
    fake.serve(
        &net.secretariat.address,
        |request| match request {
            NetRequest::Register(_) => NetResponse::Registration(RegistrationStatus::Admitted { version: 2 }),
            NetRequest::FetchDirectory { .. } => NetResponse::Directory(versions.clone()),
            // Audit checkpoints and the like, sent to this address by the nodes.
            _ => NetResponse::Acknowledged,
        },
        move || async move {
            let sync =
                tokio::task::spawn_blocking(move || match mex.post::<_, StatusView>("/v1/directory/sync", &()) {
                    Ok(s) => format!("accepted: version {}", s.directory_version),
                    Err(e) => e.to_string(),
                });
            let result = sync.await.unwrap_or_else(|e| e.to_string());
            *slot.lock().expect("lock") = Some(result);
        },
    )
    .await?;
    let result = outcome.lock().expect("lock").take().unwrap_or_default();
    Ok(result)
}

fn resigned(version: &DirectoryVersion, key: &IdentityKeypair) -> SignedDirectoryVersion {
    SignedDirectoryVersion::sign(version.clone(), key).expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_directory_versions_are_refused_and_the_node_keeps_working() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    // The real versions 1 and 2, as a listed node fetches them.
    let mut mex_peer = RawPeer::impersonating(&net.national("MEX").home)?;
    let sec_peer = peer_of(&net.secretariat.home);
    let NetResponse::Directory(real) =
        mex_peer.send(sec_peer, &net.secretariat.address, &NetRequest::FetchDirectory { after: 0 }).await?
    else {
        panic!("no directory")
    };
    assert_eq!(real.len(), 2);
    drop(mex_peer);
    let sec_key = keys_of(&net.secretariat.home).identity;
    net.secretariat.stop().await;

    let mut next = real[1].body.clone();
    next.version = 3;
    next.previous_hash = real[1].hash()?;
    next.change = "forged".into();

    let other_key = IdentityKeypair::from_secret_bytes(&[42; 32]);
    let mut forked_2 = real[1].body.clone();
    forked_2.change = "another version 2".into();
    forked_2.entries.retain(|e| e.state().as_str() == "MEX");
    let mut unchained_3 = next.clone();
    unchained_3.previous_hash = [7; 32];

    let mut dropped = next.clone();
    dropped.entries = real[1].body.entries.iter().filter(|e| e.state().as_str() != "SWE").cloned().collect();
    let cases = [
        (
            "dropping SWE without a withdrawal",
            vec![resigned(&dropped, &sec_key)],
            "drops SWE without a signed withdrawal",
        ),
        ("signed by another key", vec![resigned(&next, &other_key)], "not signed by the pinned Secretariat key"),
        ("rolled back", vec![real[0].clone()], "refusing a rollback"),
        ("a second version 2", vec![resigned(&forked_2, &sec_key)], "refusing a fork"),
        ("a version 3 off another chain", vec![resigned(&unchained_3, &sec_key)], "refusing a fork"),
    ];
    for (what, versions, expected) in cases {
        let outcome = sync_against(&net, versions).await?;
        assert!(outcome.contains(expected), "{what}: {outcome}");
        let status: StatusView = blocking(|| net.national("MEX").api()?.get("/v1/status"))?;
        assert_eq!(status.directory_version, 2, "{what}: MEX kept version 2");
    }

    // The Secretariat is down; MEX and SWE still exchange on the directory they hold.
    let request = toml::from_str(include_str!("../../../deploy/examples/request.toml"))?;
    let sent: MessageView =
        blocking(|| net.national("MEX").api()?.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request }))?;
    assert!(matches!(sent.deliveries[0].state, DeliveryState::Delivered { .. }), "{:?}", sent.deliveries);

    // A correctly chained version 3 from the real key is accepted.
    let outcome = sync_against(&net, vec![resigned(&next, &sec_key)]).await?;
    assert_eq!(outcome, "accepted: version 3");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_secretariat_admits_many_states_in_one_version_or_none() -> anyhow::Result<()> {
    use veim_node::api::{ApproveManyRequest, ApproveRequest, PendingView, StatusView, VersionView};
    use veim_tests::{LocalNet, wait_for};
    let dir = tempfile::Builder::new().prefix("veim-test-").tempdir()?;
    let mut net = LocalNet::new(dir.path()).await?;
    let states = ["MEX", "SWE", "DEU"];
    for s in states {
        net.add_national(s, "export control authority").await?;
    }
    let sec = net.secretariat.api()?;
    wait_for("three registrations", std::time::Duration::from_secs(20), || {
        let pending: Vec<PendingView> = sec.get("/v1/directory/pending").ok()?;
        (pending.len() == 3).then_some(())
    })
    .await?;
    let mut approvals = Vec::new();
    for s in states {
        let status: StatusView = blocking(|| net.national(s).api()?.get("/v1/status"))?;
        approvals.push(ApproveRequest { state: s.into(), fingerprint: status.fingerprint });
    }
    let approve = |approvals: Vec<ApproveRequest>| {
        blocking(|| sec.post::<_, VersionView>("/v1/directory/approve-many", &ApproveManyRequest { approvals }))
    };
    let again = |i: usize| ApproveRequest { state: states[i].into(), fingerprint: approvals[i].fingerprint.clone() };

    // One wrong fingerprint, or a State named twice: nothing is published.
    let wrong = vec![again(0), ApproveRequest { state: "SWE".into(), fingerprint: approvals[0].fingerprint.clone() }];
    let e = approve(wrong).expect_err("SWE under MEX's fingerprint");
    assert!(e.to_string().contains("no registration from SWE has the fingerprint"), "{e}");
    let e = approve(vec![again(0), again(1), again(0)]).expect_err("MEX twice");
    assert!(e.to_string().contains("MEX is named twice"), "{e}");
    let e = approve(Vec::new()).expect_err("nobody");
    assert!(e.to_string().contains("no State to approve"), "{e}");
    let status: StatusView = blocking(|| sec.get("/v1/status"))?;
    assert_eq!(status.directory_version, 0, "a refused batch publishes nothing");

    // All three in one version, which every node follows.
    let v = approve((0..3).map(again).collect())?;
    assert_eq!(v.version, 1);
    for s in states {
        assert!(v.change.contains(&format!("admitted {s}")), "{}", v.change);
    }
    net.wait_directory(1).await?;
    let e = approve(vec![again(1)]).expect_err("already in");
    assert!(e.to_string().contains("SWE is already active"), "{e}");
    let sent: MessageView = blocking(|| {
        net.national("DEU").api()?.post(
            "/v1/requests",
            &SendRequest { to: vec!["MEX".into(), "SWE".into()], request: veim_tests::example_request() },
        )
    })?;
    assert!(sent.deliveries.iter().all(|d| matches!(d.state, DeliveryState::Delivered { .. })), "{sent:?}");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_with_fresh_keys_cannot_fill_the_secretariats_register() -> anyhow::Result<()> {
    use veim_node::api::PendingView;
    use veim_node::directory::registry::MAX_WAITING_PER_STATE;
    use veim_protocol::{EncryptionKeypair, Registration, SignedRegistration};
    let net = TestNet::admitted(&["MEX"]).await?;
    let sec_peer = peer_of(&net.secretariat.home);
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let (mut kept, mut refused) = (0, Vec::new());
    // Thirty throwaway identities register for a State not yet admitted.
    for i in 0..30 {
        let identity = IdentityKeypair::generate(&mut rng);
        let registration = Registration {
            state: "DEU".parse()?,
            identity_key: identity.public(),
            encryption_key: EncryptionKeypair::generate(&mut rng).public(),
            addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 20_000 + i)],
            operator: format!("squatter {i}"),
            signed_at: veim_node::clock::now(),
        };
        let signed = SignedRegistration::sign(registration, &identity)?;
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes(identity.secret_bytes())?;
        let mut peer = RawPeer::new(keypair)?;
        match peer.send(sec_peer, &net.secretariat.address, &NetRequest::Register(signed)).await? {
            NetResponse::Registration(RegistrationStatus::Pending) => kept += 1,
            NetResponse::Refused(r) => refused.push(r.detail),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(kept, MAX_WAITING_PER_STATE, "registrations kept for review");
    assert_eq!(refused.len(), 30 - MAX_WAITING_PER_STATE);
    assert!(refused.iter().all(|d| d.contains("wait for the Secretariat's review")), "{refused:?}");
    // The Secretariat's operator is shown what is kept, and no more.
    let pending: Vec<PendingView> = blocking(|| net.secretariat.api()?.get("/v1/directory/pending"))?;
    assert_eq!(pending.iter().filter(|p| p.state.as_str() == "DEU").count(), MAX_WAITING_PER_STATE);
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listed_states_new_operator_name_waits_for_the_secretariats_review() -> anyhow::Result<()> {
    use veim_node::api::{PendingView, StatusView};
    use veim_protocol::{Registration, SignedRegistration};
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex_home = net.national("MEX").home.clone();
    let status: StatusView = blocking(|| net.national("MEX").api()?.get("/v1/status"))?;
    let held = status.directory_version;
    // MEX's own key re-signs its listing under another authority's name.
    let keys = keys_of(&mex_home);
    let registration = Registration {
        state: "MEX".parse()?,
        identity_key: keys.identity.public(),
        encryption_key: keys.encryption.public(),
        addresses: status.listen.clone(),
        operator: "Office of someone else entirely".into(),
        // Later than the listing it replaces, which may be this very second's.
        signed_at: veim_node::clock::now() + 2,
    };
    let signed = SignedRegistration::sign(registration, &keys.identity)?;
    let mut mex_peer = RawPeer::impersonating(&mex_home)?;
    let sec_peer = peer_of(&net.secretariat.home);
    let answer = mex_peer.send(sec_peer, &net.secretariat.address, &NetRequest::Register(signed)).await?;
    assert_eq!(answer, NetResponse::Registration(RegistrationStatus::Pending), "held for review, not published");
    let sec: StatusView = blocking(|| net.secretariat.api()?.get("/v1/status"))?;
    assert_eq!(sec.directory_version, held, "no version published");
    let pending: Vec<PendingView> = blocking(|| net.secretariat.api()?.get("/v1/directory/pending"))?;
    assert!(
        pending.iter().any(|p| p.state.as_str() == "MEX" && p.operator == "Office of someone else entirely"),
        "{pending:?}"
    );
    net.shutdown().await;
    Ok(())
}

/// A node listening on port 0 gets another port at each restart. The
/// Secretariat publishes one move a minute; a second restart within it is
/// admitted but still listed at the old address: the status says so, typed,
/// and it is no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_on_port_0_restarted_twice_is_told_its_move_waits_and_sees_no_error() -> anyhow::Result<()> {
    use std::time::Duration;
    use veim_node::api::StandingState;
    use veim_tests::wait_for;
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let home = net.national("MEX").home.clone();
    let mut config = veim_node::home::config::Config::load(&home)?;
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.save(&home)?;
    let version = |mex: &veim_tools::AdminClient| -> Option<(u64, bool)> {
        let s: StatusView = mex.post("/v1/directory/sync", &()).ok()?;
        let active = s.registration_standing.as_ref().is_some_and(|r| r.state == StandingState::Active);
        Some((s.directory_version, active))
    };
    let before = version(&net.national("MEX").api()?).expect("MEX syncs").0;
    // The first restart's move is published (the directory's next version)...
    net.national_mut("MEX").stop().await;
    net.national_mut("MEX").start().await?;
    let mex = net.national("MEX").api()?;
    wait_for("MEX's first move to be published", Duration::from_secs(20), || {
        version(&mex).filter(|(v, active)| *v > before && *active)
    })
    .await?;
    // ...and the second, within the minute, is held.
    net.national_mut("MEX").stop().await;
    net.national_mut("MEX").start().await?;
    let mex = net.national("MEX").api()?;
    let last = Mutex::new(String::new());
    let status = wait_for("MEX to sync after its restarts", Duration::from_secs(20), || {
        let answer = mex.post::<_, StatusView>("/v1/directory/sync", &());
        *last.lock().expect("not poisoned") = format!("{answer:?}");
        answer.ok().filter(|s| s.registration_standing.as_ref().is_some_and(|r| r.state == StandingState::Admitted))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}; the last answer: {}", last.lock().expect("not poisoned")))?;
    assert!(status.last_error.is_none(), "admitted is no error: {status:?}");
    let standing = status.registration_standing.expect("standing");
    let reason = standing.reason.expect("why the listing differs");
    assert!(reason.contains("the directory lists this node at") && reason.contains("fixed port"), "{reason}");
    net.shutdown().await;
    Ok(())
}
