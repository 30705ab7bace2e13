//! The Secretariat's publications on real nodes: a report of measures
//! (Art. 11.6) circulated to every active State, signed by the State and by
//! the Secretariat, never served to a suspended one; the annual meeting's
//! notice, registrations of a State's own points of contact, the participant
//! list, the recommendations; and a notice the Secretariat did not sign,
//! refused.

use std::path::Path;
use std::time::Duration;
use veim_node::api::{
    ContactsDecision, MeasuresReportView, MeetingView, PublicationView, PublicationsSynced, PublishNotice,
    PublishRecommendations, RefuseReport, RegisterParticipants, RegistrationView, Registrations, ReportState,
    StatusChangeRequest, SubmitContactsRequest, SubmitReport, VersionView,
};
use veim_node::audit::LogFiles;
use veim_node::clock::now;
use veim_node::publications::ParticipantChoice;
use veim_protocol::audit::Action;
use veim_protocol::contacts::ContactSetForm;
use veim_protocol::meeting::{Language, MeetingNotice, MeetingNoticeForm, Venue};
use veim_protocol::publication::{MeasuresReportForm, PublicationContent, SignedPublication};
use veim_protocol::wire::{NetRequest, NetResponse, RefusalCode};
use veim_protocol::{EntryAction, PublicIdentity};
use veim_tests::{LocalNet, RawPeer, TestNet, blocking, keys_of, peer_of, wait_for};

fn report_form() -> MeasuresReportForm {
    toml::from_str(include_str!("../../../deploy/examples/report.toml")).expect("example report")
}

fn contacts() -> ContactSetForm {
    toml::from_str(include_str!("../../../deploy/examples/contacts.toml")).expect("example contacts")
}

fn notice_form() -> MeetingNoticeForm {
    MeetingNoticeForm {
        title: "Annual meeting of national points of contact".into(),
        csp_date: "2030-08-26".into(),
        online: Some("https://meet.example.org/att-2030".into()),
        languages: vec!["en".into(), "es".into()],
        agenda: vec!["Opening".into(), "Article 11 in practice".into()],
        ..MeetingNoticeForm::default()
    }
}

async fn change_status(net: &LocalNet, state: &str, action: EntryAction) -> anyhow::Result<()> {
    let req = StatusChangeRequest { state: state.into(), action, reason: "test".into() };
    let v: VersionView = blocking(|| net.secretariat.api()?.post("/v1/directory/status", &req))?;
    net.wait_directory(v.version).await
}

/// The log a node holds, once it holds at least `seq` publications.
async fn log_of(net: &LocalNet, state: &str, seq: u64) -> anyhow::Result<Vec<PublicationView>> {
    let api = net.national(state).api()?;
    wait_for(&format!("{state} to hold publication {seq}"), Duration::from_secs(20), || {
        let log: Vec<PublicationView> = api.get("/v1/publications").ok()?;
        (log.last().map(|p| p.seq) >= Some(seq)).then_some(log)
    })
    .await
}

fn entries(home: &Path, action: Action) -> usize {
    LogFiles::read_home(home).map(|l| l.entries.iter().filter(|e| e.event.action == action).count()).unwrap_or(0)
}

