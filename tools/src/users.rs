//! `veim users`: officials' accounts at a node, through the admin API
//! (administrator role).

use crate::client::{AdminClient, ClientError};
use crate::publish::Printed;
use crate::render::time;
use clap::Subcommand;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use veim_node::accounts::{Account, AccountChange, NewAccount, TotpEnrolment, WithToken};
use veim_node::api::{AccountUpdated, TotpChange};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Make an account for an official, with its roles; prints its personal token once
    /// (or writes it to --token-out), which the official gives the CLI with VEIM_TOKEN_FILE.
    #[command(
        after_help = "Examples:\n  veim users add maria --role operator --full-name \"María López\" --language es --token-out maria.token\n  veim users add jorge --role approver --password-file jorge.pass"
    )]
    Add {
        /// 1 to 32 characters: a-z, 0-9, '.', '-', '_', beginning with a letter.
        name: String,
        /// operator, approver, auditor, administrator (directory-reviewer on the Secretariat's
        /// node); repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The official's name, for people (e.g. "María López").
        #[arg(long, default_value = "")]
        full_name: String,
        /// en, fr or es: the language of the console and of the official's mails.
        #[arg(long)]
        language: Option<String>,
        /// A file holding the console password (at least 12 characters); `-` reads standard input.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Write the token to this new file (owner-only) instead of printing it.
        #[arg(long)]
        token_out: Option<PathBuf>,
    },
    /// Every account, with its roles and whether it is enabled.
    #[command(after_help = "Example:\n  veim users list --json")]
    List,
    /// One account.
    #[command(after_help = "Example:\n  veim users show maria")]
    Show {
        /// The account's name.
        name: String,
    },
    /// Change an account's roles (the ones given replace the ones held), language or name.
    #[command(after_help = "Example:\n  veim users update maria --role operator --role approver")]
    Update {
        /// The account's name.
        name: String,
        /// The roles it holds from now on; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// en, fr or es.
        #[arg(long)]
        language: Option<String>,
        /// The official's name, for people.
        #[arg(long)]
        full_name: Option<String>,
    },
    /// Disable an account: its token and password stop working at once; nothing it did is lost.
    #[command(after_help = "Example:\n  veim users disable maria")]
    Disable {
        /// The account's name.
        name: String,
    },
    /// Enable a disabled account again.
    #[command(after_help = "Example:\n  veim users enable maria")]
    Enable {
        /// The account's name.
        name: String,
    },
    /// Give an account a new personal token (the old one stops working) and/or a new password.
    #[command(
        after_help = "Examples:\n  veim users reset maria --token --token-out maria.token\n  veim users reset maria --password-file maria.pass"
    )]
    Reset {
        /// The account's name.
        name: String,
        /// A new personal token.
        #[arg(long)]
        token: bool,
        /// A file holding the new console password; `-` reads standard input.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Write the new token to this new file (owner-only) instead of printing it.
        #[arg(long)]
        token_out: Option<PathBuf>,
    },
    /// Give an account a second factor for the console's login (a code from an authenticator
    /// application, RFC 6238): prints its otpauth:// URL and secret once; the old one stops
    /// working. With --off, the account logs in with its password alone.
    #[command(after_help = "Examples:\n  veim users totp maria\n  veim users totp maria --off")]
    Totp {
        /// The account's name.
        name: String,
        /// Take the second factor away.
        #[arg(long)]
        off: bool,
    },
}

fn printed<T: serde::Serialize>(value: &T, text: String) -> Result<Printed, ClientError> {
    let json = serde_json::to_value(value).map_err(|e| ClientError::Local(e.to_string()))?;
    Ok(Printed { json, text })
}

fn read_password(path: &Path) -> Result<String, ClientError> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| ClientError::Local(format!("cannot read standard input: {e}")))?
    } else {
        std::fs::read_to_string(path).map_err(|e| ClientError::Local(format!("cannot read {}: {e}", path.display())))?
    };
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Where the token goes: a new owner-only file, or the text printed.
fn hand_over(token: &str, out: Option<&Path>) -> Result<String, ClientError> {
    match out {
        Some(path) => {
            use std::io::Write as _;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| {
                ClientError::Refused(format!(
                    "cannot create {}: {e} (an existing file is never overwritten)",
                    path.display()
                ))
            })?;
            file.write_all(format!("{token}\n").as_bytes())
                .map_err(|e| ClientError::Local(format!("cannot write {}: {e}", path.display())))?;
            Ok(format!(
                "Its personal token is in {} (owner-only): give it to the official, who runs the CLI with \
                 VEIM_TOKEN_FILE={}.\n",
                path.display(),
                path.display()
            ))
        }
        None => Ok(format!(
            "Its personal token, shown this once (the node keeps only its hash):\n  {token}\nThe official keeps it in \
             a file only they can read and runs the CLI with VEIM_TOKEN_FILE=that-file.\n"
        )),
    }
}

