//! Points of contact: the working paper's first proposal (a database of
//! national points of contact that the Secretariat collects and makes
//! available to all States Parties, in a public or a restricted section).
//!
//! A State's node submits its whole set of contacts signed with its identity
//! key; the Secretariat accepts it into the next directory version (or
//! rejects it with a reason) but cannot alter it, because the State's
//! signature travels with it. Each contact, and each State's entry, is public
//! or restricted; a contact can also keep single fields (its phones, say) out
//! of the public section.

use crate::codec::{self, CodecError};
use crate::keys::{IdentityKeypair, KeyError, PublicIdentity, domain};
use crate::request::check_text;
use crate::state::StateCode;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who may see a State's entry, or a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Visibility {
    /// In the public section (the Secretariat's public web page).
    Public,
    /// States Parties only.
    #[default]
    Restricted,
}

/// The part a contact plays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContactRole {
    /// The national point of contact.
    NationalPoc,
    /// Stands in for the national point of contact.
    Alternate,
    /// Focal point for one exchange or subject, named in words.
    FocalPoint(String),
}

impl fmt::Display for ContactRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContactRole::NationalPoc => f.write_str("national point of contact"),
            ContactRole::Alternate => f.write_str("alternate"),
            ContactRole::FocalPoint(what) => write!(f, "focal point for {what}"),
        }
    }
}

/// A field of a contact that can be kept out of the public section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContactField {
    Name,
    JobTitle,
    Ministry,
    Emails,
    Phones,
    OfficeAddress,
    Languages,
}

impl ContactField {
    pub const ALL: [(ContactField, &'static str); 7] = [
        (ContactField::Name, "name"),
        (ContactField::JobTitle, "job-title"),
        (ContactField::Ministry, "ministry"),
        (ContactField::Emails, "emails"),
        (ContactField::Phones, "phones"),
        (ContactField::OfficeAddress, "office-address"),
        (ContactField::Languages, "languages"),
    ];

    pub fn parse(s: &str) -> Option<ContactField> {
        Self::ALL.iter().find(|(_, n)| *n == s.trim()).map(|(f, _)| *f)
    }
}

/// One point of contact, with the six fields the Secretariat collects today
/// plus working languages, role and visibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointOfContact {
    pub name: String,
    pub job_title: String,
    /// Ministry or agency.
    pub ministry: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub office_address: String,
    /// Working languages, as ISO 639-1 codes ("en", "es", "fr").
    pub languages: Vec<String>,
    pub role: ContactRole,
    pub visibility: Visibility,
    /// Fields kept out of the public section even when the contact is public.
    pub restricted_fields: Vec<ContactField>,
}

