//! The directory and points of contact: the States of the current
//! directory with their standing, key fingerprint and contacts, searched by
//! State, region, working language and role of contact; this State's own
//! points of contact, shown and submitted (national node); and the public
//! section of the directory as a page in English, French or Spanish.

use super::exchanges::{Choice, Pager, choices, encode};
use super::*;
use crate::api::{ContactsView, DirectoryListing, EntryView, PublicDirectory, SubmitContactsRequest};
use crate::directory::public::{REGIONS, SUBREGIONS};
use axum::extract::Query;
use axum::routing::post;
use veim_protocol::contacts::{ContactField, ContactForm, ContactRole, ContactSetForm, PointOfContact, Visibility};
use veim_protocol::report::Language;

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/console/directory", get(directory))
        .route("/console/contacts", get(own_contacts))
        .route("/console/contacts", post(submit_contacts))
}

/// Entries per page of the directory.
const PER_PAGE: usize = 20;

/// The directory's search, as its form sends it.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(super) struct Search {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    page: Option<usize>,
}

impl Search {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [("state", &self.state), ("region", &self.region), ("language", &self.language), ("role", &self.role)]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_deref().map(str::trim).filter(|s| !s.is_empty())?.to_string())))
            .collect()
    }

    fn query(&self, page: usize) -> String {
        let mut q = vec![format!("page={page}")];
        q.extend(self.pairs().into_iter().map(|(k, v)| format!("{k}={}", encode(&v))));
        q.join("&")
    }

    fn value(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }
}

/// A point of contact as a page shows it.
pub(crate) struct Contact {
    pub role: String,
    pub name: String,
    pub job_title: String,
    pub ministry: String,
    pub emails: String,
    pub phones: String,
    pub office_address: String,
    pub languages: String,
    pub restricted: bool,
}

/// The words for a contact's role in the official's language.
pub(super) fn role_label(tr: Tr, role: &ContactRole) -> String {
    match role {
        ContactRole::NationalPoc => tr.t("role-national-poc"),
        ContactRole::Alternate => tr.t("role-alternate"),
        ContactRole::FocalPoint(what) => tr.t1("role-focal-point-for", "what", what),
    }
}

pub(super) fn contact(tr: Tr, c: &PointOfContact) -> Contact {
    Contact {
        role: role_label(tr, &c.role),
        name: c.name.clone(),
        job_title: c.job_title.clone(),
        ministry: c.ministry.clone(),
        emails: c.emails.join(", "),
        phones: c.phones.join(", "),
        office_address: c.office_address.clone(),
        languages: c.languages.join(", "),
        restricted: c.visibility == Visibility::Restricted,
    }
}

/// A State of the directory, as the page shows it.
pub(crate) struct Listed {
    pub code: String,
    pub name: String,
    pub region: String,
    pub status: String,
    pub active: bool,
    pub fingerprint: String,
    pub operator: String,
    pub admitted: String,
    pub public: bool,
    pub contacts: Vec<Contact>,
}

fn region_label(tr: Tr, e: &EntryView) -> String {
    let names: Vec<String> =
        [&e.region, &e.subregion].into_iter().flatten().map(|r| tr.t(&format!("region-{r}"))).collect();
    names.join(" · ")
}

/// A status of a directory entry in the official's language.
pub(super) fn status_label(tr: Tr, status: &veim_protocol::EntryStatus) -> String {
    let name = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    tr.t(&format!("entry-{name}"))
}

#[derive(askama::Template)]
#[template(path = "directory.html")]
struct DirectoryPage {
    frame: Frame,
    version: String,
    issued: String,
    state: String,
    regions: Vec<Choice>,
    languages: Vec<Choice>,
    roles: Vec<Choice>,
    states: Vec<Listed>,
    pager: Pager,
    error: Option<String>,
}

