//! Human output of the CLI. Every command also has `--json`, which prints the
//! admin API's answer as it is.

use std::fmt::Write;
use veim_node::api::types::{ConsentStatus, ConsentView, Counts, Figures, Reciprocity, TrackedExchange};
use veim_node::api::types::{DeliveryState, DisclosureSummary};
use veim_node::api::{
    ContactsView, DirectoryListing, EntryView, ExchangeSummary, ExchangeView, MessageView, PendingView, StatusView,
    VersionView,
};
use veim_protocol::contacts::PointOfContact;
use veim_protocol::disclosure::{Package, Verified};
use veim_protocol::request::Request;
use veim_protocol::response::Response;
use veim_protocol::{Body, ConsentRecord, Decision};

/// A value's word in the files and the API (`office-address`, `public`,
/// `answered`): its serde name, never its Rust one.
pub fn word<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Columns aligned by what a terminal shows (wide and combining characters
/// counted as they are drawn), without borders: the header in capitals, two
/// spaces between columns. Cells pass through [`crate::terminal::shown`]
/// first, so that the widths are those of what is printed. The columns
/// numbered in `right` (counts) are aligned to the right.
pub fn table(header: &[&str], right: &[usize], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    use comfy_table::{CellAlignment, ContentArrangement, Table};
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        t.add_row(row.iter().map(|c| crate::terminal::shown(c).into_owned()).collect::<Vec<_>>());
    }
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if right.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out: String = t.lines().map(|l| format!("{}\n", l.trim_end())).collect();
    if out.is_empty() {
        out.push('\n');
    }
    out
}

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
    match s.clock_offset_secs {
        Some(off) if off.abs() > veim_node::clock::CLOCK_WARN_SECS => {
            let side = if off > 0 { "AHEAD of" } else { "BEHIND" };
            let _ = writeln!(
                out,
                "  clock        {} s {side} its peers' (by their receipts): check the clocks, and that this machine follows NTP",
                off.abs()
            );
        }
        Some(off) => {
            let _ = writeln!(out, "  clock        agrees with its peers' (by their receipts: {off:+} s)");
        }
        None => {}
    }
    if let Some(r) = &s.recovery {
        let _ = writeln!(out, "  at start     {r}");
    }
    if let Some(w) = &s.catching_up {
        let _ = writeln!(out, "  NOT CAUGHT UP  {w}; nothing is published until it is");
    }
    if let Some(e) = &s.store_failure {
        let _ = writeln!(
            out,
            "  STORE FAILED {e}: the node restarts itself to reopen it; free disk space in its folder, or check the device"
        );
    }
    for c in &s.readiness.checks {
        let mark = if c.ok { "ok" } else { "FAILED" };
        let _ = writeln!(out, "  {:<12} {mark}: {}", c.check.to_string(), c.detail);
    }
    out
}

