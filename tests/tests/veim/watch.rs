//! Watching a node as a ministry's IT service would: health and readiness
//! probes and Prometheus metrics that answer without the token and leave
//! nothing in the audit log, and log files without terminal escapes, or in
//! JSON when asked.

use super::admin::{admin_of, http};
use std::path::Path;
use std::time::Duration;
use veim_node::api::{HealthCheck, MessageView, Readiness, SendRequest, StatusView};
use veim_node::audit::LogFiles;
use veim_protocol::audit::Action;
use veim_tests::{NodeProcess, TestNet, blocking, example_request};
use veim_tools::localnet::LocalNet;

const NODE: &str = env!("CARGO_BIN_EXE_veim-test-node");

const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The audit entries an admin call or a probe could have written: admin
/// calls, failed logins, and anything naming one of the open paths.
fn admin_entries(home: &Path) -> anyhow::Result<(usize, usize, usize)> {
    let log = LogFiles::read_home(home)?;
    let events = log.entries.iter().map(|e| &e.event);
    let (mut calls, mut failures, mut naming) = (0, 0, 0);
    for e in events {
        match e.action {
            Action::AdminCall => calls += 1,
            Action::AdminAuthFailed => failures += 1,
            _ => {}
        }
        let object = e.object.as_deref().unwrap_or("");
        if OPEN_PATHS.iter().any(|p| object.contains(p) || e.detail.contains(p)) {
            naming += 1;
        }
    }
    Ok((calls, failures, naming))
}

/// The value of one sample line (`name value`) of an exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_of(home: &Path) -> anyhow::Result<String> {
    let (addr, _) = admin_of(home)?;
    let (status, body) = http(&addr, "GET", "/metrics", &[], "").await?;
    anyhow::ensure!(status == 200, "GET /metrics answered {status}: {body}");
    Ok(body)
}

