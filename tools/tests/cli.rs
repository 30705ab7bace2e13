//! The `veim` binary as an operator uses it: what it prints, what it writes,
//! and its exit codes.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn veim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veim")).args(args).env_remove("VEIM_HOME").output().expect("run veim")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A child process that does not outlive a failed test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn home_arg(p: &Path) -> String {
    p.display().to_string()
}

/// `veim init` of Mexico's node in `home`, pinning the Secretariat's `key`
/// at `secretariat`, with `more` arguments.
fn init_mex(home: &Path, key: &str, secretariat: &str, more: &[&str]) -> Output {
    let home = home_arg(home);
    let mut args = vec!["init", "--home", &home, "--role", "national", "--state", "MEX"];
    args.extend(["--secretariat-key", key, "--secretariat-addr", secretariat]);
    args.extend(more);
    veim(&args)
}

/// Makes a Secretariat's home under `dir` (never started) and returns its key.
fn secretariat_key(dir: &Path) -> String {
    let sec = dir.join("sec");
    let init = veim(&["--json", "init", "--home", &home_arg(&sec), "--role", "secretariat"]);
    assert!(init.status.success(), "{}", text(&init));
    let report: serde_json::Value = serde_json::from_slice(&init.stdout).expect("json");
    report["identity_key"].as_str().expect("identity key").to_string()
}

