//! `hwsign verify` against trust policies, with a real peer on the other side of every check:
//!
//! * [`peers`]: signatures made by other tools verify: a DSSE envelope from Python
//!   securesystemslib with a PEM key it generated (tests/python/make_dsse.py), SSHSIG from
//!   `ssh-keygen -Y sign`, a `.asc` from `gpg --detach-sign`, raw signatures from
//!   `openssl dgst -sign`; a policy pinning another key rejects them.
//! * [`own_outputs`]: hwsign's own envelope, SSHSIG, raw and OpenPGP outputs verify under a
//!   policy made of `hwsign keys export --format policy` entries, with no agent running;
//!   `--format allowed-signers` and `--emit-verifier-material` give what `ssh-keygen` and
//!   `hwsign verify` need.
//! * [`cosigning`]: a 2-of-3 rule: one signature is rejected, `hwsign attest --append` with a
//!   second key meets it, a key already on the envelope is refused, and securesystemslib still
//!   verifies the co-signed envelope with each key.
//! * [`rejections`]: tampered artifact, tampered payload, changed payloadType, renamed subject,
//!   untrusted, revoked and expired or not-yet-valid keys, an artifact matching no rule,
//!   malformed JSON and an empty signature list are rejected with the reason named.
//! * [`bundles`]: `hwsign attest --bundle` writes a Sigstore bundle that sigstore-js
//!   (`@sigstore/verify`, offline, tests/node/verify_bundle.mjs) and `hwsign verify` accept,
//!   and a tampered bundle both reject.
//!
//! Every check runs `hwsign verify` twice, for the human report and for `--json`, and holds
//! them to each other. Tools that are missing make the tests fail, naming the Debian package
//! or the setup script; nothing is skipped.

mod bundles;
mod cosigning;
mod own_outputs;
mod peers;
mod rejections;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hwsign_testrig::*;
use serde_json::Value;

pub const MAKE_DSSE_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/make_dsse.py");
pub const VERIFY_BUNDLE_MJS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/verify_bundle.mjs");
pub const RELEASE_PREDICATE: &str = "https://in-toto.io/attestation/release/v0.1";

/// The release every test signs: a source tarball and a wheel.
pub const TARBALL: &str = "demo-1.0.tar.gz";
pub const WHEEL: &str = "demo-1.0-py3-none-any.whl";

/// Writes [`TARBALL`] and [`WHEEL`] into the work directory.
pub fn write_release(env: &TestEnv) {
    write_file(&env.work, TARBALL, b"demo 1.0 source tarball\n");
    write_random(&env.work, WHEEL, 70_000, 0x77e1_0001);
}

// ---------------------------------------------------------------- trust policies

/// A `[[signer]]` with its key inline (an OpenSSH line or a PEM public key).
pub fn signer_key(name: &str, key: &str) -> String {
    format!(
        "[[signer]]\nname = \"{name}\"\nkey = '''\n{}\n'''\n",
        key.trim()
    )
}

/// A `[[signer]]` whose key is in `file` (relative to the policy), plus `extra` lines
/// (`valid_until = …`, a `[signer.revoked]` table).
pub fn signer_file(name: &str, file: &str, extra: &str) -> String {
    format!("[[signer]]\nname = \"{name}\"\nkey_file = \"{file}\"\n{extra}")
}

/// A `[[signer]]` known by an armored OpenPGP certificate (relative to the policy).
pub fn signer_openpgp(name: &str, cert: &str) -> String {
    format!("[[signer]]\nname = \"{name}\"\nopenpgp_cert = \"{cert}\"\n")
}

/// A `[[rule]]`; `extra` adds lines such as `formats = ["dsse"]`.
pub fn rule(
    name: &str,
    artifacts: &[&str],
    signers: &[&str],
    threshold: usize,
    extra: &str,
) -> String {
    format!(
        "[[rule]]\nname = \"{name}\"\nartifacts = {artifacts:?}\nsigners = {signers:?}\nthreshold = {threshold}\n{extra}"
    )
}

