//! A shutdown signal every long-running task listens to, so that the node
//! stops cleanly: stop taking work, finish what is in flight, flush, exit.

use tokio::sync::watch;

/// Sending half: trigger once, every [`Shutdown`] sees it.
#[derive(Debug, Clone)]
pub struct Trigger(watch::Sender<bool>);

/// Receiving half, one per task.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Completes when shutdown has been triggered (at once if it already was).
    pub async fn recv(&mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }
}

/// A node's request to be restarted in the same process: to take up new
/// keys, or to reopen a store that could not write to disk. Asked for by the
/// service that finds the need; the run loop (`app::run`) acts on it.
#[derive(Debug, Default)]
pub struct Restart {
    asked: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Restart {
    pub fn ask(&self) {
        self.asked.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn asked(&self) -> bool {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Completes once a restart was asked for.
    pub async fn wait(&self) {
        while !self.asked() {
            self.notify.notified().await;
        }
    }
}
