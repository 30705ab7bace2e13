//! The Secretariat's publications: reports of measures a State sends
//! "through the Secretariat" (Art. 11.6 and 13.2), and the sequenced,
//! hash-chained log of what the Secretariat publishes to the States Parties.
//!
//! A State signs its report of measures taken in addressing diversion with
//! its identity key ([`SignedMeasuresReport`]); it may cite exchanges, by id
//! only, never their content. The Secretariat's operator reviews it and
//! circulates it: the report, signed as the State signed it, becomes the
//! content of a publication the Secretariat signs. Each publication names its
//! audience (the States active when it was published); a node outside the
//! audience is served the publication's header only, which still carries the
//! chain, so that every node can check that it holds every publication in
//! order and none was altered. The log is separate from the directory: it
//! never makes a directory version larger.

use crate::codec::{self, CodecError};
use crate::ids::ExchangeId;
use crate::keys::{IdentityKeypair, KeyError, PublicIdentity, domain, hash};
use crate::request::{Provision, check_text};
use crate::state::StateCode;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::progress::CalendarDate;
/// The kinds of measure are those recorded within exchanges (section 3.14),
/// each under the provisions it belongs to.
pub use crate::progress::MeasureKind;

/// One measure a State reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedMeasure {
    pub provision: Provision,
    pub kind: MeasureKind,
    /// The day it was taken; never after the day of signing.
    pub date: CalendarDate,
    pub text: String,
}

/// A State's report of measures taken in addressing diversion (Art. 11.6,
/// 13.2), for the Secretariat to circulate to the other States Parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasuresReport {
    pub state: StateCode,
    pub title: String,
    pub measures: Vec<ReportedMeasure>,
    pub text: String,
    /// Exchanges the report refers to, by id only.
    pub exchanges: Vec<ExchangeId>,
    /// Unix seconds, the State's node's clock.
    pub signed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMeasuresReport {
    pub report: MeasuresReport,
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

/// Longest title of a report or a notice.
pub const MAX_TITLE: usize = 500;
/// Longest text of a report, a measure, or recommendations.
pub const MAX_REPORT_TEXT: usize = 32 * 1024;
/// Most measures in one report.
pub const MAX_MEASURES: usize = 200;
/// Most exchanges one report cites.
pub const MAX_CITED: usize = 200;

/// The UTC day of `now`.
pub(crate) fn day_of(now: i64) -> Option<time::Date> {
    time::OffsetDateTime::from_unix_timestamp(now).ok().map(|t| t.date())
}

impl MeasuresReport {
    /// The rules of section 8.7: bounded texts, at least one measure or a
    /// text, every measure dated on or before the day of `now`, each
    /// exchange cited once.
    pub fn validate(&self, now: i64) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text("title", &self.title, MAX_TITLE, true, &mut errors);
        check_text("text", &self.text, MAX_REPORT_TEXT, false, &mut errors);
        if self.measures.is_empty() && self.text.trim().is_empty() {
            errors.push("measures", "is empty and so is text; report at least one measure or write a text");
        }
        if self.measures.len() > MAX_MEASURES {
            errors.push("measures", format!("lists {} measures; at most {MAX_MEASURES}", self.measures.len()));
        }
        let today = CalendarDate::of_time(now);
        for (i, m) in self.measures.iter().enumerate() {
            check_text(&format!("measures[{i}].text"), &m.text, MAX_REPORT_TEXT, true, &mut errors);
            if today.is_some_and(|t| m.date > t) {
                errors.push(
                    format!("measures[{i}].date"),
                    format!("{} is in the future; report measures already taken", m.date),
                );
            }
            if !m.kind.provisions().contains(&m.provision) {
                let under: Vec<&str> = m.kind.provisions().iter().map(|p| p.as_str()).collect();
                errors.push(
                    format!("measures[{i}].kind"),
                    format!(
                        "{} is not a measure under {}; record it under {}",
                        m.kind,
                        m.provision.as_str(),
                        under.join(" or ")
                    ),
                );
            }
        }
        if self.exchanges.len() > MAX_CITED {
            errors.push("exchanges", format!("cites {} exchanges; at most {MAX_CITED}", self.exchanges.len()));
        }
        for (i, e) in self.exchanges.iter().enumerate() {
            if self.exchanges[..i].contains(e) {
                errors.push(format!("exchanges[{i}]"), format!("{e} is cited twice"));
            }
        }
        errors.into_result(|| ())
    }
}

impl SignedMeasuresReport {
    pub fn sign(report: MeasuresReport, key: &IdentityKeypair) -> Result<Self, CodecError> {
        let bytes = codec::encode("measures report", &report)?;
        Ok(Self { signature: key.sign(domain::REPORT_SIGNATURE, &bytes), report })
    }

