//! Reports to the CSP on real nodes: a joint report of Mexico and Sweden,
//! drafted by Mexico from its exchanges, approved by Sweden, changed, approved
//! again, submitted and registered by the Secretariat; the registered file
//! verifies offline. The Secretariat refuses a report naming a State that did
//! not sign it, or carrying a forged co-signature.

use std::time::Duration;
use veim_node::api::{
    CloseRequest, DraftReportRequest, DraftView, MessageView, RegisteredView, ReportCommentRequest, ReportView,
    RespondRequest, SendRequest, StageMoveRequest, StatusChangeRequest, UpdateReportRequest, VersionView,
};
use veim_protocol::report::{Approval, ReportError, ReportFile, Section, SignedCspReport};
use veim_protocol::wire::{NetRequest, NetResponse, RefusalCode};
use veim_protocol::{EntryAction, ResponseForm, StateCode};
use veim_tests::{RawPeer, TestNet, blocking, example_request, keys_of, peer_of, wait_for};
use veim_tools::{AdminClient, ClientError};

fn state(s: &str) -> StateCode {
    s.parse().expect("state")
}

fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>, code: &str) -> String {
    match result {
        Err(ClientError::Api(e)) if e.error == code => e.message,
        other => panic!("expected a refusal {code}, got {other:?}"),
    }
}

fn submit(api: &AdminClient, id: &str) -> Result<ReportView, ClientError> {
    blocking(|| api.post(&format!("/v1/csp-reports/{id}/submit"), &()))
}

fn show(api: &AdminClient, id: &str) -> ReportView {
    blocking(|| api.get(&format!("/v1/csp-reports/{id}"))).expect("the report is held")
}

/// The Secretariat's answer to a report submitted in MEX's name.
/// MEX's node, and the raw peer of the call before, may hold a connection
/// under the same identity: a request whose connection is closed as another
/// of that peer opens is sent once more on a new one, as a node's own sends
/// to the Secretariat are.
async fn submit_raw(net: &TestNet, signed: SignedCspReport) -> anyhow::Result<NetResponse> {
    let sec = &net.secretariat;
    let request = NetRequest::SubmitCspReport(Box::new(signed));
    let mut mex = RawPeer::impersonating(&net.national("MEX").home)?;
    match mex.send(peer_of(&sec.home), &sec.address, &request).await {
        Err(e) if e.to_string().contains("closed before a response") => {
            drop(mex);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut mex = RawPeer::impersonating(&net.national("MEX").home)?;
            mex.send(peer_of(&sec.home), &sec.address, &request).await
        }
        answer => answer,
    }
}

