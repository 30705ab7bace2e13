//! `veim reports` and `veim meeting`: reports of measures through the
//! Secretariat (Art. 11.6, 13.2) and the annual meeting of national points
//! of contact, through the admin API.

use crate::client::{AdminClient, ClientError};
use crate::render::time;
use clap::Subcommand;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use veim_node::api::{
    MeasuresReportView, MeetingView, PublicationView, PublicationsSynced, PublishNotice, PublishRecommendations,
    RefuseReport, RegisterParticipants, RegistrationView, Registrations, SubmitReport,
};
use veim_node::publications::{Invitations, InviteFilter, InviteRole, ParticipantChoice};
use veim_protocol::StateCode;
use veim_protocol::meeting::{Language, MeetingNoticeForm};
use veim_protocol::publication::{MeasuresReportForm, PublicationContent, SignedMeasuresReport};

#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// National node: sign a report of measures (see deploy/examples/report.toml) and submit it to the Secretariat.
    #[command(after_help = "Example:\n  veim reports submit report.toml")]
    Submit {
        /// The report, as TOML.
        file: PathBuf,
    },
    /// The reports this node holds (a State's own; on the Secretariat, every one received), and where each stands.
    #[command(after_help = "Example:\n  veim reports list --json")]
    List,
    /// One report, whole.
    #[command(after_help = "Example:\n  veim reports show 3f2a9c01")]
    Show {
        /// Report id, or its first hex digits.
        id: String,
    },
    /// The register of reports the Secretariat circulated, each checked against the
    /// Secretariat's signature and the reporting State's.
    #[command(after_help = "Example:\n  veim reports circulated")]
    Circulated,
    /// National node: fetch the Secretariat's publications now.
    #[command(after_help = "Example:\n  veim reports sync")]
    Sync,
    /// Secretariat: the reports waiting for review.
    #[command(after_help = "Example:\n  veim reports pending")]
    Pending,
    /// Secretariat: circulate a pending report, signed, to every active State.
    #[command(after_help = "Example:\n  veim reports circulate 3f2a9c01")]
    Circulate {
        /// Report id, or its first hex digits.
        id: String,
    },
    /// Secretariat: refuse a pending report; its State learns the reason.
    #[command(after_help = "Example:\n  veim reports refuse 3f2a9c01 --reason \"it names an exchange's content\"")]
    Refuse {
        /// Report id, or its first hex digits.
        id: String,
        /// Why, as the State's operator will read it.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListFormat {
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum MeetingCommand {
    /// Secretariat: publish the meeting's notice (see deploy/examples/meeting-notice.toml).
    #[command(after_help = "Example:\n  veim meeting notice --file meeting-notice.toml")]
    Notice {
        /// The notice, as TOML.
        #[arg(long)]
        file: PathBuf,
    },
    /// The latest notice, its recommendations once published, and this State's registration.
    #[command(after_help = "Example:\n  veim meeting show")]
    Show,
    /// National node: register participants, each one of this State's points of contact
    /// as the directory lists them, named by e-mail address.
    #[command(
        after_help = "Example:\n  veim meeting register --contact att-poc@sre.example.mx --contact jorge.ramirez@sre.example.mx:en --language es"
    )]
    Register {
        /// An e-mail address of one of this State's points of contact, optionally
        /// followed by `:LANG` (en, fr, es). Repeat for each participant.
        #[arg(long = "contact", required = true)]
        contacts: Vec<String>,
        /// The language of participants given without one.
        #[arg(long, default_value = "en")]
        language: String,
    },
    /// Secretariat: invite the points of contact of active States to the latest meeting by
    /// mail (the node's [mail] server), one mail per address in the contact's language.
    /// An address invited before is left out unless --again.
    #[command(
        after_help = "Examples:\n  veim meeting invite\n  veim meeting invite --role national-poc --role alternate --language fr --language es\n  veim meeting invite --state MEX --again"
    )]
    Invite {
        /// national-poc, alternate or focal-point; repeat for several. Every role when absent.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// en, fr or es: contacts working in one of them, written to in it; repeat for several.
        /// When absent, every contact, in the first of the Treaty's languages it lists (English
        /// when it lists none).
        #[arg(long = "language")]
        languages: Vec<String>,
        /// Only this State (ISO 3166 alpha-3); repeat for several.
        #[arg(long = "state")]
        states: Vec<String>,
        /// Invite again addresses already invited to this meeting.
        #[arg(long)]
        again: bool,
    },
    /// Secretariat: the registrations, per State and per language.
    #[command(after_help = "Example:\n  veim meeting registrations")]
    Registrations,
    /// Secretariat: the participant list, as CSV or JSON.
    #[command(after_help = "Example:\n  veim meeting export --format csv --out participants.csv")]
    Export {
        /// `csv` (one row per participant, for a spreadsheet) or `json`.
        #[arg(long, value_enum, default_value = "csv")]
        format: ListFormat,
        /// The file to write (refused if it exists); standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Secretariat: publish the meeting's recommendations for the CSP
    /// (see deploy/examples/recommendations.toml).
    #[command(after_help = "Example:\n  veim meeting recommendations --file recommendations.toml")]
    Recommendations {
        /// The recommendations as TOML (see deploy/examples/recommendations.toml).
        #[arg(long)]
        file: PathBuf,
    },
}

