//! The console's pages of the terms of reference and of the audit log over
//! plain HTTP against real nodes: consent asked by an operator and granted
//! by the other State's approver; a disclosure refused when its asker
//! approves it and approved by a second official, its package downloaded
//! and verified through the verify page; an auditor who reads, verifies and
//! exports the log and cannot send.

use std::time::Duration;
use veim_node::api::{DisclosureRequestView, ExchangeView, MessageView, RespondRequest, SendRequest};
use veim_node::storage::Direction;
use veim_node::terms::{ConsentStatus, ConsentView};
use veim_protocol::disclosure::Package;
use veim_protocol::{MessageKind, ResponseForm};
use veim_tests::console::{ConsoleClient, Page, add_official, unescape};
use veim_tests::{TestNet, blocking, example_request, wait_for};
use veim_tools::{AdminClient, ClientError};

const PASSWORD: &str = "correct horse battery staple";

fn example_response() -> ResponseForm {
    toml::from_str(include_str!("../../../deploy/examples/response.toml")).expect("example response")
}

/// A console session of `name`, logged in.
fn session(home: &std::path::Path, name: &str) -> anyhow::Result<ConsoleClient> {
    let console = ConsoleClient::of(home, "en")?;
    let opened = console.login(name, PASSWORD, None)?;
    anyhow::ensure!(opened.status == 303, "{name} logs in: {}", opened.text());
    Ok(console)
}

/// The `href` of the element whose id is `id`.
fn href_of(page: &Page, id: &str) -> Option<String> {
    let at = page.html.find(&format!("id=\"{id}\""))?;
    let start = page.html[..at].rfind("href=\"")? + "href=\"".len();
    let end = page.html[start..].find('"')?;
    Some(unescape(&page.html[start..start + end]))
}