#[test]
fn init_writes_owner_only_keys_and_prints_the_fingerprint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("sec");
    let out = veim(&["init", "--home", &home_arg(&home), "--role", "secretariat", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(printed.contains("fingerprint"), "{printed}");
    assert!(printed.contains("--secretariat-key"), "tells what to give national nodes: {printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["keys/identity.key", "keys/encryption.key", "keys/storage.key", "tokens/admin.token"] {
            let mode = std::fs::metadata(home.join(f)).expect(f).permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
    }
    // A second init in the same folder is refused and changes nothing.
    let key_before = std::fs::read(home.join("keys/identity.key")).expect("key");
    let again = veim(&["init", "--home", &home_arg(&home), "--role", "secretariat"]);
    assert_eq!(again.status.code(), Some(5));
    assert!(text(&again).contains("already"), "{}", text(&again));
    assert_eq!(std::fs::read(home.join("keys/identity.key")).expect("key"), key_before);

    // A national node needs the Secretariat's key and address.
    let national = dir.path().join("mex");
    let out = veim(&["init", "--home", &home_arg(&national), "--role", "national", "--state", "MEX"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out).contains("--secretariat-key"), "{}", text(&out));
    let out = veim(&["init", "--home", &home_arg(&national), "--role", "national", "--state", "MEXICO"]);
    assert!(text(&out).contains("ISO 3166-1"), "{}", text(&out));
}

#[test]
fn a_request_file_with_problems_is_refused_with_every_problem_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "summary = \"\"\nstates_involved = [\"SWE\", \"XYZ\"]\nstage = \"later\"\nprovisions = [\"12.1\"]\n[transfer]\ncategories = [\"spears\"]\n",
    )
    .expect("write");
    let out = veim(&["request", "check", "--file", &home_arg(&file)]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let printed = text(&out);
    for field in ["summary", "states_involved[1]", "stage", "provisions[0]", "transfer.categories[0]"] {
        assert!(printed.contains(&format!("- {field}:")), "{field} not listed in:\n{printed}");
    }
    // `send` checks the file the same way before it even looks for a node.
    let out = veim(&["--home", &home_arg(dir.path()), "request", "send", "--to", "SWE", "--file", &home_arg(&file)]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("nothing was sent"), "{}", text(&out));
    let good =
        veim(&["request", "check", "--file", concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/request.toml")]);
    assert!(good.status.success(), "{}", text(&good));
}

#[test]
fn commands_against_a_stopped_node_say_how_to_start_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("sec");
    assert!(veim(&["init", "--home", &home_arg(&home), "--role", "secretariat"]).status.success());
    let out = veim(&["--home", &home_arg(&home), "status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("veim node run --home"), "{}", text(&out));
}

#[test]
fn a_running_node_answers_the_cli_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("sec");
    let init = veim(&[
        "init",
        "--home",
        &home_arg(&home),
        "--role",
        "secretariat",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert!(init.status.success(), "{}", text(&init));
    let mut node = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_veim"))
            .args(["--home", &home_arg(&home), "node", "run"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start node"),
    );
    let start = Instant::now();
    while !home.join("runtime.json").exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "node did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = veim(&["--home", &home_arg(&home), "--json", "status"]);
    assert!(status.status.success(), "{}", text(&status));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(json["role"], "secretariat");
    assert_eq!(json["directory_version"], 0);
    let pending = veim(&["--home", &home_arg(&home), "directory", "pending"]);
    assert!(text(&pending).contains("No registration is waiting"), "{}", text(&pending));
    let approve = veim(&["--home", &home_arg(&home), "directory", "approve", "MEX", "--fingerprint", "0000 1111"]);
    assert_eq!(approve.status.code(), Some(5), "{}", text(&approve));
    assert!(text(&approve).contains("no registration from MEX"), "{}", text(&approve));
    let approvals = dir.path().join("approvals.txt");
    std::fs::write(&approvals, "# admitted at the conference\nMEX 0000 1111\n\nSWE\n").expect("write");
    let many = veim(&["--home", &home_arg(&home), "directory", "approve-many", &home_arg(&approvals)]);
    assert_eq!(many.status.code(), Some(4), "{}", text(&many));
    assert!(text(&many).contains("line 4: expected a State code and the fingerprint"), "{}", text(&many));
    std::fs::write(&approvals, "MEX 0000 1111\nSWE 2222 3333\n").expect("write");
    let many = veim(&["--home", &home_arg(&home), "directory", "approve-many", &home_arg(&approvals)]);
    assert_eq!(many.status.code(), Some(5), "{}", text(&many));
    assert!(text(&many).contains("no registration from MEX"), "{}", text(&many));

    // The public section can be written even from an empty directory, as a
    // page in each language.
    for (language, listed) in [("en", "0 States listed"), ("fr", "0 État inscrit.")] {
        let page = dir.path().join(format!("public-{language}.html"));
        let export = veim(&[
            "--home",
            &home_arg(&home),
            "directory",
            "export",
            "--public",
            "--format",
            "html",
            "--language",
            language,
            "--output",
            &home_arg(&page),
        ]);
        assert!(export.status.success(), "{}", text(&export));
        let html = std::fs::read_to_string(&page).expect("page written");
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains(listed), "{html}");
        assert!(html.contains(&format!("lang=\"{language}\"")), "{html}");
    }
    let log = veim(&["--home", &home_arg(&home), "--json", "directory", "log"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&log.stdout).expect("json"), serde_json::json!([]));

    // A wrong token is refused.
    std::fs::write(home.join("tokens/admin.token"), format!("{}\n", "00".repeat(32))).expect("token");
    let refused = veim(&["--home", &home_arg(&home), "status"]);
    assert!(text(&refused).contains("wrong bearer token"), "{}", text(&refused));

    let term = Command::new("kill").args(["-TERM", &node.0.id().to_string()]).status().expect("kill");
    assert!(term.success());
    let exit = node.0.wait().expect("wait");
    assert!(exit.success(), "graceful stop exits 0: {exit:?}");
    assert!(!home.join("runtime.json").exists(), "runtime.json removed on stop");

    // The audit log, read from the node's files after it stopped.
    let verify = veim(&["--home", &home_arg(&home), "audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("VERIFIED"), "{}", text(&verify));
    let verified = veim(&["--home", &home_arg(&home), "--json", "audit", "verify"]);
    let verified: serde_json::Value = serde_json::from_slice(&verified.stdout).expect("json");
    assert!(verified["entries"].as_u64().is_some_and(|n| n > 0), "{verified}");
    assert_eq!(verified["clock_went_back"], serde_json::json!([]), "no clock went back: {verified}");
    let shown = veim(&["--home", &home_arg(&home), "--json", "audit", "show", "--action", "admin-auth-failed"]);
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(entries.len(), 1, "the call with the wrong token: {entries:?}");
    assert_eq!(entries[0]["event"]["detail"], "wrong token");
    let all = veim(&["--home", &home_arg(&home), "--json", "audit", "show"]);
    let all: Vec<serde_json::Value> = serde_json::from_slice(&all.stdout).expect("json");
    let actions: Vec<&str> = all.iter().filter_map(|e| e["event"]["action"].as_str()).collect();
    for a in ["node-started", "configuration-changed", "keys-in-use", "admin-call", "node-stopped"] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
    let export = dir.path().join("audit.jsonl");
    let out = veim(&["--home", &home_arg(&home), "audit", "export", "--out", &home_arg(&export)]);
    assert!(out.status.success(), "{}", text(&out));
    let ok = veim(&["audit", "verify", "--export", &home_arg(&export)]);
    assert!(ok.status.success(), "{}", text(&ok));
    // The export edited by hand: the entry after the edit no longer follows it.
    let edited = std::fs::read_to_string(&export).expect("export").replacen("\"node-stopped\"", "\"node-started\"", 1);
    std::fs::write(&export, edited).expect("write");
    let bad = veim(&["audit", "verify", "--export", &home_arg(&export)]);
    assert_eq!(bad.status.code(), Some(9), "{}", text(&bad));
    assert!(text(&bad).contains("does NOT verify"), "{}", text(&bad));
    let missing = veim(&["--home", &home_arg(&home), "audit", "witness", "MEX"]);
    assert!(text(&missing).contains("holds no checkpoint of MEX"), "{}", text(&missing));
}

#[test]
fn the_demo_runs_every_step_and_its_disclosure_package_verifies_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = veim(&["demo", "--exit", "--out", &home_arg(dir.path())]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    for step in [
        "[1] Start the ATT Secretariat",
        "fingerprint",
        "directory version 3",
        "delivered, signed receipt verified",
        "DEU:   SWE shipment-examined under Art. 11.4",
        "DEU:   MEX investigation-opened under Art. 11.4",
        "closed",
        "without Sweden's consent, the node refuses",
        "does not cover",
        "VERIFIED",
        "the Secretariat's and MEX's signatures verified",
        "MEX registered María Fernanda López <att-poc@sre.example.mx> (es)",
    ] {
        assert!(printed.contains(step), "{step:?} missing from the demo's output:\n{printed}");
    }
    assert!(printed.contains("All 23 steps succeeded."), "{printed}");
    assert!(printed.contains("not yet approved by SWE") && printed.contains("registered as number 1"), "{printed}");
    // The joint report the demo registered, checked by the CLI with no node running.
    let report = std::fs::read_dir(dir.path())
        .expect("out dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "json") && p.display().to_string().contains("csp-report-"))
        .expect("the demo wrote the registered report");
    let ok = veim(&["report", "verify", &report.display().to_string()]);
    assert!(ok.status.success() && text(&ok).contains("number 1"), "{}", text(&ok));
    for lang in ["en", "fr", "es"] {
        assert!(report.with_extension(format!("{lang}.html")).exists(), "the page in {lang}");
    }

    // The package the demo exported, checked by the CLI with no node running.
    let package = std::fs::read_dir(dir.path())
        .expect("out dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json") && p.display().to_string().contains("disclosure-"))
        .expect("a disclosure package");
    assert!(package.with_extension("md").exists(), "a readable rendering next to it");
    let ok = veim(&["disclosure", "verify", &home_arg(&package)]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("VERIFIED"), "{}", text(&ok));
    let ok = veim(&["--json", "disclosure", "verify", &home_arg(&package)]);
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("json");
    assert_eq!(v["originator"], "SWE");
    assert_eq!(v["discloser"], "MEX");
    assert_eq!(v["items"], 1);

    // One byte changed in an item, in the consent, in an envelope: each named.
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&package).expect("read")).expect("json");
    let flip_hex = |s: &str, at: usize| {
        let mut b = s.as_bytes().to_vec();
        b[at] = if b[at] == b'0' { b'1' } else { b'0' };
        String::from_utf8(b).expect("hex")
    };
    let mut cases: Vec<(serde_json::Value, &str)> = Vec::new();
    let mut item = original.clone();
    let details = item["items"][0]["item"]["broker"]["details"].as_str().expect("broker details").to_string();
    item["items"][0]["item"]["broker"]["details"] = details.replacen('R', "P", 1).into();
    cases.push((item, "item 0"));
    let mut consent = original.clone();
    let c = consent["proofs"]["consent"].as_str().expect("consent").to_string();
    consent["proofs"]["consent"] = flip_hex(&c, c.len() - 10).into();
    cases.push((consent, "consent is not signed by the originator SWE"));
    let mut envelope = original.clone();
    let e = envelope["proofs"]["envelopes"][0].as_str().expect("envelope").to_string();
    envelope["proofs"]["envelopes"][0] = flip_hex(&e, e.len() / 2).into();
    cases.push((envelope, "envelope of message 0"));
    let mut handling = original.clone();
    handling["messages"][0]["handling"]["no_court_without_consent"] = false.into();
    cases.push((handling, "handling restrictions shown for message"));
    for (changed, expected) in cases {
        let path = dir.path().join("changed.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&changed).expect("json")).expect("write");
        let out = veim(&["disclosure", "verify", &home_arg(&path)]);
        assert_eq!(out.status.code(), Some(9), "{}", text(&out));
        assert!(text(&out).contains("does NOT verify"), "{}", text(&out));
        assert!(text(&out).contains(expected), "{expected:?} not named: {}", text(&out));
    }
}

#[test]
fn every_benchmark_runs_in_its_quick_form_and_writes_its_json() {
    // The smoke run of `veim bench all` (the full one, in a release build,
    // is what docs/BENCHMARKS.md reports): each scenario runs to its end on
    // real nodes and writes figures next to its baseline.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = veim(&["bench", "all", "--quick", "--out", &home_arg(dir.path())]);
    assert!(out.status.success(), "{}", text(&out));
    let read = |name: &str| -> serde_json::Value {
        let path = dir.path().join(format!("{name}.json"));
        serde_json::from_slice(&std::fs::read(&path).expect("written")).expect("json")
    };
    for name in ["crypto", "storage", "attachment", "audit"] {
        let figures = read(name)["figures"].as_array().cloned().unwrap_or_default();
        assert!(!figures.is_empty(), "{name} has figures");
        for f in figures {
            assert!(f["per_second"].as_f64().expect("figure") > 0.0, "{name}: {f}");
            assert!(f["baseline_per_second"].as_f64().expect("baseline") > 0.0, "{name}: {f}");
        }
    }
    assert_eq!(read("audit")["entries"], 50_000);
    // The recipient of the attachment ran in a process of its own.
    let attachment = read("attachment");
    let receiver = attachment["receiver_peak_rss_mib"].as_f64().expect("receiver's memory");
    assert!(
        receiver > 0.0 && receiver >= attachment["receiver_rss_before_mib"].as_f64().expect("before"),
        "{attachment}"
    );
    let exchange = read("exchange");
    assert_eq!(exchange["veim"].as_array().map(Vec::len), Some(4), "1 and 64 KiB, 1 and 64 in flight");
    let flushes = &exchange["veim"][1]["flushes_per_message"];
    assert!(flushes[0].as_f64().expect("sender") < 1.0, "64 in flight share their flushes: {flushes}");
    // The floor makes the durable writes a node makes: two at the sender,
    // one at the receiver, one at a time.
    assert_eq!(exchange["floor"].as_array().map(Vec::len), Some(4), "the floor of each figure");
    assert_eq!(exchange["floor"][0]["flushes_per_message"], serde_json::json!([2.0, 1.0]));
    let receiver = exchange["veim"][0]["flushes_per_message"][1].as_f64().expect("receiver");
    assert!(receiver < 1.5, "a receiver flushes once a message, one at a time: {receiver}");
    // Both ends write their messages through grouped transactions.
    for row in exchange["veim"].as_array().into_iter().flatten() {
        let writes = &row["writes_per_transaction"];
        let at_least_one = |i: usize| writes[i].as_f64().is_some_and(|w| w >= 1.0);
        assert!(at_least_one(0) && at_least_one(1), "{row}");
    }
    let network = read("network");
    let (veim_run, raw) = (&network["runs"][0][0], &network["runs"][0][1]);
    assert_eq!((veim_run["kind"].as_str(), veim_run["nodes"].as_u64()), (Some("veim"), Some(20)));
    assert_eq!(veim_run["deliveries"], 100, "each of 20 nodes receipted by five");
    assert!(veim_run["rss_per_node_mib"].as_f64().expect("memory") > 0.0);
    assert_eq!(raw["kind"], "libp2p");
    assert_eq!(network["floors"][0]["kind"], "floor");
    assert_eq!(raw["directory_bytes"], veim_run["directory_bytes"], "the baseline fetches as much as a node");
    // The joiner reaches the version that lists it, published after the 40
    // before (the first of which lists the three others), with one snapshot
    // where the whole chain takes two fetches of 32 versions at most.
    let joiner = read("joiner");
    assert_eq!(joiner["listed"], 3);
    assert!(joiner["versions_before"].as_u64().expect("versions") >= 40, "{joiner}");
    assert_eq!(joiner["current"].as_u64(), joiner["versions_before"].as_u64().map(|v| v + 1), "{joiner}");
    assert_eq!((joiner["fetches"].as_u64(), joiner["chain_fetches"].as_u64()), (Some(1), Some(2)), "{joiner}");
    assert!(joiner["floor_secs"].as_f64().expect("floor") > 0.0, "{joiner}");
    assert!(text(&out).contains("DEBUG BUILD"), "a debug build says so");
}

/// A Secretariat and the national nodes of MEX and SWE, both admitted, in
/// this process, under `root`.
async fn mex_and_swe(root: &Path) -> anyhow::Result<veim_tools::localnet::LocalNet> {
    let mut net = veim_tools::localnet::LocalNet::new(root).await?;
    for s in ["MEX", "SWE"] {
        net.add_national(s, &format!("{s} export control authority")).await?;
    }
    let mut version = 0;
    for s in ["MEX", "SWE"] {
        version = net.admit(s).await?.version;
    }
    net.wait_directory(version).await?;
    Ok(net)
}

/// Every string in a JSON document.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_states_control_and_bidi_characters_never_reach_the_terminal() -> anyhow::Result<()> {
    use veim_node::api::types::DeliveryState;
    use veim_node::api::{MessageView, NoteRequest, SendRequest};
    use veim_node::net::{InboundFrame, Limits};
    use veim_protocol::codec;
    use veim_protocol::wire::{NetRequest, NetResponse, Refusal, RefusalCode};
    use veim_tools::localnet::blocking;

    // What an honest node carries in a body: a carriage return that would
    // overwrite the line, and a right-to-left override that reverses text.
    const NOTE: &str = "Licence granted.\rLicence REVOKED: see \u{202E}fdp.exe";
    // What only a hostile node sends, in a refusal's detail: an escape
    // sequence that clears the operator's screen, with the other two.
    const DETAIL: &str = "\u{1b}[2Jdelivered\r\u{202E}devieceR";

    let dir = tempfile::tempdir()?;
    let mut net = mex_and_swe(dir.path()).await?;
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    let request: veim_protocol::RequestForm =
        toml::from_str(include_str!("../../deploy/examples/request.toml")).expect("example request");
    let sent: MessageView = blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request }))?;
    let exchange = sent.exchange_id.clone();
    let noted: MessageView = blocking(|| {
        swe.post(&format!("/v1/exchanges/{exchange}/note"), &NoteRequest { text: NOTE.into(), handling: None })
    })?;
    assert!(matches!(noted.deliveries[0].state, DeliveryState::Delivered { .. }), "{noted:?}");

    // SWE's node stops; a peer holding its key refuses MEX's next message.
    net.national_mut("SWE").stop().await;
    let keys = veim_node::home::keys::NodeKeys::load(&net.national("SWE").home)?;
    let (client, mut inbound, swarm) = veim_node::net::new(
        keys.libp2p_keypair(),
        &[net.national("SWE").address.parse()?],
        Limits::unbounded(),
        Default::default(),
    )?;
    let (stop, shutdown) = veim_node::shutdown::channel();
    let swarm = tokio::spawn(swarm.run(shutdown));
    let hostile = tokio::spawn(async move {
        while let Some(r) = inbound.recv().await {
            let answer = match &r.frame {
                InboundFrame::Bytes(b) => match codec::decode::<NetRequest, { codec::MAX_FRAME }>("request", b) {
                    Ok(NetRequest::Deliver(_)) => {
                        NetResponse::Refused(Refusal { code: RefusalCode::InvalidBody, detail: DETAIL.into() })
                    }
                    // MEX's audit checkpoints, sent to SWE's address.
                    _ => NetResponse::Acknowledged,
                },
                _ => NetResponse::Acknowledged,
            };
            let _ = client.respond(r.channel, codec::encode("response", &answer).expect("encode")).await;
        }
    });
    let refused: MessageView = blocking(|| {
        mex.post(
            &format!("/v1/exchanges/{exchange}/note"),
            &NoteRequest { text: "Please confirm.".into(), handling: None },
        )
    })?;
    assert!(matches!(refused.deliveries[0].state, DeliveryState::Refused { .. }), "{refused:?}");

    let home = home_arg(&net.national("MEX").home);
    for command in [&["exchange", "show", exchange.as_str()][..], &["inbox"][..]] {
        let human = blocking(|| veim(&[&["--home", home.as_str()][..], command].concat()));
        assert!(human.status.success(), "{}", text(&human));
        let printed = text(&human);
        for hidden in ['\r', '\u{202E}', '\u{1b}'] {
            assert!(!printed.contains(hidden), "{command:?} printed U+{:04X}:\n{printed:?}", hidden as u32);
        }
        assert!(printed.contains("Licence granted."), "{printed}");
    }
    let shown = text(&blocking(|| veim(&["--home", &home, "exchange", "show", &exchange])));
    assert!(shown.contains("REVOKED") && shown.contains("delivered"), "the text around them stays: {shown}");

    // --json gives the API's answer as it is, every character kept.
    let json = blocking(|| veim(&["--home", &home, "--json", "exchange", "show", &exchange]));
    assert!(json.status.success(), "{}", text(&json));
    let mut found = Vec::new();
    strings(&serde_json::from_slice(&json.stdout)?, &mut found);
    assert!(found.iter().any(|s| s == NOTE), "the note as SWE wrote it: {found:?}");
    assert!(found.iter().any(|s| s == DETAIL), "the refusal as the peer wrote it: {found:?}");

    stop.trigger();
    let _ = swarm.await;
    let _ = hostile.await;
    net.shutdown().await;
    Ok(())
}

#[test]
fn init_takes_addresses_by_dns_name_and_names_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = secretariat_key(dir.path());
    let national = |name: &str, secretariat: &str, listen: &str, announce: &str| {
        let home = dir.path().join(name);
        let out = init_mex(&home, &key, secretariat, &["--listen", listen, "--announce", announce]);
        (out.status.code(), text(&out), home.exists())
    };
    let (code, said, _) = national(
        "by-name",
        "/dns4/directory.example.org/tcp/7040",
        "/ip4/0.0.0.0/tcp/7040",
        "/dns6/veim.example.gov/tcp/7040",
    );
    assert_eq!(code, Some(0), "{said}");
    for (secretariat, listen, announce, expected) in [
        ("/dns4/directory example.org/tcp/7040", "/ip4/0.0.0.0/tcp/7040", "/ip4/192.0.2.7/tcp/7040", "not a DNS name"),
        ("/dns4/directory.example.org", "/ip4/0.0.0.0/tcp/7040", "/ip4/192.0.2.7/tcp/7040", "/tcp/<port>"),
        (
            "/dns4/directory.example.org/tcp/7040",
            "/dns4/veim.example.gov/tcp/7040",
            "/ip4/192.0.2.7/tcp/7040",
            "listen on an IP address",
        ),
        ("/dns4/directory.example.org/tcp/7040", "/ip4/0.0.0.0/tcp/7040", "/ip4/192.0.2.7/udp/7040", "/tcp/<port>"),
    ] {
        let (code, said, made) = national("refused", secretariat, listen, announce);
        assert_eq!(code, Some(4), "invalid input: {said}");
        assert!(said.contains(expected), "{secretariat} {listen} {announce}: {said}");
        assert!(!made, "a refused init leaves no folder behind");
    }
}

