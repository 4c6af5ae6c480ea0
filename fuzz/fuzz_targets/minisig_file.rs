//! A `.minisig` file given to `hwsign verify` (or `hwsign-gpg`'s minisign users): read as
//! minisign reads it, then checked against the fixture policy over a fixed file, prehashed and
//! legacy.
#![no_main]

mod common;

use hwsign::format::minisign;
use hwsign::verify::minisign as verify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sig) = verify::parse(text) else {
        return;
    };
    let file = b"release bytes\n";
    let mut h = minisign::prehasher();
    blake2::Digest::update(&mut h, file);
    let blake2b = minisign::prehash(h);
    let _ = verify::verify(common::policy(), &sig, &blake2b, Ok(file));
});
