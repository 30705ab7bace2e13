//! The request of Annex 1 of the working paper ("Template for Voluntary Exchange
//! of Information Mechanism").
//!
//! Two shapes: `RequestForm` is what an operator writes (a TOML or JSON file of
//! plain strings, so that every mistake can be reported at once), and `Request`
//! is the checked value that travels inside an envelope. `RequestForm::parse`
//! turns one into the other and names every missing or wrong field;
//! `Request::validate` applies the same rules to a request received from a peer.

use crate::state::StateCode;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The stage of the transfer at which subsequent action is sought (Annex 1, I).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// During the risk analysis, when elements need assessment or mitigation
    /// measures are offered.
    RiskAnalysis,
    /// Once diversion is detected or an early warning is issued.
    DiversionDetected,
    /// When the transfer has reached the end user.
    ReachedEndUser,
    /// Any other stage, described in words.
    Other(String),
}

impl Stage {
    pub const NAMES: [&'static str; 4] = ["risk-analysis", "diversion-detected", "reached-end-user", "other"];
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::RiskAnalysis => f.write_str("risk analysis / mitigation measures"),
            Stage::DiversionDetected => f.write_str("diversion detected or early warning issued"),
            Stage::ReachedEndUser => f.write_str("transfer has reached the end user"),
            Stage::Other(text) => write!(f, "other: {text}"),
        }
    }
}

/// The ATT provisions an exchange serves (working paper, second proposal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Provision {
    /// 11.1: measures to prevent diversion.
    #[serde(rename = "11.1")]
    Art11_1,
    /// 11.2: assessing the risk of diversion of an export.
    #[serde(rename = "11.2")]
    Art11_2,
    /// 11.3: cooperation and information exchange to mitigate the risk.
    #[serde(rename = "11.3")]
    Art11_3,
    /// 11.4: measures when diversion is detected.
    #[serde(rename = "11.4")]
    Art11_4,
    /// 11.5: sharing information on effective measures.
    #[serde(rename = "11.5")]
    Art11_5,
    /// 11.6: reporting measures taken to address diversion.
    #[serde(rename = "11.6")]
    Art11_6,
    /// 13.2: reporting to the Secretariat on measures found effective.
    #[serde(rename = "13.2")]
    Art13_2,
}

impl Provision {
    pub const ALL: [(Provision, &'static str); 7] = [
        (Provision::Art11_1, "11.1"),
        (Provision::Art11_2, "11.2"),
        (Provision::Art11_3, "11.3"),
        (Provision::Art11_4, "11.4"),
        (Provision::Art11_5, "11.5"),
        (Provision::Art11_6, "11.6"),
        (Provision::Art13_2, "13.2"),
    ];

    pub fn parse(s: &str) -> Option<Provision> {
        let s = s.trim().trim_start_matches("Art.").trim_start_matches("Article").trim();
        Self::ALL.iter().find(|(_, name)| *name == s).map(|(p, _)| *p)
    }

    pub fn as_str(&self) -> &'static str {
        Self::ALL.iter().find(|(p, _)| p == self).map(|(_, n)| *n).unwrap_or("?")
    }
}

impl fmt::Display for Provision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Art. {}", self.as_str())
    }
}

/// Category of conventional arms: ATT Art. 2(1)(a)–(h), ammunition/munitions
/// (Art. 3) and parts and components (Art. 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArmsCategory {
    BattleTanks,
    ArmouredCombatVehicles,
    LargeCalibreArtillerySystems,
    CombatAircraft,
    AttackHelicopters,
    Warships,
    MissilesAndMissileLaunchers,
    SmallArmsAndLightWeapons,
    AmmunitionMunitions,
    PartsAndComponents,
}

impl ArmsCategory {
    pub const ALL: [(ArmsCategory, &'static str, &'static str); 10] = [
        (ArmsCategory::BattleTanks, "battle-tanks", "Art. 2(1)(a)"),
        (ArmsCategory::ArmouredCombatVehicles, "armoured-combat-vehicles", "Art. 2(1)(b)"),
        (ArmsCategory::LargeCalibreArtillerySystems, "large-calibre-artillery-systems", "Art. 2(1)(c)"),
        (ArmsCategory::CombatAircraft, "combat-aircraft", "Art. 2(1)(d)"),
        (ArmsCategory::AttackHelicopters, "attack-helicopters", "Art. 2(1)(e)"),
        (ArmsCategory::Warships, "warships", "Art. 2(1)(f)"),
        (ArmsCategory::MissilesAndMissileLaunchers, "missiles-and-missile-launchers", "Art. 2(1)(g)"),
        (ArmsCategory::SmallArmsAndLightWeapons, "small-arms-and-light-weapons", "Art. 2(1)(h)"),
        (ArmsCategory::AmmunitionMunitions, "ammunition-munitions", "Art. 3"),
        (ArmsCategory::PartsAndComponents, "parts-and-components", "Art. 4"),
    ];

