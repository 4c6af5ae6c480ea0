//! OpenPGP for token keys, checked with the two independent OpenPGP implementations on every
//! Debian machine: certificates exported by `hwsign keys export --format openpgp` import into
//! `gpg` and serve as `sqv`'s keyring, and `hwsign sign --format openpgp` signatures verify
//! with both (P-256, Ed25519, RSA-3072); tampered files are rejected; exports are
//! reproducible; a certificate of another key is refused with a clear message; a revocation
//! made by the token (`--revoke`) is honoured by sqv, gpg and `hwsign verify` as its reason says.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use hwsign_testrig::*;

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

/// `hwsign keys export --format openpgp --revoke REASON` to `file`.
fn export_revoked(env: &TestEnv, key: &str, reason: &str, file: &str) -> PathBuf {
    env.hwsign_ok(&[
        "keys",
        "export",
        key,
        "--format",
        "openpgp",
        "--userid",
        USERID,
        "--revoke",
        reason,
        "--revoke-message",
        "moved to a new token",
        "-o",
        file,
    ]);
    env.path(file)
}

/// `sqv --keyring CERT SIG FILE` succeeds.
fn sqv_accepts(cert: &Path, sig: &Path, file: &Path) -> bool {
    Command::new(require_tool("sqv", "sqv"))
        .arg("--keyring")
        .arg(cert)
        .arg(sig)
        .arg(file)
        .output()
        .unwrap()
        .status
        .success()
}

/// `hwsign verify` of `file` and its `.asc` with a policy trusting the certificate `cert`.
fn hwsign_verify_with(env: &TestEnv, cert: &str, file: &str) -> std::process::Output {
    let policy = format!(
        "[[signer]]\nname = \"release\"\nopenpgp_cert = \"{cert}\"\n\n[[rule]]\nname = \"all\"\nartifacts = [\"*\"]\nsigners = [\"release\"]\nthreshold = 1\n"
    );
    let path = env.path(&format!("{cert}.policy.toml"));
    fs::write(&path, policy).unwrap();
    env.hwsign(&[
        "verify",
        "--policy",
        path.to_str().unwrap(),
        "--signature",
        &format!("{file}.asc"),
        file,
    ])
}

/// A key revoked through hwsign: `compromised` makes sqv, gpg and `hwsign verify` distrust
/// even a signature made before the revocation; `retired` keeps that one valid; signing with
/// a revoked certificate is refused.
#[test]
fn revoked_certificate_is_honoured_by_every_verifier() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let key = "release-ed25519";
    let data = write_file(&env.work, "a.txt", b"released before the revocation\n");
    env.hwsign_ok(&["sign", "--key", key, "--format", "openpgp", "a.txt"]);
    let sig = env.path("a.txt.asc");
    let plain = export_cert(&env, key, "plain.asc");
    assert!(sqv_accepts(&plain, &sig, &data));
    // Signature times have one-second resolution: the revocations come strictly later.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let retired = export_revoked(&env, key, "retired", "retired.asc");
    let compromised = export_revoked(&env, key, "compromised", "compromised.asc");

    // sqv: a retired key's earlier signature stands, a compromised key's does not.
    assert!(
        sqv_accepts(&retired, &sig, &data),
        "sqv rejects a signature made before the key was retired"
    );
    assert!(
        !sqv_accepts(&compromised, &sig, &data),
        "sqv accepts a compromised key's signature"
    );
    // gpg sees both certificates revoked (validity `r`).
    let home = gnupg_home(&env);
    for cert in [&retired, &compromised] {
        let out = run_ok(
            gpg(&home)
                .args(["--with-colons", "--import-options", "show-only", "--import"])
                .arg(cert),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let pub_line = text
            .lines()
            .find(|l| l.starts_with("pub:"))
            .unwrap_or_default();
        assert!(
            pub_line.starts_with("pub:r:"),
            "gpg does not see {} revoked: {pub_line}",
            cert.display()
        );
    }
    // hwsign verify agrees with sqv and says why.
    let out = hwsign_verify_with(&env, "retired.asc", "a.txt");
    assert!(
        out.status.success(),
        "hwsign verify rejects the retired key's earlier signature:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = hwsign_verify_with(&env, "compromised.asc", "a.txt");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "hwsign verify accepts a compromised key:\n{said}"
    );
    assert!(
        said.contains("revoked") && said.contains("moved to a new token"),
        "the rejection does not say the certificate is revoked, and why:\n{said}"
    );
    // A signature made after the key was retired is rejected by sqv and hwsign verify.
    let late = write_file(&env.work, "late.txt", b"signed after the key was retired\n");
    env.hwsign_ok(&["sign", "--key", key, "--format", "openpgp", "late.txt"]);
    assert!(
        !sqv_accepts(&retired, &env.path("late.txt.asc"), &late),
        "sqv accepts a signature made after the key was retired"
    );
    let out = hwsign_verify_with(&env, "retired.asc", "late.txt");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && said.contains("revoked"),
        "hwsign verify accepts a signature made after the key was retired:\n{said}"
    );
    // Signing now with a revoked certificate is refused, whatever the reason.
    write_file(&env.work, "b.txt", b"after the revocation\n");
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        key,
        "--format",
        "openpgp",
        "--cert",
        "retired.asc",
        "b.txt",
    ]);
    assert!(err.contains("revoked"), "{err}");
    assert!(!env.path("b.txt.asc").exists());
}
