//! Signatures made by other tools, with keys those tools generated, verify under a policy
//! pinning those keys, and not under a policy pinning another key. No agent runs here.

use super::*;

/// An envelope from securesystemslib (`CryptoSigner`, `Envelope.sign`) with a PEM key it
/// generated: its keyid is securesystemslib's, not hwsign's, so the key is found by the
/// signature alone.
#[test]
fn securesystemslib_envelope_is_accepted_under_its_pinned_pem_key() {
    require_python_module("securesystemslib");
    let env = TestEnv::new();
    write_release(&env);
    let make = |envelope: &str, pem: &str| {
        let mut cmd = env.command(python());
        cmd.arg(MAKE_DSSE_PY)
            .args(["--envelope", envelope, "--public-key-pem", pem])
            .args([TARBALL, WHEEL]);
        run_ok(&mut cmd);
    };
    make("sslib.intoto.json", "sslib.pem");
    make("other.intoto.json", "other.pem");
    let statement = statement_of(&read_json(&env, "sslib.intoto.json"));
    assert_eq!(statement["subject"][1]["name"], WHEEL, "{statement}");

    let pem = fs::read_to_string(env.path("sslib.pem")).unwrap();
    let rule_extra = format!("formats = [\"dsse\"]\npredicate_types = [\"{RELEASE_PREDICATE}\"]\n");
    let policy = write_policy(
        &env,
        "policy.toml",
        &[
            signer_key("sslib", &pem),
            rule("interop", &["demo-*"], &["sslib"], 1, &rule_extra),
        ],
    );
    let files = [TARBALL, WHEEL];
    let r = hwsign_verify(&env, &policy, Via::Envelope("sslib.intoto.json"), &files);
    assert!(r.ok, "{}", r.desc);
    for f in files {
        r.assert_ok(f, "interop", &["sslib"]);
    }

    // The same envelope under a policy pinning another key.
    let other = fs::read_to_string(env.path("other.pem")).unwrap();
    let policy = write_policy(
        &env,
        "policy-other.toml",
        &[
            signer_key("someone-else", &other),
            rule("interop", &["demo-*"], &["someone-else"], 1, &rule_extra),
        ],
    );
    let r = hwsign_verify(&env, &policy, Via::Envelope("sslib.intoto.json"), &files);
    for f in files {
        r.assert_rejected(f, "unknown key");
        assert!(r.signers(f).is_empty(), "{}", r.desc);
    }
}

fn ssh_keygen(env: &TestEnv, args: &[&str]) -> Output {
    let mut cmd = env.command(require_tool("ssh-keygen", "openssh-client"));
    cmd.args(args);
    run_ok(&mut cmd)
}

/// SSHSIG from `ssh-keygen -Y sign` with a throwaway Ed25519 key; the rule's namespace is
/// checked; a key the policy does not pin is rejected.
#[test]
fn ssh_keygen_signatures_are_accepted() {
    let env = TestEnv::new();
    write_release(&env);
    for key in ["peer", "stranger"] {
        ssh_keygen(
            &env,
            &["-q", "-t", "ed25519", "-N", "", "-C", key, "-f", key],
        );
    }
    // ssh-keygen writes FILE.sig.
    ssh_keygen(&env, &["-Y", "sign", "-f", "peer", "-n", "file", TARBALL]);
    ssh_keygen(
        &env,
        &["-Y", "sign", "-f", "peer", "-n", "release@demo.test", WHEEL],
    );
    let sigs = ["demo-1.0.tar.gz.sig", "demo-1.0-py3-none-any.whl.sig"];
    for s in sigs {
        let text = fs::read_to_string(env.path(s)).unwrap();
        assert!(
            text.starts_with("-----BEGIN SSH SIGNATURE-----"),
            "{s}: {text}"
        );
    }
    let peer = signer_file("peer", "peer.pub", "");
    let policy = write_policy(
        &env,
        "policy.toml",
        &[
            peer.clone(),
            rule("ssh", &["demo-*"], &["peer"], 1, "formats = [\"sshsig\"]\n"),
        ],
    );
    let r = hwsign_verify(&env, &policy, Via::Signatures(&sigs), &[TARBALL, WHEEL]);
    r.assert_ok(TARBALL, "ssh", &["peer"]);
    // The wheel was signed in another namespace than the rule's ("file").
    r.assert_rejected(WHEEL, "namespace");

    let policy = write_policy(
        &env,
        "policy-ns.toml",
        &[
            peer,
            rule(
                "ssh",
                &["*.whl"],
                &["peer"],
                1,
                "sshsig_namespace = \"release@demo.test\"\n",
            ),
        ],
    );
    let r = hwsign_verify(&env, &policy, Via::Signatures(&sigs[1..]), &[WHEEL]);
    r.assert_ok(WHEEL, "ssh", &["peer"]);

    // A key the policy does not know.
    fs::remove_file(env.path(sigs[0])).unwrap();
    ssh_keygen(
        &env,
        &["-Y", "sign", "-f", "stranger", "-n", "file", TARBALL],
    );
    let policy = write_policy(
        &env,
        "policy-peer.toml",
        &[
            signer_file("peer", "peer.pub", ""),
            rule("ssh", &["*"], &["peer"], 1, ""),
        ],
    );
    let r = hwsign_verify(&env, &policy, Via::Signatures(&sigs[..1]), &[TARBALL]);
    r.assert_rejected(TARBALL, "unknown key");
}

