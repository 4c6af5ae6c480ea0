//! hwsign-gpg under the release tools themselves: `rpmsign --addsign` (rpm 4.18, `%__gpg`
//! pointing at hwsign-gpg) on a package built here with `rpmbuild`, checked by `rpmkeys
//! --checksig` with a private `--dbpath`; `debsign -p hwsign-gpg` of a `.dsc`, checked by gpg.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use hwsign_testrig::*;

use crate::GPG_BIN;
const USERID: &str = "Release Signer <release@hwsign.test>";

/// The agent, and the certificate of `label` installed where hwsign-gpg finds it.
fn setup(label: &str) -> (TestEnv, Agent, PathBuf) {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    let dir = env.config.join("hwsign/openpgp");
    fs::create_dir_all(&dir).unwrap();
    let cert = dir.join(format!("{label}.asc"));
    env.hwsign_ok(&[
        "keys",
        "export",
        label,
        "--format",
        "openpgp",
        "--userid",
        USERID,
        "-o",
        cert.to_str().unwrap(),
    ]);
    (env, agent, cert)
}

fn tool(env: &TestEnv, program: &Path) -> Command {
    let mut c = env.command(program);
    c.env("HOME", env.path("home"))
        .env("HWSIGN_AUTH_SOCK", env.agent_sock());
    fs::create_dir_all(env.path("home")).unwrap();
    c
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const SPEC: &str = "Name: hello
Version: 1.0
Release: 1
Summary: hwsign test package
License: MIT
BuildArch: noarch

%description
A package to sign.

%install
mkdir -p %{buildroot}/usr/share/hello
echo hello > %{buildroot}/usr/share/hello/hello.txt

%files
/usr/share/hello/hello.txt
";

#[test]
fn rpmsign_through_hwsign_gpg_and_rpmkeys_checksig() {
    let rpmbuild = require_tool("rpmbuild", "rpm");
    let rpmsign = require_tool("rpmsign", "rpm");
    let rpmkeys = require_tool("rpmkeys", "rpm");
    let (env, _agent, cert) = setup("release-rsa3072");
    let top = env.path("rpm");
    fs::create_dir_all(top.join("SPECS")).unwrap();
    let spec = write_file(&top.join("SPECS"), "hello.spec", SPEC.as_bytes());
    let topdir = format!("_topdir {}", top.display());
    run_ok(
        tool(&env, &rpmbuild)
            .args([
                "--define",
                &topdir,
                "--define",
                "_build_id_links none",
                "-bb",
            ])
            .arg(&spec),
    );
    let rpm = top.join("RPMS/noarch/hello-1.0-1.noarch.rpm");
    assert!(rpm.exists());

    let db = env.path("rpmdb");
    fs::create_dir_all(&db).unwrap();
    let dbpath = format!("{}", db.display());
    let checksig = || {
        run(tool(&env, &rpmkeys)
            .args(["--dbpath", &dbpath, "--checksig", "-v"])
            .arg(&rpm))
    };
    run_ok(
        tool(&env, &rpmkeys)
            .args(["--dbpath", &dbpath, "--import"])
            .arg(&cert),
    );
    // Unsigned: no signature to check.
    let before = output_text(&checksig());
    assert!(!before.contains("Signature, key ID"), "{before}");

    let gpg_name = format!("_gpg_name {USERID}");
    let gpg_path = format!("__gpg {GPG_BIN}");
    run_ok(
        tool(&env, &rpmsign)
            .args(["--define", &gpg_name, "--define", &gpg_path, "--addsign"])
            .arg(&rpm),
    );
    let out = checksig();
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Signature, key ID") && text.contains("OK"),
        "{text}"
    );
    assert!(!text.contains("NOKEY") && !text.contains("BAD"), "{text}");

    // Another key's certificate only: the signature is not trusted.
    let other_db = env.path("rpmdb-other");
    fs::create_dir_all(&other_db).unwrap();
    let out = run(tool(&env, &rpmkeys)
        .args(["--dbpath", other_db.to_str().unwrap(), "--checksig"])
        .arg(&rpm));
    assert!(!out.status.success(), "{}", output_text(&out));
}

#[test]
fn debsign_through_hwsign_gpg() {
    let debsign = require_tool("debsign", "devscripts");
    let gpg_bin = require_tool("gpg", "gnupg");
    let (env, _agent, cert) = setup("release-ed25519");
    let dsc = write_file(
        &env.work,
        "hello_1.0.dsc",
        b"Format: 3.0 (native)\nSource: hello\nBinary: hello\nVersion: 1.0\nMaintainer: Release Signer <release@hwsign.test>\nChecksums-Sha256:\n 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae 3 hello_1.0.tar.xz\n",
    );
    let out = run(tool(&env, &debsign)
        .args(["-p", GPG_BIN, "-k", "release@hwsign.test", "--no-re-sign"])
        .arg(&dsc));
    assert!(out.status.success(), "{}", output_text(&out));
    let signed = fs::read_to_string(&dsc).unwrap();
    assert!(
        signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"),
        "{signed}"
    );
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
    let out = run_ok(gpg().args(["--status-fd", "1", "--verify"]).arg(&dsc));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("VALIDSIG"),
        "{out:?}"
    );
    fs::write(&dsc, signed.replace("Version: 1.0", "Version: 6.6")).unwrap();
    assert!(!run(gpg().arg("--verify").arg(&dsc)).status.success());
}
