//! The local admin API: HTTP on a loopback address, JSON in and out, every
//! call authenticated with the bearer token from `admin.token` (a file only
//! the operator can read). The `veim` CLI, and later a web console, use only
//! this API, and its requests and answers are in `types`, which has no
//! server in it. Handlers are grouped by concern: `directory` (status,
//! directory, contacts, keys), `messages`, `terms`, `attachments`; and
//! `health` and `metrics`, the three paths a supervisor or a monitoring
//! system reads without the token (`/healthz`, `/readyz`, `/metrics`).

mod attachments;
mod directory;
mod guard;
mod health;

pub use guard::MAX_RECORDED_PATH;
pub use health::stale_after;
mod messages;
mod metrics;
mod terms;
pub mod types;

pub use types::*;

use crate::app::Node;
use crate::clock::now;
use crate::directory::{PublishError, Publisher, SyncClient};
use crate::exchange::{Outgoing, SendError};
use crate::shutdown::Shutdown;
use crate::storage::{LookupError, StoreError};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use directory::*;
use messages::*;
use std::sync::Arc;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::{Body, StateCode, ValidationErrors};

impl ApiError {
    fn new(status: StatusCode, error: &str, message: impl Into<String>) -> ApiError {
        ApiError { status: status.as_u16(), error: error.into(), message: message.into(), problems: Vec::new() }
    }

    fn invalid(errors: ValidationErrors) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY.as_u16(),
            error: "invalid".into(),
            message: format!("the message is not valid: {} problem(s); nothing was sent", errors.0.len()),
            problems: errors.0,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string())
    }
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> ApiError {
        match e {
            SendError::NoState => ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", e.to_string()),
            SendError::Invalid(errors) => ApiError::invalid(errors),
            SendError::UnknownRecipient(..) | SendError::RecipientNotActive(..) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown-recipient", e.to_string())
            }
            SendError::NotAdmitted | SendError::NotActive(..) => {
                ApiError::new(StatusCode::CONFLICT, "not-admitted", e.to_string())
            }
            SendError::Refused(_) => ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
        }
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// A page of a listing, with the number of items that pass its filters in
/// the [`TOTAL_HEADER`] header.
type Listing<T> = Result<([(&'static str, String); 1], Json<Vec<T>>), ApiError>;

fn listing<T>(total: usize, items: Vec<T>) -> ([(&'static str, String); 1], Json<Vec<T>>) {
    ([(TOTAL_HEADER, total.to_string())], Json(items))
}

/// Which items of a listing a query asks for.
struct Page {
    limit: usize,
    page: usize,
}

impl Page {
    fn of(q: &ListQuery) -> Result<Page, ApiError> {
        let page = q.page.unwrap_or(1);
        if page == 0 {
            return Err(bad_query("page 0: pages are counted from 1"));
        }
        let limit = match (q.limit, q.page) {
            (Some(limit), _) if !(1..=PAGE_MAX).contains(&limit) => {
                return Err(bad_query(format!("limit {limit}: a page holds 1 to {PAGE_MAX} items")));
            }
            (Some(limit), _) => limit,
            (None, Some(_)) => PAGE_DEFAULT,
            // Neither: the whole listing, as clients of the first release
            // ask for it.
            (None, None) => usize::MAX,
        };
        Ok(Page { limit, page })
    }

    fn cut<T>(&self, items: Vec<T>) -> Vec<T> {
        items.into_iter().skip((self.page - 1).saturating_mul(self.limit)).take(self.limit).collect()
    }
}

fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad-query", message)
}
type Shared = Arc<Node>;

pub(crate) async fn serve(node: Shared, listener: tokio::net::TcpListener, token: String, mut shutdown: Shutdown) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let app = router(node, guard::Guard::new(token, port));
    let stop = async move { shutdown.recv().await };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!(%e, "admin API stopped");
    }
}

fn router(node: Shared, guard: guard::Guard) -> Router {
    let guard = Arc::new(guard);
    let audit_node = node.clone();
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/status", get(status))
        .route("/v1/directory", get(directory))
        .route("/v1/directory/history", get(history))
        .route("/v1/directory/pending", get(pending))
        .route("/v1/directory/approve", post(approve))
        .route("/v1/directory/approve-many", post(approve_many))
        .route("/v1/directory/reject", post(reject))
        .route("/v1/directory/status", post(change_status))
        .route("/v1/directory/sync", post(sync))
        .route("/v1/keys/rotate", post(rotate_keys))
        .route("/v1/contacts", get(own_contacts).post(submit_contacts))
        .route("/v1/contacts/pending", get(pending_contacts))
        .route("/v1/contacts/accept", post(accept_contacts))
        .route("/v1/contacts/reject", post(reject_contacts))
        .route("/v1/requests", post(send_request))
        .route("/v1/inbox", get(inbox))
        .route("/v1/outbox", get(outbox))
        .route("/v1/outbox/{id}/retry", post(outbox_retry))
        .route("/v1/outbox/{id}/cancel", post(outbox_cancel))
        .route("/v1/exchanges", get(exchanges))
        .route("/v1/exchanges/{id}", get(exchange_show))
        .route("/v1/exchanges/{id}/respond", post(respond))
        .route("/v1/exchanges/{id}/note", post(note))
        .route("/v1/exchanges/{id}/close", post(close))
        .route("/v1/exchanges/{id}/consent", post(terms::ask))
        .route("/v1/consents", get(terms::list))
        .route("/v1/consents/{id}/decide", post(terms::decide))
        .route("/v1/consents/{id}/revoke", post(terms::revoke))
        .route("/v1/disclosures", get(terms::disclosures).post(terms::disclose))
        .route("/v1/reciprocity", get(terms::reciprocity))
        .route("/v1/attachments", get(attachments::list).post(attachments::stage))
        .route("/v1/attachments/{id}/save", post(attachments::save))
        .route("/v1/exchanges/{id}/attach", post(attachments::attach))
        .route("/v1/purge", post(terms::purge))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let guard = guard.clone();
            let node = audit_node.clone();
            async move { guard::authorize(&node, &guard, req, next).await }
        }))
        .with_state(node)
}

