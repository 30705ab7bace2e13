//! Addresses as operators write them: the Secretariat known by a DNS name,
//! and a Secretariat key that is not the one the node at the address holds.

use std::time::Duration;
use veim_node::api::{MessageView, SendRequest, StatusView};
use veim_node::home::config::Config;
use veim_node::storage::DeliveryState;
use veim_protocol::keys::PublicIdentity;
use veim_tests::{LocalNet, TestNet, blocking, example_request, wait_for};
use veim_tools::AdminClient;

const NODE: &str = env!("CARGO_BIN_EXE_veim-test-node");

/// Every national node is given the Secretariat as `/dns4/localhost/tcp/PORT`.
fn secretariat_by_name(c: &mut Config) {
    if let Some(pin) = &mut c.secretariat {
        pin.address = pin.address.replace("/ip4/127.0.0.1/", "/dns4/localhost/");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_knows_the_secretariat_by_name_syncs_and_exchanges() -> anyhow::Result<()> {
    // Registration, admission and the directory all go through the name.
    let mut net = TestNet::admitted_with(&["MEX", "SWE"], secretariat_by_name).await?;
    let (home, _swe) = net.as_process("SWE", NODE).await?;
    let pin = Config::load(&home)?.secretariat.expect("a national node's pin");
    assert!(pin.address.starts_with("/dns4/localhost/tcp/"), "{}", pin.address);

    // The node as its own process syncs through the name...
    let swe = AdminClient::for_home(&home)?;
    let status: StatusView = blocking(|| swe.post("/v1/directory/sync", &()))?;
    assert_eq!(status.last_error, None);
    assert_eq!(status.directory_entries, 2);
    assert!(status.registration.is_some_and(|r| r.starts_with("active")), "SWE is listed");

    // ...and exchanges with the other State.
    let sent: MessageView =
        blocking(|| swe.post("/v1/requests", &SendRequest { to: vec!["MEX".into()], request: example_request() }))?;
    let mex = net.national("MEX").api()?;
    wait_for("the request to reach MEX", Duration::from_secs(20), || {
        let inbox: Vec<MessageView> = mex.get("/v1/inbox").ok()?;
        inbox.iter().any(|m| m.message_id == sent.message_id).then_some(())
    })
    .await?;
    let outbox: Vec<MessageView> = blocking(|| swe.get("/v1/outbox"))?;
    let copy = outbox.iter().find(|m| m.message_id == sent.message_id).expect("the sent request");
    assert!(copy.deliveries.iter().all(|d| matches!(d.state, DeliveryState::Delivered { .. })), "{copy:?}");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_secretariat_key_is_named_beside_the_key_presented() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("veim-test-").tempdir()?;
    let mut net = LocalNet::new(dir.path()).await?;
    let real = PublicIdentity::from_hex(&net.secretariat_key)?;
    let wrong = veim_protocol::IdentityKeypair::generate(&mut rand_core::UnwrapErr(getrandom::SysRng)).public();
    // The operator was given another key for the Secretariat.
    net.secretariat_key = wrong.to_string();
    net.add_national("MEX", "SRE").await?;
    let mut net = TestNet { net, dir };
    let (home, _mex) = net.as_process("MEX", NODE).await?;

    let mex = AdminClient::for_home(&home)?;
    let both = |text: &str| text.contains(&wrong.fingerprint()) && text.contains(&real.fingerprint());
    let failed = blocking(|| mex.post::<_, StatusView>("/v1/directory/sync", &())).expect_err("the wrong key");
    let message = failed.to_string();
    assert!(both(&message), "the expected and the presented fingerprints: {message}");
    assert!(message.contains("[secretariat] public_key"), "what to check: {message}");
    // `veim status` shows it as the last error.
    let status: StatusView = blocking(|| mex.get("/v1/status"))?;
    let last = status.last_error.unwrap_or_default();
    assert!(both(&last), "{last}");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_at_a_listed_address_with_another_key_is_named_in_the_delivery_state() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let listed = veim_tests::keys_of(&net.national("SWE").home).identity.public();
    let address = net.national("SWE").address.clone();
    net.national_mut("SWE").stop().await;
    // Another node takes SWE's address (a reused IP, a hijacked name).
    let secret = [7u8; 32];
    let other = veim_protocol::IdentityKeypair::from_secret_bytes(&secret).public();
    let mut squatter = veim_tests::RawPeer::new(libp2p::identity::Keypair::ed25519_from_bytes(secret)?)?;
    let refuse = |_| {
        veim_protocol::wire::NetResponse::Refused(veim_protocol::wire::Refusal {
            code: veim_protocol::wire::RefusalCode::Busy,
            detail: "not SWE".into(),
        })
    };
    let mex = net.national("MEX").api()?;
    // The squatter listens first; MEX sends once it does.
    let last_error = squatter
        .serve_during(&address, refuse, async move {
            let sent: MessageView = blocking(|| {
                mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
            })?;
            wait_for("MEX's attempt to reach SWE to fail", Duration::from_secs(20), || {
                let outbox: Vec<MessageView> = mex.get("/v1/outbox").ok()?;
                let copy = outbox.into_iter().find(|m| m.message_id == sent.message_id)?;
                copy.deliveries.into_iter().find_map(|d| match d.state {
                    DeliveryState::Attempting { last_error, .. } => Some(last_error),
                    _ => None,
                })
            })
            .await
        })
        .await??;
    assert!(
        last_error.contains(&listed.fingerprint()) && last_error.contains(&other.fingerprint()),
        "the key listed for SWE and the key presented: {last_error}"
    );
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listed_node_that_finds_another_key_at_the_secretariats_address_names_both() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX"]).await?;
    let real = veim_tests::keys_of(&net.secretariat.home).identity.public();
    let address = net.secretariat.address.clone();
    net.secretariat.stop().await;
    // Another node takes the Secretariat's address and serves an empty
    // directory: nothing a listed node could tell from "up to date".
    let secret = [9u8; 32];
    let other = veim_protocol::IdentityKeypair::from_secret_bytes(&secret).public();
    let mut impostor = veim_tests::RawPeer::new(libp2p::identity::Keypair::ed25519_from_bytes(secret)?)?;
    let serve_nothing = |_| veim_protocol::wire::NetResponse::Directory(Vec::new());
    let mex = net.national("MEX").api()?;
    let answer = impostor
        .serve_during(&address, serve_nothing, async move {
            blocking(|| mex.post::<_, StatusView>("/v1/directory/sync", &()))
        })
        .await?;
    let message = answer.expect_err("the impostor is not the Secretariat").to_string();
    assert!(
        message.contains(&real.fingerprint()) && message.contains(&other.fingerprint()),
        "the Secretariat's fingerprint and the one presented: {message}"
    );
    net.shutdown().await;
    Ok(())
}
