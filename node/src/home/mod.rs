//! The node's home folder: everything a node is, in one folder.
//!
//! Its configuration (`config.toml`), its keys (owner-only permissions), the
//! storage key, the admin token, the sled store, the audit files, and, while
//! it runs, the addresses it actually bound (`runtime.json`), which the CLI
//! reads to find the admin API. `init_home` is the one place that makes a
//! home: configuration, keys and storage key together, or nothing.

pub mod config;
pub mod keys;
pub mod vault;

use config::{Config, ConfigError};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.toml";
pub const KEYS_DIR: &str = "keys";
pub const IDENTITY_KEY_FILE: &str = "keys/identity.key";
pub const ENCRYPTION_KEY_FILE: &str = "keys/encryption.key";
/// Keys made by `veim keys rotate` (identity then encryption secret, one per
/// line, written in one atomic step), used once the directory carries them.
pub const NEXT_KEYS_FILE: &str = "keys/next.keys";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
pub const RUNTIME_FILE: &str = "runtime.json";
pub const STORE_DIR: &str = "store";

/// Writes a file through a temporary and a rename, so a crash never leaves a
/// half-written one; `secret` files are created readable by the owner only.
pub fn write_file(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if secret { 0o600 } else { 0o644 });
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// What a running node publishes about itself in its home folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Runtime {
    pub pid: u32,
    pub peer_id: String,
    pub admin: String,
    pub listen: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    #[error("the configuration is not valid: {0}")]
    Invalid(config::ConfigProblem),
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Keys(#[from] keys::KeyFileError),
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
}

/// Creates a node's home folder: configuration, keys, storage key and admin
/// token, all or nothing.
pub fn init_home(home: &Path, config: &Config) -> Result<keys::NodeKeys, InitError> {
    config.check().map_err(InitError::Invalid)?;
    if home.join(CONFIG_FILE).exists() {
        return Err(ConfigError::AlreadyInitialised { path: home.join(CONFIG_FILE) }.into());
    }
    let existed = home.exists();
    let result = (|| {
        fs::create_dir_all(home).map_err(|source| InitError::Create { path: home.to_path_buf(), source })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(home, fs::Permissions::from_mode(0o700))
                .map_err(|source| InitError::Create { path: home.to_path_buf(), source })?;
        }
        let keys = keys::NodeKeys::create(home)?;
        let passphrase = vault::passphrase(config.storage.passphrase_file.as_deref())?;
        vault::Vault::load_or_create(home, None, false, passphrase.as_deref().map(|p| p.as_str()))?;
        config.create(home)?;
        Ok(keys)
    })();
    // A failed init leaves no half-made node behind that would block the next try.
    if result.is_err() && !existed {
        let _ = fs::remove_dir_all(home);
    }
    result
}
