//! Logging in and out of the console.
//!
//! The login form carries its own CSRF token (in a cookie of its own, as
//! no session exists yet). A login is refused without saying whether the
//! name, the password or the code was wrong; the audit log says which.
//! Failures of a name in a row make its next tries wait
//! ([`super::session`]); every failure takes from the admin listener's
//! allowance and is recorded as a failed login (counted past the minute's
//! allowance, so that a flood cannot fill the log).

use super::*;
use crate::accounts::Login;
use crate::clock::now;
use axum::routing::post;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::report::Language;

pub(super) fn routes() -> Router<Console> {
    Router::new().route("/console/login", get(form).post(submit)).route("/console/logout", post(logout))
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    tr: Tr,
    csrf: String,
    name: String,
    /// Why the form is shown again, or what happened before.
    notice: Option<String>,
    error: Option<String>,
    languages: Vec<(&'static str, &'static str, bool)>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct LoginQuery {
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    out: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

/// The language of a page before login: the one asked in the page's
/// address, else the browser's.
fn language(headers: &HeaderMap, asked: Option<&str>) -> Language {
    asked.and_then(Language::parse).unwrap_or_else(|| i18n::from_accept_language(accept_language(headers)))
}

fn page(console: &Console, tr: Tr, name: String, notice: Option<String>, error: Option<String>) -> Response {
    let csrf = crate::accounts::new_token();
    let languages = i18n::LANGUAGES.iter().map(|l| (l.as_str(), language_name(*l), *l == tr.language)).collect();
    let page = LoginPage { tr, csrf: csrf.clone(), name, notice, error, languages };
    let status = if page.error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let mut response = (status, render(&page)).into_response();
    response.headers_mut().append(header::SET_COOKIE, console.cookie(console.login_cookie_name(), &csrf));
    response
}

/// Each language's name in itself, for the language links.
fn language_name(language: Language) -> &'static str {
    match language {
        Language::En => "English",
        Language::Fr => "Français",
        Language::Es => "Español",
    }
}

async fn form(
    State(console): State<Console>,
    official: Result<Official, Response>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Response {
    if official.is_ok() {
        return Redirect::to(PATH).into_response();
    }
    let tr = Tr::new(language(&headers, q.lang.as_deref()));
    let notice = if q.expired.is_some() {
        Some(tr.t("login-expired"))
    } else if q.out.is_some() {
        Some(tr.t("login-logged-out"))
    } else {
        None
    };
    page(&console, tr, String::new(), notice, None)
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    lang: Option<String>,
}

async fn submit(State(console): State<Console>, headers: HeaderMap, body: Bytes) -> Response {
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let tr = Tr::new(language(&headers, form.lang.as_deref()));
    let name = form.name.trim().to_string();
    let node = console.node();
    let guard = &console.inner.guard;
    let expected = cookie(&headers, console.login_cookie_name()).unwrap_or_default();
    if !same_token(&form.csrf, &expected) {
        crate::api::failed(node, guard, "/console/login".into(), "console login form without its form token".into())
            .await;
        return page(&console, tr, name, None, Some(tr.t("error-csrf")));
    }
    let shown = crate::api::cut(&name);
    if let Some(wait) = console.sessions().login_wait(&name) {
        let detail = format!("console login of {shown} not checked: repeated failures, {}s to wait", wait.as_secs());
        crate::api::failed(node, guard, "/console/login".into(), detail).await;
        let minutes = wait.as_secs().div_ceil(60);
        return page(&console, tr, name, None, Some(tr.t1("login-wait", "minutes", &minutes)));
    }
    let accounts = node.accounts.clone();
    let (who, password, code) = (name.clone(), form.password, form.code);
    // Argon2 takes its time and memory on purpose: off the async threads.
    let outcome = tokio::task::spawn_blocking(move || accounts.login(&who, &password, &code)).await;
    let outcome = match outcome {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => {
            tracing::error!(%e, "a console login could not be checked");
            return page(&console, tr, name, None, Some(tr.t("login-unavailable")));
        }
        Err(e) => {
            tracing::error!(%e, "a console login's check stopped");
            return page(&console, tr, name, None, Some(tr.t("login-unavailable")));
        }
    };
    let why = match outcome {
        Login::Granted(account) => return opened(&console, account).await,
        Login::WrongPassword => "wrong name or password",
        Login::WrongCode => "right password, missing or wrong second-factor code",
    };
    console.sessions().login_failed(&name);
    let error = match guard.check(false) {
        crate::api::Check::TooFast => tr.t("login-too-fast"),
        _ => tr.t("login-refused"),
    };
    crate::api::failed(node, guard, "/console/login".into(), format!("console login of {shown}: {why}")).await;
    page(&console, tr, name, None, Some(error))
}

/// Opens a session for `account`, recorded, and goes to the dashboard.
async fn opened(console: &Console, account: Account) -> Response {
    console.sessions().login_succeeded(account.name.as_str());
    let value = console.sessions().open(account.name, account.updated_at);
    record(console.node(), account.name, Action::ConsoleLogin, "session opened".into()).await;
    let mut response = Redirect::to(PATH).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, console.cookie(console.cookie_name(), &value));
    headers.append(header::SET_COOKIE, console.cookie(console.login_cookie_name(), ""));
    response
}

async fn record(node: &Node, name: veim_protocol::audit::AccountName, action: Action, detail: String) {
    let mut event = Event::new(now(), Actor::Official(name), action);
    event.object = Some("console".into());
    event.detail = detail;
    node.store.record(&event);
    if let Err(e) = node.store.flush().await {
        tracing::error!(%e, "a console session's audit entry could not be made durable");
    }
}

async fn logout(State(console): State<Console>, posted: Posted<Nothing>) -> Response {
    let official = posted.official;
    console.sessions().close(&official.cookie);
    record(console.node(), official.account.name, Action::ConsoleLogout, "session closed".into()).await;
    let mut response = Redirect::to("/console/login?out=1").into_response();
    response.headers_mut().append(header::SET_COOKIE, console.cookie(console.cookie_name(), ""));
    response
}