fn identity(home: &Path) -> PublicIdentity {
    keys_of(home).identity.public()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_reaches_every_active_state_signed_by_both_and_never_a_suspended_one() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE", "DEU"]).await?;
    change_status(&net, "DEU", EntryAction::Suspend).await?;

    let mex = net.national("MEX").api()?;
    let submitted: MeasuresReportView = blocking(|| mex.post("/v1/reports", &SubmitReport { report: report_form() }))?;
    assert_eq!(submitted.record.status, ReportState::Pending, "{}", submitted.status_text);
    let sec = net.secretariat.api()?;
    let pending: Vec<MeasuresReportView> = blocking(|| sec.get("/v1/reports/pending"))?;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, submitted.id, "the Secretariat names the report as MEX does");

    let published: PublicationView =
        blocking(|| sec.post(&format!("/v1/reports/{}/circulate", &submitted.id[..12]), &()))?;
    let audience: Vec<String> = published.audience.iter().map(|s| s.to_string()).collect();
    assert_eq!(audience, ["MEX", "SWE"], "the States active when it was circulated, and only they");
    let twice = blocking(|| sec.post::<_, PublicationView>(&format!("/v1/reports/{}/circulate", submitted.id), &()));
    assert!(twice.expect_err("circulated once").to_string().contains("circulated as publication 1"));

    let secretariat = identity(&net.secretariat.home);
    let mex_key = identity(&net.national("MEX").home);
    let swe_key = identity(&net.national("SWE").home);
    for state in ["MEX", "SWE"] {
        let log = log_of(&net, state, 1).await?;
        let p: &SignedPublication = &log[0].signed;
        // The Secretariat's signature, over the chain's first link.
        p.check_successor(None, &secretariat, Some(state.parse()?))?;
        assert!(p.check_successor(None, &mex_key, Some(state.parse()?)).is_err(), "only the Secretariat's key");
        // The reporting State's own signature, as the directory lists its key.
        let Some(PublicationContent::CirculatedReport(report)) = &p.content else { panic!("{state}: {p:?}") };
        report.verify(&mex_key)?;
        assert!(report.verify(&swe_key).is_err(), "{state}: MEX's signature, no other");
        assert_eq!(report.id()?.to_hex(), submitted.id);
        assert_eq!(report.report.measures.len(), 2);
    }
    // MEX learns its report went out.
    let own: MeasuresReportView = wait_for("MEX to learn its report was circulated", Duration::from_secs(20), || {
        let v: MeasuresReportView = mex.get(&format!("/v1/reports/{}", &submitted.id[..10])).ok()?;
        (v.record.status == ReportState::Circulated { seq: 1 }).then_some(v)
    })
    .await?;
    assert!(own.status_text.contains("publication 1"), "{}", own.status_text);

    // DEU, suspended, received nothing and cannot fetch.
    let deu = net.national("DEU").api()?;
    let held: Vec<PublicationView> = blocking(|| deu.get("/v1/publications"))?;
    assert!(held.is_empty(), "a suspended State holds nothing: {held:?}");
    let mut raw = RawPeer::impersonating(&net.national("DEU").home)?;
    let answer = raw
        .send(peer_of(&net.secretariat.home), &net.secretariat.address, &NetRequest::FetchPublications { after: 0 })
        .await?;
    let NetResponse::Refused(r) = answer else { panic!("served a suspended State: {answer:?}") };
    assert_eq!(r.code, RefusalCode::NotInDirectory);
    assert!(r.detail.contains("DEU is suspended"), "{}", r.detail);

    // Reinstated, DEU holds the chain, without the report it was not sent.
    change_status(&net, "DEU", EntryAction::Reinstate).await?;
    let _: PublicationsSynced = blocking(|| deu.post("/v1/publications/sync", &()))?;
    let log = log_of(&net, "DEU", 1).await?;
    assert_eq!(log[0].kind, "withheld");
    assert!(log[0].content.is_none() && log[0].signed.content.is_none());
    assert_eq!(log[0].hash, published.hash, "the same link of the chain");

    // Each step is in the audit logs, on both sides.
    assert_eq!(entries(&net.secretariat.home, Action::ReportSubmitted), 1, "received");
    assert_eq!(entries(&net.secretariat.home, Action::PublicationPublished), 1, "circulated");
    assert_eq!(entries(&net.national("MEX").home, Action::ReportSubmitted), 1, "signed and sent");
    for state in ["MEX", "SWE", "DEU"] {
        assert_eq!(entries(&net.national(state).home, Action::PublicationAccepted), 1, "{state} kept it");
    }
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_report_is_reported_back_with_its_reason() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX"]).await?;
    let mex = net.national("MEX").api()?;
    let mut future = report_form();
    future.measures[0].date = "2999-01-01".into();
    let bad = blocking(|| mex.post::<_, MeasuresReportView>("/v1/reports", &SubmitReport { report: future }));
    let bad = bad.expect_err("a measure dated in the future");
    assert!(bad.to_string().contains("measures[0].date") && bad.to_string().contains("future"), "{bad}");
    let none: Vec<MeasuresReportView> = blocking(|| mex.get("/v1/reports"))?;
    assert!(none.is_empty(), "nothing signed or kept");

    let submitted: MeasuresReportView = blocking(|| mex.post("/v1/reports", &SubmitReport { report: report_form() }))?;
    let sec = net.secretariat.api()?;
    let reason = "it repeats the report of last year";
    let _: MeasuresReportView = blocking(|| {
        sec.post(&format!("/v1/reports/{}/refuse", submitted.id), &RefuseReport { reason: reason.into() })
    })?;
    let told: MeasuresReportView = wait_for("MEX to learn of the refusal", Duration::from_secs(20), || {
        let _: PublicationsSynced = mex.post("/v1/publications/sync", &()).ok()?;
        let v: MeasuresReportView = mex.get(&format!("/v1/reports/{}", submitted.id)).ok()?;
        matches!(v.record.status, ReportState::Refused { .. }).then_some(v)
    })
    .await?;
    assert!(told.status_text.contains(reason), "{}", told.status_text);
    assert_eq!(entries(&net.national("MEX").home, Action::ReportRefused), 1);
    assert_eq!(entries(&net.secretariat.home, Action::ReportRefused), 1);

    // What waits for review is bounded per State; the one over the bound is
    // refused for good, and MEX's node records why.
    for i in 0..veim_node::publications::MAX_PENDING_PER_STATE {
        let report = MeasuresReportForm { title: format!("Report {i}"), ..report_form() };
        let v: MeasuresReportView = blocking(|| mex.post("/v1/reports", &SubmitReport { report }))?;
        assert_eq!(v.record.status, ReportState::Pending, "{i}: {}", v.status_text);
    }
    let over = MeasuresReportForm { title: "One too many".into(), ..report_form() };
    let v: MeasuresReportView = blocking(|| mex.post("/v1/reports", &SubmitReport { report: over }))?;
    assert!(matches!(v.record.status, ReportState::Refused { .. }), "{}", v.status_text);
    assert!(v.status_text.contains("reports waiting for the Secretariat's review"), "{}", v.status_text);
    net.shutdown().await;
    Ok(())
}

