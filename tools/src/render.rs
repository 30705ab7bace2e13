//! Human output of the CLI. Every command also has `--json`, which prints the
//! admin API's answer as it is.

use std::fmt::Write;
use veim_node::api::{
    ContactsView, DirectoryListing, EntryView, ExchangeView, MessageView, PendingView, StatusView, VersionView,
};
use veim_node::store::{DeliveryState, ExchangeRecord};
use veim_protocol::Body;
use veim_protocol::contacts::PointOfContact;
use veim_protocol::request::Request;
use veim_protocol::response::Response;

pub fn time(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| unix.to_string())
}

pub fn status(s: &StatusView) -> String {
    let mut out = String::new();
    let who = s.state.map(|c| format!(" for {} ({})", c, c.name())).unwrap_or_default();
    let _ = writeln!(out, "{} node{who}", s.role);
    let _ = writeln!(out, "  peer id      {}", s.peer_id);
    let _ = writeln!(out, "  fingerprint  {}", s.fingerprint);
    let _ = writeln!(out, "  listening    {}", s.listen.join(", "));
    let _ = writeln!(out, "  directory    version {} ({} entries)", s.directory_version, s.directory_entries);
    if let Some(fp) = &s.secretariat_fingerprint {
        let _ = writeln!(out, "  secretariat  key fingerprint {fp}");
    }
    if let Some(r) = &s.registration {
        let _ = writeln!(out, "  registration {r}");
    }
    if let Some(t) = s.last_sync {
        let _ = writeln!(out, "  last sync    {}", time(t));
    }
    if let Some(e) = &s.last_error {
        let _ = writeln!(out, "  last error   {e}");
    }
    out
}

pub fn directory(d: &DirectoryListing) -> String {
    let mut out = String::new();
    if d.version == 0 {
        return "The directory is empty: no State has been admitted yet.\n".into();
    }
    let _ = writeln!(out, "Directory version {} issued {}", d.version, d.issued_at.map(time).unwrap_or_default());
    let _ = writeln!(out, "{:<5} {:<10} {:<49} OPERATOR", "STATE", "STATUS", "FINGERPRINT");
    for e in &d.entries {
        let _ = writeln!(out, "{:<5} {:<10} {:<49} {}", e.state, e.status.to_string(), e.fingerprint, e.operator);
    }
    out
}

/// The UN M49 region and subregion of a State ("americas", "central-america").
pub fn region(state: veim_protocol::StateCode) -> (Option<String>, Option<String>) {
    match keshvar::Alpha3::try_from(state.as_str()) {
        Ok(code) => {
            let country = code.to_country();
            (country.maybe_region().map(|r| r.to_string()), country.maybe_subregion().map(|r| r.to_string()))
        }
        Err(_) => (None, None),
    }
}

pub fn entry(e: &EntryView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({}) — {}, {:?} entry", e.state, e.name, e.status, e.visibility);
    if let (Some(region), sub) = region(e.state) {
        let _ = writeln!(out, "  region       {region}{}", sub.map(|s| format!(" ({s})")).unwrap_or_default());
    }
    let _ = writeln!(out, "  operator     {}", e.operator);
    let _ = writeln!(out, "  fingerprint  {}", e.fingerprint);
    let _ = writeln!(out, "  addresses    {}", e.addresses.join(", "));
    let _ = writeln!(out, "  admitted     {}", time(e.admitted_at));
    for c in &e.contacts {
        contact(&mut out, c);
    }
    out
}

fn contact(out: &mut String, c: &PointOfContact) {
    let _ = writeln!(out, "  • {} — {} ({:?})", c.name, c.role, c.visibility);
    for (label, value) in [
        ("job title", c.job_title.clone()),
        ("ministry", c.ministry.clone()),
        ("e-mail", c.emails.join(", ")),
        ("telephone", c.phones.join(", ")),
        ("office", c.office_address.clone()),
        ("languages", c.languages.join(", ")),
    ] {
        if !value.is_empty() {
            let _ = writeln!(out, "      {label:<10} {value}");
        }
    }
    if !c.restricted_fields.is_empty() {
        let _ = writeln!(out, "      not public: {:?}", c.restricted_fields);
    }
}

pub fn contacts(v: &ContactsView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Points of contact of {} ({}), {:?} entry, submitted {}",
        v.state,
        v.name,
        v.entry_visibility,
        time(v.submitted_at)
    );
    if let Some(status) = &v.status {
        let _ = writeln!(out, "  status: {status}");
    }
    for c in &v.contacts {
        contact(&mut out, c);
    }
    out
}

pub fn pending(list: &[PendingView]) -> String {
    if list.is_empty() {
        return "No registration is waiting for approval.\n".into();
    }
    let mut out = String::from(
        "Registrations waiting for approval. Check each fingerprint with the State's operator by a channel you trust, then approve with it.\n",
    );
    for p in list {
        let _ = writeln!(
            out,
            "  {} ({})  fingerprint {}  operator {:?}  sent {}\n    veim directory approve {} --fingerprint \"{}\"",
            p.state,
            p.name,
            p.fingerprint,
            p.operator,
            time(p.signed_at),
            p.state,
            p.fingerprint
        );
    }
    out
}

pub fn history(list: &[VersionView]) -> String {
    let mut out = String::new();
    for v in list {
        let _ = writeln!(out, "  v{:<4} {}  {}", v.version, time(v.issued_at), v.change);
    }
    out
}

