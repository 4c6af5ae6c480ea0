//! Signature checks for every key type hwsign knows, over a message or over a SHA-256 prehash,
//! with the canonical encodings: ECDSA as ASN.1 DER, Ed25519 as 64 bytes, RSA as the integer.
//! For each key the plausible schemes are tried in order and the one that verified is returned.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256, Sha384};

use crate::crypto::pubkey::PublicKey;
use crate::crypto::scheme::{HashAlg, Scheme};

/// What the signature covers.
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    /// The message itself (DSSE's PAE, an SSHSIG blob, a small file for Ed25519).
    Message(&'a [u8]),
    /// The SHA-256 of the message (raw ECDSA and RSA signatures of files).
    Sha256(&'a [u8]),
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The signature is not in the key type's canonical encoding.
    #[error("malformed {alg} signature: {detail}")]
    Malformed {
        /// The key's algorithm.
        alg: String,
        /// What is wrong.
        detail: String,
    },
    /// The key cannot have made a signature over this input.
    #[error("{0}")]
    Unsupported(String),
    /// The signature is well-formed but does not verify with the key.
    #[error("the signature does not verify with the {0} key")]
    Mismatch(String),
}

/// Verify `sig` over `signed` with `key`; the scheme that verified.
///
/// - ECDSA P-256: SHA-256. P-384: SHA-384, then SHA-256 (for messages; prehashes are SHA-256).
/// - Ed25519: PureEdDSA over the message (strict verification); a prehash is refused.
/// - RSA: PKCS#1 v1.5 with SHA-256, then PSS with SHA-256 and MGF1-SHA-256 with a salt as long
///   as the hash, then with the longest salt (what some signers default to).
pub fn verify(key: &PublicKey, signed: Signed<'_>, sig: &[u8]) -> Result<Scheme, CryptoError> {
    let alg = key.algorithm().to_string();
    let mismatch = || CryptoError::Mismatch(alg.clone());
    let sha256 = |m: &[u8]| Sha256::digest(m).to_vec();
    match key {
        PublicKey::P256(pk) => {
            let sig =
                p256::ecdsa::Signature::from_der(sig).map_err(|e| CryptoError::Malformed {
                    alg: alg.clone(),
                    detail: format!("not DER: {e}"),
                })?;
            let prehash = match signed {
                Signed::Message(m) => sha256(m),
                Signed::Sha256(d) => d.to_vec(),
            };
            p256::ecdsa::VerifyingKey::from(pk)
                .verify_prehash(&prehash, &sig)
                .map(|()| Scheme::Ecdsa(HashAlg::Sha256))
                .map_err(|_| mismatch())
        }
        PublicKey::P384(pk) => {
            let sig =
                p384::ecdsa::Signature::from_der(sig).map_err(|e| CryptoError::Malformed {
                    alg: alg.clone(),
                    detail: format!("not DER: {e}"),
                })?;
            let vk = p384::ecdsa::VerifyingKey::from(pk);
            let candidates = match signed {
                Signed::Message(m) => vec![
                    (HashAlg::Sha384, Sha384::digest(m).to_vec()),
                    (HashAlg::Sha256, sha256(m)),
                ],
                Signed::Sha256(d) => vec![(HashAlg::Sha256, d.to_vec())],
            };
            candidates
                .into_iter()
                .find(|(_, prehash)| vk.verify_prehash(prehash, &sig).is_ok())
                .map(|(h, _)| Scheme::Ecdsa(h))
                .ok_or_else(mismatch)
        }
        PublicKey::Ed25519(vk) => {
            let Signed::Message(m) = signed else {
                return Err(CryptoError::Unsupported(
                    "an Ed25519 key signs the message itself, not a digest".into(),
                ));
            };
            let sig =
                ed25519_dalek::Signature::from_slice(sig).map_err(|_| CryptoError::Malformed {
                    alg: alg.clone(),
                    detail: format!("{} bytes, expected 64", sig.len()),
                })?;
            vk.verify_strict(m, &sig)
                .map(|()| Scheme::Ed25519)
                .map_err(|_| mismatch())
        }
        PublicKey::Rsa(pk) => {
            use rsa::traits::PublicKeyParts;
            let digest = match signed {
                Signed::Message(m) => sha256(m),
                Signed::Sha256(d) => d.to_vec(),
            };
            if pk
                .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, sig)
                .is_ok()
            {
                return Ok(Scheme::RsaPkcs1v15(HashAlg::Sha256));
            }
            // emLen = ceil((modBits - 1) / 8); the longest salt is emLen - hLen - 2.
            let em_len = (pk.n().bits() + 6) / 8;
            let max_salt = em_len.saturating_sub(32 + 2);
            let pss_ok = |salt: usize| {
                pk.verify(rsa::Pss::new_with_salt::<Sha256>(salt), &digest, sig)
                    .is_ok()
            };
            if pss_ok(32) || (max_salt != 32 && pss_ok(max_salt)) {
                return Ok(Scheme::RsaPss(HashAlg::Sha256));
            }
            Err(mismatch())
        }
    }
}

