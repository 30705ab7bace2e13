//! A national node's client of the Secretariat: registers the node, follows
//! the directory (accepting a version only if it extends the chain held),
//! carries key rotations through, and submits the State's points of contact.
//! One sync at a time; its outcome is kept for `veim status`.

use super::{Directory, DirectoryView, directory_event};
use crate::clock::now;
use crate::home::keys::{KeyFileError, NodeKeys};
use crate::net::{Client, NetworkError};
use crate::shutdown::Restart;
use crate::storage::{Store, StoreError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::contacts::{ContactSetForm, SignedContactSet};
use veim_protocol::directory::{DirectoryError, DirectoryHead, Succession};
use veim_protocol::keys::PublicIdentity;
use veim_protocol::wire::{ContactsStatus, NetRequest, NetResponse, Refusal, RefusalCode, RegistrationStatus};
use veim_protocol::{
    EntryStatus, KeyRotation, Registration, SignedDirectoryVersion, SignedKeyRotation, SignedRegistration, StateCode,
};

/// What the national node knows of its own standing with the Secretariat:
/// each matter in words for people, and typed ([`Standing`]) for scripts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncStatus {
    pub registration: Option<String>,
    pub registration_standing: Option<Standing>,
    /// Where this State's latest submission of points of contact stands.
    pub contacts: Option<String>,
    pub contacts_standing: Option<Standing>,
    pub last_sync: Option<i64>,
    pub last_error: Option<String>,
    /// When the round that failed with `last_error` ended.
    pub last_error_at: Option<i64>,
}

/// Where one matter stands with the Secretariat (this node's registration,
/// or its points of contact), as a script reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Standing {
    pub state: StandingState,
    /// The directory version it refers to, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The Secretariat's reason (a rejection), or the refusal's detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When this node learnt it, Unix seconds.
    pub at: i64,
}

/// The states of a [`Standing`], as words a script compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StandingState {
    /// Contacts: signed and kept, not yet delivered to the Secretariat.
    Kept,
    /// Waiting for the Secretariat's approval (registration) or review (contacts).
    Pending,
    /// Registration: admitted in `version`.
    Admitted,
    /// Registration: listed, active, in `version`.
    Active,
    /// Registration: listed, suspended, in `version`.
    Suspended,
    /// Registration: listed as withdrawn in `version`.
    Withdrawn,
    /// Contacts: carried by directory `version`.
    Accepted,
    /// Refused by the Secretariat, for `reason`.
    Rejected,
    /// Registration: this State's key rotation is published in `version`.
    RotationPublished,
    /// Registration: the key rotation was given up, for `reason`.
    RotationAbandoned,
    /// Registration: the node moved to its new keys and restarts.
    MovedToNewKeys,
}

impl Standing {
    fn new(state: StandingState, version: Option<u64>, reason: Option<String>) -> Standing {
        Standing { state, version, reason, at: now() }
    }
}

/// Why a round with the Secretariat did not complete. Each says what
/// happened and, where the operator can act, what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    #[error("no Secretariat key pinned")]
    NoSecretariat,
    #[error("the [secretariat] pin in config.toml is not usable")]
    BadPin,
    #[error("no State code configured")]
    NoState,
    #[error("the Secretariat node is unreachable: {0}")]
    Unreachable(NetworkError),
    /// The node at the Secretariat's address holds another key than the
    /// one this node trusts for the Secretariat: a wrong key in the
    /// configuration, or another node at that address.
    #[error(
        "the node at the Secretariat's address {address} presented the key of fingerprint {presented}, \
         not the Secretariat's key this node trusts (fingerprint {expected}); check [secretariat] public_key \
         and address in config.toml against the fingerprint the ATT Secretariat gives you by a channel you trust"
    )]
    WrongSecretariatKey { address: String, expected: String, presented: String },
    #[error("unreadable answer from the Secretariat: {0}")]
    Unreadable(String),
    #[error("{what} failed: the Secretariat refused: {refusal}")]
    Refused { what: &'static str, refusal: Refusal },
    #[error("unexpected answer to {what}: {answer}")]
    Unexpected { what: &'static str, answer: String },
    #[error(
        "{status}. Settle the matter with the ATT Secretariat; to apply again with a new key, create a new node with `veim init`"
    )]
    RegistrationRejected { status: String },
    #[error("directory version refused: {0}")]
    DirectoryRefused(#[from] AcceptError),
    #[error("key rotation refused by the Secretariat: {0}")]
    RotationRefused(String),
    #[error("key rotation not delivered: {0}; the node retries at every sync")]
    RotationNotDelivered(Box<SyncError>),
    #[error("cannot sign: {0}")]
    Sign(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    /// Another instance of this node (same keys) answers at the address the
    /// directory lists: this one does not move the State's address.
    #[error(
        "another node with this node's keys answers at {addr}, the address the directory lists for {state}: this \
         copy of the node does not register a move there. Stop one of the two; if this one is to replace the other, \
         stop the other first (its peers then reach this one once the move is published)"
    )]
    SecondInstance { state: StateCode, addr: String },
}

