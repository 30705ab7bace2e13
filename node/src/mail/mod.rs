//! E-mail notifications: the operators of a node are told, by mail, that a
//! request or a consent request arrived, or that an exchange passed its
//! response date. The mail says which exchange, which State and what kind
//! of message, never what it says: it leaves the node in clear.
//!
//! Sending never holds up what it tells of. A received request is noted in
//! the transaction that stores it (`Store::mail_notices`); [`Mailer::run`],
//! called by the node's `mail` loop, turns notices into mails in the
//! durable queue (`Store::queue_mails`) and sends what is due through the
//! SMTP server of `[mail]`. A server that fails holds the whole queue back,
//! with a delay that doubles up to `retry_max_secs`; the failure is logged
//! at each attempt, counted for the metrics, and recorded in the audit log
//! once per failing period. A mail sent is recorded (to whom, for what).

mod smtp;
mod text;

pub use text::{Event, Letter, SECRETARIAT, invitation, letter, signature, test_letter};

use crate::clock::now;
use crate::home::config::{Language, MailConfig};
use crate::storage::{QueuedMail, Store, StoreError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;
use veim_protocol::audit::{Action, Actor};
use veim_protocol::{MessageKind, StateCode};

/// Why a mail could not be queued or sent, by what the operator checks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    #[error(
        "this node has no [mail] section in config.toml: add one with the SMTP server and the recipients \
         (docs/OPERATIONS.md, \"E-mail notifications\"), then restart the node"
    )]
    NotConfigured,
    #[error("{address:?} is not an e-mail address: {reason}")]
    Address { address: String, reason: String },
    #[error("cannot read the SMTP password from {path}: {reason}. Write it there (chmod 600), never in config.toml")]
    Password { path: String, reason: String },
    #[error(
        "cannot connect to the SMTP server {server}: {reason}. Check [mail] host and port, that the server runs, \
         and that no firewall stops this machine from reaching it"
    )]
    Connect { server: String, reason: String },
    #[error(
        "TLS with the SMTP server {server} failed: {reason}. Check [mail] security (starttls for port 587, tls for \
         465), and that the server's certificate names [mail] host and is signed by a CA this machine trusts"
    )]
    Tls { server: String, reason: String },
    #[error(
        "the SMTP server {server} refused the login of {user:?}: {reason}. Check [mail] username and the password \
         in its file (mail.password beside config.toml, or [mail] password_file)"
    )]
    Auth { user: String, server: String, reason: String },
    #[error("the SMTP server {server} did not answer in time. Check that [mail] port is its SMTP port")]
    Timeout { server: String },
    #[error("the SMTP server {server} refused the mail ({}): {reason}", if *.permanent { "for good: check the addresses and [mail] from, which the server may not let this account use" } else { "for now; it is tried again" })]
    Refused { server: String, permanent: bool, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MailError {
    /// Whether the failure is the server's or the connection's (every mail
    /// would meet it), not one mail's.
    fn holds_the_queue(&self) -> bool {
        matches!(
            self,
            MailError::Password { .. }
                | MailError::Connect { .. }
                | MailError::Tls { .. }
                | MailError::Auth { .. }
                | MailError::Timeout { .. }
        )
    }

    /// Whether no retry can send this mail.
    fn is_final(&self) -> bool {
        matches!(self, MailError::Address { .. } | MailError::Refused { permanent: true, .. })
    }
}

/// A failing period of the SMTP server.
#[derive(Debug, Default)]
struct Failing {
    /// Attempts failed in a row (0: not failing).
    in_a_row: u32,
    /// No attempt before this time.
    hold_until: i64,
}

/// The mail service of a node.
#[derive(Debug)]
pub struct Mailer {
    home: PathBuf,
    config: Option<MailConfig>,
    /// How the mails name this node: its State (`veim` for the Secretariat).
    node: String,
    store: Store,
    /// Wakes the `mail` loop before its next tick.
    pub wake: Notify,
    sent: AtomicU64,
    failures: AtomicU64,
    failing: Mutex<Failing>,
    /// One round of sending at a time.
    sending: tokio::sync::Mutex<()>,
}

/// A mail a service writes itself (a meeting invitation), to one address:
/// one mail per address, so that no recipient sees another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnLetter {
    /// What it is, as the queue and the audit log name it
    /// (`meeting-invitation`).
    pub event: &'static str,
    pub to: String,
    pub language: Language,
    /// The State it concerns (the addressee's).
    pub state: Option<StateCode>,
    pub letter: Letter,
}

