//! X.509 path checks for attestation chains, kept to what an attestation needs: each link's
//! signature (RSA PKCS#1 v1.5 or ECDSA, SHA-256/384/512), each certificate's validity window,
//! and the basic constraints of every issuer (CA, path length). No name constraints, policies or
//! revocation: Yubico publishes no CRLs for its attestation CAs, and the roots are pinned.

use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::BasicConstraints;

use super::AttestationError;
use crate::crypto::pubkey::PublicKey;

/// A parsed certificate and its bytes (signatures are checked over the bytes as received).
#[derive(Clone)]
pub struct Cert {
    /// As received.
    pub der: Vec<u8>,
    /// Parsed.
    pub cert: Certificate,
}

impl Cert {
    /// Parse DER; `what` names the certificate in the error.
    pub fn from_der(der: Vec<u8>, what: &str) -> Result<Self, AttestationError> {
        let cert = Certificate::from_der(&der).map_err(|e| AttestationError::Malformed {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
        Ok(Cert { der, cert })
    }

    /// The subject, RFC 4514 (from a certificate: escape before printing).
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// The issuer, RFC 4514 (from a certificate: escape before printing).
    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate().issuer().to_string()
    }

    /// Whether `issuer`'s subject is this certificate's issuer name.
    fn named_by(&self, issuer: &Cert) -> bool {
        self.cert.tbs_certificate().issuer() == issuer.cert.tbs_certificate().subject()
    }

    fn self_issued(&self) -> bool {
        self.named_by(self)
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, AttestationError> {
        let spki = self
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| self.malformed(e.to_string()))?;
        PublicKey::from_spki_der(&spki).map_err(|e| self.malformed(e.to_string()))
    }

    fn malformed(&self, detail: String) -> AttestationError {
        AttestationError::Malformed {
            what: self.subject(),
            detail,
        }
    }

    /// The to-be-signed bytes, sliced from the DER as received (not re-encoded).
    fn tbs_der(&self) -> Option<&[u8]> {
        let inner = tlv_value(&self.der)?;
        let len = tlv_len(inner)?;
        inner.get(..len)
    }

    /// Whether `issuer`'s key made this certificate's signature.
    fn signed_by(&self, issuer: &Cert) -> bool {
        let (Some(tbs), Some(sig), Ok(key)) = (
            self.tbs_der(),
            self.cert.signature().as_bytes(),
            issuer.public_key(),
        ) else {
            return false;
        };
        let oid = self.cert.signature_algorithm().oid.to_string();
        verify_signature(&key, &oid, tbs, sig)
    }

    /// Inside its validity window at `now` (Unix seconds).
    fn valid_at(&self, now: u64) -> bool {
        let v = self.cert.tbs_certificate().validity();
        let from = v.not_before.to_unix_duration().as_secs();
        let until = v.not_after.to_unix_duration().as_secs();
        from <= now && now <= until
    }

    /// The basic constraints, if the certificate has them.
    fn basic_constraints(&self) -> Option<BasicConstraints> {
        self.cert
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
            .ok()
            .flatten()
            .map(|(_, bc)| bc)
    }
}

/// The value of the DER TLV at the start of `der`.
fn tlv_value(der: &[u8]) -> Option<&[u8]> {
    let (header, len) = header(der)?;
    der.get(header..header + len)
}

/// The total length (header and value) of the DER TLV at the start of `der`.
fn tlv_len(der: &[u8]) -> Option<usize> {
    let (header, len) = header(der)?;
    header.checked_add(len)
}

fn header(der: &[u8]) -> Option<(usize, usize)> {
    let first = *der.get(1)?;
    if first < 0x80 {
        return Some((2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let len = der
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some((2 + n, len))
}

fn digest(oid: &str, msg: &[u8]) -> Option<Vec<u8>> {
    Some(match oid {
        // sha256WithRSAEncryption, ecdsa-with-SHA256
        "1.2.840.113549.1.1.11" | "1.2.840.10045.4.3.2" => Sha256::digest(msg).to_vec(),
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => Sha384::digest(msg).to_vec(),
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => Sha512::digest(msg).to_vec(),
        _ => return None,
    })
}

/// A certificate signature: the algorithm the certificate names, with the issuer's key.
fn verify_signature(key: &PublicKey, oid: &str, tbs: &[u8], sig: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let Some(hash) = digest(oid, tbs) else {
        return false;
    };
    let rsa_alg = oid.starts_with("1.2.840.113549.1.1.");
    match key {
        PublicKey::Rsa(k) if rsa_alg => {
            let scheme = match hash.len() {
                32 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                48 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                _ => rsa::Pkcs1v15Sign::new::<Sha512>(),
            };
            k.verify(scheme, &hash, sig).is_ok()
        }
        PublicKey::P256(k) if !rsa_alg => p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| {
            p256::ecdsa::VerifyingKey::from(k)
                .verify_prehash(&hash, &s)
                .is_ok()
        }),
        PublicKey::P384(k) if !rsa_alg => p384::ecdsa::Signature::from_der(sig).is_ok_and(|s| {
            p384::ecdsa::VerifyingKey::from(k)
                .verify_prehash(&hash, &s)
                .is_ok()
        }),
        _ => false,
    }
}

/// Where a chain may go: trusted roots, and intermediates that are only stepping stones.
pub struct Anchors<'a> {
    /// Trusted: a chain that reaches one of them is verified.
    pub roots: &'a [Cert],
    /// Not trusted by themselves (the published Yubico intermediates the key does not carry,
    /// and extra certificates of the attestation file).
    pub intermediates: &'a [Cert],
}

/// The path from the device's attestation certificate (`f9`) to a root: the subjects, the
/// device's first and the root's last. `leaf` must be signed by `f9`; every issuer above must be
/// a CA whose path length allows the certificates below it; every certificate must be valid at
/// `now`.
pub fn verify_path(
    leaf: &Cert,
    f9: &Cert,
    anchors: &Anchors<'_>,
    now: u64,
) -> Result<Vec<String>, AttestationError> {
    if !leaf.named_by(f9) || !leaf.signed_by(f9) {
        return Err(AttestationError::NotSignedByDevice {
            issuer: leaf.issuer(),
            device: f9.subject(),
        });
    }
    for c in [leaf, f9] {
        if !c.valid_at(now) {
            return Err(AttestationError::NotValidNow {
                subject: c.subject(),
            });
        }
    }
    // Yubico's f9 certificates of YubiKey 4 carry no basic constraints; one that has them must
    // say CA (it issues the slot's attestation).
    if f9.basic_constraints().is_some_and(|bc| !bc.ca) {
        return Err(AttestationError::NotCa {
            subject: f9.subject(),
        });
    }
    let mut path = vec![f9.subject()];
    let mut current = f9;
    // CA certificates below the next issuer (f9 so far: one), for its path length constraint
    // (RFC 5280 counts f9, an intermediate, against its issuer's pathLenConstraint).
    let mut below: u8 = 1;
    for _ in 0..6 {
        let issuer_ok = |c: &Cert| current.named_by(c) && current.signed_by(c);
        let (issuer, trusted) = match anchors.roots.iter().find(|c| issuer_ok(c)) {
            Some(root) => (root, true),
            None => match anchors.intermediates.iter().find(|c| issuer_ok(c)) {
                Some(i) if !std::ptr::eq(i, current) => (i, false),
                _ => {
                    return Err(AttestationError::UntrustedIssuer {
                        subject: current.subject(),
                        issuer: current.issuer(),
                        self_signed: current.self_issued(),
                    });
                }
            },
        };
        if !issuer.valid_at(now) {
            return Err(AttestationError::NotValidNow {
                subject: issuer.subject(),
            });
        }
        match issuer.basic_constraints() {
            Some(bc) if bc.ca => {
                if bc.path_len_constraint.is_some_and(|max| below > max) {
                    return Err(AttestationError::PathTooLong {
                        subject: issuer.subject(),
                    });
                }
            }
            _ => {
                return Err(AttestationError::NotCa {
                    subject: issuer.subject(),
                });
            }
        }
        path.push(issuer.subject());
        if trusted {
            return Ok(path);
        }
        current = issuer;
        below = below.saturating_add(1);
    }
    Err(AttestationError::PathTooLong {
        subject: current.subject(),
    })
}

/// Every certificate of a PEM text, in order.
pub fn pem_certificates(text: &str, what: &str) -> Result<Vec<Cert>, AttestationError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = body.find(END).ok_or_else(|| AttestationError::Malformed {
            what: what.to_string(),
            detail: format!("certificate {} has no END line", out.len() + 1),
        })?;
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).map_err(
            |e| AttestationError::Malformed {
                what: what.to_string(),
                detail: format!("certificate {}: {e}", out.len() + 1),
            },
        )?;
        out.push(Cert::from_der(
            der,
            &format!("{what} (certificate {})", out.len() + 1),
        )?);
        rest = &body[end + END.len()..];
    }
    Ok(out)
}
