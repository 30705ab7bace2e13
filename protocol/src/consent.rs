//! Consent to disclose (Annex 2 of the working paper): information received
//! "may be disclosed, prior written consent of the concerned Party, only to
//! authorities (including courts and administrative bodies) in relation with
//! enforcement or prosecution".
//!
//! The receiving State asks the originator for consent to disclose named
//! items to a named authority, for a stated purpose and case; the originator
//! grants (possibly for fewer items, with conditions and an expiry) or
//! refuses. The decision is a [`ConsentRecord`] signed by the originator's
//! identity key, so that a court or an auditor can check it with no node.

use crate::codec::{self, CodecError};
use crate::ids::{ExchangeId, MessageId};
use crate::keys::{IdentityKeypair, KeyError, PublicIdentity, domain};
use crate::request::{MAX_SUMMARY, MAX_TEXT, check_text};
use crate::state::StateCode;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Most items one consent request or grant names.
pub const MAX_ITEMS: usize = 256;

/// One information item: the response that carried it and its position there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemRef {
    pub message_id: MessageId,
    pub index: u16,
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.message_id, self.index)
    }
}

impl FromStr for ItemRef {
    type Err = String;
    /// `MESSAGE_ID#INDEX`, the message id in full.
    fn from_str(s: &str) -> Result<ItemRef, String> {
        let (id, index) =
            s.trim().split_once('#').ok_or_else(|| format!("{s:?} is not an item reference; write MESSAGE_ID#N"))?;
        let index = index.parse().map_err(|_| format!("{index:?} in {s:?} is not an item number"))?;
        Ok(ItemRef { message_id: id.parse()?, index })
    }
}

/// The kinds of authority the terms of reference name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthorityKind {
    Court,
    AdministrativeBody,
    LawEnforcement,
    Prosecution,
    /// Another State Party: onward transmission.
    StateParty,
}

impl AuthorityKind {
    pub const ALL: [AuthorityKind; 5] = [
        AuthorityKind::Court,
        AuthorityKind::AdministrativeBody,
        AuthorityKind::LawEnforcement,
        AuthorityKind::Prosecution,
        AuthorityKind::StateParty,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityKind::Court => "court",
            AuthorityKind::AdministrativeBody => "administrative-body",
            AuthorityKind::LawEnforcement => "law-enforcement",
            AuthorityKind::Prosecution => "prosecution",
            AuthorityKind::StateParty => "state-party",
        }
    }
}

impl fmt::Display for AuthorityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthorityKind {
    type Err = String;
    fn from_str(s: &str) -> Result<AuthorityKind, String> {
        AuthorityKind::ALL.into_iter().find(|k| k.as_str() == s.trim()).ok_or_else(|| {
            let names: Vec<&str> = AuthorityKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("{s:?} is not a kind of authority; use one of {}", names.join(", "))
        })
    }
}

/// The authority items would be disclosed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    pub kind: AuthorityKind,
    /// Its name, e.g. "Juzgado Primero de Distrito en Materia Penal".
    pub name: String,
    /// The State it belongs to: for a State Party, that State.
    pub state: StateCode,
}

impl Authority {
    pub fn check(&self, path: &str, errors: &mut ValidationErrors) {
        check_text(&format!("{path}.name"), &self.name, MAX_SUMMARY, true, errors);
    }

    /// The same authority, whatever the spacing of its name.
    pub fn same_as(&self, other: &Authority) -> bool {
        self.kind == other.kind && self.state == other.state && self.name.trim() == other.name.trim()
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} ({})", self.kind, self.name.trim(), self.state)
    }
}

fn check_items(path: &str, items: &[ItemRef], errors: &mut ValidationErrors) {
    if items.is_empty() {
        errors.push(path, "is missing; name at least one item");
    } else if items.len() > MAX_ITEMS {
        errors.push(path, format!("names {} items; at most {MAX_ITEMS}", items.len()));
    }
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            errors.push(format!("{path}[{i}]"), format!("{item} is named twice"));
        }
    }
}

/// The receiving State's request for consent, sent to the originator of the items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    pub items: Vec<ItemRef>,
    pub authority: Authority,
    pub purpose: String,
    pub case_reference: String,
}

impl ConsentRequest {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_items("items", &self.items, &mut errors);
        self.authority.check("authority", &mut errors);
        check_text("purpose", &self.purpose, MAX_TEXT, true, &mut errors);
        check_text("case_reference", &self.case_reference, MAX_SUMMARY, true, &mut errors);
        errors.into_result(|| ())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Granted {
        /// The items consented to: all those asked for, or fewer.
        items: Vec<ItemRef>,
        conditions: Vec<String>,
        /// Unix seconds after which the consent no longer holds.
        expires_at: Option<i64>,
    },
    Refused {
        reason: String,
    },
}