/// What a command printed: JSON for scripts, or words for people.
#[derive(Debug)]
pub struct Printed {
    pub json: serde_json::Value,
    pub text: String,
}

fn printed<T: serde::Serialize>(value: &T, text: String) -> Result<Printed, ClientError> {
    let json = serde_json::to_value(value).map_err(|e| ClientError::Local(e.to_string()))?;
    Ok(Printed { json, text })
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| ClientError::Invalid(format!("{} is not a valid file: {e}", path.display())))
}

/// Runs a `veim reports` command.
pub fn reports(api: &AdminClient, command: ReportsCommand) -> Result<Printed, ClientError> {
    match command {
        ReportsCommand::Submit { file } => {
            let report: MeasuresReportForm = read_toml(&file)?;
            let v: MeasuresReportView = api.post("/v1/reports", &SubmitReport { report })?;
            let text = format!("Report {} signed and submitted: {}.\n", short(&v.id), v.status_text);
            printed(&v, text)
        }
        ReportsCommand::List | ReportsCommand::Pending => {
            let path = if matches!(command, ReportsCommand::Pending) { "/v1/reports/pending" } else { "/v1/reports" };
            let list: Vec<MeasuresReportView> = api.get(path)?;
            let text =
                if list.is_empty() { "No report.\n".to_string() } else { list.iter().map(report_line).collect() };
            printed(&list, text)
        }
        ReportsCommand::Show { id } => {
            let v: MeasuresReportView = api.get(&format!("/v1/reports/{id}"))?;
            let text = format!("{}  {}\n{}", short(&v.id), v.status_text, report_text(&v.record.report));
            printed(&v, text)
        }
        ReportsCommand::Circulated => {
            let log: Vec<PublicationView> = api.get("/v1/publications")?;
            let circulated: Vec<&PublicationView> = log.iter().filter(|p| p.kind == "circulated-report").collect();
            let mut text = String::new();
            for p in &circulated {
                if let Some(PublicationContent::CirculatedReport(r)) = &p.content {
                    let _ = writeln!(text, "Publication {}, circulated {}", p.seq, time(p.published_at));
                    text.push_str(&report_text(r));
                    text.push('\n');
                }
            }
            if circulated.is_empty() {
                text = "No report has been circulated to this State.\n".into();
            }
            printed(&circulated, text)
        }
        ReportsCommand::Sync => {
            let s: PublicationsSynced = api.post("/v1/publications/sync", &())?;
            let text = format!("{} new publication(s); this node holds publications up to {}.\n", s.accepted, s.held);
            printed(&s, text)
        }
        ReportsCommand::Circulate { id } => {
            let p: PublicationView = api.post(&format!("/v1/reports/{id}/circulate"), &())?;
            let audience: Vec<String> = p.audience.iter().map(|s| s.to_string()).collect();
            let text = format!("Circulated as publication {} to {}.\n", p.seq, audience.join(", "));
            printed(&p, text)
        }
        ReportsCommand::Refuse { id, reason } => {
            let v: MeasuresReportView = api.post(&format!("/v1/reports/{id}/refuse"), &RefuseReport { reason })?;
            let text = format!(
                "Report {} of {}: {}; its node learns it at its next poll.\n",
                short(&v.id),
                v.state,
                v.status_text
            );
            printed(&v, text)
        }
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(16)]
}

