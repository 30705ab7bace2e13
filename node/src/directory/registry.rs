//! The Secretariat's register: registrations, approvals, status changes,
//! key rotations and points of contact, each turned into the next signed
//! version of the directory. Pure rules over the store; the [`Publisher`]
//! service serialises them and tells the nodes.
//!
//! [`Publisher`]: super::Publisher

use super::{DirectoryView, directory_event};
use crate::home::keys::peer_id_of;
use crate::storage::{Store, StoreError};
use libp2p::PeerId;
use veim_protocol::audit::{Action, Actor};
use veim_protocol::contacts::SignedContactSet;
use veim_protocol::directory::DirectoryError;
use veim_protocol::wire::ContactsStatus;
use veim_protocol::{
    DirectoryEntry, DirectoryVersion, EntryAction, EntryStatus, IdentityKeypair, SignedDirectoryVersion,
    SignedKeyRotation, SignedRegistration, StateCode,
};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    #[error("no registration from {0} has been received; the State's node must be started first so that it registers")]
    NoRegistration(StateCode),
    #[error("{0} is already active in the directory with this key")]
    AlreadyActive(StateCode),
    #[error("no State to approve")]
    NothingToApprove,
    #[error("{0} is named twice in the approvals; name each State once")]
    Twice(StateCode),
    #[error(
        "{0} is listed with another key: it moves to a new key only by a rotation it signs (`veim keys rotate` on its node), or after a withdrawal"
    )]
    KeyChange(StateCode),
    #[error("{0} is not in the directory; `veim directory list` shows who is")]
    NotListed(StateCode),
    #[error("{state} {why}")]
    Transition { state: StateCode, why: String },
    #[error("the directory has been handed over to a new key; restart the node to take it up")]
    HandedOver,
    #[error("a rejection needs a reason (--reason): the applicant is told it")]
    NoReason,
    #[error("no points of contact from {0} are waiting for review; `veim contacts pending` lists those that are")]
    NoContacts(StateCode),
    #[error(
        "no registration from {state} has the fingerprint {given}; received: {received}. Check the fingerprint with the State's operator again"
    )]
    FingerprintMismatch { state: StateCode, given: String, received: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the new directory version would be {size} bytes, over the {limit}-byte limit nodes accept; nothing was published"
    )]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Rotation(#[from] Box<RotationError>),
    #[error("the new version would be refused by every node: {0}")]
    Refused(DirectoryError),
    #[error("cannot sign the directory version: {0}")]
    Sign(String),
    #[error(transparent)]
    Keys(#[from] crate::home::keys::KeyFileError),
    /// The Secretariat has not yet learned from the national nodes which
    /// versions were published after those its store holds (after a
    /// restore from a backup); the string says what it waits for.
    #[error(
        "this node has not yet learned from the national nodes which directory versions were published after \
         those it holds: {0}. Nothing is published until it has (it asks every few seconds; `veim status` says \
         what it learned)"
    )]
    NotCaughtUp(String),
}

/// Builds, signs and stores the next version with `change` applied to the
/// current entries.
pub fn publish_next(
    store: &Store,
    key: &IdentityKeypair,
    now: i64,
    description: String,
    change: impl FnOnce(&mut Vec<DirectoryEntry>),
) -> Result<SignedDirectoryVersion, PublishError> {
    publish_with(store, key, now, description, change, None)
}

/// Secretariat: the last version its current key signs, handing over to
/// `next`; every later version is signed by `next`.
pub fn publish_handover(
    store: &Store,
    key: &IdentityKeypair,
    next: &IdentityKeypair,
    now: i64,
) -> Result<SignedDirectoryVersion, PublishError> {
    let handover = veim_protocol::SecretariatHandover::new(&key.public(), next);
    let description = format!("the Secretariat moves to a new key (fingerprint {})", next.public().fingerprint());
    publish_with(store, key, now, description, |_| {}, Some(handover))
}

