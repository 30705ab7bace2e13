//! The console's directory, Secretariat and accounts pages over plain HTTP
//! against real nodes: the Secretariat's directory reviewer compares a
//! pending registration's fingerprint and approves it from the console; a
//! national operator searches the directory by State, language and region
//! and may not open the accounts page; an administrator adds an account
//! with a password from the console, and that official logs in.

use std::time::Duration;
use veim_node::api::{ContactsDecision, StatusView, SubmitContactsRequest, VersionView};
use veim_protocol::contacts::ContactSetForm;
use veim_tests::console::{ConsoleClient, add_official};
use veim_tests::{TestNet, blocking, wait_for};

const PASSWORD: &str = "correct horse battery staple";

fn example() -> ContactSetForm {
    toml::from_str(include_str!("../../../deploy/examples/contacts.toml")).expect("example contacts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_secretariat_approves_from_the_console_and_officials_search_the_directory_and_add_accounts()
-> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX"]).await?;
    // MEX lists contacts working in Spanish; the Secretariat accepts them.
    let mex = net.national("MEX").api()?;
    blocking(|| mex.post::<_, serde_json::Value>("/v1/contacts", &SubmitContactsRequest { contacts: example() }))?;
    let sec = net.secretariat.api()?;
    let decision = ContactsDecision { state: "MEX".into(), reason: String::new() };
    let _: VersionView = blocking(|| sec.post("/v1/contacts/accept", &decision))?;
    // SWE registers and waits: it is not admitted.
    net.add_national("SWE", "Inspectorate of Strategic Products").await?;
    let swe: StatusView = blocking(|| net.national("SWE").api()?.get("/v1/status"))?;

    // The Secretariat's directory reviewer sees the registration with its
    // fingerprint, in the console.
    blocking(|| add_official(&sec, "rosa", &["directory-reviewer"], "en", PASSWORD))?;
    let reviewer = ConsoleClient::of(&net.secretariat.home, "en")?;
    blocking(|| reviewer.login("rosa", PASSWORD, None))?;
    let page = wait_for("the registration of SWE in the console", Duration::from_secs(20), || {
        let page = blocking(|| reviewer.get("/console/registrations")).ok()?;
        page.html.contains("id=\"pending-SWE\"").then_some(page)
    })
    .await?;
    assert_eq!(page.status, 200);
    assert!(page.html.contains(&format!("id=\"fingerprint-SWE\">{}</code>", swe.fingerprint)), "{}", page.text());
    assert!(page.html.contains("href=\"/console/registrations\""), "the reviewer's menu has the page");
    assert!(!page.html.contains('⟦'), "no text is missing");

    // A fingerprint that is not the State's is refused, and nothing is published.
    let wrong = blocking(|| {
        reviewer.post(&page, "/console/registrations/approve", &[("state", "SWE"), ("fingerprint", "00:11:22")])
    })?;
    assert_eq!(wrong.status, 409, "{}", wrong.text());
    assert!(wrong.text().contains("The fingerprint does not match"), "{}", wrong.text());
    // The one the State read out admits it.
    let approved = blocking(|| {
        reviewer.post(&page, "/console/registrations/approve", &[("state", "SWE"), ("fingerprint", &swe.fingerprint)])
    })?;
    assert_eq!(approved.location.as_deref(), Some("/console/registrations"), "{}", approved.text());
    let after = blocking(|| reviewer.follow(&approved))?;
    assert!(after.text().contains("SWE is admitted"), "{}", after.text());
    assert!(after.html.contains("id=\"pending-none\""), "{}", after.text());
    // The public export, as a page in French to save.
    let export = blocking(|| reviewer.get("/console/registrations/export?format=html&language=fr"))?;
    assert_eq!(export.status, 200, "{}", export.text());
    assert!(export.header("content-disposition").unwrap_or_default().contains("points-of-contact-fr.html"));
    assert!(export.html.contains("lang=\"fr\"") && export.html.contains("María Fernanda López"), "{}", export.html);
    assert!(!export.html.contains("Jorge Ramírez"), "a restricted contact is left out");
    // The reports and the meeting: nothing waits yet.
    let publications = blocking(|| reviewer.get("/console/publications"))?;
    assert_eq!(publications.status, 200, "{}", publications.text());
    assert!(publications.html.contains("id=\"reports-none\"") && publications.html.contains("id=\"meeting-none\""));
    let listing: veim_node::api::DirectoryListing = blocking(|| sec.get("/v1/directory"))?;
    assert!(listing.entries.iter().any(|e| e.state.as_str() == "SWE"), "SWE is in the directory");
    net.wait_directory(listing.version).await?;

    // A national operator searches the directory by State and by language.
    let mex_node = net.national("MEX");
    blocking(|| add_official(&mex, "maria", &["operator"], "es", PASSWORD))?;
    let operator = ConsoleClient::of(&mex_node.home, "es")?;
    blocking(|| operator.login("maria", PASSWORD, None))?;
    let found = blocking(|| operator.get("/console/directory?state=suecia"))?;
    assert_eq!(found.status, 200, "{}", found.text());
    let by_name = blocking(|| operator.get("/console/directory?state=sweden"))?;
    assert!(
        by_name.html.contains("id=\"state-SWE\"") && !by_name.html.contains("id=\"state-MEX\""),
        "{}",
        by_name.text()
    );
    assert!(by_name.text().contains(&swe.fingerprint), "the fingerprint is shown");
    assert!(by_name.text().contains("Europa Septentrional"), "the region, in Spanish: {}", by_name.text());
    let by_code = blocking(|| operator.get("/console/directory?state=swe"))?;
    assert!(by_code.html.contains("id=\"state-SWE\""), "{}", by_code.text());
    let spanish = blocking(|| operator.get("/console/directory?language=es&role=national-poc"))?;
    assert!(
        spanish.html.contains("id=\"state-MEX\"") && !spanish.html.contains("id=\"state-SWE\""),
        "{}",
        spanish.text()
    );
    assert!(spanish.text().contains("María Fernanda López"), "with its contacts: {}", spanish.text());
    assert!(spanish.text().contains("Punto de contacto nacional"), "{}", spanish.text());
    let americas = blocking(|| operator.get("/console/directory?region=central-america"))?;
    assert!(americas.html.contains("id=\"state-MEX\"") && !americas.html.contains("id=\"state-SWE\""));
    let bad = blocking(|| operator.get("/console/directory?language=spanish"))?;
    assert!(bad.text().contains("ISO 639-1"), "a wrong filter is named: {}", bad.text());
    assert!(!spanish.html.contains('⟦') && !found.html.contains('⟦'), "no text is missing");

    // The operator submits this State's contacts: each wrong field is named
    // beside its contact, with what was written kept.
    let form = blocking(|| operator.get("/console/contacts"))?;
    assert_eq!(form.status, 200, "{}", form.text());
    assert!(form.text().contains("María Fernanda López"), "the current contacts: {}", form.text());
    let mut contact = vec![
        ("entry_visibility", "public"),
        ("c0-role", "national-poc"),
        ("c0-name", "Ana Ruiz"),
        ("c0-ministry", "Secretaría de Relaciones Exteriores"),
        ("c0-emails", "not an address"),
        ("c0-languages", "es, en"),
        ("c0-visibility", "public"),
        ("c0-restricted", "phones"),
    ];
    let wrong = blocking(|| operator.post(&form, "/console/contacts", &contact))?;
    assert_eq!(wrong.status, 422, "{}", wrong.text());
    assert!(
        wrong.text().contains("emails[0]:") && wrong.text().contains("is not an e-mail address"),
        "{}",
        wrong.text()
    );
    assert_eq!(wrong.input("c0-name").as_deref(), Some("Ana Ruiz"), "the values are kept");
    contact[4] = ("c0-emails", "ana.ruiz@sre.example.mx");
    let sent = blocking(|| operator.post(&wrong, "/console/contacts", &contact))?;
    assert_eq!(sent.location.as_deref(), Some("/console/contacts"), "{}", sent.text());
    let shown = blocking(|| operator.follow(&sent))?;
    assert!(shown.text().contains("se firmaron y enviaron"), "{}", shown.text());
    assert!(shown.text().contains("pendiente del examen de la Secretaría"), "in Spanish: {}", shown.text());
    let own: veim_node::api::ContactsView = blocking(|| mex.get("/v1/contacts"))?;
    assert_eq!(own.contacts.len(), 1);
    assert_eq!(own.contacts[0].emails, ["ana.ruiz@sre.example.mx"]);
    assert_eq!(own.contacts[0].languages, ["es", "en"]);

    // The operator does not see the accounts, nor may open them.
    assert!(!spanish.html.contains("href=\"/console/users\""), "no link to the accounts");
    assert_eq!(blocking(|| operator.get("/console/users"))?.status, 403);

    // An administrator adds an account with a password; its official logs in.
    blocking(|| add_official(&mex, "ana", &["administrator"], "fr", PASSWORD))?;
    let admin = ConsoleClient::of(&mex_node.home, "fr")?;
    blocking(|| admin.login("ana", PASSWORD, None))?;
    let users = blocking(|| admin.get("/console/users"))?;
    assert_eq!(users.status, 200, "{}", users.text());
    assert!(users.html.contains("id=\"user-maria\""), "{}", users.text());
    let fields = [("name", "luis"), ("full_name", "Luis Ortega"), ("roles", "operator"), ("roles", "approver")];
    let short = [&fields[..], &[("language", "fr"), ("password", "short")]].concat();
    let refused = blocking(|| admin.post(&users, "/console/users", &short))?;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(refused.text().contains("12"), "the password's length is named: {}", refused.text());
    assert_eq!(refused.input("name").as_deref(), Some("luis"), "the values are kept");
    let made = [&fields[..], &[("language", "es"), ("password", "another good passphrase")]].concat();
    let added = blocking(|| admin.post(&users, "/console/users", &made))?;
    assert_eq!(added.status, 200, "{}", added.text());
    assert!(added.html.contains("id=\"account-token\""), "the personal token is shown once");
    let again = blocking(|| admin.post(&users, "/console/users", &made))?;
    assert_eq!(again.status, 422);
    assert!(again.text().contains("Un compte porte déjà ce nom"), "{}", again.text());

    let luis = ConsoleClient::of(&mex_node.home, "en")?;
    let opened = blocking(|| luis.login("luis", "another good passphrase", None))?;
    assert_eq!(opened.location.as_deref(), Some("/console/"), "{}", opened.text());
    let dashboard = blocking(|| luis.follow(&opened))?;
    assert!(dashboard.text().contains("Luis Ortega"), "{}", dashboard.text());
    assert!(dashboard.html.contains("lang=\"es\""), "in the language the administrator chose");

    net.shutdown().await;
    Ok(())
}
