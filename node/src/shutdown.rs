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