/// Waits until `api` holds a consent request with `status`.
async fn consent_in(api: &AdminClient, status: ConsentStatus) -> anyhow::Result<ConsentView> {
    wait_for(&format!("a consent request {status:?}"), Duration::from_secs(15), || {
        let list: Vec<ConsentView> = api.get("/v1/consents").ok()?;
        list.into_iter().find(|c| c.status == status)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consent_disclosure_by_two_officials_and_the_audit_log_work_in_the_console() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let (mex, swe) = (net.national("MEX"), net.national("SWE"));
    let (mex_api, swe_api) = (mex.api()?, swe.api()?);
    let mut ana_token = String::new();
    for (name, role) in [("maria", "operator"), ("jorge", "approver"), ("lucia", "approver"), ("ana", "auditor")] {
        let made = blocking(|| add_official(&mex_api, name, &[role], "en", PASSWORD))?;
        if name == "ana" {
            ana_token = made.token;
        }
    }
    blocking(|| add_official(&swe_api, "sofia", &["approver"], "en", PASSWORD))?;

    // MEX asks, SWE answers; the answer reaches MEX.
    let sent: MessageView =
        blocking(|| mex_api.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    let exchange = sent.exchange_id.clone();
    let _: MessageView = blocking(|| {
        swe_api.post(&format!("/v1/exchanges/{exchange}/respond"), &RespondRequest { response: example_response() })
    })?;
    let response = wait_for("the response to reach MEX", Duration::from_secs(15), || {
        let view: ExchangeView = mex_api.get(&format!("/v1/exchanges/{exchange}")).ok()?;
        view.messages.into_iter().find(|m| m.direction == Direction::Received && m.kind == MessageKind::Response)
    })
    .await?;
    let item = format!("{}#0", response.message_id);

    // maria asks SWE for consent from the exchange's thread. A wrong State
    // code is named field by field, the form's values kept.
    let maria = session(&mex.home, "maria")?;
    let thread = blocking(|| maria.get(&format!("/console/exchanges/{exchange}")))?;
    let ask_href = href_of(&thread, "ask-consent-link").expect("the thread links to the consent form");
    let form = blocking(|| maria.get(&ask_href))?;
    assert_eq!(form.status, 200, "{}", form.text());
    assert!(form.html.contains(&format!("value=\"{item}\"")), "the received items are offered: {}", form.text());
    let fields = |state: &'static str| {
        vec![
            ("item", item.clone()),
            ("authority_kind", "court".to_string()),
            ("authority_name", "Juzgado Primero de Distrito".to_string()),
            ("authority_state", state.to_string()),
            ("purpose", "Prosecution of the broker".to_string()),
            ("case_reference", "Causa penal 112/2017".to_string()),
        ]
    };
    let post = |client: &ConsoleClient, from: &Page, path: &str, fields: &[(&str, String)]| {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        blocking(|| client.post(from, path, &pairs))
    };
    let wrong = post(&maria, &form, &ask_href, &fields("XX9"))?;
    assert_eq!(wrong.status, 422, "{}", wrong.text());
    assert!(
        wrong.html.contains("id=\"form-problems\"") && wrong.text().contains("authority.state"),
        "{}",
        wrong.text()
    );
    assert!(wrong.html.contains("value=\"Prosecution of the broker\""), "the purpose is kept");
    let asked = post(&maria, &wrong, &ask_href, &fields("MEX"))?;
    assert_eq!(asked.status, 303, "{}", asked.text());

    // SWE's approver sees it among the consent requests and grants it.
    let pending = consent_in(&swe_api, ConsentStatus::Pending).await?;
    let id = pending.consent_id.to_hex();
    let sofia = session(&swe.home, "sofia")?;
    let list = blocking(|| sofia.get("/console/consents"))?;
    assert!(list.html.contains("id=\"consents\"") && list.text().contains("Waiting for a decision"), "{}", list.text());
    let page = blocking(|| sofia.get(&format!("/console/consents/{id}")))?;
    assert!(page.html.contains("id=\"grant-consent\""), "an approver may decide: {}", page.text());
    let granted = post(
        &sofia,
        &page,
        &format!("/console/consents/{id}/decide"),
        &[("decision", "grant".into()), ("item", item.clone()), ("conditions", "Closed session only".into())],
    )?;
    assert_eq!(granted.status, 303, "{}", granted.text());
    let page = blocking(|| sofia.follow(&granted))?;
    assert!(page.html.contains("data-status=\"granted\""), "{}", page.text());
    assert!(page.html.contains("id=\"revoke-consent\""), "a grant in force may be revoked");
    consent_in(&mex_api, ConsentStatus::Granted).await?;

    // jorge, an approver of MEX, asks for the disclosure the grant allows
    // (the consent's page fills the form in); his own approval is refused,
    // lucia's makes the package, a file to save.
    let jorge = session(&mex.home, "jorge")?;
    let page = blocking(|| jorge.get(&format!("/console/consents/{id}")))?;
    let prefilled = href_of(&page, "disclose-under-grant").expect("a grant in force offers a disclosure");
    let prefilled = prefilled.split('#').next().unwrap_or_default().to_string();
    let form = blocking(|| jorge.get(&prefilled))?;
    assert_eq!(form.input("exchange").as_deref(), Some(exchange.as_str()), "{}", form.text());
    let fields: Vec<(&str, String)> =
        ["exchange", "items", "authority_name", "authority_state", "purpose", "case_reference"]
            .into_iter()
            .map(|name| (name, form.input(name).unwrap_or_default()))
            .chain([("authority_kind", "court".to_string())])
            .collect();
    let done = post(&jorge, &form, "/console/disclosures", &fields)?;
    assert_eq!(done.status, 303, "{}", done.text());
    let page = blocking(|| jorge.follow(&done))?;
    assert!(page.html.contains("id=\"disclosure-requests\""), "{}", page.text());
    let requests: Vec<DisclosureRequestView> = blocking(|| mex_api.get("/v1/disclosures/requests"))?;
    let request = requests.first().expect("jorge's request waits");
    let approve = format!("/console/disclosures/requests/{}/approve", request.id);
    let own = blocking(|| jorge.post(&page, &approve, &[]))?;
    assert_eq!(own.status, 403, "{}", own.text());
    assert!(own.text().contains("A second official must approve this"), "{}", own.text());
    assert!(own.text().contains("jorge asked for this disclosure"), "the API's words: {}", own.text());
    let lucia = session(&mex.home, "lucia")?;
    let page = blocking(|| lucia.get("/console/disclosures"))?;
    assert!(page.html.contains(&format!("id=\"approve-{}\"", &request.id[..8])), "{}", page.text());
    let download = blocking(|| lucia.post(&page, &approve, &[]))?;
    assert_eq!(download.status, 200, "{}", download.text());
    let disposition = download.header("content-disposition").unwrap_or_default();
    assert!(disposition.starts_with("attachment;") && disposition.contains(".json"), "{disposition}");
    let package: Package = serde_json::from_str(&download.html)?;
    assert_eq!(package.items.len(), 1);

    // The package verifies through the verify page; an altered one does
    // not; an upload without the session's token is refused unread.
    let page = blocking(|| lucia.get("/console/disclosures"))?;
    assert!(page.html.contains("id=\"disclosures-made\""), "{}", page.text());
    let tokenless = Page { status: 0, location: None, html: String::new(), headers: Vec::new() };
    let upload = |bytes: &[u8], csrf: bool| {
        let from = if csrf { &page } else { &tokenless };
        blocking(|| lucia.post_file(from, "/console/disclosures/verify", &[], ("package", "package.json", bytes)))
    };
    let verified = upload(download.html.as_bytes(), true)?;
    assert_eq!(verified.status, 200, "{}", verified.text());
    assert!(
        verified.html.contains("id=\"verify-result\" role=\"status\" data-verified=\"true\""),
        "{}",
        verified.text()
    );
    assert!(verified.text().contains("The package verifies") && verified.text().contains("Juzgado Primero"));
    let altered = download.html.replace("Causa penal 112/2017", "Causa penal 999/2017");
    let failed = upload(altered.as_bytes(), true)?;
    assert_eq!(failed.status, 422, "{}", failed.text());
    assert!(failed.html.contains("data-verified=\"false\"") && failed.text().contains("does NOT verify"));
    let refused = upload(download.html.as_bytes(), false)?;
    assert_eq!(refused.status, 403, "{}", refused.text());

    // ana, an auditor, reads the log (the officials named), verifies it,
    // exports it, and may neither read messages nor send.
    let ana = session(&mex.home, "ana")?;
    let dashboard = blocking(|| ana.get("/console/"))?;
    assert!(dashboard.html.contains("href=\"/console/audit\""), "{}", dashboard.text());
    assert!(!dashboard.html.contains("href=\"/console/compose\""), "no sending in her menu");
    let log = blocking(|| ana.get("/console/audit"))?;
    assert_eq!(log.status, 200, "{}", log.text());
    assert!(log.html.contains("id=\"audit-entries\""), "{}", log.text());
    let jorge_only = blocking(|| ana.get("/console/audit?actor=jorge&action=disclosure-asked"))?;
    assert!(jorge_only.text().contains("jorge") && jorge_only.text().contains("1 item"), "{}", jorge_only.text());
    let lucia_only = blocking(|| ana.get("/console/audit?actor=lucia&action=disclosure-exported"))?;
    assert!(lucia_only.text().contains("asked by jorge"), "{}", lucia_only.text());
    let check = blocking(|| ana.get("/console/audit/verify"))?;
    assert!(
        check.html.contains("id=\"audit-verify-result\" role=\"status\" data-verified=\"true\""),
        "{}",
        check.text()
    );
    assert!(check.text().contains("The audit log verifies"), "{}", check.text());
    let export = blocking(|| ana.get("/console/audit/export"))?;
    assert_eq!(export.status, 200, "{}", export.text());
    assert!(export.header("content-disposition").unwrap_or_default().starts_with("attachment;"));
    assert!(export.html.lines().next().unwrap_or_default().contains("veim-audit/1"), "a header line first");
    let note = blocking(|| ana.post(&check, &format!("/console/exchanges/{exchange}/note"), &[("text", "hello")]))?;
    assert_eq!(note.status, 403, "{}", note.text());
    assert!(note.text().contains("needs the role operator"), "{}", note.text());
    let as_ana = mex_api.clone().with_token(&ana_token);
    let send = blocking(|| {
        as_ana
            .post::<_, MessageView>("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
    });
    assert!(matches!(&send, Err(ClientError::Api(e)) if e.status == 403), "{send:?}");
    // Others may not read the log.
    let page = blocking(|| maria.get("/console/audit"))?;
    assert_eq!(page.status, 403, "{}", page.text());
    Ok(())
}