/// The exposition of `home`'s node once the sample `name` has `value`.
async fn metrics_when(home: &Path, name: &str, value: f64) -> anyhow::Result<String> {
    let start = std::time::Instant::now();
    loop {
        let text = metrics_of(home).await?;
        if sample(&text, name) == Some(value) {
            return Ok(text);
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(20), "{name} is not {value} after 20 s:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_and_metrics_answer_without_the_token_and_write_nothing_to_the_audit_log() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let home = net.national("MEX").home.clone();
    let (addr, token) = admin_of(&home)?;
    let bearer = format!("Bearer {token}");
    let (calls_before, failures_before, naming_before) = admin_entries(&home)?;

    // A supervisor's probes: many, without a token.
    for round in 0..100 {
        for path in OPEN_PATHS {
            let (status, body) = http(&addr, "GET", path, &[], "").await?;
            assert_eq!(status, 200, "round {round}, {path}: {body}");
        }
    }
    let (_, body) = http(&addr, "GET", "/healthz", &[], "").await?;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body)?["status"], "up", "{body}");
    let (_, body) = http(&addr, "GET", "/readyz", &[], "").await?;
    let ready: Readiness = serde_json::from_str(&body)?;
    assert!(ready.ready, "{ready:?}");
    let checked: Vec<HealthCheck> = ready.checks.iter().map(|c| c.check).collect();
    assert_eq!(checked, [HealthCheck::Store, HealthCheck::Network, HealthCheck::Directory]);

    // The guard still stands in front of them: a web page, or a host name
    // that is not loopback (DNS rebinding), gets nothing.
    let host_header = format!("evil.example:{}", addr.rsplit(':').next().unwrap_or("0"));
    for page in
        [[("Origin", "http://evil.example")], [("Sec-Fetch-Site", "cross-site")], [("Host", host_header.as_str())]]
    {
        for path in OPEN_PATHS {
            let (status, body) = http(&addr, "GET", path, &page, "").await?;
            assert_eq!(status, 403, "{page:?} {path}: {body}");
        }
    }
    // Other paths still want the token.
    let (status, _) = http(&addr, "GET", "/v1/status", &[], "").await?;
    assert_eq!(status, 401);

    // One audited call, made durable before its answer, so that the files
    // hold everything written before it.
    let (status, _) = http(&addr, "POST", "/v1/directory/sync", &[("Authorization", &bearer)], "").await?;
    assert_eq!(status, 200);
    let (calls, failures, naming) = admin_entries(&home)?;
    assert_eq!(calls, calls_before + 1, "only the operator's call is recorded");
    // The refused web pages are recorded as before (one by one up to the
    // minute's allowance), the unauthenticated /v1/status too, the probes never.
    assert_eq!(failures, failures_before + 3 * OPEN_PATHS.len() + 1);
    assert_eq!(naming - naming_before, 3 * OPEN_PATHS.len(), "only the refused web pages name an open path");

    // The metrics: every name, with its help text; then their values after
    // one exchange.
    let text = metrics_of(&home).await?;
    for name in [
        "veim_peers_connected",
        "veim_outbox_messages",
        "veim_outbox_oldest_message_age_seconds",
        "veim_messages_delivered",
        "veim_messages_received",
        "veim_delivery_refusals",
        "veim_requests_refused",
        "veim_directory_version",
        "veim_directory_age_seconds",
        "veim_directory_sync_age_seconds",
        "veim_audit_entries",
        "veim_audit_checkpoint_age_seconds",
        "veim_audit_checkpoint_entries",
        "veim_store_size_bytes",
        "veim_store_disk_free_bytes",
        "veim_ready",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name} missing from:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(sample(&text, "veim_messages_delivered_total"), Some(0.0), "{text}");
    assert!(sample(&text, "veim_store_size_bytes").is_some_and(|b| b > 0.0), "{text}");
    assert!(sample(&text, "veim_store_disk_free_bytes").is_some_and(|b| b > 0.0), "{text}");
    assert!(text.contains("veim_ready{check=\"directory\"} 1"), "{text}");

    let sent: MessageView = blocking(|| {
        net.national("MEX")
            .api()?
            .post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
    })?;
    assert_eq!(sent.deliveries.len(), 1);
    let version = blocking(|| net.national("MEX").api()?.get::<StatusView>("/v1/status"))?.directory_version;
    assert!(version >= 2, "two States admitted: {version}");
    let mex = metrics_when(&home, "veim_messages_delivered_total", 1.0).await?;
    assert_eq!(sample(&mex, "veim_outbox_messages"), Some(0.0), "{mex}");
    assert_eq!(sample(&mex, "veim_outbox_oldest_message_age_seconds"), Some(0.0), "{mex}");
    assert_eq!(sample(&mex, "veim_directory_version"), Some(version as f64), "{mex}");
    assert!(sample(&mex, "veim_peers_connected").is_some_and(|n| n >= 1.0), "{mex}");
    assert!(sample(&mex, "veim_audit_entries_total").is_some_and(|n| n > 0.0), "{mex}");
    println!("MEX's metrics after one delivery:\n{mex}");
    let swe = metrics_of(&net.national("SWE").home).await?;
    assert_eq!(sample(&swe, "veim_messages_received_total"), Some(1.0), "{swe}");
    assert_eq!(sample(&swe, "veim_directory_version"), Some(version as f64), "{swe}");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_names_the_directory_until_the_node_is_admitted() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("veim-test-").tempdir()?;
    let mut net = LocalNet::new(dir.path()).await?;
    net.add_national("MEX", "MEX export control authority").await?;
    let home = net.national("MEX").home.clone();
    let (addr, _) = admin_of(&home)?;

    let (status, body) = http(&addr, "GET", "/readyz", &[], "").await?;
    assert_eq!(status, 503, "{body}");
    let readiness: Readiness = serde_json::from_str(&body)?;
    assert!(!readiness.ready);
    let failed: Vec<_> = readiness.failed().collect();
    assert_eq!(failed.len(), 1, "{readiness:?}");
    assert_eq!(failed[0].check, HealthCheck::Directory);
    assert!(
        failed[0].detail.contains("no directory version held") || failed[0].detail.contains("not listed as active"),
        "{}",
        failed[0].detail
    );
    // Up all the same, and the Secretariat, which publishes the directory, is ready.
    assert_eq!(http(&addr, "GET", "/healthz", &[], "").await?.0, 200);
    let (secretariat, _) = admin_of(&net.secretariat.home)?;
    let (status, body) = http(&secretariat, "GET", "/readyz", &[], "").await?;
    assert_eq!(status, 200, "{body}");
    let status: StatusView = blocking(|| net.national("MEX").api()?.get("/v1/status"))?;
    assert!(!status.readiness.ready, "/v1/status shows the same checks");

    let version = net.admit("MEX").await?.version;
    net.wait_directory(version).await?;
    let start = std::time::Instant::now();
    while http(&addr, "GET", "/readyz", &[], "").await?.0 != 200 {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(20), "MEX not ready 20 s after its admission");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_files_hold_no_terminal_escapes_and_the_json_setting_gives_json_lines() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX"]).await?;
    net.national_mut("MEX").stop().await;
    let home = net.national("MEX").home.clone();

    // Text, to a file: no colour, whatever the level.
    let text_log = net.dir.path().join("mex-text.log");
    let process = NodeProcess::started_logging_to(NODE, &home, &[], &text_log).await?;
    let _: StatusView = blocking(|| veim_tools::AdminClient::for_home(&home)?.get("/v1/status"))?;
    process.kill();
    let text = std::fs::read_to_string(&text_log)?;
    assert!(text.contains("node started"), "{text}");
    assert!(!text.contains('\u{1b}'), "an escape code in a log file:\n{text:?}");

    // JSON: every line is one JSON object with a level and a message.
    let json_log = net.dir.path().join("mex-json.log");
    let process = NodeProcess::started_logging_to(NODE, &home, &["--log-format", "json"], &json_log).await?;
    let _: StatusView = blocking(|| veim_tools::AdminClient::for_home(&home)?.get("/v1/status"))?;
    process.kill();
    let json = std::fs::read_to_string(&json_log)?;
    let lines: Vec<&str> = json.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "no log line");
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("not JSON ({e}): {line}"))?;
        assert!(value["level"].is_string() && value["timestamp"].is_string(), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("\"message\":\"node started\"")), "{json}");
    assert!(!json.contains('\u{1b}'), "{json:?}");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_peers_receipts_show_its_clock_off_warns_in_its_log_metrics_and_status() -> anyhow::Result<()> {
    use veim_protocol::wire::{NetRequest, NetResponse};
    use veim_protocol::{Receipt, SignedReceipt};
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    net.national_mut("MEX").stop().await;
    net.national_mut("SWE").stop().await;
    let home = net.national("MEX").home.clone();
    let log = net.dir.path().join("mex.log");
    let _mex = NodeProcess::started_logging_to(NODE, &home, &[], &log).await?;
    // SWE's receipts are dated ten minutes after MEX's clock: MEX's clock
    // is ten minutes behind its peer's.
    let swe_home = net.national("SWE").home.clone();
    let swe_key = veim_tests::keys_of(&swe_home).identity;
    let mut swe = veim_tests::RawPeer::impersonating(&swe_home)?;
    let api = veim_tools::AdminClient::for_home(&home)?;
    swe.serve(
        &net.national("SWE").address,
        |request| match request {
            NetRequest::Deliver(e) => {
                let receipt = Receipt {
                    message_id: e.header.message_id,
                    envelope_hash: e.hash().expect("hash"),
                    recipient: "SWE".parse().expect("SWE"),
                    stored_at: veim_node::clock::now() + 600,
                };
                NetResponse::Receipt(SignedReceipt::sign(receipt, &swe_key).expect("sign"))
            }
            // MEX's audit checkpoints, sent to SWE's address.
            _ => NetResponse::Acknowledged,
        },
        move || async move {
            let sent: MessageView = tokio::task::spawn_blocking(move || {
                api.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
            })
            .await
            .expect("join")
            .expect("send");
            assert!(
                matches!(sent.deliveries[0].state, veim_node::storage::DeliveryState::Delivered { .. }),
                "{sent:?}"
            );
        },
    )
    .await?;

    let text = metrics_of(&home).await?;
    let offset = sample(&text, "veim_clock_offset_seconds").ok_or_else(|| anyhow::anyhow!("no offset:\n{text}"))?;
    assert!((-601.0..=-598.0).contains(&offset), "veim_clock_offset_seconds {offset}");
    let status: StatusView = blocking(|| veim_tools::AdminClient::for_home(&home)?.get("/v1/status"))?;
    assert!(status.clock_offset_secs.is_some_and(|o| (-601..=-598).contains(&o)), "{:?}", status.clock_offset_secs);
    let shown = veim_tools::render::status(&status);
    assert!(shown.contains("s BEHIND its peers'") && shown.contains("NTP"), "{shown}");
    let logged = std::fs::read_to_string(&log)?;
    let warning = logged.lines().find(|l| l.contains("its peers' (by the times in their receipts)"));
    assert!(warning.is_some_and(|l| l.contains("WARN") && l.contains("behind")), "{logged}");
    net.shutdown().await;
    Ok(())
}
