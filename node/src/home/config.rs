//! `config.toml`: what an operator sets, with defaults for everything a
//! deployed node may leave out, and the checks that refuse a configuration
//! before a node starts on it.

use super::{CONFIG_FILE, write_file};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use veim_protocol::StateCode;
use veim_protocol::keys::PublicIdentity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The ATT Secretariat's directory node.
    Secretariat,
    /// A State Party's node.
    National,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Secretariat => "secretariat",
            Role::National => "national",
        })
    }
}

/// The Secretariat as a national node pins it: key and address.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretariatPin {
    /// Hex Ed25519 public key of the Secretariat: the trust anchor.
    pub public_key: String,
    /// Multiaddr of the directory node, e.g. `/ip4/192.0.2.1/tcp/7040` or
    /// `/dns4/veim.example.org/tcp/7040` (see [`crate::address`]).
    pub address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub role: Role,
    /// ISO 3166-1 alpha-3 code of the State this node speaks for (national nodes).
    pub state: Option<StateCode>,
    /// The authority that runs the node, shown in the directory.
    #[serde(default)]
    pub operator: String,
    /// libp2p listen addresses.
    pub listen: Vec<String>,
    /// Addresses to publish in the directory; empty means the listen addresses.
    #[serde(default)]
    pub announce: Vec<String>,
    /// Admin API address; must be a loopback address.
    pub admin_listen: String,
    /// Envelopes created further ahead of the receiver's clock than this are refused.
    #[serde(default = "default_replay_window")]
    pub replay_window_secs: i64,
    /// Envelopes created longer ago than this are refused, and the outbox
    /// gives up on a message this old. Message ids are remembered for ever,
    /// so a replay is refused whatever its age.
    #[serde(default = "default_max_age")]
    pub max_message_age_secs: i64,
    /// How often a national node asks the Secretariat for new directory versions.
    #[serde(default = "default_poll")]
    pub directory_poll_secs: u64,
    pub secretariat: Option<SecretariatPin>,
    /// First delay before a message that could not be delivered is tried
    /// again; it doubles at each attempt (with jitter) up to `retry_max_secs`.
    #[serde(default = "default_retry_base")]
    pub retry_base_secs: i64,
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: i64,
    /// Seconds the operator's send waits for the first delivery attempt (3 by
    /// default). A recipient that has not answered by then is left to the
    /// outbox, and the send answers at once that the copy is queued, instead
    /// of holding the operator for the whole dial or request timeout.
    #[serde(default = "default_send_wait")]
    pub send_wait_secs: u64,
    /// Requests a peer may send per second on average, and in one burst;
    /// past them it is answered busy, and a peer answered busy for more
    /// than half of its requests over 10 s is cut off for 60 s.
    #[serde(default = "default_peer_rate")]
    pub peer_requests_per_sec: f64,
    #[serde(default = "default_peer_burst")]
    pub peer_request_burst: f64,
    /// Connections this node holds at once (512 by default), of which peers
    /// outside the directory may hold `max_stranger_connections` (128): the
    /// rest is kept for the Secretariat and the States in the directory.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    #[serde(default = "default_max_stranger_connections")]
    pub max_stranger_connections: u32,
    /// Handshakes in progress from one address (an IPv4 address or an IPv6
    /// /64), and connections of peers outside the directory from one
    /// address (8 by default each).
    #[serde(default = "default_connections_per_address")]
    pub max_connections_per_address: u32,
    /// Seconds a connection's handshake may take (5 by default).
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_secs: u64,
    /// MiB held at once for requests not yet read whole, everyone's (64 by
    /// default), and KiB for those of peers outside the directory together
    /// (4096 by default); past them a request is answered busy unread.
    #[serde(default = "default_held_frames_mib")]
    pub held_frames_mib: u64,
    #[serde(default = "default_strangers_held_frames_kib")]
    pub strangers_held_frames_kib: u64,
    /// MiB of the store's pages kept in memory (64 by default): the node's
    /// memory grows with what it stores up to about this much beyond its
    /// fixed part, and no further.
    #[serde(default = "default_store_cache")]
    pub store_cache_mib: u64,
    /// Most MiB of attachments received this node keeps (8 GiB by default).
    #[serde(default = "default_quota")]
    pub attachment_quota_mib: u64,
    /// Plaintext bytes per attachment chunk this node sends (1 MiB by default).
    #[serde(default = "default_chunk")]
    pub attachment_chunk_bytes: u32,
    /// Seconds between reconciliations with each counterpart (and one at
    /// start), each period drawn between 0.8 and 1.2 times this.
    #[serde(default = "default_reconcile")]
    pub reconcile_secs: u64,
    /// Seconds between audit checkpoints (signed, and sent to the peers).
    #[serde(default = "default_checkpoint")]
    pub audit_checkpoint_secs: u64,
    /// Seconds between looks for exchanges past their date to respond by
    /// (and one at start), each period drawn between 0.8 and 1.2 times
    /// this; each exchange is recorded once in the audit log.
    #[serde(default = "default_overdue_check")]
    pub overdue_check_secs: u64,
    /// Besides the Secretariat and the States it exchanges with, how many
    /// other active nodes, picked at random each time, receive each audit
    /// checkpoint (8 by default): enough independent holders to catch a
    /// rewritten log, without every node talking to every other each minute.
    #[serde(default = "default_witnesses")]
    pub audit_witnesses: usize,
    /// Refusals of peers outside the directory recorded one by one in each
    /// minute (60 by default); past it they are counted, and the count is
    /// recorded as one entry, so that strangers cannot fill the log.
    #[serde(default = "default_stranger_refusals")]
    pub audit_stranger_refusals_per_minute: u32,
    /// Secretariat: whether loopback and private-range addresses (127.0.0.0/8,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, ::1, fc00::/7) may be
    /// listed: only for a network on one machine, or a private network of
    /// its own. Off by default: a registration or move announcing one is
    /// refused by name.
    #[serde(default)]
    pub private_addresses: bool,
    /// Refusals of one listed peer's requests (a State in the directory, or
    /// the Secretariat) recorded one by one in each minute (60 by default);
    /// past it they are counted in one entry, per peer.
    #[serde(default = "default_stranger_refusals")]
    pub audit_peer_refusals_per_minute: u32,
    /// Failed logins at the admin API recorded one by one in each minute (20
    /// by default); past it they are counted, and the count is recorded as
    /// one entry, so that a local process cannot fill the log.
    #[serde(default = "default_admin_failures")]
    pub audit_admin_failures_per_minute: u32,
    /// KiB at which the node closes `audit/entries.jsonl` as a compressed
    /// segment (65536, i.e. 64 MiB, by default; from 64 to 4194304).
    #[serde(default = "default_audit_segment_kib")]
    pub audit_segment_kib: u64,
    /// Days after which the node closes `audit/entries.jsonl` as a
    /// compressed segment, counted in UTC days from the day of its first
    /// entry (1, daily, by default; from 1 to 366), whatever its size.
    #[serde(default = "default_audit_segment_days")]
    pub audit_segment_days: u32,
    /// Handling restrictions put on what this node sends when the operator
    /// sets none (the terms of reference by default).
    #[serde(default)]
    pub handling: veim_protocol::Handling,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub storage: Storage,
    /// E-mail notifications (none without this section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailConfig>,
    /// The web console on the admin listener.
    #[serde(default)]
    pub console: ConsoleConfig,
}

