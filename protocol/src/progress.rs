//! Progress within an exchange (Art. 11 of the Treaty): the measures each
//! party took under each provision, moves of the exchange's stage, the date
//! by which the requesting State asks for a response, and the typed outcome
//! an exchange is closed with.
//!
//! Each is a body of its own, signed and sent within the exchange like any
//! other: a measure or a stage move goes from the party that records it to
//! every other party, so that every party's view of the exchange agrees. The
//! rules that need no context are in `validate`; the one that needs the
//! envelope's time (no measure dated after the day it was sent) is
//! [`check_dated`]. Forms (`MeasureForm`, the words of `parse_stage` and
//! `Outcome::parse`) are what operators write, every mistake named.

use crate::handling::Handling;
use crate::request::{MAX_SUMMARY, MAX_TEXT, Provision, Stage, check_text};
use crate::validation::ValidationErrors;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A day of the Gregorian calendar (UTC), from 0001-01-01 to 9999-12-31.
///
/// On the wire (bincode) it is the number of days since 1970-01-01 as an
/// `i32` (negative before); in JSON and TOML it is the string `YYYY-MM-DD`.
/// A decoder refuses a day outside the range, so the encoding stays canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarDate(i32);

/// 1970-01-01 as a Julian day: `time` counts days that way.
const UNIX_EPOCH_JULIAN: i32 = 2_440_588;

impl CalendarDate {
    /// The day from a date of the `time` crate, if in range.
    pub fn from_date(date: time::Date) -> Option<CalendarDate> {
        (1..=9999).contains(&date.year()).then(|| CalendarDate(date.to_julian_day() - UNIX_EPOCH_JULIAN))
    }

    /// The day from its number of days since 1970-01-01, if in range.
    pub fn from_days(days: i32) -> Option<CalendarDate> {
        let date = time::Date::from_julian_day(days.checked_add(UNIX_EPOCH_JULIAN)?).ok()?;
        CalendarDate::from_date(date)
    }

    /// The UTC day of a time in seconds since 1970-01-01.
    pub fn of_time(unix_secs: i64) -> Option<CalendarDate> {
        CalendarDate::from_days(i32::try_from(unix_secs.div_euclid(86_400)).ok()?)
    }

    /// Days since 1970-01-01: the value on the wire.
    pub fn days(self) -> i32 {
        self.0
    }

    /// The first second of the day, UTC.
    pub fn start(self) -> i64 {
        i64::from(self.0) * 86_400
    }

    /// Reads `YYYY-MM-DD` exactly (ten characters, no sign).
    pub fn parse(s: &str) -> Option<CalendarDate> {
        CalendarDate::from_date(crate::response::parse_date(s.trim())?)
    }

    fn date(self) -> time::Date {
        // In range by construction.
        time::Date::from_julian_day(self.0 + UNIX_EPOCH_JULIAN).unwrap_or(time::Date::MIN)
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.date();
        write!(f, "{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }
}

impl Serialize for CalendarDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&self.to_string()) } else { s.serialize_i32(self.0) }
    }
}

impl<'de> Deserialize<'de> for CalendarDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CalendarDate, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            CalendarDate::parse(&s).ok_or_else(|| D::Error::custom(format!("{s:?} is not a date; write YYYY-MM-DD")))
        } else {
            let days = i32::deserialize(d)?;
            CalendarDate::from_days(days)
                .ok_or_else(|| D::Error::custom(format!("day {days} is outside 0001-01-01 to 9999-12-31")))
        }
    }
}

/// A measure a party took, by kind. Which provisions each kind may be
/// recorded under is [`MeasureKind::provisions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MeasureKind {
    RiskAssessed,
    MitigationMeasureOffered,
    MitigationMeasureTaken,
    LicenceDenied,
    LicenceSuspended,
    LicenceRevoked,
    AffectedStatesAlerted,
    ShipmentExamined,
    InvestigationOpened,
    EnforcementActionOpened,
    SharedRoutes,
    SharedBrokers,
    SharedSourcesOfSupply,
    SharedConcealmentMethods,
    SharedPointsOfDispatch,
    SharedDestinations,
    ReportedThroughSecretariat,
    Other,
}

use Provision::*;

/// Prevention, risk assessment and mitigation: 11.1, 11.2, 11.3.
const PREVENTION: &[Provision] = &[Art11_1, Art11_2, Art11_3];