    pub fn parse(s: &str) -> Option<ArmsCategory> {
        let s = s.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        Self::ALL.iter().find(|(_, name, _)| *name == s).map(|(c, _, _)| *c)
    }

    pub fn as_str(&self) -> &'static str {
        Self::ALL.iter().find(|(c, _, _)| c == self).map(|(_, n, _)| *n).unwrap_or("?")
    }

    pub fn article(&self) -> &'static str {
        Self::ALL.iter().find(|(c, _, _)| c == self).map(|(_, _, a)| *a).unwrap_or("?")
    }

    fn names() -> String {
        Self::ALL.iter().map(|(_, n, _)| *n).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for ArmsCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.article())
    }
}

/// An amount of money: a decimal amount and an ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Decimal with at most four fraction digits, e.g. "125000.50".
    pub amount: String,
    /// ISO 4217 alphabetic code, e.g. "USD".
    pub currency: String,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl Money {
    /// Reads the form's notation, an amount and a currency: "125000.50 USD".
    pub fn parse(s: &str) -> Money {
        let mut parts = s.split_whitespace();
        let amount = parts.next().unwrap_or_default().to_string();
        let currency = parts.collect::<Vec<_>>().join(" ").to_ascii_uppercase();
        Money { amount, currency }
    }

    /// Checks amount and currency, reporting problems under `path`.
    pub(crate) fn check(&self, path: &str, errors: &mut ValidationErrors) {
        if !is_decimal_amount(&self.amount) {
            errors.push(
                path,
                format!("{:?} is not an amount; write digits with an optional decimal point and up to 4 decimals, then the currency, e.g. \"125000.50 USD\"", self.amount),
            );
        }
        if iso_currency::Currency::from_code(&self.currency).is_none() {
            errors.push(
                path,
                format!(
                    "{:?} is not an ISO 4217 currency code; write the amount then the currency, e.g. \"125000.50 USD\"",
                    self.currency
                ),
            );
        }
    }
}

fn is_decimal_amount(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !int.is_empty()
        && int.len() <= 15
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 4
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (s.contains('.') != frac.is_empty())
}

/// One line of the description of items: what, how many, and their value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemDescription {
    pub description: String,
    pub number: u64,
    pub value: Option<Money>,
}

/// Information on the transfer (Annex 1, II).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferInformation {
    pub categories: Vec<ArmsCategory>,
    pub items: Vec<ItemDescription>,
    pub state_of_origin: Option<StateCode>,
    pub transit_states: Vec<StateCode>,
    pub importing_state: Option<StateCode>,
    pub end_user: Option<String>,
}

/// A diversion request: the Annex 1 template, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Short summary of the request.
    pub summary: String,
    /// States involved.
    pub states_involved: Vec<StateCode>,
    pub stage: Stage,
    /// ATT provisions the exchange serves.
    pub provisions: Vec<Provision>,
    pub transfer: TransferInformation,
    pub additional_information: Option<String>,
    /// How the recipients may use what the request tells them.
    pub handling: crate::handling::Handling,
}

/// Longest free text accepted in any one field.
pub const MAX_TEXT: usize = 64 * 1024;
/// Longest summary.
pub const MAX_SUMMARY: usize = 2_000;

pub(crate) fn check_text(path: &str, text: &str, max: usize, required: bool, errors: &mut ValidationErrors) {
    if required && text.trim().is_empty() {
        errors.push(path, "is missing; it must not be empty");
    } else if text.len() > max {
        errors.push(path, format!("is {} bytes long; at most {max} are allowed", text.len()));
    } else if let Some(c) = text.chars().find(|c| is_forbidden_control(*c)) {
        errors.push(
            path,
            format!("contains the control character U+{:04X}; only line breaks and tabs are allowed", c as u32),
        );
    }
}

/// Control characters other than line feed, carriage return and tab: text
/// from another State is shown to operators, and must not be able to move
/// the cursor, recolour a terminal or fake a line.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

