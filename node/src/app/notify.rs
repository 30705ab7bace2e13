//! What the service manager is told: that the node serves (`READY=1`), that
//! it is still healthy (`WATCHDOG=1`), and that it is stopping.
//!
//! systemd starts a `Type=notify` unit with `NOTIFY_SOCKET` set, and
//! `WATCHDOG_USEC` when the unit has `WatchdogSec=`; without them (a node run
//! by hand, in a container, in the tests) every function here does nothing.
//! A failed send is logged and otherwise ignored: the node serves the same
//! whether or not anyone listens.

use sd_notify::NotifyState;
use std::time::Duration;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(%e, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}

/// The node serves: its listeners are up, its store is open, the start is
/// recorded and the admin API answers.
pub(super) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The node is healthy now; sent more often than the watchdog period.
pub(super) fn alive() {
    send(&[NotifyState::Watchdog]);
}

/// The node began to stop (a signal); the manager waits for it to exit.
pub(super) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// What the node is doing, shown by `systemctl status`.
pub(super) fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// How often to tell the watchdog the node is alive, if the manager keeps
/// one for this process: half its period, as sd_watchdog_enabled(3) advises.
pub(super) fn watchdog_every() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|period| (period / 2).max(Duration::from_millis(1)))
}
