//! The directory, as each role holds it.
//!
//! Secretariat (`registry`, `publisher`): keeps the registrations States
//! submit, and on the operator's approval publishes the next version, signed
//! with its key and chained to the previous one. National node (`sync`):
//! registers itself, then polls the Secretariat for new versions and accepts
//! each only if it extends the chain it holds
//! (`SignedDirectoryVersion::check_successor`). Both keep an in-memory view of
//! the current version indexed by PeerId and State, rebuilt once per version,
//! so that checking a peer costs a hash lookup, not a scan: [`Directory`]
//! owns that view, and every other service reads it from there.

pub mod public;
pub mod publisher;
pub mod registry;
pub mod sync;

pub use publisher::Publisher;
pub use registry::{PublishError, RegistrationOutcome};
pub use sync::{Standing, StandingState, SyncClient, SyncError, SyncStatus};

use crate::home::config::{Role, SecretariatPin};
use crate::home::keys::peer_id_of;
use crate::storage::{Store, StoreError};
use libp2p::{Multiaddr, PeerId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::keys::PublicIdentity;
use veim_protocol::{DirectoryEntry, EntryStatus, SignedDirectoryVersion, StateCode};

/// The current directory version, indexed.
#[derive(Debug, Clone, Default)]
pub struct DirectoryView {
    pub current: Option<SignedDirectoryVersion>,
    by_peer: HashMap<PeerId, StateCode>,
    /// Nodes whose key a rotation replaced: they may still fetch the version
    /// that lists their new key, so that they can move to it.
    by_previous_peer: HashMap<PeerId, StateCode>,
}

impl DirectoryView {
    pub fn new(current: Option<SignedDirectoryVersion>) -> DirectoryView {
        let by_peer = current
            .iter()
            .flat_map(|v| v.body.entries.iter())
            .filter_map(|e| Some((peer_id_of(&e.identity_key())?, e.state())))
            .collect();
        let by_previous_peer = current
            .iter()
            .flat_map(|v| v.body.entries.iter())
            .filter_map(|e| Some((peer_id_of(&e.rotated_from.as_ref()?.rotation.previous_key)?, e.state())))
            .collect();
        DirectoryView { current, by_peer, by_previous_peer }
    }

    pub fn version(&self) -> u64 {
        self.current.as_ref().map(|v| v.body.version).unwrap_or(0)
    }

    pub fn entry(&self, state: StateCode) -> Option<&DirectoryEntry> {
        self.current.as_ref()?.body.entry(state)
    }

    /// The active entry of the node behind this transport peer.
    pub fn active_peer(&self, peer: &PeerId) -> Option<&DirectoryEntry> {
        let state = self.by_peer.get(peer)?;
        self.entry(*state).filter(|e| e.is_active())
    }

    /// The entry of a node that is listed and not withdrawn (active or
    /// suspended): such a node may still follow the directory.
    pub fn listed_peer(&self, peer: &PeerId) -> Option<&DirectoryEntry> {
        let state = self.by_peer.get(peer)?;
        self.entry(*state).filter(|e| e.status != EntryStatus::Withdrawn)
    }

    /// The entry of the node behind this transport peer, whatever its status.
    pub fn peer_entry(&self, peer: &PeerId) -> Option<&DirectoryEntry> {
        let state = self.by_peer.get(peer)?;
        self.entry(*state)
    }

    /// The entry of a State whose previous key this peer holds.
    pub fn rotated_away_peer(&self, peer: &PeerId) -> Option<&DirectoryEntry> {
        let state = self.by_previous_peer.get(peer)?;
        self.entry(*state).filter(|e| e.status != EntryStatus::Withdrawn)
    }

    /// The transport identities of the nodes listed and not withdrawn,
    /// under their current key or a key they rotated away from.
    pub fn listed_peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        let listed = |state: &StateCode| self.entry(*state).is_some_and(|e| e.status != EntryStatus::Withdrawn);
        self.by_peer
            .iter()
            .chain(self.by_previous_peer.iter())
            .filter(move |(_, state)| listed(state))
            .map(|(peer, _)| *peer)
    }

    pub fn entries(&self) -> &[DirectoryEntry] {
        self.current.as_ref().map(|v| v.body.entries.as_slice()).unwrap_or(&[])
    }
}

/// How to reach a directory entry's node.
pub fn dial_info(entry: &DirectoryEntry) -> Option<(PeerId, Vec<Multiaddr>)> {
    let peer = peer_id_of(&entry.identity_key())?;
    let addrs = entry.addresses().iter().filter_map(|a| a.parse().ok()).collect();
    Some((peer, addrs))
}

/// Sends `request` (an announcement) to the node of every entry of `view`
/// that `to` picks, without waiting: a node that misses it learns the news
/// at its next poll.
pub fn announce(
    client: &crate::net::Client,
    view: &DirectoryView,
    request: &veim_protocol::wire::NetRequest,
    to: impl Fn(&DirectoryEntry) -> bool,
) {
    let Ok(bytes) = veim_protocol::codec::encode("request", request) else { return };
    for (peer, addrs) in view.entries().iter().filter(|e| to(e)).filter_map(dial_info) {
        let client = client.clone();
        let bytes = bytes.clone();
        tokio::spawn(async move {
            if let Err(e) = client.request(peer, addrs, bytes).await {
                tracing::debug!(%peer, %e, "announcement not delivered; the node will poll");
            }
        });
    }
}