async fn directory(official: Official, Query(search): Query<Search>) -> Response {
    let tr = official.tr;
    let page = search.page.unwrap_or(1).max(1);
    let path = format!("/v1/directory?limit={PER_PAGE}&{}", search.query(page));
    let mut error = None;
    let (total, listing) = match official.api().counted::<DirectoryListing>(official.name(), &path).await {
        Ok((total, listing)) => (total.unwrap_or(listing.entries.len()), Some(listing)),
        Err(e) if e.status == 400 => {
            error = Some(e.message);
            (0, None)
        }
        Err(e) => return official.failed(&e),
    };
    let states = listing
        .iter()
        .flat_map(|l| l.entries.iter())
        .map(|e| Listed {
            code: e.state.to_string(),
            name: e.name.clone(),
            region: region_label(tr, e),
            status: status_label(tr, &e.status),
            active: e.status == veim_protocol::EntryStatus::Active,
            fingerprint: e.fingerprint.clone(),
            operator: e.operator.clone(),
            admitted: tr.day(e.admitted_at),
            public: e.visibility == Visibility::Public,
            contacts: e.contacts.iter().map(|c| contact(tr, c)).collect(),
        })
        .collect();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let link = |p: usize| format!("/console/directory?{}", search.query(p));
    let regions = REGIONS
        .iter()
        .chain(SUBREGIONS.iter())
        .map(|r| Choice {
            value: r.to_string(),
            label: tr.t(&format!("region-{r}")),
            chosen: search.region.as_deref() == Some(*r),
        })
        .collect();
    let page = DirectoryPage {
        frame: official.frame(tr.t("directory-title"), "/console/directory"),
        version: listing.as_ref().map(|l| tr.number(l.version)).unwrap_or_default(),
        issued: listing.as_ref().and_then(|l| l.issued_at).map(|t| tr.time(t)).unwrap_or_else(|| "—".into()),
        state: Search::value(&search.state).to_string(),
        regions,
        languages: languages(tr, &search.language),
        roles: choices(tr, "role", &["national-poc", "alternate", "focal-point"], &search.role),
        states,
        pager: Pager {
            page,
            pages,
            total: tr.count("directory-total", total),
            previous: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        },
        error,
    };
    render(&page)
}

/// The working languages a contact may list, most common first.
const CONTACT_LANGUAGES: &[&str] = &["en", "fr", "es", "ar", "ru", "zh", "pt", "de"];

fn languages(tr: Tr, chosen: &Option<String>) -> Vec<Choice> {
    choices(tr, "language", CONTACT_LANGUAGES, chosen)
}

/// One contact of the contacts form, as the official wrote it.
#[derive(Debug, Default, Clone)]
pub(crate) struct ContactRow {
    pub index: usize,
    pub form: ContactForm,
    pub emails: String,
    pub phones: String,
    pub languages: String,
    pub problems: Vec<String>,
}

impl ContactRow {
    fn of(index: usize, form: ContactForm) -> ContactRow {
        ContactRow {
            index,
            emails: form.emails.join(", "),
            phones: form.phones.join(", "),
            languages: form.languages.join(", "),
            form,
            problems: Vec::new(),
        }
    }

    pub fn focal(&self) -> &str {
        self.form.focal_point_for.as_deref().unwrap_or("")
    }

    pub fn public(&self) -> bool {
        self.form.visibility.as_deref() == Some("public")
    }

    pub fn keeps(&self, field: &str) -> bool {
        self.form.restricted_fields.iter().any(|f| f == field)
    }
}

fn form_of(c: &PointOfContact) -> ContactForm {
    let (role, focal) = match &c.role {
        ContactRole::NationalPoc => ("national-poc", None),
        ContactRole::Alternate => ("alternate", None),
        ContactRole::FocalPoint(what) => ("focal-point", Some(what.clone())),
    };
    let field_name = |f: &ContactField| {
        ContactField::ALL.iter().find(|(x, _)| x == f).map(|(_, n)| n.to_string()).unwrap_or_default()
    };
    ContactForm {
        name: c.name.clone(),
        job_title: c.job_title.clone(),
        ministry: c.ministry.clone(),
        emails: c.emails.clone(),
        phones: c.phones.clone(),
        office_address: c.office_address.clone(),
        languages: c.languages.clone(),
        role: role.into(),
        focal_point_for: focal,
        visibility: Some(if c.visibility == Visibility::Public { "public" } else { "restricted" }.into()),
        restricted_fields: c.restricted_fields.iter().map(field_name).collect(),
    }
}

/// The contacts submitted last, for the table every page shares.
pub(crate) struct Shown {
    pub contacts: Vec<Contact>,
}

#[derive(askama::Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    frame: Frame,
    standing: Option<String>,
    submitted: Option<String>,
    current: Option<Shown>,
    entry_public: bool,
    rows: Vec<ContactRow>,
    roles: Vec<Choice>,
    fields: Vec<(&'static str, String)>,
    problems: Vec<String>,
    may_submit: bool,
}

