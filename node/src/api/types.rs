//! The admin API's requests and answers, as the `veim` CLI and the web
//! console read and write them: plain data, with no server and no storage
//! behind it. The records and views of other modules that the API returns
//! are named here too, so that a client needs this module alone.

pub use crate::attachments::AttachmentView;
pub use crate::directory::public::{PublicContact, PublicDirectory, PublicEntry};
pub use crate::directory::{Standing, StandingState};
pub use crate::home::config::Role;
pub use crate::storage::{
    Delivery, DeliveryState, Direction, DisclosureSummary, ExchangeRecord, ExchangeStatus, MessageRecord,
};
pub use crate::terms::{
    AskConsent, ConsentStatus, ConsentView, DecideConsent, Disclose, DisclosureRequestView, Reciprocity,
};
pub use crate::tracking::{
    CounterpartFigures, Counts, Figures, Overdue, ProvisionFigures, RecordedMeasure, ResponseTimes, StageChange,
    TrackedExchange,
};
pub use veim_protocol::MeasureForm;

use serde::{Deserialize, Serialize};
use veim_protocol::contacts::{ContactSetForm, PointOfContact, Visibility};
use veim_protocol::{Body, Handling, MessageId, MessageKind, RequestForm, ResponseForm, StateCode};

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
    /// National node: its registration with the Secretariat, in words...
    pub registration: Option<String>,
    /// ...and typed: state, directory version, reason, time.
    #[serde(default)]
    pub registration_standing: Option<Standing>,
    /// National node: its latest points of contact, in words...
    pub contacts: Option<String>,
    /// ...and typed.
    #[serde(default)]
    pub contacts_standing: Option<Standing>,
    /// When the last round with the Secretariat succeeded, Unix seconds.
    pub last_sync: Option<i64>,
    /// Why the last round with the Secretariat failed, if it did, and when.
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_error_at: Option<i64>,
    /// Why the store could not write to disk, if it could not: the node
    /// restarts itself to reopen it.
    #[serde(default)]
    pub store_failure: Option<String>,
    pub started_at: i64,
    /// How far this node's clock is ahead of its peers' (negative: behind),
    /// in seconds, as their receipts show it; `None` before the first one.
    #[serde(default)]
    pub clock_offset_secs: Option<i64>,
    /// What `GET /readyz` answers.
    #[serde(default)]
    pub readiness: Readiness,
    /// Secretariat: what it learned from the national nodes at its start
    /// (after a restore from a backup, the versions published since).
    #[serde(default)]
    pub recovery: Option<String>,
    /// Secretariat: until that catch-up is done, what it waits for (it
    /// publishes nothing meanwhile).
    #[serde(default)]
    pub catching_up: Option<String>,
}

/// Whether the node can do its work, as `GET /readyz` answers (200 when
/// `ready`, 503 otherwise) and `veim status` shows. Nothing in it is
/// confidential: the endpoint answers without the token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    /// Every check, passed or failed.
    pub checks: Vec<ReadinessCheck>,
}

impl Readiness {
    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &ReadinessCheck> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessCheck {
    pub check: HealthCheck,
    pub ok: bool,
    /// What was found, in words.
    pub detail: String,
}

/// What `GET /readyz` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheck {
    /// The store can write to disk.
    Store,
    /// The swarm runs and listens.
    Network,
    /// A directory version is held, recent enough, and (national node)
    /// lists this State as active.
    Directory,
}

