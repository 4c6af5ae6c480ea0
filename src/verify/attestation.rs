//! Key attestation: proof, made by the token, that a signer's key was generated on it and never
//! left it, with the policies the token enforces for the key.
//!
//! `yubico-piv`: a YubiKey answers PIV's ATTEST (INS F9) for a slot with a certificate for the
//! slot's public key, signed by the device's attestation key (slot f9), whose certificate Yubico
//! issued. `hwsign keys attest` writes both as PEM (the slot's certificate first); this module
//! checks the chain to Yubico's roots ([`yubico`]) or to roots a policy adds (a test CA, a
//! company's own f9 CA), checks that the attested key is the signer's, and reads the serial,
//! firmware, touch and PIN policy from Yubico's extensions. The serial and policies are the
//! device's word under Yubico's signature; nothing else in a release can vouch for them.

mod chain;
pub mod yubico;

use crate::crypto::pubkey::PublicKey;

pub use chain::Cert;
pub use yubico::{DeviceFacts, PinPolicy, TouchPolicy};

/// Why an attestation does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The file has fewer certificates than an attestation needs.
    #[error(
        "{what}: expected the slot's attestation certificate then the device's (slot f9) certificate, found {found} certificate(s)"
    )]
    Incomplete {
        /// The file.
        what: String,
        /// How many certificates it has.
        found: usize,
    },
    /// A certificate does not parse.
    #[error("{what}: not an X.509 certificate: {detail}")]
    Malformed {
        /// Which certificate (escaped when printed).
        what: String,
        /// The parser's word.
        detail: String,
    },
    /// The slot's certificate was not made by the device's attestation key.
    #[error(
        "the slot's attestation certificate (issuer {issuer}) is not signed by the device certificate {device}"
    )]
    NotSignedByDevice {
        /// The slot certificate's issuer.
        issuer: String,
        /// The f9 certificate's subject.
        device: String,
    },
    /// A certificate of the chain is expired or not yet valid.
    #[error("certificate {subject} is not valid now")]
    NotValidNow {
        /// Its subject.
        subject: String,
    },
    /// An issuer is not a CA.
    #[error("certificate {subject} issues certificates but is not a CA (basic constraints)")]
    NotCa {
        /// Its subject.
        subject: String,
    },
    /// An issuer's path length constraint forbids the chain below it, or the chain is longer
    /// than any attestation chain.
    #[error("the chain through {subject} is longer than its path length constraint allows")]
    PathTooLong {
        /// The constraining certificate.
        subject: String,
    },
    /// The chain ends at a certificate no trusted root issued.
    #[error("{subject} is issued by {issuer}, which is not a trusted attestation root{}", if *.self_signed { " (it is self-signed)" } else { "" })]
    UntrustedIssuer {
        /// The last certificate reached.
        subject: String,
        /// Its issuer.
        issuer: String,
        /// The certificate is its own issuer.
        self_signed: bool,
    },
    /// The attested key is another key.
    #[error("the attestation is for key {attested}, not the signer's key {signer}")]
    OtherKey {
        /// The attested key's id.
        attested: String,
        /// The signer's key id.
        signer: String,
    },
    /// The token attests a policy the trust policy does not accept.
    #[error("the key's {what} policy is {attested}; the trust policy requires {required}")]
    Policy {
        /// `touch` or `PIN`.
        what: &'static str,
        /// What the certificate says.
        attested: String,
        /// What the trust policy accepts.
        required: String,
    },
}

impl AttestationError {
    /// The message with every string that came from a certificate escaped for a terminal.
    pub fn escaped(&self) -> String {
        crate::text::message(&self.to_string())
    }
}

/// A verified attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    /// What the slot's certificate says.
    pub device: DeviceFacts,
    /// The slot, from the slot certificate's subject (`YubiKey PIV Attestation 9c`).
    pub slot: Option<String>,
    /// Subjects from the device certificate up to the root.
    pub path: Vec<String>,
}