/// A blank contact more than those given, up to the most a State lists.
fn with_blank(mut rows: Vec<ContactRow>) -> Vec<ContactRow> {
    if rows.len() < veim_protocol::contacts::MAX_CONTACTS {
        let mut blank = ContactRow::of(rows.len(), ContactForm::default());
        if rows.is_empty() {
            blank.form.role = "national-poc".into();
        }
        rows.push(blank);
    }
    rows
}

fn contacts_page(
    official: &Official,
    view: Option<&ContactsView>,
    rows: Vec<ContactRow>,
    entry_public: bool,
    problems: Vec<String>,
) -> ContactsPage {
    let tr = official.tr;
    ContactsPage {
        frame: official.frame(tr.t("contacts-title"), "/console/contacts"),
        standing: view.and_then(|v| standing_text(tr, v)),
        submitted: view.map(|v| tr.time(v.submitted_at)),
        current: view
            .filter(|v| !v.contacts.is_empty())
            .map(|v| Shown { contacts: v.contacts.iter().map(|c| contact(tr, c)).collect() }),
        entry_public,
        rows: with_blank(rows),
        roles: choices(tr, "role", &["national-poc", "alternate", "focal-point"], &None),
        fields: ContactField::ALL.iter().map(|(_, n)| (*n, tr.t(&format!("contact-field-{n}")))).collect(),
        problems,
        may_submit: official.may("POST", "/v1/contacts"),
    }
}

/// Where a submission of contacts stands, in the official's language (the
/// API's words for a state the contacts do not take).
fn standing_text(tr: Tr, view: &ContactsView) -> Option<String> {
    use crate::api::StandingState;
    let Some(standing) = &view.standing else { return view.status.clone() };
    let version = standing.version.map(|v| tr.number(v)).unwrap_or_default();
    Some(match standing.state {
        StandingState::Kept => tr.t("contacts-kept"),
        StandingState::Pending => tr.t("contacts-pending"),
        StandingState::Accepted => tr.t1("contacts-accepted", "version", &version),
        StandingState::Rejected => tr.t1("contacts-rejected", "reason", &standing.reason.clone().unwrap_or_default()),
        _ => return view.status.clone(),
    })
}

async fn current_contacts(official: &Official) -> Result<Option<ContactsView>, Response> {
    match official.api().get::<ContactsView>(official.name(), "/v1/contacts").await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.error == "no-contacts" => Ok(None),
        Err(e) => Err(official.failed(&e)),
    }
}

async fn own_contacts(official: Official) -> Response {
    let view = match current_contacts(&official).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let rows = view
        .as_ref()
        .map(|v| v.contacts.iter().enumerate().map(|(i, c)| ContactRow::of(i, form_of(c))).collect())
        .unwrap_or_default();
    let public = view.as_ref().is_some_and(|v| v.entry_visibility == Visibility::Public);
    render(&contacts_page(&official, view.as_ref(), rows, public, Vec::new()))
}

