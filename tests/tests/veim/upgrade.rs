//! A deployed node's home folder outlives the release that made it: a
//! ministry upgrades veim and starts the new node on the folder it already
//! has, with years of requests, answers and audit entries in it. The fixture
//! is Mexico's home folder as release 0.1.0 left it, stopped cleanly, after a
//! real exchange (a request answered, a note, an attachment, consent asked
//! and granted, a disclosure, the exchange closed, and a request received and
//! still open). What the node held then is written below as constants; every
//! later release must start from the folder and still list, open and verify
//! all of it, and keep it across a restart. The fixture is never made again
//! by a newer release (see tests/fixtures/README.md): it stands for what
//! deployed nodes hold.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use veim_node::api::{DirectoryListing, ExchangeSummary, ExchangeView, MessageView, SaveRequest, StatusView};
use veim_node::attachments::AttachmentView;
use veim_node::audit::LogFiles;
use veim_node::storage::{Direction, DisclosureSummary, ExchangeStatus};
use veim_node::terms::{ConsentStatus, ConsentView};
use veim_protocol::audit::{Action, Entry};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::{Body, Decision, Envelope};
use veim_tests::blocking;
use veim_tools::AdminClient;
use veim_tools::audit::Witnessed;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/release-0.1.0-home-MEX.tar.gz");

const FINGERPRINT: &str = "25a1 6a2c 2fd3 501d a9c4 a7f0 3959 b500 0a00 60f1";
const PEER_ID: &str = "12D3KooWDjvm8pS93evUrmYRtJAKNpgpmC8kW9riEQPRJW4BuLRz";
const DIRECTORY_VERSION: u64 = 4;
const DIRECTORY_HASH: &str = "7e992820d4d88493c0a02bda92f6b0e15b05c47cbf9d023b7829b7d14dfdfb4a";
const AUDIT_ENTRIES: usize = 45;
const AUDIT_HEAD: &str = "7f4b53f99cf681b9b30e9845f21809a6da79f8a8eeb284f141beed414bf467c4";

/// One message the node held, with what it said (the text of its body).
struct Held {
    id: &'static str,
    exchange: &'static str,
    direction: Direction,
    sender: &'static str,
    kind: &'static str,
    envelope_hash: &'static str,
    said: &'static str,
}

const ASKED: &str = "7c9c0a61450acaa13b79bbd906f950a0";
const ASKED_OF_MEX: &str = "880ff0b54cb53909d90fbee325b016ed";
const REQUEST: &str = "9e7e6585be4c88b27bac9f2cfd1f6ec7";
const RESPONSE: &str = "f44e4930db27c0849a879e9653d9a68a";
const NOTE: &str = "ffd0df4e5748f36788721262bf8a5e1e";
const ATTACHED: &str = "ca9690a84efdd99f3c6fd80776edd58e";
const CONSENT: &str = "2aba58eec92ebe46d8d11f28c382a0f0";
const GRANT: &str = "4bb2a050b498162e1bef9987f0e8fdc2";
const CLOSE: &str = "86966d7c6d585705a9a7ebf0ed5670cb";
const RECEIVED_REQUEST: &str = "aecc4483f0c334406d4df1038e6b121f";

