//! Reports to the Conference of States Parties (working paper: "SP would
//! inform to the CSP, individually or jointly, on the exchange of information
//! carried out and/or on any issue related to it").
//!
//! A report is drafted by one State and may have co-authors. Every author
//! approves the draft by signing, with its identity key, the hash of the
//! draft's exact encoding together with its own code: a new draft has a new
//! hash, so approvals of an earlier one no longer count. A State is named in a
//! report (as a counterpart of its exchanges) only with its signature on that
//! report. The Secretariat registers a report whose every author signed, and
//! signs the registration over the keys it checked the approvals against, so
//! that a [`ReportFile`] verifies with no node and no network.

use crate::codec::{self, CodecError};
use crate::fixed::Bytes32;
use crate::ids::ReportId;
use crate::keys::{IdentityKeypair, KeyError, PublicIdentity, domain, hash};
use crate::request::{MAX_SUMMARY, MAX_TEXT, Provision, Stage, check_text};
use crate::state::StateCode;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The `format` field of every report file this version writes.
pub const FORMAT: &str = "veim-csp-report/1";
/// Most authors of one report.
pub const MAX_AUTHORS: usize = 32;
/// Most free text sections of one report.
pub const MAX_SECTIONS: usize = 32;

/// The typed outcomes an exchange closes with, as figures name them;
/// `not-recorded` for an exchange closed without one.
pub const OUTCOMES: [&str; 7] = [
    "diversion-confirmed",
    "diversion-prevented",
    "risk-mitigated",
    "not-confirmed",
    "inconclusive",
    "other",
    "not-recorded",
];

/// The Treaty's working languages: the language a report was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Fr,
    Es,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::En, Language::Fr, Language::Es];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
            Language::Es => "es",
        }
    }

    pub fn parse(s: &str) -> Option<Language> {
        s.parse().ok()
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Language, String> {
        let s = s.trim().to_ascii_lowercase();
        Language::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a working language of the Treaty; use en, fr or es"))
    }
}

/// The dates a report covers, both included, as `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub from: String,
    pub to: String,
}

impl FromStr for Period {
    type Err = String;
    /// `FROM..TO`, e.g. `2026-01-01..2026-12-31`.
    fn from_str(s: &str) -> Result<Period, String> {
        let (from, to) =
            s.trim().split_once("..").ok_or_else(|| format!("{s:?} is not a period; write 2026-01-01..2026-12-31"))?;
        let period = Period { from: from.trim().to_string(), to: to.trim().to_string() };
        let mut errors = ValidationErrors::default();
        period.check("period", &mut errors);
        errors.into_result(|| period).map_err(|e| e.0.iter().map(|f| f.problem.clone()).collect::<Vec<_>>().join("; "))
    }
}

impl Period {
    fn check(&self, path: &str, errors: &mut ValidationErrors) {
        let from = crate::response::parse_date(&self.from);
        let to = crate::response::parse_date(&self.to);
        if from.is_none() {
            errors.push(format!("{path}.from"), format!("{:?} is not a date; write YYYY-MM-DD", self.from));
        }
        if to.is_none() {
            errors.push(format!("{path}.to"), format!("{:?} is not a date; write YYYY-MM-DD", self.to));
        }
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            errors.push(format!("{path}.to"), format!("{} is before the start of the period, {}", self.to, self.from));
        }
    }

    /// Unix seconds of the period's first instant and of the instant after
    /// its last day (UTC).
    pub fn bounds(&self) -> Option<(i64, i64)> {
        let from = crate::response::parse_date(&self.from)?;
        let to = crate::response::parse_date(&self.to)?.next_day()?;
        Some((from.midnight().assume_utc().unix_timestamp(), to.midnight().assume_utc().unix_timestamp()))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

/// Figures on the exchanges a report covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figures {
    /// Exchanges carried out in the period.
    pub exchanges: u64,
    /// Exchanges per provision served (`11.1` … `13.2`); an exchange may
    /// serve several.
    pub by_provision: BTreeMap<String, u64>,
    /// Exchanges per Annex 1 stage (`risk-analysis`, …, `other`).
    pub by_stage: BTreeMap<String, u64>,
    /// Closed exchanges per typed outcome ([`OUTCOMES`]).
    pub by_outcome: BTreeMap<String, u64>,
    /// Requests answered: those the response times are over.
    pub answered: u64,
    /// Days from a request to its first response: the median and the longest.
    pub response_days_median: Option<u32>,
    pub response_days_max: Option<u32>,
}

