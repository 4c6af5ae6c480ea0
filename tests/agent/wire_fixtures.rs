//! The `@hwsign` messages as bytes: one fixture per request, reply and error reply in
//! `tests/fixtures/*.bin`, each the extension as it crosses the socket (`string name`, then the
//! version and the body). A fixed value of each message must encode to its fixture and the
//! fixture must decode back to that value, so any change of the wire format (a field moved,
//! a code renumbered) shows up as a fixture diff to review; `HWSIGN_BLESS=1` rewrites them.

use hwsign::crypto::pubkey::PublicKey;
use hwsign::crypto::scheme::{HashAlg, Scheme, SignInput};
use hwsign::error::{ErrorCode, WireError};
use hwsign::key::{BackendKind, KeyId, KeyMeta, PinPolicy, TouchPolicy};
use hwsign::proto::attest::{AttestReply, AttestRequest};
use hwsign::proto::generate::{GenerateReply, GenerateRequest};
use hwsign::proto::keys::{KeysReply, KeysRequest};
use hwsign::proto::minisign::{MinisignReply, MinisignRequest};
use hwsign::proto::sign::{SignContext, SignReply, SignRequest};
use hwsign::proto::status::{PendingTouch, StatusReply, StatusRequest, TokenStatus};
use hwsign::proto::touch::{LockRequest, TouchReply, TouchRequest};
use hwsign::proto::{Extension, HwsignMessage};
use hwsign_testrig::assert_fixture;
use hwsign_testrig::snapshot::fixture_path;
use ssh_encoding::{Decode, Encode};

/// Encodes `msg`, compares with fixture `name`, decodes the fixture and compares with `msg`.
fn check<T: HwsignMessage + PartialEq + std::fmt::Debug>(name: &str, msg: &T) {
    let mut encoded = Vec::new();
    msg.to_extension()
        .encode(&mut encoded)
        .expect("an extension encodes");
    let fixture = assert_fixture(name, &encoded);
    let mut reader = fixture.as_slice();
    let ext = Extension::decode(&mut reader).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(ext.name, T::NAME, "{name}: extension name");
    let decoded = T::from_extension(&ext).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        &decoded, msg,
        "{name}: the fixture decodes to another value"
    );
}

/// A listed key: a fixed Ed25519 public key (RFC 8032's first test key, or its second), its
/// id, and metadata of every kind. Keys are checked when a listing is decoded (the id is the
/// public key's, the algorithm its algorithm), so the fixture holds real ones.
fn key_meta(label: &str, second: bool) -> KeyMeta {
    let hex = if second {
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
    } else {
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    };
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let public = PublicKey::ed25519(&bytes).unwrap();
    KeyMeta {
        id: KeyId::of(&public),
        label: label.into(),
        public,
        backend: if second {
            BackendKind::Piv
        } else {
            BackendKind::Pkcs11
        },
        token_label: "hwsign-test".into(),
        token_serial: "0123456789abcdef".into(),
        object: "id=01".into(),
        touch: TouchPolicy::Cached,
        pin: PinPolicy::Once,
        pkcs11_uri: (!second).then(|| format!("pkcs11:token=hwsign-test;object={label}")),
        remote: true,
        created: 1_700_000_000,
    }
}

#[test]
fn keys_request_fresh() {
    check("keys_request", &KeysRequest { fresh: true });
}

#[test]
fn keys_request_cached() {
    check("keys_request_cached", &KeysRequest { fresh: false });
}

#[test]
fn keys_reply() {
    check(
        "keys_reply",
        &KeysReply {
            keys: vec![
                key_meta("release-ed25519", false),
                key_meta("piv-20000000-9a", true),
            ],
            max_sign_wait_s: 165,
            max_request: 16 << 20,
            unusable: Vec::new(),
        },
    );
    // A listing from an agent before `max_request` (the fixture as that release wrote it)
    // still decodes, with 0: the client asks the status for the limit then.
    let before = std::fs::read(fixture_path("keys_reply_before_max_request")).unwrap();
    let ext = Extension::decode(&mut before.as_slice()).unwrap();
    let old = KeysReply::from_extension(&ext).unwrap();
    assert_eq!(
        (old.keys.len(), old.max_sign_wait_s, old.max_request),
        (2, 165, 0)
    );
}

#[test]
fn minisign_request() {
    check(
        "minisign_request",
        &MinisignRequest {
            key_id: "ab".repeat(32),
            data: (0u8..64).collect(),
            trusted_comment: "timestamp:1780272000\tfile:a.tar.gz\thashed".into(),
            context: SignContext {
                format: "minisign".into(),
                names: vec!["a.tar.gz".into()],
                note: String::new(),
            },
        },
    );
}

