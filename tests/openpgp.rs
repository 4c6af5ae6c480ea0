//! OpenPGP for token keys, checked with the two independent OpenPGP implementations on every
//! Debian machine: certificates exported by `hwsign keys export --format openpgp` import into
//! `gpg` and serve as `sqv`'s keyring, and `hwsign sign --format openpgp` signatures verify
//! with both (P-256, Ed25519, RSA-3072); tampered files are rejected; exports are
//! reproducible; a certificate of another key is refused with a clear message.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const USERID: &str = "Release Signer <release@hwsign.test>";

fn gnupg_home(env: &TestEnv) -> PathBuf {
    let home = env.path("gnupg");
    fs::create_dir_all(&home).unwrap();
    set_mode(&home, 0o700);
    home
}

fn gpg(home: &Path) -> Command {
    let mut c = Command::new(require_tool("gpg", "gnupg"));
    c.env("GNUPGHOME", home)
        .args(["--batch", "--no-tty", "--no-autostart"]);
    c
}

/// The fingerprint gpg computes for a certificate file.
fn gpg_fingerprint(home: &Path, cert: &Path) -> String {
    let out = run_ok(
        gpg(home)
            .args(["--with-colons", "--import-options", "show-only", "--import"])
            .arg(cert),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .unwrap_or_else(|| panic!("no fpr line in:\n{text}"))
}

fn export_cert(env: &TestEnv, label: &str, file: &str) -> PathBuf {
    env.hwsign_ok(&[
        "keys", "export", label, "--format", "openpgp", "--userid", USERID, "-o", file,
    ]);
    let path = env.path(file);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{text}"
    );
    path
}

fn check_key(spec: &KeySpec) {
    require_tool("sqv", "sqv");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let home = gnupg_home(&env);

    let cert = export_cert(&env, spec.label, "cert.asc");
    let again = export_cert(&env, spec.label, "cert-again.asc");
    let fpr = gpg_fingerprint(&home, &cert);
    assert_eq!(
        fpr,
        gpg_fingerprint(&home, &again),
        "two exports of one key differ"
    );
    run_ok(gpg(&home).arg("--import").arg(&cert));

    let files = write_sample_set(&env.work);
    let mut args = vec![
        "sign".to_string(),
        "--key".into(),
        spec.label.into(),
        "--format".into(),
        "openpgp".into(),
    ];
    args.extend(files.iter().cloned());
    env.hwsign_ok(&args);

    for name in &files {
        let file = env.path(name);
        let sig = env.path(&format!("{name}.asc"));
        let text = fs::read_to_string(&sig).unwrap();
        assert!(text.starts_with("-----BEGIN PGP SIGNATURE-----"), "{text}");
        // sqv prints the signing key's fingerprint.
        let out = run_ok(
            Command::new("sqv")
                .arg("--keyring")
                .arg(&cert)
                .arg(&sig)
                .arg(&file),
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&fpr),
            "sqv: {out:?}"
        );
        // gpg names the certificate's fingerprint in VALIDSIG.
        let out = run_ok(
            gpg(&home)
                .args(["--status-fd", "1", "--verify"])
                .arg(&sig)
                .arg(&file),
        );
        let status = String::from_utf8_lossy(&out.stdout);
        assert!(
            status.contains(&format!("VALIDSIG {fpr}")),
            "gpg status:\n{status}"
        );
    }

    // Tampered: both refuse.
    let victim = env.path(&files[1]);
    tamper_file(&victim);
    let sig = env.path(&format!("{}.asc", files[1]));
    assert!(
        !run(Command::new("sqv")
            .arg("--keyring")
            .arg(&cert)
            .arg(&sig)
            .arg(&victim))
        .status
        .success()
    );
    assert!(
        !run(gpg(&home).arg("--verify").arg(&sig).arg(&victim))
            .status
            .success()
    );

    // Signing with the exported certificate given explicitly gives the same fingerprint.
    write_file(&env.work, "explicit.txt", b"explicit cert\n");
    env.hwsign_ok(&[
        "sign",
        "--format",
        "openpgp",
        "--cert",
        "cert.asc",
        "explicit.txt",
    ]);
    let out = run_ok(
        Command::new("sqv")
            .arg("--keyring")
            .arg(&cert)
            .arg(env.path("explicit.txt.asc"))
            .arg(env.path("explicit.txt")),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&fpr));
}

#[test]
fn openpgp_p256() {
    check_key(&KEYS[0]);
}

#[test]
fn openpgp_ed25519() {
    check_key(&KEYS[1]);
}

#[test]
fn openpgp_rsa3072() {
    check_key(&KEYS[2]);
}

#[test]
fn certificate_of_another_key_is_refused() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    export_cert(&env, "release-ed25519", "ed.asc");
    write_file(&env.work, "a.txt", b"a\n");
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "openpgp",
        "--cert",
        "ed.asc",
        "a.txt",
    ]);
    assert!(err.contains("has no key matching this token key"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!env.path("a.txt.asc").exists());
    // A file that is not a certificate.
    let err = env.hwsign_err(&["sign", "--format", "openpgp", "--cert", "a.txt", "a.txt"]);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // --userid is required for an OpenPGP export.
    let err = env.hwsign_err(&["keys", "export", "release-p256", "--format", "openpgp"]);
    assert!(err.contains("--userid"), "{err}");
}

#[test]
fn expired_certificate_is_refused() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    // The key was created at midnight (CKA_START_DATE): one second of validity is long gone.
    env.hwsign_ok(&[
        "keys",
        "export",
        "release-p256",
        "--format",
        "openpgp",
        "--userid",
        USERID,
        "--expires",
        "1s",
        "-o",
        "old.asc",
    ]);
    write_file(&env.work, "a.txt", b"a\n");
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "openpgp",
        "--cert",
        "old.asc",
        "a.txt",
    ]);
    assert!(err.contains("expired"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!env.path("a.txt.asc").exists());
    // gpg agrees that it has expired.
    let home = gnupg_home(&env);
    let out = run_ok(
        gpg(&home)
            .args(["--with-colons", "--import-options", "show-only", "--import"])
            .arg(env.path("old.asc")),
    );
    let pub_line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("pub:"))
        .unwrap_or_default()
        .to_string();
    assert!(
        pub_line.starts_with("pub:e:"),
        "gpg does not see it expired: {pub_line}"
    );
}

#[test]
fn certificate_exported_after_signing_still_verifies() {
    require_tool("sqv", "sqv");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_file(
        &env.work,
        "early.txt",
        b"signed before the certificate existed\n",
    );
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "openpgp",
        "early.txt",
    ]);
    let cert = export_cert(&env, "release-ed25519", "later.asc");
    run_ok(
        Command::new("sqv")
            .arg("--keyring")
            .arg(&cert)
            .arg(env.path("early.txt.asc"))
            .arg(env.path("early.txt")),
    );
}
