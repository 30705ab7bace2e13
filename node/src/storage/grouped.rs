//! Message writes grouped into one transaction: the inserts and updates of
//! messages asked for while one is being written wait for it, then go
//! together into the next transaction.
//!
//! sled 0.34 gives each transaction a log buffer of its own and writes it to
//! disk (`sync_file_range`) on a thread of its pool, every idle thread of
//! which it wakes, and lets one transaction at a time commit in a process; a
//! node receiving many messages at once spent more on that than on the
//! messages. Grouped, those costs are paid once per group. Nothing changes
//! for the caller: its change is committed whole when the call returns (and
//! made durable by [`Store::flush`], as before), and a change that fails —
//! a rule's refusal, a duplicate, a damaged record — fails alone: when a
//! group's transaction is aborted, each of its changes is run again in a
//! transaction of its own, and each caller gets its own answer.

use super::messages::MessageTx;
use super::*;
use sled::Transactional;
use sled::transaction::ConflictableTransactionResult;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// One caller's change, run inside the group's transaction (and again in
/// one of its own if the group's is aborted). It keeps its output itself.
type Change = Box<dyn Fn(&MessageTx<'_>) -> ConflictableTransactionResult<(), StoreError> + Send>;

struct Waiting {
    change: Change,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// At most this many changes go into one transaction: a group's
/// transaction holds sled's commit lock for as long as it runs.
const MAX_GROUP: usize = 256;

/// The changes waiting for the writer, and whether it is running.
#[derive(Default)]
pub(super) struct Grouped {
    state: Mutex<Queue>,
    transactions: AtomicU64,
    changes: AtomicU64,
    alone: AtomicU64,
}

/// What the grouped writes came to since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping {
    /// Groups written (one transaction each, when none was aborted).
    pub groups: u64,
    /// Changes written in them.
    pub changes: u64,
    /// Changes run again alone after their group's transaction was aborted.
    pub alone: u64,
}

impl std::fmt::Debug for Grouped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Grouped")
    }
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// Changes taken by the writer and not yet answered.
    in_hand: usize,
    running: bool,
}

/// The writer's hold on `running`. Dropped unfinished (the blocking task
/// never ran, the runtime shutting down, or a change panicked), it hands
/// the queue back: the changes left are answered with an error by their
/// dropped replies, and the next change starts a writer again.
struct Writing {
    store: Store,
    finished: bool,
}

impl Writing {
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        if !self.finished
            && let Ok(mut q) = self.store.grouped.state.lock()
        {
            q.running = false;
            q.in_hand = 0;
            q.waiting.clear();
        }
    }
}

impl Store {
    /// What the grouped writes came to since the store was opened.
    pub fn grouping(&self) -> Grouping {
        let g = &self.grouped;
        Grouping {
            groups: g.transactions.load(Ordering::Relaxed),
            changes: g.changes.load(Ordering::Relaxed),
            alone: g.alone.load(Ordering::Relaxed),
        }
    }

    /// How many changes wait for the writer or are in its hands.
    #[cfg(test)]
    pub(super) fn grouped_unanswered(&self) -> usize {
        self.grouped.state.lock().map_or(0, |q| q.waiting.len() + q.in_hand)
    }

    /// Runs `change` in the next grouped transaction and returns its output
    /// once that transaction has committed.
    pub(super) async fn grouped<T: Send + 'static>(
        &self,
        change: impl Fn(&MessageTx<'_>) -> ConflictableTransactionResult<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let output: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
        let kept = output.clone();
        // Written on the writer's thread, its audit entries still name the
        // official whose call asked for it.
        let acting = crate::acting::acting();
        let change: Change = Box::new(move |tx| {
            let out = crate::acting::within(acting, || change(tx))?;
            let mut slot = kept.lock().map_err(|_| abort(lost()))?;
            *slot = Some(out);
            Ok(())
        });
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = self.grouped.state.lock().map_err(|_| lost())?;
            q.waiting.push(Waiting { change, reply });
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            // Off the runtime's threads: a caller that wrote inline would
            // hold its worker for the transaction while the changes that
            // queue behind it wait for a writer anyway.
            let mut writing = Writing { store: self.clone(), finished: false };
            tokio::task::spawn_blocking(move || {
                while writing.store.write_next_group() {}
                writing.finish();
            });
        }
        answer
            .await
            .map_err(|_| StoreError::Internal("the store's writer stopped (the node is shutting down)".into()))??;
        let out = output.lock().map_err(|_| lost())?.take();
        out.ok_or_else(lost)
    }

    /// Writes the next group, if one is waiting; returns whether another
    /// waits after it. When none waits it lets the next change start a
    /// writer, under the same lock as its look at the queue, so that no
    /// change is left waiting for a writer that has ended.
    fn write_next_group(&self) -> bool {
        let group: Vec<Waiting> = match self.grouped.state.lock() {
            Ok(mut q) if q.waiting.is_empty() => {
                q.running = false;
                return false;
            }
            Ok(mut q) => {
                let n = q.waiting.len().min(MAX_GROUP);
                q.in_hand = n;
                q.waiting.drain(..n).collect()
            }
            Err(_) => return false,
        };
        self.write_group(group);
        match self.grouped.state.lock() {
            Ok(mut q) => {
                q.in_hand = 0;
                let more = !q.waiting.is_empty();
                q.running = more;
                more
            }
            Err(_) => false,
        }
    }

    /// One transaction for the whole group; if it is aborted, one per
    /// change, so that each caller gets its own change's answer.
    fn write_group(&self, group: Vec<Waiting>) {
        let _writing = match self.writing() {
            Ok(w) => w,
            Err(e) => {
                for w in group {
                    let _ = w.reply.send(Err(StoreError::Internal(e.to_string())));
                }
                return;
            }
        };
        self.grouped.transactions.fetch_add(1, Ordering::Relaxed);
        self.grouped.changes.fetch_add(group.len() as u64, Ordering::Relaxed);
        let together = self.message_trees().transaction(|t| {
            let tx = MessageTx::of(t);
            for w in &group {
                (w.change)(&tx)?;
            }
            Ok(())
        });
        match together {
            Ok(()) => {
                for w in group {
                    let _ = w.reply.send(Ok(()));
                }
            }
            Err(e) if group.len() == 1 => {
                if let Some(w) = group.into_iter().next() {
                    let _ = w.reply.send(Err(tx_err(e)));
                }
            }
            Err(_) => {
                self.grouped.alone.fetch_add(group.len() as u64, Ordering::Relaxed);
                for w in group {
                    let alone = self.message_trees().transaction(|t| (w.change)(&MessageTx::of(t)));
                    let _ = w.reply.send(alone.map_err(tx_err));
                }
            }
        }
    }
}

fn lost() -> StoreError {
    StoreError::Internal("a grouped write lost its answer".into())
}
