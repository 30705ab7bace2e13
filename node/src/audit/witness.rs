//! The witness service: this node's checkpoints and tree heads, signed when
//! its log grows and offered to its peers; and the checkpoints and tree heads
//! of its peers' logs that it keeps, refusing (and recording) any that goes
//! back or forks. A log cut or rewritten after a peer saw it is caught by
//! that peer, without the peer ever seeing an entry.

use super::SharedMirror;
use super::strangers::StrangerTally;
use crate::clock::now;
use crate::directory::{Directory, dial_info};
use crate::home::keys::NodeKeys;
use crate::net::Client;
use crate::storage::{Store, StoreError};
use libp2p::{Multiaddr, PeerId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use veim_protocol::StateCode;
use veim_protocol::audit::{Action, Actor, Checkpoint, Event, RestoreMark, SignedCheckpoint, SignedTreeHead, TreeHead};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::keys::PublicIdentity;
use veim_protocol::merkle::PrunedTree;
use veim_protocol::wire::{ConsistencyProof, NetRequest, NetResponse, TreeWitness};

/// Why a peer's checkpoint or tree head was not kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// Not signed by the key the directory lists for the log's node.
    #[error("{0}")]
    Unsigned(String),
    #[error("{0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The restore a peer's checkpoint or tree head declares that the one held
/// does not: a new mark, for an entry the new one covers. The same mark
/// again, or none, is no restore: a log that goes back under it conflicts.
fn declared_restore(held: Option<RestoreMark>, offered: Option<RestoreMark>, count: u64) -> Option<RestoreMark> {
    offered.filter(|m| Some(*m) != held && m.entry < count)
}

/// The witness service.
#[derive(Debug)]
pub struct Witness {
    store: Store,
    keys: Arc<NodeKeys>,
    state: Option<StateCode>,
    directory: Arc<Directory>,
    client: Client,
    mirror: SharedMirror,
    /// Other active nodes, picked at random, that each checkpoint goes to.
    audit_witnesses: usize,
    /// Strangers' refusals recorded one by one each minute.
    stranger_limit: u32,
    /// Set when a peer's checkpoint or tree head was kept: the files of
    /// witnessed checkpoints are rewritten at the next tick.
    changed: AtomicBool,
    /// Refusals of strangers in the current minute, recorded and not.
    strangers: Mutex<StrangerTally>,
    /// Refusals of each listed peer's requests in the current minute, and
    /// how many a minute are recorded one by one.
    peer_refusals: Mutex<HashMap<Option<StateCode>, StrangerTally>>,
    peer_limit: u32,
    /// Failed logins at the admin API in the current minute, likewise.
    admin_failures: Mutex<StrangerTally>,
    admin_limit: u32,
    /// The Merkle tree of this node's audit log, as far as the last tree
    /// head (built from the store at the first checkpoint after a start),
    /// holding its subtrees below [`TREE_FLOOR`] only for the last entries.
    merkle: Arc<Mutex<PrunedTree>>,
    /// Per peer, the count of the last tree head of this node it kept: the
    /// next one is offered with a proof from there.
    tree_acked: Mutex<HashMap<PeerId, u64>>,
    /// The last consistency proof made (from, to, hashes), and the lock that
    /// lets one be made at a time.
    last_proof: tokio::sync::Mutex<Option<(u64, u64, Vec<veim_protocol::Bytes32>)>>,
    /// Tree head conflicts recorded, per peer and day (one entry each).
    tree_conflicts: Mutex<HashSet<(Option<StateCode>, i64)>>,
    /// One peer's checkpoint or tree head handled at a time, whichever path
    /// it came by (offered to this node, or answering this node's offer):
    /// what is held is read, the new one checked against it and kept as one
    /// step. (That a declared restore is recorded once comes from
    /// `record_once`, keyed by its mark.)
    held_lock: Mutex<()>,
    /// The count of the last checkpoint sent to the peers.
    sent: Mutex<u64>,
}

impl Witness {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        keys: Arc<NodeKeys>,
        state: Option<StateCode>,
        directory: Arc<Directory>,
        client: Client,
        mirror: SharedMirror,
        audit_witnesses: usize,
        stranger_limit: u32,
        peer_limit: u32,
        admin_limit: u32,
    ) -> Witness {
        Witness {
            store,
            keys,
            state,
            directory,
            client,
            mirror,
            audit_witnesses,
            stranger_limit,
            changed: AtomicBool::new(false),
            strangers: Mutex::new(StrangerTally::default()),
            peer_refusals: Mutex::new(HashMap::new()),
            peer_limit,
            admin_failures: Mutex::new(StrangerTally::new(
                Action::AdminAuthFailed,
                "failed logins at the admin API",
                "audit_admin_failures_per_minute",
            )),
            admin_limit,
            merkle: Arc::new(Mutex::new(PrunedTree::new(TREE_FLOOR))),
            tree_acked: Default::default(),
            last_proof: Default::default(),
            tree_conflicts: Default::default(),
            held_lock: Mutex::new(()),
            sent: Mutex::new(0),
        }
    }

    /// The entries the latest checkpoint covers, and when it was signed.
    pub fn last_checkpoint(&self) -> Result<Option<(u64, i64)>, StoreError> {
        Ok(self.store.latest_checkpoint()?.map(|c| (c.checkpoint.count, c.checkpoint.at)))
    }

    /// Records a refusal of a peer's request; a stranger's past the minute's
    /// allowance is counted, not recorded one by one: strangers cannot fill
    /// the log.
    pub fn record_refusal(&self, event: &Event) {
        let one_by_one = match event.actor {
            Actor::Stranger => self.settle(self.strangers.lock().ok().map(|mut t| t.admit(now(), self.stranger_limit))),
            // A listed peer's, likewise, per peer: the directory is bounded,
            // and so is this table.
            Actor::Peer(state) => self.settle(self.peer_refusals.lock().ok().map(|mut tallies| {
                tallies
                    .entry(state)
                    .or_insert_with(|| StrangerTally::for_peer(Actor::Peer(state)))
                    .admit(now(), self.peer_limit)
            })),
            _ => true,
        };
        if one_by_one {
            self.store.record(event);
        }
    }

    /// Records a failed login at the admin API, counted past the minute's
    /// allowance like a stranger's refusal; the count so far is kept in the
    /// store (`Store::keep_counted`), so that the next flush makes it
    /// durable too. Returns whether it was recorded one by one.
    pub fn record_admin_failure(&self, event: &Event) -> bool {
        let Ok(mut tally) = self.admin_failures.lock() else {
            self.store.record(event);
            return true;
        };
        let (one_by_one, ended) = tally.admit(now(), self.admin_limit);
        if let Some(summary) = ended {
            self.store.record_counted(&summary);
        }
        if one_by_one {
            self.store.record(event);
        } else if let Some(counted) = tally.pending()
            && let Err(e) = self.store.keep_counted(&counted)
        {
            tracing::error!(%e, "cannot keep the count of failed logins");
        }
        one_by_one
    }

    /// Records the count of failed logins that a node which stopped
    /// abruptly kept and never recorded (called at start).
    pub fn record_counted_before_stop(&self) {
        match self.store.counted_left() {
            Ok(Some(mut summary)) => {
                summary.detail.push_str("; the node stopped before recording them, and did at its next start");
                self.store.record_counted(&summary);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(%e, "cannot read the count of failed logins kept before the stop"),
        }
    }

    /// What a tally's `admit` said: whether the event is recorded one by one
    /// (yes when the tally could not be read), recording first the count of
    /// a minute that ended.
    fn settle(&self, admitted: Option<(bool, Option<Event>)>) -> bool {
        let (one_by_one, ended) = admitted.unwrap_or((true, None));
        if let Some(summary) = ended {
            self.store.record(&summary);
        }
        one_by_one
    }

    /// Records the refusals of strangers and the failed logins counted and
    /// not yet recorded, so that the log a checkpoint covers holds them.
    pub fn record_strangers_counted(&self) {
        let counted = self.strangers.lock().ok().and_then(|mut tally| tally.summary());
        if let Some(summary) = counted {
            self.store.record(&summary);
        }
        // Under the tally's lock, as `record_admin_failure` does: a failure
        // counted (and kept) between taking the summary and recording it
        // would otherwise lose its kept count when this one is forgotten.
        if let Ok(mut tally) = self.admin_failures.lock()
            && let Some(summary) = tally.summary()
        {
            self.store.record_counted(&summary);
        }
        let counted: Vec<Event> = self
            .peer_refusals
            .lock()
            .map(|mut tallies| tallies.values_mut().filter_map(StrangerTally::summary).collect())
            .unwrap_or_default();
        for summary in &counted {
            self.store.record(summary);
        }
    }

    /// One round of the audit loop: a checkpoint if the log grew, sent to
    /// the peers (the Secretariat, `counterparts`, and random others); the
    /// files of checkpoints rewritten when this node's or those it holds of
    /// its peers' logs changed.
    pub async fn tick(&self, counterparts: &[StateCode]) {
        match self.checkpoint().await {
            Ok(Some(c)) if c.checkpoint.count > self.sent.lock().map(|s| *s).unwrap_or(0) => {
                self.send(&c, counterparts).await;
                if let Ok(mut sent) = self.sent.lock() {
                    *sent = c.checkpoint.count;
                }
                self.changed.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%e, "cannot make an audit checkpoint; will retry"),
        }
        if self.changed.swap(false, Ordering::Relaxed)
            && let Err(e) = super::write_checkpoints(&self.mirror, &self.store)
        {
            self.changed.store(true, Ordering::Relaxed);
            tracing::warn!(%e, "cannot write the audit checkpoint files; will retry");
        }
    }

    /// A peer's checkpoint, offered to this node: kept if it extends what is
    /// held of that peer's log, and durable before the answer. Answers with
    /// this node's own latest checkpoint.
    pub async fn witness(
        &self,
        node: Option<StateCode>,
        key: &PublicIdentity,
        checkpoint: SignedCheckpoint,
    ) -> Result<Option<SignedCheckpoint>, WitnessError> {
        self.receive(node, key, checkpoint)?;
        let own = self.store.latest_checkpoint()?;
        // A witness does not acknowledge what a crash could take back.
        self.store.flush().await?;
        Ok(own)
    }

    /// A peer's tree head with its consistency proof: kept if it extends the
    /// one held, and durable before the answer. Answers with the count of
    /// the tree head held.
    pub async fn witness_tree(
        &self,
        node: Option<StateCode>,
        key: &PublicIdentity,
        offer: TreeWitness,
    ) -> Result<u64, WitnessError> {
        let held = self.keep_tree(node, key, offer)?;
        self.store.flush().await?;
        Ok(held)
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
                    node: self.state,
                    identity_key: self.keys.identity.public(),
                    count,
                    head,
                    at: now(),
                    restore: self.store.restore_mark()?,
                };
                let signed = SignedCheckpoint::sign(checkpoint, &self.keys.identity)
                    .map_err(|e| StoreError::Corrupt { what: "audit checkpoint", reason: e.to_string() })?;
                self.store.put_checkpoint(&signed)?;
                signed
            }
        };
        if !has_tree_head {
            let root = self.tree_root(count).await?;
            let tree_head = TreeHead {
                node: self.state,
                identity_key: self.keys.identity.public(),
                count,
                root,
                at: now(),
                restore: self.store.restore_mark()?,
            };
            let tree_head = SignedTreeHead::sign(tree_head, &self.keys.identity)
                .map_err(|e| StoreError::Corrupt { what: "audit tree head", reason: e.to_string() })?;
            self.store.put_tree_head(&tree_head)?;
        }
        self.store.flush().await?;
        if let Err(e) = super::write_checkpoints(&self.mirror, &self.store) {
            // Written again at the next tick, whether the log grew or not.
            self.changed.store(true, Ordering::Relaxed);
            return Err(e);
        }
        Ok(Some(latest))
    }

    /// The Merkle root of the first `count` entries of this node's log,
    /// bringing the tree up to date from the store.
    async fn tree_root(&self, count: u64) -> Result<veim_protocol::Bytes32, StoreError> {
        let (tree, store) = (self.merkle.clone(), self.store.clone());
        let corrupt = |reason: String| StoreError::Corrupt { what: "audit log", reason };
        tokio::task::spawn_blocking(move || {
            let mut tree = tree.lock().map_err(|_| StoreError::Internal("the audit tree lock is poisoned".into()))?;
            let len = tree.len();
            for hash in entry_hashes(&store, len).take(count.saturating_sub(len) as usize) {
                tree.push(&hash?);
            }
            tree.root(count, |start, out| read_entry_hashes(&store, start, out))?
                .ok_or_else(|| corrupt(format!("{count} entries announced, {} stored", tree.len())))
        })
        .await
        .map_err(|e| StoreError::Internal(format!("the audit tree task failed: {e}")))?
    }

    /// The proof that this node's log at `new` entries extends its log at
    /// `old`, reading from the store the entries of the subtrees the tree
    /// no longer holds. `None` (the head is offered without it, and the peer
    /// answers what it holds) if the store cannot be read. The head goes to
    /// many peers at once, most holding the same older one: the last proof
    /// is kept, and one is made at a time.
    async fn consistency(&self, old: u64, new: u64) -> Option<Vec<veim_protocol::Bytes32>> {
        let mut last = self.last_proof.lock().await;
        if let Some((_, _, proof)) = last.as_ref().filter(|(o, n, _)| (*o, *n) == (old, new)) {
            return Some(proof.clone());
        }
        let (tree, store) = (self.merkle.clone(), self.store.clone());
        let proof = tokio::task::spawn_blocking(move || {
            let tree = tree.lock().map_err(|_| StoreError::Internal("the audit tree lock is poisoned".into()))?;
            tree.consistency(old, new, |start, out| read_entry_hashes(&store, start, out))
        })
        .await;
        match proof {
            Ok(Ok(proof)) => {
                if let Some(p) = &proof {
                    *last = Some((old, new, p.clone()));
                }
                proof
            }
            Ok(Err(e)) => {
                tracing::warn!(%e, old, new, "cannot prove that the audit log extends the tree head a peer holds");
                None
            }
            Err(e) => {
                tracing::warn!(%e, "the audit tree task failed");
                None
            }
        }
    }

    /// Offers this node's latest tree head to `peer`, with the proof that it
    /// extends the one the peer holds; when the peer holds another one than
    /// this node thought, once more with a proof from that one.
    async fn offer_tree(&self, peer: PeerId, addrs: &[Multiaddr], head: &SignedTreeHead) {
        let n = head.head.count;
        let mut from = self.tree_acked.lock().ok().and_then(|m| m.get(&peer).copied());
        for _ in 0..2 {
            let proof = match from.filter(|m| *m > 0 && *m < n) {
                Some(m) => self.consistency(m, n).await.map(|hashes| ConsistencyProof { from: m, hashes }),
                None => None,
            };
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
    fn keep_tree(
        &self,
        node: Option<StateCode>,
        key: &PublicIdentity,
        offer: TreeWitness,
    ) -> Result<u64, WitnessError> {
        let h = &offer.head.head;
        let name = veim_protocol::audit::node_name(node);
        if h.node != node || h.identity_key != *key || offer.head.verify().is_err() {
            return Err(WitnessError::Unsigned(format!(
                "the tree head is not signed by {name}'s key in the directory"
            )));
        }
        if offer.proof.as_ref().is_some_and(|p| p.hashes.len() > veim_protocol::merkle::MAX_PROOF) {
            return Err(WitnessError::Malformed("a consistency proof holds at most 128 hashes"));
        }
        if h.count == 0 {
            return Err(WitnessError::Malformed("a tree head covers at least one entry"));
        }
        let _one_at_a_time = self.hold()?;
        let held = self.store.witness_tree(node)?;
        let restored = held.as_ref().and_then(|old| declared_restore(old.head.restore, h.restore, h.count));
        let conflict = match (&held, restored) {
            (None, _) => None,
            // A declared restore starts the tree anew, without a proof.
            (Some(old), Some(mark)) => {
                self.record_restore(
                    node,
                    mark,
                    format!(
                        "held a tree head of {name} at {} entries (root {})",
                        old.head.count,
                        hex::encode(old.head.root.0)
                    ),
                );
                None
            }
            (Some(old), None) if old.head.count == h.count && old.head.root == h.root => {
                return Ok(h.count);
            }
            (Some(old), None) if old.head.count == h.count => Some("another root for the same entries"),
            (Some(old), None) if old.head.count > h.count => Some("fewer entries"),
            (Some(old), None) => match &offer.proof {
                Some(p) if p.from == old.head.count => {
                    let o = &old.head;
                    (!veim_protocol::merkle::verify_consistency(o.count, h.count, &o.root, &h.root, &p.hashes))
                        .then_some("a proof that it extends the one held which fails")
                }
                // A proof from the one held is needed.
                _ => return Ok(old.head.count),
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
                self.store.record(&event);
                tracing::warn!(%name, %why, "a peer's tree head does not extend the one held: its log was cut or rewritten");
            }
            return Ok(old.head.count);
        }
        self.store.put_witness_tree(&offer.head)?;
        self.changed.store(true, Ordering::Relaxed);
        Ok(h.count)
    }

    /// The lock held while a peer's checkpoint or tree head is checked
    /// against the one held and kept.
    fn hold(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.held_lock.lock().map_err(|_| StoreError::Internal("the lock of peers' logs held is poisoned".into()))
    }

    /// Records a peer's declared restore, accepted: its log went back to a
    /// backup, and a `restored` entry says so. Once per restore (its mark),
    /// whichever of its checkpoint and tree head comes first, and whenever
    /// the other comes.
    fn record_restore(&self, node: Option<StateCode>, mark: RestoreMark, held: String) {
        let name = veim_protocol::audit::node_name(node);
        let mut event = Event::new(now(), Actor::Peer(node), Action::RestoreWitnessed);
        event.state = node;
        event.hash = Some(mark.hash);
        event.detail = format!(
            "{held}; received one after a restore from a backup, recorded at entry {} of its log: accepted, \
             the entries after the backup that {name} had before are no longer in its log",
            mark.entry
        );
        let once =
            [b"restore-witnessed/".as_slice(), name.as_bytes(), b"/", &mark.entry.to_be_bytes(), &mark.hash.0].concat();
        match self.store.record_once(&once, &event) {
            Ok(true) => tracing::warn!(
                %name,
                entry = mark.entry,
                "a peer's log was restored from a backup: accepted, as its log declares"
            ),
            Ok(false) => {}
            Err(e) => tracing::error!(%e, action = %event.action, "cannot write the audit entry"),
        }
    }

    fn receive(
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
        let _one_at_a_time = self.hold()?;
        let held = self.store.witness(node)?;
        let restored = held.as_ref().and_then(|h| declared_restore(h.checkpoint.restore, c.restore, c.count));
        if let (Some(mark), Some(h)) = (restored, &held) {
            let h = &h.checkpoint;
            self.record_restore(
                node,
                mark,
                format!("held a checkpoint of {name} at {} entries (head {})", h.count, hex::encode(h.head.0)),
            );
        } else if let Some(h) = &held {
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
                self.store.record(&event);
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
        self.changed.store(true, Ordering::Relaxed);
        if first_of_day {
            let mut event = Event::new(now(), Actor::Peer(node), Action::CheckpointWitnessed);
            event.state = node;
            event.hash = Some(c.head);
            event.detail = format!("{} entries", c.count);
            self.store.record(&event);
        }
        Ok(())
    }

    /// Sends this node's checkpoint to the Secretariat, to the active nodes
    /// it shares an exchange with, and to `audit_witnesses` other active
    /// nodes picked at random, keeping what each sends back.
    pub async fn send(&self, checkpoint: &SignedCheckpoint, counterparts: &[StateCode]) {
        let Ok(bytes) = codec::encode("request", &NetRequest::Witness(Box::new(checkpoint.clone()))) else { return };
        let view = self.directory.view();
        let mut others: Vec<(u32, &veim_protocol::DirectoryEntry)> = view
            .entries()
            .iter()
            .filter(|e| e.is_active() && Some(e.state()) != self.state)
            .map(|e| (rand_core::Rng::next_u32(&mut rand_core::UnwrapErr(getrandom::SysRng)), e))
            .collect();
        // Counterparts first, then the others in a random order.
        others.sort_by_key(|(r, e)| (!counterparts.contains(&e.state()), *r));
        let wanted = counterparts.len() + self.audit_witnesses;
        let mut targets: Vec<(Option<StateCode>, PublicIdentity, PeerId, Vec<Multiaddr>)> = others
            .into_iter()
            .take(wanted)
            .filter_map(|(_, e)| dial_info(e).map(|(p, a)| (Some(e.state()), e.identity_key(), p, a)))
            .collect();
        if let (Some((peer, addrs)), Some(key)) = (self.directory.secretariat_dial(), self.directory.secretariat_key())
        {
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
                && let Err(e) = self.receive(node, &key, *theirs)
            {
                tracing::warn!(%e, "a peer answered with a checkpoint that does not verify");
            }
        }
    }
}

/// Subtrees of fewer than `2^TREE_FLOOR` entries of this node's log are
/// held in memory only for the entries after the last complete one: the
/// tree holds about 64 / 2^TREE_FLOOR bytes per entry (a quarter of a byte;
/// 64 MiB per million entries held whole), and a proof reads at most a few
/// hundred entries again.
pub const TREE_FLOOR: u32 = 8;

/// The hashes of the entries of this node's log from `start` on, each
/// checked to be stored where it belongs.
fn entry_hashes(store: &Store, start: u64) -> impl Iterator<Item = Result<veim_protocol::Bytes32, StoreError>> {
    let corrupt = |reason: String| StoreError::Corrupt { what: "audit log", reason };
    store.audit_iter(start).zip(start..).map(move |(entry, seq)| {
        let entry = entry?;
        if entry.seq != seq {
            return Err(corrupt(format!("entry {} is stored where entry {seq} belongs", entry.seq)));
        }
        entry.hash().map_err(|e| corrupt(e.to_string()))
    })
}

/// Fills `out` with the hashes of the entries of this node's log from
/// `start` (a forgotten subtree's, for [`PrunedTree`]).
fn read_entry_hashes(store: &Store, start: u64, out: &mut [veim_protocol::Bytes32]) -> Result<(), StoreError> {
    let mut hashes = entry_hashes(store, start);
    for (seq, slot) in (start..).zip(out.iter_mut()) {
        *slot = hashes
            .next()
            .ok_or_else(|| StoreError::Corrupt { what: "audit log", reason: format!("entry {seq} is missing") })??;
    }
    Ok(())
}
