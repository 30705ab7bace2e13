//! Who may ask a node what, as the node answers it on the wire: every `/veim/2`
//! request, sent to the Secretariat's node and to a national node, by a peer
//! of every standing (a stranger, a key waiting for approval, an active, a
//! suspended and a withdrawn State, the Secretariat, and the old key of a
//! State that rotated its keys). It was written against the node whose whole
//! policy was the order of the arms of one `match`, before that became the
//! pure table of `node/src/peer/policy.rs`; it pins every answer down on real
//! nodes, so that the table (or its dispatch) cannot let a peer ask what it
//! could not before, nor shut out one that could, without a cell here failing.
//!
//! It is a characterisation, not a specification: each cell records what the
//! node answered then, classified as refused `NotInDirectory`, refused
//! `WrongRole`, or served (past the standing and role gate, whatever the
//! request's handler then answered). A cell that looks wrong is recorded as it
//! is and said so in a comment; changing it is a decision for the node's code,
//! made together with this table.

use std::fmt;
use std::time::{Duration, Instant};
use veim_node::api::{DirectoryListing, PendingView, RotationView, StatusChangeRequest, VersionView};
use veim_node::clock::now;
use veim_protocol::audit::{Checkpoint, SignedCheckpoint, SignedTreeHead, TreeHead};
use veim_protocol::contacts::{ContactSet, SignedContactSet, Visibility};
use veim_protocol::ids::{AttachmentId, ReportId};
use veim_protocol::meeting::{MeetingRegistration, SignedMeetingRegistration};
use veim_protocol::publication::{MeasuresReport, SignedMeasuresReport};
use veim_protocol::report::{Approval, CspReport, Figures, Language, Period, SignedCspReport};
use veim_protocol::wire::{Inventory, NetRequest, NetResponse, RefusalCode, TreeWitness};
use veim_protocol::{
    Bytes32, EntryAction, EntryStatus, ExchangeId, IdentityKeypair, KeyRotation, Registration, SignedKeyRotation,
    SignedRegistration, StateCode,
};
use veim_tests::{LocalNet, RawPeer, TestNet, blocking, keys_of, peer_of, seal_request, wait_for};

/// The node that receives the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiver {
    Secretariat,
    National,
}

/// Where the sending peer's key stands, as the receiving node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// A fresh key that never registered.
    Stranger,
    /// A key that registered with the Secretariat and is not approved.
    Pending,
    Active,
    Suspended,
    Withdrawn,
    /// The Secretariat's own key.
    Secretariat,
    /// The key a State used before it rotated to new keys.
    RotatedAway,
}

/// The columns of `EXPECTED`, in order.
const STANDINGS: [Standing; 7] = [
    Standing::Stranger,
    Standing::Pending,
    Standing::Active,
    Standing::Suspended,
    Standing::Withdrawn,
    Standing::Secretariat,
    Standing::RotatedAway,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Register,
    FetchDirectory,
    Deliver,
    DirectoryUpdated,
    SubmitContacts,
    RotateKeys,
    Witness,
    WitnessTree,
    Reconcile,
    FetchChunk,
    CspDraft,
    CspApproval,
    CspComment,
    SubmitCspReport,
    SubmitReport,
    FetchPublications,
    PublicationsUpdated,
    RegisterForMeeting,
    FetchSnapshot,
}

impl Variant {
    const ALL: [Variant; 19] = [
        Variant::Register,
        Variant::FetchDirectory,
        Variant::Deliver,
        Variant::DirectoryUpdated,
        Variant::SubmitContacts,
        Variant::RotateKeys,
        Variant::Witness,
        Variant::WitnessTree,
        Variant::Reconcile,
        Variant::FetchChunk,
        Variant::CspDraft,
        Variant::CspApproval,
        Variant::CspComment,
        Variant::SubmitCspReport,
        Variant::SubmitReport,
        Variant::FetchPublications,
        Variant::PublicationsUpdated,
        Variant::RegisterForMeeting,
        Variant::FetchSnapshot,
    ];

