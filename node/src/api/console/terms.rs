//! The terms of reference (Annex 2 of the working paper) in the console:
//! consent asked on an exchange's thread, the consent requests sent and
//! received with their status, a grant or a refusal by an approver, a
//! revocation; disclosures asked for, approved by a second official (the
//! package is the answer, downloaded) or refused, the disclosures made; and
//! a package uploaded to be verified. Every step is the admin API's.

use super::*;
use crate::api::{
    AskConsent, ConsentStatus, ConsentView, DecideConsent, Disclose, DisclosureRequestView, ExchangeView,
    PackageVerified, RefuseDisclosure, RevokeRequest,
};
use crate::storage::{Direction, DisclosureSummary};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query};
use axum::http::Method;
use axum::routing::post;
use exchanges::{Choice, PER_PAGE, Pager, encode};
use veim_protocol::consent::{Authority, AuthorityKind, Decision};
use veim_protocol::disclosure::{MAX_PACKAGE, Package};
use veim_protocol::{Body, MessageId, StateCode};

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/console/exchanges/{id}/consent", get(ask_page).post(ask))
        .route("/console/consents", get(consents))
        .route("/console/consents/{id}", get(consent))
        .route("/console/consents/{id}/decide", post(decide))
        .route("/console/consents/{id}/revoke", post(revoke))
        .route("/console/disclosures", get(disclosures).post(disclose))
        .route("/console/disclosures/requests/{id}/approve", post(approve))
        .route("/console/disclosures/requests/{id}/refuse", post(refuse))
        .route("/console/disclosures/verify", post(verify).layer(DefaultBodyLimit::max(MAX_PACKAGE + UPLOAD_SLACK)))
}

/// Room for the multipart framing and the CSRF field around a package.
const UPLOAD_SLACK: usize = 64 * 1024;

/// What the API refused in a form: its heading in the official's language,
/// the node's words, and the problems field by field.
pub(crate) struct Problems {
    pub heading: String,
    pub message: String,
    pub list: Vec<(String, String)>,
}

impl Problems {
    fn of_api(official: &Official, error: &ApiError) -> Problems {
        let (heading, _) = official.explain(error);
        let list = error.problems.iter().map(|p| (p.field.clone(), p.problem.clone())).collect();
        Problems { heading, message: error.message.clone(), list }
    }

    fn of_form(tr: Tr, list: Vec<(String, String)>) -> Problems {
        Problems { heading: tr.t("api-error-invalid"), message: tr.t("form-check-fields"), list }
    }

    /// The problems of `field` (and of its parts: `field.x`, `field[0]`).
    pub fn of(&self, field: &str) -> Vec<String> {
        self.list
            .iter()
            .filter(|(f, _)| {
                f == field || f.strip_prefix(field).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .map(|(_, p)| p.clone())
            .collect()
    }
}

/// A form's fields as sent, repeated ones (check boxes) kept.
#[derive(Debug, Default)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn one(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
    }
}

/// The authority a form names, as the fields were filled.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthorityForm {
    pub kind: String,
    pub name: String,
    pub state: String,
}

impl AuthorityForm {
    fn read(fields: &Fields) -> AuthorityForm {
        AuthorityForm {
            kind: fields.one("authority_kind"),
            name: fields.one("authority_name"),
            state: fields.one("authority_state").to_ascii_uppercase(),
        }
    }

    fn of(a: &Authority) -> AuthorityForm {
        AuthorityForm { kind: a.kind.as_str().into(), name: a.name.clone(), state: a.state.to_string() }
    }

