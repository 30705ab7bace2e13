//! The admin listener faces every process of its machine, a browser's web
//! pages included. Whoever lacks the token must not be able to fill the audit
//! log or the store, a web page must not be able to use the API even when the
//! operator's token would be sent along, and every call the operator makes is
//! in the log on disk before its answer.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use veim_node::api::{MessageView, SendRequest};
use veim_node::audit::LogFiles;
use veim_node::home::Runtime;
use veim_protocol::audit::{Action, Actor};
use veim_tests::{NodeProcess, TestNet, example_request, wait_for};
use veim_tools::AdminClient;

const NODE: &str = env!("CARGO_BIN_EXE_veim-test-node");

/// The admin API's address and token, as the node's home folder tells them.
pub fn admin_of(home: &std::path::Path) -> anyhow::Result<(String, String)> {
    let runtime: Runtime = serde_json::from_slice(&std::fs::read(home.join(veim_node::home::RUNTIME_FILE))?)?;
    let token = std::fs::read_to_string(home.join(veim_node::home::FIRST_TOKEN_FILE))?;
    Ok((runtime.admin, token.trim().to_string()))
}

/// One HTTP/1.1 exchange on a connection of its own, written byte for byte
/// as a hostile client would: returns the status code and the body.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// The entries of `home`'s audit files whose event `keep` keeps.
fn entries_where(home: &std::path::Path, keep: impl Fn(&veim_protocol::audit::Event) -> bool) -> anyhow::Result<usize> {
    Ok(LogFiles::read_home(home)?.entries.iter().filter(|e| keep(&e.event)).count())
}