impl MeasureKind {
    /// Every kind, with its name and the provisions it may be recorded under.
    pub const ALL: [(MeasureKind, &'static str, &'static [Provision]); 18] = [
        (MeasureKind::RiskAssessed, "risk-assessed", &[Art11_1, Art11_2]),
        (MeasureKind::MitigationMeasureOffered, "mitigation-measure-offered", &[Art11_2, Art11_3]),
        (MeasureKind::MitigationMeasureTaken, "mitigation-measure-taken", PREVENTION),
        (MeasureKind::LicenceDenied, "licence-denied", PREVENTION),
        (MeasureKind::LicenceSuspended, "licence-suspended", PREVENTION),
        (MeasureKind::LicenceRevoked, "licence-revoked", PREVENTION),
        (MeasureKind::AffectedStatesAlerted, "affected-states-alerted", &[Art11_4]),
        (MeasureKind::ShipmentExamined, "shipment-examined", &[Art11_4]),
        (MeasureKind::InvestigationOpened, "investigation-opened", &[Art11_4]),
        (MeasureKind::EnforcementActionOpened, "enforcement-action-opened", &[Art11_4]),
        (MeasureKind::SharedRoutes, "shared-routes", &[Art11_5]),
        (MeasureKind::SharedBrokers, "shared-brokers", &[Art11_5]),
        (MeasureKind::SharedSourcesOfSupply, "shared-sources-of-supply", &[Art11_5]),
        (MeasureKind::SharedConcealmentMethods, "shared-concealment-methods", &[Art11_5]),
        (MeasureKind::SharedPointsOfDispatch, "shared-points-of-dispatch", &[Art11_5]),
        (MeasureKind::SharedDestinations, "shared-destinations", &[Art11_5]),
        (MeasureKind::ReportedThroughSecretariat, "reported-through-secretariat", &[Art11_6, Art13_2]),
        (MeasureKind::Other, "other", &[Art11_1, Art11_2, Art11_3, Art11_4, Art11_5, Art11_6, Art13_2]),
    ];

    fn row(self) -> &'static (MeasureKind, &'static str, &'static [Provision]) {
        // Every kind has its row: ALL is exhaustive (a test checks it).
        Self::ALL.iter().find(|(k, _, _)| *k == self).unwrap_or(&Self::ALL[17])
    }

    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    /// The provisions a measure of this kind may be recorded under.
    pub fn provisions(self) -> &'static [Provision] {
        self.row().2
    }

    pub fn parse(s: &str) -> Option<MeasureKind> {
        let s = s.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        Self::ALL.iter().find(|(_, name, _)| *name == s).map(|(k, _, _)| *k)
    }

    /// The kinds that may be recorded under `provision`, by name.
    pub fn names_under(provision: Provision) -> Vec<&'static str> {
        Self::ALL.iter().filter(|(_, _, p)| p.contains(&provision)).map(|(_, n, _)| *n).collect()
    }
}

impl fmt::Display for MeasureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn provision_names(list: &[Provision]) -> String {
    list.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

/// Why a progress record is refused: each rule of SPEC section 7.2 that an
/// operator (or a peer) can break, by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProgressError {
    #[error("{given:?} is not an ATT provision of the mechanism; use one of 11.1, 11.2, 11.3, 11.4, 11.5, 11.6, 13.2")]
    UnknownProvision { given: String },
    #[error("{given:?} is not a kind of measure; use one of {}", MeasureKind::ALL.map(|(_, n, _)| n).join(", "))]
    UnknownKind { given: String },
    #[error("a measure of kind {kind} is not one under Art. {}; record it under {} (under Art. {} the kinds are {})",
        provision.as_str(), provision_names(kind.provisions()), provision.as_str(), MeasureKind::names_under(*provision).join(", "))]
    KindNotUnderProvision { kind: MeasureKind, provision: Provision },
    #[error("{given:?} is not a date; write YYYY-MM-DD")]
    BadDate { given: String },
    #[error(
        "the measure is dated {date}, after the day it is recorded ({today}, UTC); a measure is recorded once taken"
    )]
    DatedInFuture { date: CalendarDate, today: CalendarDate },
    #[error("{given:?} is not a stage; use risk-analysis, diversion-detected, reached-end-user or other:TEXT")]
    UnknownStage { given: String },
    #[error("{given:?} is not an outcome; use one of {}, or other:TEXT", Outcome::NAMES.join(", "))]
    UnknownOutcome { given: String },
}

