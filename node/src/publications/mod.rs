//! The Secretariat's publications: reports of measures States send through
//! the Secretariat (Art. 11.6, 13.2), the log of what the Secretariat
//! publishes (circulated reports, the annual meeting's notice and its
//! recommendations), and the registrations for that meeting.
//!
//! Secretariat: keeps the reports States submit for its operator's review,
//! circulates or refuses them, publishes notices and recommendations, one
//! publication at a time, signed and chained, then tells every active node;
//! serves each node the log, the content of a publication only to the States
//! of its audience; takes meeting registrations of participants chosen from
//! a State's own points of contact. It reads only what was addressed to it:
//! the reports and the registrations, never an exchange.
//!
//! National node: signs and submits its reports, learns their outcome,
//! fetches the log and keeps it only if every publication extends the chain
//! it holds, is signed by the Secretariat's key and, for a circulated report,
//! by the reporting State's key as the directory lists it.

use crate::clock::now;
use crate::directory::{Directory, announce};
use crate::home::config::Role;
use crate::home::keys::NodeKeys;
use crate::mail::{MailError, Mailer, OwnLetter};
use crate::net::Client;
use crate::storage::{ReportRecord, ReportState, Store, StoreError};
use libp2p::PeerId;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Notify;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::contacts::ContactRole;
use veim_protocol::keys::PublicIdentity;
use veim_protocol::meeting::{
    Language, MeetingError, MeetingNotice, MeetingNoticeForm, MeetingRegistration, Participant, Recommendations,
    SignedMeetingRegistration,
};
use veim_protocol::publication::{
    MeasuresReportForm, PublicationContent, PublicationError, PublicationHeader, RegisteredReport,
    SignedMeasuresReport, SignedPublication,
};
use veim_protocol::report::{SignedCspReport, SignedReportRegistration};
use veim_protocol::wire::{MAX_PUBLICATIONS_PER_FETCH, NetRequest, NetResponse, Refusal, RefusalCode, ReportStatus};
use veim_protocol::{Bytes32, StateCode, ValidationErrors};

/// Why a report a peer submitted is not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("only an active State submits reports to the Secretariat")]
    NotActive,
    #[error("the node of {sender} cannot submit a report of {named}")]
    OtherState { sender: StateCode, named: StateCode },
    #[error("the report is not signed by the State's key")]
    BadSignature,
    #[error("the report is not valid: {0}")]
    Invalid(ValidationErrors),
    #[error("the report is dated {signed_at}, too far from the Secretariat's clock ({now}); check the node's clock")]
    Clock { signed_at: i64, now: i64 },
    #[error(
        "{state} has {MAX_PENDING_PER_STATE} reports waiting for the Secretariat's review; submit more once they are \
         circulated or refused"
    )]
    TooManyPending { state: StateCode },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reports of one State that may wait for review at once: anyone listed
/// may submit, so what waits is bounded.
pub const MAX_PENDING_PER_STATE: usize = 20;

/// Why a meeting registration a peer sent is not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationRefused {
    #[error("{0}: only an active State registers for the meeting")]
    NotActive(String),
    #[error("the node of {sender} cannot register participants of {named}")]
    OtherState { sender: StateCode, named: StateCode },
    #[error("the registration is not signed by the State's key")]
    BadSignature,
    #[error("publication {0} is not a meeting notice; register for the latest notice (`veim meeting show`)")]
    UnknownNotice(u64),
    #[error("{0}")]
    Rule(#[from] MeetingError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an operator's request about publications failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublicationsError {
    #[error("{0}")]
    WrongRole(&'static str),
    #[error("no report has an id beginning with {0:?}; `veim reports pending` lists them")]
    NotFound(String),
    #[error("{0:?} names {1} reports; give more digits of the id")]
    Ambiguous(String, usize),
    #[error("report {id} is {status}, not waiting for review")]
    NotPending { id: String, status: String },
    #[error("a refusal needs a reason (--reason): the State is told it")]
    NoReason,
    #[error("not valid: {0}")]
    Invalid(ValidationErrors),
    #[error(
        "no meeting notice is held here: the Secretariat publishes one with `veim meeting notice --file` (a State \
         suspended when it was published is not sent it)"
    )]
    NoNotice,
    #[error("publication {0} is not a meeting notice")]
    NotANotice(u64),
    #[error(
        "the registrations for the meeting of publication {notice} closed on {closed}: nobody invited now could \
         register. Publish the next meeting's notice first (`veim meeting notice --file`)"
    )]
    RegistrationClosed { notice: u64, closed: String },
    #[error("{0}")]
    Mail(#[from] MailError),
    #[error("this State is {0} in the directory; it can neither submit nor register until it is active")]
    NotActive(String),
    #[error("the Secretariat's node is unreachable: {0}")]
    Unreachable(String),
    #[error("the Secretariat refused: {0}")]
    Refused(Refusal),
    #[error("unexpected answer from the Secretariat: {0}")]
    Unexpected(String),
    #[error("a publication from the Secretariat was refused, and nothing after it kept: {0}")]
    Rejected(#[from] PublicationError),
    #[error("cannot sign: {0}")]
    Sign(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One registration, as the Secretariat's operator reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistrationView {
    pub state: StateCode,
    pub participants: Vec<Participant>,
    pub signed_at: i64,
}

impl From<MeetingRegistration> for RegistrationView {
    fn from(r: MeetingRegistration) -> RegistrationView {
        RegistrationView { state: r.state, participants: r.participants, signed_at: r.signed_at }
    }
}

/// The registrations for a meeting, with their counts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Registrations {
    pub notice: u64,
    pub registrations: Vec<RegistrationView>,
    pub per_state: BTreeMap<StateCode, usize>,
    pub per_language: BTreeMap<Language, usize>,
}

/// One line of the participant list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParticipantRow {
    pub state: StateCode,
    pub name: String,
    pub email: String,
    pub language: Language,
}