    /// Checks the report is signed by `key`, its State's identity key.
    pub fn verify(&self, key: &PublicIdentity) -> Result<(), KeyError> {
        let bytes =
            codec::encode("measures report", &self.report).map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::REPORT_SIGNATURE, &bytes, &self.signature)
    }

    /// How the State and the Secretariat name one report: the hash of the
    /// signed report, signature included.
    pub fn id(&self) -> Result<ReportId, CodecError> {
        Ok(ReportId(hash(domain::REPORT_HASH, &codec::encode("signed measures report", self)?)))
    }
}

/// The report hash, shown as hex; operators type its first digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReportId(#[serde(with = "crate::fixed")] pub [u8; 32]);

impl ReportId {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReportId({})", self.to_hex())
    }
}

/// What an operator writes in a report file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuresReportForm {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub measures: Vec<MeasureForm>,
    /// Exchange ids, 32 hexadecimal digits each.
    #[serde(default)]
    pub exchanges: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureForm {
    /// 11.1 to 11.6, or 13.2.
    #[serde(default)]
    pub provision: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub text: String,
}

impl MeasuresReportForm {
    /// Checks the form for `state` at `now` and returns the report, or every problem.
    pub fn parse(&self, state: StateCode, now: i64) -> Result<MeasuresReport, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let mut measures = Vec::new();
        for (i, m) in self.measures.iter().enumerate() {
            let provision = Provision::parse(&m.provision).unwrap_or_else(|| {
                errors.push(
                    format!("measures[{i}].provision"),
                    format!(
                        "{:?} is not a provision; use one of {}",
                        m.provision,
                        Provision::ALL.map(|(_, n)| n).join(", ")
                    ),
                );
                Provision::Art11_6
            });
            let kind = MeasureKind::parse(&m.kind).unwrap_or_else(|| {
                errors.push(
                    format!("measures[{i}].kind"),
                    format!(
                        "{:?} is not a kind of measure; use one of {}",
                        m.kind,
                        MeasureKind::ALL.map(|(_, n, _)| n).join(", ")
                    ),
                );
                MeasureKind::Other
            });
            let date = CalendarDate::parse(&m.date).unwrap_or_else(|| {
                errors.push(format!("measures[{i}].date"), format!("{:?} is not a date; write YYYY-MM-DD", m.date));
                CalendarDate::of_time(0).expect("1970-01-01")
            });
            measures.push(ReportedMeasure { provision, kind, date, text: m.text.trim().into() });
        }
        let mut exchanges = Vec::new();
        for (i, e) in self.exchanges.iter().enumerate() {
            match e.parse::<ExchangeId>() {
                Ok(id) => exchanges.push(id),
                Err(why) => errors.push(format!("exchanges[{i}]"), why),
            }
        }
        let report = MeasuresReport {
            state,
            title: self.title.trim().into(),
            measures,
            text: self.text.trim().into(),
            exchanges,
            signed_at: now,
        };
        if let Err(more) = report.validate(now) {
            errors.0.extend(more.0);
        }
        errors.into_result(|| report)
    }
}

/// What a publication carries. New kinds are appended at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublicationContent {
    /// A State's report of measures, circulated to the States Parties.
    CirculatedReport(SignedMeasuresReport),
    /// The notice of the annual meeting of national points of contact.
    MeetingNotice(crate::meeting::MeetingNotice),
    /// The meeting's recommendations for the Conference of States Parties.
    MeetingRecommendations(crate::meeting::Recommendations),
    /// A report to the CSP the Secretariat registered, with its registration.
    CspReport(Box<RegisteredReport>),
}

/// A registered report to the CSP as the publication log carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredReport {
    pub report: crate::report::SignedCspReport,
    pub registration: crate::report::SignedReportRegistration,
}

impl PublicationContent {
    pub fn kind(&self) -> &'static str {
        match self {
            PublicationContent::CirculatedReport(_) => "circulated-report",
            PublicationContent::MeetingNotice(_) => "meeting-notice",
            PublicationContent::MeetingRecommendations(_) => "meeting-recommendations",
            PublicationContent::CspReport(_) => "csp-report",
        }
    }

    /// `hash(PUBLICATION_CONTENT, encode(content))`, which the header carries.
    pub fn hash(&self) -> Result<[u8; 32], CodecError> {
        Ok(hash(domain::PUBLICATION_CONTENT, &codec::encode("publication content", self)?))
    }
}