/// Why the operator's points of contact were not submitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    #[error("only a national node submits points of contact")]
    WrongRole,
    #[error("the contacts are not valid")]
    Invalid(veim_protocol::ValidationErrors),
    #[error(transparent)]
    Failed(#[from] SyncError),
}

/// A national node's client of the Secretariat.
#[derive(Debug)]
pub struct SyncClient {
    home: PathBuf,
    state: Option<StateCode>,
    operator: String,
    /// The addresses this node publishes in the directory.
    announce: Vec<String>,
    keys: Arc<NodeKeys>,
    store: Store,
    directory: Arc<Directory>,
    client: Client,
    restart: Arc<Restart>,
    status: Mutex<SyncStatus>,
    /// Wakes the sync loop before its next poll (a version was announced).
    pub wake: Notify,
    /// One sync at a time (the poll loop and the operator's `directory
    /// sync` would otherwise race on the same head).
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl SyncClient {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        home: PathBuf,
        state: Option<StateCode>,
        operator: String,
        announce: Vec<String>,
        keys: Arc<NodeKeys>,
        store: Store,
        directory: Arc<Directory>,
        client: Client,
        restart: Arc<Restart>,
    ) -> SyncClient {
        SyncClient {
            home,
            state,
            operator,
            announce,
            keys,
            store,
            directory,
            client,
            restart,
            status: Mutex::new(SyncStatus::default()),
            wake: Notify::new(),
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// Where this node stands with the Secretariat.
    pub fn status(&self) -> SyncStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The Secretariat announced version `version`: sync now if it is new.
    pub fn announced(&self, version: u64) {
        if version > self.directory.view().version() {
            self.wake.notify_one();
        }
    }

    /// One round with the Secretariat: register if not listed as we are, then
    /// fetch and verify new directory versions. Records the outcome for
    /// `veim status`.
    pub async fn sync(&self) -> Result<(), SyncError> {
        let _one_at_a_time = self.one_at_a_time.lock().await;
        let result = self.sync_once().await;
        if let Ok(mut s) = self.status.lock() {
            match &result {
                Ok(()) => {
                    s.last_sync = Some(now());
                    s.last_error = None;
                }
                Err(e) => {
                    s.last_error = Some(e.to_string());
                    s.last_error_at = Some(now());
                }
            }
        }
        result
    }

    async fn sync_once(&self) -> Result<(), SyncError> {
        let secretariat = self.directory.secretariat_key().ok_or(SyncError::NoSecretariat)?;
        if self.restart.asked() {
            return Ok(());
        }
        if let Some(next) = NodeKeys::load_next(&self.home)? {
            return self.continue_rotation(&secretariat, next).await;
        }
        if !self.listed_as_me() {
            self.check_no_other_instance().await?;
            let signed = self.registration_with(&self.keys)?;
            let (status, standing) = match self.ask(&NetRequest::Register(signed), "a registration").await? {
                NetResponse::Registration(RegistrationStatus::Pending) => (
                    "pending approval by the Secretariat".to_string(),
                    Standing::new(StandingState::Pending, None, None),
                ),
                NetResponse::Registration(RegistrationStatus::Admitted { version }) => (
                    format!("admitted in directory version {version}"),
                    Standing::new(StandingState::Admitted, Some(version), None),
                ),
                NetResponse::Registration(RegistrationStatus::Rejected { reason }) => {
                    let status = format!("rejected by the Secretariat: {reason}");
                    self.set_registration(status.clone(), Standing::new(StandingState::Rejected, None, Some(reason)));
                    return Err(SyncError::RegistrationRejected { status });
                }
                other => return Err(SyncError::Unexpected { what: "a registration", answer: format!("{other:?}") }),
            };
            self.set_registration(status, standing);
        }
        self.fetch_directory(&secretariat).await?;
        if self.listed_as_me() {
            let view = self.directory.view();
            let status = self.state.and_then(|s| view.entry(s)).map(|e| e.status);
            let state = match status {
                Some(EntryStatus::Suspended) => StandingState::Suspended,
                Some(EntryStatus::Withdrawn) => StandingState::Withdrawn,
                _ => StandingState::Active,
            };
            self.set_registration(
                format!(
                    "{} in directory version {}",
                    status.map(|s| s.to_string()).unwrap_or_default(),
                    view.version()
                ),
                Standing::new(state, Some(view.version()), None),
            );
            self.submit_own_contacts().await?;
        } else if let Some(listed) = self.moved_but_not_yet_listed() {
            // Admitted with this key, but listed at the addresses of before
            // (a restart on another port, a move the Secretariat holds back:
            // it publishes at most one move a minute). Not an error, but
            // peers dial the old addresses until the move is published.
            let version = self.directory.view().version();
            let reason = format!(
                "the directory lists this node at {listed}, not at {}; the Secretariat publishes the move at its \
                 next round (at most one a minute). Listen on a fixed port (not /tcp/0) so that a restart does not move the node",
                self.announce.join(", ")
            );
            self.set_registration(
                format!("admitted in directory version {version}; {reason}"),
                Standing::new(StandingState::Admitted, Some(version), Some(reason)),
            );
        }
        Ok(())
    }

    /// A node that holds no version yet asks for a snapshot first (SPEC
    /// 8.2): the current version, checked at once under the key the
    /// handovers since the pinned one lead to. Any answer but a snapshot
    /// (an older Secretariat, none, a refusal) leaves the node to fetch
    /// every version from the first, as before.
    async fn fetch_snapshot(&self) -> Result<(), SyncError> {
        let Some(pinned) = self.directory.pinned_key() else { return Ok(()) };
        let request = NetRequest::FetchSnapshot;
        let answer = match self.ask(&request, "a directory snapshot").await {
            // The Secretariat may have handed over to another key: the
            // snapshot is checked from the pinned key, whoever serves it.
            Err(SyncError::WrongSecretariatKey { address, expected, presented }) => {
                let e = NetworkError::WrongPeer { address, expected, presented };
                self.fetch_from_whoever_answers(&request, &e).await
            }
            answer => answer,
        };
        let versions = match answer {
            Ok(NetResponse::Directory(versions)) if !versions.is_empty() => versions,
            _ => return Ok(()),
        };
        match accept_snapshot(&self.store, &pinned, &versions) {
            Ok(Some(head)) => {
                self.store.flush().await?;
                self.directory.refresh()?;
                tracing::info!(version = head.version, "directory snapshot accepted");
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::warn!(%e, "directory snapshot refused");
                let mut event = Event::new(now(), Actor::Peer(None), Action::DirectoryRefused);
                event.detail = format!("snapshot: {e}");
                self.store.record(&event);
                Err(e.into())
            }
        }
    }

    /// Fetches and verifies every version after the one held.
    async fn fetch_directory(&self, secretariat: &PublicIdentity) -> Result<(), SyncError> {
        if self.directory.view().version() == 0 {
            self.fetch_snapshot().await?;
        }
        // Set when the Secretariat's key did not answer and whoever answers
        // at its address was asked instead (see `fetch_from_whoever_answers`).
        let mut stand_in: Option<SyncError> = None;
        let dialled = self.directory.secretariat_peer();
        loop {
            let after = self.directory.view().version();
            let request = NetRequest::FetchDirectory { after };
            let answer = match self.ask(&request, "a directory fetch").await {
                Err(SyncError::Unreachable(e)) => {
                    let answer = self.fetch_from_whoever_answers(&request, &e).await;
                    stand_in.get_or_insert(e.into());
                    answer
                }
                Err(SyncError::WrongSecretariatKey { address, expected, presented }) => {
                    let e = NetworkError::WrongPeer { address, expected, presented };
                    let answer = self.fetch_from_whoever_answers(&request, &e).await;
                    stand_in.get_or_insert(e.into());
                    answer
                }
                answer => answer,
            };
            let versions = match answer {
                Ok(NetResponse::Directory(v)) => v,
                Ok(other) => {
                    return Err(SyncError::Unexpected { what: "a directory fetch", answer: format!("{other:?}") });
                }
                // Not admitted yet: the Secretariat serves the directory to listed nodes only.
                Err(SyncError::Refused { refusal, .. }) if refusal.code == RefusalCode::NotInDirectory => {
                    return stand_in.map_or(Ok(()), Err);
                }
                Err(e) => return Err(e),
            };
            let n = versions.len();
            let result = accept_versions(&self.store, secretariat, &versions);
            // Versions before a refused one stay accepted: flush whatever came.
            if n > 0 {
                self.store.flush().await?;
                self.directory.refresh()?;
            }
            match result {
                Ok(Some(head)) => tracing::info!(version = head.version, "directory version accepted"),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%e, "directory version refused");
                    let mut event = Event::new(now(), Actor::Peer(None), Action::DirectoryRefused);
                    event.detail = e.to_string();
                    self.store.record(&event);
                    return Err(e.into());
                }
            }
            // Stop when the answer was empty, or brought nothing new (an answer
            // may hold fewer versions than the maximum to stay inside a frame).
            if n == 0 || self.directory.view().version() == after {
                break;
            }
        }
        // The node at the address handed nothing over to a new key: it is not
        // the Secretariat this node follows, whatever it served. Say so (with
        // both fingerprints when the dial saw another key) instead of
        // reporting an up-to-date directory.
        match stand_in {
            Some(e) if self.directory.secretariat_peer() == dialled => Err(e),
            _ => Ok(()),
        }
    }

