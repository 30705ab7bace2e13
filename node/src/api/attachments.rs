//! The admin API of attachments: stage a file, send staged files in an
//! exchange, list them, save one.

use super::types::*;
use super::{
    ApiError, ApiResult, Listing, MessageView, Page, Shared, find_exchange, listing, message_view, national_only,
};
use crate::attachments::{self, AttachmentError, AttachmentView};
use crate::exchange::Outgoing;
use axum::Json;
use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use veim_protocol::Body;
use veim_protocol::attachment::Attachments;

impl From<AttachmentError> for ApiError {
    fn from(e: AttachmentError) -> ApiError {
        let status = match &e {
            AttachmentError::NotFound(_) => StatusCode::NOT_FOUND,
            AttachmentError::TooLarge { .. } | AttachmentError::Read { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AttachmentError::Incomplete(_)
            | AttachmentError::Refused(_)
            | AttachmentError::Final(_)
            | AttachmentError::Exists { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, "attachment", e.to_string())
    }
}

#[utoipa::path(
    post,
    path = "/v1/attachments",
    tag = "attachments",
    summary = "Stage a file of this machine to send.",
    request_body(content_type = "application/json", description = "{path}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn stage(State(node): State<Shared>, Json(req): Json<StageRequest>) -> ApiResult<AttachmentView> {
    national_only(&node)?;
    let r = node.attachments.blocking(move |a| attachments::stage(a, std::path::Path::new(&req.path))).await?;
    let record = node.store.attachment(r.id)?.ok_or_else(|| AttachmentError::NotFound(r.id.to_string()))?;
    Ok(Json(record.into()))
}

#[utoipa::path(
    get,
    path = "/v1/attachments",
    tag = "attachments",
    summary = "Attachments sent and received, with how much of each is held.",
    params(PageQuery),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn list(State(node): State<Shared>, Query(q): Query<PageQuery>) -> Listing<AttachmentView> {
    national_only(&node)?;
    let page = Page::only(&q)?;
    let list = node.store.attachments()?;
    let total = list.len();
    Ok(listing(total, page.cut(list).into_iter().map(AttachmentView::from).collect()))
}

#[utoipa::path(
    post,
    path = "/v1/attachments/{id}/save",
    tag = "attachments",
    summary = "Write a complete received attachment to a file.",
    request_body(content_type = "application/json", description = "{out, force}"),
    params(("id" = String, Path, description = "Attachment id, or a unique prefix")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn save(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<SaveRequest>,
) -> ApiResult<AttachmentView> {
    national_only(&node)?;
    let id = attachments::find(&node.attachments, &id)?;
    let view =
        node.attachments.blocking(move |a| attachments::save(a, id, std::path::Path::new(&req.out), req.force)).await?;
    Ok(Json(view))
}

#[utoipa::path(
    post,
    path = "/v1/exchanges/{id}/attach",
    tag = "attachments",
    summary = "Send staged files in an exchange.",
    request_body(content_type = "application/json", description = "{text, attachments: [id], handling?}"),
    params(("id" = String, Path, description = "Exchange id, or a unique prefix")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn attach(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<AttachRequest>,
) -> ApiResult<MessageView> {
    national_only(&node)?;
    let me =
        node.config.state.ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no State configured"))?;
    let x = find_exchange(&node, &id)?;
    let to = crate::exchange::counterparts(me, &x);
    let ids = req.attachments.iter().map(|a| attachments::find(&node.attachments, a)).collect::<Result<Vec<_>, _>>()?;
    let files = attachments::for_message(&node.attachments, &ids, &to)?;
    let body = Body::Attachments(Attachments {
        text: req.text,
        files,
        handling: req.handling.unwrap_or_else(|| node.config.handling.clone()),
    });
    let outgoing = Outgoing { exchange_id: Some(x.exchange_id), recipients: &to, body };
    let sent = node.exchanges.send(outgoing).await?;
    Ok(Json(message_view(&node, sent)?))
}
