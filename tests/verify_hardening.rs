//! `hwsign verify` against forged and edge-case inputs made with the real tools (issue 12),
//! next to the reference verifiers where they exist:
//!
//! * OpenPGP signatures from gpg (`--faked-system-time`, `--digest-algo MD5/SHA1`,
//!   `--sig-notation '!critical'`, `--default-sig-expire`, `--textmode`, binary `.sig`) are
//!   judged like `sqv` judges them (table-driven; gpg's own verdict is recorded where it
//!   differs);
//! * an expired gpg certificate: signatures from its lifetime stand, unless the policy says
//!   `openpgp_time = "verification"`;
//! * a certificate revoked or expired through `hwsign keys export` stops DSSE, bundle, SSHSIG
//!   and raw signatures of the key, not only `.asc`;
//! * a gpg signing subkey given as a second signer's key is refused at load, naming both;
//! * `hwsign verify .` says it is a directory.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

/// A private GnuPG home; its gpg-agent is stopped on drop.
struct Gpg {
    home: PathBuf,
}

impl Gpg {
    fn new(env: &TestEnv) -> Gpg {
        require_tool("gpg", "gnupg");
        let home = env.path("gnupg");
        fs::create_dir_all(&home).unwrap();
        set_mode(&home, 0o700);
        Gpg { home }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.home).stdin(Stdio::null()).args([
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    }

    fn ok(&self, args: &[&str]) -> Output {
        run_ok(self.cmd().args(args))
    }

    /// The fingerprints of the keys of `uid`: the primary first, then the subkeys.
    fn fingerprints(&self, uid: &str) -> Vec<String> {
        let out = self.ok(&["--with-colons", "--list-keys", uid]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "all"])
            .output();
    }
}