fn delivery(d: &DeliveryState) -> String {
    match d {
        DeliveryState::Pending => "pending".into(),
        DeliveryState::Delivered { stored_at } => {
            format!("delivered (receipt signed, stored {})", time(*stored_at))
        }
        DeliveryState::Refused { code, detail } => format!("REFUSED {code}: {detail}"),
        DeliveryState::Failed { reason } => format!("FAILED: {reason}"),
    }
}

pub fn sent(m: &MessageView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {} in exchange {}", m.kind, m.message_id, m.exchange_id);
    for d in &m.deliveries {
        let _ = writeln!(out, "  to {}: {}", d.recipient, delivery(&d.state));
    }
    out
}

pub fn messages(list: &[MessageView]) -> String {
    if list.is_empty() {
        return "No messages.\n".into();
    }
    let mut out = String::new();
    let _ = writeln!(out, "{:<20} {:<32} {:<8} {:<9} SUMMARY", "WHEN", "EXCHANGE", "KIND", "FROM→TO");
    for m in list {
        let to: Vec<&str> = m.recipients.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(
            out,
            "{:<20} {:<32} {:<8} {}→{:<5} {}",
            time(m.stored_at).trim_end_matches(" UTC"),
            m.exchange_id,
            m.kind.to_string(),
            m.sender,
            to.join(","),
            one_line(&m.body)
        );
    }
    out
}

fn one_line(body: &Body) -> String {
    let text = match body {
        Body::Request(r) => r.summary.clone(),
        Body::Response(r) => r.summary.clone(),
        Body::Note(n) => n.text.clone(),
        Body::Close(c) => format!("closed: {}", c.reason),
    };
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 { format!("{}…", flat.chars().take(59).collect::<String>()) } else { flat }
}

pub fn exchanges(list: &[ExchangeRecord]) -> String {
    if list.is_empty() {
        return "No exchanges.\n".into();
    }
    let mut out = String::new();
    for x in list {
        let parts: Vec<&str> = x.participants.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(
            out,
            "{}  {:<8?} {}  {}",
            x.exchange_id,
            x.status,
            parts.join(","),
            one_line(&Body::Note(veim_protocol::Note { text: x.summary.clone() }))
        );
    }
    out
}

pub fn exchange(v: &ExchangeView) -> String {
    let x = &v.exchange;
    let mut out = String::new();
    let parts: Vec<&str> = x.participants.iter().map(|s| s.as_str()).collect();
    let _ = writeln!(out, "Exchange {} — {:?}", x.exchange_id, x.status);
    let _ = writeln!(out, "  opened by {} on {}; participants {}", x.originator, time(x.opened_at), parts.join(", "));
    for m in &v.messages {
        let to: Vec<&str> = m.recipients.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(
            out,
            "\n── {} from {} to {} — {} (message {})",
            m.kind,
            m.sender,
            to.join(", "),
            time(m.created_at),
            m.message_id
        );
        for d in &m.deliveries {
            let _ = writeln!(out, "   to {}: {}", d.recipient, delivery(&d.state));
        }
        match &m.body {
            Body::Request(r) => request(&mut out, r),
            Body::Response(r) => response(&mut out, r),
            Body::Note(n) => {
                let _ = writeln!(out, "   {}", n.text);
            }
            Body::Close(c) => {
                let _ = writeln!(out, "   closed: {}", c.reason);
            }
        }
    }
    out
}

fn request(out: &mut String, r: &Request) {
    let codes = |v: &[veim_protocol::StateCode]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let _ = writeln!(out, "   Summary: {}", r.summary.split_whitespace().collect::<Vec<_>>().join(" "));
    let _ = writeln!(out, "   States involved: {}", codes(&r.states_involved));
    let _ = writeln!(out, "   Stage: {}", r.stage);
    let provisions: Vec<String> = r.provisions.iter().map(|p| p.to_string()).collect();
    let _ = writeln!(out, "   ATT provisions: {}", provisions.join(", "));
    let t = &r.transfer;
    let categories: Vec<String> = t.categories.iter().map(|c| c.to_string()).collect();
    let _ = writeln!(out, "   Category of arms: {}", categories.join(", "));
    for item in &t.items {
        let value = item.value.as_ref().map(|v| format!(", value {v}")).unwrap_or_default();
        let _ = writeln!(out, "   Item: {} × {}{value}", item.number, item.description);
    }
    if let Some(s) = t.state_of_origin {
        let _ = writeln!(out, "   State of origin: {s}");
    }
    if !t.transit_states.is_empty() {
        let _ = writeln!(out, "   Transit States: {}", codes(&t.transit_states));
    }
    if let Some(s) = t.importing_state {
        let _ = writeln!(out, "   Importing State: {s}");
    }
    if let Some(u) = &t.end_user {
        let _ = writeln!(out, "   End user: {u}");
    }
    if let Some(a) = &r.additional_information {
        let _ = writeln!(out, "   Additional information: {a}");
    }
}

fn response(out: &mut String, r: &Response) {
    let _ = writeln!(out, "   Summary: {}", r.summary);
    for item in &r.items {
        let _ = writeln!(out, "   • {item}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_have_their_un_regions() {
        let code = |s: &str| s.parse::<veim_protocol::StateCode>().expect("code");
        assert_eq!(region(code("MEX")), (Some("americas".into()), Some("central-america".into())));
        assert_eq!(region(code("SWE")), (Some("europe".into()), Some("northern-europe".into())));
        assert_eq!(region(code("NGA")).0.as_deref(), Some("africa"));
    }
}
