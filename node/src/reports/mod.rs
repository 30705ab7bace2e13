//! Reports to the Conference of States Parties, individual and joint
//! (protocol `report`, SPEC sections 3.16 and 8.8).
//!
//! On a national node: a draft is built from the node's own exchanges
//! ([`figures`]), edited by the operator and loaded back; each draft is
//! approved by this State (the drafter's node signs it when the draft is
//! made) and sent to every co-author, whose operator approves it (the
//! approval goes back to the drafter) or returns comments. A new draft has a
//! new hash: approvals of an earlier one no longer count, and the draft is
//! sent anew. Once every author approved the current draft, the drafter
//! submits it to the Secretariat. On the Secretariat's node: each submitted
//! report is checked against the directory's keys, numbered in the register
//! and signed.

mod figures;

use crate::clock::now;
use crate::directory::{Directory, dial_info};
use crate::home::keys::NodeKeys;
use crate::home::vault::VaultError;
use crate::net::Client;
use crate::publications::Publications;
use crate::storage::{CspComment, CspReportRecord, RegisteredCspReport, Store, StoreError};
use crate::tracking::{TrackError, Tracking};
use libp2p::PeerId;
use std::sync::Arc;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::ids::ReportId;
use veim_protocol::publication::{PublicationContent, RegisteredReport};
use veim_protocol::report::{
    Approval, CspReport, Language, Period, ReportError, ReportFile, ReportRegistration, SignedCspReport,
    SignedReportRegistration,
};
use veim_protocol::request::MAX_TEXT;
use veim_protocol::wire::{NetRequest, NetResponse, Refusal};
use veim_protocol::{Bytes32, PublicIdentity, StateCode, ValidationErrors};

pub use figures::Drafted;

/// What the operator asks for a new draft.
#[derive(Debug, Clone)]
pub struct NewDraft {
    pub period: Period,
    /// The co-authors (besides this State).
    pub with: Vec<StateCode>,
    pub title: Option<String>,
    pub language: Language,
}

