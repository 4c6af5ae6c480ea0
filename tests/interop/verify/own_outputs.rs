//! hwsign's own outputs verify with `hwsign verify`, against a policy made of the entries
//! `hwsign keys export --format policy` prints, after the agent has stopped; the verifier
//! material hwsign emits is what `ssh-keygen` and `hwsign verify` need.

use super::*;

/// `hwsign keys export LABEL --format policy --name NAME`: one `[[signer]]` named NAME with
/// the key, nothing else.
fn policy_entry(env: &TestEnv, label: &str, name: &str) -> String {
    let entry = env.hwsign_ok(&[
        "keys", "export", label, "--format", "policy", "--name", name,
    ]);
    let parsed: toml::Value = toml::from_str(&entry)
        .unwrap_or_else(|e| panic!("--format policy is not TOML ({e}):\n{entry}"));
    let signers = parsed
        .get("signer")
        .and_then(toml::Value::as_array)
        .unwrap_or_else(|| panic!("--format policy has no [[signer]]:\n{entry}"));
    assert_eq!(signers.len(), 1, "one [[signer]] expected:\n{entry}");
    assert_eq!(signers[0]["name"].as_str(), Some(name), "{entry}");
    assert!(signers[0].get("key").is_some(), "no key in:\n{entry}");
    assert!(
        parsed.get("rule").is_none(),
        "a signer entry, not a policy:\n{entry}"
    );
    entry
}

#[test]
fn hwsign_outputs_verify_under_exported_policy_entries() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    write_release(&env);
    let files = [TARBALL, WHEEL];
    let mut tables: Vec<String> = [
        ("release-p256", "p256"),
        ("release-ed25519", "ed25519"),
        ("release-rsa3072", "rsa3072"),
    ]
    .iter()
    .map(|(label, name)| policy_entry(&env, label, name))
    .collect();
    tables.push(rule(
        "release",
        &["demo-*"],
        &["p256", "ed25519", "rsa3072"],
        1,
        "",
    ));
    let policy = write_policy(&env, "policy.toml", &tables);

    attest(&env, "release-p256", "release.intoto.json", &files, &[]);
    let sign = |label: &str, format: &str| {
        let mut args = vec!["sign", "--key", label, "--format", format];
        args.extend_from_slice(&files);
        env.hwsign_ok(&args);
    };
    sign("release-ed25519", "sshsig");
    sign("release-rsa3072", "raw");
    // The certificate first: its self-signature must not be younger than the signatures.
    env.hwsign_ok(&[
        "keys",
        "export",
        "release-p256",
        "--format",
        "openpgp",
        "--userid",
        "Demo Release <release@demo.test>",
        "-o",
        "p256.cert.asc",
    ]);
    sign("release-p256", "openpgp");
    let allowed = env.hwsign_ok(&[
        "keys",
        "export",
        "release-ed25519",
        "--format",
        "allowed-signers",
        "--principal",
        "release@demo.test",
    ]);
    // Verification needs no agent.
    agent.stop();

    let r = hwsign_verify(&env, &policy, Via::Envelope("release.intoto.json"), &files);
    assert!(r.ok, "{}", r.desc);
    for f in files {
        r.assert_ok(f, "release", &["p256"]);
    }

    let sshsig = ["demo-1.0.tar.gz.sig", "demo-1.0-py3-none-any.whl.sig"];
    let r = hwsign_verify(&env, &policy, Via::Signatures(&sshsig), &files);
    for f in files {
        r.assert_ok(f, "release", &["ed25519"]);
    }
    let raw = ["demo-1.0.tar.gz.rawsig", "demo-1.0-py3-none-any.whl.rawsig"];
    let r = hwsign_verify(&env, &policy, Via::Signatures(&raw), &files);
    for f in files {
        r.assert_ok(f, "release", &["rsa3072"]);
    }
    // Both kinds together: each signer counted once, in policy order.
    let both = [sshsig[0], raw[0], sshsig[1], raw[1]];
    let r = hwsign_verify(&env, &policy, Via::Signatures(&both), &files);
    for f in files {
        r.assert_ok(f, "release", &["ed25519", "rsa3072"]);
    }

    // OpenPGP, against the certificate `keys export --format openpgp` wrote.
    let pgp_policy = write_policy(
        &env,
        "policy-openpgp.toml",
        &[
            signer_openpgp("p256-openpgp", "p256.cert.asc"),
            rule(
                "release",
                &["demo-*"],
                &["p256-openpgp"],
                1,
                "formats = [\"openpgp\"]\n",
            ),
        ],
    );
    let asc = ["demo-1.0.tar.gz.asc", "demo-1.0-py3-none-any.whl.asc"];
    let r = hwsign_verify(&env, &pgp_policy, Via::Signatures(&asc), &files);
    for f in files {
        r.assert_ok(f, "release", &["p256-openpgp"]);
    }

    // The allowed_signers line works for ssh-keygen -Y verify.
    let line = allowed.trim();
    assert!(
        line.starts_with("release@demo.test ") && line.contains("ssh-ed25519 "),
        "allowed-signers line: {allowed:?}"
    );
    let allowed_file = env.path("allowed_signers");
    fs::write(&allowed_file, format!("{line}\n")).unwrap();
    for (f, sig) in files.iter().zip(sshsig) {
        let out = env.ssh_verify(
            &allowed_file,
            "release@demo.test",
            "file",
            &env.path(f),
            &env.path(sig),
        );
        assert!(
            out.status.success(),
            "{}",
            describe("ssh-keygen -Y verify", &out)
        );
    }
}