/// The originator's decision, as it signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub exchange_id: ExchangeId,
    /// The message that asked for consent.
    pub consent_request: MessageId,
    /// The originator of the items, who decides.
    pub grantor: StateCode,
    /// The State that asked, and may disclose.
    pub grantee: StateCode,
    pub authority: Authority,
    pub purpose: String,
    pub case_reference: String,
    pub decision: Decision,
    pub decided_at: i64,
}

impl ConsentRecord {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        self.authority.check("authority", &mut errors);
        check_text("purpose", &self.purpose, MAX_TEXT, true, &mut errors);
        check_text("case_reference", &self.case_reference, MAX_SUMMARY, true, &mut errors);
        match &self.decision {
            Decision::Granted { items, conditions, expires_at } => {
                check_items("decision.items", items, &mut errors);
                if conditions.len() > crate::handling::MAX_CONDITIONS {
                    errors.push("decision.conditions", format!("has {} conditions; too many", conditions.len()));
                }
                for (i, c) in conditions.iter().enumerate() {
                    check_text(&format!("decision.conditions[{i}]"), c, MAX_SUMMARY, true, &mut errors);
                }
                if expires_at.is_some_and(|t| t <= self.decided_at) {
                    errors.push("decision.expires_at", "is not after the decision");
                }
            }
            Decision::Refused { reason } => check_text("decision.reason", reason, MAX_TEXT, true, &mut errors),
        }
        errors.into_result(|| ())
    }

    pub fn granted_items(&self) -> &[ItemRef] {
        match &self.decision {
            Decision::Granted { items, .. } => items,
            Decision::Refused { .. } => &[],
        }
    }

    pub fn expires_at(&self) -> Option<i64> {
        match &self.decision {
            Decision::Granted { expires_at, .. } => *expires_at,
            Decision::Refused { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedConsent {
    pub record: ConsentRecord,
    /// Ed25519 of the grantor over `"veim/1 consent" || 0x00 || encode(record)`.
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

impl SignedConsent {
    pub fn sign(record: ConsentRecord, key: &IdentityKeypair) -> Result<SignedConsent, CodecError> {
        let bytes = codec::encode("consent", &record)?;
        Ok(SignedConsent { signature: key.sign(domain::CONSENT, &bytes), record })
    }

    pub fn verify(&self, key: &PublicIdentity) -> Result<(), KeyError> {
        let bytes = codec::encode("consent", &self.record).map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::CONSENT, &bytes, &self.signature)
    }
}

/// The originator withdraws a grant: no disclosure may rely on it from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub consent_request: MessageId,
    pub reason: String,
}

impl Revocation {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text("reason", &self.reason, MAX_TEXT, true, &mut errors);
        errors.into_result(|| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_references_round_trip() {
        let r = ItemRef { message_id: MessageId([7; 16]), index: 3 };
        assert_eq!(r.to_string().parse::<ItemRef>(), Ok(r));
        assert!("0707#1".parse::<ItemRef>().is_err());
        assert!("07070707070707070707070707070707".parse::<ItemRef>().is_err());
    }

    #[test]
    fn a_consent_verifies_only_under_its_grantor() {
        let grantor = IdentityKeypair::from_secret_bytes(&[1; 32]);
        let other = IdentityKeypair::from_secret_bytes(&[2; 32]);
        let record = ConsentRecord {
            exchange_id: ExchangeId([1; 16]),
            consent_request: MessageId([2; 16]),
            grantor: "BRA".parse().expect("state"),
            grantee: "MEX".parse().expect("state"),
            authority: Authority { kind: AuthorityKind::Court, name: "Court".into(), state: "MEX".parse().expect("s") },
            purpose: "prosecution of a broker".into(),
            case_reference: "42/2027".into(),
            decision: Decision::Granted {
                items: vec![ItemRef { message_id: MessageId([3; 16]), index: 0 }],
                conditions: vec![],
                expires_at: None,
            },
            decided_at: 100,
        };
        let signed = SignedConsent::sign(record, &grantor).expect("sign");
        assert!(signed.verify(&grantor.public()).is_ok());
        assert!(signed.verify(&other.public()).is_err());
        let mut changed = signed.clone();
        changed.record.case_reference = "43/2027".into();
        assert!(changed.verify(&grantor.public()).is_err());
    }
}
