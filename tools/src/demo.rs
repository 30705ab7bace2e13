//! `veim demo`: a Secretariat and three national nodes on 127.0.0.1, a full
//! exchange between them, and each step printed as it happens. Every step is
//! checked; the demo says which one failed if one does.

use crate::localnet::{LocalNet, blocking, wait_for};
use crate::render;
use std::path::Path;
use std::time::Duration;
use veim_node::accounts::{NewAccount, WithToken};
use veim_node::api::types::DeliveryState;
use veim_node::api::types::{ConsentStatus, ConsentView, DisclosureRequestView, MeasureForm, TrackedExchange};
use veim_node::api::{
    AskConsent, CloseRequest, ContactsDecision, ContactsView, DecideConsent, DirectoryListing, Disclose, ExchangeView,
    MessageView, NoteRequest, RespondRequest, SendRequest, StatusView, SubmitContactsRequest, VersionView,
};
use veim_protocol::contacts::ContactSetForm;
use veim_protocol::disclosure::Package;
use veim_protocol::{Authority, AuthorityKind, Body, RequestForm, ResponseForm};

const REQUEST: &str = include_str!("../../deploy/examples/request.toml");
const RESPONSE: &str = include_str!("../../deploy/examples/response.toml");
const CONTACTS: &str = include_str!("../../deploy/examples/contacts.toml");
const REPORT: &str = include_str!("../../deploy/examples/report.toml");
const NOTICE: &str = include_str!("../../deploy/examples/meeting-notice.toml");

struct Steps {
    n: usize,
}

impl Steps {
    fn start(&mut self, what: &str) {
        self.n += 1;
        crate::say!("\n[{}] {what}", self.n);
    }
}

fn all_delivered(m: &MessageView) -> anyhow::Result<()> {
    for d in &m.deliveries {
        match &d.state {
            DeliveryState::Delivered { .. } => {
                crate::say!("    {} → {}: delivered, signed receipt verified", m.sender, d.recipient)
            }
            other => anyhow::bail!("{} → {}: {other:?}", m.sender, d.recipient),
        }
    }
    Ok(())
}

/// Runs the demo. With `exit`, stops the network at the end; otherwise keeps
/// it up until Ctrl-C. Returns whether every step succeeded.
/// Files the demo exports (the disclosure package, the public directory) go
/// to `out`, or to the demo's temporary folder.
pub async fn run(exit: bool, out: Option<&Path>) -> anyhow::Result<bool> {
    let dir = tempfile::Builder::new().prefix("veim-demo-").tempdir()?;
    crate::say!("veim demo: a Secretariat and three national nodes on 127.0.0.1, in {}", dir.path().display());
    let out = out.unwrap_or(dir.path());
    std::fs::create_dir_all(out)?;
    let mut steps = Steps { n: 0 };
    let mut net = None;
    let result = script(dir.path(), out, &mut steps, &mut net).await;
    let ok = match &result {
        Ok(()) => {
            crate::say!("\nAll {} steps succeeded.", steps.n);
            true
        }
        Err(e) => {
            crate::say!("    FAILED: {e:#}");
            crate::say!("\nThe demo stopped at step {}.", steps.n);
            false
        }
    };
    if let Some(net) = net {
        if !exit && ok {
            let veim = std::env::current_exe()
                .ok()
                .map(|p| {
                    let cwd = std::env::current_dir().unwrap_or_default();
                    p.strip_prefix(&cwd).map(|r| r.to_path_buf()).unwrap_or(p).display().to_string()
                })
                .unwrap_or_else(|| "veim".into());
            crate::say!("\nThe network keeps running. Talk to any node with the CLI from another terminal:");
            for n in std::iter::once(&net.secretariat).chain(&net.nationals) {
                let admin = n.handle.as_ref().map(|h| h.admin.to_string()).unwrap_or_default();
                crate::say!("  {veim} --home {} status    # {}, admin API http://{admin}", n.home.display(), n.label);
            }
            crate::say!(
                "  (then: inbox, outbox, exchange list, exchange show ID, consent list, disclosure list, reciprocity, ...)"
            );
            crate::say!("Press Ctrl-C to stop; the demo's folder is removed then.");
            let _ = tokio::signal::ctrl_c().await;
        }
        net.shutdown().await;
    }
    Ok(ok)
}

