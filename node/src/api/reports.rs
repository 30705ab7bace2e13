//! The admin API of reports to the CSP: drafts, approvals, comments and
//! submission on a national node; the register on the Secretariat's.

use super::types::*;
use super::{ApiError, ApiResult, Shared, national_only};
use crate::reports::{NewDraft, ReportsError};
use crate::storage::CspReportRecord;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use veim_protocol::report::{Language, Period, ReportFile};
use veim_protocol::{StateCode, ValidationErrors};

impl From<ReportsError> for ApiError {
    fn from(e: ReportsError) -> ApiError {
        let (status, code) = match &e {
            ReportsError::NoState | ReportsError::NotSecretariat => (StatusCode::BAD_REQUEST, "wrong-role"),
            ReportsError::Invalid(errors) => return ApiError::invalid(errors.clone()),
            ReportsError::Report(_) | ReportsError::BadId(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ReportsError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            ReportsError::Ambiguous(..) => (StatusCode::BAD_REQUEST, "ambiguous"),
            ReportsError::NotApproved { .. } => (StatusCode::CONFLICT, "not-approved"),
            ReportsError::Refused { .. } => (StatusCode::CONFLICT, "refused"),
            ReportsError::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "unreachable"),
            ReportsError::Store(_) | ReportsError::Vault(_) | ReportsError::Track(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            _ => (StatusCode::CONFLICT, "refused"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn view(record: CspReportRecord) -> ReportView {
    let signed = &record.signed;
    let draft = &signed.draft;
    let hash = draft.draft_hash().map(|h| hex::encode(h.0)).unwrap_or_default();
    let missing = signed.missing();
    let registration = record.registration.as_ref().map(|r| &r.registration);
    ReportView {
        report_id: draft.report_id.to_hex(),
        revision: draft.revision,
        drafter: draft.drafter,
        authors: draft.authors.clone(),
        draft_hash: hash,
        approved_by: draft.authors.iter().filter(|s| !missing.contains(s)).copied().collect(),
        missing,
        sent: record.sent.into_iter().map(|(state, error)| SentView { state, error }).collect(),
        comments: record.comments,
        registered_number: registration.map(|r| r.number),
        registered_at: registration.map(|r| r.registered_at),
        updated_at: record.updated_at,
        report: record.signed.draft,
    }
}

fn invalid(field: &str, problem: String) -> ApiError {
    let mut errors = ValidationErrors::default();
    errors.push(field, problem);
    ApiError::invalid(errors)
}

#[utoipa::path(
    post,
    path = "/v1/csp-reports",
    tag = "reports",
    summary = "Draft a report to the CSP from this node's exchanges in a period, sign it and send it to its co-authors.",
    request_body(content_type = "application/json", description = "{period, with, title?, language?}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn draft(State(node): State<Shared>, Json(req): Json<DraftReportRequest>) -> ApiResult<DraftView> {
    national_only(&node)?;
    let period: Period = req.period.parse().map_err(|e| invalid("period", e))?;
    let mut with = Vec::new();
    for (i, s) in req.with.iter().enumerate() {
        with.push(s.parse::<StateCode>().map_err(|e| invalid(&format!("with[{i}]"), e.to_string()))?);
    }
    let language = match req.language.as_deref() {
        None => Language::En,
        Some(l) => l.parse().map_err(|e| invalid("language", e))?,
    };
    let new = NewDraft { period, with, title: req.title, language };
    let (record, drafted) = node.reports.draft(new).await?;
    Ok(Json(DraftView { report: view(record), notes: drafted.notes }))
}

#[utoipa::path(
    get,
    path = "/v1/csp-reports",
    tag = "reports",
    summary = "The reports to the CSP this State drafts or co-authors.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn list(State(node): State<Shared>) -> ApiResult<Vec<ReportView>> {
    national_only(&node)?;
    Ok(Json(node.reports.list()?.into_iter().map(view).collect()))
}

#[utoipa::path(
    get,
    path = "/v1/csp-reports/{id}",
    tag = "reports",
    summary = "One report to the CSP: its current draft, approvals, comments and registration.",
    params(("id" = String, Path, description = "Report id, or a unique prefix of at least 14 hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn show(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<ReportView> {
    national_only(&node)?;
    Ok(Json(view(node.reports.find(&id)?)))
}

#[utoipa::path(
    post,
    path = "/v1/csp-reports/{id}/update",
    tag = "reports",
    summary = "Load an edited draft as the next revision: signed by this State and sent to the co-authors, whose earlier approvals no longer count.",
    request_body(content_type = "application/json", description = "{report}"),
    params(("id" = String, Path, description = "Report id (in full)")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn update(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<UpdateReportRequest>,
) -> ApiResult<ReportView> {
    national_only(&node)?;
    if req.report.report_id.to_hex() != id.trim().to_ascii_lowercase() {
        return Err(invalid(
            "report.report_id",
            format!("is {}, not the report {id} of the path", req.report.report_id),
        ));
    }
    Ok(Json(view(node.reports.update(req.report).await?)))
}

#[utoipa::path(
    post,
    path = "/v1/csp-reports/{id}/approve",
    tag = "reports",
    summary = "Approve the current draft as a co-author: signed over its exact bytes and sent to the drafter.",
    params(("id" = String, Path, description = "Report id, or a unique prefix of at least 14 hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn approve(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<ReportView> {
    national_only(&node)?;
    Ok(Json(view(node.reports.approve(&id).await?)))
}

#[utoipa::path(
    post,
    path = "/v1/csp-reports/{id}/comment",
    tag = "reports",
    summary = "Return comments on the current draft to the drafter.",
    request_body(content_type = "application/json", description = "{text}"),
    params(("id" = String, Path, description = "Report id, or a unique prefix of at least 14 hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn comment(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<ReportCommentRequest>,
) -> ApiResult<ReportView> {
    national_only(&node)?;
    Ok(Json(view(node.reports.comment(&id, req.text).await?)))
}

#[utoipa::path(
    post,
    path = "/v1/csp-reports/{id}/send",
    tag = "reports",
    summary = "Send the current draft again to its co-authors.",
    params(("id" = String, Path, description = "Report id, or a unique prefix of at least 14 hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn send(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<ReportView> {
    national_only(&node)?;
    Ok(Json(view(node.reports.resend(&id).await?)))
}

#[utoipa::path(
    post,
    path = "/v1/csp-reports/{id}/submit",
    tag = "reports",
    summary = "Submit the report to the Secretariat's register; refused while an author has not approved the current draft.",
    params(("id" = String, Path, description = "Report id, or a unique prefix of at least 14 hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn submit(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<ReportView> {
    national_only(&node)?;
    Ok(Json(view(node.reports.submit(&id).await?)))
}

#[utoipa::path(
    get,
    path = "/v1/csp-reports/{id}/file",
    tag = "reports",
    summary = "The report as a file that verifies offline (veim report verify): the draft, the approvals, the authors' keys and, once registered, the Secretariat's registration. On the Secretariat's node, id may also be the register number.",
    params(("id" = String, Path, description = "Report id, a unique prefix of at least 14 hex digits, or (Secretariat) the register number")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn file(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<ReportFile> {
    Ok(Json(node.reports.file(&id)?))
}

#[utoipa::path(
    get,
    path = "/v1/csp-register",
    tag = "reports",
    summary = "The Secretariat's register of reports to the CSP.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn register(State(node): State<Shared>) -> ApiResult<Vec<RegisteredView>> {
    let register = node.reports.register()?;
    Ok(Json(
        register
            .into_iter()
            .map(|r| {
                let d = &r.signed.draft;
                let reg = &r.registration.registration;
                RegisteredView {
                    number: reg.number,
                    report_id: d.report_id.to_hex(),
                    revision: d.revision,
                    authors: d.authors.clone(),
                    title: d.title.clone(),
                    period: d.period.to_string(),
                    draft_hash: hex::encode(reg.draft_hash.0),
                    registered_at: reg.registered_at,
                }
            })
            .collect(),
    ))
}
