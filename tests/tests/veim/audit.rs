//! The audit log of real nodes: what an auditor's verification catches on
//! copies of a node's audit files, that no message content reaches the log,
//! and that a node killed in the middle of traffic keeps an entry for every
//! message it acknowledged.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use veim_node::api::{MessageView, NoteRequest, RespondRequest, SendRequest};
use veim_node::audit::{AUDIT_DIR, CHECKPOINTS_FILE, ENTRIES_FILE, LogFiles, ReadError};
use veim_node::storage::DeliveryState;
use veim_protocol::Bytes32;
use veim_protocol::ResponseForm;
use veim_protocol::audit::{
    Action, AuditError, Checkpoint, Entry, ExportLine, RestoreMark, SignedCheckpoint, SignedTreeHead, TreeHead,
};
use veim_protocol::merkle::Tree;
use veim_protocol::wire::{ConsistencyProof, NetRequest, NetResponse, TreeWitness};
use veim_tests::{NodeProcess, RawPeer, TestNet, blocking, example_request, keys_of, peer_of, wait_for};
use veim_tools::audit::{LogError, Witnessed, verify};

const NODE: &str = env!("CARGO_BIN_EXE_veim-test-node");
/// Requests the sender tries; it stops after three failures in a row.
const TRAFFIC: usize = 2000;

fn failure(result: Result<veim_protocol::audit::LogReport, LogError>) -> AuditError {
    match result {
        Err(LogError::Failed(e)) => e,
        other => panic!("expected a verification failure, got {other:?}"),
    }
}

fn write_lines(path: &Path, lines: &[ExportLine]) {
    let text: String = lines.iter().map(|l| serde_json::to_string(l).expect("json") + "\n").collect();
    std::fs::write(path, text).expect("write");
}