impl Request {
    /// Applies the rules of the template to a request, whoever built it.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text("summary", &self.summary, MAX_SUMMARY, true, &mut errors);
        self.handling.check("handling", &mut errors);
        if self.states_involved.is_empty() {
            errors.push("states_involved", "is missing; name at least one State (ISO 3166-1 alpha-3)");
        }
        if let Stage::Other(text) = &self.stage {
            check_text("stage_other", text, MAX_SUMMARY, true, &mut errors);
        }
        if self.provisions.is_empty() {
            errors.push("provisions", "is missing; name at least one of 11.1, 11.2, 11.3, 11.4, 11.5, 11.6, 13.2");
        }
        let t = &self.transfer;
        if t.categories.is_empty() {
            errors.push("transfer.categories", format!("is missing; name at least one of {}", ArmsCategory::names()));
        }
        for (i, item) in t.items.iter().enumerate() {
            check_text(&format!("transfer.items[{i}].description"), &item.description, MAX_SUMMARY, true, &mut errors);
            if item.number == 0 {
                errors.push(format!("transfer.items[{i}].number"), "must be at least 1");
            }
            if let Some(value) = &item.value {
                value.check(&format!("transfer.items[{i}].value"), &mut errors);
            }
        }
        if let Some(end_user) = &t.end_user {
            check_text("transfer.end_user", end_user, MAX_TEXT, false, &mut errors);
        }
        if let Some(info) = &self.additional_information {
            check_text("additional_information", info, MAX_TEXT, false, &mut errors);
        }
        errors.into_result(|| ())
    }
}