    /// No wildcard on purpose: a new kind of request does not compile here
    /// until it is given its rows in `EXPECTED`.
    fn of(request: &NetRequest) -> Variant {
        match request {
            NetRequest::Register(_) => Variant::Register,
            NetRequest::FetchDirectory { .. } => Variant::FetchDirectory,
            NetRequest::Deliver(_) => Variant::Deliver,
            NetRequest::DirectoryUpdated { .. } => Variant::DirectoryUpdated,
            NetRequest::SubmitContacts(_) => Variant::SubmitContacts,
            NetRequest::RotateKeys(_) => Variant::RotateKeys,
            NetRequest::Witness(_) => Variant::Witness,
            NetRequest::WitnessTree(_) => Variant::WitnessTree,
            NetRequest::Reconcile(_) => Variant::Reconcile,
            NetRequest::FetchChunk { .. } => Variant::FetchChunk,
            NetRequest::CspDraft(_) => Variant::CspDraft,
            NetRequest::CspApproval { .. } => Variant::CspApproval,
            NetRequest::CspComment { .. } => Variant::CspComment,
            NetRequest::SubmitCspReport(_) => Variant::SubmitCspReport,
            NetRequest::SubmitReport(_) => Variant::SubmitReport,
            NetRequest::FetchPublications { .. } => Variant::FetchPublications,
            NetRequest::PublicationsUpdated { .. } => Variant::PublicationsUpdated,
            NetRequest::RegisterForMeeting(_) => Variant::RegisterForMeeting,
            NetRequest::FetchSnapshot => Variant::FetchSnapshot,
        }
    }
}

/// What a cell comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    NotInDirectory,
    WrongRole,
    /// Past the gate: any other answer, a handler's refusal included.
    Served,
    /// Not asked: the Secretariat does not send requests to itself.
    NotApplicable,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Answer::NotInDirectory => "NotInDirectory",
            Answer::WrongRole => "WrongRole",
            Answer::Served => "served",
            Answer::NotApplicable => "n/a",
        })
    }
}

const SEC: Receiver = Receiver::Secretariat;
const NAT: Receiver = Receiver::National;
const NID: Answer = Answer::NotInDirectory;
const WR: Answer = Answer::WrongRole;
const OK: Answer = Answer::Served;
const NA: Answer = Answer::NotApplicable;

