//! The node's background work: each loop wakes on its period (or when a
//! service asks), calls one service, and ends with the node's shutdown.

use super::{Node, STORE_REOPEN_AFTER};
use crate::home::config::Role;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use veim_protocol::audit::Actor;

/// Starts the loops the node's role needs.
pub(super) fn spawn(node: &Arc<Node>, tasks: &mut JoinSet<()>, shutdown: &Shutdown) {
    tasks.spawn(listed(node.clone(), shutdown.clone()));
    tasks.spawn(audit(node.clone(), shutdown.clone()));
    tasks.spawn(store_watch(node.clone(), shutdown.clone()));
    tasks.spawn(mail(node.clone(), shutdown.clone()));
    if let Some(publisher) = &node.publisher {
        tasks.spawn(catch_up(publisher.clone(), shutdown.clone()));
    }
    if node.config.role == Role::National {
        tasks.spawn(sync(node.clone(), shutdown.clone()));
        tasks.spawn(publications(node.clone(), shutdown.clone()));
        tasks.spawn(retention(node.clone(), shutdown.clone()));
        tasks.spawn(outbox(node.clone(), shutdown.clone()));
        tasks.spawn(reconcile(node.clone(), shutdown.clone()));
        tasks.spawn(download(node.clone(), shutdown.clone()));
        tasks.spawn(overdue(node.clone(), shutdown.clone()));
    }
}

/// At start, then about every `overdue_check_secs` (with jitter, as the
/// reconciliation) or when a date to respond by is set here: the audit
/// entry of each exchange newly past its date to respond by without a
/// response (`Tracking::record_overdue`, once per exchange and date, across
/// restarts); subscribers hear of each. The check reads every open
/// exchange, on a thread of its own.
async fn overdue(node: Arc<Node>, mut shutdown: Shutdown) {
    let every = Duration::from_secs(node.config.overdue_check_secs.max(1));
    loop {
        let checking = node.clone();
        let checked = tokio::task::spawn_blocking(move || checking.tracking.record_overdue(crate::clock::now()))
            .await
            .unwrap_or_else(|e| {
                Err(crate::tracking::TrackError::Store(crate::storage::StoreError::Internal(format!(
                    "the check stopped: {e}"
                ))))
            });
        match checked {
            Ok(recorded) if !recorded.is_empty() => {
                // The mails are queued before the flush that makes the
                // entries durable: a crash loses both or neither, and the
                // next start records (and mails) the exchange again.
                for o in recorded {
                    let event = crate::mail::Event::ResponseOverdue {
                        exchange: o.exchange_id,
                        waiting_for: o.counterparts,
                        due: o.respond_by.start(),
                    };
                    if let Err(e) = node.mailer.enqueue(&event) {
                        tracing::warn!(%e, exchange = %o.exchange_id, "cannot queue the overdue exchange's mail");
                    }
                }
                if let Err(e) = node.store.flush().await {
                    tracing::warn!(%e, "cannot flush the overdue exchanges' audit entries");
                }
                node.mailer.wake.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%e, "cannot look for overdue exchanges; trying again at the next period"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every.mul_f64(crate::clock::jitter())) => {}
            _ = node.tracking.wake.notified() => {}
            _ = shutdown.recv() => break,
        }
    }
}

/// Secretariat: at start, until it has run, the catch-up with the national
/// nodes (the versions published after what the store holds).
async fn catch_up(publisher: Arc<crate::directory::Publisher>, mut shutdown: Shutdown) {
    loop {
        match publisher.catch_up().await {
            Ok(true) => break,
            // Said by the publisher when what it waits for changes.
            Ok(false) => {}
            Err(e) => tracing::warn!(%e, "cannot catch up with the national nodes' directory versions; asking again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
            _ = shutdown.recv() => break,
        }
    }
}

/// Whenever the directory changes: the peers it lists, told to the network
/// layer, which keeps for them what it keeps from strangers (connection
/// slots, large frames). The swarm started with the list of the start.
async fn listed(node: Arc<Node>, mut shutdown: Shutdown) {
    let mut changes = node.directory.changes();
    loop {
        // Subscribed first: a change since the start is not missed.
        node.client.set_listed(node.directory.listed_peers());
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            _ = shutdown.recv() => break,
        }
    }
}

/// At start (the checkpoint of the start, which also covers whatever the
/// last run could not offer before it stopped), then every
/// `audit_checkpoint_secs`: a checkpoint if the log grew, sent to the peers;
/// the audit files of checkpoints rewritten when they changed.
async fn audit(node: Arc<Node>, mut shutdown: Shutdown) {
    let every = Duration::from_secs(node.config.audit_checkpoint_secs.max(1));
    loop {
        node.witness.tick(&node.exchanges.counterparts()).await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.recv() => break,
        }
    }
}

