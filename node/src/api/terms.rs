//! The admin API of the terms of reference: consent, disclosure (asked,
//! approved by a second official, verified), reciprocity and retention.

use super::types::*;
use super::{ApiError, ApiResult, Listing, MessageView, Page, Shared, listing, message_view, national_only};
use crate::storage::DisclosureSummary;
use crate::terms::{self, AskConsent, ConsentView, DecideConsent, Disclose, Reciprocity, TermsError};
use axum::Json;
use axum::body::Body;
use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use veim_protocol::disclosure::{MAX_PACKAGE, Package};

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
            e @ TermsError::SameOfficial(_) => ApiError::new(StatusCode::FORBIDDEN, "same-official", e.to_string()),
            TermsError::Send(e) => e.into(),
            TermsError::Store(e) => e.into(),
            TermsError::Vault(e) => e.into(),
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/exchanges/{id}/consent",
    tag = "terms",
    summary = "Ask the originator of received items for consent to disclose them.",
    request_body(content_type = "application/json", description = "{items, authority, purpose, case_reference}"),
    params(("id" = String, Path, description = "Exchange id, or a unique prefix")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn ask(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<AskConsent>,
) -> ApiResult<MessageView> {
    national_only(&node)?;
    let sent = terms::ask(&node.terms, &id, req).await?;
    Ok(Json(message_view(&node, sent)?))
}

#[utoipa::path(
    get,
    path = "/v1/consents",
    tag = "terms",
    summary = "Consent requests asked by or of this State, and their decisions.",
    params(PageQuery),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn list(State(node): State<Shared>, Query(q): Query<PageQuery>) -> Listing<ConsentView> {
    national_only(&node)?;
    let page = Page::only(&q)?;
    let list = terms::consents(&node.terms)?;
    let total = list.len();
    let list = page.cut(list);
    super::shown(&node, "consent requests".into(), None, list.len());
    Ok(listing(total, list))
}

#[utoipa::path(
    post,
    path = "/v1/consents/{id}/decide",
    tag = "terms",
    summary = "Grant or refuse a consent request.",
    request_body(content_type = "application/json", description = "{grant: {items?, conditions, expires_at?}} or {refuse: {reason}}"),
    params(("id" = String, Path, description = "Consent id, or a unique prefix")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn decide(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<DecideConsent>,
) -> ApiResult<MessageView> {
    national_only(&node)?;
    let sent = terms::decide(&node.terms, &id, req).await?;
    Ok(Json(message_view(&node, sent)?))
}

#[utoipa::path(
    post,
    path = "/v1/consents/{id}/revoke",
    tag = "terms",
    summary = "Revoke a grant; disclosures already made stand.",
    request_body(content_type = "application/json", description = "{reason}"),
    params(("id" = String, Path, description = "Consent id, or a unique prefix")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn revoke(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<RevokeRequest>,
) -> ApiResult<MessageView> {
    national_only(&node)?;
    let sent = terms::revoke(&node.terms, &id, req.reason).await?;
    Ok(Json(message_view(&node, sent)?))
}

#[utoipa::path(
    post,
    path = "/v1/disclosures",
    tag = "terms",
    summary = "Ask for a disclosure package of received items a grant covers (403 no-consent otherwise): checked now, made once an approver who is not the official asking approves it.",
    request_body(content_type = "application/json", description = "{exchange, items, authority, purpose?, case_reference?}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn disclose(
    State(node): State<Shared>,
    Json(req): Json<Disclose>,
) -> ApiResult<DisclosureRequestView> {
    national_only(&node)?;
    Ok(Json(terms::ask_disclosure(&node.terms, req).await?))
}

#[utoipa::path(
    get,
    path = "/v1/disclosures/requests",
    tag = "terms",
    summary = "Disclosures asked for, waiting for an approver's decision, oldest first.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}"))
)]
pub(super) async fn disclosure_requests(State(node): State<Shared>) -> ApiResult<Vec<DisclosureRequestView>> {
    national_only(&node)?;
    Ok(Json(terms::disclosure_requests(&node.terms)?))
}

