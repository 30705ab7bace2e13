//! The Secretariat's reports and meeting (directory reviewers): reports of
//! measures waiting to be circulated to every active State or refused with
//! a reason, and the latest meeting's notice with its registrations, per
//! State and per language, and the invitations mailed to the points of
//! contact.

use super::*;
use crate::api::{MeasuresReportView, MeetingView, PublicationView, RefuseReport};
use crate::publications::{Invitations, InviteFilter, Registrations};
use axum::extract::Path;
use axum::routing::post;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/console/publications", get(page))
        .route("/console/publications/reports/{id}/circulate", post(circulate))
        .route("/console/publications/reports/{id}/refuse", post(refuse))
        .route("/console/publications/invite", post(invite))
}

const PATH_OF_PAGE: &str = "/console/publications";

/// A report waiting, as the page shows it.
pub(crate) struct Pending {
    pub id: String,
    pub short: String,
    pub state: String,
    pub title: String,
    pub status: String,
}

/// The latest meeting, as the page shows it.
pub(crate) struct Meeting {
    pub title: String,
    pub dates: String,
    pub deadline: String,
    pub languages: String,
    pub per_state: Vec<(String, String)>,
    pub per_language: Vec<(String, String)>,
    pub participants: Vec<(String, String, String, String)>,
}

#[derive(askama::Template)]
#[template(path = "publications.html")]
struct PublicationsPage {
    frame: Frame,
    reports: Vec<Pending>,
    meeting: Option<Meeting>,
}

async fn page(official: Official) -> Response {
    let tr = official.tr;
    let api = official.api();
    let me = official.name();
    let pending: Vec<MeasuresReportView> = match api.get(me, "/v1/reports/pending").await {
        Ok(p) => p,
        Err(e) => return official.failed(&e),
    };
    let meeting = match api.get::<MeetingView>(me, "/v1/meeting").await {
        Ok(m) => Some(m),
        Err(e) if e.status == 404 => None,
        Err(e) => return official.failed(&e),
    };
    let meeting = match meeting {
        None => None,
        Some(m) => {
            let registrations: Registrations = match api.get(me, "/v1/meeting/registrations").await {
                Ok(r) => r,
                Err(e) => return official.failed(&e),
            };
            let language = |l: &veim_protocol::meeting::Language| tr.t(&format!("language-{}", l.as_str()));
            Some(Meeting {
                title: m.notice.title.clone(),
                dates: format!("{} – {}", m.notice.starts_on, m.notice.ends_on),
                deadline: tr.time(m.notice.registration_deadline),
                languages: m.notice.languages.iter().map(language).collect::<Vec<_>>().join(", "),
                per_state: registrations.per_state.iter().map(|(s, n)| (s.to_string(), tr.number(*n as u64))).collect(),
                per_language: registrations
                    .per_language
                    .iter()
                    .map(|(l, n)| (language(l), tr.number(*n as u64)))
                    .collect(),
                participants: registrations
                    .registrations
                    .iter()
                    .flat_map(|r| {
                        r.participants
                            .iter()
                            .map(move |p| (r.state.to_string(), p.name.clone(), p.email.clone(), language(&p.language)))
                    })
                    .collect(),
            })
        }
    };
    let page = PublicationsPage {
        frame: official.frame(tr.t("publications-title"), PATH_OF_PAGE),
        reports: pending
            .iter()
            .map(|r| Pending {
                id: r.id.clone(),
                short: r.id.chars().take(12).collect(),
                state: r.state.to_string(),
                title: r.title.clone(),
                status: r.status_text.clone(),
            })
            .collect(),
        meeting,
    };
    render(&page)
}

fn back(official: &Official, text: String) -> Response {
    official.flash(true, text);
    Redirect::to(PATH_OF_PAGE).into_response()
}

async fn circulate(Path(id): Path<String>, posted: Posted<Nothing>) -> Response {
    let official = posted.official;
    let path = format!("/v1/reports/{}/circulate", exchanges::encode(&id));
    match official.api().post::<_, PublicationView>(official.name(), &path, &()).await {
        Ok(p) => back(&official, official.tr.t1("publications-circulated", "seq", &p.seq)),
        Err(e) => official.failed(&e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct RefuseForm {
    #[serde(default)]
    reason: String,
}

async fn refuse(Path(id): Path<String>, posted: Posted<RefuseForm>) -> Response {
    let official = posted.official;
    let path = format!("/v1/reports/{}/refuse", exchanges::encode(&id));
    let body = RefuseReport { reason: posted.form.reason };
    match official.api().post::<_, MeasuresReportView>(official.name(), &path, &body).await {
        Ok(r) => back(&official, official.tr.t1("publications-refused", "state", &r.state)),
        Err(e) => official.failed(&e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct InviteForm {
    /// Invite again the addresses invited before.
    #[serde(default)]
    again: Option<String>,
}

async fn invite(posted: Posted<InviteForm>) -> Response {
    let official = posted.official;
    let body = InviteFilter { again: posted.form.again.is_some(), ..InviteFilter::default() };
    match official.api().post::<_, Invitations>(official.name(), "/v1/meeting/invite", &body).await {
        Ok(i) => back(&official, official.tr.count("publications-invited", i.invited.len())),
        Err(e) => official.failed(&e),
    }
}