async fn script(root: &Path, out: &Path, steps: &mut Steps, slot: &mut Option<LocalNet>) -> anyhow::Result<()> {
    steps.start("Start the ATT Secretariat's directory node");
    let net = slot.insert(LocalNet::new(root).await?);
    let sec: StatusView = blocking(|| net.secretariat.api()?.get("/v1/status"))?;
    crate::say!("    peer {}  key fingerprint {}", sec.peer_id, sec.fingerprint);
    crate::say!("    national nodes pin this key and the address {}", net.secretariat.address);

    steps.start("Create and start the national nodes of Mexico, Sweden and Germany");
    for (state, operator) in [
        ("MEX", "Secretaría de Relaciones Exteriores"),
        ("SWE", "Inspectorate of Strategic Products"),
        ("DEU", "Federal Office for Economic Affairs and Export Control"),
    ] {
        net.add_national(state, operator).await?;
        let s: StatusView = blocking(|| net.national(state).api()?.get("/v1/status"))?;
        crate::say!("    {state}: peer {}  fingerprint {}", s.peer_id, s.fingerprint);
    }

    steps.start("Each national node registers; the Secretariat checks each fingerprint and approves it");
    let mut version = 0;
    for state in ["MEX", "SWE", "DEU"] {
        let v = net.admit(state).await?;
        crate::say!("    directory version {}: {}", v.version, v.change);
        version = v.version;
    }

    steps.start(&format!(
        "Every national node fetches directory version {version} and verifies it against the pinned key"
    ));
    net.wait_directory(version).await?;
    for n in &net.nationals {
        let s: StatusView = blocking(|| n.api()?.get("/v1/status"))?;
        crate::say!(
            "    {}: directory version {} with {} entries; {}",
            n.label,
            s.directory_version,
            s.directory_entries,
            s.registration.unwrap_or_default()
        );
    }

    steps.start("Mexico submits its points of contact; the Secretariat reviews and accepts them");
    let contacts: ContactSetForm = toml::from_str(CONTACTS)?;
    let mex = net.national("MEX").api()?;
    let submitted: ContactsView = blocking(|| mex.post("/v1/contacts", &SubmitContactsRequest { contacts }))?;
    crate::say!(
        "    MEX signed {} contact(s) with its key: {}",
        submitted.contacts.len(),
        submitted.status.unwrap_or_default()
    );
    let sec = net.secretariat.api()?;
    let pending: Vec<ContactsView> = blocking(|| sec.get("/v1/contacts/pending"))?;
    anyhow::ensure!(
        pending.iter().any(|p| p.state.as_str() == "MEX"),
        "the Secretariat did not receive MEX's contacts"
    );
    let accepted: VersionView =
        blocking(|| sec.post("/v1/contacts/accept", &ContactsDecision { state: "MEX".into(), reason: String::new() }))?;
    crate::say!("    directory version {}: {}", accepted.version, accepted.change);
    net.wait_directory(accepted.version).await?;
    let listing: DirectoryListing = blocking(|| net.national("SWE").api()?.get("/v1/directory"))?;
    let mex_entry =
        listing.entries.iter().find(|e| e.state.as_str() == "MEX").ok_or_else(|| anyhow::anyhow!("MEX missing"))?;
    anyhow::ensure!(mex_entry.contacts.len() == submitted.contacts.len(), "SWE does not hold MEX's contacts");
    for c in &mex_entry.contacts {
        crate::say!("    SWE sees MEX's {}: {} ({:?})", c.role, c.name, c.visibility);
    }

    steps.start("Mexico sends a diversion request (Annex 1 template) to Sweden and Germany");
    let request: RequestForm = toml::from_str(REQUEST)?;
    let sent: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into(), "DEU".into()], request }))?;
    crate::say!("    exchange {}  message {}", sent.exchange_id, sent.message_id);
    crate::say!("    sealed: one content key, wrapped with HPKE for SWE and for DEU; signed with Mexico's Ed25519 key");
    all_delivered(&sent)?;
    let exchange_id = sent.exchange_id.clone();

    steps.start("Sweden and Germany find it in their inboxes, decrypted");
    for state in ["SWE", "DEU"] {
        let inbox: Vec<MessageView> = blocking(|| net.national(state).api()?.get("/v1/inbox"))?;
        let m = inbox
            .iter()
            .find(|m| m.exchange_id == exchange_id)
            .ok_or_else(|| anyhow::anyhow!("{state} has no copy of the request"))?;
        let Some(Body::Request(r)) = &m.body else {
            anyhow::bail!("{state} holds a {} instead of the request", m.kind)
        };
        let summary: String = r.summary.split_whitespace().collect::<Vec<_>>().join(" ");
        crate::say!("    {state}: request from {}: \"{}…\"", m.sender, summary.chars().take(70).collect::<String>());
    }

    steps.start("Sweden answers with a response of Annex 2 information items");
    let response: ResponseForm = toml::from_str(RESPONSE)?;
    let swe = net.national("SWE").api()?;
    let answered: MessageView =
        blocking(|| swe.post(&format!("/v1/exchanges/{exchange_id}/respond"), &RespondRequest { response }))?;
    all_delivered(&answered)?;

    steps.start("Germany adds a note, and Mexico reads the whole exchange");
    let deu = net.national("DEU").api()?;
    let noted: MessageView = blocking(|| {
        deu.post(
            &format!("/v1/exchanges/{exchange_id}/note"),
            &NoteRequest { text: "Our customs records will follow within ten working days.".into(), handling: None },
        )
    })?;
    all_delivered(&noted)?;
    let view: ExchangeView = wait_for("Mexico to hold the response and the note", Duration::from_secs(10), || {
        let v: ExchangeView = mex.get(&format!("/v1/exchanges/{exchange_id}")).ok()?;
        (v.messages.len() >= 3).then_some(v)
    })
    .await?;
    for line in render::exchange(&view).lines() {
        crate::say!("    {line}");
    }

    steps.start("Sweden and Mexico record the measures they took (Art. 11.4), and every party sees the same");
    let today = veim_protocol::CalendarDate::of_time(veim_node::clock::now())
        .ok_or_else(|| anyhow::anyhow!("the clock is outside the calendar"))?
        .to_string();
    for (api, kind, text) in [
        (&swe, "shipment-examined", "Crates of the consignment opened at the port of entry."),
        (&mex, "investigation-opened", "Investigation opened on the broker named by Sweden."),
    ] {
        let form = MeasureForm {
            provision: "11.4".into(),
            kind: kind.into(),
            date: today.clone(),
            text: text.into(),
            handling: None,
        };
        let recorded: MessageView = blocking(|| api.post(&format!("/v1/exchanges/{exchange_id}/measures"), &form))?;
        all_delivered(&recorded)?;
    }
    let tracked: Vec<TrackedExchange> = wait_for("Germany to hold both measures", Duration::from_secs(10), || {
        let t: Vec<TrackedExchange> = deu.get("/v1/track").ok()?;
        t.iter().any(|x| x.exchange_id.to_string() == exchange_id && x.measures.len() == 2).then_some(t)
    })
    .await?;
    for line in render::track(&tracked).lines() {
        crate::say!("    DEU: {line}");
    }

    steps.start("Mexico closes the exchange with its outcome: diversion prevented");
    let closed: MessageView = blocking(|| {
        mex.post(
            &format!("/v1/exchanges/{exchange_id}/close"),
            &CloseRequest {
                reason: "Information received; file completed.".into(),
                outcome: Some("diversion-prevented".into()),
            },
        )
    })?;
    all_delivered(&closed)?;
    for state in ["SWE", "DEU"] {
        let v: ExchangeView = blocking(|| net.national(state).api()?.get(&format!("/v1/exchanges/{exchange_id}")))?;
        anyhow::ensure!(format!("{:?}", v.exchange.status) == "Closed", "{state} does not see the exchange closed");
        crate::say!("    {state} sees exchange {} closed", &exchange_id[..8]);
    }

    disclosure(net, steps, &exchange_id, &view, out).await?;
    joint_report(net, steps, out).await?;

    publications(net, steps).await?;

    steps.start("The Secretariat writes the public section of the directory, as JSON and as a static HTML page");
    let listing: DirectoryListing = blocking(|| sec.get("/v1/directory"))?;
    let public: veim_node::api::PublicDirectory = blocking(|| sec.get("/v1/directory/public"))?;
    let json_path = out.join("points-of-contact.json");
    let html_path = out.join("points-of-contact.html");
    std::fs::write(&json_path, serde_json::to_vec_pretty(&public)?)?;
    std::fs::write(&html_path, blocking(|| sec.get_text("/v1/directory/public?format=html"))?)?;
    let listed: usize = listing.entries.iter().map(|e| e.contacts.len()).sum();
    let shown: usize = public.states.iter().map(|s| s.contacts.len()).sum();
    crate::say!(
        "    {} State(s) and {shown} of {listed} contact(s) are public; restricted entries, contacts and fields are left out",
        public.states.len()
    );
    crate::say!("    {}", json_path.display());
    crate::say!("    {}", html_path.display());

    steps.start(
        "An auditor verifies each node's audit log from its files, against the checkpoints and tree heads its peers hold",
    );
    audit_all(net).await
}

