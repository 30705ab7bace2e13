//! Message and exchange identifiers: 128 bits, shown as 32 hex digits.
//!
//! A message id and an attachment id begin with the 3 bytes of the code of
//! the State that made them, then 13 random bytes: a receiver checks the
//! prefix against the sender, so that no State can take an id another State
//! has used (a co-recipient learns the ids of what it receives).

use rand_core::CryptoRng;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// A fresh random identifier.
            pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        /// 16 bytes on the wire; 32 hex digits in JSON and TOML.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() { s.serialize_str(&self.to_hex()) } else { self.0.serialize(s) }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    String::deserialize(d)?.parse().map_err(D::Error::custom)
                } else {
                    Ok(Self(<[u8; 16]>::deserialize(d)?))
                }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let bytes = hex::decode(s.trim())
                    .map_err(|_| format!("{} {s:?} is not hexadecimal", $label))?;
                let bytes: [u8; 16] = bytes.try_into().map_err(|_| {
                    format!("{} {s:?} must be 32 hexadecimal digits", $label)
                })?;
                Ok(Self(bytes))
            }
        }
    };
}

id_type!(
    /// Identifies one message (one envelope) network-wide.
    MessageId,
    "message id"
);
id_type!(
    /// Identifies one exchange: a request and everything said in answer to it.
    ExchangeId,
    "exchange id"
);

/// Ids that name what one State made: its code, then 104 random bits.
macro_rules! issued_id {
    ($name:ident) => {
        impl $name {
            /// A fresh id for something `issuer` makes.
            pub fn issued_by<R: CryptoRng + ?Sized>(issuer: crate::StateCode, rng: &mut R) -> Self {
                let mut bytes = [0u8; 16];
                bytes[..3].copy_from_slice(issuer.as_bytes());
                rng.fill_bytes(&mut bytes[3..]);
                Self(bytes)
            }

            /// How many hex digits of such an id operators are shown and
            /// type: the issuer's code (6) and 4 random bytes (8). Fewer
            /// would leave one byte of chance between two ids of one State.
            pub const SHORT_HEX: usize = 14;

            /// Whether the id begins with `issuer`'s code, as every id that
            /// State makes must.
            pub fn is_issued_by(&self, issuer: crate::StateCode) -> bool {
                self.0[..3] == *issuer.as_bytes()
            }
        }
    };
}

issued_id!(MessageId);
issued_id!(AttachmentId);
issued_id!(ReportId);

impl ExchangeId {
    /// The id of the exchange a request opens: the first 16 bytes of
    /// SHA-256("veim/1 exchange id" || 0x00 || originator || message id).
    /// Deriving it binds the exchange to the State that opened it, so no other
    /// State can open an exchange under the same id first.
    pub fn for_request(originator: crate::StateCode, message_id: MessageId) -> ExchangeId {
        let mut payload = originator.as_bytes().to_vec();
        payload.extend_from_slice(&message_id.0);
        let digest = crate::keys::hash(crate::keys::domain::EXCHANGE_ID, &payload);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        ExchangeId(id)
    }
}
id_type!(
    /// Identifies one disclosure package.
    DisclosureId,
    "disclosure id"
);
id_type!(
    /// Identifies one attachment (a file sent in chunks).
    AttachmentId,
    "attachment id"
);
id_type!(
    /// Identifies one report to the Conference of States Parties, the same
    /// through every draft of it.
    ReportId,
    "report id"
);