    /// The authority, or the fields that are wrong.
    fn authority(&self, tr: Tr, problems: &mut Vec<(String, String)>) -> Option<Authority> {
        let kind = AuthorityKind::ALL.into_iter().find(|k| k.as_str() == self.kind);
        if kind.is_none() {
            problems.push(("authority.kind".into(), tr.t("terms-choose-kind")));
        }
        let state = match self.state.parse::<StateCode>() {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(("authority.state".into(), e.to_string()));
                None
            }
        };
        Some(Authority { kind: kind?, name: self.name.clone(), state: state? })
    }

    fn kinds(&self, tr: Tr) -> Vec<Choice> {
        AuthorityKind::ALL
            .iter()
            .map(|k| Choice {
                value: k.as_str().into(),
                label: tr.t(&format!("authority-{}", k.as_str())),
                chosen: self.kind == k.as_str(),
            })
            .collect()
    }
}

fn authority_label(tr: Tr, a: &Authority) -> String {
    format!("{} — {} ({})", tr.t(&format!("authority-{}", a.kind.as_str())), a.name, a.state)
}

fn status_label(tr: Tr, status: ConsentStatus) -> String {
    let name = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    tr.t(&format!("consent-{name}"))
}

fn short(id: &impl std::fmt::Display) -> String {
    id.to_string().chars().take(MessageId::SHORT_HEX).collect()
}

fn redirect_to(path: &str) -> Response {
    Redirect::to(path).into_response()
}

// --- consent asked on an exchange -------------------------------------------

/// An item of a response this State received, to tick.
pub(crate) struct ItemChoice {
    pub value: String,
    pub label: String,
    pub chosen: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct AskForm {
    pub items: Vec<String>,
    pub authority: AuthorityForm,
    pub purpose: String,
    pub case_reference: String,
}

#[derive(askama::Template)]
#[template(path = "consent_ask.html")]
struct AskPage {
    frame: Frame,
    id: String,
    summary: String,
    items: Vec<ItemChoice>,
    kinds: Vec<Choice>,
    form: AskForm,
    error: Option<Problems>,
}

/// The items of the responses this State received in an exchange.
fn received_items(tr: Tr, view: &ExchangeView, chosen: &[String]) -> Vec<ItemChoice> {
    let mut out = Vec::new();
    for m in view.messages.iter().filter(|m| m.direction == Direction::Received) {
        let Some(Body::Response(r)) = &m.body else { continue };
        for (i, item) in r.items.iter().enumerate() {
            let value = format!("{}#{i}", m.message_id);
            let value_json = serde_json::to_value(item).unwrap_or_default();
            let first_text = value_json
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|v| v.as_object())
                .and_then(|o| o.values().find_map(|v| v.as_str().map(str::to_string)))
                .unwrap_or_default();
            out.push(ItemChoice {
                label: format!(
                    "{} #{i} · {} · {}",
                    short(&m.message_id),
                    tr.t(&format!("terms-item-{}", item.kind())),
                    first_text
                ),
                chosen: chosen.contains(&value),
                value,
            });
        }
    }
    out
}

async fn ask_view(
    official: &Official,
    id: &str,
    form: AskForm,
    error: Option<Problems>,
    status: StatusCode,
) -> Response {
    let tr = official.tr;
    let view: ExchangeView = match official.api().get(official.name(), &format!("/v1/exchanges/{}", encode(id))).await {
        Ok(v) => v,
        Err(e) => return official.failed(&e),
    };
    let page = AskPage {
        frame: official.frame(tr.t("consent-ask-title"), "/console/consents"),
        id: view.exchange.exchange_id.to_hex(),
        summary: view.summary.clone().unwrap_or_else(|| tr.t("summary-purged")),
        items: received_items(tr, &view, &form.items),
        kinds: form.authority.kinds(tr),
        form,
        error,
    };
    (status, render(&page)).into_response()
}

async fn ask_page(official: Official, Path(id): Path<String>) -> Response {
    ask_view(&official, &id, AskForm::default(), None, StatusCode::OK).await
}

