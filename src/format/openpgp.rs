//! OpenPGP for token keys through `sequoia-openpgp`: a v4 primary key built from a token's
//! public key and its creation time (so every machine computes the same fingerprint), a
//! [`Signer`](openpgp::crypto::Signer) adapter that hands digests to a signing callback (the
//! agent, for hwsign), certificates with a user-ID self-signature, and armored detached
//! signatures. Bytes in, bytes out: the callback is the only way out of this module.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openpgp::cert::Cert;
use openpgp::crypto::{Signer, hash::Context, mpi};
use openpgp::packet::key::{Key4, PrimaryRole, PublicParts, UnspecifiedRole};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::signature::subpacket::{Subpacket, SubpacketValue};
use openpgp::packet::{Key, UserID};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::{Serialize, SerializeInto};
use openpgp::types::{
    Curve, Features, HashAlgorithm, KeyFlags, PublicKeyAlgorithm, ReasonForRevocation,
    RevocationStatus, SignatureType,
};
use openpgp::{Packet, armor};
use sequoia_openpgp as openpgp;

use super::FormatError;
use crate::crypto::ecdsa;
use crate::crypto::pubkey::{KeyAlgorithm, PublicKey};
use crate::crypto::scheme::{HashAlg, Scheme};

fn pgp_err(e: impl std::fmt::Display) -> FormatError {
    FormatError::Invalid(format!("OpenPGP: {e}"))
}

/// The OpenPGP hash hwsign uses for a key (SHA-256; SHA-512 for P-384).
pub fn hash_for(alg: KeyAlgorithm) -> HashAlgorithm {
    match alg {
        KeyAlgorithm::EcdsaP384 => HashAlgorithm::SHA512,
        _ => HashAlgorithm::SHA256,
    }
}

fn hash_alg(h: HashAlgorithm) -> Result<HashAlg, FormatError> {
    match h {
        HashAlgorithm::SHA256 => Ok(HashAlg::Sha256),
        HashAlgorithm::SHA384 => Ok(HashAlg::Sha384),
        HashAlgorithm::SHA512 => Ok(HashAlg::Sha512),
        other => Err(pgp_err(format!("hash {other} is not supported by hwsign"))),
    }
}

/// The scheme the agent signs an OpenPGP digest made with `hash` with. Ed25519 signs the
/// digest as its message.
pub fn scheme_for(alg: KeyAlgorithm, hash: HashAlgorithm) -> Result<Scheme, FormatError> {
    Ok(match alg {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => Scheme::Ecdsa(hash_alg(hash)?),
        KeyAlgorithm::Ed25519 => Scheme::Ed25519,
        KeyAlgorithm::Rsa(_) => Scheme::RsaPkcs1v15(hash_alg(hash)?),
    })
}

/// A creation time as OpenPGP stores it (whole seconds since the epoch).
pub fn creation_time(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

/// The v4 primary key for a token key created at `created` (legacy EdDSA, algorithm 22,
/// for Ed25519: what gpg 2.2 and sqv understand).
pub fn primary_key(
    pk: &PublicKey,
    created: SystemTime,
) -> Result<Key<PublicParts, PrimaryRole>, FormatError> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let key: Key4<PublicParts, PrimaryRole> = match pk {
        PublicKey::Ed25519(k) => {
            Key4::import_public_ed25519(k.as_bytes(), created).map_err(pgp_err)?
        }
        PublicKey::Rsa(k) => {
            use rsa::traits::PublicKeyParts;
            Key4::import_public_rsa(&k.e().to_bytes_be(), &k.n().to_bytes_be(), created)
                .map_err(pgp_err)?
        }
        PublicKey::P256(k) => Key4::new(
            created,
            PublicKeyAlgorithm::ECDSA,
            mpi::PublicKey::ECDSA {
                curve: Curve::NistP256,
                q: mpi::MPI::new(k.to_encoded_point(false).as_bytes()),
            },
        )
        .map_err(pgp_err)?,
        PublicKey::P384(k) => Key4::new(
            created,
            PublicKeyAlgorithm::ECDSA,
            mpi::PublicKey::ECDSA {
                curve: Curve::NistP384,
                q: mpi::MPI::new(k.to_encoded_point(false).as_bytes()),
            },
        )
        .map_err(pgp_err)?,
    };
    Ok(key.into())
}

/// Signs OpenPGP digests through a callback `(scheme, digest) -> canonical signature`
/// (ECDSA DER, Ed25519 64 bytes, RSA integer), which for hwsign asks the agent.
pub struct DigestSigner<F> {
    public: Key<PublicParts, UnspecifiedRole>,
    alg: KeyAlgorithm,
    sign: F,
}

