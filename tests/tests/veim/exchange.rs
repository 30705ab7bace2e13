//! Registration, directory propagation and a full exchange between States.

use std::time::Duration;
use veim_node::api::{ExchangeView, MessageView, PendingView, RespondRequest, SendRequest, StatusView};
use veim_node::storage::{DeliveryState, ExchangeStatus};
use veim_protocol::{Body, Envelope, EnvelopeError, ResponseForm, codec};
use veim_tests::{LocalNet, TestNet, blocking, example_request, keys_of, wait_for};

fn example_response() -> ResponseForm {
    toml::from_str(include_str!("../../../deploy/examples/response.toml")).expect("example response")
}

fn delivered_to(m: &MessageView) -> Vec<String> {
    m.deliveries
        .iter()
        .filter(|d| matches!(d.state, DeliveryState::Delivered { .. }))
        .map(|d| d.recipient.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registration_approval_and_directory_propagation() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut net = LocalNet::new(dir.path()).await?;
    net.add_national("MEX", "SRE").await?;
    net.add_national("SWE", "ISP").await?;

    // Before approval: the registration waits at the Secretariat, and the
    // national node holds no directory.
    let sec = net.secretariat.api()?;
    let pending = wait_for("both registrations", Duration::from_secs(20), || {
        let p: Vec<PendingView> = sec.get("/v1/directory/pending").ok()?;
        (p.len() == 2).then_some(p)
    })
    .await?;
    let mex_status: StatusView = blocking(|| net.national("MEX").api()?.get("/v1/status"))?;
    assert_eq!(mex_status.directory_version, 0);
    let mex_pending = pending.iter().find(|p| p.state.as_str() == "MEX").expect("MEX pending");
    assert_eq!(mex_pending.fingerprint, mex_status.fingerprint, "the Secretariat sees the node's own key");

    // A national node cannot send before it is admitted.
    let refused = blocking(|| {
        net.national("MEX")
            .api()?
            .post::<_, MessageView>("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
    });
    let err = refused.expect_err("sending before admission must fail");
    assert!(err.to_string().contains("not yet listed"), "{err}");

    // Someone else registers as MEX with another key: it is kept apart, and
    // only the fingerprint the Secretariat checked decides which is admitted.
    let mut impostor = veim_tests::RawPeer::new(libp2p::identity::Keypair::ed25519_from_bytes([9u8; 32])?)?;
    let impostor_key = veim_protocol::IdentityKeypair::from_secret_bytes(&[9u8; 32]);
    let registration = veim_protocol::Registration {
        state: "MEX".parse()?,
        identity_key: impostor_key.public(),
        encryption_key: [3; 32],
        addresses: vec!["/ip4/127.0.0.1/tcp/9".into()],
        operator: "not Mexico".into(),
        signed_at: veim_node::clock::now() + 600,
    };
    let signed = veim_protocol::SignedRegistration::sign(registration, &impostor_key)?;
    let sec_peer = veim_tests::peer_of(&net.secretariat.home);
    let answer =
        impostor.send(sec_peer, &net.secretariat.address, &veim_protocol::wire::NetRequest::Register(signed)).await?;
    assert_eq!(
        answer,
        veim_protocol::wire::NetResponse::Registration(veim_protocol::wire::RegistrationStatus::Pending)
    );
    let pending: Vec<PendingView> = blocking(|| sec.get("/v1/directory/pending"))?;
    assert_eq!(pending.iter().filter(|p| p.state.as_str() == "MEX").count(), 2, "both MEX registrations kept");
    let wrong = blocking(|| {
        sec.post::<_, serde_json::Value>(
            "/v1/directory/approve",
            &veim_node::api::ApproveRequest { state: "MEX".into(), fingerprint: "0000 1111".into() },
        )
    });
    let wrong = wrong.expect_err("unknown fingerprint").to_string();
    assert!(wrong.contains("no registration from MEX has the fingerprint 0000 1111"), "{wrong}");
    assert!(wrong.contains(&mex_status.fingerprint), "the error lists what was received: {wrong}");
    net.admit("MEX").await?;
    let v2 = net.admit("SWE").await?;
    assert_eq!(v2.version, 2);
    net.wait_directory(2).await?;
    for state in ["MEX", "SWE"] {
        let listing: veim_node::api::DirectoryListing = blocking(|| net.national(state).api()?.get("/v1/directory"))?;
        assert_eq!(listing.version, 2);
        let states: Vec<String> = listing.entries.iter().map(|e| e.state.to_string()).collect();
        assert_eq!(states, ["MEX", "SWE"]);
        let sec_listing: veim_node::api::DirectoryListing = blocking(|| sec.get("/v1/directory"))?;
        assert_eq!(listing.hash, sec_listing.hash, "{state} holds the Secretariat's exact version");
    }
    let status: StatusView = blocking(|| net.national("SWE").api()?.get("/v1/status"))?;
    assert_eq!(status.registration.as_deref(), Some("active in directory version 2"));
    // Approving twice is refused with a reason.
    let swe_fingerprint = status.fingerprint.clone();
    let again = blocking(|| {
        sec.post::<_, serde_json::Value>(
            "/v1/directory/approve",
            &veim_node::api::ApproveRequest { state: "SWE".into(), fingerprint: swe_fingerprint },
        )
    });
    assert!(again.expect_err("second approval").to_string().contains("already active"));
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_to_two_states_is_read_by_both_and_by_no_one_else_and_answered() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE", "DEU", "FRA"]).await?;
    let mex = net.national("MEX").api()?;
    let sent: MessageView = blocking(|| {
        mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into(), "DEU".into()], request: example_request() })
    })?;
    assert_eq!(delivered_to(&sent), ["SWE", "DEU"]);
    let expected = example_request().parse().expect("valid");

    for state in ["SWE", "DEU"] {
        let inbox: Vec<MessageView> = blocking(|| net.national(state).api()?.get("/v1/inbox"))?;
        assert_eq!(inbox.len(), 1, "{state} inbox");
        assert_eq!(inbox[0].body, Some(Body::Request(expected.clone())), "{state} decrypted the request");
        assert_eq!(inbox[0].envelope, sent.envelope, "{state} holds the envelope as signed");
    }
    let fra_inbox: Vec<MessageView> = blocking(|| net.national("FRA").api()?.get("/v1/inbox"))?;
    assert!(fra_inbox.is_empty(), "FRA received nothing");

    // The envelope itself: FRA's key opens nothing, not even posing as SWE.
    let envelope: Envelope = codec::decode::<_, { codec::MAX_FRAME }>("envelope", &hex::decode(&sent.envelope)?)?;
    let fra = keys_of(&net.national("FRA").home);
    let fra_code = "FRA".parse()?;
    assert!(matches!(envelope.open(fra_code, &fra.encryption), Err(EnvelopeError::NotARecipient { .. })));
    assert_eq!(envelope.open("SWE".parse()?, &fra.encryption), Err(EnvelopeError::KeyUnwrap("SWE".parse()?)));
    let swe = keys_of(&net.national("SWE").home);
    assert_eq!(envelope.open("SWE".parse()?, &swe.encryption)?, Body::Request(expected));

    // The response travels back to the originator only.
    let exchange_id = sent.exchange_id.clone();
    let swe_api = net.national("SWE").api()?;
    let answer: MessageView = blocking(|| {
        swe_api.post(&format!("/v1/exchanges/{exchange_id}/respond"), &RespondRequest { response: example_response() })
    })?;
    assert_eq!(delivered_to(&answer), ["MEX"]);
    let view: ExchangeView = blocking(|| mex.get(&format!("/v1/exchanges/{exchange_id}")))?;
    assert_eq!(view.exchange.status, ExchangeStatus::Answered);
    assert_eq!(view.messages.len(), 2);
    let sent_response = example_response().parse().expect("valid");
    let Some(Body::Response(received)) = &view.messages[1].body else { panic!("no response body") };
    assert_eq!((&received.summary, &received.items), (&sent_response.summary, &sent_response.items));
    assert_eq!(received.salts.len(), received.items.len(), "every item is salted");
    let deu_view: ExchangeView = blocking(|| net.national("DEU").api()?.get(&format!("/v1/exchanges/{exchange_id}")))?;
    assert_eq!(deu_view.messages.len(), 1, "DEU does not see SWE's response to MEX");

    // The originator cannot answer its own request; a closed exchange takes nothing more.
    let own = blocking(|| {
        mex.post::<_, MessageView>(
            &format!("/v1/exchanges/{exchange_id}/respond"),
            &RespondRequest { response: example_response() },
        )
    });
    assert!(
        own.expect_err("originator response")
            .to_string()
            .contains("only the States a request was sent to respond to it")
    );
    let closed: MessageView = blocking(|| {
        mex.post(
            &format!("/v1/exchanges/{exchange_id}/close"),
            &veim_node::api::CloseRequest { reason: "done".into(), outcome: None },
        )
    })?;
    assert_eq!(delivered_to(&closed), ["SWE", "DEU"]);
    let late = blocking(|| {
        swe_api.post::<_, MessageView>(
            &format!("/v1/exchanges/{exchange_id}/note"),
            &veim_node::api::NoteRequest { text: "late".into(), handling: None },
        )
    });
    assert!(late.expect_err("note on closed exchange").to_string().contains("closed"));
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_request_is_refused_with_every_problem_before_anything_is_sent() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex = net.national("MEX").api()?;
    let mut form = example_request();
    form.provisions.clear();
    form.stage = "sometime".into();
    form.states_involved = vec!["XXX".into()];
    let to = vec!["SWE".into(), "ATL".into()];
    let err = blocking(|| mex.post::<_, MessageView>("/v1/requests", &SendRequest { to, request: form }))
        .expect_err("invalid");
    let veim_tools::ClientError::Api(api) = &err else { panic!("unexpected error {err}") };
    let fields: Vec<&str> = api.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["to[1]", "states_involved[0]", "stage", "provisions"], "{err}");
    assert_eq!(err.exit_code(), 4);
    let outbox: Vec<MessageView> = blocking(|| mex.get("/v1/outbox"))?;
    assert!(outbox.is_empty(), "nothing was stored or sent");
    let inbox: Vec<MessageView> = blocking(|| net.national("SWE").api()?.get("/v1/inbox"))?;
    assert!(inbox.is_empty());
    net.shutdown().await;
    Ok(())
}

