//! The web console: the restricted section of the Portal, served by the
//! node's admin listener for the officials who run the node, each with
//! their own account, in English, French and Spanish.
//!
//! Its pages are rendered on the node (templates compiled into the binary,
//! `templates/`) and work without JavaScript: the console ships no script
//! at all, only its style sheet, and every answer of the listener carries a
//! Content-Security-Policy that forbids anything else
//! ([`crate::api::CONTENT_SECURITY_POLICY`]).
//!
//! The console does nothing the admin API does not: each page calls the API
//! in process as the official of its session ([`call::Api`]), so a page
//! gets the same roles, validation, errors and audit entries as the CLI.
//! What the console adds is the session: a login with a password (and a
//! second factor, if the account has one) opens it ([`session`]), a cookie
//! carries it, and every form carries the session's CSRF token, checked
//! before the form is read. Requests of other origins and host names are
//! refused before anything else, as the API's are.

mod attachments;
mod audit;
mod call;
mod compose;
mod dashboard;
mod directory;
mod exchanges;
mod form;
pub mod i18n;
mod login;
mod progress;
mod publications;
mod respond;
mod secretariat;
pub mod session;
mod terms;
mod users;

use crate::accounts::{Account, Need, need};
use crate::api::{ApiError, Guard};
use crate::app::Node;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use call::Api;
pub use directory::public_page;
pub use i18n::Tr;
use serde::de::DeserializeOwned;
use session::{Flash, Found, Sessions};
use std::sync::Arc;
use std::time::Duration;

/// Where the console lives on the admin listener.
pub const PATH: &str = "/console/";
/// The largest form the console reads (uploads excepted).
const MAX_FORM: usize = 1 << 20;

/// The console's state, shared by its handlers.
#[derive(Debug, Clone)]
pub(crate) struct Console {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: Arc<Node>,
    api: Api,
    sessions: Sessions,
    guard: Arc<Guard>,
    /// Reached through TLS (a public origin with `https`): cookies are Secure.
    secure: bool,
}

impl Console {
    fn node(&self) -> &Node {
        &self.inner.node
    }

    fn api(&self) -> &Api {
        &self.inner.api
    }

    fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// The session cookie's name: with the `__Host-` prefix behind TLS, so
    /// that no other site of the domain can set it.
    fn cookie_name(&self) -> &'static str {
        if self.inner.secure { "__Host-veim-session" } else { "veim-session" }
    }

    /// The login form's cookie (its CSRF token before a session exists).
    fn login_cookie_name(&self) -> &'static str {
        if self.inner.secure { "__Host-veim-login" } else { "veim-login" }
    }

    /// A `Set-Cookie` value for `name`; an empty value removes the cookie.
    fn cookie(&self, name: &str, value: &str) -> HeaderValue {
        let secure = if self.inner.secure { "; Secure" } else { "" };
        let age = if value.is_empty() { "; Max-Age=0" } else { "" };
        HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"))
            .unwrap_or_else(|_| HeaderValue::from_static("veim-session=; Path=/; Max-Age=0"))
    }
}

/// The console's routes, for the admin listener; `api` is the admin API's
/// router, which the pages call in process.
pub(crate) fn router(node: Arc<Node>, guard: Arc<Guard>, api: Router) -> Router {
    let settings = &node.config.console;
    let secure = matches!(settings.origin(), Ok(Some((scheme, _))) if scheme == "https");
    let sessions =
        Sessions::new(Duration::from_secs(settings.session_idle_secs), Duration::from_secs(settings.session_max_secs));
    let console = Console { inner: Arc::new(Inner { node, api: Api::new(api), sessions, guard, secure }) };
    Router::new()
        .route("/", get(|| async { Redirect::to(PATH) }))
        .route("/console", get(|| async { Redirect::to(PATH) }))
        .route(PATH, get(dashboard::page))
        .route("/console/static/console.css", get(style_sheet))
        .merge(login::routes())
        .merge(exchanges::routes())
        .merge(compose::routes())
        .merge(respond::routes())
        .merge(attachments::routes())
        .merge(progress::routes())
        .merge(terms::routes())
        .merge(audit::routes())
        .merge(directory::routes())
        .merge(secretariat::routes())
        .merge(publications::routes())
        .merge(users::routes())
        .route("/console/{*rest}", get(not_found))
        .layer(middleware::from_fn_with_state(console.clone(), durable))
        .layer(middleware::from_fn_with_state(console.clone(), own_origin))
        .with_state(console)
}

/// The console's style sheet, compiled in.
async fn style_sheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")],
        include_str!("static/console.css"),
    )
}