impl std::fmt::Display for HealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HealthCheck::Store => "store",
            HealthCheck::Network => "network",
            HealthCheck::Directory => "directory",
        })
    }
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
    /// The State's UN M49 region ("americas"), if the standard places it.
    #[serde(default)]
    pub region: Option<String>,
    /// ...and subregion ("central-america").
    #[serde(default)]
    pub subregion: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DirectoryListing {
    pub version: u64,
    pub issued_at: Option<i64>,
    pub hash: Option<String>,
    pub entries: Vec<EntryView>,
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

#[derive(Debug, Serialize, Deserialize)]
pub struct PendingView {
    pub state: StateCode,
    pub name: String,
    pub fingerprint: String,
    pub operator: String,
    pub addresses: Vec<String>,
    pub signed_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ApproveRequest {
    pub state: String,
    /// The key fingerprint the Secretariat's operator checked with the State.
    pub fingerprint: String,
}

/// Several States admitted in one directory version.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApproveManyRequest {
    pub approvals: Vec<ApproveRequest>,
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

#[derive(Debug, Serialize, Deserialize)]
pub struct StatusChangeRequest {
    pub state: String,
    pub action: veim_protocol::EntryAction,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ContactsView {
    pub state: StateCode,
    pub name: String,
    pub entry_visibility: Visibility,
    pub submitted_at: i64,
    pub contacts: Vec<PointOfContact>,
    /// National node: where the submission stands, in words...
    pub status: Option<String>,
    /// ...and typed: state, directory version, reason, time.
    #[serde(default)]
    pub standing: Option<Standing>,
}

impl ContactsView {
    pub fn new(
        set: &veim_protocol::contacts::ContactSet,
        status: Option<String>,
        standing: Option<Standing>,
    ) -> ContactsView {
        ContactsView {
            state: set.state,
            name: set.state.name().to_string(),
            entry_visibility: set.entry_visibility,
            submitted_at: set.submitted_at,
            contacts: set.contacts.clone(),
            status,
            standing,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SubmitContactsRequest {
    pub contacts: ContactSetForm,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ContactsDecision {
    pub state: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RotationView {
    /// Fingerprint of the new identity key.
    pub fingerprint: String,
    pub registration: Option<String>,
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

#[derive(Debug, Serialize, Deserialize)]
pub struct SendRequest {
    pub to: Vec<String>,
    pub request: RequestForm,
}

/// An exchange in a list: its record and the summary of its request
/// (opened with the storage key; `None` once purged).
#[derive(Debug, Serialize, Deserialize)]
pub struct ExchangeSummary {
    #[serde(flatten)]
    pub exchange: ExchangeRecord,
    pub summary: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExchangeView {
    pub exchange: ExchangeRecord,
    pub summary: Option<String>,
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RespondRequest {
    pub response: ResponseForm,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct NoteRequest {
    pub text: String,
    /// The node's default restrictions when absent.
    #[serde(default)]
    pub handling: Option<Handling>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CloseRequest {
    #[serde(default)]
    pub reason: String,
    /// What the exchange came to: `diversion-confirmed`,
    /// `diversion-prevented`, `risk-mitigated`, `not-confirmed`,
    /// `inconclusive` or `other:TEXT`. Absent: a plain close, whose outcome
    /// is not recorded (as clients of the first release close).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// A move of an exchange's stage.
#[derive(Debug, Serialize, Deserialize)]
pub struct StageMoveRequest {
    /// `risk-analysis`, `diversion-detected`, `reached-end-user` or `other:TEXT`.
    pub stage: String,
    #[serde(default)]
    pub text: String,
}

/// The date by which the requesting State asks for a response.
#[derive(Debug, Serialize, Deserialize)]
pub struct RespondByRequest {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    #[serde(default)]
    pub text: String,
}

/// The period of `/v1/track/figures`: days `YYYY-MM-DD` (UTC), both
/// included; by default the 365 days that end today.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FiguresQuery {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RevokeRequest {
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeRequest {
    /// Purge content received more than this many seconds ago; the node's
    /// retention policy when absent.
    #[serde(default)]
    pub older_than_secs: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeView {
    pub older_than_secs: i64,
    pub purged: Vec<MessageId>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StageRequest {
    /// A file on the node's machine.
    pub path: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SaveRequest {
    /// The file to write, on the node's machine.
    pub out: String,
    /// Replace `out` if it exists; otherwise an existing file is refused
    /// (absent in requests from older clients: refused).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AttachRequest {
    #[serde(default)]
    pub text: String,
    /// Staged attachments, by id or unique prefix.
    pub attachments: Vec<String>,
    #[serde(default)]
    pub handling: Option<Handling>,
}

/// `POST /v1/backup`: the node answers with the encrypted backup itself
/// (`application/octet-stream`), and what it holds in the header
/// `veim-backup` (a `BackupInfo` as JSON).
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupRequest {
    /// Encrypts the backup (age, scrypt); at least 12 characters.
    pub passphrase: String,
}

pub use crate::backup::BackupInfo;

/// The header of a backup answer that carries its `BackupInfo`.
pub const BACKUP_INFO_HEADER: &str = "veim-backup";

/// Which page of a listing and which of its items: the query parameters of
/// `GET /v1/inbox`, `/v1/outbox` and `/v1/exchanges`. Every filter given
/// must hold. The answer is the page's items, oldest first for messages and
/// most recently changed first for exchanges, with the number of items that
/// pass the filters, on every page, in the header [`TOTAL_HEADER`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1 to [`PAGE_MAX`]; [`PAGE_DEFAULT`] when absent and a
    /// page is named. With neither `limit` nor `page`, the whole listing
    /// (as the first release answered; its size then has no bound).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The page, counted from 1.
    #[serde(default)]
    pub page: Option<usize>,
    /// Sent messages: a copy in this delivery state (`queued`, `attempting`,
    /// `delivered`, `refused`, `failed`). Exchanges: `open`, `answered` or
    /// `closed`.
    #[serde(default)]
    pub state: Option<String>,
    /// Messages of this kind (`request`, `response`, `note`, `close`,
    /// `consent-request`, `consent-decision`, `consent-revocation`,
    /// `attachments`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Stored (exchanges: last changed) at or after this time, Unix seconds.
    #[serde(default)]
    pub since: Option<i64>,
    /// Stored (exchanges: last changed) at or before this time, Unix seconds.
    #[serde(default)]
    pub until: Option<i64>,
    /// An exchange id, or its first hex digits.
    #[serde(default)]
    pub exchange: Option<String>,
}

/// The query of `GET /v1/track`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrackQuery {
    /// Only the open exchanges that need this State: a request it has not
    /// answered, or one overdue (the dashboard's view). Only these are read
    /// whole, so this costs little however many exchanges are open.
    #[serde(default)]
    pub attention: bool,
}

/// Which page of a listing that has no filters: the query parameters of
/// `GET /v1/consents`, `/v1/disclosures`, `/v1/attachments` and
/// `/v1/directory/history`, which answer the total in [`TOTAL_HEADER`] too.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1 to [`PAGE_MAX`]; [`PAGE_DEFAULT`] when absent and a
    /// page is named; the whole listing with neither.
    #[serde(default)]
    pub limit: Option<usize>,
    /// The page, counted from 1.
    #[serde(default)]
    pub page: Option<usize>,
}

/// Which entries of the directory: the query parameters of
/// `GET /v1/directory`. Every filter given must hold; the answer's
/// `entries` are the page asked for, and [`TOTAL_HEADER`] says how many
/// entries pass the filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DirectoryQuery {
    /// Entries per page, as [`PageQuery`]'s; every entry with neither
    /// `limit` nor `page`.
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub page: Option<usize>,
    /// A State: its ISO 3166-1 alpha-3 code, or a part of its name
    /// ("mex", "Mexico", "united").
    #[serde(default)]
    pub state: Option<String>,
    /// A UN M49 region or subregion: "americas", "western-africa".
    #[serde(default)]
    pub region: Option<String>,
    /// An ISO 639-1 working language of one of the State's contacts: "es".
    #[serde(default)]
    pub language: Option<String>,
    /// The role of one of the State's contacts: `national-poc`,
    /// `alternate` or `focal-point`.
    #[serde(default)]
    pub role: Option<String>,
}

/// Which form of the public section: the query parameters of
/// `GET /v1/directory/public`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PublicQuery {
    /// `json` (the data, the default) or `html` (a static page to publish).
    #[serde(default)]
    pub format: Option<String>,
    /// The page's language: `en` (the default), `fr` or `es`.
    #[serde(default)]
    pub language: Option<String>,
}

/// Items per page when the query names no limit.
pub const PAGE_DEFAULT: usize = 100;
/// The most items a page holds: a page of messages, each with its envelope,
/// stays a few megabytes.
pub const PAGE_MAX: usize = 1000;
/// The response header carrying how many items pass a listing's filters.
pub const TOTAL_HEADER: &str = "x-total-count";

impl ListQuery {
    /// The query as URL parameters, for a client.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut push = |k, v: Option<String>| {
            if let Some(v) = v {
                out.push((k, v));
            }
        };
        push("limit", self.limit.map(|v| v.to_string()));
        push("page", self.page.map(|v| v.to_string()));
        push("state", self.state.clone());
        push("kind", self.kind.clone());
        push("since", self.since.map(|v| v.to_string()));
        push("until", self.until.map(|v| v.to_string()));
        push("exchange", self.exchange.clone());
        out
    }
}

/// `POST /v1/mail/test`: a test mail, now, outside the queue.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailTestRequest {
    /// The one address to send it to; none: every recipient of `[mail]`,
    /// each in its language.
    #[serde(default)]
    pub to: Option<String>,
}

/// What a test mail reached.
#[derive(Debug, Serialize, Deserialize)]
pub struct MailTestAnswer {
    /// The SMTP server, as `host:port`.
    pub server: String,
    /// The addresses the server took the mail for.
    pub sent_to: Vec<String>,
}

/// A mail waiting for the SMTP server (`GET /v1/mail/queue`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedMailView {
    pub id: u64,
    /// What it tells of: `request-received`, `consent-request-received`,
    /// `response-overdue`, or `letter`.
    pub event: String,
    pub exchange_id: Option<String>,
    pub state: Option<StateCode>,
    pub to: Vec<String>,
    pub language: String,
    pub subject: String,
    pub queued_at: i64,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

/// `POST /v1/csp-reports`: a new draft of a report to the CSP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftReportRequest {
    /// `FROM..TO`, e.g. `2026-01-01..2026-12-31`.
    pub period: String,
    /// Co-authors (State codes), besides this State.
    #[serde(default)]
    pub with: Vec<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// `en`, `fr` or `es` (default `en`).
    #[serde(default)]
    pub language: Option<String>,
}

/// `POST /v1/csp-reports/{id}/update`: a new draft, as the operator edited it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateReportRequest {
    pub report: veim_protocol::report::CspReport,
}

/// `POST /v1/csp-reports/{id}/comment`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportCommentRequest {
    pub text: String,
}

/// Whether the current draft reached a co-author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentView {
    pub state: StateCode,
    /// Why it did not, if it did not.
    pub error: Option<String>,
}

/// A report to the CSP as this node holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportView {
    pub report_id: String,
    pub revision: u32,
    pub drafter: StateCode,
    pub authors: Vec<StateCode>,
    /// The hex of the current draft's hash.
    pub draft_hash: String,
    /// Authors whose approval of the current draft is held here.
    pub approved_by: Vec<StateCode>,
    /// Authors who have not approved the current draft (as far as this node knows).
    pub missing: Vec<StateCode>,
    pub sent: Vec<SentView>,
    pub comments: Vec<crate::storage::CspComment>,
    /// The register number, once registered by the Secretariat.
    pub registered_number: Option<u64>,
    pub registered_at: Option<i64>,
    pub updated_at: i64,
    pub report: veim_protocol::report::CspReport,
}

/// `POST /v1/csp-reports`'s answer: the draft, and what it was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftView {
    pub report: ReportView,
    pub notes: Vec<String>,
}

/// A report in the Secretariat's register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredView {
    pub number: u64,
    pub report_id: String,
    pub revision: u32,
    pub authors: Vec<StateCode>,
    pub title: String,
    pub period: String,
    pub draft_hash: String,
    pub registered_at: i64,
}

pub use crate::publications::{ParticipantChoice, ParticipantRow, RegistrationView, Registrations};
pub use crate::storage::{ReportRecord, ReportState};

/// A report of measures and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasuresReportView {
    /// The report id (its hash), 64 hex digits; operators type its first digits.
    pub id: String,
    pub state: StateCode,
    pub title: String,
    /// Where it stands, in words.
    pub status_text: String,
    pub record: ReportRecord,
}

/// `POST /v1/reports`: the report file, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitReport {
    pub report: veim_protocol::publication::MeasuresReportForm,
}