/// Why the node is not healthy, in words, if it is not: a readiness check
/// failed, or its last directory sync did.
pub fn unhealthy(s: &StatusView) -> Option<String> {
    let mut why: Vec<String> = s.readiness.failed().map(|c| format!("{}: {}", c.check, c.detail)).collect();
    if let Some(e) = &s.last_error {
        why.push(format!("the last directory sync failed: {e}"));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

pub fn directory(d: &DirectoryListing) -> String {
    let mut out = String::new();
    if d.version == 0 {
        return "The directory is empty: no State has been admitted yet.\n".into();
    }
    let _ = writeln!(out, "Directory version {} issued {}", d.version, d.issued_at.map(time).unwrap_or_default());
    out.push_str(&table(
        &["STATE", "STATUS", "ENTRY", "FINGERPRINT", "OPERATOR"],
        &[],
        d.entries.iter().map(|e| {
            vec![
                e.state.to_string(),
                e.status.to_string(),
                word(&e.visibility),
                e.fingerprint.clone(),
                e.operator.clone(),
            ]
        }),
    ));
    out
}

pub fn entry(e: &EntryView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({}) — {}, entry {}", e.state, e.name, e.status, word(&e.visibility));
    if let Some(region) = &e.region {
        let sub = e.subregion.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
        let _ = writeln!(out, "  region       {region}{sub}");
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
    let _ = writeln!(out, "  • {} — {} ({})", c.name, c.role, word(&c.visibility));
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
        let fields: Vec<String> = c.restricted_fields.iter().map(word).collect();
        let _ = writeln!(out, "      not public: {}", fields.join(", "));
    }
}

pub fn contacts(v: &ContactsView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Points of contact of {} ({}), entry {}, submitted {}",
        v.state,
        v.name,
        word(&v.entry_visibility),
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
        DeliveryState::Pending => "queued".into(),
        DeliveryState::Attempting { attempts, next_at, last_error } => {
            format!("attempting: {attempts} attempt(s), next at {}; last error: {last_error}", time(*next_at))
        }
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
    if m.deliveries.iter().any(|d| !d.state.is_final()) {
        let _ = writeln!(out, "  (stored; the node keeps trying the copies not delivered: `veim outbox` shows them)");
    }
    out
}

/// The outbox: each sent message, and where each copy stands.
pub fn outbox(list: &[MessageView]) -> String {
    if list.is_empty() {
        return "No messages sent.\n".into();
    }
    let mut out = messages(list);
    let waiting: Vec<&MessageView> = list.iter().filter(|m| m.deliveries.iter().any(|d| !d.state.is_final())).collect();
    if !waiting.is_empty() {
        let _ = writeln!(out, "\nNot yet delivered:");
        for m in waiting {
            out.push_str(&sent(m));
        }
        let _ = writeln!(out, "(`veim outbox retry ID` tries now; `veim outbox cancel ID` gives up)");
    }
    out
}

pub fn messages(list: &[MessageView]) -> String {
    if list.is_empty() {
        return "No messages.\n".into();
    }
    table(
        &["WHEN (UTC)", "EXCHANGE", "KIND", "FROM", "TO", "SUMMARY"],
        &[],
        list.iter().map(|m| {
            let to: Vec<&str> = m.recipients.iter().map(|s| s.as_str()).collect();
            vec![
                time(m.stored_at).trim_end_matches(" UTC").to_string(),
                m.exchange_id.clone(),
                m.kind.to_string(),
                m.sender.to_string(),
                to.join(","),
                one_line(&m.body),
            ]
        }),
    )
}

fn one_line(body: &Option<Body>) -> String {
    let text = match body {
        None => "(content purged)".into(),
        Some(Body::Request(r)) => r.summary.clone(),
        Some(Body::Response(r)) => r.summary.clone(),
        Some(Body::Note(n)) => n.text.clone(),
        Some(Body::Close(c)) => format!("closed (outcome not recorded): {}", c.reason),
        Some(Body::Closing(c)) => format!("closed, {}: {}", c.outcome, c.reason),
        Some(Body::Measure(m)) => {
            format!("measure under Art. {}: {} on {} {}", m.provision.as_str(), m.kind, m.date, m.text)
        }
        Some(Body::StageMove(s)) => format!("stage: {} {}", s.stage, s.text),
        Some(Body::RespondBy(r)) => format!("respond by {} {}", r.date, r.text),
        Some(Body::ConsentRequest(c)) => format!("consent asked for {} item(s) to {}", c.items.len(), c.authority),
        Some(Body::ConsentDecision(d)) => match &d.record.decision {
            Decision::Granted { items, .. } => format!("consent granted for {} item(s)", items.len()),
            Decision::Refused { reason } => format!("consent refused: {reason}"),
        },
        Some(Body::ConsentRevocation(r)) => format!("consent revoked: {}", r.reason),
        Some(Body::Attachments(a)) => {
            let names: Vec<&str> = a.files.iter().map(|f| f.name.as_str()).collect();
            format!("{} file(s): {} {}", a.files.len(), names.join(", "), a.text)
        }
    };
    flatten(&text)
}

fn flatten(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 { format!("{}…", flat.chars().take(59).collect::<String>()) } else { flat }
}

pub fn exchanges(list: &[ExchangeSummary]) -> String {
    if list.is_empty() {
        return "No exchanges.\n".into();
    }
    table(
        &["EXCHANGE", "STATUS", "CHANGED (UTC)", "STATES", "SUMMARY"],
        &[],
        list.iter().map(|summary| {
            let x = &summary.exchange;
            let parts: Vec<&str> = x.participants.iter().map(|s| s.as_str()).collect();
            vec![
                x.exchange_id.to_string(),
                word(&x.status),
                time(x.updated_at).trim_end_matches(" UTC").to_string(),
                parts.join(","),
                summary.summary.as_deref().map(flatten).unwrap_or_else(|| "(content purged)".into()),
            ]
        }),
    )
}

pub fn exchange(v: &ExchangeView) -> String {
    let x = &v.exchange;
    let mut out = String::new();
    let parts: Vec<&str> = x.participants.iter().map(|s| s.as_str()).collect();
    let _ = writeln!(out, "Exchange {} — {}", x.exchange_id, word(&x.status));
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
            None => {
                let _ = writeln!(
                    out,
                    "   content purged on {} under the retention policy",
                    m.purged_at.map(time).unwrap_or_default()
                );
            }
            Some(Body::Request(r)) => request(&mut out, r),
            Some(Body::Response(r)) => response(&mut out, &m.message_id, r),
            Some(Body::Note(n)) => {
                let _ = writeln!(out, "   {}", n.text);
            }
            Some(Body::Close(c)) => {
                let _ = writeln!(out, "   closed (outcome not recorded): {}", c.reason);
            }
            Some(Body::Closing(c)) => {
                let _ = writeln!(out, "   closed, outcome {}: {}", c.outcome, c.reason);
            }
            Some(Body::Measure(x)) => {
                let _ = writeln!(out, "   measure under Art. {}: {} on {}", x.provision.as_str(), x.kind, x.date);
                if !x.text.is_empty() {
                    let _ = writeln!(out, "   {}", x.text);
                }
            }
            Some(Body::StageMove(s)) => {
                let _ = writeln!(out, "   stage moved to {}", s.stage);
                if !s.text.is_empty() {
                    let _ = writeln!(out, "   {}", s.text);
                }
            }
            Some(Body::RespondBy(r)) => {
                let _ = writeln!(out, "   a response is asked by {}", r.date);
                if !r.text.is_empty() {
                    let _ = writeln!(out, "   {}", r.text);
                }
            }
            Some(Body::ConsentRequest(c)) => {
                let items: Vec<String> = c.items.iter().map(ToString::to_string).collect();
                let _ = writeln!(out, "   consent asked to disclose to {}", c.authority);
                let _ = writeln!(out, "   items: {}", items.join(", "));
                let _ = writeln!(out, "   purpose: {}; case {}", c.purpose, c.case_reference);
                let _ = writeln!(out, "   consent id {}", m.message_id);
            }
            Some(Body::ConsentDecision(d)) => decision(&mut out, &d.record),
            Some(Body::ConsentRevocation(r)) => {
                let _ = writeln!(out, "   consent {} revoked: {}", r.consent_request, r.reason);
            }
            Some(Body::Attachments(a)) => {
                if !a.text.is_empty() {
                    let _ = writeln!(out, "   {}", a.text);
                }
                for f in &a.files {
                    let _ = writeln!(
                        out,
                        "   file {} ({} bytes, sha256 {}) attachment {}",
                        f.name,
                        f.size,
                        hex::encode(f.sha256.0),
                        f.id
                    );
                }
            }
        }
        if let Some(h) = m.body.as_ref().and_then(Body::handling) {
            let _ = writeln!(out, "   Handling restrictions set by {}:", m.sender);
            for line in h.lines() {
                let _ = writeln!(out, "     - {line}");
            }
            if m.use_expired {
                let _ = writeln!(out, "     ! the period of use has ended: disclosure and forwarding are refused");
            }
        }
    }
    out
}

