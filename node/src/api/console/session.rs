//! The console's sessions and its limits on logins.
//!
//! A session is a random 32-byte value in an HttpOnly, SameSite=Strict
//! cookie (Secure behind TLS); the node keeps only its SHA-256, with the
//! account, the form token (CSRF) of the session, and when it was opened
//! and last used. A session ends at logout, after
//! `console.session_idle_secs` without use, after `session_max_secs` in
//! all, when its account is changed (disabled, its password reset, its
//! roles changed), and when the node stops (sessions
//! live in memory: a restart asks everyone to log in again).
//!
//! Logins are limited per account name: after [`FREE_FAILURES`] failures
//! in a row, each further try waits longer (a minute, doubling, at most
//! [`LONGEST_WAIT`]); the admin listener's failure allowance (shared with
//! wrong tokens) bounds them all, and the audit log counts them past its
//! allowance.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use veim_protocol::audit::AccountName;

/// Failures in a row an account name may have before its logins wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait between logins of one name.
pub const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// Sessions held at once at most; past it the one unused longest ends.
const MAX_SESSIONS: usize = 10_000;

/// A message shown once on the next page (after a form was sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

#[derive(Debug)]
struct Session {
    account: AccountName,
    /// The account's `updated_at` at login: a change of the account since
    /// (its password, roles, or disabled) ends the session.
    version: i64,
    csrf: String,
    opened: Instant,
    seen: Instant,
    flash: Option<Flash>,
}

/// A live session, as a page sees it.
#[derive(Debug, Clone)]
pub struct Live {
    pub account: AccountName,
    pub version: i64,
    pub csrf: String,
    pub flash: Option<Flash>,
}

/// What a session cookie came to.
#[derive(Debug)]
pub enum Found {
    Live(Live),
    /// It was a session, ended by time.
    Expired,
    /// No such session (never, logged out, or the node restarted).
    Unknown,
}

/// The console's sessions.
#[derive(Debug)]
pub struct Sessions {
    held: Mutex<HashMap<[u8; 32], Session>>,
    /// Sessions ended by time, remembered a while so that the page can say so.
    expired: Mutex<HashMap<[u8; 32], Instant>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    idle: Duration,
    max: Duration,
}

fn key(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

impl Sessions {
    pub fn new(idle: Duration, max: Duration) -> Sessions {
        Sessions { held: Mutex::default(), expired: Mutex::default(), failures: Mutex::default(), idle, max }
    }

    /// How long a session lasts without use.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Opens a session for `account`: the cookie's value.
    pub fn open(&self, account: AccountName, version: i64) -> String {
        let cookie = crate::accounts::new_token();
        let now = Instant::now();
        let session =
            Session { account, version, csrf: crate::accounts::new_token(), opened: now, seen: now, flash: None };
        if let Ok(mut held) = self.held.lock() {
            held.retain(|_, s| !self.ended(s, now));
            if held.len() >= MAX_SESSIONS
                && let Some(oldest) = held.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| *k)
            {
                held.remove(&oldest);
            }
            held.insert(key(&cookie), session);
        }
        cookie
    }

    fn ended(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.seen) > self.idle || now.duration_since(s.opened) > self.max
    }

    /// The session of `cookie`, marked as used now.
    pub fn find(&self, cookie: &str) -> Found {
        let k = key(cookie);
        let now = Instant::now();
        let Ok(mut held) = self.held.lock() else { return Found::Unknown };
        let Some(session) = held.get_mut(&k) else {
            let expired = self.expired.lock().map(|e| e.contains_key(&k)).unwrap_or(false);
            return if expired { Found::Expired } else { Found::Unknown };
        };
        if self.ended(session, now) {
            held.remove(&k);
            if let Ok(mut expired) = self.expired.lock() {
                expired.retain(|_, at| now.duration_since(*at) < Duration::from_secs(3600));
                if expired.len() < MAX_SESSIONS {
                    expired.insert(k, now);
                }
            }
            return Found::Expired;
        }
        session.seen = now;
        Found::Live(Live {
            account: session.account,
            version: session.version,
            csrf: session.csrf.clone(),
            flash: session.flash.take(),
        })
    }

    /// Ends the session of `cookie`.
    pub fn close(&self, cookie: &str) -> Option<AccountName> {
        self.held.lock().ok()?.remove(&key(cookie)).map(|s| s.account)
    }

    /// Sessions open now.
    pub fn count(&self) -> usize {
        let now = Instant::now();
        self.held.lock().map(|h| h.values().filter(|s| !self.ended(s, now)).count()).unwrap_or(0)
    }

    /// Shows `flash` on the next page of the session of `cookie`.
    pub fn flash(&self, cookie: &str, flash: Flash) {
        if let Ok(mut held) = self.held.lock()
            && let Some(s) = held.get_mut(&key(cookie))
        {
            s.flash = Some(flash);
        }
    }

    /// How long logins of `name` must still wait, if they must.
    pub fn login_wait(&self, name: &str) -> Option<Duration> {
        let failures = self.failures.lock().ok()?;
        let (count, last) = failures.get(&name.trim().to_ascii_lowercase())?;
        let wait = wait_after(*count)?;
        wait.checked_sub(last.elapsed()).filter(|w| !w.is_zero())
    }

    /// Counts a failed login of `name`.
    pub fn login_failed(&self, name: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() >= MAX_SESSIONS {
                failures.retain(|_, (_, at)| at.elapsed() < LONGEST_WAIT);
            }
            let entry = failures.entry(name.trim().to_ascii_lowercase()).or_insert((0, Instant::now()));
            entry.0 = entry.0.saturating_add(1);
            entry.1 = Instant::now();
        }
    }

    /// Forgets the failures of `name`, which has just logged in.
    pub fn login_succeeded(&self, name: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&name.trim().to_ascii_lowercase());
        }
    }
}