impl ProgressError {
    /// A short name of the rule, for error codes (`measure-dated-in-future`, …).
    pub fn code(&self) -> &'static str {
        match self {
            ProgressError::UnknownProvision { .. } => "unknown-provision",
            ProgressError::UnknownKind { .. } => "unknown-measure-kind",
            ProgressError::KindNotUnderProvision { .. } => "measure-not-under-provision",
            ProgressError::BadDate { .. } => "bad-date",
            ProgressError::DatedInFuture { .. } => "measure-dated-in-future",
            ProgressError::UnknownStage { .. } => "unknown-stage",
            ProgressError::UnknownOutcome { .. } => "unknown-outcome",
        }
    }
}

/// A measure a party took under one provision, on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    pub provision: Provision,
    pub kind: MeasureKind,
    /// The day the measure was taken (UTC); not after the day it is sent.
    pub date: CalendarDate,
    /// What was done, in the party's words; required for `other`.
    pub text: String,
    pub handling: Handling,
}

impl Measure {
    /// That the kind belongs under the provision.
    pub fn check_provision(&self) -> Result<(), ProgressError> {
        if self.kind.provisions().contains(&self.provision) {
            Ok(())
        } else {
            Err(ProgressError::KindNotUnderProvision { kind: self.kind, provision: self.provision })
        }
    }

    /// That the measure is not dated after the UTC day of `created_at`
    /// (the envelope's time).
    pub fn check_dated(&self, created_at: i64) -> Result<(), ProgressError> {
        match CalendarDate::of_time(created_at) {
            Some(today) if self.date > today => Err(ProgressError::DatedInFuture { date: self.date, today }),
            _ => Ok(()),
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Err(e) = self.check_provision() {
            errors.push("kind", e.to_string());
        }
        check_text("text", &self.text, MAX_TEXT, self.kind == MeasureKind::Other, &mut errors);
        self.handling.check("handling", &mut errors);
        errors.into_result(|| ())
    }
}

/// A measure as an operator writes it: plain strings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureForm {
    #[serde(default)]
    pub provision: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub text: String,
    /// The node's defaults when absent.
    #[serde(default)]
    pub handling: Option<Handling>,
}

impl MeasureForm {
    /// The measure, or every problem found, each named (a problem's text is
    /// the [`ProgressError`]'s). The date is checked against `today` by
    /// [`Measure::check_dated`], not here.
    pub fn parse(&self) -> Result<Measure, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let provision = Provision::parse(&self.provision);
        if provision.is_none() {
            errors.push("provision", ProgressError::UnknownProvision { given: self.provision.clone() }.to_string());
        }
        let kind = MeasureKind::parse(&self.kind);
        if kind.is_none() {
            errors.push("kind", ProgressError::UnknownKind { given: self.kind.clone() }.to_string());
        }
        let date = CalendarDate::parse(&self.date);
        if date.is_none() {
            errors.push("date", ProgressError::BadDate { given: self.date.clone() }.to_string());
        }
        let (Some(provision), Some(kind), Some(date)) = (provision, kind, date) else { return Err(errors) };
        let measure = Measure {
            provision,
            kind,
            date,
            text: self.text.trim().to_string(),
            handling: self.handling.clone().unwrap_or_default(),
        };
        measure.validate()?;
        errors.into_result(|| measure)
    }

    /// The first named rule the form breaks, for an error code.
    pub fn first_error(&self, created_at: i64) -> Option<ProgressError> {
        let Some(provision) = Provision::parse(&self.provision) else {
            return Some(ProgressError::UnknownProvision { given: self.provision.clone() });
        };
        let Some(kind) = MeasureKind::parse(&self.kind) else {
            return Some(ProgressError::UnknownKind { given: self.kind.clone() });
        };
        let Some(date) = CalendarDate::parse(&self.date) else {
            return Some(ProgressError::BadDate { given: self.date.clone() });
        };
        let m = Measure { provision, kind, date, text: String::new(), handling: Handling::default() };
        m.check_provision().err().or_else(|| m.check_dated(created_at).err())
    }
}

/// Reads a stage as operators write it: `risk-analysis`,
/// `diversion-detected`, `reached-end-user` or `other:TEXT`.
pub fn parse_stage(s: &str) -> Result<Stage, ProgressError> {
    let s = s.trim();
    match s {
        "risk-analysis" => Ok(Stage::RiskAnalysis),
        "diversion-detected" => Ok(Stage::DiversionDetected),
        "reached-end-user" => Ok(Stage::ReachedEndUser),
        _ => match s.strip_prefix("other:") {
            Some(text) if !text.trim().is_empty() => Ok(Stage::Other(text.trim().to_string())),
            _ => Err(ProgressError::UnknownStage { given: s.to_string() }),
        },
    }
}

