//! The trust policy file (`hwsign verify --policy`): TOML, keys, certificates and rules
//! checked at load. `key_file`s and `openpgp_cert`s resolve in `fuzz/fixtures/`.
#![no_main]

mod common;

use hwsign::verify::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Key files are read from disk: keep the fuzzer away from device files (and from escapes
    // that could spell their names).
    if ["/dev", "/proc", "/sys", "\\u", "\\U"]
        .iter()
        .any(|s| text.contains(s))
    {
        return;
    }
    if let Ok(policy) = Policy::from_toml(text, &common::fixtures(), "policy.toml") {
        for name in ["demo-1.0.tar.gz", "x", ""] {
            if let Some(rule) = policy.rule_for(name) {
                let _ = rule.matches(name);
            }
        }
        for s in &policy.signers {
            let _ = s.unusable_at(common::NOW);
        }
    }
});
