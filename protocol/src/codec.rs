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

/// Why bytes did not decode, in words: bincode's own `Display` is its
/// `Debug` (`Utf8 { inner: Utf8Error { … } }`), which an operator cannot read.
fn decode_reason(e: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match e {
        E::UnexpectedEnd { additional } => format!("it ends {additional} byte(s) too early"),
        E::LimitExceeded => "it claims more data than the size limit allows".into(),
        E::InvalidIntegerType { .. } | E::NonZeroTypeIsZero { .. } | E::OutsideUsizeRange(_) => {
            "it holds a number out of range".into()
        }
        E::UnexpectedVariant { type_name, found, .. } => {
            format!("it names {type_name} number {found}, which does not exist")
        }
        E::Utf8 { inner } => format!("it holds text that is not valid UTF-8 ({inner})"),
        E::InvalidCharEncoding(_) => "it holds a character that is not valid UTF-8".into(),
        E::InvalidBooleanValue(b) => format!("it holds {b} where a yes/no (0 or 1) is expected"),
        E::ArrayLengthMismatch { required, found } => {
            format!("a list holds {found} items where {required} are expected")
        }
        E::Serde(_) => "its content does not fit the format".into(),
        E::OtherString(text) => text.clone(),
        E::Other(text) => (*text).to_string(),
        _ => "it does not follow the format".into(),
    }
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
        .map_err(|e| CodecError::Malformed { what, reason: decode_reason(&e) })?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes { what, extra: bytes.len() - used });
    }
    Ok(value)
}

#[cfg(test)]
mod readable_errors {
    use super::*;

    #[test]
    fn a_malformed_value_is_described_in_words_not_as_a_debug_value() {
        // A string whose bytes are not UTF-8.
        let mut bytes = encode("text", &"ab".to_string()).expect("encode");
        let n = bytes.len();
        bytes[n - 2..].copy_from_slice(&[0xff, 0xfe]);
        let err = decode::<String, 64>("consent", &bytes).expect_err("not UTF-8");
        let said = err.to_string();
        assert!(said.starts_with("malformed consent: it holds text that is not valid UTF-8"), "{said}");
        assert!(!said.contains("inner") && !said.contains('{'), "{said}");
        let err = decode::<(u64, String), 64>("consent", &[1]).expect_err("short");
        assert!(err.to_string().contains("too early"), "{err}");
    }
}
