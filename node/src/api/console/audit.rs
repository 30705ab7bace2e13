//! The audit log for auditors: its entries with filters and paging, its
//! verification (as `veim audit verify`), and its export, a file to
//! download (as `veim audit export` writes it). Each calls the admin API,
//! which reads the node's audit files.

use super::*;
use crate::api::AuditQuery;
use crate::audit::Verified;
use axum::extract::Query;
use axum::http::Method;
use exchanges::{Choice, PER_PAGE, Pager, encode};
use veim_protocol::audit::{Action, Actor, Entry};

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/console/audit", get(page))
        .route("/console/audit/verify", get(verify))
        .route("/console/audit/export", get(export))
}

/// The filters of the audit page, as its form sends them.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct AuditFilters {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub actor: String,
    /// A day, `YYYY-MM-DD`: from its start.
    #[serde(default)]
    pub since: String,
    /// A day, `YYYY-MM-DD`: to its end.
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub exchange: String,
    #[serde(default)]
    pub page: Option<usize>,
}

impl AuditFilters {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("action", &self.action),
            ("actor", &self.actor),
            ("since", &self.since),
            ("until", &self.until),
            ("exchange", &self.exchange),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.trim().to_string()))
        .collect()
    }

    /// The API's query, or the field that is wrong.
    fn query(&self, tr: Tr) -> Result<String, String> {
        let day = |text: &str, end: i64| -> Result<Option<i64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let date = time::Date::parse(text, &format).map_err(|_| tr.t1("filter-bad-day", "day", &text))?;
            Ok(Some(date.midnight().assume_utc().unix_timestamp() + end))
        };
        let given = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let q = AuditQuery {
            limit: Some(PER_PAGE),
            page: Some(self.page.unwrap_or(1).max(1)),
            action: given(&self.action),
            actor: given(&self.actor),
            since: day(&self.since, 0)?,
            until: day(&self.until, 86_399)?,
            exchange: given(&self.exchange),
            state: None,
        };
        serde_urlencoded::to_string(&q).map_err(|e| e.to_string())
    }

    fn link(&self, page: usize) -> String {
        let mut q = vec![format!("page={page}")];
        q.extend(self.pairs().into_iter().map(|(k, v)| format!("{k}={}", encode(&v))));
        format!("/console/audit?{}", q.join("&"))
    }
}

/// An entry as the page shows it.
pub(crate) struct EntryRow {
    pub seq: u64,
    pub when: String,
    pub actor: String,
    pub action: String,
    pub state: String,
    pub exchange: String,
    pub object: String,
    pub detail: String,
}

/// The verification, as the page shows it.
pub(crate) struct Verification {
    pub ok: bool,
    pub heading: String,
    pub facts: Vec<(String, String)>,
    pub warnings: Vec<String>,
    pub text: String,
}

#[derive(askama::Template)]
#[template(path = "audit.html")]
struct AuditPage {
    frame: Frame,
    filters: AuditFilters,
    actions: Vec<Choice>,
    rows: Vec<EntryRow>,
    pager: Pager,
    error: Option<String>,
    verification: Option<Verification>,
}

/// Who acted, in the official's language.
fn actor_label(tr: Tr, actor: &Actor) -> String {
    match actor {
        Actor::Node => tr.t("actor-node"),
        Actor::Operator => tr.t("actor-operator"),
        Actor::Peer(Some(state)) => tr.t1("actor-peer", "state", state),
        Actor::Peer(None) => tr.t("actor-secretariat"),
        Actor::Stranger => tr.t("actor-stranger"),
        Actor::Official(name) => tr.t1("actor-official", "name", name),
    }
}

fn row(tr: Tr, e: &Entry) -> EntryRow {
    let ev = &e.event;
    EntryRow {
        seq: e.seq,
        when: tr.time(ev.at),
        actor: actor_label(tr, &ev.actor),
        action: ev.action.as_str().to_string(),
        state: ev.state.map(|s| s.to_string()).unwrap_or_default(),
        exchange: ev.exchange.map(|x| x.to_hex()[..12].to_string()).unwrap_or_default(),
        object: ev.object.clone().unwrap_or_default(),
        detail: ev.detail.clone(),
    }
}

async fn view(official: Official, filters: AuditFilters, verification: Option<Verification>) -> Response {
    let tr = official.tr;
    let mut error = None;
    let (total, rows) = match filters.query(tr) {
        Err(e) => {
            error = Some(e);
            (0, Vec::new())
        }
        Ok(q) => match official.api().list::<Entry>(official.name(), &format!("/v1/audit?{q}")).await {
            Ok((total, list)) => (total, list.iter().map(|e| row(tr, e)).collect()),
            Err(e) if e.status == 400 => {
                error = Some(e.message);
                (0, Vec::new())
            }
            Err(e) => return official.failed(&e),
        },
    };
    let pager = Pager::new(tr, filters.page, total, |page| filters.link(page));
    let actions = Action::ALL
        .iter()
        .map(|a| Choice { value: a.as_str().into(), label: a.as_str().into(), chosen: filters.action == a.as_str() })
        .collect();
    let page = AuditPage {
        frame: official.frame(tr.t("audit-title"), "/console/audit"),
        filters,
        actions,
        rows,
        pager,
        error,
        verification,
    };
    render(&page)
}

async fn page(official: Official, Query(filters): Query<AuditFilters>) -> Response {
    view(official, filters, None).await
}

async fn verify(official: Official) -> Response {
    let tr = official.tr;
    let verification = match official.api().get::<Verified>(official.name(), "/v1/audit/verify").await {
        Ok(v) => {
            let r = &v.report;
            let uncovered = r.entries.saturating_sub(r.covered);
            let mut facts = vec![
                (tr.t("audit-entries"), tr.number(r.entries)),
                (tr.t("audit-checkpoints"), tr.number(r.checkpoints as u64)),
                (tr.t("audit-covered"), tr.number(r.covered)),
                (tr.t("audit-tree-heads"), tr.number(r.tree_heads as u64)),
                (tr.t("audit-keys"), r.keys.join(", ")),
            ];
            if let Some(head) = &r.head {
                facts.push((tr.t("audit-head"), hex::encode(head.0)));
            }
            let mut warnings: Vec<String> = v
                .clock_went_back
                .iter()
                .map(|c| {
                    let mut args = tr.t1("audit-clock-back", "position", &c.position);
                    args.push_str(&format!(" ({} → {})", tr.time(c.previous_at), tr.time(c.at)));
                    args
                })
                .collect();
            if uncovered > 0 {
                warnings.push(tr.count("audit-uncovered", uncovered as usize));
            }
            Verification { ok: true, heading: tr.t("audit-verified"), facts, warnings, text: String::new() }
        }
        Err(e) if e.error == "not-verified" => Verification {
            ok: false,
            heading: tr.t("audit-not-verified"),
            facts: Vec::new(),
            warnings: Vec::new(),
            text: e.message,
        },
        Err(e) => return official.failed(&e),
    };
    view(official, AuditFilters::default(), Some(verification)).await
}

/// The export, passed on as the API answers it: a file to download.
async fn export(official: Official) -> Response {
    match official.api().call(official.name(), Method::GET, "/v1/audit/export", None, Vec::new()).await {
        Ok(answer) => {
            let mut response = answer.body.into_response();
            for name in [header::CONTENT_TYPE, header::CONTENT_DISPOSITION] {
                if let Some(value) = answer.headers.get(&name) {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(e) => official.failed(&e),
    }
}