/// A list written with commas, semicolons or one item a line.
fn items(text: &str) -> Vec<String> {
    text.split([',', ';', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The contacts form's fields (`c<N>-<field>`) as the API's form; contacts
/// left blank are left out.
fn read_contacts(pairs: &[(String, String)]) -> (ContactSetForm, Vec<ContactRow>) {
    let mut rows: Vec<ContactRow> = Vec::new();
    let mut entry_visibility = None;
    for (key, value) in pairs {
        if key == "entry_visibility" {
            entry_visibility = Some(value.trim().to_string());
            continue;
        }
        let Some((index, field)) = key.strip_prefix('c').and_then(|k| k.split_once('-')) else { continue };
        let Ok(index) = index.parse::<usize>() else { continue };
        if index > veim_protocol::contacts::MAX_CONTACTS {
            continue;
        }
        while rows.len() <= index {
            rows.push(ContactRow::of(rows.len(), ContactForm::default()));
        }
        let row = &mut rows[index];
        let v = value.trim().to_string();
        match field {
            "name" => row.form.name = v,
            "job_title" => row.form.job_title = v,
            "ministry" => row.form.ministry = v,
            "emails" => row.emails = v,
            "phones" => row.phones = v,
            "office_address" => row.form.office_address = v,
            "languages" => row.languages = v,
            "role" => row.form.role = v,
            "focal_point_for" => row.form.focal_point_for = Some(v).filter(|s| !s.is_empty()),
            "visibility" => row.form.visibility = Some(v),
            "restricted" => row.form.restricted_fields.push(v),
            _ => {}
        }
    }
    let filled: Vec<ContactRow> = rows
        .into_iter()
        .filter(|r| {
            !(r.form.name.is_empty()
                && r.form.job_title.is_empty()
                && r.form.ministry.is_empty()
                && r.emails.is_empty()
                && r.phones.is_empty()
                && r.form.office_address.is_empty()
                && r.languages.is_empty())
        })
        .enumerate()
        .map(|(i, mut r)| {
            r.index = i;
            r.form.emails = items(&r.emails);
            r.form.phones = items(&r.phones);
            r.form.languages = items(&r.languages);
            r
        })
        .collect();
    let form = ContactSetForm { entry_visibility, contacts: filled.iter().map(|r| r.form.clone()).collect() };
    (form, filled)
}

async fn submit_contacts(posted: Posted<Vec<(String, String)>>) -> Response {
    let official = posted.official;
    let tr = official.tr;
    let (form, mut rows) = read_contacts(&posted.form);
    let public = form.entry_visibility.as_deref() == Some("public");
    let body = SubmitContactsRequest { contacts: form };
    match official.api().post::<_, ContactsView>(official.name(), "/v1/contacts", &body).await {
        Ok(view) => {
            let text = match standing_text(tr, &view) {
                Some(status) => tr.t1("contacts-submitted-status", "status", &status),
                None => tr.t("contacts-submitted"),
            };
            official.flash(true, text);
            Redirect::to("/console/contacts").into_response()
        }
        Err(e) if e.status == 422 || e.status == 400 => {
            // Each problem beside its contact; the others above the form.
            let mut general = Vec::new();
            for p in &e.problems {
                let at = p
                    .field
                    .strip_prefix("contacts[")
                    .and_then(|r| r.split_once(']'))
                    .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest.trim_start_matches('.'))));
                match at {
                    Some((i, field)) if i < rows.len() && !field.is_empty() => {
                        rows[i].problems.push(format!("{field}: {}", p.problem));
                    }
                    _ => general.push(format!("{}: {}", p.field, p.problem)),
                }
            }
            if e.problems.is_empty() {
                general.push(e.message.clone());
            }
            let view = current_contacts(&official).await.ok().flatten();
            let page = contacts_page(&official, view.as_ref(), rows, public, general);
            (StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response()
        }
        Err(e) => official.failed(&e),
    }
}

/// The public section of the directory as a static page in `language`:
/// self-contained (its style inline; no script, no external style, font
/// or image), to publish on a web site or open from disk.
pub fn public_page(public: &PublicDirectory, language: Language) -> Result<String, askama::Error> {
    use askama::Template;
    let tr = Tr::new(language);
    let states = public
        .states
        .iter()
        .map(|s| PublicState {
            name: s.name.clone(),
            code: s.state.clone(),
            contacts: s
                .contacts
                .iter()
                .map(|c| {
                    let role = c.role_kind.as_ref().map(|r| role_label(tr, r)).unwrap_or_else(|| c.role.clone());
                    [
                        (tr.t("contact-role"), role),
                        (tr.t("contact-field-name"), c.name.clone()),
                        (tr.t("contact-field-job-title"), c.job_title.clone()),
                        (tr.t("contact-field-ministry"), c.ministry.clone()),
                        (tr.t("contact-field-emails"), c.emails.join(", ")),
                        (tr.t("contact-field-phones"), c.phones.join(", ")),
                        (tr.t("contact-field-office-address"), c.office_address.clone()),
                        (tr.t("contact-field-languages"), c.languages.join(", ")),
                    ]
                    .into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .collect()
                })
                .collect(),
        })
        .collect();
    PublicPage {
        tr,
        intro: tr.t1("public-intro", "version", &tr.number(public.directory_version)),
        issued: public.issued_at.map(|t| tr.t1("public-issued", "date", &tr.time(t))).unwrap_or_default(),
        listed: tr.count("public-listed", public.states.len()),
        states,
    }
    .render()
}

struct PublicState {
    name: String,
    code: String,
    contacts: Vec<Vec<(String, String)>>,
}

#[derive(askama::Template)]
#[template(path = "public.html")]
struct PublicPage {
    tr: Tr,
    intro: String,
    issued: String,
    listed: String,
    states: Vec<PublicState>,
}