fn publish_with(
    store: &Store,
    key: &IdentityKeypair,
    now: i64,
    description: String,
    change: impl FnOnce(&mut Vec<DirectoryEntry>),
    handover: Option<veim_protocol::SecretariatHandover>,
) -> Result<SignedDirectoryVersion, PublishError> {
    // After a handover only the new key signs: a version from the old one
    // would be refused by every node and stall the chain.
    if let Some(anchor) = store.secretariat_key()?
        && anchor != key.public()
    {
        return Err(PublishError::HandedOver);
    }
    let current = store.current_directory()?;
    let (version, previous_hash, mut entries, last_issued) = match &current {
        Some(v) => (
            v.body.version + 1,
            v.hash().map_err(|e| PublishError::Sign(e.to_string()))?,
            v.body.entries.clone(),
            v.body.issued_at,
        ),
        None => (1, [0u8; 32], Vec::new(), now),
    };
    change(&mut entries);
    entries.sort_by_key(|e| e.state());
    let body = DirectoryVersion {
        version,
        previous_hash,
        issued_at: now.max(last_issued),
        change: description,
        entries,
        handover,
    };
    let signed = SignedDirectoryVersion::sign(body, key).map_err(|e| PublishError::Sign(e.to_string()))?;
    // Never publish what the national nodes would refuse: the chain would stall.
    if let Some(previous) = &current {
        signed.check_entries_kept(&previous.body).map_err(PublishError::Refused)?;
    }
    let size = veim_protocol::codec::encode("directory version", &signed)
        .map_err(|e| PublishError::Sign(e.to_string()))?
        .len();
    if size > veim_protocol::codec::MAX_DIRECTORY {
        return Err(PublishError::TooLarge { size, limit: veim_protocol::codec::MAX_DIRECTORY });
    }
    store.put_directory_version(&signed, &directory_event(&signed, Actor::Node, Action::DirectoryPublished))?;
    Ok(signed)
}

/// Compares fingerprints as operators write them: case and spacing ignored.
fn same_fingerprint(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    norm(a) == norm(b)
}

/// The registration a State sent with the key of this fingerprint.
fn registration_with(store: &Store, state: StateCode, fingerprint: &str) -> Result<SignedRegistration, PublishError> {
    let candidates = store.registrations_of(state)?;
    if candidates.is_empty() {
        return Err(PublishError::NoRegistration(state));
    }
    let registration = candidates
        .iter()
        .find(|r| same_fingerprint(&r.registration.identity_key.fingerprint(), fingerprint))
        .cloned()
        .ok_or_else(|| PublishError::FingerprintMismatch {
            state,
            given: fingerprint.to_string(),
            received: candidates
                .iter()
                .map(|r| r.registration.identity_key.fingerprint())
                .collect::<Vec<_>>()
                .join("; "),
        })?;
    Ok(registration)
}

/// Secretariat: admit (or re-admit with a newer registration) a State, naming
/// the key fingerprint the operator checked with the State out of band.
pub fn approve(
    store: &Store,
    key: &IdentityKeypair,
    state: StateCode,
    fingerprint: &str,
    now: i64,
) -> Result<SignedDirectoryVersion, PublishError> {
    approve_many(store, key, &[(state, fingerprint.to_string())], now)
}

/// Secretariat: admit several States in one new version (as when many join
/// at once): every one is checked first, and nothing is published unless all
/// of them can be admitted.
pub fn approve_many(
    store: &Store,
    key: &IdentityKeypair,
    approvals: &[(StateCode, String)],
    now: i64,
) -> Result<SignedDirectoryVersion, PublishError> {
    if approvals.is_empty() {
        return Err(PublishError::NothingToApprove);
    }
    let current = store.current_directory()?;
    let mut admitted: Vec<SignedRegistration> = Vec::with_capacity(approvals.len());
    for (i, (state, fingerprint)) in approvals.iter().enumerate() {
        if approvals[..i].iter().any(|(s, _)| s == state) {
            return Err(PublishError::Twice(*state));
        }
        let registration = registration_with(store, *state, fingerprint)?;
        if let Some(e) = current.as_ref().and_then(|c| c.body.entry(*state)) {
            if e.registration == registration && e.status == EntryStatus::Active {
                return Err(PublishError::AlreadyActive(*state));
            }
            if e.identity_key() != registration.registration.identity_key && e.status != EntryStatus::Withdrawn {
                return Err(PublishError::KeyChange(*state));
            }
        }
        admitted.push(registration);
    }
    let description = admitted
        .iter()
        .map(|r| format!("admitted {} (key {})", r.registration.state, r.registration.identity_key.fingerprint()))
        .collect::<Vec<_>>()
        .join("; ");
    publish_next(store, key, now, description, |entries| {
        for registration in admitted {
            let state = registration.registration.state;
            // Contacts the State signed stay with it while its key does.
            let contacts = entries
                .iter()
                .find(|e| e.state() == state && e.identity_key() == registration.registration.identity_key)
                .and_then(|e| e.contacts.clone());
            entries.retain(|e| e.state() != state);
            entries.push(DirectoryEntry {
                registration,
                status: EntryStatus::Active,
                admitted_at: now,
                contacts,
                rotated_from: None,
            });
        }
    })
}

