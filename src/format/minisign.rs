//! minisign signatures (`FILE.minisig`) and public keys, for Ed25519 token keys: the prehashed
//! algorithm `ED` (Ed25519 over the BLAKE2b-512 of the file, the default) or the legacy `Ed`
//! (Ed25519 over the file itself), an untrusted comment, and a trusted comment covered by the
//! global signature over `signature ‖ trusted comment`. The 8-byte key id is the first 8
//! bytes of the key's hwsign id (SHA-256 of its SPKI), so every export of a key matches.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use blake2::{Blake2b512, Digest};

use super::FormatError;
use crate::crypto::pubkey::PublicKey;

/// Which minisign signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `ED`: Ed25519 over BLAKE2b-512(file).
    Prehashed,
    /// `Ed`: Ed25519 over the file.
    Legacy,
}

impl Algorithm {
    fn tag(self) -> &'static [u8; 2] {
        match self {
            Algorithm::Prehashed => b"ED",
            Algorithm::Legacy => b"Ed",
        }
    }
}

fn ed25519(pk: &PublicKey) -> Result<[u8; 32], FormatError> {
    match pk {
        PublicKey::Ed25519(k) => Ok(k.to_bytes()),
        _ => Err(FormatError::Invalid(
            "minisign signs with Ed25519 keys only\n  hint: choose an Ed25519 key with --key"
                .into(),
        )),
    }
}

/// The key's 8-byte minisign key id.
pub fn key_id(pk: &PublicKey) -> [u8; 8] {
    let id = pk.key_id();
    let mut out = [0u8; 8];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    out
}

/// The key id as minisign prints it (the little-endian u64 in upper-case hex).
pub fn key_id_hex(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

/// The public key file (`minisign.pub`).
pub fn public_key_file(pk: &PublicKey) -> Result<String, FormatError> {
    let raw = ed25519(pk)?;
    let id = key_id(pk);
    let mut blob = b"Ed".to_vec();
    blob.extend_from_slice(&id);
    blob.extend_from_slice(&raw);
    Ok(format!(
        "untrusted comment: minisign public key {}\n{}\n",
        key_id_hex(&id),
        B64.encode(blob)
    ))
}

/// A BLAKE2b-512 hasher for the prehashed algorithm.
pub fn prehasher() -> Blake2b512 {
    Blake2b512::new()
}

/// The digest of a prehasher.
pub fn prehash(h: Blake2b512) -> Vec<u8> {
    h.finalize().to_vec()
}

/// What the global signature covers: the file signature and the trusted comment.
pub fn global_message(signature: &[u8], trusted_comment: &str) -> Vec<u8> {
    let mut m = signature.to_vec();
    m.extend_from_slice(trusted_comment.as_bytes());
    m
}

/// Checks that a trusted or untrusted comment fits on its line.
pub fn check_comment(c: &str) -> Result<(), FormatError> {
    if c.contains(['\n', '\r']) {
        return Err(FormatError::Invalid(
            "a minisign comment must be a single line".into(),
        ));
    }
    Ok(())
}

/// The `.minisig` file.
pub fn signature_file(
    pk: &PublicKey,
    alg: Algorithm,
    untrusted_comment: &str,
    signature: &[u8],
    trusted_comment: &str,
    global_signature: &[u8],
) -> Result<String, FormatError> {
    ed25519(pk)?;
    check_comment(untrusted_comment)?;
    check_comment(trusted_comment)?;
    if signature.len() != 64 || global_signature.len() != 64 {
        return Err(FormatError::Signature(
            "Ed25519 signatures have 64 bytes".into(),
        ));
    }
    let mut blob = alg.tag().to_vec();
    blob.extend_from_slice(&key_id(pk));
    blob.extend_from_slice(signature);
    Ok(format!(
        "untrusted comment: {untrusted_comment}\n{}\ntrusted comment: {trusted_comment}\n{}\n",
        B64.encode(blob),
        B64.encode(global_signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn files_are_well_formed_and_signatures_check() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let pk = PublicKey::Ed25519(sk.verifying_key());
        let pubfile = public_key_file(&pk).unwrap();
        let lines: Vec<&str> = pubfile.lines().collect();
        let blob = B64.decode(lines[1]).unwrap();
        assert_eq!(&blob[..2], b"Ed");
        assert_eq!(&blob[2..10], &key_id(&pk));
        assert_eq!(&blob[10..], sk.verifying_key().as_bytes());
        assert!(lines[0].ends_with(&key_id_hex(&key_id(&pk))));

        let mut h = prehasher();
        h.update(b"data");
        let sig = sk.sign(&prehash(h)).to_bytes();
        let tc = "timestamp:1 file:data";
        let global = sk.sign(&global_message(&sig, tc)).to_bytes();
        let text = signature_file(&pk, Algorithm::Prehashed, "hwsign", &sig, tc, &global).unwrap();
        let l: Vec<&str> = text.lines().collect();
        assert_eq!(l[0], "untrusted comment: hwsign");
        assert_eq!(&B64.decode(l[1]).unwrap()[..2], b"ED");
        assert_eq!(l[2], "trusted comment: timestamp:1 file:data");
        assert!(check_comment("a\nb").is_err());
    }
}