fn register(net: &LocalNet, state: &str, choices: Vec<ParticipantChoice>) -> anyhow::Result<RegistrationView> {
    let req = RegisterParticipants { participants: choices };
    Ok(blocking(|| net.national(state).api()?.post("/v1/meeting/register", &req))?)
}

fn choice(email: &str, name: Option<&str>, language: Language) -> ParticipantChoice {
    ParticipantChoice { email: email.into(), name: name.map(String::from), language }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn states_register_their_own_points_of_contact_and_every_node_gets_the_recommendations() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE", "DEU"]).await?;
    // Each State lists points of contact of its own.
    let people = |state: &str, who: [(&str, &str); 2]| {
        let mut form = contacts();
        for (c, (name, email)) in form.contacts.iter_mut().zip(who) {
            c.name = name.into();
            c.emails = vec![email.into()];
        }
        (state.to_string(), form)
    };
    let lists = [
        ("MEX".to_string(), contacts()),
        people("SWE", [("Anna Lindqvist", "anna.lindqvist@isp.example.se"), ("Erik Berg", "erik.berg@isp.example.se")]),
        people(
            "DEU",
            [("Klaus Weber", "klaus.weber@bafa.example.de"), ("Petra Schulz", "petra.schulz@bafa.example.de")],
        ),
    ];
    let mut version = 0;
    for (state, form) in lists {
        let _: serde_json::Value =
            blocking(|| net.national(&state).api()?.post("/v1/contacts", &SubmitContactsRequest { contacts: form }))?;
        let decision = ContactsDecision { state: state.clone(), reason: String::new() };
        let v: VersionView = blocking(|| net.secretariat.api()?.post("/v1/contacts/accept", &decision))?;
        version = v.version;
    }
    net.wait_directory(version).await?;

    let sec = net.secretariat.api()?;
    let notice: PublicationView =
        blocking(|| sec.post("/v1/meeting/notice", &PublishNotice { notice: notice_form() }))?;
    let Some(PublicationContent::MeetingNotice(n)) = &notice.content else { panic!("{notice:?}") };
    assert_eq!(n.starts_on, "2030-08-25", "the day before the CSP");
    for state in ["MEX", "SWE", "DEU"] {
        log_of(&net, state, notice.seq).await?;
        let m: MeetingView = blocking(|| net.national(state).api()?.get("/v1/meeting"))?;
        assert_eq!(m.notice.venue, Venue::Online("https://meet.example.org/att-2030".into()));
    }

    // MEX registers its two contacts (the name from the directory); SWE one.
    let mex = register(
        &net,
        "MEX",
        vec![
            choice("att-poc@sre.example.mx", None, Language::Es),
            choice("export.controls@economia.example.mx", None, Language::En),
        ],
    )?;
    assert_eq!(mex.participants[0].name, "María Fernanda López");
    register(&net, "SWE", vec![choice("anna.lindqvist@isp.example.se", None, Language::En)])?;

    // Not its own: SWE names MEX's point of contact.
    let other =
        register(&net, "SWE", vec![choice("att-poc@sre.example.mx", Some("María Fernanda López"), Language::En)]);
    let other = other.expect_err("another State's contact").to_string();
    assert!(other.contains("is not a point of contact of SWE"), "{other}");
    // A language the meeting does not offer.
    let french = register(&net, "MEX", vec![choice("att-poc@sre.example.mx", None, Language::Fr)]);
    assert!(french.expect_err("not offered").to_string().contains("not held in fr"));

    // A suspended State cannot register, even its own contacts.
    change_status(&net, "DEU", EntryAction::Suspend).await?;
    let suspended = register(&net, "DEU", vec![choice("klaus.weber@bafa.example.de", None, Language::En)]);
    let suspended = suspended.expect_err("suspended").to_string();
    assert!(suspended.contains("DEU is suspended"), "{suspended}");

    // What the Secretariat sees is what was registered, and nothing refused.
    let r: Registrations = blocking(|| sec.get("/v1/meeting/registrations"))?;
    assert_eq!(r.notice, notice.seq);
    let per_state: Vec<(String, usize)> = r.per_state.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    assert_eq!(per_state, [("MEX".to_string(), 2), ("SWE".to_string(), 1)]);
    let per_language: Vec<(Language, usize)> = r.per_language.iter().map(|(l, n)| (*l, *n)).collect();
    assert_eq!(per_language, [(Language::En, 2), (Language::Es, 1)]);
    let csv = r.csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "state,name,email,language");
    assert_eq!(lines[1], "MEX,María Fernanda López,att-poc@sre.example.mx,es");
    assert_eq!(lines[2], "MEX,Jorge Ramírez,export.controls@economia.example.mx,en");
    assert_eq!(lines[3], "SWE,Anna Lindqvist,anna.lindqvist@isp.example.se,en");
    assert_eq!(lines.len(), 4);
    let json = serde_json::to_value(r.rows())?;
    assert_eq!(json.as_array().map(Vec::len), Some(3));
    assert_eq!(json[2]["email"], "anna.lindqvist@isp.example.se");
    assert_eq!(entries(&net.secretariat.home, Action::MeetingRegistered), 2);
    assert_eq!(entries(&net.national("MEX").home, Action::MeetingRegistered), 1);

    // After the meeting: recommendations, to every node (DEU reinstated).
    change_status(&net, "DEU", EntryAction::Reinstate).await?;
    let recommendations = PublishRecommendations {
        text: "The points of contact agreed on the following.".into(),
        items: vec!["Designate an alternate point of contact.".into()],
    };
    let published: PublicationView = blocking(|| sec.post("/v1/meeting/recommendations", &recommendations))?;
    assert_eq!(published.audience.len(), 3);
    for state in ["MEX", "SWE", "DEU"] {
        log_of(&net, state, published.seq).await?;
        let m: MeetingView = blocking(|| net.national(state).api()?.get("/v1/meeting"))?;
        let r = m.recommendations.expect("recommendations held");
        assert_eq!(r.items, recommendations.items, "{state}");
        assert_eq!(r.notice, notice.seq);
    }
    net.shutdown().await;
    Ok(())
}