/// The web console: how long a session lasts, and the address officials'
/// browsers use when it is reached through a TLS reverse proxy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The origin (`https://host[:port]`) of a reverse proxy that serves the
    /// console to other machines; its requests are then the console's own,
    /// and the session cookie is marked Secure. None: loopback only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_origin: Option<String>,
    /// Seconds a session lasts without use (1800 by default; 5 to 86400).
    #[serde(default = "default_session_idle")]
    pub session_idle_secs: u64,
    /// Seconds a session lasts at most, used or not (43200, 12 hours, by
    /// default; 300 to 604800).
    #[serde(default = "default_session_max")]
    pub session_max_secs: u64,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig {
            public_origin: None,
            session_idle_secs: default_session_idle(),
            session_max_secs: default_session_max(),
        }
    }
}

fn default_session_idle() -> u64 {
    1800
}

fn default_session_max() -> u64 {
    43_200
}

impl ConsoleConfig {
    /// The public origin's scheme and host (with port), if it is one: an
    /// `https` URL with a host and nothing after it, or `http` for a
    /// loopback name (a proxy on this machine, for tests).
    pub fn origin(&self) -> Result<Option<(String, String)>, String> {
        let Some(origin) = &self.public_origin else { return Ok(None) };
        let bad = |why: &str| format!("{origin:?} {why}; write it as https://host or https://host:port");
        let (scheme, host) = origin.split_once("://").ok_or_else(|| bad("has no scheme"))?;
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad("must be a scheme and a host, with no path"));
        }
        let name = host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() { name } else { host }
        });
        let loopback = ["127.0.0.1", "localhost", "[::1]"].contains(&name);
        match scheme {
            "https" => Ok(Some((scheme.to_string(), host.to_ascii_lowercase()))),
            "http" if loopback => Ok(Some((scheme.to_string(), host.to_ascii_lowercase()))),
            "http" => Err(bad(
                "is plain HTTP to another machine: passwords and session cookies would cross the network in clear",
            )),
            _ => Err(bad("has a scheme other than https")),
        }
    }
}

/// How long content received from other States is kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days after which the content of a received message is purged (its
    /// metadata stays); absent: kept until purged by hand (`veim purge`).
    pub received_content_days: Option<u32>,
}

/// Protection of the storage key (`keys/storage.key`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// A file holding the passphrase that wraps the storage key; the
    /// environment variable VEIM_STORAGE_PASSPHRASE takes precedence.
    pub passphrase_file: Option<PathBuf>,
}

