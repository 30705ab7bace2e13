//! The Secretariat's publisher: one new directory version at a time, made
//! durable before it is served, then announced to every listed node. It also
//! answers what national nodes ask of the Secretariat (registrations, key
//! rotations, points of contact, directory fetches).

use super::registry::{self, ContactsError, PublishError, RegistrationError, RegistrationOutcome, RotationError};
use super::{Directory, dial_info};
use crate::clock::now;
use crate::home::keys::NodeKeys;
use crate::net::Client;
use crate::shutdown::Restart;
use crate::storage::Store;
use libp2p::PeerId;
use std::path::PathBuf;
use std::sync::Arc;
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::contacts::SignedContactSet;
use veim_protocol::wire::{ContactsStatus, NetRequest, RegistrationStatus};
use veim_protocol::{
    EntryAction, EntryStatus, IdentityKeypair, PublicIdentity, SignedDirectoryVersion, SignedKeyRotation, StateCode,
};

/// Why a registration sent by a peer was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// The listing changed and the new version could not be published.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// The Secretariat's publishing service.
#[derive(Debug)]
pub struct Publisher {
    home: PathBuf,
    store: Store,
    keys: Arc<NodeKeys>,
    directory: Arc<Directory>,
    client: Client,
    replay_window_secs: i64,
    /// Whether loopback and private-range addresses may be listed.
    private_addresses: bool,
    restart: Arc<Restart>,
    /// One publication at a time: two concurrent approvals must not both
    /// build version n+1.
    publishing: tokio::sync::Mutex<()>,
    /// Whether this home was just restored from a backup: then nothing is
    /// published before a national node has said which versions it holds.
    restored: bool,
    /// What the catch-up with the national nodes came to, once it has run.
    recovery: std::sync::Mutex<Option<Recovery>>,
    /// Until it has: what it waits for, in words.
    waiting: std::sync::Mutex<String>,
    /// The numbers of the versions that carry a handover, among the versions
    /// up to the first number here (read from the store as far as needed,
    /// once: versions never change once published).
    handovers: std::sync::Mutex<(u64, Vec<u64>)>,
}

/// What a Secretariat learned from the national nodes at its start: the
/// versions published after what its store held (after a restore from a
/// backup, say), which it takes up before it publishes again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recovery {
    /// The head the store held at the start.
    pub held: u64,
    /// The head after the catch-up.
    pub latest: u64,
    /// How many national nodes answered, of how many asked.
    pub answered: usize,
    pub asked: usize,
    pub restored: bool,
}

impl Recovery {
    /// In words, for `veim status`.
    pub fn describe(&self) -> String {
        let from = if self.restored { "restored from a backup" } else { "started" };
        if self.latest > self.held {
            format!(
                "{from} holding directory version {}; learned versions {} to {} from {} of {} national node(s): the next version is {}",
                self.held,
                self.held + 1,
                self.latest,
                self.answered,
                self.asked,
                self.latest + 1
            )
        } else {
            format!(
                "{from} holding directory version {}; {} of {} national node(s) hold nothing newer",
                self.held, self.answered, self.asked
            )
        }
    }
}

