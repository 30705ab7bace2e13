//! Officials' accounts at a node, and what each may do.
//!
//! Every person who works with a node has an account: a name, the roles it
//! holds, a personal token for the CLI and scripts (shown once, kept only
//! as its SHA-256), and a password for the console (kept as an Argon2id
//! hash). The admin API grants a call to an account that holds one of the
//! roles its route needs ([`Need`]), and every audit entry the call writes
//! names the account (`crate::acting`). A disabled account is refused.
//!
//! The first account, `admin`, holds every role of the node's kind; its
//! token is written to `tokens/admin.token` in the home at `veim init`, or
//! taken over from the single `admin.token` of a home made before accounts
//! existed, so that nothing an operator ran before stops working.

use crate::clock::now;
use crate::home::config::Role as NodeRole;
use crate::home::vault::Vault;
use crate::storage::{AccountRecord, Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use veim_protocol::audit::{AccountName, Action, Actor, Event};
use veim_protocol::report::Language;

/// The first account, created with the node.
pub const FIRST_ACCOUNT: &str = "admin";
/// The shortest password the console takes.
pub const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 1024;

/// What an official may do at a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountRole {
    /// Drafts and sends requests, responds, records measures, notes,
    /// attachments, closes; asks for consent; drafts reports.
    Operator,
    /// Grants or refuses consent, approves a disclosure, signs reports.
    Approver,
    /// Reads the audit log and verifies it, nothing else.
    Auditor,
    /// Accounts, configuration, keys, backups, mail.
    Administrator,
    /// On the Secretariat's node: registrations, contacts, suspension,
    /// circulated reports, meeting notices.
    DirectoryReviewer,
}

impl AccountRole {
    pub const ALL: [AccountRole; 5] = [
        AccountRole::Operator,
        AccountRole::Approver,
        AccountRole::Auditor,
        AccountRole::Administrator,
        AccountRole::DirectoryReviewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::Operator => "operator",
            AccountRole::Approver => "approver",
            AccountRole::Auditor => "auditor",
            AccountRole::Administrator => "administrator",
            AccountRole::DirectoryReviewer => "directory-reviewer",
        }
    }

    /// The roles an account may hold on a node of `kind`.
    pub fn of_node(kind: NodeRole) -> Vec<AccountRole> {
        match kind {
            NodeRole::National => {
                AccountRole::ALL.into_iter().filter(|r| *r != AccountRole::DirectoryReviewer).collect()
            }
            NodeRole::Secretariat => AccountRole::ALL.to_vec(),
        }
    }
}

impl std::fmt::Display for AccountRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AccountRole {
    type Err = String;
    fn from_str(s: &str) -> Result<AccountRole, String> {
        let s = s.trim().to_ascii_lowercase();
        AccountRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = AccountRole::ALL.iter().map(|r| r.as_str()).collect();
            format!("{s:?} is not a role; use one of {}", names.join(", "))
        })
    }
}

/// An account as the node shows it (never its token or password hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub name: AccountName,
    pub full_name: String,
    pub roles: Vec<AccountRole>,
    pub language: Language,
    pub has_password: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Account {
    fn of(r: &AccountRecord) -> Account {
        Account {
            name: r.name,
            full_name: r.full_name.clone(),
            roles: r.roles.iter().filter_map(|s| s.parse().ok()).collect(),
            language: Language::parse(&r.language).unwrap_or_default(),
            has_password: r.password.is_some(),
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }

    pub fn holds(&self, role: AccountRole) -> bool {
        self.roles.contains(&role)
    }
}

/// An account with its new personal token, shown once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WithToken {
    pub account: Account,
    /// Present it as `Authorization: Bearer TOKEN`; the node keeps only its
    /// SHA-256 and cannot show it again.
    pub token: String,
}

/// What an administrator asks for a new account.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct NewAccount {
    pub name: String,
    #[serde(default)]
    pub full_name: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// What an administrator changes in an account; what is absent stays.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AccountChange {
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new personal token (the old one stops working at once).
    #[serde(default)]
    pub new_token: bool,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
}

/// Why an account could not be made or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("an account named {0} exists already; choose another name, or change it with `veim users update`")]
    Exists(AccountName),
    #[error("no account is named {0}; `veim users list` lists them")]
    NotFound(String),
    #[error(
        "{0} is the last enabled account holding the administrator role: the node would have no one to manage its \
         accounts. Give another account that role first"
    )]
    LastAdministrator(AccountName),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An account to write, checked.
struct Made {
    name: AccountName,
    full_name: String,
    roles: Vec<AccountRole>,
    language: Language,
    password: Option<String>,
}

