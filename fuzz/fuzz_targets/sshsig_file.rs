//! An SSHSIG file (`FILE.sig`) given to `hwsign verify`: the armored signature read as
//! ssh-keygen reads it, its hash, and the check against the fixture policy (over a fixed
//! digest).
#![no_main]

mod common;

use hwsign::verify::sshsig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sig) = sshsig::parse(data, "the SSH signature") else {
        return;
    };
    if let Ok(hash) = sshsig::hash_alg(&sig) {
        let digest = hash.digest(b"release bytes\n");
        let _ = sshsig::verify(common::policy(), &sig, &digest);
    }
});
