//! OpenPGP detached signatures (`FILE.asc` armored, or binary `FILE.sig` as `gpg
//! --detach-sign` writes them), binary (type 0x00) or text (type 0x01, hashed with line endings
//! made CRLF), checked with `sequoia-openpgp` against the signers' certificates
//! (`openpgp_cert` in the policy) or, for signers pinned by a bare key, against that key's
//! material.
//!
//! The signature itself is held to sequoia's [`StandardPolicy`] (no MD5 or SHA-1, no unknown
//! critical subpackets or critical notations), must not have expired, and must not be dated
//! later than the verification time plus [`CLOCK_SKEW`]. Which certificate key made it is
//! returned; whether that key was usable (certificate and key not revoked, not expired,
//! signing-capable) is judged by the engine with [`key_status`], at the signature's creation
//! time (and also at the verification time with `openpgp_time = "verification"`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openpgp::cert::Cert;
use openpgp::cert::amalgamation::ValidAmalgamation;
use openpgp::crypto::hash::Context;
use openpgp::crypto::mpi;
use openpgp::packet::Signature;
use openpgp::packet::key::{PublicParts, UnspecifiedRole};
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::policy::{HashAlgoSecurity, Policy as _, StandardPolicy};
use openpgp::types::{Curve, PublicKeyAlgorithm, RevocationStatus, SignatureType};
use openpgp::{Fingerprint, Packet};
use sequoia_openpgp as openpgp;

use super::VerifyError;
use super::policy::{Policy, SignerKey};
use super::time::format_rfc3339;
use crate::crypto::pubkey::{KeyAlgorithm, PublicKey};

/// The armor line an OpenPGP signature starts with.
pub const ARMOR_BEGIN: &str = "-----BEGIN PGP SIGNATURE-----";

/// How far in the future (seconds after the verification time) a signature's creation time
/// may be, for clocks that are a little apart: 5 minutes. Later signatures are refused.
pub const CLOCK_SKEW: u64 = 5 * 60;

/// Whether `bytes` look like a binary OpenPGP packet (the first octet has its top bit set,
/// which neither armor, SSHSIG nor base64 text has).
pub fn is_binary_packet(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| b & 0x80 != 0)
}

type AnyKey = openpgp::packet::Key<PublicParts, UnspecifiedRole>;

/// The material of a key as hwsign's [`PublicKey`], for the algorithms hwsign knows.
fn to_public(key: &AnyKey) -> Result<PublicKey, String> {
    let unsupported = || format!("unsupported OpenPGP key algorithm {}", key.pk_algo());
    match key.mpis() {
        mpi::PublicKey::EdDSA {
            curve: Curve::Ed25519,
            q,
        } => PublicKey::ed25519_openpgp(q.value()).map_err(|e| e.to_string()),
        mpi::PublicKey::Ed25519 { a } => PublicKey::ed25519(a).map_err(|e| e.to_string()),
        mpi::PublicKey::ECDSA {
            curve: Curve::NistP256,
            q,
        } => PublicKey::from_sec1(KeyAlgorithm::EcdsaP256, q.value()).map_err(|e| e.to_string()),
        mpi::PublicKey::ECDSA {
            curve: Curve::NistP384,
            q,
        } => PublicKey::from_sec1(KeyAlgorithm::EcdsaP384, q.value()).map_err(|e| e.to_string()),
        mpi::PublicKey::RSA { e, n } => {
            PublicKey::rsa(n.value(), e.value()).map_err(|e| e.to_string())
        }
        _ => Err(unsupported()),
    }
}

/// A key's material in OpenPGP form, to tell whether two certificates hold the same key (their
/// fingerprints differ when the creation times do). Equal when algorithm and material are.
#[derive(Debug, Clone)]
pub struct MaterialId {
    /// The key's fingerprint in its certificate (for messages).
    pub fingerprint: Fingerprint,
    algo: PublicKeyAlgorithm,
    mpis: mpi::PublicKey,
}