/// The accounts service.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Store,
    kind: NodeRole,
    /// Seals the second factors' secrets.
    vault: Arc<Vault>,
    /// The last time step whose code each account used: a code is good once.
    codes_used: Arc<Mutex<HashMap<AccountName, u64>>>,
}

/// What a login with a name, a password and perhaps a code came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Granted(Account),
    /// No enabled account of that name with that password (which one is
    /// not said to the person logging in, only recorded).
    WrongPassword,
    /// The password was right, but the account has a second factor and no
    /// code, or a wrong or used one, was given.
    WrongCode,
}

/// The issuer named in authenticator applications.
const TOTP_ISSUER: &str = "veim";

/// A second factor as an official enrols it: shown once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TotpEnrolment {
    /// `otpauth://totp/...`, for an authenticator application.
    pub otpauth: String,
    /// The secret in base32, to type by hand.
    pub secret: String,
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// 32 random bytes from the system, in hex: personal tokens, and the
/// console's session cookies and form tokens.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut bytes);
    hex::encode(bytes)
}

/// A hash of a random password, checked when no account has the name given.
static UNUSED_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default().hash_password(new_token().as_bytes()).map(|h| h.to_string()).unwrap_or_default()
});

fn hash_password(password: &str) -> Result<String, AccountError> {
    use argon2::password_hash::PasswordHasher;
    let chars = password.chars().count();
    if chars < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(AccountError::Invalid(format!(
            "the password has {chars} characters; use {MIN_PASSWORD} to {MAX_PASSWORD} (a passphrase of several words \
             is easiest to remember)"
        )));
    }
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// RFC 6238 with the parameters every authenticator application reads:
/// SHA-1, 6 digits, 30-second steps, one step of skew.
fn totp_of(name: AccountName, secret: Vec<u8>) -> Result<totp_rs::Totp, AccountError> {
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(name.as_str())
        .with_issuer(Some(TOTP_ISSUER))
        .build()
        .map_err(|e| AccountError::Invalid(format!("a second factor cannot be made: {e}")))
}

fn event(action: Action, name: AccountName, detail: String) -> Event {
    let mut e = Event::new(now(), Actor::Operator, action);
    e.object = Some(format!("account {name}"));
    e.detail = detail;
    e
}

impl Accounts {
    pub fn new(store: Store, kind: NodeRole, vault: Arc<Vault>) -> Accounts {
        Accounts { store, kind, vault, codes_used: Arc::default() }
    }

    /// A login at the console: the enabled account `name`, its password,
    /// and the code of its second factor if it has one. Takes as long for
    /// an unknown name as for a known one (a password is hashed either way).
    pub fn login(&self, name: &str, password: &str, code: &str) -> Result<Login, AccountError> {
        let Some(account) = self.check_password(name, password)? else { return Ok(Login::WrongPassword) };
        let Some(totp) = self.totp(account.name)? else { return Ok(Login::Granted(account)) };
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let Some(step) = totp.check_current(&code) else { return Ok(Login::WrongCode) };
        let Ok(mut used) = self.codes_used.lock() else { return Ok(Login::WrongCode) };
        if used.get(&account.name).is_some_and(|last| *last >= step) {
            return Ok(Login::WrongCode);
        }
        used.insert(account.name, step);
        Ok(Login::Granted(account))
    }

    /// The second factor of `name`, if it has one.
    fn totp(&self, name: AccountName) -> Result<Option<totp_rs::Totp>, AccountError> {
        let Some(sealed) = self.store.account_totp(name)? else { return Ok(None) };
        let secret = self
            .vault
            .open("account-totp", name.as_str().as_bytes(), &sealed)
            .map_err(|e| AccountError::Invalid(format!("cannot open the second factor of {name}: {e}")))?;
        totp_of(name, secret.to_vec()).map(Some)
    }

    /// Whether `name` has a second factor.
    pub fn has_totp(&self, name: AccountName) -> Result<bool, StoreError> {
        Ok(self.store.account_totp(name)?.is_some())
    }

