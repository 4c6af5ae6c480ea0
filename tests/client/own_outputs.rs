//! Never signing our own outputs (issue 14): `hwsign sign dist/*` and `hwsign attest dist/*`
//! run again skip the signatures, envelopes and verifier material of the first run (recognised
//! by content: a `.sig` that is not a signature is signed), with one note line;
//! `--include-signatures` signs them anyway; `--output-dir` puts signatures elsewhere; and
//! `hwsign verify dist/*` takes the signature files among the files as signatures.

use std::fs;

use hwsign_testrig::*;

fn dist_files(env: &TestEnv) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(env.path("dist"))
        .unwrap()
        .map(|e| format!("dist/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    names.sort();
    names
}

fn setup(env: &TestEnv) {
    fs::create_dir(env.path("dist")).unwrap();
    write_file(&env.path("dist"), "tool-linux.tar.gz", b"linux build\n");
    write_file(&env.path("dist"), "tool-mac.tar.gz", b"mac build\n");
    // Named like a signature, but not one: an artifact.
    write_file(
        &env.path("dist"),
        "firmware.sig",
        b"\x7fELF firmware image\n",
    );
}

fn args<'a>(head: &[&'a str], files: &'a [String]) -> Vec<&'a str> {
    let mut v = head.to_vec();
    v.extend(files.iter().map(String::as_str));
    v
}

#[test]
fn a_second_run_over_dist_signs_no_signatures() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    setup(&env);
    let files = dist_files(&env);
    let sign = ["sign", "--key", "release-p256", "--format"];
    env.hwsign_ok(&args(&[&sign[..], &["sshsig"]].concat(), &files));
    let files = dist_files(&env);
    env.hwsign_ok(&args(&[&sign[..], &["raw"]].concat(), &files));
    // Again, over everything, forced: only the three artifacts are signed.
    let files = dist_files(&env);
    let out = env.hwsign(&args(&[&sign[..], &["sshsig", "--force"]].concat(), &files));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("skipped 6 of hwsign's own outputs") && err.contains("--include-signatures"),
        "{err}"
    );
    let after = dist_files(&env);
    assert!(
        !after
            .iter()
            .any(|f| f.ends_with(".sig.sig") && f != "dist/firmware.sig.sig"
                || f.ends_with(".rawsig.sig")),
        "{after:?}"
    );
    // firmware.sig is not a signature: it was signed, as an artifact.
    assert!(
        after.contains(&"dist/firmware.sig.sig".to_string()),
        "{after:?}"
    );

    // The attestation skips them too, and a forced re-run does not attest its own envelope.
    let files = dist_files(&env);
    let attest = [
        "attest",
        "--key",
        "release-p256",
        "--purl",
        PURL,
        "-o",
        "dist/release.intoto.json",
    ];
    env.hwsign_ok(&args(&attest, &files));
    let files = dist_files(&env);
    env.hwsign_ok(&args(&[&attest[..], &["--force"]].concat(), &files));
    let envelope: serde_json::Value =
        serde_json::from_slice(&fs::read(env.path("dist/release.intoto.json")).unwrap()).unwrap();
    let statement: serde_json::Value =
        serde_json::from_slice(&b64_decode(envelope["payload"].as_str().unwrap())).unwrap();
    let mut names: Vec<&str> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["firmware.sig", "tool-linux.tar.gz", "tool-mac.tar.gz"]
    );

    // hwsign verify dist/*: the .sig files are the signatures; the envelope, the .rawsig and
    // the .sig.sig are not artifacts.
    let pem = env.export_key("release-p256", "pem", "p256.pem");
    fs::write(
        env.path("trust.toml"),
        format!(
            "[[signer]]\nname = \"r\"\nkey_file = \"{}\"\n[[rule]]\nname = \"all\"\nartifacts = [\"*\"]\nsigners = [\"r\"]\n",
            pem.display()
        ),
    )
    .unwrap();
    // Only the SSHSIG signatures and the artifacts: the raw ones are for another rule.
    let files: Vec<String> = dist_files(&env)
        .into_iter()
        .filter(|f| !f.ends_with(".rawsig"))
        .collect();
    let out = env.hwsign(&args(&["verify", "--policy", "trust.toml"], &files));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 of 3 artifact(s) verified"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
}