/// ECDSA verification of `der` over `digest` by OpenSSL: an error for anything but a good
/// signature.
fn ecdsa_openssl(key: &PublicKey, digest: &[u8], der: &[u8]) -> Result<(), ()> {
    let verified = openssl_ec_key(key)
        .and_then(|ec| openssl::ecdsa::EcdsaSig::from_der(der)?.verify(digest, &ec));
    match verified {
        Ok(true) => Ok(()),
        _ => Err(()),
    }
}

/// How many OpenSSL EC keys are kept: an agent checks the signatures of a few keys over and
/// over; more than this and the oldest is built again when needed.
const OPENSSL_KEYS_KEPT: usize = 16;

/// The OpenSSL form of an ECDSA key, built once per key and kept: decoding a key through
/// OpenSSL 3's decoders cost several times the signature check itself.
fn openssl_ec_key(
    key: &PublicKey,
) -> Result<openssl::ec::EcKey<openssl::pkey::Public>, openssl::error::ErrorStack> {
    use openssl::ec::{EcGroup, EcKey, EcPoint};
    use openssl::nid::Nid;
    use std::sync::Mutex;
    type Kept = Vec<(Vec<u8>, EcKey<openssl::pkey::Public>)>;
    static KEPT: Mutex<Kept> = Mutex::new(Vec::new());
    let (nid, point) = match key {
        PublicKey::P256(k) => (Nid::X9_62_PRIME256V1, k.to_sec1_bytes().to_vec()),
        PublicKey::P384(k) => (Nid::SECP384R1, k.to_sec1_bytes().to_vec()),
        _ => return Err(openssl::error::ErrorStack::get()),
    };
    // A poisoned lock only means another check panicked: the keys in it are still right.
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, ec)) = kept.iter().find(|(p, _)| *p == point) {
        return Ok(ec.clone());
    }
    let group = EcGroup::from_curve_name(nid)?;
    let mut ctx = openssl::bn::BigNumContext::new()?;
    let ec = EcKey::from_public_key(&group, &*EcPoint::from_bytes(&group, &point, &mut ctx)?)?;
    ec.check_key()?;
    if kept.len() >= OPENSSL_KEYS_KEPT {
        kept.remove(0);
    }
    kept.push((point, ec.clone()));
    Ok(ec)
}

