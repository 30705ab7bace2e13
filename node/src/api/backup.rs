//! `POST /v1/backup`: a consistent, encrypted copy of the running node,
//! answered as the body (the CLI writes it where the operator said).

use super::*;
use crate::backup::{self, BackupError};
use axum::http::header;

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> ApiError {
        match e {
            BackupError::WeakPassphrase(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "backup", other.to_string()),
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/backup",
    tag = "node",
    summary = "A consistent backup of the running node, encrypted with the passphrase given: the answer is the file itself (application/octet-stream), with what it holds as JSON in the header veim-backup.",
    request_body(content_type = "application/json", description = "{passphrase}"),
    responses((status = 200, description = "The encrypted backup file"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn make(State(node): State<Shared>, Json(req): Json<BackupRequest>) -> Result<Response, ApiError> {
    // Written first to a temporary in the home folder (the pause of the
    // store's writes lasts as long as that write), then answered.
    let out = node.home.join(format!(
        ".backup-{}.tmp",
        hex::encode(rand_core::Rng::next_u64(&mut rand_core::UnwrapErr(getrandom::SysRng)).to_be_bytes())
    ));
    let (store, home, state, peer) =
        (node.store.clone(), node.home.clone(), node.config.state, node.peer_id.to_string());
    let path = out.clone();
    let made = tokio::task::spawn_blocking(move || {
        let info = backup::make(&store, &home, state, &peer, &req.passphrase, &path)?;
        let bytes = std::fs::read(&path)
            .map_err(|e| BackupError::Write { path: path.display().to_string(), reason: e.to_string() })?;
        Ok::<_, BackupError>((info, bytes))
    })
    .await;
    let _ = std::fs::remove_file(&out);
    let (info, bytes) =
        made.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    let described = serde_json::to_string(&info)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    tracing::info!(backup = %info.backup_id, audit_entries = info.audit_count, bytes = bytes.len(), "backup made");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::HeaderName::from_static(BACKUP_INFO_HEADER), described),
        ],
        bytes,
    )
        .into_response())
}