/// What today's node answers. Columns: stranger, pending, active, suspended,
/// withdrawn, Secretariat, rotated away (`STANDINGS`).
#[rustfmt::skip]
const EXPECTED: [(Receiver, Variant, [Answer; 7]); 38] = [
    // Anyone may register: that is how a State first reaches the Secretariat.
    (SEC, Variant::Register,         [OK,  OK,  OK, OK,  OK,  NA,  OK ]),
    // A suspended node still follows the directory (that is how it learns it
    // was reinstated), and an old key may fetch the version that lists its
    // State's new key, so that the node can move to it.
    (SEC, Variant::FetchDirectory,   [NID, NID, OK, OK,  NID, NA,  OK ]),
    (SEC, Variant::Deliver,          [NID, NID, WR, NID, NID, NA,  NID]),
    (SEC, Variant::DirectoryUpdated, [NID, NID, WR, NID, NID, NA,  NID]),
    // No gate before the handler: the NotInDirectory cells are the handler's
    // own ("only a node listed in the directory submits points of contact"),
    // for any peer that is not listed active or suspended under its current key.
    (SEC, Variant::SubmitContacts,   [NID, NID, OK, OK,  NID, NA,  NID]),
    // No gate before the handler, which checks that the sender holds the key
    // the directory lists for the State (answering BadRegistration otherwise).
    (SEC, Variant::RotateKeys,       [OK,  OK,  OK, OK,  OK,  NA,  OK ]),
    (SEC, Variant::Witness,          [NID, NID, OK, NID, NID, NA,  NID]),
    (SEC, Variant::WitnessTree,      [NID, NID, OK, NID, NID, NA,  NID]),
    (SEC, Variant::Reconcile,        [NID, NID, WR, NID, NID, NA,  NID]),
    (SEC, Variant::FetchChunk,       [NID, NID, WR, NID, NID, NA,  NID]),
    (SEC, Variant::CspDraft,         [NID, NID, WR, NID, NID, NA,  NID]),
    (SEC, Variant::CspApproval,      [NID, NID, WR, NID, NID, NA,  NID]),
    (SEC, Variant::CspComment,       [NID, NID, WR, NID, NID, NA,  NID]),
    (SEC, Variant::SubmitCspReport,  [NID, NID, OK, NID, NID, NA,  NID]),
    // Reports, the publication log and meeting registrations: active States
    // only (a suspended one is served nothing new, nor registers).
    (SEC, Variant::SubmitReport,     [NID, NID, OK, NID, NID, NA,  NID]),
    (SEC, Variant::FetchPublications, [NID, NID, OK, NID, NID, NA, NID]),
    (SEC, Variant::PublicationsUpdated, [NID, NID, WR, NID, NID, NA, NID]),
    (SEC, Variant::RegisterForMeeting, [NID, NID, OK, NID, NID, NA, NID]),
    // A snapshot of the directory is served to whom the directory is.
    (SEC, Variant::FetchSnapshot,    [NID, NID, OK, OK,  NID, NA,  OK ]),
    // At a national node, the Secretariat is listed in no directory: outside
    // its three arms it meets the "not active" guard before the role check,
    // so it is told NotInDirectory where an active State is told WrongRole.
    (NAT, Variant::Register,         [NID, NID, WR, NID, NID, NID, NID]),
    (NAT, Variant::FetchDirectory,   [NID, NID, WR, NID, NID, OK,  NID]),
    // Deliver, Reconcile and FetchChunk are served only while the receiving
    // node's own State is active too (else its handler answers
    // NotInDirectory itself); here it is.
    (NAT, Variant::Deliver,          [NID, NID, OK, NID, NID, NID, NID]),
    (NAT, Variant::DirectoryUpdated, [NID, NID, WR, NID, NID, OK,  NID]),
    (NAT, Variant::SubmitContacts,   [NID, NID, WR, NID, NID, NID, NID]),
    (NAT, Variant::RotateKeys,       [NID, NID, WR, NID, NID, NID, NID]),
    (NAT, Variant::Witness,          [NID, NID, OK, NID, NID, OK,  NID]),
    (NAT, Variant::WitnessTree,      [NID, NID, OK, NID, NID, OK,  NID]),
    (NAT, Variant::Reconcile,        [NID, NID, OK, NID, NID, NID, NID]),
    (NAT, Variant::FetchChunk,       [NID, NID, OK, NID, NID, NID, NID]),
    (NAT, Variant::CspDraft,         [NID, NID, OK, NID, NID, NID, NID]),
    (NAT, Variant::CspApproval,      [NID, NID, OK, NID, NID, NID, NID]),
    (NAT, Variant::CspComment,       [NID, NID, OK, NID, NID, NID, NID]),
    (NAT, Variant::SubmitCspReport,  [NID, NID, WR, NID, NID, NID, NID]),
    (NAT, Variant::SubmitReport,     [NID, NID, WR, NID, NID, NID, NID]),
    (NAT, Variant::FetchPublications, [NID, NID, WR, NID, NID, NID, NID]),
    // Announcements of publications come from the Secretariat alone.
    (NAT, Variant::PublicationsUpdated, [NID, NID, WR, NID, NID, OK, NID]),
    (NAT, Variant::RegisterForMeeting, [NID, NID, WR, NID, NID, NID, NID]),
    // Only the Secretariat serves snapshots; it does not ask for one.
    (NAT, Variant::FetchSnapshot,    [NID, NID, WR, NID, NID, NID, NID]),
];

