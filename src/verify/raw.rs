//! Raw signatures (`FILE.rawsig`): the base64 of a canonical signature, as `hwsign sign
//! --format raw` writes it and `openssl dgst -sha256 -sign` / `openssl pkeyutl -rawin` make it
//! (line-wrapped base64 is fine). ECDSA (DER) and RSA sign the file's SHA-256; Ed25519 signs
//! the file itself. A raw signature names no key, so every key of the policy is tried.

use std::io::Read;
use std::path::Path;

use super::VerifyError;
use super::crypto::{self, Signed};
use super::policy::Policy;
use crate::pubkey::PublicKey;

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

fn read_small(file: &Path) -> Result<Vec<u8>, VerifyError> {
    let f = std::fs::File::open(file).map_err(|source| VerifyError::File {
        path: file.to_path_buf(),
        source,
    })?;
    let mut data = Vec::new();
    f.take(ED25519_READ_MAX + 1)
        .read_to_end(&mut data)
        .map_err(|source| VerifyError::File {
            path: file.to_path_buf(),
            source,
        })?;
    if data.len() as u64 > ED25519_READ_MAX {
        return Err(VerifyError::Refused(format!(
            "{} is larger than {ED25519_READ_MAX} bytes, too large for a raw Ed25519 signature check",
            file.display()
        )));
    }
    Ok(data)
}

/// The index of the policy signer whose key verifies `sig` over `file` (whose SHA-256 is
/// `sha256`).
pub fn verify(
    policy: &Policy,
    sig: &[u8],
    file: &Path,
    sha256: &[u8],
) -> Result<usize, VerifyError> {
    let mut contents: Option<Result<Vec<u8>, VerifyError>> = None;
    let mut problems = Vec::new();
    for (i, signer) in policy.signers.iter().enumerate() {
        let signed = match &signer.key {
            PublicKey::Ed25519(_) => {
                match contents.get_or_insert_with(|| read_small(file)).as_ref() {
                    Ok(data) => Signed::Message(data.as_slice()),
                    Err(e) => {
                        problems.push(e.to_string());
                        continue;
                    }
                }
            }
            _ => Signed::Sha256(sha256),
        };
        if crypto::verify(&signer.key, signed, sig).is_ok() {
            return Ok(i);
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
    use crate::proto::scheme::HashAlg;
    use crate::verify::testutil::{TestKey, files, policy};

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
        let (_dir, paths) = files(&[("x.tar.gz", b"release bytes")]);
        let digest = HashAlg::Sha256.digest(b"release bytes");
        for (i, k) in [&a, &b].into_iter().enumerate() {
            let text = crate::format::raw::encode(&k.sign(b"release bytes"));
            let sig = decode(&text, "x.rawsig").unwrap();
            assert_eq!(verify(&p, &sig, &paths[0], &digest).unwrap(), i);
            let tampered = HashAlg::Sha256.digest(b"tampered");
            if i == 0 {
                assert!(verify(&p, &sig, &paths[0], &tampered).is_err());
            }
        }
        let sig = m.sign(b"release bytes");
        let e = verify(&p, &sig, &paths[0], &digest)
            .unwrap_err()
            .to_string();
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
