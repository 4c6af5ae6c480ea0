//! A line pinentry writes back over Assuan (`OK`, `ERR`, `D <escaped data>`, comments).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = hwsign::token::pinentry::parse_line(line);
    }
});
