//! Reports through the Secretariat, the Secretariat's publication log, and
//! the annual meeting of national points of contact.

use super::*;
use crate::publications::{Invitations, InviteFilter, PublicationsError, report_status};
use veim_protocol::publication::{PublicationContent, SignedPublication};

impl From<PublicationsError> for ApiError {
    fn from(e: PublicationsError) -> ApiError {
        let e = match e {
            PublicationsError::Mail(mail) => return mail.into(),
            e => e,
        };
        let (status, code) = match &e {
            PublicationsError::WrongRole(_) => (StatusCode::BAD_REQUEST, "wrong-role"),
            PublicationsError::NotFound(_) | PublicationsError::NoNotice | PublicationsError::NotANotice(_) => {
                (StatusCode::NOT_FOUND, "not-found")
            }
            PublicationsError::Ambiguous(..) => (StatusCode::CONFLICT, "ambiguous"),
            PublicationsError::RegistrationClosed { .. } => (StatusCode::CONFLICT, "registration-closed"),
            PublicationsError::NotPending { .. } => (StatusCode::CONFLICT, "not-pending"),
            PublicationsError::NoReason => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            PublicationsError::Invalid(errors) => {
                return ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY.as_u16(),
                    error: "invalid".into(),
                    message: format!("not valid: {} problem(s); nothing was signed or sent", errors.0.len()),
                    problems: errors.0.clone(),
                };
            }
            PublicationsError::NotActive(_) => (StatusCode::CONFLICT, "not-admitted"),
            PublicationsError::Unreachable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unreachable"),
            PublicationsError::Refused(_) => (StatusCode::CONFLICT, "refused"),
            PublicationsError::Rejected(_) => (StatusCode::CONFLICT, "publication-refused"),
            PublicationsError::Unexpected(_) => (StatusCode::BAD_GATEWAY, "unexpected"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn report_view(record: ReportRecord) -> MeasuresReportView {
    MeasuresReportView {
        id: record.id.to_hex(),
        state: record.report.report.state,
        title: record.report.report.title.clone(),
        status_text: report_status(&record.status),
        record,
    }
}

fn publication_view(p: SignedPublication) -> PublicationView {
    PublicationView {
        seq: p.header.seq,
        published_at: p.header.published_at,
        kind: p.content.as_ref().map(|c| c.kind()).unwrap_or("withheld").to_string(),
        audience: p.header.audience.clone(),
        hash: p.header.hash().map(hex::encode).unwrap_or_default(),
        content: p.content.clone(),
        signed: p,
    }
}

#[utoipa::path(
    post,
    path = "/v1/reports",
    tag = "reports",
    summary = "National node: sign this State's report of measures (Art. 11.6, 13.2) and submit it to the Secretariat.",
    request_body(content_type = "application/json", description = "{report: the report file as JSON}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn submit_report(
    State(node): State<Shared>,
    Json(req): Json<SubmitReport>,
) -> ApiResult<MeasuresReportView> {
    Ok(Json(report_view(node.publications.submit(&req.report).await?)))
}

#[utoipa::path(
    get,
    path = "/v1/reports",
    tag = "reports",
    summary = "The reports of measures this node holds: a State's own; on the Secretariat, every one received.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn reports(State(node): State<Shared>) -> ApiResult<Vec<MeasuresReportView>> {
    Ok(Json(node.publications.reports()?.into_iter().map(report_view).collect()))
}

#[utoipa::path(
    get,
    path = "/v1/reports/pending",
    tag = "reports",
    summary = "Secretariat: the reports waiting for review.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn pending_reports(State(node): State<Shared>) -> ApiResult<Vec<MeasuresReportView>> {
    if node.config.role != Role::Secretariat {
        return Err(PublicationsError::WrongRole("only the Secretariat's node reviews reports").into());
    }
    let pending = node.publications.reports()?.into_iter().filter(|r| r.status == ReportState::Pending);
    Ok(Json(pending.map(report_view).collect()))
}

#[utoipa::path(
    get,
    path = "/v1/reports/{id}",
    tag = "reports",
    summary = "One report of measures, whole, and where it stands.",
    params(("id" = String, Path, description = "Report id, or its first hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn report(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<MeasuresReportView> {
    Ok(Json(report_view(node.publications.report(&id)?)))
}

#[utoipa::path(
    post,
    path = "/v1/reports/{id}/circulate",
    tag = "reports",
    summary = "Secretariat: circulate a pending report, signed, to every active State.",
    params(("id" = String, Path, description = "Report id, or its first hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn circulate(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<PublicationView> {
    Ok(Json(publication_view(node.publications.circulate(&id).await?)))
}

#[utoipa::path(
    post,
    path = "/v1/reports/{id}/refuse",
    tag = "reports",
    summary = "Secretariat: refuse a pending report; its State learns the reason.",
    params(("id" = String, Path, description = "Report id, or its first hex digits")),
    request_body(content_type = "application/json", description = "{reason}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn refuse(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<RefuseReport>,
) -> ApiResult<MeasuresReportView> {
    Ok(Json(report_view(node.publications.refuse(&id, &req.reason).await?)))
}

#[utoipa::path(
    get,
    path = "/v1/publications",
    tag = "reports",
    summary = "The Secretariat's publication log as this node holds it: circulated reports, meeting notices and recommendations.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn publications(State(node): State<Shared>) -> ApiResult<Vec<PublicationView>> {
    Ok(Json(node.publications.log()?.into_iter().map(publication_view).collect()))
}

#[utoipa::path(
    post,
    path = "/v1/publications/sync",
    tag = "reports",
    summary = "National node: fetch the Secretariat's publications now, and the outcome of reports not yet settled.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn sync_publications(State(node): State<Shared>) -> ApiResult<PublicationsSynced> {
    let accepted = node.publications.sync().await?;
    let held = node.store.publication_head()?.map_or(0, |h| h.seq);
    Ok(Json(PublicationsSynced { accepted, held }))
}

#[utoipa::path(
    post,
    path = "/v1/meeting/notice",
    tag = "meeting",
    summary = "Secretariat: publish the notice of the annual meeting of national points of contact.",
    request_body(content_type = "application/json", description = "{notice: the notice file as JSON}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn publish_notice(
    State(node): State<Shared>,
    Json(req): Json<PublishNotice>,
) -> ApiResult<PublicationView> {
    Ok(Json(publication_view(node.publications.publish_notice(&req.notice).await?)))
}

#[utoipa::path(
    get,
    path = "/v1/meeting",
    tag = "meeting",
    summary = "The latest meeting notice, its recommendations once published, and this State's registration.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn meeting(State(node): State<Shared>) -> ApiResult<MeetingView> {
    let log = node.publications.log()?;
    let (notice_seq, notice) = node.publications.latest_notice()?.ok_or(PublicationsError::NoNotice)?;
    let recommendations = log.into_iter().rev().find_map(|p| match p.content {
        Some(PublicationContent::MeetingRecommendations(r)) if r.notice == notice_seq => Some(r),
        _ => None,
    });
    let registration = match node.config.role {
        Role::National => node.publications.own_registration()?.map(|s| s.registration.into()),
        Role::Secretariat => None,
    };
    Ok(Json(MeetingView { notice_seq, notice, recommendations, registration }))
}

