//! The forwarded socket (`agent.extra.sock`) applies per-key policy, deciding the kind of a
//! request from the bytes it signs: key generation, a hidden key, a disallowed SSHSIG
//! namespace, an SSH login with a key not allowed for it, a DSSE PAE smuggled as SSH sign data
//! by a key allowed only `ssh-login`, and bare digests are refused with the rule named; the
//! same requests on the main socket are allowed. Policy reloads on SIGHUP; a broken config
//! keeps the old one.

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use hwsign_testrig::*;
use ssh_agent_lib::proto::{PublicCredential, Request, SignRequest};
use ssh_encoding::Encode;

const POLICY: &str = r#"
[[key]]
match = "label:release-p256"
remote = true
remote_kinds = ["ssh-login"]

[[key]]
match = "label:release-ed25519"
remote = true
remote_kinds = ["dsse", "sshsig:file"]
"#;

fn write_config(env: &TestEnv, text: &str) {
    let dir = env.config.join("hwsign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.toml"), text).unwrap();
}

fn extra_sock(env: &TestEnv) -> std::path::PathBuf {
    env.sock_dir().join("agent.extra.sock")
}

/// The client through the extra socket.
fn remote(env: &TestEnv, args: &[&str]) -> std::process::Output {
    run(env
        .command(client_bin())
        .env("HWSIGN_AUTH_SOCK", extra_sock(env))
        .args(args))
}

/// An SSH agent sign request for `key` (an OpenSSH public key line) over `data`; true when
/// the agent signed.
fn ssh_sign(sock: &Path, key_line: &str, data: &[u8]) -> bool {
    let key = ssh_key::PublicKey::from_openssh(key_line.trim()).unwrap();
    let req = Request::SignRequest(SignRequest {
        credential: PublicCredential::Key(key.key_data().clone()),
        data: data.to_vec(),
        flags: 0,
    });
    let mut msg = Vec::new();
    req.encode(&mut msg).unwrap();
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = hwsign_testrig::wire::round_trip(&mut s, &msg);
    match body[0] {
        14 => true,
        5 => false,
        other => panic!("unexpected reply type {other}"),
    }
}

/// A publickey userauth signature blob, as ssh sends it.
fn userauth_blob() -> Vec<u8> {
    let mut e = hwsign::proto::wire::Enc::default();
    e.bytes(&[7; 32])
        .u8(50)
        .str("git")
        .str("ssh-connection")
        .str("publickey")
        .bool(true);
    e.str("ecdsa-sha2-nistp256").bytes(&[1; 104]);
    e.0
}

