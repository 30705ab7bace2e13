//! The annual meeting of national points of contact ("the Meeting could take
//! place one day before CSP"): the notice the Secretariat publishes, each
//! State's signed registration of participants chosen from its own points of
//! contact, and the recommendations the meeting makes for the Conference of
//! States Parties.

use crate::codec::{self, CodecError};
use crate::contacts::ContactSet;
use crate::keys::{IdentityKeypair, KeyError, PublicIdentity, domain};
use crate::publication::{MAX_REPORT_TEXT, MAX_TITLE, day_of};
use crate::request::check_text;
use crate::response::parse_date;
use crate::state::StateCode;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The Treaty's working languages (the type of reports to the CSP).
pub use crate::report::Language;

/// Where the meeting takes place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Venue {
    /// A place, in words.
    InPerson(String),
    /// How to join, in words (a link).
    Online(String),
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Venue::InPerson(place) => write!(f, "in person: {place}"),
            Venue::Online(how) => write!(f, "online: {how}"),
        }
    }
}

/// The Secretariat's notice of the annual meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingNotice {
    pub title: String,
    /// The first day of the Conference of States Parties, `YYYY-MM-DD`.
    pub csp_date: String,
    pub starts_on: String,
    pub ends_on: String,
    pub venue: Venue,
    /// The languages offered, each once.
    pub languages: Vec<Language>,
    /// The draft agenda, item by item.
    pub agenda: Vec<String>,
    /// Unix seconds: registrations are taken until then.
    pub registration_deadline: i64,
}

/// The meeting's recommendations for the Conference of States Parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendations {
    /// The publication number of the meeting's notice.
    pub notice: u64,
    pub text: String,
    pub items: Vec<String>,
}

/// One participant a State registers: one of its points of contact as the
/// directory lists them (named by name and one of its e-mail addresses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub name: String,
    pub email: String,
    /// The language the participant follows the meeting in.
    pub language: Language,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRegistration {
    pub state: StateCode,
    /// The publication number of the notice.
    pub notice: u64,
    pub participants: Vec<Participant>,
    /// Unix seconds.
    pub signed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMeetingRegistration {
    pub registration: MeetingRegistration,
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

/// Most agenda items, recommendations, or participants of one State.
pub const MAX_ITEMS: usize = 50;
const MAX_LINE: usize = 2_000;

/// Why a registration is refused, each with what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeetingError {
    #[error("the registration lists no participant; name at least one of the State's points of contact")]
    NoParticipants,
    #[error("the registration lists {0} participants; at most {MAX_ITEMS}")]
    TooMany(usize),
    #[error(
        "{name} <{email}> is not a point of contact of {state} in the directory: a State registers only its own \
         points of contact (`veim directory list` shows them; submit new ones with `veim contacts submit`)"
    )]
    NotOwnContact { state: StateCode, name: String, email: String },
    #[error("{name} <{email}> is listed twice")]
    Twice { name: String, email: String },
    #[error("the meeting is not held in {language}; it offers {offered}")]
    LanguageNotOffered { language: Language, offered: String },
    #[error("registrations for this meeting closed at {deadline} (Unix seconds); it is now {now}")]
    AfterDeadline { deadline: i64, now: i64 },
    #[error("the registration is for notice {got}, not for the meeting of notice {expected}")]
    OtherMeeting { expected: u64, got: u64 },
}