/// Reports through the Secretariat and the annual meeting: Mexico's report
/// of measures circulated to every active State, the meeting's notice,
/// Mexico's registration of its own points of contact.
async fn publications(net: &LocalNet, steps: &mut Steps) -> anyhow::Result<()> {
    use veim_node::api::{
        MeasuresReportView, MeetingView, PublicationView, PublishNotice, RegisterParticipants, RegistrationView,
        Registrations, SubmitReport,
    };
    use veim_node::publications::ParticipantChoice;
    use veim_protocol::meeting::{Language, MeetingNoticeForm};
    use veim_protocol::publication::{MeasuresReportForm, PublicationContent};
    let sec = net.secretariat.api()?;
    let mex = net.national("MEX").api()?;

    steps.start("Mexico reports measures taken in addressing diversion (Art. 11.6) to the Secretariat, which circulates the report");
    let report: MeasuresReportForm = toml::from_str(REPORT)?;
    let submitted: MeasuresReportView = blocking(|| mex.post("/v1/reports", &SubmitReport { report }))?;
    crate::say!(
        "    MEX signed report {} ({} measure(s)): {}",
        &submitted.id[..16],
        submitted.record.report.report.measures.len(),
        submitted.status_text
    );
    let circulated: PublicationView = blocking(|| sec.post(&format!("/v1/reports/{}/circulate", submitted.id), &()))?;
    let audience: Vec<String> = circulated.audience.iter().map(|s| s.to_string()).collect();
    crate::say!("    the Secretariat signed it as publication {} for {}", circulated.seq, audience.join(", "));
    for state in ["SWE", "DEU"] {
        let api = net.national(state).api()?;
        let held = wait_for(&format!("{state} to hold the circulated report"), Duration::from_secs(20), || {
            let log: Vec<PublicationView> = api.get("/v1/publications").ok()?;
            log.into_iter().find(|p| p.seq == circulated.seq)
        })
        .await?;
        let Some(PublicationContent::CirculatedReport(r)) = &held.content else {
            anyhow::bail!("{state} holds publication {} without the report", held.seq)
        };
        crate::say!(
            "    {state}: \"{}\" from {}, the Secretariat's and {}'s signatures verified",
            r.report.title,
            r.report.state,
            r.report.state
        );
    }

    steps.start(
        "The Secretariat publishes the notice of the annual meeting of national points of contact; Mexico registers",
    );
    let mut notice: MeetingNoticeForm = toml::from_str(NOTICE)?;
    // The CSP two months from now; the meeting the day before.
    let csp = time::OffsetDateTime::now_utc().date() + time::Duration::days(60);
    notice.csp_date = csp.to_string();
    let published: PublicationView = blocking(|| sec.post("/v1/meeting/notice", &PublishNotice { notice }))?;
    let meeting: MeetingView =
        wait_for("MEX to hold the notice", Duration::from_secs(20), || mex.get("/v1/meeting").ok()).await?;
    crate::say!(
        "    publication {}: {} on {}, {}",
        published.seq,
        meeting.notice.title,
        meeting.notice.starts_on,
        meeting.notice.venue
    );
    let participants = vec![
        ParticipantChoice { email: "att-poc@sre.example.mx".into(), name: None, language: Language::Es },
        ParticipantChoice { email: "export.controls@economia.example.mx".into(), name: None, language: Language::En },
    ];
    let registered: RegistrationView =
        blocking(|| mex.post("/v1/meeting/register", &RegisterParticipants { participants }))?;
    for p in &registered.participants {
        crate::say!("    MEX registered {} <{}> ({})", p.name, p.email, p.language);
    }
    let registrations: Registrations = blocking(|| sec.get("/v1/meeting/registrations"))?;
    let languages: Vec<String> = registrations.per_language.iter().map(|(l, n)| format!("{l} {n}")).collect();
    crate::say!(
        "    the Secretariat sees {} State(s) registered; by language: {}",
        registrations.per_state.len(),
        languages.join(", ")
    );
    Ok(())
}