/// Check `sig` as made with exactly `scheme` (hash and padding as the signer was asked) over
/// `signed`: a message (hashed here with the scheme's hash) or the scheme's digest of it. The
/// client checks every signature the agent returns before it writes anything.
pub fn check(
    key: &PublicKey,
    scheme: Scheme,
    signed: Signed<'_>,
    sig: &[u8],
) -> Result<(), CryptoError> {
    use sha2::Sha512;
    let alg = key.algorithm().to_string();
    let mismatch = || CryptoError::Mismatch(alg.clone());
    let malformed = |detail: String| CryptoError::Malformed {
        alg: alg.clone(),
        detail,
    };
    let digest = |h: HashAlg| match signed {
        Signed::Message(m) => match h {
            HashAlg::Sha256 => Sha256::digest(m).to_vec(),
            HashAlg::Sha384 => Sha384::digest(m).to_vec(),
            HashAlg::Sha512 => Sha512::digest(m).to_vec(),
        },
        Signed::Sha256(d) => d.to_vec(),
    };
    match (key, scheme) {
        (PublicKey::P256(_), Scheme::Ecdsa(h)) => {
            // Strict DER first (the one encoding hwsign writes), then OpenSSL's verification.
            p256::ecdsa::Signature::from_der(sig)
                .map_err(|e| malformed(format!("not DER: {e}")))?;
            ecdsa_openssl(key, &digest(h), sig).map_err(|_| mismatch())
        }
        (PublicKey::P384(_), Scheme::Ecdsa(h)) => {
            p384::ecdsa::Signature::from_der(sig)
                .map_err(|e| malformed(format!("not DER: {e}")))?;
            ecdsa_openssl(key, &digest(h), sig).map_err(|_| mismatch())
        }
        (PublicKey::Ed25519(vk), Scheme::Ed25519) => {
            let Signed::Message(m) = signed else {
                return Err(CryptoError::Unsupported(
                    "an Ed25519 key signs the message itself, not a digest".into(),
                ));
            };
            let sig = ed25519_dalek::Signature::from_slice(sig)
                .map_err(|_| malformed(format!("{} bytes, expected 64", sig.len())))?;
            vk.verify_strict(m, &sig).map_err(|_| mismatch())
        }
        (PublicKey::Rsa(pk), Scheme::RsaPkcs1v15(h)) => {
            let padding = match h {
                HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
            };
            pk.verify(padding, &digest(h), sig).map_err(|_| mismatch())
        }
        (PublicKey::Rsa(pk), Scheme::RsaPss(h)) => {
            // The salt as long as the hash (what hwsign asks tokens for).
            let padding = match h {
                HashAlg::Sha256 => rsa::Pss::new::<Sha256>(),
                HashAlg::Sha384 => rsa::Pss::new::<Sha384>(),
                HashAlg::Sha512 => rsa::Pss::new::<Sha512>(),
            };
            pk.verify(padding, &digest(h), sig).map_err(|_| mismatch())
        }
        (_, scheme) => Err(CryptoError::Unsupported(format!(
            "a {alg} key does not sign {scheme:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testutil::TestKey;

    #[test]
    fn ecdsa_and_ed25519_messages_and_prehashes() {
        let msg = b"DSSEv1 4 test 5 hello";
        for key in [TestKey::p256("p", 7), TestKey::ed25519("e", 7)] {
            let sig = key.sign(msg);
            let scheme = verify(&key.public, Signed::Message(msg), &sig).unwrap();
            assert_eq!(scheme, key.public.algorithm().default_scheme());
            let err = verify(&key.public, Signed::Message(b"other"), &sig).unwrap_err();
            assert!(matches!(err, CryptoError::Mismatch(_)), "{err}");
        }
        let p = TestKey::p256("p", 9);
        let sig = p.sign(msg);
        let digest = Sha256::digest(msg);
        assert!(verify(&p.public, Signed::Sha256(&digest), &sig).is_ok());
        let e = TestKey::ed25519("e", 9);
        assert!(matches!(
            verify(&e.public, Signed::Sha256(&digest), &e.sign(msg)),
            Err(CryptoError::Unsupported(_))
        ));
    }

    #[test]
    fn wrong_key_and_bad_encodings() {
        let a = TestKey::p256("a", 7);
        let b = TestKey::p256("b", 8);
        let sig = a.sign(b"m");
        assert!(matches!(
            verify(&b.public, Signed::Message(b"m"), &sig),
            Err(CryptoError::Mismatch(_))
        ));
        assert!(matches!(
            verify(&a.public, Signed::Message(b"m"), &[0x30, 0x01]),
            Err(CryptoError::Malformed { .. })
        ));
        let e = TestKey::ed25519("e", 7);
        assert!(matches!(
            verify(&e.public, Signed::Message(b"m"), &[0u8; 63]),
            Err(CryptoError::Malformed { .. })
        ));
    }

    /// The OpenSSL path of `check` agrees with the pure-Rust curves: another key's signature,
    /// a changed digest and malformed DER are refused, for P-256 and P-384.
    #[test]
    fn ecdsa_checks_by_openssl_refuse_what_they_should() {
        use p384::ecdsa::signature::hazmat::PrehashSigner;
        let digest = Sha384::digest(b"m");
        let sk = p384::ecdsa::SigningKey::from_slice(&[5; 48]).unwrap();
        let public = PublicKey::P384((*sk.verifying_key()).into());
        let other = PublicKey::P384(
            (*p384::ecdsa::SigningKey::from_slice(&[6; 48])
                .unwrap()
                .verifying_key())
            .into(),
        );
        let sig: p384::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
        let der = sig.to_der().as_bytes().to_vec();
        let scheme = Scheme::Ecdsa(HashAlg::Sha384);
        check(&public, scheme, Signed::Message(b"m"), &der).unwrap();
        assert!(matches!(
            check(&other, scheme, Signed::Message(b"m"), &der),
            Err(CryptoError::Mismatch(_))
        ));
        assert!(matches!(
            check(&public, scheme, Signed::Message(b"n"), &der),
            Err(CryptoError::Mismatch(_))
        ));
        assert!(matches!(
            check(
                &public,
                scheme,
                Signed::Message(b"m"),
                &der[..der.len() - 1]
            ),
            Err(CryptoError::Malformed { .. })
        ));
        let a = TestKey::p256("a", 7);
        let b = TestKey::p256("b", 8);
        let sig = a.sign(b"m");
        let p256 = Scheme::Ecdsa(HashAlg::Sha256);
        check(&a.public, p256, Signed::Message(b"m"), &sig).unwrap();
        assert!(matches!(
            check(&b.public, p256, Signed::Message(b"m"), &sig),
            Err(CryptoError::Mismatch(_))
        ));
    }

    /// The kept OpenSSL keys never answer for another key, also after more keys than are kept
    /// pushed the first ones out and they were built again.
    #[test]
    fn kept_openssl_keys_stay_with_their_key() {
        let p256 = Scheme::Ecdsa(HashAlg::Sha256);
        let keys: Vec<TestKey> = (0..OPENSSL_KEYS_KEPT as u8 + 4)
            .map(|i| TestKey::p256("k", 40 + i))
            .collect();
        for _ in 0..2 {
            for (i, key) in keys.iter().enumerate() {
                let sig = key.sign(b"m");
                check(&key.public, p256, Signed::Message(b"m"), &sig).unwrap();
                let next = &keys[(i + 1) % keys.len()];
                assert!(matches!(
                    check(&next.public, p256, Signed::Message(b"m"), &sig),
                    Err(CryptoError::Mismatch(_))
                ));
            }
        }
    }

    #[test]
    fn check_wants_exactly_the_scheme_asked_for() {
        let msg = b"SSHSIG blob or PAE";
        let p = TestKey::p256("p", 9);
        let sig = p.sign(msg);
        let sha256 = Sha256::digest(msg).to_vec();
        let ecdsa = Scheme::Ecdsa(HashAlg::Sha256);
        check(&p.public, ecdsa, Signed::Message(msg), &sig).unwrap();
        check(&p.public, ecdsa, Signed::Sha256(&sha256), &sig).unwrap();
        assert!(check(&p.public, ecdsa, Signed::Message(b"other"), &sig).is_err());
        assert!(
            check(
                &p.public,
                Scheme::Ecdsa(HashAlg::Sha512),
                Signed::Message(msg),
                &sig
            )
            .is_err()
        );
        assert!(check(&p.public, Scheme::Ed25519, Signed::Message(msg), &sig).is_err());
        let e = TestKey::ed25519("e", 9);
        let sig = e.sign(msg);
        check(&e.public, Scheme::Ed25519, Signed::Message(msg), &sig).unwrap();
        assert!(check(&e.public, Scheme::Ed25519, Signed::Sha256(&sha256), &sig).is_err());
        assert!(check(&e.public, Scheme::Ed25519, Signed::Message(b"other"), &sig).is_err());
    }
}
