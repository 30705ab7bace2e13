//! veim-protocol: everything two veim nodes must agree on, and nothing else.
//!
//! This crate is the part another implementation would port: the domain types of
//! the working paper (the Annex 1 request, the Annex 2 response), the signed,
//! hash-chained directory, the end-to-end encrypted envelope, receipts, and the
//! wire messages with their codec. It performs no I/O and reads no clock: callers
//! pass the current time and a random number generator in. `SPEC.md` next to this
//! crate describes every byte, and `tests/vectors.rs` checks its test vectors.

pub mod attachment;
pub mod audit;
pub mod body;
pub mod codec;
pub mod consent;
pub mod contacts;
pub mod directory;
pub mod disclosure;
pub mod envelope;
mod fixed;
pub mod handling;
pub mod ids;
pub mod keys;
pub mod meeting;
pub mod merkle;
pub mod progress;
pub mod publication;
pub mod receipt;
pub mod report;
pub mod request;
pub mod response;
pub mod state;
pub mod validation;
pub mod wire;

pub use body::{Body, Close, MessageKind, Note};
pub use codec::CodecError;
pub use consent::{
    Authority, AuthorityKind, ConsentRecord, ConsentRequest, Decision, ItemRef, Revocation, SignedConsent,
};
pub use directory::{
    DirectoryEntry, DirectoryError, DirectoryVersion, EntryAction, EntryStatus, KeyRotation, Registration,
    SecretariatHandover, SignedDirectoryVersion, SignedKeyRotation, SignedRegistration,
};
pub use envelope::{Envelope, EnvelopeError, Header, KeyShare};
pub use fixed::Bytes32;
pub use handling::Handling;
pub use ids::{ExchangeId, MessageId};
pub use keys::{EncryptionKeypair, IdentityKeypair, PublicIdentity};
pub use progress::{
    CalendarDate, Closing, Measure, MeasureForm, MeasureKind, Outcome, ProgressError, RespondBy, StageMove,
};
pub use receipt::{Receipt, SignedReceipt};
pub use request::{Request, RequestForm};
pub use response::{InformationItem, ItemStatement, MessageContext, Response, ResponseForm, SignedItemStatement};
pub use state::StateCode;
pub use validation::{FieldError, ValidationErrors};

/// The envelope format version this crate writes and accepts.
pub const PROTOCOL_VERSION: u16 = 2;

/// The libp2p protocol name of the veim request-response protocol. Its
/// number is the envelope version (`PROTOCOL_VERSION`): nodes that write
/// different envelopes never open a stream to each other, and the dialer
/// learns it as a protocol the peer does not support (SPEC section 4.1).
pub const WIRE_PROTOCOL: &str = "/veim/2";

#[cfg(test)]
mod tests {
    #[test]
    fn the_protocol_name_carries_the_envelope_version() {
        assert_eq!(super::WIRE_PROTOCOL, format!("/veim/{}", super::PROTOCOL_VERSION));
    }
}