/// A co-recipient learns the id of the request it receives. It cannot take
/// that id at another recipient: an id begins with the code of the State
/// that made it, so DEU's own request under MEX's id is refused at SWE,
/// and MEX's copy, arriving after it, is stored and answered. (Before ids
/// named their sender, SWE stored DEU's request, refused MEX's copy as a
/// replay for good, and every later message of MEX's exchange as unknown.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_co_recipient_cannot_take_the_id_of_a_message_it_received() -> anyhow::Result<()> {
    use veim_protocol::envelope::{Draft, Recipient};
    use veim_protocol::wire::{NetRequest, NetResponse, RefusalCode};
    use veim_protocol::{ExchangeId, MessageId};
    use veim_tests::{RawPeer, peer_of};

    let mut net = TestNet::admitted(&["MEX", "SWE", "DEU"]).await?;
    // SWE is briefly unreachable: MEX's copy waits in its outbox.
    net.national_mut("SWE").stop().await;
    let mex = net.national("MEX").api()?;
    let sent: MessageView = blocking(|| {
        mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into(), "DEU".into()], request: example_request() })
    })?;
    assert_eq!(delivered_to(&sent), ["DEU"]);
    let id: MessageId = sent.message_id.parse().map_err(anyhow::Error::msg)?;
    assert!(id.is_issued_by("MEX".parse()?), "MEX's id begins with its code: {id}");

    // DEU, which received the request, sends SWE a valid request of its own under that id.
    let deu_home = net.national("DEU").home.clone();
    let swe_home = net.national("SWE").home.clone();
    let (deu, swe_state) = ("DEU".parse()?, "SWE".parse()?);
    let body = Body::Request(example_request().parse().map_err(|e| anyhow::anyhow!("{e}"))?);
    let recipients = [Recipient { state: swe_state, encryption_key: keys_of(&swe_home).encryption.public() }];
    let draft = Draft {
        message_id: id,
        exchange_id: ExchangeId::for_request(deu, id),
        sender: deu,
        recipients: &recipients,
        sender_encryption_key: keys_of(&deu_home).encryption.public(),
        created_at: veim_node::clock::now(),
        body: &body,
    };
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    // Sealing refuses it already; a hostile node would not use this crate's seal.
    assert!(matches!(
        Envelope::seal(&draft, &keys_of(&deu_home).identity, &mut rng),
        Err(EnvelopeError::ForeignMessageId { .. })
    ));
    let squat = veim_tests::seal_unchecked(&draft, &keys_of(&deu_home).identity)?;
    assert!(squat.open(swe_state, &keys_of(&swe_home).encryption).is_ok(), "the squatting request is otherwise valid");
    net.national_mut("SWE").start().await?;
    let mut raw = RawPeer::impersonating(&deu_home)?;
    let answer =
        raw.send(peer_of(&swe_home), &net.national("SWE").address, &NetRequest::Deliver(Box::new(squat))).await?;
    match answer {
        NetResponse::Refused(r) => {
            assert_eq!(r.code, RefusalCode::SenderMismatch, "{r:?}");
            assert!(r.detail.contains("does not begin with the code of its sender DEU"), "{}", r.detail);
        }
        other => panic!("SWE took DEU's message under MEX's id: {other:?}"),
    }

    // MEX's copy arrives from its outbox, and the exchange goes on.
    let swe = net.national("SWE").api()?;
    let held = wait_for("SWE to hold MEX's request", Duration::from_secs(60), || {
        let inbox: Vec<MessageView> = swe.get("/v1/inbox").ok()?;
        inbox.into_iter().find(|m| m.message_id == sent.message_id)
    })
    .await?;
    assert_eq!(held.sender.to_string(), "MEX");
    assert_eq!(held.envelope, sent.envelope, "SWE holds MEX's envelope, not DEU's");
    let answer: MessageView = blocking(|| {
        swe.post(
            &format!("/v1/exchanges/{}/respond", sent.exchange_id),
            &RespondRequest { response: example_response() },
        )
    })?;
    assert_eq!(delivered_to(&answer), ["MEX"]);
    net.shutdown().await;
    Ok(())
}