#[test]
fn status_exits_6_and_says_why_when_the_node_is_unhealthy() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A Secretariat that never runs: its key is pinned, its address answers nothing.
    let key = secretariat_key(dir.path());
    let home = dir.path().join("mex");
    let init = init_mex(
        &home,
        &key,
        "/ip4/127.0.0.1/tcp/9",
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--admin", "127.0.0.1:0", "--poll-secs", "1"],
    );
    assert!(init.status.success(), "{}", text(&init));
    let node = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_veim"))
            .args(["--home", &home_arg(&home), "node", "run"])
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start node"),
    );
    // Once a round with the Secretariat has failed: exit 6, and why in words.
    let start = Instant::now();
    let out = loop {
        let out = veim(&["--home", &home_arg(&home), "status"]);
        if out.status.code() == Some(6) && text(&out).contains("the last directory sync failed") {
            break out;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "status never said unhealthy: {}", text(&out));
        std::thread::sleep(Duration::from_millis(200));
    };
    let said = text(&out);
    assert!(said.contains("the node is running but not healthy"), "{said}");
    assert!(said.contains("directory: no directory version held"), "{said}");
    assert!(said.contains("directory    FAILED"), "the checks are listed: {said}");
    // `--json` prints the status, readiness included, and exits 6 too.
    let out = veim(&["--home", &home_arg(&home), "--json", "status"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["readiness"]["ready"], false);
    assert_eq!(json["readiness"]["checks"][2]["check"], "directory");
    // Not ready is not down: the liveness probe of a container says up...
    let out = veim(&["--home", &home_arg(&home), "health"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "up\n");
    // ...until the process is gone.
    drop(node);
    let out = veim(&["--home", &home_arg(&home), "health"]);
    assert_eq!(out.status.code(), Some(3), "a stopped node: {}", text(&out));
}

/// Runs `veim` in `home` with `args`; asserts its exit code, and that only
/// a failed connection ever asks whether the node is running.
fn exits(home: &Path, args: &[&str], code: i32) -> String {
    let out = veim(&[&["--home", &home_arg(home)][..], args].concat());
    let said = text(&out);
    assert_eq!(out.status.code(), Some(code), "veim {args:?} exited {:?}:\n{said}", out.status.code());
    assert!(!said.contains("panicked"), "veim {args:?}: {said}");
    if code != 3 {
        assert!(!said.contains("still running"), "a node that answered is not said to be down: {args:?}: {said}");
    }
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_command_exits_with_the_documented_code_of_each_failure() -> anyhow::Result<()> {
    use veim_node::api::{MessageView, SendRequest};
    use veim_tools::client::Outcome;
    use veim_tools::localnet::blocking;
    let (failed, invalid, refused, wrong_role, unauthorized) = (1, 4, 5, 7, 8);
    // The codes are those the README documents.
    let readme = include_str!("../../README.md");
    for outcome in Outcome::ALL {
        assert!(readme.contains(&format!("| {} |", outcome.code())), "README documents exit code {}", outcome.code());
    }

    let dir = tempfile::tempdir()?;
    let mut net = mex_and_swe(dir.path()).await?;
    let request: veim_protocol::RequestForm =
        toml::from_str(include_str!("../../deploy/examples/request.toml")).expect("example request");
    let mex_api = net.national("MEX").api()?;
    let sent: MessageView =
        blocking(|| mex_api.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request }))?;
    let exchange = sent.exchange_id.clone();
    let response_form: veim_protocol::ResponseForm =
        toml::from_str(include_str!("../../deploy/examples/response.toml")).expect("example response");
    let swe_api = net.national("SWE").api()?;
    let answer: MessageView = blocking(|| {
        swe_api.post(
            &format!("/v1/exchanges/{exchange}/respond"),
            &veim_node::api::RespondRequest { response: response_form },
        )
    })?;
    assert!(matches!(answer.deliveries[0].state, veim_node::api::types::DeliveryState::Delivered { .. }));
    let (sec, mex, swe) =
        (net.secretariat.home.clone(), net.national("MEX").home.clone(), net.national("SWE").home.clone());
    let files = dir.path();
    let bad_toml = files.join("bad.toml");
    std::fs::write(&bad_toml, "summary = \"\"\nstage = \"later\"\n")?;
    let bad_lines = files.join("approvals.txt");
    std::fs::write(&bad_lines, "MEX\n")?;
    let response = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/response.toml");
    let request_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/request.toml");
    let report_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/report.toml");
    let notice_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/meeting-notice.toml");
    let recommendations_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/recommendations.toml");
    let out = home_arg(&files.join("out.json"));
    let nowhere = home_arg(&files.join("no/such/folder/out.json"));

    blocking(|| {
        // A Secretariat command on a national node, and the other way round.
        for args in [
            &["directory", "pending"][..],
            &["directory", "approve", "SWE", "--fingerprint", "0000"],
            &["directory", "approve-many", &home_arg(&bad_lines)],
            &["directory", "reject", "SWE", "--fingerprint", "0000", "--reason", "r"],
            &["directory", "suspend", "SWE"],
            &["directory", "reinstate", "SWE"],
            &["directory", "withdraw", "SWE"],
            &["contacts", "pending"],
            &["contacts", "accept", "SWE"],
            &["contacts", "reject", "SWE", "--reason", "r"],
            &["reports", "pending"],
            &["reports", "circulate", "0000"],
            &["reports", "refuse", "0000", "--reason", "r"],
            &["meeting", "notice", "--file", notice_file],
            &["meeting", "registrations"],
            &["meeting", "export", "--format", "json"],
            &["meeting", "recommendations", "--file", recommendations_file],
        ] {
            // approve-many checks its file first: a bad file is invalid anywhere.
            let code = if args[1] == "approve-many" { invalid } else { wrong_role };
            exits(&mex, args, code);
        }
        let said = exits(&mex, &["directory", "pending"], wrong_role);
        assert!(said.contains("Secretariat command"), "{said}");
        for args in [
            &["directory", "sync"][..],
            &["contacts", "show"],
            &["request", "send", "--to", "SWE", "--file", request_file],
            &["consent", "list"],
            &["consent", "grant", "000000"],
            &["disclosure", "list"],
            &["reciprocity"],
            &["purge"],
            &["attachment", "list"],
            &["outbox", "retry", "000000"],
            &["respond", "000000", "--file", response],
            &["note", "000000", "text"],
            &["close", "000000"],
            &["reports", "submit", report_file],
            &["reports", "sync"],
            &["meeting", "register", "--contact", "att-poc@sre.example.mx"],
        ] {
            exits(&sec, args, wrong_role);
        }

        // Inputs with problems: nothing is done.
        for args in [
            &["directory", "approve-many", &home_arg(&bad_lines)][..],
            &["directory", "approve", "XXX", "--fingerprint", "0000"],
            &["directory", "show", "XXX"],
            &["directory", "search", "--state", "XXX"],
            &["contacts", "submit", "--file", &home_arg(&bad_toml)],
            &["reports", "submit", &home_arg(&bad_toml)],
            &["meeting", "register", "--contact", "att-poc@sre.example.mx:de"],
            &["request", "check", "--file", &home_arg(&bad_toml)],
            &["request", "send", "--to", "SWE", "--file", &home_arg(&bad_toml)],
            &["request", "send", "--to", "XXX", "--file", request_file],
            &["respond", &exchange, "--file", &home_arg(&bad_toml)],
            &["outbox", "retry", "abc"],
            &["outbox", "cancel", "abc"],
            &["exchange", "show", "zz"],
            &["consent", "grant", "000000", "--expires", "tomorrow"],
            &["disclose", &exchange, "--item", "x#1", "--authority-kind", "oracle", "--authority", "A"],
            &["audit", "witness", "XXX"],
        ] {
            exits(
                if args[0] == "directory" && args[1] != "show" && args[1] != "search" { &sec } else { &mex },
                args,
                invalid,
            );
        }

        // Refused by the node: unknown ids, no consent, not in the directory.
        for args in [
            &["directory", "approve", "DEU", "--fingerprint", "0000"][..],
            &["directory", "reject", "DEU", "--fingerprint", "0000", "--reason", "r"],
            &["directory", "reinstate", "MEX"],
            &["contacts", "accept", "DEU"],
            &["reports", "circulate", "0000"],
            &["reports", "refuse", "0000", "--reason", "r"],
            &["meeting", "registrations"],
        ] {
            exits(&sec, args, refused);
        }
        for args in [
            &["directory", "show", "DEU"][..],
            &["contacts", "show"],
            &["outbox", "retry", "000000"],
            &["outbox", "cancel", "000000"],
            &["exchange", "show", "000000"],
            &["respond", "000000", "--file", response],
            &["note", "000000", "text"],
            &["close", "000000"],
            &[
                "consent",
                "ask",
                "000000",
                "--item",
                "x#1",
                "--authority-kind",
                "court",
                "--authority",
                "A",
                "--purpose",
                "p",
                "--case",
                "c",
            ],
            &["consent", "grant", "000000"],
            &["consent", "refuse", "000000", "--reason", "r"],
            &["consent", "revoke", "000000", "--reason", "r"],
            &["attachment", "save", &"00".repeat(32), "--out", &out],
            &["audit", "witness", "DEU"],
            &["mail", "test"],
        ] {
            exits(&mex, args, refused);
        }
        // No [mail]: the test mail says what to add.
        let said = exits(&mex, &["mail", "test", "--to", "desk@example.org"], refused);
        assert!(said.contains("no [mail] section") && said.contains("E-mail notifications"), "{said}");
        assert!(exits(&mex, &["mail", "queue"], 0).contains("No mail waiting."));
        assert_eq!(exits(&mex, &["--json", "mail", "queue"], 0).trim(), "[]");
        // MEX received SWE's answer; disclosing it without SWE's consent is refused (HTTP 403).
        let item = format!("{}#0", &answer.message_id[..veim_protocol::MessageId::SHORT_HEX]);
        let said = exits(
            &mex,
            &[
                "disclose",
                &exchange,
                "--item",
                &item,
                "--authority-kind",
                "court",
                "--authority",
                "A court",
                "--purpose",
                "p",
                "--case",
                "c",
            ],
            refused,
        );
        assert!(said.contains("consent"), "{said}");
        // An existing file is never replaced without --force: refused before the node is asked.
        std::fs::write(&out, "kept").expect("write");
        let approve = |force: &[&str]| {
            let mut args = vec!["disclosure", "approve", "00000000", "--out", &out];
            args.extend(force);
            exits(&mex, &args, refused)
        };
        let said = approve(&[]);
        assert!(said.contains("exists; nothing was disclosed") && said.contains("--force"), "{said}");
        let said = approve(&["--force"]);
        assert!(said.contains("no disclosure request"), "with --force the node is asked: {said}");
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "kept");

        // Failures on this machine.
        exits(&mex, &["directory", "export", "--public", "--format", "json", "--out", &nowhere], failed);

        // A wrong token: not authorized, and the node is not said to be down.
        let token = std::fs::read(mex.join("tokens/admin.token")).expect("token");
        std::fs::write(mex.join("tokens/admin.token"), format!("{}\n", "00".repeat(32))).expect("token");
        let said = exits(&mex, &["inbox"], unauthorized);
        assert!(said.contains("bearer token"), "{said}");
        std::fs::write(mex.join("tokens/admin.token"), token).expect("token");
        exits(&mex, &["inbox"], 0);

        // A reader that stops reading (`veim … --json | head -c1`): a quiet exit 0.
        for args in
            [&["--json", "inbox"][..], &["inbox"], &["--json", "status"], &["exchange", "show", &exchange], &["--help"]]
        {
            let mut child = Command::new(env!("CARGO_BIN_EXE_veim"))
                .args([&["--home", &home_arg(&mex)][..], args].concat())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run veim");
            drop(child.stdout.take());
            let done = child.wait_with_output().expect("wait");
            let said = String::from_utf8_lossy(&done.stderr);
            assert_eq!(done.status.code(), Some(0), "veim {args:?} on a closed pipe: {said}");
            assert!(said.is_empty(), "veim {args:?} on a closed pipe said: {said}");
        }
    });

    // A node that is gone: the only failure said to be a connection failure.
    net.national_mut("SWE").stop().await;
    let runtime = serde_json::json!({"pid": std::process::id(), "peer_id": "x", "admin": "127.0.0.1:9", "listen": []});
    std::fs::write(swe.join("runtime.json"), runtime.to_string())?;
    let said = blocking(|| exits(&swe, &["inbox"], 3));
    assert!(said.contains("Is the node still running?"), "{said}");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listings_page_through_every_message_and_filter_them() -> anyhow::Result<()> {
    use veim_node::api::{MessageView, NoteRequest, SendRequest};
    use veim_tools::localnet::blocking;

    let dir = tempfile::tempdir()?;
    let net = mex_and_swe(dir.path()).await?;
    let mex_api = net.national("MEX").api()?;
    let request = || -> veim_protocol::RequestForm {
        toml::from_str(include_str!("../../deploy/examples/request.toml")).expect("example request")
    };
    // One exchange of a request and 29 notes, then a second exchange: 31 messages.
    let first: MessageView =
        blocking(|| mex_api.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: request() }))?;
    let mut sent = vec![first.message_id.clone()];
    for i in 0..29 {
        let note = NoteRequest { text: format!("note {i}"), handling: None };
        let m: MessageView = blocking(|| mex_api.post(&format!("/v1/exchanges/{}/note", first.exchange_id), &note))?;
        sent.push(m.message_id);
    }
    let second: MessageView =
        blocking(|| mex_api.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: request() }))?;
    sent.push(second.message_id.clone());
    let (mex, swe) = (net.national("MEX").home.clone(), net.national("SWE").home.clone());
    let sec = net.secretariat.home.clone();

    blocking(|| {
        let json = |home: &Path, args: &[&str]| -> Vec<serde_json::Value> {
            let out = veim(&[&["--home", &home_arg(home), "--json"][..], args].concat());
            assert!(out.status.success(), "{args:?}: {}", text(&out));
            serde_json::from_slice(&out.stdout).expect("json")
        };
        let ids = |list: &[serde_json::Value]| -> Vec<String> {
            list.iter().map(|m| m["message_id"].as_str().expect("id").to_string()).collect()
        };
        // `status --json`: where the node stands, typed for scripts.
        let out = veim(&["--home", &home_arg(&swe), "--json", "status"]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let standing = &status["registration_standing"];
        assert_eq!(standing["state"], "active", "{status}");
        assert!(standing["version"].as_u64().is_some_and(|v| v >= 2) && standing["at"].is_i64(), "{status}");

        // Pages of 7: five pages, each message once, in the order sent.
        let mut paged = Vec::new();
        for page in 1..=5 {
            let list = json(&swe, &["inbox", "--limit", "7", "--page", &page.to_string()]);
            assert_eq!(list.len(), if page < 5 { 7 } else { 3 }, "page {page}");
            paged.extend(ids(&list));
        }
        assert_eq!(paged, sent, "every message once, oldest first");
        assert!(json(&swe, &["inbox", "--limit", "7", "--page", "6"]).is_empty());
        assert_eq!(ids(&json(&swe, &["inbox", "--limit", "7", "--all"])), sent);
        // Text says where it is and where the next page is.
        let said = text(&veim(&["--home", &home_arg(&swe), "inbox", "--limit", "7", "--page", "2"]));
        assert!(said.contains("messages 8–14 of 31; the next: --page 3"), "{said}");
        let said = text(&veim(&["--home", &home_arg(&swe), "inbox", "--limit", "7", "--page", "9"]));
        assert!(said.contains("Page 9 is past the end: 31 messages in 5 page(s)"), "{said}");

        // Filters: kind, exchange, delivery state, dates.
        let requests = json(&swe, &["inbox", "--kind", "request"]);
        assert_eq!(ids(&requests), [sent[0].clone(), sent[30].clone()]);
        let second_only = json(&swe, &["inbox", "--exchange", &second.exchange_id[..8]]);
        assert_eq!(ids(&second_only), [sent[30].clone()]);
        let notes = json(&mex, &["outbox", "--kind", "note", "--state", "delivered", "--limit", "1000"]);
        assert_eq!(notes.len(), 29);
        assert!(json(&mex, &["outbox", "--state", "queued"]).is_empty());
        assert!(json(&swe, &["inbox", "--since", "2999-01-01"]).is_empty());
        assert_eq!(json(&swe, &["inbox", "--until", "2999-01-01", "--limit", "1000"]).len(), 31);
        assert_eq!(json(&swe, &["exchange", "list", "--state", "open", "--limit", "1"]).len(), 1);
        assert_eq!(json(&swe, &["exchange", "list", "--state", "open"]).len(), 2);
        assert!(json(&swe, &["exchange", "list", "--state", "closed"]).is_empty());
        let only = json(&swe, &["exchange", "list", "--exchange", &second.exchange_id[..8]]);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0]["exchange_id"], second.exchange_id);

        // The listings without filters page too. The Secretariat holds every
        // version; a national node holds the directory from the first
        // version it fetched on (a snapshot of the current one): each holds
        // the last, and the versions before it back to its first fetch (SWE's
        // may fall before or after its admission, MEX's before or after SWE's).
        assert_eq!(json(&sec, &["directory", "log", "--limit", "1"]).len(), 1);
        let versions = json(&sec, &["directory", "log", "--all"]).len();
        assert!(versions >= 2, "{versions}");
        for node in [&swe, &mex] {
            let held: Vec<u64> = json(node, &["directory", "log", "--all"])
                .iter()
                .map(|v| v["version"].as_u64().expect("a version number"))
                .collect();
            assert!((1..=versions).contains(&held.len()), "{held:?} of {versions}");
            assert!(held.contains(&(versions as u64)), "the last version, which admitted SWE: {held:?}");
        }
        let said = text(&veim(&["--home", &home_arg(&sec), "directory", "log", "--limit", "1"]));
        assert!(said.contains(&format!("directory versions 1–1 of {versions}; the next: --page 2")), "{said}");
        for list in [&["consent", "list"][..], &["disclosure", "list"], &["attachment", "list"]] {
            assert!(json(&swe, &[list, &["--limit", "5"]].concat()).is_empty(), "{list:?}");
        }

        // A filter or page the node cannot read is invalid input, named.
        for (args, named) in [
            (&["inbox", "--kind", "spears"][..], "use one of request, response"),
            (&["inbox", "--state", "delivered"], "it filters the outbox"),
            (&["outbox", "--state", "lost"], "queued, attempting, delivered"),
            (&["inbox", "--limit", "5000"], "1 to 1000"),
            (&["inbox", "--page", "0"], "counted from 1"),
            (&["exchange", "list", "--state", "later"], "open, answered or closed"),
            (&["inbox", "--exchange", "xyz"], "not an exchange id"),
        ] {
            let said = exits(&swe, args, 4);
            assert!(said.contains(named), "{args:?}: {said}");
        }
    });
    net.shutdown().await;
    Ok(())
}

