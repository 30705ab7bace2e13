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
    let token = std::fs::read_to_string(home.join(veim_node::home::ADMIN_TOKEN_FILE))?;
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

    // 2,000 probes, and 200 with a 60 KB path of the client's choosing.
    let long_path = format!("/v1/{}", "a".repeat(60_000));
    let mut answered = std::collections::BTreeMap::<u16, u64>::new();
    for i in 0..2_200u32 {
        let path = if i % 11 == 0 { long_path.as_str() } else { "/v1/status" };
        let wrong = format!("Bearer wrong-{i}");
        let headers: &[(&str, &str)] = if i % 2 == 0 { &[] } else { &[("Authorization", &wrong)] };
        let (status, _) = http(&addr, "GET", path, headers, "").await?;
        *answered.entry(status).or_default() += 1;
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
    let calls = |home: &std::path::Path| -> anyhow::Result<usize> {
        let log = LogFiles::read_home(home)?;
        Ok(log
            .entries
            .iter()
            .filter(|e| e.event.action == Action::AdminCall && e.event.object.as_deref() == Some("/v1/requests"))
            .count())
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
    process.kill();
    net.shutdown().await;
    Ok(())
}
