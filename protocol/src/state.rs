//! State codes: ISO 3166-1 alpha-3, checked against the `celes` country table.
//!
//! The working paper speaks of States Parties; the directory, the request
//! template and every envelope name them by their alpha-3 code ("MEX", "SWE").
//! A code that is not in ISO 3166-1 is refused wherever it enters.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An ISO 3166-1 alpha-3 code, always upper case. On the wire it is three
/// ASCII bytes; in JSON and TOML it is a string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateCode([u8; 3]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an ISO 3166-1 alpha-3 State code (examples: MEX, SWE, NGA)")]
pub struct UnknownStateCode(pub String);

impl StateCode {
    pub fn as_str(&self) -> &str {
        // Only ever built from upper-case ASCII, checked in `from_str`.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    pub fn as_bytes(&self) -> &[u8; 3] {
        &self.0
    }

    /// Every code of the ISO 3166-1 table, in alphabetical order.
    pub fn all() -> Vec<StateCode> {
        let mut all: Vec<StateCode> =
            celes::Country::get_countries().iter().filter_map(|c| c.alpha3.parse().ok()).collect();
        all.sort();
        all.dedup();
        all
    }

    /// The country's name as ISO 3166 gives it.
    pub fn name(&self) -> &'static str {
        celes::Country::from_alpha3(self.as_str()).map(|c| c.long_name).unwrap_or("unknown")
    }

    /// The wire form: exactly three upper-case ASCII letters. Unlike `from_str`
    /// this does not fold case, so that every accepted encoding is the one the
    /// value re-encodes to (signatures are checked over re-encoded values).
    fn from_bytes(bytes: [u8; 3]) -> Result<Self, UnknownStateCode> {
        let s = String::from_utf8_lossy(&bytes).into_owned();
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(UnknownStateCode(s));
        }
        s.parse()
    }
}

impl FromStr for StateCode {
    type Err = UnknownStateCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let bytes: [u8; 3] = upper.as_bytes().try_into().map_err(|_| UnknownStateCode(s.to_string()))?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(UnknownStateCode(s.to_string()));
        }
        match celes::Country::from_alpha3(&upper) {
            Ok(c) if c.alpha3.eq_ignore_ascii_case(&upper) => Ok(StateCode(bytes)),
            _ => Err(UnknownStateCode(s.to_string())),
        }
    }
}

impl fmt::Display for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StateCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(self.as_str()) } else { self.0.serialize(s) }
    }
}

impl<'de> Deserialize<'de> for StateCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(D::Error::custom)
        } else {
            let bytes = <[u8; 3]>::deserialize(d)?;
            StateCode::from_bytes(bytes).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_parse_in_any_case() {
        assert_eq!("mex".parse::<StateCode>().map(|c| c.to_string()), Ok("MEX".into()));
        assert_eq!("SWE".parse::<StateCode>().map(|c| c.name()), Ok("Sweden"));
    }

    #[test]
    fn unknown_or_malformed_codes_are_refused() {
        for bad in ["XXX", "MX", "MEXX", "", "M3X", "ÉÉÉ"] {
            assert!(bad.parse::<StateCode>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn wire_form_is_three_bytes() {
        let code: StateCode = "NGA".parse().expect("NGA");
        let bytes = crate::codec::encode("state", &code).expect("encode");
        assert_eq!(bytes, b"NGA");
        let back: StateCode = crate::codec::decode::<_, 3>("state", &bytes).expect("decode");
        assert_eq!(back, code);
        assert!(crate::codec::decode::<StateCode, 3>("state", b"ZZZ").is_err());
        // Only the canonical upper-case form is accepted on the wire.
        assert!(crate::codec::decode::<StateCode, 3>("state", b"nga").is_err());
    }
}