/// A stage's name as operators write it (`other` for any other).
pub fn stage_name(stage: &Stage) -> &'static str {
    match stage {
        Stage::RiskAnalysis => "risk-analysis",
        Stage::DiversionDetected => "diversion-detected",
        Stage::ReachedEndUser => "reached-end-user",
        Stage::Other(_) => "other",
    }
}

/// The exchange moves to another stage of Annex 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageMove {
    pub stage: Stage,
    /// Why, in the party's words; may be empty.
    pub text: String,
}

impl StageMove {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Stage::Other(text) = &self.stage {
            check_text("stage_other", text, MAX_SUMMARY, true, &mut errors);
        }
        check_text("text", &self.text, MAX_TEXT, false, &mut errors);
        errors.into_result(|| ())
    }
}

/// The day by which the requesting State asks for a response. A later one
/// replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RespondBy {
    pub date: CalendarDate,
    pub text: String,
}

impl RespondBy {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text("text", &self.text, MAX_TEXT, false, &mut errors);
        errors.into_result(|| ())
    }
}

/// What an exchange came to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    DiversionConfirmed,
    DiversionPrevented,
    RiskMitigated,
    NotConfirmed,
    Inconclusive,
    Other(String),
}

impl Outcome {
    pub const NAMES: [&'static str; 5] =
        ["diversion-confirmed", "diversion-prevented", "risk-mitigated", "not-confirmed", "inconclusive"];

    /// Reads an outcome as operators write it: one of [`Outcome::NAMES`] or
    /// `other:TEXT`.
    pub fn parse(s: &str) -> Result<Outcome, ProgressError> {
        let s = s.trim();
        Ok(match s {
            "diversion-confirmed" => Outcome::DiversionConfirmed,
            "diversion-prevented" => Outcome::DiversionPrevented,
            "risk-mitigated" => Outcome::RiskMitigated,
            "not-confirmed" => Outcome::NotConfirmed,
            "inconclusive" => Outcome::Inconclusive,
            _ => match s.strip_prefix("other:") {
                Some(text) if !text.trim().is_empty() => Outcome::Other(text.trim().to_string()),
                _ => return Err(ProgressError::UnknownOutcome { given: s.to_string() }),
            },
        })
    }

    /// The outcome's name (`other` for any other).
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::DiversionConfirmed => Self::NAMES[0],
            Outcome::DiversionPrevented => Self::NAMES[1],
            Outcome::RiskMitigated => Self::NAMES[2],
            Outcome::NotConfirmed => Self::NAMES[3],
            Outcome::Inconclusive => Self::NAMES[4],
            Outcome::Other(_) => "other",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Other(text) => write!(f, "other: {text}"),
            o => f.write_str(o.as_str()),
        }
    }
}

/// Closes an exchange, as `Close` does, with its outcome as well as the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closing {
    pub outcome: Outcome,
    pub reason: String,
}

