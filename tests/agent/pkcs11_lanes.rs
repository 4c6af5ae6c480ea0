//! A SoftHSM token (a fixed slot) signs in sessions beside its worker: many signatures at once
//! are all made there and all good, and `hwsign lock` stops the lanes with the worker (the
//! next signature logs in again first).

use std::ffi::OsString;

use hwsign_testrig::*;

#[test]
fn a_softhsm_token_signs_in_lanes_and_a_lock_stops_them() {
    let env = TestEnv::new();
    let mut envs = env.env();
    envs.retain(|(k, _)| k != "HWSIGN_LOG");
    envs.push((
        OsString::from("HWSIGN_LOG"),
        OsString::from("info,hwsign::token::pkcs11_lanes=debug"),
    ));
    let agent = Agent::spawn(
        &envs,
        &[OsString::from("--softhsm")],
        &env.work,
        &env.path("agent.log"),
    );
    let files: Vec<String> = (0..24).map(|i| format!("f{i:02}.txt")).collect();
    for f in &files {
        write_file(&env.work, f, f.as_bytes());
    }
    let sign = |names: &[String]| {
        let mut args = vec![
            "sign",
            "--key",
            "release-p256",
            "--format",
            "sshsig",
            "--force",
        ];
        args.extend(names.iter().map(String::as_str));
        env.hwsign_ok(&args);
    };
    sign(&files);
    for f in &files {
        assert!(env.path(&format!("{f}.sig")).exists(), "{f}.sig");
    }
    let log = agent.log_text();
    let in_lanes = log.matches("signed in a lane").count();
    assert!(in_lanes > 0, "no signature was made in a lane:\n{log}");
    assert_eq!(log.matches("logged in; PIN cached").count(), 1, "{log}");

    env.hwsign_ok(&["lock"]);
    sign(&files[..8]);
    let log = agent.log_text();
    let after_lock = &log[log
        .find("logged out; the PIN is no longer cached")
        .expect(&log)..];
    let login = after_lock
        .find("logged in; PIN cached")
        .unwrap_or_else(|| panic!("no login after the lock:\n{log}"));
    assert!(
        !after_lock[..login].contains("signed in a lane"),
        "a lane signed between the lock and the next login:\n{log}"
    );
}
