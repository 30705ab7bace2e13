//! The sender's side of delivery: a copy is marked delivered only on a
//! receipt signed by the recipient's directory key for that very message.

use std::sync::{Arc, Mutex};
use veim_node::api::{MessageView, SendRequest};
use veim_node::clock::now;
use veim_node::storage::DeliveryState;
use veim_protocol::wire::{NetRequest, NetResponse, Refusal, RefusalCode};
use veim_protocol::{IdentityKeypair, MessageId, Receipt, SignedReceipt};
use veim_tests::{RawPeer, TestNet, keys_of};

/// Has MEX send a request to SWE while a peer holding SWE's key answers
/// deliveries with `answer`; returns SWE's delivery state at MEX.
async fn deliver_against(
    net: &TestNet,
    answer: impl Fn(&veim_protocol::Envelope) -> NetResponse,
) -> anyhow::Result<DeliveryState> {
    let mut fake = RawPeer::impersonating(&net.national("SWE").home)?;
    let mex = net.national("MEX").api()?;
    let outcome: Arc<Mutex<Option<DeliveryState>>> = Arc::default();
    let slot = outcome.clone();
    fake.serve(
        &net.national("SWE").address,
        |request| match request {
            NetRequest::Deliver(envelope) => answer(&envelope),
            // MEX's audit checkpoints, sent to SWE's address.
            _ => NetResponse::Acknowledged,
        },
        move || async move {
            let request = toml::from_str(include_str!("../../../deploy/examples/request.toml")).expect("example");
            let sent = tokio::task::spawn_blocking(move || {
                mex.post::<_, MessageView>("/v1/requests", &SendRequest { to: vec!["SWE".into()], request })
            })
            .await
            .expect("join")
            .expect("send");
            *slot.lock().expect("lock") = Some(sent.deliveries[0].state.clone());
        },
    )
    .await?;
    let state = outcome.lock().expect("lock").take().expect("outcome");
    Ok(state)
}

fn receipt(envelope: &veim_protocol::Envelope, message_id: MessageId, key: &IdentityKeypair) -> NetResponse {
    let receipt = Receipt {
        message_id,
        envelope_hash: envelope.hash().expect("hash"),
        recipient: "SWE".parse().expect("SWE"),
        stored_at: now(),
    };
    NetResponse::Receipt(SignedReceipt::sign(receipt, key).expect("sign"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_is_delivered_only_on_a_valid_receipt() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    net.national_mut("SWE").stop().await;
    let swe_key = keys_of(&net.national("SWE").home).identity;
    let other_key = IdentityKeypair::from_secret_bytes(&[5; 32]);

    // A bad receipt is no receipt: the copy stays in the outbox, to be tried again.
    let forged = deliver_against(&net, |e| receipt(e, e.header.message_id, &other_key)).await?;
    let DeliveryState::Attempting { last_error, .. } = &forged else { panic!("forged receipt accepted: {forged:?}") };
    assert!(last_error.contains("does not verify under the recipient's key"), "{last_error}");

    let other_message = deliver_against(&net, |e| receipt(e, MessageId([1; 16]), &swe_key)).await?;
    let DeliveryState::Attempting { last_error, .. } = &other_message else {
        panic!("receipt for another message accepted: {other_message:?}")
    };
    assert!(last_error.contains("another message"), "{last_error}");

    // A refusal a later attempt may overcome is retried; one it cannot, is final.
    let busy = deliver_against(&net, |_| {
        NetResponse::Refused(Refusal { code: RefusalCode::StorageFailure, detail: "disk full".into() })
    })
    .await?;
    let DeliveryState::Attempting { last_error, .. } = &busy else { panic!("{busy:?}") };
    assert!(last_error.contains("StorageFailure: disk full"), "{last_error}");
    let refused = deliver_against(&net, |_| {
        NetResponse::Refused(Refusal { code: RefusalCode::NotARecipient, detail: "not for us".into() })
    })
    .await?;
    assert_eq!(refused, DeliveryState::Refused { code: "NotARecipient".into(), detail: "not for us".into() });

    let garbage = deliver_against(&net, |_| NetResponse::Directory(Vec::new())).await?;
    assert!(matches!(garbage, DeliveryState::Attempting { .. }), "{garbage:?}");

    let valid = deliver_against(&net, |e| receipt(e, e.header.message_id, &swe_key)).await?;
    assert!(matches!(valid, DeliveryState::Delivered { .. }), "{valid:?}");
    net.shutdown().await;
    Ok(())
}
