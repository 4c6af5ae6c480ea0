use sha2::{Digest, Sha256};

use super::*;
use crate::verify::policy::parse_public_key;

/// A real attestation: YubiKey 25515137 (firmware 5.4.3, FIPS, USB-C keychain), slot 9c, as
/// published by Docker's TUF root key ceremony (github.com/docker/tuf,
/// ceremony/2024-06-04/keys/25515137/Slot9CAttestation.pem and
/// ceremony/2024-04-09/keys/25515137/SlotF9Intermediate.pem).
const PRE_574: &str = include_str!("samples/yubikey-5.4.3-25515137-9c.attestation.pem");
/// That slot's public key (github.com/docker/tuf, tools/key-verification/README.md).
const PRE_574_KEY: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEl7Uv9j5PVw4nO0MMFBgey+4Mg+LWv7Ks
EQrMMJM6i15C7tXttOLpiNUPlKorCYDbzfQAfvZhieSifneiil7m9ZX5lsQSfPiy
+l3c+vw2FBTJYILrfRCX9i5NiLMxSc1m
-----END PUBLIC KEY-----";
/// 2025-06-15: inside every validity window of the sample chain.
const NOW: u64 = 1_750_000_000;

fn key() -> PublicKey {
    parse_public_key(PRE_574_KEY).unwrap()
}

fn verify(pem: &str, trust: &Trust, req: &Requirements) -> Result<Attested, AttestationError> {
    verify_yubico_piv(pem, "sample.pem", trust, &key(), req, NOW)
}

fn yubico() -> Trust {
    Trust::yubico_piv(Vec::new())
}

#[test]
fn embedded_yubico_certificates_are_the_published_ones() {
    // SHA-256 fingerprints as listed by Yubico's PKI pages and reproduced independently by
    // other verifiers (piv-go's certs/, smallstep's kms/yubikey).
    let pinned = [
        (
            "Yubico PIV Root CA Serial 263751",
            "63ece914e54dd87915f34033c85af4c0696ba1512f8add66ced738331207b546",
        ),
        (
            "Yubico Attestation Root 1",
            "62760c6a6ef91679f454c8902b80fd009825b3f25da90f1fbace2ec6586cd5a8",
        ),
        (
            "Yubico Attestation Intermediate A 1",
            "4698a1d3389c3ec60016c216250f1d0439922832d65142327436376dc2942b55",
        ),
        (
            "Yubico Attestation Intermediate B 1",
            "d4cc3f456fdaf4e7812a21aab1dfe9d8e27d24e2fd2d6f21c9940109f0daa754",
        ),
        (
            "Yubico PIV Attestation A 1",
            "6de693f05376f5d8ca29069261e1c8626c75d503bd2edbfd75354cad1f722870",
        ),
        (
            "Yubico PIV Attestation B 1",
            "2d55b7998f4e42569d6d8fa382b6dc77d1dacf07358b19701163892922b17052",
        ),
        (
            "Yubico PIV Attestation B2 1",
            "0c90b7d184a36edf50a35f9be935f0c5689bfdcfe5bdd073366cafb49061a440",
        ),
    ];
    let embedded = yubico::embedded();
    assert_eq!(embedded.len(), pinned.len());
    for (name, pem) in embedded {
        let certs = chain::pem_certificates(pem, name).unwrap();
        assert_eq!(certs.len(), 1, "{name}");
        assert_eq!(certs[0].subject(), format!("CN={name}"));
        let fpr = crate::crypto::pubkey::hex(&Sha256::digest(&certs[0].der));
        let want = pinned.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(fpr, want, "{name}");
    }
    assert_eq!(yubico::roots().len(), 2);
    assert_eq!(yubico::intermediates().len(), 5);
}

#[test]
fn a_pre_5_7_4_yubikey_chains_to_the_piv_root() {
    let a = verify(PRE_574, &yubico(), &Requirements::default()).unwrap();
    assert_eq!(a.device.serial, Some(25_515_137));
    assert_eq!(a.device.firmware, Some([5, 4, 3]));
    assert_eq!(a.device.pin, Some(PinPolicy::Always));
    assert_eq!(a.device.touch, Some(TouchPolicy::Never));
    assert_eq!(
        a.device.form_factor_text().unwrap(),
        "USB-C keychain (FIPS)"
    );
    assert_eq!(a.slot.as_deref(), Some("9c"));
    assert_eq!(
        a.path,
        [
            "CN=Yubico PIV Attestation",
            "CN=Yubico PIV Root CA Serial 263751"
        ]
    );
    assert_eq!(
        a.describe(),
        "YubiKey serial 25515137, firmware 5.4.3, USB-C keychain (FIPS), slot 9c, touch never, PIN always (chain to CN=Yubico PIV Root CA Serial 263751)"
    );
}