impl Publisher {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        home: PathBuf,
        store: Store,
        keys: Arc<NodeKeys>,
        directory: Arc<Directory>,
        client: Client,
        replay_window_secs: i64,
        private_addresses: bool,
        restart: Arc<Restart>,
        restored: bool,
    ) -> Publisher {
        Publisher {
            restored,
            recovery: std::sync::Mutex::new(None),
            waiting: std::sync::Mutex::new("it has not asked the national nodes yet".into()),
            home,
            store,
            keys,
            directory,
            client,
            replay_window_secs,
            private_addresses,
            restart,
            publishing: tokio::sync::Mutex::new(()),
            handovers: std::sync::Mutex::new((0, Vec::new())),
        }
    }

    /// Approves a State's registration and publishes the next version.
    pub async fn approve(&self, state: StateCode, fingerprint: &str) -> Result<SignedDirectoryVersion, PublishError> {
        self.publish(|store, key| registry::approve(store, key, state, fingerprint, now())).await
    }

    /// Admits several States in one version (all or none).
    pub async fn approve_many(
        &self,
        approvals: Vec<(StateCode, String)>,
    ) -> Result<SignedDirectoryVersion, PublishError> {
        self.publish(|store, key| registry::approve_many(store, key, &approvals, now())).await
    }

    /// Suspends, reinstates or withdraws a State.
    pub async fn change_status(
        &self,
        state: StateCode,
        action: EntryAction,
        reason: &str,
    ) -> Result<SignedDirectoryVersion, PublishError> {
        self.publish(|store, key| registry::change_status(store, key, state, action, reason, now())).await
    }

    /// Refuses a pending registration; the applicant's node is told the
    /// reason the next time it registers (it retries on its own).
    pub async fn reject(&self, state: StateCode, fingerprint: &str, reason: &str) -> Result<(), PublishError> {
        registry::reject(&self.store, state, fingerprint, reason)?;
        self.store.flush().await?;
        tracing::info!(%state, reason, "registration rejected");
        Ok(())
    }

    /// Accepts a State's pending points of contact.
    pub async fn accept_contacts(&self, state: StateCode) -> Result<SignedDirectoryVersion, PublishError> {
        self.publish(|store, key| registry::accept_contacts(store, key, state, now())).await
    }

    /// Rejects a State's pending points of contact, with the reason its node is told.
    pub async fn reject_contacts(&self, state: StateCode, reason: &str) -> Result<(), PublishError> {
        registry::reject_contacts(&self.store, state, reason)?;
        self.store.flush().await?;
        Ok(())
    }

    /// Publishes the last version signed by the current key, handing over to
    /// a new key, then asks for a restart to take it up. National nodes
    /// follow without being re-configured. Returns the new fingerprint.
    pub async fn hand_over(&self) -> Result<String, PublishError> {
        let next = NodeKeys::create_next(&self.home)?;
        let fingerprint = next.identity.public().fingerprint();
        self.publish(|store, key| registry::publish_handover(store, key, &next.identity, now())).await?;
        NodeKeys::promote_next(&self.home)?;
        tracing::info!(%fingerprint, "handed the directory over to the new key; restarting to take it up");
        self.restart.ask();
        Ok(fingerprint)
    }

    /// A peer's registration: kept for the operator, answered with its
    /// outcome if it had one, or published at once when it only moves an
    /// admitted State's listing.
    pub async fn register(
        &self,
        peer: &PeerId,
        reg: &veim_protocol::SignedRegistration,
    ) -> Result<RegistrationStatus, RegisterError> {
        let rules =
            registry::ListingRules { window_secs: self.replay_window_secs, private_addresses: self.private_addresses };
        match registry::receive_registration(&self.store, peer, reg, now(), &rules)? {
            RegistrationOutcome::Admitted { version } => Ok(RegistrationStatus::Admitted { version }),
            RegistrationOutcome::Rejected { reason } => Ok(RegistrationStatus::Rejected { reason }),
            RegistrationOutcome::ListingChanged => {
                let v = self.publish(|store, key| registry::update_listing(store, key, reg, now())).await?;
                Ok(RegistrationStatus::Admitted { version: v.body.version })
            }
            RegistrationOutcome::Pending => {
                self.store.flush().await.map_err(PublishError::from)?;
                tracing::info!(state = %reg.registration.state, fingerprint = %reg.registration.identity_key.fingerprint(), "registration received; waiting for approval");
                Ok(RegistrationStatus::Pending)
            }
        }
    }

    /// A listed node's key rotation, published at once.
    pub async fn rotate(&self, peer: &PeerId, rotation: &SignedKeyRotation) -> Result<u64, PublishError> {
        let window = self.replay_window_secs;
        let v = self
            .publish(|store, key| {
                registry::rotate(store, key, peer, rotation, now(), window)
                    .map_err(|e| PublishError::Rotation(Box::new(e)))
            })
            .await?;
        Ok(v.body.version)
    }

    /// A listed node's points of contact, kept for the operator's review.
    pub async fn contacts(
        &self,
        peer: &PeerId,
        submission: &SignedContactSet,
    ) -> Result<ContactsStatus, ContactsError> {
        let view = self.directory.view();
        let status = registry::receive_contacts(&self.store, &view, peer, submission, now(), self.replay_window_secs)?;
        self.store.flush().await?;
        Ok(status)
    }

    /// The versions after `after` that are published (up to the flushed
    /// head), as many as fit well inside one frame: the node asks again for
    /// the rest.
    pub fn versions_after(&self, after: u64) -> Result<Vec<SignedDirectoryVersion>, crate::storage::StoreError> {
        super::versions_after(&self.store, after, self.directory.view().version())
    }

    /// The snapshot a node that holds no version is served (SPEC 8.2): the
    /// published versions that carry a handover, then the current one, as
    /// many as fit well inside one frame.
    pub fn snapshot(&self) -> Result<Vec<SignedDirectoryVersion>, crate::storage::StoreError> {
        use crate::storage::StoreError;
        let published = self.directory.view().version();
        let mut handovers =
            self.handovers.lock().map_err(|_| StoreError::Internal("the handover index is poisoned".into()))?;
        while handovers.0 < published {
            let read = self.store.directory_versions_after(handovers.0, veim_protocol::wire::MAX_VERSIONS_PER_FETCH)?;
            let Some(last) = read.last().map(|v| v.body.version) else { break };
            for v in read.iter().filter(|v| v.body.version <= published && v.body.handover.is_some()) {
                handovers.1.push(v.body.version);
            }
            handovers.0 = last.min(published);
        }
        let mut numbers: Vec<u64> = handovers.1.iter().copied().filter(|n| *n < published).collect();
        drop(handovers);
        if published > 0 {
            numbers.push(published);
        }
        let mut versions = Vec::with_capacity(numbers.len());
        for n in numbers {
            let v = self.store.directory_version(n)?.ok_or_else(|| StoreError::Corrupt {
                what: "directory version",
                reason: format!("version {n} is published and missing from the store"),
            })?;
            versions.push(v);
        }
        Ok(super::within_frame(versions))
    }

    /// What the catch-up with the national nodes came to, if it has run.
    pub fn recovery(&self) -> Option<Recovery> {
        self.recovery.lock().ok().and_then(|r| r.clone())
    }

    /// Until the catch-up has run: what it waits for, in words.
    pub fn waiting(&self) -> String {
        self.waiting.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Asks the listed national nodes for the versions after the head this
    /// node holds, and takes up those that extend its chain (signed with its
    /// own key): a Secretariat restored from an older backup learns what it
    /// published since, and never issues a number again. Runs until it has
    /// run once with an answer, or no node to ask; returns whether it has.
    pub async fn catch_up(&self) -> Result<bool, PublishError> {
        let _one_at_a_time = self.publishing.lock().await;
        self.catch_up_locked().await
    }

    async fn catch_up_locked(&self) -> Result<bool, PublishError> {
        if self.recovery().is_some() {
            return Ok(true);
        }
        let held = self.store.directory_head()?.map_or(0, |h| h.version);
        let view = self.directory.view();
        let nodes: Vec<_> = view
            .entries()
            .iter()
            .filter(|e| e.status != EntryStatus::Withdrawn)
            .filter_map(|e| dial_info(e).map(|d| (e.state(), d)))
            .collect();
        let anchor = self.keys.identity.public();
        let mut answered = std::collections::HashSet::new();
        // A gap, in the last round: a national node holds a version this node
        // signed, numbered past the next one, and none before it (its store
        // began again, with a snapshot): publishing before learning the
        // versions between would issue their numbers again. The State, the
        // first and the last such version it holds.
        let mut ahead: Option<(StateCode, u64, u64)>;
        // Every node at once; again while a round brings newer versions (a
        // node answers a batch at a time).
        loop {
            ahead = None;
            let after = self.store.directory_head()?.map_or(0, |h| h.version);
            // The keys this node's versions are signed with: its own, and the
            // one the versions it took up hand over to.
            let signers: Vec<PublicIdentity> =
                std::iter::once(anchor).chain(self.store.secretariat_key()?.filter(|k| *k != anchor)).collect();
            let Ok(bytes) = codec::encode("request", &NetRequest::FetchDirectory { after }) else { break };
            let asks = nodes.iter().map(|(state, (peer, addrs))| {
                let bytes = bytes.clone();
                async move { (*state, self.client.request(*peer, addrs.clone(), bytes).await) }
            });
            for (state, answer) in futures::future::join_all(asks).await {
                let answer = answer
                    .ok()
                    .and_then(|b| codec::decode::<veim_protocol::wire::NetResponse, MAX_FRAME>("response", &b).ok());
                let Some(veim_protocol::wire::NetResponse::Directory(versions)) = answer else { continue };
                match super::sync::accept_versions(&self.store, &anchor, &versions) {
                    Ok(_) => {
                        answered.insert(state);
                    }
                    Err(super::sync::AcceptError::Store(e)) => return Err(e.into()),
                    Err(super::sync::AcceptError::Refused(e)) => {
                        let head = self.store.directory_head()?.map_or(0, |h| h.version);
                        let signed: Vec<u64> = versions
                            .iter()
                            .filter(|v| v.body.version > head && signers.iter().any(|k| v.verify(k).is_ok()))
                            .map(|v| v.body.version)
                            .collect();
                        match (signed.first(), signed.last()) {
                            (Some(&first), Some(&last)) if first > head + 1 => {
                                tracing::warn!(%state, first, head, "a national node holds directory versions this node signed and cannot chain to: it began again from a snapshot");
                                if ahead.is_none_or(|(_, _, n)| last > n) {
                                    ahead = Some((state, first, last));
                                }
                            }
                            // The next number, signed by this node, that does
                            // not follow its head: a branch a restore left
                            // behind. Waiting would not mend it.
                            (Some(&first), _) => tracing::error!(
                                %state,
                                version = first,
                                head,
                                "a national node holds a directory version this node signed that does not follow its head: a fork; that node refuses what this node publishes until its operator restores it from the Secretariat's chain"
                            ),
                            _ => {
                                tracing::warn!(%state, %e, "a national node's directory versions do not extend this node's chain; ignored")
                            }
                        }
                    }
                }
            }
            if self.store.directory_head()?.map_or(0, |h| h.version) == after {
                break;
            }
        }
        let answered = answered.len();
        let latest = self.store.directory_head()?.map_or(0, |h| h.version);
        if latest > held {
            self.store.flush().await?;
            self.directory.refresh()?;
        }
        // After a restore, one answer that extends the chain is needed
        // before publishing; a node that only restarted goes on without one.
        // Never while a node holds a newer version than can be chained to.
        let done = ahead.is_none() && (answered > 0 || nodes.is_empty() || !self.restored);
        let waiting = match ahead {
            Some((state, first, last)) => {
                let between = if latest + 1 == first - 1 {
                    format!("version {}", latest + 1)
                } else {
                    format!("versions {} to {}", latest + 1, first - 1)
                };
                format!(
                    "{state}'s node holds directory version {last}, signed by this node, which cannot be chained to \
                     version {latest} without {between}: a node that holds them must answer (start one that was \
                     running when they were published)"
                )
            }
            None => "no national node has answered yet with the directory versions it holds".into(),
        };
        if let Ok(mut w) = self.waiting.lock()
            && (!done && *w != waiting)
        {
            tracing::warn!(%waiting, "directory: nothing is published until the catch-up is done; asking again");
            *w = waiting;
        }
        if done {
            let recovery = Recovery { held, latest, answered, asked: nodes.len(), restored: self.restored };
            if latest > held || self.restored {
                tracing::warn!(held, latest, answered, "directory: {}", recovery.describe());
            }
            if let Ok(mut r) = self.recovery.lock() {
                *r = Some(recovery);
            }
        }
        Ok(done)
    }

    /// Builds, stores and flushes one new version at a time, makes it the
    /// served head, then tells every listed node it exists.
    async fn publish(
        &self,
        build: impl FnOnce(&Store, &IdentityKeypair) -> Result<SignedDirectoryVersion, PublishError>,
    ) -> Result<SignedDirectoryVersion, PublishError> {
        let _one_at_a_time = self.publishing.lock().await;
        if !self.catch_up_locked().await? {
            return Err(PublishError::NotCaughtUp(self.waiting()));
        }
        let version = build(&self.store, &self.keys.identity)?;
        self.store.flush().await?;
        self.directory.refresh()?;
        tracing::info!(version = version.body.version, change = %version.body.change, "directory version published");
        self.announce(version.body.version);
        Ok(version)
    }

    /// Pushes "version n exists" to every listed node, without waiting: a node
    /// that misses it catches up at its next poll.
    fn announce(&self, version: u64) {
        let request = NetRequest::DirectoryUpdated { version };
        super::announce(&self.client, &self.directory.view(), &request, |e| e.status != EntryStatus::Withdrawn);
    }
}

/// Whether a rotation failed on the store rather than on its content.
pub fn rotation_store_failure(e: &PublishError) -> bool {
    match e {
        PublishError::Store(_) => true,
        PublishError::Rotation(r) => matches!(**r, RotationError::Store(_)),
        _ => false,
    }
}