/// An armored detached signature from `gpg --detach-sign` with a throwaway Ed25519 key,
/// verified with the certificate `gpg --armor --export` wrote (`openpgp_cert`).
#[test]
fn gpg_detached_signature_is_accepted_with_its_certificate() {
    let env = TestEnv::new();
    write_release(&env);
    let home = GnupgHome::new(&env);
    let userid = "Peer Signer <peer@demo.test>";
    run_ok(
        home.gpg()
            .args(["--quick-gen-key", userid, "ed25519", "sign", "never"]),
    );
    let cert = run_ok(home.gpg().args(["--armor", "--export", "peer@demo.test"])).stdout;
    assert!(
        String::from_utf8_lossy(&cert).starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "gpg --export: {}",
        String::from_utf8_lossy(&cert)
    );
    fs::write(env.path("peer.cert.asc"), cert).unwrap();
    for f in [TARBALL, WHEEL] {
        let sig = env.path(&format!("{f}.asc"));
        run_ok(
            home.gpg()
                .args(["--detach-sign", "--armor", "-u", "peer@demo.test", "-o"])
                .arg(sig)
                .arg(env.path(f)),
        );
    }
    let policy = write_policy(
        &env,
        "policy.toml",
        &[
            signer_openpgp("gpg-peer", "peer.cert.asc"),
            rule(
                "pgp",
                &["demo-*"],
                &["gpg-peer"],
                1,
                "formats = [\"openpgp\"]\n",
            ),
        ],
    );
    let sigs = ["demo-1.0.tar.gz.asc", "demo-1.0-py3-none-any.whl.asc"];
    let r = hwsign_verify(&env, &policy, Via::Signatures(&sigs), &[TARBALL, WHEEL]);
    r.assert_ok(TARBALL, "pgp", &["gpg-peer"]);
    r.assert_ok(WHEEL, "pgp", &["gpg-peer"]);

    tamper_file(&env.path(WHEEL));
    let r = hwsign_verify(&env, &policy, Via::Signatures(&sigs), &[TARBALL, WHEEL]);
    r.assert_ok(TARBALL, "pgp", &["gpg-peer"]);
    r.assert_rejected(WHEEL, "signature does not verify");
}

/// Raw signatures from `openssl dgst -sha256 -sign` (ECDSA P-256 DER and RSA PKCS#1 v1.5),
/// base64-encoded into FILE.rawsig.
#[test]
fn openssl_raw_signatures_are_accepted() {
    let env = TestEnv::new();
    write_release(&env);
    let openssl = |args: &[&str]| {
        let mut cmd = env.command(require_tool("openssl", "openssl"));
        cmd.args(args);
        run_ok(&mut cmd);
    };
    let keys = [
        ("ec", TARBALL, "ec_paramgen_curve:P-256", "EC"),
        ("rsa", WHEEL, "rsa_keygen_bits:2048", "RSA"),
    ];
    for (name, file, opt, alg) in keys {
        let (key, pem, bin) = (
            format!("{name}.key"),
            format!("{name}.pem"),
            format!("{file}.bin"),
        );
        let (key, pem, bin) = (key.as_str(), pem.as_str(), bin.as_str());
        openssl(&["genpkey", "-algorithm", alg, "-pkeyopt", opt, "-out", key]);
        openssl(&["pkey", "-in", key, "-pubout", "-out", pem]);
        openssl(&["dgst", "-sha256", "-sign", key, "-out", bin, file]);
        let sig = fs::read(env.path(bin)).unwrap();
        fs::write(env.path(&format!("{file}.rawsig")), b64_encode(&sig) + "\n").unwrap();
    }
    let policy = write_policy(
        &env,
        "policy.toml",
        &[
            signer_file("ec", "ec.pem", ""),
            signer_file("rsa", "rsa.pem", ""),
            rule(
                "raw",
                &["demo-*"],
                &["ec", "rsa"],
                1,
                "formats = [\"raw\"]\n",
            ),
        ],
    );
    let sigs = ["demo-1.0.tar.gz.rawsig", "demo-1.0-py3-none-any.whl.rawsig"];
    let r = hwsign_verify(&env, &policy, Via::Signatures(&sigs), &[TARBALL, WHEEL]);
    r.assert_ok(TARBALL, "raw", &["ec"]);
    r.assert_ok(WHEEL, "raw", &["rsa"]);

    tamper_file(&env.path(TARBALL));
    let r = hwsign_verify(&env, &policy, Via::Signatures(&sigs), &[TARBALL, WHEEL]);
    r.assert_rejected(TARBALL, "verifies with no key");
    r.assert_ok(WHEEL, "raw", &["rsa"]);
}