fn audit_records(env: &TestEnv) -> Vec<serde_json::Value> {
    let text = fs::read_to_string(env.state.join("hwsign/audit.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn forwarded_socket_enforces_per_key_policy() {
    let env = TestEnv::new();
    write_config(&env, POLICY);
    let _agent = env.start_agent(&[]);
    let main = env.default_sock();
    let extra = extra_sock(&env);
    write_file(&env.work, "a.txt", b"release\n");

    // Only the keys with remote = true are visible.
    let out = remote(&env, &["keys", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut labels: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["label"].as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, ["release-ed25519", "release-p256"]);
    let err = String::from_utf8_lossy(
        &remote(
            &env,
            &[
                "sign",
                "--key",
                "release-rsa3072",
                "--format",
                "sshsig",
                "a.txt",
            ],
        )
        .stderr,
    )
    .to_string();
    assert!(err.contains("no key matches"), "{err}");

    // Key generation: main socket only.
    let out = remote(
        &env,
        &[
            "keys", "generate", "--pkcs11", "--label", "x", "--alg", "p256",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("forwarded socket")
            && err.contains("[policy-refused]"),
        "{err}"
    );

    // A namespace the rule does not allow; the rule is named.
    let out = remote(
        &env,
        &[
            "sign",
            "--key",
            "release-ed25519",
            "--format",
            "sshsig",
            "--namespace",
            "git",
            "a.txt",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("sshsig:git") && err.contains("[[key]] #2"),
        "{err}"
    );
    // The allowed one works.
    let out = remote(
        &env,
        &[
            "sign",
            "--key",
            "release-ed25519",
            "--format",
            "sshsig",
            "a.txt",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Bare digests (raw) are "digest": not allowed remotely.
    for key in ["release-ed25519", "release-p256"] {
        let out = remote(
            &env,
            &["sign", "--key", key, "--format", "raw", "--force", "a.txt"],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("digest signatures"),
            "{key}: {err}"
        );
    }

    // SSH login: allowed for p256, not for ed25519.
    let p256 = env.hwsign_ok(&["keys", "export", "release-p256", "--format", "ssh"]);
    let ed = env.hwsign_ok(&["keys", "export", "release-ed25519", "--format", "ssh"]);
    assert!(ssh_sign(&extra, &p256, &userauth_blob()));
    assert!(!ssh_sign(&extra, &ed, &userauth_blob()));
    // A DSSE PAE smuggled as SSH sign data by a key allowed only ssh-login: refused.
    let pae = hwsign::format::dsse::pae(
        "application/vnd.in-toto+json",
        br#"{"_type":"https://in-toto.io/Statement/v1"}"#,
    );
    assert!(!ssh_sign(&extra, &p256, &pae));

    // The same requests on the main socket are allowed.
    assert!(ssh_sign(&main, &ed, &userauth_blob()));
    assert!(ssh_sign(&main, &p256, &pae));
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "sshsig",
        "--namespace",
        "git",
        "--force",
        "a.txt",
    ]);
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "raw",
        "--force",
        "a.txt",
    ]);

    // The audit log has the refusals with their kinds, from the extra socket.
    let records = audit_records(&env);
    let refused: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["result"] == "refused")
        .map(|r| {
            (
                r["socket"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        "sshsig:git",
        "digest",
        "ssh-login",
        "dsse:application/vnd.in-toto+json",
    ] {
        assert!(
            refused.iter().any(|(s, k)| s == "extra" && k == want),
            "no refused {want} in {refused:?}"
        );
    }
    assert!(
        records
            .iter()
            .all(|r| r["socket"] != "main" || r["result"] == "signed"),
        "main socket refused something"
    );
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn policy_reloads_on_sighup_and_a_broken_config_keeps_the_old_one() {
    let env = TestEnv::new();
    // The agent's own config file (the client, on the same machine, reads the default one).
    let config = env.path("agent.toml");
    fs::write(&config, POLICY).unwrap();
    let agent = env.start_agent(&["--config", config.to_str().unwrap()]);
    write_file(&env.work, "a.txt", b"release\n");
    let raw = [
        "sign",
        "--key",
        "release-p256",
        "--format",
        "raw",
        "--force",
        "a.txt",
    ];
    assert!(!remote(&env, &raw).status.success());

    fs::write(
        &config,
        POLICY.replace(
            r#"remote_kinds = ["ssh-login"]"#,
            r#"remote_kinds = ["ssh-login", "digest"]"#,
        ),
    )
    .unwrap();
    hwsign::sys::kill(agent.pid() as i32, libc::SIGHUP).unwrap();
    wait_for("the reloaded policy", || {
        remote(&env, &raw).status.success()
    });

    fs::write(&config, "this is = = not toml").unwrap();
    hwsign::sys::kill(agent.pid() as i32, libc::SIGHUP).unwrap();
    wait_for("the reload error in the log", || {
        agent.log_text().contains("keeping the old one")
    });
    let out = remote(&env, &raw);
    assert!(
        out.status.success(),
        "the old policy should still apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn agent_refuses_to_start_with_a_broken_config() {
    let env = TestEnv::new();
    write_config(
        &env,
        "[[key]]\nmatch = \"label:x\"\nremote_kinds = [\"everything\"]\n",
    );
    let (_, stderr) = env.start_agent_expect_failure(&[]);
    assert!(stderr.contains("unknown remote kind"), "{stderr}");
}