impl Figures {
    fn check(&self, errors: &mut ValidationErrors) {
        let names = |path: &str, map: &BTreeMap<String, u64>, known: &[&str], errors: &mut ValidationErrors| {
            for (name, count) in map {
                if !known.contains(&name.as_str()) {
                    errors
                        .push(format!("figures.{path}.{name}"), format!("{name:?} is not one of {}", known.join(", ")));
                }
                if *count > self.exchanges {
                    errors.push(
                        format!("figures.{path}.{name}"),
                        format!("counts {count} exchanges, more than the {} the report covers", self.exchanges),
                    );
                }
            }
        };
        let provisions: Vec<&str> = Provision::ALL.iter().map(|(_, n)| *n).collect();
        names("by_provision", &self.by_provision, &provisions, errors);
        names("by_stage", &self.by_stage, &Stage::NAMES, errors);
        names("by_outcome", &self.by_outcome, &OUTCOMES, errors);
        if self.answered > self.exchanges {
            errors.push("figures.answered", format!("is more than the {} exchanges covered", self.exchanges));
        }
        match (self.answered, self.response_days_median, self.response_days_max) {
            (0, None, None) => {}
            (0, _, _) => errors.push("figures.response_days_median", "is given, but no request was answered"),
            (_, Some(median), Some(max)) if median <= max => {}
            (_, Some(_), Some(_)) => errors.push("figures.response_days_median", "is above the longest time"),
            (_, _, _) => errors.push("figures.response_days_median", "give both the median and the longest time"),
        }
    }
}

/// A free text section of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub heading: String,
    pub text: String,
}

/// A draft of a report to the CSP: what every author approves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CspReport {
    /// The same through every draft; issued by the drafting State.
    pub report_id: ReportId,
    /// 1 for the first draft, one more for each new draft.
    pub revision: u32,
    /// The State that drafts the report and sends it to its co-authors.
    pub drafter: StateCode,
    /// Every State that signs the report, the drafter included.
    pub authors: Vec<StateCode>,
    pub period: Period,
    /// The language of the original.
    pub language: Language,
    pub title: String,
    pub figures: Figures,
    /// States named as counterparts of the exchanges, with the number of
    /// exchanges with each. Only authors may be named.
    pub counterparts: BTreeMap<StateCode, u64>,
    pub sections: Vec<Section>,
    /// Unix seconds, the drafter's clock.
    pub drafted_at: i64,
}