fn bad_report(answer: NetResponse) -> String {
    match answer {
        NetResponse::Refused(r) if r.code == RefusalCode::BadReport => r.detail,
        other => panic!("expected BadReport, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_joint_report_is_registered_only_once_every_author_signed_its_current_draft() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE", "NGA", "DEU"]).await?;
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    // DEU is suspended before the report is registered.
    let suspend_deu =
        StatusChangeRequest { state: "DEU".into(), action: EntryAction::Suspend, reason: "report test".into() };
    let v: VersionView = blocking(|| net.secretariat.api()?.post("/v1/directory/status", &suspend_deu))?;
    net.wait_directory(v.version).await?;

    // Two exchanges, MEX to SWE, the figures come from them: the first
    // answered and closed with its outcome; the second moved to another
    // stage and closed without one.
    let close = |exchange: &str, outcome: Option<&str>| -> anyhow::Result<()> {
        let req = CloseRequest { reason: "done".into(), outcome: outcome.map(str::to_string) };
        let _: MessageView = blocking(|| mex.post(&format!("/v1/exchanges/{exchange}/close"), &req))?;
        Ok(())
    };
    let sent: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    let response: ResponseForm = toml::from_str(include_str!("../../../deploy/examples/response.toml"))?;
    let _: MessageView =
        blocking(|| swe.post(&format!("/v1/exchanges/{}/respond", sent.exchange_id), &RespondRequest { response }))?;
    close(&sent.exchange_id, Some("diversion-prevented"))?;
    let second: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    let _: MessageView = blocking(|| {
        mex.post(
            &format!("/v1/exchanges/{}/stage", second.exchange_id),
            &StageMoveRequest { stage: "reached-end-user".into(), text: String::new() },
        )
    })?;
    close(&second.exchange_id, None)?;

    let request = DraftReportRequest {
        period: "2000-01-01..2099-12-31".into(),
        with: vec!["SWE".into()],
        title: Some("Joint report of Mexico and Sweden".into()),
        language: Some("es".into()),
    };
    let drafted: DraftView = blocking(|| mex.post("/v1/csp-reports", &request))?;
    let id = drafted.report.report_id.clone();
    let figures = &drafted.report.report.figures;
    let counts = |pairs: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!((figures.exchanges, figures.answered), (2, 1));
    assert_eq!(figures.by_provision.get("11.4"), Some(&2));
    assert_eq!(figures.by_stage, counts(&[("diversion-detected", 1), ("reached-end-user", 1)]));
    assert_eq!(figures.by_outcome, counts(&[("diversion-prevented", 1), ("not-recorded", 1)]));
    assert_eq!(figures.response_days_median, Some(0));
    assert!(drafted.notes.is_empty(), "{:?}", drafted.notes);
    assert_eq!(drafted.report.report.counterparts.get(&state("SWE")), Some(&2));
    assert_eq!(drafted.report.sent.len(), 1);
    assert_eq!(drafted.report.sent[0].error, None, "the draft reached SWE");
    assert_eq!(drafted.report.approved_by, [state("MEX")]);

    // SWE holds the same draft; MEX cannot submit before SWE signs.
    let at_swe = show(&swe, &id);
    assert_eq!((at_swe.revision, at_swe.draft_hash.clone()), (1, drafted.report.draft_hash.clone()));
    let why = refused(submit(&mex, &id), "not-approved");
    assert!(why.contains("SWE"), "{why}");

    // SWE approves revision 1; the approval reaches MEX.
    let approved: ReportView = blocking(|| swe.post(&format!("/v1/csp-reports/{id}/approve"), &()))?;
    assert!(approved.missing.is_empty());
    assert_eq!(show(&mex, &id).approved_by, [state("MEX"), state("SWE")]);

    // MEX changes the draft: revision 2, SWE's approval of revision 1 no longer counts.
    let mut edited = show(&mex, &id).report;
    edited
        .sections
        .push(Section { heading: "Resumen".into(), text: "Un intercambio, respondido el mismo día.".into() });
    let revised: ReportView =
        blocking(|| mex.post(&format!("/v1/csp-reports/{id}/update"), &UpdateReportRequest { report: edited }))?;
    assert_eq!(revised.revision, 2);
    assert_eq!(revised.missing, [state("SWE")]);
    assert_ne!(revised.draft_hash, drafted.report.draft_hash);
    let at_swe = show(&swe, &id);
    assert_eq!((at_swe.revision, at_swe.missing.clone()), (2, vec![state("SWE")]), "SWE sees the new draft");
    let why = refused(submit(&mex, &id), "not-approved");
    assert!(why.contains("SWE") && why.contains("revision 2"), "{why}");

    // SWE's approval of revision 1, offered again on the wire, is refused.
    let old_approval =
        Approval::sign(&drafted.report.report, state("SWE"), &keys_of(&net.national("SWE").home).identity)?;
    let mut swe_peer = RawPeer::impersonating(&net.national("SWE").home)?;
    let mex_node = net.national("MEX");
    let answer = swe_peer
        .send(
            peer_of(&mex_node.home),
            &mex_node.address,
            &NetRequest::CspApproval { report_id: revised.report.report_id, approval: old_approval },
        )
        .await?;
    let why = bad_report(answer);
    assert!(why.contains("earlier draft"), "{why}");
    assert_eq!(show(&mex, &id).missing, [state("SWE")]);

    // NGA, not an author, can neither pass a draft off as MEX's to SWE nor
    // approve or comment on MEX's report.
    let mut nga = RawPeer::impersonating(&net.national("NGA").home)?;
    let nga_key = keys_of(&net.national("NGA").home).identity;
    let swe_node = net.national("SWE");
    let current = show(&mex, &id);
    let as_mex = SignedCspReport {
        draft: current.report.clone(),
        approvals: vec![Approval::sign(&current.report, state("MEX"), &nga_key)?],
    };
    let answer = nga.send(peer_of(&swe_node.home), &swe_node.address, &NetRequest::CspDraft(Box::new(as_mex))).await?;
    assert!(bad_report(answer).contains("not NGA's"));
    let approval = Approval::sign(&current.report, state("NGA"), &nga_key)?;
    let answer = nga
        .send(
            peer_of(&mex_node.home),
            &mex_node.address,
            &NetRequest::CspApproval { report_id: current.report.report_id, approval },
        )
        .await?;
    assert!(bad_report(answer).contains("NGA is not an author"));
    let comment = NetRequest::CspComment {
        report_id: current.report.report_id,
        draft_hash: current.report.draft_hash()?,
        text: "Nigeria's view".into(),
    };
    let answer = nga.send(peer_of(&mex_node.home), &mex_node.address, &comment).await?;
    assert!(bad_report(answer).contains("NGA is not a co-author"));
    assert!(show(&mex, &id).comments.is_empty());
    // The raw peers hold the keys of SWE and NGA: closed, so that the nodes'
    // requests to those States reach their real nodes again (and no node
    // waits on their connections as it stops).
    drop((nga, swe_peer));

    // SWE comments, then approves revision 2; MEX submits.
    let text = "De acuerdo con la revisión 2.".to_string();
    let _: ReportView =
        blocking(|| swe.post(&format!("/v1/csp-reports/{id}/comment"), &ReportCommentRequest { text: text.clone() }))?;
    assert!(show(&mex, &id).comments.iter().any(|c| c.from == state("SWE") && c.revision == 2 && c.text == text));
    let _: ReportView = blocking(|| swe.post(&format!("/v1/csp-reports/{id}/approve"), &()))?;
    let submitted = submit(&mex, &id)?;
    assert_eq!(submitted.registered_number, Some(1));
    // Once registered, the report cannot change.
    let mut late = submitted.report.clone();
    late.title = "Another title".into();
    refused(
        blocking(|| {
            mex.post::<_, ReportView>(&format!("/v1/csp-reports/{id}/update"), &UpdateReportRequest { report: late })
        }),
        "refused",
    );

    // The Secretariat's register holds it; its file and MEX's verify offline,
    // with the Secretariat's key pinned.
    let sec = net.secretariat.api()?;
    let register: Vec<RegisteredView> = blocking(|| sec.get("/v1/csp-register"))?;
    assert_eq!(register.len(), 1);
    assert_eq!((register[0].number, register[0].authors.clone()), (1, vec![state("MEX"), state("SWE")]));
    let dir = tempfile::tempdir()?;
    for (who, api, key) in [("MEX", &mex, id.as_str()), ("the Secretariat", &sec, "1")] {
        let file: ReportFile = blocking(|| api.get(&format!("/v1/csp-reports/{key}/file")))?;
        let path = dir.path().join(format!("{who}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&file)?)?;
        let verified = veim_tools::report::verify_file(&path, Some(&net.secretariat_key))?;
        assert_eq!((verified.number, verified.revision, verified.anchored), (Some(1), 2, true), "{who}'s file");
        // The same file with the text changed does not verify.
        let mut changed = file.clone();
        changed.report.sections[0].text.push('!');
        assert!(matches!(changed.verify(None), Err(ReportError::DraftChanged { .. })));
    }

    // NGA, active and no author, holds it in its register through the
    // publication log, and the file it exports verifies offline.
    let nga = net.national("NGA").api()?;
    wait_for("NGA to hold the registered report", Duration::from_secs(20), || {
        let held: Vec<RegisteredView> = nga.get("/v1/csp-register").ok()?;
        (held.len() == 1 && held[0].number == 1).then_some(())
    })
    .await?;
    let file: ReportFile = blocking(|| nga.get("/v1/csp-reports/1/file"))?;
    let path = dir.path().join("NGA.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&file)?)?;
    let verified = veim_tools::report::verify_file(&path, Some(&net.secretariat_key))?;
    assert_eq!((verified.number, verified.revision, verified.anchored), (Some(1), 2, true), "NGA's file");
    // DEU, suspended when it was registered, does not hold it.
    let deu = net.national("DEU").api()?;
    let held: Vec<RegisteredView> = blocking(|| deu.get("/v1/csp-register"))?;
    assert!(held.is_empty(), "a suspended State holds no registered report: {held:?}");

    // Submitted again in MEX's name, the same report gets the same registration.
    let file: ReportFile = blocking(|| mex.get(&format!("/v1/csp-reports/{id}/file")))?;
    let signed = SignedCspReport { draft: file.report.clone(), approvals: file.approvals.clone() };
    match submit_raw(&net, signed.clone()).await? {
        NetResponse::CspReportRegistered(r) => assert_eq!(r.registration.number, 1),
        other => panic!("{other:?}"),
    }

    // A report naming NGA, which did not sign it: refused by the Secretariat.
    let mex_key = keys_of(&net.national("MEX").home).identity;
    let swe_key = keys_of(&net.national("SWE").home).identity;
    let mut named = signed.clone();
    named.draft.report_id =
        veim_protocol::ids::ReportId::issued_by(state("MEX"), &mut rand_core::UnwrapErr(getrandom::SysRng));
    named.draft.counterparts.insert(state("NGA"), 1);
    named.approvals = vec![
        Approval::sign(&named.draft, state("MEX"), &mex_key)?,
        Approval::sign(&named.draft, state("SWE"), &swe_key)?,
    ];
    let why = bad_report(submit_raw(&net, named.clone()).await?);
    assert!(why.contains("names NGA"), "{why}");
    // And by MEX's own node, when the operator loads such a draft.
    let why = refused(
        blocking(|| {
            mex.post::<_, ReportView>(
                &format!("/v1/csp-reports/{}/update", named.draft.report_id),
                &UpdateReportRequest { report: named.draft.clone() },
            )
        }),
        "invalid",
    );
    assert!(why.contains("names NGA"), "{why}");

    // A forged co-signature: SWE's approval made with MEX's key.
    let mut forged = named;
    forged.draft.counterparts.remove(&state("NGA"));
    forged.approvals = vec![
        Approval::sign(&forged.draft, state("MEX"), &mex_key)?,
        Approval::sign(&forged.draft, state("SWE"), &mex_key)?,
    ];
    let why = bad_report(submit_raw(&net, forged).await?);
    assert!(why.contains("approval of SWE is forged"), "{why}");
    let register: Vec<RegisteredView> = blocking(|| sec.get("/v1/csp-register"))?;
    assert_eq!(register.len(), 1, "nothing refused was registered");

    // A report with an author the Secretariat has since suspended: refused.
    let nga_api = net.national("NGA").api()?;
    let with_nga = DraftReportRequest {
        period: "2000-01-01..2099-12-31".into(),
        with: vec!["NGA".into()],
        title: None,
        language: None,
    };
    let drafted: DraftView = blocking(|| mex.post("/v1/csp-reports", &with_nga))?;
    let nga_id = drafted.report.report_id;
    let _: ReportView = blocking(|| nga_api.post(&format!("/v1/csp-reports/{nga_id}/approve"), &()))?;
    let suspend =
        StatusChangeRequest { state: "NGA".into(), action: EntryAction::Suspend, reason: "report test".into() };
    let _: VersionView = blocking(|| sec.post("/v1/directory/status", &suspend))?;
    let why = refused(submit(&mex, &nga_id), "refused");
    assert!(why.contains("NGA is not an active State"), "{why}");
    let register: Vec<RegisteredView> = blocking(|| sec.get("/v1/csp-register"))?;
    assert_eq!(register.len(), 1);

    net.shutdown().await;
    Ok(())
}