    /// The Secretariat may have moved to a new key while this node was
    /// away: asks whoever answers at its address for the directory. Its
    /// versions are checked against the key chain this node holds, so the
    /// transport identity does not need to be trusted for that. `e`: why the
    /// current key could not be asked.
    async fn fetch_from_whoever_answers(
        &self,
        request: &NetRequest,
        e: &NetworkError,
    ) -> Result<NetResponse, SyncError> {
        let (peer, addrs) = self.directory.secretariat_dial().ok_or(SyncError::BadPin)?;
        let bytes = codec::encode("request", request).map_err(|e| SyncError::Sign(e.to_string()))?;
        let address = addrs.first().cloned().ok_or(SyncError::BadPin)?;
        let other = self.client.discover(address).await.map_err(|_| SyncError::from(e.clone()))?;
        if other == peer {
            return Err(SyncError::Unreachable(NetworkError::Unreachable {
                peer,
                reason: "it answers with the same key and does not serve the directory".into(),
            }));
        }
        tracing::info!(%other, "the Secretariat's address answers with another key; fetching the directory from it");
        let answer = self.client.request(other, addrs, bytes).await.map_err(|_| SyncError::from(e.clone()))?;
        answer_of(&answer, "a directory fetch")
    }

    /// Starts a key rotation: makes the next keys and sends the rotation,
    /// signed with the current key, to the Secretariat. The node moves to
    /// the new keys (and restarts) once the directory carries them. Returns
    /// the new fingerprint.
    pub async fn rotate_keys(&self) -> Result<String, SyncError> {
        let next = NodeKeys::create_next(&self.home)?;
        let fingerprint = next.identity.public().fingerprint();
        self.sync().await?;
        Ok(fingerprint)
    }

