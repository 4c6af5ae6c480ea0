//! Tests of DSSE envelope reading and verification.

use super::*;
use crate::crypto::pubkey::hex;
use crate::crypto::scheme::HashAlg;
use crate::format::dsse::Envelope;
use crate::verify::testutil::{TestKey, envelope, envelope_of, policy, statement};

fn keys() -> (TestKey, TestKey, TestKey) {
    (
        TestKey::p256("alice", 1),
        TestKey::ed25519("bob", 2),
        TestKey::p256("mallory", 3),
    )
}

fn two_signer_policy(a: &TestKey, b: &TestKey) -> Policy {
    policy(&format!(
        "{}{}[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\n",
        a.signer_toml(),
        b.signer_toml()
    ))
}

fn parsed(env: &Envelope) -> ParsedEnvelope {
    parse_envelope(env.to_json().unwrap().as_bytes()).unwrap()
}

const SUBJECTS: &[(&str, &[u8])] = &[("a.whl", b"wheel bytes"), ("a.tar.gz", b"sdist bytes")];

fn sha(data: &[u8]) -> String {
    hex(&HashAlg::Sha256.digest(data))
}

#[test]
fn accepted_with_every_signer_once() {
    let (a, b, _) = keys();
    let p = two_signer_policy(&a, &b);
    let v = verify_envelope(&p, &parsed(&envelope(SUBJECTS, &[&a, &b]))).unwrap();
    assert_eq!(v.signers, vec![0, 1]);
    assert!(v.rejected.is_empty());
    let st = v.statement.unwrap();
    assert_eq!(
        st.predicate_type,
        crate::format::statement::RELEASE_PREDICATE
    );
    check_subject(&st, "a.whl", &sha(b"wheel bytes")).unwrap();
    check_subject(&st, "a.tar.gz", &sha(b"sdist bytes").to_uppercase()).unwrap();
}

/// A keyid naming a policy key holds the signature to that key (as securesystemslib does);
/// an empty, absent or unknown keyid is only a hint (docs/verification.md, parity table).
#[test]
fn keyid_names_a_key_or_is_only_a_hint() {
    let (a, b, _) = keys();
    let p = two_signer_policy(&a, &b);
    let mut env = envelope(SUBJECTS, &[&a]);
    for hint in [String::new(), "securesystemslib-or-cosign-id".into()] {
        env.signatures[0].keyid = hint;
        assert_eq!(verify_envelope(&p, &parsed(&env)).unwrap().signers, vec![0]);
    }
    let mut absent = parsed(&env);
    absent.signatures[0].keyid = None;
    assert_eq!(verify_envelope(&p, &absent).unwrap().signers, vec![0]);
    // alice signed, the keyid names bob's key: it counts for nobody.
    env.signatures[0].keyid = b.public.key_id();
    let v = verify_envelope(&p, &parsed(&env)).unwrap();
    assert!(v.signers.is_empty() && v.statement.is_none(), "{v:?}");
    assert_eq!(
        v.rejected,
        vec![
            "bob: signature does not verify with the key its keyid names (payload or \
             payloadType changed, or another key signed)"
                .to_string()
        ]
    );
}

/// Bare envelopes need padded base64 (standard or URL-safe), as securesystemslib does.
#[test]
fn unpadded_base64_is_refused() {
    let (a, _, _) = keys();
    let env = envelope(SUBJECTS, &[&a]);
    let json: serde_json::Value = serde_json::from_str(&env.to_json().unwrap()).unwrap();
    let sig = json["signatures"][0]["sig"].as_str().unwrap().to_string();
    let payload = json["payload"].as_str().unwrap().to_string();
    let url = |s: &str| s.replace('+', "-").replace('/', "_");
    let with = |payload: &str, sig: &str| {
        let mut j = json.clone();
        j["payload"] = payload.into();
        j["signatures"][0]["sig"] = sig.into();
        parse_envelope(j.to_string().as_bytes())
    };
    assert!(with(&url(&payload), &url(&sig)).is_ok());
    for (what, p, s) in [
        // "ABCD" is "QUJDRA==" padded.
        ("the payload", "QUJDRA".to_string(), sig.clone()),
        ("a signature", payload.clone(), "QUJDRA".to_string()),
    ] {
        let e = with(&p, &s).unwrap_err().to_string();
        assert!(
            e.contains(&format!("{what} is base64 without its padding")),
            "{e}"
        );
    }
    let e = with("not base64!", &sig).unwrap_err().to_string();
    assert!(e.contains("the payload is not base64"), "{e}");
}

