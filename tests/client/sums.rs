//! `hwsign sums` writes checksum files `sha256sum -c` / `sha512sum -c` accept (coreutils and
//! BSD tag format), and `hwsign attest --sums` writes one from the same hashing pass as the
//! statement, with the same digests (issue 14).

use std::fs;

use hwsign_testrig::*;

fn check(env: &TestEnv, tool: &str, file: &str) {
    let out = run(env.command(tool).args(["-c", "--strict", file]));
    assert!(out.status.success(), "{}", describe(tool, &out));
}

#[test]
fn checksum_files_pass_coreutils_and_match_the_attestation() {
    let env = TestEnv::new();
    fs::create_dir_all(env.path("dist/sub")).unwrap();
    write_file(&env.path("dist"), "a file.tar.gz", b"a");
    write_file(&env.path("dist/sub"), "b.whl", b"b");
    let files = ["dist/a file.tar.gz", "dist/sub/b.whl"];
    // No agent needed.
    env.hwsign_ok(&[&["sums", "-o", "SHA256SUMS"], &files[..]].concat());
    check(&env, "sha256sum", "SHA256SUMS");
    env.hwsign_ok(
        &[
            &["sums", "--algo", "sha512", "-o", "SHA512SUMS"],
            &files[..],
        ]
        .concat(),
    );
    check(&env, "sha512sum", "SHA512SUMS");
    env.hwsign_ok(&[&["sums", "--tag", "-o", "TAGGED"], &files[..]].concat());
    assert!(
        fs::read_to_string(env.path("TAGGED"))
            .unwrap()
            .starts_with("SHA256 (dist/a file.tar.gz) = ")
    );
    check(&env, "sha256sum", "TAGGED");
    // -r with --base: names relative to the tree; the checksum file itself is left out.
    env.hwsign_ok(&[
        "sums",
        "-r",
        "dist",
        "--base",
        "dist",
        "-o",
        "dist/SHA256SUMS",
    ]);
    let text = fs::read_to_string(env.path("dist/SHA256SUMS")).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    let out = run(env
        .command("sh")
        .args(["-c", "cd dist && sha256sum -c --strict SHA256SUMS"]));
    assert!(
        out.status.success(),
        "{}",
        describe("sha256sum in dist", &out)
    );

    let _agent = env.start_agent(&[]);
    env.hwsign_ok(
        &[
            &[
                "attest",
                "--key",
                "release-p256",
                "--purl",
                PURL,
                "--sums",
                "ATTESTED.SUMS",
                "-o",
                "r.json",
            ],
            &files[..],
        ]
        .concat(),
    );
    check(&env, "sha256sum", "ATTESTED.SUMS");
    assert_eq!(
        fs::read_to_string(env.path("ATTESTED.SUMS")).unwrap(),
        fs::read_to_string(env.path("SHA256SUMS")).unwrap()
    );
    let envelope: serde_json::Value =
        serde_json::from_slice(&fs::read(env.path("r.json")).unwrap()).unwrap();
    let st: serde_json::Value =
        serde_json::from_slice(&b64_decode(envelope["payload"].as_str().unwrap())).unwrap();
    assert_eq!(
        st["subject"][0]["digest"]["sha256"],
        sha256_hex(b"a").as_str()
    );

    // --sign: the checksum file is signed through the agent in each format.
    env.hwsign_ok(
        &[
            &[
                "sums",
                "-o",
                "SIGNED.SUMS",
                "--sign",
                "sshsig,raw",
                "--key",
                "release-p256",
            ],
            &files[..],
        ]
        .concat(),
    );
    check(&env, "sha256sum", "SIGNED.SUMS");
    let sig = fs::read_to_string(env.path("SIGNED.SUMS.sig")).unwrap();
    assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"), "{sig}");
    assert!(env.path("SIGNED.SUMS.rawsig").exists());
    let err = env.hwsign_err(&[&["sums", "-o", "X", "--sign", "nonsense"], &files[..]].concat());
    assert!(err.contains("--sign nonsense"), "{err}");
    assert!(!env.path("X").exists());
}
