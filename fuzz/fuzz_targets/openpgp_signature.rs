//! An OpenPGP detached signature given to `hwsign verify` (armored or binary): parsed, its
//! hasher made and fed (text mode too), the signature policy applied and the signature
//! checked against the fixture policy's keys and certificates.
#![no_main]

mod common;

use hwsign::verify::openpgp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = openpgp::is_binary_packet(data);
    let Ok(sig) = openpgp::parse_signature(data) else {
        return;
    };
    let Ok(mut hasher) = openpgp::SignatureHasher::new(&sig) else {
        return;
    };
    hasher.update(b"release bytes\r");
    hasher.update(b"\n");
    let _ = openpgp::check_signature_policy(&sig, common::NOW);
    let _ = openpgp::verify(common::policy(), &sig, hasher.finish(), common::NOW);
});
