//! Officials' accounts at this node: each record by name, and the SHA-256
//! of each personal token to the name it belongs to. Each change is
//! written with its audit entry in one transaction.

use super::*;
use sled::Transactional;
use veim_protocol::audit::AccountName;

/// An official's account, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AccountRecord {
    pub name: AccountName,
    /// The official's name, for people.
    pub full_name: String,
    /// The roles' names (`operator`, `approver`, `auditor`,
    /// `administrator`, `directory-reviewer`).
    pub roles: Vec<String>,
    /// `en`, `fr` or `es`.
    pub language: String,
    /// The password's Argon2id hash (PHC string), for the console's login;
    /// none until one is set.
    pub password: Option<String>,
    /// SHA-256 of the personal token the CLI and scripts present.
    pub token_sha256: [u8; 32],
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Store {
    /// Every account, by name.
    pub fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        self.accounts.iter().values().map(|v| dec("account", &v?)).collect()
    }

    pub fn account(&self, name: AccountName) -> Result<Option<AccountRecord>, StoreError> {
        self.accounts.get(name.as_str())?.map(|v| dec("account", &v)).transpose()
    }

    /// The account whose personal token hashes to `token_sha256`.
    pub fn account_by_token(&self, token_sha256: &[u8; 32]) -> Result<Option<AccountRecord>, StoreError> {
        let Some(name) = self.account_tokens.get(token_sha256)? else { return Ok(None) };
        let record = self.accounts.get(&name)?.map(|v| dec::<AccountRecord>("account", &v)).transpose()?;
        // A token is only its account's while the account holds it.
        Ok(record.filter(|r| &r.token_sha256 == token_sha256))
    }

    /// Writes `record` (new or changed) with its audit entry; its token
    /// replaces the one it held before. `new` refuses a name already taken,
    /// and `Ok(false)` says it was.
    pub fn put_account(&self, record: &AccountRecord, new: bool, event: &Event) -> Result<bool, StoreError> {
        let _writing = self.writing()?;
        let bytes = enc("account", record)?;
        let key = record.name.as_str().as_bytes().to_vec();
        (&self.accounts, &self.account_tokens, &self.meta, &self.audit)
            .transaction(|(accounts, tokens, meta, audit)| {
                let old = accounts.get(&key)?;
                if new && old.is_some() {
                    return Ok(false);
                }
                if let Some(old) = old {
                    let old: AccountRecord = dec("account", &old).map_err(abort)?;
                    if old.token_sha256 != record.token_sha256 {
                        tokens.remove(old.token_sha256.as_slice())?;
                    }
                }
                accounts.insert(key.as_slice(), bytes.as_slice())?;
                tokens.insert(record.token_sha256.as_slice(), key.as_slice())?;
                append(audit, meta, event)?;
                Ok(true)
            })
            .map_err(tx_err)
    }

    /// The sealed second-factor secret of `name`, if it has one.
    pub fn account_totp(&self, name: AccountName) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.account_totp.get(name.as_str())?.map(|v| v.to_vec()))
    }

    /// Sets (`Some`) or removes (`None`) the sealed second-factor secret of
    /// `name`, with its audit entry.
    pub fn put_account_totp(&self, name: AccountName, sealed: Option<&[u8]>, event: &Event) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let key = name.as_str().as_bytes().to_vec();
        (&self.account_totp, &self.meta, &self.audit)
            .transaction(|(totp, meta, audit)| {
                match sealed {
                    Some(sealed) => totp.insert(key.as_slice(), sealed)?,
                    None => totp.remove(key.as_slice())?,
                };
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)
    }
}