impl MeetingNotice {
    /// The rules of section 8.7 for a notice published at `now`.
    pub fn validate(&self, now: i64) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text("title", &self.title, MAX_TITLE, true, &mut errors);
        let csp = parse_date(&self.csp_date);
        let starts = parse_date(&self.starts_on);
        let ends = parse_date(&self.ends_on);
        for (field, value, parsed) in [
            ("csp_date", &self.csp_date, csp),
            ("starts_on", &self.starts_on, starts),
            ("ends_on", &self.ends_on, ends),
        ] {
            if parsed.is_none() {
                errors.push(field, format!("{value:?} is not a date; write YYYY-MM-DD"));
            }
        }
        if let (Some(s), Some(e)) = (starts, ends)
            && e < s
        {
            errors.push("ends_on", "is before starts_on");
        }
        if let (Some(s), Some(c)) = (starts, csp)
            && s > c
        {
            errors.push("starts_on", "is after the first day of the CSP; the meeting comes before it");
        }
        let venue = match &self.venue {
            Venue::InPerson(v) | Venue::Online(v) => v,
        };
        check_text("venue", venue, MAX_LINE, true, &mut errors);
        if self.languages.is_empty() {
            errors.push("languages", "is empty; offer at least one of en, fr, es");
        }
        for (i, l) in self.languages.iter().enumerate() {
            if self.languages[..i].contains(l) {
                errors.push(format!("languages[{i}]"), format!("{l} is offered twice"));
            }
        }
        check_items("agenda", &self.agenda, &mut errors);
        if self.registration_deadline <= now {
            errors.push("registration_deadline", "has passed; set a deadline in the future");
        }
        if let Some(s) = starts
            && let Some(start) = s.midnight().assume_utc().unix_timestamp().checked_add(86_400)
            && self.registration_deadline > start
        {
            errors.push("registration_deadline", "is after the meeting's first day");
        }
        errors.into_result(|| ())
    }

    /// Whether the meeting is held in `language`.
    pub fn offers(&self, language: Language) -> bool {
        self.languages.contains(&language)
    }
}

fn check_items(field: &str, items: &[String], errors: &mut ValidationErrors) {
    if items.len() > MAX_ITEMS {
        errors.push(field, format!("lists {} items; at most {MAX_ITEMS}", items.len()));
    }
    for (i, item) in items.iter().enumerate() {
        check_text(&format!("{field}[{i}]"), item, MAX_LINE, true, errors);
    }
}

impl Recommendations {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text("text", &self.text, MAX_REPORT_TEXT, false, &mut errors);
        check_items("items", &self.items, &mut errors);
        if self.items.is_empty() && self.text.trim().is_empty() {
            errors.push("items", "is empty and so is text; give the recommendations");
        }
        errors.into_result(|| ())
    }
}

impl MeetingRegistration {
    /// The rules a Secretariat applies (section 8.7), given the notice
    /// published as `notice_seq` and the State's contacts as the directory
    /// carries them.
    pub fn check(
        &self,
        notice_seq: u64,
        notice: &MeetingNotice,
        contacts: Option<&ContactSet>,
        now: i64,
    ) -> Result<(), MeetingError> {
        if self.notice != notice_seq {
            return Err(MeetingError::OtherMeeting { expected: notice_seq, got: self.notice });
        }
        if now > notice.registration_deadline {
            return Err(MeetingError::AfterDeadline { deadline: notice.registration_deadline, now });
        }
        if self.participants.is_empty() {
            return Err(MeetingError::NoParticipants);
        }
        if self.participants.len() > MAX_ITEMS {
            return Err(MeetingError::TooMany(self.participants.len()));
        }
        for (i, p) in self.participants.iter().enumerate() {
            let own = contacts.is_some_and(|set| {
                set.state == self.state && set.contacts.iter().any(|c| c.name == p.name && c.emails.contains(&p.email))
            });
            if !own {
                return Err(MeetingError::NotOwnContact {
                    state: self.state,
                    name: p.name.clone(),
                    email: p.email.clone(),
                });
            }
            if self.participants[..i].iter().any(|q| q.name == p.name && q.email == p.email) {
                return Err(MeetingError::Twice { name: p.name.clone(), email: p.email.clone() });
            }
            if !notice.offers(p.language) {
                let offered = notice.languages.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ");
                return Err(MeetingError::LanguageNotOffered { language: p.language, offered });
            }
        }
        Ok(())
    }
}

impl SignedMeetingRegistration {
    pub fn sign(registration: MeetingRegistration, key: &IdentityKeypair) -> Result<Self, CodecError> {
        let bytes = codec::encode("meeting registration", &registration)?;
        Ok(Self { signature: key.sign(domain::MEETING_REGISTRATION, &bytes), registration })
    }

    pub fn verify(&self, key: &PublicIdentity) -> Result<(), KeyError> {
        let bytes = codec::encode("meeting registration", &self.registration)
            .map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::MEETING_REGISTRATION, &bytes, &self.signature)
    }
}