fn decision(out: &mut String, r: &ConsentRecord) {
    match &r.decision {
        Decision::Granted { items, conditions, expires_at } => {
            let items: Vec<String> = items.iter().map(ToString::to_string).collect();
            let _ =
                writeln!(out, "   {} GRANTS consent {} to disclose to {}", r.grantor, r.consent_request, r.authority);
            let _ = writeln!(out, "   items: {}", items.join(", "));
            for c in conditions {
                let _ = writeln!(out, "   condition: {c}");
            }
            if let Some(t) = expires_at {
                let _ = writeln!(out, "   expires {}", time(*t));
            }
        }
        Decision::Refused { reason } => {
            let _ = writeln!(out, "   {} REFUSES consent {}: {reason}", r.grantor, r.consent_request);
        }
    }
}

pub fn consents(list: &[ConsentView], now: i64) -> String {
    if list.is_empty() {
        return "No consent requests.\n".into();
    }
    let mut out = String::new();
    for c in list {
        let status = if c.status == ConsentStatus::Granted && c.expired(now) {
            "EXPIRED".to_string()
        } else {
            word(&c.status).to_uppercase()
        };
        let _ = writeln!(
            out,
            "{}  {:<8} asked by {} of {} on {} (exchange {})",
            c.consent_id,
            status,
            c.asked_by,
            c.asked_of,
            time(c.asked_at),
            c.exchange_id
        );
        if let Some(r) = &c.request {
            let items: Vec<String> = r.items.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "   to {} for {:?}, case {}", r.authority, r.purpose, r.case_reference);
            let _ = writeln!(out, "   items asked: {}", items.join(", "));
        }
        if let Some(d) = &c.decision {
            decision(&mut out, &d.record);
        }
        if let Some(reason) = &c.revocation_reason {
            let _ = writeln!(out, "   revoked on {}: {reason}", c.revoked_at.map(time).unwrap_or_default());
        }
    }
    out
}