#[test]
fn include_signatures_and_output_dir() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    setup(&env);
    let files = dist_files(&env);
    let sign = ["sign", "--key", "release-ed25519", "--format", "sshsig"];
    env.hwsign_ok(&args(&sign, &files));
    // With --include-signatures the signatures are signed too.
    let files = dist_files(&env);
    let out = env.hwsign(&args(
        &[&sign[..], &["--include-signatures", "--force"]].concat(),
        &files,
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.path("dist/tool-mac.tar.gz.sig.sig").exists());

    // --output-dir: signatures elsewhere, nothing new beside the artifacts.
    fs::create_dir(env.path("sigs")).unwrap();
    let before = dist_files(&env);
    env.hwsign_ok(&args(
        &[&sign[..], &["--output-dir", "sigs"]].concat(),
        &["dist/tool-linux.tar.gz".to_string()],
    ));
    assert_eq!(dist_files(&env), before);
    let sig = fs::read_to_string(env.path("sigs/tool-linux.tar.gz.sig")).unwrap();
    assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"), "{sig}");

    // Only signatures given: nothing to sign, said so.
    let err = env.hwsign_err(&args(&sign, &["dist/tool-linux.tar.gz.sig".to_string()]));
    assert!(
        err.contains("nothing to sign") && err.contains("--include-signatures"),
        "{err}"
    );
}

/// Readable results: one summary line by default, a line per file with -v, nothing with
/// --quiet, and one JSON document on stdout with --json (sign and attest).
#[test]
fn summary_verbose_quiet_and_json() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    setup(&env);
    let files = dist_files(&env);
    let sign = [
        "sign",
        "--key",
        "release-p256",
        "--format",
        "sshsig",
        "--force",
    ];
    let run_sign = |extra: &[&str]| {
        let out = env.hwsign(&args(&[&sign[..], extra].concat(), &files));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (_, err) = run_sign(&[]);
    assert_eq!(
        err,
        "signed 3 file(s) with release-p256 (SSHSIG) → dist/*.sig\n"
    );
    let (_, err) = run_sign(&["-v"]);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("wrote dist/")).count(),
        3,
        "{err}"
    );
    assert!(
        err.ends_with("signed 3 file(s) with release-p256 (SSHSIG) → dist/*.sig\n"),
        "{err}"
    );
    let (out, err) = run_sign(&["--quiet"]);
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
    // Over dist/* again (with the signatures): JSON names what was signed and skipped.
    let all = dist_files(&env);
    let out = env.hwsign(&args(&[&sign[..], &["--json"]].concat(), &all));
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["format"], "SSHSIG");
    assert_eq!(doc["key"]["label"], "release-p256");
    assert_eq!(doc["signed"].as_array().unwrap().len(), 3);
    assert_eq!(doc["signed"][0]["signature"], "dist/firmware.sig.sig");
    assert_eq!(doc["skipped"].as_array().unwrap().len(), 3);
    // Each file's SHA-256, whatever the format (from the signing pass or one more).
    let sha256_of = |file: &str| {
        let bytes = std::fs::read(env.work.join(file)).unwrap();
        hwsign::crypto::pubkey::hex(&hwsign::crypto::scheme::HashAlg::Sha256.digest(&bytes))
    };
    for entry in doc["signed"].as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        assert_eq!(entry["sha256"], sha256_of(file).as_str(), "{entry}");
    }
    for format in ["raw", "openpgp", "minisign"] {
        let out = env.hwsign(&[
            "sign",
            "--key",
            "release-ed25519",
            "--format",
            format,
            "--force",
            "--json",
            "dist/tool-mac.tar.gz",
        ]);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            doc["signed"][0]["sha256"],
            sha256_of("dist/tool-mac.tar.gz").as_str(),
            "{format}: {doc}"
        );
    }

    let out = env.hwsign(&args(
        &["attest", "--key", "release-p256", "--purl", PURL, "--json"],
        &all,
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["envelope"], "release.intoto.json");
    assert_eq!(doc["subjects"], 3);
    assert_eq!(doc["key"]["id"], env.key_id("release-p256").as_str());
    assert_eq!(doc["statement_sha256"].as_str().unwrap().len(), 64);
}

