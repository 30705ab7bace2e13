//! The response: typed information items of Annex 2 of the working paper
//! ("Model ToR"), the kinds of information States exchange to complete the file
//! of a transfer.
//!
//! As with requests, `ResponseForm` is the operator's file (plain strings, every
//! mistake reported at once) and `Response` the checked value that travels.

use crate::codec::{self, CodecError};
use crate::fixed::Bytes32;
use crate::handling::Handling;
use crate::ids::{ExchangeId, MessageId};
use crate::keys::{IdentityKeypair, KeyError, PublicIdentity, domain, hash};
use crate::request::{MAX_SUMMARY, MAX_TEXT, Money, check_text, parse_money, parse_states};
use crate::state::StateCode;
use crate::validation::ValidationErrors;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One piece of information given in answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InformationItem {
    /// Information completing the file of the end user.
    EndUserFile { end_user: String, details: String },
    /// A broker involved in the transfer.
    Broker { name: String, details: String },
    /// A shipping company involved in the transfer.
    ShippingCompany { name: String, details: String },
    /// The official address of an individual or a company.
    Address { of: String, address: String },
    /// A record in a national database (licences, customs, company register).
    NationalDatabaseRecord { database: String, reference: String, details: String },
    /// Price, cost, commission and taxes of the transfer.
    PriceCostCommissionTaxes {
        price: Option<Money>,
        cost: Option<Money>,
        commission: Option<Money>,
        taxes: Option<Money>,
        details: String,
    },
    /// The route of the transfer, as the States it passed through.
    Route { states: Vec<StateCode>, details: String },
    /// The procedure by which such transactions are customarily conducted.
    CustomaryProcedure { details: String },
    /// Volume and date of the transfer as acknowledged by the receiving State.
    VolumeAndDateAcknowledged { volume: u64, date: String, details: String },
    /// Anything else, with a title.
    Other { title: String, details: String },
}

impl InformationItem {
    pub const KINDS: [&'static str; 10] = [
        "end-user-file",
        "broker",
        "shipping-company",
        "address",
        "national-database-record",
        "price-cost-commission-taxes",
        "route",
        "customary-procedure",
        "volume-and-date-acknowledged",
        "other",
    ];

    pub fn kind(&self) -> &'static str {
        let i = match self {
            InformationItem::EndUserFile { .. } => 0,
            InformationItem::Broker { .. } => 1,
            InformationItem::ShippingCompany { .. } => 2,
            InformationItem::Address { .. } => 3,
            InformationItem::NationalDatabaseRecord { .. } => 4,
            InformationItem::PriceCostCommissionTaxes { .. } => 5,
            InformationItem::Route { .. } => 6,
            InformationItem::CustomaryProcedure { .. } => 7,
            InformationItem::VolumeAndDateAcknowledged { .. } => 8,
            InformationItem::Other { .. } => 9,
        };
        Self::KINDS[i]
    }

    fn check(&self, path: &str, errors: &mut ValidationErrors) {
        let text = |field: &str, value: &str, required: bool, errors: &mut ValidationErrors| {
            check_text(&format!("{path}.{field}"), value, MAX_TEXT, required, errors)
        };
        match self {
            InformationItem::EndUserFile { end_user, details } => {
                text("end_user", end_user, true, errors);
                text("details", details, true, errors);
            }
            InformationItem::Broker { name, details } | InformationItem::ShippingCompany { name, details } => {
                text("name", name, true, errors);
                text("details", details, false, errors);
            }
            InformationItem::Address { of, address } => {
                text("of", of, true, errors);
                text("address", address, true, errors);
            }
            InformationItem::NationalDatabaseRecord { database, reference, details } => {
                text("database", database, true, errors);
                text("reference", reference, true, errors);
                text("details", details, false, errors);
            }
            InformationItem::PriceCostCommissionTaxes { price, cost, commission, taxes, details } => {
                let amounts = [("price", price), ("cost", cost), ("commission", commission), ("taxes", taxes)];
                for (name, money) in amounts {
                    if let Some(m) = money {
                        m.check(&format!("{path}.{name}"), errors);
                    }
                }
                if amounts.iter().all(|(_, m)| m.is_none()) && details.trim().is_empty() {
                    errors.push(path, "gives no price, cost, commission, taxes or details");
                }
                text("details", details, false, errors);
            }
            InformationItem::Route { states, details } => {
                if states.is_empty() {
                    errors.push(format!("{path}.states"), "is missing; list the States of the route in order");
                }
                text("details", details, false, errors);
            }
            InformationItem::CustomaryProcedure { details } => text("details", details, true, errors),
            InformationItem::VolumeAndDateAcknowledged { volume, date, details } => {
                if *volume == 0 {
                    errors.push(format!("{path}.volume"), "must be at least 1");
                }
                if parse_date(date).is_none() {
                    errors.push(format!("{path}.date"), format!("{date:?} is not a date; write YYYY-MM-DD"));
                }
                text("details", details, false, errors);
            }
            InformationItem::Other { title, details } => {
                text("title", title, true, errors);
                text("details", details, true, errors);
            }
        }
    }
}