/// `POST /v1/reports/{id}/refuse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefuseReport {
    pub reason: String,
}

/// One publication of the Secretariat's log, as this node holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicationView {
    pub seq: u64,
    pub published_at: i64,
    /// circulated-report, meeting-notice, meeting-recommendations; or
    /// withheld (published while this State was not active).
    pub kind: String,
    pub audience: Vec<StateCode>,
    /// The publication hash, which the next publication carries.
    pub hash: String,
    pub content: Option<veim_protocol::publication::PublicationContent>,
    /// The publication as signed (header, the Secretariat's signature,
    /// content), for whoever checks it again.
    pub signed: veim_protocol::publication::SignedPublication,
}

/// `POST /v1/publications/sync`: what the fetch brought.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicationsSynced {
    pub accepted: usize,
    pub held: u64,
}

/// `POST /v1/meeting/notice`: the notice file, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishNotice {
    pub notice: veim_protocol::meeting::MeetingNoticeForm,
}

/// `POST /v1/meeting/recommendations`: the recommendations file, as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRecommendations {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub items: Vec<String>,
}

/// `POST /v1/disclosures/requests/{id}/refuse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefuseDisclosure {
    pub reason: String,
}

/// `POST /v1/meeting/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterParticipants {
    pub participants: Vec<ParticipantChoice>,
}