fn line(a: &Account) -> String {
    let roles: Vec<&str> = a.roles.iter().map(|r| r.as_str()).collect();
    format!(
        "{}{} [{}] {}{}{}",
        a.name,
        if a.full_name.is_empty() { String::new() } else { format!(" ({})", a.full_name) },
        roles.join(", "),
        a.language,
        if a.has_password { ", console password set" } else { "" },
        if a.disabled { ", DISABLED" } else { "" }
    )
}

pub fn users(api: &AdminClient, command: UsersCommand) -> Result<Printed, ClientError> {
    match command {
        UsersCommand::Add { name, roles, full_name, language, password_file, token_out } => {
            let password = password_file.as_deref().map(read_password).transpose()?;
            let new = NewAccount { name, full_name, roles, language, password };
            let made: WithToken = api.post("/v1/users", &new)?;
            let mut text = format!("Account made: {}\n", line(&made.account));
            text.push_str(&hand_over(&made.token, token_out.as_deref())?);
            let shown = if token_out.is_some() { WithToken { token: String::new(), ..made } } else { made };
            printed(&shown, text)
        }
        UsersCommand::List => {
            let all: Vec<Account> = api.get("/v1/users")?;
            let mut text = String::new();
            for a in &all {
                let _ = writeln!(text, "{}", line(a));
            }
            printed(&all, text)
        }
        UsersCommand::Show { name } => {
            let a: Account = api.get(&format!("/v1/users/{name}"))?;
            let text = format!("{}\n  made {}, last changed {}\n", line(&a), time(a.created_at), time(a.updated_at));
            printed(&a, text)
        }
        UsersCommand::Update { name, roles, language, full_name } => {
            let change = AccountChange {
                roles: (!roles.is_empty()).then_some(roles),
                language,
                full_name,
                ..AccountChange::default()
            };
            let done: AccountUpdated = api.post(&format!("/v1/users/{name}"), &change)?;
            printed(&done, format!("Account changed: {}\n", line(&done.account)))
        }
        UsersCommand::Disable { name } => {
            let change = AccountChange { disabled: Some(true), ..AccountChange::default() };
            let done: AccountUpdated = api.post(&format!("/v1/users/{name}"), &change)?;
            printed(&done, format!("Account disabled: {}\n", line(&done.account)))
        }
        UsersCommand::Enable { name } => {
            let change = AccountChange { disabled: Some(false), ..AccountChange::default() };
            let done: AccountUpdated = api.post(&format!("/v1/users/{name}"), &change)?;
            printed(&done, format!("Account enabled: {}\n", line(&done.account)))
        }
        UsersCommand::Reset { name, token, password_file, token_out } => {
            if !token && password_file.is_none() {
                return Err(ClientError::Invalid("say what to reset: --token, --password-file, or both".into()));
            }
            let password = password_file.as_deref().map(read_password).transpose()?;
            let change = AccountChange { new_token: token, password, ..AccountChange::default() };
            let done: AccountUpdated = api.post(&format!("/v1/users/{name}"), &change)?;
            let mut text = format!("Account reset: {}\n", line(&done.account));
            if let Some(t) = &done.token {
                text.push_str(&hand_over(t, token_out.as_deref())?);
            }
            let shown = if token_out.is_some() { AccountUpdated { token: None, ..done } } else { done };
            printed(&shown, text)
        }
        UsersCommand::Totp { name, off } => {
            let change = TotpChange { enable: !off };
            let done: Option<TotpEnrolment> = api.post(&format!("/v1/users/{name}/totp"), &change)?;
            let text = match &done {
                None => format!("{name} now logs in to the console with the password alone.\n"),
                Some(e) => format!(
                    "Second factor of {name} (shown once; give it to the official alone):\n  {}\n  secret {}\nAdd it \
                     to an authenticator application (scan or type it); the console then asks for its \
                     6-digit code at each login.\n",
                    e.otpauth, e.secret
                ),
            };
            printed(&done, text)
        }
    }
}
