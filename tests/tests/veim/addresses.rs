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