const MESSAGES: &[Held] = &[
    Held {
        id: REQUEST,
        exchange: ASKED,
        direction: Direction::Sent,
        sender: "MEX",
        kind: "request",
        envelope_hash: "8e794228e3a2279933c7474c5bd2aacdf53834dad13ef93c1ac738880e501fda",
        said: "Small arms exported under licence MX-2016-0412 to a licensed importer were reported in a seizure \
               outside the declared end user's area of operation. We ask the transit and importing States to help \
               complete the end-user file.",
    },
    Held {
        id: RESPONSE,
        exchange: ASKED,
        direction: Direction::Received,
        sender: "SWE",
        kind: "response",
        envelope_hash: "a22a0abf804de39cb4af7a0f351bfccff5c39bb5eb6197c5cb20416e337b3e6d",
        said: "Customs records confirm the transit; the broker and carrier are identified below.",
    },
    Held {
        id: NOTE,
        exchange: ASKED,
        direction: Direction::Received,
        sender: "DEU",
        kind: "note",
        envelope_hash: "c59760411aee6378217fa925bc596e05b50a6a164d8cee7c9654f9f9cfeb4395",
        said: "Our customs records will follow within ten working days.",
    },
    Held {
        id: ATTACHED,
        exchange: ASKED,
        direction: Direction::Received,
        sender: "SWE",
        kind: "attachments",
        envelope_hash: "a91bb381724c487a2867dd44f67c4ba054bbd591cfd096dd336ccc34db9737bb",
        said: "Bill of lading BL-77120",
    },
    Held {
        id: CONSENT,
        exchange: ASKED,
        direction: Direction::Sent,
        sender: "MEX",
        kind: "consent-request",
        envelope_hash: "c7ba4b32d536ae301e6e354d51188716c08372a2209171dd1abf880155404596",
        said: "Prosecution of the broker for diverting the shipment",
    },
    Held {
        id: GRANT,
        exchange: ASKED,
        direction: Direction::Received,
        sender: "SWE",
        kind: "consent-decision",
        envelope_hash: "cd05036d046314b067e72433811f254756a4af462a85bcf9c3f7c2d4b12a3d71",
        said: "To be presented in closed session only",
    },
    Held {
        id: CLOSE,
        exchange: ASKED,
        direction: Direction::Sent,
        sender: "MEX",
        kind: "close",
        envelope_hash: "2bcf9a8b105af766bea972fa3d80a5c5f5428e56f0ca5f92883e99f94d4ba00d",
        said: "Information received; file completed.",
    },
    Held {
        id: RECEIVED_REQUEST,
        exchange: ASKED_OF_MEX,
        direction: Direction::Received,
        sender: "SWE",
        kind: "request",
        envelope_hash: "6e3ba1fe068832a0db6e90f8b8f57491aa516902a0e9cf017dd469b0cd5d28bf",
        said: "Parts and components licensed by Sweden were found in a consignment declared as machinery; we ask \
               Mexico to confirm the end user of licence SE-2017-0031.",
    },
];

/// The exchanges, each with its messages in the order the node stored them.
const EXCHANGES: &[(&str, ExchangeStatus, &[&str])] = &[
    (ASKED, ExchangeStatus::Closed, &[REQUEST, RESPONSE, NOTE, ATTACHED, CONSENT, GRANT, CLOSE]),
    (ASKED_OF_MEX, ExchangeStatus::Open, &[RECEIVED_REQUEST]),
];

const DISCLOSURE: &str = "0ee174d9397a56dd26a99c9defa36304";
const DISCLOSURE_PACKAGE_HASH: &str = "2d384790df032635c60ec26ed6d1ecd9ceb8cdf51c344aeb73d57ce689c78ece";
const ATTACHMENT: &str = "b1b973c0fee242c95aab49a102201400";
const ATTACHMENT_SIZE: u64 = 88_000;
const ATTACHMENT_SHA256: &str = "c4f6d2e445f7895ba2b57c9c641df4f3d0900fe0c75aec8792c07121a9dd7c77";

/// The text a message says, to compare with what it said when the fixture
/// was made: proof that its sealed body still opens to the same content.
fn said(body: &Body) -> String {
    match body {
        Body::Request(r) => r.summary.clone(),
        Body::Response(r) => r.summary.clone(),
        Body::Note(n) => n.text.clone(),
        Body::Close(c) => c.reason.clone(),
        Body::ConsentRequest(c) => c.purpose.clone(),
        Body::ConsentDecision(d) => match &d.record.decision {
            Decision::Granted { conditions, .. } => conditions.join("; "),
            Decision::Refused { reason } => reason.clone(),
        },
        Body::ConsentRevocation(r) => r.reason.clone(),
        Body::Attachments(a) => a.text.clone(),
        Body::Measure(m) => m.text.clone(),
        Body::StageMove(s) => s.text.clone(),
        Body::RespondBy(r) => r.text.clone(),
        Body::Closing(c) => c.reason.clone(),
    }
}

/// Unpacks the fixture into `dir`; returns the node's home folder.
fn unpack(dir: &Path) -> anyhow::Result<PathBuf> {
    let status = Command::new("tar").arg("-xzf").arg(FIXTURE).arg("-C").arg(dir).status()?;
    anyhow::ensure!(status.success(), "tar could not unpack {FIXTURE}");
    Ok(dir.join("mex"))
}