/// Verifies each node's log: its chain, its own checkpoints, and the
/// checkpoints of it the other nodes hold. Waits until every national node's
/// latest checkpoint has reached the others, so each is witnessed.
async fn audit_all(net: &LocalNet) -> anyhow::Result<()> {
    use veim_node::audit::LogFiles;
    let nodes: Vec<&crate::localnet::LocalNode> = std::iter::once(&net.secretariat).chain(&net.nationals).collect();
    for n in &nodes {
        // What the other nodes hold of this node's log: a checkpoint, and
        // the tree head each kept with a proof that it extends the last.
        let held_elsewhere = |log: &LogFiles| -> crate::audit::Witnessed {
            let node = log.checkpoints.first().map(|x| x.checkpoint.node);
            let mut held = crate::audit::Witnessed::default();
            for o in nodes.iter().filter(|o| o.home != n.home) {
                let Ok(theirs) = LogFiles::read_home(&o.home) else { continue };
                if let Some(c) = theirs.witnessed.into_iter().find(|c| Some(c.checkpoint.node) == node) {
                    held.checkpoints.push((o.label.clone(), c));
                }
                if let Some(t) = theirs.witnessed_trees.into_iter().find(|t| Some(t.head.node) == node) {
                    held.trees.push((o.label.clone(), t));
                }
            }
            held
        };
        let (log, witnessed) =
            wait_for(&format!("{}'s checkpoints to reach its peers", n.label), Duration::from_secs(15), || {
                let log = LogFiles::read_home(&n.home).ok()?;
                let witnessed = held_elsewhere(&log);
                (!witnessed.checkpoints.is_empty() && !witnessed.trees.is_empty()).then_some((log, witnessed))
            })
            .await?;
        let report = crate::audit::verify(&log, &witnessed)?;
        let holders: Vec<&str> = witnessed.checkpoints.iter().map(|(h, _)| h.as_str()).collect();
        crate::say!(
            "    {}: {} entries, chain unbroken; {} own checkpoint(s); checkpoints held by {} match; {} tree head(s) match its Merkle tree",
            n.label,
            report.entries,
            log.checkpoints.len(),
            holders.join(", "),
            report.tree_heads
        );
    }
    Ok(())
}

