//! Yubico's PIV attestation: the published roots and intermediates (embedded, never fetched),
//! and the facts Yubico's extensions (1.3.6.1.4.1.41482.3.x) put in a slot's attestation
//! certificate.
//!
//! Two PKIs are in use (developers.yubico.com/PIV/Introduction/PIV_attestation.html and
//! developers.yubico.com/PKI/):
//! - firmware before 5.7.4: slot certificate ← f9 (on the key) ← `Yubico PIV Root CA Serial
//!   263751`;
//! - firmware 5.7.4 and later: slot certificate ← f9 (on the key) ← `Yubico PIV Attestation
//!   A 1`, `B 1` or `B2 1` (from 2025-08) ← `Yubico Attestation Intermediate A 1` or `B 1` ←
//!   `Yubico Attestation Root 1`. The two
//!   intermediates are not stored on the key; Yubico publishes them in yubico-intermediate.pem,
//!   so they are embedded here as stepping stones (trusted only through the root).
//!
//! The embedded files are Yubico's certificates as published in yubico-ca-certs.txt
//! (2025-02-03) and yubico-intermediate.pem (github.com/Yubico/developers.yubico.com,
//! static/PKI/yubico-intermediate.pem at 8c1242c8); their SHA-256 fingerprints are pinned by
//! the tests.

use super::chain::Cert;

/// The roots a `yubico-piv` attestation may chain to.
const ROOTS: [(&str, &str); 2] = [
    (
        "Yubico PIV Root CA Serial 263751",
        include_str!("yubico/piv-root-ca-263751.pem"),
    ),
    (
        "Yubico Attestation Root 1",
        include_str!("yubico/attestation-root-1.pem"),
    ),
];

/// The published intermediates of firmware 5.7.4 and later (not on the key).
const INTERMEDIATES: [(&str, &str); 5] = [
    (
        "Yubico Attestation Intermediate A 1",
        include_str!("yubico/attestation-intermediate-a-1.pem"),
    ),
    (
        "Yubico Attestation Intermediate B 1",
        include_str!("yubico/attestation-intermediate-b-1.pem"),
    ),
    (
        "Yubico PIV Attestation A 1",
        include_str!("yubico/piv-attestation-a-1.pem"),
    ),
    (
        "Yubico PIV Attestation B 1",
        include_str!("yubico/piv-attestation-b-1.pem"),
    ),
    (
        "Yubico PIV Attestation B2 1",
        include_str!("yubico/piv-attestation-b2-1.pem"),
    ),
];

fn parse(set: &[(&str, &str)]) -> Vec<Cert> {
    set.iter()
        .filter_map(|(name, pem)| {
            let cert = super::chain::pem_certificates(pem, name)
                .ok()
                .and_then(|mut v| v.pop());
            // Embedded and pinned by the tests: a failure here is a build mistake.
            debug_assert!(cert.is_some(), "embedded certificate {name} does not parse");
            cert
        })
        .collect()
}

/// Yubico's PIV attestation roots.
pub fn roots() -> Vec<Cert> {
    parse(&ROOTS)
}

/// Yubico's published PIV attestation intermediates (firmware 5.7.4 and later).
pub fn intermediates() -> Vec<Cert> {
    parse(&INTERMEDIATES)
}

#[cfg(test)]
pub(super) fn embedded() -> Vec<(&'static str, &'static str)> {
    ROOTS.iter().chain(INTERMEDIATES.iter()).copied().collect()
}

const OID_FIRMWARE: &str = "1.3.6.1.4.1.41482.3.3";
const OID_SERIAL: &str = "1.3.6.1.4.1.41482.3.7";
const OID_POLICY: &str = "1.3.6.1.4.1.41482.3.8";
const OID_FORM_FACTOR: &str = "1.3.6.1.4.1.41482.3.9";

/// A PIN policy as attested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinPolicy {
    /// No PIN.
    Never,
    /// Once per session.
    Once,
    /// Before every use.
    Always,
    /// Fingerprint (or PIN) once (YubiKey Bio).
    MatchOnce,
    /// Fingerprint (or PIN) before every use (YubiKey Bio).
    MatchAlways,
    /// A value this build does not know.
    Other(u8),
}

impl PinPolicy {
    /// The policies a trust policy may require, by name.
    pub const NAMED: [PinPolicy; 5] = [
        PinPolicy::Never,
        PinPolicy::Once,
        PinPolicy::Always,
        PinPolicy::MatchOnce,
        PinPolicy::MatchAlways,
    ];