/// Makes the audit entries a page wrote (the content its reads showed)
/// durable once, before the page is answered: the API's guard leaves the
/// flush of the console's reads to this, so a page of five calls costs one
/// flush, not five.
async fn durable(State(console): State<Console>, req: Request, next: Next) -> Response {
    let store = &console.node().store;
    let entries = || store.audit_head().map(|(count, _)| count).ok();
    let before = entries();
    let response = next.run(req).await;
    if (before.is_none() || entries() != before)
        && let Err(e) = store.flush().await
    {
        tracing::error!(%e, "the audit entries of a console page could not be made durable");
    }
    response
}

/// Refuses, and records, a request from a page of another origin or under
/// another host name (the API's guard's rule, before any console page).
async fn own_origin(State(console): State<Console>, req: Request, next: Next) -> Response {
    let Some(why) = console.inner.guard.foreign(req.headers()) else { return next.run(req).await };
    let path = crate::api::cut(req.uri().path());
    crate::api::failed(console.node(), &console.inner.guard, path, format!("console refused: {why}")).await;
    let tr = Tr::new(i18n::from_accept_language(accept_language(req.headers())));
    let page = Bare { tr, heading: tr.t("error-foreign-heading"), text: tr.t("error-foreign") };
    (StatusCode::FORBIDDEN, render(&page)).into_response()
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

/// A page with a heading and a paragraph, outside a session.
#[derive(askama::Template)]
#[template(path = "bare.html")]
struct Bare {
    tr: Tr,
    heading: String,
    text: String,
}

async fn not_found(official: Result<Official, Response>) -> Response {
    match official {
        Ok(official) => {
            let tr = official.tr;
            official.problem(
                StatusCode::NOT_FOUND,
                tr.t("error-not-found-heading"),
                tr.t("error-not-found"),
                Vec::new(),
            )
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A rendered page, or an error page when the template fails.
fn render<T: askama::Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(%e, "a console page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("the page could not be rendered: {e}")).into_response()
        }
    }
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether two tokens are the same, in a time that does not depend on where
/// they differ.
fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The official of a live session, for a page; without one, the page
/// answers with the login form (saying so when the session expired).
#[derive(Debug, Clone)]
pub(crate) struct Official {
    pub account: Account,
    pub tr: Tr,
    pub csrf: String,
    pub flash: Option<Flash>,
    cookie: String,
    console: Console,
}

impl FromRequestParts<Console> for Official {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Official, Response> {
        let Some(value) = cookie(&parts.headers, console.cookie_name()) else {
            return Err(Redirect::to("/console/login").into_response());
        };
        let live = match console.sessions().find(&value) {
            Found::Live(live) => live,
            Found::Expired => return Err(Redirect::to("/console/login?expired=1").into_response()),
            Found::Unknown => return Err(Redirect::to("/console/login").into_response()),
        };
        match console.node().accounts.get(live.account.as_str()) {
            Ok(account) if !account.disabled && account.updated_at == live.version => Ok(Official {
                tr: Tr::new(account.language),
                account,
                csrf: live.csrf,
                flash: live.flash,
                cookie: value,
                console: console.clone(),
            }),
            _ => {
                console.sessions().close(&value);
                Err(Redirect::to("/console/login").into_response())
            }
        }
    }
}

/// A link of the console's menu: shown to those who may read its page.
struct Link {
    href: &'static str,
    key: &'static str,
    /// The API call the page makes first: who may make it may see the page.
    method: &'static str,
    path: &'static str,
    /// Shown on national nodes only.
    national: bool,
}

const LINKS: &[Link] = &[
    Link { href: PATH, key: "nav-dashboard", method: "GET", path: "/v1/status", national: false },
    Link { href: "/console/inbox", key: "nav-inbox", method: "GET", path: "/v1/inbox", national: true },
    Link { href: "/console/outbox", key: "nav-outbox", method: "GET", path: "/v1/outbox", national: true },
    Link { href: "/console/exchanges", key: "nav-exchanges", method: "GET", path: "/v1/exchanges", national: true },
    Link { href: "/console/compose", key: "nav-compose", method: "POST", path: "/v1/requests", national: true },
    Link { href: "/console/consents", key: "nav-consents", method: "GET", path: "/v1/consents", national: true },
    Link {
        href: "/console/disclosures",
        key: "nav-disclosures",
        method: "GET",
        path: "/v1/disclosures",
        national: true,
    },
    Link { href: "/console/audit", key: "nav-audit", method: "GET", path: "/v1/audit", national: false },
    Link { href: "/console/directory", key: "nav-directory", method: "GET", path: "/v1/directory", national: false },
    Link { href: "/console/contacts", key: "nav-contacts", method: "GET", path: "/v1/contacts", national: true },
    // Directory reviewers, whose role only the Secretariat's node gives.
    Link {
        href: "/console/registrations",
        key: "nav-registrations",
        method: "POST",
        path: "/v1/directory/approve",
        national: false,
    },
    Link {
        href: "/console/publications",
        key: "nav-publications",
        method: "POST",
        path: "/v1/reports/x/circulate",
        national: false,
    },
    Link { href: "/console/users", key: "nav-users", method: "GET", path: "/v1/users", national: false },
];

/// A link of the menu, as a page shows it.
pub(crate) struct Nav {
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

/// What every page of a session shows around its content.
pub(crate) struct Frame {
    pub tr: Tr,
    pub title: String,
    pub who: String,
    pub node: String,
    pub nav: Vec<Nav>,
    pub csrf: String,
    pub flash: Option<Flash>,
}

impl Official {
    pub fn name(&self) -> veim_protocol::audit::AccountName {
        self.account.name
    }

    pub fn node(&self) -> &Node {
        self.console.node()
    }

    pub fn api(&self) -> &Api {
        self.console.api()
    }

    /// Whether this official may make the API call `method path`.
    pub fn may(&self, method: &str, path: &str) -> bool {
        match need(method, path) {
            Need::Anyone => true,
            Need::Roles(roles) => roles.iter().any(|r| self.account.holds(*r)),
        }
    }

    fn national(&self) -> bool {
        self.node().config.role == crate::home::config::Role::National
    }

    /// The frame of a page titled `title`, its menu marking `current`.
    pub fn frame(&self, title: String, current: &str) -> Frame {
        let tr = self.tr;
        let nav = LINKS
            .iter()
            .filter(|l| (!l.national || self.national()) && self.may(l.method, l.path))
            .map(|l| Nav { href: l.href, label: tr.t(l.key), current: l.href == current })
            .collect();
        let node = match self.node().config.state {
            Some(state) => tr.t1("node-national", "state", &state),
            None => tr.t("node-secretariat"),
        };
        let who = if self.account.full_name.is_empty() {
            self.account.name.to_string()
        } else {
            format!("{} ({})", self.account.full_name, self.account.name)
        };
        Frame { tr, title, who, node, nav, csrf: self.csrf.clone(), flash: self.flash.clone() }
    }

    /// Shows `text` on the next page (after a form was sent).
    pub fn flash(&self, ok: bool, text: String) {
        self.console.sessions().flash(&self.cookie, Flash { ok, text });
    }

    /// A page saying what went wrong, with the field-by-field problems.
    pub fn problem(&self, status: StatusCode, heading: String, text: String, problems: Vec<String>) -> Response {
        let page = Problem { frame: self.frame(heading, ""), text, problems };
        (status, render(&page)).into_response()
    }

    /// The page for an error of the API: what it means in the official's
    /// language, and the node's own words.
    pub fn failed(&self, error: &ApiError) -> Response {
        let (heading, problems) = self.explain(error);
        self.problem(call::status_of(error), heading, error.message.clone(), problems)
    }

    /// A heading for an API error in the official's language, and its
    /// problems field by field.
    pub fn explain(&self, error: &ApiError) -> (String, Vec<String>) {
        let tr = self.tr;
        let key = format!("api-error-{}", error.error);
        let heading = if tr.t(&key).starts_with('⟦') { tr.t("api-error") } else { tr.t(&key) };
        let problems = error.problems.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect();
        (heading, problems)
    }
}

/// A page that says what went wrong.
#[derive(askama::Template)]
#[template(path = "problem.html")]
struct Problem {
    frame: Frame,
    text: String,
    problems: Vec<String>,
}

/// A form sent by the official of a live session, its CSRF token checked
/// before anything in it is read.
pub(crate) struct Posted<T> {
    pub official: Official,
    pub form: T,
    /// Every field as sent, in order (repeated names included, which `T`
    /// cannot hold: checkboxes).
    pub pairs: Vec<(String, String)>,
}

impl<T: DeserializeOwned + Send> FromRequest<Console> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, console: &Console) -> Result<Posted<T>, Response> {
        let (mut parts, body) = req.into_parts();
        let official = Official::from_request_parts(&mut parts, console).await?;
        let bytes: Bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| {
            let tr = official.tr;
            official.problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                tr.t("error-form-heading"),
                tr.t("error-form-too-large"),
                Vec::new(),
            )
        })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let token = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
        if !same_token(token, &official.csrf) {
            return Err(refuse_form(console, &official, parts.uri.path()).await);
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| {
            let tr = official.tr;
            official.problem(StatusCode::BAD_REQUEST, tr.t("error-form-heading"), e.to_string(), Vec::new())
        })?;
        Ok(Posted { official, form, pairs })
    }
}

/// Refuses a form without the session's CSRF token, and records it as a
/// failed login would be (counted past the allowance).
async fn refuse_form(console: &Console, official: &Official, path: &str) -> Response {
    let detail = format!("console form of {} without its session's form token", official.account.name);
    crate::api::failed(console.node(), &console.inner.guard, crate::api::cut(path), detail).await;
    let tr = official.tr;
    official.problem(StatusCode::FORBIDDEN, tr.t("error-csrf-heading"), tr.t("error-csrf"), Vec::new())
}

/// A form with nothing in it but its CSRF token.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Nothing {}
