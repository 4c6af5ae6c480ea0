//! Raw signatures (`FILE.rawsig`): the base64 of a canonical signature, as `hwsign sign
//! --format raw` writes it and `openssl dgst -sha256 -sign` / `openssl pkeyutl -rawin` make it
//! (line-wrapped base64 is fine). ECDSA (DER) and RSA sign the file's SHA-256; Ed25519 signs
//! the file itself. A raw signature names no key, so every key of the policy is tried.

use super::VerifyError;
use super::policy::Policy;
use crate::crypto::check::{self, Signed};
use crate::crypto::pubkey::PublicKey;

/// Ed25519 raw signatures cover the whole file, which is read into memory: up to this size.
pub const ED25519_READ_MAX: u64 = 64 * 1024 * 1024;

/// Decode the contents of a `.rawsig` file (base64, whitespace and line breaks ignored).
pub fn decode(text: &str, what: &str) -> Result<Vec<u8>, VerifyError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(VerifyError::malformed(what, "the file is empty"));
    }
    super::dsse::decode_base64("the signature", &compact)
        .map_err(|_| VerifyError::malformed(what, "not base64"))
}

/// The content a raw signature is checked against: the file's SHA-256 (ECDSA, RSA) and, when
/// some policy key is Ed25519, the file itself (held once, by the engine's single read), or
/// why it is not held (larger than [`ED25519_READ_MAX`]).
#[derive(Debug, Clone, Copy)]
pub struct RawContent<'a> {
    /// The file's SHA-256.
    pub sha256: &'a [u8],
    /// The file's bytes, or why they were not kept.
    pub whole: Result<&'a [u8], &'a str>,
}

/// Whether a raw signature check under `policy` needs the whole file (an Ed25519 key).
pub fn needs_whole(policy: &Policy) -> bool {
    policy
        .signers
        .iter()
        .flat_map(|s| &s.keys)
        .any(|k| matches!(k.key, PublicKey::Ed25519(_)))
}

/// The policy signer (and the index of its key in [`crate::verify::policy::Signer::keys`])
/// whose key verifies `sig` over the file whose content is `content`.
pub fn verify(
    policy: &Policy,
    sig: &[u8],
    content: RawContent<'_>,
) -> Result<(usize, usize), VerifyError> {
    let mut problems = Vec::new();
    for (i, signer) in policy.signers.iter().enumerate() {
        for (j, k) in signer.keys.iter().enumerate() {
            let signed = match &k.key {
                PublicKey::Ed25519(_) => match content.whole {
                    Ok(data) => Signed::Message(data),
                    Err(e) => {
                        problems.push(e.to_string());
                        continue;
                    }
                },
                _ => Signed::Sha256(content.sha256),
            };
            if check::verify(&k.key, signed, sig).is_ok() {
                return Ok((i, j));
            }
        }
    }
    problems.dedup();
    let extra = if problems.is_empty() {
        String::new()
    } else {
        format!(" ({})", problems.join("; "))
    };
    Err(VerifyError::BadSignature(format!(
        "the raw signature verifies with no key of the policy (an unknown key signed, or the file was changed){extra}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::scheme::HashAlg;
    use crate::verify::testutil::{TestKey, policy};

    #[test]
    fn ecdsa_and_ed25519_raw_signatures() {
        let a = TestKey::p256("alice", 1);
        let b = TestKey::ed25519("bob", 2);
        let m = TestKey::p256("mallory", 3);
        let p = policy(&format!(
            "{}{}[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\n",
            a.signer_toml(),
            b.signer_toml()
        ));
        let data: &[u8] = b"release bytes";
        let digest = HashAlg::Sha256.digest(data);
        let content = RawContent {
            sha256: &digest,
            whole: Ok(data),
        };
        assert!(needs_whole(&p));
        for (i, k) in [&a, &b].into_iter().enumerate() {
            let text = crate::format::raw::encode(&k.sign(data));
            let sig = decode(&text, "x.rawsig").unwrap();
            assert_eq!(verify(&p, &sig, content).unwrap(), (i, 0));
            let tampered = HashAlg::Sha256.digest(b"tampered");
            let changed = RawContent {
                sha256: &tampered,
                whole: Ok(b"tampered"),
            };
            assert!(verify(&p, &sig, changed).is_err());
        }
        // Too large to hold: the Ed25519 signature fails and says why.
        let big = RawContent {
            sha256: &digest,
            whole: Err("x is larger than 67108864 bytes"),
        };
        let e = verify(&p, &b.sign(data), big).unwrap_err().to_string();
        assert!(e.contains("(x is larger than"), "{e}");
        let sig = m.sign(data);
        let e = verify(&p, &sig, content).unwrap_err().to_string();
        assert!(
            e.starts_with("the raw signature verifies with no key of the policy"),
            "{e}"
        );
    }

    #[test]
    fn wrapped_base64_and_garbage() {
        let wrapped = "MEUCIQ\nDx\n";
        assert_eq!(
            decode(wrapped, "s").unwrap(),
            decode("MEUCIQDx", "s").unwrap()
        );
        assert!(
            decode("  \n", "s")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(
            decode("not base64!", "s")
                .unwrap_err()
                .to_string()
                .contains("not base64")
        );
    }
}