    fn of(b: u8) -> Self {
        match b {
            1 => PinPolicy::Never,
            2 => PinPolicy::Once,
            3 => PinPolicy::Always,
            4 => PinPolicy::MatchOnce,
            5 => PinPolicy::MatchAlways,
            o => PinPolicy::Other(o),
        }
    }

    /// The name in policies and reports.
    pub fn name(self) -> String {
        match self {
            PinPolicy::Never => "never".into(),
            PinPolicy::Once => "once".into(),
            PinPolicy::Always => "always".into(),
            PinPolicy::MatchOnce => "match-once".into(),
            PinPolicy::MatchAlways => "match-always".into(),
            PinPolicy::Other(b) => format!("unknown ({b:#04x})"),
        }
    }
}

/// A touch policy as attested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchPolicy {
    /// No touch.
    Never,
    /// A touch for every use.
    Always,
    /// A touch counts for 15 seconds.
    Cached,
    /// A value this build does not know.
    Other(u8),
}

impl TouchPolicy {
    /// The policies a trust policy may require, by name.
    pub const NAMED: [TouchPolicy; 3] =
        [TouchPolicy::Never, TouchPolicy::Always, TouchPolicy::Cached];

    fn of(b: u8) -> Self {
        match b {
            1 => TouchPolicy::Never,
            2 => TouchPolicy::Always,
            3 => TouchPolicy::Cached,
            o => TouchPolicy::Other(o),
        }
    }

    /// The name in policies and reports.
    pub fn name(self) -> String {
        match self {
            TouchPolicy::Never => "never".into(),
            TouchPolicy::Always => "always".into(),
            TouchPolicy::Cached => "cached".into(),
            TouchPolicy::Other(b) => format!("unknown ({b:#04x})"),
        }
    }
}

/// What the slot's attestation certificate says about the key and the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFacts {
    /// The YubiKey's serial number.
    pub serial: Option<u32>,
    /// Firmware version (major, minor, patch).
    pub firmware: Option<[u8; 3]>,
    /// The key's PIN policy.
    pub pin: Option<PinPolicy>,
    /// The key's touch policy.
    pub touch: Option<TouchPolicy>,
    /// Form factor byte (low nibble: the kind; 0x80: FIPS series, 0x40: Security Key series).
    pub form_factor: Option<u8>,
}

impl DeviceFacts {
    /// Read Yubico's extensions of a slot's attestation certificate. Per Yubico's
    /// documentation the extension values are the bytes themselves, except the serial, which
    /// is a DER INTEGER.
    pub fn of(cert: &Cert) -> Self {
        let mut facts = DeviceFacts::default();
        let Some(exts) = cert.cert.tbs_certificate().extensions() else {
            return facts;
        };
        for e in exts {
            let v = e.extn_value.as_bytes();
            match e.extn_id.to_string().as_str() {
                OID_FIRMWARE => facts.firmware = <[u8; 3]>::try_from(v).ok(),
                OID_SERIAL => facts.serial = der_u32(v),
                OID_POLICY => {
                    if let [pin, touch] = v {
                        facts.pin = Some(PinPolicy::of(*pin));
                        facts.touch = Some(TouchPolicy::of(*touch));
                    }
                }
                OID_FORM_FACTOR => facts.form_factor = v.first().copied(),
                _ => {}
            }
        }
        facts
    }

    /// The firmware as `5.7.4`.
    pub fn firmware_text(&self) -> Option<String> {
        self.firmware.map(|[a, b, c]| format!("{a}.{b}.{c}"))
    }

    /// The form factor's name, from yubikey-manager's FORM_FACTOR codes.
    pub fn form_factor_text(&self) -> Option<String> {
        let b = self.form_factor?;
        let kind = match b & 0x0f {
            1 => "USB-A keychain",
            2 => "USB-A nano",
            3 => "USB-C keychain",
            4 => "USB-C nano",
            5 => "USB-C/Lightning keychain",
            6 => "USB-A Bio keychain",
            7 => "USB-C Bio keychain",
            _ => "unknown form factor",
        };
        let series = match b & 0xc0 {
            0x80 => " (FIPS)",
            0x40 => " (Security Key)",
            _ => "",
        };
        Some(format!("{kind}{series}"))
    }
}

/// A DER INTEGER that fits a u32 (a YubiKey serial).
fn der_u32(v: &[u8]) -> Option<u32> {
    let [0x02, len, rest @ ..] = v else {
        return None;
    };
    if usize::from(*len) != rest.len() || rest.is_empty() || rest[0] & 0x80 != 0 {
        return None;
    }
    let digits = match rest {
        [0, tail @ ..] => tail,
        all => all,
    };
    if digits.len() > 4 {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b)),
    )
}