impl CspReport {
    /// Checks every field; a named State that is not an author is
    /// [`CspReport::check_named`]'s to refuse.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if !self.report_id.is_issued_by(self.drafter) {
            errors.push("report_id", format!("does not begin with the drafter's code {}", self.drafter));
        }
        if self.revision == 0 {
            errors.push("revision", "is 0; the first draft is revision 1");
        }
        if self.authors.is_empty() || self.authors.len() > MAX_AUTHORS {
            errors.push("authors", format!("lists {} States; list 1 to {MAX_AUTHORS}", self.authors.len()));
        }
        for (i, a) in self.authors.iter().enumerate() {
            if self.authors[..i].contains(a) {
                errors.push(format!("authors[{i}]"), format!("{a} is listed twice"));
            }
        }
        if self.authors.first() != Some(&self.drafter) {
            errors.push("authors", format!("must begin with the drafter, {}", self.drafter));
        }
        self.period.check("period", &mut errors);
        check_text("title", &self.title, MAX_SUMMARY, true, &mut errors);
        self.figures.check(&mut errors);
        for (state, count) in &self.counterparts {
            if *count == 0 || *count > self.figures.exchanges {
                errors.push(
                    format!("counterparts.{state}"),
                    format!("counts {count} exchanges; give 1 to {}", self.figures.exchanges),
                );
            }
        }
        if self.sections.len() > MAX_SECTIONS {
            errors.push("sections", format!("has {} sections; at most {MAX_SECTIONS}", self.sections.len()));
        }
        for (i, s) in self.sections.iter().enumerate() {
            check_text(&format!("sections[{i}].heading"), &s.heading, MAX_SUMMARY, true, &mut errors);
            check_text(&format!("sections[{i}].text"), &s.text, MAX_TEXT, true, &mut errors);
        }
        errors.into_result(|| ())
    }

    /// A State is named in a report only with its signature on it: every
    /// counterpart named must be an author.
    pub fn check_named(&self) -> Result<(), ReportError> {
        match self.counterparts.keys().find(|s| !self.authors.contains(s)) {
            Some(state) => Err(ReportError::NamedWithoutSignature(*state)),
            None => Ok(()),
        }
    }

    /// The hash of the draft's exact encoding: `hash(CSP_REPORT_DRAFT,
    /// encode(report))`.
    pub fn draft_hash(&self) -> Result<Bytes32, CodecError> {
        Ok(Bytes32(hash(domain::CSP_REPORT_DRAFT, &codec::encode("csp report", self)?)))
    }
}

/// What an author's approval signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalBody {
    pub draft_hash: Bytes32,
    pub signer: StateCode,
}

/// One author's approval of one draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub signer: StateCode,
    /// The hash of the draft approved.
    pub draft_hash: Bytes32,
    /// Ed25519 of the signer over `"veim/1 csp report approval" || 0x00 ||
    /// encode(ApprovalBody)`.
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

impl Approval {
    pub fn sign(draft: &CspReport, signer: StateCode, key: &IdentityKeypair) -> Result<Approval, CodecError> {
        let draft_hash = draft.draft_hash()?;
        let body = codec::encode("approval", &ApprovalBody { draft_hash, signer })?;
        Ok(Approval { signer, draft_hash, signature: key.sign(domain::CSP_REPORT_APPROVAL, &body) })
    }

    pub fn verify(&self, key: &PublicIdentity) -> Result<(), KeyError> {
        let body = codec::encode("approval", &ApprovalBody { draft_hash: self.draft_hash, signer: self.signer })
            .map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::CSP_REPORT_APPROVAL, &body, &self.signature)
    }
}

/// A draft with its authors' approvals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCspReport {
    pub draft: CspReport,
    pub approvals: Vec<Approval>,
}

/// Why a report does not verify, or cannot be approved or registered: each
/// names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("this is not a veim report to the CSP of format {FORMAT} (it says {0:?})")]
    Format(String),
    #[error("the report is not valid: {0}")]
    Invalid(ValidationErrors),
    #[error("the report names {0}, which did not sign it: a State is named in a report only with its signature on it")]
    NamedWithoutSignature(StateCode),
    #[error("the approval of {0} is forged: its signature does not verify under {0}'s key")]
    ForgedApproval(StateCode),
    #[error("{0} approved an earlier draft: the draft changed since, and that approval no longer counts")]
    StaleApproval(StateCode),
    #[error("{0} has not approved this draft")]
    MissingApproval(StateCode),
    #[error("the report carries an approval of {0}, which is not one of its authors")]
    NotAnAuthor(StateCode),
    #[error("{0} approved the report twice")]
    DuplicateApproval(StateCode),
    #[error("no key of {0} is known to check its approval")]
    UnknownKey(StateCode),
    #[error("the key given for {state} is listed twice or its fingerprint is not {fingerprint}")]
    KeyFingerprint { state: StateCode, fingerprint: String },
    #[error("the draft was changed: its hash is {computed}, the file records {recorded}")]
    DraftChanged { recorded: String, computed: String },
    #[error("the report could not be encoded: {0}")]
    Encoding(String),
    #[error("the registration was made with Secretariat key {found}, not the key {expected} you gave")]
    SecretariatKeyMismatch { found: String, expected: String },
    #[error("the Secretariat's registration is forged or altered: its signature does not verify")]
    RegistrationForged,
    #[error("the Secretariat's registration is for another report, draft or set of keys: {0}")]
    RegistrationMismatch(String),
}