/// Writes the policy `file_name` into the work directory from its tables; returns its path.
pub fn write_policy(env: &TestEnv, file_name: &str, tables: &[String]) -> PathBuf {
    let path = env.path(file_name);
    fs::write(&path, tables.join("\n")).unwrap();
    path
}

// ---------------------------------------------------------------- hwsign verify

/// What vouches for the files: `--envelope FILE` or `--signature FILE…`.
#[derive(Clone, Copy, Debug)]
pub enum Via<'a> {
    Envelope(&'a str),
    Signatures(&'a [&'a str]),
}

/// What `hwsign verify` said, as a human report and as `--json`.
pub struct Report {
    /// Exit status 0.
    pub ok: bool,
    /// The human report (stdout).
    pub human: String,
    /// One verdict per artifact, from `--json`.
    pub verdicts: Vec<Value>,
    /// Both runs, for failure messages.
    pub desc: String,
}

fn verify_command(
    env: &TestEnv,
    policy: &Path,
    via: Via<'_>,
    files: &[&str],
    json: bool,
) -> Command {
    // No HWSIGN_AUTH_SOCK, no SSH_AUTH_SOCK: verification needs no agent.
    let mut cmd = env.command(client_bin());
    cmd.arg("verify").arg("--policy").arg(policy);
    match via {
        Via::Envelope(e) => {
            cmd.args(["--envelope", e]);
        }
        Via::Signatures(sigs) => {
            for s in sigs {
                cmd.args(["--signature", *s]);
            }
        }
    }
    if json {
        cmd.arg("--json");
    }
    cmd.args(files);
    cmd
}

/// Runs `hwsign verify` (human and `--json`) and checks that the two agree.
pub fn hwsign_verify(env: &TestEnv, policy: &Path, via: Via<'_>, files: &[&str]) -> Report {
    let mut human_cmd = verify_command(env, policy, via, files, false);
    let mut json_cmd = verify_command(env, policy, via, files, true);
    let (human_desc, json_desc) = (format!("{human_cmd:?}"), format!("{json_cmd:?}"));
    let human = run(&mut human_cmd);
    let json = run(&mut json_cmd);
    let desc = format!(
        "{}\n{}\n--- policy ---\n{}",
        describe(&human_desc, &human),
        describe(&json_desc, &json),
        fs::read_to_string(policy).unwrap_or_default()
    );
    assert_eq!(
        human.status.code(),
        json.status.code(),
        "human and --json runs exit differently\n{desc}"
    );
    let text = String::from_utf8_lossy(&json.stdout).into_owned();
    let parsed: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("verify --json printed no JSON ({e})\n{desc}"));
    // The verdict array, bare or under "artifacts".
    let verdicts = match &parsed {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("artifacts") {
            Some(Value::Array(a)) => a.clone(),
            _ => panic!("verify --json is not an array of verdicts\n{desc}"),
        },
        _ => panic!("verify --json is not an array of verdicts\n{desc}"),
    };
    let report = Report {
        ok: human.status.success(),
        human: String::from_utf8_lossy(&human.stdout).into_owned(),
        verdicts,
        desc,
    };
    assert_eq!(
        report.verdicts.len(),
        files.len(),
        "one verdict per file expected\n{}",
        report.desc
    );
    let all = report.verdicts.iter().all(|v| v["verified"] == true);
    assert_eq!(
        report.ok, all,
        "exit status 0 exactly when every file is verified\n{}",
        report.desc
    );
    for v in &report.verdicts {
        for field in [
            "artifact",
            "verified",
            "rule",
            "threshold",
            "allowed",
            "signers",
            "rejected",
        ] {
            assert!(
                v.get(field).is_some(),
                "verdict without {field}: {v}\n{}",
                report.desc
            );
        }
    }
    report
}

