//! Progress under Art. 11 on real nodes: measures and stage moves every
//! party of an exchange holds alike, the named refusals that change nothing,
//! the date to respond by and the overdue exchange (recorded once in the
//! audit log, across a restart), and the figures of a scripted history.

use std::path::Path;
use std::time::Duration;
use veim_node::api::{
    CloseRequest, ExchangeView, Figures, MeasureForm, MessageView, RespondByRequest, RespondRequest, SendRequest,
    StageMoveRequest, TrackedExchange,
};
use veim_node::audit::LogFiles;
use veim_protocol::audit::Action;
use veim_protocol::request::{Provision, Stage};
use veim_protocol::wire::{NetResponse, RefusalCode};
use veim_protocol::{Body, CalendarDate, ExchangeId, Measure, MeasureKind, MessageKind, ResponseForm, StateCode};
use veim_tests::{TestNet, blocking, deliver_as, example_request, keys_of, seal_body, wait_for};
use veim_tools::{AdminClient, ClientError};

fn state(s: &str) -> StateCode {
    s.parse().expect("state")
}

fn today() -> CalendarDate {
    CalendarDate::of_time(veim_node::clock::now()).expect("today")
}

fn day(offset: i32) -> String {
    CalendarDate::from_days(today().days() + offset).expect("day").to_string()
}

fn tuned(config: &mut veim_node::home::config::Config) {
    config.overdue_check_secs = 1;
}

/// `from` opens an exchange with `to` under `provisions`; returns its id once
/// every recipient holds the request.
async fn open(net: &TestNet, from: &str, to: &[&str], provisions: &[&str]) -> anyhow::Result<String> {
    let mut request = example_request();
    request.provisions = provisions.iter().map(|p| p.to_string()).collect();
    let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
    let sent: MessageView =
        blocking(|| net.national(from).api()?.post("/v1/requests", &SendRequest { to: to.clone(), request }))?;
    let exchange = sent.exchange_id.clone();
    for s in &to {
        let api = net.national(s).api()?;
        wait_for(&format!("{s} to hold the request"), Duration::from_secs(20), || {
            api.get::<ExchangeView>(&format!("/v1/exchanges/{exchange}")).ok()
        })
        .await?;
    }
    Ok(exchange)
}

fn measure(
    api: &AdminClient,
    exchange: &str,
    provision: &str,
    kind: &str,
    date: &str,
) -> Result<MessageView, ClientError> {
    let form = MeasureForm {
        provision: provision.into(),
        kind: kind.into(),
        date: date.into(),
        text: format!("{kind} under {provision}"),
        handling: None,
    };
    blocking(|| api.post(&format!("/v1/exchanges/{exchange}/measures"), &form))
}

fn respond(api: &AdminClient, exchange: &str) -> anyhow::Result<MessageView> {
    let response: ResponseForm =
        toml::from_str(include_str!("../../../deploy/examples/response.toml")).expect("example response");
    Ok(blocking(|| api.post(&format!("/v1/exchanges/{exchange}/respond"), &RespondRequest { response }))?)
}

fn close(api: &AdminClient, exchange: &str, outcome: Option<&str>) -> anyhow::Result<MessageView> {
    let req = CloseRequest { reason: "done".into(), outcome: outcome.map(str::to_string) };
    Ok(blocking(|| api.post(&format!("/v1/exchanges/{exchange}/close"), &req))?)
}

/// Waits until `api`'s node holds `n` measures in `exchange`.
async fn holds_measures(api: &AdminClient, exchange: &str, n: usize) -> anyhow::Result<()> {
    wait_for(&format!("{n} measure(s) in {exchange}"), Duration::from_secs(20), || {
        tracked(api, exchange).filter(|t| t.measures.len() == n).map(|_| ())
    })
    .await
}

fn tracked(api: &AdminClient, exchange: &str) -> Option<TrackedExchange> {
    let list: Vec<TrackedExchange> = api.get("/v1/track").ok()?;
    list.into_iter().find(|t| t.exchange_id.to_string() == exchange)
}

/// The API error's code, for a call that must be refused.
fn refused_with(result: Result<MessageView, ClientError>) -> (String, String) {
    match result {
        Ok(m) => panic!("{} {} was sent", m.kind, m.message_id),
        Err(ClientError::Api(e)) => {
            let problems: Vec<String> = e.problems.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect();
            (e.error.clone(), format!("{}\n{}", e.message, problems.join("\n")))
        }
        Err(other) => panic!("not a refusal of the node: {other}"),
    }
}

