//! What `hwsign verify` must reject, each with the reason named in `--json` and on the `FAIL`
//! line: changed files and payloads, keys the policy does not trust (unknown, revoked,
//! outside their validity window), artifacts no rule covers, and envelopes that are malformed
//! or carry no signature. The release is signed once per test (P-256 envelope, Ed25519
//! SSHSIG); the agent is stopped before anything is verified.

use super::*;

const ENVELOPE: &str = "release.intoto.json";
const FILES: [&str; 2] = [TARBALL, WHEEL];
const SSHSIG: [&str; 2] = ["demo-1.0.tar.gz.sig", "demo-1.0-py3-none-any.whl.sig"];

/// A signed release: [`ENVELOPE`] by release-p256, [`SSHSIG`] by release-ed25519, and the
/// keys as `p256.pem` / `ed25519.pem`.
fn signed_release() -> TestEnv {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    write_release(&env);
    attest(&env, "release-p256", ENVELOPE, &FILES, &[]);
    let mut args = vec!["sign", "--key", "release-ed25519", "--format", "sshsig"];
    args.extend_from_slice(&FILES);
    env.hwsign_ok(&args);
    env.export_key("release-p256", "pem", "p256.pem");
    env.export_key("release-ed25519", "pem", "ed25519.pem");
    agent.stop();
    env
}

/// Signers p256 and ed25519 (with `extra` lines each) and one rule over `artifacts`.
fn two_signer_policy(
    env: &TestEnv,
    p256_extra: &str,
    ed25519_extra: &str,
    artifacts: &[&str],
) -> PathBuf {
    write_policy(
        env,
        "policy.toml",
        &[
            signer_file("p256", "p256.pem", p256_extra),
            signer_file("ed25519", "ed25519.pem", ed25519_extra),
            rule("release", artifacts, &["p256", "ed25519"], 1, ""),
        ],
    )
}

/// Writes a changed copy of the envelope; returns its name.
fn edited_envelope(
    env: &TestEnv,
    name: &'static str,
    edit: impl FnOnce(&mut Value),
) -> &'static str {
    let mut e = read_json(env, ENVELOPE);
    edit(&mut e);
    write_json(env, name, &e);
    name
}

#[test]
fn changed_artifacts_payloads_and_names_are_rejected() {
    let env = signed_release();
    let policy = two_signer_policy(&env, "", "", &["demo-*"]);
    let r = hwsign_verify(&env, &policy, Via::Envelope(ENVELOPE), &FILES);
    assert!(r.ok, "the untouched release must verify\n{}", r.desc);

    // Tampered artifact: its digest no longer matches its subject; its SSHSIG fails too.
    let wheel = fs::read(env.path(WHEEL)).unwrap();
    tamper_file(&env.path(WHEEL));
    let r = hwsign_verify(&env, &policy, Via::Envelope(ENVELOPE), &FILES);
    r.assert_ok(TARBALL, "release", &["p256"]);
    r.assert_rejected(WHEEL, &format!("subject digest mismatch for {WHEEL}"));
    let r = hwsign_verify(&env, &policy, Via::Signatures(&SSHSIG), &FILES);
    r.assert_ok(TARBALL, "release", &["ed25519"]);
    r.assert_rejected(WHEEL, "signature does not verify");
    fs::write(env.path(WHEEL), wheel).unwrap();

    // Tampered payload: a subject digest changed and the payload re-encoded.
    let tampered = edited_envelope(&env, "tampered-payload.json", |e| {
        let mut st = statement_of(e);
        st["subject"][0]["digest"]["sha256"] = Value::from(sha256_hex(b"something else"));
        *e = with_statement(e, &st);
    });
    let r = hwsign_verify(&env, &policy, Via::Envelope(tampered), &FILES);
    for f in FILES {
        r.assert_rejected(f, "signature does not verify");
        assert!(r.signers(f).is_empty(), "{}", r.desc);
    }

    // payloadType changed: the signature covers it (PAE), and only in-toto is accepted.
    let retyped = edited_envelope(&env, "payload-type.json", |e| {
        e["payloadType"] = Value::from("application/json");
    });
    let r = hwsign_verify(&env, &policy, Via::Envelope(retyped), &FILES);
    for f in FILES {
        r.assert_rejected(f, "payloadType");
    }

    // Subject renamed: an artifact whose name is not a subject of the statement.
    let renamed = "demo-1.0-renamed.tar.gz";
    fs::copy(env.path(TARBALL), env.path(renamed)).unwrap();
    let r = hwsign_verify(&env, &policy, Via::Envelope(ENVELOPE), &[renamed, WHEEL]);
    r.assert_rejected(renamed, &format!("no subject named {renamed}"));
    r.assert_ok(WHEEL, "release", &["p256"]);
}