impl Registrations {
    /// Every participant, State by State.
    pub fn rows(&self) -> Vec<ParticipantRow> {
        self.registrations
            .iter()
            .flat_map(|r| {
                r.participants.iter().map(|p| ParticipantRow {
                    state: r.state,
                    name: p.name.clone(),
                    email: p.email.clone(),
                    language: p.language,
                })
            })
            .collect()
    }

    /// The participant list as CSV (RFC 4180), a header line first. A
    /// field a spreadsheet would take for a formula is prefixed with `'`.
    pub fn csv(&self) -> String {
        fn field(s: &str) -> String {
            let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
            if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
        }
        let mut out = String::from("state,name,email,language\r\n");
        for r in self.rows() {
            out.push_str(&format!("{},{},{},{}\r\n", r.state, field(&r.name), field(&r.email), r.language));
        }
        out
    }
}

/// A participant as the national operator names one: an e-mail address of
/// one of the State's points of contact, its name taken from the directory
/// when it is one of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParticipantChoice {
    pub email: String,
    /// When absent, the name the State's contacts give for `email`.
    #[serde(default)]
    pub name: Option<String>,
    pub language: Language,
}

/// The role of the points of contact a meeting invitation goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InviteRole {
    NationalPoc,
    Alternate,
    FocalPoint,
}

impl InviteRole {
    pub const ALL: [InviteRole; 3] = [InviteRole::NationalPoc, InviteRole::Alternate, InviteRole::FocalPoint];

    pub fn of(role: &ContactRole) -> InviteRole {
        match role {
            ContactRole::NationalPoc => InviteRole::NationalPoc,
            ContactRole::Alternate => InviteRole::Alternate,
            ContactRole::FocalPoint(_) => InviteRole::FocalPoint,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InviteRole::NationalPoc => "national-poc",
            InviteRole::Alternate => "alternate",
            InviteRole::FocalPoint => "focal-point",
        }
    }
}

impl std::str::FromStr for InviteRole {
    type Err = String;
    fn from_str(s: &str) -> Result<InviteRole, String> {
        let s = s.trim().to_ascii_lowercase();
        InviteRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!("{s:?} is not a role of a point of contact; use national-poc, alternate or focal-point")
        })
    }
}

/// Which points of contact of the directory a meeting invitation goes to:
/// those of active States, with one of `roles`, working in one of
/// `languages` (each is written to in the first of its languages that is
/// asked for).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InviteFilter {
    /// Every role when empty.
    #[serde(default)]
    pub roles: Vec<InviteRole>,
    /// When empty, every working language of the Treaty, and contacts who
    /// list none of them are written to in English.
    #[serde(default)]
    pub languages: Vec<Language>,
    /// Only these States; every active State when empty.
    #[serde(default)]
    pub states: Vec<StateCode>,
    /// Invite again the addresses already invited to this meeting.
    #[serde(default)]
    pub again: bool,
}

/// One address invited.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Invitee {
    pub state: StateCode,
    pub name: String,
    pub email: String,
    pub role: InviteRole,
    pub language: Language,
    /// The mail's number in the queue (`veim mail queue`).
    pub mail: u64,
}

/// An address of a chosen point of contact that was not invited, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotInvited {
    pub state: StateCode,
    pub name: String,
    pub email: String,
    pub reason: String,
}

/// What an invitation round did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Invitations {
    /// The notice's publication number.
    pub notice: u64,
    pub invited: Vec<Invitee>,
    pub not_invited: Vec<NotInvited>,
    /// Points of contact of active States outside the filter.
    pub not_chosen: usize,
}

/// The publications service, on either role.
#[derive(Debug)]
pub struct Publications {
    role: Role,
    store: Store,
    keys: Arc<NodeKeys>,
    directory: Arc<Directory>,
    client: Client,
    replay_window_secs: i64,
    /// One publication at a time (Secretariat), one fetch at a time (national).
    one_at_a_time: tokio::sync::Mutex<()>,
    /// Wakes the national node's fetch before its next poll.
    pub wake: Notify,
    /// The last publication refused (its signed bytes' hash), recorded
    /// once however often it is served again.
    last_refused: std::sync::Mutex<Option<[u8; 32]>>,
}

fn prefix_match<'a>(records: &'a [ReportRecord], prefix: &str) -> Result<&'a ReportRecord, PublicationsError> {
    let p = prefix.trim().to_ascii_lowercase();
    let found: Vec<&ReportRecord> = records.iter().filter(|r| !p.is_empty() && r.id.to_hex().starts_with(&p)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(PublicationsError::NotFound(prefix.to_string())),
        many => Err(PublicationsError::Ambiguous(prefix.to_string(), many.len())),
    }
}