/// What the Secretariat's operator writes in a notice file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingNoticeForm {
    #[serde(default)]
    pub title: String,
    /// The first day of the CSP, `YYYY-MM-DD`.
    #[serde(default)]
    pub csp_date: String,
    /// Default: the day before the CSP.
    pub starts_on: Option<String>,
    /// Default: the day it starts.
    pub ends_on: Option<String>,
    /// A place; or give `online`.
    pub venue: Option<String>,
    /// How to join online.
    pub online: Option<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub agenda: Vec<String>,
    /// `YYYY-MM-DD` (registrations close at the end of that day, UTC) or
    /// an RFC 3339 time. Default: the end of the seventh day before the meeting.
    pub registration_deadline: Option<String>,
}

fn end_of_day(d: time::Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp() + 86_399
}

impl MeetingNoticeForm {
    /// Checks the form at `now` and returns the notice, or every problem.
    pub fn parse(&self, now: i64) -> Result<MeetingNotice, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let csp = parse_date(self.csp_date.trim());
        let starts_on = match (&self.starts_on, csp) {
            (Some(s), _) => s.trim().to_string(),
            (None, Some(c)) => c.previous_day().map(|d| d.to_string()).unwrap_or_default(),
            (None, None) => String::new(),
        };
        let ends_on = self.ends_on.as_deref().map(str::trim).unwrap_or(&starts_on).to_string();
        let venue = match (&self.venue, &self.online) {
            (Some(place), None) => Venue::InPerson(place.trim().into()),
            (None, Some(how)) => Venue::Online(how.trim().into()),
            _ => {
                errors.push("venue", "give either venue (a place) or online (how to join), not both or neither");
                Venue::InPerson(String::new())
            }
        };
        let mut languages = Vec::new();
        for (i, l) in self.languages.iter().enumerate() {
            match Language::parse(l) {
                Some(l) => languages.push(l),
                None => errors.push(format!("languages[{i}]"), format!("{l:?} is not offered; use en, fr or es")),
            }
        }
        let registration_deadline = match self.registration_deadline.as_deref().map(str::trim) {
            Some(text) => match parse_date(text) {
                Some(d) => end_of_day(d),
                None => match time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
                    Ok(t) => t.unix_timestamp(),
                    Err(_) => {
                        errors.push(
                            "registration_deadline",
                            format!("{text:?} is not a date (YYYY-MM-DD) or a time (2026-08-01T17:00:00Z)"),
                        );
                        0
                    }
                },
            },
            None => {
                parse_date(&starts_on).and_then(|d| d.checked_sub(time::Duration::days(7))).map(end_of_day).unwrap_or(0)
            }
        };
        let notice = MeetingNotice {
            title: self.title.trim().into(),
            csp_date: self.csp_date.trim().into(),
            starts_on,
            ends_on,
            venue,
            languages,
            agenda: self.agenda.iter().map(|a| a.trim().to_string()).collect(),
            registration_deadline,
        };
        if let Err(more) = notice.validate(now) {
            errors.0.extend(more.0);
        }
        errors.into_result(|| notice)
    }
}

