//! SSHSIG signatures (`FILE.sig`) as `hwsign sign --format sshsig` and `ssh-keygen -Y sign`
//! write them: the embedded public key must be a policy signer's pinned key, and the signature
//! must verify over the SSHSIG signed data rebuilt from the file's digest (SHA-512, or SHA-256
//! which other tools may use). The namespace is returned for the rule to check.
//!
//! The file is read as `ssh-keygen -Y verify` reads it (OpenSSH `sshsig.c`): it must start
//! with the BEGIN line ending in a bare LF (no leading blank lines, no CRLF); the signature
//! ends at the first END line and anything after it is ignored; whitespace inside the base64
//! is ignored; the blob must have no trailing data. The reserved field is not covered by the
//! signature: its content is ignored and the signed data always holds an empty one, as
//! ssh-keygen does. docs/verification.md records these choices.

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use ssh_encoding::Decode;
use ssh_key::SshSig;

use super::VerifyError;
use super::policy::Policy;
use crate::crypto::pubkey::PublicKey;
use crate::crypto::scheme::HashAlg;
use crate::proto::wire::Enc;

/// The armor line that starts an SSHSIG.
pub const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";

/// The armor line that ends an SSHSIG.
pub const ARMOR_END: &str = "-----END SSH SIGNATURE-----";

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

/// Read an armored SSHSIG as `ssh-keygen -Y verify` does; `what` names it in errors.
pub fn parse(bytes: &[u8], what: &str) -> Result<SshSig, VerifyError> {
    let bad = |detail: &str| VerifyError::malformed(what, detail);
    let Some(rest) = bytes
        .strip_prefix(ARMOR_BEGIN.as_bytes())
        .and_then(|r| r.strip_prefix(b"\n"))
    else {
        return Err(bad(if bytes.starts_with(ARMOR_BEGIN.as_bytes()) {
            "the BEGIN line does not end with a bare line feed (CRLF line endings?); \
             ssh-keygen rejects it too"
        } else {
            "the file does not start with the BEGIN line (blank lines or text before it); \
             ssh-keygen rejects it too"
        }));
    };
    let end = [b"\n", ARMOR_END.as_bytes()].concat();
    let Some(at) = rest.windows(end.len()).position(|w| w == end.as_slice()) else {
        return Err(bad("no END line"));
    };
    // C isspace(): what OpenSSH's base64 decoder skips. Bytes after the END line are ignored.
    let b64: Vec<u8> = rest[..at]
        .iter()
        .copied()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .collect();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .map_err(|e| VerifyError::malformed(what, format!("not base64: {e}")))?;
    let mut reader = blob.as_slice();
    let sig = SshSig::decode(&mut reader).map_err(|e| VerifyError::malformed(what, e))?;
    if !reader.is_empty() {
        return Err(bad("trailing data after the signature in the blob"));
    }
    Ok(sig)
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
    // The reserved field is not signed: ssh-keygen ignores its content (PROTOCOL.sshsig).
    let data = signed_data(sig.namespace(), &[], hash, digest);
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
        let sig = parse(armored.as_bytes(), "SSHSIG")?;
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

    /// The armor as ssh-keygen reads it: BEGIN first with a bare LF, the first END line
    /// closes, what follows is ignored (docs/verification.md, parity table).
    #[test]
    fn armor_is_read_like_ssh_keygen() {
        let (_, b, p) = setup();
        let armored = b.sshsig("file", b"d");
        assert!(check(&p, &armored, b"d").is_ok());
        let refused = [
            ("crlf", armored.replace('\n', "\r\n"), "bare line feed"),
            (
                "blank line",
                format!("\n{armored}"),
                "does not start with the BEGIN",
            ),
            (
                "space",
                format!(" {armored}"),
                "does not start with the BEGIN",
            ),
            ("no end", armored.replace(ARMOR_END, ""), "no END line"),
        ];
        for (name, text, why) in refused {
            let e = check(&p, &text, b"d").unwrap_err().to_string();
            assert!(e.contains(why), "{name}: {e}");
        }
        let accepted = [
            format!("{armored}trailing text\n"),
            format!("{}junk", armored.trim_end()),
            format!(
                "{armored}{}",
                TestKey::ed25519("mallory", 9).sshsig("file", b"d")
            ),
            armored
                .replacen('\n', "\n \t", 2)
                .replace(&format!(" \t{ARMOR_END}"), ARMOR_END),
        ];
        for text in accepted {
            assert_eq!(check(&p, &text, b"d").unwrap().signer, 1, "{text:?}");
        }
    }

    /// The reserved field is ignored and never signed, as in ssh-keygen.
    #[test]
    fn reserved_field_is_not_signed() {
        let (_, b, p) = setup();
        let blob = |reserved: &[u8], signed_reserved: &[u8]| {
            let digest = HashAlg::Sha512.digest(b"d");
            let tbs = signed_data("file", signed_reserved, HashAlg::Sha512, &digest);
            let good = parse(b.sshsig("file", b"d").as_bytes(), "x").unwrap();
            let mut sig = Enc::default();
            sig.str(good.signature().algorithm().as_str())
                .bytes(&b.sign(&tbs));
            let mut key = Vec::new();
            ssh_encoding::Encode::encode(good.public_key(), &mut key).unwrap();
            let mut e = Enc::default();
            e.0.extend_from_slice(b"SSHSIG\0\0\0\x01");
            e.bytes(&key)
                .str("file")
                .bytes(reserved)
                .str("sha512")
                .bytes(&sig.0);
            let b64 = base64::engine::general_purpose::STANDARD.encode(&e.0);
            format!("{ARMOR_BEGIN}\n{b64}\n{ARMOR_END}\n")
        };
        assert!(check(&p, &blob(b"", b""), b"d").is_ok());
        assert!(check(&p, &blob(b"tag", b""), b"d").is_ok());
        let e = check(&p, &blob(b"tag", b"tag"), b"d")
            .unwrap_err()
            .to_string();
        assert!(e.contains("signature does not verify"), "{e}");
    }
}