impl PartialEq for MaterialId {
    fn eq(&self, other: &Self) -> bool {
        self.algo == other.algo && self.mpis == other.mpis
    }
}

/// A policy certificate, read.
#[derive(Debug, Clone)]
pub struct CertKeys {
    /// The certificate.
    pub cert: Cert,
    /// Its primary key.
    pub primary: PublicKey,
    /// The primary key, then every subkey that some self-signature gives the signing flag,
    /// as far as hwsign can represent it (these verify the other formats too).
    pub keys: Vec<SignerKey>,
    /// The material of the primary key and of every signing-capable subkey.
    pub material: Vec<MaterialId>,
}

/// Read a certificate (armored or binary) for the policy.
pub fn read_cert(cert_bytes: &[u8]) -> Result<CertKeys, String> {
    let cert =
        Cert::from_bytes(cert_bytes).map_err(|e| format!("not an OpenPGP certificate: {e}"))?;
    let primary_key: AnyKey = cert.primary_key().key().clone().role_into_unspecified();
    let primary = to_public(&primary_key)?;
    let mut keys = vec![SignerKey {
        key: primary.clone(),
        openpgp: Some(primary_key.fingerprint()),
    }];
    let mut material = vec![MaterialId {
        fingerprint: primary_key.fingerprint(),
        algo: primary_key.pk_algo(),
        mpis: primary_key.mpis().clone(),
    }];
    for ka in cert.keys().subkeys() {
        let signing = ka
            .self_signatures()
            .any(|s| s.key_flags().is_some_and(|f| f.for_signing()));
        if !signing {
            continue;
        }
        let key: AnyKey = ka.key().clone().role_into_unspecified();
        material.push(MaterialId {
            fingerprint: key.fingerprint(),
            algo: key.pk_algo(),
            mpis: key.mpis().clone(),
        });
        if let Ok(pk) = to_public(&key)
            && !keys.iter().any(|k| k.key == pk)
        {
            keys.push(SignerKey {
                key: pk,
                openpgp: Some(key.fingerprint()),
            });
        }
    }
    Ok(CertKeys {
        cert,
        primary,
        keys,
        material,
    })
}

/// The public key material of a certificate's primary key, as hwsign's [`PublicKey`].
pub fn cert_primary_key(cert_bytes: &[u8]) -> Result<PublicKey, String> {
    read_cert(cert_bytes).map(|c| c.primary)
}

fn malformed(detail: impl ToString) -> VerifyError {
    VerifyError::malformed("the OpenPGP signature", detail)
}

/// Read a detached signature (armored or binary): exactly one signature packet, of a binary or
/// text document.
pub fn parse_signature(bytes: &[u8]) -> Result<Signature, VerifyError> {
    let mut sigs = Vec::new();
    let mut ppr = PacketParser::from_bytes(bytes).map_err(malformed)?;
    while let PacketParserResult::Some(pp) = ppr {
        let (packet, next) = pp.recurse().map_err(malformed)?;
        match packet {
            Packet::Signature(s) => sigs.push(s),
            Packet::Unknown(u) => {
                return Err(malformed(format!(
                    "unreadable {} packet: {}",
                    u.tag(),
                    u.error()
                )));
            }
            other => {
                return Err(malformed(format!("unexpected {} packet", other.tag())));
            }
        }
        ppr = next;
    }
    let sig = match sigs.len() {
        1 => sigs.remove(0),
        0 => return Err(malformed("no signature packet")),
        n => {
            return Err(VerifyError::Refused(format!(
                "{n} signatures in one file: give one signature per file"
            )));
        }
    };
    if sig.typ() != SignatureType::Binary && sig.typ() != SignatureType::Text {
        return Err(VerifyError::Refused(format!(
            "a {} signature is not a document signature",
            sig.typ()
        )));
    }
    Ok(sig)
}