#[test]
fn config_check_names_each_bad_field_and_what_is_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("sec");
    assert!(veim(&["init", "--home", &home_arg(&home), "--role", "secretariat"]).status.success());
    let ok = veim(&["--home", &home_arg(&home), "config", "check"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("is a valid configuration"), "{}", text(&ok));

    let config = std::fs::read_to_string(home.join("config.toml")).expect("config");
    let bad = config
        .replace("replay_window_secs = 3600", "replay_window_secs = 5")
        .replace("handshake_timeout_secs = 5", "handshake_timeout_secs = 0");
    assert_ne!(bad, config, "the fields are in the file");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, bad).expect("write");
    let out = veim(&["config", "check", "--file", &home_arg(&file)]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("2 problem(s)"), "{said}");
    assert!(said.contains("- replay_window_secs: is 5; allowed: 60 to 86400 seconds"), "{said}");
    assert!(said.contains("- handshake_timeout_secs: is 0; allowed: 1 to 3600 seconds"), "{said}");
    let json = veim(&["--json", "config", "check", "--file", &home_arg(&file)]);
    assert_eq!(json.status.code(), Some(4));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"][0]["field"], "replay_window_secs");

    std::fs::write(&file, format!("{config}\nretry_delay = 3\n")).expect("write");
    let out = veim(&["config", "check", "--file", &home_arg(&file)]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("unknown field `retry_delay`"), "{}", text(&out));
}