/// Secretariat: suspend, reinstate or withdraw a listed State.
pub fn change_status(
    store: &Store,
    key: &IdentityKeypair,
    state: StateCode,
    action: EntryAction,
    reason: &str,
    now: i64,
) -> Result<SignedDirectoryVersion, PublishError> {
    let current = store.current_directory()?;
    let entry = current.as_ref().and_then(|v| v.body.entry(state)).ok_or(PublishError::NotListed(state))?;
    let status = entry.status.after(action).map_err(|why| PublishError::Transition { state, why })?;
    let description = if reason.trim().is_empty() {
        format!("{action} {state}")
    } else {
        format!("{action} {state}: {}", reason.trim())
    };
    publish_next(store, key, now, description, |entries| {
        if let Some(e) = entries.iter_mut().find(|e| e.state() == state) {
            e.status = status;
        }
    })
}

/// Secretariat: refuse a pending registration, with the reason the applicant
/// will be told.
pub fn reject(
    store: &Store,
    state: StateCode,
    fingerprint: &str,
    reason: &str,
) -> Result<SignedRegistration, PublishError> {
    let registration = registration_with(store, state, fingerprint)?;
    if reason.trim().is_empty() {
        return Err(PublishError::NoReason);
    }
    store.put_rejection(&registration, reason.trim())?;
    Ok(registration)
}

