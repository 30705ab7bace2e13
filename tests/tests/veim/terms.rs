//! The terms of reference enforced by real nodes: consent over the network,
//! disclosure only on a valid grant, handling restrictions as the sender set
//! them, content encrypted at rest, retention and reciprocity.

use std::time::Duration;
use veim_node::accounts::{AccountChange, NewAccount, WithToken};
use veim_node::api::{
    AccountUpdated, AskConsent, DecideConsent, Disclose, DisclosureRequestView, ExchangeView, MessageView, NoteRequest,
    PurgeRequest, PurgeView, RefuseDisclosure, RespondRequest, RevokeRequest, SendRequest,
};
use veim_node::terms::{ConsentStatus, ConsentView, Reciprocity};
use veim_protocol::audit::Action;
use veim_protocol::consent::{ConsentRecord, Decision, SignedConsent};
use veim_protocol::disclosure::{Package, PackageError};
use veim_protocol::wire::{NetResponse, RefusalCode};
use veim_protocol::{Authority, AuthorityKind, Body, ExchangeId, Handling, MessageId, ResponseForm, StateCode, codec};
use veim_tests::{TestNet, blocking, deliver_as, example_request, keys_of, seal_body, wait_for};
use veim_tools::{AdminClient, ClientError};

fn example_response() -> ResponseForm {
    toml::from_str(include_str!("../../../deploy/examples/response.toml")).expect("example response")
}

fn state(s: &str) -> StateCode {
    s.parse().expect("state")
}

fn court() -> Authority {
    Authority { kind: AuthorityKind::Court, name: "Juzgado Primero de Distrito".into(), state: state("MEX") }
}

/// MEX asks SWE, SWE answers: returns the exchange id and the response's id.
async fn request_and_response(net: &TestNet, response: ResponseForm) -> anyhow::Result<(String, String)> {
    let mex = net.national("MEX").api()?;
    let sent: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    let exchange = sent.exchange_id.clone();
    let swe = net.national("SWE").api()?;
    let answer: MessageView =
        blocking(|| swe.post(&format!("/v1/exchanges/{exchange}/respond"), &RespondRequest { response }))?;
    Ok((exchange, answer.message_id))
}

/// `api`'s account asks for a disclosure; an approver of the same node, a
/// second official, approves it.
fn disclose(api: &AdminClient, exchange: &str, items: &[String], authority: Authority) -> Result<Package, ClientError> {
    let request =
        Disclose { exchange: exchange.into(), items: items.to_vec(), authority, purpose: None, case_reference: None };
    let asked: DisclosureRequestView = blocking(|| api.post("/v1/disclosures", &request))?;
    let second = second_official(api)?;
    blocking(|| second.post(&format!("/v1/disclosures/requests/{}/approve", asked.id), &()))
}

/// The client of an approver, `second`, at `api`'s node: made once, given a
/// new token at each call.
fn second_official(api: &AdminClient) -> Result<AdminClient, ClientError> {
    let new = NewAccount { name: "second".into(), roles: vec!["approver".into()], ..NewAccount::default() };
    let token = match blocking(|| api.post::<_, WithToken>("/v1/users", &new)) {
        Ok(made) => made.token,
        Err(_) => {
            let reset = AccountChange { new_token: true, ..AccountChange::default() };
            let done: AccountUpdated = blocking(|| api.post("/v1/users/second", &reset))?;
            done.token.unwrap_or_default()
        }
    };
    Ok(api.clone().with_token(&token))
}

fn refused(result: Result<Package, ClientError>) -> String {
    match result {
        Ok(p) => panic!("disclosure {} went through", p.disclosure_id),
        Err(e) => {
            let text = e.to_string();
            if let ClientError::Api(api) = &e {
                assert_eq!(api.error, "no-consent", "{text}");
                let problems: Vec<String> =
                    api.problems.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect();
                return format!("{text}\n{}", problems.join("\n"));
            }
            panic!("not a refusal: {text}")
        }
    }
}

