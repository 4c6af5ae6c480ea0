//! SSHSIG (OpenSSH's `ssh-keygen -Y sign` format): the signed-data blob built from a message
//! digest, and the armored signature.

use ssh_key::{HashAlg as SshHash, LineEnding, SshSig};

use super::FormatError;
use crate::crypto::pubkey::{KeyAlgorithm, PublicKey};
use crate::crypto::scheme::{HashAlg, Scheme};

/// The hash SSHSIG uses for the message (the OpenSSH default).
pub const MESSAGE_HASH: HashAlg = HashAlg::Sha512;

/// The blob the key signs: `"SSHSIG" ‖ string namespace ‖ string reserved ‖ string hash_alg ‖
/// string H(message)`.
pub fn signed_data(namespace: &str, message_digest: &[u8]) -> Result<Vec<u8>, FormatError> {
    if namespace.is_empty() {
        return Err(FormatError::Invalid(
            "the SSHSIG namespace must not be empty".into(),
        ));
    }
    if message_digest.len() != MESSAGE_HASH.output_len() {
        return Err(FormatError::Invalid(
            "SSHSIG message digest must be SHA-512".into(),
        ));
    }
    let mut e = crate::proto::wire::Enc::default();
    e.0.extend_from_slice(b"SSHSIG");
    e.str(namespace)
        .str("")
        .str(MESSAGE_HASH.name())
        .bytes(message_digest);
    Ok(e.0)
}

/// The scheme with which a key signs an SSHSIG blob (as `ssh-keygen` does: RSA uses
/// rsa-sha2-512).
pub fn scheme_for(alg: KeyAlgorithm) -> Scheme {
    match alg {
        KeyAlgorithm::Rsa(_) => Scheme::RsaPkcs1v15(HashAlg::Sha512),
        other => other.default_scheme(),
    }
}

/// The armored signature (`-----BEGIN SSH SIGNATURE-----`).
pub fn armor(
    key: &PublicKey,
    namespace: &str,
    scheme: Scheme,
    signature: &[u8],
) -> Result<String, FormatError> {
    let sig = super::ssh_signature::to_ssh(key.algorithm(), scheme, signature)?;
    let sshsig = SshSig::new(key.ssh_key_data(), namespace, SshHash::Sha512, sig)?;
    Ok(sshsig.to_pem(LineEnding::LF)?)
}

/// The fields of an SSHSIG signed-data blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedData {
    /// What the signature is for (`file`, `git`…).
    pub namespace: String,
    /// The hash the message was digested with, as the blob names it (`sha512`, `sha256`).
    pub hash: String,
    /// The message's digest.
    pub digest: Vec<u8>,
}

/// Parse an SSHSIG signed-data blob (all of it: trailing bytes make it something else).
pub fn parse_signed_data(data: &[u8]) -> Option<SignedData> {
    let rest = data.strip_prefix(b"SSHSIG")?;
    let mut d = crate::proto::wire::Dec(rest);
    let namespace = d.str().ok()?;
    let _reserved = d.bytes().ok()?;
    let hash = d.str().ok()?;
    let digest = d.bytes().ok()?;
    d.finish().ok()?;
    Some(SignedData {
        namespace,
        hash,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_matches_ssh_key() {
        let msg = b"release bytes";
        let ours = signed_data("file", &MESSAGE_HASH.digest(msg)).unwrap();
        let theirs = SshSig::signed_data("file", SshHash::Sha512, msg).unwrap();
        assert_eq!(ours, theirs);
        let parsed = parse_signed_data(&ours).unwrap();
        assert_eq!(parsed.namespace, "file");
        assert_eq!(parsed.hash, "sha512");
        assert_eq!(parsed.digest, MESSAGE_HASH.digest(msg));
        assert_eq!(parse_signed_data(b"DSSEv1 ..."), None);
    }
}
