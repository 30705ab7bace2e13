//! The public section of the directory: what the Secretariat may put on a
//! public web page. Only active entries the State made public, only public
//! contacts, and none of the fields a contact keeps restricted.

use crate::report::escape;
use serde::{Deserialize, Serialize};
use veim_node::api::DirectoryListing;
use veim_protocol::EntryStatus;
use veim_protocol::contacts::{PointOfContact, Visibility};

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
    pub role: String,
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

/// The public section of a directory listing.
pub fn public_section(listing: &DirectoryListing) -> PublicDirectory {
    let states = listing
        .entries
        .iter()
        .filter(|e| e.status == EntryStatus::Active && e.visibility == Visibility::Public)
        .map(|e| PublicEntry {
            state: e.state.to_string(),
            name: e.name.clone(),
            contacts: e.contacts.iter().filter_map(PointOfContact::public_view).map(PublicContact::from).collect(),
        })
        .collect();
    PublicDirectory { directory_version: listing.version, issued_at: listing.issued_at, states }
}

/// A static page, self-contained (no script, no external style, font or
/// image), that opens from disk with no network.
pub fn html(public: &PublicDirectory) -> String {
    let issued = public.issued_at.map(crate::render::time).unwrap_or_default();
    let mut body = String::new();
    for s in &public.states {
        body.push_str(&format!("<section>\n<h2>{} <small>{}</small></h2>\n", escape(&s.name), escape(&s.state)));
        if s.contacts.is_empty() {
            body.push_str("<p class=\"none\">No public point of contact.</p>\n");
        }
        for c in &s.contacts {
            body.push_str("<dl>\n");
            let mut row = |label: &str, value: String| {
                if !value.is_empty() {
                    body.push_str(&format!("<dt>{label}</dt><dd>{}</dd>\n", escape(&value)));
                }
            };
            row("Role", c.role.clone());
            row("Name", c.name.clone());
            row("Job title", c.job_title.clone());
            row("Ministry or agency", c.ministry.clone());
            row("E-mail", c.emails.join(", "));
            row("Telephone", c.phones.join(", "));
            row("Office address", c.office_address.clone());
            row("Working languages", c.languages.join(", "));
            body.push_str("</dl>\n");
        }
        body.push_str("</section>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>ATT national points of contact</title>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}\n\
         h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.15rem; border-bottom: 1px solid #ccc; }} small {{ color: #666; }}\n\
         dl {{ display: grid; grid-template-columns: 11rem 1fr; gap: .2rem 1rem; margin: .8rem 0; }} dt {{ color: #555; }} dd {{ margin: 0; }}\n\
         .none {{ color: #666; font-style: italic; }}\n</style>\n</head>\n<body>\n\
         <h1>Arms Trade Treaty: national points of contact</h1>\n\
         <p>Public section of the directory, version {}, issued {}. {} State(s) listed.</p>\n{}</body>\n</html>\n",
        public.directory_version,
        escape(&issued),
        public.states.len(),
        body
    )
}