/// Once the store could not write to disk (a full disk, a failing device),
/// it fails every later write: the node stops taking work and restarts
/// itself after a pause, reopening the store. Peers keep their messages
/// queued meanwhile (the refusal they get is transient).
async fn store_watch(node: Arc<Node>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.recv() => return,
        }
        // A write that failed in sled's own writer threads shows at the
        // next flush; one with nothing to write costs no disk access. The
        // audit files' head checkpoint, rewritten at most once a second
        // during a burst of flushes, catches up here.
        let (store, mirror) = (node.store.clone(), node.mirror.clone());
        let _ = tokio::task::spawn_blocking(move || {
            store.check_disk();
            if let Err(e) = crate::audit::write_due_head(&mirror, &store) {
                tracing::warn!(%e, "cannot write the audit log's head checkpoint to its file; tried again in a second");
            }
        })
        .await;
        let Some(why) = node.store.failure() else { continue };
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
        node.restart.ask();
        return;
    }
}

/// While the service manager keeps a watchdog (`WatchdogSec=`): every half
/// period, `WATCHDOG=1` if the node is healthy: its store can write, and
/// the swarm's event loop answers within the period. A node stuck anywhere
/// else stops sending, and the manager restarts it. While the store is being
/// reopened the pings stop too, so a disk that stays full past the period
/// ends in a restart by the manager, which tries the same. Started by the
/// run loop once it has said the node is ready, never before.
pub(super) async fn watchdog(node: Arc<Node>, every: Duration, mut shutdown: Shutdown) {
    loop {
        let network_answers = tokio::time::timeout(every, node.client.listen_addrs());
        let healthy = tokio::select! {
            answered = network_answers => matches!(answered, Ok(Ok(_))),
            _ = shutdown.recv() => return,
        } && node.store.failure().is_none();
        if healthy {
            super::notify::alive();
        } else {
            tracing::warn!("unhealthy: the watchdog is not told the node is alive");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.recv() => return,
        }
    }
}

/// At start and about every `reconcile_secs` (the period times a random
/// factor, [`crate::clock::jitter`]: each round reads every recent exchange,
/// and nodes started together would otherwise all read, and ask each other,
/// at the same moment): the inventory of shared exchanges sent to each
/// active counterpart, and what it lacks queued again.
async fn reconcile(node: Arc<Node>, mut shutdown: Shutdown) {
    let every = Duration::from_secs(node.config.reconcile_secs.max(1));
    let mut wait = Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.recv() => break,
        }
        wait = every.mul_f64(crate::clock::jitter());
        if let Err(e) = node.exchanges.reconcile_all().await {
            tracing::warn!(%e, "reconciliation failed; will retry");
        }
    }
}

/// Every two seconds (or when woken): the chunks of received attachments
/// still missing, fetched from their senders.
async fn download(node: Arc<Node>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = node.attachments.wake.notified() => {}
            _ = shutdown.recv() => break,
        }
        let fetch = crate::attachments::fetch_pending(&node.attachments);
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
async fn outbox(node: Arc<Node>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = node.exchanges.wake.notified() => {}
            _ = shutdown.recv() => break,
        }
        match node.exchanges.retry_due().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(delivered = n, "outbox: queued messages delivered"),
            Err(e) => tracing::warn!(%e, "outbox: cannot read or update the store; will retry"),
        }
    }
}

/// Every second (or when woken): notifications of what arrived queued,
/// and the mails that are due sent.
async fn mail(node: Arc<Node>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = node.mailer.wake.notified() => {}
            _ = shutdown.recv() => break,
        }
        let round = node.mailer.run();
        tokio::select! {
            result = round => if let Err(e) = result {
                tracing::warn!(%e, "mail: cannot read or update the queue; will retry");
            },
            // A mail half sent is sent again at the next start: the queue
            // keeps it until the server took it.
            _ = shutdown.recv() => break,
        }
    }
}

/// Applies the retention policy at start and every hour.
async fn retention(node: Arc<Node>, mut shutdown: Shutdown) {
    let Some(days) = node.config.retention.received_content_days else { return };
    loop {
        match node.terms.purge(i64::from(days) * 86_400, Actor::Node).await {
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

/// Every `directory_poll_secs` (or when the Secretariat announces a
/// version): one round with the Secretariat.
/// National node: the Secretariat's publication log, at each poll and at
/// each announcement (and the outcome of reports not yet settled).
async fn publications(node: Arc<Node>, mut shutdown: Shutdown) {
    let every = Duration::from_secs(node.config.directory_poll_secs.max(1));
    loop {
        // A fetch under way does not hold up the stop: what it had not
        // kept is fetched again at the next start.
        tokio::select! {
            result = node.publications.sync() => if let Err(e) = result {
                tracing::warn!(error = %e, "publication fetch failed; will retry");
            },
            _ = shutdown.recv() => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = node.publications.wake.notified() => {}
            _ = shutdown.recv() => break,
        }
    }
}

async fn sync(node: Arc<Node>, mut shutdown: Shutdown) {
    let Some(sync) = node.sync.clone() else { return };
    let every = Duration::from_secs(node.config.directory_poll_secs.max(1));
    loop {
        if let Err(e) = sync.sync().await {
            tracing::warn!(error = %e, "directory sync failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = sync.wake.notified() => {}
            _ = shutdown.recv() => break,
        }
    }
}
