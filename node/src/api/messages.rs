//! Requests, responses, notes and closings; the inbox, the outbox and the
//! exchanges: what a national operator sends and reads.

use super::*;
use axum::extract::Query;
use veim_protocol::{Close, Closing, MessageKind, Note, Outcome};

#[utoipa::path(
    post,
    path = "/v1/requests",
    tag = "exchanges",
    summary = "National node: send a request (Annex 1) to one or several States.",
    request_body(content_type = "application/json", description = "{to: [STATE], request: the request file as JSON}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn send_request(State(node): State<Shared>, Json(req): Json<SendRequest>) -> ApiResult<MessageView> {
    national_only(&node)?;
    let mut errors = ValidationErrors::default();
    let mut to = Vec::new();
    for (i, s) in req.to.iter().enumerate() {
        match s.parse::<StateCode>() {
            Ok(code) if Some(code) == node.config.state => {
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
    let sent =
        node.exchanges.send(Outgoing { exchange_id: None, recipients: &to, body: Body::Request(request) }).await?;
    Ok(Json(message_view(node.as_ref(), sent)?))
}

#[utoipa::path(
    get,
    path = "/v1/inbox",
    tag = "exchanges",
    summary = "Messages received, oldest first, a page at a time; x-total-count gives how many pass the filters.",
    params(ListQuery),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn inbox(State(node): State<Shared>, Query(q): Query<ListQuery>) -> Listing<MessageView> {
    messages_in(&node, Direction::Received, &q)
}

#[utoipa::path(
    get,
    path = "/v1/outbox",
    tag = "exchanges",
    summary = "Messages sent, oldest first, with each copy's delivery state, a page at a time.",
    params(ListQuery),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn outbox(State(node): State<Shared>, Query(q): Query<ListQuery>) -> Listing<MessageView> {
    messages_in(&node, Direction::Sent, &q)
}

/// A sent message by its id, or a unique prefix of at least 6 hex digits.
pub(super) fn find_sent(node: &Node, prefix: &str) -> Result<MessageRecord, ApiError> {
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

#[utoipa::path(
    post,
    path = "/v1/outbox/{id}/retry",
    tag = "exchanges",
    summary = "Try a sent message's undelivered copies now.",
    params(("id" = String, Path, description = "Message id, or a unique prefix of at least 6 hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn outbox_retry(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<MessageView> {
    national_only(&node)?;
    let m = find_sent(&node, &id)?;
    let updated = node.exchanges.retry_now(m.message_id).await?;
    Ok(Json(message_view(&node, updated)?))
}

#[utoipa::path(
    post,
    path = "/v1/outbox/{id}/cancel",
    tag = "exchanges",
    summary = "Give up a sent message's undelivered copies.",
    params(("id" = String, Path, description = "Message id, or a unique prefix of at least 6 hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn outbox_cancel(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<MessageView> {
    national_only(&node)?;
    let m = find_sent(&node, &id)?;
    let updated = node.exchanges.cancel(m.message_id).await?;
    Ok(Json(message_view(&node, updated)?))
}

pub(super) fn messages_in(node: &Node, direction: Direction, q: &ListQuery) -> Listing<MessageView> {
    let page = Page::of(q)?;
    let filter = MessageFilter::of(q, direction)?;
    let mut list: Vec<MessageRecord> =
        node.store.message_records()?.into_iter().filter(|m| m.direction == direction && filter.keeps(m)).collect();
    list.sort_by_key(|m| (m.stored_at, m.created_at, m.sequence));
    let total = list.len();
    // Only the page's messages are read whole (envelope and body).
    let mut whole = Vec::new();
    for m in page.cut(list) {
        whole.extend(node.store.whole(m)?);
    }
    let list = whole;
    let what = match direction {
        Direction::Received => "inbox",
        Direction::Sent => "outbox",
    };
    shown(node, what.into(), None, list.len());
    let views = list.into_iter().map(|m| message_view(node, m)).collect::<Result<_, _>>()?;
    Ok(listing(total, views))
}

/// The messages a listing's filters keep.
struct MessageFilter {
    state: Option<&'static str>,
    kind: Option<MessageKind>,
    since: Option<i64>,
    until: Option<i64>,
    exchange: Option<String>,
}

/// The words of the delivery states, as the CLI shows them.
const DELIVERY_STATES: [&str; 5] = ["queued", "attempting", "delivered", "refused", "failed"];
const MESSAGE_KINDS: [MessageKind; 12] = [
    MessageKind::Request,
    MessageKind::Response,
    MessageKind::Note,
    MessageKind::Close,
    MessageKind::ConsentRequest,
    MessageKind::ConsentDecision,
    MessageKind::ConsentRevocation,
    MessageKind::Attachments,
    MessageKind::Measure,
    MessageKind::StageMove,
    MessageKind::RespondBy,
    MessageKind::Closing,
];

fn delivery_word(state: &DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "queued",
        DeliveryState::Attempting { .. } => "attempting",
        DeliveryState::Delivered { .. } => "delivered",
        DeliveryState::Refused { .. } => "refused",
        DeliveryState::Failed { .. } => "failed",
    }
}

impl MessageFilter {
    fn of(q: &ListQuery, direction: Direction) -> Result<MessageFilter, ApiError> {
        let state = match (&q.state, direction) {
            (None, _) => None,
            (Some(_), Direction::Received) => {
                return Err(bad_query("state: received messages have no delivery state; it filters the outbox"));
            }
            (Some(s), Direction::Sent) => {
                Some(DELIVERY_STATES.into_iter().find(|w| w.eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
                    bad_query(format!("state {s:?} is not a delivery state; use one of {}", DELIVERY_STATES.join(", ")))
                })?)
            }
        };
        let kind = q
            .kind
            .as_ref()
            .map(|k| {
                MESSAGE_KINDS.into_iter().find(|m| m.as_str().eq_ignore_ascii_case(k.trim())).ok_or_else(|| {
                    let all: Vec<&str> = MESSAGE_KINDS.iter().map(|m| m.as_str()).collect();
                    bad_query(format!("kind {k:?} is not a message kind; use one of {}", all.join(", ")))
                })
            })
            .transpose()?;
        Ok(MessageFilter { state, kind, since: q.since, until: q.until, exchange: exchange_prefix(q)? })
    }

    fn keeps(&self, m: &MessageRecord) -> bool {
        self.state.is_none_or(|s| m.deliveries.iter().any(|d| delivery_word(&d.state) == s))
            && self.kind.is_none_or(|k| m.kind == k)
            && self.since.is_none_or(|t| m.stored_at >= t)
            && self.until.is_none_or(|t| m.stored_at <= t)
            && self.exchange.as_ref().is_none_or(|x| m.exchange_id.to_hex().starts_with(x.as_str()))
    }
}

fn exchange_prefix(q: &ListQuery) -> Result<Option<String>, ApiError> {
    q.exchange
        .as_ref()
        .map(|x| {
            let x = x.trim().to_ascii_lowercase();
            if x.is_empty() || !x.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad_query(format!("exchange {x:?} is not an exchange id or its first hex digits")));
            }
            Ok(x)
        })
        .transpose()
}

pub(super) fn request_summary(node: &Node, x: &ExchangeRecord) -> Result<Option<String>, ApiError> {
    let Some(first) = x.messages.first() else { return Ok(None) };
    let Some(record) = node.store.message(*first)? else { return Ok(None) };
    Ok(match node.vault.open_body(record.message_id, record.content.as_deref())? {
        Some(Body::Request(r)) => Some(r.summary),
        _ => None,
    })
}

#[utoipa::path(
    get,
    path = "/v1/exchanges",
    tag = "exchanges",
    summary = "Exchanges, the most recently changed first, a page at a time.",
    params(ListQuery),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn exchanges(State(node): State<Shared>, Query(q): Query<ListQuery>) -> Listing<ExchangeSummary> {
    let page = Page::of(&q)?;
    if q.kind.is_some() {
        return Err(bad_query("kind filters messages; exchanges take state, since, until and exchange"));
    }
    let status = q
        .state
        .as_ref()
        .map(|s| {
            serde_json::from_value::<ExchangeStatus>(serde_json::Value::String(s.trim().to_ascii_lowercase()))
                .map_err(|_| bad_query(format!("state {s:?} is not an exchange state; use open, answered or closed")))
        })
        .transpose()?;
    let prefix = exchange_prefix(&q)?;
    let mut list: Vec<ExchangeRecord> = node
        .store
        .exchanges()?
        .into_iter()
        .filter(|x| status.is_none_or(|s| x.status == s))
        .filter(|x| q.since.is_none_or(|t| x.updated_at >= t) && q.until.is_none_or(|t| x.updated_at <= t))
        .filter(|x| prefix.as_ref().is_none_or(|p| x.exchange_id.to_hex().starts_with(p.as_str())))
        .collect();
    list.sort_by_key(|x| std::cmp::Reverse(x.updated_at));
    let total = list.len();
    let mut out = Vec::new();
    for exchange in page.cut(list) {
        let summary = request_summary(&node, &exchange)?;
        out.push(ExchangeSummary { exchange, summary });
    }
    Ok(listing(total, out))
}

#[utoipa::path(
    get,
    path = "/v1/exchanges/{id}",
    tag = "exchanges",
    summary = "One exchange with all its messages, decrypted.",
    params(("id" = String, Path, description = "Exchange id, or a unique prefix of at least 6 hex digits")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn exchange_show(State(node): State<Shared>, Path(id): Path<String>) -> ApiResult<ExchangeView> {
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

pub(super) async fn reply(node: &Node, id: &str, body: Body) -> ApiResult<MessageView> {
    send_in(node, id, body, crate::exchange::counterparts).await
}

/// Sends `body` in the exchange `id` to the States `to` names, seen from this
/// node's State.
pub(super) async fn send_in(
    node: &Node,
    id: &str,
    body: Body,
    to: fn(StateCode, &ExchangeRecord) -> Vec<StateCode>,
) -> ApiResult<MessageView> {
    national_only(node)?;
    let me =
        node.config.state.ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no State configured"))?;
    // Who may send what in an exchange is the exchange engine's rule, the
    // same for what this node sends and what it receives.
    let exchange = find_exchange(node, id)?;
    let to = to(me, &exchange);
    let sent = node.exchanges.send(Outgoing { exchange_id: Some(exchange.exchange_id), recipients: &to, body }).await?;
    Ok(Json(message_view(node, sent)?))
}

#[utoipa::path(
    post,
    path = "/v1/exchanges/{id}/respond",
    tag = "exchanges",
    summary = "Answer a request with information items (Annex 2).",
    request_body(content_type = "application/json", description = "{response: the response file as JSON}"),
    params(("id" = String, Path, description = "Exchange id, or a unique prefix")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn respond(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<RespondRequest>,
) -> ApiResult<MessageView> {
    let mut form = req.response;
    form.handling.get_or_insert_with(|| node.config.handling.clone());
    let response = form.parse().map_err(ApiError::invalid)?;
    reply(&node, &id, Body::Response(response)).await
}

#[utoipa::path(
    post,
    path = "/v1/exchanges/{id}/note",
    tag = "exchanges",
    summary = "Add a note to an exchange.",
    request_body(content_type = "application/json", description = "{text, handling?}"),
    params(("id" = String, Path, description = "Exchange id, or a unique prefix")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn note(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<NoteRequest>,
) -> ApiResult<MessageView> {
    let handling = req.handling.unwrap_or_else(|| node.config.handling.clone());
    reply(&node, &id, Body::Note(Note { text: req.text, handling })).await
}

#[utoipa::path(
    post,
    path = "/v1/exchanges/{id}/close",
    tag = "exchanges",
    summary = "Close an exchange, with its outcome if given.",
    request_body(content_type = "application/json", description = "{reason, outcome?: diversion-confirmed | diversion-prevented | risk-mitigated | not-confirmed | inconclusive | other:TEXT}"),
    params(("id" = String, Path, description = "Exchange id, or a unique prefix")),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn close(
    State(node): State<Shared>,
    Path(id): Path<String>,
    Json(req): Json<CloseRequest>,
) -> ApiResult<MessageView> {
    let body = match &req.outcome {
        None => Body::Close(Close { reason: req.reason }),
        Some(outcome) => {
            let outcome = Outcome::parse(outcome).map_err(|e| {
                let mut problems = ValidationErrors::default();
                problems.push("outcome", e.to_string());
                tracking::progress_error(&e, problems)
            })?;
            Body::Closing(Closing { outcome, reason: req.reason })
        }
    };
    reply(&node, &id, body).await
}
