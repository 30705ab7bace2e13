//! The group commit behind [`super::Store::flush`]: callers that ask for a
//! flush while one runs wait for the next, which then serves them all. Kept
//! apart from sled so that the benchmarks' floor (raw files, the same
//! durability) commits with exactly the same rule.

use super::StoreError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Flush requests and the flushes that served them.
#[derive(Debug, Default)]
pub struct GroupCommit {
    state: Mutex<FlushState>,
    done: tokio::sync::Notify,
    /// Flushes run (each one fsync or more).
    runs: AtomicU64,
}

#[derive(Debug, Default)]
struct FlushState {
    /// Tickets handed out, and the highest ticket a finished flush covers.
    requested: u64,
    completed: u64,
    running: bool,
    /// Recent failed flushes: the tickets they covered, and why.
    failures: std::collections::VecDeque<(u64, u64, String)>,
}

/// The leader of a group flush, until its run is recorded.
struct Leading<'a> {
    group: &'a GroupCommit,
    finished: bool,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if !self.finished {
            if let Ok(mut s) = self.group.state.lock() {
                s.running = false;
            }
            self.group.done.notify_waiters();
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Internal("flush state poisoned".into())
}

impl GroupCommit {
    /// Returns once a run of `flush` (on a blocking thread: it is an fsync)
    /// that started after this call has finished, leading that run if none
    /// is under way. A run counts for a caller only if it started after the
    /// caller asked, so it covers the caller's writes; its error is every
    /// caller's error.
    pub async fn flush<F>(&self, flush: F) -> Result<(), StoreError>
    where
        F: Fn() -> Result<(), StoreError> + Clone + Send + 'static,
    {
        let ticket = {
            let mut s = self.state.lock().map_err(|_| poisoned())?;
            s.requested += 1;
            s.requested
        };
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let run = {
                let mut s = self.state.lock().map_err(|_| poisoned())?;
                if s.completed >= ticket {
                    return match s.failures.iter().find(|(from, to, _)| (*from..=*to).contains(&ticket)) {
                        Some((_, _, why)) => Err(StoreError::Internal(format!("flush failed: {why}"))),
                        None => Ok(()),
                    };
                }
                if s.running {
                    None
                } else {
                    s.running = true;
                    Some((s.completed + 1, s.requested))
                }
            };
            let Some((from, target)) = run else {
                notified.await;
                continue;
            };
            self.runs.fetch_add(1, Ordering::Relaxed);
            // If this caller stops waiting (a loop stopped at shutdown, an
            // admin client gone), the guard hands the run back: the next
            // waiter leads a flush that covers these tickets too. Without
            // it `running` stayed set and every later flush, and the node's
            // stop, waited for ever.
            let mut leading = Leading { group: self, finished: false };
            let result = tokio::task::spawn_blocking(flush.clone())
                .await
                .map_err(|e| StoreError::Internal(format!("flush task failed: {e}")))
                .and_then(|r| r);
            leading.finished = true;
            {
                let mut s = self.state.lock().map_err(|_| poisoned())?;
                s.running = false;
                s.completed = target;
                if let Err(e) = &result {
                    s.failures.push_back((from, target, e.to_string()));
                    if s.failures.len() > 64 {
                        s.failures.pop_front();
                    }
                }
            }
            self.done.notify_waiters();
        }
    }

    /// How many flushes have run.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }
}