#[test]
fn minisign_reply() {
    check(
        "minisign_reply",
        &MinisignReply {
            key_id: "ab".repeat(32),
            signature: vec![1; 64],
            global_signature: vec![2; 64],
        },
    );
}

#[test]
fn sign_request() {
    check(
        "sign_request",
        &SignRequest {
            key_id: "ab".repeat(32),
            scheme: Scheme::Ecdsa(HashAlg::Sha256),
            input: SignInput::Prehash,
            data: (0u8..32).collect(),
            context: SignContext {
                format: "dsse".into(),
                names: vec!["a.tar.gz".into(), "paquet-été.whl".into()],
                note: "co-signing: 1 existing signature".into(),
            },
        },
    );
}

#[test]
fn sign_request_message_input() {
    check(
        "sign_request_message",
        &SignRequest {
            key_id: "cd".repeat(32),
            scheme: Scheme::RsaPss(HashAlg::Sha512),
            input: SignInput::Message,
            data: b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec(),
            context: SignContext {
                format: "raw".into(),
                names: Vec::new(),
                note: String::new(),
            },
        },
    );
}

#[test]
fn sign_reply() {
    check(
        "sign_reply",
        &SignReply {
            key_id: "ab".repeat(32),
            scheme: Scheme::Ed25519,
            signature: (0u8..64).rev().collect(),
        },
    );
}

#[test]
fn generate_request() {
    check(
        "generate_request",
        &GenerateRequest {
            token: "piv-20000000".into(),
            label: "release-2026".into(),
            algorithm: "ecdsa-p256".into(),
            options: vec!["slot=9c".into(), "touch=always".into()],
        },
    );
}

#[test]
fn generate_reply() {
    check(
        "generate_reply",
        &GenerateReply {
            key: key_meta("release-2026", false),
        },
    );
}

#[test]
fn attest_request() {
    check(
        "attest_request",
        &AttestRequest {
            key_id: key_meta("release-2026", true).id.to_string(),
        },
    );
}

#[test]
fn attest_reply() {
    // Not real certificates: the message carries DER bytes without reading them.
    check(
        "attest_reply",
        &AttestReply {
            key_id: key_meta("release-2026", true).id.to_string(),
            kind: "yubico-piv".into(),
            certificate: vec![0x30, 0x03, 0x02, 0x01, 0x09],
            intermediate: vec![0x30, 0x03, 0x02, 0x01, 0xf9],
        },
    );
}

#[test]
fn touch_request() {
    check("touch_request", &TouchRequest { wait_ms: 60_000 });
}

#[test]
fn touch_reply() {
    check(
        "touch_reply",
        &TouchReply {
            token: "hwsign-test".into(),
            key: "release-p256".into(),
            what: "dsse over a.tar.gz".into(),
        },
    );
}

#[test]
fn lock_request() {
    check("lock_request", &LockRequest);
}

#[test]
fn status_request() {
    check("status_request", &StatusRequest);
}

#[test]
fn status_reply() {
    check(
        "status_reply",
        &StatusReply {
            agent_version: "0.1.0".into(),
            host: "build-1".into(),
            socket: "main".into(),
            test_mode: true,
            tokens: vec![
                TokenStatus {
                    backend: "pkcs11".into(),
                    label: "hwsign-test".into(),
                    serial: "0123456789abcdef".into(),
                    present: true,
                    logged_in: true,
                    keys: 3,
                    problem: String::new(),
                    pin_cached_until: 1_700_000_900,
                },
                TokenStatus {
                    backend: "piv".into(),
                    label: "YubiKey".into(),
                    serial: "20000000".into(),
                    present: false,
                    logged_in: false,
                    keys: 0,
                    problem: "PIN rejected".into(),
                    pin_cached_until: 0,
                },
            ],
            pending_touches: vec![PendingTouch {
                token: "hwsign-test".into(),
                key: "release-p256".into(),
                what: "sshsig over notes.txt".into(),
                since: 1_700_000_100,
            }],
            touch_cache_window_s: 15,
            max_sign_wait_s: 165,
            max_request: 16 * 1024 * 1024,
        },
    );
}

/// One `error@hwsign` reply per code: the numbers are what older and newer clients agree on.
#[test]
fn error_replies() {
    for code in ErrorCode::ALL {
        let name = format!("error_reply_{}", code.name().replace('-', "_"));
        check(
            &name,
            &WireError::new(
                code,
                format!("{} happened", code.name()),
                "see docs/protocol.md",
            ),
        );
    }
}