/// Names and inputs: `-r DIR` walks a tree (symbolic links skipped), `--base DIR` makes
/// subject names relative paths, so equal base names in different directories fit in one
/// release; without it they are refused with a hint.
#[test]
fn equal_base_names_under_base_and_recursive() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    for (dir, body) in [("dist/linux", "linux"), ("dist/mac", "mac")] {
        fs::create_dir_all(env.path(dir)).unwrap();
        write_file(&env.path(dir), "tool", body.as_bytes());
    }
    std::os::unix::fs::symlink("/etc/hostname", env.path("dist/link")).unwrap();
    let statement = |out: &str| -> Vec<(String, String)> {
        let envelope: serde_json::Value =
            serde_json::from_slice(&fs::read(env.path(out)).unwrap()).unwrap();
        let st: serde_json::Value =
            serde_json::from_slice(&b64_decode(envelope["payload"].as_str().unwrap())).unwrap();
        st["subject"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["digest"]["sha256"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let base = ["attest", "--key", "release-p256", "--purl", PURL];
    let err = env.hwsign_err(&[&base[..], &["dist/linux/tool", "dist/mac/tool"]].concat());
    assert!(
        err.contains("subject names must be unique") && err.contains("--base"),
        "{err}"
    );
    env.hwsign_ok(
        &[
            &base[..],
            &[
                "-o",
                "a.json",
                "--base",
                "dist",
                "dist/linux/tool",
                "dist/mac/tool",
            ],
        ]
        .concat(),
    );
    let want = vec![
        ("linux/tool".to_string(), sha256_hex(b"linux")),
        ("mac/tool".to_string(), sha256_hex(b"mac")),
    ];
    assert_eq!(statement("a.json"), want);
    // -r alone: relative to the tree, in order, the symbolic link left out.
    env.hwsign_ok(&[&base[..], &["-o", "b.json", "-r", "dist"]].concat());
    assert_eq!(statement("b.json"), want);
    // hwsign verify matches by the same relative names (--base there too).
    let pem = env.export_key("release-p256", "pem", "p256.pem");
    fs::write(
        env.path("trust.toml"),
        format!(
            "[[signer]]\nname = \"r\"\nkey_file = \"{}\"\n[[rule]]\nname = \"all\"\nartifacts = [\"*\"]\nsigners = [\"r\"]\n",
            pem.display()
        ),
    )
    .unwrap();
    let verify = ["verify", "--policy", "trust.toml", "--envelope", "a.json"];
    let files = ["dist/linux/tool", "dist/mac/tool"];
    let out = env.hwsign(&[&verify[..], &["--base", "dist"], &files[..]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = env.hwsign(&[&verify[..], &files[..]].concat());
    assert!(!out.status.success(), "matched by base name without --base");
    // verify -r DIR alone matches relative to DIR, as attest -r DIR names them (the symbolic
    // link is not walked).
    let out = env.hwsign(&[&verify[..], &["-r", "dist"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches("OK").count(),
        2
    );
    // -r over signatures and artifacts: the signature files are the signatures.
    fs::create_dir_all(env.path("sigs")).unwrap();
    fs::copy(env.path("dist/mac/tool"), env.path("sigs/tool")).unwrap();
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "sshsig",
        "sigs/tool",
    ]);
    let out = env.hwsign(&["verify", "--policy", "trust.toml", "-r", "sigs"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A file outside --base is refused.
    let err = env.hwsign_err(
        &[
            &base[..],
            &["-o", "c.json", "--base", "dist/linux", "dist/mac/tool"],
        ]
        .concat(),
    );
    assert!(err.contains("is not under --base"), "{err}");
}
