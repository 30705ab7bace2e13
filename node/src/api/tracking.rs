//! The admin API of progress: measures, stage moves, the date to respond
//! by, and the tracking views (`/v1/track`, `/v1/track/figures`).

use super::types::*;
use super::{ApiError, ApiResult, Shared, shown};
use crate::clock::now;
use crate::exchange::other_parties;
use crate::tracking::{TrackError, today};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use veim_protocol::progress::parse_stage;
use veim_protocol::{Body, CalendarDate, ProgressError, RespondBy, StageMove, ValidationErrors};

impl From<TrackError> for ApiError {
    fn from(e: TrackError) -> ApiError {
        match e {
            TrackError::NoState => ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", e.to_string()),
            TrackError::BadPeriod(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad-period", m),
            TrackError::Store(e) => e.into(),
            TrackError::Vault(e) => e.into(),
        }
    }
}

/// A progress rule broken, by its name (SPEC section 7.2), with the problems found.
pub(super) fn progress_error(e: &ProgressError, problems: ValidationErrors) -> ApiError {
    let mut err = ApiError::new(StatusCode::BAD_REQUEST, e.code(), format!("{e}; nothing was sent"));
    err.problems = problems.0;
    err
}

/// Sends a progress record to every other party of the exchange.
async fn to_every_other_party(node: &crate::app::Node, id: &str, body: Body) -> ApiResult<MessageView> {
    super::messages::send_in(node, id, body, other_parties).await
}

#[utoipa::path(
    post,
    path = "/v1/exchanges/{id}/measures",
    tag = "progress",
    summary = "Record a measure taken under a provision (sent, signed, to every other party of the exchange).",
    request_body(content_type = "application/json", description = "{provision: \"11.4\", kind: \"shipment-examined\", date: \"YYYY-MM-DD\", text, handling?}"),
    params(("id" = String, Path, description = "Exchange id, or a unique prefix")),
    responses((status = 200, description = "Done; the message sent"), (status = "default", description = "An error, as JSON {error, message, problems}: unknown-provision, unknown-measure-kind, measure-not-under-provision, bad-date, measure-dated-in-future, invalid, refused, ..."))
)]
pub(super) async fn measure(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(mut form): Json<MeasureForm>,
) -> ApiResult<MessageView> {
    form.handling.get_or_insert_with(|| node.config.handling.clone());
    let at = now();
    let measure = match form.parse() {
        Ok(m) => m,
        Err(problems) => {
            return Err(match form.first_error(at) {
                Some(e) => progress_error(&e, problems),
                None => ApiError::invalid(problems),
            });
        }
    };
    if let Err(e) = measure.check_dated(at) {
        let mut problems = ValidationErrors::default();
        problems.push("date", e.to_string());
        return Err(progress_error(&e, problems));
    }
    to_every_other_party(&node, &id, Body::Measure(measure)).await
}

#[utoipa::path(
    post,
    path = "/v1/exchanges/{id}/stage",
    tag = "progress",
    summary = "Move the exchange to another stage of Annex 1 (sent to every other party).",
    request_body(content_type = "application/json", description = "{stage: \"risk-analysis\" | \"diversion-detected\" | \"reached-end-user\" | \"other:TEXT\", text?}"),
    params(("id" = String, Path, description = "Exchange id, or a unique prefix")),
    responses((status = 200, description = "Done; the message sent"), (status = "default", description = "An error, as JSON {error, message, problems}: unknown-stage, invalid, refused, ..."))
)]
pub(super) async fn stage(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<StageMoveRequest>,
) -> ApiResult<MessageView> {
    let stage = parse_stage(&req.stage).map_err(|e| {
        let mut problems = ValidationErrors::default();
        problems.push("stage", e.to_string());
        progress_error(&e, problems)
    })?;
    to_every_other_party(&node, &id, Body::StageMove(StageMove { stage, text: req.text.trim().to_string() })).await
}

#[utoipa::path(
    post,
    path = "/v1/exchanges/{id}/respond-by",
    tag = "progress",
    summary = "Requesting State: set the date by which it asks for a response (sent to every other party).",
    request_body(content_type = "application/json", description = "{date: \"YYYY-MM-DD\", text?}"),
    params(("id" = String, Path, description = "Exchange id, or a unique prefix")),
    responses((status = 200, description = "Done; the message sent"), (status = "default", description = "An error, as JSON {error, message, problems}: bad-date, refused (not the requesting State), ..."))
)]
pub(super) async fn respond_by(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<RespondByRequest>,
) -> ApiResult<MessageView> {
    let date = CalendarDate::parse(&req.date).ok_or_else(|| {
        let e = ProgressError::BadDate { given: req.date.clone() };
        let mut problems = ValidationErrors::default();
        problems.push("date", e.to_string());
        progress_error(&e, problems)
    })?;
    let sent = to_every_other_party(&node, &id, Body::RespondBy(RespondBy { date, text: req.text.trim().to_string() }))
        .await?;
    node.tracking.wake.notify_one();
    Ok(sent)
}

#[utoipa::path(
    get,
    path = "/v1/track",
    tag = "progress",
    summary = "Open exchanges, overdue ones first: stage, provisions, every party's measures, days open, date to respond by.",
    params(TrackQuery),
    responses((status = 200, description = "Done; the exchanges as JSON"), (status = "default", description = "An error, as JSON {error, message, problems}: wrong-role, ..."))
)]
pub(super) async fn track(State(node): State<Shared>, Query(q): Query<TrackQuery>) -> ApiResult<Vec<TrackedExchange>> {
    let (list, what) = if q.attention {
        (node.tracking.needing_attention(now())?, "tracking of exchanges needing this State")
    } else {
        (node.tracking.open_exchanges(now())?, "tracking of open exchanges")
    };
    shown(&node, what.into(), None, list.len());
    Ok(Json(list))
}

#[utoipa::path(
    get,
    path = "/v1/track/figures",
    tag = "progress",
    summary = "Figures of a period, in total, per provision and per counterpart: exchanges, stages, measures by kind, outcomes, first-response times.",
    params(FiguresQuery),
    responses((status = 200, description = "Done; the figures as JSON"), (status = "default", description = "An error, as JSON {error, message, problems}: bad-period, wrong-role, ..."))
)]
pub(super) async fn figures(State(node): State<Shared>, Query(q): Query<FiguresQuery>) -> ApiResult<Figures> {
    let day = |name: &str, given: &Option<String>| -> Result<Option<CalendarDate>, ApiError> {
        given
            .as_ref()
            .map(|s| {
                CalendarDate::parse(s).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad-period",
                        format!("{name} {s:?} is not a date; write YYYY-MM-DD"),
                    )
                })
            })
            .transpose()
    };
    let to = match day("to", &q.to)? {
        Some(d) => d,
        None => today(now())?,
    };
    let from = match day("from", &q.from)? {
        Some(d) => d,
        None => CalendarDate::from_days(to.days() - 364).unwrap_or(to),
    };
    let figures = node.tracking.figures(from, to)?;
    shown(&node, format!("tracking figures {from} to {to}"), None, figures.total.exchanges as usize);
    Ok(Json(figures))
}