/// A copy of a node's audit folder, with its entries replaced.
fn copy_with(home: &Path, dir: &Path, entries: &[Entry]) -> LogFiles {
    let audit = dir.join(AUDIT_DIR);
    std::fs::create_dir_all(&audit).expect("dir");
    for f in std::fs::read_dir(home.join(AUDIT_DIR)).expect("audit dir").flatten() {
        std::fs::copy(f.path(), audit.join(f.file_name())).expect("copy");
    }
    let lines: Vec<ExportLine> = entries.iter().cloned().map(ExportLine::Entry).collect();
    write_lines(&audit.join(ENTRIES_FILE), &lines);
    LogFiles::read_home(dir).expect("read copy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verification_names_each_tampering_and_the_log_holds_no_content() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    let request = example_request();
    let sent: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: request.clone() }))?;
    let exchange = sent.exchange_id.clone();
    let response: ResponseForm = toml::from_str(include_str!("../../../deploy/examples/response.toml"))?;
    blocking(|| {
        swe.post::<_, MessageView>(&format!("/v1/exchanges/{exchange}/respond"), &RespondRequest { response })
    })?;
    let note = "Minutes of the master's hearing are kept under seal at the harbour office.";
    blocking(|| {
        mex.post::<_, MessageView>(
            &format!("/v1/exchanges/{exchange}/note"),
            &NoteRequest { text: note.into(), handling: None },
        )
    })?;
    let _shown: veim_node::api::ExchangeView = blocking(|| mex.get(&format!("/v1/exchanges/{exchange}")))?;

    // Wait until SWE holds a checkpoint of MEX's whole log as it stands,
    // the content shown above included (the entry is written at MEX's next
    // flush, the checkpoint at its next tick, SWE's file at SWE's next tick).
    let mex_home = net.national("MEX").home.clone();
    let swe_home = net.national("SWE").home.clone();
    let (log, held, held_tree) =
        wait_for("SWE to hold MEX's latest checkpoint and tree head", Duration::from_secs(30), || {
            let log = LogFiles::read_home(&mex_home).ok()?;
            let of_mex =
                veim_tools::audit::witness(&swe_home, Some("SWE".parse().ok()?), Some("MEX".parse().ok()?)).ok()?;
            let held = of_mex.checkpoints.last()?.clone();
            let tree = of_mex.tree_head?;
            let latest = log.checkpoints.last()?.checkpoint.count;
            let shown = log.entries.iter().rposition(|e| e.event.action == Action::ContentShown)?;
            (held.checkpoint.count == latest
                && tree.head.count == latest
                && latest as usize <= log.entries.len()
                && shown < latest as usize)
                .then_some((log, held, tree))
        })
        .await?;
    let witness = Witnessed {
        checkpoints: vec![("SWE".to_string(), held.clone())],
        trees: vec![("SWE".to_string(), held_tree.clone())],
    };
    let none = Witnessed::default();
    let n = held.checkpoint.count as usize;

    // Untouched: verifies, against MEX's own checkpoints and tree heads, and SWE's.
    let report = verify(&log, &witness)?;
    assert!(report.entries as usize >= n);
    assert_eq!(report.tree_heads, log.tree_heads.len() + 1, "every tree head checked");
    let actions: BTreeSet<Action> = log.entries.iter().map(|e| e.event.action).collect();
    for a in [
        Action::NodeStarted,
        Action::KeysInUse,
        Action::MessageSent,
        Action::ReceiptReceived,
        Action::MessageReceived,
        Action::ReceiptSent,
        Action::ContentShown,
        Action::DirectoryAccepted,
        Action::AdminCall,
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }

    // No content: none of the exchanged texts is in any audit file.
    let secrets = [request.summary.as_str(), "Nordhafen Trading", "Baltic Line Cargo", note];
    for home in [&mex_home, &swe_home] {
        for f in std::fs::read_dir(home.join(AUDIT_DIR))?.flatten() {
            // The running node rewrites its files through a temporary and a
            // rename: one listed a moment ago may be gone (its content is in
            // the file it was renamed to, read in its turn).
            let text = match std::fs::read_to_string(f.path()) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                read => read?,
            };
            for s in secrets {
                assert!(!text.contains(&s[..s.len().min(30)]), "{} holds {s:?}", f.path().display());
            }
        }
    }

    let dir = tempfile::tempdir()?;
    let k = 3;
    // One entry changed.
    let mut changed = log.entries.clone();
    changed[k].event.detail = "nothing happened here".into();
    let copy = copy_with(&mex_home, &dir.path().join("changed"), &changed);
    assert_eq!(failure(verify(&copy, &witness)), AuditError::Broken { position: k as u64 + 1 });
    // One entry removed.
    let mut removed = log.entries.clone();
    removed.remove(k);
    let copy = copy_with(&mex_home, &dir.path().join("removed"), &removed);
    assert_eq!(failure(verify(&copy, &witness)), AuditError::Sequence { position: k as u64, found: k as u64 + 1 });
    // Two entries swapped.
    let mut swapped = log.entries.clone();
    swapped.swap(k, k + 1);
    let copy = copy_with(&mex_home, &dir.path().join("swapped"), &swapped);
    assert_eq!(failure(verify(&copy, &witness)), AuditError::Sequence { position: k as u64, found: k as u64 + 1 });
    // The last entries cut off, with the node's own checkpoints that covered
    // them: the chain is whole, SWE's checkpoint catches it.
    let mut cut = copy_with(&mex_home, &dir.path().join("cut"), &log.entries[..n - 2]);
    cut.checkpoints.retain(|c| (c.checkpoint.count as usize) <= n - 2);
    cut.tree_heads.retain(|t| (t.head.count as usize) <= n - 2);
    assert!(verify(&cut, &none).is_ok(), "without a witness the cut is invisible");
    assert_eq!(
        failure(verify(&cut, &witness)),
        AuditError::Truncated { holder: "SWE".into(), count: n as u64, have: n as u64 - 2 }
    );
    // Rewritten from entry k and re-signed with MEX's own key: SWE's checkpoint catches it.
    let mut rewritten = log.entries[..n].to_vec();
    rewritten[k].event.detail = "history as the operator would like it".into();
    for i in k + 1..n {
        rewritten[i].previous = rewritten[i - 1].hash()?;
    }
    let mut forged = copy_with(&mex_home, &dir.path().join("rewritten"), &rewritten);
    let identity = keys_of(&mex_home).identity;
    let head = rewritten[n - 1].hash()?;
    forged.checkpoints = vec![SignedCheckpoint::sign(
        Checkpoint {
            node: Some("MEX".parse()?),
            identity_key: identity.public(),
            count: n as u64,
            head,
            at: 0,
            restore: None,
        },
        &identity,
    )?];
    let hashes: Vec<Bytes32> = rewritten.iter().map(|e| e.hash()).collect::<Result<_, _>>()?;
    let rewritten_tree = Tree::from_entries(&hashes);
    let forged_head = |count: u64| -> anyhow::Result<SignedTreeHead> {
        let root = rewritten_tree.root(count).ok_or_else(|| anyhow::anyhow!("root"))?;
        let head =
            TreeHead { node: Some("MEX".parse()?), identity_key: identity.public(), count, root, at: 0, restore: None };
        Ok(SignedTreeHead::sign(head, &identity)?)
    };
    forged.tree_heads = vec![forged_head(n as u64)?];
    assert!(verify(&forged, &none).is_ok(), "the operator's own key re-signs a rewritten log");
    assert_eq!(failure(verify(&forged, &witness)), AuditError::Rewritten { holder: "SWE".into(), count: n as u64 });
    // The same with SWE's tree head alone: its root is not the rewritten log's.
    let trees_only = Witnessed { checkpoints: Vec::new(), trees: witness.trees.clone() };
    assert_eq!(
        failure(verify(&forged, &trees_only)),
        AuditError::TreeRewritten { holder: "SWE".into(), count: n as u64 }
    );
    // A checkpoint with a bad signature.
    let bad_dir = dir.path().join("badsig");
    let copy = copy_with(&mex_home, &bad_dir, &log.entries);
    let mut checkpoints = copy.checkpoints.clone();
    checkpoints[0].signature[5] ^= 1;
    let lines: Vec<ExportLine> = checkpoints.into_iter().map(ExportLine::Checkpoint).collect();
    write_lines(&bad_dir.join(AUDIT_DIR).join(CHECKPOINTS_FILE), &lines);
    let copy = LogFiles::read_home(&bad_dir)?;
    assert!(matches!(failure(verify(&copy, &witness)), AuditError::CheckpointSignature { position: 0, .. }));
    // An export edited by hand.
    let export = log.export(Some("MEX".parse()?), 0)?;
    let path = dir.path().join("export.jsonl");
    std::fs::write(&path, export.replacen("\"message-received\"", "\"message-sent\"", 1))?;
    let mut edited = LogFiles::default();
    edited.read_file(&path)?;
    assert!(matches!(failure(verify(&edited, &witness)), AuditError::Broken { .. }));
    std::fs::write(&path, log.export(Some("MEX".parse()?), 0)?)?;
    let mut clean = LogFiles::default();
    clean.read_file(&path)?;
    assert!(verify(&clean, &witness).is_ok(), "the same export, untouched, verifies");

    // On arrival: SWE keeps a newer tree head of MEX's log only with a proof
    // that it extends the one it holds. A rewritten log, grown one entry past
    // what SWE holds and re-signed with MEX's own key, is refused and
    // recorded as a conflict; the true log's next tree head is kept.
    let mut net = net;
    net.national_mut("MEX").stop().await;
    let true_log = LogFiles::read_home(&mex_home)?;
    // MEX offered its whole log as it stopped; the true log then grows by
    // one entry SWE has not seen, as a running node's log does.
    let mut true_entries = true_log.entries.clone();
    let tail = true_entries.last().ok_or_else(|| anyhow::anyhow!("no entries"))?.clone();
    true_entries.push(Entry {
        seq: tail.seq + 1,
        previous: tail.hash()?,
        event: veim_protocol::audit::Event::new(
            tail.event.at + 1,
            veim_protocol::audit::Actor::Node,
            Action::NodeStarted,
        ),
    });
    let hashes: Vec<Bytes32> = true_entries.iter().map(|e| e.hash()).collect::<Result<_, _>>()?;
    let true_tree = Tree::from_entries(&hashes);
    let mex_state = Some("MEX".parse()?);
    let sign_head = |tree: &Tree, count: u64| -> anyhow::Result<SignedTreeHead> {
        let root = tree.root(count).ok_or_else(|| anyhow::anyhow!("root of {count}"))?;
        let head = TreeHead { node: mex_state, identity_key: identity.public(), count, root, at: 0, restore: None };
        Ok(SignedTreeHead::sign(head, &identity)?)
    };
    let mut raw = RawPeer::impersonating(&mex_home)?;
    let (swe_peer, swe_addr) = (peer_of(&swe_home), net.national("SWE").address.clone());
    // The whole true log offered with no proof: SWE says what it holds.
    let last = hashes.len() as u64;
    let offer = TreeWitness { head: sign_head(&true_tree, last)?, proof: None };
    let NetResponse::TreeWitnessed { held: m } =
        raw.send(swe_peer, &swe_addr, &NetRequest::WitnessTree(Box::new(offer))).await?
    else {
        panic!("no tree head answer")
    };
    assert!(m >= held_tree.head.count && m < last, "SWE holds {m} of {last} entries and asks for a proof");
    let m_usize = m as usize;
    // The log rewritten at entry k, one entry longer than what SWE holds.
    let mut grown = true_entries[..=m_usize].to_vec();
    grown[k].event.detail = "history as the operator would like it".into();
    for i in k + 1..=m_usize {
        grown[i].previous = grown[i - 1].hash()?;
    }
    let hashes: Vec<Bytes32> = grown.iter().map(|e| e.hash()).collect::<Result<_, _>>()?;
    let grown_tree = Tree::from_entries(&hashes);
    let proof = grown_tree.consistency(m, m + 1).map(|hashes| ConsistencyProof { from: m, hashes });
    let offer = TreeWitness { head: sign_head(&grown_tree, m + 1)?, proof };
    let answer = raw.send(swe_peer, &swe_addr, &NetRequest::WitnessTree(Box::new(offer))).await?;
    assert_eq!(answer, NetResponse::TreeWitnessed { held: m }, "the rewritten log's tree head is not kept");
    let conflict = wait_for("SWE to record the conflict", Duration::from_secs(10), || {
        let swe_log = LogFiles::read_home(&swe_home).ok()?;
        swe_log
            .entries
            .into_iter()
            .find(|e| e.event.action == Action::WitnessConflict && e.event.detail.contains("tree head"))
    })
    .await?;
    assert!(conflict.event.detail.contains("proof"), "{}", conflict.event.detail);
    // The true log's tree head at one more entry, with its proof: kept.
    let proof = true_tree.consistency(m, m + 1).map(|hashes| ConsistencyProof { from: m, hashes });
    let offer = TreeWitness { head: sign_head(&true_tree, m + 1)?, proof };
    let answer = raw.send(swe_peer, &swe_addr, &NetRequest::WitnessTree(Box::new(offer))).await?;
    assert_eq!(answer, NetResponse::TreeWitnessed { held: m + 1 }, "an extension with its proof is kept");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_in_the_middle_of_traffic_has_an_entry_for_every_acknowledged_message() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let (swe_home, process) = net.as_process("SWE", NODE).await?;

    // A stream of requests from MEX; SWE is killed while it flows.
    let mex = net.national("MEX").api()?;
    let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = acks.clone();
    let sender = std::thread::spawn(move || {
        let mut acknowledged = BTreeSet::new();
        let mut failures = 0;
        for i in 0..TRAFFIC {
            let mut request = example_request();
            request.summary = format!("request {i}");
            match mex.post::<_, MessageView>("/v1/requests", &SendRequest { to: vec!["SWE".into()], request }) {
                Ok(sent) if matches!(sent.deliveries[0].state, DeliveryState::Delivered { .. }) => {
                    acknowledged.insert(sent.message_id);
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    failures = 0;
                }
                _ => failures += 1,
            }
            if failures == 3 {
                break;
            }
        }
        acknowledged
    });
    // The kill comes after the first acknowledgement (the first request
    // also dials the new process), at a random point of what follows.
    wait_for("the first request acknowledged", Duration::from_secs(30), || {
        (acks.load(std::sync::atomic::Ordering::Relaxed) > 0).then_some(())
    })
    .await?;
    let pause = 150 + u64::from(rand_core::Rng::next_u32(&mut rand_core::UnwrapErr(getrandom::SysRng)) % 300);
    tokio::time::sleep(Duration::from_millis(pause)).await;
    process.kill();
    let acknowledged =
        tokio::task::spawn_blocking(move || sender.join()).await?.map_err(|_| anyhow::anyhow!("sender"))?;
    assert!(!acknowledged.is_empty(), "some requests were acknowledged before the kill");
    assert!(acknowledged.len() < TRAFFIC, "the kill came in the middle of the traffic");

    let process = NodeProcess::started(NODE, &swe_home).await?;
    let log = LogFiles::read_home(&swe_home)?;
    verify(&log, &Witnessed::default())?;
    for action in [Action::MessageReceived, Action::ReceiptSent] {
        let logged: BTreeSet<String> = log
            .entries
            .iter()
            .filter(|e| e.event.action == action)
            .filter_map(|e| e.event.message.map(|m| m.to_hex()))
            .collect();
        let missing: Vec<&String> = acknowledged.difference(&logged).collect();
        assert!(missing.is_empty(), "acknowledged with no {action} entry: {missing:?}");
    }
    let starts = log.entries.iter().filter(|e| e.event.action == Action::NodeStarted).count();
    assert!(starts >= 3, "each start is recorded ({starts})");
    process.kill();
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_entries_written_before_a_stop_reach_the_witnesses_before_the_network_stops() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    // MEX runs with the checkpoint period of a deployed node or longer: no
    // periodic checkpoint will cover what it does before it stops.
    net.national_mut("MEX").stop().await;
    let mex_home = net.national("MEX").home.clone();
    let config = mex_home.join(veim_node::home::CONFIG_FILE);
    let text = std::fs::read_to_string(&config)?;
    let mut tuned: toml::Table = toml::from_str(&text)?;
    tuned.insert("audit_checkpoint_secs".into(), toml::Value::Integer(3600));
    std::fs::write(&config, toml::to_string(&tuned)?)?;
    net.national_mut("MEX").start().await?;

    let mex = net.national("MEX").api()?;
    for _ in 0..2 {
        let sent: MessageView =
            blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
        assert!(matches!(sent.deliveries[0].state, DeliveryState::Delivered { .. }));
    }
    net.national_mut("MEX").stop().await;

    // What SWE holds of MEX's log covers every entry MEX wrote, the stop's too.
    let log = LogFiles::read_home(&mex_home)?;
    let written = log.entries.len() as u64;
    assert_eq!(log.entries.last().map(|e| e.event.action), Some(Action::NodeStopped));
    let swe_home = net.national("SWE").home.clone();
    let held = wait_for("SWE to hold MEX's checkpoint of its whole log", Duration::from_secs(20), || {
        let of_mex =
            veim_tools::audit::witness(&swe_home, Some("SWE".parse().ok()?), Some("MEX".parse().ok()?)).ok()?;
        let count = of_mex.checkpoints.last()?.checkpoint.count;
        (count >= written).then_some(count)
    })
    .await?;
    assert_eq!(held, written, "SWE holds a checkpoint of {held} entries; MEX wrote {written}");
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_entry_added_after_the_nodes_last_signature_is_caught_in_a_stopped_nodes_log() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex = net.national("MEX").api()?;
    let _: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    net.national_mut("MEX").stop().await;
    let home = net.national("MEX").home.clone();

    // As the node left it: every entry is under a signature of the node.
    let log = LogFiles::read_home(&home)?;
    let report = verify(&log, &Witnessed::default())?;
    assert_eq!(veim_tools::audit::uncovered(&report), 0, "{report:?}");
    veim_tools::audit::check_covered(&report, false)?;

    // A consent grant forged onto the real head: the chain holds, no
    // signature covers it, and the log of a stopped node is refused.
    let last = log.entries.last().expect("entries").clone();
    let forged = Entry {
        seq: last.seq + 1,
        previous: last.hash()?,
        event: veim_protocol::audit::Event::new(
            last.event.at + 1,
            veim_protocol::audit::Actor::Operator,
            Action::ConsentGranted,
        ),
    };
    let entries = home.join(AUDIT_DIR).join(ENTRIES_FILE);
    let mut text = std::fs::read_to_string(&entries)?;
    text.push_str(&serde_json::to_string(&ExportLine::Entry(forged))?);
    text.push('\n');
    std::fs::write(&entries, text)?;
    let forged_log = LogFiles::read_home(&home)?;
    let report = verify(&forged_log, &Witnessed::default())?;
    assert_eq!(veim_tools::audit::uncovered(&report), 1);
    let refused =
        veim_tools::audit::check_covered(&report, false).expect_err("an uncovered entry in a stopped node's log");
    assert!(refused.to_string().contains("last 1 entry is covered by no signature"), "{refused}");
    net.shutdown().await;
    Ok(())
}

