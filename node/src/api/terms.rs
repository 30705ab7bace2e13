//! The admin API of the terms of reference: consent, disclosure,
//! reciprocity and retention.

use super::types::*;
use super::{ApiError, ApiResult, MessageView, Shared, message_view, national_only};
use crate::storage::DisclosureSummary;
use crate::terms::{self, AskConsent, ConsentView, DecideConsent, Disclose, Reciprocity, TermsError};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use veim_protocol::disclosure::Package;

impl From<TermsError> for ApiError {
    fn from(e: TermsError) -> ApiError {
        match e {
            TermsError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not-found", m),
            TermsError::Invalid(errors) => {
                let mut err = ApiError::invalid(errors);
                err.message = format!("the request is not valid: {} problem(s)", err.problems.len());
                err
            }
            TermsError::Refused { message, problems } => {
                let mut err = ApiError::new(StatusCode::FORBIDDEN, "no-consent", message);
                err.problems = problems;
                err
            }
            TermsError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "refused", m),
            TermsError::Send(e) => e.into(),
            TermsError::Store(e) => e.into(),
            TermsError::Vault(e) => e.into(),
        }
    }
}

pub(super) async fn ask(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<AskConsent>,
) -> ApiResult<MessageView> {
    national_only(&node)?;
    let sent = terms::ask(&node.terms, &id, req).await?;
    Ok(Json(message_view(&node, sent)?))
}

pub(super) async fn list(State(node): State<Shared>) -> ApiResult<Vec<ConsentView>> {
    national_only(&node)?;
    let list = terms::consents(&node.terms)?;
    super::shown(&node, "consent requests".into(), None, list.len());
    Ok(Json(list))
}

pub(super) async fn decide(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<DecideConsent>,
) -> ApiResult<MessageView> {
    national_only(&node)?;
    let sent = terms::decide(&node.terms, &id, req).await?;
    Ok(Json(message_view(&node, sent)?))
}

pub(super) async fn revoke(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<RevokeRequest>,
) -> ApiResult<MessageView> {
    national_only(&node)?;
    let sent = terms::revoke(&node.terms, &id, req.reason).await?;
    Ok(Json(message_view(&node, sent)?))
}

pub(super) async fn disclose(State(node): State<Shared>, Json(req): Json<Disclose>) -> ApiResult<Package> {
    national_only(&node)?;
    Ok(Json(terms::disclose(&node.terms, req).await?))
}

pub(super) async fn disclosures(State(node): State<Shared>) -> ApiResult<Vec<DisclosureSummary>> {
    national_only(&node)?;
    let mut list = node.store.disclosures()?;
    list.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    Ok(Json(list))
}

pub(super) async fn reciprocity(State(node): State<Shared>) -> ApiResult<Vec<Reciprocity>> {
    national_only(&node)?;
    Ok(Json(terms::reciprocity(&node.terms)?))
}

pub(super) async fn purge(State(node): State<Shared>, Json(req): Json<PurgeRequest>) -> ApiResult<PurgeView> {
    national_only(&node)?;
    let policy = node.config.retention.received_content_days.map(|d| i64::from(d) * 86_400);
    let older_than_secs = req.older_than_secs.or(policy).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no-retention-policy",
            "this node has no retention policy (retention.received_content_days in config.toml); say how old content must be to go",
        )
    })?;
    if older_than_secs < 0 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "the age must not be negative"));
    }
    let purged = node.terms.purge(older_than_secs, veim_protocol::audit::Actor::Operator).await?;
    Ok(Json(PurgeView { older_than_secs, purged }))
}
