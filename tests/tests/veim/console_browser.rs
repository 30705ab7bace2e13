//! The web console in a real headless Chromium against real nodes: an
//! official logs in in each of the three languages (pages with no text
//! missing, dates in the language, the style sheet applied under the
//! Content-Security-Policy), a wrong password, a form without its CSRF
//! token and an expired session are each refused; the dashboards are
//! photographed into docs/console/. And the path through two
//! States' consoles: a request composed and answered, consent asked and
//! granted, a disclosure refused to the official who asked for it and made
//! by a second one, the log read and verified by an auditor who may not
//! send; the main pages photographed.

use std::path::PathBuf;
use std::time::Duration;
use veim_node::home::config::Config;
use veim_tests::browser::Browser;
use veim_tests::console::add_official;
use veim_tests::{TestNet, blocking, wait_for};

const PASSWORD: &str = "correct horse battery staple";
/// Seconds a session lasts unused in these tests.
const IDLE: u64 = 10;

fn short_sessions(config: &mut Config) {
    config.console.session_idle_secs = IDLE;
}

/// Where the tests put the console's screenshots: docs/console/.
pub fn screenshots() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Texts each language's pages must show, and one they must not.
struct Expect {
    language: &'static str,
    official: &'static str,
    login: &'static str,
    refused: &'static str,
    dashboard: &'static str,
    csrf: &'static str,
    expired: &'static str,
}

const LANGUAGES: [Expect; 3] = [
    Expect {
        language: "en",
        official: "maria",
        login: "Log in to the console",
        refused: "The name, password or code is not right",
        dashboard: "Dashboard",
        csrf: "Form refused",
        expired: "Your session has expired",
    },
    Expect {
        language: "fr",
        official: "claire",
        login: "Connexion à la console",
        refused: "Le nom, le mot de passe ou le code n’est pas correct",
        dashboard: "Tableau de bord",
        csrf: "Formulaire refusé",
        expired: "Votre session a expiré",
    },
    Expect {
        language: "es",
        official: "jorge",
        login: "Iniciar sesión en la consola",
        refused: "El nombre, la contraseña o el código no son correctos",
        dashboard: "Panel",
        csrf: "Formulario rechazado",
        expired: "Su sesión ha caducado",
    },
];

/// Fails if the page open now shows a text missing in its language.
async fn all_translated(browser: &Browser, language: &str) -> anyhow::Result<()> {
    let source = browser.page_source().await?;
    anyhow::ensure!(!source.contains('⟦'), "a text is missing in {language}: {}", excerpt(&source, '⟦'));
    anyhow::ensure!(source.contains(&format!("lang=\"{language}\"")), "the page is not marked {language}");
    Ok(())
}