/// A joint report to the CSP: drafted by Mexico from its exchanges,
/// approved by Sweden, changed (so approved again), registered by the
/// Secretariat, and its file verified offline and printed in the three
/// working languages.
async fn joint_report(net: &LocalNet, steps: &mut Steps, out: &Path) -> anyhow::Result<()> {
    use veim_node::api::{DraftReportRequest, DraftView, ReportView, UpdateReportRequest};
    use veim_protocol::report::{Language, ReportFile, Section};
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;

    steps.start(
        "Mexico drafts a joint report to the CSP with Sweden from its exchanges; Sweden approves the exact draft",
    );
    let year = time::OffsetDateTime::now_utc().year();
    let request = DraftReportRequest {
        period: format!("{year}-01-01..{year}-12-31"),
        with: vec!["SWE".into()],
        title: Some("Informe conjunto de México y Suecia".into()),
        language: Some("es".into()),
    };
    let drafted: DraftView = blocking(|| mex.post("/v1/csp-reports", &request))?;
    let id = drafted.report.report_id.clone();
    let f = &drafted.report.report.figures;
    crate::say!(
        "    revision 1: {} exchange(s), {} answered, provisions {:?}",
        f.exchanges,
        f.answered,
        f.by_provision
    );
    let approved: ReportView = blocking(|| swe.post(&format!("/v1/csp-reports/{id}/approve"), &()))?;
    crate::say!("    approved by {:?}", approved.approved_by);

    steps.start("Mexico changes the draft: Sweden's approval no longer counts, and submission waits for it");
    let mut report = drafted.report.report.clone();
    report.sections.push(Section {
        heading: "Resumen".into(),
        text: "Un intercambio sobre un posible desvío, respondido y cerrado.".into(),
    });
    let revised: ReportView =
        blocking(|| mex.post(&format!("/v1/csp-reports/{id}/update"), &UpdateReportRequest { report }))?;
    let refused = blocking(|| mex.post::<_, ReportView>(&format!("/v1/csp-reports/{id}/submit"), &()));
    let err = refused.err().ok_or_else(|| anyhow::anyhow!("a report was submitted before Sweden approved it"))?;
    crate::say!("    revision {}: {err}", revised.revision);
    let _: ReportView = blocking(|| swe.post(&format!("/v1/csp-reports/{id}/approve"), &()))?;

    steps.start("The Secretariat checks both signatures and registers the report; its file verifies offline");
    let submitted: ReportView = blocking(|| mex.post(&format!("/v1/csp-reports/{id}/submit"), &()))?;
    let file: ReportFile = blocking(|| mex.get(&format!("/v1/csp-reports/{id}/file")))?;
    let pinned = veim_protocol::PublicIdentity::from_hex(&net.secretariat_key)?;
    let verified = file.verify(Some(&pinned))?;
    let number = submitted.registered_number.ok_or_else(|| anyhow::anyhow!("the report was not registered"))?;
    crate::say!("    registered as number {number}");
    for line in crate::report::render_verified(&verified).lines() {
        crate::say!("    {line}");
    }
    let json_path = out.join(format!("csp-report-{id}.json"));
    std::fs::write(&json_path, serde_json::to_vec_pretty(&file)?)?;
    crate::say!("    {}", json_path.display());
    for lang in Language::ALL {
        let page = out.join(format!("csp-report-{id}.{lang}.html"));
        std::fs::write(&page, crate::report::html(&file, &verified, lang)?)?;
        crate::say!("    {}", page.display());
    }
    Ok(())
}

