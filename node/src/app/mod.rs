//! A running node: its services wired together, started from the home
//! folder, run until a signal, and stopped cleanly.
//!
//! `start` brings a node up from its home folder and returns a [`NodeHandle`];
//! `NodeHandle::stop` (or Ctrl-C / SIGTERM in the daemon) stops taking work,
//! lets handlers finish, flushes the store and removes `runtime.json`. [`run`]
//! restarts the node in the same process when a service asks for it (new
//! keys, a store to reopen). [`Node`] only holds the services; what a node
//! does, its services do.

mod loops;
mod notify;

use crate::attachments::Attachments;
use crate::audit::{self, Witness};
use crate::clock::now;
use crate::directory::{Directory, Publisher, SyncClient};
use crate::exchange::{Exchanges, RetryPolicy, Window};
use crate::home::config::{Config, ConfigError, Role};
use crate::home::keys::{KeyFileError, NodeKeys};
use crate::home::vault::{self, Vault, VaultError};
use crate::home::{CONFIG_FILE, RUNTIME_FILE, Runtime, STORE_DIR, replace_file};
use crate::mail::Mailer;
use crate::net::{self, Client, Limits, NetworkError};
use crate::peer::Peers;
use crate::publications::Publications;
use crate::reports::Reports;
use crate::shutdown::{self, Restart, Trigger};
use crate::storage::{Store, StoreError};
use crate::terms::Terms;
use crate::tracking::Tracking;
use libp2p::{Multiaddr, PeerId};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use veim_protocol::audit::{Action, Actor, Event};

/// How long `stop` waits for tasks to finish before giving up on them.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long `stop` waits for the witnesses to take the final checkpoint.
const FINAL_OFFER: Duration = Duration::from_secs(5);

/// How long a node whose store could not write to disk waits before it
/// reopens the store, and between attempts while that fails.
pub const STORE_REOPEN_AFTER: Duration = Duration::from_secs(5);

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
    Vault(#[from] VaultError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error("cannot make the node's first account: {0}")]
    Accounts(String),
    #[error("cannot bind the admin API on {addr}: {reason}. Is another node using this port?")]
    Admin { addr: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Runtime { path: PathBuf, reason: String },
    #[error(
        "the directory was handed over to the key with fingerprint {fingerprint}, which this node does not hold; restore keys/ from the backup taken after `veim keys rotate`"
    )]
    HandedOver { fingerprint: String },
}

/// A node: its identity, and the services that do its work. Handlers and
/// the admin API hold an `Arc` of it.
#[derive(Debug)]
pub struct Node {
    pub home: PathBuf,
    pub config: Config,
    pub keys: Arc<NodeKeys>,
    pub peer_id: PeerId,
    /// The addresses the swarm listens on.
    pub listen: Vec<Multiaddr>,
    /// The addresses this node publishes in the directory.
    pub announce: Vec<String>,
    pub started_at: i64,
    pub store: Store,
    pub vault: Arc<Vault>,
    pub client: Client,
    pub directory: Arc<Directory>,
    /// The Secretariat's.
    pub publisher: Option<Arc<Publisher>>,
    /// A national node's.
    pub sync: Option<Arc<SyncClient>>,
    pub witness: Arc<Witness>,
    /// The plain-file copy of the audit log.
    pub mirror: audit::SharedMirror,
    pub exchanges: Arc<Exchanges>,
    pub terms: Arc<Terms>,
    /// Stages, measures, overdue exchanges and the figures of a period.
    pub tracking: Arc<Tracking>,
    pub attachments: Arc<Attachments>,
    /// E-mail notifications.
    pub mailer: Arc<Mailer>,
    /// Reports to the CSP: drafts (national nodes), the register (the Secretariat).
    pub reports: Arc<Reports>,
    /// Reports through the Secretariat, its publication log, the annual meeting.
    pub publications: Arc<Publications>,
    pub accounts: Arc<crate::accounts::Accounts>,
    pub peers: Arc<Peers>,
    pub restart: Arc<Restart>,
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