/// Secretariat: checks and keeps a State's submission of points of contact.
/// Only the State's own node may submit them, signed with its key.
pub fn receive_contacts(
    store: &Store,
    view: &DirectoryView,
    peer: &PeerId,
    submission: &SignedContactSet,
    now: i64,
    window_secs: i64,
) -> Result<ContactsStatus, ContactsError> {
    let entry = view.listed_peer(peer).ok_or(ContactsError::NotListed)?;
    let set = &submission.set;
    if set.state != entry.state() {
        return Err(ContactsError::OtherState { sender: entry.state(), named: set.state });
    }
    submission.verify(&entry.identity_key()).map_err(|_| ContactsError::BadSignature)?;
    set.validate().map_err(ContactsError::Invalid)?;
    // A node re-sends its set at every sync until it learns the outcome, so
    // the outcome is answered whatever the set's age; only a new set must be
    // fresh.
    if entry.contacts.as_ref() == Some(submission) {
        return Ok(ContactsStatus::Accepted { version: view.version() });
    }
    let hash = submission
        .hash()
        .map_err(|e| ContactsError::Store(StoreError::Internal(format!("cannot hash the contacts: {e}"))))?;
    if let Some(reason) = store.contacts_rejection(hash)? {
        return Ok(ContactsStatus::Rejected { reason });
    }
    if store.contacts(set.state)?.as_ref() == Some(submission) {
        return Ok(ContactsStatus::Pending);
    }
    if set.submitted_at < now.saturating_sub(window_secs) || set.submitted_at > now.saturating_add(window_secs) {
        return Err(ContactsError::Clock { submitted_at: set.submitted_at, now });
    }
    let newer = store.contacts(set.state)?.is_none_or(|old| old.set.submitted_at < set.submitted_at);
    if newer {
        store.put_contacts(submission)?;
    }
    Ok(ContactsStatus::Pending)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContactsError {
    #[error("only a node listed in the directory submits points of contact")]
    NotListed,
    #[error("the node of {sender} cannot submit the contacts of {named}")]
    OtherState { sender: StateCode, named: StateCode },
    #[error("the contacts are not signed by the State's key")]
    BadSignature,
    #[error("the contacts are not valid: {0}")]
    Invalid(veim_protocol::ValidationErrors),
    #[error(
        "the submission is dated {submitted_at}, too far from the Secretariat's clock ({now}); check the node's clock"
    )]
    Clock { submitted_at: i64, now: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Secretariat: puts a State's pending contacts into the next version.
pub fn accept_contacts(
    store: &Store,
    key: &IdentityKeypair,
    state: StateCode,
    now: i64,
) -> Result<SignedDirectoryVersion, PublishError> {
    let submission = store.contacts(state)?.ok_or(PublishError::NoContacts(state))?;
    let current = store.current_directory()?;
    let entry = current.as_ref().and_then(|v| v.body.entry(state)).ok_or(PublishError::NotListed(state))?;
    if submission.verify(&entry.identity_key()).is_err() {
        // The State's key changed since it submitted: the set no longer proves anything.
        store.remove_contacts(state)?;
        return Err(PublishError::NoContacts(state));
    }
    let n = submission.set.contacts.len();
    let version = publish_next(store, key, now, format!("accepted {n} point(s) of contact of {state}"), |entries| {
        if let Some(e) = entries.iter_mut().find(|e| e.state() == state) {
            e.contacts = Some(submission.clone());
        }
    })?;
    store.remove_contacts(state)?;
    Ok(version)
}

/// Secretariat: refuses a State's pending contacts; its node is told why.
pub fn reject_contacts(store: &Store, state: StateCode, reason: &str) -> Result<(), PublishError> {
    let submission = store.contacts(state)?.ok_or(PublishError::NoContacts(state))?;
    if reason.trim().is_empty() {
        return Err(PublishError::NoReason);
    }
    let hash = submission.hash().map_err(|e| PublishError::Sign(e.to_string()))?;
    store.put_contacts_rejection(hash, reason.trim())?;
    store.remove_contacts(state)?;
    Ok(())
}

/// Secretariat: moves a State to the keys of a rotation signed by its
/// current key, in a new version. Answers the version carrying it (also when
/// the rotation was already published: a node retries until it hears).
pub fn rotate(
    store: &Store,
    key: &IdentityKeypair,
    peer: &PeerId,
    rotation: &SignedKeyRotation,
    now: i64,
    window_secs: i64,
) -> Result<SignedDirectoryVersion, RotationError> {
    let r = &rotation.rotation;
    let state = r.registration.registration.state;
    let current = store.current_directory()?.ok_or(RotationError::NotListed(state))?;
    let entry = current.body.entry(state).ok_or(RotationError::NotListed(state))?;
    if entry.rotated_from.as_ref() == Some(rotation) {
        return Ok(current);
    }
    if entry.identity_key() != r.previous_key || peer_id_of(&r.previous_key).as_ref() != Some(peer) {
        return Err(RotationError::NotCurrentKey(state));
    }
    if entry.status == EntryStatus::Withdrawn {
        return Err(RotationError::NotListed(state));
    }
    rotation.verify().map_err(|_| RotationError::BadSignature)?;
    r.registration.registration.validate(now, window_secs).map_err(RotationError::Invalid)?;
    let new_key = r.registration.registration.identity_key;
    if current.body.entries.iter().any(|e| e.identity_key() == new_key) {
        return Err(RotationError::KeyInUse);
    }
    let description = format!("{state} rotated its keys (new key {})", new_key.fingerprint());
    publish_next(store, key, now, description, |entries| {
        if let Some(e) = entries.iter_mut().find(|e| e.state() == state) {
            e.registration = r.registration.clone();
            e.rotated_from = Some(rotation.clone());
            // Signed with the old key: the State submits them again, signed anew.
            e.contacts = None;
        }
    })
    .map_err(RotationError::Publish)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    #[error("{0} is not listed in the directory")]
    NotListed(StateCode),
    #[error("the rotation of {0} is not signed by, or not sent from, the key the directory lists for it")]
    NotCurrentKey(StateCode),
    #[error("the rotation's signatures do not verify")]
    BadSignature,
    #[error("the new registration is not valid: {0}")]
    Invalid(veim_protocol::ValidationErrors),
    #[error("the new key is already listed for a State")]
    KeyInUse,
    #[error(transparent)]
    Publish(PublishError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Secretariat: what to do with a registration a peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationOutcome {
    /// Stored; waits for the operator.
    Pending,
    /// This exact registration is already listed and active.
    Admitted { version: u64 },
    /// The operator refused this key, for this reason.
    Rejected { reason: String },
    /// A listed State's new addresses, signed by its listed key: publish them.
    ListingChanged,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    #[error("the registration is not signed by the identity key it names")]
    BadSignature,
    #[error("the registration is not valid: {0}")]
    Invalid(veim_protocol::ValidationErrors),
    #[error("the registration names key {named} but came from peer {peer}: a node can only register its own key")]
    NotOwnKey { named: String, peer: PeerId },
    #[error(
        "{state} is already listed with another identity key; a key change must be signed by the old key (key rotation)"
    )]
    KeyConflict { state: StateCode },
    #[error(
        "{waiting} registrations of {state} with other keys already wait for the Secretariat's review; \
         ask the ATT Secretariat to reject those that are not your node's, then register again"
    )]
    TooManyWaiting { state: StateCode, waiting: usize },
    #[error("the Secretariat holds as many registrations waiting for review as it takes; try again later")]
    RegisterFull,
    #[error("address {address} cannot be listed: {why}")]
    Address { address: String, why: String },
    #[error(
        "{state} has moved {MAX_MOVES_PER_DAY} times today; the directory publishes more moves tomorrow, or ask the ATT Secretariat"
    )]
    TooManyMoves { state: StateCode },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Registrations of one State with different keys that may wait for the
