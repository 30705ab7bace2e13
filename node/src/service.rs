//! A running node: the wiring of config, keys, store, network, directory and
//! exchanges, and the tasks that keep it going.
//!
//! `start` brings a node up from its home folder and returns a [`NodeHandle`];
//! `NodeHandle::stop` (or Ctrl-C / SIGTERM in the daemon) stops taking work,
//! lets handlers finish, flushes the store and removes `runtime.json`.

use crate::config::{Config, ConfigError, RUNTIME_FILE, Role, Runtime, STORE_DIR, write_file};
use crate::directory::{self, DirectoryView, RegistrationOutcome};
use crate::exchange::{self, Me};
use crate::keys::{KeyFileError, NodeKeys, peer_id_of};
use crate::network::{self, Client, Inbound, InboundFrame, Limits, NetworkError};
use crate::reconcile;
use crate::shutdown::{self, Shutdown, Trigger};
use crate::store::{Store, StoreError};
use libp2p::{Multiaddr, PeerId};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use veim_protocol::audit::{Action, Actor, Checkpoint, Event, SignedCheckpoint, SignedTreeHead, TreeHead};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::keys::PublicIdentity;
use veim_protocol::wire::{
    ConsistencyProof, ContactsStatus, MAX_INVENTORY, MAX_VERSIONS_PER_FETCH, NetRequest, NetResponse, Refusal,
    RefusalCode, RegistrationStatus, TreeWitness,
};
use veim_protocol::{Registration, SignedRegistration, StateCode};

/// Inbound requests handled at once; more wait (and so does the swarm).
const MAX_CONCURRENT_HANDLERS: usize = 64;
/// How long `stop` waits for tasks to finish before giving up on them.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error("cannot bind the admin API on {addr}: {reason}. Is another node using this port?")]
    Admin { addr: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Runtime { path: PathBuf, reason: String },
    #[error(
        "the directory was handed over to the key with fingerprint {fingerprint}, which this node does not hold; restore keys/ from the backup taken after `veim keys rotate`"
    )]
    HandedOver { fingerprint: String },
}

/// What the national node knows of its own standing with the Secretariat.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncStatus {
    pub registration: Option<String>,
    /// Where this State's latest submission of points of contact stands.
    pub contacts: Option<String>,
    pub last_sync: Option<i64>,
    pub last_error: Option<String>,
}

/// The node's shared state; handlers and the admin API hold an `Arc` of it.
#[derive(Debug)]
pub struct Node {
    pub home: PathBuf,
    pub config: Config,
    pub keys: NodeKeys,
    pub store: Store,
    pub vault: crate::vault::Vault,
    pub client: Client,
    pub peer_id: PeerId,
    pub listen: Vec<Multiaddr>,
    view: RwLock<Arc<DirectoryView>>,
    pub sync_status: Mutex<SyncStatus>,
    pub sync_now: Notify,
    /// Wakes the outbox before its next tick.
    pub outbox_now: Notify,
    /// Wakes the attachment fetcher.
    pub download_now: Notify,
    /// When each peer last had a reconciliation answered.
    reconciled_with: Mutex<std::collections::HashMap<StateCode, i64>>,
    /// Set when a peer's checkpoint was kept: the audit loop rewrites the
    /// file of witnessed checkpoints at its next tick.
    witnessed_changed: std::sync::atomic::AtomicBool,
    /// Refusals of strangers in the current minute, recorded and not.
    stranger_refusals: Mutex<StrangerTally>,
    /// The Merkle tree of this node's audit log, as far as the last tree
    /// head (built from the store at the first checkpoint after a start).
    merkle: Arc<Mutex<veim_protocol::merkle::Tree>>,
    /// Per peer, the count of the last tree head of this node it kept: the
    /// next one is offered with a proof from there.
    tree_acked: Mutex<std::collections::HashMap<PeerId, u64>>,
    /// Tree head conflicts recorded, per peer and day (one entry each).
    tree_conflicts: Mutex<std::collections::HashSet<(Option<StateCode>, i64)>>,
    /// One tree head offer handled at a time: the head held is read, the
    /// proof checked against it and the new head kept as one step.
    tree_lock: Mutex<()>,
    /// Blocking work on attachments still running (see
    /// [`crate::attachments`]): it holds the store open, so stopping waits
    /// for it.
    pub(crate) blocking_work: Arc<std::sync::atomic::AtomicUsize>,
    /// One directory sync at a time (the poll loop and the operator's
    /// `directory sync` would otherwise race on the same head).
    sync_lock: tokio::sync::Mutex<()>,
    /// One directory publication at a time: two concurrent approvals must not
    /// both build version n+1.
    publish_lock: tokio::sync::Mutex<()>,
    /// Set when the node must restart to take up new keys.
    restart: Notify,
    restart_requested: std::sync::atomic::AtomicBool,
    pub started_at: i64,
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds as an RFC 3339 UTC time, for messages to people.
pub fn format_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

impl Node {
    pub fn view(&self) -> Arc<DirectoryView> {
        self.view.read().map(|v| v.clone()).unwrap_or_default()
    }

    fn refresh_view(&self) -> Result<(), StoreError> {
        let fresh = Arc::new(DirectoryView::new(self.store.current_directory()?));
        if let Ok(mut v) = self.view.write() {
            *v = fresh;
        }
        Ok(())
    }

    pub fn role(&self) -> Role {
        self.config.role
    }

    /// This node's State (national nodes only).
    pub fn state(&self) -> Option<StateCode> {
        self.config.state
    }

    pub fn me(&self) -> Option<Me<'_>> {
        Some(Me {
            state: self.config.state?,
            identity: &self.keys.identity,
            encryption: &self.keys.encryption,
            vault: &self.vault,
            retry: exchange::RetryPolicy {
                base_secs: self.config.retry_base_secs,
                max_secs: self.config.retry_max_secs,
                max_age_secs: self.config.max_message_age_secs,
            },
        })
    }

    pub fn secretariat_key(&self) -> Option<PublicIdentity> {
        match self.config.role {
            Role::Secretariat => Some(self.keys.identity.public()),
            // The key the directory last handed over to, else the pinned one.
            Role::National => match self.store.secretariat_key() {
                Ok(Some(key)) => Some(key),
                _ => self.config.secretariat.as_ref().and_then(|p| PublicIdentity::from_hex(&p.public_key).ok()),
            },
        }
    }

    /// Addresses this node publishes in the directory.
    pub fn announce(&self) -> Vec<String> {
        if self.config.announce.is_empty() {
            self.listen.iter().map(|a| a.to_string()).collect()
        } else {
            self.config.announce.clone()
        }
    }

    /// Secretariat: approve a State's registration and publish the next version.
    /// The new version is served to national nodes only once it is flushed.
    pub async fn approve(
        &self,
        state: StateCode,
        fingerprint: &str,
    ) -> Result<veim_protocol::SignedDirectoryVersion, directory::PublishError> {
        self.publish(|store, key| directory::approve(store, key, state, fingerprint, now())).await
    }

    /// Secretariat: admit several States in one version (all or none).
    pub async fn approve_many(
        &self,
        approvals: Vec<(StateCode, String)>,
    ) -> Result<veim_protocol::SignedDirectoryVersion, directory::PublishError> {
        self.publish(|store, key| directory::approve_many(store, key, &approvals, now())).await
    }

    /// Secretariat: suspend, reinstate or withdraw a State.
    pub async fn change_status(
        &self,
        state: StateCode,
        action: veim_protocol::EntryAction,
        reason: &str,
    ) -> Result<veim_protocol::SignedDirectoryVersion, directory::PublishError> {
        self.publish(|store, key| directory::change_status(store, key, state, action, reason, now())).await
    }

    /// Secretariat: refuse a pending registration; the applicant's node is
    /// told the reason the next time it registers (it retries on its own).
    pub async fn reject(
        &self,
        state: StateCode,
        fingerprint: &str,
        reason: &str,
    ) -> Result<(), directory::PublishError> {
        directory::reject(&self.store, state, fingerprint, reason)?;
        self.store.flush().await?;
        tracing::info!(%state, reason, "registration rejected");
        Ok(())
    }

    /// Builds, stores and flushes one new version at a time, makes it the
    /// served head, then tells every listed node it exists.
    async fn publish(
        &self,
        build: impl FnOnce(
            &Store,
            &veim_protocol::IdentityKeypair,
        ) -> Result<veim_protocol::SignedDirectoryVersion, directory::PublishError>,
    ) -> Result<veim_protocol::SignedDirectoryVersion, directory::PublishError> {
        let _publishing = self.publish_lock.lock().await;
        let version = build(&self.store, &self.keys.identity)?;
        self.store.flush().await?;
        self.refresh_view()?;
        tracing::info!(version = version.body.version, change = %version.body.change, "directory version published");
        self.announce_version(version.body.version);
        Ok(version)
    }