async fn ask(Path(id): Path<String>, posted: Posted<Vec<(String, String)>>) -> Response {
    let official = posted.official;
    let tr = official.tr;
    let fields = Fields(posted.form);
    let form = AskForm {
        items: fields.all("item"),
        authority: AuthorityForm::read(&fields),
        purpose: fields.one("purpose"),
        case_reference: fields.one("case_reference"),
    };
    let mut problems = Vec::new();
    if form.items.is_empty() {
        problems.push(("items".into(), tr.t("terms-choose-items")));
    }
    let authority = form.authority.authority(tr, &mut problems);
    let Some(authority) = authority.filter(|_| problems.is_empty()) else {
        let error = Some(Problems::of_form(tr, problems));
        return ask_view(&official, &id, form, error, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let body = AskConsent {
        items: form.items.clone(),
        authority,
        purpose: form.purpose.clone(),
        case_reference: form.case_reference.clone(),
    };
    let path = format!("/v1/exchanges/{}/consent", encode(&id));
    match official.api().post::<_, serde_json::Value>(official.name(), &path, &body).await {
        Ok(_) => {
            official.flash(true, tr.t("consent-asked"));
            redirect_to(&format!("/console/exchanges/{}", encode(&id)))
        }
        Err(e) => {
            let error = Some(Problems::of_api(&official, &e));
            ask_view(&official, &id, form, error, call::status_of(&e)).await
        }
    }
}

// --- the consent requests -----------------------------------------------------

/// A consent request in the list.
pub(crate) struct ConsentRow {
    pub href: String,
    pub id: String,
    pub exchange_href: String,
    pub exchange: String,
    pub asked_by: String,
    pub asked_of: String,
    pub asked_at: String,
    pub authority: String,
    pub status: String,
    pub status_code: &'static str,
    pub ours_to_decide: bool,
}

fn status_code(status: ConsentStatus) -> &'static str {
    match status {
        ConsentStatus::Pending => "pending",
        ConsentStatus::Granted => "granted",
        ConsentStatus::Refused => "refused",
        ConsentStatus::Revoked => "revoked",
    }
}

#[derive(askama::Template)]
#[template(path = "consents.html")]
struct ConsentsPage {
    frame: Frame,
    rows: Vec<ConsentRow>,
    pager: Pager,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct PageOnly {
    #[serde(default)]
    page: Option<usize>,
}

fn simple_pager(tr: Tr, base: &str, page: usize, total: usize) -> Pager {
    Pager::new(tr, Some(page), total, |page| format!("{base}?page={page}"))
}

async fn consents(official: Official, Query(q): Query<PageOnly>) -> Response {
    let tr = official.tr;
    let own = official.node().config.state;
    let page = q.page.unwrap_or(1).max(1);
    let path = format!("/v1/consents?limit={PER_PAGE}&page={page}");
    let (total, list) = match official.api().list::<ConsentView>(official.name(), &path).await {
        Ok(found) => found,
        Err(e) => return official.failed(&e),
    };
    let rows = list
        .iter()
        .map(|c| {
            let hex = c.consent_id.to_hex();
            ConsentRow {
                href: format!("/console/consents/{hex}"),
                id: short(&hex),
                exchange_href: format!("/console/exchanges/{}", c.exchange_id.to_hex()),
                exchange: c.exchange_id.to_hex()[..12].to_string(),
                asked_by: c.asked_by.to_string(),
                asked_of: c.asked_of.to_string(),
                asked_at: tr.time(c.asked_at),
                authority: c.request.as_ref().map(|r| authority_label(tr, &r.authority)).unwrap_or_default(),
                status: status_label(tr, c.status),
                status_code: status_code(c.status),
                ours_to_decide: Some(c.asked_of) == own && c.status == ConsentStatus::Pending,
            }
        })
        .collect();
    let page = ConsentsPage {
        frame: official.frame(tr.t("consents-title"), "/console/consents"),
        rows,
        pager: simple_pager(tr, "/console/consents", page, total),
    };
    render(&page)
}

/// The forms of a consent's page as they were filled.
#[derive(Debug, Clone, Default)]
pub(crate) struct DecideForm {
    pub items: Vec<String>,
    pub conditions: String,
    pub expires: String,
    pub reason: String,
}

#[derive(askama::Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    frame: Frame,
    id: String,
    exchange_href: String,
    asked_by: String,
    asked_of: String,
    asked_at: String,
    status: String,
    status_code: &'static str,
    authority: String,
    purpose: String,
    case_reference: String,
    items: Vec<ItemChoice>,
    decided: Vec<(String, String)>,
    may_decide: bool,
    may_revoke: bool,
    disclose_href: Option<String>,
    form: DecideForm,
    error: Option<Problems>,
}

async fn consent_view(
    official: &Official,
    id: &str,
    form: DecideForm,
    error: Option<Problems>,
    status: StatusCode,
) -> Response {
    let tr = official.tr;
    let own = official.node().config.state;
    let list: Vec<ConsentView> = match official.api().get(official.name(), "/v1/consents").await {
        Ok(list) => list,
        Err(e) => return official.failed(&e),
    };
    let wanted = id.trim().to_ascii_lowercase();
    let Some(c) = list.iter().find(|c| !wanted.is_empty() && c.consent_id.to_hex().starts_with(&wanted)) else {
        return official.problem(
            StatusCode::NOT_FOUND,
            tr.t("api-error-not-found"),
            tr.t1("consent-unknown", "id", &wanted),
            Vec::new(),
        );
    };
    let hex = c.consent_id.to_hex();
    let asked: Vec<String> =
        c.request.as_ref().map(|r| r.items.iter().map(|i| i.to_string()).collect()).unwrap_or_default();
    let items = asked
        .iter()
        .map(|i| ItemChoice {
            label: i.clone(),
            chosen: form.items.is_empty() || form.items.contains(i),
            value: i.clone(),
        })
        .collect();
    let mut decided = Vec::new();
    if let Some(d) = &c.decision {
        decided.push((tr.t("consent-decided-at"), tr.time(d.record.decided_at)));
        match &d.record.decision {
            Decision::Granted { items, conditions, expires_at } => {
                let granted: Vec<String> = items.iter().map(|i| i.to_string()).collect();
                decided.push((tr.t("consent-granted-items"), granted.join(", ")));
                if !conditions.is_empty() {
                    decided.push((tr.t("consent-conditions"), conditions.join("; ")));
                }
                decided.push((tr.t("consent-expires"), tr.maybe_time(expires_at)));
            }
            Decision::Refused { reason } => decided.push((tr.t("consent-refusal-reason"), reason.clone())),
        }
    }
    if let (Some(at), Some(reason)) = (c.revoked_at, &c.revocation_reason) {
        decided.push((tr.t("consent-revoked-at"), format!("{} — {reason}", tr.time(at))));
    }
    let ours = Some(c.asked_of) == own;
    let disclose_href = (Some(c.asked_by) == own
        && c.status == ConsentStatus::Granted
        && !c.expired(crate::clock::now())
        && official.may("POST", "/v1/disclosures"))
    .then(|| {
        let d = c.decision.as_ref().map(|d| &d.record);
        let granted: Vec<String> = d.map(|r| r.granted_items().iter().map(|i| i.to_string()).collect()).unwrap_or_default();
        let a = d.map(|r| AuthorityForm::of(&r.authority)).unwrap_or_default();
        format!(
            "/console/disclosures?exchange={}&items={}&authority_kind={}&authority_name={}&authority_state={}&purpose={}&case_reference={}#ask-disclosure",
            c.exchange_id.to_hex(),
            encode(&granted.join(", ")),
            encode(&a.kind),
            encode(&a.name),
            encode(&a.state),
            encode(d.map(|r| r.purpose.as_str()).unwrap_or("")),
            encode(d.map(|r| r.case_reference.as_str()).unwrap_or("")),
        )
    });
    let request = c.request.as_ref();
    let page = ConsentPage {
        frame: official.frame(tr.t("consent-title"), "/console/consents"),
        exchange_href: format!("/console/exchanges/{}", c.exchange_id.to_hex()),
        asked_by: c.asked_by.to_string(),
        asked_of: c.asked_of.to_string(),
        asked_at: tr.time(c.asked_at),
        status: status_label(tr, c.status),
        status_code: status_code(c.status),
        authority: request.map(|r| authority_label(tr, &r.authority)).unwrap_or_else(|| tr.t("summary-purged")),
        purpose: request.map(|r| r.purpose.clone()).unwrap_or_default(),
        case_reference: request.map(|r| r.case_reference.clone()).unwrap_or_default(),
        items,
        decided,
        may_decide: ours
            && c.status == ConsentStatus::Pending
            && official.may("POST", &format!("/v1/consents/{hex}/decide")),
        may_revoke: ours
            && c.status == ConsentStatus::Granted
            && official.may("POST", &format!("/v1/consents/{hex}/revoke")),
        disclose_href,
        id: hex,
        form,
        error,
    };
    (status, render(&page)).into_response()
}

async fn consent(official: Official, Path(id): Path<String>) -> Response {
    consent_view(&official, &id, DecideForm::default(), None, StatusCode::OK).await
}

/// A day `YYYY-MM-DD` as the Unix time of its end (UTC).
fn end_of_day(day: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day.trim(), &format).ok().map(|d| d.midnight().assume_utc().unix_timestamp() + 86_399)
}