#[test]
fn untrusted_revoked_and_out_of_window_keys_are_rejected() {
    let env = signed_release();

    // Untrusted: the policy pins another key than the envelope's.
    let only_ed25519 = write_policy(
        &env,
        "policy-ed25519.toml",
        &[
            signer_file("ed25519", "ed25519.pem", ""),
            rule("release", &["demo-*"], &["ed25519"], 1, ""),
        ],
    );
    let r = hwsign_verify(&env, &only_ed25519, Via::Envelope(ENVELOPE), &FILES);
    for f in FILES {
        r.assert_rejected(f, "unknown key");
    }

    // Revoked: verifies nothing, whatever the format.
    let revoked = "[signer.revoked]\nreason = \"token lost\"\ntime = \"2025-06-01T00:00:00Z\"\n";
    let p = two_signer_policy(&env, revoked, revoked, &["demo-*"]);
    let r = hwsign_verify(&env, &p, Via::Envelope(ENVELOPE), &FILES);
    for f in FILES {
        r.assert_rejected(f, "revoked");
        r.assert_rejected(f, "token lost");
        assert!(r.signers(f).is_empty(), "{}", r.desc);
    }
    let r = hwsign_verify(&env, &p, Via::Signatures(&SSHSIG), &FILES);
    for f in FILES {
        r.assert_rejected(f, "ed25519: revoked");
    }

    // Outside the validity window: expired, and not yet valid.
    let p = two_signer_policy(
        &env,
        "valid_until = \"2020-01-01T00:00:00Z\"\n",
        "",
        &["demo-*"],
    );
    let r = hwsign_verify(&env, &p, Via::Envelope(ENVELOPE), &FILES);
    for f in FILES {
        r.assert_rejected(f, "expired 2020-01-01T00:00:00Z");
    }
    let p = two_signer_policy(
        &env,
        "valid_from = \"2099-01-01T00:00:00Z\"\n",
        "",
        &["demo-*"],
    );
    let r = hwsign_verify(&env, &p, Via::Envelope(ENVELOPE), &FILES);
    for f in FILES {
        r.assert_rejected(f, "not valid until 2099-01-01T00:00:00Z");
    }

    // Inside the window it verifies.
    let window = "valid_from = \"2020-01-01T00:00:00Z\"\nvalid_until = \"2099-01-01T00:00:00Z\"\n";
    let p = two_signer_policy(&env, window, "", &["demo-*"]);
    let r = hwsign_verify(&env, &p, Via::Envelope(ENVELOPE), &FILES);
    assert!(r.ok, "{}", r.desc);
}

#[test]
fn unmatched_artifacts_and_malformed_or_unsigned_envelopes_are_rejected() {
    let env = signed_release();

    // An artifact no rule covers is not verified (no silent pass), the others are.
    let wheels_only = two_signer_policy(&env, "", "", &["*.whl"]);
    let r = hwsign_verify(&env, &wheels_only, Via::Envelope(ENVELOPE), &FILES);
    r.assert_rejected(TARBALL, "artifact matches no rule");
    r.assert_ok(WHEEL, "release", &["p256"]);
    assert_eq!(r.verdict(TARBALL)["rule"], Value::Null, "{}", r.desc);

    let policy = two_signer_policy(&env, "", "", &["demo-*"]);

    // Malformed JSON.
    let text = fs::read_to_string(env.path(ENVELOPE)).unwrap();
    fs::write(env.path("truncated.json"), &text[..text.len() / 2]).unwrap();
    let r = hwsign_verify(&env, &policy, Via::Envelope("truncated.json"), &FILES);
    for f in FILES {
        r.assert_rejected(f, "malformed");
    }

    // An empty signature list.
    let unsigned = edited_envelope(&env, "unsigned.json", |e| {
        e["signatures"] = Value::Array(Vec::new());
    });
    let r = hwsign_verify(&env, &policy, Via::Envelope(unsigned), &FILES);
    for f in FILES {
        r.assert_rejected(f, "empty signature list");
    }

    // The same signature twice (the copy without a keyid) is refused, not counted twice.
    let doubled = edited_envelope(&env, "doubled.json", |e| {
        let mut copy = e["signatures"][0].clone();
        copy["keyid"] = Value::from("");
        e["signatures"].as_array_mut().unwrap().push(copy);
    });
    let r = hwsign_verify(&env, &policy, Via::Envelope(doubled), &FILES);
    for f in FILES {
        r.assert_rejected(f, "twice");
    }
}