/// A request of each kind that no handler acts on: signatures of zeros, a
/// State in no directory, an inventory naming one exchange twice, an
/// attachment nobody sent. Sent in any cell, it changes nothing a later cell
/// depends on, and a handler's refusal of it still shows the gate let it by.
fn harmless(variant: Variant, net: &LocalNet) -> NetRequest {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let nobody = IdentityKeypair::generate(&mut rng).public();
    let unlisted: StateCode = "CHL".parse().expect("a State code");
    let registration = SignedRegistration {
        registration: Registration {
            state: unlisted,
            identity_key: nobody,
            encryption_key: [0; 32],
            addresses: Vec::new(),
            operator: "nobody".into(),
            signed_at: now(),
        },
        signature: [0; 64],
    };
    match variant {
        Variant::Register => NetRequest::Register(registration),
        Variant::FetchDirectory => NetRequest::FetchDirectory { after: 0 },
        Variant::FetchSnapshot => NetRequest::FetchSnapshot,
        // In the name of the active State, signed by a key no directory lists.
        Variant::Deliver => NetRequest::Deliver(Box::new(seal_request(
            net,
            &IdentityKeypair::generate(&mut rng),
            "SWE",
            &["MEX"],
            now(),
            ExchangeId::for_request,
        ))),
        // A version every node holds: nothing to fetch.
        Variant::DirectoryUpdated => NetRequest::DirectoryUpdated { version: 0 },
        Variant::SubmitContacts => NetRequest::SubmitContacts(Box::new(SignedContactSet {
            set: ContactSet {
                state: unlisted,
                entry_visibility: Visibility::Restricted,
                contacts: Vec::new(),
                submitted_at: now(),
            },
            signature: [0; 64],
        })),
        Variant::RotateKeys => NetRequest::RotateKeys(Box::new(SignedKeyRotation {
            rotation: KeyRotation { previous_key: nobody, registration },
            signature: [0; 64],
        })),
        Variant::Witness => NetRequest::Witness(Box::new(SignedCheckpoint {
            checkpoint: Checkpoint {
                node: None,
                identity_key: nobody,
                count: 1,
                head: Bytes32([0; 32]),
                at: now(),
                restore: None,
            },
            signature: [0; 64],
        })),
        Variant::WitnessTree => NetRequest::WitnessTree(Box::new(TreeWitness {
            head: SignedTreeHead {
                head: TreeHead {
                    node: None,
                    identity_key: nobody,
                    count: 1,
                    root: Bytes32([0; 32]),
                    at: now(),
                    restore: None,
                },
                signature: [0; 64],
            },
            proof: None,
        })),
        // Refused as malformed before the once-per-period limit is counted.
        Variant::Reconcile => {
            let twice = ExchangeId::random(&mut rng);
            NetRequest::Reconcile(Box::new(Inventory {
                exchanges: vec![(twice, Vec::new()), (twice, Vec::new())],
                returned: Vec::new(),
            }))
        }
        Variant::FetchChunk => NetRequest::FetchChunk { attachment: AttachmentId::random(&mut rng), index: 0 },
        // Drafted by a State in no directory, so that no node keeps it.
        Variant::CspDraft => NetRequest::CspDraft(Box::new(unlisted_report(unlisted))),
        // For a report nobody drafted.
        Variant::CspApproval => NetRequest::CspApproval {
            report_id: ReportId::issued_by(unlisted, &mut rng),
            approval: Approval { signer: unlisted, draft_hash: Bytes32([0; 32]), signature: [0; 64] },
        },
        Variant::CspComment => NetRequest::CspComment {
            report_id: ReportId::issued_by(unlisted, &mut rng),
            draft_hash: Bytes32([0; 32]),
            text: "comments".into(),
        },
        Variant::SubmitCspReport => NetRequest::SubmitCspReport(Box::new(unlisted_report(unlisted))),
        // In the name of a State in no directory, signed by nobody.
        Variant::SubmitReport => NetRequest::SubmitReport(Box::new(SignedMeasuresReport {
            report: MeasuresReport {
                state: unlisted,
                title: "t".into(),
                measures: Vec::new(),
                text: "t".into(),
                exchanges: Vec::new(),
                signed_at: now(),
            },
            signature: [0; 64],
        })),
        Variant::FetchPublications => NetRequest::FetchPublications { after: 0 },
        // A publication every node holds: nothing to fetch.
        Variant::PublicationsUpdated => NetRequest::PublicationsUpdated { seq: 0 },
        Variant::RegisterForMeeting => NetRequest::RegisterForMeeting(Box::new(SignedMeetingRegistration {
            registration: MeetingRegistration {
                state: unlisted,
                notice: 1,
                participants: Vec::new(),
                signed_at: now(),
            },
            signature: [0; 64],
        })),
    }
}

/// A report drafted by `drafter`, approved by nobody.
fn unlisted_report(drafter: StateCode) -> SignedCspReport {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    SignedCspReport {
        draft: CspReport {
            report_id: ReportId::issued_by(drafter, &mut rng),
            revision: 1,
            drafter,
            authors: vec![drafter],
            period: Period { from: "2026-01-01".into(), to: "2026-12-31".into() },
            language: Language::En,
            title: "A report".into(),
            figures: Figures::default(),
            counterparts: Default::default(),
            sections: Vec::new(),
            drafted_at: now(),
        },
        approvals: Vec::new(),
    }
}

