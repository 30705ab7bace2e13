//! Who may ask what: the one place a peer's request is let through or
//! refused for who the peer is, before any service sees it.
//!
//! A pure function of the node's role, the kind of request and the peer's
//! standing in the directory this node holds. It carries security (a peer
//! outside the directory reaches nothing but registration on the
//! Secretariat), so it is written as data with a table test over every
//! combination, not as the order of arms in a long `match`.

use crate::home::config::Role;
use libp2p::PeerId;
use veim_protocol::EntryStatus;
use veim_protocol::wire::NetRequest;

use crate::directory::DirectoryView;

/// A peer's standing, as the directory this node holds sees it.
///
/// A State whose registration waits for the Secretariat's approval is not
/// listed: on the network it stands as a [`Standing::Stranger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not listed, under this key or a key a listed State had (a State
    /// waiting for approval is one of these).
    Stranger,
    Active,
    Suspended,
    Withdrawn,
    /// The Secretariat's key (as a national node knows it).
    Secretariat,
    /// The key a listed State rotated away from.
    RotatedAway,
}

impl Standing {
    /// The standing of transport peer `peer`; `secretariat` is the
    /// Secretariat's transport identity, if this node knows it.
    pub fn of(view: &DirectoryView, peer: &PeerId, secretariat: Option<PeerId>) -> Standing {
        if Some(*peer) == secretariat {
            return Standing::Secretariat;
        }
        match view.peer_entry(peer).map(|e| e.status) {
            Some(EntryStatus::Active) => Standing::Active,
            Some(EntryStatus::Suspended) => Standing::Suspended,
            Some(EntryStatus::Withdrawn) => Standing::Withdrawn,
            None if view.rotated_away_peer(peer).is_some() => Standing::RotatedAway,
            None => Standing::Stranger,
        }
    }
}

/// The kinds of request, without their content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Register,
    FetchDirectory,
    Deliver,
    SubmitContacts,
    RotateKeys,
    DirectoryUpdated,
    Witness,
    Reconcile,
    FetchChunk,
    WitnessTree,
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

impl Kind {
    pub const ALL: [Kind; 19] = [
        Kind::Register,
        Kind::FetchDirectory,
        Kind::Deliver,
        Kind::SubmitContacts,
        Kind::RotateKeys,
        Kind::DirectoryUpdated,
        Kind::Witness,
        Kind::Reconcile,
        Kind::FetchChunk,
        Kind::WitnessTree,
        Kind::CspDraft,
        Kind::CspApproval,
        Kind::CspComment,
        Kind::SubmitCspReport,
        Kind::SubmitReport,
        Kind::FetchPublications,
        Kind::PublicationsUpdated,
        Kind::RegisterForMeeting,
        Kind::FetchSnapshot,
    ];

    pub fn of(request: &NetRequest) -> Kind {
        match request {
            NetRequest::Register(_) => Kind::Register,
            NetRequest::FetchDirectory { .. } => Kind::FetchDirectory,
            NetRequest::Deliver(_) => Kind::Deliver,
            NetRequest::SubmitContacts(_) => Kind::SubmitContacts,
            NetRequest::RotateKeys(_) => Kind::RotateKeys,
            NetRequest::DirectoryUpdated { .. } => Kind::DirectoryUpdated,
            NetRequest::Witness(_) => Kind::Witness,
            NetRequest::Reconcile(_) => Kind::Reconcile,
            NetRequest::FetchChunk { .. } => Kind::FetchChunk,
            NetRequest::WitnessTree(_) => Kind::WitnessTree,
            NetRequest::CspDraft(_) => Kind::CspDraft,
            NetRequest::CspApproval { .. } => Kind::CspApproval,
            NetRequest::CspComment { .. } => Kind::CspComment,
            NetRequest::SubmitCspReport(_) => Kind::SubmitCspReport,
            NetRequest::SubmitReport(_) => Kind::SubmitReport,
            NetRequest::FetchPublications { .. } => Kind::FetchPublications,
            NetRequest::PublicationsUpdated { .. } => Kind::PublicationsUpdated,
            NetRequest::RegisterForMeeting(_) => Kind::RegisterForMeeting,
            NetRequest::FetchSnapshot => Kind::FetchSnapshot,
        }
    }