/// The directory version this node holds, as an indexed view that the
/// services share; replaced whole when a version is accepted or published.
#[derive(Debug)]
pub struct Directory {
    store: Store,
    view: RwLock<Arc<DirectoryView>>,
    role: Role,
    /// This node's own identity key (the Secretariat's, on the Secretariat).
    own_key: PublicIdentity,
    /// National nodes: where the Secretariat is, and the key first trusted.
    pin: Option<SecretariatPin>,
    /// National nodes: the State this node speaks for.
    state: Option<StateCode>,
    /// Bumped at each refresh, for those who follow the directory's changes.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Directory {
    pub fn open(
        store: Store,
        role: Role,
        state: Option<StateCode>,
        own_key: PublicIdentity,
        pin: Option<SecretariatPin>,
    ) -> Result<Directory, StoreError> {
        let view = RwLock::new(Arc::new(DirectoryView::new(store.current_directory()?)));
        let (changes, _) = tokio::sync::watch::channel(0);
        Ok(Directory { store, view, role, own_key, pin, state, changes })
    }

    /// The State this node speaks for (national nodes).
    pub fn own_state(&self) -> Option<StateCode> {
        self.state
    }

    /// The current version, indexed. Cheap: a clone of an `Arc`.
    pub fn view(&self) -> Arc<DirectoryView> {
        self.view.read().map(|v| v.clone()).unwrap_or_default()
    }

    /// Rebuilds the view from the store, after a version was stored.
    pub fn refresh(&self) -> Result<(), StoreError> {
        let fresh = Arc::new(DirectoryView::new(self.store.current_directory()?));
        if let Ok(mut v) = self.view.write() {
            *v = fresh;
        }
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Changes when the view is refreshed (a version stored, or a key
    /// handed over).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The peers this node's directory lists: the Secretariat (as this node
    /// knows it) and [`DirectoryView::listed_peers`]. The network layer gives
    /// them what it keeps from strangers.
    pub fn listed_peers(&self) -> std::collections::HashSet<PeerId> {
        let mut peers: std::collections::HashSet<PeerId> = self.view().listed_peers().collect();
        peers.extend(self.secretariat_peer());
        peers
    }

    /// The key that signs the directory: on the Secretariat its own; on a
    /// national node the key the directory last handed over to, else the
    /// pinned one.
    pub fn secretariat_key(&self) -> Option<PublicIdentity> {
        match self.role {
            Role::Secretariat => Some(self.own_key),
            Role::National => match self.store.secretariat_key() {
                Ok(Some(key)) => Some(key),
                _ => self.pin.as_ref().and_then(|p| PublicIdentity::from_hex(&p.public_key).ok()),
            },
        }
    }

    /// The Secretariat key pinned in the configuration (national nodes).
    pub fn pinned_key(&self) -> Option<PublicIdentity> {
        self.pin.as_ref().and_then(|p| PublicIdentity::from_hex(&p.public_key).ok())
    }

    /// How to reach the Secretariat (national nodes).
    pub fn secretariat_dial(&self) -> Option<(PeerId, Vec<Multiaddr>)> {
        let pin = self.pin.as_ref()?;
        let key = self.secretariat_key()?;
        Some((peer_id_of(&key)?, vec![pin.address.parse().ok()?]))
    }

    /// The Secretariat's transport identity (national nodes).
    pub fn secretariat_peer(&self) -> Option<PeerId> {
        self.secretariat_dial().map(|(peer, _)| peer)
    }
}

/// The audit event of a directory version stored (published or accepted).
pub fn directory_event(v: &SignedDirectoryVersion, actor: Actor, action: Action) -> Event {
    let mut e = Event::new(v.body.issued_at, actor, action);
    e.object = Some(format!("directory version {}", v.body.version));
    e.hash = v.hash().ok().map(veim_protocol::Bytes32);
    e.detail = v.body.change.clone();
    e
}

/// The versions after `after` held in `store`, up to `published` (the
/// flushed head), as many as fit well inside one frame: the asker asks again
/// for the rest.
pub fn versions_after(store: &Store, after: u64, published: u64) -> Result<Vec<SignedDirectoryVersion>, StoreError> {
    let mut versions = store.directory_versions_after(after, veim_protocol::wire::MAX_VERSIONS_PER_FETCH)?;
    versions.retain(|v| v.body.version <= published);
    Ok(within_frame(versions))
}

/// The first of `versions` that fit well inside one frame (at least one):
/// the asker asks again for the rest.
pub fn within_frame(mut versions: Vec<SignedDirectoryVersion>) -> Vec<SignedDirectoryVersion> {
    let mut budget = veim_protocol::codec::MAX_FRAME / 2;
    let keep = versions
        .iter()
        .take_while(|v| {
            let size = veim_protocol::codec::encode("directory version", v).map(|b| b.len()).unwrap_or(usize::MAX);
            let fits = size <= budget;
            budget = budget.saturating_sub(size);
            fits
        })
        .count()
        .max(1);
    versions.truncate(keep);
    versions
}