/// A State's points of contact, as its node submits them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSet {
    pub state: StateCode,
    /// Whether the State's entry appears in the public section at all.
    pub entry_visibility: Visibility,
    pub contacts: Vec<PointOfContact>,
    /// Unix seconds.
    pub submitted_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedContactSet {
    pub set: ContactSet,
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

/// Most contacts one State lists.
pub const MAX_CONTACTS: usize = 20;
const MAX_FIELD: usize = 500;
const MAX_ITEMS: usize = 10;

fn is_email(s: &str) -> bool {
    if s.len() > 254 {
        return false;
    }
    let Some((local, host)) = s.split_once('@') else { return false };
    !local.is_empty()
        && host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

fn is_phone(s: &str) -> bool {
    if s.len() > 40 {
        return false;
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (6..=20).contains(&digits) && s.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

fn is_language(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase())
}

impl PointOfContact {
    fn check(&self, path: &str, errors: &mut ValidationErrors) {
        check_text(&format!("{path}.name"), &self.name, MAX_FIELD, true, errors);
        check_text(&format!("{path}.job_title"), &self.job_title, MAX_FIELD, false, errors);
        check_text(&format!("{path}.ministry"), &self.ministry, MAX_FIELD, true, errors);
        check_text(&format!("{path}.office_address"), &self.office_address, MAX_FIELD, false, errors);
        if self.emails.is_empty() {
            errors.push(format!("{path}.emails"), "is missing; give at least one e-mail address");
        }
        let lists = [
            ("emails", &self.emails, is_email as fn(&str) -> bool, "an e-mail address"),
            ("phones", &self.phones, is_phone, "a telephone number (digits, spaces, + - ( ) .)"),
            ("languages", &self.languages, is_language, "an ISO 639-1 language code such as en, es, fr"),
        ];
        for (field, list, valid, what) in lists {
            if list.len() > MAX_ITEMS {
                errors.push(format!("{path}.{field}"), format!("lists {} items; at most {MAX_ITEMS}", list.len()));
            }
            for (i, item) in list.iter().enumerate() {
                if !valid(item) {
                    errors.push(format!("{path}.{field}[{i}]"), format!("{item:?} is not {what}"));
                }
            }
        }
        if let ContactRole::FocalPoint(what) = &self.role {
            check_text(&format!("{path}.focal_point_for"), what, MAX_FIELD, true, errors);
        }
    }

    /// The contact as the public section shows it: `None` when it is
    /// restricted, otherwise without its restricted fields.
    pub fn public_view(&self) -> Option<PointOfContact> {
        if self.visibility != Visibility::Public {
            return None;
        }
        let mut c = self.clone();
        for f in &self.restricted_fields {
            match f {
                ContactField::Name => c.name = String::new(),
                ContactField::JobTitle => c.job_title = String::new(),
                ContactField::Ministry => c.ministry = String::new(),
                ContactField::Emails => c.emails.clear(),
                ContactField::Phones => c.phones.clear(),
                ContactField::OfficeAddress => c.office_address = String::new(),
                ContactField::Languages => c.languages.clear(),
            }
        }
        c.restricted_fields.clear();
        Some(c)
    }
}

impl ContactSet {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.contacts.is_empty() {
            errors.push("contacts", "is missing; give at least the national point of contact");
        }
        if self.contacts.len() > MAX_CONTACTS {
            errors.push("contacts", format!("lists {} contacts; at most {MAX_CONTACTS}", self.contacts.len()));
        }
        if !self.contacts.iter().any(|c| c.role == ContactRole::NationalPoc) {
            errors.push("contacts", "has no contact with role national-poc");
        }
        for (i, c) in self.contacts.iter().enumerate() {
            c.check(&format!("contacts[{i}]"), &mut errors);
        }
        errors.into_result(|| ())
    }
}

impl SignedContactSet {
    pub fn sign(set: ContactSet, key: &IdentityKeypair) -> Result<Self, CodecError> {
        let bytes = codec::encode("contact set", &set)?;
        Ok(Self { signature: key.sign(domain::CONTACTS_SIGNATURE, &bytes), set })
    }

    /// Checks the set is signed by `key`, the State's identity key.
    pub fn verify(&self, key: &PublicIdentity) -> Result<(), KeyError> {
        let bytes = codec::encode("contact set", &self.set).map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::CONTACTS_SIGNATURE, &bytes, &self.signature)
    }

    /// SHA-256 of the signed set: how the Secretariat and the State name one
    /// submission.
    pub fn hash(&self) -> Result<[u8; 32], CodecError> {
        Ok(crate::keys::hash(domain::CONTACTS_HASH, &codec::encode("contact set", self)?))
    }
}

/// What an operator writes in a contacts file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSetForm {
    /// "public" or "restricted" (the default).
    #[serde(default)]
    pub entry_visibility: Option<String>,
    #[serde(default)]
    pub contacts: Vec<ContactForm>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub job_title: String,
    #[serde(default)]
    pub ministry: String,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub office_address: String,
    #[serde(default)]
    pub languages: Vec<String>,
    /// national-poc, alternate or focal-point (with focal_point_for).
    #[serde(default)]
    pub role: String,
    pub focal_point_for: Option<String>,
    /// "public" or "restricted" (the default).
    pub visibility: Option<String>,
    #[serde(default)]
    pub restricted_fields: Vec<String>,
}

fn parse_visibility(path: &str, v: &Option<String>, errors: &mut ValidationErrors) -> Visibility {
    match v.as_deref().map(str::trim) {
        None | Some("restricted") => Visibility::Restricted,
        Some("public") => Visibility::Public,
        Some(other) => {
            errors.push(path, format!("{other:?} is not a visibility; use public or restricted"));
            Visibility::Restricted
        }
    }
}

