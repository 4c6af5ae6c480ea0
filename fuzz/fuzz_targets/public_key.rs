//! Public keys as users and peers write them: a policy's `key` (OpenSSH line, PEM SPKI, PEM
//! PKCS#1) and an OpenSSH line as `keys@hwsign` carries it.
#![no_main]

use hwsign::crypto::pubkey::PublicKey;
use hwsign::verify::policy::parse_public_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(k) = parse_public_key(text) {
        let _ = k.key_id();
        let _ = k.ssh_line("fuzz");
    }
    let _ = PublicKey::from_ssh_line(text);
});
