//! What a peer sends: a request frame, and what it answers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::wire::{NetRequest, NetResponse};

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode::<NetRequest, MAX_FRAME>("request", data);
    let _ = codec::decode::<NetResponse, MAX_FRAME>("response", data);
});