#[test]
fn requirements_are_checked_against_the_attested_policies() {
    let ok = Requirements {
        touch: vec![TouchPolicy::Never],
        pin: vec![PinPolicy::Once, PinPolicy::Always],
    };
    verify(PRE_574, &yubico(), &ok).unwrap();
    let touch = Requirements {
        touch: vec![TouchPolicy::Always, TouchPolicy::Cached],
        pin: Vec::new(),
    };
    let e = verify(PRE_574, &yubico(), &touch).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the key's touch policy is never; the trust policy requires always or cached"
    );
    let pin = Requirements {
        touch: Vec::new(),
        pin: vec![PinPolicy::Never],
    };
    assert!(matches!(
        verify(PRE_574, &yubico(), &pin),
        Err(AttestationError::Policy { what: "PIN", .. })
    ));
}

#[test]
fn the_attested_key_must_be_the_signers() {
    let other = crate::verify::testutil::TestKey::p256("other", 3).public;
    let e = verify_yubico_piv(
        PRE_574,
        "sample.pem",
        &yubico(),
        &other,
        &Requirements::default(),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(e, AttestationError::OtherKey { .. }), "{e}");
}

fn der_of(pem: &str, n: usize) -> Vec<u8> {
    chain::pem_certificates(pem, "t").unwrap()[n].der.clone()
}

fn pem_of(ders: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for d in ders {
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, d);
        out.push_str(&format!(
            "-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"
        ));
    }
    out
}

#[test]
fn a_tampered_certificate_breaks_the_chain() {
    let (mut leaf, f9) = (der_of(PRE_574, 0), der_of(PRE_574, 1));
    let n = leaf.len();
    leaf[n - 5] ^= 1; // inside the signature
    let e = verify(
        &pem_of(&[leaf, f9.clone()]),
        &yubico(),
        &Requirements::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, AttestationError::NotSignedByDevice { .. }),
        "{e}"
    );
    // The device certificate's signature by the root.
    let mut f9 = f9;
    let n = f9.len();
    f9[n - 5] ^= 1;
    let e = verify(
        &pem_of(&[der_of(PRE_574, 0), f9]),
        &yubico(),
        &Requirements::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            AttestationError::UntrustedIssuer { .. } | AttestationError::NotSignedByDevice { .. }
        ),
        "{e}"
    );
}

#[test]
fn without_a_trusted_root_nothing_verifies() {
    let none = Trust {
        roots: Vec::new(),
        intermediates: yubico::intermediates(),
    };
    let e = verify(PRE_574, &none, &Requirements::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "CN=Yubico PIV Attestation is issued by CN=Yubico PIV Root CA Serial 263751, which is not a trusted attestation root"
    );
}

#[test]
fn expired_and_incomplete_files_are_refused() {
    // 2053: after the sample's notAfter (2052-04-17).
    let e = verify_yubico_piv(
        PRE_574,
        "sample.pem",
        &yubico(),
        &key(),
        &Requirements::default(),
        2_620_000_000,
    )
    .unwrap_err();
    assert!(matches!(e, AttestationError::NotValidNow { .. }), "{e}");
    let only_leaf = pem_of(&[der_of(PRE_574, 0)]);
    assert!(matches!(
        verify(&only_leaf, &yubico(), &Requirements::default()),
        Err(AttestationError::Incomplete { found: 1, .. })
    ));
    assert!(matches!(
        verify(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            &yubico(),
            &Requirements::default()
        ),
        Err(AttestationError::Malformed { .. })
    ));
}