async fn decide(Path(id): Path<String>, posted: Posted<Vec<(String, String)>>) -> Response {
    let official = posted.official;
    let tr = official.tr;
    let fields = Fields(posted.form);
    let form = DecideForm {
        items: fields.all("item"),
        conditions: fields.one("conditions"),
        expires: fields.one("expires"),
        reason: fields.one("reason"),
    };
    let decision = if fields.one("decision") == "refuse" {
        DecideConsent::Refuse { reason: form.reason.clone() }
    } else {
        let expires_at = match form.expires.as_str() {
            "" => None,
            day => match end_of_day(day) {
                Some(t) => Some(t),
                None => {
                    let problems = vec![("expires_at".into(), tr.t1("filter-bad-day", "day", &day))];
                    let error = Some(Problems::of_form(tr, problems));
                    return consent_view(&official, &id, form, error, StatusCode::UNPROCESSABLE_ENTITY).await;
                }
            },
        };
        let conditions = form.conditions.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        DecideConsent::Grant { items: Some(form.items.clone()), conditions, expires_at }
    };
    let path = format!("/v1/consents/{}/decide", encode(&id));
    match official.api().post::<_, serde_json::Value>(official.name(), &path, &decision).await {
        Ok(_) => {
            let done = if matches!(decision, DecideConsent::Refuse { .. }) {
                "consent-refused-done"
            } else {
                "consent-granted-done"
            };
            official.flash(true, tr.t(done));
            redirect_to(&format!("/console/consents/{}", encode(&id)))
        }
        Err(e) => {
            let error = Some(Problems::of_api(&official, &e));
            consent_view(&official, &id, form, error, call::status_of(&e)).await
        }
    }
}

