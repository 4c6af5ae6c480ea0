//! Debian repositories signed through hwsign-gpg and checked by `apt-get update`: reprepro
//! (its `SignWith: ! script` hook) and aptly (a `gpg` shim first in PATH, the only way aptly
//! runs a signer) each publish a repository whose `InRelease` and `Release.gpg` apt accepts
//! with `signed-by=` the exported certificate; a tampered `InRelease` is refused, and with
//! `InRelease` removed a tampered `Release` is refused against `Release.gpg`. apt runs with a
//! private source list, state and cache.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use hwsign_testrig::*;

use crate::GPG_BIN;
const USERID: &str = "Archive Signer <archive@hwsign.test>";

struct Repo {
    env: TestEnv,
    _agent: Agent,
    cert: PathBuf,
    fpr: String,
}

fn setup() -> Repo {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    let dir = env.config.join("hwsign/openpgp");
    fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("archive.asc");
    env.hwsign_ok(&[
        "keys",
        "export",
        "release-ed25519",
        "--format",
        "openpgp",
        "--userid",
        USERID,
        "-o",
        cert.to_str().unwrap(),
    ]);
    let out = run_ok(
        env.command(GPG_BIN)
            .env("HWSIGN_AUTH_SOCK", env.agent_sock())
            .args(["--list-keys", "--with-colons"]),
    );
    let fpr = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .expect("fpr");
    Repo {
        env,
        _agent: agent,
        cert,
        fpr,
    }
}

impl Repo {
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = self.env.command(program);
        c.env("HWSIGN_AUTH_SOCK", self.env.agent_sock())
            .env("HOME", self.env.path("home"));
        fs::create_dir_all(self.env.path("home")).unwrap();
        c
    }

    fn deb(&self) -> PathBuf {
        let root = self.env.path("pkg");
        fs::create_dir_all(root.join("DEBIAN")).unwrap();
        fs::create_dir_all(root.join("usr/share/hello")).unwrap();
        write_file(
            &root.join("DEBIAN"),
            "control",
            b"Package: hello\nVersion: 1.0\nArchitecture: all\nSection: misc\nPriority: optional\nMaintainer: Archive Signer <archive@hwsign.test>\nDescription: test package\n",
        );
        write_file(&root.join("usr/share/hello"), "hello.txt", b"hello\n");
        let deb = self.env.path("hello_1.0_all.deb");
        run_ok(
            Command::new(require_tool("dpkg-deb", "dpkg"))
                .args(["--build"])
                .arg(&root)
                .arg(&deb),
        );
        deb
    }

    /// `apt-get update` against `file:` `base` (suite `stable`), with private state.
    fn apt_update(&self, base: &Path, tag: &str) -> (bool, String) {
        let apt = self.env.path(&format!("apt-{tag}"));
        for d in ["state/lists/partial", "cache/archives/partial", "etc"] {
            fs::create_dir_all(apt.join(d)).unwrap();
        }
        let list = write_file(
            &apt.join("etc"),
            "sources.list",
            format!(
                "deb [signed-by={}] file:{} stable main\n",
                self.cert.display(),
                base.display()
            )
            .as_bytes(),
        );
        let o = |k: &str, v: &Path| format!("-o{k}={}", v.display());
        let out = run(Command::new(require_tool("apt-get", "apt"))
            .arg("update")
            .arg(o("Dir::Etc::SourceList", &list))
            .arg("-oDir::Etc::SourceParts=/nonexistent")
            .arg(o("Dir::State", &apt.join("state")))
            .arg(o("Dir::Cache", &apt.join("cache")))
            .arg("-oDebug::NoLocking=1")
            .arg("-oAPT::Sandbox::User=root"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let ok = out.status.success() && !text.contains("W:") && !text.contains("E:");
        (ok, text)
    }

    /// The three checks of one published repository at `base`.
    fn check(&self, base: &Path) {
        let dists = base.join("dists/stable");
        let inrelease = dists.join("InRelease");
        let release = dists.join("Release");
        assert!(inrelease.exists() && dists.join("Release.gpg").exists());
        let (ok, text) = self.apt_update(base, "good");
        assert!(ok, "apt-get update refused a good repository:\n{text}");

        let signed = fs::read_to_string(&inrelease).unwrap();
        fs::write(&inrelease, signed.replace("Suite: stable", "Suite: stab1e")).unwrap();
        let (ok, text) = self.apt_update(base, "bad-inrelease");
        assert!(!ok, "a tampered InRelease was accepted:\n{text}");

        fs::remove_file(&inrelease).unwrap();
        let (ok, text) = self.apt_update(base, "release-gpg");
        assert!(ok, "Release + Release.gpg refused:\n{text}");
        let plain = fs::read_to_string(&release).unwrap();
        fs::write(&release, plain.replace("Suite: stable", "Suite: stab1e")).unwrap();
        let (ok, text) = self.apt_update(base, "bad-release");
        assert!(!ok, "a tampered Release was accepted:\n{text}");
    }
}

#[test]
fn reprepro_signs_through_its_signwith_hook() {
    let reprepro = require_tool("reprepro", "reprepro");
    let r = setup();
    let deb = r.deb();
    let base = r.env.path("reprepro");
    fs::create_dir_all(base.join("conf")).unwrap();
    let script = write_file(
        &r.env.work,
        "sign.sh",
        format!(
            "#!/bin/sh\n# reprepro: $1 the Release file, $2 the InRelease to write, $3 the Release.gpg\nset -e\n[ -z \"$2\" ] || {GPG_BIN} -u {fpr} --clearsign --yes -o \"$2\" \"$1\"\n[ -z \"$3\" ] || {GPG_BIN} -u {fpr} -abs --yes -o \"$3\" \"$1\"\n",
            fpr = r.fpr
        )
        .as_bytes(),
    );
    set_mode(&script, 0o755);
    write_file(
        &base.join("conf"),
        "distributions",
        format!(
            "Codename: stable\nSuite: stable\nArchitectures: amd64\nComponents: main\nSignWith: ! {}\n",
            script.display()
        )
        .as_bytes(),
    );
    run_ok(
        r.cmd(&reprepro)
            .arg("-b")
            .arg(&base)
            .args(["includedeb", "stable"])
            .arg(&deb),
    );
    r.check(&base);
}

#[test]
fn aptly_signs_through_a_gpg_shim() {
    let aptly = require_tool("aptly", "aptly");
    let r = setup();
    let deb = r.deb();
    let shim = r.env.path("shim");
    fs::create_dir_all(&shim).unwrap();
    std::os::unix::fs::symlink(GPG_BIN, shim.join("gpg")).unwrap();
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap());
    let root = r.env.path("aptly");
    let conf = write_file(
        &r.env.work,
        "aptly.conf",
        format!(
            "{{\"rootDir\": \"{}\", \"gpgProvider\": \"gpg\"}}",
            root.display()
        )
        .as_bytes(),
    );
    let config = format!("-config={}", conf.display());
    let aptly_cmd = || {
        let mut c = r.cmd(&aptly);
        c.env("PATH", &path).arg(&config);
        c
    };
    run_ok(aptly_cmd().args([
        "repo",
        "create",
        "-distribution=stable",
        "-component=main",
        "hello",
    ]));
    run_ok(aptly_cmd().args(["repo", "add", "hello"]).arg(&deb));
    run_ok(aptly_cmd().args([
        "publish",
        "repo",
        "-architectures=amd64",
        &format!("-gpg-key={}", r.fpr),
        "hello",
    ]));
    r.check(&root.join("public"));
}
