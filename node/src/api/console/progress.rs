//! Article 11 tracking on an exchange: a measure recorded (under which
//! provision, of which kind, on which day) and the exchange moved to
//! another stage of Annex 1, each sent through the API to every other
//! party (`POST /v1/exchanges/{id}/measures`, `.../stage`), its problems
//! shown next to their fields with the values kept.

use super::exchanges::encode;
use super::form::{self, Field, Problems, Select};
use super::*;
use crate::api::{ExchangeView, MessageView, StageMoveRequest};
use axum::extract::Path;
use axum::routing::post;
use veim_protocol::request::{Provision, Stage};
use veim_protocol::{MeasureForm, MeasureKind};

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/console/exchanges/{id}/progress", get(page))
        .route("/console/exchanges/{id}/measures", post(measure))
        .route("/console/exchanges/{id}/stage", post(stage))
}

/// The values of both forms, as sent (or as first shown).
#[derive(Debug, Default)]
struct Values {
    provision: String,
    kind: String,
    date: String,
    text: String,
    stage: String,
    stage_other: String,
    stage_text: String,
}

impl Values {
    fn read(pairs: &[(String, String)]) -> Values {
        Values {
            provision: form::one(pairs, "provision"),
            kind: form::one(pairs, "kind"),
            date: form::one(pairs, "date"),
            text: form::one(pairs, "text"),
            stage: form::one(pairs, "stage"),
            stage_other: form::one(pairs, "stage_other"),
            stage_text: form::one(pairs, "stage_text"),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "progress.html")]
struct ProgressPage {
    frame: Frame,
    id: String,
    summary: String,
    heading: String,
    problems: Vec<(String, String)>,
    provision: Select,
    kind: Select,
    date: Field,
    text: Field,
    stage: Select,
    stage_other: Field,
    stage_text: Field,
}

fn form_page(official: &Official, id: &str, summary: String, v: &Values, problems: &Problems) -> Response {
    let tr = official.tr;
    let choose = || std::iter::once((String::new(), tr.t("compose-choose")));
    let provisions = choose()
        .chain(Provision::ALL.iter().map(|(_, n)| (n.to_string(), tr.t(&format!("provision-{}", n.replace('.', "-"))))))
        .collect();
    let kinds = choose()
        .chain(MeasureKind::ALL.iter().map(|(_, n, under)| {
            let under: Vec<&str> = under.iter().map(|p| p.as_str()).collect();
            (n.to_string(), format!("{} ({})", tr.t(&format!("measure-kind-{n}")), under.join(", ")))
        }))
        .collect();
    let stages = choose().chain(Stage::NAMES.iter().map(|s| (s.to_string(), tr.t(&format!("stage-{s}"))))).collect();
    let page = ProgressPage {
        frame: official.frame(tr.t("progress-title"), "/console/exchanges"),
        id: id.to_string(),
        summary,
        heading: tr.count("form-problems", problems.list.len()),
        problems: problems.list.clone(),
        provision: Select::new("f-provision", tr.t("progress-provision"), provisions, &v.provision)
            .named("provision")
            .checked(problems),
        kind: Select::new("f-kind", tr.t("progress-kind"), kinds, &v.kind).named("kind").checked(problems),
        date: Field::new("f-date", tr.t("progress-date"), &v.date).named("date").kind("date").checked(problems),
        text: Field::new("f-text", tr.t("progress-text"), &v.text).named("text").kind("textarea").checked(problems),
        stage: Select::new("f-stage", tr.t("compose-stage"), stages, &v.stage).named("stage").checked(problems),
        stage_other: Field::new("f-stage-other", tr.t("compose-stage-other"), &v.stage_other)
            .named("stage_other")
            .checked(problems),
        stage_text: Field::new("f-stage-text", tr.t("progress-stage-text"), &v.stage_text)
            .named("stage_text")
            .kind("textarea")
            .checked(problems),
    };
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    (status, render(&page)).into_response()
}

/// The exchange (its whole id and summary), or the page of the API's error.
async fn exchange(official: &Official, id: &str) -> Result<(String, String), Response> {
    match official.api().get::<ExchangeView>(official.name(), &format!("/v1/exchanges/{}", encode(id))).await {
        Ok(view) => {
            Ok((view.exchange.exchange_id.to_hex(), view.summary.unwrap_or_else(|| official.tr.t("summary-purged"))))
        }
        Err(e) => Err(official.failed(&e)),
    }
}

async fn page(official: Official, Path(id): Path<String>) -> Response {
    let (id, summary) = match exchange(&official, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let today = time::OffsetDateTime::now_utc().date();
    let values = Values {
        date: format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day()),
        ..Values::default()
    };
    form_page(&official, &id, summary, &values, &Problems::default())
}

/// Sends `body` to `path` of the exchange: back to the thread with `done`,
/// or the form again with the problems next to their fields (`place` gives
/// each path's element and label).
async fn send<B: serde::Serialize>(
    posted: Posted<Nothing>,
    id: String,
    api_path: &str,
    body: B,
    done: &str,
    place: impl Fn(Tr, &str) -> (String, String),
) -> Response {
    let official = posted.official;
    let tr = official.tr;
    let (id, summary) = match exchange(&official, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let path = format!("/v1/exchanges/{id}/{api_path}");
    match official.api().post::<_, MessageView>(official.name(), &path, &body).await {
        Ok(_) => {
            official.flash(true, tr.t(done));
            Redirect::to(&format!("/console/exchanges/{id}")).into_response()
        }
        Err(e) if !e.problems.is_empty() => {
            let mut problems = Problems::default();
            problems.add_all(&e.problems, |p| place(tr, p));
            form_page(&official, &id, summary, &Values::read(&posted.pairs), &problems)
        }
        Err(e) => official.failed(&e),
    }
}

async fn measure(Path(id): Path<String>, posted: Posted<Nothing>) -> Response {
    let v = Values::read(&posted.pairs);
    let body = MeasureForm {
        provision: v.provision,
        kind: v.kind,
        date: v.date.trim().to_string(),
        text: v.text,
        handling: None,
    };
    send(posted, id, "measures", body, "progress-measure-sent", |tr, path| match path {
        "provision" => ("f-provision".into(), tr.t("progress-provision")),
        "kind" => ("f-kind".into(), tr.t("progress-kind")),
        "date" => ("f-date".into(), tr.t("progress-date")),
        "text" => ("f-text".into(), tr.t("progress-text")),
        other => ("measure-form".into(), other.to_string()),
    })
    .await
}

async fn stage(Path(id): Path<String>, posted: Posted<Nothing>) -> Response {
    let v = Values::read(&posted.pairs);
    let stage = if v.stage == "other" { format!("other:{}", v.stage_other.trim()) } else { v.stage };
    let body = StageMoveRequest { stage, text: v.stage_text };
    send(posted, id, "stage", body, "progress-stage-sent", |tr, path| match path {
        "stage" => ("f-stage".into(), tr.t("compose-stage")),
        "text" => ("f-stage-text".into(), tr.t("progress-stage-text")),
        other => ("stage-form".into(), other.to_string()),
    })
    .await
}