async fn revoke(Path(id): Path<String>, posted: Posted<Vec<(String, String)>>) -> Response {
    let official = posted.official;
    let tr = official.tr;
    let fields = Fields(posted.form);
    let form = DecideForm { reason: fields.one("reason"), ..DecideForm::default() };
    let path = format!("/v1/consents/{}/revoke", encode(&id));
    let body = RevokeRequest { reason: form.reason.clone() };
    match official.api().post::<_, serde_json::Value>(official.name(), &path, &body).await {
        Ok(_) => {
            official.flash(true, tr.t("consent-revoked-done"));
            redirect_to(&format!("/console/consents/{}", encode(&id)))
        }
        Err(e) => {
            let error = Some(Problems::of_api(&official, &e));
            consent_view(&official, &id, form, error, call::status_of(&e)).await
        }
    }
}

// --- disclosures --------------------------------------------------------------

/// The disclosure form as it was filled (or prefilled from a grant).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct DiscloseForm {
    #[serde(default)]
    pub exchange: String,
    /// Items as `MESSAGE#N`, separated by commas or spaces.
    #[serde(default)]
    pub items: String,
    #[serde(default)]
    pub authority_kind: String,
    #[serde(default)]
    pub authority_name: String,
    #[serde(default)]
    pub authority_state: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub case_reference: String,
    #[serde(default)]
    pub page: Option<usize>,
}