impl From<CodecError> for ReportError {
    fn from(e: CodecError) -> ReportError {
        ReportError::Encoding(e.to_string())
    }
}

impl SignedCspReport {
    /// Checks the draft and that every author, and nobody else, approved this
    /// exact draft with its key (`key_of` gives each State's key). Returns
    /// the draft's hash.
    pub fn verify(&self, key_of: impl Fn(StateCode) -> Option<PublicIdentity>) -> Result<Bytes32, ReportError> {
        let draft = &self.draft;
        draft.validate().map_err(ReportError::Invalid)?;
        let draft_hash = draft.draft_hash()?;
        let mut signed = Vec::new();
        for (i, a) in self.approvals.iter().enumerate() {
            if !draft.authors.contains(&a.signer) {
                return Err(ReportError::NotAnAuthor(a.signer));
            }
            if self.approvals[..i].iter().any(|o| o.signer == a.signer) {
                return Err(ReportError::DuplicateApproval(a.signer));
            }
            let key = key_of(a.signer).ok_or(ReportError::UnknownKey(a.signer))?;
            a.verify(&key).map_err(|_| ReportError::ForgedApproval(a.signer))?;
            if a.draft_hash != draft_hash {
                return Err(ReportError::StaleApproval(a.signer));
            }
            signed.push(a.signer);
        }
        if let Some(state) = draft.counterparts.keys().find(|s| !signed.contains(s)) {
            return Err(ReportError::NamedWithoutSignature(*state));
        }
        if let Some(state) = draft.authors.iter().find(|s| !signed.contains(s)) {
            return Err(ReportError::MissingApproval(*state));
        }
        Ok(draft_hash)
    }

    /// The authors who have not yet approved this exact draft, in order.
    pub fn missing(&self) -> Vec<StateCode> {
        let Ok(hash) = self.draft.draft_hash() else {
            return self.draft.authors.clone();
        };
        let approved = |s: &StateCode| self.approvals.iter().any(|a| a.signer == *s && a.draft_hash == hash);
        self.draft.authors.iter().filter(|s| !approved(s)).copied().collect()
    }
}

/// The Secretariat's record that a report is registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRegistration {
    pub report_id: ReportId,
    pub draft_hash: Bytes32,
    /// The authors' keys the approvals were checked against, in the
    /// authors' order, from directory version `directory_version`.
    pub keys: Vec<(StateCode, PublicIdentity)>,
    pub directory_version: u64,
    /// The report's number in the Secretariat's register, from 1.
    pub number: u64,
    /// Unix seconds, the Secretariat's clock.
    pub registered_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReportRegistration {
    pub registration: ReportRegistration,
    /// Ed25519 of the Secretariat over `"veim/1 csp report registration" ||
    /// 0x00 || encode(registration)`.
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

impl SignedReportRegistration {
    pub fn sign(registration: ReportRegistration, key: &IdentityKeypair) -> Result<Self, CodecError> {
        let bytes = codec::encode("report registration", &registration)?;
        Ok(Self { signature: key.sign(domain::CSP_REPORT_REGISTRATION, &bytes), registration })
    }

    pub fn verify(&self, key: &PublicIdentity) -> Result<(), KeyError> {
        let bytes = codec::encode("report registration", &self.registration)
            .map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::CSP_REPORT_REGISTRATION, &bytes, &self.signature)
    }
}

/// An author's key as a report file gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorKey {
    pub state: StateCode,
    pub key: PublicIdentity,
    /// The key's fingerprint, for a reader to compare with the one the
    /// State publishes.
    pub fingerprint: String,
}