/// The day of `now`, for those who show dates.
pub fn today(now: i64) -> String {
    day_of(now).map(|d| d.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::{ContactRole, PointOfContact, Visibility};

    const NOW: i64 = 1_767_268_800; // 2026-01-01T12:00:00Z

    fn form() -> MeetingNoticeForm {
        MeetingNoticeForm {
            title: "Annual meeting of national points of contact".into(),
            csp_date: "2026-08-24".into(),
            online: Some("https://meet.example.org/att".into()),
            languages: vec!["en".into(), "es".into()],
            agenda: vec!["Opening".into(), "Article 11 in practice".into()],
            ..MeetingNoticeForm::default()
        }
    }

    fn contacts() -> ContactSet {
        ContactSet {
            state: "MEX".parse().expect("MEX"),
            entry_visibility: Visibility::Public,
            contacts: vec![PointOfContact {
                name: "Ana Ruiz".into(),
                job_title: String::new(),
                ministry: "SRE".into(),
                emails: vec!["poc@sre.example.mx".into()],
                phones: vec![],
                office_address: String::new(),
                languages: vec!["es".into()],
                role: ContactRole::NationalPoc,
                visibility: Visibility::Public,
                restricted_fields: vec![],
            }],
            submitted_at: NOW,
        }
    }

    fn registration(name: &str, email: &str, language: Language) -> MeetingRegistration {
        MeetingRegistration {
            state: "MEX".parse().expect("MEX"),
            notice: 4,
            participants: vec![Participant { name: name.into(), email: email.into(), language }],
            signed_at: NOW,
        }
    }

    #[test]
    fn the_example_notice_file_is_valid() {
        let form: MeetingNoticeForm =
            toml::from_str(include_str!("../../deploy/examples/meeting-notice.toml")).expect("example notice");
        let n = form.parse(NOW).expect("valid");
        assert_eq!(n.starts_on, "2027-08-29");
        assert!(matches!(n.venue, Venue::InPerson(_)));
        assert_eq!(n.languages, Language::ALL);
    }

    #[test]
    fn the_meeting_is_by_default_the_day_before_the_csp() {
        let n = form().parse(NOW).expect("valid");
        assert_eq!((n.starts_on.as_str(), n.ends_on.as_str()), ("2026-08-23", "2026-08-23"));
        // The end of 2026-08-16, UTC.
        assert_eq!(n.registration_deadline, 1_786_924_799);
        assert_eq!(n.venue, Venue::Online("https://meet.example.org/att".into()));
    }

    #[test]
    fn a_bad_notice_names_every_problem() {
        let mut f = form();
        f.languages.push("de".into());
        f.venue = Some("Geneva".into());
        f.registration_deadline = Some("2025-12-31".into());
        f.starts_on = Some("2026-08-25".into());
        let errors = f.parse(NOW).expect_err("invalid");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        for field in ["languages[2]", "venue", "registration_deadline", "starts_on"] {
            assert!(fields.contains(&field), "{field} not in {fields:?}");
        }
    }

    #[test]
    fn only_own_contacts_in_offered_languages_before_the_deadline_register() {
        let n = form().parse(NOW).expect("valid");
        let c = contacts();
        let ok = registration("Ana Ruiz", "poc@sre.example.mx", Language::Es);
        assert_eq!(ok.check(4, &n, Some(&c), NOW), Ok(()));
        assert!(matches!(
            registration("Ana Ruiz", "other@sre.example.mx", Language::Es).check(4, &n, Some(&c), NOW),
            Err(MeetingError::NotOwnContact { .. })
        ));
        assert!(matches!(
            registration("Someone Else", "poc@sre.example.mx", Language::Es).check(4, &n, Some(&c), NOW),
            Err(MeetingError::NotOwnContact { .. })
        ));
        // Another State's contacts are not this State's.
        let mut swe = c.clone();
        swe.state = "SWE".parse().expect("SWE");
        assert!(matches!(ok.check(4, &n, Some(&swe), NOW), Err(MeetingError::NotOwnContact { .. })));
        assert!(matches!(ok.check(4, &n, None, NOW), Err(MeetingError::NotOwnContact { .. })));
        assert!(matches!(
            registration("Ana Ruiz", "poc@sre.example.mx", Language::Fr).check(4, &n, Some(&c), NOW),
            Err(MeetingError::LanguageNotOffered { language: Language::Fr, .. })
        ));
        assert!(matches!(
            ok.check(4, &n, Some(&c), n.registration_deadline + 1),
            Err(MeetingError::AfterDeadline { .. })
        ));
        assert!(matches!(ok.check(5, &n, Some(&c), NOW), Err(MeetingError::OtherMeeting { expected: 5, got: 4 })));
        let mut twice = ok.clone();
        twice.participants.push(twice.participants[0].clone());
        assert!(matches!(twice.check(4, &n, Some(&c), NOW), Err(MeetingError::Twice { .. })));
    }

    #[test]
    fn a_registration_verifies_only_under_its_states_key() {
        let key = IdentityKeypair::from_secret_bytes(&[5; 32]);
        let signed =
            SignedMeetingRegistration::sign(registration("Ana Ruiz", "poc@sre.example.mx", Language::Es), &key)
                .expect("sign");
        assert!(signed.verify(&key.public()).is_ok());
        assert!(signed.verify(&IdentityKeypair::from_secret_bytes(&[6; 32]).public()).is_err());
    }
}