    /// Gives `name` a new second factor (the old one stops working), shown
    /// once; or, with `enable` false, takes it away.
    pub async fn set_totp(&self, name: &str, enable: bool) -> Result<Option<TotpEnrolment>, AccountError> {
        let record = self.record(name)?;
        let name = record.name;
        if !enable {
            let e = event(Action::AccountChanged, name, "second factor removed".into());
            self.store.put_account_totp(name, None, &e)?;
            self.store.flush().await?;
            return Ok(None);
        }
        let mut secret = vec![0u8; 20];
        rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut secret);
        let totp = totp_of(name, secret.clone())?;
        let otpauth = totp.to_url().map_err(|e| AccountError::Invalid(format!("cannot write the otpauth URL: {e}")))?;
        let base32 = totp.secret().to_base32();
        let sealed = self
            .vault
            .seal("account-totp", name.as_str().as_bytes(), &secret)
            .map_err(|e| AccountError::Invalid(format!("cannot seal the second factor: {e}")))?;
        let e = event(Action::AccountChanged, name, "new second factor".into());
        self.store.put_account_totp(name, Some(&sealed), &e)?;
        self.store.flush().await?;
        if let Ok(mut used) = self.codes_used.lock() {
            used.remove(&name);
        }
        Ok(Some(TotpEnrolment { otpauth, secret: base32 }))
    }

    fn roles(&self, given: &[String]) -> Result<Vec<AccountRole>, AccountError> {
        let mut roles = Vec::new();
        for r in given {
            let role: AccountRole = r.parse().map_err(AccountError::Invalid)?;
            if !AccountRole::of_node(self.kind).contains(&role) {
                return Err(AccountError::Invalid(format!("{role} is a role of the Secretariat's node only")));
            }
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        if roles.is_empty() {
            return Err(AccountError::Invalid(
                "an account needs at least one role: operator, approver, auditor or administrator".into(),
            ));
        }
        roles.sort();
        Ok(roles)
    }

    fn language(given: Option<&str>) -> Result<Language, AccountError> {
        given
            .map(|l| {
                Language::parse(l).ok_or_else(|| {
                    AccountError::Invalid(format!("{l:?} is not a language of the console; use en, fr or es"))
                })
            })
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Every account.
    pub fn list(&self) -> Result<Vec<Account>, AccountError> {
        Ok(self.store.accounts()?.iter().map(Account::of).collect())
    }

    /// The account of `name`.
    pub fn get(&self, name: &str) -> Result<Account, AccountError> {
        Ok(Account::of(&self.record(name)?))
    }

    fn record(&self, name: &str) -> Result<AccountRecord, AccountError> {
        let parsed = AccountName::parse(name.trim()).map_err(|_| AccountError::NotFound(name.to_string()))?;
        self.store.account(parsed)?.ok_or_else(|| AccountError::NotFound(name.to_string()))
    }

    /// The enabled account whose personal token is `token`.
    pub fn authenticate(&self, token: &str) -> Result<Option<Account>, StoreError> {
        if token.is_empty() {
            return Ok(None);
        }
        Ok(self.store.account_by_token(&sha256(token))?.filter(|r| !r.disabled).map(|r| Account::of(&r)))
    }

    /// Whether `password` is the password of the enabled account `name`.
    pub fn check_password(&self, name: &str, password: &str) -> Result<Option<Account>, StoreError> {
        use argon2::password_hash::PasswordVerifier;
        let record = match AccountName::parse(name.trim()) {
            Ok(name) => self.store.account(name)?.filter(|r| !r.disabled && r.password.is_some()),
            Err(_) => None,
        };
        // With no such account, a password is still checked against a hash,
        // so that the answer's time does not tell which names exist.
        let hash = record.as_ref().and_then(|r| r.password.clone()).unwrap_or_else(|| UNUSED_HASH.clone());
        let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(&hash) else { return Ok(None) };
        let right = argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(record.filter(|_| right).map(|r| Account::of(&r)))
    }

    /// Makes an account; its token is in the answer, and nowhere else.
    pub async fn add(&self, new: &NewAccount) -> Result<WithToken, AccountError> {
        let name = AccountName::parse(new.name.trim()).map_err(AccountError::Invalid)?;
        let roles = self.roles(&new.roles)?;
        let language = Self::language(new.language.as_deref())?;
        let password = new.password.as_deref().map(hash_password).transpose()?;
        let made = Made { name, full_name: new.full_name.trim().to_string(), roles, language, password };
        self.create(made, new_token(), "").await
    }

    /// Writes a new account holding `token`; `how` ends the audit entry.
    async fn create(&self, new: Made, token: String, how: &str) -> Result<WithToken, AccountError> {
        let at = now();
        let Made { name, full_name, roles, language, password } = new;
        let record = AccountRecord {
            name,
            full_name,
            roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
            language: language.as_str().into(),
            password,
            token_sha256: sha256(&token),
            disabled: false,
            created_at: at,
            updated_at: at,
        };
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let e = event(Action::AccountCreated, name, format!("roles {}{how}", names.join(", ")));
        if !self.store.put_account(&record, true, &e)? {
            return Err(AccountError::Exists(name));
        }
        self.store.flush().await?;
        Ok(WithToken { account: Account::of(&record), token })
    }

    /// Changes an account. Taking the administrator role from, or
    /// disabling, the last enabled administrator is refused.
    pub async fn update(&self, name: &str, change: &AccountChange) -> Result<(Account, Option<String>), AccountError> {
        let mut record = self.record(name)?;
        let mut said = Vec::new();
        if let Some(roles) = &change.roles {
            let roles = self.roles(roles)?;
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            said.push(format!("roles {}", names.join(", ")));
            record.roles = names.iter().map(|s| s.to_string()).collect();
        }
        if let Some(disabled) = change.disabled
            && disabled != record.disabled
        {
            record.disabled = disabled;
            said.push(if disabled { "disabled".into() } else { "enabled".into() });
        }
        if let Some(password) = &change.password {
            record.password = Some(hash_password(password)?);
            said.push("password set".into());
        }
        if let Some(language) = &change.language {
            record.language = Self::language(Some(language))?.as_str().into();
            said.push(format!("language {}", record.language));
        }
        if let Some(full_name) = &change.full_name {
            record.full_name = full_name.trim().to_string();
            said.push("full name changed".into());
        }
        let token = change.new_token.then(new_token);
        if let Some(token) = &token {
            record.token_sha256 = sha256(token);
            said.push("new token".into());
        }
        if said.is_empty() {
            return Ok((Account::of(&record), None));
        }
        let admin = AccountRole::Administrator.as_str();
        let still_admin = !record.disabled && record.roles.iter().any(|r| r == admin);
        if !still_admin {
            let others = self
                .store
                .accounts()?
                .into_iter()
                .any(|a| a.name != record.name && !a.disabled && a.roles.iter().any(|r| r == admin));
            if !others {
                return Err(AccountError::LastAdministrator(record.name));
            }
        }
        record.updated_at = now();
        let e = event(Action::AccountChanged, record.name, said.join("; "));
        self.store.put_account(&record, false, &e)?;
        self.store.flush().await?;
        Ok((Account::of(&record), token))
    }

    /// The first account, at a node's first start: `admin` with every role
    /// of the node's kind and the token of `token_file` (written by `veim
    /// init`), or of the home's former `admin.token`, which then moves to
    /// `tokens/admin.token`. Does nothing once an account exists.
    pub async fn first(&self, home: &Path) -> Result<Option<Account>, AccountError> {
        if !self.store.accounts()?.is_empty() {
            return Ok(None);
        }
        let file = home.join(crate::home::FIRST_TOKEN_FILE);
        let former = home.join(crate::home::ADMIN_TOKEN_FILE);
        let (token, how) = match std::fs::read_to_string(&file) {
            Ok(token) => (token.trim().to_string(), ", the node's first account"),
            Err(_) => match std::fs::read_to_string(&former) {
                Ok(token) => (token.trim().to_string(), ", taken over from admin.token"),
                Err(_) => (new_token(), ", the node's first account (a new token in tokens/admin.token)"),
            },
        };
        let name = AccountName::parse(FIRST_ACCOUNT).map_err(AccountError::Invalid)?;
        let first = Made {
            name,
            full_name: String::new(),
            roles: AccountRole::of_node(self.kind),
            language: Language::En,
            password: None,
        };
        let made = self.create(first, token.clone(), how).await?;
        if !file.exists() {
            crate::home::write_token(&file, &token).map_err(|e| AccountError::Invalid(e.to_string()))?;
        }
        if former.exists() {
            let _ = std::fs::remove_file(&former);
        }
        Ok(Some(made.account))
    }
}

/// The roles a call needs: any one of them grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any enabled account (the node's status).
    Anyone,
    Roles(&'static [AccountRole]),
}

/// The roles that may call `method` on `path` of the admin API. A path not
/// named here needs the administrator role: a new route is closed until
/// it is placed.
pub fn need(method: &str, path: &str) -> Need {
    use AccountRole::*;
    const READERS: &[AccountRole] = &[Operator, Approver, Administrator, DirectoryReviewer];
    let get = method == "GET" || method == "HEAD";
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let last = parts.last().copied().unwrap_or("");
    let first = parts.first().copied().unwrap_or("");
    if path == "/v1/status" {
        return Need::Anyone;
    }
    if get {
        return match first {
            "users" => Need::Roles(&[Administrator]),
            "audit" => Need::Roles(&[Auditor, Administrator]),
            "mail" => Need::Roles(&[Administrator]),
            _ => Need::Roles(READERS),
        };
    }
    match (first, last) {
        ("users", _) | ("backup", _) | ("keys", _) | ("purge", _) | ("mail", _) => Need::Roles(&[Administrator]),
        ("consents", "decide")
        | ("consents", "revoke")
        | ("disclosures", "approve" | "refuse")
        | ("csp-reports", "approve") => Need::Roles(&[Approver]),
        // Checking a package changes nothing: those who make packages, and
        // the auditors who check them.
        ("disclosures", "verify") => Need::Roles(&[Operator, Approver, Auditor]),
        ("disclosures", _) => Need::Roles(&[Operator, Approver]),
        ("directory", "sync") | ("publications", "sync") => Need::Roles(&[Operator, DirectoryReviewer, Administrator]),
        ("directory", _) | ("contacts", "accept") | ("contacts", "reject") => Need::Roles(&[DirectoryReviewer]),
        ("reports", "circulate") | ("reports", "refuse") => Need::Roles(&[DirectoryReviewer]),
        ("meeting", "notice") | ("meeting", "recommendations") | ("meeting", "invite") => {
            Need::Roles(&[DirectoryReviewer])
        }
        ("requests", _)
        | ("exchanges", _)
        | ("attachments", _)
        | ("outbox", _)
        | ("contacts", _)
        | ("reports", _)
        | ("csp-reports", _)
        | ("meeting", "register") => Need::Roles(&[Operator]),
        _ => Need::Roles(&[Administrator]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccountRole::*;

    fn may(method: &str, path: &str, role: AccountRole) -> bool {
        match need(method, path) {
            Need::Anyone => true,
            Need::Roles(roles) => roles.contains(&role),
        }
    }

    #[test]
    fn each_role_may_do_its_own_work_and_nothing_else() {
        assert!(may("POST", "/v1/requests", Operator));
        assert!(!may("POST", "/v1/requests", Approver));
        assert!(!may("POST", "/v1/requests", Auditor));
        assert!(may("POST", "/v1/exchanges/abc/respond", Operator));
        assert!(may("POST", "/v1/consents/abc/decide", Approver));
        assert!(!may("POST", "/v1/consents/abc/decide", Operator), "an operator does not grant consent");
        assert!(may("POST", "/v1/exchanges/abc/consent", Operator), "but asks for it");
        assert!(may("POST", "/v1/disclosures", Operator), "an operator asks for a disclosure");
        assert!(may("POST", "/v1/disclosures/requests/abc/approve", Approver));
        assert!(!may("POST", "/v1/disclosures/requests/abc/approve", Operator), "an approver approves it");
        assert!(may("POST", "/v1/csp-reports/abc/approve", Approver));
        assert!(!may("POST", "/v1/csp-reports/abc/approve", Operator));
        assert!(may("POST", "/v1/csp-reports/abc/update", Operator));
        assert!(!may("GET", "/v1/inbox", Auditor), "an auditor reads the log, not the messages");
        assert!(may("GET", "/v1/inbox", Approver));
        assert!(may("GET", "/v1/status", Auditor));
        assert!(may("POST", "/v1/users", Administrator));
        assert!(!may("GET", "/v1/users", Operator));
        assert!(may("POST", "/v1/directory/approve", DirectoryReviewer));
        assert!(!may("POST", "/v1/directory/approve", Operator));
        assert!(may("POST", "/v1/meeting/invite", DirectoryReviewer));
        assert!(may("POST", "/v1/meeting/register", Operator));
        assert!(may("POST", "/v1/contacts", Operator), "a State submits its own contacts");
        assert!(may("POST", "/v1/contacts/accept", DirectoryReviewer));
        assert!(may("POST", "/v1/disclosures/verify", Auditor), "an auditor checks a package");
        assert!(!may("POST", "/v1/disclosures", Auditor), "but asks for none");
        assert!(may("GET", "/v1/audit", Auditor) && may("GET", "/v1/audit/verify", Auditor));
        assert!(may("GET", "/v1/audit/export", Administrator));
        assert!(!may("GET", "/v1/audit", Operator) && !may("GET", "/v1/audit/export", Approver));
        assert!(!may("POST", "/v1/something-new", Operator), "a route not placed is the administrator's");
    }

    #[test]
    fn roles_parse_by_name_and_the_secretariats_own_is_refused_on_a_national_node() {
        assert_eq!("directory-reviewer".parse::<AccountRole>(), Ok(DirectoryReviewer));
        assert!("clerk".parse::<AccountRole>().expect_err("not a role").contains("operator, approver, auditor"));
        assert!(!AccountRole::of_node(NodeRole::National).contains(&DirectoryReviewer));
        assert!(AccountRole::of_node(NodeRole::Secretariat).contains(&DirectoryReviewer));
    }
}