/// The failed logins in the log: recorded one by one, and counted.
fn failed_logins(home: &std::path::Path) -> Option<(u64, u64, usize)> {
    let log = LogFiles::read_home(home).ok()?;
    let (mut one_by_one, mut counted, mut longest) = (0, 0, 0);
    for e in log.entries.iter().map(|e| &e.event).filter(|e| e.action == Action::AdminAuthFailed) {
        assert_eq!(e.actor, Actor::Stranger);
        longest = longest.max(e.object.as_deref().map(str::len).unwrap_or(0));
        match e.detail.split_once(" more failed logins at the admin API") {
            Some((n, _)) => counted += n.parse::<u64>().ok()?,
            None => one_by_one += 1,
        }
    }
    Some((one_by_one, counted, longest))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn probes_without_the_token_cannot_fill_the_log_and_web_pages_are_refused() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let home = net.national("MEX").home.clone();
    let (addr, token) = admin_of(&home)?;
    let bearer = format!("Bearer {token}");

    // 2,000 probes, and 200 with a 60 KB path of the client's choosing, a
    // hundred at a time (each answer waits until its failure is on disk,
    // and those past the allowance share a flush every 250 ms).
    let long_path = format!("/v1/{}", "a".repeat(60_000));
    let mut answered = std::collections::BTreeMap::<u16, u64>::new();
    for batch in 0..22u32 {
        let probes = (batch * 100..(batch + 1) * 100).map(|i| {
            let (addr, long_path) = (&addr, &long_path);
            async move {
                let path = if i % 11 == 0 { long_path.as_str() } else { "/v1/status" };
                let wrong = format!("Bearer wrong-{i}");
                let headers: &[(&str, &str)] = if i % 2 == 0 { &[] } else { &[("Authorization", &wrong)] };
                http(addr, "GET", path, headers, "").await
            }
        });
        for answer in futures::future::join_all(probes).await {
            *answered.entry(answer?.0).or_default() += 1;
        }
    }
    println!("answers to 2,200 probes: {answered:?}");
    assert_eq!(answered.values().sum::<u64>(), 2_200);
    assert!(answered.keys().all(|s| [401, 429].contains(s)), "{answered:?}");

    // Every probe is in the log: recorded one by one up to the minute's
    // allowance, counted past it (the count written at the next checkpoint).
    let (one_by_one, counted, longest) = wait_for("every probe recorded or counted", Duration::from_secs(30), || {
        failed_logins(&home).filter(|(one, counted, _)| one + counted >= 2_200)
    })
    .await?;
    println!("recorded one by one: {one_by_one}, counted: {counted}, longest object: {longest} bytes");
    assert_eq!(one_by_one + counted, 2_200);
    // 20 a minute (the default); the flood may straddle two or three minutes.
    assert!(one_by_one <= 60, "{one_by_one} failed logins recorded one by one");
    assert!(longest <= veim_node::api::MAX_RECORDED_PATH + 32, "an entry kept {longest} bytes of a path");

    // A web page, even one the operator's browser sends the token from, is
    // refused before the token is looked at, and nothing is done.
    let request = serde_json::to_string(&SendRequest { to: vec!["SWE".into()], request: example_request() })?;
    let host_header = format!("evil.example:{}", addr.rsplit(':').next().unwrap_or("0"));
    let web_pages: [Vec<(&str, &str)>; 4] = [
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![("Host", host_header.as_str())],
    ];
    for page in web_pages {
        let mut headers = page.clone();
        headers.push(("Authorization", &bearer));
        headers.push(("Content-Type", "application/json"));
        let (status, body) = http(&addr, "POST", "/v1/requests", &headers, &request).await?;
        assert_eq!(status, 403, "{page:?}: {body}");
        assert!(body.contains("forbidden-origin"), "{body}");
    }
    let outbox: Vec<MessageView> = veim_tools::localnet::blocking(|| net.national("MEX").api()?.get("/v1/outbox"))?;
    assert!(outbox.is_empty(), "a web page sent a request: {outbox:?}");

    // The operator's own tool, with the token, is served as always.
    let (status, _) = http(&addr, "GET", "/v1/status", &[("Authorization", &bearer)], "").await?;
    assert_eq!(status, 200);
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_call_is_in_the_log_on_disk_before_its_answer() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let (home, mut process) = net.as_process("MEX", NODE).await?;
    let calls = |home: &std::path::Path| {
        entries_where(home, |e| e.action == Action::AdminCall && e.object.as_deref() == Some("/v1/requests"))
    };
    // Each acknowledged send, then the node killed at once: the call's
    // entry must survive every time.
    for acknowledged in 1..=5 {
        let api = AdminClient::for_home(&home)?;
        let request = example_request();
        let sent: MessageView = tokio::task::spawn_blocking(move || {
            api.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request })
        })
        .await??;
        assert!(!sent.message_id.is_empty());
        process.kill();
        process = NodeProcess::started(NODE, &home).await?;
        let held = calls(&home)?;
        assert_eq!(held, acknowledged, "admin-call entries of acknowledged sends after {acknowledged} kill(s)");
    }
    // A read that shows content changes nothing, but its entry, too, is on
    // disk before the answer.
    let shown = |home: &std::path::Path| {
        entries_where(home, |e| e.action == Action::ContentShown && e.object.as_deref() == Some("outbox"))
    };
    for read in 1..=3 {
        let api = AdminClient::for_home(&home)?;
        let outbox: Vec<MessageView> = tokio::task::spawn_blocking(move || api.get("/v1/outbox")).await??;
        assert_eq!(outbox.len(), 5);
        process.kill();
        assert_eq!(shown(&home)?, read, "content-shown entries of answered reads after {read} kill(s)");
        process = NodeProcess::started(NODE, &home).await?;
    }
    process.kill();
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_login_survives_a_sigkill_right_after_its_answer() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let (home, mut process) = net.as_process("MEX", NODE).await?;
    let wrong = |home: &std::path::Path| {
        entries_where(home, |e| e.action == Action::AdminAuthFailed && e.detail == "wrong token")
    };
    for failed in 1..=3 {
        let (addr, _) = admin_of(&home)?;
        let bearer = format!("Bearer wrong-{failed}");
        let (status, body) = http(&addr, "POST", "/v1/requests", &[("Authorization", &bearer)], "").await?;
        assert_eq!(status, 401, "{body}");
        // Killed as soon as the answer is in: no flush, no clean stop.
        process.kill();
        assert_eq!(wrong(&home)?, failed, "failed logins in the files the killed node left");
        process = NodeProcess::started(NODE, &home).await?;
        assert_eq!(wrong(&home)?, failed, "failed logins in the files written anew from the store");
    }
    process.kill();
    net.shutdown().await;
    Ok(())
}

