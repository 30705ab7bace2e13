//! Backup and restore: a backup of a running node, restored into a new home
//! folder, starts and holds what the node held; a restore refuses a folder
//! in use, and names a wrong passphrase and a damaged file as such.

use std::path::Path;
use std::time::Duration;
use veim_node::api::{
    BACKUP_INFO_HEADER, BackupInfo, BackupRequest, DirectoryListing, ExchangeSummary, ExchangeView, MessageView,
    RespondRequest, SendRequest, StatusChangeRequest, StatusView, VersionView,
};
use veim_node::audit::LogFiles;
use veim_node::backup::{RestoreError, restore};
use veim_node::home::config::Config;
use veim_node::storage::DeliveryState;
use veim_protocol::EntryAction;
use veim_protocol::audit::{Action, Entry, SignedCheckpoint, SignedTreeHead};
use veim_tests::{TestNet, blocking, example_request, wait_for};
use veim_tools::AdminClient;

const PASSPHRASE: &str = "correct horse battery staple";

fn example_response() -> veim_protocol::ResponseForm {
    toml::from_str(include_str!("../../../deploy/examples/response.toml")).expect("example response")
}

/// Asks the running node for a backup and writes it to `out`.
fn backup(api: &AdminClient, out: &Path) -> anyhow::Result<BackupInfo> {
    let (bytes, info) =
        api.post_for_bytes("/v1/backup", &BackupRequest { passphrase: PASSPHRASE.into() }, BACKUP_INFO_HEADER)?;
    std::fs::write(out, &bytes)?;
    Ok(serde_json::from_str(&info.ok_or_else(|| anyhow::anyhow!("no backup header"))?)?)
}

