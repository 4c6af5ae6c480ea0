//! A raw signature file (`FILE.rawsig`, base64) given to `hwsign verify`: decoded and tried
//! with every key of the fixture policy.
#![no_main]

mod common;

use hwsign::crypto::scheme::HashAlg;
use hwsign::verify::raw;
use libfuzzer_sys::fuzz_target;

const ARTIFACT: &[u8] = b"release bytes\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sig) = raw::decode(text, "the raw signature") else {
        return;
    };
    let sha256 = HashAlg::Sha256.digest(ARTIFACT);
    let content = raw::RawContent {
        sha256: &sha256,
        whole: Ok(ARTIFACT),
    };
    let _ = raw::verify(common::policy(), &sig, content);
});
