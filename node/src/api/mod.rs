//! The local admin API: HTTP on a loopback address, JSON in and out, every
//! call authenticated with the bearer token from `admin.token` (a file only
//! the operator can read). The `veim` CLI, and later a web console, use only
//! this API.

use crate::config::Role;
use crate::directory::PublishError;
use crate::exchange::{self, Outgoing, SendError};
use crate::service::{Node, SubmitError, now};
use crate::shutdown::Shutdown;
use crate::store::{Delivery, Direction, ExchangeRecord, LookupError, MessageRecord, StoreError};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::contacts::{ContactSetForm, PointOfContact, Visibility};
use veim_protocol::{Body, Close, MessageKind, Note, RequestForm, ResponseForm, StateCode, ValidationErrors};

/// An error as the API returns it: a stable code, a message for people, and
/// for validation failures the list of problems.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<veim_protocol::FieldError>,
}

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

mod attachments;
mod terms;
pub use crate::terms::{AskConsent, DecideConsent, Disclose};
pub use attachments::{AttachRequest, SaveRequest, StageRequest};
pub use terms::{PurgeRequest, PurgeView, RevokeRequest};

type ApiResult<T> = Result<Json<T>, ApiError>;
type Shared = Arc<Node>;

pub(crate) async fn serve(node: Shared, listener: tokio::net::TcpListener, token: String, mut shutdown: Shutdown) {
    let app = router(node, token);
    let stop = async move { shutdown.recv().await };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!(%e, "admin API stopped");
    }
}

fn router(node: Shared, token: String) -> Router {
    let token = Arc::new(token);
    let audit_node = node.clone();
    Router::new()
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
            let token = token.clone();
            let node = audit_node.clone();
            async move { authorize(&node, &token, req, next).await }
        }))
        .with_state(node)
}

/// Checks the bearer token; records every failed attempt and every call
/// that changes something.
async fn authorize(node: &Node, token: &str, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let changes = req.method() != axum::http::Method::GET;
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.as_bytes().ct_eq(token.as_bytes()).into() {
        let response = next.run(req).await;
        if changes {
            let mut event = Event::new(now(), Actor::Operator, Action::AdminCall);
            event.object = Some(path);
            event.detail = response.status().as_u16().to_string();
            node.record(&event);
        }
        response
    } else {
        let mut event = Event::new(now(), Actor::Stranger, Action::AdminAuthFailed);
        event.object = Some(path);
        event.detail = if presented.is_empty() { "no token".into() } else { "wrong token".into() };
        node.record(&event);
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token; the CLI reads it from admin.token in the node's home folder",
        )
        .into_response()
    }
}

