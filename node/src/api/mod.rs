//! The local admin API: HTTP on a loopback address, JSON in and out, every
//! call authenticated with the bearer token from `admin.token` (a file only
//! the operator can read). The `veim` CLI, and later a web console, use only
//! this API, and its requests and answers are in `types`, which has no
//! server in it. Handlers are grouped by concern: `directory` (status,
//! directory, contacts, keys), `messages`, `terms`, `attachments`,
//! `tracking` (measures, stage, date to respond by, the tracking views); and
//! `publications` (reports through the Secretariat, the meeting); and
//! `health` and `metrics`, the three paths a supervisor or a monitoring
//! system reads without the token (`/healthz`, `/readyz`, `/metrics`).

mod attachments;
mod audit;
mod backup;
pub mod console;
mod directory;
mod guard;
mod health;
mod mail;
mod users;

pub use guard::{COUNTED_FLUSH_EVERY, MAX_RECORDED_PATH, cut};
pub(crate) use guard::{Check, ConsoleCaller, Guard, failed};
pub use health::stale_after;
mod messages;
mod metrics;
mod publications;
mod reports;
mod terms;
mod tracking;
pub mod types;

pub use types::*;
pub use users::{AccountUpdated, TotpChange};

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
use axum::routing::get;
use axum::{Json, Router};
use directory::*;
use messages::*;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
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
            SendError::Progress(p) => tracking::progress_error(&p, ValidationErrors::default()),
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

    /// The page of a listing that has no filters (serde refuses a filter
    /// given, as an unknown field).
    fn only(q: &PageQuery) -> Result<Page, ApiError> {
        Page::of(&ListQuery { limit: q.limit, page: q.page, ..ListQuery::default() })
    }

    fn cut<T>(&self, items: Vec<T>) -> Vec<T> {
        items.into_iter().skip((self.page - 1).saturating_mul(self.limit)).take(self.limit).collect()
    }
}

fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad-query", message)
}
type Shared = Arc<Node>;

pub(crate) async fn serve(node: Shared, listener: tokio::net::TcpListener, mut shutdown: Shutdown) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let public = node.config.console.origin().ok().flatten();
    let guard = Arc::new(Guard::new(port, public));
    let api = router(node.clone(), guard.clone());
    let app = api.clone().merge(console::router(node, guard, api)).layer(middleware::from_fn(secured));
    let stop = async move { shutdown.recv().await };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!(%e, "admin API stopped");
    }
}

/// The admin API's description (OpenAPI 3.1), built from the handlers'
/// annotations as the router is: a route cannot be served without being
/// described. Served at [`OPENAPI_PATH`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// Where the node serves its OpenAPI description (with the token, like every `/v1` path).
pub const OPENAPI_PATH: &str = "/v1/openapi.json";

#[derive(utoipa::OpenApi)]
#[openapi(info(
    title = "veim admin API",
    description = "The local admin API of a veim node: HTTP on a loopback address, JSON in and out, every /v1 \
                   call with an account's personal token as bearer token, granted to the roles its route needs. /healthz, /readyz and /metrics answer without it."
))]
struct ApiDoc;

fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(status))
        .routes(routes!(directory))
        .routes(routes!(public_section))
        .routes(routes!(history))
        .routes(routes!(pending))
        .routes(routes!(approve))
        .routes(routes!(approve_many))
        .routes(routes!(reject))
        .routes(routes!(change_status))
        .routes(routes!(sync))
        .routes(routes!(rotate_keys))
        .routes(routes!(own_contacts, submit_contacts))
        .routes(routes!(pending_contacts))
        .routes(routes!(accept_contacts))
        .routes(routes!(reject_contacts))
        .routes(routes!(send_request))
        .routes(routes!(inbox))
        .routes(routes!(outbox))
        .routes(routes!(outbox_retry))
        .routes(routes!(outbox_cancel))
        .routes(routes!(exchanges))
        .routes(routes!(exchange_show))
        .routes(routes!(respond))
        .routes(routes!(note))
        .routes(routes!(close))
        .routes(routes!(tracking::measure))
        .routes(routes!(tracking::stage))
        .routes(routes!(tracking::respond_by))
        .routes(routes!(tracking::track))
        .routes(routes!(tracking::figures))
        .routes(routes!(terms::ask))
        .routes(routes!(terms::list))
        .routes(routes!(terms::decide))
        .routes(routes!(terms::revoke))
        .routes(routes!(terms::disclosures, terms::disclose))
        .routes(routes!(terms::disclosure_requests))
        .routes(routes!(terms::approve_disclosure))
        .routes(routes!(terms::refuse_disclosure))
        .routes(routes!(terms::verify_disclosure))
        .routes(routes!(terms::reciprocity))
        .routes(routes!(terms::purge))
        .routes(routes!(attachments::list, attachments::stage))
        .routes(routes!(attachments::save))
        .routes(routes!(attachments::attach))
        .routes(routes!(backup::make))
        .routes(routes!(audit::entries))
        .routes(routes!(audit::verify_log))
        .routes(routes!(audit::export))
        .routes(routes!(users::list, users::add))
        .routes(routes!(users::show, users::update))
        .routes(routes!(users::totp))
        .routes(routes!(mail::test))
        .routes(routes!(mail::queue))
        .routes(routes!(reports::list, reports::draft))
        .routes(routes!(reports::show))
        .routes(routes!(reports::update))
        .routes(routes!(reports::approve))
        .routes(routes!(reports::comment))
        .routes(routes!(reports::send))
        .routes(routes!(reports::submit))
        .routes(routes!(reports::file))
        .routes(routes!(reports::register))
        .routes(routes!(publications::reports, publications::submit_report))
        .routes(routes!(publications::pending_reports))
        .routes(routes!(publications::report))
        .routes(routes!(publications::circulate))
        .routes(routes!(publications::refuse))
        .routes(routes!(publications::publications))
        .routes(routes!(publications::sync_publications))
        .routes(routes!(publications::meeting))
        .routes(routes!(publications::invite))
        .routes(routes!(publications::publish_notice))
        .routes(routes!(publications::register))
        .routes(routes!(publications::registrations))
        .routes(routes!(publications::recommendations))
}

/// The description as served, encoded at its first request: the same for
/// every node of a build, so held once a process (one that holds many nodes,
/// as the benchmarks' networks do, holds one copy, not a document a node).
static DESCRIPTION: std::sync::OnceLock<Result<axum::body::Bytes, String>> = std::sync::OnceLock::new();

async fn description() -> Response {
    let encoded = DESCRIPTION.get_or_init(|| serde_json::to_vec(&openapi()).map(Into::into).map_err(|e| e.to_string()));
    match encoded {
        Ok(json) => ([(axum::http::header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the API description: {e}")).into_response()
        }
    }
}

fn router(node: Shared, guard: Arc<Guard>) -> Router {
    let audit_node = node.clone();
    let (router, _) = routes().split_for_parts();
    router
        .route(OPENAPI_PATH, get(description))
        // A path of no route (the console's aside) is the guard's too: a
        // probe without the token is answered 401 and counted, never 404.
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let guard = guard.clone();
            let node = audit_node.clone();
            async move { guard::authorize(&node, &guard, req, next).await }
        }))
        .with_state(node)
}

/// The Content-Security-Policy of every answer of the admin listener: the
/// console's pages load their style sheet and images from the node alone,
/// run no script, post forms only to the node, and are never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Puts the security headers on every answer, API and console alike.
async fn secured(req: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: with it a browser sends `Origin: null` on the
    // console's own forms, which the guard must refuse.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
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

#[cfg(test)]
mod described {
    /// Routes reach the router only through `routes!`, which describes them
    /// (a plain `.route` would serve a path the description lacks): the one
    /// exception is the description's own path.
    #[test]
    fn every_route_of_the_router_is_in_the_openapi_description() {
        let source = include_str!("mod.rs");
        let router = &source[source.find("fn router(").expect("router")..];
        let router = &router[..router.find("\n}\n").expect("end of router")];
        assert_eq!(router.matches(".route(").count(), 1, "{router}");
        assert!(router.contains(".route(OPENAPI_PATH,"), "{router}");
        let routes = &source[source.find("fn routes()").expect("routes")..];
        let routes = &routes[..routes.find("\n}\n").expect("end of routes")];
        assert!(!routes.contains(".route("), "{routes}");
        let described = super::openapi().paths.paths.len();
        assert_eq!(routes.matches("routes!(").count(), described, "one path per routes! call");
    }
}
