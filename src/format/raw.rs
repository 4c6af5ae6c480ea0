//! Raw signatures: `FILE.rawsig`, the base64 of the canonical signature (ECDSA DER, RSA,
//! Ed25519), with the scheme each key uses.

use base64::Engine;

use crate::crypto::pubkey::KeyAlgorithm;
use crate::crypto::scheme::{HashAlg, Scheme};

/// Raw Ed25519 sends the whole file to the agent; files above this size are refused.
pub const ED25519_MAX_FILE: u64 = 200 * 1024;

/// The scheme of a raw signature: SHA-256 for ECDSA and RSA (PKCS#1 v1.5 or PSS), PureEdDSA.
pub fn scheme_for(alg: KeyAlgorithm, rsa_pss: bool) -> Scheme {
    match alg {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => Scheme::Ecdsa(HashAlg::Sha256),
        KeyAlgorithm::Ed25519 => Scheme::Ed25519,
        KeyAlgorithm::Rsa(_) if rsa_pss => Scheme::RsaPss(HashAlg::Sha256),
        KeyAlgorithm::Rsa(_) => Scheme::RsaPkcs1v15(HashAlg::Sha256),
    }
}

/// The file contents of `FILE.rawsig`: standard base64 and a newline.
pub fn encode(signature: &[u8]) -> String {
    let mut s = base64::engine::general_purpose::STANDARD.encode(signature);
    s.push('\n');
    s
}
