//! Points of contact: a State submits them, the Secretariat accepts or
//! rejects them, the directory carries them to every node, and the public
//! section leaves out whatever is restricted.

use std::time::Duration;
use veim_node::api::{
    ContactsDecision, ContactsView, DirectoryListing, StatusView, SubmitContactsRequest, VersionView,
};
use veim_node::clock::now;
use veim_protocol::contacts::{ContactSetForm, SignedContactSet, Visibility};
use veim_protocol::wire::{NetRequest, NetResponse, RefusalCode};
use veim_tests::{TestNet, blocking, keys_of, peer_of, wait_for};

fn example() -> ContactSetForm {
    toml::from_str(include_str!("../../../deploy/examples/contacts.toml")).expect("example contacts")
}

fn submit(net: &TestNet, state: &str, form: ContactSetForm) -> anyhow::Result<ContactsView> {
    Ok(blocking(|| net.national(state).api()?.post("/v1/contacts", &SubmitContactsRequest { contacts: form }))?)
}

fn decide(net: &TestNet, path: &str, state: &str, reason: &str) -> anyhow::Result<serde_json::Value> {
    let decision = ContactsDecision { state: state.into(), reason: reason.into() };
    Ok(blocking(|| net.secretariat.api()?.post(path, &decision))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accepted_contacts_reach_every_node_and_only_public_ones_are_exported() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE", "DEU"]).await?;
    let submitted = submit(&net, "MEX", example())?;
    assert_eq!(submitted.status.as_deref(), Some("waiting for the Secretariat's review"));
    let pending: Vec<ContactsView> = blocking(|| net.secretariat.api()?.get("/v1/contacts/pending"))?;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state.as_str(), "MEX");

    let accepted: VersionView = serde_json::from_value(decide(&net, "/v1/contacts/accept", "MEX", "")?)?;
    assert!(accepted.change.contains("point(s) of contact of MEX"), "{}", accepted.change);
    net.wait_directory(accepted.version).await?;
    for state in ["MEX", "SWE", "DEU"] {
        let listing: DirectoryListing = blocking(|| net.national(state).api()?.get("/v1/directory"))?;
        let mex = listing.entries.iter().find(|e| e.state.as_str() == "MEX").expect("MEX listed");
        assert_eq!(mex.visibility, Visibility::Public, "{state}");
        let names: Vec<&str> = mex.contacts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["María Fernanda López", "Jorge Ramírez"], "{state} sees restricted contacts too");
    }
    let mex_status: ContactsView = blocking(|| net.national("MEX").api()?.get("/v1/contacts"))?;
    assert!(mex_status.status.unwrap_or_default().starts_with("accepted"), "MEX is told");
    let standing = mex_status.standing.expect("typed standing");
    assert_eq!(standing.state, veim_node::api::StandingState::Accepted);
    assert!(standing.version.is_some_and(|v| v >= 3), "{standing:?}");

    // SWE keeps its entry restricted: it must not appear in the public section.
    let mut swe = example();
    swe.entry_visibility = Some("restricted".into());
    for c in &mut swe.contacts {
        c.name = format!("{} (SWE)", c.name);
    }
    submit(&net, "SWE", swe)?;
    let v: VersionView = serde_json::from_value(decide(&net, "/v1/contacts/accept", "SWE", "")?)?;
    net.wait_directory(v.version).await?;

    let sec = net.secretariat.api()?;
    let public: veim_node::api::PublicDirectory = blocking(|| sec.get("/v1/directory/public"))?;
    let json = serde_json::to_string(&public)?;
    let html = blocking(|| sec.get_text("/v1/directory/public?format=html"))?;
    let pages =
        ["fr", "es"].map(|l| blocking(|| sec.get_text(&format!("/v1/directory/public?format=html&language={l}"))));
    let [fr, es] = pages;
    let (fr, es) = (fr?, es?);
    assert!(html.contains("lang=\"en\"") && html.contains("Working languages"), "the page in English");
    assert!(fr.contains("lang=\"fr\"") && fr.contains("Langues de travail"), "the page in French");
    assert!(es.contains("lang=\"es\"") && es.contains("Idiomas de trabajo"), "the page in Spanish");
    for (format, text) in [("json", &json), ("html", &html), ("html fr", &fr), ("html es", &es)] {
        assert!(text.contains("María Fernanda López"), "{format}: the public contact is there");
        assert!(text.contains("att-poc@sre.example.mx"), "{format}: with its public fields");
        assert!(!text.contains("Jorge Ramírez"), "{format}: a restricted contact is left out");
        assert!(!text.contains("+52 55 3686 5100"), "{format}: a restricted field is left out");
        assert!(!text.contains("(SWE)") && !text.contains("SWE"), "{format}: a restricted entry is left out");
        assert!(!text.contains("DEU"), "{format}: an entry without public contacts is restricted by default");
    }
    for external in ["http:", "https:", "<script", "<link", "src=", "url("] {
        for page in [&html, &fr, &es] {
            assert!(!page.contains(external), "the page loads nothing from elsewhere ({external})");
        }
    }
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_submission_is_reported_back_and_others_cannot_submit_for_a_state() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    submit(&net, "MEX", example())?;
    let no_reason = decide(&net, "/v1/contacts/reject", "MEX", "").expect_err("a rejection needs a reason");
    assert!(no_reason.to_string().contains("needs a reason"), "{no_reason}");
    let reason = "the e-mail domain is not the ministry's";
    decide(&net, "/v1/contacts/reject", "MEX", reason)?;
    let mex = net.national("MEX").api()?;
    let view: ContactsView = wait_for("MEX to learn of the rejection", Duration::from_secs(20), || {
        let _: StatusView = mex.post("/v1/directory/sync", &()).ok()?;
        let v: ContactsView = mex.get("/v1/contacts").ok()?;
        v.status.as_deref().is_some_and(|s| s.contains("rejected")).then_some(v)
    })
    .await?;
    let status = view.status.clone().unwrap_or_default();
    assert!(status.contains(reason) && status.contains("submit again"), "{status}");
    // Typed for scripts: state, reason and time apart from the words.
    let standing = view.standing.expect("typed standing");
    assert_eq!(standing.state, veim_node::api::StandingState::Rejected);
    assert_eq!(standing.reason.as_deref(), Some(reason));
    assert!(standing.at > 0);

    // SWE's node cannot submit contacts in MEX's name.
    let swe_keys = keys_of(&net.national("SWE").home);
    let forged = example().parse("MEX".parse()?, now()).expect("valid");
    let forged = SignedContactSet::sign(forged, &swe_keys.identity)?;
    let mut swe = veim_tests::RawPeer::impersonating(&net.national("SWE").home)?;
    let sec = peer_of(&net.secretariat.home);
    let answer = swe.send(sec, &net.secretariat.address, &NetRequest::SubmitContacts(Box::new(forged))).await?;
    let NetResponse::Refused(r) = answer else { panic!("accepted contacts for another State: {answer:?}") };
    assert_eq!(r.code, RefusalCode::InvalidBody);
    assert!(r.detail.contains("cannot submit the contacts of MEX"), "{}", r.detail);
    net.shutdown().await;
    Ok(())
}