/// Changes in config.toml only what belongs to the machine that made the
/// fixture, as an operator moving the folder would. The file is edited as
/// TOML, not loaded and saved as a `Config`, so that what starts is the old
/// file as the old release wrote it, not one rewritten by this release.
fn fit_to_this_machine(home: &Path) -> anyhow::Result<()> {
    let path = home.join(veim_node::home::CONFIG_FILE);
    let mut config: toml::Table = toml::from_str(&std::fs::read_to_string(&path)?)?;
    // Ports the system picked there may be anyone's here.
    config.insert("listen".into(), toml::Value::Array(vec!["/ip4/127.0.0.1/tcp/0".into()]));
    config.insert("admin_listen".into(), "127.0.0.1:0".into());
    // The Secretariat that signed the fixture's directory runs nowhere. A
    // closed port makes it plainly unreachable, where its old port could be
    // another test's Secretariat, which would then be sent a registration.
    let secretariat = config
        .get_mut("secretariat")
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(|| anyhow::anyhow!("the fixture's config.toml has no [secretariat]"))?;
    secretariat.insert("address".into(), "/ip4/127.0.0.1/tcp/1".into());
    std::fs::write(&path, toml::to_string(&config)?)?;
    Ok(())
}

/// Reads the log from the node's audit files (the node stopped, so that no
/// line is being appended) and verifies it: the chain, its own checkpoints
/// and tree heads, and the signatures of the peers' checkpoints it holds.
/// Checks that it begins with `before`; returns its entries.
fn log_verifies(home: &Path, before: &[Entry]) -> anyhow::Result<Vec<Entry>> {
    let log = LogFiles::read_home(home)?;
    let report = veim_tools::audit::verify(&log, &Witnessed::default())?;
    assert_eq!(report.entries, log.entries.len() as u64);
    assert!(
        log.entries.len() >= before.len() && log.entries[..before.len()] == *before,
        "the log no longer begins with the {} entries it held",
        before.len()
    );
    assert!(
        log.witnessed.len() >= 3 && log.witnessed_trees.len() >= 3,
        "the checkpoints and tree heads of its peers' logs it held are kept"
    );
    Ok(log.entries)
}