/// Secretariat's review at once, in all, and how long one waits before it is
/// dropped (its node registers again at its next sync if it still runs).
pub const MAX_WAITING_PER_STATE: usize = 8;
pub const MAX_WAITING: usize = 2_000;
pub const WAITING_SECS: i64 = 30 * 86_400;

/// Drops the registrations that waited too long, then checks that a new
/// one fits within [`MAX_WAITING_PER_STATE`] and [`MAX_WAITING`].
fn make_room(store: &Store, registration: &SignedRegistration, now: i64) -> Result<(), RegistrationError> {
    let state = registration.registration.state;
    let listed = store.current_directory()?.and_then(|v| v.body.entry(state).map(|e| e.identity_key()));
    let mut waiting = 0;
    for held in store.registrations_of(state)? {
        let r = &held.registration;
        if Some(r.identity_key) == listed || store.rejection(&held)?.is_some() {
            continue;
        }
        if r.signed_at < now - WAITING_SECS {
            store.remove_registration(&held)?;
        } else {
            waiting += 1;
        }
    }
    if waiting >= MAX_WAITING_PER_STATE {
        return Err(RegistrationError::TooManyWaiting { state, waiting });
    }
    if store.registration_count()? >= MAX_WAITING {
        return Err(RegistrationError::RegisterFull);
    }
    Ok(())
}

/// The Secretariat's rules for what it lists.
#[derive(Debug, Clone, Copy)]
pub struct ListingRules {
    /// How far a registration's signing time may be from the clock.
    pub window_secs: i64,
    /// Whether loopback and private-range addresses may be listed (a
    /// network on one machine, or on a private network of its own).
    pub private_addresses: bool,
}

/// Published moves (new addresses) of one State in a day.
pub const MAX_MOVES_PER_DAY: u32 = 4;