/// The wait after `failures` failed logins in a row.
fn wait_after(failures: u32) -> Option<Duration> {
    let past = failures.checked_sub(FREE_FAILURES)?;
    let wait = Duration::from_secs(60).saturating_mul(1u32 << past.min(10));
    Some(wait.min(LONGEST_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> AccountName {
        AccountName::parse(s).expect("name")
    }

    #[test]
    fn a_session_lives_while_used_and_ends_idle_or_at_logout() {
        let sessions = Sessions::new(Duration::from_millis(200), Duration::from_secs(60));
        let cookie = sessions.open(name("maria"), 1);
        let Found::Live(live) = sessions.find(&cookie) else { panic!("live") };
        assert_eq!(live.account, name("maria"));
        assert_eq!(live.csrf.len(), 64);
        assert!(matches!(sessions.find("not-a-session"), Found::Unknown));
        sessions.flash(&cookie, Flash { ok: true, text: "sent".into() });
        let Found::Live(live) = sessions.find(&cookie) else { panic!("live") };
        assert_eq!(live.flash.map(|f| f.text).as_deref(), Some("sent"));
        let Found::Live(live) = sessions.find(&cookie) else { panic!("live") };
        assert_eq!(live.flash, None, "a flash is shown once");
        std::thread::sleep(Duration::from_millis(300));
        assert!(matches!(sessions.find(&cookie), Found::Expired));
        assert!(matches!(sessions.find(&cookie), Found::Expired), "still said to have expired");

        let other = sessions.open(name("jorge"), 1);
        assert_eq!(sessions.close(&other), Some(name("jorge")));
        assert!(matches!(sessions.find(&other), Found::Unknown));
    }

    #[test]
    fn a_session_ends_at_its_longest_even_when_used() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_millis(200));
        let cookie = sessions.open(name("maria"), 1);
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(50));
            assert!(matches!(sessions.find(&cookie), Found::Live(_)));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(matches!(sessions.find(&cookie), Found::Expired));
    }

    #[test]
    fn logins_of_a_name_wait_longer_after_repeated_failures() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(60));
        for _ in 0..FREE_FAILURES {
            assert_eq!(sessions.login_wait("maria"), None);
            sessions.login_failed("Maria ");
        }
        let wait = sessions.login_wait("maria").expect("waits");
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60), "{wait:?}");
        assert_eq!(sessions.login_wait("jorge"), None, "other names are not held");
        sessions.login_failed("maria");
        assert!(sessions.login_wait("maria").expect("waits") > Duration::from_secs(110));
        assert_eq!(wait_after(40), Some(LONGEST_WAIT));
        sessions.login_succeeded("maria");
        assert_eq!(sessions.login_wait("maria"), None);
    }
}