impl Attested {
    /// One line for people, e.g. `YubiKey serial 25515137, firmware 5.4.3, slot 9c, touch
    /// never, PIN always (… → CN=Yubico PIV Root CA Serial 263751)`; certificate strings
    /// escaped.
    pub fn describe(&self) -> String {
        let d = &self.device;
        let mut parts = vec![match d.serial {
            Some(s) => format!("YubiKey serial {s}"),
            None => "YubiKey (no serial attested)".to_string(),
        }];
        parts.extend(d.firmware_text().map(|f| format!("firmware {f}")));
        parts.extend(d.form_factor_text());
        parts.extend(
            self.slot
                .as_ref()
                .map(|s| format!("slot {}", crate::text::name(s))),
        );
        parts.push(format!(
            "touch {}",
            d.touch.map_or("unknown".into(), |t| t.name())
        ));
        parts.push(format!(
            "PIN {}",
            d.pin.map_or("unknown".into(), |p| p.name())
        ));
        let root = self.path.last().map(|r| crate::text::name(r));
        format!(
            "{} (chain to {})",
            parts.join(", "),
            root.unwrap_or_default()
        )
    }
}

/// Roots and intermediates a `yubico-piv` attestation may chain through: Yubico's, and the
/// extra roots a policy names.
#[derive(Clone)]
pub struct Trust {
    roots: Vec<Cert>,
    intermediates: Vec<Cert>,
}

impl Trust {
    /// Yubico's roots and published intermediates, and `extra_roots`.
    pub fn yubico_piv(extra_roots: Vec<Cert>) -> Self {
        let mut roots = yubico::roots();
        roots.extend(extra_roots);
        Trust {
            roots,
            intermediates: yubico::intermediates(),
        }
    }
}

/// Every certificate of a PEM text (a root file of a policy), in order.
pub fn pem_certificates(text: &str, what: &str) -> Result<Vec<Cert>, AttestationError> {
    chain::pem_certificates(text, what)
}

/// What the policy accepts of an attested key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// Accepted touch policies (empty: any).
    pub touch: Vec<TouchPolicy>,
    /// Accepted PIN policies (empty: any).
    pub pin: Vec<PinPolicy>,
}

/// Verify a `yubico-piv` attestation file (PEM: the slot's certificate, the device's f9
/// certificate, then optionally intermediates) named `what` for `key` at `now` (Unix seconds).
pub fn verify_yubico_piv(
    pem: &str,
    what: &str,
    trust: &Trust,
    key: &PublicKey,
    required: &Requirements,
    now: u64,
) -> Result<Attested, AttestationError> {
    let certs = chain::pem_certificates(pem, what)?;
    let [leaf, f9, extra @ ..] = certs.as_slice() else {
        return Err(AttestationError::Incomplete {
            what: what.to_string(),
            found: certs.len(),
        });
    };
    let mut intermediates = trust.intermediates.clone();
    intermediates.extend(extra.iter().cloned());
    let anchors = chain::Anchors {
        roots: &trust.roots,
        intermediates: &intermediates,
    };
    let path = chain::verify_path(leaf, f9, &anchors, now)?;
    let attested = leaf.public_key()?;
    if attested != *key {
        return Err(AttestationError::OtherKey {
            attested: attested.key_id(),
            signer: key.key_id(),
        });
    }
    let device = DeviceFacts::of(leaf);
    check("touch", device.touch, &required.touch, TouchPolicy::name)?;
    check("PIN", device.pin, &required.pin, PinPolicy::name)?;
    let subject = leaf.subject();
    let slot = subject
        .strip_prefix("CN=YubiKey PIV Attestation ")
        .map(str::to_string);
    Ok(Attested { device, slot, path })
}

fn check<P: Copy + PartialEq>(
    what: &'static str,
    attested: Option<P>,
    accepted: &[P],
    name: fn(P) -> String,
) -> Result<(), AttestationError> {
    if accepted.is_empty() {
        return Ok(());
    }
    match attested {
        Some(a) if accepted.contains(&a) => Ok(()),
        other => Err(AttestationError::Policy {
            what,
            attested: other.map_or_else(|| "not attested".into(), name),
            required: accepted
                .iter()
                .map(|p| name(*p))
                .collect::<Vec<_>>()
                .join(" or "),
        }),
    }
}

#[cfg(test)]
mod tests;