    /// Stops the node: no new work, in-flight handlers finish, the last
    /// entries of the log signed and offered to the witnesses while the
    /// network still runs, the store flushed.
    pub async fn stop(mut self) {
        self.work.trigger();
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_GRACE, drain).await.is_err() {
            tracing::warn!("some tasks did not stop within {STOP_GRACE:?}; stopping them");
            self.tasks.abort_all();
        }
        // A chunk being written or hashed holds the store open: let it end,
        // so that a restart in this process can open the store again.
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while self.node.attachments.busy() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let node = &self.node;
        node.witness.record_strangers_counted();
        node.store.record(&Event::new(now(), Actor::Node, Action::NodeStopped));
        // Offered before the network stops: entries written since the last
        // checkpoint that no peer saw could otherwise be cut without trace.
        // A witness that cannot be reached gets it at the next start.
        match node.witness.checkpoint().await {
            Ok(Some(last)) => {
                let counterparts = node.exchanges.counterparts();
                let offer = node.witness.send(&last, &counterparts);
                if tokio::time::timeout(FINAL_OFFER, offer).await.is_err() {
                    tracing::warn!(
                        "the final audit checkpoint did not reach every witness within {FINAL_OFFER:?}; it is offered again at the next start"
                    );
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(%e, "final audit checkpoint failed"),
        }
        self.network.trigger();
        if tokio::time::timeout(STOP_GRACE, &mut self.network_task).await.is_err() {
            self.network_task.abort();
        }
        if let Err(e) = node.store.flush().await {
            tracing::error!(%e, "final flush failed");
        }
        let (mirror, store) = (node.mirror.clone(), node.store.clone());
        match tokio::task::spawn_blocking(move || audit::close(&mirror, &store)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(
                %e,
                "cannot write the audit log's last head checkpoint or sync the audit files; the next start writes them anew from the store"
            ),
            Err(e) => tracing::error!(%e, "closing the audit files failed"),
        }
        let _ = std::fs::remove_file(node.home.join(RUNTIME_FILE));
        tracing::info!("node stopped");
    }

    /// Runs until `stop` turns true (Ctrl-C or SIGTERM: returns `Stopped`),
    /// or until the node asks to restart, to take up new keys (`Restart`) or
    /// to reopen its store (`Reopen`).
    pub async fn run_until(self, mut stop: tokio::sync::watch::Receiver<bool>) -> Ended {
        let ended = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => Ended::Stopped,
            _ = self.node.restart.wait() => {
                if self.node.store.failure().is_some() { Ended::Reopen } else { Ended::Restart }
            }
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

/// Runs the node of `home` until Ctrl-C or SIGTERM, restarting it when it
/// takes up new keys, and when its store must be reopened after a failed
/// write (again and again, while the disk stays full).
pub async fn run(home: &Path) -> Result<(), StartError> {
    // One listener for the whole run: a signal during a restart is not lost.
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        notify::stopping();
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
            Err(e) => {
                notify::status(&format!("failed to start: {e}"));
                return Err(e);
            }
        };
        // Only now does the node serve: listening, its store open, its start
        // recorded and checkpointed, the admin API accepting.
        notify::ready(&format!("serving as {} {}", node.node.config.role, node.node.peer_id));
        if let Some(every) = notify::watchdog_every() {
            // Ends when the node begins to stop.
            tokio::spawn(loops::watchdog(node.node.clone(), every, node.work.subscribe()));
        }
        match node.run_until(stop.clone()).await {
            Ended::Stopped => return Ok(()),
            Ended::Restart => {
                notify::status("restarting to take up new keys");
                reopening = false;
            }
            Ended::Reopen => {
                notify::status("restarting to reopen the store");
                reopening = true;
            }
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
async fn record_start(node: &Node) -> Result<(), StartError> {
    let at = now();
    record_restore(node, at).await?;
    let config_hash = std::fs::read(node.home.join(CONFIG_FILE))
        .map(|b| <sha2::Sha256 as sha2::Digest>::digest(&b).into())
        .unwrap_or([0; 32]);
    let fingerprint = node.keys.identity.public().fingerprint();
    let (last_config, last_keys) = node.store.last_start()?;
    let mut started = Event::new(at, Actor::Node, Action::NodeStarted);
    // Closed audit segments found missing are a copy written anew; the log
    // keeps that they were missing.
    started.detail = audit::rewritten(&node.mirror);
    let mut events = vec![started];
    if last_config != Some(config_hash) {
        let mut e = Event::new(at, Actor::Operator, Action::ConfigurationChanged);
        e.object = Some(CONFIG_FILE.into());
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
    node.witness.checkpoint().await?;
    Ok(())
}

/// Records, at the first start of a home folder made by `veim restore`,
/// that the node was restored from a backup: the signed checkpoints that
/// follow carry the entry, so the peers that witnessed more of the log see
/// a declared restore and not a log cut.
async fn record_restore(node: &Node, at: i64) -> Result<(), StartError> {
    let Some(note) = crate::backup::restored(&node.home)? else { return Ok(()) };
    let b = &note.backup;
    let mut event = Event::new(at, Actor::Operator, Action::Restored);
    event.object = Some(b.backup_id.clone());
    event.hash = hex::decode(&b.audit_head).ok().and_then(|h| h.try_into().ok()).map(veim_protocol::Bytes32);
    event.detail = format!(
        "restored from backup {} made at {} holding {} audit entries (the hash is entry {}'s); what this node \
         recorded after the backup and before the restore is not in this log",
        b.backup_id,
        b.made_at,
        b.audit_count,
        b.audit_count.saturating_sub(1)
    );
    let mark = node.store.record_restore(&event)?;
    node.store.flush().await?;
    let note_file = node.home.join(crate::backup::RESTORED_FILE);
    if let Err(e) = std::fs::remove_file(&note_file) {
        tracing::warn!(%e, file = %note_file.display(), "cannot remove the restore note; remove it by hand, or the restore is recorded again at the next start");
    }
    tracing::warn!(
        backup = %b.backup_id,
        audit_entries = b.audit_count,
        entry = mark.entry,
        "restored from a backup: recorded in the audit log; the peers send back what this node sent and received since"
    );
    Ok(())
}

/// The store and the audit files are created with the process's umask and
/// rely on the home folder (made 0700 by `veim init`) to keep others out.
fn warn_if_others_can_read(home: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(home)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                home = %home.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the node's home folder can be read by other accounts; its store and audit files rely on it \
                 being private: chmod 700 it"
            );
        }
    }
}

/// Loads the storage key (creating it for a store that never had one) and
/// records in the store which key its content is sealed with.
pub fn open_vault(home: &Path, config: &Config, store: &Store) -> Result<Vault, StartError> {
    let passphrase = vault::passphrase(config.storage.passphrase_file.as_deref())?;
    let (vault, check) = Vault::load_or_create(
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
    warn_if_others_can_read(home);
    let segmenting =
        audit::Segmenting { max_bytes: config.audit_segment_kib * 1024, max_days: config.audit_segment_days };
    let (store, mirror) = audit::mirrored(
        Store::open_with_cache(&home.join(STORE_DIR), config.store_cache_mib)?,
        &home.join(audit::AUDIT_DIR),
        segmenting,
    )?;
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
    let identity = veim_protocol::IdentityKeypair::from_secret_bytes(&keys.identity.secret_bytes());
    let store = audit::signed_at_each_flush(store, identity, config.state)?;
    let vault = Arc::new(open_vault(home, &config, &store)?);
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
        max_established: config.max_connections,
        max_stranger_connections: config.max_stranger_connections,
        max_pending_per_address: config.max_connections_per_address,
        max_stranger_connections_per_address: config.max_connections_per_address,
        handshake_timeout: Duration::from_secs(config.handshake_timeout_secs),
        held_bytes: config.held_frames_mib.saturating_mul(1024 * 1024),
        strangers_held_bytes: config.strangers_held_frames_kib.saturating_mul(1024),
        ..Limits::default()
    };
    // The directory first: the swarm starts knowing which peers it lists.
    let directory = Arc::new(Directory::open(
        store.clone(),
        config.role,
        config.state,
        keys.identity.public(),
        config.secretariat.clone(),
    )?);
    let (client, inbound, event_loop) = net::new(keys.libp2p_keypair(), &listen, limits, directory.listed_peers())?;
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
    let node = Arc::new(wire(home, config, keys, store, mirror, vault, directory, client, listen)?);

    let (work, shutdown) = shutdown::channel();
    let mut tasks = JoinSet::new();
    tasks.spawn(node.peers.clone().serve(inbound, shutdown.clone()));
    record_start(&node).await?;
    if let Some(first) = node.accounts.first(home).await.map_err(|e| StartError::Accounts(e.to_string()))? {
        tracing::info!(account = %first.name, "the node's first account made; its token is in tokens/admin.token");
    }
    loops::spawn(&node, &mut tasks, &shutdown);
    tasks.spawn(crate::api::serve(node.clone(), admin_listener, shutdown.clone()));

    let runtime = Runtime {
        pid: std::process::id(),
        peer_id: node.peer_id.to_string(),
        admin: admin.to_string(),
        listen: node.listen.iter().map(|a| a.to_string()).collect(),
    };
    let path = home.join(RUNTIME_FILE);
    let json = serde_json::to_vec_pretty(&runtime)
        .map_err(|e| StartError::Runtime { path: path.clone(), reason: e.to_string() })?;
    // Replaced whole, but not synced: it describes this process, and after
    // a crash it is stale whatever the disk kept.
    replace_file(&path, &json).map_err(|e| StartError::Runtime { path, reason: e.to_string() })?;
    tracing::info!(peer = %node.peer_id, role = %node.config.role, %admin, "node started");
    Ok(NodeHandle { node, admin, work, tasks, network, network_task })
}

/// The services, each given what it needs and nothing more.
#[allow(clippy::too_many_arguments)]
fn wire(
    home: &Path,
    config: Config,
    keys: NodeKeys,
    store: Store,
    mirror: audit::SharedMirror,
    vault: Arc<Vault>,
    directory: Arc<Directory>,
    client: Client,
    listen: Vec<Multiaddr>,
) -> Result<Node, StartError> {
    let keys = Arc::new(keys);
    let state = config.state;
    // A home made by `veim restore` whose start has not yet been recorded.
    let restored = crate::backup::restored(home)?.is_some();
    let announce: Vec<String> = if config.announce.is_empty() {
        listen.iter().map(|a| a.to_string()).collect()
    } else {
        config.announce.clone()
    };
    let restart = Arc::new(Restart::default());
    let publisher = (config.role == Role::Secretariat).then(|| {
        Arc::new(Publisher::new(
            home.to_path_buf(),
            store.clone(),
            keys.clone(),
            directory.clone(),
            client.clone(),
            config.replay_window_secs,
            config.private_addresses,
            restart.clone(),
            restored,
        ))
    });
    let sync = (config.role == Role::National).then(|| {
        Arc::new(SyncClient::new(
            home.to_path_buf(),
            state,
            config.operator.clone(),
            announce.clone(),
            keys.clone(),
            store.clone(),
            directory.clone(),
            client.clone(),
            restart.clone(),
        ))
    });
    let witness = Arc::new(Witness::new(
        store.clone(),
        keys.clone(),
        state,
        directory.clone(),
        client.clone(),
        mirror.clone(),
        config.audit_witnesses,
        config.audit_stranger_refusals_per_minute,
        config.audit_peer_refusals_per_minute,
        config.audit_admin_failures_per_minute,
    ));
    witness.record_counted_before_stop();
    let retry = RetryPolicy {
        base_secs: config.retry_base_secs,
        max_secs: config.retry_max_secs,
        max_age_secs: config.max_message_age_secs,
        send_wait: Duration::from_secs(config.send_wait_secs),
    };
    let window = Window { future_secs: config.replay_window_secs, past_secs: config.max_message_age_secs };
    let exchanges = Arc::new(Exchanges::new(
        store.clone(),
        keys.clone(),
        vault.clone(),
        state,
        retry,
        window,
        config.reconcile_secs,
        directory.clone(),
        client.clone(),
    ));
    let attachments = Arc::new(Attachments::new(
        home.to_path_buf(),
        store.clone(),
        vault.clone(),
        config.attachment_chunk_bytes,
        config.attachment_quota_mib,
        directory.clone(),
        client.clone(),
    ));
    let terms = Arc::new(Terms::new(
        store.clone(),
        keys.clone(),
        vault.clone(),
        state,
        directory.clone(),
        exchanges.clone(),
        attachments.clone(),
    ));
    let tracking = Arc::new(Tracking::new(store.clone(), vault.clone(), state));
    let mailer = Arc::new(Mailer::new(home.to_path_buf(), config.mail.clone(), state, store.clone()));
    for (field, problem) in config.mail.as_ref().map(|m| m.file_problems(home)).unwrap_or_default() {
        tracing::warn!(%field, %problem, "[mail]: mails stay queued until the file is readable");
    }
    let publications = Arc::new(Publications::new(
        config.role,
        store.clone(),
        keys.clone(),
        directory.clone(),
        client.clone(),
        config.replay_window_secs,
    ));
    let reports = Arc::new(Reports::new(
        store.clone(),
        keys.clone(),
        directory.clone(),
        client.clone(),
        tracking.clone(),
        publications.clone(),
        state,
    ));
    let peers = Arc::new(Peers {
        role: config.role,
        client: client.clone(),
        directory: directory.clone(),
        witness: witness.clone(),
        exchanges: exchanges.clone(),
        attachments: attachments.clone(),
        mailer: mailer.clone(),
        reports: reports.clone(),
        publications: publications.clone(),
        publisher: publisher.clone(),
        sync: sync.clone(),
        refused: Default::default(),
    });
    let accounts = Arc::new(crate::accounts::Accounts::new(store.clone(), config.role, vault.clone()));
    Ok(Node {
        home: home.to_path_buf(),
        peer_id: keys.peer_id(),
        config,
        keys,
        listen,
        announce,
        started_at: now(),
        store,
        vault,
        client,
        directory,
        publisher,
        sync,
        witness,
        mirror,
        exchanges,
        terms,
        tracking,
        attachments,
        mailer,
        reports,
        publications,
        accounts,
        peers,
        restart,
    })
}