/// Through the admin API of the running node: everything the fixture held is
/// there, and opens.
fn holds_what_it_held(api: &AdminClient, dir: &Path) -> anyhow::Result<()> {
    let status: StatusView = api.get("/v1/status")?;
    assert_eq!(status.state.map(|s| s.to_string()).as_deref(), Some("MEX"));
    assert_eq!((status.fingerprint.as_str(), status.peer_id.as_str()), (FINGERPRINT, PEER_ID), "the same keys");
    assert_eq!(status.directory_version, DIRECTORY_VERSION);
    let directory: DirectoryListing = api.get("/v1/directory")?;
    assert_eq!((directory.version, directory.hash.as_deref()), (DIRECTORY_VERSION, Some(DIRECTORY_HASH)));
    let states: BTreeSet<String> = directory.entries.iter().map(|e| e.state.to_string()).collect();
    assert_eq!(states, BTreeSet::from(["DEU".into(), "MEX".into(), "SWE".into()]));
    let mex = directory.entries.iter().find(|e| e.state.as_str() == "MEX").expect("MEX in the directory");
    assert_eq!(mex.contacts.len(), 2, "MEX's points of contact");

    let mut messages: Vec<MessageView> = api.get("/v1/outbox")?;
    messages.extend(api.get::<Vec<MessageView>>("/v1/inbox")?);
    let listed: BTreeSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
    let held: BTreeSet<&str> = MESSAGES.iter().map(|h| h.id).collect();
    assert_eq!(listed, held, "every message held is listed, and no other");
    for h in MESSAGES {
        let m = messages.iter().find(|m| m.message_id == h.id).expect("listed");
        assert_eq!(
            (m.exchange_id.as_str(), m.direction, m.sender.as_str(), m.kind.as_str()),
            (h.exchange, h.direction, h.sender, h.kind),
            "message {}",
            h.id
        );
        // The envelope as signed and sent, byte for byte.
        assert_eq!(m.envelope_hash, h.envelope_hash, "message {}", h.id);
        let envelope: Envelope = codec::decode::<_, MAX_FRAME>("envelope", &hex::decode(&m.envelope)?)?;
        assert_eq!(hex::encode(envelope.hash()?), h.envelope_hash, "the envelope of {} is the one received", h.id);
        let body = m.body.as_ref().unwrap_or_else(|| panic!("the body of {} ({}) no longer opens", h.id, h.kind));
        assert_eq!(said(body), h.said, "message {}", h.id);
        assert_eq!(m.purged_at, None);
        if m.direction == Direction::Sent {
            assert!(m.deliveries.iter().all(|d| d.state.is_final()), "{} was delivered: {:?}", h.id, m.deliveries);
        }
    }

    let exchanges: Vec<ExchangeSummary> = api.get("/v1/exchanges")?;
    assert_eq!(exchanges.len(), EXCHANGES.len());
    for (id, state, ids) in EXCHANGES {
        let x = exchanges.iter().find(|x| x.exchange.exchange_id.to_hex() == *id).expect("exchange listed");
        assert_eq!(x.exchange.status, *state, "exchange {id}");
        let order: Vec<String> = x.exchange.messages.iter().map(|m| m.to_hex()).collect();
        assert_eq!(order, *ids, "the messages of exchange {id}, in order");
        let request = MESSAGES.iter().find(|h| h.id == ids[0]).expect("the request");
        assert_eq!(x.summary.as_deref(), Some(request.said), "the request summary of {id}");
    }
    // Tracking reads the old messages: the exchange closed by a plain close
    // has its outcome not recorded, the open one is tracked with its request.
    let today = veim_protocol::CalendarDate::of_time(veim_node::clock::now()).expect("today");
    let figures: veim_node::api::Figures = api.get(&format!("/v1/track/figures?from=2000-01-01&to={today}"))?;
    assert_eq!(figures.total.exchanges, 2);
    assert_eq!(figures.total.outcomes, [("not-recorded".to_string(), 1)].into_iter().collect());
    let tracked: Vec<veim_node::api::TrackedExchange> = api.get("/v1/track")?;
    let open: Vec<String> = tracked.iter().map(|t| t.exchange_id.to_hex()).collect();
    assert_eq!(open, [ASKED_OF_MEX]);
    assert!(!tracked[0].provisions.is_empty() && tracked[0].stage.is_some(), "{:?}", tracked[0]);
    let shown: ExchangeView = api.get(&format!("/v1/exchanges/{ASKED}"))?;
    assert_eq!(shown.summary.as_deref(), Some(MESSAGES[0].said));
    assert_eq!(shown.messages.len(), 7);
    let response = shown.messages.iter().find(|m| m.message_id == RESPONSE).expect("the response");
    let Some(Body::Response(response)) = &response.body else { panic!("the response does not open") };
    assert_eq!(response.items.len(), 6, "the response's information items");

    let consents: Vec<ConsentView> = api.get("/v1/consents")?;
    let consent = consents.iter().find(|c| c.consent_id.to_hex() == CONSENT).expect("the consent request");
    // Granted stays granted; whether the grant's expiry has passed is a
    // matter of today's date, not of the upgrade.
    assert_eq!(consent.status, ConsentStatus::Granted);
    assert_eq!(consent.asked_of.as_str(), "SWE");
    assert!(consent.decision.is_some(), "the signed decision is kept");

    let disclosures: Vec<DisclosureSummary> = api.get("/v1/disclosures")?;
    assert!(
        disclosures.iter().any(|d| d.disclosure_id.to_hex() == DISCLOSURE
            && hex::encode(d.package_hash.0) == DISCLOSURE_PACKAGE_HASH),
        "the disclosure made: {disclosures:?}"
    );

    let attachments: Vec<AttachmentView> = api.get("/v1/attachments")?;
    let a = attachments.iter().find(|a| a.id.to_hex() == ATTACHMENT).expect("the attachment received");
    assert!(a.complete && a.size == ATTACHMENT_SIZE, "{a:?}");
    let out = dir.join("bill-of-lading.txt");
    let _: AttachmentView = api.post(
        &format!("/v1/attachments/{ATTACHMENT}/save"),
        &SaveRequest { out: out.display().to_string(), force: false },
    )?;
    assert_eq!(hex::encode(Sha256::digest(std::fs::read(&out)?)), ATTACHMENT_SHA256, "the file received");
    // The next start must write it anew, not find this copy.
    std::fs::remove_file(&out)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_home_folder_made_by_the_previous_release_starts_and_keeps_its_messages() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("veim-upgrade-").tempdir()?;
    let home = unpack(dir.path())?;
    fit_to_this_machine(&home)?;

    // The audit files as the previous release left them: read and verified
    // before this release writes a line.
    let mut log = log_verifies(&home, &[])?;
    assert_eq!(log.len(), AUDIT_ENTRIES);
    assert_eq!(hex::encode(log[AUDIT_ENTRIES - 1].hash()?.0), AUDIT_HEAD);

    // The release's single admin token becomes the token of the first
    // account, `admin`, which holds every role: the operator's tools keep
    // working, and the calls are recorded as the account's.
    let former = std::fs::read_to_string(home.join(veim_node::home::ADMIN_TOKEN_FILE))?;
    for start in ["first start on this release", "restart"] {
        println!("{start}");
        let node = veim_node::start(&home).await?;
        let api = AdminClient::for_home(&home)?;
        let checked = blocking(|| holds_what_it_held(&api, dir.path()));
        node.stop().await;
        checked?;
        log = log_verifies(&home, &log)?;
        assert!(!home.join(veim_node::home::ADMIN_TOKEN_FILE).exists(), "admin.token is gone");
        assert_eq!(std::fs::read_to_string(home.join(veim_node::home::FIRST_TOKEN_FILE))?.trim(), former.trim());
        let made: Vec<&Entry> = log.iter().filter(|e| e.event.action == Action::AccountCreated).collect();
        assert_eq!(made.len(), 1, "the account is made once");
        assert_eq!(made[0].event.object.as_deref(), Some("account admin"));
        assert!(made[0].event.detail.ends_with("taken over from admin.token"), "{}", made[0].event.detail);
    }
    Ok(())
}