/// Hashes a file's content for one signature as the signature says: its hash algorithm, its
/// salt (v6), and for text signatures (type 0x01) every line ending (CR, LF or CRLF) as CRLF.
#[derive(Clone)]
pub struct SignatureHasher {
    ctx: Context,
    text: bool,
    last_was_cr: bool,
}

impl SignatureHasher {
    /// A hasher for `sig`.
    pub fn new(sig: &Signature) -> Result<Self, VerifyError> {
        let mut ctx = sig
            .hash_algo()
            .context()
            .map_err(|e| VerifyError::Refused(format!("hash {}: {e}", sig.hash_algo())))?
            .for_signature(sig.version());
        if let Some(salt) = sig.salt() {
            ctx.update(salt);
        }
        Ok(SignatureHasher {
            ctx,
            text: sig.typ() == SignatureType::Text,
            last_was_cr: false,
        })
    }

    /// Feed the next bytes of the content.
    pub fn update(&mut self, data: &[u8]) {
        if !self.text {
            self.ctx.update(data);
            return;
        }
        let mut start = 0;
        for (i, &c) in data.iter().enumerate() {
            if c == b'\n' && self.last_was_cr {
                // The LF of a CRLF whose CR was already hashed as CRLF.
                start = i + 1;
                self.last_was_cr = false;
                continue;
            }
            self.last_was_cr = false;
            if c == b'\r' || c == b'\n' {
                self.ctx.update(&data[start..i]);
                self.ctx.update(b"\r\n");
                start = i + 1;
                self.last_was_cr = c == b'\r';
            }
        }
        self.ctx.update(&data[start..]);
    }

    /// The hash context over everything fed, for [`verify`].
    pub fn finish(self) -> Context {
        self.ctx
    }
}

impl std::fmt::Debug for SignatureHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureHasher")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

/// What a verified OpenPGP signature proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenpgpCheck {
    /// The index of the policy signer that made it.
    pub signer: usize,
    /// The key of the signer's certificate that made it (none for a bare pinned key).
    pub key: Option<Fingerprint>,
    /// The signature's creation time (Unix seconds).
    pub time: u64,
}