/// The closed segments of `home`'s audit folder.
fn closed_segments(home: &Path) -> Vec<veim_node::audit::segments::Segment> {
    veim_node::audit::segments::list(&home.join(AUDIT_DIR)).unwrap_or_default()
}

/// The error of a read that fails on the segments.
fn segment_problem(dir: &Path) -> ReadError {
    match LogFiles::read_home(dir) {
        Err(e) => e,
        Ok(_) => panic!("expected a segment problem, the files of {} read whole", dir.display()),
    }
}

/// A copy of `home`'s audit folder in `dir`.
fn copy_audit(home: &Path, dir: &Path) -> std::path::PathBuf {
    let audit = dir.join(AUDIT_DIR);
    std::fs::create_dir_all(&audit).expect("dir");
    for f in std::fs::read_dir(home.join(AUDIT_DIR)).expect("audit dir").flatten() {
        std::fs::copy(f.path(), audit.join(f.file_name())).expect("copy");
    }
    audit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_files_rotate_into_compressed_segments_that_verify_and_a_damaged_segment_is_named() -> anyhow::Result<()>
{
    use veim_node::audit::segments::{Segment, segment_name};
    // Sends one after the other as fast as they are receipted, which may
    // pass SWE's allowance for a peer (50 a second): raised, as the test is
    // about the audit files.
    let mut net = TestNet::admitted_with(&["MEX", "SWE"], |c| {
        c.audit_segment_kib = 64;
        c.peer_requests_per_sec = 10_000.0;
        c.peer_request_burst = 10_000.0;
    })
    .await?;
    let home = net.national("MEX").home.clone();
    let mex = net.national("MEX").api()?;
    let send = |mex: &veim_tools::AdminClient| -> anyhow::Result<()> {
        let sent: MessageView =
            mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })?;
        anyhow::ensure!(matches!(sent.deliveries[0].state, DeliveryState::Delivered { .. }), "{sent:?}");
        Ok(())
    };
    // Traffic until three segments of 64 KiB are closed.
    let mut sends = 0;
    while closed_segments(&home).len() < 3 {
        anyhow::ensure!(sends < 600, "{sends} sends closed {} segments", closed_segments(&home).len());
        blocking(|| send(&mex))?;
        sends += 1;
    }
    // An outside logrotate with copytruncate, as an operator once set up:
    // the open file copied aside and emptied while the node writes on.
    let open = home.join(AUDIT_DIR).join(ENTRIES_FILE);
    // A segment just closed leaves no open file until the next entry.
    wait_for("the open audit file after the last rotation", Duration::from_secs(20), || {
        open.exists().then_some(()).or_else(|| {
            let _ = send(&mex);
            None
        })
    })
    .await?;
    std::fs::copy(&open, home.join(AUDIT_DIR).join("entries.jsonl.1"))?;
    std::fs::OpenOptions::new().write(true).open(&open)?.set_len(0)?;
    blocking(|| send(&mex))?;
    net.national_mut("MEX").stop().await;
    let closed = wait_for("every closed segment compressed", Duration::from_secs(20), || {
        let closed = closed_segments(&home);
        closed.iter().all(|s| s.compressed).then_some(closed)
    })
    .await?;
    println!(
        "{sends} sends: {} segments, {:?}",
        closed.len(),
        closed.iter().map(|s| (s.first, s.last)).collect::<Vec<_>>()
    );

    // Segments, compressed, and the open file: one log, whole, every entry
    // under the node's signature, the chain checked across each boundary.
    let log = LogFiles::read_home(&home)?;
    let report = verify(&log, &Witnessed::default())?;
    veim_tools::audit::check_covered(&report, false)?;
    let last = closed.last().map(|s| s.last).unwrap_or_default();
    assert!(report.entries > last + 1, "the open file holds entries after the segments");
    for (i, e) in log.entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
    }
    let compressed: u64 = closed.iter().map(|s| std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0)).sum();
    println!("{} entries; the closed segments take {compressed} bytes compressed", report.entries);
    assert!(compressed < 3 * 64 * 1024 / 3, "compressed to {compressed} bytes");

    let dir = tempfile::tempdir()?;
    let named = |s: &Segment| s.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A segment kept plain (decompressed by an auditor) reads the same.
    let plain = dir.path().join("plain");
    let audit = copy_audit(&home, &plain);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut veim_node::audit::segments::open(&closed[1])?, &mut text)?;
    std::fs::remove_file(audit.join(named(&closed[1])))?;
    std::fs::write(audit.join(segment_name(closed[1].first, closed[1].last, false)), text)?;
    assert_eq!(LogFiles::read_home(&plain)?.entries, log.entries);
    // The middle segment missing.
    let missing = dir.path().join("missing");
    let audit = copy_audit(&home, &missing);
    std::fs::remove_file(audit.join(named(&closed[1])))?;
    let problem = segment_problem(&missing);
    assert!(
        matches!(&problem, ReadError::Missing { first, last, next }
            if (*first, *last) == (closed[1].first, closed[1].last) && next.ends_with(&named(&closed[2]))),
        "{problem:?}"
    );
    let message = problem.to_string();
    assert!(message.contains(&format!("entries {} to {} are missing", closed[1].first, closed[1].last)), "{message}");
    // The last segment missing: the open file no longer follows.
    let tail = dir.path().join("tail");
    let audit = copy_audit(&home, &tail);
    std::fs::remove_file(audit.join(named(&closed[closed.len() - 1])))?;
    let problem = segment_problem(&tail);
    let end = closed[closed.len() - 1].clone();
    assert!(
        matches!(&problem, ReadError::Missing { first, last, next }
            if (*first, *last) == (end.first, end.last) && next.ends_with(ENTRIES_FILE)),
        "{problem:?}"
    );
    // A segment cut short.
    let cut = dir.path().join("cut");
    let audit = copy_audit(&home, &cut);
    let file = audit.join(named(&closed[0]));
    let len = std::fs::metadata(&file)?.len();
    std::fs::OpenOptions::new().write(true).open(&file)?.set_len(len / 2)?;
    let problem = segment_problem(&cut);
    assert!(
        matches!(&problem, ReadError::Damaged { path, first: 0, last, .. }
            if path.ends_with(&named(&closed[0])) && *last == closed[0].last),
        "{problem:?}"
    );
    // Two segments swapped (each renamed to the other's name).
    let swapped = dir.path().join("swapped");
    let audit = copy_audit(&home, &swapped);
    let (a, b) = (audit.join(named(&closed[0])), audit.join(named(&closed[1])));
    std::fs::rename(&a, audit.join("x"))?;
    std::fs::rename(&b, &a)?;
    std::fs::rename(audit.join("x"), &b)?;
    let problem = segment_problem(&swapped);
    assert!(
        matches!(&problem, ReadError::Renamed { first: 0, begins_at, .. } if *begins_at == closed[1].first),
        "{problem:?}"
    );

    // The middle segment removed from the node's own folder: the next start
    // writes it anew from the store, and its start entry says so.
    std::fs::remove_file(home.join(AUDIT_DIR).join(named(&closed[1])))?;
    net.national_mut("MEX").start().await?;
    net.national_mut("MEX").stop().await;
    let log = LogFiles::read_home(&home)?;
    let report = verify(&log, &Witnessed::default())?;
    veim_tools::audit::check_covered(&report, false)?;
    let started = log.entries.iter().rev().find(|e| e.event.action == Action::NodeStarted).expect("a start entry");
    let named_range = format!("entries {} to {}", closed[1].first, closed[1].last);
    assert!(started.event.detail.contains(&named_range), "{:?}", started.event.detail);
    net.shutdown().await;
    Ok(())
}