/// Refuses an address no other node could dial: not a host (IP or DNS
/// name) and a TCP port (`address::dialable`), or (unless `private` allows
/// them) a loopback, private-range, link-local, unspecified, multicast or
/// broadcast IP, or a name for this machine (`localhost`). Other DNS names
/// are taken as given: what they resolve to is the registrant's to keep.
pub fn check_addresses(addresses: &[String], private: bool) -> Result<(), RegistrationError> {
    use libp2p::multiaddr::Protocol;
    for a in addresses {
        let addr = crate::address::dialable(a)
            .map_err(|e| RegistrationError::Address { address: a.clone(), why: e.to_string() })?;
        if !private && crate::address::dns_name(&addr).is_some_and(|n| crate::address::names_loopback(&n)) {
            return Err(RegistrationError::Address {
                address: a.clone(),
                why: "the name means the node's own machine to whoever dials it; announce the address other nodes \
                      should use (veim init --announce)"
                    .into(),
            });
        }
        let ip = addr.iter().find_map(|p| match p {
            Protocol::Ip4(ip) => Some(std::net::IpAddr::V4(ip)),
            Protocol::Ip6(ip) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        });
        let unroutable = match ip {
            Some(std::net::IpAddr::V4(ip)) => {
                ip.is_unspecified()
                    || ip.is_multicast()
                    || ip.is_broadcast()
                    || ip.is_link_local()
                    || (!private && (ip.is_loopback() || ip.is_private()))
            }
            Some(std::net::IpAddr::V6(ip)) => {
                let unique_local = (ip.segments()[0] & 0xfe00) == 0xfc00;
                let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
                ip.is_unspecified()
                    || ip.is_multicast()
                    || link_local
                    || (!private && (ip.is_loopback() || unique_local))
            }
            None => false,
        };
        if unroutable {
            return Err(RegistrationError::Address {
                address: a.clone(),
                why: "other nodes cannot dial it; announce the address they should use (veim init --announce)".into(),
            });
        }
    }
    Ok(())
}

/// Shortest time between two published moves of one State.
pub const MIN_SECS_BETWEEN_MOVES: i64 = 60;

/// Secretariat: publishes a listed State's new addresses (its registration
/// signed by the key already listed).
pub fn update_listing(
    store: &Store,
    key: &IdentityKeypair,
    registration: &SignedRegistration,
    now: i64,
) -> Result<SignedDirectoryVersion, PublishError> {
    let state = registration.registration.state;
    let description = format!("{state} moved to {}", registration.registration.addresses.join(", "));
    store.set_last_move(state, now)?;
    publish_next(store, key, now, description, |entries| {
        if let Some(e) = entries
            .iter_mut()
            .find(|e| e.state() == state && e.identity_key() == registration.registration.identity_key)
        {
            e.registration = registration.clone();
            // The rotation record names the registration it brought; it is
            // not needed once the key is listed.
            e.rotated_from = None;
        }
    })
}

