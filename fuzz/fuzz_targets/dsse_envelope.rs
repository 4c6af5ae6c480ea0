//! A DSSE envelope given to `hwsign verify`: parsed, its signatures checked against the
//! fixture policy, its in-toto statement read and a subject looked up.
#![no_main]

mod common;

use hwsign::verify::dsse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dsse::parse_statement(data);
    let Ok(env) = dsse::parse_envelope(data) else {
        return;
    };
    if let Ok(v) = dsse::verify_envelope(common::policy(), &env)
        && let Some(st) = v.statement
    {
        let _ = dsse::check_subject(&st, "demo-1.0.tar.gz", "00");
    }
});
