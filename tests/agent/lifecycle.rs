//! `hwsign-agent` lifecycle and key management: the provisioned token and the
//! `keys --json` / `keys export` contract, stable key ids across restarts,
//! `keys generate` (the new key is listed, signs, and survives a restart),
//! socket directory 0700 / socket 0600, refusal of a too-open socket directory,
//! socket removal on SIGTERM, replacement of a stale socket, refusal to start a
//! second agent on a live socket, `status --json`, and `keys attest` refused for a key its token
//! cannot attest.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;

use hwsign_testrig::*;
use serde_json::Value;

fn sorted_ids(keys: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = keys
        .iter()
        .map(|k| k["id"].as_str().expect("id is a string").to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn keys_json_describes_the_provisioned_token() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let keys = env.keys_json();
    assert_eq!(keys.len(), 3, "three provisioned keys expected: {keys:?}");
    for spec in &KEYS {
        let k = keys
            .iter()
            .find(|k| k["label"] == spec.label)
            .unwrap_or_else(|| panic!("{} not listed: {keys:?}", spec.label));
        let id = k["id"].as_str().expect("id");
        assert!(is_lower_hex64(id), "{}: id {id:?}", spec.label);
        assert_eq!(k["algorithm"], spec.algorithm, "{}: algorithm", spec.label);
        assert_eq!(k["backend"], "pkcs11", "{}: backend", spec.label);
        assert!(
            k["token_label"].is_string(),
            "{}: token_label missing: {k}",
            spec.label
        );
        for field in ["touch_policy", "pin_policy"] {
            assert!(!k[field].is_null(), "{}: {field} missing: {k}", spec.label);
        }
        let uri = k["pkcs11_uri"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: pkcs11_uri missing: {k}", spec.label));
        assert!(
            uri.starts_with("pkcs11:"),
            "{}: pkcs11_uri {uri:?}",
            spec.label
        );
        let ssh = k["ssh_public_key"].as_str().expect("ssh_public_key");
        assert!(
            ssh.starts_with(&format!("{} AAAA", spec.ssh_type)),
            "{}: ssh_public_key {ssh:?}",
            spec.label
        );
        assert!(
            ssh.trim_end().ends_with(spec.label),
            "{}: ssh_public_key comment {ssh:?}",
            spec.label
        );

        // id = SHA-256 of the SPKI DER.
        let pem = env.hwsign_ok(&["keys", "export", spec.label, "--format", "pem"]);
        assert_eq!(
            sha256_hex(&pem_to_der(&pem, "PUBLIC KEY")),
            id,
            "{}: id vs exported SPKI",
            spec.label
        );

        // Every KEY form names the same key.
        let prefix = format!("id:{}", &id[..12]);
        let label_form = format!("label:{}", spec.label);
        let reference = env.hwsign_ok(&["keys", "export", spec.label, "--format", "ssh"]);
        for form in [prefix.as_str(), &id[..16], label_form.as_str(), uri] {
            let got = env.hwsign_ok(&["keys", "export", form, "--format", "ssh"]);
            assert_eq!(
                got.trim(),
                reference.trim(),
                "KEY form {form:?} selects another key"
            );
        }
        assert_eq!(
            reference.split_whitespace().take(2).collect::<Vec<_>>(),
            ssh.split_whitespace().take(2).collect::<Vec<_>>()
        );
    }
}

#[test]
fn restart_keeps_the_same_key_ids() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    let before = sorted_ids(&env.keys_json());
    assert_eq!(before.len(), 3);
    let status = agent.stop();
    assert!(
        status.success(),
        "agent exit status after SIGTERM: {status}"
    );

    let _agent = env.start_agent(&[]);
    assert_eq!(
        sorted_ids(&env.keys_json()),
        before,
        "key ids changed across a restart"
    );
}

#[test]
fn generated_key_is_listed_signs_and_persists() {
    require_tool("ssh-keygen", "openssh-client");
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    let before = sorted_ids(&env.keys_json());

    env.hwsign_ok(&[
        "keys",
        "generate",
        "--pkcs11",
        "--label",
        "extra-p256",
        "--alg",
        "p256",
    ]);
    let keys = env.keys_json();
    assert_eq!(keys.len(), 4, "four keys expected after generate: {keys:?}");
    let extra = keys
        .iter()
        .find(|k| k["label"] == "extra-p256")
        .unwrap_or_else(|| panic!("extra-p256 not listed: {keys:?}"));
    assert_eq!(extra["algorithm"], "ecdsa-p256");
    let extra_id = extra["id"].as_str().expect("id").to_string();
    assert!(
        !before.contains(&extra_id),
        "generated key reuses an existing id"
    );

    let data = write_file(
        &env.work,
        "new-key.txt",
        b"signed with a freshly generated key\n",
    );
    env.hwsign_ok(&[
        "sign",
        "--key",
        "extra-p256",
        "--format",
        "sshsig",
        "new-key.txt",
    ]);
    let allowed = env.allowed_signers_for("extra-p256", "extra@hwsign.test");
    let ok = env.ssh_verify(
        &allowed,
        "extra@hwsign.test",
        "file",
        &data,
        &env.path("new-key.txt.sig"),
    );
    assert!(
        ok.status.success(),
        "sshsig with the generated key\n{}",
        describe("ssh-keygen -Y verify", &ok)
    );

    assert!(agent.stop().success());
    let _agent = env.start_agent(&[]);
    let after = env.keys_json();
    assert_eq!(
        after.len(),
        4,
        "generated key lost across a restart: {after:?}"
    );
    assert!(sorted_ids(&after).contains(&extra_id));
}

#[test]
fn socket_dir_is_0700_and_socket_0600() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    let dir = agent
        .sock
        .parent()
        .expect("socket has a parent dir")
        .to_path_buf();
    assert_eq!(
        mode_of(&dir),
        0o700,
        "socket dir {} mode {:o}",
        dir.display(),
        mode_of(&dir)
    );
    let meta = fs::symlink_metadata(&agent.sock).unwrap();
    assert!(
        meta.file_type().is_socket(),
        "{} is not a socket",
        agent.sock.display()
    );
    assert_eq!(
        mode_of(&agent.sock),
        0o600,
        "socket mode {:o}",
        mode_of(&agent.sock)
    );
}

