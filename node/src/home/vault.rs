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
        "the storage key {path} is protected by a passphrase: set {PASSPHRASE_ENV} or {PASSPHRASE_FILE_ENV}, give the \
         service the credential {PASSPHRASE_CREDENTIAL}, or set storage.passphrase_file in config.toml"
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

/// The Argon2id cost of wrapping the storage key with a passphrase: what
/// RFC 9106 (section 4) recommends where memory is constrained, 64 MiB and 3
/// passes, not the crate's interactive-login minimum. A key at rest is
/// unwrapped once per start, so a second of work costs the operator nothing
/// and multiplies an attacker's cost per guess. Recorded in the key file,
/// so that costs can be raised later without losing older files.
const WRAP_COST: Cost = Cost { m_kib: 64 * 1024, t: 3, p: 1 };

/// What the first wrapped files were made with (the crate's defaults); a
/// file that records no cost was made with these, and is wrapped anew with
/// [`WRAP_COST`] when it is next opened.
const FIRST_COST: Cost = Cost { m_kib: 19 * 1024, t: 2, p: 1 };

/// Argon2id costs: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cost {
    m_kib: u32,
    t: u32,
    p: u32,
}

impl Cost {
    /// As written in the key file: `m=65536,t=3,p=1`.
    fn field(&self) -> String {
        format!("m={},t={},p={}", self.m_kib, self.t, self.p)
    }

    /// Parses the field, refusing costs no file of ours holds (a damaged or
    /// planted file must not make the node allocate without bound).
    fn parse(field: &str) -> Option<Cost> {
        let mut cost = Cost { m_kib: 0, t: 0, p: 0 };
        for part in field.split(',') {
            let (k, v) = part.split_once('=')?;
            let v: u32 = v.parse().ok()?;
            match k {
                "m" => cost.m_kib = v,
                "t" => cost.t = v,
                "p" => cost.p = v,
                _ => return None,
            }
        }
        let sane =
            (8..=4 * 1024 * 1024).contains(&cost.m_kib) && (1..=64).contains(&cost.t) && (1..=16).contains(&cost.p);
        sane.then_some(cost)
    }
}