    /// Sends the rotation until the Secretariat publishes it, then takes up
    /// the new keys once the directory lists them. The rotation is signed
    /// once and re-sent byte for byte, so that a lost answer does not make
    /// the Secretariat see a second, different rotation.
    async fn continue_rotation(&self, secretariat: &PublicIdentity, next: NodeKeys) -> Result<(), SyncError> {
        let state = self.state.ok_or(SyncError::NoState)?;
        let listed = |view: &DirectoryView| view.entry(state).map(|e| e.identity_key());
        // The rotation may already be published, its answer lost.
        self.fetch_directory(secretariat).await?;
        if listed(&self.directory.view()) != Some(next.identity.public()) {
            let signed = match self.store.pending_rotation()? {
                Some(signed) if signed.rotation.registration.registration.identity_key == next.identity.public() => {
                    signed
                }
                _ => {
                    let registration = self.registration_with(&next)?;
                    let rotation = KeyRotation { previous_key: self.keys.identity.public(), registration };
                    let signed = SignedKeyRotation::sign(rotation, &self.keys.identity)
                        .map_err(|e| SyncError::Sign(e.to_string()))?;
                    self.store.put_pending_rotation(&signed)?;
                    self.store.flush().await?;
                    signed
                }
            };
            match self.ask(&NetRequest::RotateKeys(Box::new(signed)), "a key rotation").await {
                Ok(NetResponse::Registration(RegistrationStatus::Admitted { version })) => {
                    self.set_registration(
                        format!("key rotation published in directory version {version}"),
                        Standing::new(StandingState::RotationPublished, Some(version), None),
                    );
                }
                Ok(other) => {
                    return Err(SyncError::Unexpected { what: "a key rotation", answer: format!("{other:?}") });
                }
                Err(SyncError::Refused { refusal: r, .. }) => {
                    // Sign anew next time (a stale signing time is refused);
                    // give the new keys up when they can never be listed.
                    self.store.clear_pending_rotation()?;
                    let hopeless = r.detail.contains("is not listed") || r.detail.contains("already listed");
                    if hopeless {
                        NodeKeys::drop_next(&self.home)?;
                        self.set_registration(
                            format!("key rotation abandoned: {}", r.detail),
                            Standing::new(StandingState::RotationAbandoned, None, Some(r.detail.clone())),
                        );
                    }
                    return Err(SyncError::RotationRefused(r.detail));
                }
                Err(e) => return Err(SyncError::RotationNotDelivered(Box::new(e))),
            }
            self.fetch_directory(secretariat).await?;
        }
        if listed(&self.directory.view()) == Some(next.identity.public()) {
            // Contacts signed with the old key no longer prove anything: sign
            // them anew before moving, so a crash cannot leave them behind.
            if let Some(own) = self.store.contacts(state)? {
                let resigned =
                    SignedContactSet::sign(own.set, &next.identity).map_err(|e| SyncError::Sign(e.to_string()))?;
                self.store.put_contacts(&resigned)?;
            }
            self.store.clear_pending_rotation()?;
            self.store.flush().await?;
            NodeKeys::promote_next(&self.home)?;
            self.set_registration(
                format!("moved to new keys (fingerprint {}); restarting", next.identity.public().fingerprint()),
                Standing::new(StandingState::MovedToNewKeys, None, None),
            );
            tracing::info!("the directory lists this node's new keys; restarting to take them up");
            self.restart.ask();
        }
        Ok(())
    }

