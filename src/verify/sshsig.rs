//! SSHSIG signatures (`FILE.sig`) as `hwsign sign --format sshsig` and `ssh-keygen -Y sign`
//! write them: the embedded public key must be a policy signer's pinned key, and the signature
//! must verify over the SSHSIG signed data rebuilt from the file's digest (SHA-512, or SHA-256
//! which other tools may use). The namespace is returned for the rule to check.

use p256::ecdsa::signature::Verifier;
use ssh_key::SshSig;

use super::VerifyError;
use super::policy::Policy;
use crate::proto::scheme::HashAlg;
use crate::proto::wire::Enc;
use crate::pubkey::PublicKey;

/// The armor line that starts an SSHSIG.
pub const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";

/// What a verified SSHSIG proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshsigCheck {
    /// The index of the policy signer who signed.
    pub signer: usize,
    /// The index of the key in the signer's [`crate::verify::policy::Signer::keys`].
    pub key: usize,
    /// The signature's namespace.
    pub namespace: String,
}

/// Read an armored SSHSIG; `what` names it in errors.
pub fn parse(text: &str, what: &str) -> Result<SshSig, VerifyError> {
    SshSig::from_pem(text.trim()).map_err(|e| VerifyError::malformed(what, e))
}

/// The hash an SSHSIG signed the file with.
pub fn hash_alg(sig: &SshSig) -> Result<HashAlg, VerifyError> {
    match sig.hash_alg() {
        ssh_key::HashAlg::Sha256 => Ok(HashAlg::Sha256),
        ssh_key::HashAlg::Sha512 => Ok(HashAlg::Sha512),
        other => Err(VerifyError::Refused(format!(
            "SSHSIG hash {} is not supported",
            other.as_str()
        ))),
    }
}

/// The blob an SSHSIG key signs, for any hash: `"SSHSIG" ‖ string namespace ‖ string
/// reserved ‖ string hash_name ‖ string H(message)`.
pub fn signed_data(namespace: &str, reserved: &[u8], hash: HashAlg, digest: &[u8]) -> Vec<u8> {
    let mut e = Enc::default();
    e.0.extend_from_slice(b"SSHSIG");
    e.str(namespace)
        .bytes(reserved)
        .str(hash.name())
        .bytes(digest);
    e.0
}

/// Verify `sig` over a file whose digest with [`hash_alg`]`(sig)` is `digest`, against the
/// policy's signers.
pub fn verify(policy: &Policy, sig: &SshSig, digest: &[u8]) -> Result<SshsigCheck, VerifyError> {
    let hash = hash_alg(sig)?;
    if digest.len() != hash.output_len() {
        return Err(VerifyError::Refused(format!(
            "the file digest given is not {}",
            hash.name()
        )));
    }
    let embedded = PublicKey::from_ssh(sig.public_key())
        .map_err(|e| VerifyError::Refused(format!("the signing key cannot be used: {e}")))?;
    let Some((index, key)) = policy.signer_key(&embedded) else {
        return Err(VerifyError::UnknownKey(
            sig.public_key()
                .fingerprint(ssh_key::HashAlg::Sha256)
                .to_string(),
        ));
    };
    let signer = &policy.signers[index];
    let data = signed_data(sig.namespace(), sig.reserved(), hash, digest);
    signer.keys[key]
        .key
        .ssh_key_data()
        .verify(&data, sig.signature())
        .map_err(|_| {
            VerifyError::BadSignature(format!(
                "{}: signature does not verify (the file or the signature was changed)",
                signer.name
            ))
        })?;
    Ok(SshsigCheck {
        signer: index,
        key,
        namespace: sig.namespace().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testutil::{TestKey, policy};

    fn setup() -> (TestKey, TestKey, Policy) {
        let a = TestKey::p256("alice", 1);
        let b = TestKey::ed25519("bob", 2);
        let p = policy(&format!(
            "{}{}[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\n",
            a.signer_toml(),
            b.signer_toml()
        ));
        (a, b, p)
    }

    fn check(p: &Policy, armored: &str, data: &[u8]) -> Result<SshsigCheck, VerifyError> {
        let sig = parse(armored, "SSHSIG")?;
        let digest = hash_alg(&sig)?.digest(data);
        verify(p, &sig, &digest)
    }

    #[test]
    fn own_signatures_verify_and_tampering_fails() {
        let (a, b, p) = setup();
        for (i, k) in [&a, &b].into_iter().enumerate() {
            let armored = k.sshsig("file", b"release");
            let ok = check(&p, &armored, b"release").unwrap();
            assert_eq!(
                ok,
                SshsigCheck {
                    signer: i,
                    key: 0,
                    namespace: "file".into()
                }
            );
            let e = check(&p, &armored, b"tampered").unwrap_err().to_string();
            assert!(e.contains(": signature does not verify"), "{e}");
        }
    }

    #[test]
    fn sha256_signatures_from_ssh_key_verify() {
        let (_, _, p) = setup();
        let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[2; 32]));
        let sig = key
            .sign("release@example.org", ssh_key::HashAlg::Sha256, b"data")
            .unwrap();
        let armored = sig.to_pem(ssh_key::LineEnding::LF).unwrap();
        let ok = check(&p, &armored, b"data").unwrap();
        assert_eq!(ok.signer, 1);
        assert_eq!(ok.namespace, "release@example.org");
        // And ssh-key agrees with our signed data for SHA-512.
        let sig512 = key.sign("file", ssh_key::HashAlg::Sha512, b"data").unwrap();
        assert_eq!(
            signed_data(
                "file",
                &[],
                HashAlg::Sha512,
                &HashAlg::Sha512.digest(b"data")
            ),
            SshSig::signed_data("file", ssh_key::HashAlg::Sha512, b"data").unwrap()
        );
        assert!(
            check(
                &p,
                &sig512.to_pem(ssh_key::LineEnding::LF).unwrap(),
                b"data"
            )
            .is_ok()
        );
    }

    #[test]
    fn unknown_keys_and_garbage() {
        let (_, _, p) = setup();
        let m = TestKey::ed25519("mallory", 9);
        let e = check(&p, &m.sshsig("file", b"d"), b"d")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("signature by unknown key SHA256:"), "{e}");
        let e = check(
            &p,
            "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n",
            b"d",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("SSHSIG is malformed"), "{e}");
    }
}