/// A notice signed by another key than the Secretariat's, or whose bytes
/// were altered after the Secretariat signed it: served by a peer at the
/// Secretariat's address, with its transport key, it is refused with a
/// named error and the node keeps nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notice_not_signed_by_the_secretariat_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX"]).await?;
    let secretariat_home = net.secretariat.home.clone();
    let address = net.secretariat.address.clone();
    net.secretariat.stop().await;
    let notice: MeetingNotice = notice_form().parse(now())?;
    let audience = vec!["MEX".parse()?];
    let content = PublicationContent::MeetingNotice(notice);
    let forged = SignedPublication::sign(
        1,
        [0; 32],
        now(),
        audience.clone(),
        content.clone(),
        &keys_of(&net.national("MEX").home).identity,
    )?;
    let mut altered =
        SignedPublication::sign(1, [0; 32], now(), audience, content, &keys_of(&secretariat_home).identity)?;
    if let Some(PublicationContent::MeetingNotice(n)) = &mut altered.content {
        n.registration_deadline += 86_400;
    }
    for (publication, named) in [(forged, "is not signed by the Secretariat's key"), (altered, "altered bytes")] {
        let mut raw = RawPeer::impersonating(&secretariat_home)?;
        let api = net.national("MEX").api()?;
        let served = publication.clone();
        let answer = raw
            .serve_during(
                &address,
                move |request| match request {
                    NetRequest::FetchPublications { .. } => NetResponse::Publications(vec![served.clone()]),
                    NetRequest::FetchDirectory { .. } => NetResponse::Directory(Vec::new()),
                    _ => NetResponse::Acknowledged,
                },
                async move { blocking(|| api.post::<_, PublicationsSynced>("/v1/publications/sync", &())) },
            )
            .await?;
        let e = answer.expect_err("refused").to_string();
        assert!(e.contains("publication 1") && e.contains(named), "{e}");
        let held: Vec<PublicationView> = blocking(|| net.national("MEX").api()?.get("/v1/publications"))?;
        assert!(held.is_empty(), "nothing kept: {held:?}");
        let meeting = blocking(|| net.national("MEX").api()?.get::<MeetingView>("/v1/meeting"));
        assert!(meeting.is_err(), "no notice");
        assert_eq!(entries(&net.national("MEX").home, Action::PublicationAccepted), 0);
    }
    // Each refusal recorded once, however often the node was served it.
    assert_eq!(entries(&net.national("MEX").home, Action::PublicationRefused), 2);
    net.shutdown().await;
    Ok(())
}