pub(crate) fn parse_date(s: &str) -> Option<time::Date> {
    // Exactly YYYY-MM-DD: `[year]` alone would also take a sign or more digits.
    if s.len() != 10 || !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format).ok()
}

impl fmt::Display for InformationItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let money = |m: &Option<Money>| m.as_ref().map(|m| m.to_string()).unwrap_or_else(|| "-".into());
        match self {
            InformationItem::EndUserFile { end_user, details } => {
                write!(f, "end-user file ({end_user}): {details}")
            }
            InformationItem::Broker { name, details } => write!(f, "broker {name}: {details}"),
            InformationItem::ShippingCompany { name, details } => {
                write!(f, "shipping company {name}: {details}")
            }
            InformationItem::Address { of, address } => write!(f, "address of {of}: {address}"),
            InformationItem::NationalDatabaseRecord { database, reference, details } => {
                write!(f, "record {reference} in {database}: {details}")
            }
            InformationItem::PriceCostCommissionTaxes { price, cost, commission, taxes, details } => write!(
                f,
                "price {}, cost {}, commission {}, taxes {}: {details}",
                money(price),
                money(cost),
                money(commission),
                money(taxes)
            ),
            InformationItem::Route { states, details } => {
                let route: Vec<&str> = states.iter().map(StateCode::as_str).collect();
                write!(f, "route {}: {details}", route.join(" -> "))
            }
            InformationItem::CustomaryProcedure { details } => {
                write!(f, "customary procedure: {details}")
            }
            InformationItem::VolumeAndDateAcknowledged { volume, date, details } => {
                write!(f, "acknowledged by the receiving State: {volume} on {date}: {details}")
            }
            InformationItem::Other { title, details } => write!(f, "{title}: {details}"),
        }
    }
}

/// An answer to a request: a summary and the information items, with the
/// handling restrictions the responding State sets on them.
///
/// Each item is committed to with a random salt, and the commitments are
/// signed with the message's identifying header fields ([`ItemStatement`]):
/// the receiving State can later prove, to a court and with the originator's
/// consent, that one item came from the originator unchanged, without
/// revealing the items it may not disclose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub summary: String,
    pub items: Vec<InformationItem>,
    pub handling: Handling,
    /// One random salt per item (filled when the message is sealed).
    pub salts: Vec<Bytes32>,
    /// The sender's signature over the [`ItemStatement`] of this response.
    #[serde(with = "crate::fixed")]
    pub attestation: [u8; 64],
}

/// The fields of a message's header that an item statement binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageContext {
    pub message_id: MessageId,
    pub exchange_id: ExchangeId,
    pub sender: StateCode,
    pub recipients: Vec<StateCode>,
    pub created_at: i64,
}

/// What the sender of a response states about its items: in which message,
/// to whom, when, under which restrictions, and a commitment to each item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemStatement {
    pub context: MessageContext,
    pub handling: Handling,
    /// `SHA-256("veim/1 item commitment" || 0x00 || salt || encode(item))`, in item order.
    pub commitments: Vec<Bytes32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedItemStatement {
    pub statement: ItemStatement,
    /// Ed25519 over `"veim/1 item statement" || 0x00 || encode(statement)`.
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

impl SignedItemStatement {
    pub fn verify(&self, key: &PublicIdentity) -> Result<(), KeyError> {
        let bytes =
            codec::encode("item statement", &self.statement).map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::ITEM_STATEMENT, &bytes, &self.signature)
    }
}