/// A disclosure waiting for a second official.
pub(crate) struct RequestRow {
    pub id: String,
    pub short: String,
    pub exchange_href: String,
    pub exchange: String,
    pub originator: String,
    pub items: String,
    pub authority: String,
    pub asked_by: String,
    pub asked_at: String,
    pub mine: bool,
}

/// A disclosure made.
pub(crate) struct MadeRow {
    pub id: String,
    pub when: String,
    pub originator: String,
    pub exchange_href: String,
    pub exchange: String,
    pub items: String,
    pub authority: String,
    pub consent: String,
    pub hash: String,
}

/// What a verified package establishes and holds, as the page shows it.
pub(crate) struct VerifyResult {
    pub ok: bool,
    pub heading: String,
    pub text: String,
    pub facts: Vec<(String, String)>,
    pub items: Vec<(String, Vec<(String, String)>)>,
}

#[derive(askama::Template)]
#[template(path = "disclosures.html")]
struct DisclosuresPage {
    frame: Frame,
    may_ask: bool,
    may_approve: bool,
    may_verify: bool,
    kinds: Vec<Choice>,
    form: DiscloseForm,
    error: Option<Problems>,
    requests: Vec<RequestRow>,
    made: Vec<MadeRow>,
    pager: Pager,
    result: Option<VerifyResult>,
}

async fn disclosures_view(
    official: &Official,
    form: DiscloseForm,
    error: Option<Problems>,
    result: Option<VerifyResult>,
    status: StatusCode,
) -> Response {
    let tr = official.tr;
    let me = official.name();
    let api = official.api();
    let national = official.node().config.role == crate::home::config::Role::National;
    let may_read = national && official.may("GET", "/v1/disclosures");
    let requests = if may_read {
        match api.get::<Vec<DisclosureRequestView>>(me, "/v1/disclosures/requests").await {
            Ok(list) => list
                .iter()
                .map(|r| RequestRow {
                    id: r.id.clone(),
                    short: r.id.chars().take(8).collect(),
                    exchange_href: format!("/console/exchanges/{}", r.exchange_id.to_hex()),
                    exchange: r.exchange_id.to_hex()[..12].to_string(),
                    originator: r.originator.to_string(),
                    items: r.items.join(", "),
                    authority: r.authority.clone(),
                    asked_by: r.asked_by.to_string(),
                    asked_at: tr.time(r.asked_at),
                    mine: r.asked_by == me,
                })
                .collect(),
            Err(e) => return official.failed(&e),
        }
    } else {
        Vec::new()
    };
    let page = form.page.unwrap_or(1).max(1);
    let (total, made) = if may_read {
        let path = format!("/v1/disclosures?limit={PER_PAGE}&page={page}");
        match api.list::<DisclosureSummary>(me, &path).await {
            Ok((total, list)) => (
                total,
                list.iter()
                    .map(|d| MadeRow {
                        id: d.disclosure_id.to_string(),
                        when: tr.time(d.created_at),
                        originator: d.originator.to_string(),
                        exchange_href: format!("/console/exchanges/{}", d.exchange_id.to_hex()),
                        exchange: d.exchange_id.to_hex()[..12].to_string(),
                        items: d.items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
                        authority: tr.t(&format!("authority-{}", d.authority_kind.as_str())),
                        consent: d.consent.map(|c| short(&c)).unwrap_or_else(|| tr.t("disclosure-waived")),
                        hash: hex::encode(d.package_hash.0),
                    })
                    .collect(),
            ),
            Err(e) => return official.failed(&e),
        }
    } else {
        (0, Vec::new())
    };
    let kinds = AuthorityForm {
        kind: form.authority_kind.clone(),
        name: form.authority_name.clone(),
        state: form.authority_state.clone(),
    }
    .kinds(tr);
    let page = DisclosuresPage {
        frame: official.frame(tr.t("disclosures-title"), "/console/disclosures"),
        may_ask: national && official.may("POST", "/v1/disclosures"),
        may_approve: national && official.may("POST", "/v1/disclosures/requests/x/approve"),
        may_verify: official.may("POST", "/v1/disclosures/verify"),
        kinds,
        pager: simple_pager(tr, "/console/disclosures", page, total),
        form,
        error,
        requests,
        made,
        result,
    };
    (status, render(&page)).into_response()
}