/// The file beside `config.toml` that holds the SMTP password when
/// `[mail] password_file` names none.
pub const MAIL_PASSWORD_FILE: &str = "mail.password";

/// How the node reaches its SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailSecurity {
    /// Plain SMTP: only for a relay on this machine or a network of its own.
    None,
    /// Plain, then STARTTLS, required (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Tls,
}

impl MailSecurity {
    pub fn default_port(self) -> u16 {
        match self {
            MailSecurity::None => 25,
            MailSecurity::Starttls => 587,
            MailSecurity::Tls => 465,
        }
    }
}

/// The languages a mail is written in: the Treaty's working languages (one
/// type with the reports' and the meeting's).
pub use veim_protocol::report::Language;

/// What a node mails about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailEvent {
    /// A request from another State was received.
    RequestReceived,
    /// A consent request from another State was received.
    ConsentRequestReceived,
    /// An exchange passed the date by which its requesting State asked for a response.
    ResponseOverdue,
}

impl MailEvent {
    pub const ALL: [MailEvent; 3] =
        [MailEvent::RequestReceived, MailEvent::ConsentRequestReceived, MailEvent::ResponseOverdue];

    pub fn as_str(self) -> &'static str {
        match self {
            MailEvent::RequestReceived => "request-received",
            MailEvent::ConsentRequestReceived => "consent-request-received",
            MailEvent::ResponseOverdue => "response-overdue",
        }
    }
}