    /// What a node that does not serve this kind says it does not serve.
    pub fn served_as(self) -> &'static str {
        match self {
            Kind::Register => "registrations",
            Kind::FetchDirectory => "the directory",
            Kind::Deliver => "message delivery",
            Kind::DirectoryUpdated => "directory announcements from this peer",
            Kind::SubmitContacts => "points of contact",
            Kind::RotateKeys => "key rotations",
            Kind::Witness => "audit checkpoints",
            Kind::WitnessTree => "audit tree heads",
            Kind::Reconcile => "reconciliation",
            Kind::FetchChunk => "attachment chunks",
            Kind::CspDraft => "drafts of reports to the CSP",
            Kind::CspApproval => "approvals of reports to the CSP",
            Kind::CspComment => "comments on reports to the CSP",
            Kind::SubmitCspReport => "the register of reports to the CSP",
            Kind::SubmitReport => "reports of measures",
            Kind::FetchPublications => "the publication log",
            Kind::PublicationsUpdated => "publication announcements from this peer",
            Kind::RegisterForMeeting => "meeting registrations",
            Kind::FetchSnapshot => "directory snapshots",
        }
    }
}

/// Why a request is refused for who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The peer is not an active node of the directory.
    NotInDirectory,
    /// This node's role does not serve that request.
    WrongRole,
}

