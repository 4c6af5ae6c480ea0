//! OpenSSH interop through the agent socket (SSH agent protocol): `ssh-add -L`
//! lists the three token keys with their labels as comments, and
//! `ssh-keygen -Y sign -f key.pub` (which signs through `SSH_AUTH_SOCK`) produces
//! SSHSIG signatures that `ssh-keygen -Y verify` accepts, and rejects once the
//! signed file is tampered with.

use std::fs;

use hwsign_testrig::*;

#[test]
fn ssh_add_lists_the_three_token_keys() {
    require_tool("ssh-add", "openssh-client");
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);

    let out = run_ok(
        env.command("ssh-add")
            .arg("-L")
            .env("SSH_AUTH_SOCK", &agent.sock),
    );
    let stdout = String::from_utf8(out.stdout).expect("ssh-add output is UTF-8");
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        3,
        "ssh-add -L should list exactly three keys:\n{stdout}"
    );

    let json = env.keys_json();
    for spec in &KEYS {
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().nth(2) == Some(spec.label))
            .unwrap_or_else(|| {
                panic!(
                    "no key with comment {} in ssh-add -L:\n{stdout}",
                    spec.label
                )
            });
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "unexpected ssh-add -L line {line:?}");
        assert_eq!(fields[0], spec.ssh_type, "key type of {}", spec.label);

        // The same key as the client's export and as `keys --json`.
        let exported = env.hwsign_ok(&["keys", "export", spec.label, "--format", "ssh"]);
        let exp: Vec<&str> = exported.split_whitespace().collect();
        assert!(exp.len() >= 2, "bad export output {exported:?}");
        assert_eq!(
            &exp[..2],
            &fields[..2],
            "ssh-add -L and `hwsign keys export` disagree for {}",
            spec.label
        );
        let listed = json
            .iter()
            .find(|k| k["label"] == spec.label)
            .unwrap_or_else(|| panic!("{} missing from keys --json", spec.label));
        let json_line = listed["ssh_public_key"]
            .as_str()
            .expect("ssh_public_key is a string");
        let jf: Vec<&str> = json_line.split_whitespace().collect();
        assert_eq!(
            &jf[..2],
            &fields[..2],
            "keys --json ssh_public_key differs from ssh-add -L for {}",
            spec.label
        );
    }
}

fn ssh_keygen_sign_roundtrip(spec: &KeySpec) {
    require_tool("ssh-keygen", "openssh-client");
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);

    let pubkey = env.export_key(spec.label, "ssh", &format!("{}.pub", spec.label));
    let pub_line = fs::read_to_string(&pubkey).unwrap();
    assert!(
        pub_line.starts_with(&format!("{} AAAA", spec.ssh_type)),
        "exported key for {} is not an OpenSSH {} line: {pub_line:?}",
        spec.label,
        spec.ssh_type
    );

    let data = write_file(
        &env.work,
        "artifact.txt",
        b"release artifact signed through the ssh agent protocol\n",
    );
    let mut sign = env.command("ssh-keygen");
    sign.env("SSH_AUTH_SOCK", &agent.sock)
        .args(["-Y", "sign", "-f"])
        .arg(&pubkey)
        .args(["-n", "file"])
        .arg(&data);
    run_ok(&mut sign);

    let sig = env.path("artifact.txt.sig");
    let armored = fs::read_to_string(&sig)
        .unwrap_or_else(|e| panic!("ssh-keygen wrote no {}: {e}", sig.display()));
    assert!(
        armored.starts_with("-----BEGIN SSH SIGNATURE-----"),
        "not an armored SSHSIG: {armored}"
    );

    let principal = format!("{}@hwsign.test", spec.label);
    let allowed = env.path("allowed_signers");
    write_allowed_signers(&allowed, &principal, &pub_line);

    let good = env.ssh_verify(&allowed, &principal, "file", &data, &sig);
    assert!(
        good.status.success(),
        "ssh-keygen -Y verify failed for {}\n{}",
        spec.label,
        describe("ssh-keygen -Y verify", &good)
    );

    tamper_file(&data);
    let bad = env.ssh_verify(&allowed, &principal, "file", &data, &sig);
    assert!(
        !bad.status.success(),
        "tampered file still verifies for {}\n{}",
        spec.label,
        describe("ssh-keygen -Y verify", &bad)
    );
}

#[test]
fn ssh_keygen_signs_through_agent_p256() {
    ssh_keygen_sign_roundtrip(&KEYS[0]);
}

#[test]
fn ssh_keygen_signs_through_agent_ed25519() {
    ssh_keygen_sign_roundtrip(&KEYS[1]);
}

#[test]
fn ssh_keygen_signs_through_agent_rsa3072() {
    ssh_keygen_sign_roundtrip(&KEYS[2]);
}