impl<F> DigestSigner<F>
where
    F: FnMut(Scheme, &[u8]) -> Result<Vec<u8>, String>,
{
    /// A signer for `public` (an OpenPGP key whose material is `pk`).
    pub fn new(public: Key<PublicParts, UnspecifiedRole>, pk: &PublicKey, sign: F) -> Self {
        DigestSigner {
            public,
            alg: pk.algorithm(),
            sign,
        }
    }
}

impl<F> Signer for DigestSigner<F>
where
    F: FnMut(Scheme, &[u8]) -> Result<Vec<u8>, String>,
{
    fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        &self.public
    }

    fn acceptable_hashes(&self) -> &[HashAlgorithm] {
        &[
            HashAlgorithm::SHA256,
            HashAlgorithm::SHA384,
            HashAlgorithm::SHA512,
        ]
    }

    fn sign(&mut self, hash_algo: HashAlgorithm, digest: &[u8]) -> openpgp::Result<mpi::Signature> {
        let scheme = scheme_for(self.alg, hash_algo)?;
        let sig = (self.sign)(scheme, digest).map_err(|e| anyhow::anyhow!(e))?;
        Ok(match self.alg {
            KeyAlgorithm::Ed25519 => {
                if sig.len() != 64 {
                    return Err(anyhow::anyhow!("Ed25519 signature of {} bytes", sig.len()));
                }
                mpi::Signature::EdDSA {
                    r: mpi::MPI::new(&sig[..32]),
                    s: mpi::MPI::new(&sig[32..]),
                }
            }
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let (r, s) = ecdsa::der_to_parts(&sig)?;
                mpi::Signature::ECDSA {
                    r: mpi::MPI::new(&r),
                    s: mpi::MPI::new(&s),
                }
            }
            KeyAlgorithm::Rsa(_) => mpi::Signature::RSA {
                s: mpi::MPI::new(&sig),
            },
        })
    }
}

/// Why a key is revoked, as verifiers read it: a key `compromised` (or revoked without a
/// reason) is untrusted for every signature, earlier ones included; a key `superseded` or
/// `retired` only for signatures made after the revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// The key leaked.
    Compromised,
    /// A new key replaces it.
    Superseded,
    /// It is no longer used.
    Retired,
    /// No reason given (verifiers treat it as compromised).
    Unspecified,
}

impl RevocationReason {
    fn code(self) -> ReasonForRevocation {
        match self {
            RevocationReason::Compromised => ReasonForRevocation::KeyCompromised,
            RevocationReason::Superseded => ReasonForRevocation::KeySuperseded,
            RevocationReason::Retired => ReasonForRevocation::KeyRetired,
            RevocationReason::Unspecified => ReasonForRevocation::Unspecified,
        }
    }
}

/// A revocation to add to a certificate: the reason and a message for people.
#[derive(Debug, Clone)]
pub struct Revocation {
    /// Why.
    pub reason: RevocationReason,
    /// Free text for people (may be empty).
    pub message: String,
}

/// A certificate whose primary key is the signer's key, with `userid` bound to it by a
/// positive certification made by the signer (the token). Armored. With `expires`, the key
/// (and so the certificate) expires that long after its creation. With `revocation`, the
/// certificate also carries a key revocation made now by the token (publish it where the
/// certificate is published: verifiers then stop trusting the key as the reason says).
pub fn certificate(
    signer: &mut dyn Signer,
    userid: &str,
    hash: HashAlgorithm,
    expires: Option<Duration>,
    revocation: Option<&Revocation>,
) -> Result<String, FormatError> {
    let primary: Key<PublicParts, PrimaryRole> = signer.public().clone().role_into_primary();
    let created = primary.creation_time();
    let uid = UserID::from(userid);
    let binding = SignatureBuilder::new(SignatureType::PositiveCertification)
        .set_hash_algo(hash)
        // Dated at the key's creation, so a certificate exported later still covers signatures
        // made before the export.
        .set_signature_creation_time(created)
        .and_then(|b| b.set_key_flags(KeyFlags::empty().set_certification().set_signing()))
        .and_then(|b| b.set_features(Features::empty().set_seipdv1()))
        .and_then(|b| {
            b.set_preferred_hash_algorithms(vec![HashAlgorithm::SHA512, HashAlgorithm::SHA256])
        })
        .and_then(|b| b.set_primary_userid(true))
        .and_then(|b| b.set_key_validity_period(expires))
        // Not critical (sequoia marks them so): rpm 4.18's parser refuses a certificate with
        // critical subpackets it does not know, and gpg does not mark them either.
        .and_then(|b| {
            b.modify_hashed_area(|mut a| {
                a.replace(Subpacket::new(SubpacketValue::PrimaryUserID(true), false)?)?;
                a.replace(Subpacket::new(
                    SubpacketValue::KeyFlags(KeyFlags::empty().set_certification().set_signing()),
                    false,
                )?)?;
                Ok(a)
            })
        })
        .map_err(pgp_err)?
        .sign_userid_binding(signer, Some(&primary), &uid)
        .map_err(pgp_err)?;
    let mut packets = vec![Packet::from(primary.clone()), uid.into(), binding.into()];
    if let Some(r) = revocation {
        let revocation = SignatureBuilder::new(SignatureType::KeyRevocation)
            .set_hash_algo(hash)
            .set_signature_creation_time(SystemTime::now())
            .and_then(|b| b.set_reason_for_revocation(r.reason.code(), r.message.as_bytes()))
            .map_err(pgp_err)?
            .sign_direct_key(signer, Some(&primary))
            .map_err(pgp_err)?;
        packets.push(revocation.into());
    }
    let cert = Cert::from_packets(packets.into_iter()).map_err(pgp_err)?;
    let bytes = cert.armored().to_vec().map_err(pgp_err)?;
    String::from_utf8(bytes).map_err(pgp_err)
}

