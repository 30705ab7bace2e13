//! Files an auditor or a court is handed: a disclosure package (verified)
//! and a line of an audit export.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veim_protocol::audit::ExportLine;
use veim_protocol::disclosure::Package;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = serde_json::from_slice::<Package>(data) {
        let _ = p.verify(None);
    }
    let _ = serde_json::from_slice::<ExportLine>(data);
});
