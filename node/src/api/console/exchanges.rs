//! Exchanges: the inbox and outbox (filters, paging), the list of
//! exchanges, an exchange as a thread (every message with its handling
//! restrictions and delivery state), and a note or a close added to it.

use super::*;
use crate::api::{CloseRequest, ExchangeSummary, ExchangeView, MessageView, NoteRequest};
use crate::storage::DeliveryState;
use axum::extract::{Path, Query};
use axum::routing::post;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/console/inbox", get(inbox))
        .route("/console/outbox", get(outbox))
        .route("/console/exchanges", get(exchanges))
        .route("/console/exchanges/{id}", get(thread))
        .route("/console/exchanges/{id}/note", post(note))
        .route("/console/exchanges/{id}/close", post(close))
}

/// Items per page of the console's lists.
pub(super) const PER_PAGE: usize = 20;

/// The filters of a list page, as its form sends them.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// A day, `YYYY-MM-DD`: from its start.
    #[serde(default)]
    pub since: Option<String>,
    /// A day, `YYYY-MM-DD`: to its end.
    #[serde(default)]
    pub until: Option<String>,
    /// An exchange id's first hex digits.
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    pub page: Option<usize>,
}

impl Filters {
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The API's query for these filters, or the field that is wrong.
    fn query(&self, tr: Tr) -> Result<String, String> {
        let mut q = vec![format!("limit={PER_PAGE}"), format!("page={}", self.page.unwrap_or(1).max(1))];
        for (name, value) in [("state", &self.state), ("kind", &self.kind), ("exchange", &self.exchange)] {
            if let Some(v) = Self::given(value) {
                q.push(format!("{name}={}", encode(v)));
            }
        }
        for (name, value, end) in [("since", &self.since, 0), ("until", &self.until, 86_399)] {
            if let Some(day) = Self::given(value) {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                let date = time::Date::parse(day, &format).map_err(|_| tr.t1("filter-bad-day", "day", &day))?;
                let t = date.midnight().assume_utc().unix_timestamp() + end;
                q.push(format!("{name}={t}"));
            }
        }
        Ok(q.join("&"))
    }

    /// This page's address with another page number.
    fn link(&self, base: &str, page: usize) -> String {
        let mut q = vec![format!("page={page}")];
        for (name, value) in [
            ("state", &self.state),
            ("kind", &self.kind),
            ("since", &self.since),
            ("until", &self.until),
            ("exchange", &self.exchange),
        ] {
            if let Some(v) = Self::given(value) {
                q.push(format!("{name}={}", encode(v)));
            }
        }
        format!("{base}?{}", q.join("&"))
    }
}

/// `s` for a URL's query.
pub(super) fn encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|e| e.trim_start_matches('=').to_string()).unwrap_or_default()
}

/// The links to the previous and next pages.
pub(crate) struct Pager {
    pub page: usize,
    pub pages: usize,
    pub total: String,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// Page `page` of `total` items; `link` is the address of another page.
    pub(crate) fn new(tr: Tr, page: Option<usize>, total: usize, link: impl Fn(usize) -> String) -> Pager {
        let page = page.unwrap_or(1).max(1);
        let pages = total.div_ceil(PER_PAGE).max(1);
        Pager {
            page,
            pages,
            total: tr.count("list-total", total),
            previous: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

fn pager(tr: Tr, filters: &Filters, base: &str, total: usize) -> Pager {
    Pager::new(tr, filters.page, total, |page| filters.link(base, page))
}

/// A message in a list.
pub(crate) struct Row {
    pub href: String,
    pub when: String,
    pub kind: String,
    pub from: String,
    pub to: String,
    pub delivery: String,
    pub failed: bool,
}

fn kind_label(tr: Tr, kind: &impl serde::Serialize) -> String {
    let name = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    tr.t(&format!("kind-{name}"))
}

fn delivery_label(tr: Tr, m: &MessageView) -> (String, bool) {
    let mut failed = false;
    let parts: Vec<String> = m
        .deliveries
        .iter()
        .map(|d| {
            let (key, bad) = match &d.state {
                DeliveryState::Pending => ("delivery-pending", false),
                DeliveryState::Attempting { .. } => ("delivery-attempting", false),
                DeliveryState::Delivered { .. } => ("delivery-delivered", false),
                DeliveryState::Refused { .. } => ("delivery-refused", true),
                DeliveryState::Failed { .. } => ("delivery-failed", true),
            };
            failed |= bad;
            format!("{}: {}", d.recipient, tr.t(key))
        })
        .collect();
    (parts.join(", "), failed)
}

fn row(tr: Tr, m: &MessageView) -> Row {
    let (delivery, failed) = delivery_label(tr, m);
    Row {
        href: format!("/console/exchanges/{}", m.exchange_id),
        when: tr.time(m.stored_at),
        kind: kind_label(tr, &m.kind),
        from: m.sender.to_string(),
        to: m.recipients.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "),
        delivery,
        failed,
    }
}

/// A choice of a filter's select box.
pub(crate) struct Choice {
    pub value: String,
    pub label: String,
    pub chosen: bool,
}

pub(super) fn choices(tr: Tr, prefix: &str, values: &[&str], chosen: &Option<String>) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: v.to_string(),
            label: tr.t(&format!("{prefix}-{v}")),
            chosen: chosen.as_deref() == Some(*v),
        })
        .collect()
}