/// `--emit-verifier-material` writes `hwsign-<label>.{pub,pem,allowed_signers,policy.toml}`
/// next to the outputs: the keys match `keys export`, the allowed_signers file serves
/// `ssh-keygen -Y verify`, and the policy entry (with a rule added when it has none)
/// verifies the envelope.
#[test]
fn emitted_verifier_material_verifies_the_release() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    write_release(&env);
    let files = [TARBALL, WHEEL];
    let label = "release-ed25519";
    attest(
        &env,
        label,
        "release.intoto.json",
        &files,
        &["--emit-verifier-material"],
    );
    let mut args = vec!["sign", "--key", label, "--format", "sshsig"];
    args.extend_from_slice(&files);
    // Without the flag: hwsign-release-ed25519.* exist, and outputs are never overwritten.
    env.hwsign_ok(&args);
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "raw",
        "--emit-verifier-material",
        TARBALL,
    ]);
    let ssh_line = env.hwsign_ok(&["keys", "export", label, "--format", "ssh"]);
    let pem = env.hwsign_ok(&["keys", "export", label, "--format", "pem"]);
    agent.stop();

    let material = |key: &str, ext: &str| {
        let path = env.path(&format!("hwsign-{key}.{ext}"));
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("--emit-verifier-material wrote no {}: {e}", path.display()))
    };
    for ext in ["pub", "pem", "allowed_signers", "policy.toml"] {
        material("release-p256", ext);
    }
    let first_two = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    assert_eq!(first_two(&material(label, "pub")), first_two(&ssh_line));
    assert_eq!(material(label, "pem").trim(), pem.trim());

    let allowed = material(label, "allowed_signers");
    let principal = allowed
        .split_whitespace()
        .next()
        .and_then(|p| p.split(',').next())
        .unwrap_or_else(|| panic!("empty allowed_signers: {allowed:?}"))
        .to_string();
    let out = env.ssh_verify(
        &env.path(&format!("hwsign-{label}.allowed_signers")),
        &principal,
        "file",
        &env.path(TARBALL),
        &env.path("demo-1.0.tar.gz.sig"),
    );
    assert!(
        out.status.success(),
        "{}",
        describe("ssh-keygen -Y verify", &out)
    );

    let entry = material(label, "policy.toml");
    let parsed: toml::Value = toml::from_str(&entry)
        .unwrap_or_else(|e| panic!("hwsign-{label}.policy.toml is not TOML ({e}):\n{entry}"));
    let name = parsed
        .get("signer")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("name"))
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("no [[signer]] name in:\n{entry}"))
        .to_string();
    let mut text = entry;
    if parsed.get("rule").is_none() {
        text.push('\n');
        text.push_str(&rule("release", &["demo-*"], &[name.as_str()], 1, ""));
    }
    // Next to the material, so that relative key files resolve.
    let policy = write_policy(&env, "from-material.toml", &[text]);
    let r = hwsign_verify(&env, &policy, Via::Envelope("release.intoto.json"), &files);
    assert!(r.ok, "{}", r.desc);
    for f in files {
        assert_eq!(r.signers(f), [name.as_str()], "{}", r.desc);
    }
}