/// `n` requests with wrong tokens at once, each on a connection of its own;
/// returns how many were answered 401 or 429.
async fn wrong_tokens(addr: &str, n: usize) -> anyhow::Result<usize> {
    let tries = (0..n).map(|i| async move {
        let bearer = format!("Bearer wrong-{i}");
        http(addr, "GET", "/v1/status", &[("Authorization", &bearer)], "").await
    });
    let answers = futures::future::join_all(tries).await;
    let mut refused = 0;
    for answer in answers {
        let (status, body) = answer?;
        anyhow::ensure!([401, 429].contains(&status), "answered {status}: {body}");
        refused += 1;
    }
    Ok(refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_logins_past_the_allowance_survive_a_sigkill_and_cost_a_few_flushes_a_second() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let home = net.national("MEX").home.clone();
    let (addr, _) = admin_of(&home)?;

    // A flood of wrong tokens at the node in this process: the allowance
    // records 20 a minute one by one, each with its flush; the rest share
    // flushes that start at most once per `COUNTED_FLUSH_EVERY`.
    let store = net.national("MEX").handle.as_ref().map(|h| h.node.store.clone()).expect("MEX runs");
    let before = (failed_logins(&home).expect("log"), store.flush_runs());
    let started = std::time::Instant::now();
    let mut sent = 0;
    for _ in 0..2 {
        sent += wrong_tokens(&addr, 150).await?;
    }
    let took = started.elapsed();
    let flushes = store.flush_runs() - before.1;
    let after = wait_for("every failed login recorded or kept counted", Duration::from_secs(10), || {
        failed_logins(&home).filter(|(one, _, _)| one > &before.0.0)
    })
    .await?;
    let one_by_one = after.0 - before.0.0;
    println!("{sent} wrong tokens in {took:?}: {one_by_one} recorded one by one, {flushes} flushes");
    // One flush for each recorded one by one, at most two for each pace of
    // counted ones (one running, one for those who asked meanwhile), and
    // those the node's own loops made meanwhile (a checkpoint a second
    // here, the outbox, reconciliation: a few a second, however loaded the
    // machine is and so however long the flood took).
    let paces = took.as_millis() as u64 / veim_node::api::COUNTED_FLUSH_EVERY.as_millis() as u64 + 1;
    let bound = one_by_one + 2 * paces + 6 + 4 * took.as_secs();
    assert!(flushes <= bound, "{flushes} flushes for {sent} failed logins (bound {bound})");
    // The store is the node's: let go of it before the node stops.
    drop(store);

    // As a process, killed right after the last answer of a flood: at the
    // next start every failed login is in the log, one by one or counted.
    let (home, process) = net.as_process("MEX", NODE).await?;
    let before = failed_logins(&home).expect("log");
    let (addr, _) = admin_of(&home)?;
    let flood = wrong_tokens(&addr, 80).await? as u64;
    process.kill();
    let process = NodeProcess::started(NODE, &home).await?;
    let total = |l: (u64, u64, usize)| l.0 + l.1;
    let after = wait_for("the failed logins of the flood in the log", Duration::from_secs(10), || {
        failed_logins(&home).filter(|l| total(*l) >= total(before) + flood)
    })
    .await;
    let now = failed_logins(&home).expect("log");
    assert!(after.is_ok(), "{} of {flood} failed logins in the log after the kill", total(now) - total(before));
    assert_eq!(total(now) - total(before), flood);
    process.kill();
    net.shutdown().await;
    Ok(())
}

/// The API's description, encoded once for the process, is what the code
/// describes, and every node of the process serves the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_serves_the_api_description_of_its_routes() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let path = veim_node::api::OPENAPI_PATH;
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    let (first, again, other) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        Ok((mex.get_text(path)?, mex.get_text(path)?, swe.get_text(path)?))
    })
    .await??;
    let served: serde_json::Value = serde_json::from_str(&first)?;
    assert_eq!(served, serde_json::to_value(veim_node::api::openapi())?, "the description served is the code's");
    assert!(served["paths"].as_object().is_some_and(|p| p.contains_key("/v1/requests")), "{first:.200}");
    assert_eq!(first, again, "the same description at each request");
    assert_eq!(first, other, "the same description at each node");
    net.shutdown().await;
    Ok(())
}