/// What an operator writes: the request template as plain strings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestForm {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub states_involved: Vec<String>,
    #[serde(default)]
    pub stage: String,
    pub stage_other: Option<String>,
    #[serde(default)]
    pub provisions: Vec<String>,
    #[serde(default)]
    pub transfer: TransferForm,
    pub additional_information: Option<String>,
    /// Handling restrictions; the node's defaults when absent.
    #[serde(default)]
    pub handling: Option<crate::handling::Handling>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferForm {
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub items: Vec<ItemForm>,
    pub state_of_origin: Option<String>,
    #[serde(default)]
    pub transit_states: Vec<String>,
    pub importing_state: Option<String>,
    pub end_user: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemForm {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub number: u64,
    /// Amount and ISO 4217 currency, e.g. "125000.50 USD".
    pub value: Option<String>,
}

pub(crate) fn parse_state(path: &str, s: &str, errors: &mut ValidationErrors) -> Option<StateCode> {
    match s.parse::<StateCode>() {
        Ok(code) => Some(code),
        Err(e) => {
            errors.push(path, e.to_string());
            None
        }
    }
}

pub(crate) fn parse_states(path: &str, list: &[String], errors: &mut ValidationErrors) -> Vec<StateCode> {
    list.iter().enumerate().filter_map(|(i, s)| parse_state(&format!("{path}[{i}]"), s, errors)).collect()
}

pub(crate) fn parse_money(value: &Option<String>) -> Option<Money> {
    value.as_deref().map(Money::parse)
}

impl RequestForm {
    /// Checks the whole form and returns the request, or every problem found.
    pub fn parse(&self) -> Result<Request, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let states_involved = parse_states("states_involved", &self.states_involved, &mut errors);
        let stage = match self.stage.trim() {
            "risk-analysis" => Some(Stage::RiskAnalysis),
            "diversion-detected" => Some(Stage::DiversionDetected),
            "reached-end-user" => Some(Stage::ReachedEndUser),
            "other" => Some(Stage::Other(self.stage_other.clone().unwrap_or_default())),
            "" => {
                errors.push("stage", format!("is missing; use one of {}", Stage::NAMES.join(", ")));
                None
            }
            other => {
                errors.push("stage", format!("{other:?} is not a stage; use one of {}", Stage::NAMES.join(", ")));
                None
            }
        };
        if self.stage_other.is_some() && self.stage.trim() != "other" {
            errors.push("stage_other", "is only used with stage = \"other\"");
        }
        let mut provisions = Vec::new();
        for (i, p) in self.provisions.iter().enumerate() {
            match Provision::parse(p) {
                Some(p) if !provisions.contains(&p) => provisions.push(p),
                Some(_) => errors.push(format!("provisions[{i}]"), format!("{p:?} is listed twice")),
                None => errors.push(
                    format!("provisions[{i}]"),
                    format!(
                        "{p:?} is not an ATT provision of the mechanism; use 11.1, 11.2, 11.3, 11.4, 11.5, 11.6 or 13.2"
                    ),
                ),
            }
        }
        let t = &self.transfer;
        let mut categories = Vec::new();
        for (i, c) in t.categories.iter().enumerate() {
            match ArmsCategory::parse(c) {
                Some(c) if !categories.contains(&c) => categories.push(c),
                Some(_) => errors.push(format!("transfer.categories[{i}]"), format!("{c:?} is listed twice")),
                None => errors.push(
                    format!("transfer.categories[{i}]"),
                    format!("{c:?} is not a category; use one of {}", ArmsCategory::names()),
                ),
            }
        }
        let items = t
            .items
            .iter()
            .map(|item| ItemDescription {
                description: item.description.clone(),
                number: item.number,
                value: parse_money(&item.value),
            })
            .collect();
        let state_of_origin =
            t.state_of_origin.as_deref().and_then(|s| parse_state("transfer.state_of_origin", s, &mut errors));
        let transit_states = parse_states("transfer.transit_states", &t.transit_states, &mut errors);
        let importing_state =
            t.importing_state.as_deref().and_then(|s| parse_state("transfer.importing_state", s, &mut errors));
        let request = Request {
            summary: self.summary.trim().to_string(),
            states_involved,
            // A placeholder only while errors exist; never returned in that case.
            stage: stage.clone().unwrap_or(Stage::RiskAnalysis),
            provisions,
            transfer: TransferInformation {
                categories,
                items,
                state_of_origin,
                transit_states,
                importing_state,
                end_user: t.end_user.clone().filter(|s| !s.trim().is_empty()),
            },
            additional_information: self.additional_information.clone().filter(|s| !s.trim().is_empty()),
            handling: self.handling.clone().unwrap_or_default(),
        };
        // The rules on the checked value add what the parse could not see
        // (missing lists, empty texts, bad amounts); a field that failed to
        // parse is not reported twice.
        if let Err(more) = request.validate() {
            for e in more.0 {
                let already =
                    errors.0.iter().any(|x| x.field == e.field || x.field.starts_with(&format!("{}[", e.field)));
                if !already {
                    errors.0.push(e);
                }
            }
        }
        if stage.is_none() || !errors.is_empty() {
            return Err(errors);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> RequestForm {
        toml::from_str(include_str!("../../deploy/examples/request.toml")).expect("example request parses")
    }

    #[test]
    fn the_example_request_file_is_valid() {
        let request = example().parse().expect("valid");
        assert_eq!(request.stage, Stage::DiversionDetected);
        assert!(request.provisions.contains(&Provision::Art11_4));
        assert_eq!(request.transfer.items.len(), 2);
    }

    #[test]
    fn an_empty_request_names_every_missing_field() {
        let errors = RequestForm::default().parse().expect_err("empty form must fail");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        for f in ["summary", "states_involved", "stage", "provisions", "transfer.categories"] {
            assert!(fields.contains(&f), "{f} not reported in {fields:?}");
        }
    }

    #[test]
    fn wrong_values_are_each_named_with_their_path() {
        let mut form = example();
        form.states_involved.push("XYZ".into());
        form.provisions = vec!["11.4".into(), "12.1".into()];
        form.transfer.categories.push("spears".into());
        form.transfer.items[0].value = Some("1000 DOLLARS".into());
        form.transfer.items[1].number = 0;
        form.transfer.importing_state = Some("Atlantis".into());
        let errors = form.parse().expect_err("must fail");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "states_involved[2]",
            "provisions[1]",
            "transfer.categories[2]",
            "transfer.items[0].value",
            "transfer.items[1].number",
            "transfer.importing_state",
        ] {
            assert!(fields.contains(&f), "{f} not reported in {fields:?}");
        }
        assert_eq!(errors.0.len(), 6, "{errors}");
    }

    #[test]
    fn stage_other_needs_its_text() {
        let mut form = example();
        form.stage = "other".into();
        let errors = form.parse().expect_err("must fail");
        assert_eq!(errors.0[0].field, "stage_other");
        form.stage_other = Some("post-shipment verification visit".into());
        assert!(form.parse().is_ok());
    }

    #[test]
    fn control_characters_are_refused() {
        let mut form = example();
        form.summary = "Fake\u{1b}[2Jsummary".into();
        let errors = form.parse().expect_err("must fail");
        assert_eq!(errors.0[0].field, "summary");
        assert!(errors.0[0].problem.contains("U+001B"), "{errors}");
        form.summary = "Two lines\nand a\ttab".into();
        assert!(form.parse().is_ok());
    }

    #[test]
    fn amounts_must_be_decimal() {
        for good in ["1", "125000.50", "0.0001"] {
            assert!(is_decimal_amount(good), "{good}");
        }
        for bad in ["", "1.", ".5", "1,000", "-3", "1e6", "1.23456"] {
            assert!(!is_decimal_amount(bad), "{bad}");
        }
    }
}
