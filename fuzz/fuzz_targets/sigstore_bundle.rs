//! A Sigstore bundle given to `hwsign verify`: told from a DSSE envelope by its `mediaType`
//! (as verify::engine::read_envelope does), parsed, and its envelope checked.
#![no_main]

mod common;

use hwsign::verify::{bundle, dsse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = bundle::is_bundle(&json);
    if let Ok(env) = bundle::parse_bundle(data) {
        let _ = dsse::verify_envelope(common::policy(), &env);
    }
});