    /// Signs and keeps this State's points of contact, then submits them to
    /// the Secretariat at once (and at every sync after).
    pub async fn submit_contacts(&self, form: &ContactSetForm) -> Result<(), SubmitError> {
        let state = self.state.ok_or(SubmitError::WrongRole)?;
        let set = form.parse(state, now()).map_err(SubmitError::Invalid)?;
        let signed = SignedContactSet::sign(set, &self.keys.identity).map_err(|e| SyncError::Sign(e.to_string()))?;
        self.store.put_contacts(&signed).map_err(SyncError::from)?;
        self.store.flush().await.map_err(SyncError::from)?;
        if let Ok(mut s) = self.status.lock() {
            s.contacts = Some("signed and kept; not yet delivered to the Secretariat".into());
            s.contacts_standing = Some(Standing::new(StandingState::Kept, None, None));
        }
        Ok(self.sync().await?)
    }

    /// Sends this State's latest points of contact until the directory
    /// carries them or the Secretariat rejects them.
    async fn submit_own_contacts(&self) -> Result<(), SyncError> {
        let Some(state) = self.state else { return Ok(()) };
        let Some(own) = self.store.contacts(state)? else { return Ok(()) };
        let view = self.directory.view();
        let listed = view.entry(state).and_then(|e| e.contacts.clone());
        let accepted = |version| {
            (
                format!("accepted; carried by directory version {version}"),
                Standing::new(StandingState::Accepted, Some(version), None),
            )
        };
        let (status, standing) = if listed.as_ref() == Some(&own) {
            accepted(view.version())
        } else {
            match self.ask(&NetRequest::SubmitContacts(Box::new(own)), "a contacts submission").await? {
                NetResponse::Contacts(ContactsStatus::Pending) => (
                    "waiting for the Secretariat's review".to_string(),
                    Standing::new(StandingState::Pending, None, None),
                ),
                NetResponse::Contacts(ContactsStatus::Accepted { version }) => accepted(version),
                NetResponse::Contacts(ContactsStatus::Rejected { reason }) => (
                    format!("rejected by the Secretariat: {reason}. Correct the file and submit again"),
                    Standing::new(StandingState::Rejected, None, Some(reason)),
                ),
                other => {
                    return Err(SyncError::Unexpected { what: "a contacts submission", answer: format!("{other:?}") });
                }
            }
        };
        if let Ok(mut s) = self.status.lock() {
            s.contacts = Some(status);
            s.contacts_standing = Some(standing);
        }
        Ok(())
    }