#[test]
fn completions_and_manual_pages_are_generated_from_the_command_line() {
    for (shell, mark) in [("bash", "_veim()"), ("zsh", "#compdef veim"), ("fish", "complete -c veim")] {
        let out = veim(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(mark), "{shell}: {script}");
        assert!(script.contains("approve-many") && script.contains("secretariat-key"), "{shell}: every command");
    }
    let page = veim(&["man"]);
    assert!(page.status.success(), "{}", text(&page));
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(page.contains(".TH veim 1") && page.contains("Exit codes"), "{page}");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = veim(&["man", "--out", &home_arg(dir.path())]);
    assert!(out.status.success(), "{}", text(&out));
    let approve = std::fs::read_to_string(dir.path().join("veim-directory-approve.1")).expect("a page per command");
    assert!(approve.contains("fingerprint") && approve.contains("Example"), "{approve}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_node_serves_an_openapi_description_of_every_route_it_answers() -> anyhow::Result<()> {
    use veim_tools::localnet::{LocalNet, blocking};
    let dir = tempfile::tempdir()?;
    let mut net = LocalNet::new(dir.path()).await?;
    net.add_national("MEX", "MEX export control authority").await?;
    let api = net.national("MEX").api()?;
    let description: serde_json::Value = blocking(|| api.get(veim_node::api::OPENAPI_PATH))?;
    assert!(description["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{description}");
    let paths = description["paths"].as_object().expect("paths");
    // The description is the router's: the same as the code builds.
    assert_eq!(description, serde_json::to_value(veim_node::api::openapi())?);

    // Every route the CLI and the docs use is described...
    for (method, path) in [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/v1/status"),
        ("post", "/v1/directory/approve-many"),
        ("get", "/v1/contacts"),
        ("post", "/v1/contacts"),
        ("get", "/v1/inbox"),
        ("post", "/v1/outbox/{id}/cancel"),
        ("post", "/v1/exchanges/{id}/attach"),
        ("post", "/v1/disclosures"),
        ("post", "/v1/purge"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} not described");
    }
    let inbox = &paths["/v1/inbox"]["get"]["parameters"];
    let names: Vec<&str> = inbox.as_array().expect("parameters").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["limit", "page", "state", "kind", "since", "until", "exchange"]);

    // ...and every described route is served: the node answers it itself
    // (its own JSON error at worst), never the router's bare 404 or 405.
    let port = {
        let runtime: serde_json::Value =
            serde_json::from_slice(&std::fs::read(net.national("MEX").home.join("runtime.json"))?)?;
        runtime["admin"].as_str().expect("admin").to_string()
    };
    let token = std::fs::read_to_string(net.national("MEX").home.join("tokens/admin.token"))?.trim().to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut probed = 0;
    for (path, methods) in paths {
        let url = format!("http://{port}{}", path.replace("{id}", "00000000"));
        for method in methods.as_object().expect("methods").keys() {
            if path == "/v1/keys/rotate" || path == "/v1/purge" {
                continue; // they act at once; their routes are checked by their own tests
            }
            let response = blocking(|| match method.as_str() {
                "get" => agent.get(&url).header("Authorization", format!("Bearer {token}")).call(),
                _ => {
                    agent.post(&url).header("Authorization", format!("Bearer {token}")).send_json(serde_json::json!({}))
                }
            })?;
            let status = response.status().as_u16();
            let body = response.into_body().read_to_string().unwrap_or_default();
            assert!(
                !(status == 405 || (status == 404 && !body.contains("\"error\""))),
                "{method} {path}: the router does not serve it ({status} {body})"
            );
            probed += 1;
        }
    }
    assert!(probed >= 38, "probed {probed}");
    net.shutdown().await;
    Ok(())
}

#[test]
fn progress_commands_name_a_bad_value_before_looking_for_a_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = home_arg(dir.path());
    let measure = |provision: &str, kind: &str, date: &str| {
        veim(&["--home", &home, "measure", "add", "3f2a9c01", "--provision", provision, "--kind", kind, "--date", date])
    };
    let out = measure("12.1", "shipment-examined", "2026-11-30");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("use one of 11.1, 11.2, 11.3, 11.4, 11.5, 11.6, 13.2"), "{}", text(&out));
    assert!(text(&out).contains("nothing was sent"), "{}", text(&out));
    let out = measure("11.5", "shipment-examined", "2026-11-30");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("record it under 11.4"), "{}", text(&out));
    let out = measure("11.4", "shipment-examined", "30/11/2026");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("write YYYY-MM-DD"), "{}", text(&out));
    for (args, said) in [
        (vec!["stage", "3f2a9c01", "closing"], "is not a stage"),
        (vec!["respond-by", "3f2a9c01", "soon"], "is not a date"),
        (vec!["close", "3f2a9c01", "--outcome", "done"], "is not an outcome"),
        (vec!["track", "--figures", "--from", "2026-13-01"], "is not a date"),
    ] {
        let out = veim(&[&["--home", home.as_str()], args.as_slice()].concat());
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(said), "{args:?}: {}", text(&out));
    }
    // Good values go on to the node, which is not running here.
    let out = measure("11.4", "shipment-examined", "2026-11-30");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));

    let kinds = veim(&["--json", "measure", "kinds"]);
    assert!(kinds.status.success(), "{}", text(&kinds));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&kinds.stdout).expect("json");
    assert_eq!(rows.len(), 18);
    let examined = rows.iter().find(|r| r["kind"] == "shipment-examined").expect("shipment-examined");
    assert_eq!(examined["provisions"], serde_json::json!(["11.4"]));
}