#[test]
fn refuses_socket_dir_with_mode_0755() {
    let env = TestEnv::new();
    fs::create_dir_all(env.sock_dir()).unwrap();
    set_mode(&env.sock_dir(), 0o755);
    let (status, stderr) = env.start_agent_expect_failure(&[]);
    assert!(!status.success());
    let lower = stderr.to_lowercase();
    assert!(
        lower.contains("755") || lower.contains("mode") || lower.contains("permission"),
        "refusal should mention the directory mode: {stderr}"
    );
    assert!(
        !env.default_sock().exists(),
        "agent created a socket in a 0755 directory"
    );
}

#[test]
fn sigterm_removes_the_socket() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    let sock = agent.sock.clone();
    assert!(
        fs::symlink_metadata(&sock).is_ok(),
        "socket missing while running"
    );
    env.hwsign_ok(&["keys"]);
    let status = agent.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}"
    );
    assert!(
        fs::symlink_metadata(&sock).is_err(),
        "socket {} left behind after SIGTERM",
        sock.display()
    );
}

#[test]
fn stale_socket_is_replaced() {
    let env = TestEnv::new();
    fs::create_dir_all(env.sock_dir()).unwrap();
    set_mode(&env.sock_dir(), 0o700);
    drop(UnixListener::bind(env.default_sock()).expect("bind stale socket"));
    assert!(
        fs::symlink_metadata(env.default_sock())
            .unwrap()
            .file_type()
            .is_socket()
    );

    let agent = env.start_agent(&[]);
    assert_eq!(
        env.keys_json().len(),
        3,
        "agent behind the replaced socket does not answer"
    );
    assert_eq!(mode_of(&agent.sock), 0o600);
}

#[test]
fn second_agent_on_live_socket_is_refused() {
    let env = TestEnv::new();
    let mut first = env.start_agent(&[]);
    let (status, stderr) = env.start_agent_expect_failure(&[]);
    assert!(!status.success());
    assert!(
        stderr.to_lowercase().contains("already running"),
        "should say an agent is already running: {stderr}"
    );

    assert!(first.is_running(), "the first agent died");
    assert!(
        fs::symlink_metadata(&first.sock).is_ok(),
        "the second agent removed the first one's socket"
    );
    assert_eq!(
        env.keys_json().len(),
        3,
        "the first agent no longer answers"
    );
}

#[test]
fn status_json_is_json() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let out = env.hwsign_ok(&["status", "--json"]);
    serde_json::from_str::<Value>(&out)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {out}"));
    env.hwsign_ok(&["status"]);
}

#[test]
fn a_pkcs11_key_has_no_attestation() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let err = env.hwsign_err(&["keys", "attest", "release-p256"]);
    assert!(err.contains("this token cannot attest its keys"), "{err}");
    // The verifier material of such a key goes without one, and says nothing about it.
    fs::write(env.path("m.txt"), b"material\n").unwrap();
    let out = env.hwsign(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "sshsig",
        "--emit-verifier-material",
        "m.txt",
    ]);
    assert!(out.status.success(), "{}", describe("sign", &out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("attestation"));
    assert!(!env.path("hwsign-release-p256.attestation.pem").exists());
    assert!(env.path("hwsign-release-p256.pub").exists());
}
