//! Published outputs (signatures, envelopes, exported public keys, verifier material) get
//! 0666 minus the umask, like a shell redirection, not the temporary file's 0600 (issue 14).

use std::os::unix::fs::PermissionsExt;

use hwsign_testrig::*;

/// Runs `hwsign ARGS` under `umask`.
fn under_umask(env: &TestEnv, umask: &str, args: &[&str]) {
    let mut cmd = env.command("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(client_bin())
        .args(args)
        .env("HWSIGN_AUTH_SOCK", env.agent_sock());
    run_ok(&mut cmd);
}

fn mode(env: &TestEnv, name: &str) -> u32 {
    std::fs::metadata(env.path(name))
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn outputs_follow_the_umask() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "a.tar.gz", b"a");
    write_file(&env.work, "b.tar.gz", b"b");
    for (umask, want, file) in [("022", 0o644, "a.tar.gz"), ("077", 0o600, "b.tar.gz")] {
        let envelope = format!("{file}.intoto.json");
        let pem = format!("{file}.pem");
        under_umask(
            &env,
            umask,
            &[
                "sign",
                "--key",
                "release-p256",
                "--format",
                "sshsig",
                "--emit-verifier-material",
                "--force",
                file,
            ],
        );
        under_umask(
            &env,
            umask,
            &[
                "attest",
                "--key",
                "release-p256",
                "--purl",
                PURL,
                "--bundle",
                "-o",
                &envelope,
                file,
            ],
        );
        under_umask(
            &env,
            umask,
            &[
                "keys",
                "export",
                "release-p256",
                "--format",
                "pem",
                "-o",
                &pem,
            ],
        );
        for out in [
            format!("{file}.sig"),
            envelope.clone(),
            envelope.replace(".json", ".sigstore.json"),
            pem,
        ]
        .into_iter()
        // Verifier material already in place (the first round) is left as it is.
        .chain((umask == "022").then(|| "hwsign-release-p256.pub".to_string()))
        {
            assert_eq!(mode(&env, &out), want, "{out} under umask {umask}");
        }
    }
}