fn describe(status: &ReportState) -> String {
    match status {
        ReportState::Kept => "kept, not yet delivered to the Secretariat".into(),
        ReportState::Pending => "waiting for the Secretariat's review".into(),
        ReportState::Circulated { seq } => format!("circulated as publication {seq}"),
        ReportState::Refused { reason } => format!("refused by the Secretariat: {reason}"),
    }
}

fn event(actor: Actor, action: Action, state: Option<StateCode>, object: String, detail: String) -> Event {
    let mut e = Event::new(now(), actor, action);
    e.state = state;
    e.object = Some(object);
    e.detail = detail;
    e
}

fn publication_event(p: &SignedPublication, actor: Actor, action: Action) -> Event {
    let kind = p.content.as_ref().map(|c| c.kind()).unwrap_or("withheld (not addressed to this State)");
    let mut e = event(actor, action, None, format!("publication {}", p.header.seq), kind.to_string());
    e.hash = p.header.hash().ok().map(Bytes32);
    if let Some(PublicationContent::CirculatedReport(r)) = &p.content {
        e.state = Some(r.report.state);
    }
    e
}

impl Publications {
    pub fn new(
        role: Role,
        store: Store,
        keys: Arc<NodeKeys>,
        directory: Arc<Directory>,
        client: Client,
        replay_window_secs: i64,
    ) -> Publications {
        Publications {
            role,
            store,
            keys,
            directory,
            client,
            replay_window_secs,
            one_at_a_time: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            last_refused: std::sync::Mutex::new(None),
        }
    }

    fn secretariat_only(&self) -> Result<(), PublicationsError> {
        match self.role {
            Role::Secretariat => Ok(()),
            Role::National => Err(PublicationsError::WrongRole("only the Secretariat's node does this")),
        }
    }

    fn national_only(&self) -> Result<StateCode, PublicationsError> {
        match (self.role, self.directory.own_state()) {
            (Role::National, Some(state)) => Ok(state),
            _ => Err(PublicationsError::WrongRole("only a national node does this")),
        }
    }

    /// Every publication held, in order.
    pub fn log(&self) -> Result<Vec<SignedPublication>, StoreError> {
        let mut all = Vec::new();
        loop {
            let after = all.last().map_or(0, |p: &SignedPublication| p.header.seq);
            let batch = self.store.publications_after(after, 256)?;
            if batch.is_empty() {
                return Ok(all);
            }
            all.extend(batch);
        }
    }

    /// The latest meeting notice held, with its publication number.
    pub fn latest_notice(&self) -> Result<Option<(u64, MeetingNotice)>, StoreError> {
        Ok(self.log()?.into_iter().rev().find_map(|p| match p.content {
            Some(PublicationContent::MeetingNotice(n)) => Some((p.header.seq, n)),
            _ => None,
        }))
    }

    /// Every report held (a State's own; the Secretariat's received ones).
    pub fn reports(&self) -> Result<Vec<ReportRecord>, StoreError> {
        self.store.reports()
    }

    /// The report whose id begins with `prefix`.
    pub fn report(&self, prefix: &str) -> Result<ReportRecord, PublicationsError> {
        let all = self.store.reports()?;
        Ok(prefix_match(&all, prefix)?.clone())
    }

    // --- the Secretariat ---------------------------------------------------