/// The Secretariat's registration, in a report file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationProof {
    pub registration: SignedReportRegistration,
    pub secretariat_key: PublicIdentity,
    pub secretariat_fingerprint: String,
}

/// A report to the CSP as a file: checked with no node and no network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportFile {
    pub format: String,
    pub report: CspReport,
    /// The hex of the draft's hash, which the approvals sign.
    pub draft_hash: String,
    pub approvals: Vec<Approval>,
    pub keys: Vec<AuthorKey>,
    /// The Secretariat's registration, once registered.
    pub registration: Option<RegistrationProof>,
}

/// What a verified report file establishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedReport {
    pub report_id: ReportId,
    pub revision: u32,
    pub draft_hash: String,
    /// Each author and the fingerprint of the key that signed.
    pub authors: Vec<(StateCode, String)>,
    /// The register number, when registered.
    pub number: Option<u64>,
    pub registered_at: Option<i64>,
    pub secretariat_fingerprint: Option<String>,
    /// Whether the verifier pinned the Secretariat key the registration is
    /// checked against (the authors' keys are then the Secretariat's word).
    pub anchored: bool,
}

impl ReportFile {
    /// A file for a signed report, and its registration if it has one.
    pub fn new(
        signed: &SignedCspReport,
        keys: Vec<(StateCode, PublicIdentity)>,
        registration: Option<(SignedReportRegistration, PublicIdentity)>,
    ) -> Result<ReportFile, CodecError> {
        Ok(ReportFile {
            format: FORMAT.to_string(),
            report: signed.draft.clone(),
            draft_hash: hex::encode(signed.draft.draft_hash()?.0),
            approvals: signed.approvals.clone(),
            keys: keys
                .into_iter()
                .map(|(state, key)| AuthorKey { state, key, fingerprint: key.fingerprint() })
                .collect(),
            registration: registration.map(|(registration, key)| RegistrationProof {
                registration,
                secretariat_key: key,
                secretariat_fingerprint: key.fingerprint(),
            }),
        })
    }