fn passphrase_key(passphrase: &str, salt: &[u8], cost: Cost) -> Result<Zeroizing<[u8; 32]>, argon2::Error> {
    let params = argon2::Params::new(cost.m_kib, cost.t, cost.p, Some(32))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(passphrase.as_bytes(), salt, out.as_mut())?;
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
                let wrap = passphrase_key(p, &salt, WRAP_COST)
                    .map_err(|e| VaultError::Damaged { path: path.into(), reason: e.to_string() })?;
                let ct = XChaCha20Poly1305::new((&*wrap).into())
                    .encrypt(&nonce.into(), Payload { msg: key, aad: WRAP_AAD })
                    .map_err(|_| VaultError::Damaged { path: path.into(), reason: "wrapping failed".into() })?;
                format!(
                    "argon2id {} {} {} {}",
                    WRAP_COST.field(),
                    hex::encode(salt),
                    hex::encode(nonce),
                    hex::encode(ct)
                )
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
        let wrapped = match fields.as_slice() {
            ["plain", _] => None,
            ["argon2id", cost, salt, nonce, ct] => Some((
                Cost::parse(cost).ok_or_else(|| damaged("the Argon2id costs are not m=…,t=…,p=…"))?,
                salt,
                nonce,
                ct,
            )),
            // Written before the costs were recorded.
            ["argon2id", salt, nonce, ct] => Some((FIRST_COST, salt, nonce, ct)),
            _ => {
                return Err(damaged("the second line is neither \"plain KEY\" nor \"argon2id COSTS SALT NONCE KEY\""));
            }
        };
        let key: Zeroizing<Vec<u8>> = match (wrapped, fields.as_slice()) {
            (None, [_, key]) => Zeroizing::new(unhex(key)?),
            (Some((cost, salt, nonce, ct)), _) => {
                let passphrase = passphrase.ok_or_else(|| VaultError::NeedsPassphrase { path: path.into() })?;
                let nonce: [u8; 24] = unhex(nonce)?.try_into().map_err(|_| damaged("the nonce is not 24 bytes"))?;
                let wrap = passphrase_key(passphrase, &unhex(salt)?, cost).map_err(|e| damaged(&e.to_string()))?;
                let key = XChaCha20Poly1305::new((&*wrap).into())
                    .decrypt(&nonce.into(), Payload { msg: &unhex(ct)?, aad: WRAP_AAD })
                    .map_err(|_| VaultError::WrongPassphrase { path: path.into() })?;
                Zeroizing::new(key)
            }
            (None, _) => return Err(damaged("the key line has no key")),
        };
        let key: &[u8; 32] = key.as_slice().try_into().map_err(|_| damaged("the key is not 32 bytes"))?;
        let cost = wrapped.map(|(cost, ..)| cost);
        if let Some(p) = passphrase
            && cost != Some(WRAP_COST)
        {
            // A passphrase set since (the key is plain), or a key wrapped at
            // older costs: wrap it now, as keys are wrapped today.
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

/// Environment variable naming a file that holds the passphrase (a
/// container's secret, for instance); it takes precedence over
/// `storage.passphrase_file`.
pub const PASSPHRASE_FILE_ENV: &str = "VEIM_STORAGE_PASSPHRASE_FILE";
/// The name of the systemd credential holding the passphrase
/// (`LoadCredentialEncrypted=storage-passphrase:…`), read from
/// `$CREDENTIALS_DIRECTORY`.
pub const PASSPHRASE_CREDENTIAL: &str = "storage-passphrase";

/// Where a passphrase may come from, strongest first: the value itself
/// (`VEIM_STORAGE_PASSPHRASE`), the service manager's credential, a file
/// named in the environment, the file named in `config.toml`.
#[derive(Debug, Default)]
pub struct PassphraseSources {
    pub value: Option<Zeroizing<String>>,
    /// `$CREDENTIALS_DIRECTORY`, set by systemd for a unit with credentials.
    pub credentials_dir: Option<PathBuf>,
    pub file_from_env: Option<PathBuf>,
    pub file_from_config: Option<PathBuf>,
}

impl PassphraseSources {
    /// The sources this process was given, with `storage.passphrase_file`.
    pub fn from_env(configured: Option<&Path>) -> PassphraseSources {
        let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        PassphraseSources {
            value: std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty()).map(Zeroizing::new),
            credentials_dir: set("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            file_from_env: set(PASSPHRASE_FILE_ENV).map(PathBuf::from),
            file_from_config: configured.map(Path::to_path_buf),
        }
    }

    /// The passphrase, or none when no source holds one. A credential
    /// directory without the credential is no passphrase (the unit may hold
    /// other credentials); a file that is named must exist and be private.
    pub fn read(self) -> Result<Option<Zeroizing<String>>, VaultError> {
        if let Some(p) = self.value {
            return Ok(Some(p));
        }
        let credential = self.credentials_dir.map(|d| d.join(PASSPHRASE_CREDENTIAL)).filter(|c| c.exists());
        let Some(path) = credential.or(self.file_from_env).or(self.file_from_config) else { return Ok(None) };
        let text = Zeroizing::new(
            std::fs::read_to_string(&path)
                .map_err(|e| VaultError::Passphrase { path: path.clone(), reason: e.to_string() })?,
        );
        // A passphrase others can read protects nothing, as a key file would not.
        check_private(&path)?;
        Ok(Some(Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_string())))
    }
}

/// The passphrase for the storage key, if the operator set one (see
/// [`PassphraseSources`] for where it is looked for, in which order).
pub fn passphrase(configured: Option<&Path>) -> Result<Option<Zeroizing<String>>, VaultError> {
    PassphraseSources::from_env(configured).read()
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
    fn a_wrapped_key_records_its_costs_and_one_wrapped_at_older_costs_is_wrapped_anew() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("keys")).expect("keys dir");
        let path = dir.path().join(STORAGE_KEY_FILE);
        // As the first releases wrote it: no costs recorded, the crate's defaults.
        let key = [7u8; 32];
        let (salt, nonce) = ([1u8; 16], [2u8; 24]);
        let wrap = passphrase_key("staple", &salt, FIRST_COST).expect("derive");
        let ct = XChaCha20Poly1305::new((&*wrap).into())
            .encrypt(&nonce.into(), Payload { msg: &key, aad: WRAP_AAD })
            .expect("wrap");
        let old = format!("{HEADER}\nargon2id {} {} {}\n", hex::encode(salt), hex::encode(nonce), hex::encode(ct));
        write_file(&path, old.as_bytes(), true).expect("write");
        let check = Vault::from_key(&key).check_value().expect("check");
        Vault::load_or_create(dir.path(), Some(&check), true, Some("staple")).expect("an older file opens");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(&format!("argon2id {} ", WRAP_COST.field())), "wrapped anew: {text}");
        assert_eq!(WRAP_COST.field(), "m=65536,t=3,p=1");
        let (vault, _) = Vault::load_or_create(dir.path(), Some(&check), true, Some("staple")).expect("reopens");
        assert!(vault.matches(&check));
        // Costs out of bounds are refused before anything is allocated.
        for bad in ["m=99999999999,t=3,p=1", "m=65536,t=0,p=1", "m=65536,t=3", "x=1"] {
            assert!(Cost::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_passphrase_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("passphrase");
        std::fs::write(&file, "correct horse\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = passphrase(Some(&file)).expect_err("readable by others");
            assert!(err.to_string().contains(&file.display().to_string()), "{err}");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        assert_eq!(passphrase(Some(&file)).expect("owner only").as_deref().map(|p| p.as_str()), Some("correct horse"));
    }

    #[test]
    fn the_passphrase_is_the_value_then_the_credential_then_the_file_in_the_environment_then_the_configured_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let private = |name: &str, text: &str| {
            let path = dir.path().join(name);
            write_file(&path, text.as_bytes(), true).expect("write");
            path
        };
        let credentials = dir.path().join("credentials");
        std::fs::create_dir(&credentials).expect("credentials dir");
        write_file(&credentials.join(PASSPHRASE_CREDENTIAL), b"from systemd\n", true).expect("credential");
        let sources = || PassphraseSources {
            value: Some(Zeroizing::new("from the value".into())),
            credentials_dir: Some(credentials.clone()),
            file_from_env: Some(private("env", "from the env file\r\n")),
            file_from_config: Some(private("config", "from config.toml")),
        };
        let read = |s: PassphraseSources| s.read().expect("read").map(|p| p.as_str().to_string());
        assert_eq!(read(sources()).as_deref(), Some("from the value"));
        assert_eq!(read(PassphraseSources { value: None, ..sources() }).as_deref(), Some("from systemd"));
        let no_credential = || PassphraseSources { value: None, credentials_dir: None, ..sources() };
        assert_eq!(read(no_credential()).as_deref(), Some("from the env file"));
        // A unit with other credentials but not this one: the files still count.
        let elsewhere = PassphraseSources { credentials_dir: Some(dir.path().join("none")), ..no_credential() };
        assert_eq!(read(elsewhere).as_deref(), Some("from the env file"));
        let config_only = PassphraseSources { file_from_env: None, ..no_credential() };
        assert_eq!(read(config_only).as_deref(), Some("from config.toml"));
        assert_eq!(read(PassphraseSources::default()), None);
        // A named file that is missing, or that others can read, is an error, not "no passphrase".
        let missing = PassphraseSources { file_from_env: Some(dir.path().join("gone")), ..Default::default() };
        assert!(matches!(missing.read(), Err(VaultError::Passphrase { .. })));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let credential = credentials.join(PASSPHRASE_CREDENTIAL);
            std::fs::set_permissions(&credential, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let open = PassphraseSources { credentials_dir: Some(credentials.clone()), ..Default::default() };
            let err = open.read().expect_err("readable by others");
            assert!(err.to_string().contains(PASSPHRASE_CREDENTIAL), "{err}");
        }
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
