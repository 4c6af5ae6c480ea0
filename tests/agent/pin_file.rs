//! A PKCS#11 token configured in config.toml with a PIN file: keys are listed without the PIN,
//! a PIN the token rejects is never tried again until the file changes (so a wrong PIN file
//! cannot lock a token), and fixing the file works without restarting the agent.

use std::ffi::OsString;
use std::fs;

use hwsign_testrig::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Start an agent (without --softhsm) on the env's copy of the test token through config.toml.
fn start_config_agent(env: &TestEnv, pin_file: &std::path::Path) -> Agent {
    start_with_pin_line(env, &format!("pin_file = \"{}\"", pin_file.display()), &[])
}

fn start_with_pin_line(
    env: &TestEnv,
    pin_line: &str,
    extra_env: &[(&str, &std::path::Path)],
) -> Agent {
    let token_dir = env.state.join("hwsign/softhsm/tokens");
    let conf = env.path("softhsm2.conf");
    fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            token_dir.display()
        ),
    )
    .unwrap();
    let cfg_dir = env.config.join("hwsign");
    fs::create_dir_all(&cfg_dir).unwrap();
    fs::write(
        cfg_dir.join("config.toml"),
        format!(
            "[[token]]\npkcs11_module = \"{MODULE}\"\ntoken_label = \"hwsign-test\"\n{pin_line}\n"
        ),
    )
    .unwrap();
    let mut envs = env.env();
    envs.push((OsString::from("SOFTHSM2_CONF"), conf.into_os_string()));
    for (k, v) in extra_env {
        envs.push((OsString::from(k), v.as_os_str().to_owned()));
    }
    Agent::spawn(&envs, &[], &env.work, &env.path("agent.log"))
}

fn hwsign(env: &TestEnv, agent: &Agent, args: &[&str]) -> std::process::Output {
    run(env
        .command(client_bin())
        .env("HWSIGN_AUTH_SOCK", &agent.sock)
        .args(args))
}

#[test]
fn rejected_pin_is_never_retried_until_the_file_changes() {
    require_file(MODULE, "softhsm2");
    let env = TestEnv::new();
    let good_pin = fs::read_to_string(env.state.join("hwsign/softhsm/user.pin")).unwrap();
    let pin_file = env.path("token.pin");
    fs::write(&pin_file, "000000\n").unwrap();
    let agent = start_config_agent(&env, &pin_file);

    // Listing needs no PIN.
    let out = hwsign(&env, &agent, &["keys", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 3, "{keys}");

    write_file(&env.work, "a.txt", b"release\n");
    let sign = [
        "sign",
        "--key",
        "release-p256",
        "--format",
        "raw",
        "--force",
        "a.txt",
    ];
    let first = hwsign(&env, &agent, &sign);
    assert!(!first.status.success());
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(
        err.contains("rejected the PIN") && err.contains("[pin-wrong]"),
        "{err}"
    );
    assert!(
        err.contains("never retries"),
        "the hint says what to do: {err}"
    );

    let second = hwsign(&env, &agent, &sign);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("rejected before") && err.contains("will not try it again"),
        "{err}"
    );
    let log = agent.log_text();
    assert_eq!(
        log.matches("the token rejected the PIN").count(),
        1,
        "the PIN was tried more than once:\n{log}"
    );

    // The same wrong PIN written again is still not tried.
    fs::write(&pin_file, "000000\n").unwrap();
    assert!(!hwsign(&env, &agent, &sign).status.success());
    assert_eq!(
        agent
            .log_text()
            .matches("the token rejected the PIN")
            .count(),
        1
    );

    // The right PIN: signing works without a restart.
    fs::write(&pin_file, good_pin).unwrap();
    let ok = hwsign(&env, &agent, &sign);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(env.work.join("a.txt.rawsig").is_file());
}

#[test]
fn missing_pin_source_is_a_clear_error() {
    require_file(MODULE, "softhsm2");
    let env = TestEnv::new();
    let agent = start_config_agent(&env, &env.path("does-not-exist.pin"));
    write_file(&env.work, "a.txt", b"release\n");
    let out = hwsign(
        &env,
        &agent,
        &[
            "sign",
            "--key",
            "release-ed25519",
            "--format",
            "sshsig",
            "a.txt",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does-not-exist.pin"), "{err}");
    // The agent still serves.
    assert!(hwsign(&env, &agent, &["keys"]).status.success());
}

#[test]
fn pin_from_a_systemd_credential() {
    require_file(MODULE, "softhsm2");
    let env = TestEnv::new();
    let creds = env.path("credentials");
    fs::create_dir_all(&creds).unwrap();
    fs::copy(
        env.state.join("hwsign/softhsm/user.pin"),
        creds.join("hwsign-pin"),
    )
    .unwrap();
    let agent = start_with_pin_line(
        &env,
        "pin_credential = \"hwsign-pin\"",
        &[("CREDENTIALS_DIRECTORY", &creds)],
    );
    write_file(&env.work, "a.txt", b"release\n");
    let out = hwsign(
        &env,
        &agent,
        &[
            "sign",
            "--key",
            "release-p256",
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
}
