//! Property tests of every decoder a peer, a package file or an audit file
//! can reach: arbitrary bytes never panic and never allocate past the limit;
//! a valid envelope changed anywhere is never accepted as valid.

use proptest::prelude::*;
use veim_protocol::audit::{Entry, ExportLine, SignedCheckpoint};
use veim_protocol::codec::{self, MAX_BODY, MAX_DIRECTORY, MAX_FRAME, MAX_RECORD};
use veim_protocol::contacts::SignedContactSet;
use veim_protocol::disclosure::Package;
use veim_protocol::envelope::{Draft, Recipient};
use veim_protocol::wire::{NetRequest, NetResponse};
use veim_protocol::{
    Body, EncryptionKeypair, Envelope, ExchangeId, IdentityKeypair, MessageId, Note, SignedConsent,
    SignedDirectoryVersion, SignedItemStatement, SignedReceipt, SignedRegistration, StateCode,
};

fn state(s: &str) -> StateCode {
    s.parse().expect("state")
}

struct Fixture {
    sender: IdentityKeypair,
    recipient: EncryptionKeypair,
    bytes: Vec<u8>,
    envelope: Envelope,
}

fn fixture() -> Fixture {
    let sender = IdentityKeypair::from_secret_bytes(&[1; 32]);
    let recipient = EncryptionKeypair::from_secret_bytes(&[2; 32]);
    let recipients = [Recipient { state: state("SWE"), encryption_key: recipient.public() }];
    let body = Body::Note(Note { text: "customs records follow".into(), handling: Default::default() });
    let draft = Draft {
        message_id: MessageId(*b"MEX\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03"),
        exchange_id: ExchangeId([4; 16]),
        sender: state("MEX"),
        recipients: &recipients,
        sender_encryption_key: EncryptionKeypair::from_secret_bytes(&[5; 32]).public(),
        created_at: 1_800_000_000,
        body: &body,
    };
    let envelope = Envelope::seal(&draft, &sender, &mut rand_core::UnwrapErr(getrandom::SysRng)).expect("seal");
    let bytes = codec::encode("envelope", &envelope).expect("encode");
    Fixture { sender, recipient, bytes, envelope }
}

/// Decodes `bytes` as each wire and stored type; only the absence of a panic
/// is checked (a decoder that allocated what a length prefix claims would
/// abort the test process).
fn decode_all(bytes: &[u8]) {
    let _ = codec::decode::<NetRequest, MAX_FRAME>("request", bytes);
    let _ = codec::decode::<NetResponse, MAX_FRAME>("response", bytes);
    let _ = codec::decode::<Envelope, MAX_FRAME>("envelope", bytes);
    let _ = codec::decode::<Body, MAX_BODY>("body", bytes);
    let _ = codec::decode::<SignedDirectoryVersion, MAX_DIRECTORY>("directory", bytes);
    let _ = codec::decode::<SignedRegistration, MAX_FRAME>("registration", bytes);
    let _ = codec::decode::<SignedReceipt, MAX_FRAME>("receipt", bytes);
    let _ = codec::decode::<SignedContactSet, MAX_FRAME>("contacts", bytes);
    let _ = codec::decode::<SignedConsent, MAX_RECORD>("consent", bytes);
    let _ = codec::decode::<SignedItemStatement, MAX_RECORD>("statement", bytes);
    let _ = codec::decode::<SignedCheckpoint, MAX_RECORD>("checkpoint", bytes);
    let _ = codec::decode::<Entry, MAX_RECORD>("audit entry", bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        decode_all(&bytes);
    }

    #[test]
    fn length_prefixes_claiming_huge_sizes_are_refused(prefix in any::<u64>(), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        // A length read first that claims more than the bytes after it is
        // refused, whatever the sequence holds.
        let mut claimed = prefix.to_le_bytes().to_vec();
        claimed.extend_from_slice(&tail);
        if prefix > tail.len() as u64 {
            prop_assert!(codec::decode::<Vec<u8>, MAX_FRAME>("bytes", &claimed).is_err());
            prop_assert!(codec::decode::<String, MAX_FRAME>("text", &claimed).is_err());
            prop_assert!(codec::decode::<Vec<Entry>, MAX_FRAME>("entries", &claimed).is_err());
        }
        // Every variant index and position, with a huge length after it:
        // no decoder panics or allocates what the length claims.
        for variant in 0u32..8 {
            let mut bytes = variant.to_le_bytes().to_vec();
            bytes.extend_from_slice(&prefix.to_le_bytes());
            bytes.extend_from_slice(&tail);
            decode_all(&bytes);
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_package_and_audit_readers(text in ".{0,512}") {
        let _ = serde_json::from_str::<Package>(&text);
        let _ = serde_json::from_str::<ExportLine>(&text);
    }

    #[test]
    fn a_changed_envelope_is_never_accepted(position in any::<prop::sample::Index>(), flip in 1u8..=255, cut in any::<bool>()) {
        let f = fixture();
        let mut bytes = f.bytes.clone();
        if cut {
            bytes.truncate(position.index(bytes.len()));
        } else {
            let i = position.index(bytes.len());
            bytes[i] ^= flip;
        }
        if let Ok(changed) = codec::decode::<Envelope, MAX_FRAME>("envelope", &bytes) {
            prop_assume!(changed != f.envelope);
            let accepted = changed.verify(&f.sender.public()).is_ok()
                && changed.open(state("SWE"), &f.recipient).is_ok();
            prop_assert!(!accepted, "a changed envelope verified and opened");
        }
    }

    #[test]
    fn mutated_envelopes_never_panic_verify_or_open(noise in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let f = fixture();
        let mut bytes = f.bytes.clone();
        for (i, b) in noise {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(e) = codec::decode::<Envelope, MAX_FRAME>("envelope", &bytes) {
            let _ = e.verify(&f.sender.public());
            let _ = e.open(state("SWE"), &f.recipient);
            let _ = e.hash();
        }
    }
}