/// The terms of reference at work: a disclosure refused without consent,
/// consent asked and granted for fewer items, the package exported and
/// verified offline.
async fn disclosure(
    net: &LocalNet,
    steps: &mut Steps,
    exchange_id: &str,
    view: &ExchangeView,
    out: &Path,
) -> anyhow::Result<()> {
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    let response = view
        .messages
        .iter()
        .find(|m| m.sender.as_str() == "SWE" && matches!(m.body, Some(Body::Response(_))))
        .ok_or_else(|| anyhow::anyhow!("Mexico holds no response from Sweden"))?;
    let prefix = &response.message_id[..veim_protocol::MessageId::SHORT_HEX];
    let items = vec![format!("{prefix}#0"), format!("{prefix}#1")];
    let court = Authority {
        kind: AuthorityKind::Court,
        name: "Juzgado Primero de Distrito en Materia Penal".into(),
        state: "MEX".parse()?,
    };
    let disclose = |items: Vec<String>| Disclose {
        exchange: exchange_id.to_string(),
        items,
        authority: court.clone(),
        purpose: None,
        case_reference: None,
    };

    steps.start("A Mexican court needs two of Sweden's items: without Sweden's consent, the node refuses");
    let refused = blocking(|| mex.post::<_, Package>("/v1/disclosures", &disclose(items.clone())));
    let err = refused.err().ok_or_else(|| anyhow::anyhow!("the disclosure went through with no consent"))?;
    anyhow::ensure!(err.to_string().contains("disclosure refused"), "unexpected refusal: {err}");
    crate::say!("    {}", err.to_string().lines().next().unwrap_or_default());

    steps.start("Mexico asks Sweden, over the network, for consent to disclose them to the court");
    let asked: MessageView = blocking(|| {
        mex.post(
            &format!("/v1/exchanges/{exchange_id}/consent"),
            &AskConsent {
                items: items.clone(),
                authority: court.clone(),
                purpose: "Prosecution of the broker for diverting the shipment".into(),
                case_reference: "Causa penal 112/2017".into(),
            },
        )
    })?;
    all_delivered(&asked)?;

    steps.start("Sweden grants consent for the first item only, with a condition and a 30-day expiry, signed");
    let pending: ConsentView = wait_for("Sweden to hold the consent request", Duration::from_secs(10), || {
        let list: Vec<ConsentView> = swe.get("/v1/consents").ok()?;
        list.into_iter().find(|c| c.status == ConsentStatus::Pending)
    })
    .await?;
    let granted: MessageView = blocking(|| {
        swe.post(
            &format!("/v1/consents/{}/decide", pending.consent_id),
            &DecideConsent::Grant {
                items: Some(vec![items[0].clone()]),
                conditions: vec!["To be presented in closed session only".into()],
                expires_at: Some(veim_node::clock::now() + 30 * 86_400),
            },
        )
    })?;
    all_delivered(&granted)?;

    steps.start(
        "Mexico's disclosure of both items is still refused; of the granted item, it is asked for, and made once a \
         second official approves it",
    );
    let refused = blocking(|| mex.post::<_, DisclosureRequestView>("/v1/disclosures", &disclose(items.clone())));
    let err = refused.err().ok_or_else(|| anyhow::anyhow!("an item with no consent was disclosed"))?;
    crate::say!("    both items: {}", err.to_string().lines().last().unwrap_or_default().trim());
    let asked: DisclosureRequestView = blocking(|| mex.post("/v1/disclosures", &disclose(vec![items[0].clone()])))?;
    let approve = format!("/v1/disclosures/requests/{}/approve", asked.id);
    let own = blocking(|| mex.post::<_, Package>(&approve, &()));
    let err = own.err().ok_or_else(|| anyhow::anyhow!("the official who asked approved their own disclosure"))?;
    anyhow::ensure!(err.to_string().contains("needs a second official"), "unexpected refusal: {err}");
    crate::say!("    asked by {}; approving it themselves is refused: it needs a second official", asked.asked_by);
    let approver: WithToken = blocking(|| {
        mex.post(
            "/v1/users",
            &NewAccount {
                name: "ana.approver".into(),
                full_name: "Ana Ruiz".into(),
                roles: vec!["approver".into()],
                language: Some("es".into()),
                password: None,
            },
        )
    })?;
    let ana = net.national("MEX").api_as(&approver.token)?;
    let package: Package = blocking(|| ana.post(&approve, &()))?;
    crate::say!("    approved by {}, a second official with the approver role", approver.account.name);
    let json_path = out.join(format!("disclosure-{}.json", package.disclosure_id));
    let md_path = out.join(format!("disclosure-{}.md", package.disclosure_id));
    std::fs::write(&json_path, serde_json::to_vec_pretty(&package)?)?;
    std::fs::write(&md_path, render::package_markdown(&package))?;
    crate::say!("    {}", json_path.display());
    crate::say!("    {}", md_path.display());

    steps.start("Anyone can verify the package offline: envelopes, item statement, consent, directory signatures");
    let verified = package.verify(None)?;
    for line in render::verified(&verified).lines() {
        crate::say!("    {line}");
    }
    let mut altered = package.clone();
    if let Some(d) = altered.items.first_mut() {
        d.item = veim_protocol::InformationItem::Other { title: "forged".into(), details: "forged".into() };
    }
    let err = altered.verify(None).err().ok_or_else(|| anyhow::anyhow!("an altered item verified"))?;
    crate::say!("    the same package with an item altered: {err}");
    Ok(())
}