/// One observed cell.
#[derive(Debug)]
struct Cell {
    receiver: Receiver,
    variant: Variant,
    standing: Standing,
    answer: Answer,
    /// The answer as received, in short.
    seen: String,
}

fn classify(response: &NetResponse) -> (Answer, String) {
    let seen = match response {
        NetResponse::Refused(r) => format!("{:?}", r.code),
        other => format!("{other:?}").split(['(', ' ', '{']).next().unwrap_or_default().to_string(),
    };
    let answer = match response {
        NetResponse::Refused(r) if r.code == RefusalCode::NotInDirectory => Answer::NotInDirectory,
        NetResponse::Refused(r) if r.code == RefusalCode::WrongRole => Answer::WrongRole,
        _ => Answer::Served,
    };
    (answer, seen)
}

/// Sends every kind of request to one node from one key.
async fn ask_everything(
    receiver: (Receiver, libp2p::PeerId, &str),
    standing: Standing,
    key: libp2p::identity::Keypair,
    requests: &[NetRequest],
    observed: &mut Vec<Cell>,
) -> anyhow::Result<()> {
    let (receiver, peer, address) = receiver;
    let mut raw = RawPeer::new(key)?;
    for request in requests {
        let response = raw.send(peer, address, request).await?;
        let (answer, seen) = classify(&response);
        observed.push(Cell { receiver, variant: Variant::of(request), standing, answer, seen });
    }
    Ok(())
}

fn print_table(observed: &[Cell]) {
    const WIDTH: usize = 20;
    for receiver in [Receiver::Secretariat, Receiver::National] {
        let mut header = format!("{:<17}", format!("to {receiver:?}"));
        for standing in STANDINGS {
            header.push_str(&format!("{:<WIDTH$}", format!("{standing:?}")));
        }
        println!("{header}");
        for variant in Variant::ALL {
            let mut row = format!("{:<17}", format!("{variant:?}"));
            for standing in STANDINGS {
                let text = match observed
                    .iter()
                    .find(|c| (c.receiver, c.variant, c.standing) == (receiver, variant, standing))
                {
                    Some(c) if c.answer == Answer::Served => format!("ok:{}", c.seen),
                    Some(c) => c.answer.to_string(),
                    None => Answer::NotApplicable.to_string(),
                };
                row.push_str(&format!("{text:<WIDTH$}"));
            }
            println!("{row}");
        }
        println!();
    }
}