impl Report {
    /// The `--json` verdict on `artifact`.
    pub fn verdict(&self, artifact: &str) -> &Value {
        self.verdicts
            .iter()
            .find(|v| v["artifact"] == artifact)
            .unwrap_or_else(|| panic!("no verdict for {artifact}\n{}", self.desc))
    }

    /// The human report's line on `artifact`.
    pub fn line(&self, artifact: &str) -> &str {
        let (ok, fail) = (format!("OK   {artifact}  "), format!("FAIL {artifact}  "));
        self.human
            .lines()
            .find(|l| l.starts_with(&ok) || l.starts_with(&fail))
            .unwrap_or_else(|| panic!("no OK/FAIL line for {artifact}\n{}", self.desc))
    }

    /// The signers that counted for `artifact`.
    pub fn signers(&self, artifact: &str) -> Vec<String> {
        let v = self.verdict(artifact);
        v["signers"]
            .as_array()
            .unwrap_or_else(|| panic!("signers is not an array: {v}\n{}", self.desc))
            .iter()
            .map(|s| s.as_str().expect("signer names are strings").to_string())
            .collect()
    }

    /// The reasons given for `artifact`.
    pub fn rejected(&self, artifact: &str) -> Vec<String> {
        let v = self.verdict(artifact);
        v["rejected"]
            .as_array()
            .unwrap_or_else(|| panic!("rejected is not an array: {v}\n{}", self.desc))
            .iter()
            .map(|s| s.as_str().expect("reasons are strings").to_string())
            .collect()
    }

    /// `artifact` is verified by `rule` with exactly `signers` (in policy order), and the
    /// human line says `OK   <name>  rule "<rule>" (k of n): signer, signer`.
    pub fn assert_ok(&self, artifact: &str, rule: &str, signers: &[&str]) {
        let v = self.verdict(artifact);
        assert_eq!(
            v["verified"], true,
            "{artifact} not verified\n{}",
            self.desc
        );
        assert_eq!(v["rule"], rule, "{artifact}: deciding rule\n{}", self.desc);
        assert_eq!(
            self.signers(artifact),
            signers,
            "{artifact}: signers\n{}",
            self.desc
        );
        let (k, n) = (&v["threshold"], &v["allowed"]);
        assert_eq!(
            self.line(artifact),
            format!(
                "OK   {artifact}  rule \"{rule}\" ({k} of {n}): {}",
                signers.join(", ")
            ),
            "{artifact}: human line\n{}",
            self.desc
        );
    }

    /// `artifact` is not verified, the whole run failed, and a reason in `--json` and on the
    /// `FAIL` line contains `reason`.
    pub fn assert_rejected(&self, artifact: &str, reason: &str) {
        assert!(
            !self.ok,
            "verify exited 0 although {artifact} failed\n{}",
            self.desc
        );
        let v = self.verdict(artifact);
        assert_eq!(v["verified"], false, "{artifact} verified\n{}", self.desc);
        let reasons = self.rejected(artifact);
        assert!(
            reasons.iter().any(|r| r.contains(reason)),
            "{artifact}: no rejection reason contains {reason:?}: {reasons:?}\n{}",
            self.desc
        );
        let line = self.line(artifact);
        assert!(
            line.starts_with(&format!("FAIL {artifact}  ")) && line.contains(reason),
            "{artifact}: the FAIL line does not say {reason:?}: {line}\n{}",
            self.desc
        );
    }
}

// ---------------------------------------------------------------- hwsign itself

/// `hwsign keys export LABEL --format pem -o FILE`; returns FILE.
pub fn export_pem(env: &TestEnv, label: &str) -> String {
    let file = format!("{label}.pem");
    env.export_key(label, "pem", &file);
    file
}

/// `hwsign attest --key LABEL --purl … -o OUT FILES… [EXTRA…]`.
pub fn attest(env: &TestEnv, label: &str, out: &str, files: &[&str], extra: &[&str]) {
    let mut args = vec!["attest", "--key", label, "--purl", PURL, "-o", out];
    args.extend_from_slice(extra);
    args.extend_from_slice(files);
    env.hwsign_ok(&args);
}

