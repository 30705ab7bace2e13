//! Disclosure packages read from files, for checking with no node.

use std::path::Path;
use veim_protocol::disclosure::{Package, Verified};
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

/// Largest package file read (the items are text; the proofs are envelopes).
const MAX_PACKAGE: u64 = 64 * 1024 * 1024;

/// Reads and verifies a package file; `secretariat_key` (hex) pins the key.
pub fn verify_file(path: &Path, secretariat_key: Option<&str>) -> Result<Verified, VerifyError> {
    let shown = path.display().to_string();
    let read = |reason: String| VerifyError::Read { path: shown.clone(), reason };
    let size = std::fs::metadata(path).map_err(|e| read(e.to_string()))?.len();
    if size > MAX_PACKAGE {
        return Err(read(format!("{size} bytes; a package is at most {MAX_PACKAGE}")));
    }
    let bytes = std::fs::read(path).map_err(|e| read(e.to_string()))?;
    let package: Package = serde_json::from_slice(&bytes)
        .map_err(|e| VerifyError::NotAPackage { path: shown.clone(), reason: e.to_string() })?;
    let pinned =
        secretariat_key.map(PublicIdentity::from_hex).transpose().map_err(|e| VerifyError::Key(e.to_string()))?;
    package.verify(pinned.as_ref()).map_err(|e| VerifyError::Failed { path: shown, reason: e.to_string() })
}