fn change(net: &LocalNet, state: &str, action: EntryAction) -> anyhow::Result<VersionView> {
    let request = StatusChangeRequest { state: state.into(), action, reason: "standing for the policy table".into() };
    Ok(blocking(|| net.secretariat.api()?.post("/v1/directory/status", &request))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn who_may_ask_what_is_the_same_for_every_request_role_and_standing() -> anyhow::Result<()> {
    let started = Instant::now();
    for receiver in [Receiver::Secretariat, Receiver::National] {
        for variant in Variant::ALL {
            let rows = EXPECTED.iter().filter(|(r, v, _)| (*r, *v) == (receiver, variant)).count();
            assert_eq!(rows, 1, "{variant:?} to the {receiver:?} node has one row in the table");
        }
    }

    // MEX answers as the national node. SWE, ITA, FRA, DEU and BRA only lend
    // their keys a standing: their nodes are stopped before the requests, so
    // that the test alone speaks with those keys.
    let mut net = TestNet::admitted(&["MEX", "SWE", "ITA", "FRA", "DEU"]).await?;

    let old_deu = keys_of(&net.national("DEU").home);
    let rotation: RotationView = blocking(|| net.national("DEU").api()?.post("/v1/keys/rotate", &()))?;
    wait_for("DEU to see its new keys listed", Duration::from_secs(20), || {
        net.national("DEU").handle.as_ref().is_some_and(|h| h.node.restart.asked()).then_some(())
    })
    .await?;
    change(&net, "ITA", EntryAction::Suspend)?;
    let last = change(&net, "FRA", EntryAction::Withdraw)?;

    net.add_national("BRA", "applicant").await?;
    let bra_fingerprint = keys_of(&net.national("BRA").home).identity.public().fingerprint();
    let sec_api = net.secretariat.api()?;
    wait_for("BRA's registration to wait for approval", Duration::from_secs(20), || {
        let pending: Vec<PendingView> = sec_api.get("/v1/directory/pending").ok()?;
        pending.iter().any(|p| p.state.as_str() == "BRA" && p.fingerprint == bra_fingerprint).then_some(())
    })
    .await?;

    for state in ["SWE", "ITA", "FRA", "DEU", "BRA"] {
        net.national_mut(state).stop().await;
    }
    net.wait_directory(last.version).await?;

    // The standings are what the columns say, at both receivers.
    for node in [&net.secretariat, net.national("MEX")] {
        let listing: DirectoryListing = blocking(|| node.api()?.get("/v1/directory"))?;
        assert_eq!(listing.version, last.version, "{} holds the last version", node.label);
        let entry = |s: &str| listing.entries.iter().find(|e| e.state.as_str() == s);
        let status = |s: &str| entry(s).map(|e| e.status);
        assert_eq!(status("SWE"), Some(EntryStatus::Active), "at {}", node.label);
        assert_eq!(status("ITA"), Some(EntryStatus::Suspended), "at {}", node.label);
        assert_eq!(status("FRA"), Some(EntryStatus::Withdrawn), "at {}", node.label);
        assert_eq!(status("BRA"), None, "BRA is not listed at {}", node.label);
        let deu = entry("DEU").expect("DEU listed");
        assert_eq!((deu.status, deu.fingerprint.as_str()), (EntryStatus::Active, rotation.fingerprint.as_str()));
        assert_ne!(deu.fingerprint, old_deu.identity.public().fingerprint(), "at {}", node.label);
    }

    let requests: Vec<NetRequest> = Variant::ALL.iter().map(|v| harmless(*v, &net)).collect();
    for (variant, request) in Variant::ALL.iter().zip(&requests) {
        assert_eq!(Variant::of(request), *variant);
    }
    let key_of = |standing: Standing| match standing {
        Standing::Stranger => libp2p::identity::Keypair::generate_ed25519(),
        Standing::Pending => keys_of(&net.national("BRA").home).libp2p_keypair(),
        Standing::Active => keys_of(&net.national("SWE").home).libp2p_keypair(),
        Standing::Suspended => keys_of(&net.national("ITA").home).libp2p_keypair(),
        Standing::Withdrawn => keys_of(&net.national("FRA").home).libp2p_keypair(),
        Standing::Secretariat => keys_of(&net.secretariat.home).libp2p_keypair(),
        Standing::RotatedAway => old_deu.libp2p_keypair(),
    };
    let keys = STANDINGS.map(|s| (s, key_of(s)));

    let mut observed = Vec::new();
    let secretariat = (Receiver::Secretariat, peer_of(&net.secretariat.home), net.secretariat.address.as_str());
    for (standing, key) in keys.iter().filter(|(s, _)| *s != Standing::Secretariat) {
        ask_everything(secretariat, *standing, key.clone(), &requests, &mut observed).await?;
    }
    // The Secretariat's node stops before its key speaks to MEX: two peers
    // holding one key would share MEX's connections to it.
    net.secretariat.stop().await;
    let mex = (Receiver::National, peer_of(&net.national("MEX").home), net.national("MEX").address.as_str());
    for (standing, key) in &keys {
        ask_everything(mex, *standing, key.clone(), &requests, &mut observed).await?;
    }

    print_table(&observed);
    for (receiver, variant, row) in EXPECTED {
        for (standing, expected) in STANDINGS.into_iter().zip(row) {
            let cell = observed.iter().find(|c| (c.receiver, c.variant, c.standing) == (receiver, variant, standing));
            let (answer, seen) = cell.map_or((Answer::NotApplicable, "nothing"), |c| (c.answer, c.seen.as_str()));
            assert_eq!(
                answer, expected,
                "the {receiver:?} node asked {variant:?} by a {standing:?} peer: answered {seen}, the table says {expected}"
            );
        }
    }
    net.shutdown().await;
    println!("policy table of {} cells checked in {:.1?}", observed.len(), started.elapsed());
    Ok(())
}
