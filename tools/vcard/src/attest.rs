//! PIV attestation as a YubiKey does it (INS F9), with a test CA instead of Yubico's:
//!
//! * ATTEST (`00 F9 <slot> 00`) answers an X.509 certificate for the slot's public key
//!   (`CN=YubiKey PIV Attestation <slot>`), signed by the device's attestation key, with
//!   Yubico's extensions (developers.yubico.com/PIV/Introduction/PIV_attestation.html):
//!   1.3.6.1.4.1.41482.3.3 firmware (3 bytes), .3.7 serial (DER INTEGER), .3.8 PIN and touch
//!   policy (2 bytes), .3.9 form factor (1 byte: 0x03, USB-C keychain);
//! * GET DATA of the f9 certificate object (5FFF01) answers the device certificate
//!   (`CN=hwsign-vcard PIV Attestation`), issued by the test root
//!   (`CN=hwsign-vcard Test Attestation Root`), whose certificate `--attestation-root FILE`
//!   writes for the tests' trust policies.
//!
//! Keys are P-256, derived from fixed seeds: every runner has the same test CA, which nothing
//! but a test policy trusts. Certificates are DER built here (a few helpers below).

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};

const ROOT_CN: &str = "hwsign-vcard Test Attestation Root";
const DEVICE_CN: &str = "hwsign-vcard PIV Attestation";

// ---------------------------------------------------------------- DER

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut chunk = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            chunk.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    der(0x06, &body)
}

/// A non-negative INTEGER from big-endian bytes.
fn uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => &[0],
    };
    let mut body = Vec::new();
    if trimmed[0] & 0x80 != 0 {
        body.push(0);
    }
    body.extend_from_slice(trimmed);
    der(0x02, &body)
}

fn bits(bytes: &[u8]) -> Vec<u8> {
    der(0x03, &[&[0u8][..], bytes].concat())
}

fn name(cn: &str) -> Vec<u8> {
    seq(&[&der(
        0x31,
        &seq(&[&oid("2.5.4.3"), &der(0x0C, cn.as_bytes())]),
    )])
}

fn extension(id: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    let flag = if critical {
        der(0x01, &[0xFF])
    } else {
        Vec::new()
    };
    seq(&[&oid(id), &flag, &der(0x04, value)])
}

fn basic_constraints_ca(path_len: u8) -> Vec<u8> {
    extension(
        "2.5.29.19",
        true,
        &seq(&[&der(0x01, &[0xFF]), &uint(&[path_len])]),
    )
}

// ---------------------------------------------------------------- keys and certificates

fn key(seed: &str) -> SigningKey {
    // A SHA-256 output is a valid P-256 scalar except with negligible probability; these two
    // fixed seeds are.
    let bytes = Sha256::digest(seed.as_bytes());
    SigningKey::from_bytes(&bytes).expect("fixed seed is a valid P-256 scalar")
}

fn root_key() -> SigningKey {
    key("hwsign-vcard test attestation root")
}

fn device_key() -> SigningKey {
    key("hwsign-vcard test PIV attestation f9")
}

fn ec_spki(curve: &str, point: &[u8]) -> Vec<u8> {
    seq(&[
        &seq(&[&oid("1.2.840.10045.2.1"), &oid(curve)]),
        &bits(point),
    ])
}

fn p256_spki(key: &SigningKey) -> Vec<u8> {
    let point = key.verifying_key().to_encoded_point(false);
    ec_spki("1.2.840.10045.3.1.7", point.as_bytes())
}

/// A certificate signed by `signer` (ECDSA P-256, SHA-256).
fn certificate(
    serial: &[u8],
    issuer: &str,
    subject: &str,
    spki: &[u8],
    extensions: &[Vec<u8>],
    signer: &SigningKey,
) -> Vec<u8> {
    let alg = seq(&[&oid("1.2.840.10045.4.3.2")]);
    // 2024-01-01 until the end of 9999, as RFC 5280 writes "no well-defined expiration".
    let validity = seq(&[&der(0x17, b"240101000000Z"), &der(0x18, b"99991231235959Z")]);
    let tbs = seq(&[
        &der(0xA0, &uint(&[2])),
        &uint(serial),
        &alg,
        &name(issuer),
        &validity,
        &name(subject),
        spki,
        &der(
            0xA3,
            &seq(&extensions.iter().map(Vec::as_slice).collect::<Vec<_>>()),
        ),
    ]);
    let sig: Signature = signer.sign(&tbs);
    seq(&[&tbs, &alg, &bits(sig.to_der().as_bytes())])
}

