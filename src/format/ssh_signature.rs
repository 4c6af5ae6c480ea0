//! From a canonical signature (ECDSA DER, Ed25519 64 bytes, RSA integer) to an SSH signature.

use ssh_key::{Algorithm, EcdsaCurve, HashAlg as SshHash, Signature};

use super::FormatError;
use crate::crypto::ecdsa;
use crate::crypto::pubkey::KeyAlgorithm;
use crate::crypto::scheme::{HashAlg, Scheme};

/// The SSH signature for `sig` made by a key of `alg` with `scheme`.
pub fn to_ssh(alg: KeyAlgorithm, scheme: Scheme, sig: &[u8]) -> Result<Signature, FormatError> {
    let ssh_alg = match (alg, scheme) {
        (KeyAlgorithm::EcdsaP256, Scheme::Ecdsa(HashAlg::Sha256)) => Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        },
        (KeyAlgorithm::EcdsaP384, Scheme::Ecdsa(HashAlg::Sha384)) => Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        },
        (KeyAlgorithm::Ed25519, Scheme::Ed25519) => Algorithm::Ed25519,
        (KeyAlgorithm::Rsa(_), Scheme::RsaPkcs1v15(HashAlg::Sha256)) => Algorithm::Rsa {
            hash: Some(SshHash::Sha256),
        },
        (KeyAlgorithm::Rsa(_), Scheme::RsaPkcs1v15(HashAlg::Sha512)) => Algorithm::Rsa {
            hash: Some(SshHash::Sha512),
        },
        _ => {
            return Err(FormatError::Invalid(format!(
                "SSH has no signature type for a {alg} key with {scheme}"
            )));
        }
    };
    let blob = match ssh_alg {
        Algorithm::Ecdsa { .. } => ecdsa::der_to_ssh_blob(sig)?,
        _ => sig.to_vec(),
    };
    Ok(Signature::new(ssh_alg, blob)?)
}

/// The scheme SSH uses for a key: ECDSA with the curve's hash, Ed25519, and for RSA the hash
/// the client asked for with its flags (`SSH_AGENT_RSA_SHA2_256` = 2, `_512` = 4).
pub fn scheme_for(alg: KeyAlgorithm, flags: u32) -> Option<Scheme> {
    match alg {
        KeyAlgorithm::EcdsaP256 => Some(Scheme::Ecdsa(HashAlg::Sha256)),
        KeyAlgorithm::EcdsaP384 => Some(Scheme::Ecdsa(HashAlg::Sha384)),
        KeyAlgorithm::Ed25519 => Some(Scheme::Ed25519),
        KeyAlgorithm::Rsa(_) if flags & 4 != 0 => Some(Scheme::RsaPkcs1v15(HashAlg::Sha512)),
        KeyAlgorithm::Rsa(_) if flags & 2 != 0 => Some(Scheme::RsaPkcs1v15(HashAlg::Sha256)),
        // Plain ssh-rsa means SHA-1, which hwsign does not sign with.
        KeyAlgorithm::Rsa(_) => None,
    }
}