#[utoipa::path(
    post,
    path = "/v1/disclosures/requests/{id}/approve",
    tag = "terms",
    summary = "Approver: make the disclosure package another official asked for (403 same-official for one's own request; 403 no-consent if its grant no longer covers it).",
    params(("id" = String, Path, description = "The request's id, or its first hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: same-official, no-consent, not-found"))
)]
pub(super) async fn approve_disclosure(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<Package> {
    national_only(&node)?;
    Ok(Json(terms::approve_disclosure(&node.terms, &id).await?))
}

#[utoipa::path(
    post,
    path = "/v1/disclosures/requests/{id}/refuse",
    tag = "terms",
    summary = "Approver: refuse a disclosure asked for (or withdraw one's own), with a reason; nothing is disclosed.",
    params(("id" = String, Path, description = "The request's id, or its first hex digits")),
    request_body(content_type = "application/json", description = "{reason}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}"))
)]
pub(super) async fn refuse_disclosure(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<RefuseDisclosure>,
) -> ApiResult<DisclosureRequestView> {
    national_only(&node)?;
    Ok(Json(terms::refuse_disclosure(&node.terms, &id, &req.reason).await?))
}

#[utoipa::path(
    post,
    path = "/v1/disclosures/verify",
    tag = "terms",
    summary = "Verify a disclosure package (the body: the package file's bytes, as `veim disclosure approve` writes it) against the Secretariat key this node trusts, as `veim disclosure verify` does; 422 not-verified says which proof failed.",
    request_body(content_type = "application/json", description = "The disclosure package file"),
    responses((status = 200, description = "The package verifies: what its proofs establish, and the package"), (status = "default", description = "An error, as JSON {error, message, problems}: not-a-package, not-verified, too-large"))
)]
pub(super) async fn verify_disclosure(State(node): State<Shared>, body: Body) -> ApiResult<PackageVerified> {
    let bytes = axum::body::to_bytes(body, MAX_PACKAGE).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("a disclosure package is at most {MAX_PACKAGE} bytes; this is not one"),
        )
    })?;
    let package: Package = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-a-package",
            format!("this file is not a veim disclosure package (its JSON does not read as one: {e})"),
        )
    })?;
    // The key the operator pinned at setup, else the one the directory
    // was accepted under: the package must carry that one.
    let trusted = node.directory.pinned_key().or_else(|| node.directory.secretariat_key());
    let checked = package.clone();
    let verified = tokio::task::spawn_blocking(move || checked.verify(trusted.as_ref()))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not-verified", format!("the package does NOT verify: {e}"))
        })?;
    Ok(Json(PackageVerified { verified, package }))
}

#[utoipa::path(
    get,
    path = "/v1/disclosures",
    tag = "terms",
    summary = "Disclosures this node made.",
    params(PageQuery),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn disclosures(State(node): State<Shared>, Query(q): Query<PageQuery>) -> Listing<DisclosureSummary> {
    national_only(&node)?;
    let page = Page::only(&q)?;
    let mut list = node.store.disclosures()?;
    list.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    let total = list.len();
    Ok(listing(total, page.cut(list)))
}

#[utoipa::path(
    get,
    path = "/v1/reciprocity",
    tag = "terms",
    summary = "Requests sent to and received from each State, answered or not, and how fast.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn reciprocity(State(node): State<Shared>) -> ApiResult<Vec<Reciprocity>> {
    national_only(&node)?;
    Ok(Json(terms::reciprocity(&node.terms)?))
}

#[utoipa::path(
    post,
    path = "/v1/purge",
    tag = "terms",
    summary = "Remove the content of received messages older than the retention period.",
    request_body(content_type = "application/json", description = "{older_than_secs?}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
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