fn national_only(node: &Node) -> Result<(), ApiError> {
    if node.config.role == Role::National {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "wrong-role",
            "this is the Secretariat's node; exchanges are sent from national nodes",
        ))
    }
}

fn parse_state(s: &str) -> Result<StateCode, ApiError> {
    s.parse().map_err(|e: veim_protocol::state::UnknownStateCode| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-state", e.to_string())
    })
}

impl From<crate::home::vault::VaultError> for ApiError {
    fn from(e: crate::home::vault::VaultError) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage-key", e.to_string())
    }
}

/// Records that content was shown to the operator: what, and how many messages.
pub(crate) fn shown(node: &Node, what: String, exchange: Option<veim_protocol::ExchangeId>, messages: usize) {
    let mut event = Event::new(now(), Actor::Operator, Action::ContentShown);
    event.object = Some(what);
    event.exchange = exchange;
    event.detail = format!("{messages} message(s)");
    node.store.record(&event);
}

/// A stored message as the operator sees it, its body opened with the storage key.
fn message_view(node: &Node, m: MessageRecord) -> Result<MessageView, ApiError> {
    let body = node.vault.open_body(m.message_id, m.content.as_deref())?;
    let use_expired = body.as_ref().and_then(Body::handling).is_some_and(|h| h.use_expired(now()));
    Ok(MessageView {
        message_id: m.message_id.to_hex(),
        exchange_id: m.exchange_id.to_hex(),
        direction: m.direction,
        sender: m.sender,
        recipients: m.recipients,
        kind: m.kind,
        created_at: m.created_at,
        stored_at: m.stored_at,
        envelope_hash: hex::encode(m.envelope_hash),
        envelope: hex::encode(&m.envelope),
        deliveries: m.deliveries,
        body,
        purged_at: m.purged_at,
        use_expired,
    })
}

fn find_exchange(node: &Node, id: &str) -> Result<ExchangeRecord, ApiError> {
    node.store.find_exchange(id).map_err(|e| match e {
        LookupError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown-exchange", e.to_string()),
        LookupError::Store(e) => e.into(),
        other => ApiError::new(StatusCode::BAD_REQUEST, "bad-exchange-id", other.to_string()),
    })
}