    /// Invites the points of contact the directory lists for active States
    /// to the meeting of the latest notice, by mail, one mail per address
    /// in the contact's language (Secretariat). An address invited to this
    /// meeting before is not invited again unless `filter.again`; each
    /// invitation is recorded (`meeting-invited`) with its mail, durable
    /// when this returns.
    pub async fn invite(&self, mailer: &Mailer, filter: &InviteFilter) -> Result<Invitations, PublicationsError> {
        self.secretariat_only()?;
        let _one = self.one_at_a_time.lock().await;
        let (seq, notice) = self.latest_notice()?.ok_or(PublicationsError::NoNotice)?;
        if notice.registration_deadline <= now() {
            let closed = time::OffsetDateTime::from_unix_timestamp(notice.registration_deadline)
                .map(|t| format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute()))
                .unwrap_or_default();
            return Err(PublicationsError::RegistrationClosed { notice: seq, closed });
        }
        if !mailer.configured() {
            return Err(MailError::NotConfigured.into());
        }
        let asked: &[Language] = if filter.languages.is_empty() { &Language::ALL } else { &filter.languages };
        let view = self.directory.view();
        let mut out = Invitations { notice: seq, invited: Vec::new(), not_invited: Vec::new(), not_chosen: 0 };
        let mut letters = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for entry in view.entries().iter().filter(|e| e.is_active()) {
            let state = entry.state();
            let Some(contacts) = &entry.contacts else { continue };
            for c in &contacts.set.contacts {
                let role = InviteRole::of(&c.role);
                let spoken = c.languages.iter().filter_map(|l| Language::parse(l)).find(|l| asked.contains(l));
                let language = match spoken {
                    Some(l) => Some(l),
                    None if filter.languages.is_empty() => Some(Language::En),
                    None => None,
                };
                let chosen = (filter.states.is_empty() || filter.states.contains(&state))
                    && (filter.roles.is_empty() || filter.roles.contains(&role));
                let (true, Some(language)) = (chosen, language) else {
                    out.not_chosen += 1;
                    continue;
                };
                let not_invited = |email: &str, reason: String| NotInvited {
                    state,
                    name: c.name.clone(),
                    email: email.to_string(),
                    reason,
                };
                if c.emails.is_empty() {
                    out.not_invited.push(not_invited("", "no e-mail address is listed for this contact".into()));
                }
                for email in &c.emails {
                    let email = email.trim();
                    if !seen.insert(email.to_ascii_lowercase()) {
                        continue;
                    }
                    if let Err(e) = crate::mail::check_address(email) {
                        out.not_invited.push(not_invited(email, e.to_string()));
                        continue;
                    }
                    if !filter.again && self.store.recorded_once(&invite_mark(seq, email))? {
                        out.not_invited.push(not_invited(
                            email,
                            "already invited to this meeting (invite again with --again)".into(),
                        ));
                        continue;
                    }
                    out.invited.push(Invitee {
                        state,
                        name: c.name.clone(),
                        email: email.to_string(),
                        role,
                        language,
                        mail: 0,
                    });
                    letters.push(OwnLetter {
                        event: "meeting-invitation",
                        to: email.to_string(),
                        language,
                        state: Some(state),
                        letter: crate::mail::invitation(&notice, seq, state, &c.name, language),
                    });
                }
            }
        }
        if letters.is_empty() {
            return Ok(out);
        }
        // The mails first: a crash before the marks are durable costs a
        // second invitation, never a missing one.
        let ids = mailer.queue_letters(letters)?;
        for (invitee, id) in out.invited.iter_mut().zip(ids) {
            invitee.mail = id;
            let e = event(
                Actor::Operator,
                Action::MeetingInvited,
                Some(invitee.state),
                format!("publication {seq}"),
                format!("{}, {}, {}", invitee.email, invitee.role.as_str(), invitee.language),
            );
            let mark = invite_mark(seq, &invitee.email);
            if !self.store.record_once(&mark, &e)? {
                self.store.record(&e);
            }
        }
        self.store.flush().await?;
        mailer.wake.notify_one();
        Ok(out)
    }

    /// A State's report, kept for the operator's review (Secretariat).
    pub async fn receive_report(
        &self,
        peer: &PeerId,
        submission: &SignedMeasuresReport,
    ) -> Result<ReportStatus, ReportError> {
        let view = self.directory.view();
        let entry = view.active_peer(peer).ok_or(ReportError::NotActive)?;
        let r = &submission.report;
        if r.state != entry.state() {
            return Err(ReportError::OtherState { sender: entry.state(), named: r.state });
        }
        submission.verify(&entry.identity_key()).map_err(|_| ReportError::BadSignature)?;
        let id = submission.id().map_err(|e| StoreError::Internal(format!("cannot hash the report: {e}")))?;
        // A node sends its report again until it learns the outcome.
        if let Some(held) = self.store.report(&id)? {
            return Ok(match held.status {
                ReportState::Circulated { seq } => ReportStatus::Circulated { seq },
                ReportState::Refused { reason } => ReportStatus::Refused { reason },
                ReportState::Pending | ReportState::Kept => ReportStatus::Pending,
            });
        }
        let now = now();
        r.validate(now).map_err(ReportError::Invalid)?;
        let window = self.replay_window_secs;
        if r.signed_at < now.saturating_sub(window) || r.signed_at > now.saturating_add(window) {
            return Err(ReportError::Clock { signed_at: r.signed_at, now });
        }
        let waiting = self
            .store
            .reports()?
            .iter()
            .filter(|h| h.report.report.state == r.state && h.status == ReportState::Pending)
            .count();
        if waiting >= MAX_PENDING_PER_STATE {
            return Err(ReportError::TooManyPending { state: r.state });
        }
        let record = ReportRecord { id, report: submission.clone(), status: ReportState::Pending, updated_at: now };
        let e = event(
            Actor::Peer(Some(r.state)),
            Action::ReportSubmitted,
            Some(r.state),
            format!("report {id}"),
            format!("received for review: {} measure(s)", r.measures.len()),
        );
        self.store.put_report(&record, Some(&e))?;
        self.store.flush().await?;
        tracing::info!(state = %r.state, %id, "report of measures received; waiting for review");
        Ok(ReportStatus::Pending)
    }

    /// Circulates a pending report to every active State (Secretariat).
    pub async fn circulate(&self, prefix: &str) -> Result<SignedPublication, PublicationsError> {
        self.secretariat_only()?;
        let _one = self.one_at_a_time.lock().await;
        let mut record = self.report(prefix)?;
        if record.status != ReportState::Pending {
            return Err(PublicationsError::NotPending { id: record.id.to_hex(), status: describe(&record.status) });
        }
        let state = record.report.report.state;
        let view = self.directory.view();
        // The State's key may have changed since: what is circulated must
        // verify under the key every node holds for it.
        let verifies = view.entry(state).is_some_and(|e| record.report.verify(&e.identity_key()).is_ok());
        if !verifies {
            return Err(PublicationsError::NotPending {
                id: record.id.to_hex(),
                status: format!("signed by a key {state} no longer holds; it must submit the report again"),
            });
        }
        let content = PublicationContent::CirculatedReport(record.report.clone());
        let (publication, seq) = self.build(content)?;
        record.status = ReportState::Circulated { seq };
        record.updated_at = publication.header.published_at;
        let e = publication_event(&publication, Actor::Operator, Action::PublicationPublished);
        self.store.put_publication(&publication, Some(&record), &e)?;
        self.finish(&publication).await?;
        Ok(publication)
    }

    /// Refuses a pending report, with the reason its State is told.
    pub async fn refuse(&self, prefix: &str, reason: &str) -> Result<ReportRecord, PublicationsError> {
        self.secretariat_only()?;
        if reason.trim().is_empty() {
            return Err(PublicationsError::NoReason);
        }
        let _one = self.one_at_a_time.lock().await;
        let mut record = self.report(prefix)?;
        if record.status != ReportState::Pending {
            return Err(PublicationsError::NotPending { id: record.id.to_hex(), status: describe(&record.status) });
        }
        record.status = ReportState::Refused { reason: reason.trim().into() };
        record.updated_at = now();
        let state = record.report.report.state;
        let e = event(
            Actor::Operator,
            Action::ReportRefused,
            Some(state),
            format!("report {}", record.id),
            reason.trim().into(),
        );
        self.store.put_report(&record, Some(&e))?;
        self.store.flush().await?;
        Ok(record)
    }

    /// Publishes the meeting's notice (Secretariat).
    pub async fn publish_notice(&self, form: &MeetingNoticeForm) -> Result<SignedPublication, PublicationsError> {
        self.secretariat_only()?;
        let notice = form.parse(now()).map_err(PublicationsError::Invalid)?;
        self.publish(PublicationContent::MeetingNotice(notice)).await
    }

    /// Publishes the recommendations of the meeting of the latest notice (Secretariat).
    pub async fn publish_recommendations(
        &self,
        text: &str,
        items: &[String],
    ) -> Result<SignedPublication, PublicationsError> {
        self.secretariat_only()?;
        let (notice, _) = self.latest_notice()?.ok_or(PublicationsError::NoNotice)?;
        let recommendations = Recommendations {
            notice,
            text: text.trim().into(),
            items: items.iter().map(|i| i.trim().to_string()).collect(),
        };
        recommendations.validate().map_err(PublicationsError::Invalid)?;
        self.publish(PublicationContent::MeetingRecommendations(recommendations)).await
    }

    /// Publishes a registered report to the CSP to the States active now
    /// (Secretariat).
    pub async fn publish_csp_report(
        &self,
        report: SignedCspReport,
        registration: SignedReportRegistration,
    ) -> Result<SignedPublication, PublicationsError> {
        self.secretariat_only()?;
        self.publish(PublicationContent::CspReport(Box::new(RegisteredReport { report, registration }))).await
    }

    async fn publish(&self, content: PublicationContent) -> Result<SignedPublication, PublicationsError> {
        let _one = self.one_at_a_time.lock().await;
        let (publication, _) = self.build(content)?;
        let e = publication_event(&publication, Actor::Operator, Action::PublicationPublished);
        self.store.put_publication(&publication, None, &e)?;
        self.finish(&publication).await?;
        Ok(publication)
    }

    /// The next publication, signed, its audience the States active now.
    fn build(&self, content: PublicationContent) -> Result<(SignedPublication, u64), PublicationsError> {
        let head = self.store.publication_head()?;
        let (seq, previous_hash, last) = match &head {
            Some(h) => (h.seq + 1, h.hash().map_err(|e| PublicationsError::Sign(e.to_string()))?, h.published_at),
            None => (1, [0; 32], i64::MIN),
        };
        let view = self.directory.view();
        let audience: Vec<StateCode> = view.entries().iter().filter(|e| e.is_active()).map(|e| e.state()).collect();
        let publication =
            SignedPublication::sign(seq, previous_hash, now().max(last), audience, content, &self.keys.identity)
                .map_err(|e| PublicationsError::Sign(e.to_string()))?;
        let size = codec::encode("publication", &publication).map_err(|e| PublicationsError::Sign(e.to_string()))?;
        if size.len() > MAX_FRAME / 4 {
            return Err(PublicationsError::Invalid(ValidationErrors(vec![veim_protocol::FieldError {
                field: "content".into(),
                problem: format!("{} bytes; a publication holds at most {}", size.len(), MAX_FRAME / 4),
            }])));
        }
        Ok((publication, seq))
    }

    /// Makes a publication durable, then tells every active node.
    async fn finish(&self, publication: &SignedPublication) -> Result<(), StoreError> {
        self.store.flush().await?;
        let seq = publication.header.seq;
        tracing::info!(seq, kind = publication.content.as_ref().map(|c| c.kind()), "publication published");
        let request = NetRequest::PublicationsUpdated { seq };
        announce(&self.client, &self.directory.view(), &request, |e| e.is_active());
        Ok(())
    }

    /// The publications after `after`, for `state`: those addressed to it
    /// whole, the others as their header alone (Secretariat).
    pub fn publications_for(&self, state: StateCode, after: u64) -> Result<Vec<SignedPublication>, StoreError> {
        let mut out = self.store.publications_after(after, MAX_PUBLICATIONS_PER_FETCH)?;
        for p in &mut out {
            if !p.addressed_to(state) {
                *p = p.withheld();
            }
        }
        Ok(out)
    }

    /// A State's participants in the meeting (Secretariat).
    pub async fn register(
        &self,
        peer: &PeerId,
        signed: &SignedMeetingRegistration,
    ) -> Result<(u64, u64), RegistrationRefused> {
        let view = self.directory.view();
        let Some(entry) = view.active_peer(peer) else {
            let why = match view.listed_peer(peer) {
                Some(e) => format!("{} is {} in directory version {}", e.state(), e.status, view.version()),
                None => format!("peer {peer} is not listed"),
            };
            return Err(RegistrationRefused::NotActive(why));
        };
        let r = &signed.registration;
        if r.state != entry.state() {
            return Err(RegistrationRefused::OtherState { sender: entry.state(), named: r.state });
        }
        signed.verify(&entry.identity_key()).map_err(|_| RegistrationRefused::BadSignature)?;
        let notice = match self.store.publication(r.notice)?.and_then(|p| p.content) {
            Some(PublicationContent::MeetingNotice(n)) => n,
            _ => return Err(RegistrationRefused::UnknownNotice(r.notice)),
        };
        r.check(r.notice, &notice, entry.contacts.as_ref().map(|c| &c.set), now())?;
        let n = r.participants.len() as u64;
        let e = event(
            Actor::Peer(Some(r.state)),
            Action::MeetingRegistered,
            Some(r.state),
            format!("publication {}", r.notice),
            format!("{n} participant(s) registered"),
        );
        self.store.put_meeting_registration(r.notice, signed, &e)?;
        self.store.flush().await?;
        Ok((r.notice, n))
    }

    /// The registrations for the latest meeting (Secretariat).
    pub fn registrations(&self) -> Result<Registrations, PublicationsError> {
        self.secretariat_only()?;
        let (notice, _) = self.latest_notice()?.ok_or(PublicationsError::NoNotice)?;
        let mut per_state = BTreeMap::new();
        let mut per_language = BTreeMap::new();
        let registrations: Vec<RegistrationView> = self
            .store
            .meeting_registrations(notice)?
            .into_iter()
            .map(|s| {
                let r = s.registration;
                per_state.insert(r.state, r.participants.len());
                for p in &r.participants {
                    *per_language.entry(p.language).or_insert(0) += 1;
                }
                RegistrationView::from(r)
            })
            .collect();
        Ok(Registrations { notice, registrations, per_state, per_language })
    }

    // --- a national node -------------------------------------------------

    /// Signs and keeps this State's report, then submits it.
    pub async fn submit(&self, form: &MeasuresReportForm) -> Result<ReportRecord, PublicationsError> {
        let state = self.national_only()?;
        self.own_entry_active(state)?;
        let now = now();
        let report = form.parse(state, now).map_err(PublicationsError::Invalid)?;
        let signed = SignedMeasuresReport::sign(report, &self.keys.identity)
            .map_err(|e| PublicationsError::Sign(e.to_string()))?;
        let id = signed.id().map_err(|e| PublicationsError::Sign(e.to_string()))?;
        let record = ReportRecord { id, report: signed, status: ReportState::Kept, updated_at: now };
        let e = event(
            Actor::Operator,
            Action::ReportSubmitted,
            None,
            format!("report {id}"),
            format!("signed for the Secretariat: {} measure(s)", record.report.report.measures.len()),
        );
        self.store.put_report(&record, Some(&e))?;
        self.store.flush().await?;
        match self.deliver(record.clone()).await {
            // Kept and signed: the next poll delivers it.
            Err(PublicationsError::Unreachable(why)) => {
                tracing::warn!(%why, "report kept; not yet delivered to the Secretariat");
                Ok(record)
            }
            other => other,
        }
    }

    fn own_entry_active(&self, state: StateCode) -> Result<(), PublicationsError> {
        let view = self.directory.view();
        match view.entry(state) {
            Some(e) if e.is_active() => Ok(()),
            Some(e) => Err(PublicationsError::NotActive(e.status.to_string())),
            None => Err(PublicationsError::NotActive("not listed".into())),
        }
    }

    /// Sends a kept report to the Secretariat and records where it stands.
    /// A refusal no retry can change (the report breaks a rule) is kept as
    /// the report's outcome, so that it is not sent again.
    async fn deliver(&self, mut record: ReportRecord) -> Result<ReportRecord, PublicationsError> {
        let answer = match self.ask(&NetRequest::SubmitReport(Box::new(record.report.clone()))).await {
            Err(PublicationsError::Refused(r)) if r.code == RefusalCode::InvalidBody => {
                NetResponse::Report(ReportStatus::Refused {
                    reason: format!("the Secretariat's node refused it: {}", r.detail),
                })
            }
            answer => answer?,
        };
        let status = match answer {
            NetResponse::Report(ReportStatus::Pending) => ReportState::Pending,
            NetResponse::Report(ReportStatus::Circulated { seq }) => ReportState::Circulated { seq },
            NetResponse::Report(ReportStatus::Refused { reason }) => ReportState::Refused { reason },
            other => return Err(PublicationsError::Unexpected(format!("{other:?}"))),
        };
        if status != record.status {
            let e = match &status {
                ReportState::Refused { reason } => Some(event(
                    Actor::Peer(None),
                    Action::ReportRefused,
                    None,
                    format!("report {}", record.id),
                    reason.clone(),
                )),
                _ => None,
            };
            record.status = status;
            record.updated_at = now();
            self.store.put_report(&record, e.as_ref())?;
            self.store.flush().await?;
        }
        Ok(record)
    }

    /// Asks the Secretariat; a refusal is an error that names it. Every
    /// request here may be handled twice (a report or a registration sent
    /// again replaces itself), so a stale connection is retried once.
    async fn ask(&self, request: &NetRequest) -> Result<NetResponse, PublicationsError> {
        let (peer, addrs) = self
            .directory
            .secretariat_dial()
            .ok_or(PublicationsError::Unreachable("no usable [secretariat] pin in config.toml".into()))?;
        let bytes = codec::encode("request", request).map_err(|e| PublicationsError::Sign(e.to_string()))?;
        let answer = self
            .client
            .request_idempotent(peer, addrs, bytes)
            .await
            .map_err(|e| PublicationsError::Unreachable(e.to_string()))?;
        match codec::decode::<NetResponse, MAX_FRAME>("response", &answer) {
            Ok(NetResponse::Refused(r)) => Err(PublicationsError::Refused(r)),
            Ok(r) => Ok(r),
            Err(e) => Err(PublicationsError::Unexpected(e.to_string())),
        }
    }

    /// The Secretariat announced publication `seq`: fetch now if it is new.
    pub fn announced(&self, seq: u64) {
        let held = self.store.publication_head().ok().flatten().map_or(0, |h| h.seq);
        if seq > held {
            self.wake.notify_one();
        }
    }

    /// One round with the Secretariat (national): reports not yet settled
    /// are sent again to learn their outcome, then the log is fetched and
    /// checked. Returns how many publications were kept.
    pub async fn sync(&self) -> Result<usize, PublicationsError> {
        let state = self.national_only()?;
        let _one = self.one_at_a_time.lock().await;
        self.sync_once(state).await
    }

    async fn sync_once(&self, state: StateCode) -> Result<usize, PublicationsError> {
        if !self.directory.view().entry(state).is_some_and(|e| e.is_active()) {
            // The Secretariat serves its log to active States only.
            return Ok(0);
        }
        for record in self.store.reports()? {
            if matches!(record.status, ReportState::Kept | ReportState::Pending) {
                self.deliver(record).await?;
            }
        }
        let current = self
            .directory
            .secretariat_key()
            .ok_or(PublicationsError::Unreachable("no Secretariat key is known".into()))?;
        // Read only when a publication is not signed by the current key.
        let mut history: Option<Vec<PublicIdentity>> = None;
        let mut accepted = 0;
        loop {
            let head = self.store.publication_head()?;
            let after = head.as_ref().map_or(0, |h| h.seq);
            let publications = match self.ask(&NetRequest::FetchPublications { after }).await? {
                NetResponse::Publications(p) => p,
                other => return Err(PublicationsError::Unexpected(format!("{other:?}"))),
            };
            let n = publications.len();
            let mut previous = head;
            let mut refused = None;
            for p in publications {
                match self.keep(&p, previous.as_ref(), state, current, &mut history) {
                    Ok(()) => {
                        previous = Some(p.header);
                        accepted += 1;
                    }
                    Err(e) => {
                        if let PublicationsError::Rejected(why) = &e {
                            self.record_refusal(&p, why);
                        }
                        refused = Some(e);
                        break;
                    }
                }
            }
            // What was kept before a refusal stays kept.
            if n > 0 {
                self.store.flush().await?;
            }
            if let Some(e) = refused {
                return Err(e);
            }
            if n < MAX_PUBLICATIONS_PER_FETCH {
                return Ok(accepted);
            }
        }
    }

    /// Records a refused publication in the audit log, once.
    fn record_refusal(&self, p: &SignedPublication, why: &PublicationError) {
        let bytes = codec::encode("publication", p).unwrap_or_default();
        let seen = veim_protocol::keys::hash(veim_protocol::keys::domain::PUBLICATION_HASH, &bytes);
        let Ok(mut last) = self.last_refused.lock() else { return };
        if *last == Some(seen) {
            return;
        }
        *last = Some(seen);
        tracing::warn!(seq = p.header.seq, %why, "publication from the Secretariat's node refused");
        let mut entry = publication_event(p, Actor::Peer(None), Action::PublicationRefused);
        entry.detail = why.to_string();
        self.store.record(&entry);
    }

    /// Checks one fetched publication after `previous` and keeps it (with
    /// this State's own report marked circulated, if it is one).
    fn keep(
        &self,
        p: &SignedPublication,
        previous: Option<&PublicationHeader>,
        state: StateCode,
        current: PublicIdentity,
        history: &mut Option<Vec<PublicIdentity>>,
    ) -> Result<(), PublicationsError> {
        let signer = if p.is_signed_by(&current) {
            current
        } else {
            let keys = match history {
                Some(keys) => keys,
                None => history.insert(self.secretariat_keys()?),
            };
            self.older_signer(p, keys)?.unwrap_or(current)
        };
        p.check_successor(previous, &signer, Some(state))?;
        let view = self.directory.view();
        p.check_report(|s| view.entry(s).map(|e| e.identity_key()))?;
        p.check_csp_report(&signer, |s| view.entry(s).map(|e| e.identity_key()))?;
        let own = match &p.content {
            Some(PublicationContent::CirculatedReport(r)) if r.report.state == state => {
                let id = r.id().map_err(|e| PublicationsError::Sign(e.to_string()))?;
                self.store.report(&id)?.map(|mut rec| {
                    rec.status = ReportState::Circulated { seq: p.header.seq };
                    rec.updated_at = now();
                    rec
                })
            }
            _ => None,
        };
        let e = publication_event(p, Actor::Peer(None), Action::PublicationAccepted);
        self.store.put_publication(p, own.as_ref(), &e)?;
        Ok(())
    }

    /// The keys the Secretariat signed with, oldest first: the pinned one,
    /// then each one a directory version this node holds handed over to.
    fn secretariat_keys(&self) -> Result<Vec<PublicIdentity>, StoreError> {
        let mut keys: Vec<PublicIdentity> = self.directory.pinned_key().into_iter().collect();
        let mut after = 0;
        loop {
            let batch = self.store.directory_versions_after(after, 16)?;
            let Some(last) = batch.last() else { break };
            after = last.body.version;
            keys.extend(batch.iter().filter_map(|v| v.body.handover.as_ref().map(|h| h.next_key)));
        }
        if let Some(current) = self.directory.secretariat_key()
            && !keys.contains(&current)
        {
            keys.push(current);
        }
        Ok(keys)
    }

    /// For a publication the current key did not sign: the earlier key of
    /// the Secretariat that did (publications made before a handover), if
    /// it is no older than the key that signed the publication held before
    /// it. `None` when no key fits: the checks then name the current key.
    fn older_signer(
        &self,
        p: &SignedPublication,
        keys: &[PublicIdentity],
    ) -> Result<Option<PublicIdentity>, StoreError> {
        let Some(index) = keys.iter().position(|k| p.is_signed_by(k)) else { return Ok(None) };
        let before = match p.header.seq.checked_sub(1).filter(|s| *s > 0) {
            Some(seq) => self.store.publication(seq)?,
            None => None,
        };
        let floor = before.and_then(|b| keys.iter().position(|k| b.is_signed_by(k))).unwrap_or(0);
        Ok((index >= floor).then(|| keys[index]))
    }

    /// Registers this State's participants for the latest meeting: each
    /// named by an e-mail address of one of its points of contact.
    pub async fn register_participants(
        &self,
        choices: &[ParticipantChoice],
    ) -> Result<SignedMeetingRegistration, PublicationsError> {
        let state = self.national_only()?;
        let (notice, _) = self.latest_notice()?.ok_or(PublicationsError::NoNotice)?;
        let view = self.directory.view();
        let own =
            view.entry(state).and_then(|e| e.contacts.as_ref()).map(|c| c.set.contacts.clone()).unwrap_or_default();
        let participants = choices
            .iter()
            .map(|c| {
                let email = c.email.trim().to_string();
                let name = c.name.clone().map(|n| n.trim().to_string()).unwrap_or_else(|| {
                    own.iter().find(|p| p.emails.contains(&email)).map(|p| p.name.clone()).unwrap_or_default()
                });
                Participant { name, email, language: c.language }
            })
            .collect();
        let registration = MeetingRegistration { state, notice, participants, signed_at: now() };
        let signed = SignedMeetingRegistration::sign(registration, &self.keys.identity)
            .map_err(|e| PublicationsError::Sign(e.to_string()))?;
        match self.ask(&NetRequest::RegisterForMeeting(Box::new(signed.clone()))).await? {
            NetResponse::MeetingRegistered { .. } => {}
            other => return Err(PublicationsError::Unexpected(format!("{other:?}"))),
        }
        let e = event(
            Actor::Operator,
            Action::MeetingRegistered,
            None,
            format!("publication {notice}"),
            format!("{} participant(s) registered with the Secretariat", signed.registration.participants.len()),
        );
        self.store.put_meeting_registration(notice, &signed, &e)?;
        self.store.flush().await?;
        Ok(signed)
    }

    /// This State's latest registration for the latest meeting (national).
    pub fn own_registration(&self) -> Result<Option<SignedMeetingRegistration>, PublicationsError> {
        let state = self.national_only()?;
        let Some((notice, _)) = self.latest_notice()? else { return Ok(None) };
        Ok(self.store.meeting_registrations(notice)?.into_iter().find(|r| r.registration.state == state))
    }
}

/// What marks an address invited to the meeting of publication `seq`.
fn invite_mark(seq: u64, email: &str) -> Vec<u8> {
    format!("meeting-invited/{seq}/{}", email.to_ascii_lowercase()).into_bytes()
}

/// A report's status in words, for people.
pub fn report_status(status: &ReportState) -> String {
    describe(status)
}