const KINDS: &[&str] = &[
    "request",
    "response",
    "note",
    "close",
    "consent-request",
    "consent-decision",
    "consent-revocation",
    "attachments",
    "measure",
    "stage-move",
    "respond-by",
    "closing",
];

#[derive(askama::Template)]
#[template(path = "messages.html")]
struct MessagesPage {
    frame: Frame,
    base: &'static str,
    sent: bool,
    filters: Filters,
    kinds: Vec<Choice>,
    states: Vec<Choice>,
    rows: Vec<Row>,
    pager: Pager,
    error: Option<String>,
}

async fn messages(official: Official, filters: Filters, sent: bool) -> Response {
    let tr = official.tr;
    let (base, api_path, title) = if sent {
        ("/console/outbox", "/v1/outbox", tr.t("outbox-title"))
    } else {
        ("/console/inbox", "/v1/inbox", tr.t("inbox-title"))
    };
    let mut error = None;
    let (total, rows) = match filters.query(tr) {
        Err(e) => {
            error = Some(e);
            (0, Vec::new())
        }
        Ok(q) => match official.api().list::<MessageView>(official.name(), &format!("{api_path}?{q}")).await {
            Ok((total, list)) => (total, list.iter().map(|m| row(tr, m)).collect()),
            Err(e) if e.status == 400 => {
                error = Some(e.message);
                (0, Vec::new())
            }
            Err(e) => return official.failed(&e),
        },
    };
    let states = if sent {
        choices(tr, "delivery", &["queued", "attempting", "delivered", "refused", "failed"], &filters.state)
    } else {
        Vec::new()
    };
    let page = MessagesPage {
        frame: official.frame(title, base),
        base,
        sent,
        kinds: choices(tr, "kind", KINDS, &filters.kind),
        states,
        pager: pager(tr, &filters, base, total),
        filters,
        rows,
        error,
    };
    render(&page)
}

async fn inbox(official: Official, Query(filters): Query<Filters>) -> Response {
    messages(official, filters, false).await
}

async fn outbox(official: Official, Query(filters): Query<Filters>) -> Response {
    messages(official, filters, true).await
}

/// An exchange in the list.
pub(crate) struct ExchangeRow {
    pub href: String,
    pub id: String,
    pub summary: String,
    pub originator: String,
    pub participants: String,
    pub status: String,
    pub updated: String,
}

#[derive(askama::Template)]
#[template(path = "exchanges.html")]
struct ExchangesPage {
    frame: Frame,
    filters: Filters,
    states: Vec<Choice>,
    rows: Vec<ExchangeRow>,
    pager: Pager,
    error: Option<String>,
}

fn status_label(tr: Tr, status: &impl serde::Serialize) -> String {
    let name = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    tr.t(&format!("exchange-{name}"))
}