/// Reads a JSON file of the work directory.
pub fn read_json(env: &TestEnv, name: &str) -> Value {
    let text = fs::read_to_string(env.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON ({e}): {text}"))
}

/// Writes `value` as JSON into the work directory.
pub fn write_json(env: &TestEnv, name: &str, value: &Value) {
    fs::write(env.path(name), serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// The in-toto statement of a DSSE envelope (or of a bundle's `dsseEnvelope`).
pub fn statement_of(envelope: &Value) -> Value {
    let payload = b64_decode(envelope["payload"].as_str().expect("payload is a string"));
    serde_json::from_slice(&payload).expect("the payload is JSON")
}

/// The envelope with its statement replaced (re-encoded, signatures kept).
pub fn with_statement(envelope: &Value, statement: &Value) -> Value {
    let mut e = envelope.clone();
    e["payload"] = Value::from(b64_encode(&serde_json::to_vec(statement).unwrap()));
    e
}

// ---------------------------------------------------------------- peers

/// `python tests/python/verify_dsse.py` (securesystemslib) for an envelope and one key of
/// the agent (not asserted).
pub fn securesystemslib_verify(env: &TestEnv, envelope: &str, spec: &KeySpec, pem: &str) -> Output {
    require_python_module("securesystemslib");
    let keyid = env.key_id(spec.label);
    let mut cmd = env.command(python());
    cmd.arg(verify_dsse_py())
        .args(["--envelope", envelope, "--keyid", keyid.as_str()])
        .args([
            "--keytype",
            spec.sslib_keytype,
            "--scheme",
            spec.sslib_scheme,
        ])
        .args(["--public-key-pem", pem]);
    run(&mut cmd)
}

/// The node_modules directory with sigstore-js (`HWSIGN_TEST_NODE_PATH`).
pub fn node_modules() -> PathBuf {
    let hint = "run scripts/deps.sh --node (it installs @sigstore/verify with npm and prints its \
                node_modules directory) and export HWSIGN_TEST_NODE_PATH=<that directory>; \
                scripts/test.sh does both";
    let dir = match std::env::var_os("HWSIGN_TEST_NODE_PATH") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("HWSIGN_TEST_NODE_PATH is not set: {hint}"),
    };
    for package in ["@sigstore/verify", "@sigstore/bundle"] {
        assert!(
            dir.join(package).join("package.json").is_file(),
            "{package} is not in HWSIGN_TEST_NODE_PATH={}: {hint}",
            dir.display()
        );
    }
    dir
}

/// `node tests/node/verify_bundle.mjs NODE_MODULES BUNDLE PEM ARTIFACT…` (not asserted).
pub fn sigstore_js_verify(env: &TestEnv, bundle: &str, pem: &str, artifacts: &[&str]) -> Output {
    let modules = node_modules();
    let mut cmd = env.command(require_tool("node", "nodejs"));
    cmd.arg(VERIFY_BUNDLE_MJS)
        .arg(modules)
        .args([bundle, pem])
        .args(artifacts);
    run(&mut cmd)
}

/// A private GnuPG home in the work directory; its gpg-agent is stopped on drop.
pub struct GnupgHome {
    pub path: PathBuf,
}

impl GnupgHome {
    pub fn new(env: &TestEnv) -> GnupgHome {
        require_tool("gpg", "gnupg");
        require_tool("gpgconf", "gnupg");
        let path = env.path("gnupg");
        fs::create_dir_all(&path).unwrap();
        set_mode(&path, 0o700);
        GnupgHome { path }
    }

    /// `gpg --batch` in this home, with an empty passphrase.
    pub fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.path).stdin(Stdio::null()).args([
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.path)
            .args(["--kill", "all"])
            .output();
    }
}