/// Whether a peer of `standing` may ask a node of `role` for `kind`.
///
/// The Secretariat takes registrations, key rotations and points of contact
/// from anyone (the services then check who signed them) and serves the
/// directory to listed nodes, suspended ones too (that is how they learn
/// they were reinstated) and keys rotated away (to learn the new key). A
/// national node takes announcements and audit witnesses from the
/// Secretariat, and serves it the directory versions it holds (a
/// Secretariat restored from a backup learns from them what it published),
/// and publication announcements from the Secretariat. Beyond that only
/// active nodes are served, and only what the role serves: the Secretariat
/// takes reports and meeting registrations from active States and serves
/// them its publication log (a suspended State is served nothing new).
pub fn decide(role: Role, kind: Kind, standing: Standing) -> Result<(), Refused> {
    use Kind::*;
    use Standing::*;
    let open_to_this_peer = matches!(
        (role, kind, standing),
        (Role::Secretariat, Register | RotateKeys | SubmitContacts, _)
            | (Role::Secretariat, FetchDirectory | FetchSnapshot, Active | Suspended | RotatedAway)
            | (
                Role::National,
                DirectoryUpdated | Witness | WitnessTree | FetchDirectory | PublicationsUpdated,
                Secretariat
            )
    );
    if open_to_this_peer {
        return Ok(());
    }
    if standing != Active {
        return Err(Refused::NotInDirectory);
    }
    match (role, kind) {
        (_, Witness | WitnessTree) => Ok(()),
        (Role::National, Deliver | Reconcile | FetchChunk | CspDraft | CspApproval | CspComment) => Ok(()),
        (Role::Secretariat, SubmitCspReport | SubmitReport | FetchPublications | RegisterForMeeting) => Ok(()),
        _ => Err(Refused::WrongRole),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Standing = Standing::Stranger;
    const A: Standing = Standing::Active;
    const SU: Standing = Standing::Suspended;
    const W: Standing = Standing::Withdrawn;
    const SE: Standing = Standing::Secretariat;
    const R: Standing = Standing::RotatedAway;
    const STANDINGS: [Standing; 6] = [S, A, SU, W, SE, R];

    /// What each (role, kind) answers, per standing in the order of
    /// `STANDINGS`: `o` served, `n` NotInDirectory, `w` WrongRole. The same
    /// table as the multi-node characterisation test
    /// (`tests/tests/veim/policy.rs`), which checks it on real nodes.
    const TABLE: [(Role, Kind, &str); 38] = [
        //                                     S A SU W SE R
        (Role::Secretariat, Kind::Register, "oooooo"),
        (Role::Secretariat, Kind::FetchDirectory, "noonno"),
        (Role::Secretariat, Kind::Deliver, "nwnnnn"),
        (Role::Secretariat, Kind::SubmitContacts, "oooooo"),
        (Role::Secretariat, Kind::RotateKeys, "oooooo"),
        (Role::Secretariat, Kind::DirectoryUpdated, "nwnnnn"),
        (Role::Secretariat, Kind::Witness, "nonnnn"),
        (Role::Secretariat, Kind::Reconcile, "nwnnnn"),
        (Role::Secretariat, Kind::FetchChunk, "nwnnnn"),
        (Role::Secretariat, Kind::WitnessTree, "nonnnn"),
        (Role::Secretariat, Kind::CspDraft, "nwnnnn"),
        (Role::Secretariat, Kind::CspApproval, "nwnnnn"),
        (Role::Secretariat, Kind::CspComment, "nwnnnn"),
        (Role::Secretariat, Kind::SubmitCspReport, "nonnnn"),
        (Role::Secretariat, Kind::SubmitReport, "nonnnn"),
        (Role::Secretariat, Kind::FetchPublications, "nonnnn"),
        (Role::Secretariat, Kind::PublicationsUpdated, "nwnnnn"),
        (Role::Secretariat, Kind::RegisterForMeeting, "nonnnn"),
        (Role::National, Kind::Register, "nwnnnn"),
        (Role::National, Kind::FetchDirectory, "nwnnon"),
        (Role::National, Kind::Deliver, "nonnnn"),
        (Role::National, Kind::SubmitContacts, "nwnnnn"),
        (Role::National, Kind::RotateKeys, "nwnnnn"),
        (Role::National, Kind::DirectoryUpdated, "nwnnon"),
        (Role::National, Kind::Witness, "nonnon"),
        (Role::National, Kind::Reconcile, "nonnnn"),
        (Role::National, Kind::FetchChunk, "nonnnn"),
        (Role::National, Kind::WitnessTree, "nonnon"),
        (Role::National, Kind::CspDraft, "nonnnn"),
        (Role::National, Kind::CspApproval, "nonnnn"),
        (Role::National, Kind::CspComment, "nonnnn"),
        (Role::National, Kind::SubmitCspReport, "nwnnnn"),
        (Role::National, Kind::SubmitReport, "nwnnnn"),
        (Role::National, Kind::FetchPublications, "nwnnnn"),
        (Role::National, Kind::PublicationsUpdated, "nwnnon"),
        (Role::National, Kind::RegisterForMeeting, "nwnnnn"),
        (Role::Secretariat, Kind::FetchSnapshot, "noonno"),
        (Role::National, Kind::FetchSnapshot, "nwnnnn"),
    ];

    #[test]
    fn every_request_role_and_standing_is_answered_as_the_table_says() {
        let mut seen = 0;
        for (role, kind, row) in TABLE {
            let row: Vec<char> = row.chars().collect();
            assert_eq!(row.len(), STANDINGS.len(), "{role} {kind:?}: one answer per standing");
            for (standing, expected) in STANDINGS.iter().zip(row) {
                let expected = match expected {
                    'o' => Ok(()),
                    'n' => Err(Refused::NotInDirectory),
                    'w' => Err(Refused::WrongRole),
                    other => panic!("{other:?} is not an answer"),
                };
                assert_eq!(decide(role, kind, *standing), expected, "a {role} node asked {kind:?} by {standing:?}");
                seen += 1;
            }
        }
        // Every kind for both roles, so a new request kind needs its rows.
        assert_eq!(seen, Kind::ALL.len() * 2 * STANDINGS.len());
        for role in [Role::Secretariat, Role::National] {
            for kind in Kind::ALL {
                assert!(TABLE.iter().any(|(r, k, _)| *r == role && *k == kind), "no row for {role} {kind:?}");
            }
        }
    }

    #[test]
    fn a_stranger_reaches_only_what_the_secretariat_takes_from_anyone() {
        for role in [Role::Secretariat, Role::National] {
            for kind in Kind::ALL {
                let served = decide(role, kind, Standing::Stranger).is_ok();
                let open = role == Role::Secretariat
                    && matches!(kind, Kind::Register | Kind::RotateKeys | Kind::SubmitContacts);
                assert_eq!(served, open, "a {role} node asked {kind:?} by a stranger");
            }
        }
    }

    /// What a stranger may send (a registration: the Secretariat's only
    /// open door that a State not yet listed needs) fits many times over in
    /// the frame the network layer reads from strangers.
    #[test]
    fn a_registration_of_the_largest_size_fits_well_within_a_strangers_frame() {
        use veim_protocol::directory::{MAX_ADDRESS, MAX_ADDRESSES, MAX_OPERATOR};
        let key = veim_protocol::IdentityKeypair::from_secret_bytes(&[7; 32]);
        let registration = veim_protocol::Registration {
            state: "MEX".parse().expect("a State"),
            identity_key: key.public(),
            encryption_key: [1; 32],
            addresses: vec!["/".repeat(MAX_ADDRESS); MAX_ADDRESSES],
            operator: "o".repeat(MAX_OPERATOR),
            signed_at: i64::MAX,
        };
        let signed = veim_protocol::SignedRegistration::sign(registration, &key).expect("signed");
        let frame = veim_protocol::codec::encode("request", &NetRequest::Register(signed)).expect("encoded");
        let limit = crate::net::Limits::default().stranger_max_frame;
        assert!(frame.len() < 3 * 1024, "a registration of {} bytes", frame.len());
        assert!(20 * frame.len() <= limit, "{} bytes, the strangers' limit {limit}", frame.len());
    }
}