/// Why an operator's step on a report was not done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportsError {
    #[error("reports to the CSP are drafted by a State's national node, not by the Secretariat's")]
    NoState,
    #[error("only the Secretariat's node keeps the register of reports to the CSP")]
    NotSecretariat,
    #[error("the report is not valid:\n{0}")]
    Invalid(ValidationErrors),
    #[error("{0}")]
    Report(#[from] ReportError),
    #[error("no report {0} is held here")]
    NotFound(String),
    #[error("{0:?} names {1} reports; give more of the id")]
    Ambiguous(String, usize),
    #[error("{0:?} is not a report id: give its 32 hex digits, or at least its first 14")]
    BadId(String),
    #[error("only the drafter, {0}, can change, send or submit this report")]
    NotDrafter(StateCode),
    #[error("the drafter {0} approves a draft by making it; approve is for co-authors")]
    DrafterApproves(StateCode),
    #[error("this State ({0}) is not an author of the report")]
    NotAnAuthor(StateCode),
    #[error("{0} is not an active State of the directory: it cannot be an author now")]
    NotActive(StateCode),
    #[error("the draft is the same as the current one (revision {0}); change something first")]
    Unchanged(u32),
    #[error("report {0} changed meanwhile (a new draft came in): look at it again with veim report show")]
    Changed(ReportId),
    #[error("the report was already submitted and registered as number {0}; it cannot change")]
    Registered(u64),
    #[error("cannot submit: the current draft (revision {revision}) is not yet approved by {}", .missing.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "))]
    NotApproved { revision: u32, missing: Vec<StateCode> },
    #[error("{who} could not be reached: {reason}")]
    Unreachable { who: String, reason: String },
    #[error("{state} refused: {refusal}")]
    Refused { state: String, refusal: Refusal },
    #[error("the Secretariat's answer does not verify: {0}")]
    BadRegistration(String),
    #[error("the storage key failed: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Track(#[from] TrackError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a peer's step on a report is refused (`BadReport`, or a store failure).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerReportError {
    #[error("{0}")]
    Bad(String),
    #[error("this node is not the drafter's node of report {0}, or does not hold it")]
    Unknown(ReportId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reports service.
#[derive(Debug)]
pub struct Reports {
    store: Store,
    keys: Arc<NodeKeys>,
    directory: Arc<Directory>,
    client: Client,
    tracking: Arc<Tracking>,
    /// Where a registered report is published to every State (Secretariat).
    publications: Arc<Publications>,
    /// The State this node speaks for (none on the Secretariat).
    state: Option<StateCode>,
    /// One change of a report, or one registration, at a time.
    changing: tokio::sync::Mutex<()>,
}

fn report_event(actor: Actor, action: Action, draft: &CspReport, hash: Bytes32) -> Event {
    let mut e = Event::new(now(), actor, action);
    e.object = Some(format!("csp report {} revision {}", draft.report_id, draft.revision));
    e.hash = Some(hash);
    e
}

impl Reports {
    pub fn new(
        store: Store,
        keys: Arc<NodeKeys>,
        directory: Arc<Directory>,
        client: Client,
        tracking: Arc<Tracking>,
        publications: Arc<Publications>,
        state: Option<StateCode>,
    ) -> Reports {
        Reports { store, keys, directory, client, tracking, publications, state, changing: Default::default() }
    }

    fn me(&self) -> Result<StateCode, ReportsError> {
        self.state.ok_or(ReportsError::NoState)
    }

    /// A report by its full id or a unique prefix of at least 14 hex digits.
    pub fn find(&self, prefix: &str) -> Result<CspReportRecord, ReportsError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if let Ok(id) = prefix.parse::<ReportId>() {
            return self.store.csp_report(id)?.ok_or(ReportsError::NotFound(prefix));
        }
        if prefix.len() < ReportId::SHORT_HEX || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReportsError::BadId(prefix));
        }
        let mut found: Vec<CspReportRecord> = self
            .store
            .csp_reports()?
            .into_iter()
            .filter(|r| r.signed.draft.report_id.to_hex().starts_with(&prefix))
            .collect();
        match found.len() {
            0 => Err(ReportsError::NotFound(prefix)),
            1 => Ok(found.remove(0)),
            n => Err(ReportsError::Ambiguous(prefix, n)),
        }
    }

    pub fn list(&self) -> Result<Vec<CspReportRecord>, ReportsError> {
        self.me()?;
        Ok(self.store.csp_reports()?)
    }

    /// A new report, revision 1, built from this node's exchanges in the
    /// period; signed by this State and sent to the co-authors.
    pub async fn draft(&self, new: NewDraft) -> Result<(CspReportRecord, Drafted), ReportsError> {
        let me = self.me()?;
        let mut authors = vec![me];
        for s in new.with {
            if !authors.contains(&s) {
                authors.push(s);
            }
        }
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let report_id = ReportId::issued_by(me, &mut rng);
        let drafted = figures::build(&self.tracking, now(), me, &authors, &new.period)?;
        let report = CspReport {
            report_id,
            revision: 1,
            drafter: me,
            authors,
            period: new.period.clone(),
            language: new.language,
            title: new.title.unwrap_or_else(|| format!("Report to the Conference of States Parties, {}", new.period)),
            figures: drafted.figures.clone(),
            counterparts: drafted.counterparts.clone(),
            sections: Vec::new(),
            drafted_at: now(),
        };
        let record = self.make_draft(me, report, None).await?;
        Ok((record, drafted))
    }

    /// Loads an edited draft: a new revision of a report this State drafts.
    pub async fn update(&self, mut report: CspReport) -> Result<CspReportRecord, ReportsError> {
        let me = self.me()?;
        let held = self.store.csp_report(report.report_id)?;
        if let Some(h) = &held {
            if h.signed.draft.drafter != me {
                return Err(ReportsError::NotDrafter(h.signed.draft.drafter));
            }
            if let Some(r) = &h.registration {
                return Err(ReportsError::Registered(r.registration.number));
            }
            // Same content as the current draft: nothing to approve anew.
            let mut same = report.clone();
            same.revision = h.signed.draft.revision;
            same.drafted_at = h.signed.draft.drafted_at;
            if same == h.signed.draft {
                return Err(ReportsError::Unchanged(h.signed.draft.revision));
            }
            report.revision = h.signed.draft.revision + 1;
        } else if report.drafter != me {
            return Err(ReportsError::NotDrafter(report.drafter));
        }
        report.drafted_at = now();
        self.make_draft(me, report, held).await
    }

    /// Checks, signs, stores and sends a draft of this State's.
    async fn make_draft(
        &self,
        me: StateCode,
        report: CspReport,
        held: Option<CspReportRecord>,
    ) -> Result<CspReportRecord, ReportsError> {
        report.validate().map_err(ReportsError::Invalid)?;
        report.check_named()?;
        let view = self.directory.view();
        if let Some(s) = report.authors.iter().find(|s| view.entry(**s).is_none_or(|e| !e.is_active())) {
            return Err(ReportsError::NotActive(*s));
        }
        let approval = Approval::sign(&report, me, &self.keys.identity).map_err(ReportError::from)?;
        let hash = approval.draft_hash;
        let record = {
            let _changing = self.changing.lock().await;
            let current = self.store.csp_report(report.report_id)?.map(|r| r.signed.draft.revision);
            if current != held.as_ref().map(|h| h.signed.draft.revision) {
                return Err(ReportsError::Changed(report.report_id));
            }
            let record = CspReportRecord {
                signed: SignedCspReport { draft: report, approvals: vec![approval] },
                comments: held.map(|h| h.comments).unwrap_or_default(),
                sent: Vec::new(),
                registration: None,
                updated_at: now(),
            };
            let mut event = report_event(Actor::Operator, Action::CspReportDrafted, &record.signed.draft, hash);
            let others: Vec<StateCode> = record.signed.draft.authors.iter().filter(|s| **s != me).copied().collect();
            event.detail = format!("to be sent to {}", states(&others));
            self.keep(record, &event).await?
        };
        // Sent without holding the lock: a co-author's node may be sending
        // this node an approval at the same time.
        let sent = self.send_draft(&record.signed).await;
        self.note_sent(record, hash, sent, None).await
    }

    /// Records where the draft of `hash` reached; if the report has moved
    /// on meanwhile, the newer record stands.
    async fn note_sent(
        &self,
        record: CspReportRecord,
        hash: Bytes32,
        sent: Vec<(StateCode, Option<String>)>,
        event: Option<Event>,
    ) -> Result<CspReportRecord, ReportsError> {
        let _changing = self.changing.lock().await;
        let id = record.signed.draft.report_id;
        let mut current = self.store.csp_report(id)?.unwrap_or(record);
        if current.signed.draft.draft_hash().map_err(ReportError::from)? != hash {
            return Err(ReportsError::Changed(id));
        }
        current.sent = sent;
        current.updated_at = now();
        match event {
            Some(mut event) => {
                event.detail = sent_detail(&current.sent);
                Ok(self.keep(current, &event).await?)
            }
            None => {
                self.store.update_csp_report(&current)?;
                self.store.flush().await?;
                Ok(current)
            }
        }
    }

    /// Stores a changed record with the audit entry of the change, durably.
    async fn keep(&self, mut record: CspReportRecord, event: &Event) -> Result<CspReportRecord, StoreError> {
        record.updated_at = now();
        self.store.put_csp_report(&record, event)?;
        self.store.flush().await?;
        Ok(record)
    }

    /// A report this State co-authors (not drafts), for its operator to act on.
    fn co_authored(&self, id: &str) -> Result<(StateCode, CspReportRecord), ReportsError> {
        let me = self.me()?;
        let record = self.find(id)?;
        let draft = &record.signed.draft;
        if draft.drafter == me {
            return Err(ReportsError::DrafterApproves(me));
        }
        if !draft.authors.contains(&me) {
            return Err(ReportsError::NotAnAuthor(me));
        }
        Ok((me, record))
    }

    /// The record of a report whose current draft is still the one of `hash`.
    fn unchanged(&self, id: ReportId, hash: Bytes32) -> Result<CspReportRecord, ReportsError> {
        let record = self.store.csp_report(id)?.ok_or_else(|| ReportsError::NotFound(id.to_hex()))?;
        if record.signed.draft.draft_hash().map_err(ReportError::from)? != hash {
            return Err(ReportsError::Changed(id));
        }
        Ok(record)
    }

    /// Sends the current draft to every co-author: who got it, and why not.
    async fn send_draft(&self, signed: &SignedCspReport) -> Vec<(StateCode, Option<String>)> {
        let mut sent = Vec::new();
        for s in signed.draft.authors.iter().filter(|s| **s != signed.draft.drafter) {
            let outcome = self.ask_state(*s, &NetRequest::CspDraft(Box::new(signed.clone()))).await;
            sent.push((*s, outcome.err().map(|e| e.to_string())));
        }
        sent
    }

    /// Sends the current draft again to the co-authors it has not reached.
    pub async fn resend(&self, id: &str) -> Result<CspReportRecord, ReportsError> {
        let me = self.me()?;
        let record = self.find(id)?;
        if record.signed.draft.drafter != me {
            return Err(ReportsError::NotDrafter(record.signed.draft.drafter));
        }
        let sent = self.send_draft(&record.signed).await;
        let hash = record.signed.draft.draft_hash().map_err(ReportError::from)?;
        let event = report_event(Actor::Operator, Action::CspReportDrafted, &record.signed.draft, hash);
        self.note_sent(record, hash, sent, Some(event)).await
    }

    /// A co-author approves the current draft: signed, kept, and sent to
    /// the drafter.
    pub async fn approve(&self, id: &str) -> Result<CspReportRecord, ReportsError> {
        let (me, record) = self.co_authored(id)?;
        let draft = &record.signed.draft;
        let approval = Approval::sign(draft, me, &self.keys.identity).map_err(ReportError::from)?;
        let request = NetRequest::CspApproval { report_id: draft.report_id, approval: approval.clone() };
        // Sent without holding the lock: the drafter may be sending this
        // node a new draft at the same time.
        self.ask_state(draft.drafter, &request).await?;
        let _changing = self.changing.lock().await;
        let mut record = self.unchanged(draft.report_id, approval.draft_hash)?;
        let draft = &record.signed.draft;
        let event = report_event(Actor::Operator, Action::CspReportApproved, draft, approval.draft_hash);
        record.signed.approvals.retain(|a| a.signer != me);
        record.signed.approvals.push(approval);
        Ok(self.keep(record, &event).await?)
    }

    /// A co-author returns comments on the current draft to the drafter.
    pub async fn comment(&self, id: &str, text: String) -> Result<CspReportRecord, ReportsError> {
        check_comment(&text).map_err(ReportsError::Invalid)?;
        let (me, record) = self.co_authored(id)?;
        let draft = &record.signed.draft;
        let draft_hash = draft.draft_hash().map_err(ReportError::from)?;
        let request = NetRequest::CspComment { report_id: draft.report_id, draft_hash, text: text.clone() };
        self.ask_state(draft.drafter, &request).await?;
        let _changing = self.changing.lock().await;
        let mut record = self.unchanged(draft.report_id, draft_hash)?;
        let draft = &record.signed.draft;
        let mut event = report_event(Actor::Operator, Action::CspReportCommented, draft, draft_hash);
        event.detail = format!("{} bytes", text.len());
        record.comments.push(CspComment { from: me, revision: draft.revision, draft_hash, text, at: now() });
        Ok(self.keep(record, &event).await?)
    }

    /// The drafter submits a report every author approved to the
    /// Secretariat, and keeps its registration.
    pub async fn submit(&self, id: &str) -> Result<CspReportRecord, ReportsError> {
        let me = self.me()?;
        let _changing = self.changing.lock().await;
        let mut record = self.find(id)?;
        let draft = &record.signed.draft;
        if draft.drafter != me {
            return Err(ReportsError::NotDrafter(draft.drafter));
        }
        if let Some(r) = &record.registration {
            return Err(ReportsError::Registered(r.registration.number));
        }
        let missing = record.signed.missing();
        if !missing.is_empty() {
            return Err(ReportsError::NotApproved { revision: draft.revision, missing });
        }
        let view = self.directory.view();
        let hash = record.signed.verify(|s| view.entry(s).map(|e| e.identity_key()))?;
        let no_pin = || ReportsError::Unreachable {
            who: "the Secretariat".into(),
            reason: "this node knows no Secretariat key or address (check the configuration's pin)".into(),
        };
        let secretariat = self.directory.secretariat_key().ok_or_else(no_pin)?;
        let (peer, addrs) = self.directory.secretariat_dial().ok_or_else(no_pin)?;
        let request = NetRequest::SubmitCspReport(Box::new(record.signed.clone()));
        let answer = self.ask(peer, addrs, &request, "the Secretariat".into()).await?;
        let NetResponse::CspReportRegistered(registration) = answer else {
            return Err(ReportsError::BadRegistration(format!("it answered {answer:?}")));
        };
        registration.verify(&secretariat).map_err(|e| ReportsError::BadRegistration(e.to_string()))?;
        let r = &registration.registration;
        if r.report_id != draft.report_id || r.draft_hash != hash {
            return Err(ReportsError::BadRegistration("it registers another report or draft".into()));
        }
        let mut event = report_event(Actor::Operator, Action::CspReportSubmitted, draft, hash);
        event.detail = format!("register number {}", r.number);
        record.registration = Some(*registration);
        Ok(self.keep(record, &event).await?)
    }

    /// The report as a file that verifies offline: the authors' keys from
    /// the directory (the Secretariat's registration's, once registered).
    pub fn file(&self, id: &str) -> Result<ReportFile, ReportsError> {
        if self.state.is_some() {
            match self.find(id) {
                Ok(record) => return self.own_file(record),
                Err(ReportsError::NotFound(_) | ReportsError::BadId(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let id = id.trim().to_ascii_lowercase();
        let found = self
            .register()?
            .into_iter()
            .find(|r| {
                r.signed.draft.report_id.to_hex().starts_with(&id) && id.len() >= ReportId::SHORT_HEX
                    || r.registration.registration.number.to_string() == id
            })
            .ok_or(ReportsError::NotFound(id))?;
        let keys = found.registration.registration.keys.clone();
        let secretariat = match self.state {
            None => self.keys.identity.public(),
            Some(_) => self.directory.secretariat_key().ok_or_else(|| {
                ReportsError::BadRegistration(
                    "this node knows no Secretariat key (check the configuration's pin)".into(),
                )
            })?,
        };
        Ok(ReportFile::new(&found.signed, keys, Some((found.registration, secretariat))).map_err(ReportError::from)?)
    }

    /// A file of a report this national node drafted or co-authors.
    fn own_file(&self, record: CspReportRecord) -> Result<ReportFile, ReportsError> {
        let registration =
            record.registration.map(|r| (r, self.directory.secretariat_key())).and_then(|(r, k)| Some((r, k?)));
        let keys = match &registration {
            Some((r, _)) => r.registration.keys.clone(),
            None => {
                let view = self.directory.view();
                record.signed.draft.authors.iter().filter_map(|s| Some((*s, view.entry(*s)?.identity_key()))).collect()
            }
        };
        Ok(ReportFile::new(&record.signed, keys, registration).map_err(ReportError::from)?)
    }

    /// The register of reports to the CSP: the Secretariat's own, or on a
    /// national node those its publication log carries.
    pub fn register(&self) -> Result<Vec<RegisteredCspReport>, ReportsError> {
        if self.state.is_none() {
            return Ok(self.store.csp_register()?);
        }
        let mut held = Vec::new();
        for p in self.store.publications_after(0, usize::MAX)? {
            if let Some(PublicationContent::CspReport(r)) = p.content {
                let RegisteredReport { report, registration } = *r;
                held.push(RegisteredCspReport { signed: report, registration });
            }
        }
        Ok(held)
    }

    /// Asks the node of `state` (active in the directory) `request`.
    async fn ask_state(&self, state: StateCode, request: &NetRequest) -> Result<NetResponse, ReportsError> {
        let view = self.directory.view();
        let entry = view.entry(state).filter(|e| e.is_active()).ok_or(ReportsError::NotActive(state))?;
        let (peer, addrs) = dial_info(entry).ok_or_else(|| ReportsError::Unreachable {
            who: state.to_string(),
            reason: "its directory entry has no address".into(),
        })?;
        self.ask(peer, addrs, request, state.to_string()).await
    }

    async fn ask(
        &self,
        peer: PeerId,
        addrs: Vec<libp2p::Multiaddr>,
        request: &NetRequest,
        who: String,
    ) -> Result<NetResponse, ReportsError> {
        let bytes = codec::encode("request", request).map_err(ReportError::from)?;
        let answer = self.client.request_idempotent(peer, addrs, bytes).await;
        let bytes = answer.map_err(|e| ReportsError::Unreachable { who: who.clone(), reason: e.to_string() })?;
        match codec::decode::<NetResponse, MAX_FRAME>("response", &bytes) {
            Ok(NetResponse::Refused(refusal)) => Err(ReportsError::Refused { state: who, refusal }),
            Ok(r) => Ok(r),
            Err(e) => Err(ReportsError::Unreachable { who, reason: format!("its answer does not decode: {e}") }),
        }
    }

    // --- What peers ask. ---

    /// A co-author's node receives a draft from its drafter (`peer_state`).
    pub async fn receive_draft(&self, peer_state: StateCode, signed: SignedCspReport) -> Result<(), PeerReportError> {
        let me = self.state.ok_or_else(|| PeerReportError::Bad("this node speaks for no State".into()))?;
        let draft = &signed.draft;
        let bad = |why: String| Err(PeerReportError::Bad(why));
        if draft.drafter != peer_state {
            return bad(format!("the draft is {}'s, not {peer_state}'s", draft.drafter));
        }
        if !draft.authors.contains(&me) || draft.drafter == me {
            return bad(format!("{me} is not a co-author of this report"));
        }
        draft.validate().map_err(|e| PeerReportError::Bad(format!("the draft is not valid: {e}")))?;
        draft.check_named().map_err(|e| PeerReportError::Bad(e.to_string()))?;
        let hash = draft.draft_hash().map_err(|e| PeerReportError::Bad(e.to_string()))?;
        let view = self.directory.view();
        let key_of = |s: StateCode| view.entry(s).map(|e| e.identity_key());
        let drafters = signed.approvals.iter().find(|a| a.signer == draft.drafter);
        match drafters {
            Some(a) if a.draft_hash == hash && key_of(a.signer).is_some_and(|k| a.verify(&k).is_ok()) => {}
            _ => return bad(format!("the draft carries no valid approval of its drafter {}", draft.drafter)),
        }
        let _changing = self.changing.lock().await;
        let held = self.store.csp_report(draft.report_id)?;
        if let Some(h) = &held {
            let held_hash = h.signed.draft.draft_hash().map_err(|e| PeerReportError::Bad(e.to_string()))?;
            if h.signed.draft.revision > draft.revision
                || (h.signed.draft.revision == draft.revision && held_hash != hash)
            {
                return bad(format!("revision {} of this report is already held", h.signed.draft.revision));
            }
            if held_hash == hash {
                return Ok(());
            }
        }
        // Keep only the approvals of this exact draft that verify.
        let approvals = signed
            .approvals
            .iter()
            .filter(|a| a.draft_hash == hash && draft.authors.contains(&a.signer))
            .filter(|a| key_of(a.signer).is_some_and(|k| a.verify(&k).is_ok()))
            .cloned()
            .collect();
        let record = CspReportRecord {
            signed: SignedCspReport { draft: draft.clone(), approvals },
            comments: held.map(|h| h.comments).unwrap_or_default(),
            sent: Vec::new(),
            registration: None,
            updated_at: now(),
        };
        let event = report_event(Actor::Peer(Some(peer_state)), Action::CspReportReceived, draft, hash);
        self.keep(record, &event).await?;
        Ok(())
    }

    /// The drafter's node receives a co-author's approval.
    pub async fn receive_approval(
        &self,
        peer_state: StateCode,
        report_id: ReportId,
        approval: Approval,
        key: PublicIdentity,
    ) -> Result<(), PeerReportError> {
        let _changing = self.changing.lock().await;
        let mut record = self.drafted(report_id)?;
        let draft = &record.signed.draft;
        let bad = |why: String| Err(PeerReportError::Bad(why));
        if approval.signer != peer_state || !draft.authors.contains(&peer_state) {
            return bad(format!("{peer_state} is not an author of report {report_id}, or approves in another's name"));
        }
        if approval.verify(&key).is_err() {
            return bad(ReportError::ForgedApproval(peer_state).to_string());
        }
        let hash = draft.draft_hash().map_err(|e| PeerReportError::Bad(e.to_string()))?;
        if approval.draft_hash != hash {
            return bad(format!(
                "{peer_state} approved an earlier draft; the current one is revision {} and must be approved anew",
                draft.revision
            ));
        }
        if record.registration.is_some() {
            return Ok(());
        }
        let event = report_event(Actor::Peer(Some(peer_state)), Action::CspReportApproved, draft, hash);
        record.signed.approvals.retain(|a| a.signer != peer_state);
        record.signed.approvals.push(approval);
        self.keep(record, &event).await?;
        Ok(())
    }

    /// The drafter's node receives a co-author's comments.
    pub async fn receive_comment(
        &self,
        peer_state: StateCode,
        report_id: ReportId,
        draft_hash: Bytes32,
        text: String,
    ) -> Result<(), PeerReportError> {
        check_comment(&text).map_err(|e| PeerReportError::Bad(format!("the comments are not valid: {e}")))?;
        let _changing = self.changing.lock().await;
        let mut record = self.drafted(report_id)?;
        let draft = &record.signed.draft;
        if !draft.authors.contains(&peer_state) || peer_state == draft.drafter {
            return Err(PeerReportError::Bad(format!("{peer_state} is not a co-author of report {report_id}")));
        }
        let hash = draft.draft_hash().map_err(|e| PeerReportError::Bad(e.to_string()))?;
        if draft_hash != hash {
            return Err(PeerReportError::Bad(format!(
                "the comments are on an earlier draft; the current one is revision {}",
                draft.revision
            )));
        }
        let mut event = report_event(Actor::Peer(Some(peer_state)), Action::CspReportCommented, draft, hash);
        event.detail = format!("{} bytes", text.len());
        let revision = draft.revision;
        record.comments.push(CspComment { from: peer_state, revision, draft_hash, text, at: now() });
        self.keep(record, &event).await?;
        Ok(())
    }

    fn drafted(&self, report_id: ReportId) -> Result<CspReportRecord, PeerReportError> {
        let me = self.state.ok_or(PeerReportError::Unknown(report_id))?;
        match self.store.csp_report(report_id)? {
            Some(r) if r.signed.draft.drafter == me => Ok(r),
            _ => Err(PeerReportError::Unknown(report_id)),
        }
    }

    /// The Secretariat registers a report submitted by its drafter's node
    /// (`peer_state`): every author active, every approval verifying under
    /// the directory's key. The same draft again gets the same registration.
    pub async fn register_submitted(
        &self,
        peer_state: StateCode,
        signed: SignedCspReport,
    ) -> Result<SignedReportRegistration, PeerReportError> {
        if self.state.is_some() {
            return Err(PeerReportError::Bad("this node is not the Secretariat's".into()));
        }
        let draft = &signed.draft;
        if draft.drafter != peer_state {
            return Err(PeerReportError::Bad(format!(
                "the report is {}'s to submit, not {peer_state}'s",
                draft.drafter
            )));
        }
        let view = self.directory.view();
        if let Some(s) = draft.authors.iter().find(|s| view.entry(**s).is_none_or(|e| !e.is_active())) {
            return Err(PeerReportError::Bad(format!("the author {s} is not an active State of the directory")));
        }
        let hash = signed
            .verify(|s| view.entry(s).map(|e| e.identity_key()))
            .map_err(|e| PeerReportError::Bad(e.to_string()))?;
        let _changing = self.changing.lock().await;
        if let Some(held) = self.store.csp_register()?.into_iter().find(|r| r.signed.draft.report_id == draft.report_id)
        {
            if held.registration.registration.draft_hash == hash {
                return Ok(held.registration);
            }
            return Err(PeerReportError::Bad(format!(
                "report {} is already registered as number {}, with another draft",
                draft.report_id, held.registration.registration.number
            )));
        }
        let keys: Vec<(StateCode, PublicIdentity)> =
            draft.authors.iter().filter_map(|s| Some((*s, view.entry(*s)?.identity_key()))).collect();
        let event = report_event(Actor::Peer(Some(peer_state)), Action::CspReportRegistered, draft, hash);
        let secretariat = &self.keys.identity;
        let registered = self.store.register_csp_report(
            |number| {
                let registration = ReportRegistration {
                    report_id: draft.report_id,
                    draft_hash: hash,
                    keys,
                    directory_version: view.version(),
                    number,
                    registered_at: now(),
                };
                let registration = SignedReportRegistration::sign(registration, secretariat)
                    .map_err(|e| StoreError::Corrupt { what: "report registration", reason: e.to_string() })?;
                Ok(RegisteredCspReport { signed: signed.clone(), registration })
            },
            event,
        )?;
        self.store.flush().await?;
        if let Err(e) =
            self.publications.publish_csp_report(registered.signed.clone(), registered.registration.clone()).await
        {
            tracing::warn!(report = %draft.report_id, error = %e, "a registered report was not published");
        }
        Ok(registered.registration)
    }
}

/// Comments: some text, at most `MAX_TEXT` bytes.
fn check_comment(text: &str) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if text.trim().is_empty() {
        errors.push("text", "is empty; write the comments");
    } else if text.len() > MAX_TEXT {
        errors.push("text", format!("is {} bytes; at most {MAX_TEXT}", text.len()));
    }
    errors.into_result(|| ())
}

fn states(list: &[StateCode]) -> String {
    if list.is_empty() {
        "no co-author".into()
    } else {
        list.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
    }
}

fn sent_detail(sent: &[(StateCode, Option<String>)]) -> String {
    let reached: Vec<String> = sent.iter().filter(|(_, e)| e.is_none()).map(|(s, _)| s.to_string()).collect();
    let missed: Vec<String> = sent.iter().filter(|(_, e)| e.is_some()).map(|(s, _)| s.to_string()).collect();
    match (reached.is_empty(), missed.is_empty()) {
        (true, true) => "no co-author".into(),
        (_, true) => format!("sent to {}", reached.join(", ")),
        _ => format!("sent to {}; not reached: {}", reached.join(", "), missed.join(", ")),
    }
}