/// A fresh hash context for a v4 signature (feed it the file, then [`detached`]).
pub fn hash_context(hash: HashAlgorithm) -> Result<Context, FormatError> {
    Ok(hash.context().map_err(pgp_err)?.for_signature(4))
}

/// An armored detached binary signature over the data fed into `hash`.
pub fn detached(signer: &mut dyn Signer, hash: Context) -> Result<String, FormatError> {
    let public = signer.public().clone();
    let sig = SignatureBuilder::new(SignatureType::Binary)
        .set_signature_creation_time(SystemTime::now())
        .and_then(|b| b.set_issuer_fingerprint(public.fingerprint()))
        .and_then(|b| b.set_issuer(public.keyid()))
        .map_err(pgp_err)?
        .sign_hash(signer, hash)
        .map_err(pgp_err)?;
    let mut w = armor::Writer::new(Vec::new(), armor::Kind::Signature).map_err(pgp_err)?;
    Packet::from(sig).serialize(&mut w).map_err(pgp_err)?;
    let bytes = w.finalize().map_err(pgp_err)?;
    String::from_utf8(bytes).map_err(pgp_err)
}

/// The key of `cert` (primary or subkey) whose material is `pk`, checked to be usable for
/// signing now: the certificate valid, not expired, not revoked, the key signing-capable.
pub fn signing_key_in(
    cert_bytes: &[u8],
    pk: &PublicKey,
) -> Result<Key<PublicParts, UnspecifiedRole>, FormatError> {
    let cert = Cert::from_bytes(cert_bytes)
        .map_err(|e| FormatError::Invalid(format!("not an OpenPGP certificate: {e}")))?;
    let fpr = cert.fingerprint();
    let policy = StandardPolicy::new();
    let want = primary_key(pk, UNIX_EPOCH).map_err(pgp_err)?;
    let matches = |k: &Key<PublicParts, UnspecifiedRole>| {
        k.pk_algo() == want.pk_algo() && k.mpis() == want.mpis()
    };
    let Some(any) = cert.keys().map(|ka| ka.key().clone()).find(|k| matches(k)) else {
        return Err(FormatError::Invalid(format!(
            "certificate {fpr} has no key matching this token key\n  hint: pass the certificate made for this key (`hwsign keys export KEY --format openpgp --userid …`), or choose the key with --key"
        )));
    };
    let vc = cert.with_policy(&policy, None).map_err(|e| {
        FormatError::Invalid(format!(
            "certificate {fpr} is not valid now: {e}\n  hint: extend or re-certify it"
        ))
    })?;
    if let RevocationStatus::Revoked(_) = vc.revocation_status() {
        return Err(FormatError::Invalid(format!(
            "certificate {fpr} is revoked\n  hint: use a certificate that is not revoked"
        )));
    }
    vc.alive().map_err(|e| {
        FormatError::Invalid(format!(
            "certificate {fpr} has expired: {e}\n  hint: extend its expiry, then export it again"
        ))
    })?;
    let usable = vc
        .keys()
        .for_signing()
        .alive()
        .revoked(false)
        .map(|ka| ka.key().clone())
        .find(|k| matches(k));
    usable.ok_or_else(|| {
        FormatError::Invalid(format!(
            "key {} of certificate {fpr} is not a valid signing key now (expired, revoked or without the signing flag)",
            any.fingerprint()
        ))
    })
}
