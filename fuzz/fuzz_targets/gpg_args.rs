//! The gpg command line `hwsign-gpg` is given by release tools (git, rpm, debsign, apt repo
//! tools, Maven): words split on NUL, parsed as gpg parses them; an error is a message, never a
//! panic, and what parses prints back without control characters escaping.
#![no_main]

use hwsign::gpg::args::GpgArgs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let words: Vec<&str> = text.split('\0').collect();
    match GpgArgs::parse(&words) {
        Ok(args) => {
            let _ = format!("{args:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