/// Publications signed before the Secretariat handed over to a new key
/// still verify at a node that fetches them after it (it was away), which
/// by then trusts the new key; those after it are signed by the new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_away_during_a_handover_takes_up_the_publications_of_before() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    net.national_mut("SWE").stop().await;
    let notice: PublicationView =
        blocking(|| net.secretariat.api()?.post("/v1/meeting/notice", &PublishNotice { notice: notice_form() }))?;
    assert_eq!(notice.audience.len(), 2, "SWE is active, only away");
    log_of(&net, "MEX", notice.seq).await?;
    let old_key = identity(&net.secretariat.home);
    let _: serde_json::Value = blocking(|| net.secretariat.api()?.post("/v1/keys/rotate", &()))?;
    assert!(net.secretariat.follow_restart().await?, "the Secretariat restarts on its new key");
    let new_key = identity(&net.secretariat.home);
    assert_ne!(old_key, new_key);
    let recommendations = PublishRecommendations { text: String::new(), items: vec!["Meet again.".into()] };
    let published: PublicationView =
        blocking(|| net.secretariat.api()?.post("/v1/meeting/recommendations", &recommendations))?;

    net.national_mut("SWE").start().await?;
    let status: veim_node::api::StatusView = blocking(|| net.secretariat.api()?.get("/v1/status"))?;
    net.wait_directory(status.directory_version).await?;
    for state in ["MEX", "SWE"] {
        let log = log_of(&net, state, published.seq).await?;
        assert!(log[0].signed.is_signed_by(&old_key), "{state}: before the handover");
        assert!(log[1].signed.is_signed_by(&new_key), "{state}: after it");
        let m: MeetingView = blocking(|| net.national(state).api()?.get("/v1/meeting"))?;
        assert_eq!(m.recommendations.map(|r| r.items), Some(recommendations.items.clone()), "{state}");
    }
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registration_after_the_deadline_is_refused() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX"]).await?;
    let _: serde_json::Value =
        blocking(|| net.national("MEX").api()?.post("/v1/contacts", &SubmitContactsRequest { contacts: contacts() }))?;
    let decision = ContactsDecision { state: "MEX".into(), reason: String::new() };
    let v: VersionView = blocking(|| net.secretariat.api()?.post("/v1/contacts/accept", &decision))?;
    net.wait_directory(v.version).await?;
    let deadline = now() + 3;
    let closes =
        time::OffsetDateTime::from_unix_timestamp(deadline)?.format(&time::format_description::well_known::Rfc3339)?;
    let notice = MeetingNoticeForm { registration_deadline: Some(closes), ..notice_form() };
    let published: PublicationView =
        blocking(|| net.secretariat.api()?.post("/v1/meeting/notice", &PublishNotice { notice }))?;
    log_of(&net, "MEX", published.seq).await?;
    register(&net, "MEX", vec![choice("att-poc@sre.example.mx", None, Language::Es)])?;
    tokio::time::sleep(Duration::from_secs(u64::try_from(deadline + 1 - now()).unwrap_or(0))).await;
    let late = register(&net, "MEX", vec![choice("att-poc@sre.example.mx", None, Language::En)]);
    let late = late.expect_err("closed").to_string();
    assert!(late.contains("registrations for this meeting closed at"), "{late}");
    let r: Registrations = blocking(|| net.secretariat.api()?.get("/v1/meeting/registrations"))?;
    assert_eq!(r.rows()[0].language, Language::Es, "the registration made in time stands");
    net.shutdown().await;
    Ok(())
}