fn ask(api: &AdminClient, exchange: &str, items: &[String], authority: Authority) -> anyhow::Result<MessageView> {
    Ok(blocking(|| {
        api.post(
            &format!("/v1/exchanges/{exchange}/consent"),
            &AskConsent {
                items: items.to_vec(),
                authority,
                purpose: "Prosecution of the broker".into(),
                case_reference: "Causa penal 112/2017".into(),
            },
        )
    })?)
}

/// Waits until `api` holds consent request `id` with the given status.
async fn consent_in(api: &AdminClient, id: &str, status: ConsentStatus) -> anyhow::Result<ConsentView> {
    wait_for(&format!("consent {id} to be {status:?}"), Duration::from_secs(10), || {
        let list: Vec<ConsentView> = api.get("/v1/consents").ok()?;
        list.into_iter().find(|c| c.consent_id.to_hex() == id && c.status == status)
    })
    .await
}

fn decide(api: &AdminClient, id: &str, decision: &DecideConsent) -> Result<MessageView, ClientError> {
    blocking(|| api.post(&format!("/v1/consents/{id}/decide"), decision))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disclosure_needs_a_valid_grant_covering_every_item_and_that_authority() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE", "DEU"]).await?;
    let (exchange, response_id) = request_and_response(&net, example_response()).await?;
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    let items = vec![
        format!("{}#0", &response_id[..MessageId::SHORT_HEX]),
        format!("{}#1", &response_id[..MessageId::SHORT_HEX]),
    ];
    let first = vec![items[0].clone()];

    // No grant at all.
    let why = refused(disclose(&mex, &exchange, &items, court()));
    assert!(why.contains("has granted no consent"), "{why}");

    // Asked for two items; granted for one, expiring in a few seconds.
    let asked = ask(&mex, &exchange, &items, court())?;
    let pending = consent_in(&swe, &asked.message_id, ConsentStatus::Pending).await?;
    assert_eq!(pending.asked_by, state("MEX"));
    // Only the originator decides; not the State that asked.
    let own = decide(&mex, &asked.message_id, &DecideConsent::Refuse { reason: "no".into() });
    assert!(own.expect_err("the asker decides").to_string().contains("only the originator"));
    let expires_at = veim_node::clock::now() + 10;
    decide(
        &swe,
        &asked.message_id,
        &DecideConsent::Grant {
            items: Some(first.clone()),
            conditions: vec!["closed session".into()],
            expires_at: Some(expires_at),
        },
    )?;
    let granted = consent_in(&mex, &asked.message_id, ConsentStatus::Granted).await?;
    let record = &granted.decision.as_ref().expect("decision").record;
    assert_eq!(record.granted_items().len(), 1);
    let again = decide(&swe, &asked.message_id, &DecideConsent::Refuse { reason: "changed my mind".into() });
    assert!(again.expect_err("decided twice").to_string().contains("already decided"));

    // Fewer items than disclosed.
    let why = refused(disclose(&mex, &exchange, &items, court()));
    assert!(why.contains("does not cover") && why.contains(&format!("{response_id}#1")), "{why}");
    // Another authority.
    let prosecutor =
        Authority { kind: AuthorityKind::Prosecution, name: "Fiscalía General".into(), state: state("MEX") };
    let why = refused(disclose(&mex, &exchange, &first, prosecutor));
    assert!(why.contains("is for court"), "{why}");
    // Forwarding to a third State Party is a disclosure like any other.
    let deu =
        Authority { kind: AuthorityKind::StateParty, name: "Federal Republic of Germany".into(), state: state("DEU") };
    let why = refused(disclose(&mex, &exchange, &first, deu));
    assert!(why.contains("is for court"), "{why}");
    // Two persons. An operator asks for the disclosure of the granted item;
    // neither she (an operator) nor an approver who asked himself may
    // approve their own; an approver refuses hers with a reason, and
    // withdraws his own; nothing is disclosed.
    let account = |name: &str, role: &str| -> anyhow::Result<AdminClient> {
        let new = NewAccount { name: name.into(), roles: vec![role.into()], ..NewAccount::default() };
        let made: WithToken = blocking(|| mex.post("/v1/users", &new))?;
        Ok(mex.clone().with_token(&made.token))
    };
    let maria = account("maria", "operator")?;
    let jorge = account("jorge", "approver")?;
    let request = Disclose {
        exchange: exchange.clone(),
        items: first.clone(),
        authority: court(),
        purpose: None,
        case_reference: None,
    };
    let hers: DisclosureRequestView = blocking(|| maria.post("/v1/disclosures", &request))?;
    assert_eq!(hers.asked_by.as_str(), "maria");
    assert_eq!(hers.items, [format!("{response_id}#0")]);
    let approve = |api: &AdminClient, id: &str| {
        blocking(|| api.post::<_, Package>(&format!("/v1/disclosures/requests/{id}/approve"), &()))
    };
    let why = approve(&maria, &hers.id).expect_err("an operator approves").to_string();
    assert!(why.contains("needs the role approver"), "{why}");
    let his: DisclosureRequestView = blocking(|| jorge.post("/v1/disclosures", &request))?;
    let why = approve(&jorge, &his.id[..8]).expect_err("his own").to_string();
    assert!(why.contains("jorge asked for this disclosure: a disclosure needs a second official"), "{why}");
    let listed: Vec<DisclosureRequestView> = blocking(|| mex.get("/v1/disclosures/requests"))?;
    assert_eq!(listed.len(), 2);
    let no = RefuseDisclosure { reason: "the court asked for the summary only".into() };
    let _: DisclosureRequestView =
        blocking(|| jorge.post(&format!("/v1/disclosures/requests/{}/refuse", hers.id), &no))?;
    let _: DisclosureRequestView =
        blocking(|| jorge.post(&format!("/v1/disclosures/requests/{}/refuse", his.id), &no))?;
    let listed: Vec<DisclosureRequestView> = blocking(|| mex.get("/v1/disclosures/requests"))?;
    assert!(listed.is_empty(), "{listed:?}");
    assert!(approve(&jorge, &hers.id).expect_err("refused already").to_string().contains("no disclosure request"));
    let log = veim_node::audit::LogFiles::read_home(&net.national("MEX").home)?;
    let refusals: Vec<String> = log
        .entries
        .iter()
        .filter(|e| e.event.action == Action::DisclosureRequestRefused)
        .map(|e| format!("{} {}", e.event.actor, e.event.detail))
        .collect();
    assert_eq!(
        refusals,
        [
            "official jorge refused: the court asked for the summary only",
            "official jorge withdrawn: the court asked for the summary only"
        ]
    );
    let made: Vec<veim_node::storage::DisclosureSummary> = blocking(|| mex.get("/v1/disclosures"))?;
    assert!(made.is_empty(), "nothing disclosed");

    // The granted item, to that court, asked for by one official and
    // approved by another: a package that verifies offline.
    let package = disclose(&mex, &exchange, &first, court())?;
    let log = veim_node::audit::LogFiles::read_home(&net.national("MEX").home)?;
    let exported = log.entries.iter().find(|e| e.event.action == Action::DisclosureExported).expect("exported");
    assert_eq!(exported.event.actor.to_string(), "official second");
    assert!(exported.event.detail.ends_with(", asked by admin"), "{}", exported.event.detail);
    let verified = package.verify(None)?;
    assert_eq!((verified.originator, verified.discloser, verified.items), (state("SWE"), state("MEX"), 1));
    assert_eq!(package.consent.as_ref().map(|c| c.conditions.clone()), Some(vec!["closed session".to_string()]));

    // A consent in the package signed by another key than the originator's.
    let mut forged = package.clone();
    let bytes = hex::decode(package.proofs.consent.as_deref().expect("consent proof"))?;
    let signed: SignedConsent = codec::decode::<_, { codec::MAX_RECORD }>("consent", &bytes)?;
    let by_mex = SignedConsent::sign(signed.record.clone(), &keys_of(&net.national("MEX").home).identity)?;
    forged.proofs.consent = Some(hex::encode(codec::encode("consent", &by_mex)?));
    assert_eq!(forged.verify(None), Err(PackageError::ConsentNotSigned(state("SWE"))));
    // An item listed twice.
    let mut doubled = package.clone();
    doubled.items.push(doubled.items[0].clone());
    assert_eq!(doubled.verify(None), Err(PackageError::DuplicateItem(doubled.items[0].item_ref)));
    // The same package pinned to another Secretariat key.
    let other = veim_protocol::IdentityKeypair::from_secret_bytes(&[5; 32]).public();
    assert!(matches!(package.verify(Some(&other)), Err(PackageError::SecretariatKeyMismatch { .. })));

    // Expired.
    let wait = (expires_at - veim_node::clock::now() + 1).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let why = refused(disclose(&mex, &exchange, &first, court()));
    assert!(why.contains("expired"), "{why}");

    // A new grant, then revoked before use.
    let asked = ask(&mex, &exchange, &first, court())?;
    consent_in(&swe, &asked.message_id, ConsentStatus::Pending).await?;
    decide(&swe, &asked.message_id, &DecideConsent::Grant { items: None, conditions: vec![], expires_at: None })?;
    consent_in(&mex, &asked.message_id, ConsentStatus::Granted).await?;
    let revoked: MessageView = blocking(|| {
        swe.post(
            &format!("/v1/consents/{}/revoke", asked.message_id),
            &RevokeRequest { reason: "the case was transferred".into() },
        )
    })?;
    assert_eq!(revoked.kind, veim_protocol::MessageKind::ConsentRevocation);
    consent_in(&mex, &asked.message_id, ConsentStatus::Revoked).await?;
    let why = refused(disclose(&mex, &exchange, &first, court()));
    assert!(why.contains("was revoked: the case was transferred"), "{why}");

    // A refusal reaches the asker with its reason.
    let asked = ask(&mex, &exchange, &first, court())?;
    consent_in(&swe, &asked.message_id, ConsentStatus::Pending).await?;
    decide(&swe, &asked.message_id, &DecideConsent::Refuse { reason: "pending our own investigation".into() })?;
    let view = consent_in(&mex, &asked.message_id, ConsentStatus::Refused).await?;
    let reason = match &view.decision.as_ref().expect("decision").record.decision {
        Decision::Refused { reason } => reason.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(reason, "pending our own investigation");

    // The disclosures made are listed, without their content.
    let made: Vec<veim_node::storage::DisclosureSummary> = blocking(|| mex.get("/v1/disclosures"))?;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].disclosure_id, package.disclosure_id);
    let file = serde_json::to_vec_pretty(&package)?;
    assert_eq!(
        made[0].package_hash.0,
        veim_node::terms::package_hash(&file),
        "the hash of the file `veim disclose` writes"
    );

    // A consent decision not signed by the originator is refused on receipt.
    let swe_keys = keys_of(&net.national("SWE").home);
    let deu_keys = keys_of(&net.national("DEU").home);
    let record = ConsentRecord {
        exchange_id: exchange.parse::<ExchangeId>().map_err(anyhow::Error::msg)?,
        consent_request: asked.message_id.parse::<MessageId>().map_err(anyhow::Error::msg)?,
        grantor: state("SWE"),
        grantee: state("MEX"),
        authority: court(),
        purpose: "Prosecution of the broker".into(),
        case_reference: "Causa penal 112/2017".into(),
        decision: Decision::Granted {
            items: signed.record.granted_items().to_vec(),
            conditions: vec![],
            expires_at: None,
        },
        decided_at: veim_node::clock::now(),
    };
    let body = Body::ConsentDecision(SignedConsent::sign(record, &deu_keys.identity)?);
    let exchange_id: ExchangeId = exchange.parse().map_err(anyhow::Error::msg)?;
    let now = veim_node::clock::now();
    let envelope = seal_body(&net, &swe_keys.identity, "SWE", &["MEX"], now, |_, _| exchange_id, &body);
    let forged = envelope.header.message_id;
    match deliver_as(&net, "SWE", "MEX", envelope).await? {
        NetResponse::Refused(r) => {
            assert_eq!(r.code, RefusalCode::InvalidBody);
            assert!(r.detail.contains("not signed by the originator SWE"), "{}", r.detail);
        }
        other => panic!("a forged consent decision was accepted: {other:?}"),
    }
    let still: Vec<ConsentView> = blocking(|| mex.get("/v1/consents"))?;
    assert!(!still.iter().any(|c| c.consent_id == forged));
    assert_eq!(
        still.iter().find(|c| c.consent_id.to_hex() == asked.message_id).map(|c| c.status),
        Some(ConsentStatus::Refused)
    );
    net.shutdown().await;
    Ok(())
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn content_is_sealed_at_rest_restrictions_are_the_senders_and_retention_purges() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;

    // The sender's own restrictions on a request, a response and a note.
    let request_handling = Handling {
        no_onward_without_consent: false,
        conditions: vec!["Not to be shared with the exporter named in the request".into()],
        use_until: Some("2031-12-31".into()),
        ..Handling::default()
    };
    let mut request = example_request();
    request.handling = Some(request_handling.clone());
    let sent: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: request.clone() }))?;
    let exchange = sent.exchange_id.clone();
    let response_handling = Handling {
        no_court_without_consent: false,
        conditions: vec!["Quote the customs register only with its reference".into()],
        ..Handling::default()
    };
    let mut response = example_response();
    response.handling = Some(response_handling.clone());
    let answer: MessageView =
        blocking(|| swe.post(&format!("/v1/exchanges/{exchange}/respond"), &RespondRequest { response }))?;
    let note_text = "The carrier's master was questioned on 12 March; minutes attached to the file.";
    let noted: MessageView = blocking(|| {
        swe.post(&format!("/v1/exchanges/{exchange}/note"), &NoteRequest { text: note_text.into(), handling: None })
    })?;
    assert!(noted.deliveries.iter().all(|d| matches!(d.state, veim_node::storage::DeliveryState::Delivered { .. })));

    // Each receiver sees exactly the restrictions the sender set.
    let at_swe: ExchangeView = blocking(|| swe.get(&format!("/v1/exchanges/{exchange}")))?;
    assert_eq!(at_swe.messages[0].body.as_ref().and_then(Body::handling), Some(&request_handling));
    let at_mex: ExchangeView = blocking(|| mex.get(&format!("/v1/exchanges/{exchange}")))?;
    assert_eq!(at_mex.messages[1].body.as_ref().and_then(Body::handling), Some(&response_handling));
    assert_eq!(
        at_mex.messages[2].body.as_ref().and_then(Body::handling),
        Some(&Handling::default()),
        "the node's default restrictions when the operator sets none"
    );
    // The response's court waiver holds: disclosure to a court without a grant.
    let item = format!("{}#0", &answer.message_id[..MessageId::SHORT_HEX]);
    let package = disclose(&mex, &exchange, std::slice::from_ref(&item), court())?;
    assert!(package.consent.is_none());
    assert_eq!(package.verify(None)?.consent, None);
    // ...and only to a court: a prosecutor still needs consent.
    let prosecutor =
        Authority { kind: AuthorityKind::Prosecution, name: "Fiscalía General".into(), state: state("MEX") };
    refused(disclose(&mex, &exchange, std::slice::from_ref(&item), prosecutor));
    // The receiver cannot change the restrictions: a package whose shown
    // restrictions differ from the signed ones fails.
    let mut loosened = package.clone();
    loosened.messages[0].handling.conditions.clear();
    assert!(matches!(loosened.verify(None), Err(PackageError::HandlingAltered(_))));
    // Nor who it is for and why: the discloser signs the package.
    let mut redirected = package.clone();
    redirected.purpose = "another case altogether".into();
    assert_eq!(redirected.verify(None), Err(PackageError::NotSignedByDiscloser(state("MEX"))));
    // A foreign court is onward transmission: the court waiver alone does not cover it.
    let foreign_court =
        Authority { kind: AuthorityKind::Court, name: "Landgericht Hamburg".into(), state: state("DEU") };
    refused(disclose(&mex, &exchange, std::slice::from_ref(&item), foreign_court));

    // An expired period of use is enforced.
    let mut expired = example_response();
    expired.handling = Some(Handling { use_until: Some("2020-01-01".into()), ..Handling::default() });
    let late: MessageView =
        blocking(|| swe.post(&format!("/v1/exchanges/{exchange}/respond"), &RespondRequest { response: expired }))?;
    let shown: ExchangeView = blocking(|| mex.get(&format!("/v1/exchanges/{exchange}")))?;
    assert!(shown.messages.iter().any(|m| m.message_id == late.message_id && m.use_expired));
    let why = refused(disclose(&mex, &exchange, &[format!("{}#0", &late.message_id[..MessageId::SHORT_HEX])], court()));
    assert!(why.contains("allowed its use until 2020-01-01 only"), "{why}");

    // Reciprocity, both sides.
    let rows: Vec<Reciprocity> = blocking(|| mex.get("/v1/reciprocity"))?;
    let swe_row = rows.iter().find(|r| r.state == Some(state("SWE"))).expect("SWE row");
    assert_eq!((swe_row.requests_sent, swe_row.sent_answered, swe_row.sent_unanswered), (1, 1, 0));
    assert!(swe_row.their_median_answer_secs.is_some());
    let rows: Vec<Reciprocity> = blocking(|| swe.get("/v1/reciprocity"))?;
    let mex_row = rows.iter().find(|r| r.state == Some(state("MEX"))).expect("MEX row");
    assert_eq!((mex_row.requests_received, mex_row.received_answered), (1, 1));

    // No plaintext in the raw store files of either node.
    let secrets = [
        request.summary.clone(),
        "Nordhafen Trading".to_string(),
        "Baltic Line Cargo".to_string(),
        note_text.to_string(),
        request_handling.conditions[0].clone(),
        response_handling.conditions[0].clone(),
        "Juzgado Primero".to_string(),
    ];
    for node in ["MEX", "SWE"] {
        let store = net.national(node).home.join("store");
        let files = files_under(&store);
        assert!(!files.is_empty(), "{node} has store files");
        // The search does find what sled holds in clear: the directory's
        // public entries (the operator names TestNet gives each node).
        let control = b"SWE export control authority";
        let found =
            files.iter().any(|f| std::fs::read(f).is_ok_and(|b| b.windows(control.len()).any(|w| w == control)));
        assert!(found, "the raw search finds the directory held in clear in {node}'s store");
        for file in files {
            let bytes = std::fs::read(&file)?;
            for secret in &secrets {
                let needle = &secret.as_bytes()[..secret.len().min(24)];
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} holds {secret:?} in clear",
                    file.display()
                );
            }
        }
    }

    // Retention: received content purged, metadata kept, disclosure refused.
    let purged: PurgeView = blocking(|| mex.post("/v1/purge", &PurgeRequest { older_than_secs: Some(0) }))?;
    assert_eq!(purged.purged.len(), 3, "the response, the late response and the note");
    let after: ExchangeView = blocking(|| mex.get(&format!("/v1/exchanges/{exchange}")))?;
    let purged_response = after.messages.iter().find(|m| m.message_id == answer.message_id).expect("kept");
    assert!(purged_response.body.is_none() && purged_response.purged_at.is_some());
    assert_eq!(purged_response.envelope_hash, answer.envelope_hash, "the metadata stays");
    assert!(after.messages[0].body.is_some(), "what this State sent is not received content");
    let why = refused(disclose(&mex, &exchange, std::slice::from_ref(&item), court()));
    assert!(why.contains("purged"), "{why}");

    // A node whose storage key is gone says so, and does not start.
    let mex_node = net.national_mut("MEX");
    mex_node.stop().await;
    let key = mex_node.home.join(veim_node::home::vault::STORAGE_KEY_FILE);
    let saved = std::fs::read(&key)?;
    std::fs::remove_file(&key)?;
    let Err(err) = veim_node::start(&mex_node.home).await else { panic!("started without its storage key") };
    assert!(err.to_string().contains("storage key") && err.to_string().contains("missing"), "{err}");
    veim_node::home::write_file(&key, &saved, true)?;
    mex_node.start().await?;
    let back: ExchangeView = blocking(|| net.national("MEX").api()?.get(&format!("/v1/exchanges/{exchange}")))?;
    assert_eq!(back.messages.len(), after.messages.len(), "nothing accepted was lost");
    net.shutdown().await;
    Ok(())
}
