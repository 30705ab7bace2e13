//! The admin API of attachments: stage a file, send staged files in an
//! exchange, list them, save one.

use super::{ApiError, ApiResult, MessageView, Shared, find_exchange, message_view, national_only};
use crate::attachments::{self, AttachmentError, AttachmentView};
use crate::exchange::{self, Outgoing};
use crate::service::now;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use veim_protocol::attachment::Attachments;
use veim_protocol::{Body, Handling};

impl From<AttachmentError> for ApiError {
    fn from(e: AttachmentError) -> ApiError {
        let status = match &e {
            AttachmentError::NotFound(_) => StatusCode::NOT_FOUND,
            AttachmentError::TooLarge { .. } | AttachmentError::Read { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AttachmentError::Incomplete(_) | AttachmentError::Refused(_) | AttachmentError::Final(_) => {
                StatusCode::CONFLICT
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, "attachment", e.to_string())
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StageRequest {
    /// A file on the node's machine.
    pub path: String,
}

pub(super) async fn stage(State(node): State<Shared>, Json(req): Json<StageRequest>) -> ApiResult<AttachmentView> {
    national_only(&node)?;
    let staged = node.clone();
    let r = tokio::task::spawn_blocking(move || attachments::stage(&staged, std::path::Path::new(&req.path)))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    let record = node.store.attachment(r.id)?.ok_or_else(|| AttachmentError::NotFound(r.id.to_string()))?;
    Ok(Json(record.into()))
}

pub(super) async fn list(State(node): State<Shared>) -> ApiResult<Vec<AttachmentView>> {
    national_only(&node)?;
    Ok(Json(node.store.attachments()?.into_iter().map(AttachmentView::from).collect()))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SaveRequest {
    pub out: String,
}

pub(super) async fn save(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<SaveRequest>,
) -> ApiResult<AttachmentView> {
    national_only(&node)?;
    let id = attachments::find(&node, &id)?;
    let saving = node.clone();
    let view = tokio::task::spawn_blocking(move || attachments::save(&saving, id, std::path::Path::new(&req.out)))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok(Json(view))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AttachRequest {
    #[serde(default)]
    pub text: String,
    /// Staged attachments, by id or unique prefix.
    pub attachments: Vec<String>,
    #[serde(default)]
    pub handling: Option<Handling>,
}

pub(super) async fn attach(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<AttachRequest>,
) -> ApiResult<MessageView> {
    national_only(&node)?;
    let me = node.me().ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no State configured"))?;
    let x = find_exchange(&node, &id)?;
    let to = exchange::counterparts(me.state, &x);
    let ids = req.attachments.iter().map(|a| attachments::find(&node, a)).collect::<Result<Vec<_>, _>>()?;
    let files = attachments::for_message(&node, &ids, &to)?;
    let body = Body::Attachments(Attachments {
        text: req.text,
        files,
        handling: req.handling.unwrap_or_else(|| node.config.handling.clone()),
    });
    let view = node.view();
    let outgoing = Outgoing { exchange_id: Some(x.exchange_id), recipients: &to, body };
    let sent = exchange::send(me, &node.store, &node.client, &view, outgoing, now()).await?;
    Ok(Json(message_view(&node, sent)?))
}