/// The test root (self-signed).
pub fn root_certificate() -> Vec<u8> {
    let key = root_key();
    certificate(
        &[0x01],
        ROOT_CN,
        ROOT_CN,
        &p256_spki(&key),
        &[basic_constraints_ca(1)],
        &key,
    )
}

/// The device's attestation certificate (slot f9), issued by the test root.
pub fn device_certificate(serial: u32) -> Vec<u8> {
    certificate(
        &[&[0x02][..], &serial.to_be_bytes()].concat(),
        ROOT_CN,
        DEVICE_CN,
        &p256_spki(&device_key()),
        &[basic_constraints_ca(0)],
        &root_key(),
    )
}

/// What the slot certificate says besides the key.
pub struct SlotFacts {
    pub slot: u8,
    pub version: [u8; 3],
    pub serial: u32,
    pub pin: u8,
    pub touch: u8,
}

/// The SubjectPublicKeyInfo of a slot's key from GENERATE's 7F49 template contents (86: EC
/// point or Ed25519 key; 81/82: RSA modulus and exponent) and the PIV algorithm id.
pub fn spki(alg: u8, template: &[u8]) -> Option<Vec<u8>> {
    let field = |tag| crate::iso::find_tlv(template, tag);
    Some(match alg {
        0x11 => ec_spki("1.2.840.10045.3.1.7", field(0x86)?),
        0x14 => ec_spki("1.3.132.0.34", field(0x86)?),
        0xE0 => seq(&[&seq(&[&oid("1.3.101.112")]), &bits(field(0x86)?)]),
        0x05..=0x07 | 0x16 => {
            let rsa = seq(&[&uint(field(0x81)?), &uint(field(0x82)?)]);
            seq(&[
                &seq(&[&oid("1.2.840.113549.1.1.1"), &der(0x05, &[])]),
                &bits(&rsa),
            ])
        }
        _ => return None,
    })
}

/// The slot's attestation certificate for the key `spki`.
pub fn slot_certificate(facts: &SlotFacts, spki: &[u8]) -> Vec<u8> {
    // A YubiKey's serial numbers are random; a hash of what is attested is as unique here.
    let mut serial = Sha256::digest([spki, &[facts.slot]].concat())[..16].to_vec();
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let yubico = |n: u8| format!("1.3.6.1.4.1.41482.3.{n}");
    let extensions = [
        extension(&yubico(3), false, &facts.version),
        extension(&yubico(7), false, &uint(&facts.serial.to_be_bytes())),
        extension(&yubico(8), false, &[facts.pin, facts.touch]),
        extension(&yubico(9), false, &[0x03]),
    ];
    certificate(
        &serial,
        DEVICE_CN,
        &format!("YubiKey PIV Attestation {:02x}", facts.slot),
        spki,
        &extensions,
        &device_key(),
    )
}

/// PEM of one certificate.
pub fn pem(der_bytes: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der_bytes.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                b64.push(B64[((v >> (18 - 6 * i)) & 0x3f) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_shapes() {
        assert_eq!(
            oid("1.2.840.10045.4.3.2"),
            [6, 8, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 4, 3, 2]
        );
        assert_eq!(uint(&[0x00, 0x80]), [2, 2, 0, 0x80]);
        assert_eq!(uint(&[0, 0]), [2, 1, 0]);
        assert_eq!(der(4, &[0; 200])[..3], [4, 0x81, 200]);
        assert_eq!(pem(b"ab").lines().nth(1), Some("YWI="));
    }

    #[test]
    fn certificates_are_deterministic_and_chain() {
        use p256::ecdsa::signature::Verifier;
        assert_eq!(root_certificate(), root_certificate());
        let facts = SlotFacts {
            slot: 0x9c,
            version: [5, 4, 3],
            serial: 10_035_963,
            pin: 2,
            touch: 2,
        };
        let point = device_key().verifying_key().to_encoded_point(false);
        let slot = slot_certificate(&facts, &ec_spki("1.2.840.10045.3.1.7", point.as_bytes()));
        // The TBS is the first element of the outer SEQUENCE (both with 2-byte lengths).
        assert_eq!(
            (slot[0], slot[1], slot[4], slot[5]),
            (0x30, 0x82, 0x30, 0x82)
        );
        let tbs = &slot[4..8 + (usize::from(slot[6]) << 8 | usize::from(slot[7]))];
        // ECDSA here is deterministic (RFC 6979): signing the TBS again gives the same bytes.
        let again: Signature = device_key().sign(tbs);
        assert!(device_key().verifying_key().verify(tbs, &again).is_ok());
        assert!(slot.ends_with(&bits(again.to_der().as_bytes())));
    }
}
