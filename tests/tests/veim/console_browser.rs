//! The web console in a real headless Chromium against real nodes: an
//! official logs in in each of the three languages (pages with no text
//! missing, dates in the language, the style sheet applied under the
//! Content-Security-Policy), a wrong password, a form without its CSRF
//! token and an expired session are each refused; the dashboards are
//! photographed into docs/console/.

use std::path::PathBuf;
use std::time::Duration;
use veim_node::home::config::Config;
use veim_tests::browser::Browser;
use veim_tests::console::add_official;
use veim_tests::{TestNet, blocking};

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
