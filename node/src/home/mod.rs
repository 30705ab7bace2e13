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
/// The single token of a home made before accounts existed: taken over by
/// the first account at the next start, and removed.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// The personal token of the node's first account, `admin`.
pub const FIRST_TOKEN_FILE: &str = "tokens/admin.token";
pub const RUNTIME_FILE: &str = "runtime.json";
pub const STORE_DIR: &str = "store";

/// Writes a file through a temporary and a rename, so a crash never leaves a
/// half-written one; `secret` files are created readable by the owner only.
/// The temporary gets a fresh name and is created exclusively, so that a
/// link planted in the folder (at a name someone could guess) is never
/// followed: the rename then replaces whatever `path` was, a link included,
/// without writing through it. The file and its folder are synced before
/// it returns.
pub fn write_file(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    replace(path, bytes, secret, true)
}

/// Replaces `path` whole as [`write_file`] does, without waiting for the
/// disk: for a file that only describes the running process.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, false, false)
}

fn replace(path: &Path, bytes: &[u8], secret: bool, sync: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir)?;
    // Created owner-only; others may read what is not secret, as before.
    #[cfg(unix)]
    if !secret {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))?;
    }
    tmp.write_all(bytes)?;
    if sync {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if sync && let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a personal token to `path` (owner-only, in an owner-only folder).
pub fn write_token(path: &Path, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    write_file(path, format!("{}\n", token.trim()).as_bytes(), true)
}

/// The token a client of the node at `home` presents: the file named by
/// `VEIM_TOKEN_FILE` when set, else the first account's
/// ([`FIRST_TOKEN_FILE`]), else a former `admin.token`.
pub fn client_token(home: &Path) -> Result<String, String> {
    let path = match std::env::var_os("VEIM_TOKEN_FILE") {
        Some(p) => PathBuf::from(p),
        None if home.join(FIRST_TOKEN_FILE).exists() => home.join(FIRST_TOKEN_FILE),
        None if home.join(ADMIN_TOKEN_FILE).exists() => home.join(ADMIN_TOKEN_FILE),
        None => home.join(FIRST_TOKEN_FILE),
    };
    let text = fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read the token in {}: {e}. Give your personal token's file with VEIM_TOKEN_FILE (an administrator \
             makes one with `veim users add`)",
            path.display()
        )
    })?;
    // A token others can read is as good as theirs: refused, as a key file
    // is, before it is sent anywhere.
    if let Err(keys::KeyFileError::TooOpen { mode, .. }) = keys::check_private(&path) {
        return Err(format!(
            "{0} is open to other users of this machine (mode {mode:o}): a personal token is its official's \
             alone. Run `chmod 600 {0}`, and have it replaced (`veim users reset NAME --token`) if others may have \
             read it",
            path.display()
        ));
    }
    let token = text.trim();
    if token.is_empty() || token.len() > 256 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{} does not hold a token", path.display()));
    }
    Ok(token.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn a_link_planted_at_the_file_or_its_old_temporary_name_is_never_written_through() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"untouched").expect("victim");
        let out = dir.path().join("package.json");
        // The name the temporary once had, and the file itself, as links.
        std::os::unix::fs::symlink(&victim, dir.path().join("package.tmp")).expect("link");
        write_file(&out, b"first", false).expect("write");
        assert_eq!(fs::read(&victim).expect("read"), b"untouched");
        assert_eq!(fs::read(&out).expect("read"), b"first");
        fs::remove_file(&out).expect("remove");
        std::os::unix::fs::symlink(&victim, &out).expect("link");
        write_file(&out, b"second", true).expect("write");
        assert_eq!(fs::read(&victim).expect("read"), b"untouched", "the link is replaced, not followed");
        assert!(!fs::symlink_metadata(&out).expect("meta").file_type().is_symlink());
        assert_eq!(fs::metadata(&out).expect("meta").permissions().mode() & 0o777, 0o600);
        write_file(&out, b"third", false).expect("write");
        assert_eq!(fs::metadata(&out).expect("meta").permissions().mode() & 0o777, 0o644);
        // No temporary is left behind.
        let left: Vec<_> = fs::read_dir(dir.path()).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 3, "{left:?}");
    }

    #[test]
    #[cfg(unix)]
    fn a_token_others_can_read_is_refused_before_it_is_sent() {
        use std::os::unix::fs::PermissionsExt;
        if std::env::var_os("VEIM_TOKEN_FILE").is_some() {
            return;
        }
        let home = tempfile::tempdir().expect("tempdir");
        let path = home.path().join(FIRST_TOKEN_FILE);
        write_token(&path, "a-token").expect("token");
        assert_eq!(client_token(home.path()).as_deref(), Ok("a-token"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        let refused = client_token(home.path()).expect_err("a token the group can read");
        assert!(refused.contains("mode 640") && refused.contains("chmod 600"), "{refused}");
        assert!(!refused.contains("a-token"), "the refusal does not show the token: {refused}");
    }
}
