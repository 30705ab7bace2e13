//! Confidentiality at rest: everything a node stores of a message's content
//! (bodies, consent requests and decisions, disclosures) is encrypted with a
//! storage key kept apart from the database, in `keys/storage.key` (owner-only
//! permissions), optionally wrapped with an operator passphrase (Argon2id,
//! then XChaCha20-Poly1305). Copying the store folder alone reveals no
//! content; a store altered on disk fails to decrypt instead of lying.

use crate::home::keys::{KeyFileError, check_private};
use crate::home::write_file;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use std::path::{Path, PathBuf};
use veim_protocol::codec::{self, MAX_RECORD};
use veim_protocol::{Body, MessageId};
use zeroize::Zeroizing;

/// The storage key file, under the node's home folder.
pub const STORAGE_KEY_FILE: &str = "keys/storage.key";
/// Environment variable holding the passphrase that wraps the storage key.
pub const PASSPHRASE_ENV: &str = "VEIM_STORAGE_PASSPHRASE";

const HEADER: &str = "veim storage key 1";
const WRAP_AAD: &[u8] = b"veim/1 storage key wrap";
const CHECK: &[u8] = b"veim storage key check";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    #[error(
        "the storage key {path} is missing, and this node's store holds content encrypted with it. \
         Restore the key file from the node's backup (it is kept out of the store folder on purpose); \
         without it the stored messages cannot be read, and the node does not start"
    )]
    Missing { path: PathBuf },
    #[error("the storage key {path} is damaged: {reason}. Restore it from the node's backup")]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "the storage key {path} is protected by a passphrase: set {PASSPHRASE_ENV}, or storage.passphrase_file in config.toml"
    )]
    NeedsPassphrase { path: PathBuf },
    #[error("the passphrase does not unlock the storage key {path}")]
    WrongPassphrase { path: PathBuf },
    #[error(
        "the storage key {path} does not open this store: the key belongs to another node, or the store was copied from one"
    )]
    WrongKey { path: PathBuf },
    #[error(
        "this store holds messages but no record of the storage key {path} they are sealed with: it was made by \
         another version of veim or damaged. Restore the store and its key from the node's backup"
    )]
    Unsealed { path: PathBuf },
    #[error("stored {what} does not decrypt under the storage key: the store was altered or damaged")]
    Tampered { what: &'static str },
    #[error("cannot seal {what}: it is too large for the storage cipher")]
    Seal { what: &'static str },
    #[error("cannot encode {what} for storage: {reason}")]
    Encode { what: &'static str, reason: String },
    #[error("cannot read the passphrase file {path}: {reason}")]
    Passphrase { path: PathBuf, reason: String },
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
}

/// The storage key, loaded.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

fn aad(purpose: &str, id: &[u8]) -> Vec<u8> {
    let mut out = b"veim/1 storage\0".to_vec();
    out.extend_from_slice(purpose.as_bytes());
    out.push(0);
    out.extend_from_slice(id);
    out
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut out);
    out
}

fn passphrase_key(passphrase: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, argon2::Error> {
    let mut out = Zeroizing::new([0u8; 32]);
    argon2::Argon2::default().hash_password_into(passphrase.as_bytes(), salt, out.as_mut())?;
    Ok(out)
}

impl Vault {
    fn from_key(key: &[u8; 32]) -> Vault {
        Vault { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// Encrypts `plaintext`, bound to what it is (`purpose`) and to the
    /// record it belongs to (`id`): a value moved to another record does not
    /// decrypt there. Output: 24-byte nonce, then ciphertext and tag.
    pub fn seal(&self, purpose: &'static str, id: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let nonce: [u8; 24] = random();
        let ct = self
            .cipher
            .encrypt(&nonce.into(), Payload { msg: plaintext, aad: &aad(purpose, id) })
            .map_err(|_| VaultError::Seal { what: purpose })?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    pub fn open(&self, purpose: &'static str, id: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (nonce, ct) = sealed.split_at_checked(24).ok_or(VaultError::Tampered { what: purpose })?;
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| VaultError::Tampered { what: purpose })?;
        self.cipher
            .decrypt(&nonce.into(), Payload { msg: ct, aad: &aad(purpose, id) })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Tampered { what: purpose })
    }

    /// A value that proves a key opens a store (kept in the store).
    pub fn check_value(&self) -> Result<Vec<u8>, VaultError> {
        self.seal("storage key check", b"", CHECK)
    }

    pub fn matches(&self, check: &[u8]) -> bool {
        self.open("storage key check", b"", check).is_ok_and(|v| v.as_slice() == CHECK)
    }

    /// Loads the storage key of the node at `home`. `store_check` is the
    /// check value the store holds (none for a store that never had a key):
    /// a store with content and no key file is an error, never a fresh key;
    /// so is a store with content and no check value. A passphrase given for
    /// a key file that is not wrapped yet wraps it.
    /// Returns the vault and, when the key was created now, the check value
    /// to store.
    pub fn load_or_create(
        home: &Path,
        store_check: Option<&[u8]>,
        store_has_content: bool,
        passphrase: Option<&str>,
    ) -> Result<(Vault, Option<Vec<u8>>), VaultError> {
        let path = home.join(STORAGE_KEY_FILE);
        if store_check.is_none() && store_has_content {
            return Err(VaultError::Unsealed { path });
        }
        if !path.exists() {
            if store_check.is_some() {
                return Err(VaultError::Missing { path });
            }
            let key = Zeroizing::new(random::<32>());
            Self::write(&path, &key, passphrase)?;
            let vault = Vault::from_key(&key);
            let check = vault.check_value()?;
            return Ok((vault, Some(check)));
        }
        let vault = Self::read(&path, passphrase)?;
        match store_check {
            Some(check) if !vault.matches(check) => Err(VaultError::WrongKey { path }),
            Some(_) => Ok((vault, None)),
            None => {
                let check = vault.check_value()?;
                Ok((vault, Some(check)))
            }
        }
    }

    fn write(path: &Path, key: &[u8; 32], passphrase: Option<&str>) -> Result<(), VaultError> {
        let line = match passphrase {
            None => format!("plain {}", hex::encode(key)),
            Some(p) => {
                let salt: [u8; 16] = random();
                let nonce: [u8; 24] = random();
                let wrap = passphrase_key(p, &salt)
                    .map_err(|e| VaultError::Damaged { path: path.into(), reason: e.to_string() })?;
                let ct = XChaCha20Poly1305::new((&*wrap).into())
                    .encrypt(&nonce.into(), Payload { msg: key, aad: WRAP_AAD })
                    .map_err(|_| VaultError::Damaged { path: path.into(), reason: "wrapping failed".into() })?;
                format!("argon2id {} {} {}", hex::encode(salt), hex::encode(nonce), hex::encode(ct))
            }
        };
        let text = Zeroizing::new(format!("{HEADER}\n{line}\n"));
        write_file(path, text.as_bytes(), true)
            .map_err(|source| KeyFileError::Write { path: path.to_path_buf(), source })?;
        Ok(())
    }

    fn read(path: &Path, passphrase: Option<&str>) -> Result<Vault, VaultError> {
        let damaged = |reason: &str| VaultError::Damaged { path: path.into(), reason: reason.into() };
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| VaultError::Damaged { path: path.into(), reason: e.to_string() })?,
        );
        check_private(path)?;
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(damaged("the first line is not \"veim storage key 1\""));
        }
        let fields: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
        let unhex = |s: &str| hex::decode(s).map_err(|_| damaged("a field is not hexadecimal"));
        let key: Zeroizing<Vec<u8>> = match fields.as_slice() {
            ["plain", key] => Zeroizing::new(unhex(key)?),
            ["argon2id", salt, nonce, ct] => {
                let passphrase = passphrase.ok_or_else(|| VaultError::NeedsPassphrase { path: path.into() })?;
                let nonce: [u8; 24] = unhex(nonce)?.try_into().map_err(|_| damaged("the nonce is not 24 bytes"))?;
                let wrap = passphrase_key(passphrase, &unhex(salt)?).map_err(|e| damaged(&e.to_string()))?;
                let key = XChaCha20Poly1305::new((&*wrap).into())
                    .decrypt(&nonce.into(), Payload { msg: &unhex(ct)?, aad: WRAP_AAD })
                    .map_err(|_| VaultError::WrongPassphrase { path: path.into() })?;
                Zeroizing::new(key)
            }
            _ => return Err(damaged("the second line is neither \"plain KEY\" nor \"argon2id SALT NONCE KEY\"")),
        };
        let key: &[u8; 32] = key.as_slice().try_into().map_err(|_| damaged("the key is not 32 bytes"))?;
        if fields.first() == Some(&"plain")
            && let Some(p) = passphrase
        {
            // The operator has set a passphrase: wrap the key with it now.
            Self::write(path, key, Some(p))?;
        }
        Ok(Vault::from_key(key))
    }
}

