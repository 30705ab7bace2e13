//! An envelope: decoded, verified and opened with fixed keys.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::{EncryptionKeypair, Envelope, IdentityKeypair};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = codec::decode::<Envelope, MAX_FRAME>("envelope", data) {
        let sender = IdentityKeypair::from_secret_bytes(&[1; 32]).public();
        let _ = e.verify(&sender);
        let _ = e.check_window(1_800_000_000, 3600, 30 * 86_400);
        let me = "SWE".parse().expect("state");
        let _ = e.open(me, &EncryptionKeypair::from_secret_bytes(&[2; 32]));
        let _ = e.hash();
    }
});
