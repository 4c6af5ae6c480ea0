//! hwsign-gpg, the gpg command line release tools call, with the real tools: git signs commits
//! and tags through `gpg.program = hwsign-gpg` and verifies them with it and with the real gpg;
//! the exact argument lists of rpm 4.18, debsign, aptly and maven-gpg-plugin make signatures
//! that gpg and sqv accept; `-u` takes gpg's key forms; unsupported options are refused by
//! name; `--version` satisfies the parsers that read it; the `--status-fd` lines are pinned.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hwsign_testrig::*;

use crate::GPG_BIN;
const USERID: &str = "Release Signer <release@hwsign.test>";

/// A test world: an agent, the certificate of `label` installed in the cert directory, and a
/// GnuPG home holding it (for the real gpg).
struct World {
    env: TestEnv,
    _agent: Agent,
    cert: PathBuf,
    fpr: String,
    gnupg: PathBuf,
}

fn world(label: &str) -> World {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    // Installed where hwsign-gpg finds certificates without configuration.
    let out = run_ok(&mut env.hwsign_cmd(&[
        "keys",
        "export",
        label,
        "--format",
        "openpgp",
        "--userid",
        USERID,
        "--install",
    ]));
    let id = env.key_id(label);
    let cert = env.config.join(format!("hwsign/openpgp/{}.asc", &id[..16]));
    assert!(cert.is_file(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("installed "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::metadata(cert.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let gnupg = env.path("gnupg");
    fs::create_dir_all(&gnupg).unwrap();
    set_mode(&gnupg, 0o700);
    let out = run_ok(
        real_gpg(&gnupg)
            .args(["--with-colons", "--import-options", "show-only", "--import"])
            .arg(&cert),
    );
    let fpr = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .expect("fpr line");
    run_ok(real_gpg(&gnupg).arg("--import").arg(&cert));
    // The user trusts their own key (git's %G? is then G, not U, with the real gpg too).
    let trust = write_file(&env.work, "ownertrust", format!("{fpr}:6:\n").as_bytes());
    run_ok(real_gpg(&gnupg).arg("--import-ownertrust").arg(&trust));
    World {
        env,
        _agent: agent,
        cert,
        fpr,
        gnupg,
    }
}

fn real_gpg(home: &Path) -> Command {
    let mut c = Command::new(require_tool("gpg", "gnupg"));
    c.env("GNUPGHOME", home)
        .args(["--batch", "--no-tty", "--no-autostart"]);
    c
}

impl World {
    /// hwsign-gpg with this world's agent and config.
    fn gpg(&self) -> Command {
        let mut c = self.env.command(GPG_BIN);
        c.env("HWSIGN_AUTH_SOCK", self.env.agent_sock());
        c
    }

    fn gpg_verify(&self, sig: &Path, data: &Path) {
        let out = run_ok(
            real_gpg(&self.gnupg)
                .args(["--status-fd", "1", "--verify"])
                .arg(sig)
                .arg(data),
        );
        let status = String::from_utf8_lossy(&out.stdout);
        assert!(
            status.contains(&format!("VALIDSIG {}", self.fpr)),
            "gpg:\n{status}"
        );
    }

    fn sqv(&self, sig: &Path, data: &Path) {
        let out = run_ok(
            Command::new(require_tool("sqv", "sqv"))
                .arg("--keyring")
                .arg(&self.cert)
                .arg(sig)
                .arg(data),
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&self.fpr),
            "{out:?}"
        );
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The status lines with times and fingerprints replaced, for a snapshot.
fn normalized(status: &str, fpr: &str) -> String {
    status
        .lines()
        .filter(|l| l.starts_with("[GNUPG:] "))
        .map(|l| {
            l.replace(fpr, "<FPR>")
                .replace(&fpr[24..], "<KEYID>")
                .split(' ')
                .map(|w| {
                    if w.len() == 10 && w.chars().all(|c| c.is_ascii_digit()) {
                        "<TIME>".to_string()
                    } else if w.len() == 10 && w.as_bytes()[4] == b'-' {
                        "<DATE>".to_string()
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn refuses_unknown_options_and_prints_a_parsable_version() {
    let env = TestEnv::new();
    for (args, name) in [
        (&["--encrypt", "-r", "x"][..], "--encrypt"),
        (&["-bsx", "f"][..], "-x"),
        (&["--symmetric=yes"][..], "--symmetric"),
        (&["--export-secret-keys"][..], "--export-secret-keys"),
    ] {
        let out = run(env.command(GPG_BIN).args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(
            stderr(&out).contains(&format!("unsupported option {name}")),
            "{}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
    }
    let out = run(env.command(GPG_BIN).args(["-b", "-u"]));
    assert!(stderr(&out).contains("option -u needs a value"), "{out:?}");

    // --version: debsign takes field 3 of the first line and wants a major version above 1;
    // Maven matches `gpg \([^)]+\) .+`; aptly `\(GnuPG.*\) (2).(\d)`.
    let v = stdout(&run_ok(env.command(GPG_BIN).arg("--version")));
    let first = v.lines().next().unwrap();
    let fields: Vec<&str> = first.split(' ').collect();
    assert_eq!(fields.len(), 3, "{first}");
    assert_eq!(fields[0], "gpg");
    let major: u32 = fields[2].split('.').next().unwrap().parse().unwrap();
    assert!(major > 1, "{first}");
    assert!(
        fields[1].starts_with('(')
            && fields[1].ends_with(')')
            && !fields[1][1..fields[1].len() - 1].contains(')')
    );
    let paren = first.find("(GnuPG").expect("aptly wants (GnuPG…)");
    let after = &first[paren..];
    let close = after.find(") ").unwrap();
    let ver = &after[close + 2..];
    assert!(
        ver.starts_with('2') && ver.as_bytes()[2].is_ascii_digit(),
        "{first}"
    );

    // The same front end as `hwsign gpg` and as `hwsign` linked under the name gpg.
    let v2 = stdout(&run_ok(
        env.command(client_bin()).args(["gpg", "--version"]),
    ));
    assert_eq!(v2.lines().next(), Some(first));
    let link = env.path("gpg");
    std::os::unix::fs::symlink(client_bin(), &link).unwrap();
    let v3 = stdout(&run_ok(env.command(&link).arg("--version")));
    assert_eq!(v3.lines().next(), Some(first));
    let out = run(env.command(&link).arg("--encrypt"));
    assert!(
        stderr(&out).contains("unsupported option --encrypt"),
        "{out:?}"
    );
}

#[test]
fn git_signs_and_verifies_commits_and_tags() {
    let git = require_tool("git", "git");
    let w = world("release-ed25519");
    let repo = w.env.path("repo");
    fs::create_dir_all(&repo).unwrap();
    let home = w.env.path("home");
    fs::create_dir_all(&home).unwrap();
    let git_cmd = |program: &str| {
        let mut c = w.env.command(&git);
        c.current_dir(&repo)
            .env("HOME", &home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GNUPGHOME", &w.gnupg)
            .env("HWSIGN_AUTH_SOCK", w.env.agent_sock())
            .args(["-c", &format!("gpg.program={program}")]);
        c
    };
    let hw = || git_cmd(GPG_BIN);
    run_ok(hw().args(["init", "-q", "-b", "main"]));
    for (k, v) in [
        ("user.name", "Release Signer"),
        ("user.email", "release@hwsign.test"),
        ("user.signingkey", w.fpr.as_str()),
        ("gpg.format", "openpgp"),
    ] {
        run_ok(hw().args(["config", k, v]));
    }
    write_file(&repo, "README", b"hello\n");
    run_ok(hw().args(["add", "README"]));
    run_ok(hw().args(["commit", "-q", "-S", "-m", "signed commit"]));
    run_ok(hw().args(["tag", "-s", "v1.0", "-m", "release 1.0"]));
    // A tag signed with the e-mail as the key (git's default: the committer identity).
    run_ok(hw().args([
        "-c",
        "user.signingkey=Release Signer <release@hwsign.test>",
        "tag",
        "-s",
        "v1.1",
        "-m",
        "release 1.1",
    ]));

    for program in [GPG_BIN, "gpg"] {
        for what in [
            &["verify-commit", "HEAD"][..],
            &["verify-tag", "v1.0"],
            &["verify-tag", "v1.1"],
        ] {
            let out = run_ok(git_cmd(program).args(what).arg("--raw"));
            let err = stderr(&out);
            assert!(
                err.contains("GOODSIG") && err.contains(&w.fpr),
                "{program} {what:?}:\n{err}"
            );
        }
        let out = run_ok(git_cmd(program).args(["log", "-1", "--format=%G?"]));
        assert_eq!(stdout(&out).trim(), "G", "{program}");
    }

    // A tampered tag (its message edited) fails both ways.
    let tag = stdout(&run_ok(hw().args(["cat-file", "tag", "v1.0"])));
    let forged = tag.replace("release 1.0", "release 6.6");
    let mut c = hw();
    c.args(["hash-object", "-t", "tag", "-w", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(forged.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let forged_id = stdout(&out).trim().to_string();
    run_ok(hw().args(["tag", "v1.0-forged", &forged_id]));
    for program in [GPG_BIN, "gpg"] {
        let out = run(git_cmd(program).args(["verify-tag", "--raw", "v1.0-forged"]));
        assert!(
            !out.status.success(),
            "{program} accepted a forged tag: {out:?}"
        );
        assert!(
            stderr(&out).contains("BADSIG"),
            "{program}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn release_tool_invocations() {
    let w = world("release-rsa3072");
    let data = write_random(&w.env.work, "app-1.0.jar", 300_000, 7);

    // rpm 4.18 (%__gpg_sign_cmd): argv[0] `gpg`, binary detached signature of stdin.
    let link = w.env.path("gpg");
    std::os::unix::fs::symlink(GPG_BIN, &link).unwrap();
    let sig = w.env.path("rpm.sig");
    let mut c = w.gpg();
    c.args([
        "--no-verbose",
        "--no-armor",
        "--no-secmem-warning",
        "--digest-algo=sha256",
        "-u",
        USERID,
        "-sbo",
        sig.to_str().unwrap(),
        "--",
        "-",
    ])
    .stdin(fs::File::open(&data).unwrap());
    run_ok(&mut c);
    assert!(
        fs::read(&sig).unwrap()[0] & 0x80 != 0,
        "binary signature expected"
    );
    w.gpg_verify(&sig, &data);
    w.sqv(&sig, &data);

    // maven-gpg-plugin 3.x: the plain and the passphrase-on-stdin argument lists.
    let home = w.env.path("mvn-gnupg");
    let asc = w.env.path("app-1.0.jar.asc");
    let mut c = w.gpg();
    c.args([
        "--homedir",
        home.to_str().unwrap(),
        "--keyring",
        "pubring.kbx",
        "--lock-never",
        "--status-fd",
        "1",
        "--batch",
        "--batch",
    ])
    .args([
        "--local-user",
        &w.fpr[24..],
        "--armor",
        "--detach-sign",
        "--batch",
        "--no-tty",
        "--pinentry-mode",
        "error",
        "--output",
    ])
    .arg(&asc)
    .arg(&data);
    let out = run_ok(&mut c);
    assert!(stdout(&out).contains("[GNUPG:] SIG_CREATED D"), "{out:?}");
    w.gpg_verify(&asc, &data);
    w.sqv(&asc, &data);
    fs::remove_file(&asc).unwrap();
    let mut c = w.gpg();
    c.args([
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase-fd",
        "0",
        "--local-user",
        "release@hwsign.test",
        "--armor",
        "--detach-sign",
        "--output",
    ])
    .arg(&asc)
    .arg(&data)
    .stdin(Stdio::piped());
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"not-a-pin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    w.gpg_verify(&asc, &data);
    // An existing output is not replaced without --yes.
    let mut c = w.gpg();
    c.args(["--armor", "--detach-sign", "--output"])
        .arg(&asc)
        .arg(&data);
    let out = run(&mut c);
    assert!(
        !out.status.success() && stderr(&out).contains("exists"),
        "{out:?}"
    );

    // debsign: a cleartext signature of a .dsc-like text, checked by gpg.
    let dsc = write_file(
        &w.env.work,
        "hello_1.0.dsc",
        b"Format: 3.0 (native)\nSource: hello\n-dash line\nTrailing spaces   \n",
    );
    let signed = w.env.path("hello_1.0.dsc.asc");
    run_ok(
        w.gpg()
            .args([
                "--local-user",
                &w.fpr,
                "--clearsign",
                "--armor",
                "--textmode",
                "--output",
            ])
            .arg(&signed)
            .arg(&dsc),
    );
    let text = fs::read_to_string(&signed).unwrap();
    assert!(
        text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n"),
        "{text}"
    );
    assert!(text.contains("\n- -dash line\n"), "{text}");
    let out = run_ok(
        real_gpg(&w.gnupg)
            .args(["--status-fd", "1", "--verify"])
            .arg(&signed),
    );
    assert!(
        stdout(&out).contains(&format!("VALIDSIG {}", w.fpr)),
        "{out:?}"
    );

    // aptly probes with --list-keys (empty output is an error for it).
    let out = run_ok(w.gpg().args([
        "--list-keys",
        "--dry-run",
        "--no-auto-check-trustdb",
        "--with-colons",
        "--no-default-keyring",
        "--keyring",
        "trustedkeys.gpg",
    ]));
    assert!(
        stdout(&out).contains(&format!("fpr:::::::::{}:", w.fpr)),
        "{out:?}"
    );
    let out = run_ok(
        w.gpg()
            .args(["--list-secret-keys", "--with-colons", "release@hwsign.test"]),
    );
    assert!(stdout(&out).starts_with("sec:u:3072:1:"), "{out:?}");
    let out = run(w.gpg().args(["--list-keys", "nobody@example.org"]));
    assert_eq!(out.status.code(), Some(2));

    // An inline signed message (-s alone), read by gpg.
    let inline = w.env.path("msg.gpg");
    run_ok(
        w.gpg()
            .args(["-s", "-u", "release-rsa3072", "-o"])
            .arg(&inline)
            .arg(&dsc),
    );
    run_ok(real_gpg(&w.gnupg).arg("--verify").arg(&inline));

    // Text mode, inline and detached, with LF, CRLF, trailing blanks and no final newline.
    for (name, body) in [
        ("plain.txt", &b"line one\nline two\n"[..]),
        ("crlf.txt", b"a\r\nb\r\n"),
        ("ws.txt", b"trailing  \nx\n"),
        ("nonl.txt", b"no newline"),
    ] {
        let f = write_file(&w.env.work, name, body);
        let o = w.env.path(&format!("{name}.gpg"));
        run_ok(w.gpg().args(["-s", "-t", "-o"]).arg(&o).arg(&f));
        let out = run(real_gpg(&w.gnupg).arg("--verify").arg(&o));
        assert!(out.status.success(), "gpg -s -t of {name}: {out:?}");
        let o = w.env.path(&format!("{name}.asc"));
        run_ok(w.gpg().args(["-b", "-t", "-o"]).arg(&o).arg(&f));
        let out = run(real_gpg(&w.gnupg).arg("--verify").arg(&o).arg(&f));
        assert!(out.status.success(), "gpg -b -t of {name}: {out:?}");
    }
    // -u forms: short key id, 0x long key id with !, an unknown name.
    let sig2 = w.env.path("short.sig");
    run_ok(
        w.gpg()
            .args(["-b", "-u", &w.fpr[32..], "-o"])
            .arg(&sig2)
            .arg(&data),
    );
    w.sqv(&sig2, &data);
    let out = run(w
        .gpg()
        .args(["-b", "-u", &format!("0x{}!", &w.fpr[24..]), "-o", "-"])
        .arg(&data));
    assert!(out.status.success(), "{out:?}");
    let out = run(w
        .gpg()
        .args(["-b", "-u", "someone@else.example", "-o", "-"])
        .arg(&data));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("-u someone@else.example"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_fd_lines_for_signing_and_verifying() {
    let w = world("release-p256");
    let data = write_file(&w.env.work, "data.txt", b"status lines\n");
    let sig = w.env.path("data.txt.asc");
    // git's signing call: status on fd 2, the signature on stdout.
    let mut c = w.gpg();
    c.args(["--status-fd=2", "-bsau", &w.fpr])
        .stdin(fs::File::open(&data).unwrap());
    let out = run_ok(&mut c);
    fs::write(&sig, &out.stdout).unwrap();
    let signing = normalized(&stderr(&out), &w.fpr);
    // git's verify call: status on fd 1, the data on stdin.
    let mut c = w.gpg();
    c.args(["--keyid-format=long", "--status-fd=1", "--verify"])
        .arg(&sig)
        .arg("-")
        .stdin(fs::File::open(&data).unwrap());
    let out = run_ok(&mut c);
    let verifying = normalized(&stdout(&out), &w.fpr);
    // A bad signature: exit 1, BADSIG.
    let other = write_file(&w.env.work, "other.txt", b"other\n");
    let mut c = w.gpg();
    c.args(["--status-fd=1", "--verify"]).arg(&sig).arg(&other);
    let out = run(&mut c);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let bad = normalized(&stdout(&out), &w.fpr);
    // The certificate revoked (compromised): REVKEYSIG instead of GOODSIG, exit 1.
    let cert = w.cert.to_str().unwrap().to_string();
    w.env.hwsign_ok(&[
        "keys",
        "export",
        "release-p256",
        "--format",
        "openpgp",
        "--userid",
        USERID,
        "--revoke",
        "compromised",
        "--force",
        "-o",
        &cert,
    ]);
    let mut c = w.gpg();
    c.args(["--status-fd=1", "--verify"]).arg(&sig).arg(&data);
    let out = run(&mut c);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let revoked = normalized(&stdout(&out), &w.fpr);
    assert!(
        !revoked.contains("GOODSIG") && !revoked.contains("VALIDSIG"),
        "{revoked}"
    );
    assert_snapshot(
        "gpg_frontend_status",
        &format!("# signing\n{signing}# verifying\n{verifying}# bad\n{bad}# revoked\n{revoked}"),
    );
}