#[utoipa::path(
    post,
    path = "/v1/meeting/register",
    tag = "meeting",
    summary = "National node: register participants, chosen from this State's points of contact, for the latest meeting.",
    request_body(content_type = "application/json", description = "{participants: [{email, name?, language}]}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn register(
    State(node): State<Shared>,
    Json(req): Json<RegisterParticipants>,
) -> ApiResult<RegistrationView> {
    let s = node.publications.register_participants(&req.participants).await?;
    Ok(Json(s.registration.into()))
}

#[utoipa::path(
    get,
    path = "/v1/meeting/registrations",
    tag = "meeting",
    summary = "Secretariat: the registrations for the latest meeting, with counts per State and per language.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn registrations(State(node): State<Shared>) -> ApiResult<Registrations> {
    Ok(Json(node.publications.registrations()?))
}

#[utoipa::path(
    post,
    path = "/v1/meeting/recommendations",
    tag = "meeting",
    summary = "Secretariat: publish the latest meeting's recommendations for the CSP.",
    request_body(content_type = "application/json", description = "{text, items}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn recommendations(
    State(node): State<Shared>,
    Json(req): Json<PublishRecommendations>,
) -> ApiResult<PublicationView> {
    Ok(Json(publication_view(node.publications.publish_recommendations(&req.text, &req.items).await?)))
}

#[utoipa::path(
    post,
    path = "/v1/meeting/invite",
    tag = "meeting",
    summary = "Secretariat: invite, by mail, the points of contact of active States to the latest meeting, chosen by role, language and State; one mail per address in the contact's language, an address invited before only with again.",
    request_body(content_type = "application/json", description = "{roles: [national-poc|alternate|focal-point], languages: [en|fr|es], states: [ISO 3166 alpha-3], again: bool}, each optional"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, not-found, registration-closed, mail-not-configured, ...)"))
)]
pub(super) async fn invite(State(node): State<Shared>, Json(req): Json<InviteFilter>) -> ApiResult<Invitations> {
    Ok(Json(node.publications.invite(&node.mailer, &req).await?))
}
