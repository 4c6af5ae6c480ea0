//! What the verification targets share: the trust policy in `fuzz/fixtures/`, loaded once.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hwsign::verify::policy::Policy;

/// The directory of the fixture policy and the key files it names.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The fixture policy: one signer per key algorithm and two OpenPGP certificates.
pub fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let dir = fixtures();
        let text = std::fs::read_to_string(dir.join("policy.toml")).expect("fixtures/policy.toml");
        Policy::from_toml(&text, &dir, "policy.toml").expect("the fixture policy loads")
    })
}

/// A fixed verification time inside every fixture key's validity (2026-06-01).
pub const NOW: u64 = 1_780_272_000;