async fn exchanges(official: Official, Query(filters): Query<Filters>) -> Response {
    let tr = official.tr;
    let mut error = None;
    let filters = Filters { kind: None, ..filters };
    let (total, rows) = match filters.query(tr) {
        Err(e) => {
            error = Some(e);
            (0, Vec::new())
        }
        Ok(q) => match official.api().list::<ExchangeSummary>(official.name(), &format!("/v1/exchanges?{q}")).await {
            Ok((total, list)) => (
                total,
                list.iter()
                    .map(|x| {
                        let e = &x.exchange;
                        ExchangeRow {
                            href: format!("/console/exchanges/{}", e.exchange_id.to_hex()),
                            id: e.exchange_id.to_hex()[..12].to_string(),
                            summary: x.summary.clone().unwrap_or_else(|| tr.t("summary-purged")),
                            originator: e.originator.to_string(),
                            participants: e.participants.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "),
                            status: status_label(tr, &e.status),
                            updated: tr.time(e.updated_at),
                        }
                    })
                    .collect(),
            ),
            Err(e) if e.status == 400 => {
                error = Some(e.message);
                (0, Vec::new())
            }
            Err(e) => return official.failed(&e),
        },
    };
    let page = ExchangesPage {
        frame: official.frame(tr.t("exchanges-title"), "/console/exchanges"),
        states: choices(tr, "exchange", &["open", "answered", "closed"], &filters.state),
        pager: pager(tr, &filters, "/console/exchanges", total),
        filters,
        rows,
        error,
    };
    render(&page)
}

/// A message of a thread: who, when, its fields, its restrictions and
/// where each copy is.
pub(crate) struct Shown {
    pub id: String,
    pub kind: String,
    pub from: String,
    pub to: String,
    pub when: String,
    pub fields: Vec<(String, String)>,
    pub handling: Vec<(String, String)>,
    pub deliveries: Vec<(String, String, bool)>,
    pub purged: bool,
    pub use_expired: bool,
}

/// Fields of a body that are never shown: an attachment's content key.
const SECRET_FIELDS: &[&str] = &["key"];

/// A body's fields as label and value, in the order the body has them:
/// nested fields joined with dots, lists numbered from 1. Labels come from
/// the texts (`field-<name>`) where they have one.
pub(crate) fn fields_of(tr: Tr, value: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    let label = |path: &str| {
        let key = format!(
            "field-{}",
            path.rsplit('.').next().unwrap_or(path).trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ')
        );
        let text = tr.t(&key);
        let prefix: Vec<&str> = path.split('.').collect();
        if text.starts_with('⟦') {
            path.replace('_', " ")
        } else if prefix.len() > 1 {
            format!("{} · {text}", prefix[..prefix.len() - 1].join(" · ").replace('_', " "))
        } else {
            text
        }
    };
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                // The restrictions are shown apart; a file's key never.
                if (k == "handling" && path.is_empty()) || SECRET_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                fields_of(tr, v, &p, out);
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            if !items.is_empty() {
                let texts: Vec<String> = items.iter().map(scalar).collect();
                out.push((label(path), texts.join(", ")));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                fields_of(tr, v, &format!("{path} {}", i + 1), out);
            }
        }
        other => out.push((label(path), scalar(other))),
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn shown(tr: Tr, m: &MessageView) -> Shown {
    let mut fields = Vec::new();
    let mut handling = Vec::new();
    if let Some(body) = &m.body {
        let value = serde_json::to_value(body).unwrap_or_default();
        // A body is `{ "kind": { ...fields } }` or `{ "kind": value }`.
        let inner = value.as_object().and_then(|o| o.values().next()).cloned().unwrap_or(value);
        fields_of(tr, &inner, "", &mut fields);
        if let Some(h) = body.handling() {
            fields_of(tr, &serde_json::to_value(h).unwrap_or_default(), "handling", &mut handling);
        }
    }
    Shown {
        id: m.message_id.clone(),
        kind: kind_label(tr, &m.kind),
        from: m.sender.to_string(),
        to: m.recipients.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "),
        when: tr.time(m.created_at),
        fields,
        handling,
        deliveries: m
            .deliveries
            .iter()
            .map(|d| {
                let (key, detail, bad) = match &d.state {
                    DeliveryState::Pending => ("delivery-pending", String::new(), false),
                    DeliveryState::Attempting { last_error, .. } => ("delivery-attempting", last_error.clone(), false),
                    DeliveryState::Delivered { stored_at } => ("delivery-delivered", tr.time(*stored_at), false),
                    DeliveryState::Refused { detail, .. } => ("delivery-refused", detail.clone(), true),
                    DeliveryState::Failed { reason } => ("delivery-failed", reason.clone(), true),
                };
                let text = if detail.is_empty() { tr.t(key) } else { format!("{} ({detail})", tr.t(key)) };
                (d.recipient.to_string(), text, bad)
            })
            .collect(),
        purged: m.purged_at.is_some(),
        use_expired: m.use_expired,
    }
}

