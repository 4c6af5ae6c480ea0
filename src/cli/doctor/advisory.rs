//! Yubico security advisories that concern keys hwsign signs with, by firmware version and
//! key algorithm:
//! - YSA-2024-03 (EUCLEAK, an ECDSA side channel in Infineon's library): ECDSA keys in PIV and
//!   the OpenPGP applet on YubiKey 5 before firmware 5.7.0 (YubiKey Bio before 5.7.2).
//! - YSA-2017-01 (ROCA, Infineon RSA key generation): RSA keys generated on the YubiKey 4
//!   family with firmware 4.2.6 to 4.3.4 (4.3.5 is fixed).

/// A firmware version `major.minor.patch`.
pub type Version = (u8, u8, u8);

/// What an advisory says about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// `YSA-2024-03`.
    pub id: &'static str,
    /// Why, for the user.
    pub message: String,
    /// What to do.
    pub fix: &'static str,
}

/// The advisories that apply to a key of `algorithm` (`ecdsa-p256`, `rsa-2048`, … as `hwsign
/// keys` names them) on a YubiKey with `firmware`; `bio` for the YubiKey Bio series.
pub fn check(firmware: Version, bio: bool, algorithm: &str) -> Vec<Hit> {
    let mut out = Vec::new();
    let (a, b, c) = firmware;
    if algorithm.starts_with("ecdsa") {
        let fixed = if bio { (5, 7, 2) } else { (5, 7, 0) };
        if a == 5 && firmware < fixed {
            out.push(Hit {
                id: "YSA-2024-03",
                message: format!(
                    "{algorithm} key on firmware {a}.{b}.{c} (before {}.{}.{}): ECDSA is exposed to the EUCLEAK side channel (Yubico security advisory YSA-2024-03; an attacker needs the device and specialised equipment)",
                    fixed.0, fixed.1, fixed.2
                ),
                fix: "plan to move ECDSA signing to a YubiKey with firmware 5.7 or later (firmware cannot be upgraded), or use an Ed25519 (OpenPGP) or RSA key; see https://www.yubico.com/support/security-advisories/ysa-2024-03/",
            });
        }
    }
    if algorithm.starts_with("rsa") && a == 4 && ((4, 2, 6)..=(4, 3, 4)).contains(&firmware) {
        out.push(Hit {
            id: "YSA-2017-01",
            message: format!(
                "{algorithm} key on firmware {a}.{b}.{c} (4.2.6 to 4.3.4): if it was generated on the device, it has the ROCA weakness and its private key can be computed from the public key (Yubico security advisory YSA-2017-01)"
            ),
            fix: "replace the key: generate a new one on a fixed device (or import one made elsewhere) and revoke the old one; see https://www.yubico.com/support/security-advisories/ysa-2017-01/",
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eucleak_is_ecdsa_before_5_7() {
        assert_eq!(check((5, 4, 3), false, "ecdsa-p256")[0].id, "YSA-2024-03");
        assert_eq!(check((5, 6, 9), false, "ecdsa-p384").len(), 1);
        assert!(check((5, 7, 0), false, "ecdsa-p256").is_empty());
        assert!(check((5, 7, 4), false, "ecdsa-p256").is_empty());
        // Bio: fixed in 5.7.2.
        assert_eq!(check((5, 7, 1), true, "ecdsa-p256").len(), 1);
        assert!(check((5, 7, 2), true, "ecdsa-p256").is_empty());
        assert!(check((5, 4, 3), false, "ed25519").is_empty());
        assert!(check((5, 4, 3), false, "rsa-2048").is_empty());
        let m = &check((5, 4, 3), false, "ecdsa-p256")[0].message;
        assert!(m.contains("5.4.3") && m.contains("before 5.7.0"), "{m}");
    }

    #[test]
    fn roca_is_rsa_on_4_2_6_to_4_3_4() {
        assert!(check((4, 2, 5), false, "rsa-2048").is_empty());
        assert_eq!(check((4, 2, 6), false, "rsa-2048")[0].id, "YSA-2017-01");
        assert_eq!(check((4, 3, 4), false, "rsa-2048").len(), 1);
        assert!(check((4, 3, 5), false, "rsa-2048").is_empty());
        assert!(check((4, 3, 4), false, "ecdsa-p256").is_empty());
        assert!(check((5, 2, 7), false, "rsa-2048").is_empty());
    }
}