/// A node's tree holds its subtrees of fewer than 256 entries only for its
/// last entries: the proof that its log, hundreds of entries on, extends the
/// tree head a peer holds is made by reading the forgotten subtrees' entries
/// from its store again. The peer checks it and keeps the new tree head.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tree_head_hundreds_of_entries_on_is_proven_from_the_store_and_kept() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex = net.national("MEX").api()?;
    let sent: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    let exchange = sent.exchange_id.clone();
    let (mex_home, swe_home) = (net.national("MEX").home.clone(), net.national("SWE").home.clone());
    let held_by_swe = |at_least: u64| {
        let swe_home = swe_home.clone();
        wait_for("SWE to hold a tree head of MEX's log", Duration::from_secs(30), move || {
            let of_mex =
                veim_tools::audit::witness(&swe_home, Some("SWE".parse().ok()?), Some("MEX".parse().ok()?)).ok()?;
            of_mex.tree_head.filter(|t| t.head.count >= at_least)
        })
    };
    let first = held_by_swe(1).await?;
    assert!(first.head.count % 256 != 0, "the proof needs subtrees below 256 entries ({} entries)", first.head.count);
    // Each reading of the exchange is an entry of MEX's log.
    let reads = 300;
    for _ in 0..reads {
        let _: veim_node::api::ExchangeView = blocking(|| mex.get(&format!("/v1/exchanges/{exchange}")))?;
    }
    let second = held_by_swe(first.head.count + reads).await?;

    // The root SWE kept is that of MEX's log, and no conflict was recorded.
    let log = LogFiles::read_home(&mex_home)?;
    let hashes: Vec<Bytes32> = log.entries.iter().map(|e| e.hash()).collect::<Result<_, _>>()?;
    assert_eq!(Tree::from_entries(&hashes).root(second.head.count), Some(second.head.root));
    let swe_log = LogFiles::read_home(&swe_home)?;
    let conflicts: Vec<&Entry> = swe_log.entries.iter().filter(|e| e.event.action == Action::WitnessConflict).collect();
    assert!(conflicts.is_empty(), "{conflicts:?}");
    net.shutdown().await;
    Ok(())
}