fn overdue_entries(home: &Path, exchange: &str) -> usize {
    let log = LogFiles::read_home(home).unwrap_or_default();
    log.entries
        .iter()
        .filter(|e| e.event.action == Action::ExchangeOverdue)
        .filter(|e| e.event.exchange.map(|x| x.to_string()).as_deref() == Some(exchange))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn measures_recorded_by_each_party_appear_identically_at_every_party() -> anyhow::Result<()> {
    let net = TestNet::admitted_with(&["MEX", "SWE", "FRA"], tuned).await?;
    let exchange = open(&net, "MEX", &["SWE", "FRA"], &["11.4", "11.5"]).await?;
    let apis: Vec<(&str, AdminClient)> =
        ["MEX", "SWE", "FRA"].into_iter().map(|s| Ok((s, net.national(s).api()?))).collect::<anyhow::Result<_>>()?;
    let today = day(0);
    let recorded = [
        ("MEX", "11.4", "investigation-opened"),
        ("SWE", "11.4", "shipment-examined"),
        ("FRA", "11.5", "shared-routes"),
    ];
    for (by, provision, kind) in recorded {
        let sent = measure(&net.national(by).api()?, &exchange, provision, kind, &today)?;
        assert_eq!(sent.kind, MessageKind::Measure);
        let mut to: Vec<String> = sent.recipients.iter().map(|s| s.to_string()).collect();
        to.sort();
        let mut others: Vec<String> =
            ["FRA", "MEX", "SWE"].iter().filter(|s| **s != by).map(|s| s.to_string()).collect();
        others.sort();
        assert_eq!(to, others, "a measure goes to every other party");
    }
    let moved: MessageView = blocking(|| {
        net.national("SWE").api()?.post(
            &format!("/v1/exchanges/{exchange}/stage"),
            &StageMoveRequest { stage: "reached-end-user".into(), text: "delivered to the end user".into() },
        )
    })?;
    assert_eq!(moved.kind, MessageKind::StageMove);

    let mut views = Vec::new();
    for (s, api) in &apis {
        let view = wait_for(&format!("{s} to hold three measures and the stage move"), Duration::from_secs(20), || {
            tracked(api, &exchange).filter(|t| t.measures.len() == 3 && t.stage_moves.len() == 1)
        })
        .await?;
        views.push(view);
    }
    // Whose response is awaited is each node's own view (responses go to the
    // requesting State alone); everything else is one record.
    let awaited: Vec<Vec<StateCode>> = views.iter_mut().map(|v| std::mem::take(&mut v.not_responded)).collect();
    assert_eq!(awaited, [vec![state("SWE"), state("FRA")], vec![state("SWE")], vec![state("FRA")]]);
    // One record, the same at every party, whoever recorded what.
    assert_eq!(views[0], views[1], "MEX and SWE differ");
    assert_eq!(views[0], views[2], "MEX and FRA differ");
    let v = &views[0];
    assert_eq!(v.stage, Some(Stage::ReachedEndUser));
    assert_eq!(v.provisions, [Provision::Art11_4, Provision::Art11_5]);
    let mut by: Vec<(String, MeasureKind)> = v.measures.iter().map(|m| (m.by.to_string(), m.kind)).collect();
    by.sort();
    assert_eq!(
        by,
        [
            ("FRA".to_string(), MeasureKind::SharedRoutes),
            ("MEX".to_string(), MeasureKind::InvestigationOpened),
            ("SWE".to_string(), MeasureKind::ShipmentExamined)
        ]
    );
    // The audit log names the kind of each message.
    let log = LogFiles::read_home(&net.national("MEX").home)?;
    let received: Vec<Option<MessageKind>> = log
        .entries
        .iter()
        .filter(|e| {
            e.event.action == Action::MessageReceived
                && e.event.exchange.map(|x| x.to_string()) == Some(exchange.clone())
        })
        .map(|e| e.event.kind)
        .collect();
    assert!(
        received.contains(&Some(MessageKind::Measure)) && received.contains(&Some(MessageKind::StageMove)),
        "{received:?}"
    );

    // Bad input: each refused with its named error, and nothing is sent.
    let swe = net.national("SWE").api()?;
    let before: ExchangeView = blocking(|| swe.get(&format!("/v1/exchanges/{exchange}")))?;
    let (code, said) = refused_with(measure(&swe, &exchange, "11.5", "shipment-examined", &today));
    assert_eq!(code, "measure-not-under-provision", "{said}");
    assert!(said.contains("record it under 11.4"), "{said}");
    let (code, said) = refused_with(measure(&swe, &exchange, "11.4", "shipment-examined", &day(1)));
    assert_eq!(code, "measure-dated-in-future", "{said}");
    let (code, said) = refused_with(measure(&swe, &exchange, "12.1", "shipment-examined", &today));
    assert_eq!(code, "unknown-provision", "{said}");
    assert!(said.contains("11.1, 11.2, 11.3, 11.4, 11.5, 11.6, 13.2"), "{said}");
    let (code, said) = refused_with(blocking(|| {
        swe.post(
            &format!("/v1/exchanges/{exchange}/respond-by"),
            &RespondByRequest { date: day(5), text: String::new() },
        )
    }));
    assert_eq!(code, "refused", "{said}");
    assert!(said.contains("only the requesting State (MEX)"), "{said}");
    let after: ExchangeView = blocking(|| swe.get(&format!("/v1/exchanges/{exchange}")))?;
    assert_eq!(after.messages.len(), before.messages.len(), "a refused record was stored");

    // A peer's measure dated after the day it was sent is refused on receipt.
    let swe_keys = keys_of(&net.national("SWE").home);
    let body = Body::Measure(Measure {
        provision: Provision::Art11_4,
        kind: MeasureKind::ShipmentExamined,
        date: CalendarDate::from_days(today_days() + 2).expect("day"),
        text: String::new(),
        handling: Default::default(),
    });
    let exchange_id: ExchangeId = exchange.parse().map_err(anyhow::Error::msg)?;
    let now = veim_node::clock::now();
    let envelope = seal_body(&net, &swe_keys.identity, "SWE", &["MEX", "FRA"], now, |_, _| exchange_id, &body);
    match deliver_as(&net, "SWE", "MEX", envelope).await? {
        NetResponse::Refused(r) => {
            assert_eq!(r.code, RefusalCode::InvalidBody);
            assert!(r.detail.contains("after the day it is recorded"), "{}", r.detail);
        }
        other => panic!("a measure dated in the future was accepted: {other:?}"),
    }
    let mex = net.national("MEX").api()?;
    assert_eq!(tracked(&mex, &exchange).map(|t| t.measures.len()), Some(3));
    net.shutdown().await;
    Ok(())
}

fn today_days() -> i32 {
    today().days()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exchange_past_its_respond_by_date_unanswered_is_overdue_and_recorded_once() -> anyhow::Result<()> {
    let mut net = TestNet::admitted_with(&["MEX", "SWE", "FRA"], tuned).await?;
    // An older exchange without a date, then one whose date has passed.
    let older = open(&net, "MEX", &["SWE"], &["11.2"]).await?;
    let late = open(&net, "MEX", &["SWE", "FRA"], &["11.4"]).await?;
    let mex = net.national("MEX").api()?;
    // SWE responds; then MEX sets a date that has already passed.
    respond(&net.national("SWE").api()?, &late)?;
    wait_for("MEX to hold SWE's response", Duration::from_secs(20), || {
        tracked(&mex, &late).filter(|t| t.not_responded == [state("FRA")])
    })
    .await?;
    // The hook notifications use: each exchange that becomes overdue.
    let mut events = net.national("MEX").handle.as_ref().expect("running").node.tracking.subscribe();
    let set: MessageView = blocking(|| {
        mex.post(
            &format!("/v1/exchanges/{late}/respond-by"),
            &RespondByRequest { date: day(-1), text: "urgent".into() },
        )
    })?;
    assert_eq!(set.kind, MessageKind::RespondBy);

    let list = wait_for("MEX to see SWE's response and the exchange overdue", Duration::from_secs(20), || {
        let list: Vec<TrackedExchange> = mex.get("/v1/track").ok()?;
        list.iter()
            .any(|t| t.exchange_id.to_string() == late && t.overdue && t.not_responded == [state("FRA")])
            .then_some(list)
    })
    .await?;
    assert_eq!(list[0].exchange_id.to_string(), late, "the overdue exchange is listed first");
    assert!(list.iter().any(|t| t.exchange_id.to_string() == older && !t.overdue));
    assert_eq!(list[0].respond_by.map(|d| d.to_string()), Some(day(-1)));

    // Each party as it can see it: FRA has not responded, SWE has.
    let fra = net.national("FRA").api()?;
    let at_fra = wait_for("FRA to see the date", Duration::from_secs(20), || {
        tracked(&fra, &late).filter(|t| t.respond_by.is_some())
    })
    .await?;
    assert!(at_fra.overdue && at_fra.not_responded == [state("FRA")]);
    let swe = net.national("SWE").api()?;
    let at_swe = wait_for("SWE to see the date", Duration::from_secs(20), || {
        tracked(&swe, &late).filter(|t| t.respond_by.is_some())
    })
    .await?;
    assert!(!at_swe.overdue, "SWE responded: {at_swe:?}");
    // What needs each State (the console's dashboard): MEX the overdue
    // exchange, not the one only waiting for others; SWE the request it
    // has not answered; FRA the one it is late for.
    let attention = |api: &AdminClient| -> anyhow::Result<Vec<String>> {
        let list: Vec<TrackedExchange> = blocking(|| api.get("/v1/track?attention=true"))?;
        Ok(list.iter().map(|t| t.exchange_id.to_string()).collect())
    };
    assert_eq!(attention(&mex)?, std::slice::from_ref(&late), "MEX");
    assert_eq!(attention(&swe)?, std::slice::from_ref(&older), "SWE");
    assert_eq!(attention(&fra)?, std::slice::from_ref(&late), "FRA");

    let mex_home = net.national("MEX").home.clone();
    wait_for("MEX's overdue entry", Duration::from_secs(20), || (overdue_entries(&mex_home, &late) > 0).then_some(()))
        .await?;
    wait_for("FRA's overdue entry", Duration::from_secs(20), || {
        (overdue_entries(&net.national("FRA").home, &late) > 0).then_some(())
    })
    .await?;
    assert_eq!(overdue_entries(&net.national("SWE").home, &late), 0, "SWE responded in time");
    let event = events.try_recv()?;
    assert_eq!(event.exchange_id.to_string(), late);
    assert_eq!((event.originator, event.counterparts.as_slice()), (state("MEX"), [state("FRA")].as_slice()));
    assert_eq!(event.respond_by.to_string(), day(-1));
    assert!(events.try_recv().is_err(), "one event for one overdue exchange");

    // Restarted, the node looks again and does not record it twice: once a
    // later overdue exchange is recorded, that look has covered the first.
    net.national_mut("MEX").stop().await;
    net.national_mut("MEX").start().await?;
    let mex = net.national("MEX").api()?;
    blocking(|| {
        mex.post::<_, MessageView>(
            &format!("/v1/exchanges/{older}/respond-by"),
            &RespondByRequest { date: day(-2), text: String::new() },
        )
    })?;
    wait_for("MEX's second overdue entry", Duration::from_secs(20), || {
        (overdue_entries(&mex_home, &older) > 0).then_some(())
    })
    .await?;
    assert_eq!(overdue_entries(&mex_home, &late), 1, "the overdue exchange is recorded once");
    assert_eq!(overdue_entries(&mex_home, &older), 1);

    // Closed, it is no longer listed.
    close(&mex, &late, Some("inconclusive"))?;
    let list: Vec<TrackedExchange> = blocking(|| mex.get("/v1/track"))?;
    assert!(!list.iter().any(|t| t.exchange_id.to_string() == late));
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracking_figures_match_a_scripted_history() -> anyhow::Result<()> {
    let net = TestNet::admitted_with(&["MEX", "SWE", "FRA"], tuned).await?;
    let (mex, swe, fra) = (net.national("MEX").api()?, net.national("SWE").api()?, net.national("FRA").api()?);
    let today = day(0);
    // X1, 11.4 with SWE: answered, a measure on each side, a stage move,
    // closed: diversion prevented.
    let x1 = open(&net, "MEX", &["SWE"], &["11.4"]).await?;
    respond(&swe, &x1)?;
    measure(&mex, &x1, "11.4", "shipment-examined", &today)?;
    measure(&swe, &x1, "11.4", "investigation-opened", &today)?;
    blocking(|| {
        mex.post::<_, MessageView>(
            &format!("/v1/exchanges/{x1}/stage"),
            &StageMoveRequest { stage: "reached-end-user".into(), text: String::new() },
        )
    })?;
    // A close goes after what the others sent: nothing follows it.
    holds_measures(&mex, &x1, 2).await?;
    close(&mex, &x1, Some("diversion-prevented"))?;
    // X2, 11.2 with SWE and FRA: FRA answers, SWE records a measure; a plain close.
    let x2 = open(&net, "MEX", &["SWE", "FRA"], &["11.2"]).await?;
    respond(&fra, &x2)?;
    measure(&swe, &x2, "11.2", "risk-assessed", &today)?;
    holds_measures(&mex, &x2, 1).await?;
    close(&mex, &x2, None)?;
    // X3, 11.5 and 11.4 with FRA: a measure by FRA dated yesterday; open.
    let x3 = open(&net, "MEX", &["FRA"], &["11.5", "11.4"]).await?;
    measure(&fra, &x3, "11.5", "shared-routes", &day(-1))?;
    // X4, 11.2 with SWE: nothing yet.
    open(&net, "MEX", &["SWE"], &["11.2"]).await?;

    let figures = wait_for("MEX to hold every message", Duration::from_secs(20), || {
        let f: Figures = mex.get(&format!("/v1/track/figures?from={}&to={today}", day(-1))).ok()?;
        (f.total.first_response.responses == 2 && f.total.measures.values().sum::<u32>() == 4).then_some(f)
    })
    .await?;
    let map = |pairs: &[(&str, u32)]| pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    let t = &figures.total;
    assert_eq!(t.exchanges, 4);
    assert_eq!(t.stages, map(&[("diversion-detected", 3), ("reached-end-user", 1)]));
    assert_eq!(
        t.measures,
        map(&[("investigation-opened", 1), ("risk-assessed", 1), ("shared-routes", 1), ("shipment-examined", 1)])
    );
    assert_eq!(t.outcomes, map(&[("diversion-prevented", 1), ("not-recorded", 1)]));
    let max = t.first_response.max_secs.expect("a longest response");
    assert!(t.first_response.median_secs.is_some_and(|m| m <= max) && max < 120, "{:?}", t.first_response);

    let provision =
        |p: &str| figures.by_provision.iter().find(|f| f.provision == p).map(|f| f.counts.clone()).unwrap_or_default();
    let p = provision("11.4");
    assert_eq!((p.exchanges, p.first_response.responses), (2, 1));
    assert_eq!(p.measures, map(&[("investigation-opened", 1), ("shipment-examined", 1)]));
    assert_eq!(p.outcomes, map(&[("diversion-prevented", 1)]));
    let p = provision("11.2");
    assert_eq!((p.exchanges, p.first_response.responses), (2, 1));
    assert_eq!(p.measures, map(&[("risk-assessed", 1)]));
    assert_eq!(p.outcomes, map(&[("not-recorded", 1)]));
    let p = provision("11.5");
    assert_eq!((p.exchanges, p.first_response.responses), (1, 0));
    assert_eq!(p.measures, map(&[("shared-routes", 1)]));
    assert!(p.outcomes.is_empty());
    assert_eq!(figures.by_provision.len(), 3, "{:?}", figures.by_provision);

    let counterpart = |s: &str| figures.by_counterpart.iter().find(|c| c.state.as_str() == s).map(|c| c.counts.clone());
    let c = counterpart("SWE").expect("SWE");
    assert_eq!((c.exchanges, c.first_response.responses), (3, 1));
    assert_eq!(c.measures, map(&[("investigation-opened", 1), ("risk-assessed", 1)]));
    assert_eq!(c.outcomes, map(&[("diversion-prevented", 1), ("not-recorded", 1)]));
    let c = counterpart("FRA").expect("FRA");
    assert_eq!((c.exchanges, c.first_response.responses), (2, 1));
    assert_eq!(c.measures, map(&[("shared-routes", 1)]));
    assert_eq!(c.outcomes, map(&[("not-recorded", 1)]));

    // Today alone: the measure dated yesterday falls out; yesterday alone: nothing opened.
    let only_today: Figures = blocking(|| mex.get(&format!("/v1/track/figures?from={today}&to={today}")))?;
    assert_eq!(only_today.total.measures.values().sum::<u32>(), 3);
    assert_eq!(only_today.total.exchanges, 4);
    let yesterday: Figures = blocking(|| mex.get(&format!("/v1/track/figures?from={0}&to={0}", day(-1))))?;
    assert_eq!((yesterday.total.exchanges, yesterday.total.measures.values().sum::<u32>()), (0, 1));
    // A period that ends before it starts is named.
    let bad = blocking(|| mex.get::<Figures>(&format!("/v1/track/figures?from={today}&to={}", day(-1))));
    match bad {
        Err(ClientError::Api(e)) => assert_eq!(e.error, "bad-period", "{}", e.message),
        other => panic!("a reversed period was answered: {other:?}"),
    }
    net.shutdown().await;
    Ok(())
}