/// What the Secretariat signs of a publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicationHeader {
    /// 1 for the first publication, then +1.
    pub seq: u64,
    /// The publication hash of publication `seq - 1`; zeros for the first.
    pub previous_hash: [u8; 32],
    /// Unix seconds.
    pub published_at: i64,
    /// The States active in the directory when it was published, sorted,
    /// each once: only they are served its content.
    pub audience: Vec<StateCode>,
    pub content_hash: [u8; 32],
}

/// A publication as the log holds it and as a node is served it: the
/// content is absent for a node outside the audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPublication {
    pub header: PublicationHeader,
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
    pub content: Option<PublicationContent>,
}

/// Why a node refuses a publication. Nothing of a refused publication, nor
/// of any after it in the same answer, is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicationError {
    #[error("publication {seq} is not signed by the Secretariat's key {expected}: refusing it")]
    WrongSigner { seq: u64, expected: String },
    #[error("publication {got} does not follow publication {have}: refusing it")]
    OutOfSequence { have: u64, got: u64 },
    #[error("publication {seq} does not carry the hash of publication {previous}: refusing a fork")]
    BrokenChain { seq: u64, previous: u64 },
    #[error("publication {seq} is dated before its predecessor")]
    TimeWentBackwards { seq: u64 },
    #[error("publication {seq}: its audience must list States sorted by code, each once")]
    UnsortedAudience { seq: u64 },
    #[error("publication {seq}: its content does not match the hash the Secretariat signed (altered bytes)")]
    ContentMismatch { seq: u64 },
    #[error("publication {seq} names {state} in its audience but came without its content")]
    Withheld { seq: u64, state: StateCode },
    #[error("publication {seq}: the report of {state} is not signed by the key the directory lists for {state}")]
    BadReport { seq: u64, state: StateCode },
    #[error("publication {seq}: the registered report to the CSP does not verify: {reason}")]
    BadCspReport { seq: u64, reason: String },
    #[error("publication encoding failed: {0}")]
    Codec(#[from] CodecError),
}

impl PublicationHeader {
    /// The link the next publication carries: `hash(PUBLICATION_HASH, encode(header))`.
    pub fn hash(&self) -> Result<[u8; 32], CodecError> {
        Ok(hash(domain::PUBLICATION_HASH, &codec::encode("publication header", self)?))
    }
}

impl SignedPublication {
    /// The Secretariat's signature over the header, which names the content by its hash.
    pub fn sign(
        seq: u64,
        previous_hash: [u8; 32],
        published_at: i64,
        mut audience: Vec<StateCode>,
        content: PublicationContent,
        key: &IdentityKeypair,
    ) -> Result<SignedPublication, CodecError> {
        audience.sort();
        audience.dedup();
        let header = PublicationHeader { seq, previous_hash, published_at, audience, content_hash: content.hash()? };
        let bytes = codec::encode("publication header", &header)?;
        Ok(SignedPublication {
            signature: key.sign(domain::PUBLICATION_SIGNATURE, &bytes),
            header,
            content: Some(content),
        })
    }

    /// The publication as a node outside its audience is served it.
    pub fn withheld(&self) -> SignedPublication {
        SignedPublication { content: None, ..self.clone() }
    }

    /// Whether `key` signed the header.
    pub fn is_signed_by(&self, key: &PublicIdentity) -> bool {
        codec::encode("publication header", &self.header)
            .is_ok_and(|bytes| key.verify(domain::PUBLICATION_SIGNATURE, &bytes, &self.signature).is_ok())
    }

    /// Whether `state` is in the audience.
    pub fn addressed_to(&self, state: StateCode) -> bool {
        self.header.audience.binary_search(&state).is_ok()
    }

    /// The checks of section 8.7 a node makes before it keeps a publication,
    /// after `previous` (the header of the last one it holds): the
    /// Secretariat's signature, the sequence, the chain, the time, the
    /// audience, and the content against its hash (or, absent, that `reader`
    /// is not in the audience). The State's signature on a circulated
    /// report is checked with [`SignedPublication::check_report`].
    pub fn check_successor(
        &self,
        previous: Option<&PublicationHeader>,
        secretariat: &PublicIdentity,
        reader: Option<StateCode>,
    ) -> Result<(), PublicationError> {
        let h = &self.header;
        let bytes = codec::encode("publication header", h)?;
        secretariat
            .verify(domain::PUBLICATION_SIGNATURE, &bytes, &self.signature)
            .map_err(|_| PublicationError::WrongSigner { seq: h.seq, expected: secretariat.fingerprint() })?;
        let have = previous.map_or(0, |p| p.seq);
        if h.seq != have + 1 {
            return Err(PublicationError::OutOfSequence { have, got: h.seq });
        }
        let link = match previous {
            Some(p) => p.hash()?,
            None => [0; 32],
        };
        if h.previous_hash != link {
            return Err(PublicationError::BrokenChain { seq: h.seq, previous: have });
        }
        if previous.is_some_and(|p| h.published_at < p.published_at) {
            return Err(PublicationError::TimeWentBackwards { seq: h.seq });
        }
        if h.audience.windows(2).any(|w| w[0] >= w[1]) {
            return Err(PublicationError::UnsortedAudience { seq: h.seq });
        }
        match &self.content {
            Some(c) if c.hash()? != h.content_hash => Err(PublicationError::ContentMismatch { seq: h.seq }),
            Some(_) => Ok(()),
            None => match reader {
                Some(state) if self.addressed_to(state) => Err(PublicationError::Withheld { seq: h.seq, state }),
                _ => Ok(()),
            },
        }
    }