    /// Pushes "version n exists" to every listed node, without waiting: a node
    /// that misses it catches up at its next poll.
    fn announce_version(&self, version: u64) {
        let Ok(bytes) = codec::encode("request", &NetRequest::DirectoryUpdated { version }) else { return };
        let view = self.view();
        for entry in view.entries().iter().filter(|e| e.status != veim_protocol::EntryStatus::Withdrawn) {
            if let Some((peer, addrs)) = directory::dial_info(entry) {
                let client = self.client.clone();
                let bytes = bytes.clone();
                tokio::spawn(async move {
                    if let Err(e) = client.request(peer, addrs, bytes).await {
                        tracing::debug!(%peer, %e, "directory announcement not delivered; the node will poll");
                    }
                });
            }
        }
    }

    // --- inbound -------------------------------------------------------------

    async fn handle(self: &Arc<Self>, inbound: Inbound) {
        let Inbound { peer, frame, channel } = inbound;
        let response = match frame {
            InboundFrame::Oversized { len } => {
                refused(RefusalCode::Malformed, format!("request of {len} bytes is over the {MAX_FRAME}-byte limit"))
            }
            InboundFrame::Bytes(bytes) => match codec::decode::<NetRequest, MAX_FRAME>("request", &bytes) {
                Ok(request) => self.dispatch(peer, request).await,
                Err(e) => refused(RefusalCode::Malformed, e.to_string()),
            },
        };
        if let NetResponse::Refused(r) = &response {
            tracing::warn!(%peer, code = ?r.code, detail = %r.detail, "refused a request");
            let view = self.view();
            let actor = match view.listed_peer(&peer) {
                Some(e) => Actor::Peer(Some(e.state())),
                None if Some(peer) == self.secretariat_peer() => Actor::Peer(None),
                None => Actor::Stranger,
            };
            // A stranger's refusals past the minute's allowance are counted,
            // not recorded one by one: strangers cannot fill the log.
            let one_by_one = actor != Actor::Stranger || {
                let limit = self.config.audit_stranger_refusals_per_minute;
                let (one_by_one, ended) = match self.stranger_refusals.lock() {
                    Ok(mut tally) => tally.admit(now(), limit),
                    Err(_) => (true, None),
                };
                if let Some(summary) = ended {
                    self.record(&summary);
                }
                one_by_one
            };
            let mut event = Event::new(now(), actor, Action::RequestRefused);
            event.state = if let Actor::Peer(s) = actor { s } else { None };
            event.object = Some(format!("peer {peer}"));
            // The detail of an invalid body may quote the body: only the code is kept.
            event.detail = if r.code == RefusalCode::InvalidBody {
                format!("{:?}", r.code)
            } else {
                format!("{:?}: {}", r.code, r.detail)
            };
            if one_by_one {
                self.record(&event);
            }
        }
        let bytes = match codec::encode("response", &response) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(%e, "cannot encode a response");
                return;
            }
        };
        if let Err(e) = self.client.respond(channel, bytes).await {
            tracing::debug!(%e, "response not sent");
        }
    }

    async fn dispatch(self: &Arc<Self>, peer: PeerId, request: NetRequest) -> NetResponse {
        let view = self.view();
        match (self.role(), request) {
            (Role::Secretariat, NetRequest::Register(reg)) => {
                match directory::receive_registration(&self.store, &peer, &reg, now(), self.config.replay_window_secs) {
                    Ok(RegistrationOutcome::Admitted { version }) => {
                        NetResponse::Registration(RegistrationStatus::Admitted { version })
                    }
                    Ok(RegistrationOutcome::Rejected { reason }) => {
                        NetResponse::Registration(RegistrationStatus::Rejected { reason })
                    }
                    Ok(RegistrationOutcome::ListingChanged) => {
                        match self.publish(|store, key| directory::update_listing(store, key, &reg, now())).await {
                            Ok(v) => {
                                NetResponse::Registration(RegistrationStatus::Admitted { version: v.body.version })
                            }
                            Err(e) => refused(RefusalCode::StorageFailure, e.to_string()),
                        }
                    }
                    Ok(RegistrationOutcome::Pending) => match self.store.flush().await {
                        Ok(()) => {
                            tracing::info!(state = %reg.registration.state, fingerprint = %reg.registration.identity_key.fingerprint(), "registration received; waiting for approval");
                            NetResponse::Registration(RegistrationStatus::Pending)
                        }
                        Err(e) => refused(RefusalCode::StorageFailure, e.to_string()),
                    },
                    Err(directory::RegistrationError::Store(e)) => refused(RefusalCode::StorageFailure, e.to_string()),
                    Err(e) => refused(RefusalCode::BadRegistration, e.to_string()),
                }
            }
            // A suspended node still follows the directory: that is how it
            // learns it was reinstated.
            (Role::Secretariat, NetRequest::FetchDirectory { after })
                if view.listed_peer(&peer).is_some() || view.rotated_away_peer(&peer).is_some() =>
            {
                // Serve only what is published: versions up to the flushed head.
                let published = view.version();
                match self.store.directory_versions_after(after, MAX_VERSIONS_PER_FETCH) {
                    Ok(mut versions) => {
                        versions.retain(|v| v.body.version <= published);
                        // Keep the answer well inside one frame; the node asks again for the rest.
                        let mut budget = MAX_FRAME / 2;
                        let keep = versions
                            .iter()
                            .take_while(|v| {
                                let size = codec::encode("directory version", v).map(|b| b.len()).unwrap_or(usize::MAX);
                                let fits = size <= budget;
                                budget = budget.saturating_sub(size);
                                fits
                            })
                            .count()
                            .max(1);
                        versions.truncate(keep);
                        NetResponse::Directory(versions)
                    }
                    Err(e) => refused(RefusalCode::StorageFailure, e.to_string()),
                }
            }
            (Role::Secretariat, NetRequest::RotateKeys(rotation)) => {
                let window = self.config.replay_window_secs;
                let result = self.publish(|store, key| {
                    directory::rotate(store, key, &peer, &rotation, now(), window)
                        .map_err(|e| directory::PublishError::Rotation(Box::new(e)))
                });
                match result.await {
                    Ok(v) => NetResponse::Registration(RegistrationStatus::Admitted { version: v.body.version }),
                    Err(directory::PublishError::Store(e)) => refused(RefusalCode::StorageFailure, e.to_string()),
                    Err(directory::PublishError::Rotation(e)) if matches!(*e, directory::RotationError::Store(_)) => {
                        refused(RefusalCode::StorageFailure, e.to_string())
                    }
                    Err(e) => refused(RefusalCode::BadRegistration, e.to_string()),
                }
            }
            (Role::Secretariat, NetRequest::SubmitContacts(submission)) => {
                match directory::receive_contacts(
                    &self.store,
                    &view,
                    &peer,
                    &submission,
                    now(),
                    self.config.replay_window_secs,
                ) {
                    Ok(status) => match self.store.flush().await {
                        Ok(()) => NetResponse::Contacts(status),
                        Err(e) => refused(RefusalCode::StorageFailure, e.to_string()),
                    },
                    Err(directory::ContactsError::NotListed) => {
                        refused(RefusalCode::NotInDirectory, directory::ContactsError::NotListed.to_string())
                    }
                    Err(directory::ContactsError::Store(e)) => refused(RefusalCode::StorageFailure, e.to_string()),
                    Err(e) => refused(RefusalCode::InvalidBody, e.to_string()),
                }
            }
            (Role::National, NetRequest::DirectoryUpdated { version }) if Some(peer) == self.secretariat_peer() => {
                if version > view.version() {
                    self.sync_now.notify_one();
                }
                NetResponse::Acknowledged
            }
            (Role::National, NetRequest::Witness(checkpoint)) if Some(peer) == self.secretariat_peer() => {
                match self.secretariat_key() {
                    Some(key) => self.flushed(self.witness_answer(None, &key, *checkpoint)).await,
                    None => refused(RefusalCode::NotInDirectory, "no Secretariat key is known here"),
                }
            }
            (Role::National, NetRequest::WitnessTree(offer)) if Some(peer) == self.secretariat_peer() => {
                match self.secretariat_key() {
                    Some(key) => self.flushed(self.tree_answer(None, &key, *offer)).await,
                    None => refused(RefusalCode::NotInDirectory, "no Secretariat key is known here"),
                }
            }
            (_, _) if view.active_peer(&peer).is_none() => {
                let why = match view.listed_peer(&peer) {
                    Some(e) => format!("{} is {} in directory version {}", e.state(), e.status, view.version()),
                    None => format!("peer {peer} is not an active node in directory version {}", view.version()),
                };
                refused(RefusalCode::NotInDirectory, why)
            }
            (Role::National, NetRequest::Reconcile(inventory)) => {
                let Some(me) = self.state() else {
                    return refused(RefusalCode::WrongRole, "this node speaks for no State");
                };
                let Some(from) = view.active_peer(&peer).map(|e| e.state()) else {
                    return refused(RefusalCode::NotInDirectory, "sender not active");
                };
                if !view.entry(me).is_some_and(|e| e.is_active()) {
                    return refused(
                        RefusalCode::NotInDirectory,
                        format!("{me} is not active in directory version {}: it does not reconcile", view.version()),
                    );
                }
                let exchanges: std::collections::HashSet<_> = inventory.exchanges.iter().map(|(x, _)| x).collect();
                if exchanges.len() != inventory.exchanges.len()
                    || inventory.exchanges.iter().map(|(_, ids)| ids.len()).sum::<usize>() > MAX_INVENTORY
                {
                    return refused(
                        RefusalCode::Malformed,
                        format!("an inventory lists each exchange once and at most {MAX_INVENTORY} messages"),
                    );
                }
                // At most one reconciliation per peer in half a period: each
                // may queue again everything sent to it.
                let period = self.config.reconcile_secs.max(2) as i64;
                {
                    let Ok(mut last) = self.reconciled_with.lock() else {
                        return refused(RefusalCode::StorageFailure, "reconciliation state poisoned");
                    };
                    if last.get(&from).is_some_and(|t| now() - t < period / 2) {
                        return refused(RefusalCode::Busy, "reconciled a moment ago; try at the next period");
                    }
                    last.insert(from, now());
                }
                match reconcile::answer(&self.store, me, from, &inventory, now(), self.config.max_message_age_secs) {
                    Ok(missing) => {
                        if let Err(e) = self.store.flush().await {
                            return refused(RefusalCode::StorageFailure, e.to_string());
                        }
                        self.outbox_now.notify_one();
                        NetResponse::Reconciled { missing }
                    }
                    Err(e) => refused(RefusalCode::StorageFailure, e.to_string()),
                }
            }
            (Role::National, NetRequest::FetchChunk { attachment, index }) => {
                let Some(from) = view.active_peer(&peer).map(|e| e.state()) else {
                    return refused(RefusalCode::NotInDirectory, "sender not active");
                };
                if !self.state().is_some_and(|me| view.entry(me).is_some_and(|e| e.is_active())) {
                    return refused(RefusalCode::NotInDirectory, "this node is not active in the directory");
                }
                let node = self.clone();
                let served = tokio::task::spawn_blocking(move || {
                    crate::attachments::serve_chunk(&node, from, attachment, index)
                })
                .await;
                match served {
                    Ok(Ok(chunk)) => NetResponse::Chunk(chunk),
                    Ok(Err(crate::attachments::AttachmentError::Refused(why))) => {
                        refused(RefusalCode::NotARecipient, why)
                    }
                    Ok(Err(e)) => refused(RefusalCode::StorageFailure, e.to_string()),
                    Err(e) => refused(RefusalCode::StorageFailure, e.to_string()),
                }
            }
            (_, NetRequest::Witness(checkpoint)) => {
                let Some(sender) = view.active_peer(&peer) else {
                    return refused(RefusalCode::NotInDirectory, "sender not active");
                };
                self.flushed(self.witness_answer(Some(sender.state()), &sender.identity_key(), *checkpoint)).await
            }
            (_, NetRequest::WitnessTree(offer)) => {
                let Some(sender) = view.active_peer(&peer) else {
                    return refused(RefusalCode::NotInDirectory, "sender not active");
                };
                self.flushed(self.tree_answer(Some(sender.state()), &sender.identity_key(), *offer)).await
            }
            (Role::National, NetRequest::Deliver(envelope)) => {
                let (Some(me), Some(sender)) = (self.me(), view.active_peer(&peer)) else {
                    return refused(RefusalCode::NotInDirectory, "sender not active");
                };
                if !view.entry(me.state).is_some_and(|e| e.is_active()) {
                    return refused(
                        RefusalCode::NotInDirectory,
                        format!(
                            "{} is not active in directory version {}: it takes no messages",
                            me.state,
                            view.version()
                        ),
                    );
                }
                let window = exchange::Window {
                    future_secs: self.config.replay_window_secs,
                    past_secs: self.config.max_message_age_secs,
                };
                match exchange::receive(me, &self.store, sender, *envelope, now(), window).await {
                    Ok(receipt) => {
                        tracing::info!(message = %receipt.receipt.message_id, from = %sender.state(), "message received and stored");
                        self.download_now.notify_one();
                        NetResponse::Receipt(receipt)
                    }
                    Err(r) => NetResponse::Refused(r),
                }
            }
            (role, request) => refused(
                RefusalCode::WrongRole,
                format!(
                    "a {role} node does not serve {}",
                    match request {
                        NetRequest::Register(_) => "registrations",
                        NetRequest::FetchDirectory { .. } => "the directory",
                        NetRequest::Deliver(_) => "message delivery",
                        NetRequest::DirectoryUpdated { .. } => "directory announcements from this peer",
                        NetRequest::SubmitContacts(_) => "points of contact",
                        NetRequest::RotateKeys(_) => "key rotations",
                        NetRequest::Witness(_) => "audit checkpoints",
                        NetRequest::WitnessTree(_) => "audit tree heads",
                        NetRequest::Reconcile(_) => "reconciliation",
                        NetRequest::FetchChunk { .. } => "attachment chunks",
                    }
                ),
            ),
        }
    }

    // --- national: registration and directory sync ---------------------------------

    fn secretariat_peer(&self) -> Option<PeerId> {
        self.secretariat_dial().map(|(peer, _)| peer)
    }

    fn secretariat_dial(&self) -> Option<(PeerId, Vec<Multiaddr>)> {
        let pin = self.config.secretariat.as_ref()?;
        let key = self.secretariat_key()?;
        Some((peer_id_of(&key)?, vec![pin.address.parse().ok()?]))
    }

    async fn ask_secretariat(&self, request: &NetRequest) -> Result<NetResponse, AskError> {
        let (peer, addrs) = self
            .secretariat_dial()
            .ok_or_else(|| AskError::Failed("the [secretariat] pin in config.toml is not usable".into()))?;
        let bytes = codec::encode("request", request).map_err(|e| AskError::Failed(e.to_string()))?;
        let answer = match self.client.request(peer, addrs.clone(), bytes.clone()).await {
            Ok(answer) => answer,
            // The Secretariat may have moved to a new key while this node was
            // away: ask whoever answers at its address for the directory. Its
            // versions are checked against the key chain this node holds, so
            // the transport identity does not need to be trusted for that.
            Err(e) if matches!(request, NetRequest::FetchDirectory { .. }) && self.role() == Role::National => {
                let address = addrs.first().cloned().ok_or_else(|| AskError::Failed(e.to_string()))?;
                let other = self
                    .client
                    .discover(address)
                    .await
                    .map_err(|_| AskError::Failed(format!("the Secretariat node is unreachable: {e}")))?;
                if other == peer {
                    return Err(AskError::Failed(format!("the Secretariat node is unreachable: {e}")));
                }
                tracing::info!(%other, "the Secretariat's address answers with another key; fetching the directory from it");
                self.client
                    .request(other, addrs, bytes)
                    .await
                    .map_err(|e| AskError::Failed(format!("the Secretariat node is unreachable: {e}")))?
            }
            Err(e) => return Err(AskError::Failed(format!("the Secretariat node is unreachable: {e}"))),
        };
        match codec::decode::<NetResponse, MAX_FRAME>("response", &answer) {
            Ok(NetResponse::Refused(r)) => Err(AskError::Refused(r)),
            Ok(r) => Ok(r),
            Err(e) => Err(AskError::Failed(format!("unreadable answer from the Secretariat: {e}"))),
        }
    }

    fn listed_as_me(&self) -> bool {
        let view = self.view();
        let Some(state) = self.state() else {
            return false;
        };
        // Suspended is still listed: re-registering would not change that.
        view.entry(state).is_some_and(|e| {
            e.status != veim_protocol::EntryStatus::Withdrawn
                && e.identity_key() == self.keys.identity.public()
                && e.addresses() == self.announce().as_slice()
        })
    }

    /// This State's registration with `keys` at the addresses it announces,
    /// signed by those keys' identity.
    fn registration_with(&self, keys: &NodeKeys) -> Result<SignedRegistration, String> {
        let registration = Registration {
            state: self.state().ok_or("no State code configured")?,
            identity_key: keys.identity.public(),
            encryption_key: keys.encryption.public(),
            addresses: self.announce(),
            operator: self.config.operator.clone(),
            signed_at: now(),
        };
        SignedRegistration::sign(registration, &keys.identity).map_err(|e| e.to_string())
    }

    /// One round with the Secretariat: register if not listed as we are, then
    /// fetch and verify new directory versions. Records the outcome for
    /// `veim status`.
    pub async fn sync(&self) -> Result<(), String> {
        let _one_at_a_time = self.sync_lock.lock().await;
        let result = self.sync_once().await;
        if let Ok(mut s) = self.sync_status.lock() {
            match &result {
                Ok(()) => {
                    s.last_sync = Some(now());
                    s.last_error = None;
                }
                Err(e) => s.last_error = Some(e.clone()),
            }
        }
        result
    }

    async fn sync_once(&self) -> Result<(), String> {
        let secretariat = self.secretariat_key().ok_or("no Secretariat key pinned")?;
        if self.restart_requested() {
            return Ok(());
        }
        if let Some(next) = NodeKeys::load_next(&self.home).map_err(|e| e.to_string())? {
            return self.continue_rotation(&secretariat, next).await;
        }
        if !self.listed_as_me() {
            let signed = self.registration_with(&self.keys)?;
            let status = match self.ask_secretariat(&NetRequest::Register(signed)).await {
                Ok(NetResponse::Registration(RegistrationStatus::Pending)) => {
                    "pending approval by the Secretariat".to_string()
                }
                Ok(NetResponse::Registration(RegistrationStatus::Admitted { version })) => {
                    format!("admitted in directory version {version}")
                }
                Ok(NetResponse::Registration(RegistrationStatus::Rejected { reason })) => {
                    let status = format!("rejected by the Secretariat: {reason}");
                    self.set_registration(status.clone());
                    return Err(format!(
                        "{status}. Settle the matter with the ATT Secretariat; to apply again with a new key, create a new node with `veim init`"
                    ));
                }
                Ok(other) => return Err(format!("unexpected answer to a registration: {other:?}")),
                Err(e) => return Err(format!("registration failed: {e}")),
            };
            self.set_registration(status);
        }
        self.fetch_directory(&secretariat).await?;
        if self.listed_as_me() {
            let view = self.view();
            let status = self.state().and_then(|s| view.entry(s)).map(|e| e.status.to_string()).unwrap_or_default();
            self.set_registration(format!("{status} in directory version {}", view.version()));
            self.submit_own_contacts().await?;
        }
        Ok(())
    }

    /// Fetches and verifies every version after the one held.
    async fn fetch_directory(&self, secretariat: &PublicIdentity) -> Result<(), String> {
        loop {
            let after = self.view().version();
            let versions = match self.ask_secretariat(&NetRequest::FetchDirectory { after }).await {
                Ok(NetResponse::Directory(v)) => v,
                Ok(other) => return Err(format!("unexpected answer to a directory fetch: {other:?}")),
                // Not admitted yet: the Secretariat serves the directory to listed nodes only.
                Err(AskError::Refused(r)) if r.code == RefusalCode::NotInDirectory => return Ok(()),
                Err(e) => return Err(format!("directory fetch failed: {e}")),
            };
            let n = versions.len();
            let result = directory::accept_versions(&self.store, secretariat, &versions);
            // Versions before a refused one stay accepted: flush whatever came.
            if n > 0 {
                self.store.flush().await.map_err(|e| e.to_string())?;
                self.refresh_view().map_err(|e| e.to_string())?;
            }
            match result {
                Ok(Some(head)) => tracing::info!(version = head.version, "directory version accepted"),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%e, "directory version refused");
                    let mut event = Event::new(now(), Actor::Peer(None), Action::DirectoryRefused);
                    event.detail = e.to_string();
                    self.record(&event);
                    return Err(format!("directory version refused: {e}"));
                }
            }
            // Stop when the answer was empty, or brought nothing new (an answer
            // may hold fewer versions than the maximum to stay inside a frame).
            if n == 0 || self.view().version() == after {
                break;
            }
        }
        Ok(())
    }

    /// National node: starts a key rotation: makes the next keys and sends the
    /// rotation, signed with the current key, to the Secretariat. The node
    /// moves to the new keys (and restarts) once the directory carries them.
    pub async fn rotate_keys(&self) -> Result<String, String> {
        if self.role() == Role::Secretariat {
            return self.hand_over().await;
        }
        let next = NodeKeys::create_next(&self.home).map_err(|e| e.to_string())?;
        let fingerprint = next.identity.public().fingerprint();
        self.sync().await?;
        Ok(fingerprint)
    }

    /// Sends the rotation until the Secretariat publishes it, then takes up
    /// the new keys once the directory lists them. The rotation is signed
    /// once and re-sent byte for byte, so that a lost answer does not make
    /// the Secretariat see a second, different rotation.
    async fn continue_rotation(&self, secretariat: &PublicIdentity, next: NodeKeys) -> Result<(), String> {
        let state = self.state().ok_or("no State code configured")?;
        let listed = |view: &DirectoryView| view.entry(state).map(|e| e.identity_key());
        // The rotation may already be published, its answer lost.
        self.fetch_directory(secretariat).await?;
        if listed(&self.view()) != Some(next.identity.public()) {
            let signed = match self.store.pending_rotation().map_err(|e| e.to_string())? {
                Some(signed) if signed.rotation.registration.registration.identity_key == next.identity.public() => {
                    signed
                }
                _ => {
                    let registration = self.registration_with(&next)?;
                    let rotation =
                        veim_protocol::KeyRotation { previous_key: self.keys.identity.public(), registration };
                    let signed = veim_protocol::SignedKeyRotation::sign(rotation, &self.keys.identity)
                        .map_err(|e| e.to_string())?;
                    self.store.put_pending_rotation(&signed).map_err(|e| e.to_string())?;
                    self.store.flush().await.map_err(|e| e.to_string())?;
                    signed
                }
            };
            match self.ask_secretariat(&NetRequest::RotateKeys(Box::new(signed))).await {
                Ok(NetResponse::Registration(RegistrationStatus::Admitted { version })) => {
                    self.set_registration(format!("key rotation published in directory version {version}"));
                }
                Ok(other) => return Err(format!("unexpected answer to a key rotation: {other:?}")),
                Err(AskError::Refused(r)) => {
                    // Sign anew next time (a stale signing time is refused);
                    // give the new keys up when they can never be listed.
                    self.store.clear_pending_rotation().map_err(|e| e.to_string())?;
                    let hopeless = r.detail.contains("is not listed") || r.detail.contains("already listed");
                    if hopeless {
                        NodeKeys::drop_next(&self.home).map_err(|e| e.to_string())?;
                        self.set_registration(format!("key rotation abandoned: {}", r.detail));
                    }
                    return Err(format!("key rotation refused by the Secretariat: {}", r.detail));
                }
                Err(e) => return Err(format!("key rotation not delivered: {e}; the node retries at every sync")),
            }
            self.fetch_directory(secretariat).await?;
        }
        if listed(&self.view()) == Some(next.identity.public()) {
            // Contacts signed with the old key no longer prove anything: sign
            // them anew before moving, so a crash cannot leave them behind.
            if let Some(own) = self.store.contacts(state).map_err(|e| e.to_string())? {
                let resigned = veim_protocol::contacts::SignedContactSet::sign(own.set, &next.identity)
                    .map_err(|e| e.to_string())?;
                self.store.put_contacts(&resigned).map_err(|e| e.to_string())?;
            }
            self.store.clear_pending_rotation().map_err(|e| e.to_string())?;
            self.store.flush().await.map_err(|e| e.to_string())?;
            NodeKeys::promote_next(&self.home).map_err(|e| e.to_string())?;
            self.set_registration(format!(
                "moved to new keys (fingerprint {}); restarting",
                next.identity.public().fingerprint()
            ));
            tracing::info!("the directory lists this node's new keys; restarting to take them up");
            self.restart_requested.store(true, std::sync::atomic::Ordering::SeqCst);
            self.restart.notify_one();
        }
        Ok(())
    }

    /// Secretariat: publishes the last version signed by the current key,
    /// handing over to a new key, then moves to the new key and restarts.
    /// National nodes follow without being re-configured.
    async fn hand_over(&self) -> Result<String, String> {
        let next = NodeKeys::create_next(&self.home).map_err(|e| e.to_string())?;
        let fingerprint = next.identity.public().fingerprint();
        self.publish(|store, key| directory::publish_handover(store, key, &next.identity, now()))
            .await
            .map_err(|e| e.to_string())?;
        NodeKeys::promote_next(&self.home).map_err(|e| e.to_string())?;
        tracing::info!(%fingerprint, "handed the directory over to the new key; restarting to take it up");
        self.restart_requested.store(true, std::sync::atomic::Ordering::SeqCst);
        self.restart.notify_one();
        Ok(fingerprint)
    }

    /// Whether the node asked to be restarted (to take up new keys).
    pub fn restart_requested(&self) -> bool {
        self.restart_requested.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sends this State's latest points of contact until the directory
    /// carries them or the Secretariat rejects them.
    async fn submit_own_contacts(&self) -> Result<(), String> {
        let Some(state) = self.state() else { return Ok(()) };
        let Some(own) = self.store.contacts(state).map_err(|e| e.to_string())? else { return Ok(()) };
        let listed = self.view().entry(state).and_then(|e| e.contacts.clone());
        let status = if listed.as_ref() == Some(&own) {
            format!("accepted; carried by directory version {}", self.view().version())
        } else {
            match self.ask_secretariat(&NetRequest::SubmitContacts(Box::new(own))).await {
                Ok(NetResponse::Contacts(ContactsStatus::Pending)) => {
                    "waiting for the Secretariat's review".to_string()
                }
                Ok(NetResponse::Contacts(ContactsStatus::Accepted { version })) => {
                    format!("accepted; carried by directory version {version}")
                }
                Ok(NetResponse::Contacts(ContactsStatus::Rejected { reason })) => {
                    format!("rejected by the Secretariat: {reason}. Correct the file and submit again")
                }
                Ok(other) => return Err(format!("unexpected answer to a contacts submission: {other:?}")),
                Err(e) => return Err(format!("contacts submission failed: {e}")),
            }
        };
        if let Ok(mut s) = self.sync_status.lock() {
            s.contacts = Some(status);
        }
        Ok(())
    }

    /// National node: signs and keeps this State's points of contact, then
    /// submits them to the Secretariat at once (and at every sync after).
    pub async fn submit_contacts(&self, form: &veim_protocol::contacts::ContactSetForm) -> Result<(), SubmitError> {
        let state = self.state().ok_or(SubmitError::WrongRole)?;
        let set = form.parse(state, now()).map_err(SubmitError::Invalid)?;
        let signed = veim_protocol::contacts::SignedContactSet::sign(set, &self.keys.identity)
            .map_err(|e| SubmitError::Failed(e.to_string()))?;
        self.store.put_contacts(&signed).map_err(|e| SubmitError::Failed(e.to_string()))?;
        self.store.flush().await.map_err(|e| SubmitError::Failed(e.to_string()))?;
        if let Ok(mut s) = self.sync_status.lock() {
            s.contacts = Some("signed and kept; not yet delivered to the Secretariat".into());
        }
        self.sync().await.map_err(SubmitError::Failed)
    }

    /// Secretariat: accept a State's pending points of contact.
    pub async fn accept_contacts(
        &self,
        state: StateCode,
    ) -> Result<veim_protocol::SignedDirectoryVersion, directory::PublishError> {
        self.publish(|store, key| directory::accept_contacts(store, key, state, now())).await
    }

    /// Secretariat: reject a State's pending points of contact, with the reason its node is told.
    pub async fn reject_contacts(&self, state: StateCode, reason: &str) -> Result<(), directory::PublishError> {
        directory::reject_contacts(&self.store, state, reason)?;
        self.store.flush().await?;
        Ok(())
    }

    fn set_registration(&self, status: String) {
        if let Ok(mut s) = self.sync_status.lock() {
            s.registration = Some(status);
        }
    }

    /// Records an event that changes nothing else; a failure is logged, and
    /// the event it concerns goes on (a refusal must still be answered).
    pub fn record(&self, event: &Event) {
        if let Err(e) = self.store.audit(event) {
            tracing::error!(%e, action = %event.action, "cannot write the audit entry");
        }
    }

    /// Records the refusals of strangers counted and not yet recorded, so
    /// that the log a checkpoint covers holds them.
    fn record_strangers_counted(&self) {
        let counted = self.stranger_refusals.lock().ok().and_then(|mut tally| tally.summary());
        if let Some(summary) = counted {
            self.record(&summary);
        }
    }

    /// Signs a checkpoint of the log if it grew since the last one, and
    /// makes it durable. Returns the latest checkpoint.
    pub async fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.record_strangers_counted();
        let (count, head) = self.store.audit_head()?;
        let latest = self.store.latest_checkpoint()?;
        let has_checkpoint = latest.as_ref().is_some_and(|c| c.checkpoint.count == count);
        let has_tree_head = self.store.latest_tree_head()?.is_some_and(|t| t.head.count == count);
        if count == 0 || (has_checkpoint && has_tree_head) {
            return Ok(latest);
        }
        // Each signed if missing: a failure or a crash between the two
        // leaves the other to the next call.
        let latest = match latest {
            Some(c) if has_checkpoint => c,
            _ => {
                let checkpoint = Checkpoint {
                    node: self.config.state,
                    identity_key: self.keys.identity.public(),
                    count,
                    head,
                    at: now(),
                };
                let signed = SignedCheckpoint::sign(checkpoint, &self.keys.identity)
                    .map_err(|e| StoreError::Corrupt { what: "audit checkpoint", reason: e.to_string() })?;
                self.store.put_checkpoint(&signed)?;
                signed
            }
        };
        if !has_tree_head {
            let root = self.tree_root(count).await?;
            let tree_head =
                TreeHead { node: self.config.state, identity_key: self.keys.identity.public(), count, root, at: now() };
            let tree_head = SignedTreeHead::sign(tree_head, &self.keys.identity)
                .map_err(|e| StoreError::Corrupt { what: "audit tree head", reason: e.to_string() })?;
            self.store.put_tree_head(&tree_head)?;
        }
        self.store.flush().await?;
        self.store.write_audit_checkpoints()?;
        Ok(Some(latest))
    }

    /// The Merkle root of the first `count` entries of this node's log,
    /// bringing the tree up to date from the store.
    async fn tree_root(&self, count: u64) -> Result<veim_protocol::Bytes32, StoreError> {
        let (tree, store) = (self.merkle.clone(), self.store.clone());
        let corrupt = |reason: String| StoreError::Corrupt { what: "audit log", reason };
        tokio::task::spawn_blocking(move || {
            let mut tree = tree.lock().map_err(|_| StoreError::Rejected("the audit tree lock is poisoned".into()))?;
            if tree.len() < count {
                for entry in store.audit_iter(tree.len()) {
                    let entry = entry?;
                    if entry.seq >= count {
                        break;
                    }
                    if entry.seq != tree.len() {
                        return Err(corrupt(format!(
                            "entry {} is stored where entry {} belongs",
                            entry.seq,
                            tree.len()
                        )));
                    }
                    tree.push(&entry.hash().map_err(|e| corrupt(e.to_string()))?);
                }
            }
            tree.root(count).ok_or_else(|| corrupt(format!("{count} entries announced, {} stored", tree.len())))
        })
        .await
        .map_err(|e| StoreError::Rejected(format!("the audit tree task failed: {e}")))?
    }

    /// Offers this node's latest tree head to `peer`, with the proof that it
    /// extends the one the peer holds; when the peer holds another one than
    /// this node thought, once more with a proof from that one.
    async fn offer_tree(&self, peer: PeerId, addrs: &[Multiaddr], head: &SignedTreeHead) {
        let n = head.head.count;
        let mut from = self.tree_acked.lock().ok().and_then(|m| m.get(&peer).copied());
        for _ in 0..2 {
            let proof = from.filter(|m| *m > 0 && *m < n).and_then(|m| {
                let tree = self.merkle.lock().ok()?;
                tree.consistency(m, n).map(|hashes| ConsistencyProof { from: m, hashes })
            });
            let request = NetRequest::WitnessTree(Box::new(TreeWitness { head: head.clone(), proof }));
            let Ok(bytes) = codec::encode("request", &request) else { return };
            let answer = match self.client.request(peer, addrs.to_vec(), bytes).await {
                Ok(b) => codec::decode::<NetResponse, MAX_FRAME>("response", &b).ok(),
                Err(_) => None,
            };
            match answer {
                Some(NetResponse::TreeWitnessed { held }) if held == n => {
                    if let Ok(mut acked) = self.tree_acked.lock() {
                        acked.insert(peer, n);
                    }
                    return;
                }
                // It holds an older one than this node thought: prove from there.
                Some(NetResponse::TreeWitnessed { held }) if held < n && Some(held) != from => from = Some(held),
                _ => return,
            }
        }
    }

    /// Keeps a peer's tree head if it extends the one held of that peer's
    /// log (by the consistency proof offered with it); one that does not
    /// (a log cut, or rewritten, even re-signed) is kept out and recorded as
    /// a conflict. Answers with the count of the tree head held.
    fn tree_answer(&self, node: Option<StateCode>, key: &PublicIdentity, offer: TreeWitness) -> NetResponse {
        let h = &offer.head.head;
        let name = veim_protocol::audit::node_name(node);
        if h.node != node || h.identity_key != *key || offer.head.verify().is_err() {
            return refused(
                RefusalCode::BadSignature,
                format!("the tree head is not signed by {name}'s key in the directory"),
            );
        }
        if offer.proof.as_ref().is_some_and(|p| p.hashes.len() > veim_protocol::merkle::MAX_PROOF) {
            return refused(RefusalCode::Malformed, "a consistency proof holds at most 128 hashes");
        }
        if h.count == 0 {
            return refused(RefusalCode::Malformed, "a tree head covers at least one entry");
        }
        let Ok(_one_at_a_time) = self.tree_lock.lock() else {
            return refused(RefusalCode::StorageFailure, "the tree head lock is poisoned");
        };
        let held = match self.store.witness_tree(node) {
            Ok(held) => held,
            Err(e) => return refused(RefusalCode::StorageFailure, e.to_string()),
        };
        let conflict = match &held {
            None => None,
            Some(old) if old.head.count == h.count && old.head.root == h.root => {
                return NetResponse::TreeWitnessed { held: h.count };
            }
            Some(old) if old.head.count == h.count => Some("another root for the same entries"),
            Some(old) if old.head.count > h.count => Some("fewer entries"),
            Some(old) => match &offer.proof {
                Some(p) if p.from == old.head.count => {
                    let o = &old.head;
                    (!veim_protocol::merkle::verify_consistency(o.count, h.count, &o.root, &h.root, &p.hashes))
                        .then_some("a proof that it extends the one held which fails")
                }
                // A proof from the one held is needed.
                _ => return NetResponse::TreeWitnessed { held: old.head.count },
            },
        };
        if let (Some(why), Some(old)) = (conflict, &held) {
            let day = now() / 86_400;
            let first = self.tree_conflicts.lock().map(|mut seen| seen.insert((node, day))).unwrap_or(true);
            if first {
                let mut event = Event::new(now(), Actor::Peer(node), Action::WitnessConflict);
                event.state = node;
                event.detail = format!(
                    "held a tree head of {name} at {} entries (root {}), received one at {} (root {}) with {why}: \
                     the log was cut or rewritten",
                    old.head.count,
                    hex::encode(old.head.root.0),
                    h.count,
                    hex::encode(h.root.0)
                );
                self.record(&event);
                tracing::warn!(%name, %why, "a peer's tree head does not extend the one held: its log was cut or rewritten");
            }
            return NetResponse::TreeWitnessed { held: old.head.count };
        }
        if let Err(e) = self.store.put_witness_tree(&offer.head) {
            return refused(RefusalCode::StorageFailure, e.to_string());
        }
        self.witnessed_changed.store(true, std::sync::atomic::Ordering::Relaxed);
        NetResponse::TreeWitnessed { held: h.count }
    }

    /// `answer`, once what led to it (a checkpoint or tree head kept, its
    /// audit entry) is on disk: a witness does not acknowledge what a crash
    /// could take back.
    async fn flushed(&self, answer: NetResponse) -> NetResponse {
        if matches!(answer, NetResponse::Refused(_)) {
            return answer;
        }
        match self.store.flush().await {
            Ok(()) => answer,
            Err(e) => refused(RefusalCode::StorageFailure, e.to_string()),
        }
    }

    /// Keeps a peer's checkpoint if it extends what this node holds of that
    /// peer's log; a checkpoint that goes back, or forks at the same count,
    /// is kept out and recorded as a conflict. Answers with this node's own.
    fn witness_answer(
        &self,
        node: Option<StateCode>,
        key: &PublicIdentity,
        checkpoint: SignedCheckpoint,
    ) -> NetResponse {
        match self.receive_witness(node, key, checkpoint) {
            Ok(()) => {}
            Err(WitnessError::Store(e)) => return refused(RefusalCode::StorageFailure, e.to_string()),
            Err(WitnessError::Unsigned(why)) => return refused(RefusalCode::BadSignature, why),
        }
        match self.store.latest_checkpoint() {
            Ok(own) => NetResponse::Witnessed(own.map(Box::new)),
            Err(e) => refused(RefusalCode::StorageFailure, e.to_string()),
        }
    }

    fn receive_witness(
        &self,
        node: Option<StateCode>,
        key: &PublicIdentity,
        checkpoint: SignedCheckpoint,
    ) -> Result<(), WitnessError> {
        let c = &checkpoint.checkpoint;
        let name = veim_protocol::audit::node_name(node);
        if c.node != node || c.identity_key != *key || checkpoint.verify().is_err() {
            return Err(WitnessError::Unsigned(format!(
                "the checkpoint is not signed by {name}'s key in the directory"
            )));
        }
        let held = self.store.witness(node)?;
        if let Some(h) = &held {
            let h = &h.checkpoint;
            let conflict = c.count < h.count || (c.count == h.count && c.head != h.head);
            if conflict {
                let mut event = Event::new(now(), Actor::Peer(node), Action::WitnessConflict);
                event.state = node;
                event.detail = format!(
                    "held a checkpoint of {name} at {} entries (head {}), received one at {} (head {})",
                    h.count,
                    hex::encode(h.head.0),
                    c.count,
                    hex::encode(c.head.0)
                );
                self.record(&event);
                tracing::warn!(%name, "a peer's audit checkpoint conflicts with the one held: its log was cut or rewritten");
                return Ok(());
            }
            if c.count == h.count {
                return Ok(());
            }
        }
        // One checkpoint kept per node and day, the day's latest: a log cut
        // or rewritten and then grown past the latest still conflicts with
        // the older ones an auditor is given.
        let first_of_day = self.store.put_witness(&checkpoint, now() / 86_400)?;
        self.witnessed_changed.store(true, std::sync::atomic::Ordering::Relaxed);
        if first_of_day {
            let mut event = Event::new(now(), Actor::Peer(node), Action::CheckpointWitnessed);
            event.state = node;
            event.hash = Some(c.head);
            event.detail = format!("{} entries", c.count);
            self.record(&event);
        }
        Ok(())
    }

    /// Sends this node's checkpoint to the Secretariat, to the active nodes
    /// it shares an exchange with, and to `audit_witnesses` other active
    /// nodes picked at random, keeping what each sends back.
    async fn send_witness(&self, checkpoint: &SignedCheckpoint) {
        let Ok(bytes) = codec::encode("request", &NetRequest::Witness(Box::new(checkpoint.clone()))) else { return };
        let view = self.view();
        let counterparts = match self.config.state {
            Some(me) => reconcile::counterparts(&self.store, me).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut others: Vec<(u32, &veim_protocol::DirectoryEntry)> = view
            .entries()
            .iter()
            .filter(|e| e.is_active() && Some(e.state()) != self.config.state)
            .map(|e| (rand_core::Rng::next_u32(&mut rand_core::UnwrapErr(getrandom::SysRng)), e))
            .collect();
        // Counterparts first, then the others in a random order.
        others.sort_by_key(|(r, e)| (!counterparts.contains(&e.state()), *r));
        let wanted = counterparts.len() + self.config.audit_witnesses;
        let mut targets: Vec<(Option<StateCode>, PublicIdentity, PeerId, Vec<Multiaddr>)> = others
            .into_iter()
            .take(wanted)
            .filter_map(|(_, e)| directory::dial_info(e).map(|(p, a)| (Some(e.state()), e.identity_key(), p, a)))
            .collect();
        if let (Some((peer, addrs)), Some(key)) = (self.secretariat_dial(), self.secretariat_key()) {
            targets.push((None, key, peer, addrs));
        }
        let tree_head = self.store.latest_tree_head().ok().flatten();
        let sends = targets.into_iter().map(|(node, key, peer, addrs)| {
            let bytes = bytes.clone();
            let tree_head = &tree_head;
            async move {
                let answer = self.client.request(peer, addrs.clone(), bytes).await;
                if let (Ok(_), Some(head)) = (&answer, tree_head) {
                    self.offer_tree(peer, &addrs, head).await;
                }
                (node, key, answer)
            }
        });
        for (node, key, answer) in futures::future::join_all(sends).await {
            let answer = answer.ok().and_then(|b| codec::decode::<NetResponse, MAX_FRAME>("response", &b).ok());
            if let Some(NetResponse::Witnessed(Some(theirs))) = answer
                && let Err(e) = self.receive_witness(node, &key, *theirs)
            {
                tracing::warn!(%e, "a peer answered with a checkpoint that does not verify");
            }
        }
    }

    /// Every `audit_checkpoint_secs`: a checkpoint if the log grew, sent to
    /// the peers; the audit files of checkpoints rewritten when this node's
    /// checkpoints or those it holds of its peers' logs changed.
    async fn audit_loop(self: Arc<Self>, mut shutdown: Shutdown) {
        let every = Duration::from_secs(self.config.audit_checkpoint_secs.max(1));
        let mut sent = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.recv() => break,
            }
            match self.checkpoint().await {
                Ok(Some(c)) if c.checkpoint.count > sent => {
                    self.send_witness(&c).await;
                    sent = c.checkpoint.count;
                    self.witnessed_changed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%e, "cannot make an audit checkpoint; will retry"),
            }
            if self.witnessed_changed.swap(false, std::sync::atomic::Ordering::Relaxed)
                && let Err(e) = self.store.write_audit_checkpoints()
            {
                self.witnessed_changed.store(true, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(%e, "cannot write the audit checkpoint files; will retry");
            }
        }
    }

    /// Once the store could not write to disk (a full disk, a failing
    /// device), it fails every later write: the node stops taking work and
    /// restarts itself after a pause, reopening the store. Peers keep their
    /// messages queued meanwhile (the refusal they get is transient).
    async fn store_watch_loop(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.recv() => return,
            }
            // A write that failed in sled's own writer threads shows at the
            // next flush; one with nothing to write costs no disk access.
            let store = self.store.clone();
            let _ = tokio::task::spawn_blocking(move || store.check_disk()).await;
            let Some(why) = self.store.failure() else { continue };
            tracing::error!(
                %why,
                "the store cannot write to disk; the node restarts in {} s to reopen it. Free disk space \
                 in the node's folder, or check the device",
                STORE_REOPEN_AFTER.as_secs()
            );
            tokio::select! {
                _ = tokio::time::sleep(STORE_REOPEN_AFTER) => {}
                _ = shutdown.recv() => return,
            }
            self.restart_requested.store(true, std::sync::atomic::Ordering::SeqCst);
            self.restart.notify_one();
            return;
        }
    }

    /// At start and every `reconcile_secs`: the inventory of shared
    /// exchanges sent to each active counterpart, and what it lacks queued again.
    async fn reconcile_loop(self: Arc<Self>, mut shutdown: Shutdown) {
        let every = Duration::from_secs(self.config.reconcile_secs.max(1));
        let mut wait = Duration::from_secs(1);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.recv() => break,
            }
            wait = every;
            if let Err(e) = self.reconcile_all().await {
                tracing::warn!(%e, "reconciliation failed; will retry");
            }
        }
    }

    pub async fn reconcile_all(&self) -> Result<usize, StoreError> {
        let Some(me) = self.state() else { return Ok(0) };
        let view = self.view();
        let mut queued = 0;
        let max_age = self.config.max_message_age_secs;
        for (peer, inventory) in reconcile::inventories(&self.store, me, now(), max_age)? {
            let Some((peer_id, addrs)) = view.entry(peer).filter(|e| e.is_active()).and_then(directory::dial_info)
            else {
                continue;
            };
            let Ok(bytes) = codec::encode("request", &NetRequest::Reconcile(Box::new(inventory))) else { continue };
            let answer = self.client.request(peer_id, addrs, bytes).await;
            if let Ok(Ok(NetResponse::Reconciled { missing })) =
                answer.map(|b| codec::decode::<NetResponse, MAX_FRAME>("response", &b))
            {
                let n = reconcile::apply(&self.store, peer, &missing, now(), self.config.max_message_age_secs)?;
                if n > 0 {
                    tracing::info!(%peer, queued = n, "reconciliation: messages the peer lacks queued again");
                }
                queued += n;
            }
        }
        if queued > 0 {
            self.store.flush().await?;
            self.outbox_now.notify_one();
        }
        Ok(queued)
    }

    /// Every two seconds (or when woken): the chunks of received attachments
    /// still missing, fetched from their senders.
    async fn download_loop(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = self.download_now.notified() => {}
                _ = shutdown.recv() => break,
            }
            let fetch = crate::attachments::fetch_pending(&self);
            tokio::select! {
                result = fetch => match result {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(files = n, "attachments fetched"),
                    Err(e) => tracing::warn!(%e, "attachment fetch failed; will resume"),
                },
                // Stopping parks the transfer: the chunks kept are on disk.
                _ = shutdown.recv() => break,
            }
        }
    }

    /// Every second (or when woken): the outbox copies that are due, tried again.
    async fn outbox_loop(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.outbox_now.notified() => {}
                _ = shutdown.recv() => break,
            }
            let Some(me) = self.me() else { break };
            let view = self.view();
            match exchange::retry_due(me, &self.store, &self.client, &view, now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(delivered = n, "outbox: queued messages delivered"),
                Err(e) => tracing::warn!(%e, "outbox: cannot read or update the store; will retry"),
            }
        }
    }

    /// Applies the retention policy at start and every hour.
    async fn retention_loop(self: Arc<Self>, mut shutdown: Shutdown) {
        let Some(days) = self.config.retention.received_content_days else { return };
        loop {
            match self.purge(i64::from(days) * 86_400, Actor::Node).await {
                Ok(purged) if !purged.is_empty() => {
                    tracing::info!(count = purged.len(), days, "received content past its retention purged")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purge failed; will retry"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = shutdown.recv() => break,
            }
        }
    }

    /// Removes the content of received messages stored more than
    /// `older_than_secs` ago; their metadata stays.
    pub async fn purge(&self, older_than_secs: i64, actor: Actor) -> Result<Vec<veim_protocol::MessageId>, StoreError> {
        let now = now();
        let purged = self.store.purge_received(now.saturating_sub(older_than_secs), now, actor)?;
        // The files of purged messages go too (their chunk keys with them).
        for a in self.store.attachments()? {
            if a.message.is_some_and(|m| purged.contains(&m)) {
                let _ = std::fs::remove_file(
                    self.home.join(crate::attachments::ATTACHMENTS_DIR).join(format!("{}.sealed", a.id)),
                );
                self.store.remove_attachment(a.id)?;
            }
        }
        self.store.flush().await?;
        Ok(purged)
    }

    async fn sync_loop(self: Arc<Self>, mut shutdown: Shutdown) {
        let every = Duration::from_secs(self.config.directory_poll_secs.max(1));
        loop {
            if let Err(e) = self.sync().await {
                tracing::warn!(error = %e, "directory sync failed; will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.sync_now.notified() => {}
                _ = shutdown.recv() => break,
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    #[error("only a national node submits points of contact")]
    WrongRole,
    #[error("the contacts are not valid")]
    Invalid(veim_protocol::ValidationErrors),
    #[error("{0}")]
    Failed(String),
}

/// Why a peer's checkpoint was not kept.
#[derive(Debug, thiserror::Error)]
enum WitnessError {
    #[error("{0}")]
    Unsigned(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a request to the Secretariat did not get a useful answer.
#[derive(Debug, thiserror::Error)]
enum AskError {
    #[error("the Secretariat refused: {0}")]
    Refused(Refusal),
    #[error("{0}")]
    Failed(String),
}

/// Refusals of peers outside the directory: each minute, the first `limit`
/// are recorded one by one; the rest are counted, and the count recorded as
/// one entry when the minute ends (seen at the next such refusal), or at the
/// next checkpoint, whichever comes first. A checkpoint at stop records what
/// is left.
#[derive(Debug, Default)]
struct StrangerTally {
    minute: i64,
    recorded: u32,
    counted: u64,
    since: i64,
    until: i64,
}

impl StrangerTally {
    /// Whether a stranger's refusal at `at` is recorded one by one, and the
    /// count of an ended minute, to record first.
    fn admit(&mut self, at: i64, limit: u32) -> (bool, Option<Event>) {
        let ended = if at.div_euclid(60) != self.minute {
            self.minute = at.div_euclid(60);
            self.recorded = 0;
            self.summary()
        } else {
            None
        };
        if self.recorded < limit {
            self.recorded += 1;
            return (true, ended);
        }
        if self.counted == 0 {
            self.since = at;
        }
        self.counted += 1;
        self.until = at;
        (false, ended)
    }

    /// The refusals counted and not yet recorded, as one entry; none left.
    fn summary(&mut self) -> Option<Event> {
        if self.counted == 0 {
            return None;
        }
        let mut event = Event::new(now(), Actor::Stranger, Action::RequestRefused);
        event.detail = format!(
            "{} more refusals of peers outside the directory from {} to {}, counted and not recorded one by one \
             (audit_stranger_refusals_per_minute)",
            self.counted,
            format_time(self.since),
            format_time(self.until)
        );
        self.counted = 0;
        Some(event)
    }
}

fn refused(code: RefusalCode, detail: impl Into<String>) -> NetResponse {
    NetResponse::Refused(Refusal { code, detail: detail.into() })
}

/// A started node.
#[derive(Debug)]
pub struct NodeHandle {
    pub node: Arc<Node>,
    pub admin: SocketAddr,
    /// Stops the work: inbound handlers, the admin API, directory sync.
    work: Trigger,
    tasks: JoinSet<()>,
    /// Stops the swarm, once the work is done, so that receipts of requests
    /// in flight still reach their senders.
    network: Trigger,
    network_task: tokio::task::JoinHandle<()>,
}

impl NodeHandle {
    pub fn peer_id(&self) -> PeerId {
        self.node.peer_id
    }

    /// Stops the node: no new work, in-flight handlers finish, store flushed.
    pub async fn stop(mut self) {
        self.work.trigger();
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_GRACE, drain).await.is_err() {
            tracing::warn!("some tasks did not stop within {STOP_GRACE:?}; stopping them");
            self.tasks.abort_all();
        }
        self.network.trigger();
        if tokio::time::timeout(STOP_GRACE, &mut self.network_task).await.is_err() {
            self.network_task.abort();
        }
        // A chunk being written or hashed holds the store open: let it end,
        // so that a restart in this process can open the store again.
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while self.node.blocking_work.load(std::sync::atomic::Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.node.record_strangers_counted();
        self.node.record(&Event::new(now(), Actor::Node, Action::NodeStopped));
        if let Err(e) = self.node.checkpoint().await {
            tracing::error!(%e, "final audit checkpoint failed");
        }
        if let Err(e) = self.node.store.flush().await {
            tracing::error!(%e, "final flush failed");
        }
        let _ = std::fs::remove_file(self.node.home.join(RUNTIME_FILE));
        tracing::info!("node stopped");
    }

    /// Runs until `stop` turns true (Ctrl-C or SIGTERM: returns `Stopped`),
    /// or until the node asks to restart, to take up new keys (`Restart`) or
    /// to reopen its store (`Reopen`).
    pub async fn run_until(self, mut stop: tokio::sync::watch::Receiver<bool>) -> Ended {
        let restart = async {
            while !self.node.restart_requested() {
                self.node.restart.notified().await;
            }
        };
        let ended = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => Ended::Stopped,
            _ = restart => if self.node.store.failure().is_some() { Ended::Reopen } else { Ended::Restart },
        };
        tracing::info!(?ended, "stopping");
        self.stop().await;
        ended
    }
}

/// Why a running node ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Stopped,
    /// To take up new keys.
    Restart,
    /// To reopen a store that could not write to disk.
    Reopen,
}

/// How long a node whose store could not write to disk waits before it
/// reopens the store, and between attempts while that fails.
pub const STORE_REOPEN_AFTER: Duration = Duration::from_secs(5);

/// Runs the node of `home` until Ctrl-C or SIGTERM, restarting it when it
/// takes up new keys, and when its store must be reopened after a failed
/// write (again and again, while the disk stays full).
pub async fn run(home: &Path) -> Result<(), StartError> {
    // One listener for the whole run: a signal during a restart is not lost.
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut reopening = false;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let node = match start(home).await {
            Ok(node) => node,
            Err(e @ StartError::Store(_)) if reopening => {
                tracing::error!(
                    %e,
                    "the node cannot start again after its store failed; next attempt in {} s",
                    STORE_REOPEN_AFTER.as_secs()
                );
                tokio::select! {
                    _ = tokio::time::sleep(STORE_REOPEN_AFTER) => continue,
                    _ = stop.wait_for(|stop| *stop) => return Ok(()),
                }
            }
            Err(e) => return Err(e),
        };
        match node.run_until(stop.clone()).await {
            Ended::Stopped => return Ok(()),
            Ended::Restart => reopening = false,
            Ended::Reopen => reopening = true,
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Records the start, and a change of configuration or keys since the last
/// start, then checkpoints the log.
async fn record_start(node: &Node, home: &Path) -> Result<(), StartError> {
    let at = now();
    let config_hash = std::fs::read(home.join(crate::config::CONFIG_FILE))
        .map(|b| <sha2::Sha256 as sha2::Digest>::digest(&b).into())
        .unwrap_or([0; 32]);
    let fingerprint = node.keys.identity.public().fingerprint();
    let (last_config, last_keys) = node.store.last_start()?;
    let mut events = vec![Event::new(at, Actor::Node, Action::NodeStarted)];
    if last_config != Some(config_hash) {
        let mut e = Event::new(at, Actor::Operator, Action::ConfigurationChanged);
        e.object = Some(crate::config::CONFIG_FILE.into());
        e.hash = Some(veim_protocol::Bytes32(config_hash));
        e.detail = if last_config.is_some() { "changed since the last start".into() } else { "first start".into() };
        events.push(e);
    }
    if last_keys.as_deref() != Some(fingerprint.as_str()) {
        let action = if last_keys.is_some() { Action::KeysRotated } else { Action::KeysInUse };
        let mut e = Event::new(at, Actor::Node, action);
        e.object = Some(fingerprint.clone());
        e.detail = last_keys.map(|k| format!("replacing {k}")).unwrap_or_default();
        events.push(e);
    }
    node.store.record_start(&events, config_hash, &fingerprint)?;
    node.store.flush().await?;
    node.checkpoint().await?;
    Ok(())
}

/// Loads the storage key (creating it for a store that never had one) and
/// records in the store which key its content is sealed with.
pub fn open_vault(home: &Path, config: &Config, store: &Store) -> Result<crate::vault::Vault, StartError> {
    let passphrase = crate::vault::passphrase(config.storage.passphrase_file.as_deref())?;
    let (vault, check) = crate::vault::Vault::load_or_create(
        home,
        store.storage_check()?.as_deref(),
        store.has_content()?,
        passphrase.as_deref().map(|p| p.as_str()),
    )?;
    if let Some(check) = check {
        store.set_storage_check(&check)?;
        store.flush_blocking()?;
    }
    Ok(vault)
}

/// Starts the node whose home folder is `home`.
pub async fn start(home: &Path) -> Result<NodeHandle, StartError> {
    // Everything that can fail without the network comes first, so a failed
    // start leaves nothing running.
    let config = Config::load(home)?;
    let store = Store::open(&home.join(STORE_DIR))?.with_audit_mirror(&home.join(crate::audit::AUDIT_DIR))?;
    let mut keys = NodeKeys::load(home)?;
    if config.role == Role::Secretariat
        && let Some(anchor) = store.secretariat_key()?
        && anchor != keys.identity.public()
    {
        // The directory was handed over; a crash came before the node moved
        // to the new key. Move now, or say why it cannot.
        match NodeKeys::load_next(home)? {
            Some(next) if next.identity.public() == anchor => {
                NodeKeys::promote_next(home)?;
                keys = NodeKeys::load(home)?;
            }
            _ => return Err(StartError::HandedOver { fingerprint: anchor.fingerprint() }),
        }
    }
    let vault = open_vault(home, &config, &store)?;
    let token = crate::keys::read_admin_token(home)?;
    let view = DirectoryView::new(store.current_directory()?);
    let admin_listener = tokio::net::TcpListener::bind(&config.admin_listen)
        .await
        .map_err(|e| StartError::Admin { addr: config.admin_listen.clone(), reason: e.to_string() })?;
    let admin = admin_listener
        .local_addr()
        .map_err(|e| StartError::Admin { addr: config.admin_listen.clone(), reason: e.to_string() })?;

    let listen: Vec<Multiaddr> = config.listen.iter().filter_map(|a| a.parse().ok()).collect();
    let limits = Limits {
        requests_per_sec: config.peer_requests_per_sec,
        burst: config.peer_request_burst,
        ..Limits::default()
    };
    let (client, mut inbound, event_loop) = network::new(keys.libp2p_keypair(), &listen, limits)?;
    let (network, network_shutdown) = shutdown::channel();
    let network_task = tokio::spawn(event_loop.run(network_shutdown));
    let listen = match tokio::time::timeout(Duration::from_secs(10), client.listen_addrs()).await {
        Ok(Ok(addrs)) => addrs,
        failed => {
            network.trigger();
            network_task.abort();
            return Err(match failed {
                Ok(Err(e)) => e.into(),
                _ => NetworkError::Listen {
                    addr: listen.first().cloned().unwrap_or(Multiaddr::empty()),
                    reason: "no listen address came up within 10 s".into(),
                }
                .into(),
            });
        }
    };
    let (work, shutdown) = shutdown::channel();
    let mut tasks = JoinSet::new();

    let node = Arc::new(Node {
        home: home.to_path_buf(),
        peer_id: keys.peer_id(),
        view: RwLock::new(Arc::new(view)),
        config,
        keys,
        store,
        vault,
        client,
        listen,
        sync_status: Mutex::new(SyncStatus::default()),
        sync_now: Notify::new(),
        outbox_now: Notify::new(),
        download_now: Notify::new(),
        reconciled_with: Mutex::new(std::collections::HashMap::new()),
        witnessed_changed: std::sync::atomic::AtomicBool::new(false),
        stranger_refusals: Mutex::new(StrangerTally::default()),
        blocking_work: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        merkle: Default::default(),
        tree_acked: Default::default(),
        tree_conflicts: Default::default(),
        tree_lock: Mutex::new(()),
        sync_lock: tokio::sync::Mutex::new(()),
        publish_lock: tokio::sync::Mutex::new(()),
        restart: Notify::new(),
        restart_requested: std::sync::atomic::AtomicBool::new(false),
        started_at: now(),
    });

    // Inbound requests: one task each, at most MAX_CONCURRENT_HANDLERS at once.
    {
        let node = node.clone();
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDLERS));
            let mut handlers = JoinSet::new();
            loop {
                tokio::select! {
                    next = inbound.recv() => {
                        let Some(request) = next else { break };
                        let Ok(permit) = permits.clone().acquire_owned().await else { break };
                        let node = node.clone();
                        handlers.spawn(async move {
                            node.handle(request).await;
                            drop(permit);
                        });
                    }
                    Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
                    _ = shutdown.recv() => break,
                }
            }
            // Let handlers in flight finish: their receipts follow their flushes.
            while handlers.join_next().await.is_some() {}
        });
    }
    record_start(&node, home).await?;
    tasks.spawn(node.clone().audit_loop(shutdown.clone()));
    tasks.spawn(node.clone().store_watch_loop(shutdown.clone()));
    if node.role() == Role::National {
        tasks.spawn(node.clone().sync_loop(shutdown.clone()));
        tasks.spawn(node.clone().retention_loop(shutdown.clone()));
        tasks.spawn(node.clone().outbox_loop(shutdown.clone()));
        tasks.spawn(node.clone().reconcile_loop(shutdown.clone()));
        tasks.spawn(node.clone().download_loop(shutdown.clone()));
    }
    tasks.spawn(crate::api::serve(node.clone(), admin_listener, token, shutdown.clone()));

    let runtime = Runtime {
        pid: std::process::id(),
        peer_id: node.peer_id.to_string(),
        admin: admin.to_string(),
        listen: node.listen.iter().map(|a| a.to_string()).collect(),
    };
    let path = home.join(RUNTIME_FILE);
    let json = serde_json::to_vec_pretty(&runtime)
        .map_err(|e| StartError::Runtime { path: path.clone(), reason: e.to_string() })?;
    write_file(&path, &json, false).map_err(|e| StartError::Runtime { path, reason: e.to_string() })?;
    tracing::info!(peer = %node.peer_id, role = %node.role(), %admin, "node started");
    Ok(NodeHandle { node, admin, work, tasks, network, network_task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strangers_refusals_past_the_allowance_are_counted_and_recorded_as_one_entry() {
        let mut tally = StrangerTally::default();
        let minute = 1_800_000_000 / 60 * 60;
        let admitted: Vec<bool> = (0..10).map(|i| tally.admit(minute + i, 3).0).collect();
        assert_eq!(admitted, [true, true, true, false, false, false, false, false, false, false]);
        // The next minute starts a new allowance, and brings the count of the last.
        let (one_by_one, ended) = tally.admit(minute + 60, 3);
        assert!(one_by_one);
        let ended = ended.expect("the count of the minute that ended");
        assert_eq!((ended.actor, ended.action), (Actor::Stranger, Action::RequestRefused));
        assert!(ended.detail.starts_with("7 more refusals"), "{}", ended.detail);
        assert!(tally.summary().is_none(), "a count is recorded once");
        // A checkpoint takes what is counted so far; the minute goes on.
        for i in 0..5 {
            tally.admit(minute + 61 + i, 3);
        }
        assert!(tally.summary().expect("counted so far").detail.starts_with("3 more"));
        assert!(!tally.admit(minute + 70, 3).0, "the allowance of the minute stays used");
        assert!(tally.summary().expect("one more").detail.starts_with("1 more"));
    }
}