/// Whether `address` is an e-mail address a mail can be sent to.
pub fn check_address(address: &str) -> Result<(), MailError> {
    address
        .parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|e| MailError::Address { address: address.to_string(), reason: e.to_string() })
}

/// What the mail loop did in one round.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub queued: usize,
    pub sent: usize,
}

impl Mailer {
    pub fn new(home: PathBuf, config: Option<MailConfig>, state: Option<StateCode>, store: Store) -> Mailer {
        Mailer {
            home,
            config,
            node: state.map(|s| s.to_string()).unwrap_or_else(|| SECRETARIAT.into()),
            store,
            wake: Notify::new(),
            sent: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            failing: Mutex::new(Failing::default()),
            sending: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether the node has a `[mail]` section.
    pub fn configured(&self) -> bool {
        self.config.is_some()
    }

    /// Mails accepted by the server since the node started.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Attempts that failed since the node started.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Whether the server failed at the last attempt.
    pub fn failing(&self) -> bool {
        self.failing.lock().map(|f| f.in_a_row > 0).unwrap_or(false)
    }

    /// The mails waiting, oldest first.
    pub fn queue(&self) -> Result<Vec<QueuedMail>, StoreError> {
        self.store.queued_mails()
    }

    /// Queues the mails telling of `event` to every recipient `[mail]`
    /// lists for it, one mail per address, durable when this returns;
    /// the `mail` loop sends them. Returns how many mails were queued (none
    /// on a node without `[mail]`). Any service may call it.
    pub async fn notify(&self, event: Event) -> Result<usize, MailError> {
        let queued = self.enqueue(&event)?;
        self.store.flush().await?;
        self.wake.notify_one();
        Ok(queued)
    }

    /// Queues the mails of `event` without flushing: for a caller that
    /// flushes them with what it wrote in the same store (an overdue
    /// exchange's audit entry), then wakes the mail loop.
    pub fn enqueue(&self, event: &Event) -> Result<usize, MailError> {
        self.queue_event(event, None)
    }

    fn queue_event(&self, event: &Event, notice: Option<veim_protocol::MessageId>) -> Result<usize, MailError> {
        let Some(config) = &self.config else {
            if let Some(id) = notice {
                self.store.queue_mails(&[], Some(id))?;
            }
            return Ok(0);
        };
        let at = now();
        // One mail per address: an address the server refuses for good
        // costs no one else their mail.
        let mut recipients = config.recipients_of(event.kind());
        let mut seen = std::collections::HashSet::new();
        recipients.retain(|(address, _)| seen.insert(address.clone()));
        let mails: Vec<QueuedMail> = recipients
            .into_iter()
            .map(|(address, language)| QueuedMail {
                exchange: Some(event.exchange()),
                message: event.message(),
                state: event.state(),
                ..new_mail(event.kind().as_str(), vec![address], language, letter(event, &self.node, language), at)
            })
            .collect();
        Ok(self.store.queue_mails(&mails, notice)?.len())
    }

    /// Queues mails a service wrote itself (meeting invitations), one
    /// address each, signed here with this node's name in each one's
    /// language, and makes them durable; the `mail` loop sends them.
    /// Returns their numbers in the queue.
    pub async fn send_letters(&self, letters: Vec<OwnLetter>) -> Result<Vec<u64>, MailError> {
        let queued = self.queue_letters(letters)?;
        self.store.flush().await?;
        self.wake.notify_one();
        Ok(queued)
    }

    /// Queues `letters` as [`Mailer::send_letters`] does, without flushing:
    /// for a caller that flushes them with what it records in the same
    /// store, then wakes the mail loop. Every address is checked before any
    /// mail is queued.
    pub fn queue_letters(&self, letters: Vec<OwnLetter>) -> Result<Vec<u64>, MailError> {
        if self.config.is_none() {
            return Err(MailError::NotConfigured);
        }
        for l in &letters {
            check_address(&l.to)?;
        }
        let at = now();
        let mails: Vec<QueuedMail> = letters
            .into_iter()
            .map(|l| {
                let body = format!("{}\n\n-- \n{}\n", l.letter.body.trim_end(), signature(&self.node, l.language));
                QueuedMail {
                    state: l.state,
                    ..new_mail(l.event, vec![l.to], l.language, Letter { subject: l.letter.subject, body }, at)
                }
            })
            .collect();
        Ok(self.store.queue_mails(&mails, None)?.into_iter().map(|m| m.id).collect())
    }

    /// Sends a test mail now, outside the queue, to `to` (in the node's
    /// language) or to every recipient (each in its own): the addresses it
    /// reached, or what failed.
    pub async fn test(&self, to: Option<String>) -> Result<Vec<String>, MailError> {
        let config = self.config.as_ref().ok_or(MailError::NotConfigured)?;
        let groups: Vec<(Language, Vec<String>)> = match to {
            Some(address) => vec![(config.language, vec![address])],
            None => by_language(
                config.recipients.iter().map(|r| (r.address.clone(), r.language.unwrap_or(config.language))).collect(),
            ),
        };
        if groups.is_empty() {
            return Err(MailError::Address {
                address: String::new(),
                reason: "[mail] lists no recipient: give the address to test with --to".into(),
            });
        }
        let mut reached = Vec::new();
        for (language, to) in groups {
            let letter = test_letter(&self.node, language);
            smtp::send(config, &self.home, smtp::message(config, &to, &letter.subject, &letter.body)?).await?;
            let mut event = veim_protocol::audit::Event::new(now(), Actor::Operator, Action::MailSent);
            event.object = Some("test mail".into());
            event.detail = format!("test, to {}", to.join(", "));
            self.store.record(&event);
            reached.extend(to);
        }
        self.store.flush().await?;
        Ok(reached)
    }

    /// One round of the `mail` loop: notices turned into queued mails, then
    /// every mail that is due sent, unless the server is held back after a
    /// failure.
    pub async fn run(&self) -> Result<Round, StoreError> {
        let _one = self.sending.lock().await;
        let mut round = Round::default();
        // Each received request or consent request leaves a notice. Clearing
        // one that queues no mail (a node without `[mail]`, or no recipient
        // for its kind) needs no flush of its own: lost in a crash, the
        // notice is cleared again at the next round. Queued mails must be
        // durable before they are sent; a round that sends flushes what it
        // records. The loop runs every second.
        let notices = self.store.mail_notices()?;
        if self.config.is_none() {
            // Nothing to queue: the round's notices are forgotten together
            // (none, most seconds: an empty batch would still write sled's log).
            if !notices.is_empty() {
                self.store.forget_mail_notices(&notices)?;
            }
            return Ok(round);
        }
        for id in notices {
            let event = self.store.message_record(id)?.and_then(|m| {
                let (exchange, message, from, at) = (m.exchange_id, m.message_id, m.sender, m.stored_at);
                match m.kind {
                    MessageKind::Request => Some(Event::RequestReceived { exchange, message, from, at }),
                    MessageKind::ConsentRequest => Some(Event::ConsentRequestReceived { exchange, message, from, at }),
                    _ => None,
                }
            });
            round.queued += match event {
                Some(event) => self.queue_event(&event, Some(id)).map_err(|e| match e {
                    MailError::Store(e) => e,
                    other => StoreError::Internal(other.to_string()),
                })?,
                None => self.store.queue_mails(&[], Some(id)).map(|_| 0)?,
            };
        }
        if round.queued > 0 {
            self.store.flush().await?;
        }
        let at = now();
        let held = self.failing.lock().map(|f| f.hold_until > at).unwrap_or(false);
        let due = match &self.config {
            Some(_) if !held => self.store.queued_mails()?.into_iter().filter(|m| m.next_attempt_at <= at).collect(),
            _ => Vec::new(),
        };
        let changed = !due.is_empty();
        for mut mail in due {
            let Some(config) = &self.config else { break };
            let days = config.give_up_after_days.max(1);
            if at - mail.queued_at > i64::from(days) * 86_400 {
                let mut event = self.mail_event(&mail, Action::MailFailed);
                event.detail = format!(
                    "{}, to {}: given up after {days} day(s) unsent ({} attempts; last error: {})",
                    mail.event,
                    mail.to.join(", "),
                    mail.attempts,
                    mail.last_error.as_deref().unwrap_or("none")
                );
                self.store.finish_mail(mail.id, &event)?;
                tracing::warn!(mail = mail.id, days, "mail given up unsent (recorded in the audit log)");
                continue;
            }
            let sent = match smtp::message(config, &mail.to, &mail.subject, &mail.body) {
                Ok(message) => smtp::send(config, &self.home, message).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    self.recovered(config);
                    let mut event = self.mail_event(&mail, Action::MailSent);
                    event.detail = format!("{}, to {}", mail.event, mail.to.join(", "));
                    self.store.finish_mail(mail.id, &event)?;
                    round.sent += 1;
                    tracing::info!(mail = mail.id, event = %mail.event, to = %mail.to.join(", "), "mail sent");
                }
                Err(MailError::Store(e)) => return Err(e),
                Err(e) if e.is_final() => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    let mut event = self.mail_event(&mail, Action::MailFailed);
                    event.detail = format!("{}, to {}: given up: {e}", mail.event, mail.to.join(", "));
                    self.store.finish_mail(mail.id, &event)?;
                    tracing::warn!(mail = mail.id, %e, "mail refused for good; given up (recorded in the audit log)");
                }
                Err(e) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    mail.attempts += 1;
                    mail.next_attempt_at = at + backoff(config, mail.attempts);
                    mail.last_error = Some(e.to_string());
                    self.store.update_mail(&mail)?;
                    if e.holds_the_queue() {
                        self.failed(config, &e, at)?;
                        break;
                    }
                    tracing::warn!(mail = mail.id, %e, attempts = mail.attempts, "mail not sent; tried again later");
                }
            }
        }
        if changed {
            self.store.flush().await?;
        }
        Ok(round)
    }

    fn mail_event(&self, mail: &QueuedMail, action: Action) -> veim_protocol::audit::Event {
        let mut event = veim_protocol::audit::Event::new(now(), Actor::Node, action);
        event.exchange = mail.exchange;
        event.message = mail.message;
        event.state = mail.state;
        event.object = Some(format!("mail {}", mail.id));
        event
    }

    /// The server failed: the whole queue waits, longer at each failure in
    /// a row; the first failure of a period is recorded in the audit log.
    fn failed(&self, config: &MailConfig, e: &MailError, at: i64) -> Result<(), StoreError> {
        let in_a_row = {
            let mut f = self.failing.lock().map_err(|_| StoreError::Internal("mail state poisoned".into()))?;
            f.in_a_row += 1;
            f.hold_until = at + backoff(config, f.in_a_row);
            f.in_a_row
        };
        let waiting = self.store.queued_mails()?.len();
        let retry_in = backoff(config, in_a_row);
        tracing::warn!(%e, waiting, attempts = in_a_row, retry_in, "cannot send mail; the mails stay queued");
        if in_a_row == 1 {
            let mut event = veim_protocol::audit::Event::new(at, Actor::Node, Action::MailFailed);
            event.object = Some(format!("smtp {}", smtp::server(config)));
            event.detail = format!(
                "{e} ({waiting} mail(s) queued, tried again with a growing delay; recorded once until a mail is sent)"
            );
            self.store.record(&event);
        }
        Ok(())
    }

    /// A mail went through: a failing period, if any, is over.
    fn recovered(&self, config: &MailConfig) {
        if let Ok(mut f) = self.failing.lock()
            && f.in_a_row > 0
        {
            tracing::info!(server = %smtp::server(config), failed = f.in_a_row, "the SMTP server takes mail again");
            *f = Failing::default();
        }
    }
}