fn system_time(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Check the signature itself at verification time `now`: sequoia's standard policy (hash
/// algorithm, critical subpackets and notations), not expired, not dated after `now` +
/// [`CLOCK_SKEW`]. Returns its creation time.
pub fn check_signature_policy(sig: &Signature, now: u64) -> Result<u64, VerifyError> {
    let created = sig
        .signature_creation_time()
        .ok_or_else(|| malformed("no creation time"))?;
    let sp = StandardPolicy::at(system_time(now));
    sp.signature(sig, HashAlgoSecurity::CollisionResistance)
        .map_err(|e| VerifyError::Refused(format!("refused by the OpenPGP policy: {e:#}")))?;
    let when = unix(created);
    if when > now.saturating_add(CLOCK_SKEW) {
        return Err(VerifyError::Refused(format!(
            "the signature is dated {}, in the future (later than the verification time plus {} minutes)",
            format_rfc3339(when),
            CLOCK_SKEW / 60
        )));
    }
    if let Some(period) = sig.signature_validity_period().filter(|p| !p.is_zero()) {
        let expires = when.saturating_add(period.as_secs());
        if expires <= now {
            return Err(VerifyError::Refused(format!(
                "the signature expired {}",
                format_rfc3339(expires)
            )));
        }
    }
    Ok(when)
}

/// Verify a detached signature over the content hashed into `hashed` (a [`SignatureHasher`]
/// for `sig`), at verification time `now`: the policy signer that made it, with which key and
/// when. Whether that key was usable then is for [`key_status`].
pub fn verify(
    policy: &Policy,
    sig: &Signature,
    hashed: Context,
    now: u64,
) -> Result<OpenpgpCheck, VerifyError> {
    let when = check_signature_policy(sig, now)?;
    let issuers = sig.get_issuers();
    let mut failures = Vec::new();
    for (i, signer) in policy.signers.iter().enumerate() {
        let candidates: Vec<(AnyKey, Option<Fingerprint>)> = match &signer.openpgp_cert {
            Some(cert) => cert
                .keys()
                .filter(|ka| issuers.iter().any(|h| ka.key().key_handle().aliases(h)))
                .map(|ka| {
                    let k: AnyKey = ka.key().clone().role_into_unspecified();
                    let fpr = k.fingerprint();
                    (k, Some(fpr))
                })
                .collect(),
            // A bare pinned key: its material, whatever certificate the signer used.
            None => match crate::format::openpgp::primary_key(&signer.key, UNIX_EPOCH) {
                Ok(k) if k.pk_algo() == sig.pk_algo() => vec![(k.role_into_unspecified(), None)],
                _ => Vec::new(),
            },
        };
        if candidates.is_empty() {
            continue;
        }
        for (key, fpr) in candidates {
            if sig.verify_hash(&key, hashed.clone()).is_ok() {
                return Ok(OpenpgpCheck {
                    signer: i,
                    key: fpr,
                    time: when,
                });
            }
        }
        if signer.openpgp_cert.is_some() {
            failures.push(format!("{}: signature does not verify", signer.name));
        }
    }
    if failures.is_empty() {
        let who = issuers
            .first()
            .map(|h| h.to_string())
            .unwrap_or_else(|| "(no issuer)".into());
        return Err(VerifyError::UnknownKey(who));
    }
    Err(VerifyError::BadSignature(failures.join("; ")))
}

/// ` (reason: …)` of the first revocation that gives one, for messages.
fn revocation_reason(revs: &[&Signature]) -> String {
    revs.iter()
        .find_map(|s| s.reason_for_revocation())
        .map(|(code, message)| {
            let message = String::from_utf8_lossy(message);
            if message.is_empty() {
                format!(" (reason: {code})")
            } else {
                format!(" (reason: {code}: {message})")
            }
        })
        .unwrap_or_default()
}

/// Why the key `fpr` of `cert` could not make signatures that count at time `at` (Unix
/// seconds), if it could not: the certificate not valid under the standard policy, revoked
/// (a `compromised` or reasonless revocation at any time, others from their date on) or
/// expired; the key not bound, not signing-capable, revoked or expired.
pub fn key_status(cert: &Cert, fpr: &Fingerprint, at: u64) -> Result<(), String> {
    let sp = StandardPolicy::new();
    let t = system_time(at);
    let shown = format_rfc3339(at);
    let cfpr = cert.fingerprint();
    let vc = cert
        .with_policy(&sp, t)
        .map_err(|e| format!("certificate {cfpr} is not valid at {shown}: {e}"))?;
    if let RevocationStatus::Revoked(revs) = vc.revocation_status() {
        return Err(format!(
            "certificate {cfpr} is revoked{}",
            revocation_reason(&revs)
        ));
    }
    vc.alive()
        .map_err(|e| format!("certificate {cfpr} has expired (at {shown}): {e}"))?;
    let ka = vc
        .keys()
        .key_handle(fpr.clone())
        .next()
        .ok_or_else(|| format!("key {fpr} of certificate {cfpr} is not valid at {shown}"))?;
    if !ka.for_signing() {
        return Err(format!(
            "key {fpr} of certificate {cfpr} is not a signing key"
        ));
    }
    if let RevocationStatus::Revoked(revs) = ka.revocation_status() {
        return Err(format!(
            "key {fpr} of certificate {cfpr} is revoked{}",
            revocation_reason(&revs)
        ));
    }
    ka.alive()
        .map_err(|e| format!("key {fpr} of certificate {cfpr} has expired (at {shown}): {e}"))
}

#[cfg(test)]
mod tests;
