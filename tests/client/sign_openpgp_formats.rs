//! `hwsign sign --format openpgp-clearsign` (a Debian `InRelease`-style cleartext signature) and
//! `--format openpgp-binary` (an rpm-style binary detached signature), checked by gpg and sqv
//! (and `hwsign verify` for the binary one); a tampered file is refused.

use std::fs;
use std::process::Command;

use hwsign_testrig::*;

const USERID: &str = "Release Signer <release@hwsign.test>";

#[test]
fn clearsign_and_binary_signatures_verify_with_gpg_and_sqv() {
    let gpg_bin = require_tool("gpg", "gnupg");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let cert = env.path("cert.asc");
    env.hwsign_ok(&[
        "keys",
        "export",
        "release-p256",
        "--format",
        "openpgp",
        "--userid",
        USERID,
        "-o",
        "cert.asc",
    ]);
    let home = env.path("gnupg");
    fs::create_dir_all(&home).unwrap();
    set_mode(&home, 0o700);
    let gpg = || {
        let mut c = Command::new(&gpg_bin);
        c.env("GNUPGHOME", &home)
            .args(["--batch", "--no-tty", "--no-autostart"]);
        c
    };
    run_ok(gpg().arg("--import").arg(&cert));

    let release = write_file(
        &env.work,
        "Release",
        b"Origin: hwsign\nLabel: test\n-----BEGIN not armor\nSHA256:\n abc 12 main/binary-amd64/Packages\n",
    );
    let pkg = write_random(&env.work, "pkg.rpm", 200_000, 3);
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "openpgp-clearsign",
        "Release",
    ]);
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "openpgp-binary",
        "--cert",
        "cert.asc",
        "pkg.rpm",
    ]);

    let inrelease = env.path("Release.asc");
    let text = fs::read_to_string(&inrelease).unwrap();
    assert!(
        text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: hwsign\n"),
        "{text}"
    );
    assert!(
        text.contains("\n- -----BEGIN not armor\n"),
        "dash-escaped: {text}"
    );
    let out = run_ok(gpg().args(["--status-fd", "1", "--verify"]).arg(&inrelease));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("VALIDSIG"),
        "{out:?}"
    );
    // What gpg extracts is the Release file.
    let extracted = env.path("Release.out");
    run_ok(
        gpg()
            .arg("-o")
            .arg(&extracted)
            .arg("--decrypt")
            .arg(&inrelease),
    );
    assert_eq!(fs::read(&extracted).unwrap(), fs::read(&release).unwrap());

    let sig = env.path("pkg.rpm.sig");
    assert!(
        fs::read(&sig).unwrap()[0] & 0x80 != 0,
        "binary packet expected"
    );
    run_ok(gpg().arg("--verify").arg(&sig).arg(&pkg));
    run_ok(
        Command::new(require_tool("sqv", "sqv"))
            .arg("--keyring")
            .arg(&cert)
            .arg(&sig)
            .arg(&pkg),
    );
    let policy = write_file(
        &env.work,
        "policy.toml",
        b"[[signer]]\nname = \"release\"\nopenpgp_cert = \"cert.asc\"\n\n[[rule]]\nartifacts = [\"*\"]\nsigners = [\"release\"]\n",
    );
    env.hwsign_ok(&[
        "verify",
        "--policy",
        policy.to_str().unwrap(),
        "--signature",
        "pkg.rpm.sig",
        "pkg.rpm",
    ]);

    // -q says nothing; --json prints the summary and nothing else; each output is named only
    // with --verbose, escaped.
    for (flag, format) in [("-q", "openpgp-binary"), ("--json", "openpgp-clearsign")] {
        let out = run_ok(&mut env.hwsign_cmd(&[
            "sign",
            "--key",
            "release-p256",
            "--format",
            format,
            "--force",
            flag,
            "Release",
        ]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("wrote"), "{flag}: {stderr}");
        if flag == "-q" {
            assert!(stderr.trim().is_empty() && out.stdout.is_empty(), "{out:?}");
        } else {
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["format"], "OpenPGP cleartext", "{doc}");
        }
    }
    let odd = write_file(&env.work, "odd\u{1b}[31mname", b"x");
    let out = run_ok(&mut env.hwsign_cmd(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "openpgp-binary",
        "--verbose",
        odd.to_str().unwrap(),
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wrote ") && !stderr.contains('\u{1b}'),
        "{stderr}"
    );

    // Tampered: refused.
    let mut forged = text.replace("Label: test", "Label: evil");
    forged.push('\n');
    fs::write(&inrelease, forged).unwrap();
    assert!(!run(gpg().arg("--verify").arg(&inrelease)).status.success());
    tamper_file(&pkg);
    assert!(
        !run(gpg().arg("--verify").arg(&sig).arg(&pkg))
            .status
            .success()
    );
}