/// A mail to queue, due at once, about no exchange.
fn new_mail(event: &str, to: Vec<String>, language: Language, letter: Letter, at: i64) -> QueuedMail {
    QueuedMail {
        id: 0,
        event: event.into(),
        exchange: None,
        message: None,
        state: None,
        to,
        language: language.as_str().into(),
        subject: letter.subject,
        body: letter.body,
        queued_at: at,
        attempts: 0,
        next_attempt_at: at,
        last_error: None,
    }
}

/// Addresses grouped by language (a test mail goes once to each group),
/// each address in one of them.
fn by_language(recipients: Vec<(String, Language)>) -> Vec<(Language, Vec<String>)> {
    let mut groups: BTreeMap<&str, (Language, Vec<String>)> = BTreeMap::new();
    for (address, language) in recipients {
        let group = &mut groups.entry(language.as_str()).or_insert((language, Vec::new())).1;
        if !group.contains(&address) {
            group.push(address);
        }
    }
    groups.into_values().collect()
}

/// The delay after `attempts` failures: `retry_base_secs` doubled at each,
/// up to `retry_max_secs`.
fn backoff(config: &MailConfig, attempts: u32) -> i64 {
    let base = config.retry_base_secs.max(1);
    let delay = base.saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
    delay.min(config.retry_max_secs.max(base)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> MailConfig {
        toml::from_str(text).expect("mail config")
    }

    #[test]
    fn the_delay_doubles_up_to_its_cap() {
        let c = config(
            "host = \"smtp.example.org\"\nfrom = \"veim@example.org\"\nretry_base_secs = 5\nretry_max_secs = 60\n",
        );
        let delays: Vec<i64> = (1..=6).map(|n| backoff(&c, n)).collect();
        assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
    }

    #[test]
    fn one_mail_per_language_and_each_address_once() {
        let (a, b, c) = ("a@example.org".to_string(), "b@example.org".to_string(), "c@example.org".to_string());
        let groups = by_language(vec![
            (a.clone(), Language::Fr),
            (b.clone(), Language::En),
            (a.clone(), Language::Fr),
            (c.clone(), Language::Fr),
        ]);
        assert_eq!(groups, [(Language::En, vec![b]), (Language::Fr, vec![a, c])]);
    }

    #[tokio::test]
    async fn a_mail_older_than_its_days_is_given_up_and_recorded_without_an_attempt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let mut c = config(&format!(
            "host = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"veim@example.org\"\n\
             give_up_after_days = 2\n[[recipients]]\naddress = \"desk@example.org\"\n"
        ));
        c.retry_base_secs = 1;
        let mailer = Mailer::new(dir.path().to_path_buf(), Some(c), "SWE".parse().ok(), store.clone());
        let mail = |queued_at: i64| {
            let letter = Letter { subject: "s".into(), body: "b".into() };
            QueuedMail {
                next_attempt_at: 0,
                ..new_mail("letter", vec!["desk@example.org".into()], Language::En, letter, queued_at)
            }
        };
        let day = 86_400;
        store.queue_mails(&[mail(now() - 3 * day)], None).expect("queue");
        mailer.run().await.expect("run");
        assert!(store.queued_mails().expect("queue").is_empty(), "the stale mail is gone");
        let entries = store.audit_entries(0).expect("entries");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].event.action, Action::MailFailed);
        assert!(entries[0].event.detail.contains("given up after 2 day(s) unsent"), "{}", entries[0].event.detail);
        assert_eq!(mailer.failures(), 0, "no attempt was made");

        // A recent one is tried: the server is down, it stays, and the
        // failing period is recorded once however often it is tried.
        store.queue_mails(&[mail(now() - day)], None).expect("queue");
        for _ in 0..3 {
            // Due again at once, as if the delays had passed.
            if let Ok(mut f) = mailer.failing.lock() {
                f.hold_until = 0;
            }
            for mut m in store.queued_mails().expect("queue") {
                m.next_attempt_at = 0;
                store.update_mail(&m).expect("update");
            }
            mailer.run().await.expect("run");
        }
        let queue = store.queued_mails().expect("queue");
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].attempts, 3);
        assert!(queue[0].last_error.as_deref().unwrap_or_default().contains("cannot connect"), "{queue:?}");
        assert_eq!(mailer.failures(), 3);
        let failed =
            store.audit_entries(0).expect("entries").into_iter().filter(|e| e.event.action == Action::MailFailed);
        assert_eq!(failed.count(), 2, "the stale mail's entry, and one for the failing period");
    }
}