/// The commitment to one item under its salt.
pub fn commitment(salt: &Bytes32, item: &InformationItem) -> Result<Bytes32, CodecError> {
    let mut payload = salt.0.to_vec();
    payload.extend_from_slice(&codec::encode("information item", item)?);
    Ok(Bytes32(hash(domain::ITEM_COMMITMENT, &payload)))
}

impl Response {
    /// Salts every item and signs the statement; called once the message's
    /// id, exchange and recipients are known.
    pub fn attest<R: CryptoRng + ?Sized>(
        &mut self,
        context: MessageContext,
        key: &IdentityKeypair,
        rng: &mut R,
    ) -> Result<(), CodecError> {
        self.salts = self
            .items
            .iter()
            .map(|_| {
                let mut salt = [0u8; 32];
                rng.fill_bytes(&mut salt);
                Bytes32(salt)
            })
            .collect();
        let statement = self.statement(context)?;
        self.attestation = key.sign(domain::ITEM_STATEMENT, &codec::encode("item statement", &statement)?);
        Ok(())
    }

    pub fn statement(&self, context: MessageContext) -> Result<ItemStatement, CodecError> {
        let commitments =
            self.items.iter().zip(&self.salts).map(|(item, salt)| commitment(salt, item)).collect::<Result<_, _>>()?;
        Ok(ItemStatement { context, handling: self.handling.clone(), commitments })
    }

    pub fn signed_statement(&self, context: MessageContext) -> Result<SignedItemStatement, CodecError> {
        Ok(SignedItemStatement { statement: self.statement(context)?, signature: self.attestation })
    }

    /// Checks, on receipt, that every item is salted and the statement is
    /// signed by the sender's key.
    pub fn check_attestation(&self, context: MessageContext, key: &PublicIdentity) -> Result<(), String> {
        if self.salts.len() != self.items.len() {
            return Err(format!("the response has {} items but {} salts", self.items.len(), self.salts.len()));
        }
        let signed = self.signed_statement(context).map_err(|e| e.to_string())?;
        signed.verify(key).map_err(|_| "the response's item statement is not signed by its sender".to_string())
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_summary_and_count(&self.summary, self.items.len(), &mut errors);
        self.handling.check("handling", &mut errors);
        for (i, item) in self.items.iter().enumerate() {
            item.check(&format!("items[{i}]"), &mut errors);
        }
        errors.into_result(|| ())
    }
}

fn check_summary_and_count(summary: &str, items: usize, errors: &mut ValidationErrors) {
    check_text("summary", summary, MAX_SUMMARY, true, errors);
    if items == 0 {
        errors.push(
            "items",
            format!("is missing; give at least one item, of kind {}", InformationItem::KINDS.join(", ")),
        );
    } else if items > crate::consent::MAX_ITEMS {
        errors.push(
            "items",
            format!(
                "has {items} items; at most {} (split the answer into several responses)",
                crate::consent::MAX_ITEMS
            ),
        );
    }
}

/// What an operator writes in a response file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseForm {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub items: Vec<ItemForm>,
    /// Handling restrictions; the node's defaults when absent.
    #[serde(default)]
    pub handling: Option<Handling>,
}

/// One information item as written: `kind` says which of the other fields apply.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemForm {
    #[serde(default)]
    pub kind: String,
    pub end_user: Option<String>,
    pub name: Option<String>,
    pub of: Option<String>,
    pub address: Option<String>,
    pub database: Option<String>,
    pub reference: Option<String>,
    /// Amounts are written "125000.50 USD".
    pub price: Option<String>,
    pub cost: Option<String>,
    pub commission: Option<String>,
    pub taxes: Option<String>,
    #[serde(default)]
    pub states: Vec<String>,
    pub volume: Option<u64>,
    pub date: Option<String>,
    pub title: Option<String>,
    pub details: Option<String>,
}