/// A real attestation of firmware 5.7.4: YubiKey 32718477, slot 9a (RSA 2048), with its f9
/// certificate "YubiKey PIV Attestation", as published in the tests of OVH's
/// yubico-piv-checker (github.com/ovh/yubico-piv-checker, lib/checker/checker_test.go at
/// 64044c6b).
const FW_574_RSA: &str = include_str!("samples/yubikey-5.7.4-32718477-9a.attestation.pem");
const FW_574_RSA_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0TuYE6X0rbvuVdYhUwcO
WzbQSeVl/QKUbijjZtMc3+mTCwzWnKhRV5DrU5ZZiGYWxP+qZI/8RViW0mGqD4K+
6ObP1DERiC9z86U8F6bPSswmwOl+CF4mOJxEInBqgbik/gM4c2srf/r/KCXwwP8X
YV20wB8fWrjCbFf8Xx9Mt1+unXqCBU5jnMisO2SJYe8lZ4VYvOhJHpoa484tFiyd
QQX5z7j/wspyJmy9BvACebSU6G+u+ujdI0uMPOVVOlYupSkn2JGCwC2beqf+oo1c
T+PTf/NCpYecgvzA9bCj2Zvzc0pPe/BRPayALBs+EXrbpaOttJ0fsdvErDNeqWma
fQIDAQAB
-----END PUBLIC KEY-----";
/// Another of firmware 5.7.4: YubiKey 38906121, slot 9c (P-256, touch always), whose f9
/// certificate ("Yubico PIV Attestation") writes its signature algorithm without the NULL
/// parameter, as published in "PKB.rocks Android App Signing Attestation" (2026-09-25).
const FW_574_P256: &str = include_str!("samples/yubikey-5.7.4-38906121-9c.attestation.pem");
const FW_574_P256_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWCNPXSPKLWnPb2J3kIPIIe2oEAiy
llEEGDDFA1BGlaHOgglq7Oao2jITzahrCgPjYEvlflVjmHo9chKex9fp1w==
-----END PUBLIC KEY-----";

#[test]
fn yubikeys_of_firmware_5_7_4_chain_through_the_published_intermediates_to_root_1() {
    for (pem, key, serial, slot, f9, touch, alg) in [
        (
            FW_574_RSA,
            FW_574_RSA_KEY,
            32_718_477,
            "9a",
            "CN=YubiKey PIV Attestation",
            TouchPolicy::Never,
            "RSA",
        ),
        (
            FW_574_P256,
            FW_574_P256_KEY,
            38_906_121,
            "9c",
            "CN=Yubico PIV Attestation",
            TouchPolicy::Always,
            "P-256",
        ),
    ] {
        let key = parse_public_key(key).unwrap();
        let a = verify_yubico_piv(
            pem,
            "sample.pem",
            &yubico(),
            &key,
            &Requirements::default(),
            NOW,
        )
        .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(a.device.serial, Some(serial), "{alg}");
        assert_eq!(a.device.firmware, Some([5, 7, 4]), "{alg}");
        assert_eq!(a.device.pin, Some(PinPolicy::Always), "{alg}");
        assert_eq!(a.device.touch, Some(touch), "{alg}");
        assert_eq!(a.slot.as_deref(), Some(slot), "{alg}");
        assert_eq!(
            a.path,
            [
                f9,
                "CN=Yubico PIV Attestation B 1",
                "CN=Yubico Attestation Intermediate B 1",
                "CN=Yubico Attestation Root 1"
            ],
            "{alg}"
        );
        // Not the signer's key: refused, whatever the chain.
        assert!(
            verify_yubico_piv(
                pem,
                "sample.pem",
                &yubico(),
                &self::key(),
                &Requirements::default(),
                NOW
            )
            .is_err(),
            "{alg}"
        );
        // Without Root 1 (only the old PIV root trusted) it does not verify.
        let old_root_only = Trust {
            roots: vec![yubico::roots().remove(0)],
            intermediates: yubico::intermediates(),
        };
        assert!(
            verify_yubico_piv(
                pem,
                "sample.pem",
                &old_root_only,
                &key,
                &Requirements::default(),
                NOW
            )
            .is_err(),
            "{alg}"
        );
    }
}

#[test]
fn the_5_7_4_pki_chains_through_the_published_intermediates() {
    // The part of the chain that is Yubico's: PIV Attestation B 1 and B2 1 are issued by
    // Attestation Intermediate B 1, which Attestation Root 1 issued (RSA, SHA-256), as are
    // the A branch's.
    let roots = yubico::roots();
    let inter = yubico::intermediates();
    let by = |cn: &str| {
        inter
            .iter()
            .find(|c| c.subject() == format!("CN={cn}"))
            .unwrap()
    };
    for (piv, mid) in [
        (
            "Yubico PIV Attestation A 1",
            "Yubico Attestation Intermediate A 1",
        ),
        (
            "Yubico PIV Attestation B 1",
            "Yubico Attestation Intermediate B 1",
        ),
        (
            "Yubico PIV Attestation B2 1",
            "Yubico Attestation Intermediate B 1",
        ),
    ] {
        let anchors = chain::Anchors {
            roots: &roots,
            intermediates: &inter,
        };
        // 2026-12-07: B2 1 is valid from 2025-08-01.
        let path = chain::verify_path(by(piv), by(mid), &anchors, 1_796_601_600).unwrap();
        assert_eq!(
            path,
            [format!("CN={mid}"), "CN=Yubico Attestation Root 1".into()]
        );
    }
}