impl std::fmt::Display for MailEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[mail]`: the SMTP server notifications go through, who gets them, and
/// in which language. The password is never here: it is read from a file
/// beside `config.toml` (`mail.password`, or `password_file`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The SMTP server's DNS name (checked against its TLS certificate) or address.
    pub host: String,
    /// Its port; by default 25, 587 or 465 as `security` is none, starttls or tls.
    pub port: Option<u16>,
    #[serde(default)]
    pub security: MailSecurity,
    /// The account to log in with; none: no login.
    pub username: Option<String>,
    /// The file holding the password, relative to the node's folder
    /// (`mail.password` by default); only with `username`.
    pub password_file: Option<PathBuf>,
    /// A PEM file of a CA certificate to trust, besides the system's, for
    /// a server whose certificate an authority of the ministry signed
    /// (relative to the node's folder).
    pub ca_file: Option<PathBuf>,
    /// The sender, e.g. `"veim SWE <veim@example.org>"`.
    pub from: String,
    /// The language of recipients that name none.
    #[serde(default)]
    pub language: Language,
    /// First delay before a mail that could not be sent is tried again; it
    /// doubles at each attempt up to `retry_max_secs`.
    #[serde(default = "default_mail_retry_base")]
    pub retry_base_secs: u64,
    #[serde(default = "default_mail_retry_max")]
    pub retry_max_secs: u64,
    /// Days after which a mail the server has not taken is given up (and
    /// recorded): a notice weeks late helps no one.
    #[serde(default = "default_mail_give_up")]
    pub give_up_after_days: u32,
    /// Who is told of what.
    #[serde(default)]
    pub recipients: Vec<MailRecipient>,
}

/// One address and the events it is told of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailRecipient {
    pub address: String,
    /// Its language; none: the `[mail]` section's.
    pub language: Option<Language>,
    /// What it is told of; none listed: every event.
    #[serde(default)]
    pub events: Vec<MailEvent>,
}

fn default_mail_retry_base() -> u64 {
    5
}

fn default_mail_retry_max() -> u64 {
    600
}

fn default_mail_give_up() -> u32 {
    7
}

impl MailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.security.default_port())
    }

    /// Where the password is read from, for the node whose folder is `home`.
    pub fn password_path(&self, home: &Path) -> PathBuf {
        home.join(self.password_file.as_deref().unwrap_or(Path::new(MAIL_PASSWORD_FILE)))
    }

    /// The addresses told of `event`, each with its language.
    pub fn recipients_of(&self, event: MailEvent) -> Vec<(String, Language)> {
        self.recipients
            .iter()
            .filter(|r| r.events.is_empty() || r.events.contains(&event))
            .map(|r| (r.address.clone(), r.language.unwrap_or(self.language)))
            .collect()
    }

    /// `role`: the Secretariat's node may mail invitations alone, with no
    /// recipient of notifications.
    fn check(&self, role: Role, errors: &mut veim_protocol::ValidationErrors) {
        if self.host.trim().is_empty() || self.host.contains(char::is_whitespace) {
            errors.push("mail.host", format!("{:?} is not a host name or address", self.host));
        }
        if self.port == Some(0) {
            errors.push("mail.port", "is 0; use the SMTP server's port (587 for starttls, 465 for tls)");
        }
        if let Err(e) = self.from.parse::<lettre::message::Mailbox>() {
            errors.push(
                "mail.from",
                format!("{:?} is not an e-mail address ({e}), e.g. \"veim <veim@example.org>\"", self.from),
            );
        }
        if self.ca_file.is_some() && self.security == MailSecurity::None {
            errors.push("mail.ca_file", "is only used with TLS: set security to starttls or tls");
        }
        if self.password_file.is_some() && self.username.is_none() {
            errors.push("mail.password_file", "is only read with `username`: add the account to log in with");
        }
        if self.username.is_some() && self.security == MailSecurity::None {
            errors.push(
                "mail.security",
                "is none, so the password would cross the network in clear: use starttls or tls with a username",
            );
        }
        if !(1..=3600).contains(&self.retry_base_secs) {
            errors.push("mail.retry_base_secs", format!("is {}; allowed: 1 to 3600 seconds", self.retry_base_secs));
        }
        if !(self.retry_base_secs.max(1)..=86_400).contains(&self.retry_max_secs) {
            errors.push(
                "mail.retry_max_secs",
                format!("is {}; allowed: retry_base_secs to 86400 seconds", self.retry_max_secs),
            );
        }
        if !(1..=365).contains(&self.give_up_after_days) {
            errors.push("mail.give_up_after_days", format!("is {}; allowed: 1 to 365 days", self.give_up_after_days));
        }
        if self.recipients.is_empty() && role == Role::National {
            errors.push("mail.recipients", "names no one: add [[mail.recipients]] with an address, or remove [mail]");
        }
        for (i, r) in self.recipients.iter().enumerate() {
            if let Err(e) = r.address.parse::<lettre::Address>() {
                errors.push(
                    format!("mail.recipients[{i}].address"),
                    format!("{:?} is not an e-mail address ({e}), e.g. \"desk@example.org\"", r.address),
                );
            }
        }
    }

    /// The files beside `config.toml` that `[mail]` names and the node
    /// cannot read: each with its field and what to do.
    pub fn file_problems(&self, home: &Path) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.username.is_some() {
            let path = self.password_path(home);
            match fs::read_to_string(&path) {
                Ok(p) if p.trim_end_matches(['\n', '\r']).is_empty() => {
                    problems.push(("mail.password_file".into(), format!("{} is empty", path.display())))
                }
                Ok(_) => {}
                Err(e) => problems.push((
                    "mail.password_file".into(),
                    format!(
                        "cannot read {}: {e}; write the SMTP password there (chmod 600), never in config.toml",
                        path.display()
                    ),
                )),
            }
        }
        if let Some(file) = &self.ca_file {
            let path = home.join(file);
            match fs::read_to_string(&path) {
                Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {}
                Ok(_) => problems.push(("mail.ca_file".into(), format!("{} holds no PEM certificate", path.display()))),
                Err(e) => problems.push(("mail.ca_file".into(), format!("cannot read {}: {e}", path.display()))),
            }
        }
        problems
    }
}

impl Default for Config {
    /// A national node's settings with no State, addresses or Secretariat
    /// yet: the base that `veim init` and the local network fill in.
    fn default() -> Config {
        Config {
            role: Role::National,
            state: None,
            operator: String::new(),
            listen: Vec::new(),
            announce: Vec::new(),
            admin_listen: "127.0.0.1:7041".into(),
            replay_window_secs: default_replay_window(),
            max_message_age_secs: default_max_age(),
            directory_poll_secs: default_poll(),
            secretariat: None,
            audit_checkpoint_secs: default_checkpoint(),
            audit_witnesses: default_witnesses(),
            audit_stranger_refusals_per_minute: default_stranger_refusals(),
            audit_admin_failures_per_minute: default_admin_failures(),
            audit_segment_kib: default_audit_segment_kib(),
            audit_segment_days: default_audit_segment_days(),
            audit_peer_refusals_per_minute: default_stranger_refusals(),
            private_addresses: false,
            retry_base_secs: default_retry_base(),
            reconcile_secs: default_reconcile(),
            overdue_check_secs: default_overdue_check(),
            attachment_chunk_bytes: default_chunk(),
            attachment_quota_mib: default_quota(),
            store_cache_mib: default_store_cache(),
            peer_requests_per_sec: default_peer_rate(),
            peer_request_burst: default_peer_burst(),
            max_connections: default_max_connections(),
            max_stranger_connections: default_max_stranger_connections(),
            max_connections_per_address: default_connections_per_address(),
            handshake_timeout_secs: default_handshake_timeout(),
            held_frames_mib: default_held_frames_mib(),
            strangers_held_frames_kib: default_strangers_held_frames_kib(),
            retry_max_secs: default_retry_max(),
            send_wait_secs: default_send_wait(),
            handling: veim_protocol::Handling::default(),
            retention: Retention::default(),
            storage: Storage::default(),
            mail: None,
            console: ConsoleConfig::default(),
        }
    }
}

fn default_send_wait() -> u64 {
    3
}

fn default_peer_rate() -> f64 {
    50.0
}

fn default_peer_burst() -> f64 {
    100.0
}

fn default_max_connections() -> u32 {
    512
}

fn default_max_stranger_connections() -> u32 {
    128
}

fn default_connections_per_address() -> u32 {
    8
}

fn default_handshake_timeout() -> u64 {
    5
}

fn default_held_frames_mib() -> u64 {
    64
}

fn default_strangers_held_frames_kib() -> u64 {
    4096
}

/// As `storage::DEFAULT_CACHE_MIB`, which a store opened without a
/// configuration takes (the storage layer reads no configuration).
fn default_store_cache() -> u64 {
    64
}

fn default_quota() -> u64 {
    8192
}

fn default_chunk() -> u32 {
    1024 * 1024
}

fn default_reconcile() -> u64 {
    300
}

fn default_overdue_check() -> u64 {
    300
}

fn default_retry_base() -> i64 {
    5
}

fn default_retry_max() -> i64 {
    600
}

fn default_max_age() -> i64 {
    30 * 86_400
}

fn default_checkpoint() -> u64 {
    60
}

fn default_witnesses() -> usize {
    8
}

fn default_stranger_refusals() -> u32 {
    60
}

fn default_admin_failures() -> u32 {
    20
}

fn default_audit_segment_kib() -> u64 {
    64 * 1024
}

fn default_audit_segment_days() -> u32 {
    1
}

fn default_replay_window() -> i64 {
    3600
}

fn default_poll() -> u64 {
    30
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error(
        "cannot read {path}: {source}. Run `veim init --home {home}` first, or point --home at an initialised node"
    )]
    Read { path: PathBuf, home: String, source: std::io::Error },
    #[error("{path} is not a valid node configuration: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} already exists: this folder already holds a node; choose another --home")]
    AlreadyInitialised { path: PathBuf },
}

/// What makes a configuration unusable, in words the operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigProblem(pub String);

impl std::ops::Deref for ConfigProblem {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for ConfigProblem {
    fn from(s: String) -> ConfigProblem {
        ConfigProblem(s)
    }
}

impl From<&str> for ConfigProblem {
    fn from(s: &str) -> ConfigProblem {
        ConfigProblem(s.to_string())
    }
}

impl Config {
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let path = home.join(CONFIG_FILE);
        let text = fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            home: home.display().to_string(),
            source,
        })?;
        let config: Config =
            toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: path.clone(), reason: e.to_string() })?;
        config.check().map_err(|p| ConfigError::Invalid { path, reason: p.to_string() })?;
        Ok(config)
    }

    /// Rules serde cannot express: the first problem, or all of them in one
    /// message ([`Config::problems`] lists them apart).
    pub fn check(&self) -> Result<(), ConfigProblem> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        let all: Vec<String> = problems.0.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect();
        Err(all.join("; ").into())
    }

    /// Every problem of this configuration, each naming its field and what
    /// is allowed: the roles' needs, the addresses, and bounds on every
    /// period, window, rate and size.
    pub fn problems(&self) -> veim_protocol::ValidationErrors {
        let mut errors = veim_protocol::ValidationErrors::default();
        match self.role {
            Role::National => {
                if self.state.is_none() {
                    errors.push("state", "a national node needs `state` (its ISO 3166-1 alpha-3 code)");
                }
                match &self.secretariat {
                    None => errors.push(
                        "secretariat",
                        "a national node needs a [secretariat] section with public_key and address",
                    ),
                    Some(pin) => {
                        if let Err(e) = PublicIdentity::from_hex(&pin.public_key) {
                            errors.push("secretariat.public_key", e.to_string());
                        }
                        if let Err(e) = crate::address::dialable(&pin.address) {
                            errors.push("secretariat.address", e.to_string());
                        }
                    }
                }
            }
            Role::Secretariat => {
                if self.secretariat.is_some() {
                    errors.push("secretariat", "a secretariat node has no [secretariat] section");
                }
            }
        }
        if self.listen.is_empty() {
            errors.push("listen", "needs at least one multiaddr, e.g. \"/ip4/0.0.0.0/tcp/7040\"");
        }
        for (i, a) in self.listen.iter().enumerate() {
            if let Err(e) = crate::address::listenable(a) {
                errors.push(format!("listen[{i}]"), e.to_string());
            }
        }
        for (i, a) in self.announce.iter().enumerate() {
            if let Err(e) = crate::address::dialable(a) {
                errors.push(format!("announce[{i}]"), e.to_string());
            }
        }
        if self.role == Role::National
            && self.announce.is_empty()
            && let Some(a) = self.listen.iter().find(|a| a.starts_with("/ip4/0.0.0.0/") || a.starts_with("/ip6/::/"))
        {
            errors.push(
                "announce",
                format!(
                    "listen address {a} takes connections on every interface but is not an address other nodes can \
                     dial; add the address they should use: announce = [\"/ip4/<public address>/tcp/<port>\"] \
                     (veim init --announce)"
                ),
            );
        }
        match self.admin_listen.parse::<std::net::SocketAddr>() {
            Err(e) => errors.push("admin_listen", format!("{:?}: {e}", self.admin_listen)),
            Ok(admin) if !admin.ip().is_loopback() => errors.push(
                "admin_listen",
                format!(
                    "{admin} must be a loopback address (127.0.0.1 or ::1): the admin API is for the local operator only"
                ),
            ),
            Ok(_) => {}
        }
        self.handling.check("handling", &mut errors);
        if let Err(e) = self.console.origin() {
            errors.push("console.public_origin", e);
        }
        let day: u64 = 86_400;
        let mut within = |field: &str, value: u64, min: u64, max: u64, unit: &str| {
            if !(min..=max).contains(&value) {
                errors.push(field, format!("is {value}; allowed: {min} to {max} {unit}"));
            }
        };
        within("replay_window_secs", self.replay_window_secs.max(0) as u64, 60, day, "seconds");
        within("max_message_age_secs", self.max_message_age_secs.max(0) as u64, 3600, 365 * day, "seconds");
        within("directory_poll_secs", self.directory_poll_secs, 1, day, "seconds");
        within("retry_base_secs", self.retry_base_secs.max(0) as u64, 1, 3600, "seconds");
        within(
            "retry_max_secs",
            self.retry_max_secs.max(0) as u64,
            self.retry_base_secs.max(1) as u64,
            day,
            "seconds (at least retry_base_secs)",
        );
        within("send_wait_secs", self.send_wait_secs, 1, 60, "seconds");
        within("console.session_idle_secs", self.console.session_idle_secs, 5, day, "seconds");
        within("console.session_max_secs", self.console.session_max_secs, 300, 7 * day, "seconds");
        within("handshake_timeout_secs", self.handshake_timeout_secs, 1, 3600, "seconds");
        within("reconcile_secs", self.reconcile_secs, 2, day, "seconds");
        within("audit_checkpoint_secs", self.audit_checkpoint_secs, 1, day, "seconds");
        within("overdue_check_secs", self.overdue_check_secs, 1, day, "seconds");
        within("audit_witnesses", self.audit_witnesses as u64, 0, 64, "nodes");
        within(
            "audit_stranger_refusals_per_minute",
            u64::from(self.audit_stranger_refusals_per_minute),
            1,
            10_000,
            "entries",
        );
        within("audit_peer_refusals_per_minute", u64::from(self.audit_peer_refusals_per_minute), 1, 10_000, "entries");
        within(
            "audit_admin_failures_per_minute",
            u64::from(self.audit_admin_failures_per_minute),
            1,
            10_000,
            "entries",
        );
        within("max_connections", u64::from(self.max_connections), 2, 65_536, "connections");
        within(
            "max_stranger_connections",
            u64::from(self.max_stranger_connections),
            0,
            u64::from(self.max_connections.max(1)) - 1,
            "connections (less than max_connections: the rest is kept for listed peers)",
        );
        within("max_connections_per_address", u64::from(self.max_connections_per_address), 1, 65_536, "connections");
        within("held_frames_mib", self.held_frames_mib, 16, 4096, "MiB (two of the largest requests at least)");
        within(
            "strangers_held_frames_kib",
            self.strangers_held_frames_kib,
            64,
            1024 * 1024,
            "KiB (one registration at least)",
        );
        within("attachment_quota_mib", self.attachment_quota_mib, 1, u64::MAX, "MiB");
        within("store_cache_mib", self.store_cache_mib, 4, 64 * 1024, "MiB");
        within(
            "attachment_chunk_bytes",
            u64::from(self.attachment_chunk_bytes),
            1024,
            u64::from(veim_protocol::attachment::MAX_CHUNK),
            "bytes",
        );
        within("audit_segment_kib", self.audit_segment_kib, 64, 4 * 1024 * 1024, "KiB (4 GiB)");
        within("audit_segment_days", u64::from(self.audit_segment_days), 1, 366, "days");
        if let Some(days) = self.retention.received_content_days {
            within("retention.received_content_days", u64::from(days), 1, 36_500, "days");
        }
        if let Some(mail) = &self.mail {
            mail.check(self.role, &mut errors);
        }
        for (field, rate) in
            [("peer_requests_per_sec", self.peer_requests_per_sec), ("peer_request_burst", self.peer_request_burst)]
        {
            if !(rate.is_finite() && rate >= 1.0) {
                errors.push(field, format!("is {rate}; allowed: at least 1"));
            }
        }
        errors
    }

    /// Replaces the configuration of an existing node.
    pub fn save(&self, home: &Path) -> Result<(), ConfigError> {
        let path = home.join(CONFIG_FILE);
        self.check().map_err(|p| ConfigError::Invalid { path: path.clone(), reason: p.to_string() })?;
        let text = toml::to_string_pretty(self)
            .map_err(|e| ConfigError::Invalid { path: path.clone(), reason: e.to_string() })?;
        write_file(&path, text.as_bytes(), false).map_err(|source| ConfigError::Write { path, source })
    }

    /// Writes a new configuration; refuses to overwrite one.
    pub fn create(&self, home: &Path) -> Result<(), ConfigError> {
        let path = home.join(CONFIG_FILE);
        if path.exists() {
            return Err(ConfigError::AlreadyInitialised { path });
        }
        let text = toml::to_string_pretty(self)
            .map_err(|e| ConfigError::Invalid { path: path.clone(), reason: e.to_string() })?;
        write_file(&path, text.as_bytes(), false).map_err(|source| ConfigError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigProblem> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigProblem(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    #[test]
    fn the_deploy_examples_are_valid() {
        let sec = parse(include_str!("../../../deploy/secretariat.toml")).expect("secretariat.toml");
        assert_eq!(sec.role, Role::Secretariat);
        let national = parse(include_str!("../../../deploy/national.toml")).expect("national.toml");
        assert_eq!(national.state.map(|s| s.to_string()).as_deref(), Some("MEX"));
        // Top-level keys and sections land where they are meant to.
        assert_eq!(national.audit_checkpoint_secs, 60);
        assert_eq!(national.overdue_check_secs, 300);
        assert_eq!(national.retention.received_content_days, Some(3650));
        assert_eq!(national.handling, veim_protocol::Handling::default());
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        let national = include_str!("../../../deploy/national.toml");
        let public_admin = national.replace("127.0.0.1:7041", "0.0.0.0:7041");
        assert!(parse(&public_admin).expect_err("public admin").contains("loopback"));
        let no_state = national.replace("state = \"MEX\"", "");
        assert!(parse(&no_state).expect_err("no state").contains("needs `state`"));
        let bad_key = national.replace("3d4017c3", "zz");
        assert!(parse(&bad_key).expect_err("bad key").contains("secretariat.public_key"));
        let unannounced = national.replace("announce = [\"/ip4/198.51.100.23/tcp/7040\"]", "");
        assert!(parse(&unannounced).expect_err("no announce").contains("--announce"));
        let bad_state = national.replace("\"MEX\"", "\"MEXICO\"");
        assert!(parse(&bad_state).expect_err("bad state").contains("ISO 3166-1"));
        // Strangers may not have every slot: the rest is the listed peers'.
        let no_room = national.replace("max_stranger_connections = 128", "max_stranger_connections = 512");
        assert!(parse(&no_room).expect_err("no room kept").contains("max_stranger_connections"));
        let too_little = national.replace("held_frames_mib = 64", "held_frames_mib = 8");
        assert!(parse(&too_little).expect_err("too little").contains("held_frames_mib"));
        let never = national.replace("overdue_check_secs = 300", "overdue_check_secs = 0");
        assert!(parse(&never).expect_err("no period").contains("overdue_check_secs"));
    }

    const MAIL: &str = r#"
[mail]
host = "smtp.example.org"
security = "starttls"
username = "veim-mex"
from = "veim MEX <veim@example.org>"
language = "es"

[[mail.recipients]]
address = "att-desk@example.org"

[[mail.recipients]]
address = "director@example.org"
language = "en"
events = ["request-received", "response-overdue"]
"#;

    #[test]
    fn a_mail_section_is_read_and_each_bad_field_named() {
        let national = include_str!("../../../deploy/national.toml");
        let config = parse(&format!("{national}{MAIL}")).expect("with [mail]");
        let mail = config.mail.as_ref().expect("mail");
        assert_eq!(mail.port(), 587);
        assert_eq!(
            mail.recipients_of(MailEvent::ConsentRequestReceived),
            [("att-desk@example.org".to_string(), Language::Es)]
        );
        assert_eq!(
            mail.recipients_of(MailEvent::ResponseOverdue),
            [("att-desk@example.org".to_string(), Language::Es), ("director@example.org".to_string(), Language::En)]
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = mail.file_problems(dir.path());
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(missing[0].0, "mail.password_file");
        assert!(missing[0].1.contains("mail.password") && missing[0].1.contains("never in config.toml"), "{missing:?}");
        fs::write(dir.path().join(MAIL_PASSWORD_FILE), "s3cret\n").expect("write");
        assert_eq!(mail.file_problems(dir.path()), []);
        let mut with_ca = mail.clone();
        with_ca.ca_file = Some("ca.pem".into());
        fs::write(dir.path().join("ca.pem"), "not a certificate").expect("write");
        assert_eq!(with_ca.file_problems(dir.path())[0].0, "mail.ca_file");

        // A password in config.toml is an unknown field, refused by name.
        let inline = parse(&format!("{national}{}", MAIL.replace("username =", "password = \"x\"\nusername =")));
        assert!(inline.expect_err("password inline").contains("unknown field `password`"));
        let problems = |text: String| -> Vec<String> {
            let config: Config = toml::from_str(&text).expect("toml");
            config.problems().0.into_iter().map(|p| p.field).collect()
        };
        let bad = MAIL
            .replace("veim MEX <veim@example.org>", "veim at example")
            .replace("\"att-desk@example.org\"", "\"att-desk\"")
            .replace("\"starttls\"", "\"none\"");
        let fields = problems(format!("{national}{bad}"));
        for field in ["mail.from", "mail.recipients[0].address", "mail.security"] {
            assert!(fields.contains(&field.to_string()), "{field} not named in {fields:?}");
        }
        let unknown_event = parse(&format!("{national}{}", MAIL.replace("\"response-overdue\"", "\"overdue\"")));
        assert!(unknown_event.expect_err("unknown event").contains("response-overdue"));
        let unknown_language = parse(&format!("{national}{}", MAIL.replace("\"es\"", "\"de\"")));
        assert!(unknown_language.expect_err("unknown language").contains("`en`, `fr`"));
    }

    #[test]
    fn addresses_by_name_are_taken_and_bad_ones_named() {
        let national = include_str!("../../../deploy/national.toml");
        let secretariat = "/dns4/directory.example.org/tcp/7040";
        for name in ["/dns6/directory.example.org/tcp/7040", "/dns/localhost/tcp/7040", "/ip6/2001:db8::1/tcp/7040"] {
            parse(&national.replace(secretariat, name)).expect(name);
        }
        parse(&national.replace("/ip4/198.51.100.23/tcp/7040", "/dns4/veim.example.org/tcp/7040")).expect("announce");
        let spaced = parse(&national.replace(secretariat, "/dns4/directory example.org/tcp/7040")).expect_err("space");
        assert!(spaced.contains("secretariat.address") && spaced.contains("not a DNS name"), "{}", &*spaced);
        let portless = parse(&national.replace(secretariat, "/dns4/directory.example.org")).expect_err("no port");
        assert!(portless.contains("/tcp/<port>"), "{}", &*portless);
        let zero = parse(&national.replace("/ip4/198.51.100.23/tcp/7040", "/ip4/198.51.100.23/tcp/0")).expect_err("0");
        assert!(zero.contains("announce") && zero.contains("port 0"), "{}", &*zero);
        let named = parse(&national.replace("/ip4/0.0.0.0/tcp/7040", "/dns4/veim.example.org/tcp/7040"))
            .expect_err("listen on a name");
        assert!(named.contains("listen") && named.contains("announce"), "{}", &*named);
    }

    #[test]
    fn every_period_window_and_size_is_bounded_and_each_bad_field_is_named() {
        let national = include_str!("../../../deploy/national.toml");
        let config: Config = toml::from_str(national).expect("national.toml");
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let mut bad = config.clone();
        bad.replay_window_secs = 10;
        bad.max_message_age_secs = 400 * 86_400;
        bad.directory_poll_secs = 0;
        bad.retry_base_secs = 0;
        bad.retry_max_secs = 10 * 86_400;
        bad.send_wait_secs = 0;
        bad.handshake_timeout_secs = 0;
        bad.reconcile_secs = 1;
        bad.audit_checkpoint_secs = 0;
        bad.audit_witnesses = 1000;
        bad.audit_stranger_refusals_per_minute = 0;
        bad.audit_peer_refusals_per_minute = 0;
        bad.audit_admin_failures_per_minute = 0;
        bad.max_connections = 1;
        bad.max_connections_per_address = 0;
        bad.strangers_held_frames_kib = 1;
        bad.attachment_quota_mib = 0;
        bad.attachment_chunk_bytes = 1;
        bad.retention.received_content_days = Some(0);
        bad.peer_requests_per_sec = f64::NAN;
        bad.peer_request_burst = 0.5;
        let problems = bad.problems();
        let fields: Vec<&str> = problems.0.iter().map(|p| p.field.as_str()).collect();
        for field in [
            "replay_window_secs",
            "max_message_age_secs",
            "directory_poll_secs",
            "retry_base_secs",
            "retry_max_secs",
            "send_wait_secs",
            "handshake_timeout_secs",
            "reconcile_secs",
            "audit_checkpoint_secs",
            "audit_witnesses",
            "audit_stranger_refusals_per_minute",
            "audit_peer_refusals_per_minute",
            "audit_admin_failures_per_minute",
            "max_connections",
            "max_stranger_connections",
            "max_connections_per_address",
            "strangers_held_frames_kib",
            "attachment_quota_mib",
            "attachment_chunk_bytes",
            "retention.received_content_days",
            "peer_requests_per_sec",
            "peer_request_burst",
        ] {
            assert!(fields.contains(&field), "{field} not named in {fields:?}");
        }
        let said = &problems.0.iter().find(|p| p.field == "send_wait_secs").expect("named").problem;
        assert_eq!(said, "is 0; allowed: 1 to 60 seconds");
    }
}