    /// A circulated report must verify under the key `key_of` gives for
    /// its State (the directory's); other content passes.
    pub fn check_report(&self, key_of: impl Fn(StateCode) -> Option<PublicIdentity>) -> Result<(), PublicationError> {
        if let Some(PublicationContent::CirculatedReport(r)) = &self.content {
            let state = r.report.state;
            let ok = key_of(state).is_some_and(|k| r.verify(&k).is_ok());
            if !ok {
                return Err(PublicationError::BadReport { seq: self.header.seq, state });
            }
        }
        Ok(())
    }

    /// A registered report to the CSP must carry the registration of
    /// `secretariat` (the key the publication is signed with) for this
    /// report and draft, every author's approval must verify under the key
    /// the registration lists for it, and that key must be the one `key_of`
    /// gives for that State (the directory's); other content passes.
    pub fn check_csp_report(
        &self,
        secretariat: &PublicIdentity,
        key_of: impl Fn(StateCode) -> Option<PublicIdentity>,
    ) -> Result<(), PublicationError> {
        let Some(PublicationContent::CspReport(r)) = &self.content else {
            return Ok(());
        };
        let seq = self.header.seq;
        let bad = |reason: String| PublicationError::BadCspReport { seq, reason };
        let keys = r.registration.registration.keys.clone();
        if let Some((state, _)) = keys.iter().find(|(s, k)| key_of(*s) != Some(*k)) {
            return Err(bad(format!("the key it lists for {state} is not the directory's key for {state}")));
        }
        let file = crate::report::ReportFile::new(&r.report, keys, Some((r.registration.clone(), *secretariat)))
            .map_err(|e| bad(e.to_string()))?;
        file.verify(Some(secretariat)).map_err(|e| bad(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::{Language, MeetingNotice, Venue};

    const NOW: i64 = 1_767_268_800; // 2026-01-01T12:00:00Z

    fn key(n: u8) -> IdentityKeypair {
        IdentityKeypair::from_secret_bytes(&[n; 32])
    }

    fn state(s: &str) -> StateCode {
        s.parse().expect("a State")
    }

    pub(crate) fn form() -> MeasuresReportForm {
        MeasuresReportForm {
            title: "Measures taken in 2025".into(),
            text: "Mexico strengthened its end-use controls.".into(),
            measures: vec![MeasureForm {
                provision: "11.4".into(),
                kind: "shipment-examined".into(),
                date: "2025-11-03".into(),
                text: "A consignment in transit was examined at Manzanillo.".into(),
            }],
            exchanges: vec!["00112233445566778899aabbccddeeff".into()],
        }
    }

    fn notice() -> MeetingNotice {
        MeetingNotice {
            title: "Annual meeting".into(),
            csp_date: "2026-08-24".into(),
            starts_on: "2026-08-23".into(),
            ends_on: "2026-08-23".into(),
            venue: Venue::Online("https://meet.example.org/att".into()),
            languages: vec![Language::En, Language::Es],
            agenda: vec!["Opening".into()],
            registration_deadline: NOW + 86_400,
        }
    }

    #[test]
    fn the_example_report_file_is_valid() {
        let form: MeasuresReportForm =
            toml::from_str(include_str!("../../deploy/examples/report.toml")).expect("example report");
        let report = form.parse(state("MEX"), NOW).expect("valid");
        assert_eq!(report.measures.len(), 2);
    }

    #[test]
    fn a_report_form_is_checked_field_by_field() {
        let report = form().parse(state("MEX"), NOW).expect("valid");
        assert_eq!(report.measures[0].provision, Provision::Art11_4);
        let mut bad = form();
        bad.measures[0].provision = "12.1".into();
        bad.measures[0].kind = "sanctions".into();
        bad.measures.push(MeasureForm {
            provision: "11.2".into(),
            kind: "licence-denied".into(),
            date: "2026-01-02".into(),
            text: "tomorrow".into(),
        });
        bad.exchanges.push("nothex".into());
        let errors = bad.parse(state("MEX"), NOW).expect_err("invalid");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        for f in ["measures[0].provision", "measures[0].kind", "measures[1].date", "exchanges[1]"] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        assert!(errors.to_string().contains("in the future"), "{errors}");
    }

    #[test]
    fn a_report_verifies_only_under_its_states_key() {
        let report = form().parse(state("MEX"), NOW).expect("valid");
        let signed = SignedMeasuresReport::sign(report, &key(1)).expect("sign");
        assert!(signed.verify(&key(1).public()).is_ok());
        assert!(signed.verify(&key(2).public()).is_err());
        let mut altered = signed.clone();
        altered.report.text.push('!');
        assert!(altered.verify(&key(1).public()).is_err());
        assert_ne!(altered.id().expect("id"), signed.id().expect("id"));
    }

    fn chain(sec: &IdentityKeypair) -> Vec<SignedPublication> {
        let report =
            SignedMeasuresReport::sign(form().parse(state("MEX"), NOW).expect("valid"), &key(1)).expect("sign");
        let first = SignedPublication::sign(
            1,
            [0; 32],
            NOW,
            vec![state("SWE"), state("MEX")],
            PublicationContent::CirculatedReport(report),
            sec,
        )
        .expect("sign");
        let second = SignedPublication::sign(
            2,
            first.header.hash().expect("hash"),
            NOW + 1,
            vec![state("MEX")],
            PublicationContent::MeetingNotice(notice()),
            sec,
        )
        .expect("sign");
        vec![first, second]
    }

    #[test]
    fn a_chain_of_publications_verifies_and_every_break_is_named() {
        let sec = key(9);
        let c = chain(&sec);
        let mex = Some(state("MEX"));
        assert_eq!(c[0].header.audience, [state("MEX"), state("SWE")], "sorted");
        c[0].check_successor(None, &sec.public(), mex).expect("first");
        c[1].check_successor(Some(&c[0].header), &sec.public(), mex).expect("second");
        // Not the Secretariat's key.
        assert!(matches!(
            c[0].check_successor(None, &key(1).public(), mex),
            Err(PublicationError::WrongSigner { seq: 1, .. })
        ));
        // Altered content, signature intact.
        let mut altered = c[1].clone();
        if let Some(PublicationContent::MeetingNotice(n)) = &mut altered.content {
            n.title = "Another meeting".into();
        }
        assert_eq!(
            altered.check_successor(Some(&c[0].header), &sec.public(), mex),
            Err(PublicationError::ContentMismatch { seq: 2 })
        );
        // Altered header: the signature fails.
        let mut moved = c[1].clone();
        moved.header.published_at += 1;
        assert!(matches!(
            moved.check_successor(Some(&c[0].header), &sec.public(), mex),
            Err(PublicationError::WrongSigner { .. })
        ));
        // Out of order, and a fork.
        assert_eq!(
            c[1].check_successor(None, &sec.public(), mex),
            Err(PublicationError::OutOfSequence { have: 0, got: 2 })
        );
        let other = chain(&sec);
        let mut fork_prev = other[0].header.clone();
        fork_prev.published_at -= 1;
        assert_eq!(
            c[1].check_successor(Some(&fork_prev), &sec.public(), mex),
            Err(PublicationError::BrokenChain { seq: 2, previous: 1 })
        );
    }

    #[test]
    fn content_is_withheld_only_from_those_outside_the_audience() {
        let sec = key(9);
        let c = chain(&sec);
        let header_only = c[1].withheld();
        // SWE is not in publication 2's audience: the header alone keeps its chain.
        header_only.check_successor(Some(&c[0].header), &sec.public(), Some(state("SWE"))).expect("withheld");
        assert_eq!(
            header_only.check_successor(Some(&c[0].header), &sec.public(), Some(state("MEX"))),
            Err(PublicationError::Withheld { seq: 2, state: state("MEX") })
        );
    }

    #[test]
    fn a_circulated_report_must_carry_its_states_signature() {
        let sec = key(9);
        let c = chain(&sec);
        c[0].check_report(|s| (s == state("MEX")).then(|| key(1).public())).expect("MEX's key");
        assert_eq!(
            c[0].check_report(|_| Some(key(2).public())),
            Err(PublicationError::BadReport { seq: 1, state: state("MEX") })
        );
        assert!(c[0].check_report(|_| None).is_err(), "a State the directory does not list");
    }
}
