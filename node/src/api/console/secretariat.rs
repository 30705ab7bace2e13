//! The Secretariat's work on the directory (directory reviewers):
//! registrations waiting, each with the key fingerprint to compare with the
//! one the State reads out, approved or rejected; points of contact to
//! review, accepted or rejected; a State suspended, reinstated or
//! withdrawn; and the public section of the directory exported as data or
//! as a page in English, French or Spanish.

use super::directory::{Contact, contact, status_label};
use super::*;
use crate::api::{
    ApproveRequest, ContactsDecision, ContactsView, DirectoryListing, Done, PendingView, RejectRequest,
    StatusChangeRequest, VersionView,
};
use axum::extract::Query;
use axum::routing::post;
use veim_protocol::EntryAction;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/console/registrations", get(page))
        .route("/console/registrations/approve", post(approve))
        .route("/console/registrations/reject", post(reject))
        .route("/console/registrations/contacts/accept", post(accept_contacts))
        .route("/console/registrations/contacts/reject", post(reject_contacts))
        .route("/console/registrations/standing", post(standing))
        .route("/console/registrations/export", get(export))
}

/// A registration waiting, as the page shows it.
pub(crate) struct Waiting {
    pub code: String,
    pub name: String,
    pub operator: String,
    pub addresses: String,
    pub signed: String,
    pub fingerprint: String,
}

/// A submission of contacts waiting, as the page shows it.
pub(crate) struct Submitted {
    pub code: String,
    pub name: String,
    pub submitted: String,
    pub public: bool,
    pub contacts: Vec<Contact>,
}

/// A State of the directory with its standing.
pub(crate) struct Entry {
    pub code: String,
    pub name: String,
    pub status: String,
}

#[derive(askama::Template)]
#[template(path = "registrations.html")]
struct RegistrationsPage {
    frame: Frame,
    waiting: Vec<Waiting>,
    submitted: Vec<Submitted>,
    entries: Vec<Entry>,
    export_help: String,
}

const PATH_OF_PAGE: &str = "/console/registrations";

async fn page(official: Official) -> Response {
    let tr = official.tr;
    let api = official.api();
    let me = official.name();
    let pending: Vec<PendingView> = match api.get(me, "/v1/directory/pending").await {
        Ok(p) => p,
        Err(e) => return official.failed(&e),
    };
    let contacts: Vec<ContactsView> = match api.get(me, "/v1/contacts/pending").await {
        Ok(c) => c,
        Err(e) => return official.failed(&e),
    };
    let listing: DirectoryListing = match api.get(me, "/v1/directory").await {
        Ok(l) => l,
        Err(e) => return official.failed(&e),
    };
    let page = RegistrationsPage {
        frame: official.frame(tr.t("registrations-title"), PATH_OF_PAGE),
        waiting: pending
            .iter()
            .map(|p| Waiting {
                code: p.state.to_string(),
                name: p.name.clone(),
                operator: p.operator.clone(),
                addresses: p.addresses.join(", "),
                signed: tr.time(p.signed_at),
                fingerprint: p.fingerprint.clone(),
            })
            .collect(),
        submitted: contacts
            .iter()
            .map(|c| Submitted {
                code: c.state.to_string(),
                name: c.name.clone(),
                submitted: tr.time(c.submitted_at),
                public: c.entry_visibility == veim_protocol::contacts::Visibility::Public,
                contacts: c.contacts.iter().map(|p| contact(tr, p)).collect(),
            })
            .collect(),
        entries: listing
            .entries
            .iter()
            .map(|e| Entry { code: e.state.to_string(), name: e.name.clone(), status: status_label(tr, &e.status) })
            .collect(),
        export_help: tr.t1("export-help", "version", &tr.number(listing.version)),
    };
    render(&page)
}

/// After a decision: back to the page, saying what was done.
fn done(official: &Official, text: String) -> Response {
    official.flash(true, text);
    Redirect::to(PATH_OF_PAGE).into_response()
}