/// `veim mail queue`.
pub fn mail_queue(list: &[veim_node::api::QueuedMailView]) -> String {
    if list.is_empty() {
        return "No mail waiting.\n".into();
    }
    let mut out = table(
        &["MAIL", "EVENT", "TO", "LANG", "QUEUED", "ATTEMPTS", "NEXT"],
        &[0, 5],
        list.iter().map(|m| {
            vec![
                m.id.to_string(),
                m.event.clone(),
                m.to.join(", "),
                m.language.clone(),
                time(m.queued_at),
                m.attempts.to_string(),
                time(m.next_attempt_at),
            ]
        }),
    );
    if let Some(error) = list.iter().rev().find_map(|m| m.last_error.as_deref()) {
        let _ = writeln!(out, "\nLast error: {error}");
    }
    out
}

pub fn reciprocity(list: &[Reciprocity]) -> String {
    if list.is_empty() {
        return "No requests sent or received yet.\n".into();
    }
    let secs = |s: Option<i64>| s.map(duration).unwrap_or_else(|| "-".into());
    table(
        &[
            "STATE",
            "SENT",
            "ANSWERED",
            "UNANSWERED",
            "THEIR MEDIAN",
            "RECEIVED",
            "ANSWERED",
            "UNANSWERED",
            "OUR MEDIAN",
        ],
        &[1, 2, 3, 4, 5, 6, 7, 8],
        list.iter().map(|r| {
            vec![
                r.state.map(|s| s.to_string()).unwrap_or_default(),
                r.requests_sent.to_string(),
                r.sent_answered.to_string(),
                r.sent_unanswered.to_string(),
                secs(r.their_median_answer_secs),
                r.requests_received.to_string(),
                r.received_answered.to_string(),
                r.received_unanswered.to_string(),
                secs(r.our_median_answer_secs),
            ]
        }),
    )
}

/// `veim track`: open exchanges, overdue ones first, each with its measures.
pub fn track(list: &[TrackedExchange]) -> String {
    if list.is_empty() {
        return "No open exchanges.\n".into();
    }
    let mut out = table(
        &["EXCHANGE", "STAGE", "PROVISIONS", "STATES", "DAYS OPEN", "RESPOND BY", "MEASURES", "SUMMARY"],
        &[4, 6],
        list.iter().map(|t| {
            let parts: Vec<&str> = t.participants.iter().map(|s| s.as_str()).collect();
            let provisions: Vec<&str> = t.provisions.iter().map(|p| p.as_str()).collect();
            let respond_by = match (t.respond_by, t.overdue) {
                (Some(d), true) => format!("{d} OVERDUE"),
                (Some(d), false) => d.to_string(),
                (None, _) => "-".into(),
            };
            vec![
                t.exchange_id.to_string(),
                t.stage.as_ref().map(stage_word).unwrap_or_else(|| "(content purged)".into()),
                if provisions.is_empty() { "-".into() } else { provisions.join(",") },
                parts.join(","),
                t.days_open.to_string(),
                respond_by,
                t.measures.len().to_string(),
                t.summary.as_deref().map(flatten).unwrap_or_else(|| "(content purged)".into()),
            ]
        }),
    );
    for t in list.iter().filter(|t| !t.measures.is_empty() || t.overdue) {
        let _ = writeln!(out, "\n{}", t.exchange_id);
        if t.overdue {
            let waiting: Vec<&str> = t.not_responded.iter().map(|s| s.as_str()).collect();
            let _ = writeln!(out, "  OVERDUE: no response from {}", waiting.join(", "));
        }
        for m in &t.measures {
            let _ = writeln!(
                out,
                "  {} {} under Art. {} on {} {}",
                m.by,
                m.kind,
                m.provision.as_str(),
                m.date,
                flatten(&m.text)
            );
        }
    }
    out
}