/// The latest meeting: its notice, its recommendations once published, and
/// (national node) this State's registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeetingView {
    pub notice_seq: u64,
    pub notice: veim_protocol::meeting::MeetingNotice,
    pub recommendations: Option<veim_protocol::meeting::Recommendations>,
    pub registration: Option<RegistrationView>,
}

/// `GET /v1/audit`: the entries of the node's audit log that pass every
/// filter given, newest first, a page at a time (the total in
/// [`TOTAL_HEADER`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries per page, 1 to [`PAGE_MAX`]; [`PAGE_DEFAULT`] when absent.
    #[serde(default)]
    pub limit: Option<usize>,
    /// The page, counted from 1.
    #[serde(default)]
    pub page: Option<usize>,
    /// An action, e.g. `consent-granted`, `admin-call`.
    #[serde(default)]
    pub action: Option<String>,
    /// Who acted: an official's account name, a peer's State code, or
    /// `node`, `operator`, `stranger`, `secretariat`.
    #[serde(default)]
    pub actor: Option<String>,
    /// At or after this time, Unix seconds.
    #[serde(default)]
    pub since: Option<i64>,
    /// At or before this time, Unix seconds.
    #[serde(default)]
    pub until: Option<i64>,
    /// An exchange id, or its first hex digits.
    #[serde(default)]
    pub exchange: Option<String>,
    /// The counterpart State.
    #[serde(default)]
    pub state: Option<String>,
}

/// `POST /v1/disclosures/verify`: a disclosure package that verifies, what
/// its proofs establish and what it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageVerified {
    pub verified: veim_protocol::disclosure::Verified,
    pub package: veim_protocol::disclosure::Package,
}