/// A declared restore reaches a witness twice, as a checkpoint and as a tree
/// head, in either order, and the second may come after later restores: it
/// is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declared_restore_offered_as_tree_head_and_checkpoint_is_recorded_once() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex_home = net.national("MEX").home.clone();
    let swe_home = net.national("SWE").home.clone();
    // MEX stops: only the offers below reach SWE.
    net.national_mut("MEX").stop().await;
    let identity = keys_of(&mex_home).identity;
    let mex_state = Some("MEX".parse()?);
    let checkpoint = |count: u64, restore: Option<RestoreMark>| -> anyhow::Result<NetRequest> {
        let c = Checkpoint {
            node: mex_state,
            identity_key: identity.public(),
            count,
            head: Bytes32([count as u8; 32]),
            at: count as i64,
            restore,
        };
        Ok(NetRequest::Witness(Box::new(SignedCheckpoint::sign(c, &identity)?)))
    };
    let tree_head = |count: u64, restore: Option<RestoreMark>| -> anyhow::Result<NetRequest> {
        let h = TreeHead {
            node: mex_state,
            identity_key: identity.public(),
            count,
            root: Bytes32([count as u8; 32]),
            at: count as i64,
            restore,
        };
        Ok(NetRequest::WitnessTree(Box::new(TreeWitness { head: SignedTreeHead::sign(h, &identity)?, proof: None })))
    };
    let mut raw = RawPeer::impersonating(&mex_home)?;
    let (swe_peer, swe_addr) = (peer_of(&swe_home), net.national("SWE").address.clone());
    // SWE holds a checkpoint and a tree head of MEX's log (these, or the
    // ones MEX offered while it ran).
    raw.send(swe_peer, &swe_addr, &checkpoint(1000, None)?).await?;
    raw.send(swe_peer, &swe_addr, &tree_head(1000, None)?).await?;
    let restores = || {
        let log = LogFiles::read_home(&swe_home).unwrap_or_default();
        log.entries
            .iter()
            .filter(|e| e.event.action == Action::RestoreWitnessed)
            .map(|e| e.event.detail.clone())
            .collect::<Vec<_>>()
    };
    // A restore: the tree head first, then the checkpoint.
    let first = RestoreMark { entry: 400, hash: Bytes32([4; 32]) };
    raw.send(swe_peer, &swe_addr, &tree_head(500, Some(first))?).await?;
    raw.send(swe_peer, &swe_addr, &checkpoint(500, Some(first))?).await?;
    // Another: the checkpoint first, then the tree head.
    let second = RestoreMark { entry: 450, hash: Bytes32([5; 32]) };
    raw.send(swe_peer, &swe_addr, &checkpoint(460, Some(second))?).await?;
    raw.send(swe_peer, &swe_addr, &tree_head(460, Some(second))?).await?;
    // Two more by their tree heads, then the first one's checkpoint, late:
    // that restore is recorded already.
    let third = RestoreMark { entry: 300, hash: Bytes32([6; 32]) };
    let fourth = RestoreMark { entry: 320, hash: Bytes32([7; 32]) };
    raw.send(swe_peer, &swe_addr, &tree_head(350, Some(third))?).await?;
    raw.send(swe_peer, &swe_addr, &tree_head(340, Some(fourth))?).await?;
    raw.send(swe_peer, &swe_addr, &checkpoint(350, Some(third))?).await?;
    // And a checkpoint that goes back without a new mark: a conflict,
    // recorded after all of the above.
    raw.send(swe_peer, &swe_addr, &checkpoint(100, Some(third))?).await?;
    wait_for("SWE to record the conflict", Duration::from_secs(20), || {
        let log = LogFiles::read_home(&swe_home).ok()?;
        log.entries.iter().any(|e| e.event.action == Action::WitnessConflict).then_some(())
    })
    .await?;
    let recorded = restores();
    let entries: Vec<bool> = ["entry 400", "entry 450", "entry 300", "entry 320"]
        .iter()
        .zip(&recorded)
        .map(|(entry, detail)| detail.contains(entry))
        .collect();
    assert_eq!(recorded.len(), 4, "each restore recorded once: {recorded:#?}");
    assert_eq!(entries, [true; 4], "in the order they came: {recorded:#?}");
    net.shutdown().await;
    Ok(())
}
