//! What a node keeps and exchanges besides envelopes: bodies, directory
//! versions, registrations, receipts, contacts, consents, statements,
//! checkpoints, audit entries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veim_protocol::audit::{Entry, SignedCheckpoint};
use veim_protocol::codec::{self, MAX_BODY, MAX_DIRECTORY, MAX_FRAME, MAX_RECORD};
use veim_protocol::contacts::SignedContactSet;
use veim_protocol::{
    Body, SignedConsent, SignedDirectoryVersion, SignedItemStatement, SignedReceipt, SignedRegistration,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = codec::decode::<Body, MAX_BODY>("body", data) {
        let _ = b.validate();
    }
    if let Ok(v) = codec::decode::<SignedDirectoryVersion, MAX_DIRECTORY>("directory", data) {
        let _ = v.verify(&veim_protocol::IdentityKeypair::from_secret_bytes(&[1; 32]).public());
    }
    let _ = codec::decode::<SignedRegistration, MAX_FRAME>("registration", data).map(|r| r.verify());
    let _ = codec::decode::<SignedReceipt, MAX_FRAME>("receipt", data);
    let _ = codec::decode::<SignedContactSet, MAX_FRAME>("contacts", data);
    let _ = codec::decode::<SignedConsent, MAX_RECORD>("consent", data).map(|c| c.record.validate());
    let _ = codec::decode::<SignedItemStatement, MAX_RECORD>("statement", data);
    let _ = codec::decode::<SignedCheckpoint, MAX_RECORD>("checkpoint", data).map(|c| c.verify());
    let _ = codec::decode::<Entry, MAX_RECORD>("audit entry", data).map(|e| e.hash());
});
