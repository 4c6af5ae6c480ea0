//! OpenPGP detached signatures (`FILE.asc`, from `hwsign sign --format openpgp` or
//! `gpg --detach-sign`): checked with `sequoia-openpgp` against the signers' certificates
//! (`openpgp_cert` in the policy) or, for signers pinned by a bare key, against that key's
//! material. The signature's creation time is the time validity windows are checked at.

use std::io::Read;
use std::path::Path;
use std::time::UNIX_EPOCH;

use openpgp::Packet;
use openpgp::cert::Cert;
use openpgp::crypto::mpi;
use openpgp::packet::Signature;
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::policy::StandardPolicy;
use openpgp::types::{Curve, RevocationStatus};
use sequoia_openpgp as openpgp;

use super::VerifyError;
use super::policy::Policy;
use crate::pubkey::{KeyAlgorithm, PublicKey};

/// The armor line an OpenPGP signature starts with.
pub const ARMOR_BEGIN: &str = "-----BEGIN PGP SIGNATURE-----";

/// The public key material of a certificate's primary key, as hwsign's [`PublicKey`].
pub fn cert_primary_key(cert_bytes: &[u8]) -> Result<PublicKey, String> {
    let cert =
        Cert::from_bytes(cert_bytes).map_err(|e| format!("not an OpenPGP certificate: {e}"))?;
    let key = cert.primary_key().key().clone();
    let unsupported = || format!("unsupported OpenPGP key algorithm {}", key.pk_algo());
    match key.mpis() {
        mpi::PublicKey::EdDSA {
            curve: Curve::Ed25519,
            q,
        } => {
            let bytes = q.value();
            let raw = bytes.strip_prefix(&[0x40]).unwrap_or(bytes);
            PublicKey::ed25519(raw).map_err(|e| e.to_string())
        }
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

fn only_signature(text: &[u8]) -> Result<Signature, VerifyError> {
    let mut sigs = Vec::new();
    let mut ppr = PacketParser::from_bytes(text)
        .map_err(|e| VerifyError::malformed("the OpenPGP signature", e))?;
    while let PacketParserResult::Some(pp) = ppr {
        let (packet, next) = pp
            .recurse()
            .map_err(|e| VerifyError::malformed("the OpenPGP signature", e))?;
        match packet {
            Packet::Signature(s) => sigs.push(s),
            other => {
                return Err(VerifyError::malformed(
                    "the OpenPGP signature",
                    format!("unexpected {} packet", other.tag()),
                ));
            }
        }
        ppr = next;
    }
    match sigs.len() {
        1 => Ok(sigs.remove(0)),
        0 => Err(VerifyError::malformed(
            "the OpenPGP signature",
            "no signature packet",
        )),
        n => Err(VerifyError::Refused(format!(
            "{n} signatures in one .asc: give one signature per file"
        ))),
    }
}

fn hash_file(sig: &Signature, file: &Path) -> Result<openpgp::crypto::hash::Context, VerifyError> {
    let mut ctx = sig
        .hash_algo()
        .context()
        .map_err(|e| VerifyError::Refused(format!("hash {}: {e}", sig.hash_algo())))?
        .for_signature(sig.version());
    let mut f = std::fs::File::open(file).map_err(|source| VerifyError::File {
        path: file.to_path_buf(),
        source,
    })?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|source| VerifyError::File {
            path: file.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx)
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

/// Verify a detached signature over `file`: the index of the policy signer that made it and the
/// signature's creation time (Unix seconds).
pub fn verify(policy: &Policy, text: &[u8], file: &Path) -> Result<(usize, u64), VerifyError> {
    let sig = only_signature(text)?;
    if sig.typ() != openpgp::types::SignatureType::Binary
        && sig.typ() != openpgp::types::SignatureType::Text
    {
        return Err(VerifyError::Refused(format!(
            "a {} signature is not a document signature",
            sig.typ()
        )));
    }
    let created = sig
        .signature_creation_time()
        .ok_or_else(|| VerifyError::malformed("the OpenPGP signature", "no creation time"))?;
    let when = created
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let issuers = sig.get_issuers();
    let sp = StandardPolicy::new();
    let mut failures = Vec::new();
    for (i, signer) in policy.signers.iter().enumerate() {
        let candidates: Vec<openpgp::packet::Key<_, _>> = match &signer.openpgp_cert {
            Some(bytes) => {
                let cert = Cert::from_bytes(bytes)
                    .map_err(|e| VerifyError::malformed("a policy certificate", e))?;
                if !issuers
                    .iter()
                    .any(|h| cert.keys().any(|k| k.key().key_handle().aliases(h)))
                {
                    continue;
                }
                match cert.with_policy(&sp, Some(created)) {
                    Ok(vc) => {
                        if let RevocationStatus::Revoked(revs) = vc.revocation_status() {
                            failures.push(format!(
                                "{}: certificate {} is revoked{}",
                                signer.name,
                                cert.fingerprint(),
                                revocation_reason(&revs)
                            ));
                            continue;
                        }
                        vc.keys()
                            .for_signing()
                            .alive()
                            .revoked(false)
                            .filter(|ka| issuers.iter().any(|h| ka.key().key_handle().aliases(h)))
                            .map(|ka| ka.key().clone())
                            .collect()
                    }
                    Err(e) => {
                        failures.push(format!(
                            "{}: certificate not valid at the signature's time: {e}",
                            signer.name
                        ));
                        continue;
                    }
                }
            }
            // A bare pinned key: its material, whatever certificate the signer used.
            None => match crate::format::openpgp::primary_key(&signer.key, UNIX_EPOCH) {
                Ok(k) if k.pk_algo() == sig.pk_algo() => {
                    vec![k.role_into_unspecified()]
                }
                _ => continue,
            },
        };
        if candidates.is_empty() && signer.openpgp_cert.is_some() {
            failures.push(format!(
                "{}: no valid signing key of the certificate made it",
                signer.name
            ));
        }
        for key in candidates {
            let ctx = hash_file(&sig, file)?;
            if sig.verify_hash(&key, ctx).is_ok() {
                return Ok((i, when));
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
