//! The dashboard: what needs the official now. New requests waiting for
//! this State's answer, consent asked of it, overdue exchanges, deliveries
//! that failed, disclosures waiting for a second official, on the
//! Secretariat's node registrations and contacts to review; and the node's
//! health. Each part is shown to those whose roles may read it.

use super::*;
use crate::api::{ConsentStatus, ConsentView, ContactsView, MessageView, PendingView, StatusView};
use crate::terms::DisclosureRequestView;
use crate::tracking::TrackedExchange;

/// One part of the dashboard: a count, a few lines, and where to act.
pub(super) struct Card {
    pub id: &'static str,
    pub heading: String,
    pub figure: String,
    pub lines: Vec<(String, String)>,
    pub link: Option<(String, String)>,
    pub urgent: bool,
}

#[derive(askama::Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    frame: Frame,
    cards: Vec<Card>,
    health: Vec<(String, bool, String)>,
    ready: bool,
    errors: Vec<String>,
}

/// At most this many lines in a card.
const LINES: usize = 5;

pub(super) async fn page(official: Official) -> Response {
    let tr = official.tr;
    let api = official.api();
    let me = official.name();
    let mut errors = Vec::new();
    let mut cards = Vec::new();
    let status: Option<StatusView> = match api.get(me, "/v1/status").await {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(e.message);
            None
        }
    };
    let own = status.as_ref().and_then(|s| s.state);

    if official.may("GET", "/v1/track") && own.is_some() {
        match api.get::<Vec<TrackedExchange>>(me, "/v1/track?attention=true").await {
            Ok(tracked) => {
                let waiting: Vec<&TrackedExchange> = tracked
                    .iter()
                    .filter(|t| Some(t.originator) != own && own.is_some_and(|s| t.not_responded.contains(&s)))
                    .collect();
                cards.push(Card {
                    id: "card-requests",
                    heading: tr.t("dash-requests"),
                    figure: tr.number(waiting.len() as u64),
                    lines: waiting.iter().take(LINES).map(|t| exchange_line(tr, t)).collect(),
                    link: Some(("/console/exchanges?state=open".into(), tr.t("dash-see-exchanges"))),
                    urgent: !waiting.is_empty(),
                });
                let overdue: Vec<&TrackedExchange> = tracked.iter().filter(|t| t.overdue).collect();
                cards.push(Card {
                    id: "card-overdue",
                    heading: tr.t("dash-overdue"),
                    figure: tr.number(overdue.len() as u64),
                    lines: overdue.iter().take(LINES).map(|t| exchange_line(tr, t)).collect(),
                    link: None,
                    urgent: !overdue.is_empty(),
                });
            }
            Err(e) => errors.push(e.message),
        }
    }
    if official.may("GET", "/v1/consents") && own.is_some() {
        match api.list::<ConsentView>(me, "/v1/consents").await {
            Ok((_, consents)) => {
                let asked: Vec<&ConsentView> =
                    consents.iter().filter(|c| Some(c.asked_of) == own && c.status == ConsentStatus::Pending).collect();
                cards.push(Card {
                    id: "card-consents",
                    heading: tr.t("dash-consents"),
                    figure: tr.number(asked.len() as u64),
                    lines: asked
                        .iter()
                        .take(LINES)
                        .map(|c| (c.asked_by.to_string(), format!("/console/exchanges/{}", c.exchange_id.to_hex())))
                        .collect(),
                    link: None,
                    urgent: !asked.is_empty(),
                });
            }
            Err(e) => errors.push(e.message),
        }
    }
    if official.may("GET", "/v1/outbox") && own.is_some() {
        match api.list::<MessageView>(me, "/v1/outbox?state=failed&limit=5&page=1").await {
            Ok((total, failed)) => cards.push(Card {
                id: "card-failed",
                heading: tr.t("dash-failed"),
                figure: tr.number(total as u64),
                lines: failed
                    .iter()
                    .map(|m| {
                        let to: Vec<String> = m.recipients.iter().map(|r| r.to_string()).collect();
                        (
                            format!("{} → {}", tr.time(m.created_at), to.join(", ")),
                            format!("/console/exchanges/{}", m.exchange_id),
                        )
                    })
                    .collect(),
                link: Some(("/console/outbox?state=failed".into(), tr.t("dash-see-outbox"))),
                urgent: total > 0,
            }),
            Err(e) => errors.push(e.message),
        }
    }
    if official.may("POST", "/v1/disclosures/requests/x/approve") {
        match api.get::<Vec<DisclosureRequestView>>(me, "/v1/disclosures/requests").await {
            Ok(requests) => {
                let others: Vec<&DisclosureRequestView> = requests.iter().filter(|r| r.asked_by != me).collect();
                cards.push(Card {
                    id: "card-disclosures",
                    heading: tr.t("dash-disclosures"),
                    figure: tr.number(others.len() as u64),
                    lines: others
                        .iter()
                        .take(LINES)
                        .map(|r| (format!("{} · {}", r.asked_by, r.authority), "/console/disclosures".to_string()))
                        .collect(),
                    link: None,
                    urgent: !others.is_empty(),
                });
            }
            Err(e) => errors.push(e.message),
        }
    }
    if official.may("GET", "/v1/directory/pending") && own.is_none() {
        match api.get::<Vec<PendingView>>(me, "/v1/directory/pending").await {
            Ok(pending) => cards.push(Card {
                id: "card-registrations",
                heading: tr.t("dash-registrations"),
                figure: tr.number(pending.len() as u64),
                lines: pending
                    .iter()
                    .take(LINES)
                    .map(|p| {
                        (
                            format!("{} · {}", p.state, p.fingerprint),
                            format!("/console/registrations#pending-{}", p.state),
                        )
                    })
                    .collect(),
                link: Some(("/console/registrations".into(), tr.t("nav-registrations"))),
                urgent: !pending.is_empty(),
            }),
            Err(e) => errors.push(e.message),
        }
        match api.get::<Vec<ContactsView>>(me, "/v1/contacts/pending").await {
            Ok(pending) => cards.push(Card {
                id: "card-contacts",
                heading: tr.t("dash-contacts"),
                figure: tr.number(pending.len() as u64),
                lines: Vec::new(),
                link: Some(("/console/registrations".into(), tr.t("nav-registrations"))),
                urgent: !pending.is_empty(),
            }),
            Err(e) => errors.push(e.message),
        }
    }
    let (ready, health) = match &status {
        Some(s) => (
            s.readiness.ready,
            s.readiness.checks.iter().map(|c| (tr.t(&format!("health-{}", c.check)), c.ok, c.detail.clone())).collect(),
        ),
        None => (false, Vec::new()),
    };
    let page = Dashboard { frame: official.frame(tr.t("dash-title"), PATH), cards, health, ready, errors };
    render(&page)
}

fn exchange_line(tr: Tr, t: &TrackedExchange) -> (String, String) {
    let summary = t.summary.clone().unwrap_or_else(|| tr.t("summary-purged"));
    (format!("{} · {}", t.originator, summary), format!("/console/exchanges/{}", t.exchange_id.to_hex()))
}
