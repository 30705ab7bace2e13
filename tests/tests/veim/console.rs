//! The web console over plain HTTP against a real node: logging in and out,
//! the CSRF token on every form, an expired session, limits on failed
//! logins, the security headers on every answer, and each page's text in
//! the official's language.

use veim_node::accounts::AccountChange;
use veim_node::home::config::Config;
use veim_protocol::audit::Action;
use veim_tests::console::{ConsoleClient, add_official};
use veim_tests::{TestNet, blocking};

const PASSWORD: &str = "correct horse battery staple";

fn short_sessions(config: &mut Config) {
    config.console.session_idle_secs = 5;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_official_logs_in_works_and_logs_out_and_bad_logins_forms_and_sessions_are_refused() -> anyhow::Result<()> {
    let net = TestNet::admitted_with(&["MEX"], short_sessions).await?;
    let node = net.national("MEX");
    let admin = node.api()?;
    blocking(|| add_official(&admin, "maria", &["operator"], "en", PASSWORD))?;
    let console = ConsoleClient::of(&node.home, "en")?;

    // Without a session every page sends to the login form.
    let page = blocking(|| console.get("/console/"))?;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/console/login")), "{page:?}");

    // A wrong password is refused without saying which part was wrong.
    let refused = blocking(|| console.login("maria", "not the password at all", None))?;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(refused.text().contains("The name, password or code is not right"), "{}", refused.text());
    let unknown = blocking(|| console.login("nobody", PASSWORD, None))?;
    assert_eq!(unknown.status, 401);

    // A login form without its token is refused.
    let form = blocking(|| console.get("/console/login"))?;
    let page = blocking(|| console.post_raw("/console/login", &[("name", "maria"), ("password", PASSWORD)]))?;
    assert_eq!(page.status, 401, "{}", page.text());
    assert!(page.text().contains("did not come from your session"), "{}", page.text());
    drop(form);

    // The right password opens a session: the dashboard, in English.
    let opened = blocking(|| console.login("maria", PASSWORD, None))?;
    assert_eq!((opened.status, opened.location.as_deref()), (303, Some("/console/")), "{}", opened.text());
    let cookie = opened.header("set-cookie").unwrap_or_default().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let dashboard = blocking(|| console.follow(&opened))?;
    assert_eq!(dashboard.status, 200, "{}", dashboard.text());
    assert!(dashboard.text().contains("Dashboard"), "{}", dashboard.text());
    assert!(dashboard.text().contains("maria"), "the official is named");
    assert!(!dashboard.html.contains('⟦'), "no text is missing");

    // Every answer carries the security headers, pages and API alike.
    for page in [&dashboard, &refused, &blocking(|| console.get("/healthz"))?] {
        let csp = page.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    }
    // No page names an address outside the node.
    for needle in ["http://", "https://", "//"] {
        let outside: Vec<&str> = dashboard
            .html
            .match_indices(needle)
            .map(|(i, _)| &dashboard.html[i..(i + 40).min(dashboard.html.len())])
            .collect();
        assert!(outside.is_empty(), "the page names {outside:?}");
    }

    // A form without the session's CSRF token is refused, and recorded.
    let before = failed_logins(&node.home);
    let page = blocking(|| console.post_raw("/console/logout", &[]))?;
    assert_eq!(page.status, 403, "{}", page.text());
    assert!(page.text().contains("Form refused"), "{}", page.text());
    let page = blocking(|| console.post_raw("/console/logout", &[("csrf", "0000")]))?;
    assert_eq!(page.status, 403);
    assert!(failed_logins(&node.home) >= before + 2, "the refused forms are in the log");
    assert_eq!(blocking(|| console.get("/console/"))?.status, 200, "the session still works");

    // An expired session is refused: the login form says so.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let page = blocking(|| console.get("/console/inbox"))?;
    assert_eq!(page.location.as_deref(), Some("/console/login?expired=1"), "{page:?}");
    let login = blocking(|| console.follow(&page))?;
    assert!(login.text().contains("Your session has expired"), "{}", login.text());

    // A change of the account (here its password reset) ends its session.
    let opened = blocking(|| console.login("maria", PASSWORD, None))?;
    assert_eq!(blocking(|| console.follow(&opened))?.status, 200);
    let reset = AccountChange { password: Some(format!("{PASSWORD} again")), ..AccountChange::default() };
    blocking(|| admin.post::<_, serde_json::Value>("/v1/users/maria", &reset))?;
    assert_eq!(blocking(|| console.get("/console/"))?.location.as_deref(), Some("/console/login"));
    assert_eq!(blocking(|| console.login("maria", PASSWORD, None))?.status, 401, "the old password");

    // Logging in again and out: the session ends.
    let opened = blocking(|| console.login("maria", &format!("{PASSWORD} again"), None))?;
    let dashboard = blocking(|| console.follow(&opened))?;
    let out = blocking(|| console.post(&dashboard, "/console/logout", &[]))?;
    assert_eq!(out.location.as_deref(), Some("/console/login?out=1"));
    assert_eq!(blocking(|| console.get("/console/"))?.location.as_deref(), Some("/console/login"));

    // The log names the official's logins and logout.
    let log = veim_node::audit::LogFiles::read_home(&node.home)?;
    let of = |action: Action| log.entries.iter().filter(|e| e.event.action == action).count();
    assert_eq!(of(Action::ConsoleLogin), 3);
    assert_eq!(of(Action::ConsoleLogout), 1);
    Ok(())
}

fn failed_logins(home: &std::path::Path) -> usize {
    let log = veim_node::audit::LogFiles::read_home(home).unwrap_or_default();
    log.entries.iter().filter(|e| e.event.action == Action::AdminAuthFailed).count()
}