    /// Before a move (the directory lists this node's key at other
    /// addresses): refuses it if a node holding this node's own key answers
    /// at one of them, i.e. another instance of this home folder runs there.
    async fn check_no_other_instance(&self) -> Result<(), SyncError> {
        let view = self.directory.view();
        let Some(state) = self.state else { return Ok(()) };
        let Some(entry) = view.entry(state).filter(|e| e.identity_key() == self.keys.identity.public()) else {
            return Ok(());
        };
        for listed in entry.addresses().iter().filter(|a| !self.announce.contains(a)) {
            let Ok(addr) = listed.parse::<libp2p::Multiaddr>() else { continue };
            if let Err(NetworkError::OwnKey { .. }) = self.client.discover(addr).await {
                tracing::error!(%state, address = %listed, "another instance of this node answers at the listed address; not moving it");
                return Err(SyncError::SecondInstance { state, addr: listed.clone() });
            }
        }
        Ok(())
    }

    /// Whether the directory lists this node as it is: its key, its addresses.
    fn listed_as_me(&self) -> bool {
        let view = self.directory.view();
        let Some(state) = self.state else {
            return false;
        };
        // Suspended is still listed: re-registering would not change that.
        view.entry(state).is_some_and(|e| {
            e.status != EntryStatus::Withdrawn
                && e.identity_key() == self.keys.identity.public()
                && e.addresses() == self.announce.as_slice()
        })
    }

    /// The addresses the directory lists for this State, when it lists
    /// this node's key, active, at other addresses than those it announces.
    fn moved_but_not_yet_listed(&self) -> Option<String> {
        let view = self.directory.view();
        let e = view.entry(self.state?)?;
        (e.is_active() && e.identity_key() == self.keys.identity.public() && e.addresses() != self.announce.as_slice())
            .then(|| e.addresses().join(", "))
    }

    /// This State's registration with `keys` at the addresses it announces,
    /// signed by those keys' identity.
    fn registration_with(&self, keys: &NodeKeys) -> Result<SignedRegistration, SyncError> {
        let registration = Registration {
            state: self.state.ok_or(SyncError::NoState)?,
            identity_key: keys.identity.public(),
            encryption_key: keys.encryption.public(),
            addresses: self.announce.clone(),
            operator: self.operator.clone(),
            signed_at: now(),
        };
        SignedRegistration::sign(registration, &keys.identity).map_err(|e| SyncError::Sign(e.to_string()))
    }