#[test]
fn untrusted_key_and_tampered_payload() {
    let (a, b, m) = keys();
    let p = two_signer_policy(&a, &b);
    let v = verify_envelope(&p, &parsed(&envelope(SUBJECTS, &[&m]))).unwrap();
    assert!(v.signers.is_empty() && v.statement.is_none());
    assert_eq!(
        v.rejected,
        vec![format!(
            "signature by unknown key (keyid {})",
            m.public.key_id()
        )]
    );

    let mut env = envelope(SUBJECTS, &[&a]);
    let other = envelope(&[("a.whl", b"evil bytes")], &[&m]);
    env.payload = other.payload;
    let v = verify_envelope(&p, &parsed(&env)).unwrap();
    assert!(v.signers.is_empty());
    assert!(
        v.rejected[0].starts_with("alice: signature does not verify"),
        "{:?}",
        v.rejected
    );
}

#[test]
fn payload_type_is_pinned() {
    let (a, b, _) = keys();
    let p = two_signer_policy(&a, &b);
    let mut env = envelope(SUBJECTS, &[&a]);
    env.payload_type = "text/plain".into();
    let e = verify_envelope(&p, &parsed(&env)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "payloadType is text/plain, expected application/vnd.in-toto+json"
    );
    // Properly signed over another type: still refused.
    let env = envelope_of("text/plain", &statement(SUBJECTS), &[&a]);
    assert!(matches!(
        verify_envelope(&p, &parsed(&env)),
        Err(VerifyError::PayloadType { .. })
    ));
}

#[test]
fn duplicates_are_refused() {
    let (a, b, _) = keys();
    let p = two_signer_policy(&a, &b);
    let mut env = envelope(SUBJECTS, &[&a, &b]);
    env.signatures[1].keyid = env.signatures[0].keyid.clone();
    let e = verify_envelope(&p, &parsed(&env)).unwrap_err().to_string();
    assert!(
        e.contains("two signatures of the envelope have keyid"),
        "{e}"
    );

    let mut env = envelope(SUBJECTS, &[&a]);
    env.signatures.push(env.signatures[0].clone());
    env.signatures[1].keyid = "other".into();
    let e = verify_envelope(&p, &parsed(&env)).unwrap_err().to_string();
    assert!(e.contains("same signature twice"), "{e}");

    // A second, different signature by the same key: ECDSA's (r, n - s) also verifies.
    let env = envelope(SUBJECTS, &[&a]);
    let mut twice = env.clone();
    let sig = decode_base64("sig", &env.signatures[0].sig).unwrap();
    let parsed_sig = p256::ecdsa::Signature::from_der(&sig).unwrap();
    let (r, s) = parsed_sig.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -s).unwrap();
    twice
        .signatures
        .push(crate::format::dsse::EnvelopeSignature {
            keyid: "second".into(),
            sig: base64::engine::general_purpose::STANDARD.encode(flipped.to_der().as_bytes()),
        });
    let e = verify_envelope(&p, &parsed(&twice))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "alice signed the envelope twice; each signer signs once");
}

#[test]
fn malformed_envelopes() {
    let (a, b, _) = keys();
    let p = two_signer_policy(&a, &b);
    for (json, want) in [
        ("{", "DSSE envelope is malformed"),
        (
            "{\"payload\": \"\", \"signatures\": []}",
            "missing field `payloadType`",
        ),
        ("[]", "DSSE envelope is malformed"),
    ] {
        let e = parse_envelope(json.as_bytes()).unwrap_err().to_string();
        assert!(e.contains(want), "{json}: {e}");
    }
    let mut env = envelope(SUBJECTS, &[&a]);
    env.signatures.clear();
    let e = verify_envelope(&p, &parsed(&env)).unwrap_err().to_string();
    assert_eq!(e, "the envelope has an empty signature list");
    let mut env = envelope(SUBJECTS, &[&a]);
    env.payload = "not base64!".into();
    let e = parse_envelope(env.to_json().unwrap().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("the payload is not base64"), "{e}");
    let env = envelope_of(
        crate::format::statement::PAYLOAD_TYPE,
        b"{\"_type\": 1}",
        &[&a],
    );
    let e = verify_envelope(&p, &parsed(&env)).unwrap_err().to_string();
    assert!(e.contains("the in-toto statement is malformed"), "{e}");
}

#[test]
fn subjects_renamed_changed_or_ambiguous() {
    let st = parse_statement(&statement(&[
        ("a.whl", b"one"),
        ("b.whl", b"two"),
        ("b.whl", b"three"),
    ]))
    .unwrap();
    let e = check_subject(&st, "renamed.whl", &sha(b"one")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no subject named renamed.whl in the statement"
    );
    let e = check_subject(&st, "a.whl", &sha(b"tampered")).unwrap_err();
    assert_eq!(e.to_string(), "subject digest mismatch for a.whl");
    let e = check_subject(&st, "b.whl", &sha(b"two")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "b.whl is ambiguous: 2 subjects have that name"
    );
    let wrong_type = br#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"a","digest":{}}],"predicateType":"x"}"#;
    assert!(
        parse_statement(wrong_type)
            .unwrap_err()
            .to_string()
            .contains("statement _type")
    );
}