fn report_line(v: &MeasuresReportView) -> String {
    format!("{}  {}  {}  ({})\n", short(&v.id), v.state, v.title, v.status_text)
}

fn report_text(r: &SignedMeasuresReport) -> String {
    let r = &r.report;
    let mut out = String::new();
    let _ = writeln!(out, "{} — {} (signed {})", r.state, r.title, time(r.signed_at));
    for m in &r.measures {
        let _ = writeln!(out, "  Art. {} {} on {}: {}", m.provision, m.kind, m.date, m.text);
    }
    if !r.text.is_empty() {
        let _ = writeln!(out, "  {}", r.text.replace('\n', "\n  "));
    }
    if !r.exchanges.is_empty() {
        let ids: Vec<String> = r.exchanges.iter().map(|e| e.to_string()).collect();
        let _ = writeln!(out, "  exchanges cited: {}", ids.join(", "));
    }
    out
}

/// Parses `EMAIL[:LANG]`.
fn choice(contact: &str, default: Language) -> Result<ParticipantChoice, ClientError> {
    let (email, language) = match contact.rsplit_once(':') {
        Some((email, lang)) => (
            email,
            Language::parse(lang).ok_or_else(|| {
                ClientError::Invalid(format!("{lang:?} is not a language of the meeting; use en, fr or es"))
            })?,
        ),
        None => (contact, default),
    };
    Ok(ParticipantChoice { email: email.trim().into(), name: None, language })
}