    /// Checks the file: the draft against its recorded hash, every approval
    /// under the key the file gives (each key against its fingerprint), the
    /// rule on named States, and the Secretariat's registration when there
    /// is one (against `secretariat` when the verifier pins it).
    pub fn verify(&self, secretariat: Option<&PublicIdentity>) -> Result<VerifiedReport, ReportError> {
        if self.format != FORMAT {
            return Err(ReportError::Format(self.format.clone()));
        }
        let computed = hex::encode(self.report.draft_hash()?.0);
        if !computed.eq_ignore_ascii_case(self.draft_hash.trim()) {
            return Err(ReportError::DraftChanged { recorded: self.draft_hash.clone(), computed });
        }
        for (i, k) in self.keys.iter().enumerate() {
            if k.fingerprint != k.key.fingerprint() || self.keys[..i].iter().any(|o| o.state == k.state) {
                return Err(ReportError::KeyFingerprint { state: k.state, fingerprint: k.key.fingerprint() });
            }
        }
        let key_of = |s: StateCode| self.keys.iter().find(|k| k.state == s).map(|k| k.key);
        let signed = SignedCspReport { draft: self.report.clone(), approvals: self.approvals.clone() };
        let draft_hash = signed.verify(key_of)?;
        let mut verified = VerifiedReport {
            report_id: self.report.report_id,
            revision: self.report.revision,
            draft_hash: computed,
            authors: self.report.authors.iter().filter_map(|s| Some((*s, key_of(*s)?.fingerprint()))).collect(),
            number: None,
            registered_at: None,
            secretariat_fingerprint: None,
            anchored: false,
        };
        let Some(proof) = &self.registration else {
            return Ok(verified);
        };
        if let Some(expected) = secretariat
            && *expected != proof.secretariat_key
        {
            return Err(ReportError::SecretariatKeyMismatch {
                found: proof.secretariat_key.fingerprint(),
                expected: expected.fingerprint(),
            });
        }
        proof.registration.verify(&proof.secretariat_key).map_err(|_| ReportError::RegistrationForged)?;
        let r = &proof.registration.registration;
        if r.report_id != self.report.report_id || r.draft_hash != draft_hash {
            return Err(ReportError::RegistrationMismatch("it registers another report or another draft".into()));
        }
        let keys: Vec<(StateCode, PublicIdentity)> = self.keys.iter().map(|k| (k.state, k.key)).collect();
        let authors_keys: Vec<(StateCode, PublicIdentity)> =
            self.report.authors.iter().filter_map(|s| Some((*s, key_of(*s)?))).collect();
        if r.keys != authors_keys || keys.len() != authors_keys.len() {
            return Err(ReportError::RegistrationMismatch(
                "the authors' keys it was checked against are not the ones the file gives".into(),
            ));
        }
        verified.number = Some(r.number);
        verified.registered_at = Some(r.registered_at);
        verified.secretariat_fingerprint = Some(proof.secretariat_key.fingerprint());
        verified.anchored = secretariat.is_some();
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(s: &str) -> StateCode {
        s.parse().expect("state")
    }

    fn key(seed: u8) -> IdentityKeypair {
        IdentityKeypair::from_secret_bytes(&[seed; 32])
    }

    fn draft() -> CspReport {
        let mut id = [9u8; 16];
        id[..3].copy_from_slice(b"MEX");
        CspReport {
            report_id: ReportId(id),
            revision: 1,
            drafter: state("MEX"),
            authors: vec![state("MEX"), state("SWE")],
            period: "2026-01-01..2026-12-31".parse().expect("period"),
            language: Language::En,
            title: "Joint report".into(),
            figures: Figures {
                exchanges: 3,
                by_provision: [("11.2".to_string(), 2), ("11.4".to_string(), 1)].into(),
                by_stage: [("risk-analysis".to_string(), 3)].into(),
                by_outcome: BTreeMap::new(),
                answered: 2,
                response_days_median: Some(4),
                response_days_max: Some(9),
            },
            counterparts: [(state("SWE"), 3)].into(),
            sections: vec![Section { heading: "Summary".into(), text: "Three exchanges.".into() }],
            drafted_at: 1_767_225_600,
        }
    }

    fn signed(draft: CspReport) -> SignedCspReport {
        let approvals = vec![
            Approval::sign(&draft, state("MEX"), &key(1)).expect("sign"),
            Approval::sign(&draft, state("SWE"), &key(2)).expect("sign"),
        ];
        SignedCspReport { draft, approvals }
    }

    fn keys(s: StateCode) -> Option<PublicIdentity> {
        match s.as_str() {
            "MEX" => Some(key(1).public()),
            "SWE" => Some(key(2).public()),
            "NGA" => Some(key(3).public()),
            _ => None,
        }
    }

    #[test]
    fn a_report_every_author_signed_verifies() {
        let s = signed(draft());
        assert_eq!(s.verify(keys), Ok(s.draft.draft_hash().expect("hash")));
        assert!(s.missing().is_empty());
    }

    #[test]
    fn a_new_draft_voids_earlier_approvals() {
        let mut s = signed(draft());
        s.draft.revision = 2;
        s.draft.title = "Joint report, revised".into();
        assert_eq!(s.verify(keys), Err(ReportError::StaleApproval(state("MEX"))));
        assert_eq!(s.missing(), vec![state("MEX"), state("SWE")]);
        s.approvals[0] = Approval::sign(&s.draft, state("MEX"), &key(1)).expect("sign");
        assert_eq!(s.verify(keys), Err(ReportError::StaleApproval(state("SWE"))));
        s.approvals.pop();
        // SWE is named as a counterpart: without its signature, that is the fault named.
        assert_eq!(s.verify(keys), Err(ReportError::NamedWithoutSignature(state("SWE"))));
        s.draft.counterparts.clear();
        s.approvals[0] = Approval::sign(&s.draft, state("MEX"), &key(1)).expect("sign");
        assert_eq!(s.verify(keys), Err(ReportError::MissingApproval(state("SWE"))));
    }

    #[test]
    fn a_forged_co_signature_is_named() {
        let mut s = signed(draft());
        // Signed by MEX's key in SWE's name.
        s.approvals[1] = Approval::sign(&s.draft, state("SWE"), &key(1)).expect("sign");
        assert_eq!(s.verify(keys), Err(ReportError::ForgedApproval(state("SWE"))));
        let mut s = signed(draft());
        s.approvals[1].signature[5] ^= 1;
        assert_eq!(s.verify(keys), Err(ReportError::ForgedApproval(state("SWE"))));
    }

    #[test]
    fn a_state_named_without_its_signature_is_refused() {
        let mut d = draft();
        d.counterparts.insert(state("NGA"), 1);
        assert_eq!(d.check_named(), Err(ReportError::NamedWithoutSignature(state("NGA"))));
        assert_eq!(signed(d.clone()).verify(keys), Err(ReportError::NamedWithoutSignature(state("NGA"))));
        // Listing it as an author without its approval does not help.
        d.authors.push(state("NGA"));
        assert_eq!(d.check_named(), Ok(()));
        assert_eq!(signed(d).verify(keys), Err(ReportError::NamedWithoutSignature(state("NGA"))));
    }

    #[test]
    fn bad_figures_and_fields_are_named() {
        let mut d = draft();
        d.figures.by_provision.insert("12.1".into(), 1);
        d.figures.by_outcome.insert("diversion-prevented".into(), 9);
        d.authors = vec![state("SWE"), state("SWE")];
        d.period = Period { from: "2026-12-31".into(), to: "2026-01-01".into() };
        let fields: Vec<String> = d.validate().expect_err("invalid").0.into_iter().map(|e| e.field).collect();
        for f in [
            "figures.by_provision.12.1",
            "figures.by_outcome.diversion-prevented",
            "authors[1]",
            "authors",
            "period.to",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
        }
        assert!("2026-01-01".parse::<Period>().is_err());
        assert!("2026-13-01..2026-12-31".parse::<Period>().is_err());
    }

    #[test]
    fn a_registered_file_verifies_and_anchors_on_the_secretariat() {
        let s = signed(draft());
        let secretariat = key(7);
        let hash = s.draft.draft_hash().expect("hash");
        let author_keys = vec![(state("MEX"), key(1).public()), (state("SWE"), key(2).public())];
        let registration = ReportRegistration {
            report_id: s.draft.report_id,
            draft_hash: hash,
            keys: author_keys.clone(),
            directory_version: 4,
            number: 1,
            registered_at: 1_767_300_000,
        };
        let reg = SignedReportRegistration::sign(registration, &secretariat).expect("sign");
        let file = ReportFile::new(&s, author_keys.clone(), Some((reg, secretariat.public()))).expect("file");
        let v = file.verify(Some(&secretariat.public())).expect("verifies");
        assert_eq!(v.number, Some(1));
        assert!(v.anchored);
        assert_eq!(
            file.verify(Some(&key(8).public())).map(|_| ()),
            Err(ReportError::SecretariatKeyMismatch {
                found: secretariat.public().fingerprint(),
                expected: key(8).public().fingerprint()
            })
        );
        let mut changed = file.clone();
        changed.report.sections[0].text = "Four exchanges.".into();
        assert!(matches!(changed.verify(None), Err(ReportError::DraftChanged { .. })));
        let mut other_key = file.clone();
        other_key.keys[1] =
            AuthorKey { state: state("SWE"), key: key(3).public(), fingerprint: key(3).public().fingerprint() };
        assert_eq!(other_key.verify(None).map(|_| ()), Err(ReportError::ForgedApproval(state("SWE"))));
        let mut forged = file.clone();
        if let Some(p) = forged.registration.as_mut() {
            p.registration.registration.number = 2;
        }
        assert_eq!(forged.verify(None).map(|_| ()), Err(ReportError::RegistrationForged));
    }
}