/// A joint report of MEX and SWE, registered, as its file: signed with keys
/// made here. `change` alters the report before the signatures.
fn report_file(
    change: impl FnOnce(&mut veim_protocol::report::CspReport),
) -> (veim_protocol::report::ReportFile, String) {
    use veim_protocol::IdentityKeypair;
    use veim_protocol::report::*;
    let (mex, swe, sec) = (
        IdentityKeypair::from_secret_bytes(&[1; 32]),
        IdentityKeypair::from_secret_bytes(&[2; 32]),
        IdentityKeypair::from_secret_bytes(&[3; 32]),
    );
    let state = |s: &str| -> veim_protocol::StateCode { s.parse().expect("state") };
    let mut id = [7u8; 16];
    id[..3].copy_from_slice(b"MEX");
    let mut report = CspReport {
        report_id: veim_protocol::ids::ReportId(id),
        revision: 1,
        drafter: state("MEX"),
        authors: vec![state("MEX"), state("SWE")],
        period: "2026-01-01..2026-12-31".parse().expect("period"),
        language: Language::Es,
        title: "Informe conjunto <b>México</b> & Suecia".into(),
        figures: Figures {
            exchanges: 2,
            by_provision: [("11.4".to_string(), 2)].into(),
            by_stage: [("diversion-detected".to_string(), 1), ("risk-analysis".to_string(), 1)].into(),
            by_outcome: [("diversion-prevented".to_string(), 1)].into(),
            answered: 2,
            response_days_median: Some(3),
            response_days_max: Some(5),
        },
        counterparts: [(state("SWE"), 2)].into(),
        sections: vec![Section {
            heading: "Resumen".into(),
            text: "<script>alert('x')</script> Dos intercambios.".into(),
        }],
        drafted_at: 1_767_225_600,
    };
    change(&mut report);
    let approvals = vec![
        Approval::sign(&report, state("MEX"), &mex).expect("sign"),
        Approval::sign(&report, state("SWE"), &swe).expect("sign"),
    ];
    let keys = vec![(state("MEX"), mex.public()), (state("SWE"), swe.public())];
    let registration = ReportRegistration {
        report_id: report.report_id,
        draft_hash: report.draft_hash().expect("hash"),
        keys: keys.clone(),
        directory_version: 3,
        number: 4,
        registered_at: 1_767_300_000,
    };
    let registration = SignedReportRegistration::sign(registration, &sec).expect("sign");
    let signed = SignedCspReport { draft: report, approvals };
    let file = ReportFile::new(&signed, keys, Some((registration, sec.public()))).expect("file");
    (file, sec.public().to_string())
}

