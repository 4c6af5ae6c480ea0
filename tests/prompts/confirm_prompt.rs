//! The confirm command (`confirm = true` for a key): its prompt says what is being signed,
//! from what the agent parsed out of the signed bytes (DSSE subjects of 3 and of 200 files,
//! SSHSIG namespace and digest, SSH login and its forwarding hosts) and who asks through
//! which socket; a denial is a clear `[denied]` error and nothing is signed.

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::Path;

use hwsign_testrig::peers::*;
use hwsign_testrig::*;

/// An SSH agent sign request with a publickey userauth blob (user `git`) for `key_line`; true
/// when the agent signed.
fn ssh_login_sign(sock: &Path, key_line: &str) -> bool {
    fn string(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    }
    let blob = b64_decode(key_line.split_whitespace().nth(1).unwrap());
    let mut data = Vec::new();
    string(&mut data, &[7; 32]);
    data.push(50);
    for s in ["git", "ssh-connection", "publickey"] {
        string(&mut data, s.as_bytes());
    }
    data.push(1);
    string(
        &mut data,
        key_line.split_whitespace().next().unwrap().as_bytes(),
    );
    string(&mut data, &blob);
    let mut msg = vec![13];
    string(&mut msg, &blob);
    string(&mut msg, &data);
    msg.extend_from_slice(&0u32.to_be_bytes());
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
    hwsign_testrig::wire::round_trip(&mut s, &msg)[0] == 14
}

#[test]
fn confirm_prompts_say_what_is_signed_and_a_denial_is_an_error() {
    let env = TestEnv::new();
    write_config(
        &env,
        &format!(
            "{}[[key]]\nmatch = \"label:release-p256\"\nconfirm = true\nremote = true\n",
            confirm_setting(&env)
        ),
    );
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "a.txt", b"alpha\n");
    write_file(&env.work, "b.txt", b"beta\n");
    write_file(&env.work, "c.txt", b"gamma\n");
    let attest = |out: &str, files: &[String]| {
        let mut args = vec!["attest", "--key", "release-p256", "--purl", PURL, "-o", out];
        args.extend(files.iter().map(String::as_str));
        env.hwsign(&args[..])
    };
    let three: Vec<String> = ["a.txt", "b.txt", "c.txt"].map(String::from).to_vec();
    assert_ok(&attest("three.json", &three));
    assert_snapshot("confirm_dsse_3_files", &mask(&last_prompt(&env)));

    fs::create_dir_all(env.path("many")).unwrap();
    let many: Vec<String> = (0..200)
        .map(|i| {
            write_file(
                &env.path("many"),
                &format!("f{i:03}.txt"),
                format!("file {i}\n").as_bytes(),
            );
            format!("many/f{i:03}.txt")
        })
        .collect();
    assert_ok(&attest("many.json", &many));
    assert_snapshot("confirm_dsse_200_files", &mask(&last_prompt(&env)));

    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "sshsig",
        "a.txt",
    ]);
    assert_snapshot("confirm_sshsig", &mask(&last_prompt(&env)));

    let key_line = env.hwsign_ok(&["keys", "export", "release-p256", "--format", "ssh"]);
    assert!(ssh_login_sign(&env.default_sock(), &key_line));
    let prompt = last_prompt(&env);
    let lines: Vec<&str> = prompt.lines().collect();
    assert!(
        lines[0].ends_with(") on the local socket to sign with key release-p256?"),
        "{prompt}"
    );
    assert_eq!(
        &lines[1..],
        &["SSH login as git, forwarded via: no session-bind"][..],
        "{prompt}"
    );

    // Through the forwarded socket the prompt says so.
    assert_ok(&client(
        &env,
        &extra_sock(&env),
        &[
            "attest",
            "--key",
            "release-p256",
            "--purl",
            PURL,
            "-o",
            "remote.json",
            "a.txt",
            "b.txt",
            "c.txt",
        ],
    ));
    let prompt = last_prompt(&env);
    assert!(
        prompt.starts_with("Allow hwsign (pid ")
            && prompt.lines().next().unwrap().ends_with(
                ") through the forwarded socket (no session-bind: an ssh -R forward?) to sign with key release-p256?"
            ),
        "{prompt}"
    );

    // Denied: a clear error, nothing written.
    fs::write(env.path("confirm.mode"), "deny\n").unwrap();
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "sshsig",
        "b.txt",
    ]);
    assert!(
        err.contains("[denied]")
            && err.contains("the confirm dialog on ")
            && err.contains(" denied an SSH signature"),
        "{err}"
    );
    assert!(!env.work.join("b.txt.sig").exists());
    let err = env.hwsign_err(&[
        "attest",
        "--key",
        "release-p256",
        "--purl",
        PURL,
        "-o",
        "denied.json",
        "a.txt",
    ]);
    assert!(err.contains("[denied]"), "{err}");
    assert!(!env.path("denied.json").exists());
    assert!(!ssh_login_sign(&env.default_sock(), &key_line));
    let records = jsonl(&env.path("confirm.log"));
    assert_eq!(records.iter().filter(|r| r["mode"] == "deny").count(), 3);
    assert!(env.path("confirm.log.marker").exists());
}
