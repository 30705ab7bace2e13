//! Officials' accounts at this node (administrators): the list, a new
//! account with its roles, language and console password, an account
//! disabled or enabled, a new password, and a second factor given (its
//! otpauth:// address and secret shown once) or taken away.

use super::exchanges::{Choice, encode};
use super::*;
use crate::accounts::{Account, AccountChange, AccountRole, NewAccount, TotpEnrolment, WithToken};
use crate::api::{AccountUpdated, TotpChange};
use axum::extract::Path;
use axum::routing::post;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/console/users", get(list).post(add))
        .route("/console/users/{name}/enabled", post(enabled))
        .route("/console/users/{name}/password", post(password))
        .route("/console/users/{name}/totp", post(totp))
}

const PATH_OF_PAGE: &str = "/console/users";

/// An account in the list.
pub(crate) struct Row {
    pub name: String,
    pub full_name: String,
    pub roles: String,
    pub language: String,
    pub password: bool,
    pub disabled: bool,
    pub me: bool,
}

/// The new account's form, as the administrator wrote it.
#[derive(Debug, Default, Clone)]
pub(crate) struct AddForm {
    pub name: String,
    pub full_name: String,
    pub roles: Vec<String>,
    pub language: String,
}

#[derive(askama::Template)]
#[template(path = "users.html")]
struct UsersPage {
    frame: Frame,
    rows: Vec<Row>,
    form: AddForm,
    roles: Vec<Choice>,
    languages: Vec<Choice>,
    problem: Option<(String, String, Vec<String>)>,
}

fn language_label(tr: Tr, code: &str) -> String {
    tr.t(&format!("language-{code}"))
}

async fn users_page(official: &Official, form: AddForm, problem: Option<(String, String, Vec<String>)>) -> Response {
    let tr = official.tr;
    let accounts: Vec<Account> = match official.api().get(official.name(), "/v1/users").await {
        Ok(a) => a,
        Err(e) => return official.failed(&e),
    };
    let rows = accounts
        .iter()
        .map(|a| Row {
            name: a.name.to_string(),
            full_name: a.full_name.clone(),
            roles: a.roles.iter().map(|r| tr.t(&format!("account-role-{}", r.as_str()))).collect::<Vec<_>>().join(", "),
            language: language_label(tr, a.language.as_str()),
            password: a.has_password,
            disabled: a.disabled,
            me: a.name == official.name(),
        })
        .collect();
    let roles = AccountRole::of_node(official.node().config.role)
        .into_iter()
        .map(|r| Choice {
            value: r.as_str().to_string(),
            label: tr.t(&format!("account-role-{}", r.as_str())),
            chosen: form.roles.iter().any(|x| x == r.as_str()),
        })
        .collect();
    let chosen = if form.language.is_empty() { tr.code().to_string() } else { form.language.clone() };
    let languages = i18n::LANGUAGES
        .iter()
        .map(|l| Choice {
            value: l.as_str().to_string(),
            label: language_label(tr, l.as_str()),
            chosen: chosen == l.as_str(),
        })
        .collect();
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page =
        UsersPage { frame: official.frame(tr.t("users-title"), PATH_OF_PAGE), rows, form, roles, languages, problem };
    (status, render(&page)).into_response()
}

async fn list(official: Official) -> Response {
    users_page(&official, AddForm::default(), None).await
}

/// What the API said was wrong, for the page.
fn problem_of(official: &Official, e: &ApiError) -> (String, String, Vec<String>) {
    let (heading, problems) = official.explain(e);
    (heading, e.message.clone(), problems)
}

/// What is shown once: a personal token or a second factor's secret.
#[derive(askama::Template)]
#[template(path = "once.html")]
struct OncePage {
    frame: Frame,
    intro: String,
    token: Option<String>,
    totp: Option<TotpEnrolment>,
}

fn once(official: &Official, intro: String, token: Option<String>, totp: Option<TotpEnrolment>) -> Response {
    let page = OncePage { frame: official.frame(official.tr.t("users-once-title"), PATH_OF_PAGE), intro, token, totp };
    // Never kept by a cache: what it shows is given once.
    ([(header::CACHE_CONTROL, "no-store")], render(&page)).into_response()
}

async fn add(posted: Posted<Vec<(String, String)>>) -> Response {
    let official = posted.official;
    let tr = official.tr;
    let field =
        |name: &str| posted.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let form = AddForm {
        name: field("name"),
        full_name: field("full_name"),
        roles: posted.form.iter().filter(|(k, _)| k == "roles").map(|(_, v)| v.clone()).collect(),
        language: field("language"),
    };
    // A password is never written back into the page.
    let password = posted.form.iter().find(|(k, _)| k == "password").map(|(_, v)| v.clone()).unwrap_or_default();
    let new = NewAccount {
        name: form.name.clone(),
        full_name: form.full_name.clone(),
        roles: form.roles.clone(),
        language: Some(form.language.clone()).filter(|l| !l.is_empty()),
        password: Some(password).filter(|p| !p.is_empty()),
    };
    match official.api().post::<_, WithToken>(official.name(), "/v1/users", &new).await {
        Ok(made) => {
            let intro = tr.t1("users-added", "name", &made.account.name);
            once(&official, intro, Some(made.token), None)
        }
        Err(e) if e.status < 500 && e.status != 403 => {
            let problem = problem_of(&official, &e);
            users_page(&official, form, Some(problem)).await
        }
        Err(e) => official.failed(&e),
    }
}

async fn change(official: &Official, name: &str, change: &AccountChange) -> Result<AccountUpdated, Response> {
    let path = format!("/v1/users/{}", encode(name));
    official.api().post::<_, AccountUpdated>(official.name(), &path, change).await.map_err(|e| official.failed(&e))
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct EnabledForm {
    /// `true` to enable the account, `false` to disable it.
    enabled: bool,
}

async fn enabled(Path(name): Path<String>, posted: Posted<EnabledForm>) -> Response {
    let official = posted.official;
    let enable = posted.form.enabled;
    let body = AccountChange { disabled: Some(!enable), ..AccountChange::default() };
    match change(&official, &name, &body).await {
        Ok(_) => {
            let key = if enable { "users-enabled" } else { "users-disabled" };
            official.flash(true, official.tr.t1(key, "name", &name));
            Redirect::to(PATH_OF_PAGE).into_response()
        }
        Err(page) => page,
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    password: String,
}

async fn password(Path(name): Path<String>, posted: Posted<PasswordForm>) -> Response {
    let official = posted.official;
    let body = AccountChange { password: Some(posted.form.password), ..AccountChange::default() };
    match change(&official, &name, &body).await {
        Ok(_) => {
            official.flash(true, official.tr.t1("users-password-set", "name", &name));
            Redirect::to(PATH_OF_PAGE).into_response()
        }
        Err(page) => page,
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct TotpForm {
    /// `true` to give a new second factor, `false` to take it away.
    enable: bool,
}

async fn totp(Path(name): Path<String>, posted: Posted<TotpForm>) -> Response {
    let official = posted.official;
    let tr = official.tr;
    let path = format!("/v1/users/{}/totp", encode(&name));
    let body = TotpChange { enable: posted.form.enable };
    match official.api().post::<_, Option<TotpEnrolment>>(official.name(), &path, &body).await {
        Ok(Some(enrolment)) => once(&official, tr.t1("users-totp-given", "name", &name), None, Some(enrolment)),
        Ok(None) => {
            official.flash(true, tr.t1("users-totp-removed", "name", &name));
            Redirect::to(PATH_OF_PAGE).into_response()
        }
        Err(e) => official.failed(&e),
    }
}
