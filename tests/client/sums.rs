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

/// The progress bar: drawn on a terminal when hashing takes longer than a moment
/// (`HWSIGN_PROGRESS_AFTER_MS` makes the moment 0 here, so a small input shows it), never for
/// a quick run, never on a pipe. `script` gives the command a terminal.
#[test]
fn a_progress_bar_only_on_a_terminal_and_only_when_hashing_takes_a_while() {
    let script = require_tool("script", "bsdutils");
    let env = TestEnv::new();
    write_random(&env.work, "big.bin", 8 << 20, 3);
    let on_terminal = |after_ms: Option<&str>, out: &str| {
        let line = format!("{} sums big.bin -o {out}", client_bin().display());
        let mut cmd = env.command(&script);
        cmd.args(["-qec", &line, "/dev/null"]);
        if let Some(ms) = after_ms {
            cmd.env("HWSIGN_PROGRESS_AFTER_MS", ms);
        }
        String::from_utf8_lossy(&run_ok(&mut cmd).stdout).into_owned()
    };
    let shown = on_terminal(Some("0"), "SUMS1");
    assert!(shown.contains("hashing "), "{shown:?}");
    let quick = on_terminal(None, "SUMS2");
    assert!(!quick.contains("hashing"), "{quick:?}");
    let mut piped = env.hwsign_cmd(&["sums", "big.bin", "-o", "SUMS3"]);
    piped.env("HWSIGN_PROGRESS_AFTER_MS", "0");
    let out = run_ok(&mut piped);
    assert!(out.stderr.is_empty() && out.stdout.is_empty(), "{out:?}");
    let sums: Vec<String> = ["SUMS1", "SUMS2", "SUMS3"]
        .iter()
        .map(|f| std::fs::read_to_string(env.path(f)).unwrap())
        .collect();
    assert!(
        sums.iter()
            .all(|s| *s == sums[0] && s.ends_with("  big.bin\n")),
        "{sums:?}"
    );
}
