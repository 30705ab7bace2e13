//! Disclosure packages read from files, for checking with no node.

use std::path::Path;
use veim_protocol::disclosure::{MAX_PACKAGE, Package, Verified};
use veim_protocol::keys::PublicIdentity;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a disclosure package: {reason}")]
    NotAPackage { path: String, reason: String },
    #[error("--secretariat-key: {0}")]
    Key(String),
    #[error("the package {path} does NOT verify: {reason}")]
    Failed { path: String, reason: String },
}

/// A file's bytes, if it is at most `max` bytes (`what` names it in the error).
pub(crate) fn read_at_most(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > max {
        return Err(format!("{size} bytes; {what} is at most {max}"));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// Reads and verifies a package file; `secretariat_key` (hex) pins the key.
pub fn verify_file(path: &Path, secretariat_key: Option<&str>) -> Result<Verified, VerifyError> {
    let shown = path.display().to_string();
    let bytes = read_at_most(path, MAX_PACKAGE as u64, "a package")
        .map_err(|reason| VerifyError::Read { path: shown.clone(), reason })?;
    let package: Package = serde_json::from_slice(&bytes)
        .map_err(|e| VerifyError::NotAPackage { path: shown.clone(), reason: e.to_string() })?;
    let pinned =
        secretariat_key.map(PublicIdentity::from_hex).transpose().map_err(|e| VerifyError::Key(e.to_string()))?;
    package.verify(pinned.as_ref()).map_err(|e| VerifyError::Failed { path: shown, reason: e.to_string() })
}