async fn disclosures(official: Official, Query(form): Query<DiscloseForm>) -> Response {
    disclosures_view(&official, form, None, None, StatusCode::OK).await
}

async fn disclose(posted: Posted<DiscloseForm>) -> Response {
    let official = posted.official;
    let tr = official.tr;
    let form = posted.form;
    let mut problems = Vec::new();
    let items: Vec<String> =
        form.items.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    if form.exchange.trim().is_empty() {
        problems.push(("exchange".into(), tr.t("terms-give-exchange")));
    }
    if items.is_empty() {
        problems.push(("items".into(), tr.t("terms-give-items")));
    }
    let authority = AuthorityForm {
        kind: form.authority_kind.trim().to_string(),
        name: form.authority_name.trim().to_string(),
        state: form.authority_state.trim().to_ascii_uppercase(),
    }
    .authority(tr, &mut problems);
    let Some(authority) = authority.filter(|_| problems.is_empty()) else {
        let error = Some(Problems::of_form(tr, problems));
        return disclosures_view(&official, form, error, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let given = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let body = Disclose {
        exchange: form.exchange.trim().to_string(),
        items,
        authority,
        purpose: given(&form.purpose),
        case_reference: given(&form.case_reference),
    };
    match official.api().post::<_, DisclosureRequestView>(official.name(), "/v1/disclosures", &body).await {
        Ok(asked) => {
            official.flash(true, tr.t1("disclosure-asked", "id", &asked.id.chars().take(8).collect::<String>()));
            redirect_to("/console/disclosures")
        }
        Err(e) => {
            let error = Some(Problems::of_api(&official, &e));
            disclosures_view(&official, form, error, None, call::status_of(&e)).await
        }
    }
}

/// Approves another official's disclosure: the answer is the package, a
/// file to save (the bytes `veim disclosure approve` writes, so that its
/// SHA-256 is the one the list of disclosures shows).
async fn approve(Path(id): Path<String>, posted: Posted<Nothing>) -> Response {
    let official = posted.official;
    let path = format!("/v1/disclosures/requests/{}/approve", encode(&id));
    match official.api().post::<_, Package>(official.name(), &path, &()).await {
        Ok(package) => match serde_json::to_vec_pretty(&package) {
            Ok(bytes) => (
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"disclosure-{}.json\"", package.disclosure_id),
                    ),
                ],
                bytes,
            )
                .into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Err(e) => {
            let error = Some(Problems::of_api(&official, &e));
            disclosures_view(&official, DiscloseForm::default(), error, None, call::status_of(&e)).await
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct ReasonForm {
    #[serde(default)]
    reason: String,
}

async fn refuse(Path(id): Path<String>, posted: Posted<ReasonForm>) -> Response {
    let official = posted.official;
    let path = format!("/v1/disclosures/requests/{}/refuse", encode(&id));
    let body = RefuseDisclosure { reason: posted.form.reason };
    match official.api().post::<_, DisclosureRequestView>(official.name(), &path, &body).await {
        Ok(_) => {
            official.flash(true, official.tr.t("disclosure-refused"));
            redirect_to("/console/disclosures")
        }
        Err(e) => {
            let error = Some(Problems::of_api(&official, &e));
            disclosures_view(&official, DiscloseForm::default(), error, None, call::status_of(&e)).await
        }
    }
}

/// A package uploaded to be verified: the form's first field is its CSRF
/// token, checked before the file is read.
async fn verify(State(console): State<Console>, official: Official, mut multipart: Multipart) -> Response {
    let tr = official.tr;
    let unreadable = |official: &Official| {
        official.problem(StatusCode::BAD_REQUEST, tr.t("error-form-heading"), tr.t("verify-no-file"), Vec::new())
    };
    let token = match multipart.next_field().await {
        Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.unwrap_or_default(),
        Ok(_) | Err(_) => String::new(),
    };
    if !same_token(&token, &official.csrf) {
        return refuse_form(&console, &official, "/console/disclosures/verify").await;
    }
    let bytes = match multipart.next_field().await {
        Ok(Some(field)) if field.name() == Some("package") => match field.bytes().await {
            Ok(b) if !b.is_empty() => b,
            _ => return unreadable(&official),
        },
        _ => return unreadable(&official),
    };
    let answer = official
        .api()
        .call(official.name(), Method::POST, "/v1/disclosures/verify", Some("application/json"), bytes.to_vec())
        .await;
    let (result, status) = match answer {
        Ok(answer) => match serde_json::from_slice::<PackageVerified>(&answer.body) {
            Ok(v) => (verified(tr, &v), StatusCode::OK),
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Err(e) if e.status == 422 => (
            VerifyResult {
                ok: false,
                heading: tr.t("verify-failed"),
                text: e.message,
                facts: Vec::new(),
                items: Vec::new(),
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return official.failed(&e),
    };
    disclosures_view(&official, DiscloseForm::default(), None, Some(result), status).await
}

fn verified(tr: Tr, v: &PackageVerified) -> VerifyResult {
    let (p, ok) = (&v.package, &v.verified);
    let mut facts = vec![
        (tr.t("verify-disclosure"), ok.disclosure_id.to_string()),
        (tr.t("verify-discloser"), ok.discloser.to_string()),
        (tr.t("verify-originator"), format!("{} ({})", ok.originator, ok.originator_fingerprint)),
        (tr.t("verify-authority"), authority_label(tr, &ok.authority)),
        (tr.t("verify-purpose"), p.purpose.clone()),
        (tr.t("verify-case"), p.case_reference.clone()),
        (tr.t("verify-made"), tr.time(p.created_at)),
        (tr.t("verify-consent"), ok.consent.map(|c| c.to_string()).unwrap_or_else(|| tr.t("disclosure-waived"))),
        (
            tr.t("verify-directory"),
            tr.t1("verify-directory-text", "version", &ok.directory_version)
                + &format!(" · {}", ok.secretariat_fingerprint),
        ),
    ];
    facts
        .push((tr.t("verify-anchor"), if ok.anchored { tr.t("verify-anchored") } else { tr.t("verify-not-anchored") }));
    let items = p
        .items
        .iter()
        .map(|d| {
            let mut fields = Vec::new();
            let value = serde_json::to_value(&d.item).unwrap_or_default();
            let inner = value.as_object().and_then(|o| o.values().next()).cloned().unwrap_or(value);
            exchanges::fields_of(tr, &inner, "", &mut fields);
            (format!("{} · {}", d.item_ref, tr.t(&format!("terms-item-{}", d.item.kind()))), fields)
        })
        .collect();
    VerifyResult { ok: true, heading: tr.t("verify-ok"), text: tr.count("verify-ok-text", ok.items), facts, items }
}