    fn set_registration(&self, status: String, standing: Standing) {
        if let Ok(mut s) = self.status.lock() {
            s.registration = Some(status);
            s.registration_standing = Some(standing);
        }
    }

    /// Asks the Secretariat `request` (`what` names it in errors). A
    /// connection that closed before the answer (the Secretariat restarted,
    /// a stale connection) is tried once more on a new one: every request
    /// to the Secretariat may be sent twice (a rotation is re-sent byte for
    /// byte).
    async fn ask(&self, request: &NetRequest, what: &'static str) -> Result<NetResponse, SyncError> {
        let (peer, addrs) = self.directory.secretariat_dial().ok_or(SyncError::BadPin)?;
        let bytes = codec::encode("request", request).map_err(|e| SyncError::Sign(e.to_string()))?;
        let answer = self.client.request_idempotent(peer, addrs, bytes).await?;
        answer_of(&answer, what)
    }
}

/// The Secretariat's answer to `what`: a refusal is an error that names it.
fn answer_of(bytes: &[u8], what: &'static str) -> Result<NetResponse, SyncError> {
    match codec::decode::<NetResponse, MAX_FRAME>("response", bytes) {
        Ok(NetResponse::Refused(refusal)) => Err(SyncError::Refused { what, refusal }),
        Ok(r) => Ok(r),
        Err(e) => Err(SyncError::Unreadable(e.to_string())),
    }
}

impl From<NetworkError> for SyncError {
    fn from(e: NetworkError) -> SyncError {
        match e {
            NetworkError::WrongPeer { address, expected, presented } => {
                SyncError::WrongSecretariatKey { address, expected, presented }
            }
            e => SyncError::Unreachable(e),
        }
    }
}

impl SyncClient {
    /// The versions after `after` this node holds, as the Secretariat's
    /// node serves them (a Secretariat restored from an older backup asks
    /// the national nodes for what it published since).
    pub fn versions_after(&self, after: u64) -> Result<Vec<SignedDirectoryVersion>, StoreError> {
        super::versions_after(&self.store, after, self.directory.view().version())
    }
}

/// Accepts a batch of versions fetched from the Secretariat,
/// in order. Returns the new head, or the first refusal (versions before it
/// stay accepted).
pub fn accept_versions(
    store: &Store,
    pinned: &PublicIdentity,
    versions: &[SignedDirectoryVersion],
) -> Result<Option<DirectoryHead>, AcceptError> {
    let mut accepted = None;
    for v in versions {
        let head = store.directory_head()?;
        // The key that signs the next version: the pinned one, until a
        // version the node accepted handed over to another.
        let anchor = store.secretariat_key()?.unwrap_or(*pinned);
        let held = |n: u64| store.directory_version(n).ok().flatten().and_then(|v| v.hash().ok());
        let previous = match &head {
            Some(head) => store.directory_version(head.version)?,
            None => None,
        };
        let previous = previous.as_ref().map(|p| &p.body);
        match v.check_successor_since(head.as_ref(), previous, &anchor, held)? {
            Succession::AlreadyHeld => {}
            Succession::Next => {
                if let Some(previous) = previous {
                    v.check_entries_kept(previous)?;
                }
                let event = directory_event(v, Actor::Peer(None), Action::DirectoryAccepted);
                accepted = Some(store.put_directory_version(v, &event)?);
            }
        }
    }
    Ok(accepted)
}