#[derive(askama::Template)]
#[template(path = "thread.html")]
struct ThreadPage {
    frame: Frame,
    id: String,
    summary: String,
    status: String,
    originator: String,
    participants: String,
    messages: Vec<Shown>,
    may_note: bool,
    may_close: bool,
    may_respond: bool,
    /// Responses came in: their items may be disclosed with the
    /// originator's consent.
    may_ask_consent: bool,
    outcomes: Vec<Choice>,
    attachments: Vec<attachments::Listed>,
    may_attach: bool,
    attachment_limit: String,
    may_track: bool,
}

async fn thread(official: Official, Path(id): Path<String>) -> Response {
    let tr = official.tr;
    let view: ExchangeView = match official.api().get(official.name(), &format!("/v1/exchanges/{}", encode(&id))).await
    {
        Ok(v) => v,
        Err(e) => return official.failed(&e),
    };
    let e = &view.exchange;
    let hex = e.exchange_id.to_hex();
    let own = official.node().config.state;
    let open = e.status != crate::storage::ExchangeStatus::Closed;
    let page = ThreadPage {
        frame: official.frame(tr.t("thread-title"), "/console/exchanges"),
        summary: view.summary.clone().unwrap_or_else(|| tr.t("summary-purged")),
        status: status_label(tr, &e.status),
        originator: e.originator.to_string(),
        participants: e.participants.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "),
        messages: view.messages.iter().map(|m| shown(tr, m)).collect(),
        may_note: open && official.may("POST", &format!("/v1/exchanges/{hex}/note")),
        may_close: open && official.may("POST", &format!("/v1/exchanges/{hex}/close")),
        may_respond: open && Some(e.originator) != own && official.may("POST", &format!("/v1/exchanges/{hex}/respond")),
        may_ask_consent: view.messages.iter().any(|m| {
            m.direction == crate::storage::Direction::Received && m.kind == veim_protocol::MessageKind::Response
        }) && official.may("POST", &format!("/v1/exchanges/{hex}/consent")),
        outcomes: choices(
            tr,
            "outcome",
            &["diversion-confirmed", "diversion-prevented", "risk-mitigated", "not-confirmed", "inconclusive"],
            &None,
        ),
        attachments: attachments::listed(&official, &view).await,
        may_attach: open && official.may("POST", "/v1/attachments"),
        attachment_limit: attachments::limit(tr),
        may_track: open && official.may("POST", &format!("/v1/exchanges/{hex}/measures")),
        id: hex,
    };
    render(&page)
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct NoteForm {
    #[serde(default)]
    text: String,
}

async fn note(Path(id): Path<String>, posted: Posted<NoteForm>) -> Response {
    let official = posted.official;
    let body = NoteRequest { text: posted.form.text, handling: None };
    let path = format!("/v1/exchanges/{}/note", encode(&id));
    match official.api().post::<_, serde_json::Value>(official.name(), &path, &body).await {
        Ok(_) => {
            official.flash(true, official.tr.t("note-sent"));
            Redirect::to(&format!("/console/exchanges/{}", encode(&id))).into_response()
        }
        Err(e) => official.failed(&e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct CloseForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    outcome: String,
}

async fn close(Path(id): Path<String>, posted: Posted<CloseForm>) -> Response {
    let official = posted.official;
    let outcome = Some(posted.form.outcome.trim().to_string()).filter(|o| !o.is_empty());
    let body = CloseRequest { reason: posted.form.reason, outcome };
    let path = format!("/v1/exchanges/{}/close", encode(&id));
    match official.api().post::<_, serde_json::Value>(official.name(), &path, &body).await {
        Ok(_) => {
            official.flash(true, official.tr.t("close-sent"));
            Redirect::to(&format!("/console/exchanges/{}", encode(&id))).into_response()
        }
        Err(e) => official.failed(&e),
    }
}
