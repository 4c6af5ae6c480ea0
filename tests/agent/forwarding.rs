//! Forwarding the agent's extra socket over a real OpenSSH connection (a private `sshd` on a
//! loopback port, see the rig's `sshd` module; the "remote" host is this machine):
//! * `ssh -R <remote path>:<agent.extra.sock>`: remote `hwsign attest` and `hwsign sign
//!   --format sshsig` succeed, verify (securesystemslib, `ssh-keygen -Y verify`) and are
//!   audited as socket "extra", forwarded_via "no session-bind";
//! * `ssh -A -o IdentityAgent=<agent.extra.sock>`: the remote hwsign finds the forwarded
//!   `SSH_AUTH_SOCK` by itself; the audit names the sshd host key from session-bind;
//! * `from_hosts`: the bound host key allows -A, while -R (no session-bind) and another
//!   host's key are refused and audited as refused;
//! * a key without a remote rule is invisible through the forwarded socket.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use hwsign_testrig::*;
use serde_json::Value;

const P256: &str = "release-p256";
const ED25519: &str = "release-ed25519";
const OTHER_HOST: &str = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const AUDIT_TIMEOUT: Duration = Duration::from_secs(60);

/// release-p256 usable remotely for the default kinds; no rule for the other keys.
fn p256_remote(from_hosts: Option<&str>) -> String {
    let mut toml = format!(
        "[[key]]\nmatch = \"label:{P256}\"\nremote = true\nremote_kinds = [\"dsse\", \"sshsig:file\"]\n"
    );
    if let Some(host) = from_hosts {
        toml.push_str(&format!("from_hosts = [\"{host}\"]\n"));
    }
    toml
}

fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Fields drop in declaration order: sshd first, then the agent, then the temp dir.
struct Rig {
    sshd: Sshd,
    _agent: Agent,
    env: TestEnv,
    /// The "remote" side's empty XDG_RUNTIME_DIR and XDG_CONFIG_HOME, and where -R puts the socket.
    remote_run: PathBuf,
    remote_config: PathBuf,
    remote_sock: PathBuf,
}

impl Rig {
    /// Starts sshd, writes the agent config (given the host key fingerprint), starts the agent.
    fn new(config: impl FnOnce(&str) -> String) -> Rig {
        let env = TestEnv::new();
        let sshd = Sshd::start(&env.dir.path().join("sshd"));
        let cfg_dir = env.config.join("hwsign");
        fs::create_dir_all(&cfg_dir).unwrap();
        fs::write(cfg_dir.join("config.toml"), config(&sshd.host_fingerprint)).unwrap();
        let agent = env.start_agent(&[]);
        let extra = env.sock_dir().join("agent.extra.sock");
        assert!(
            extra.exists(),
            "agent is ready but {} does not exist\n{}",
            extra.display(),
            agent.log_text()
        );
        let remote = env.dir.path().join("remote");
        let (remote_run, remote_config, fwd) = (
            remote.join("run"),
            remote.join("config"),
            remote.join("fwd"),
        );
        for d in [&remote_run, &remote_config, &fwd] {
            fs::create_dir_all(d).unwrap();
            set_mode(d, 0o700);
        }
        Rig {
            sshd,
            _agent: agent,
            env,
            remote_run,
            remote_config,
            remote_sock: fwd.join("hwsign.sock"),
        }
    }

    fn extra_sock(&self) -> PathBuf {
        self.env.sock_dir().join("agent.extra.sock")
    }

    /// `<env assignments> hwsign ARGS` as a remote shell command: no config, no default socket.
    fn remote_hwsign(&self, env_part: &str, args: &[&str]) -> String {
        let mut cmd = format!(
            "{env_part} XDG_RUNTIME_DIR={} XDG_CONFIG_HOME={} {}",
            sh_path(&self.remote_run),
            sh_path(&self.remote_config),
            sh_path(client_bin())
        );
        for a in args {
            cmd.push(' ');
            cmd.push_str(&sh_quote(a));
        }
        cmd
    }