/// Accepts a snapshot (SPEC 8.2) on a node that holds no version: from the
/// first version valid under the pinned key (handovers before it, signed by
/// keys the Secretariat had before the pinned one, are passed over), each
/// version valid under the Secretariat key those before it leave, numbers
/// increasing; the last becomes the head, with that key. Returns the new
/// head, or `None` if the node holds a version already (it follows the
/// chain from there instead).
pub fn accept_snapshot(
    store: &Store,
    pinned: &PublicIdentity,
    versions: &[SignedDirectoryVersion],
) -> Result<Option<DirectoryHead>, AcceptError> {
    if store.directory_head()?.is_some() {
        return Ok(None);
    }
    let mut anchor = *pinned;
    let mut before: Option<u64> = None;
    let mut started = false;
    for (i, v) in versions.iter().enumerate() {
        let got = v.body.version;
        if let Some(have) = before.filter(|have| got <= *have) {
            return Err(DirectoryError::Rollback { have, got }.into());
        }
        before = Some(got);
        let checked = v.verify(&anchor);
        // A node configured with a key the Secretariat handed over to later
        // than version 1 skips the handovers signed before that key's time.
        if !started && i + 1 < versions.len() && checked.is_err() {
            continue;
        }
        started = true;
        checked?;
        if let Some(h) = &v.body.handover {
            anchor = h.next_key;
        }
    }
    let Some(last) = versions.last() else { return Ok(None) };
    let mut event = directory_event(last, Actor::Peer(None), Action::DirectoryAccepted);
    event.detail = format!("{} (a snapshot: the versions before it were not fetched)", event.detail);
    let handed_over = (anchor != *pinned).then_some(anchor);
    Ok(Some(store.put_directory_head(last, handed_over, &event)?))
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    #[error(transparent)]
    Refused(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use veim_protocol::{DirectoryVersion, IdentityKeypair, SecretariatHandover};

    fn version(n: u64, key: &IdentityKeypair, handover: Option<SecretariatHandover>) -> SignedDirectoryVersion {
        let body = DirectoryVersion {
            version: n,
            previous_hash: [n as u8; 32],
            issued_at: 100 + n as i64,
            change: format!("v{n}"),
            entries: Vec::new(),
            handover,
        };
        SignedDirectoryVersion::sign(body, key).expect("sign")
    }

    fn store(dir: &tempfile::TempDir, name: &str) -> Store {
        Store::open(&dir.path().join(name)).expect("store")
    }

    #[test]
    fn a_snapshot_is_checked_from_the_pinned_key_through_its_handovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (old, new) = (IdentityKeypair::from_secret_bytes(&[1; 32]), IdentityKeypair::from_secret_bytes(&[2; 32]));
        let snapshot = [version(3, &old, Some(SecretariatHandover::new(&old.public(), &new))), version(9, &new, None)];

        // Pinned to the first key: the handover leads to the second, which
        // signs the current version; it is kept with that key, alone.
        let s = store(&dir, "old-pin");
        let head = accept_snapshot(&s, &old.public(), &snapshot).expect("accepted").expect("a head");
        assert_eq!(head.version, 9);
        assert_eq!(s.secretariat_key().expect("read"), Some(new.public()));
        assert!(s.directory_version(3).expect("read").is_none(), "the handover version is not kept");
        // A node that holds a version follows the chain instead.
        assert!(accept_snapshot(&s, &old.public(), &snapshot).expect("no error").is_none());

        // Pinned to the second key: the handover signed before its time is passed over.
        let s = store(&dir, "new-pin");
        assert_eq!(accept_snapshot(&s, &new.public(), &snapshot).expect("accepted").map(|h| h.version), Some(9));
        assert_eq!(s.secretariat_key().expect("read"), None, "the pinned key still signs");

        // Refused, and nothing kept: a current version no key of the chain
        // signed, and numbers that go back.
        let s = store(&dir, "refused");
        let stranger = IdentityKeypair::from_secret_bytes(&[3; 32]);
        let forged = [snapshot[0].clone(), version(9, &stranger, None)];
        assert!(matches!(
            accept_snapshot(&s, &old.public(), &forged),
            Err(AcceptError::Refused(DirectoryError::WrongSigner { version: 9, .. }))
        ));
        let backwards = [version(9, &old, None), version(4, &old, None)];
        assert!(matches!(
            accept_snapshot(&s, &old.public(), &backwards),
            Err(AcceptError::Refused(DirectoryError::Rollback { have: 9, got: 4 }))
        ));
        assert_eq!(s.directory_head().expect("read"), None);
    }
}
