//! The admin API of the audit log, for auditors: its entries (filtered, a
//! page at a time), its verification as `veim audit verify` does it, and
//! its export as `veim audit export` writes it. Each reads the node's own
//! audit files (`audit::LogFiles`), what an auditor would read on disk.

use super::types::*;
use super::{ApiError, ApiResult, Listing, Page, Shared, bad_query, listing, parse_state};
use crate::audit::verify::{check_covered, clock_went_back, verify};
use crate::audit::{Filter, LogError, LogFiles, ReadError, Verified, Witnessed};
use crate::clock::now;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use veim_protocol::audit::{Action, Actor, Entry, Event};

impl From<LogError> for ApiError {
    fn from(e: LogError) -> ApiError {
        match e {
            LogError::Read(ReadError::Io { .. } | ReadError::Empty(_)) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "audit-files", e.to_string())
            }
            other => ApiError::new(StatusCode::CONFLICT, "not-verified", other.to_string()),
        }
    }
}

/// The node's audit files, read on a blocking thread.
async fn read(node: &Shared) -> Result<LogFiles, ApiError> {
    let home = node.home.clone();
    tokio::task::spawn_blocking(move || LogFiles::read_home(&home))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| LogError::Read(e).into())
}

/// Records that the log was read: by whom (the entry names the official),
/// what and how many entries.
fn read_by_auditor(node: &Shared, what: &str, entries: usize) {
    let mut event = Event::new(now(), Actor::Operator, Action::ContentShown);
    event.object = Some(what.into());
    event.detail = format!("{entries} entr{}", if entries == 1 { "y" } else { "ies" });
    node.store.record(&event);
}

impl AuditQuery {
    fn filter(&self) -> Result<Filter, ApiError> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let actions = match given(&self.action) {
            Some(a) => vec![a.parse::<Action>().map_err(bad_query)?],
            None => Vec::new(),
        };
        let state = given(&self.state).map(|s| parse_state(&s)).transpose()?;
        let exchange = given(&self.exchange).map(|x| x.to_ascii_lowercase());
        if exchange.as_ref().is_some_and(|x| !x.chars().all(|c| c.is_ascii_hexdigit())) {
            return Err(bad_query("exchange: give an exchange id or its first hex digits"));
        }
        Ok(Filter { since: self.since, until: self.until, actions, state, exchange, actor: given(&self.actor) })
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    summary = "Auditor: the entries of this node's audit log that pass the filters, newest first, a page at a time (the total in x-total-count).",
    params(AuditQuery),
    responses((status = 200, description = "The page's entries, as JSON"), (status = "default", description = "An error, as JSON {error, message, problems}: bad-query, audit-files, not-verified"))
)]
pub(super) async fn entries(State(node): State<Shared>, Query(q): Query<AuditQuery>) -> Listing<Entry> {
    let filter = q.filter()?;
    let page =
        Page::of(&ListQuery { limit: Some(q.limit.unwrap_or(PAGE_DEFAULT)), page: q.page, ..ListQuery::default() })?;
    let log = read(&node).await?;
    let mut kept: Vec<Entry> = log.entries.into_iter().filter(|e| filter.keeps(e)).collect();
    kept.reverse();
    let total = kept.len();
    let shown = page.cut(kept);
    read_by_auditor(&node, "audit log", shown.len());
    Ok(listing(total, shown))
}

#[utoipa::path(
    get,
    path = "/v1/audit/verify",
    tag = "audit",
    summary = "Auditor: verify this node's audit log as `veim audit verify` does (the chain, checkpoints, tree heads, the checkpoints of other nodes it holds); 409 not-verified says what failed.",
    responses((status = 200, description = "The log verifies: what was checked, and the clock's jumps back"), (status = "default", description = "An error, as JSON {error, message, problems}: not-verified, audit-files"))
)]
pub(super) async fn verify_log(State(node): State<Shared>) -> ApiResult<Verified> {
    let log = read(&node).await?;
    let checked = tokio::task::spawn_blocking(move || {
        let report = verify(&log, &Witnessed::default())?;
        // The node is running: entries between a write and the flush that
        // signs them are shown as uncovered, not refused.
        check_covered(&report, true)?;
        Ok::<_, LogError>(Verified { clock_went_back: clock_went_back(&log.entries), report })
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    read_by_auditor(&node, "audit log verified", checked.report.entries as usize);
    Ok(Json(checked))
}

#[utoipa::path(
    get,
    path = "/v1/audit/export",
    tag = "audit",
    summary = "Auditor: the whole log and its checkpoints as one JSON Lines file, as `veim audit export` writes it (a download: Content-Disposition attachment).",
    responses((status = 200, description = "The export (application/jsonl)"), (status = "default", description = "An error, as JSON {error, message, problems}: audit-files, not-verified"))
)]
pub(super) async fn export(State(node): State<Shared>) -> Result<Response, ApiError> {
    let log = read(&node).await?;
    let at = now();
    let text = log
        .export(node.config.state, at)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    read_by_auditor(&node, "audit log exported", log.entries.len());
    let name = format!(
        "veim-audit-{}-{}.jsonl",
        node.config.state.map_or_else(|| "secretariat".to_string(), |s| s.to_string()),
        crate::clock::format_time(at).split('T').next().unwrap_or("now")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/jsonl".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        text,
    )
        .into_response())
}