impl ResponseForm {
    pub fn parse(&self) -> Result<Response, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let mut items = Vec::new();
        for (i, f) in self.items.iter().enumerate() {
            let path = format!("items[{i}]");
            let s = |v: &Option<String>| v.clone().unwrap_or_default();
            let details = s(&f.details);
            let item = match f.kind.trim() {
                "end-user-file" => InformationItem::EndUserFile { end_user: s(&f.end_user), details },
                "broker" => InformationItem::Broker { name: s(&f.name), details },
                "shipping-company" => InformationItem::ShippingCompany { name: s(&f.name), details },
                "address" => InformationItem::Address { of: s(&f.of), address: s(&f.address) },
                "national-database-record" => InformationItem::NationalDatabaseRecord {
                    database: s(&f.database),
                    reference: s(&f.reference),
                    details,
                },
                "price-cost-commission-taxes" => InformationItem::PriceCostCommissionTaxes {
                    price: parse_money(&f.price),
                    cost: parse_money(&f.cost),
                    commission: parse_money(&f.commission),
                    taxes: parse_money(&f.taxes),
                    details,
                },
                "route" => InformationItem::Route {
                    states: parse_states(&format!("{path}.states"), &f.states, &mut errors),
                    details,
                },
                "customary-procedure" => InformationItem::CustomaryProcedure { details },
                "volume-and-date-acknowledged" => {
                    if f.volume.is_none() {
                        errors.push(format!("{path}.volume"), "is missing; give the volume acknowledged");
                    }
                    InformationItem::VolumeAndDateAcknowledged {
                        volume: f.volume.unwrap_or(1),
                        date: s(&f.date),
                        details,
                    }
                }
                "other" => InformationItem::Other { title: s(&f.title), details },
                "" => {
                    errors.push(
                        format!("{path}.kind"),
                        format!("is missing; use one of {}", InformationItem::KINDS.join(", ")),
                    );
                    continue;
                }
                other => {
                    errors.push(
                        format!("{path}.kind"),
                        format!(
                            "{other:?} is not an information kind; use one of {}",
                            InformationItem::KINDS.join(", ")
                        ),
                    );
                    continue;
                }
            };
            item.check(&path, &mut errors);
            items.push(item);
        }
        check_summary_and_count(&self.summary, self.items.len(), &mut errors);
        let handling = self.handling.clone().unwrap_or_default();
        handling.check("handling", &mut errors);
        errors.into_result(|| Response {
            summary: self.summary.trim().to_string(),
            items,
            handling,
            salts: Vec::new(),
            attestation: [0; 64],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> ResponseForm {
        toml::from_str(include_str!("../../deploy/examples/response.toml")).expect("example response parses")
    }

    #[test]
    fn the_example_response_file_is_valid() {
        let response = example().parse().expect("valid");
        assert!(response.items.len() >= 5);
        assert!(response.items.iter().any(|i| i.kind() == "volume-and-date-acknowledged"));
    }

    #[test]
    fn every_bad_item_is_named() {
        let mut form = example();
        form.items[0].kind = "gossip".into();
        let n = form.items.len();
        form.items.push(ItemForm { kind: "route".into(), states: vec!["ZZZ".into()], ..Default::default() });
        form.items.push(ItemForm {
            kind: "volume-and-date-acknowledged".into(),
            volume: Some(3),
            date: Some("31/12/2016".into()),
            ..Default::default()
        });
        form.items.push(ItemForm {
            kind: "price-cost-commission-taxes".into(),
            price: Some("12 ZZZ".into()),
            ..Default::default()
        });
        let errors = form.parse().expect_err("must fail");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        let expect = [
            "items[0].kind".to_string(),
            format!("items[{n}].states[0]"),
            format!("items[{}].date", n + 1),
            format!("items[{}].price", n + 2),
        ];
        for f in &expect {
            assert!(fields.contains(&f.as_str()), "{f} not reported in {fields:?}");
        }
    }

    #[test]
    fn dates_are_exactly_year_month_day() {
        assert!(parse_date("2016-11-03").is_some());
        for bad in ["+2016-11-03", "-2016-11-03", "2016-13-03", "16-11-03", "2016-11-3", "20160-11-03"] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_response_holds_at_most_max_items() {
        let item = ItemForm { kind: "customary-procedure".into(), details: Some("d".into()), ..Default::default() };
        let mut form =
            ResponseForm { summary: "s".into(), items: vec![item; crate::consent::MAX_ITEMS], handling: None };
        assert!(form.parse().is_ok());
        form.items.push(form.items[0].clone());
        let errors = form.parse().expect_err("too many items");
        assert_eq!(errors.0[0].field, "items");
    }

    #[test]
    fn an_empty_response_is_refused() {
        let errors = ResponseForm::default().parse().expect_err("must fail");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["summary", "items"]);
    }
}