fn excerpt(source: &str, around: char) -> String {
    let at = source.find(around).unwrap_or(0);
    let start = source.floor_char_boundary(at.saturating_sub(80));
    let end = source.floor_char_boundary((at + 80).min(source.len()));
    source[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn officials_log_in_in_their_language_and_wrong_passwords_forged_forms_and_expired_sessions_are_refused()
-> anyhow::Result<()> {
    let net = TestNet::admitted_with(&["MEX"], short_sessions).await?;
    let node = net.national("MEX");
    let admin = node.api()?;
    for expect in &LANGUAGES {
        blocking(|| add_official(&admin, expect.official, &["operator"], expect.language, PASSWORD))?;
    }
    let base = veim_tests::console::address_of(&node.home)?;
    let shots = screenshots()?;

    for expect in &LANGUAGES {
        let language = expect.language;
        let browser = Browser::start(language).await?;
        // Not logged in: the login form, in the browser's language.
        browser.goto(&format!("{base}/console/")).await?;
        browser.wait_url(&format!("{base}/console/login")).await?;
        assert_eq!(browser.text("h1").await?, expect.login);
        all_translated(&browser, language).await?;

        // A wrong password.
        browser.fill("#name", expect.official).await?;
        browser.fill("#password", "not the password at all").await?;
        browser.click("#login").await?;
        assert!(browser.text("#error").await?.starts_with(expect.refused), "{language}");
        all_translated(&browser, language).await?;

        // The right one: the dashboard, in the official's language, styled.
        browser.fill("#name", expect.official).await?;
        browser.fill("#password", PASSWORD).await?;
        browser.click("#login").await?;
        browser.wait_url(&format!("{base}/console/")).await?;
        assert_eq!(browser.text("h1").await?, expect.dashboard);
        assert!(browser.text("#who").await?.contains(expect.official));
        all_translated(&browser, language).await?;
        assert_eq!(
            browser.style_of("header.top", "background-color").await?,
            "rgba(11, 79, 138, 1)",
            "the console's own style sheet is applied under its CSP"
        );
        let session = browser.cookies().await?.into_iter().find(|c| c.name() == "veim-session");
        let session = session.ok_or_else(|| anyhow::anyhow!("no session cookie"))?;
        assert_eq!(session.http_only(), Some(true));
        assert_eq!(session.same_site().map(|s| s.to_string()).as_deref(), Some("Strict"));
        browser.screenshot(&shots.join(format!("dashboard-{language}.png"))).await?;

        // Each list page, in the language, with nothing missing.
        for link in ["/console/inbox", "/console/outbox", "/console/exchanges"] {
            browser.click(&format!("nav a[href='{link}']")).await?;
            all_translated(&browser, language).await?;
        }

        // A form whose CSRF token was taken out is refused.
        browser.click("nav a[href='/console/']").await?;
        browser.execute("document.querySelector('form.who input[name=csrf]').remove()").await?;
        browser.click("form.who button").await?;
        assert_eq!(browser.text("h1").await?, expect.csrf);
        all_translated(&browser, language).await?;

        // Left unused past its idle time, the session has expired (once:
        // the wait is long).
        if language != "es" {
            browser.close().await?;
            continue;
        }
        tokio::time::sleep(Duration::from_secs(IDLE + 1)).await;
        browser.click("nav a[href='/console/inbox']").await?;
        browser.wait_url(&format!("{base}/console/login?expired=1")).await?;
        assert!(browser.text("#notice").await?.starts_with(expect.expired));
        all_translated(&browser, language).await?;
        browser.close().await?;
    }
    Ok(())
}

/// Starts a browser in English and logs `name` in to the console at `base`.
async fn logged_in(base: &str, name: &str) -> anyhow::Result<Browser> {
    let browser = Browser::start("en").await?;
    browser.goto(&format!("{base}/console/login")).await?;
    browser.fill("#name", name).await?;
    browser.fill("#password", PASSWORD).await?;
    browser.click("#login").await?;
    browser.wait_url(&format!("{base}/console/")).await?;
    Ok(browser)
}

/// Fails if the page open now names an address outside the node.
async fn nothing_outside(browser: &Browser) -> anyhow::Result<()> {
    let source = browser.page_source().await?;
    for needle in ["http://", "https://", "src=\"//", "href=\"//"] {
        anyhow::ensure!(
            !source.contains(needle),
            "the page names {}",
            excerpt(&source, needle.chars().next().unwrap_or('h'))
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn officials_of_two_states_exchange_consent_and_disclose_through_their_consoles_and_an_auditor_reads_the_log()
-> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let (mex, swe) = (net.national("MEX"), net.national("SWE"));
    let (mex_api, swe_api) = (mex.api()?, swe.api()?);
    for (name, role) in [("maria", "operator"), ("jorge", "approver"), ("lucia", "approver"), ("ana", "auditor")] {
        blocking(|| add_official(&mex_api, name, &[role], "en", PASSWORD))?;
    }
    for (name, role) in [("sven", "operator"), ("sofia", "approver")] {
        blocking(|| add_official(&swe_api, name, &[role], "en", PASSWORD))?;
    }
    let (mex_base, swe_base) =
        (veim_tests::console::address_of(&mex.home)?, veim_tests::console::address_of(&swe.home)?);
    let shots = screenshots()?;

    // maria, MEX's operator, composes a request from the Annex 1 form; a
    // mistake is shown at its field, then the request goes.
    let maria = logged_in(&mex_base, "maria").await?;
    maria.click("nav a[href='/console/compose']").await?;
    maria.press("#f-to-0").await?;
    maria.fill("#f-summary", "Rifles of licence MX-2016-0412 seized outside the end user's area").await?;
    maria.fill("#f-states-involved", "SWE").await?;
    maria.select("#f-stage", "diversion-detected").await?;
    maria.press("#f-provisions-3").await?;
    maria.press("#f-categories-7").await?;
    maria.fill("#f-item-0-description", "Assault rifles, 5.56 mm").await?;
    maria.fill("#f-item-0-number", "0").await?;
    maria.fill("#f-importing-state", "SWE").await?;
    maria.fill("#f-end-user", "Ministry of Defence, Logistics Command").await?;
    maria.click("#send-request").await?;
    assert!(maria.text("#f-item-0-number-error").await?.contains("must be at least 1"));
    nothing_outside(&maria).await?;
    maria.screenshot(&shots.join("compose-en.png")).await?;
    maria.fill("#f-item-0-number", "400").await?;
    maria.click("#send-request").await?;
    let flash = maria.text("#flash").await;
    assert!(flash.as_deref().is_ok_and(|f| f.contains("The request was sent.")), "{}", maria.text("main").await?);
    let thread = maria.current_url().await?;
    let exchange = thread.rsplit('/').next().unwrap_or_default().to_string();
    assert_eq!(exchange.len(), 32, "{thread}");

    // sven, SWE's operator, finds it in his inbox and answers it.
    let sven = logged_in(&swe_base, "sven").await?;
    let in_inbox = wait_for("the request in SWE's inbox", Duration::from_secs(30), || {
        let inbox: Vec<veim_node::api::MessageView> = swe_api.get("/v1/inbox").ok()?;
        (!inbox.is_empty()).then_some(())
    });
    in_inbox.await?;
    sven.click("nav a[href='/console/inbox']").await?;
    sven.click(&format!("#messages a[href='/console/exchanges/{exchange}']")).await?;
    assert!(sven.text("#summary").await?.contains("MX-2016-0412"));
    sven.click("#respond").await?;
    sven.fill("#f-summary", "What our customs hold").await?;
    sven.select("#f-item-0-kind", "volume-and-date-acknowledged").await?;
    sven.click("#show-fields").await?;
    sven.fill("#f-item-0-volume", "400").await?;
    sven.fill("#f-item-0-date", "2017-04-03").await?;
    sven.fill("#f-item-0-details", "Customs entry 2017/118").await?;
    sven.click("#send-response").await?;
    sven.wait_url(&format!("{swe_base}/console/exchanges/{exchange}")).await?;
    sven.close().await?;

    // The answer reaches maria's thread; she asks SWE for consent to give
    // the answer to a court.
    wait_for("the response in MEX's thread", Duration::from_secs(30), || {
        let view: veim_node::api::ExchangeView = mex_api.get(&format!("/v1/exchanges/{exchange}")).ok()?;
        (view.messages.len() >= 2).then_some(())
    })
    .await?;
    maria.goto(&thread).await?;
    assert!(maria.page_source().await?.contains("Customs entry 2017/118"), "the answer is in the thread");
    maria.screenshot(&shots.join("thread-en.png")).await?;
    maria.click("#ask-consent-link").await?;
    maria.press("#item-1").await?;
    maria.select("#authority-kind", "court").await?;
    maria.fill("#authority-name", "Juzgado Primero de Distrito").await?;
    maria.fill("#authority-state", "MEX").await?;
    maria.fill("#purpose", "Prosecution of the broker").await?;
    maria.fill("#case-reference", "Causa penal 112/2017").await?;
    maria.click("#ask-consent-submit").await?;
    maria.close().await?;

    // sofia, SWE's approver, grants it.
    let consent = wait_for("the consent request at SWE", Duration::from_secs(30), || {
        let list: Vec<veim_node::api::ConsentView> = swe_api.get("/v1/consents").ok()?;
        list.into_iter().next()
    })
    .await?;
    let id = consent.consent_id.to_hex();
    let sofia = logged_in(&swe_base, "sofia").await?;
    sofia.click("nav a[href='/console/consents']").await?;
    sofia.goto(&format!("{swe_base}/console/consents/{id}")).await?;
    sofia.fill("#conditions", "Closed session only").await?;
    sofia.click("#grant").await?;
    assert_eq!(sofia.find("#consent-status").await?.attr("data-status").await?.as_deref(), Some("granted"));
    sofia.screenshot(&shots.join("consent-en.png")).await?;
    sofia.close().await?;

    // jorge, MEX's approver, asks for the disclosure the grant allows; his
    // own approval is refused; lucia, a second approver, makes it.
    wait_for("the grant at MEX", Duration::from_secs(30), || {
        let list: Vec<veim_node::api::ConsentView> = mex_api.get("/v1/consents").ok()?;
        list.into_iter().find(|c| c.status == veim_node::api::ConsentStatus::Granted)
    })
    .await?;
    let jorge = logged_in(&mex_base, "jorge").await?;
    jorge.goto(&format!("{mex_base}/console/consents/{id}")).await?;
    jorge.click("#disclose-under-grant").await?;
    jorge.select("#authority-kind", "court").await?;
    jorge.click("#ask-disclosure-submit").await?;
    let requests: Vec<veim_node::terms::DisclosureRequestView> = blocking(|| mex_api.get("/v1/disclosures/requests"))?;
    let request = requests.first().ok_or_else(|| anyhow::anyhow!("jorge's request does not wait"))?;
    let short = &request.id[..8];
    jorge.click(&format!("#approve-{short}")).await?;
    let refused = jorge.text("main").await?;
    assert!(refused.contains("A second official must approve this"), "{refused}");
    jorge.close().await?;
    let lucia = logged_in(&mex_base, "lucia").await?;
    lucia.click("nav a[href='/console/disclosures']").await?;
    lucia.screenshot(&shots.join("disclosures-en.png")).await?;
    lucia.press(&format!("#approve-{short}")).await?;
    wait_for("the disclosure made", Duration::from_secs(15), || {
        let (made, _): (Vec<serde_json::Value>, _) =
            mex_api.get_page("/v1/disclosures", &veim_node::api::ListQuery::default()).ok()?;
        (!made.is_empty()).then_some(())
    })
    .await?;
    lucia.close().await?;

    // ana, MEX's auditor, reads the log naming each official and verifies
    // it; she may not send.
    let ana = logged_in(&mex_base, "ana").await?;
    assert!(ana.find("nav a[href='/console/compose']").await.is_err(), "no compose link for an auditor");
    ana.click("nav a[href='/console/audit']").await?;
    for official in ["maria", "jorge", "lucia"] {
        ana.fill("#actor", official).await?;
        ana.click("#audit-filter").await?;
        let log = ana.text("#audit-entries").await?;
        assert!(log.contains(official), "the log names {official}: {log}");
    }
    ana.click("#verify-audit-submit").await?;
    assert_eq!(ana.find("#audit-verify-result").await?.attr("data-verified").await?.as_deref(), Some("true"));
    nothing_outside(&ana).await?;
    ana.screenshot(&shots.join("audit-en.png")).await?;
    ana.goto(&format!("{mex_base}/console/compose")).await?;
    assert_eq!(ana.text("h1").await?, "Your roles do not allow this");
    ana.close().await?;
    Ok(())
}