fn delivered(m: &MessageView) -> bool {
    m.deliveries.iter().all(|d| matches!(d.state, DeliveryState::Delivered { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_of_a_running_node_restores_into_a_new_home_that_starts_and_holds_what_it_held() -> anyhow::Result<()>
{
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex = net.national("MEX").api()?;
    let sent: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    wait_for("the request delivered", Duration::from_secs(20), || {
        let outbox: Vec<MessageView> = mex.get("/v1/outbox").ok()?;
        outbox.iter().find(|m| m.message_id == sent.message_id).filter(|m| delivered(m)).map(|_| ())
    })
    .await?;

    // Too short a passphrase is refused before anything is written.
    let weak = blocking(|| mex.post_for_bytes("/v1/backup", &BackupRequest { passphrase: "short".into() }, "x"));
    assert!(weak.expect_err("weak passphrase").to_string().contains("at least 12"));

    let file = net.dir.path().join("mex.backup");
    let info = blocking(|| backup(&mex, &file))?;
    assert_eq!(info.state.map(|s| s.to_string()).as_deref(), Some("MEX"));
    assert!(info.records > 0 && info.files >= 4, "{info:?}");
    let held: Vec<ExchangeSummary> = blocking(|| mex.get("/v1/exchanges"))?;
    let keys = std::fs::read(net.national("MEX").home.join("keys/identity.key"))?;
    let bytes = std::fs::read(&file)?;
    assert!(bytes.starts_with(b"age-encryption.org/v1\n-> scrypt "), "an age file encrypted with a passphrase");
    assert!(!bytes.windows(keys.len().min(32)).any(|w| w == &keys[..keys.len().min(32)]), "no key in clear");

    // Restores that must not happen, each named as what it is.
    let existing = net.national("MEX").home.clone();
    let refused = restore(&file, PASSPHRASE, &existing).expect_err("a home in use");
    assert!(matches!(refused, RestoreError::NotEmpty(_)), "{refused}");
    let target = net.dir.path().join("mex-restored");
    let wrong = restore(&file, "not the passphrase at all", &target).expect_err("wrong passphrase");
    assert!(matches!(wrong, RestoreError::WrongPassphrase(_)), "{wrong}");
    assert!(wrong.to_string().contains("passphrase is wrong"), "{wrong}");
    assert!(!target.exists(), "a failed restore leaves nothing behind");
    let mut damaged = bytes.clone();
    let at = damaged.len() - 100;
    damaged[at] ^= 0x55;
    let damaged_file = net.dir.path().join("damaged.backup");
    std::fs::write(&damaged_file, &damaged)?;
    let corrupt = restore(&damaged_file, PASSPHRASE, &target).expect_err("damaged");
    assert!(matches!(corrupt, RestoreError::Corrupt { .. }), "{corrupt}");
    assert!(corrupt.to_string().contains("damaged"), "{corrupt}");
    assert!(!target.exists(), "a failed restore leaves nothing behind");
    std::fs::write(&damaged_file, &bytes[..bytes.len() / 2])?;
    let cut = restore(&damaged_file, PASSPHRASE, &target).expect_err("truncated");
    assert!(matches!(cut, RestoreError::Corrupt { .. }), "{cut}");

    // The machine is lost; the node comes back from the backup elsewhere.
    net.national_mut("MEX").stop().await;
    let restored = restore(&file, PASSPHRASE, &target)?;
    assert_eq!(restored, info);
    net.national_mut("MEX").home = target.clone();
    net.national_mut("MEX").start().await?;
    let api = net.national("MEX").api()?;
    let after: Vec<ExchangeSummary> = blocking(|| api.get("/v1/exchanges"))?;
    assert_eq!(
        after.iter().map(|x| x.exchange.exchange_id).collect::<Vec<_>>(),
        held.iter().map(|x| x.exchange.exchange_id).collect::<Vec<_>>()
    );
    let outbox: Vec<MessageView> = blocking(|| api.get("/v1/outbox"))?;
    let request = outbox.iter().find(|m| m.message_id == sent.message_id).expect("the request is held");
    assert!(request.body.is_some() && delivered(request), "its content opens with the restored storage key");
    assert_eq!(std::fs::read(target.join("keys/identity.key"))?, keys);
    net.shutdown().await;
    Ok(())
}

/// The entries of `action` about `state` in the audit files of the node at `home`.
fn entries_about(home: &Path, action: Action, state: &str) -> Vec<Entry> {
    let log = LogFiles::read_home(home).unwrap_or_default();
    log.entries
        .into_iter()
        .filter(|e| e.event.action == action && e.event.state.map(|s| s.to_string()).as_deref() == Some(state))
        .collect()
}

/// The latest checkpoint and tree head `home`'s node holds of MEX's log.
fn held_of_mex(home: &Path) -> Option<(SignedCheckpoint, SignedTreeHead)> {
    let log = LogFiles::read_home(home).ok()?;
    let mex = |n: Option<veim_protocol::StateCode>| n.map(|s| s.to_string()).as_deref() == Some("MEX");
    let checkpoint = log.witnessed.into_iter().filter(|c| mex(c.checkpoint.node)).max_by_key(|c| c.checkpoint.at)?;
    let tree = log.witnessed_trees.into_iter().find(|t| mex(t.head.node))?;
    Some((checkpoint, tree))
}

/// The national drill: a node is backed up, sends a request, gets the
/// reply, loses its machine and is restored from the backup. It gets back
/// its own request (from the peer that received it) and the reply, and its
/// witness records one declared restore and no conflict; a rewind without
/// the restore entry is still a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_node_gets_back_its_requests_and_their_replies_and_its_witness_sees_one_declared_restore()
-> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    let swe_home = net.national("SWE").home.clone();
    let file = net.dir.path().join("mex.backup");
    let info = blocking(|| backup(&mex, &file))?;

    // After the backup: MEX asks, SWE answers; MEX's log grows, and SWE
    // witnesses it.
    let request: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    let exchange = request.exchange_id.clone();
    wait_for("SWE to hold the request", Duration::from_secs(20), || {
        let inbox: Vec<MessageView> = swe.get("/v1/inbox").ok()?;
        inbox.iter().any(|m| m.message_id == request.message_id).then_some(())
    })
    .await?;
    let reply: MessageView = blocking(|| {
        swe.post(&format!("/v1/exchanges/{exchange}/respond"), &RespondRequest { response: example_response() })
    })?;
    wait_for("MEX to hold the reply", Duration::from_secs(20), || {
        let x: ExchangeView = mex.get(&format!("/v1/exchanges/{exchange}")).ok()?;
        (x.messages.len() == 2).then_some(())
    })
    .await?;
    wait_for("SWE to witness MEX's log past the backup", Duration::from_secs(30), || {
        held_of_mex(&swe_home)
            .filter(|(c, t)| c.checkpoint.count > info.audit_count + 2 && t.head.count > info.audit_count + 2)
    })
    .await?;

    let (held, held_tree) = held_of_mex(&swe_home).expect("SWE holds MEX's log");
    // MEX's machine is lost; MEX comes back from the backup.
    net.national_mut("MEX").stop().await;
    let restored_home = net.dir.path().join("mex-restored");
    restore(&file, PASSPHRASE, &restored_home)?;
    net.national_mut("MEX").home = restored_home.clone();
    net.national_mut("MEX").start().await?;
    let own = LogFiles::read_home(&restored_home)?;
    let restored_entry =
        own.entries.iter().find(|e| e.event.action == Action::Restored).expect("the restore is recorded");
    assert_eq!(restored_entry.seq, info.audit_count, "recorded first, where the backup's log ends");
    assert_eq!(restored_entry.event.object.as_deref(), Some(info.backup_id.as_str()));

    // SWE gives MEX its own request back, then the reply, which MEX accepts.
    let api = net.national("MEX").api()?;
    let back = wait_for("MEX to hold its request and SWE's reply again", Duration::from_secs(60), || {
        let x: ExchangeView = api.get(&format!("/v1/exchanges/{exchange}")).ok()?;
        (x.messages.len() == 2).then_some(x)
    })
    .await?;
    let own = back.messages.iter().find(|m| m.message_id == request.message_id).expect("the request");
    assert_eq!(own.body, request.body, "MEX opened its own request with its own key share");
    assert_eq!(own.envelope, request.envelope, "the very envelope it signed");
    let answer = back.messages.iter().find(|m| m.message_id == reply.message_id).expect("the reply");
    assert!(answer.body.is_some());
    wait_for("MEX's request to be delivered again (SWE's receipt)", Duration::from_secs(30), || {
        let outbox: Vec<MessageView> = api.get("/v1/outbox").ok()?;
        outbox.iter().find(|m| m.message_id == request.message_id).filter(|m| delivered(m)).map(|_| ())
    })
    .await?;
    let refused = entries_about(&restored_home, Action::RequestRefused, "SWE");
    assert!(refused.is_empty(), "MEX refused nothing SWE sent back: {refused:?}");

    // SWE keeps MEX's new checkpoints and tree heads, which declare the
    // restore, and records it once.
    let (c, t) = wait_for("SWE to hold MEX's restored log", Duration::from_secs(30), || {
        held_of_mex(&swe_home).filter(|(c, t)| c.checkpoint.restore.is_some() && t.head.restore.is_some())
    })
    .await?;
    let mark = c.checkpoint.restore.expect("a restore mark");
    assert!(
        mark.entry < held.checkpoint.count && mark.entry < held_tree.head.count,
        "the log went back below what SWE held: entry {} < {} / {}",
        mark.entry,
        held.checkpoint.count,
        held_tree.head.count
    );
    assert_eq!(c.checkpoint.restore.map(|m| m.entry), Some(restored_entry.seq));
    // And goes on keeping them as the log grows.
    blocking(|| {
        net.national("MEX")
            .api()?
            .post::<_, MessageView>("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
    })?;
    wait_for("SWE to witness MEX's log grow after the restore", Duration::from_secs(30), || {
        held_of_mex(&swe_home)
            .filter(|(c2, t2)| c2.checkpoint.count > c.checkpoint.count && t2.head.count > t.head.count)
    })
    .await?;
    assert_eq!(entries_about(&swe_home, Action::RestoreWitnessed, "MEX").len(), 1, "one accepted restore");
    assert!(entries_about(&swe_home, Action::WitnessConflict, "MEX").is_empty(), "and no conflict");

    // The same log rewound again, without a restore entry (the restored
    // home started with its note removed): a conflict, as before.
    net.national_mut("MEX").stop().await;
    let rewound = net.dir.path().join("mex-rewound");
    restore(&file, PASSPHRASE, &rewound)?;
    std::fs::remove_file(rewound.join(veim_node::backup::RESTORED_FILE))?;
    net.national_mut("MEX").home = rewound;
    net.national_mut("MEX").start().await?;
    wait_for("SWE to record the undeclared rewind as a conflict", Duration::from_secs(30), || {
        (!entries_about(&swe_home, Action::WitnessConflict, "MEX").is_empty()).then_some(())
    })
    .await?;
    assert_eq!(entries_about(&swe_home, Action::RestoreWitnessed, "MEX").len(), 1, "not taken as a restore");
    net.shutdown().await;
    Ok(())
}

fn change_status(api: &AdminClient, state: &str, action: EntryAction) -> anyhow::Result<VersionView> {
    Ok(api.post(
        "/v1/directory/status",
        &StatusChangeRequest { state: state.into(), action, reason: "backup drill".into() },
    )?)
}

/// The Secretariat's node stopped (its machine lost) and started again from
/// the backup in `file`, in a home of its own.
async fn restore_secretariat(net: &mut TestNet, file: &Path) -> anyhow::Result<AdminClient> {
    net.secretariat.stop().await;
    let home = net.dir.path().join("secretariat-restored");
    restore(file, PASSPHRASE, &home)?;
    net.secretariat.home = home;
    net.secretariat.start().await?;
    Ok(net.secretariat.api()?)
}

/// The Secretariat's status once its catch-up with the national nodes is done.
async fn caught_up(sec: &AdminClient) -> anyhow::Result<StatusView> {
    wait_for("the Secretariat to catch up", Duration::from_secs(30), || {
        let s: StatusView = sec.get("/v1/status").ok()?;
        s.recovery.is_some().then_some(s)
    })
    .await
}

/// The Secretariat drill: a Secretariat restored from a backup older than
/// its latest publications learns them from the national nodes before it
/// publishes, says so in its status, never issues a number again, and the
/// national nodes follow its next version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_secretariat_learns_the_latest_version_and_the_national_nodes_follow_its_next() -> anyhow::Result<()>
{
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let sec = net.secretariat.api()?;
    let file = net.dir.path().join("secretariat.backup");
    blocking(|| backup(&sec, &file))?;
    let held = blocking(|| sec.get::<StatusView>("/v1/status"))?.directory_version;

    // Published after the backup, and held by every national node.
    blocking(|| change_status(&sec, "SWE", EntryAction::Suspend))?;
    let latest = blocking(|| change_status(&sec, "SWE", EntryAction::Reinstate))?;
    assert_eq!(latest.version, held + 2);
    net.wait_directory(latest.version).await?;

    // The Secretariat's machine is lost; it comes back from the backup.
    let sec = restore_secretariat(&mut net, &file).await?;
    let status = caught_up(&sec).await?;
    assert_eq!(status.directory_version, latest.version, "it holds what it had published: {status:?}");
    let recovery = status.recovery.unwrap_or_default();
    assert!(recovery.contains(&format!("learned versions {} to {}", held + 1, latest.version)), "{recovery}");
    assert!(recovery.contains("restored from a backup"), "{recovery}");

    // Its next version is the next number, and every national node takes it.
    let next = blocking(|| change_status(&sec, "SWE", EntryAction::Suspend))?;
    assert_eq!(next.version, latest.version + 1, "no number issued twice");
    net.wait_directory(next.version).await?;
    for state in ["MEX", "SWE"] {
        let s: StatusView = blocking(|| net.national(state).api()?.get("/v1/status"))?;
        assert_eq!(s.directory_version, next.version, "{state} follows");
    }
    net.shutdown().await;
    Ok(())
}

/// A Secretariat restored from a backup, whose only answer comes from a
/// node that holds a newer version but not those between (its store began
/// again, with a snapshot, after them), publishes nothing, and says why,
/// until a node that holds them answers; then it takes them up and goes on
/// from the newest, and every node follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_secretariat_does_not_publish_over_versions_it_cannot_chain_to() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE", "FRA"]).await?;
    let sec = net.secretariat.api()?;
    let file = net.dir.path().join("secretariat.backup");
    blocking(|| backup(&sec, &file))?;
    let held = blocking(|| sec.get::<StatusView>("/v1/status"))?.directory_version;
    blocking(|| change_status(&sec, "SWE", EntryAction::Suspend))?;
    blocking(|| change_status(&sec, "SWE", EntryAction::Reinstate))?;
    let latest = blocking(|| change_status(&sec, "SWE", EntryAction::Suspend))?;
    net.wait_directory(latest.version).await?;

    // FRA's store is lost and begun again: it takes the latest version as a
    // snapshot, and holds none of those between the backup and it.
    net.national_mut("FRA").stop().await;
    std::fs::remove_dir_all(net.national("FRA").home.join(veim_node::home::STORE_DIR))?;
    net.national_mut("FRA").start().await?;
    let fra = net.national("FRA").api()?;
    wait_for("FRA's snapshot", Duration::from_secs(30), || {
        let s: StatusView = fra.get("/v1/status").ok()?;
        (s.directory_version == latest.version).then_some(())
    })
    .await?;

    // MEX and SWE, which hold every version, are down; the Secretariat
    // comes back from the backup and hears from FRA alone.
    net.national_mut("MEX").stop().await;
    net.national_mut("SWE").stop().await;
    let sec = restore_secretariat(&mut net, &file).await?;
    // Long enough for several rounds of its catch-up (one every 3 s).
    tokio::time::sleep(Duration::from_secs(8)).await;
    // (A change that both the backup's version and the latest allow.)
    let refused = blocking(|| change_status(&sec, "MEX", EntryAction::Suspend)).expect_err("publishing over FRA's");
    let said = refused.to_string();
    assert!(said.contains(&format!("FRA's node holds directory version {}", latest.version)), "{said}");
    assert!(said.contains(&format!("versions {} to {}", held + 1, latest.version - 1)), "{said}");
    let status: StatusView = blocking(|| sec.get("/v1/status"))?;
    assert_eq!(status.directory_version, held, "nothing taken up or published: {status:?}");
    assert_eq!(status.recovery, None, "not caught up: {status:?}");
    let waiting = status.catching_up.unwrap_or_default();
    assert!(waiting.contains(&format!("FRA's node holds directory version {}", latest.version)), "{waiting}");

    // MEX comes back: the Secretariat learns the versions from it, and its
    // next version follows the latest; FRA and MEX take it.
    net.national_mut("MEX").start().await?;
    let status = caught_up(&sec).await?;
    assert_eq!(status.directory_version, latest.version, "{status:?}");
    assert_eq!(status.catching_up, None, "{status:?}");
    let next = blocking(|| change_status(&sec, "SWE", EntryAction::Reinstate))?;
    assert_eq!(next.version, latest.version + 1, "no number issued twice");
    for state in ["MEX", "FRA"] {
        let api = net.national(state).api()?;
        wait_for(&format!("{state} to follow"), Duration::from_secs(30), || {
            let s: StatusView = api.get("/v1/status").ok()?;
            (s.directory_version == next.version).then_some(())
        })
        .await?;
    }
    net.shutdown().await;
    Ok(())
}

/// A copy of a national node's home folder started elsewhere (here: on
/// another port) while the node runs finds its own key answering at the
/// address the directory lists, says so, and never moves the State's
/// address; the node's peers still reach the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_instance_of_a_home_does_not_move_the_address() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let sec = net.secretariat.api()?;
    let listing = |api: &AdminClient| -> anyhow::Result<(u64, Vec<String>)> {
        let l: DirectoryListing = api.get("/v1/directory")?;
        let swe = l.entries.iter().find(|e| e.state.as_str() == "SWE").map(|e| e.addresses.clone()).unwrap_or_default();
        Ok((l.version, swe))
    };
    let before = blocking(|| listing(&sec))?;

    // The copy: SWE's home as a backup holds it, started on another port.
    let swe = net.national("SWE").api()?;
    let file = net.dir.path().join("swe.backup");
    blocking(|| backup(&swe, &file))?;
    let copy = net.dir.path().join("swe-copy");
    restore(&file, PASSPHRASE, &copy)?;
    std::fs::remove_file(copy.join(veim_node::backup::RESTORED_FILE))?;
    let mut config = Config::load(&copy)?;
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.admin_listen = "127.0.0.1:0".into();
    config.save(&copy)?;
    let second = veim_node::start(&copy).await?;
    let copy_api = AdminClient::for_home(&copy)?;
    let status = wait_for("the copy to find the other instance", Duration::from_secs(30), || {
        let s: StatusView = copy_api.get("/v1/status").ok()?;
        s.last_error
            .as_deref()
            .is_some_and(|e| e.contains("another node with this node's keys answers at"))
            .then_some(s)
    })
    .await?;
    assert!(status.last_error.unwrap_or_default().contains(&before.1[0]), "it names the listed address");

    // The directory is as it was, and SWE's peers still reach SWE.
    assert_eq!(blocking(|| listing(&sec))?, before, "no move published");
    let mex = net.national("MEX").api()?;
    let sent: MessageView =
        blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?;
    assert!(delivered(&sent), "delivered to SWE: {:?}", sent.deliveries);
    second.stop().await;
    net.shutdown().await;
    Ok(())
}