fn national_only(node: &Node) -> Result<(), ApiError> {
    if node.role() == Role::National {
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

#[derive(Debug, Serialize, Deserialize)]
pub struct StatusView {
    pub role: Role,
    pub state: Option<StateCode>,
    pub peer_id: String,
    pub fingerprint: String,
    pub identity_key: String,
    pub listen: Vec<String>,
    pub directory_version: u64,
    pub directory_entries: usize,
    /// Fingerprint of the Secretariat key this node trusts now (the pinned
    /// one, or the one the directory handed over to).
    pub secretariat_fingerprint: Option<String>,
    pub registration: Option<String>,
    pub contacts: Option<String>,
    pub last_sync: Option<i64>,
    pub last_error: Option<String>,
    /// Why the store could not write to disk, if it could not: the node
    /// restarts itself to reopen it.
    #[serde(default)]
    pub store_failure: Option<String>,
    pub started_at: i64,
}

async fn status(State(node): State<Shared>) -> ApiResult<StatusView> {
    let view = node.view();
    let sync = node.sync_status.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(Json(StatusView {
        role: node.role(),
        state: node.state(),
        peer_id: node.peer_id.to_string(),
        fingerprint: node.keys.identity.public().fingerprint(),
        identity_key: node.keys.identity.public().to_string(),
        listen: node.announce(),
        directory_version: view.version(),
        directory_entries: view.entries().len(),
        secretariat_fingerprint: node.secretariat_key().map(|k| k.fingerprint()),
        registration: sync.registration,
        contacts: sync.contacts,
        last_sync: sync.last_sync,
        last_error: sync.last_error,
        store_failure: node.store.failure(),
        started_at: node.started_at,
    }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EntryView {
    pub state: StateCode,
    pub name: String,
    pub status: veim_protocol::EntryStatus,
    /// Whether the entry appears in the public section.
    pub visibility: Visibility,
    /// Every point of contact, restricted ones included: States Parties see all.
    pub contacts: Vec<PointOfContact>,
    pub fingerprint: String,
    pub operator: String,
    pub addresses: Vec<String>,
    pub admitted_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DirectoryListing {
    pub version: u64,
    pub issued_at: Option<i64>,
    pub hash: Option<String>,
    pub entries: Vec<EntryView>,
}

async fn directory(State(node): State<Shared>) -> ApiResult<DirectoryListing> {
    let view = node.view();
    let entries = view
        .entries()
        .iter()
        .map(|e| EntryView {
            state: e.state(),
            name: e.state().name().to_string(),
            status: e.status,
            visibility: e.visibility(),
            contacts: e.contacts.as_ref().map(|c| c.set.contacts.clone()).unwrap_or_default(),
            fingerprint: e.identity_key().fingerprint(),
            operator: e.registration.registration.operator.clone(),
            addresses: e.addresses().to_vec(),
            admitted_at: e.admitted_at,
        })
        .collect();
    Ok(Json(DirectoryListing {
        version: view.version(),
        issued_at: view.current.as_ref().map(|v| v.body.issued_at),
        hash: view.current.as_ref().and_then(|v| v.hash().ok()).map(hex::encode),
        entries,
    }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct VersionView {
    pub version: u64,
    pub issued_at: i64,
    pub change: String,
    pub hash: String,
}

impl From<&veim_protocol::SignedDirectoryVersion> for VersionView {
    fn from(v: &veim_protocol::SignedDirectoryVersion) -> VersionView {
        VersionView {
            version: v.body.version,
            issued_at: v.body.issued_at,
            change: v.body.change.clone(),
            hash: v.hash().map(hex::encode).unwrap_or_default(),
        }
    }
}

async fn history(State(node): State<Shared>) -> ApiResult<Vec<VersionView>> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let batch = node.store.directory_versions_after(after, 256)?;
        if batch.is_empty() {
            break;
        }
        for v in &batch {
            after = v.body.version;
            out.push(v.into());
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PendingView {
    pub state: StateCode,
    pub name: String,
    pub fingerprint: String,
    pub operator: String,
    pub addresses: Vec<String>,
    pub signed_at: i64,
}

async fn pending(State(node): State<Shared>) -> ApiResult<Vec<PendingView>> {
    let view = node.view();
    let list = node
        .store
        .registrations()?
        .into_iter()
        .filter(|r| view.entry(r.registration.state).is_none_or(|e| e.registration != *r))
        .filter(|r| node.store.rejection(r).ok().flatten().is_none())
        .map(|r| {
            let r = r.registration;
            PendingView {
                state: r.state,
                name: r.state.name().to_string(),
                fingerprint: r.identity_key.fingerprint(),
                operator: r.operator,
                addresses: r.addresses,
                signed_at: r.signed_at,
            }
        })
        .collect();
    Ok(Json(list))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ApproveRequest {
    pub state: String,
    /// The key fingerprint the Secretariat's operator checked with the State.
    pub fingerprint: String,
}

async fn approve(State(node): State<Shared>, Json(req): Json<ApproveRequest>) -> ApiResult<VersionView> {
    secretariat_only(&node)?;
    let state = parse_state(&req.state)?;
    let v = node.approve(state, &req.fingerprint).await.map_err(publish_error)?;
    Ok(Json((&v).into()))
}

/// Several States admitted in one directory version.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApproveManyRequest {
    pub approvals: Vec<ApproveRequest>,
}

async fn approve_many(State(node): State<Shared>, Json(req): Json<ApproveManyRequest>) -> ApiResult<VersionView> {
    secretariat_only(&node)?;
    let approvals = req
        .approvals
        .into_iter()
        .map(|a| Ok((parse_state(&a.state)?, a.fingerprint)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let v = node.approve_many(approvals).await.map_err(publish_error)?;
    Ok(Json((&v).into()))
}

fn secretariat_only(node: &Node) -> Result<(), ApiError> {
    if node.role() == Role::Secretariat {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "only the Secretariat's node changes the directory"))
    }
}

fn publish_error(e: PublishError) -> ApiError {
    match e {
        PublishError::NoRegistration(_) | PublishError::NotListed(_) | PublishError::NoContacts(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
        }
        PublishError::FingerprintMismatch { .. } => {
            ApiError::new(StatusCode::CONFLICT, "fingerprint-mismatch", e.to_string())
        }
        PublishError::AlreadyActive(_)
        | PublishError::Transition { .. }
        | PublishError::KeyChange(_)
        | PublishError::Refused(_) => ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()),
        PublishError::NoReason | PublishError::NothingToApprove | PublishError::Twice(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
        }
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "publish", other.to_string()),
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RejectRequest {
    pub state: String,
    pub fingerprint: String,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Done {
    pub done: String,
}

async fn reject(State(node): State<Shared>, Json(req): Json<RejectRequest>) -> ApiResult<Done> {
    secretariat_only(&node)?;
    let state = parse_state(&req.state)?;
    node.reject(state, &req.fingerprint, &req.reason).await.map_err(publish_error)?;
    Ok(Json(Done {
        done: format!("Rejected the registration of {state}; its node is told why when it next registers."),
    }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StatusChangeRequest {
    pub state: String,
    pub action: veim_protocol::EntryAction,
    #[serde(default)]
    pub reason: String,
}

async fn change_status(State(node): State<Shared>, Json(req): Json<StatusChangeRequest>) -> ApiResult<VersionView> {
    secretariat_only(&node)?;
    let state = parse_state(&req.state)?;
    let v = node.change_status(state, req.action, &req.reason).await.map_err(publish_error)?;
    Ok(Json((&v).into()))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ContactsView {
    pub state: StateCode,
    pub name: String,
    pub entry_visibility: Visibility,
    pub submitted_at: i64,
    pub contacts: Vec<PointOfContact>,
    /// National node: where the submission stands.
    pub status: Option<String>,
}

impl ContactsView {
    fn new(set: &veim_protocol::contacts::ContactSet, status: Option<String>) -> ContactsView {
        ContactsView {
            state: set.state,
            name: set.state.name().to_string(),
            entry_visibility: set.entry_visibility,
            submitted_at: set.submitted_at,
            contacts: set.contacts.clone(),
            status,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SubmitContactsRequest {
    pub contacts: ContactSetForm,
}

async fn submit_contacts(
    State(node): State<Shared>,
    Json(req): Json<SubmitContactsRequest>,
) -> ApiResult<ContactsView> {
    national_only(&node)?;
    match node.submit_contacts(&req.contacts).await {
        Ok(()) => {}
        Err(SubmitError::Invalid(errors)) => return Err(ApiError::invalid(errors)),
        // Kept and signed: the next sync delivers it.
        Err(e) => tracing::warn!(%e, "contacts kept; not yet delivered"),
    }
    own_contacts(State(node)).await
}

async fn own_contacts(State(node): State<Shared>) -> ApiResult<ContactsView> {
    national_only(&node)?;
    let state =
        node.state().ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no State configured"))?;
    let own = node.store.contacts(state)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-contacts",
            "no points of contact submitted yet; use `veim contacts submit --file contacts.toml`",
        )
    })?;
    let status = node.sync_status.lock().ok().and_then(|s| s.contacts.clone());
    Ok(Json(ContactsView::new(&own.set, status)))
}

async fn pending_contacts(State(node): State<Shared>) -> ApiResult<Vec<ContactsView>> {
    secretariat_only(&node)?;
    Ok(Json(node.store.all_contacts()?.iter().map(|c| ContactsView::new(&c.set, None)).collect()))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ContactsDecision {
    pub state: String,
    #[serde(default)]
    pub reason: String,
}

async fn accept_contacts(State(node): State<Shared>, Json(req): Json<ContactsDecision>) -> ApiResult<VersionView> {
    secretariat_only(&node)?;
    let state = parse_state(&req.state)?;
    let v = node.accept_contacts(state).await.map_err(publish_error)?;
    Ok(Json((&v).into()))
}

async fn reject_contacts(State(node): State<Shared>, Json(req): Json<ContactsDecision>) -> ApiResult<Done> {
    secretariat_only(&node)?;
    let state = parse_state(&req.state)?;
    node.reject_contacts(state, &req.reason).await.map_err(publish_error)?;
    Ok(Json(Done {
        done: format!("Rejected the points of contact of {state}; its node is told why when it next submits."),
    }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RotationView {
    /// Fingerprint of the new identity key.
    pub fingerprint: String,
    pub registration: Option<String>,
}

async fn rotate_keys(State(node): State<Shared>) -> ApiResult<RotationView> {
    let fingerprint = node.rotate_keys().await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "rotation-pending",
            format!("{e}. The new keys are kept; the node retries at every sync"),
        )
    })?;
    let registration = node.sync_status.lock().ok().and_then(|s| s.registration.clone());
    Ok(Json(RotationView { fingerprint, registration }))
}

async fn sync(State(node): State<Shared>) -> ApiResult<StatusView> {
    national_only(&node)?;
    if let Err(e) = node.sync().await {
        return Err(ApiError::new(StatusCode::BAD_GATEWAY, "sync-failed", e));
    }
    status(State(node)).await
}

/// A message as the operator sees it.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageView {
    pub message_id: String,
    pub exchange_id: String,
    pub direction: Direction,
    pub sender: StateCode,
    pub recipients: Vec<StateCode>,
    pub kind: MessageKind,
    pub created_at: i64,
    pub stored_at: i64,
    pub envelope_hash: String,
    /// The envelope exactly as signed and sent, encoded, in hex: the proof
    /// that the message came from its sender unchanged.
    pub envelope: String,
    pub deliveries: Vec<Delivery>,
    /// `None` once purged under the retention policy.
    pub body: Option<Body>,
    pub purged_at: Option<i64>,
    /// The sender's expiry of use (in the body's handling) has passed.
    pub use_expired: bool,
}

impl From<crate::vault::VaultError> for ApiError {
    fn from(e: crate::vault::VaultError) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage-key", e.to_string())
    }
}

/// Records that content was shown to the operator: what, and how many messages.
pub(crate) fn shown(node: &Node, what: String, exchange: Option<veim_protocol::ExchangeId>, messages: usize) {
    let mut event = Event::new(now(), Actor::Operator, Action::ContentShown);
    event.object = Some(what);
    event.exchange = exchange;
    event.detail = format!("{messages} message(s)");
    node.record(&event);
}

/// A stored message as the operator sees it, its body opened with the storage key.
fn message_view(node: &Node, m: MessageRecord) -> Result<MessageView, ApiError> {
    let body = node.vault.open_body(&m)?;
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

#[derive(Debug, Serialize, Deserialize)]
pub struct SendRequest {
    pub to: Vec<String>,
    pub request: RequestForm,
}

async fn send_request(State(node): State<Shared>, Json(req): Json<SendRequest>) -> ApiResult<MessageView> {
    national_only(&node)?;
    let mut errors = ValidationErrors::default();
    let mut to = Vec::new();
    for (i, s) in req.to.iter().enumerate() {
        match s.parse::<StateCode>() {
            Ok(code) if Some(code) == node.state() => {
                errors.push(format!("to[{i}]"), "a State cannot send a request to itself")
            }
            Ok(code) if to.contains(&code) => errors.push(format!("to[{i}]"), format!("{code} is listed twice")),
            Ok(code) => to.push(code),
            Err(e) => errors.push(format!("to[{i}]"), e.to_string()),
        }
    }
    if req.to.is_empty() {
        errors.push("to", "is missing; name at least one recipient State");
    }
    let mut form = req.request;
    form.handling.get_or_insert_with(|| node.config.handling.clone());
    let request = match form.parse() {
        Ok(r) if errors.is_empty() => r,
        Ok(_) => return Err(ApiError::invalid(errors)),
        Err(more) => {
            errors.0.extend(more.0);
            return Err(ApiError::invalid(errors));
        }
    };
    let me = node.me().ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no State configured"))?;
    let view = node.view();
    let sent = exchange::send(
        me,
        &node.store,
        &node.client,
        &view,
        Outgoing { exchange_id: None, recipients: &to, body: Body::Request(request) },
        now(),
    )
    .await?;
    Ok(Json(message_view(node.as_ref(), sent)?))
}

async fn inbox(State(node): State<Shared>) -> ApiResult<Vec<MessageView>> {
    messages_in(&node, Direction::Received)
}

async fn outbox(State(node): State<Shared>) -> ApiResult<Vec<MessageView>> {
    messages_in(&node, Direction::Sent)
}

/// A sent message by its id, or a unique prefix of at least 6 hex digits.
fn find_sent(node: &Node, prefix: &str) -> Result<MessageRecord, ApiError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 6 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-message-id",
            "give at least 6 hex digits of the message id",
        ));
    }
    let mut found: Vec<MessageRecord> = node
        .store
        .messages()?
        .into_iter()
        .filter(|m| m.direction == Direction::Sent && m.message_id.to_hex().starts_with(&prefix))
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-message",
            format!("no sent message {prefix}; `veim outbox` lists them"),
        )),
        n => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ambiguous",
            format!("{n} sent messages start with {prefix}; give more digits"),
        )),
    }
}

async fn outbox_retry(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<MessageView> {
    national_only(&node)?;
    let me = node.me().ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no State configured"))?;
    let m = find_sent(&node, &id)?;
    let view = node.view();
    let updated = exchange::retry_now(me, &node.store, &node.client, &view, m.message_id, now()).await?;
    Ok(Json(message_view(&node, updated)?))
}

async fn outbox_cancel(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<MessageView> {
    national_only(&node)?;
    let m = find_sent(&node, &id)?;
    let updated = exchange::cancel(&node.store, m.message_id, now()).await?;
    Ok(Json(message_view(&node, updated)?))
}

fn messages_in(node: &Node, direction: Direction) -> ApiResult<Vec<MessageView>> {
    let mut list: Vec<MessageRecord> =
        node.store.messages()?.into_iter().filter(|m| m.direction == direction).collect();
    list.sort_by_key(|m| (m.stored_at, m.created_at));
    let what = match direction {
        Direction::Received => "inbox",
        Direction::Sent => "outbox",
    };
    shown(node, what.into(), None, list.len());
    Ok(Json(list.into_iter().map(|m| message_view(node, m)).collect::<Result<_, _>>()?))
}

/// An exchange in a list: its record and the summary of its request
/// (opened with the storage key; `None` once purged).
#[derive(Debug, Serialize, Deserialize)]
pub struct ExchangeSummary {
    #[serde(flatten)]
    pub exchange: ExchangeRecord,
    pub summary: Option<String>,
}

fn request_summary(node: &Node, x: &ExchangeRecord) -> Result<Option<String>, ApiError> {
    let Some(first) = x.messages.first() else { return Ok(None) };
    let Some(record) = node.store.message(*first)? else { return Ok(None) };
    Ok(match node.vault.open_body(&record)? {
        Some(Body::Request(r)) => Some(r.summary),
        _ => None,
    })
}

async fn exchanges(State(node): State<Shared>) -> ApiResult<Vec<ExchangeSummary>> {
    let mut list = node.store.exchanges()?;
    list.sort_by_key(|x| std::cmp::Reverse(x.updated_at));
    let mut out = Vec::new();
    for exchange in list {
        let summary = request_summary(&node, &exchange)?;
        out.push(ExchangeSummary { exchange, summary });
    }
    Ok(Json(out))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExchangeView {
    pub exchange: ExchangeRecord,
    pub summary: Option<String>,
    pub messages: Vec<MessageView>,
}

fn find_exchange(node: &Node, id: &str) -> Result<ExchangeRecord, ApiError> {
    node.store.find_exchange(id).map_err(|e| match e {
        LookupError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown-exchange", e.to_string()),
        LookupError::Store(e) => e.into(),
        other => ApiError::new(StatusCode::BAD_REQUEST, "bad-exchange-id", other.to_string()),
    })
}

async fn exchange_show(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<ExchangeView> {
    let exchange = find_exchange(&node, &id)?;
    let mut messages = Vec::new();
    for m in &exchange.messages {
        if let Some(record) = node.store.message(*m)? {
            messages.push(message_view(&node, record)?);
        }
    }
    let summary = request_summary(&node, &exchange)?;
    shown(&node, format!("exchange {}", exchange.exchange_id), Some(exchange.exchange_id), messages.len());
    Ok(Json(ExchangeView { exchange, summary, messages }))
}

async fn reply(node: &Node, id: &str, body: Body) -> ApiResult<MessageView> {
    national_only(node)?;
    let me = node.me().ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no State configured"))?;
    // Who may send what in an exchange is the exchange engine's rule, the
    // same for what this node sends and what it receives.
    let exchange = find_exchange(node, id)?;
    let to = exchange::counterparts(me.state, &exchange);
    let view = node.view();
    let sent = exchange::send(
        me,
        &node.store,
        &node.client,
        &view,
        Outgoing { exchange_id: Some(exchange.exchange_id), recipients: &to, body },
        now(),
    )
    .await?;
    Ok(Json(message_view(node, sent)?))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RespondRequest {
    pub response: ResponseForm,
}

async fn respond(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<RespondRequest>,
) -> ApiResult<MessageView> {
    let mut form = req.response;
    form.handling.get_or_insert_with(|| node.config.handling.clone());
    let response = form.parse().map_err(ApiError::invalid)?;
    reply(&node, &id, Body::Response(response)).await
}

#[derive(Debug, Serialize, Deserialize)]
pub struct NoteRequest {
    pub text: String,
    /// The node's default restrictions when absent.
    #[serde(default)]
    pub handling: Option<veim_protocol::Handling>,
}

async fn note(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<NoteRequest>,
) -> ApiResult<MessageView> {
    let handling = req.handling.unwrap_or_else(|| node.config.handling.clone());
    reply(&node, &id, Body::Note(Note { text: req.text, handling })).await
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CloseRequest {
    #[serde(default)]
    pub reason: String,
}

async fn close(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<CloseRequest>,
) -> ApiResult<MessageView> {
    reply(&node, &id, Body::Close(Close { reason: req.reason })).await
}