#[test]
fn report_verify_names_each_fault_and_report_html_prints_every_language() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, file: &veim_protocol::report::ReportFile| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(file).expect("json")).expect("write");
        path.display().to_string()
    };
    let (good, sec_key) = report_file(|_| {});
    let good_path = write("good.json", &good);
    let out = veim(&["report", "verify", &good_path, "--secretariat-key", &sec_key]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("VERIFIED") && text(&out).contains("number 4"), "{}", text(&out));

    // Each fault, named, exit 9.
    let mut changed = good.clone();
    changed.report.figures.exchanges = 3;
    let mut forged = good.clone();
    forged.approvals[1].signature[0] ^= 1;
    let mut missing = good.clone();
    missing.approvals.pop();
    let (mut named, _) = report_file(|r| {
        r.counterparts.insert("NGA".parse().expect("state"), 1);
    });
    named.approvals.retain(|a| a.signer.as_str() != "NGA");
    for (name, file, says) in [
        ("changed", &changed, "draft was changed"),
        ("forged", &forged, "approval of SWE is forged"),
        ("missing", &missing, "names SWE, which did not sign it"),
        ("named", &named, "names NGA, which did not sign it"),
    ] {
        let path = write(&format!("{name}.json"), file);
        let out = veim(&["report", "verify", &path]);
        assert_eq!(out.status.code(), Some(9), "{name}: {}", text(&out));
        assert!(text(&out).contains(says), "{name}: {}", text(&out));
        let page = dir.path().join(format!("{name}.html"));
        let out = veim(&["report", "html", &path, "--lang", "fr", "--out", &page.display().to_string()]);
        assert_eq!(out.status.code(), Some(9), "no page of a report that does not verify: {}", text(&out));
        assert!(!page.exists());
    }
    let out = veim(&["report", "verify", &good_path, "--secretariat-key", &"00".repeat(32)]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));

    // The page in each language: its own labels, no other language's, the
    // report's text escaped, nothing fetched from elsewhere, no script.
    let headings = [
        ("en", "Exchanges of information carried out", "Registered by the Secretariat as number 4 on 2026-01-01"),
        ("fr", "Échanges d&#39;informations effectués", "Enregistré par le Secrétariat sous le numéro 4 le 2026-01-01"),
        ("es", "Intercambios de información realizados", "Registrado por la Secretaría con el número 4 el 2026-01-01"),
    ];
    for (lang, heading, registered) in headings {
        let page = dir.path().join(format!("{lang}.html"));
        let out = veim(&["report", "html", &good_path, "--lang", lang, "--out", &page.display().to_string()]);
        assert!(out.status.success(), "{lang}: {}", text(&out));
        let html = std::fs::read_to_string(&page).expect("page");
        assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{lang}");
        assert!(html.contains(heading) && html.contains(registered), "{lang}: {html}");
        for (other, other_heading, _) in headings {
            if other != lang {
                assert!(!html.contains(other_heading), "{lang} page holds the {other} label {other_heading}");
            }
        }
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), "{lang}: the text is escaped");
        assert!(html.contains("Informe conjunto &lt;b&gt;México&lt;/b&gt; &amp; Suecia"), "{lang}");
        assert_eq!(html.matches("<script").count(), 0, "{lang}: no script");
        for external in ["http:", "https:", "src=", "url(", "@import", "<link"] {
            assert!(!html.contains(external), "{lang}: {external}");
        }
        assert!(html.contains("@media print"), "{lang}: print-ready");
    }
    let out = veim(&[
        "report",
        "html",
        &good_path,
        "--lang",
        "de",
        "--out",
        &dir.path().join("de.html").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_joint_report_is_drafted_edited_approved_and_submitted_from_the_command_line() -> anyhow::Result<()> {
    use veim_tools::localnet::blocking;
    let dir = tempfile::tempdir()?;
    let net = mex_and_swe(dir.path()).await?;
    let mex = home_arg(&net.national("MEX").home);
    let swe = home_arg(&net.national("SWE").home);
    let run = |home: &str, args: &[&str]| {
        let mut all = vec!["--home", home, "report"];
        all.extend(args);
        blocking(|| veim(&all))
    };
    let draft = dir.path().join("draft.json").display().to_string();
    let out = run(&mex, &["--with", "SWE"]);
    assert_eq!(out.status.code(), Some(2), "a subcommand is needed: {}", text(&out));
    let out = run(&mex, &["draft", "--period", "2026-12-31..2026-01-01", "--with", "SWE"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("before the start"), "{}", text(&out));
    let out = run(&mex, &["draft", "--period", "2000-01-01..2099-12-31", "--with", "SWE", "--out", &draft]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("sent to SWE") && text(&out).contains("outcomes {}"), "{}", text(&out));
    let mut report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&draft)?)?;
    let id = report["report_id"].as_str().expect("id").to_string();

    // Not before SWE signs (exit 5, naming SWE); SWE sees it.
    let out = run(&mex, &["submit", &id]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("SWE"), "{}", text(&out));
    let out = run(&swe, &["list"]);
    assert!(text(&out).contains(&id) && text(&out).contains("awaiting SWE"), "{}", text(&out));
    assert!(run(&swe, &["approve", &id]).status.success());

    // MEX edits the file: a new revision, which SWE must approve again.
    report["title"] = "Informe conjunto, revisado".into();
    std::fs::write(&draft, serde_json::to_string_pretty(&report)?)?;
    let out = run(&mex, &["update", &draft]);
    assert!(out.status.success() && text(&out).contains("revision 2"), "{}", text(&out));
    let out = run(&mex, &["update", &draft]);
    assert_eq!(out.status.code(), Some(5), "the same draft again: {}", text(&out));
    assert_eq!(run(&mex, &["submit", &id]).status.code(), Some(5));
    let out = run(&swe, &["comment", &id, "--text", "Conforme."]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(run(&swe, &["approve", &id]).status.success());
    let out = run(&mex, &["submit", &id]);
    assert!(out.status.success() && text(&out).contains("REGISTERED"), "{}", text(&out));

    // The registered file verifies with the Secretariat's key, and prints.
    let file = dir.path().join("report.json").display().to_string();
    assert!(run(&mex, &["show", &id, "--out", &file]).status.success());
    let out = blocking(|| veim(&["report", "verify", &file, "--secretariat-key", &net.secretariat_key]));
    assert!(out.status.success() && text(&out).contains("number 1"), "{}", text(&out));
    let page = dir.path().join("informe.html").display().to_string();
    assert!(blocking(|| veim(&["report", "html", &file, "--lang", "es", "--out", &page])).status.success());
    assert!(std::fs::read_to_string(&page)?.contains("Informe conjunto, revisado"));
    let sec = home_arg(&net.secretariat.home);
    let out = run(&sec, &["register"]);
    assert!(text(&out).contains(&id), "{}", text(&out));

    // Each step is in the audit logs.
    for (home, action) in [
        (&mex, "csp-report-drafted"),
        (&swe, "csp-report-received"),
        (&mex, "csp-report-approved"),
        (&swe, "csp-report-commented"),
        (&mex, "csp-report-submitted"),
        (&sec, "csp-report-registered"),
    ] {
        let out = blocking(|| veim(&["--home", home, "audit", "show", "--action", action]));
        assert!(out.status.success() && text(&out).contains(action), "{action}: {}", text(&out));
    }
    net.shutdown().await;
    Ok(())
}
