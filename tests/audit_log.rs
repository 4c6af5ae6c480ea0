//! The audit log: one record per signature, chained by hashes (across rotations), on disk
//! before the signature is returned (also when the agent is killed right after), checked by
//! `hwsign audit verify`, which names an altered record; when the log cannot be written the
//! signature is refused and the agent keeps serving.

mod common;

use std::fs;

use common::*;

fn audit_dir(env: &TestEnv) -> std::path::PathBuf {
    env.state.join("hwsign")
}

fn audit_verify(env: &TestEnv) -> std::process::Output {
    run(env.command(CLIENT_BIN).args(["audit", "verify"]))
}

fn sign_n(env: &TestEnv, n: usize) {
    for i in 0..n {
        let name = format!("f{i}.txt");
        write_file(&env.work, &name, format!("file {i}\n").as_bytes());
        env.hwsign_ok(&[
            "sign",
            "--key",
            "release-ed25519",
            "--format",
            "sshsig",
            &name,
        ]);
    }
}

#[test]
fn n_signatures_n_records_and_an_altered_byte_is_named() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    sign_n(&env, 5);
    let out = audit_verify(&env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("5 record(s)"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let path = audit_dir(&env).join("audit.jsonl");
    let content = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = content.lines().collect();
    assert_eq!(lines.len(), 5);
    let rec: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(rec["kind"], "sshsig:file");
    assert_eq!(rec["result"], "signed");
    assert_eq!(rec["client_says"]["names_unverified"][0], "f2.txt");
    // Flip one character of record 3's namespace digest.
    let offset: usize = lines[..2].iter().map(|l| l.len() + 1).sum::<usize>()
        + lines[2].find("message_digest").unwrap()
        + 20;
    let mut bytes = content.into_bytes();
    bytes[offset] = if bytes[offset] == b'a' { b'b' } else { b'a' };
    fs::write(&path, bytes).unwrap();
    let out = audit_verify(&env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("record 3") && err.contains("altered"),
        "{err}"
    );
}

#[test]
fn record_is_on_disk_when_the_agent_is_killed_right_after() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    sign_n(&env, 1);
    hwsign::sys::kill(agent.pid() as i32, libc::SIGKILL).unwrap();
    drop(agent);
    let content = fs::read_to_string(audit_dir(&env).join("audit.jsonl")).unwrap();
    assert_eq!(content.lines().count(), 1, "{content}");
    assert!(audit_verify(&env).status.success());
}

#[test]
fn unwritable_audit_log_refuses_the_signature() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    sign_n(&env, 1);
    // Tests run as root, which ignores file modes: make the log a directory instead.
    let path = audit_dir(&env).join("audit.jsonl");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    write_file(&env.work, "x.txt", b"x\n");
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "sshsig",
        "x.txt",
    ]);
    assert!(
        err.contains("audit log") && err.contains("withheld"),
        "{err}"
    );
    assert!(
        !env.path("x.txt.sig").exists(),
        "a signature was written without its audit record"
    );
    // The agent still serves; once the log is back, signing works again.
    fs::remove_dir(&path).unwrap();
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "sshsig",
        "x.txt",
    ]);
}

#[test]
fn rotation_keeps_the_chain() {
    let env = TestEnv::new();
    let dir = env.config.join("hwsign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.toml"), "audit_max_bytes = \"2KiB\"\n").unwrap();
    let _agent = env.start_agent(&[]);
    sign_n(&env, 8);
    let rotated = fs::read_dir(audit_dir(&env))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("audit.jsonl.")
        })
        .count();
    assert!(rotated >= 2, "expected rotated files, found {rotated}");
    let out = audit_verify(&env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("8 record(s)"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