fn stage_word(stage: &veim_protocol::request::Stage) -> String {
    match stage {
        veim_protocol::request::Stage::Other(text) => format!("other: {}", flatten(text)),
        s => veim_protocol::progress::stage_name(s).to_string(),
    }
}

/// `veim track --figures`: the figures of a period.
pub fn figures(f: &Figures) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Figures from {} to {} (UTC days, both included)\n", f.from, f.to);
    counts(&mut out, "All exchanges", &f.total);
    for p in &f.by_provision {
        counts(&mut out, &format!("Art. {}", p.provision), &p.counts);
    }
    for c in &f.by_counterpart {
        counts(&mut out, &format!("With {}", c.state), &c.counts);
    }
    out
}

fn counts(out: &mut String, title: &str, c: &Counts) {
    let list = |m: &std::collections::BTreeMap<String, u32>| {
        if m.is_empty() {
            "-".to_string()
        } else {
            m.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(out, "{title}");
    let _ = writeln!(out, "  exchanges opened: {} (by stage now: {})", c.exchanges, list(&c.stages));
    let _ = writeln!(out, "  measures: {}", list(&c.measures));
    let _ = writeln!(out, "  closed, by outcome: {}", list(&c.outcomes));
    let r = &c.first_response;
    match (r.median_secs, r.max_secs) {
        (Some(median), Some(max)) => {
            let _ = writeln!(
                out,
                "  first responses: {}, median {}, longest {}",
                r.responses,
                duration(median),
                duration(max)
            );
        }
        _ => {
            let _ = writeln!(out, "  first responses: none");
        }
    }
    out.push('\n');
}

fn duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

pub fn disclosures(list: &[DisclosureSummary]) -> String {
    if list.is_empty() {
        return "No disclosures.\n".into();
    }
    let mut out = String::new();
    for d in list {
        let _ = writeln!(
            out,
            "{}  {}  {} item(s) from {} to a {} on consent {}  sha256 {}",
            d.disclosure_id,
            time(d.created_at),
            d.items.len(),
            d.originator,
            d.authority_kind,
            d.consent.map(|c| c.to_string()).unwrap_or_else(|| "(waived by the originator)".into()),
            hex::encode(d.package_hash.0)
        );
    }
    out
}

pub fn verified(v: &Verified) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Package {} VERIFIED", v.disclosure_id);
    let _ = writeln!(
        out,
        "  {} item(s) from {} message(s) of {}, disclosed by {}",
        v.items, v.messages, v.originator, v.discloser
    );
    let _ = writeln!(out, "  to {}", v.authority);
    match v.consent {
        Some(c) => {
            let _ = writeln!(out, "  on {}'s signed consent {c}", v.originator);
        }
        None => {
            let _ = writeln!(out, "  with no consent: {} waived it for this kind of authority", v.originator);
        }
    }
    let _ = writeln!(out, "  {} key fingerprint: {}", v.originator, v.originator_fingerprint);
    let _ = writeln!(
        out,
        "  listed in directory version {} signed by the Secretariat key {}",
        v.directory_version, v.secretariat_fingerprint
    );
    let _ = writeln!(
        out,
        "  Compare that fingerprint with the one the ATT Secretariat publishes, or pass --secretariat-key."
    );
    out
}

/// The package as a readable document (Markdown), for the authority's file.
pub fn package_markdown(p: &Package) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Disclosure {}\n", p.disclosure_id);
    let _ = writeln!(
        out,
        "Information received by **{}** from **{}** under the Arms Trade Treaty's",
        p.discloser, p.originator
    );
    let _ = writeln!(out, "voluntary exchange of information, disclosed on {}.\n", time(p.created_at));
    let _ = writeln!(out, "- Disclosed to: {}", p.authority);
    let _ = writeln!(out, "- Purpose: {}", p.purpose);
    let _ = writeln!(out, "- Case reference: {}", p.case_reference);
    let _ = writeln!(out, "- Exchange: {}", p.exchange_id);
    match &p.consent {
        Some(c) => {
            let _ =
                writeln!(out, "- Consent: {} (given {}, by {})", c.consent_request, time(c.decided_at), p.originator);
            if let Some(t) = c.expires_at {
                let _ = writeln!(out, "- Consent expires: {}", time(t));
            }
            for cond in &c.conditions {
                let _ = writeln!(out, "- Condition of consent: {cond}");
            }
        }
        None => {
            let _ = writeln!(out, "- Consent: waived by {} for this kind of authority", p.originator);
        }
    }
    let _ = writeln!(out, "\n## Items\n");
    for (i, d) in p.items.iter().enumerate() {
        let _ = writeln!(out, "{}. {}  \n   (item {})", i + 1, d.item, d.item_ref);
    }
    let _ = writeln!(out, "\n## Handling restrictions set by {}\n", p.originator);
    for m in &p.messages {
        let _ = writeln!(out, "Message {} of {}:\n", m.message_id, time(m.sent_at));
        for line in m.handling.lines() {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Verification\n");
    let _ = writeln!(out, "The JSON file of this package holds the signed proofs: the directory version listing");
    let _ = writeln!(
        out,
        "{}'s key, the original envelopes, the signed item statements and the signed consent.",
        p.originator
    );
    let _ = writeln!(out, "Check it with `veim disclosure verify FILE`; no network or node is needed.");
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

fn response(out: &mut String, message_id: &str, r: &Response) {
    let _ = writeln!(out, "   Summary: {}", r.summary);
    for (i, item) in r.items.iter().enumerate() {
        let _ = writeln!(
            out,
            "   [{}#{i}] {item}",
            &message_id[..message_id.len().min(veim_protocol::MessageId::SHORT_HEX)]
        );
    }
}

/// The warnings of `veim audit verify` about a clock that went back.
pub fn clock_went_back(found: &[crate::audit::ClockWentBack]) -> String {
    let mut out = String::new();
    for c in found {
        let _ = writeln!(
            out,
            "WARNING: entry {} is dated {}, {} s before entry {} ({}): the node's clock went back. \
             The chain is whole; weigh the times recorded around it, and check that the node's clock follows NTP",
            c.position,
            time(c.at),
            c.previous_at - c.at,
            c.previous_position,
            time(c.previous_at)
        );
    }
    out
}

pub fn audit_report(r: &veim_protocol::audit::LogReport, witnesses: usize, trees: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Audit log VERIFIED: {} entries, chain unbroken", r.entries);
    if let Some(h) = r.head {
        let _ = writeln!(out, "  head {}", hex::encode(h.0));
    }
    let _ = writeln!(
        out,
        "  {} checkpoint(s) match it ({} of them held by other nodes), covering up to entry {}",
        r.checkpoints, witnesses, r.covered
    );
    let uncovered = r.entries.saturating_sub(r.covered);
    if uncovered > 0 {
        let _ = writeln!(
            out,
            "  {uncovered} entries at the end are covered by no signature yet: the node is running, and writes the head checkpoint that covers them within a second"
        );
    }
    if r.tree_heads > 0 {
        let _ = writeln!(
            out,
            "  {} tree head(s) match its Merkle tree ({trees} of them held by other nodes)",
            r.tree_heads
        );
    }
    if !r.keys.is_empty() {
        let _ = writeln!(out, "  signed with key(s) {}", r.keys.join(", "));
    }
    if witnesses + trees == 0 {
        let _ = writeln!(
            out,
            "  Entries after the last checkpoint, and a log rewritten with this node's own key, are caught only against\n  checkpoints other nodes hold: add --witness FILE (from `veim audit witness STATE --json` on a peer)."
        );
    }
    out
}

pub fn audit_entries(list: &[veim_protocol::audit::Entry]) -> String {
    if list.is_empty() {
        return "No entries.\n".into();
    }
    let mut out = String::new();
    for e in list {
        let ev = &e.event;
        let mut parts = Vec::new();
        if let Some(s) = ev.state {
            parts.push(format!("state {s}"));
        }
        if let Some(k) = ev.kind {
            parts.push(k.to_string());
        }
        if let Some(x) = ev.exchange {
            parts.push(format!("exchange {}", &x.to_hex()[..8]));
        }
        if let Some(m) = ev.message {
            parts.push(format!("message {}", &m.to_hex()[..veim_protocol::MessageId::SHORT_HEX]));
        }
        if let Some(o) = &ev.object {
            parts.push(o.clone());
        }
        if !ev.detail.is_empty() {
            parts.push(ev.detail.clone());
        }
        let _ = writeln!(
            out,
            "{:>6}  {}  {:<20} {:<14} {}",
            e.seq,
            time(ev.at).trim_end_matches(" UTC"),
            ev.action.as_str(),
            ev.actor.to_string(),
            parts.join("; ")
        );
    }
    out
}

pub fn held_checkpoints(h: &crate::audit::HeldCheckpoints) -> String {
    let name = veim_protocol::audit::node_name;
    let of = h.checkpoints.first().map(|c| name(c.checkpoint.node)).unwrap_or_default();
    let mut out = format!(
        "{} holds {} checkpoint(s) of {of}'s log (its latest of each day):\n",
        name(h.holder),
        h.checkpoints.len()
    );
    for c in &h.checkpoints {
        let c = &c.checkpoint;
        let _ = writeln!(
            out,
            "  {} entries, last entry {}, signed {} with key {}",
            c.count,
            hex::encode(c.head.0),
            time(c.at),
            c.identity_key.fingerprint()
        );
    }
    if let Some(t) = &h.tree_head {
        let t = &t.head;
        let _ = writeln!(
            out,
            "  and its tree head at {} entries, root {}, signed {} (each newer one kept only with a proof that it extends this)",
            t.count,
            hex::encode(t.root.0),
            time(t.at)
        );
    }
    out.push_str("Give the --json output to the auditor of that node: `veim audit verify --witness FILE`.\n");
    out
}

pub fn attachments(list: &[veim_node::api::types::AttachmentView]) -> String {
    if list.is_empty() {
        return "No attachments.\n".into();
    }
    let mut out = String::new();
    for a in list {
        let whence = match (a.outgoing, a.sender) {
            (true, _) => {
                let to: Vec<String> = a.recipients.iter().map(|s| s.to_string()).collect();
                format!("sent to {}", if to.is_empty() { "nobody yet".into() } else { to.join(", ") })
            }
            (false, Some(s)) => format!("from {s}"),
            (false, None) => "received".into(),
        };
        let state = if a.complete {
            "complete".to_string()
        } else {
            format!(
                "{} of {} chunks{}",
                a.chunks_held,
                a.chunks,
                a.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
            )
        };
        let _ = writeln!(out, "{}  {:<30} {:>12} bytes  {whence}  {state}", a.id, a.name, a.size);
    }
    out
}

/// What `veim backup` wrote.
pub fn backup(info: &veim_node::api::BackupInfo, out: &std::path::Path, bytes: usize) -> String {
    format!(
        "Backup {} written to {} ({bytes} bytes, encrypted): {} stored records, {} files, audit log at {} entries.\n\
         Keep the passphrase apart from the file; `veim restore {} --home DIR` makes a node from it.\n",
        info.backup_id,
        out.display(),
        info.records,
        info.files,
        info.audit_count,
        out.display()
    )
}

/// What `veim restore` made.
pub fn restored(info: &veim_node::api::BackupInfo, home: &std::path::Path) -> String {
    format!(
        "Restored backup {} (made {}, audit log at {} entries) into {}.\n\
         Start it with `veim node run --home {}`: it records the restore in its audit log; a national node \
         then gets back from its peers what it sent and received since the backup.\n",
        info.backup_id,
        time(info.made_at),
        info.audit_count,
        home.display(),
        home.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_align_by_the_width_a_terminal_draws() {
        // "日本" is two characters drawn four columns wide, as "abcd" is;
        // `{:<4}` would pad it with two more spaces and push its row right.
        let rows = vec![vec!["日本".to_string(), "x".to_string()], vec!["abcd".into(), "y".into()]];
        let out = table(&["NAME", "N"], &[1], rows);
        assert_eq!(out, "NAME  N\n日本  x\nabcd  y\n");
        let out = table(&["A", "COUNT"], &[1], vec![vec!["a".to_string(), "7".to_string()]]);
        assert_eq!(out, "A  COUNT\na      7\n", "counts to the right");
    }

    #[test]
    fn words_are_those_of_the_files_not_of_rust() {
        use veim_protocol::contacts::{ContactField, Visibility};
        assert_eq!(word(&ContactField::OfficeAddress), "office-address");
        assert_eq!(word(&Visibility::Public), "public");
        assert_eq!(word(&veim_node::api::types::ExchangeStatus::Answered), "answered");
    }
}