/// A node of the previous protocol version, `/veim/1`, and one of this
/// release never open a stream to each other (SPEC 4.1): a message for it
/// waits in the outbox with a reason that names the versions, nothing
/// reaches the old node half-understood, and the old node's request to this
/// one fails at negotiation instead of being refused after decoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_of_the_previous_protocol_version_is_never_sent_to_and_never_heard() -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use veim_node::api::SendRequest;
    use veim_node::storage::DeliveryState;
    use veim_protocol::wire::NetRequest;
    use veim_tests::{RawPeer, TestNet, example_request, keys_of, peer_of, wait_for};

    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    net.national_mut("SWE").stop().await;
    let swe_home = net.national("SWE").home.clone();
    let swe_address = net.national("SWE").address.clone();
    let mex = net.national("MEX").api()?;

    // SWE's keys, at SWE's address, as the previous release would speak.
    let mut old_swe = RawPeer::speaking(keys_of(&swe_home).libp2p_keypair(), "/veim/1")?;
    let heard = Arc::new(AtomicUsize::new(0));
    let counted = heard.clone();
    old_swe
        .serve_during(
            &swe_address,
            move |_request: NetRequest| {
                counted.fetch_add(1, Ordering::SeqCst);
                veim_protocol::wire::NetResponse::Acknowledged
            },
            async move {
                let sent: MessageView = blocking(|| {
                    mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
                })?;
                wait_for("MEX's copy for SWE to wait with the reason", Duration::from_secs(30), || {
                    let outbox: Vec<MessageView> = mex.get("/v1/outbox").ok()?;
                    let copy = outbox.into_iter().find(|m| m.message_id == sent.message_id)?;
                    match &copy.deliveries[0].state {
                        DeliveryState::Attempting { last_error, .. }
                            if last_error.contains("does not speak /veim/2") =>
                        {
                            Some(last_error.clone())
                        }
                        _ => None,
                    }
                })
                .await
            },
        )
        .await??;
    assert_eq!(heard.load(Ordering::SeqCst), 0, "the old node was never sent a request");

    // The other way: the old node's request fails before MEX decodes anything.
    let mex_address = net.national("MEX").address.clone();
    let mex_peer = peer_of(&net.national("MEX").home);
    let refused = old_swe.send(mex_peer, &mex_address, &NetRequest::FetchDirectory { after: 0 }).await;
    let error = refused.expect_err("a /veim/1 request is not answered by a /veim/2 node");
    assert!(format!("{error:#}").contains("supports none of the requested protocols"), "{error:#}");
    net.shutdown().await;
    Ok(())
}