impl ContactSetForm {
    /// Checks the form for `state` and returns the set, or every problem.
    pub fn parse(&self, state: StateCode, submitted_at: i64) -> Result<ContactSet, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let entry_visibility = parse_visibility("entry_visibility", &self.entry_visibility, &mut errors);
        let mut contacts = Vec::new();
        for (i, c) in self.contacts.iter().enumerate() {
            let path = format!("contacts[{i}]");
            let role = match (c.role.trim(), &c.focal_point_for) {
                ("national-poc", _) => ContactRole::NationalPoc,
                ("alternate", _) => ContactRole::Alternate,
                ("focal-point", what) => ContactRole::FocalPoint(what.clone().unwrap_or_default()),
                (other, _) => {
                    errors.push(
                        format!("{path}.role"),
                        format!("{other:?} is not a role; use national-poc, alternate or focal-point"),
                    );
                    ContactRole::Alternate
                }
            };
            let mut restricted_fields = Vec::new();
            for (j, f) in c.restricted_fields.iter().enumerate() {
                match ContactField::parse(f) {
                    Some(f) => restricted_fields.push(f),
                    None => errors.push(
                        format!("{path}.restricted_fields[{j}]"),
                        format!("{f:?} is not a field; use {}", ContactField::ALL.map(|(_, n)| n).join(", ")),
                    ),
                }
            }
            contacts.push(PointOfContact {
                name: c.name.trim().into(),
                job_title: c.job_title.trim().into(),
                ministry: c.ministry.trim().into(),
                emails: c.emails.iter().map(|s| s.trim().to_string()).collect(),
                phones: c.phones.iter().map(|s| s.trim().to_string()).collect(),
                office_address: c.office_address.trim().into(),
                languages: c.languages.iter().map(|s| s.trim().to_ascii_lowercase()).collect(),
                role,
                visibility: parse_visibility(&format!("{path}.visibility"), &c.visibility, &mut errors),
                restricted_fields,
            });
        }
        let set = ContactSet { state, entry_visibility, contacts, submitted_at };
        if let Err(more) = set.validate() {
            errors.0.extend(more.0);
        }
        errors.into_result(|| set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> ContactSetForm {
        toml::from_str(include_str!("../../deploy/examples/contacts.toml")).expect("example contacts")
    }

    #[test]
    fn the_example_contacts_file_is_valid() {
        let set = example().parse("MEX".parse().expect("MEX"), 1).expect("valid");
        assert_eq!(set.entry_visibility, Visibility::Public);
        assert!(set.contacts.iter().any(|c| c.visibility == Visibility::Restricted));
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut form = example();
        form.contacts[0].emails = vec!["not an address".into()];
        form.contacts[0].phones = vec!["call me".into()];
        form.contacts[0].languages = vec!["Spanish".into()];
        form.contacts[0].role = "boss".into();
        form.contacts[0].restricted_fields = vec!["shoe-size".into()];
        let errors = form.parse("MEX".parse().expect("MEX"), 1).expect_err("must fail");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "contacts[0].role",
            "contacts[0].restricted_fields[0]",
            "contacts[0].emails[0]",
            "contacts[0].phones[0]",
            "contacts[0].languages[0]",
        ] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
    }

    #[test]
    fn the_public_view_leaves_out_restricted_contacts_and_fields() {
        let set = example().parse("MEX".parse().expect("MEX"), 1).expect("valid");
        for c in &set.contacts {
            match c.public_view() {
                None => assert_eq!(c.visibility, Visibility::Restricted),
                Some(p) => {
                    if c.restricted_fields.contains(&ContactField::Phones) {
                        assert!(p.phones.is_empty());
                    }
                    assert!(p.restricted_fields.is_empty());
                }
            }
        }
    }

    #[test]
    fn a_signed_set_verifies_only_under_its_key() {
        let key = IdentityKeypair::from_secret_bytes(&[3; 32]);
        let set = example().parse("MEX".parse().expect("MEX"), 1).expect("valid");
        let signed = SignedContactSet::sign(set, &key).expect("sign");
        assert!(signed.verify(&key.public()).is_ok());
        assert!(signed.verify(&IdentityKeypair::from_secret_bytes(&[4; 32]).public()).is_err());
        let mut altered = signed.clone();
        altered.set.contacts[0].name = "Someone else".into();
        assert!(altered.verify(&key.public()).is_err());
    }
}