/// Secretariat: checks and keeps a registration a peer sent. Nothing in it
/// is trusted until the operator approves it with the fingerprint.
pub fn receive_registration(
    store: &Store,
    peer: &PeerId,
    registration: &SignedRegistration,
    now: i64,
    rules: &ListingRules,
) -> Result<RegistrationOutcome, RegistrationError> {
    let window_secs = rules.window_secs;
    registration.verify().map_err(|_| RegistrationError::BadSignature)?;
    let r = &registration.registration;
    if peer_id_of(&r.identity_key).as_ref() != Some(peer) {
        return Err(RegistrationError::NotOwnKey { named: r.identity_key.fingerprint(), peer: *peer });
    }
    r.validate(now, window_secs).map_err(RegistrationError::Invalid)?;
    // What the Secretariat lists must be an address other nodes can reach,
    // whoever sent it (a new registration, or a listed State moving).
    check_addresses(&r.addresses, rules.private_addresses)?;
    if let Some(current) = store.current_directory()?
        && let Some(e) = current.body.entry(r.state)
    {
        if e.identity_key() != r.identity_key && e.status != EntryStatus::Withdrawn {
            return Err(RegistrationError::KeyConflict { state: r.state });
        }
        let same_listing = e.registration.registration.encryption_key == r.encryption_key
            && e.registration.registration.addresses == r.addresses
            && e.registration.registration.operator == r.operator;
        if same_listing && e.is_active() {
            return Ok(RegistrationOutcome::Admitted { version: current.body.version });
        }
        // A listed node that moved (new addresses, or a new operator name)
        // signs that with the key the directory already lists: nothing for an
        // operator to check, so the change is published at once.
        let same_keys = e.identity_key() == r.identity_key && e.encryption_key() == r.encryption_key;
        if same_keys && e.status != EntryStatus::Withdrawn {
            let listed = &e.registration.registration;
            if r.signed_at <= listed.signed_at {
                return Ok(RegistrationOutcome::Admitted { version: current.body.version });
            }
            // A new name of the authority running the node is a statement
            // about who the State's point of entry is: the Secretariat's
            // operator reviews it (approve, as for a registration).
            if listed.operator != r.operator {
                let newer =
                    store.registration(registration)?.is_none_or(|old| old.registration.signed_at < r.signed_at);
                if newer {
                    store.put_registration(registration)?;
                }
                return Ok(RegistrationOutcome::Pending);
            }
            if listed.addresses == r.addresses {
                return Ok(RegistrationOutcome::Admitted { version: current.body.version });
            }
            check_addresses(&r.addresses, rules.private_addresses)?;
            // At most one published move a minute per State, and
            // MAX_MOVES_PER_DAY a day: every move is a version every node
            // stores for ever.
            if store.last_move(r.state)?.is_some_and(|t| now < t + MIN_SECS_BETWEEN_MOVES) {
                return Ok(RegistrationOutcome::Admitted { version: current.body.version });
            }
            if store.moves_on(r.state, now.div_euclid(86_400))? >= MAX_MOVES_PER_DAY {
                return Err(RegistrationError::TooManyMoves { state: r.state });
            }
            return Ok(RegistrationOutcome::ListingChanged);
        }
    }
    if let Some(reason) = store.rejection(registration)? {
        return Ok(RegistrationOutcome::Rejected { reason });
    }
    // One registration per State and key; a newer one from the same key
    // (new addresses, say) replaces the older. A new key must find room:
    // anyone may register, so what waits for review is bounded.
    let newer = match store.registration(registration)? {
        Some(old) => old.registration.signed_at < r.signed_at,
        None => {
            make_room(store, registration, now)?;
            true
        }
    };
    if newer {
        store.put_registration(registration)?;
    }
    Ok(RegistrationOutcome::Pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_other_nodes_can_dial_are_listed() {
        let listed = |a: &str, private: bool| check_addresses(&[a.to_string()], private).is_ok();
        for public in [
            "/ip4/192.0.2.7/tcp/7040",
            "/ip6/2001:db8::7/tcp/7040",
            "/dns4/veim.example.org/tcp/7040",
            "/dns6/veim.example.org/tcp/7040",
            "/dns/veim.example.org/tcp/7040",
        ] {
            assert!(listed(public, false), "{public}");
        }
        for unroutable in [
            "/ip4/127.0.0.1/tcp/7040",
            "/ip4/10.1.2.3/tcp/7040",
            "/ip4/172.16.0.9/tcp/7040",
            "/ip4/192.168.1.20/tcp/7040",
            "/ip6/::1/tcp/7040",
            "/ip6/fd00::1/tcp/7040",
            "/dns4/localhost/tcp/7040",
            "/dns/veim.localhost/tcp/7040",
        ] {
            assert!(!listed(unroutable, false), "{unroutable}");
            assert!(listed(unroutable, true), "{unroutable} on a private network");
        }
        for never in [
            "/ip4/0.0.0.0/tcp/7040",
            "/ip4/169.254.1.1/tcp/7040",
            "/ip4/224.0.0.1/tcp/7040",
            "/ip6/fe80::1/tcp/7040",
            "not an address",
            "/dns4/veim.example.org/udp/7040",
            "/dns4/veim.example.org/tcp/0",
            "/dnsaddr/veim.example.org",
            "/dns4/veim example.org/tcp/7040",
        ] {
            assert!(!listed(never, true), "{never}");
        }
        let e = check_addresses(&["/ip4/10.0.0.1/tcp/1".into()], false).expect_err("private");
        assert!(e.to_string().contains("10.0.0.1") && e.to_string().contains("--announce"), "{e}");
        let e = check_addresses(&["/dns4/veim.example.org/udp/7040".into()], true).expect_err("udp");
        assert!(e.to_string().contains("/tcp/<port>"), "{e}");
    }
}
