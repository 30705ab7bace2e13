//! Serde for fixed-size byte arrays of any length.
//!
//! serde only implements arrays up to 32 elements; signatures (64 bytes) and
//! wrapped keys (48 bytes) are longer. Arrays are written as tuples, so bincode
//! puts the bytes on the wire with no length prefix, as SPEC.md describes. In
//! human-readable formats (JSON, TOML) they are hexadecimal strings.

use serde::de::{Error, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        return s.serialize_str(&hex::encode(bytes));
    }
    let mut t = s.serialize_tuple(N)?;
    for b in bytes {
        t.serialize_element(b)?;
    }
    t.end()
}

pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    struct ArrayVisitor<const N: usize>;
    impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }
    if d.is_human_readable() {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text.trim()).map_err(|_| D::Error::custom(format!("{text:?} is not hexadecimal")))?;
        return bytes
            .try_into()
            .map_err(|b: Vec<u8>| D::Error::custom(format!("{} bytes where {N} are expected", b.len())));
    }
    d.deserialize_tuple(N, ArrayVisitor::<N>)
}

/// 32 bytes (a salt, a digest): bare on the wire, hexadecimal in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bytes32(#[serde(with = "self")] pub [u8; 32]);

impl fmt::Debug for Bytes32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
