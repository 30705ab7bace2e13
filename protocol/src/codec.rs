//! The one binary encoding of veim: bincode 2 with fixed-width little-endian
//! integers, and a hard size limit on every decode.
//!
//! Fixed-width integers make the format easy to describe byte by byte in SPEC.md.
//! Every decode names its limit, so a length prefix from an untrusted peer can
//! never make a node allocate more than the limit allows, and trailing bytes
//! after a value are an error rather than silently ignored.

use bincode::config::{Configuration, Fixint, LittleEndian, NoLimit};
use serde::Serialize;
use serde::de::DeserializeOwned;

const BASE: Configuration<LittleEndian, Fixint, NoLimit> = bincode::config::standard().with_fixed_int_encoding();

/// Largest wire frame a node accepts: one request or response on the protocol.
pub const MAX_FRAME: usize = 8 * 1024 * 1024;
/// Largest decrypted message body.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Largest signed directory version.
pub const MAX_DIRECTORY: usize = 2 * 1024 * 1024;
/// Largest record kept in a node's store.
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("could not encode {what}: {reason}")]
    Encode { what: &'static str, reason: String },
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("{what} is {len} bytes, over the limit of {limit} bytes")]
    TooLarge { what: &'static str, len: usize, limit: usize },
    #[error("{what} has {extra} unexpected trailing bytes")]
    TrailingBytes { what: &'static str, extra: usize },
}

/// Encodes a value. Encoding only fails for values that serde cannot represent,
/// which no veim type is; the error is still returned rather than hidden.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, BASE).map_err(|e| CodecError::Encode { what, reason: e.to_string() })
}

/// Decodes exactly one value from `bytes`, refusing input longer than `LIMIT`
/// bytes before looking at it, any allocation the limit does not allow, and
/// trailing bytes.
pub fn decode<T: DeserializeOwned, const LIMIT: usize>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > LIMIT {
        return Err(CodecError::TooLarge { what, len: bytes.len(), limit: LIMIT });
    }
    let config = BASE.with_limit::<LIMIT>();
    let (value, used) = bincode::serde::decode_from_slice(bytes, config)
        .map_err(|e| CodecError::Malformed { what, reason: e.to_string() })?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes { what, extra: bytes.len() - used });
    }
    Ok(value)
}
