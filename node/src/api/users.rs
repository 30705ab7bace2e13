//! `/v1/users…`: officials' accounts at this node (administrator).

use super::*;
use crate::accounts::{Account, AccountChange, AccountError, NewAccount, WithToken};

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        let (status, code) = match &e {
            AccountError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            AccountError::Exists(_) => (StatusCode::CONFLICT, "exists"),
            AccountError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            AccountError::LastAdministrator(_) => (StatusCode::CONFLICT, "last-administrator"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// An account changed, with its new personal token when one was asked for.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AccountUpdated {
    pub account: Account,
    /// Shown once: the node keeps only its SHA-256.
    pub token: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "users",
    summary = "Administrator: every official's account at this node, with its roles (never a token or password).",
    responses((status = 200, description = "Done; the answer as JSON"), (status = "default", description = "An error, as JSON {error, message, problems}"))
)]
pub(super) async fn list(State(node): State<Shared>) -> ApiResult<Vec<Account>> {
    Ok(Json(node.accounts.list()?))
}

#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    summary = "Administrator: make an account with its roles (operator, approver, auditor, administrator; directory-reviewer on the Secretariat's node); its personal token is in the answer, once.",
    request_body(content_type = "application/json", description = "{name, full_name?, roles, language?, password?}"),
    responses((status = 200, description = "Done; the answer as JSON"), (status = "default", description = "An error, as JSON {error, message, problems}: invalid, exists"))
)]
pub(super) async fn add(State(node): State<Shared>, Json(req): Json<NewAccount>) -> ApiResult<WithToken> {
    Ok(Json(node.accounts.add(&req).await?))
}

#[utoipa::path(
    get,
    path = "/v1/users/{name}",
    tag = "users",
    summary = "Administrator: one account.",
    params(("name" = String, Path, description = "The account's name")),
    responses((status = 200, description = "Done; the answer as JSON"), (status = "default", description = "An error, as JSON {error, message, problems}: not-found"))
)]
pub(super) async fn show(State(node): State<Shared>, Path(name): Path<String>) -> ApiResult<Account> {
    Ok(Json(node.accounts.get(&name)?))
}

#[utoipa::path(
    post,
    path = "/v1/users/{name}",
    tag = "users",
    summary = "Administrator: change an account's roles, disable or enable it, give it a new personal token (in the answer, once; the old one stops working), set its password or language.",
    params(("name" = String, Path, description = "The account's name")),
    request_body(content_type = "application/json", description = "{roles?, disabled?, new_token?, password?, language?, full_name?}"),
    responses((status = 200, description = "Done; the answer as JSON"), (status = "default", description = "An error, as JSON {error, message, problems}: invalid, not-found, last-administrator"))
)]
pub(super) async fn update(
    State(node): State<Shared>,
    Path(name): Path<String>,
    Json(req): Json<AccountChange>,
) -> ApiResult<AccountUpdated> {
    let (account, token) = node.accounts.update(&name, &req).await?;
    Ok(Json(AccountUpdated { account, token }))
}

/// A second factor to give or take away.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TotpChange {
    /// `true`: a new secret (the old one stops working), in the answer
    /// once; `false`: the account logs in with its password alone.
    pub enable: bool,
}

#[utoipa::path(
    post,
    path = "/v1/users/{name}/totp",
    tag = "users",
    summary = "Administrator: give an account a new second factor for the console's login (RFC 6238; its otpauth:// URL and secret in the answer, once) or take it away.",
    params(("name" = String, Path, description = "The account's name")),
    request_body(content_type = "application/json", description = "{enable}"),
    responses((status = 200, description = "Done; the enrolment as JSON, or null when taken away"), (status = "default", description = "An error, as JSON {error, message, problems}: not-found"))
)]
pub(super) async fn totp(
    State(node): State<Shared>,
    Path(name): Path<String>,
    Json(req): Json<TotpChange>,
) -> ApiResult<Option<crate::accounts::TotpEnrolment>> {
    Ok(Json(node.accounts.set_totp(&name, req.enable).await?))
}
