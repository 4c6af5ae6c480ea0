//! Co-signing for a 2-of-3 rule: one signature is not enough, `hwsign attest --append` adds a
//! second key's signature over the same statement, a key already on the envelope is refused,
//! and securesystemslib verifies the co-signed envelope with each key on its own.

use super::*;

const SIGNERS: [&str; 3] = ["p256", "ed25519", "rsa3072"];

/// The keyids of an envelope's signatures, in order.
fn keyids(envelope: &Value) -> Vec<String> {
    envelope["signatures"]
        .as_array()
        .unwrap_or_else(|| panic!("no signatures array: {envelope}"))
        .iter()
        .map(|s| s["keyid"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn two_of_three_is_met_by_appending_a_second_signature() {
    require_python_module("securesystemslib");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_release(&env);
    let files = [TARBALL, WHEEL];
    let mut tables = Vec::new();
    let mut pems = Vec::new();
    for (spec, name) in KEYS.iter().zip(SIGNERS) {
        let pem = export_pem(&env, spec.label);
        tables.push(signer_file(name, &pem, ""));
        pems.push(pem);
    }
    tables.push(rule("release", &["demo-*"], &SIGNERS, 2, ""));
    let policy = write_policy(&env, "policy.toml", &tables);
    let envelope = "release.intoto.json";

    // One signature: 1 of the 2 required.
    attest(&env, "release-p256", envelope, &files, &[]);
    let signed_once = read_json(&env, envelope);
    let r = hwsign_verify(&env, &policy, Via::Envelope(envelope), &files);
    assert!(!r.ok, "one signature met a 2-of-3 rule\n{}", r.desc);
    for f in files {
        let v = r.verdict(f);
        assert_eq!(v["verified"], false, "{}", r.desc);
        assert_eq!(v["rule"], "release", "{}", r.desc);
        assert_eq!(v["threshold"], 2, "{}", r.desc);
        assert_eq!(v["allowed"], 3, "{}", r.desc);
        assert_eq!(r.signers(f), ["p256"], "{}", r.desc);
        let line = r.line(f);
        assert!(
            line.starts_with(&format!("FAIL {f}  ")) && line.contains("1 of 2"),
            "the FAIL line should say 1 of 2: {line}\n{}",
            r.desc
        );
    }

    // A second maintainer's key co-signs, in place.
    env.hwsign_ok(&["attest", "--append", envelope, "--key", "release-ed25519"]);
    let signed_twice = read_json(&env, envelope);
    assert_eq!(
        signed_twice["payload"], signed_once["payload"],
        "--append changed the statement"
    );
    assert_eq!(signed_twice["payloadType"], signed_once["payloadType"]);
    let ids = keyids(&signed_twice);
    assert_eq!(
        ids,
        [env.key_id("release-p256"), env.key_id("release-ed25519")],
        "the first signature is kept and the second appended"
    );
    let r = hwsign_verify(&env, &policy, Via::Envelope(envelope), &files);
    assert!(r.ok, "{}", r.desc);
    for f in files {
        r.assert_ok(f, "release", &["p256", "ed25519"]);
        assert_eq!(
            r.line(f),
            format!("OK   {f}  rule \"release\" (2 of 3): p256, ed25519")
        );
    }

    // A key already on the envelope is refused, and the envelope is left as it was.
    let before = fs::read(env.path(envelope)).unwrap();
    let err = env.hwsign_err(&["attest", "--append", envelope, "--key", "release-p256"]);
    assert!(
        err.contains("already signed"),
        "refusal should say \"already signed\": {err}"
    );
    assert_eq!(
        fs::read(env.path(envelope)).unwrap(),
        before,
        "a refused --append changed the envelope"
    );

    // securesystemslib verifies the co-signed envelope with each key (threshold 1), and
    // not with the key that did not sign.
    for (spec, pem) in KEYS.iter().zip(&pems).take(2) {
        let out = securesystemslib_verify(&env, envelope, spec, pem);
        assert!(
            out.status.success(),
            "{}: securesystemslib rejects the co-signed envelope\n{}",
            spec.label,
            describe("verify_dsse.py", &out)
        );
    }
    let out = securesystemslib_verify(&env, envelope, &KEYS[2], &pems[2]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "securesystemslib accepted a key that did not sign\n{}",
        describe("verify_dsse.py", &out)
    );

    // -o writes the third signature elsewhere; the original stays as it was.
    let three = "release-3.intoto.json";
    env.hwsign_ok(&[
        "attest",
        "--append",
        envelope,
        "--key",
        "release-rsa3072",
        "-o",
        three,
    ]);
    assert_eq!(
        fs::read(env.path(envelope)).unwrap(),
        before,
        "-o changed the input"
    );
    assert_eq!(keyids(&read_json(&env, three)).len(), 3);
    let r = hwsign_verify(&env, &policy, Via::Envelope(three), &files);
    for f in files {
        r.assert_ok(f, "release", &SIGNERS);
    }
    let out = securesystemslib_verify(&env, three, &KEYS[2], &pems[2]);
    assert!(out.status.success(), "{}", describe("verify_dsse.py", &out));
}