    /// `ssh -R <remote sock>:<extra sock>`, remote hwsign with `HWSIGN_AUTH_SOCK=<remote sock>`.
    fn via_r(&self, args: &[&str]) -> (String, Output) {
        let forward = format!("{}:{}", s(&self.remote_sock), s(&self.extra_sock()));
        let remote = self.remote_hwsign(
            &format!("env HWSIGN_AUTH_SOCK={}", sh_path(&self.remote_sock)),
            args,
        );
        let mut cmd = self.sshd.ssh(
            &["-o", "ExitOnForwardFailure=yes", "-R", forward.as_str()],
            &remote,
        );
        run_described(&mut cmd)
    }

    /// `ssh -A -o IdentityAgent=<extra sock>`, remote hwsign finds sshd's `SSH_AUTH_SOCK`.
    fn via_a(&self, args: &[&str]) -> (String, Output) {
        let identity_agent = format!("IdentityAgent={}", s(&self.extra_sock()));
        let remote = format!(
            "test -n \"$SSH_AUTH_SOCK\" || {{ echo 'sshd set no SSH_AUTH_SOCK: agent forwarding is off' >&2; exit 97; }}; {}",
            self.remote_hwsign("env -u HWSIGN_AUTH_SOCK", args)
        );
        let mut cmd = self
            .sshd
            .ssh(&["-A", "-o", identity_agent.as_str()], &remote);
        run_described(&mut cmd)
    }