impl Closing {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Outcome::Other(text) = &self.outcome {
            check_text("outcome_other", text, MAX_SUMMARY, true, &mut errors);
        }
        check_text("reason", &self.reason, MAX_TEXT, false, &mut errors);
        errors.into_result(|| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> MeasureForm {
        MeasureForm {
            provision: "11.4".into(),
            kind: "shipment-examined".into(),
            date: "2026-11-30".into(),
            text: "Container opened at the port of entry".into(),
            handling: None,
        }
    }

    /// 2026-12-01T12:00:00Z.
    const DEC_1: i64 = 1_796_126_400;

    #[test]
    fn every_measure_kind_has_its_row_and_some_provision() {
        for (i, (kind, name, provisions)) in MeasureKind::ALL.iter().enumerate() {
            assert_eq!(kind.as_str(), *name);
            assert_eq!(MeasureKind::parse(name), Some(*kind));
            assert!(!provisions.is_empty(), "{name}");
            // Declaration order is the wire index: the table follows it.
            let encoded = crate::codec::encode("kind", kind).expect("encode");
            assert_eq!(encoded, (i as u32).to_le_bytes(), "{name}");
        }
    }

    #[test]
    fn a_valid_form_parses() {
        let m = form().parse().expect("valid");
        assert_eq!(m.provision, Art11_4);
        assert_eq!(m.kind, MeasureKind::ShipmentExamined);
        assert_eq!(m.date.to_string(), "2026-11-30");
        assert!(m.check_dated(DEC_1).is_ok());
    }

    #[test]
    fn an_unknown_provision_is_named_with_the_allowed_ones() {
        let mut f = form();
        f.provision = "12.1".into();
        let errors = f.parse().expect_err("unknown provision");
        assert_eq!(errors.0[0].field, "provision");
        assert!(errors.0[0].problem.contains("11.1, 11.2, 11.3, 11.4, 11.5, 11.6, 13.2"), "{errors}");
        assert_eq!(f.first_error(DEC_1).map(|e| e.code()), Some("unknown-provision"));
    }

    #[test]
    fn a_measure_under_a_provision_it_does_not_belong_to_is_refused() {
        let mut f = form();
        f.provision = "11.5".into();
        let errors = f.parse().expect_err("wrong provision");
        assert_eq!(errors.0[0].field, "kind");
        assert!(errors.0[0].problem.contains("record it under 11.4"), "{errors}");
        assert_eq!(f.first_error(DEC_1).map(|e| e.code()), Some("measure-not-under-provision"));
        // The same rule on a measure received, whoever built it.
        let mut m = form().parse().expect("valid");
        m.provision = Art13_2;
        assert!(m.validate().is_err());
    }

    #[test]
    fn a_measure_dated_after_the_day_it_is_sent_is_refused() {
        let mut f = form();
        f.date = "2026-12-02".into();
        let m = f.parse().expect("the form alone does not know the day");
        let e = m.check_dated(DEC_1).expect_err("in the future");
        assert_eq!(e.code(), "measure-dated-in-future");
        assert!(e.to_string().contains("2026-12-02") && e.to_string().contains("2026-12-01"), "{e}");
        f.date = "2026-12-01".into();
        assert!(f.parse().expect("valid").check_dated(DEC_1).is_ok(), "the same day is not the future");
    }

    #[test]
    fn texts_follow_the_rules_of_the_rest() {
        let mut f = form();
        f.text = "fake\u{1b}[2J".into();
        assert!(f.parse().expect_err("control").0[0].problem.contains("U+001B"));
        let mut f = form();
        f.kind = "other".into();
        f.text = " ".into();
        assert_eq!(f.parse().expect_err("other needs text").0[0].field, "text");
        let stage = StageMove { stage: Stage::Other(String::new()), text: String::new() };
        assert_eq!(stage.validate().expect_err("empty other").0[0].field, "stage_other");
        let closing = Closing { outcome: Outcome::Inconclusive, reason: "\u{7}".into() };
        assert_eq!(closing.validate().expect_err("bell").0[0].field, "reason");
        let closing = Closing { outcome: Outcome::Other(" ".into()), reason: String::new() };
        assert_eq!(closing.validate().expect_err("empty other").0[0].field, "outcome_other");
    }

    #[test]
    fn bad_dates_kinds_stages_and_outcomes_are_named() {
        let mut f = form();
        f.date = "30/11/2026".into();
        f.kind = "raid".into();
        let fields: Vec<String> = f.parse().expect_err("bad").0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["kind", "date"]);
        assert_eq!(parse_stage("other:post-shipment visit"), Ok(Stage::Other("post-shipment visit".into())));
        assert_eq!(parse_stage("closing").map_err(|e| e.code()), Err("unknown-stage"));
        assert_eq!(parse_stage("other:").map_err(|e| e.code()), Err("unknown-stage"));
        assert_eq!(Outcome::parse("risk-mitigated"), Ok(Outcome::RiskMitigated));
        assert_eq!(Outcome::parse("done").map_err(|e| e.code()), Err("unknown-outcome"));
    }

    #[test]
    fn a_date_is_days_since_1970_on_the_wire_and_text_in_json() {
        let d = CalendarDate::parse("2026-11-30").expect("date");
        assert_eq!(d.days(), 20_787);
        assert_eq!(crate::codec::encode("date", &d).expect("encode"), 20_787i32.to_le_bytes());
        assert_eq!(serde_json::to_string(&d).expect("json"), "\"2026-11-30\"");
        assert_eq!(CalendarDate::of_time(DEC_1).map(|d| d.to_string()).as_deref(), Some("2026-12-01"));
        assert_eq!(CalendarDate::parse("0001-01-01").map(|d| d.days()), Some(-719_162));
        // Outside the range: refused on decode, so every accepted encoding is canonical.
        let too_far = crate::codec::encode("days", &3_000_000i32).expect("encode");
        assert!(crate::codec::decode::<CalendarDate, 8>("date", &too_far).is_err());
        assert!(CalendarDate::parse("+2026-11-30").is_none());
    }
}
