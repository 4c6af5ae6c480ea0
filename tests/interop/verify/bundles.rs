//! Sigstore bundles: `hwsign attest --bundle -o X.intoto.json` also writes
//! `X.intoto.sigstore.json`, a v0.3 bundle in public-key form that sigstore-js
//! (`@sigstore/verify`, offline: no transparency log, no CT log, no timestamp authority;
//! tests/node/verify_bundle.mjs) accepts with the exported public key, and that
//! `hwsign verify --envelope` accepts under a policy pinning the key. A tampered bundle is
//! rejected by both.

use super::*;

const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// `X.intoto.json` → `X.intoto.sigstore.json`.
fn bundle_name(envelope: &str) -> String {
    format!(
        "{}.sigstore.json",
        envelope
            .strip_suffix(".json")
            .expect("envelope names end in .json")
    )
}

/// The shape the issue asks for: media type, `publicKey.hint` = the DSSE keyid = the key id,
/// no transparency-log entries, exactly one signature, the same envelope as the `.json`.
fn check_bundle_shape(env: &TestEnv, envelope: &str, label: &str) -> Value {
    let bundle_file = bundle_name(envelope);
    assert!(
        env.path(&bundle_file).is_file(),
        "attest --bundle -o {envelope} wrote no {bundle_file}"
    );
    let bundle = read_json(env, &bundle_file);
    let keyid = env.key_id(label);
    assert_eq!(bundle["mediaType"], BUNDLE_V03, "{bundle}");
    let material = &bundle["verificationMaterial"];
    assert_eq!(material["publicKey"]["hint"], keyid.as_str(), "{bundle}");
    assert_eq!(
        material["tlogEntries"],
        Value::Array(Vec::new()),
        "{bundle}"
    );
    let dsse = &bundle["dsseEnvelope"];
    let sigs = dsse["signatures"].as_array().expect("signatures array");
    assert_eq!(sigs.len(), 1, "{bundle}");
    assert_eq!(sigs[0]["keyid"], keyid.as_str(), "{bundle}");
    let plain = read_json(env, envelope);
    assert_eq!(
        dsse["payload"], plain["payload"],
        "bundle and envelope differ"
    );
    assert_eq!(dsse["payloadType"], plain["payloadType"]);
    assert_eq!(sigs[0]["sig"], plain["signatures"][0]["sig"]);
    bundle
}

#[test]
fn attest_bundles_verify_with_sigstore_js_and_hwsign() {
    node_modules(); // fail first, and clearly, when sigstore-js is not set up
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    write_release(&env);
    let files = [TARBALL, WHEEL];
    let names = ["p256", "ed25519", "rsa3072"];
    let mut pems = Vec::new();
    for (spec, name) in KEYS.iter().zip(names) {
        let envelope = format!("{name}.intoto.json");
        attest(&env, spec.label, &envelope, &files, &["--bundle"]);
        check_bundle_shape(&env, &envelope, spec.label);
        pems.push(export_pem(&env, spec.label));
    }
    agent.stop();

    let mut tables: Vec<String> = names
        .iter()
        .zip(&pems)
        .map(|(name, pem)| signer_file(name, pem, ""))
        .collect();
    tables.push(rule("release", &["demo-*"], &names, 1, ""));
    let policy = write_policy(&env, "policy.toml", &tables);
    for (name, pem) in names.iter().zip(&pems) {
        let bundle = bundle_name(&format!("{name}.intoto.json"));
        let out = sigstore_js_verify(&env, &bundle, pem, &files);
        assert!(
            out.status.success(),
            "{name}: @sigstore/verify rejects the bundle\n{}",
            describe("verify_bundle.mjs", &out)
        );
        let r = hwsign_verify(&env, &policy, Via::Envelope(&bundle), &files);
        assert!(r.ok, "{}", r.desc);
        for f in files {
            r.assert_ok(f, "release", &[*name]);
        }
    }

    // sigstore-js with another key than the bundle's: rejected.
    let out = sigstore_js_verify(&env, &bundle_name("p256.intoto.json"), &pems[1], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe("verify_bundle.mjs", &out)
    );

    // A rule taking bundles only: the bundle counts, the bare envelope does not.
    let bundles_only = write_policy(
        &env,
        "policy-bundles.toml",
        &[
            signer_file("p256", &pems[0], ""),
            rule(
                "release",
                &["demo-*"],
                &["p256"],
                1,
                "formats = [\"bundle\"]\n",
            ),
        ],
    );
    let bundle = bundle_name("p256.intoto.json");
    let r = hwsign_verify(&env, &bundles_only, Via::Envelope(&bundle), &files);
    assert!(r.ok, "{}", r.desc);
    let r = hwsign_verify(
        &env,
        &bundles_only,
        Via::Envelope("p256.intoto.json"),
        &files,
    );
    for f in files {
        r.assert_rejected(f, "not accepted");
    }
}

#[test]
fn tampered_bundle_is_rejected_by_sigstore_js_and_hwsign() {
    node_modules();
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    write_release(&env);
    let files = [TARBALL, WHEEL];
    let envelope = "release.intoto.json";
    attest(&env, "release-p256", envelope, &files, &["--bundle"]);
    let good = check_bundle_shape(&env, envelope, "release-p256");
    let pem = export_pem(&env, "release-p256");
    agent.stop();
    let policy = write_policy(
        &env,
        "policy.toml",
        &[
            signer_file("p256", &pem, ""),
            rule("release", &["demo-*"], &["p256"], 1, ""),
        ],
    );
    let bundle = bundle_name(envelope);
    let out = sigstore_js_verify(&env, &bundle, &pem, &files);
    assert!(
        out.status.success(),
        "{}",
        describe("verify_bundle.mjs", &out)
    );

    // The payload changed: a subject digest replaced, re-encoded, the signature kept.
    let mut tampered = good.clone();
    let mut st = statement_of(&good["dsseEnvelope"]);
    st["subject"][1]["digest"]["sha256"] = Value::from(sha256_hex(b"another wheel"));
    tampered["dsseEnvelope"] = with_statement(&good["dsseEnvelope"], &st);
    write_json(&env, "tampered.sigstore.json", &tampered);

    let out = sigstore_js_verify(&env, "tampered.sigstore.json", &pem, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "@sigstore/verify accepted a tampered bundle\n{}",
        describe("verify_bundle.mjs", &out)
    );
    let r = hwsign_verify(
        &env,
        &policy,
        Via::Envelope("tampered.sigstore.json"),
        &files,
    );
    for f in files {
        r.assert_rejected(f, "signature does not verify");
    }
}