    fn stdout_ok(&self, (desc, out): (String, Output)) -> String {
        assert!(
            out.status.success(),
            "remote hwsign failed\n{}",
            describe(&desc, &out)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// The remote hwsign exited non-zero (not ssh's own 255); returns stderr.
    fn stderr_err(&self, (desc, out): (String, Output)) -> String {
        let code = out.status.code();
        assert!(
            code.is_some_and(|c| c != 0 && c != 255),
            "expected the remote hwsign to fail (ssh exit 255 means ssh itself failed)\n{}",
            describe(&desc, &out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn audit_path(&self) -> PathBuf {
        self.env.state.join("hwsign/audit.jsonl")
    }

    fn audit(&self) -> Vec<Value> {
        let text = fs::read_to_string(self.audit_path()).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Waits (polling) until the audit log holds `n` records; asserts exactly `n`.
    fn audit_records(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + AUDIT_TIMEOUT;
        let mut records = self.audit();
        while records.len() < n && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            records = self.audit();
        }
        assert_eq!(
            records.len(),
            n,
            "expected {n} audit records in {}: {records:#?}",
            self.audit_path().display()
        );
        records
    }

    fn verify_sshsig(&self, file: &Path) {
        let principal = "release-p256@hwsign.test";
        let allowed = self.env.allowed_signers_for(P256, principal);
        let sig = PathBuf::from(format!("{}.sig", s(file)));
        let out = self.env.ssh_verify(&allowed, principal, "file", file, &sig);
        assert!(
            out.status.success(),
            "the SSHSIG made through the forward does not verify\n{}",
            describe("ssh-keygen -Y verify", &out)
        );
    }
}

/// Runs `cmd` (with the rig's timeout); returns its description for failure messages.
fn run_described(cmd: &mut Command) -> (String, Output) {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    (desc, out)
}

/// A record of a request through the extra socket with release-p256.
fn assert_extra_record(rec: &Value, kind_prefix: &str, result: &str) {
    assert_eq!(rec["socket"], "extra", "socket: {rec:#}");
    assert_eq!(rec["key"]["label"], P256, "key.label: {rec:#}");
    assert_eq!(rec["result"], result, "result: {rec:#}");
    let kind = rec["kind"].as_str().unwrap_or_default();
    assert!(kind.starts_with(kind_prefix), "kind {kind:?}: {rec:#}");
    // The peer of the extra socket is the ssh client that carries the forward.
    assert_eq!(rec["peer"]["process"], "ssh", "peer: {rec:#}");
}

fn assert_bound_to(rec: &Value, host_key: &str) {
    let via = rec["forwarded_via"]
        .as_array()
        .unwrap_or_else(|| panic!("forwarded_via is not a session-bind chain: {rec:#}"));
    assert_eq!(via.len(), 1, "one hop expected: {rec:#}");
    assert_eq!(via[0]["host_key"], host_key, "host key: {rec:#}");
    assert_eq!(via[0]["forwarding"], true, "forwarding: {rec:#}");
}

#[test]
fn ssh_r_forward_attest_and_sshsig_verify() {
    require_python_module("securesystemslib");
    let rig = Rig::new(|_| p256_remote(None));
    let env = &rig.env;
    let a = write_file(&env.work, "demo-1.0.0.tar.gz", b"release tarball\n");
    let b = write_random(&env.work, "demo-1.0.0.bin", 300 * 1024, 0x5eed_f0a7);
    let envelope = env.path("release.intoto.json");

    let attest = [
        "attest",
        "--key",
        P256,
        "--purl",
        PURL,
        "-o",
        s(&envelope),
        s(&a),
        s(&b),
    ];
    rig.stdout_ok(rig.via_r(&attest));
    rig.stdout_ok(rig.via_r(&["sign", "--key", P256, "--format", "sshsig", s(&a)]));

    let records = rig.audit_records(2);
    assert_extra_record(&records[0], "dsse", "signed");
    assert_extra_record(&records[1], "sshsig:file", "signed");
    for rec in &records {
        assert_eq!(rec["forwarded_via"], "no session-bind", "{rec:#}");
    }

    rig.verify_sshsig(&a);

    // The envelope: one subject per file with its digest, verified by securesystemslib.
    let text = fs::read_to_string(&envelope)
        .unwrap_or_else(|e| panic!("no envelope {}: {e}", envelope.display()));
    let env_json: Value = serde_json::from_str(&text).expect("envelope is JSON");
    let payload = b64_decode(env_json["payload"].as_str().expect("payload"));
    let statement: Value = serde_json::from_slice(&payload).expect("statement is JSON");
    let digests: BTreeSet<String> = statement["subject"]
        .as_array()
        .unwrap_or_else(|| panic!("no subjects: {statement}"))
        .iter()
        .map(|subj| {
            subj["digest"]["sha256"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let expected: BTreeSet<String> = [&a, &b]
        .iter()
        .map(|p| sha256_hex(&fs::read(p).unwrap()))
        .collect();
    assert_eq!(digests, expected, "subject digests in {statement}");
    assert_eq!(statement["predicate"]["purl"], PURL);

    let spec = &KEYS[0];
    assert_eq!(spec.label, P256);
    let pem = env.export_key(P256, "pem", "release-p256.pem");
    let keyid = env.key_id(P256);
    let mut cmd = env.command(python());
    cmd.arg(verify_dsse_py())
        .arg("--envelope")
        .arg(&envelope)
        .args(["--keyid", keyid.as_str(), "--keytype", spec.sslib_keytype])
        .args(["--scheme", spec.sslib_scheme, "--public-key-pem"])
        .arg(&pem);
    let desc = format!("{cmd:?}");
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "securesystemslib rejects the envelope made through ssh -R\n{}",
        describe(&desc, &out)
    );
}

#[test]
fn ssh_a_identity_agent_records_the_session_bind_host_key() {
    let rig = Rig::new(|_| p256_remote(None));
    let file = write_file(
        &rig.env.work,
        "built-remotely.tar.gz",
        b"built on the host\n",
    );

    rig.stdout_ok(rig.via_a(&["sign", "--key", P256, "--format", "sshsig", s(&file)]));

    let records = rig.audit_records(1);
    assert_extra_record(&records[0], "sshsig:file", "signed");
    assert_bound_to(&records[0], &rig.sshd.host_fingerprint);
    rig.verify_sshsig(&file);
}

#[test]
fn from_hosts_allows_the_bound_host_and_refuses_ssh_r() {
    let rig = Rig::new(|fp| p256_remote(Some(fp)));
    let fp = rig.sshd.host_fingerprint.clone();
    let via_a = write_file(&rig.env.work, "via-a.txt", b"through ssh -A\n");
    let via_r = write_file(&rig.env.work, "via-r.txt", b"through ssh -R\n");

    rig.stdout_ok(rig.via_a(&["sign", "--key", P256, "--format", "sshsig", s(&via_a)]));
    rig.verify_sshsig(&via_a);

    let err = rig.stderr_err(rig.via_r(&["sign", "--key", P256, "--format", "sshsig", s(&via_r)]));
    assert!(
        err.contains("session-bind") || err.contains("from_hosts"),
        "the refusal should say why (session-bind / from_hosts): {err}"
    );
    assert!(
        !PathBuf::from(format!("{}.sig", s(&via_r))).exists(),
        "a refused request left a signature behind"
    );

    let records = rig.audit_records(2);
    assert_extra_record(&records[0], "sshsig:file", "signed");
    assert_bound_to(&records[0], &fp);
    assert_extra_record(&records[1], "sshsig:file", "refused");
    assert_eq!(
        records[1]["forwarded_via"], "no session-bind",
        "{:#}",
        records[1]
    );
}

#[test]
fn from_hosts_with_another_host_key_refuses_ssh_a() {
    let rig = Rig::new(|_| p256_remote(Some(OTHER_HOST)));
    let file = write_file(&rig.env.work, "elsewhere.txt", b"not from that host\n");

    let err = rig.stderr_err(rig.via_a(&["sign", "--key", P256, "--format", "sshsig", s(&file)]));
    assert!(
        err.contains("session-bind") || err.contains("from_hosts"),
        "the refusal should say why (session-bind / from_hosts): {err}"
    );
    assert!(!PathBuf::from(format!("{}.sig", s(&file))).exists());

    let records = rig.audit_records(1);
    assert_extra_record(&records[0], "sshsig:file", "refused");
    assert_bound_to(&records[0], &rig.sshd.host_fingerprint);
}

#[test]
fn key_without_remote_rule_is_invisible_through_the_forward() {
    let rig = Rig::new(|_| p256_remote(None));
    // Locally, on the main socket, all three keys are there.
    let local: BTreeSet<String> = rig
        .env
        .keys_json()
        .iter()
        .map(|k| k["label"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(local.contains(ED25519) && local.contains(P256), "{local:?}");

    let file = write_file(&rig.env.work, "secret.txt", b"not for remote hosts\n");
    for (how, out) in [
        ("ssh -R", rig.via_r(&["keys", "--json"])),
        ("ssh -A", rig.via_a(&["keys", "--json"])),
    ] {
        let text = rig.stdout_ok(out);
        let keys: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{how}: keys --json is not JSON ({e}): {text}"));
        let labels: Vec<&str> = keys
            .as_array()
            .unwrap_or_else(|| panic!("{how}: keys --json is not an array: {text}"))
            .iter()
            .map(|k| k["label"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(labels, [P256], "{how}: only remote-allowed keys are listed");
    }
    for (how, out) in [
        (
            "ssh -R",
            rig.via_r(&["sign", "--key", ED25519, "--format", "sshsig", s(&file)]),
        ),
        (
            "ssh -A",
            rig.via_a(&["sign", "--key", ED25519, "--format", "sshsig", s(&file)]),
        ),
    ] {
        let err = rig.stderr_err(out);
        assert!(
            err.contains(ED25519),
            "{how}: error should name the key: {err}"
        );
    }
    assert!(!PathBuf::from(format!("{}.sig", s(&file))).exists());
    assert!(
        rig.audit().iter().all(|r| r["key"]["label"] != ED25519),
        "release-ed25519 was used: {:#?}",
        rig.audit()
    );
}
