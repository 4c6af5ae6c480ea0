//! An OpenPGP certificate (a policy's `openpgp_cert`, armored or binary): read into hwsign's
//! keys, and every key's status at a fixed time.
#![no_main]

mod common;

use hwsign::verify::openpgp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(keys) = openpgp::read_cert(data) else {
        return;
    };
    for k in &keys.keys {
        let _ = k.key.key_id();
        if let Some(fpr) = &k.openpgp {
            let _ = openpgp::key_status(&keys.cert, fpr, common::NOW);
        }
    }
});
