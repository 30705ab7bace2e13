//! What the public may see of the directory, and where each State sits in
//! the world: the public section (only active entries the State made
//! public, only public contacts, none of the fields a contact keeps
//! restricted), which the Secretariat puts on a public web page, and each
//! State's UN M49 region and subregion, by which officials search the
//! directory.

use super::DirectoryView;
use serde::{Deserialize, Serialize};
use veim_protocol::contacts::{ContactRole, PointOfContact, Visibility};
use veim_protocol::{EntryStatus, StateCode};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicDirectory {
    pub directory_version: u64,
    pub issued_at: Option<i64>,
    pub states: Vec<PublicEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicEntry {
    pub state: String,
    pub name: String,
    pub contacts: Vec<PublicContact>,
}

/// A contact with only what the public may see; empty fields are left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicContact {
    /// The role in English words ("national point of contact").
    pub role: String,
    /// The role, typed, for a page that writes it in another language (the
    /// JSON carries the words above only).
    #[serde(skip)]
    pub role_kind: Option<ContactRole>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub job_title: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub ministry: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub emails: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub phones: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub office_address: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub languages: Vec<String>,
}

impl From<PointOfContact> for PublicContact {
    fn from(c: PointOfContact) -> PublicContact {
        PublicContact {
            role: c.role.to_string(),
            role_kind: Some(c.role),
            name: c.name,
            job_title: c.job_title,
            ministry: c.ministry,
            emails: c.emails,
            phones: c.phones,
            office_address: c.office_address,
            languages: c.languages,
        }
    }
}

/// The public section of the directory version `view` holds.
pub fn public_section(view: &DirectoryView) -> PublicDirectory {
    let states = view
        .entries()
        .iter()
        .filter(|e| e.status == EntryStatus::Active && e.visibility() == Visibility::Public)
        .map(|e| PublicEntry {
            state: e.state().to_string(),
            name: e.state().name().to_string(),
            contacts: e
                .contacts
                .iter()
                .flat_map(|c| c.set.contacts.iter())
                .filter_map(PointOfContact::public_view)
                .map(PublicContact::from)
                .collect(),
        })
        .collect();
    PublicDirectory {
        directory_version: view.version(),
        issued_at: view.current.as_ref().map(|v| v.body.issued_at),
        states,
    }
}

/// The UN M49 region and subregion of a State ("americas",
/// "central-america"), or none for a code the standard does not place.
pub fn region(state: StateCode) -> (Option<String>, Option<String>) {
    match keshvar::Alpha3::try_from(state.as_str()) {
        Ok(code) => {
            let country = code.to_country();
            (country.maybe_region().map(|r| r.to_string()), country.maybe_subregion().map(|r| r.to_string()))
        }
        Err(_) => (None, None),
    }
}

/// Whether `state` lies in `wanted`, a region or subregion written as
/// [`region`] writes it (case and spaces forgiven: "Western Africa").
pub fn in_region(state: StateCode, wanted: &str) -> bool {
    let wanted = wanted.trim().to_ascii_lowercase().replace(' ', "-");
    let (region, subregion) = region(state);
    region.as_deref() == Some(wanted.as_str()) || subregion.as_deref() == Some(wanted.as_str())
}

/// The UN M49 regions where States lie, as [`region`] names them.
pub const REGIONS: [&str; 5] = ["africa", "americas", "asia", "europe", "oceania"];

/// The UN M49 subregions where States lie, as [`region`] names them.
pub const SUBREGIONS: [&str; 22] = [
    "australia-and-new-zealand",
    "caribbean",
    "central-america",
    "central-asia",
    "eastern-africa",
    "eastern-asia",
    "eastern-europe",
    "melanesia",
    "micronesia",
    "middle-africa",
    "northern-africa",
    "northern-america",
    "northern-europe",
    "polynesia",
    "south-america",
    "south-eastern-asia",
    "southern-africa",
    "southern-asia",
    "southern-europe",
    "western-africa",
    "western-asia",
    "western-europe",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> StateCode {
        s.parse().expect("code")
    }

    #[test]
    fn states_have_their_un_regions() {
        assert_eq!(region(code("MEX")), (Some("americas".into()), Some("central-america".into())));
        assert_eq!(region(code("SWE")), (Some("europe".into()), Some("northern-europe".into())));
        assert_eq!(region(code("NGA")).0.as_deref(), Some("africa"));
        assert!(in_region(code("NGA"), "Western Africa"));
        assert!(!in_region(code("SWE"), "americas"));
        for state in StateCode::all() {
            let (r, sub) = region(state);
            assert!(r.as_deref().is_none_or(|r| REGIONS.contains(&r)), "{state}: {r:?}");
            assert!(sub.as_deref().is_none_or(|s| SUBREGIONS.contains(&s)), "{state}: {sub:?}");
        }
    }
}