/// `hwsign verify --policy POLICY --signature/--envelope … FILES` in the work directory.
fn verify(env: &TestEnv, policy: &str, via: &[&str], files: &[&str]) -> (bool, String) {
    let mut args = vec!["verify", "--policy", policy];
    args.extend_from_slice(via);
    args.extend_from_slice(files);
    let out = env.hwsign(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn sqv(cert: &Path, sig: &Path, file: &Path) -> bool {
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

fn one_signer_policy(env: &TestEnv, name: &str, signer: &str, top: &str) -> String {
    let text = format!(
        "{top}\n{signer}\n[[rule]]\nname = \"all\"\nartifacts = [\"*\"]\nsigners = [\"s\"]\n"
    );
    fs::write(env.path(name), text).unwrap();
    name.to_string()
}

/// Items 2 and 3, table-driven: gpg-made signatures that sqv rejects are rejected, the ones
/// it accepts (text mode, binary files) are accepted. gpg 2.2 itself accepts SHA-1 and
/// future-dated signatures (exit 0); hwsign sides with sqv.
#[test]
fn gpg_signatures_are_judged_like_sqv() {
    let env = TestEnv::new();
    let gpg = Gpg::new(&env);
    let created = ["--faked-system-time", "20250101T000000!"];
    gpg.ok(&[
        created[0],
        created[1],
        "--quick-gen-key",
        "Peer <peer@demo.test>",
        "ed25519",
        "sign",
        "never",
    ]);
    let cert = env.path("peer.asc");
    let exported = gpg.ok(&["--armor", "--export", "peer@demo.test"]).stdout;
    fs::write(&cert, exported).unwrap();
    let data = write_file(&env.work, "a.txt", b"line one\nline two\n");
    let policy = one_signer_policy(
        &env,
        "policy.toml",
        "[[signer]]\nname = \"s\"\nopenpgp_cert = \"peer.asc\"\n",
        "",
    );
    // (name, gpg options, hwsign accepts, a reason hwsign gives, gpg's exit status)
    let cases: &[(&str, &[&str], bool, &str, i32)] = &[
        ("plain.asc", &["--armor"], true, "", 0),
        ("binary.sig", &[], true, "", 0),
        ("text.sig", &["--textmode"], true, "", 0),
        ("text.asc", &["--textmode", "--armor"], true, "", 0),
        (
            "md5.asc",
            &[
                "--armor",
                "--digest-algo",
                "MD5",
                "--allow-weak-digest-algos",
            ],
            false,
            "MD5",
            2,
        ),
        (
            "sha1.asc",
            &["--armor", "--digest-algo", "SHA1"],
            false,
            "SHA1",
            0,
        ),
        (
            "critical.asc",
            &["--armor", "--sig-notation", "!danger@example.org=yes"],
            false,
            "Critical notation",
            1,
        ),
        (
            "future.asc",
            &["--armor", "--faked-system-time", "20990101T000000!"],
            false,
            "in the future",
            0,
        ),
        (
            "expired.asc",
            &[
                "--armor",
                "--faked-system-time",
                "20250201T000000!",
                "--default-sig-expire",
                "1d",
            ],
            false,
            "the signature expired 2025-02-02",
            1,
        ),
    ];
    for &(name, opts, accepted, reason, gpg_status) in cases {
        let sig = env.path(name);
        let mut args: Vec<&str> = opts.to_vec();
        args.extend(["--detach-sign", "-u", "peer@demo.test", "-o"]);
        run_ok(gpg.cmd().args(&args).arg(&sig).arg(&data));
        let (ok, said) = verify(&env, &policy, &["--signature", name], &["a.txt"]);
        assert_eq!(ok, accepted, "{name}: hwsign verify:\n{said}");
        assert!(said.contains(reason), "{name}: no {reason:?} in:\n{said}");
        assert_eq!(
            sqv(&cert, &sig, &data),
            accepted,
            "{name}: sqv disagrees with hwsign"
        );
        let g = run(gpg.cmd().arg("--verify").arg(&sig).arg(&data));
        assert_eq!(
            g.status.code(),
            Some(gpg_status),
            "{name}: gpg's verdict changed: {}",
            String::from_utf8_lossy(&g.stderr)
        );
    }
    // A text signature verifies over the CRLF form of the same lines too.
    fs::write(&data, b"line one\r\nline two\r\n").unwrap();
    let (ok, said) = verify(&env, &policy, &["--signature", "text.sig"], &["a.txt"]);
    assert!(ok, "{said}");
    let (ok, said) = verify(&env, &policy, &["--signature", "binary.sig"], &["a.txt"]);
    assert!(!ok && said.contains("signature does not verify"), "{said}");
}

/// Item 3 with gpg: a certificate that expired (made with `--faked-system-time`, valid one
/// day): its signature from that day stands when judged at the signature's time, as sqv
/// judges it; `openpgp_time = "verification"` rejects it.
#[test]
fn expired_gpg_certificate_and_openpgp_time() {
    let env = TestEnv::new();
    let gpg = Gpg::new(&env);
    gpg.ok(&[
        "--faked-system-time",
        "20250101T000000!",
        "--quick-gen-key",
        "Old <old@demo.test>",
        "ed25519",
        "sign",
        "1d",
    ]);
    let cert = env.path("old.asc");
    fs::write(
        &cert,
        gpg.ok(&["--armor", "--export", "old@demo.test"]).stdout,
    )
    .unwrap();
    let data = write_file(&env.work, "a.txt", b"made while the key was valid\n");
    let sig = env.path("a.txt.asc");
    run_ok(
        gpg.cmd()
            .args(["--faked-system-time", "20250101T120000!", "--armor"])
            .args(["--detach-sign", "-u", "old@demo.test", "-o"])
            .arg(&sig)
            .arg(&data),
    );
    let signer = "[[signer]]\nname = \"s\"\nopenpgp_cert = \"old.asc\"\n";
    let at_sig = one_signer_policy(&env, "p1.toml", signer, "");
    let (ok, said) = verify(&env, &at_sig, &["--signature", "a.txt.asc"], &["a.txt"]);
    assert!(ok, "{said}");
    assert!(
        sqv(&cert, &sig, &data),
        "sqv rejects the in-lifetime signature"
    );
    let strict = one_signer_policy(&env, "p2.toml", signer, "openpgp_time = \"verification\"");
    let (ok, said) = verify(&env, &strict, &["--signature", "a.txt.asc"], &["a.txt"]);
    assert!(!ok && said.contains("has expired"), "{said}");
    // The policy's own window is judged at the signature's time as well.
    let late = one_signer_policy(
        &env,
        "p3.toml",
        &format!("{signer}valid_until = \"2025-01-01T06:00:00Z\"\n"),
        "",
    );
    let (ok, said) = verify(&env, &late, &["--signature", "a.txt.asc"], &["a.txt"]);
    assert!(
        !ok && said.contains("s: expired 2025-01-01T06:00:00Z"),
        "{said}"
    );
}

const FILES: [&str; 2] = ["demo-1.0.tar.gz", "demo-1.0.whl"];

/// Item 1: a certificate revoked (`hwsign keys export --revoke compromised`) or expired
/// (`--expires 1s`) stops the key's DSSE envelope, Sigstore bundle, SSHSIG and raw signatures.
#[test]
fn certificate_status_reaches_every_format() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    write_file(&env.work, FILES[0], b"demo source\n");
    write_file(&env.work, FILES[1], b"demo wheel\n");
    let key = "release-ed25519";
    let mut attest = vec!["attest", "--key", key, "--purl", PURL];
    attest.extend(["-o", "release.intoto.json"]);
    attest.extend_from_slice(&FILES);
    env.hwsign_ok(&attest);
    let mut bundle = vec!["attest", "--key", key, "--purl", PURL, "--bundle"];
    bundle.extend(["-o", "release.sigstore.json"]);
    bundle.extend_from_slice(&FILES);
    env.hwsign_ok(&bundle);
    for format in ["sshsig", "raw"] {
        let mut args = vec!["sign", "--key", key, "--format", format];
        args.extend_from_slice(&FILES);
        env.hwsign_ok(&args);
    }
    let export = |out: &str, extra: &[&str]| {
        let mut args = vec!["keys", "export", key, "--format", "openpgp"];
        args.extend(["--userid", "Release <release@demo.test>", "-o", out]);
        args.extend_from_slice(extra);
        env.hwsign_ok(&args);
    };
    export("plain.asc", &[]);
    export(
        "revoked.asc",
        &[
            "--revoke",
            "compromised",
            "--revoke-message",
            "token stolen",
        ],
    );
    export("expired.asc", &["--expires", "1s"]);
    agent.stop();
    // The key was created when the token was provisioned: well over a second ago.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let vias: [&[&str]; 4] = [
        &["--envelope", "release.intoto.json"],
        &["--envelope", "release.sigstore.json"],
        &[
            "--signature",
            "demo-1.0.tar.gz.sig",
            "--signature",
            "demo-1.0.whl.sig",
        ],
        &[
            "--signature",
            "demo-1.0.tar.gz.rawsig",
            "--signature",
            "demo-1.0.whl.rawsig",
        ],
    ];
    for (cert, want) in [
        ("plain.asc", None),
        (
            "revoked.asc",
            Some("is revoked (reason: Key material has been compromised: token stolen)"),
        ),
        ("expired.asc", Some("has expired")),
    ] {
        let policy = one_signer_policy(
            &env,
            &format!("{cert}.toml"),
            &format!("[[signer]]\nname = \"s\"\nopenpgp_cert = \"{cert}\"\n"),
            "",
        );
        for via in vias {
            let (ok, said) = verify(&env, &policy, via, &FILES);
            match want {
                None => assert!(ok, "{cert} {via:?}:\n{said}"),
                Some(w) => assert!(
                    !ok && said.matches(w).count() == 2,
                    "{cert} {via:?}: expected {w:?} for both files:\n{said}"
                ),
            }
        }
    }
}

/// Item 4 with gpg: alice's certificate has a signing subkey; giving that subkey (exported by
/// `gpg --export-ssh-key SUBKEY!`) as bob's key is refused, naming both signers.
#[test]
fn gpg_signing_subkey_cannot_be_another_signer() {
    let env = TestEnv::new();
    let gpg = Gpg::new(&env);
    gpg.ok(&[
        "--quick-gen-key",
        "Alice <alice@demo.test>",
        "ed25519",
        "cert",
        "never",
    ]);
    let primary = gpg.fingerprints("alice@demo.test")[0].clone();
    gpg.ok(&["--quick-add-key", &primary, "ed25519", "sign", "never"]);
    let sub = gpg.fingerprints("alice@demo.test")[1].clone();
    fs::write(
        env.path("alice.asc"),
        gpg.ok(&["--armor", "--export", "alice@demo.test"]).stdout,
    )
    .unwrap();
    let ssh = gpg.ok(&["--export-ssh-key", &format!("{sub}!")]).stdout;
    let ssh = String::from_utf8(ssh).unwrap();
    assert!(ssh.starts_with("ssh-ed25519 "), "{ssh}");
    let policy = format!(
        "[[signer]]\nname = \"alice\"\nopenpgp_cert = \"alice.asc\"\n\n\
         [[signer]]\nname = \"bob\"\nkey = \"{}\"\n\n\
         [[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\nthreshold = 2\n",
        ssh.trim()
    );
    fs::write(env.path("policy.toml"), policy).unwrap();
    write_file(&env.work, "a.txt", b"x\n");
    write_file(&env.work, "a.txt.sig", b"x\n");
    let (ok, said) = verify(
        &env,
        "policy.toml",
        &["--signature", "a.txt.sig"],
        &["a.txt"],
    );
    assert!(!ok, "{said}");
    assert!(
        said.contains("signer \"bob\" has the same key as signer \"alice\"")
            && said.contains(&format!("signing subkey {sub}")),
        "{said}"
    );
}

/// Item 7: `hwsign verify .` names the directory as one.
#[test]
fn a_directory_is_named_as_one() {
    let env = TestEnv::new();
    run_ok(
        Command::new(require_tool("ssh-keygen", "openssh-client"))
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(env.path("k")),
    );
    let policy = one_signer_policy(
        &env,
        "policy.toml",
        "[[signer]]\nname = \"s\"\nkey_file = \"k.pub\"\n",
        "",
    );
    write_file(&env.work, "x.json", b"{}");
    let (ok, said) = verify(&env, &policy, &["--envelope", "x.json"], &["."]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("FAIL .  is a directory, not a file to verify"),
        "{said}"
    );
    assert!(!said.contains("not UTF-8"), "{said}");
}
