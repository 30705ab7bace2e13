//! Handling restrictions: the conditions under which the sender lets the
//! receiver use what it sends (Annex 2 of the working paper, "Model ToR").
//!
//! The sender chooses them for each message; they travel inside the signed,
//! encrypted body, so the receiver sees exactly what the sender set and can
//! change none of it. The defaults are the terms of reference themselves.

use crate::consent::{Authority, AuthorityKind};
use crate::request::{MAX_SUMMARY, check_text};
use crate::state::StateCode;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};

/// Most free-text conditions on one message.
pub const MAX_CONDITIONS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handling {
    /// Use only for preventing and combating diversion.
    #[serde(default = "yes")]
    pub diversion_only: bool,
    /// No disclosure in court without the sender's prior written consent.
    #[serde(default = "yes")]
    pub no_court_without_consent: bool,
    /// No onward transmission (to another State Party) without prior consent.
    #[serde(default = "yes")]
    pub no_onward_without_consent: bool,
    /// Further conditions, in the sender's words.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// Last day (YYYY-MM-DD, UTC) on which the information may be used.
    #[serde(default)]
    pub use_until: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for Handling {
    /// The terms of reference: every restriction on, no expiry.
    fn default() -> Handling {
        Handling {
            diversion_only: true,
            no_court_without_consent: true,
            no_onward_without_consent: true,
            conditions: Vec::new(),
            use_until: None,
        }
    }
}

impl Handling {
    pub fn check(&self, path: &str, errors: &mut ValidationErrors) {
        if self.conditions.len() > MAX_CONDITIONS {
            errors.push(
                format!("{path}.conditions"),
                format!("has {} conditions; at most {MAX_CONDITIONS}", self.conditions.len()),
            );
        }
        for (i, c) in self.conditions.iter().enumerate() {
            check_text(&format!("{path}.conditions[{i}]"), c, MAX_SUMMARY, true, errors);
        }
        if let Some(d) = &self.use_until
            && crate::response::parse_date(d).is_none()
        {
            errors.push(format!("{path}.use_until"), format!("{d:?} is not a date; write YYYY-MM-DD"));
        }
    }

    /// The first second after the last day of use, if there is one.
    pub fn use_ends_at(&self) -> Option<i64> {
        let date = crate::response::parse_date(self.use_until.as_deref()?)?;
        Some(date.next_day()?.midnight().assume_utc().unix_timestamp())
    }

    /// Whether the sender's expiry of use has passed at `now`.
    pub fn use_expired(&self, now: i64) -> bool {
        self.use_ends_at().is_some_and(|end| now >= end)
    }

    /// Whether disclosing to `authority` by the State `discloser` needs the
    /// sender's prior written consent. The terms of reference require it for
    /// every authority; the sender may waive it for the discloser's own
    /// courts, or for onward transmission (to another State Party, or to any
    /// authority of another State), and for nothing else. A foreign court
    /// needs both waivers.
    pub fn needs_consent(&self, authority: &Authority, discloser: StateCode) -> bool {
        let court = authority.kind == AuthorityKind::Court;
        let onward = authority.kind == AuthorityKind::StateParty || authority.state != discloser;
        if !court && !onward {
            return true;
        }
        (court && self.no_court_without_consent) || (onward && self.no_onward_without_consent)
    }

    /// One line per restriction, as an operator reads them.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.diversion_only {
            out.push("use only for preventing and combating diversion".to_string());
        }
        out.push(if self.no_court_without_consent {
            "no disclosure in court without prior written consent".to_string()
        } else {
            "may be disclosed in court without further consent".to_string()
        });
        out.push(if self.no_onward_without_consent {
            "no onward transmission without prior written consent".to_string()
        } else {
            "may be transmitted to another State Party without further consent".to_string()
        });
        out.extend(self.conditions.iter().map(|c| format!("condition: {c}")));
        if let Some(d) = &self.use_until {
            out.push(format!("use until {d} (UTC) inclusive"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(kind: AuthorityKind, state: &str) -> Authority {
        Authority { kind, name: "x".into(), state: state.parse().expect("state") }
    }

    #[test]
    fn defaults_are_the_terms_of_reference() {
        let h: Handling = toml::from_str("").expect("empty handling parses");
        assert_eq!(h, Handling::default());
        let mex: StateCode = "MEX".parse().expect("state");
        for kind in AuthorityKind::ALL {
            assert!(h.needs_consent(&authority(kind, "MEX"), mex), "{kind} without consent");
        }
    }

    #[test]
    fn waivers_apply_to_own_courts_and_onward_transmission_only() {
        let mex: StateCode = "MEX".parse().expect("state");
        let court_only = Handling { no_court_without_consent: false, ..Handling::default() };
        assert!(!court_only.needs_consent(&authority(AuthorityKind::Court, "MEX"), mex));
        assert!(court_only.needs_consent(&authority(AuthorityKind::Court, "DEU"), mex), "a foreign court is onward");
        assert!(court_only.needs_consent(&authority(AuthorityKind::StateParty, "DEU"), mex));
        let onward_only = Handling { no_onward_without_consent: false, ..Handling::default() };
        assert!(!onward_only.needs_consent(&authority(AuthorityKind::StateParty, "DEU"), mex));
        assert!(!onward_only.needs_consent(&authority(AuthorityKind::Prosecution, "DEU"), mex));
        assert!(
            onward_only.needs_consent(&authority(AuthorityKind::Court, "DEU"), mex),
            "a court needs its waiver too"
        );
        assert!(onward_only.needs_consent(&authority(AuthorityKind::Prosecution, "MEX"), mex));
        let both =
            Handling { no_court_without_consent: false, no_onward_without_consent: false, ..Handling::default() };
        assert!(!both.needs_consent(&authority(AuthorityKind::Court, "DEU"), mex));
        for kind in [AuthorityKind::Prosecution, AuthorityKind::LawEnforcement, AuthorityKind::AdministrativeBody] {
            assert!(both.needs_consent(&authority(kind, "MEX"), mex), "{kind}");
        }
    }

    #[test]
    fn use_expires_after_the_last_day() {
        let h = Handling { use_until: Some("2027-01-31".into()), ..Handling::default() };
        let end = h.use_ends_at().expect("date");
        assert_eq!(end, 1_801_440_000, "2027-02-01T00:00:00Z");
        assert!(!h.use_expired(end - 1));
        assert!(h.use_expired(end));
        let mut errors = ValidationErrors::default();
        Handling { use_until: Some("31/01/2027".into()), conditions: vec![String::new()], ..Handling::default() }
            .check("handling", &mut errors);
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["handling.conditions[0]", "handling.use_until"]);
    }
}