impl Vault {
    /// A message body, encoded and sealed under the message's id.
    pub fn seal_body(&self, id: MessageId, body: &Body) -> Result<Vec<u8>, VaultError> {
        let plain = Zeroizing::new(
            codec::encode("message body", body)
                .map_err(|e| VaultError::Encode { what: "message body", reason: e.to_string() })?,
        );
        self.seal("message body", &id.0, &plain)
    }

    /// The body of a stored message from its sealed content; `None` once purged.
    pub fn open_body(&self, id: MessageId, sealed: Option<&[u8]>) -> Result<Option<Body>, VaultError> {
        let Some(sealed) = sealed else { return Ok(None) };
        let plain = self.open("message body", &id.0, sealed)?;
        codec::decode::<Body, MAX_RECORD>("message body", &plain)
            .map(Some)
            .map_err(|_| VaultError::Tampered { what: "message body" })
    }
}

/// The passphrase for the storage key, if the operator set one: the
/// environment variable first, then the configured file.
pub fn passphrase(file: Option<&Path>) -> Result<Option<Zeroizing<String>>, VaultError> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV)
        && !p.is_empty()
    {
        return Ok(Some(Zeroizing::new(p)));
    }
    let Some(path) = file else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| VaultError::Passphrase { path: path.into(), reason: e.to_string() })?;
    Ok(Some(Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_where_they_were_sealed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("keys")).expect("keys dir");
        let (vault, check) = Vault::load_or_create(dir.path(), None, false, None).expect("create");
        let check = check.expect("a new key gives a check value");
        let sealed = vault.seal("message", b"id-1", b"end-user certificate 17/2016").expect("seal");
        assert!(!sealed.windows(4).any(|w| w == b"cert"));
        assert_eq!(vault.open("message", b"id-1", &sealed).expect("opens").as_slice(), b"end-user certificate 17/2016");
        assert!(matches!(vault.open("message", b"id-2", &sealed), Err(VaultError::Tampered { .. })));
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert!(vault.open("message", b"id-1", &flipped).is_err());
        // Reloaded: the same key.
        let (again, none) = Vault::load_or_create(dir.path(), Some(&check), true, None).expect("reload");
        assert!(none.is_none());
        assert!(again.open("message", b"id-1", &sealed).is_ok());
        // The key file gone while the store has content: an error, not a new key.
        std::fs::remove_file(dir.path().join(STORAGE_KEY_FILE)).expect("remove");
        let err = Vault::load_or_create(dir.path(), Some(&check), true, None).expect_err("missing key");
        assert!(err.to_string().contains("is missing"), "{err}");
        // Another node's key: named as such.
        let (_, other_check) = Vault::load_or_create(dir.path(), None, false, None).expect("another key");
        assert!(other_check.is_some());
        let err = Vault::load_or_create(dir.path(), Some(&check), true, None).expect_err("wrong key");
        assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
        // Content but no record of a key: refused, not sealed anew.
        let err = Vault::load_or_create(dir.path(), None, true, None).expect_err("unsealed store");
        assert!(matches!(err, VaultError::Unsealed { .. }), "{err}");
    }

    #[test]
    fn a_passphrase_set_later_wraps_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("keys")).expect("keys dir");
        let (vault, check) = Vault::load_or_create(dir.path(), None, false, None).expect("create");
        let check = check.expect("check");
        let sealed = vault.seal("message", b"x", b"secret").expect("seal");
        Vault::load_or_create(dir.path(), Some(&check), true, Some("staple")).expect("wraps");
        let text = std::fs::read_to_string(dir.path().join(STORAGE_KEY_FILE)).expect("read");
        assert!(text.contains("argon2id") && !text.contains("plain"), "{text}");
        let err = Vault::load_or_create(dir.path(), Some(&check), true, None).expect_err("now needs it");
        assert!(matches!(err, VaultError::NeedsPassphrase { .. }), "{err}");
        let (vault, _) = Vault::load_or_create(dir.path(), Some(&check), true, Some("staple")).expect("unlocks");
        assert_eq!(vault.open("message", b"x", &sealed).expect("opens").as_slice(), b"secret");
    }

    #[test]
    fn a_wrapped_key_needs_its_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("keys")).expect("keys dir");
        let (vault, check) = Vault::load_or_create(dir.path(), None, false, Some("correct horse")).expect("create");
        let check = check.expect("check");
        let text = std::fs::read_to_string(dir.path().join(STORAGE_KEY_FILE)).expect("read");
        assert!(text.contains("argon2id"));
        let sealed = vault.seal("message", b"x", b"secret").expect("seal");
        let err = Vault::load_or_create(dir.path(), Some(&check), true, None).expect_err("no passphrase");
        assert!(matches!(err, VaultError::NeedsPassphrase { .. }), "{err}");
        let err = Vault::load_or_create(dir.path(), Some(&check), true, Some("wrong")).expect_err("wrong passphrase");
        assert!(matches!(err, VaultError::WrongPassphrase { .. }), "{err}");
        let (vault, _) = Vault::load_or_create(dir.path(), Some(&check), true, Some("correct horse")).expect("unlocks");
        assert_eq!(vault.open("message", b"x", &sealed).expect("opens").as_slice(), b"secret");
    }
}