fn published(official: &Official, key: &str, state: &str, v: &VersionView) -> Response {
    let tr = official.tr;
    done(official, format!("{} {}", tr.t1(key, "state", &state), tr.t1("registrations-version", "version", &v.version)))
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct ApproveForm {
    #[serde(default)]
    state: String,
    /// The fingerprint the State read out to the reviewer.
    #[serde(default)]
    fingerprint: String,
}

async fn approve(posted: Posted<ApproveForm>) -> Response {
    let official = posted.official;
    let form = posted.form;
    let body = ApproveRequest { state: form.state.clone(), fingerprint: form.fingerprint.trim().to_string() };
    match official.api().post::<_, VersionView>(official.name(), "/v1/directory/approve", &body).await {
        Ok(v) => published(&official, "registrations-approved", &form.state, &v),
        Err(e) => official.failed(&e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct RejectForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    reason: String,
}

async fn reject(posted: Posted<RejectForm>) -> Response {
    let official = posted.official;
    let f = posted.form;
    let body = RejectRequest { state: f.state.clone(), fingerprint: f.fingerprint, reason: f.reason };
    match official.api().post::<_, Done>(official.name(), "/v1/directory/reject", &body).await {
        Ok(_) => done(&official, official.tr.t1("registrations-rejected", "state", &f.state)),
        Err(e) => official.failed(&e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    reason: String,
}

async fn accept_contacts(posted: Posted<DecisionForm>) -> Response {
    let official = posted.official;
    let f = posted.form;
    let body = ContactsDecision { state: f.state.clone(), reason: String::new() };
    match official.api().post::<_, VersionView>(official.name(), "/v1/contacts/accept", &body).await {
        Ok(v) => published(&official, "review-accepted", &f.state, &v),
        Err(e) => official.failed(&e),
    }
}

async fn reject_contacts(posted: Posted<DecisionForm>) -> Response {
    let official = posted.official;
    let f = posted.form;
    let body = ContactsDecision { state: f.state.clone(), reason: f.reason };
    match official.api().post::<_, Done>(official.name(), "/v1/contacts/reject", &body).await {
        Ok(_) => done(&official, official.tr.t1("review-rejected", "state", &f.state)),
        Err(e) => official.failed(&e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct StandingForm {
    #[serde(default)]
    state: String,
    action: EntryAction,
    #[serde(default)]
    reason: String,
}

async fn standing(posted: Posted<StandingForm>) -> Response {
    let official = posted.official;
    let f = posted.form;
    let key = match f.action {
        EntryAction::Suspend => "standing-suspended",
        EntryAction::Reinstate => "standing-reinstated",
        EntryAction::Withdraw => "standing-withdrawn",
    };
    let body = StatusChangeRequest { state: f.state.clone(), action: f.action, reason: f.reason };
    match official.api().post::<_, VersionView>(official.name(), "/v1/directory/status", &body).await {
        Ok(v) => published(&official, key, &f.state, &v),
        Err(e) => official.failed(&e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct ExportForm {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

/// The public section as a file to save: the API's answer, as it is.
async fn export(official: Official, Query(q): Query<ExportForm>) -> Response {
    let format = q.format.unwrap_or_else(|| "json".into());
    let language = q.language.unwrap_or_else(|| "en".into());
    let path =
        format!("/v1/directory/public?format={}&language={}", exchanges::encode(&format), exchanges::encode(&language));
    match official.api().call(official.name(), axum::http::Method::GET, &path, None, Vec::new()).await {
        Ok(answer) => {
            let (kind, name) = if format == "html" {
                ("text/html; charset=utf-8", format!("points-of-contact-{language}.html"))
            } else {
                ("application/json", "points-of-contact.json".to_string())
            };
            let disposition = format!("attachment; filename=\"{name}\"");
            ([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, disposition)], answer.body)
                .into_response()
        }
        Err(e) => official.failed(&e),
    }
}