/// Runs a `veim meeting` command.
pub fn meeting(api: &AdminClient, command: MeetingCommand) -> Result<Printed, ClientError> {
    match command {
        MeetingCommand::Notice { file } => {
            let notice: MeetingNoticeForm = read_toml(&file)?;
            let p: PublicationView = api.post("/v1/meeting/notice", &PublishNotice { notice })?;
            let text = format!("Meeting notice published as publication {} to {} State(s).\n", p.seq, p.audience.len());
            printed(&p, text)
        }
        MeetingCommand::Show => {
            let m: MeetingView = api.get("/v1/meeting")?;
            let n = &m.notice;
            let mut text = String::new();
            let _ = writeln!(text, "{} (publication {})", n.title, m.notice_seq);
            let _ = writeln!(text, "  {} to {}, {}; the CSP opens {}", n.starts_on, n.ends_on, n.venue, n.csp_date);
            let langs: Vec<&str> = n.languages.iter().map(|l| l.as_str()).collect();
            let _ = writeln!(
                text,
                "  languages: {}; registrations close {}",
                langs.join(", "),
                time(n.registration_deadline)
            );
            for (i, item) in n.agenda.iter().enumerate() {
                let _ = writeln!(text, "  {}. {item}", i + 1);
            }
            if let Some(r) = &m.registration {
                let _ = writeln!(text, "Registered ({}):", time(r.signed_at));
                for p in &r.participants {
                    let _ = writeln!(text, "  {} <{}> ({})", p.name, p.email, p.language);
                }
            }
            if let Some(r) = &m.recommendations {
                let _ = writeln!(text, "Recommendations for the CSP:");
                if !r.text.is_empty() {
                    let _ = writeln!(text, "  {}", r.text);
                }
                for item in &r.items {
                    let _ = writeln!(text, "  - {item}");
                }
            }
            printed(&m, text)
        }
        MeetingCommand::Register { contacts, language } => {
            let default = Language::parse(&language).ok_or_else(|| {
                ClientError::Invalid(format!("{language:?} is not a language of the meeting; use en, fr or es"))
            })?;
            let participants = contacts.iter().map(|c| choice(c, default)).collect::<Result<Vec<_>, _>>()?;
            let r: RegistrationView = api.post("/v1/meeting/register", &RegisterParticipants { participants })?;
            let mut text = format!("{} registered {} participant(s):\n", r.state, r.participants.len());
            for p in &r.participants {
                let _ = writeln!(text, "  {} <{}> ({})", p.name, p.email, p.language);
            }
            printed(&r, text)
        }
        MeetingCommand::Invite { roles, languages, states, again } => {
            let roles = roles
                .iter()
                .map(|r| r.parse::<InviteRole>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(ClientError::Invalid)?;
            let languages = languages
                .iter()
                .map(|l| {
                    Language::parse(l).ok_or_else(|| {
                        ClientError::Invalid(format!("{l:?} is not a working language of the Treaty; use en, fr or es"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let states = states
                .iter()
                .map(|s| {
                    s.trim()
                        .to_ascii_uppercase()
                        .parse::<StateCode>()
                        .map_err(|e| ClientError::Invalid(format!("--state {s:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let filter = InviteFilter { roles, languages, states, again };
            let r: Invitations = api.post("/v1/meeting/invite", &filter)?;
            let mut text = format!(
                "{} invitation(s) to the meeting of publication {} queued for the mail server (veim mail queue):\n",
                r.invited.len(),
                r.notice
            );
            for i in &r.invited {
                let _ = writeln!(text, "  {} {} <{}> ({}, {})", i.state, i.name, i.email, i.role.as_str(), i.language);
            }
            if !r.not_invited.is_empty() {
                let _ = writeln!(text, "Not invited:");
                for n in &r.not_invited {
                    let address = if n.email.is_empty() { String::new() } else { format!(" <{}>", n.email) };
                    let _ = writeln!(text, "  {} {}{address}: {}", n.state, n.name, n.reason);
                }
            }
            if r.invited.is_empty() && r.not_invited.is_empty() {
                let _ = writeln!(
                    text,
                    "No point of contact of an active State matches: the directory lists {} others.",
                    r.not_chosen
                );
            } else if r.not_chosen > 0 {
                let _ = writeln!(
                    text,
                    "{} other point(s) of contact not chosen by --role, --language or --state.",
                    r.not_chosen
                );
            }
            printed(&r, text)
        }
        MeetingCommand::Registrations => {
            let r: Registrations = api.get("/v1/meeting/registrations")?;
            let mut text = format!("Registrations for the meeting of publication {}:\n", r.notice);
            for (state, n) in &r.per_state {
                let _ = writeln!(text, "  {state}: {n} participant(s)");
            }
            let langs: Vec<String> = r.per_language.iter().map(|(l, n)| format!("{l} {n}")).collect();
            let _ = writeln!(text, "By language: {}", if langs.is_empty() { "none".into() } else { langs.join(", ") });
            printed(&r, text)
        }
        MeetingCommand::Export { format, out } => {
            let r: Registrations = api.get("/v1/meeting/registrations")?;
            let body = match format {
                ListFormat::Csv => r.csv(),
                ListFormat::Json => {
                    serde_json::to_string_pretty(&r.rows()).map_err(|e| ClientError::Local(e.to_string()))? + "\n"
                }
            };
            let text = match out {
                Some(path) => {
                    use std::io::Write as _;
                    let mut file =
                        std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
                            ClientError::Refused(format!(
                                "cannot create {}: {e} (an existing file is never overwritten)",
                                path.display()
                            ))
                        })?;
                    file.write_all(body.as_bytes())
                        .map_err(|e| ClientError::Local(format!("cannot write {}: {e}", path.display())))?;
                    format!("{} participant(s) written to {}.\n", r.rows().len(), path.display())
                }
                None => body,
            };
            printed(&r.rows(), text)
        }
        MeetingCommand::Recommendations { file } => {
            let form: PublishRecommendations = read_toml(&file)?;
            let p: PublicationView = api.post("/v1/meeting/recommendations", &form)?;
            let text =
                format!("Recommendations published as publication {} to {} State(s).\n", p.seq, p.audience.len());
            printed(&p, text)
        }
    }
}
