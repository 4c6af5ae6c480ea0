//! Simulated touch and confirm on the SoftHSM test token: `hwsign touch` gives a pending touch
//! (seen in `hwsign status --json`), a missed touch is a `touch-timeout` error after
//! touch_timeout, `cached` needs no touch within touch_cache_window and one after it, a second
//! request for the same token while a touch is pending is refused, the notify command gets
//! the message, the confirm command can give the touch (or decline it); the client's
//! `Touch the token … on <host>` line, locally and through the forwarded socket, is pinned.
//! (The confirm prompts are in confirm_prompt.rs.)

use std::fs;
use std::time::{Duration, Instant};

use hwsign_testrig::peers::*;
use hwsign_testrig::*;
use sha2::{Digest, Sha512};

const KEY: &str = "release-ed25519";

/// A [[key]] rule giving release-ed25519 a simulated touch policy.
fn touch_rule(policy: &str) -> String {
    format!("[[key]]\nmatch = \"label:{KEY}\"\ntouch = \"{policy}\"\nremote = true\n")
}

/// What the agent says an SSHSIG (namespace file) of `data` is.
fn sshsig_what(data: &[u8]) -> String {
    let digest = hex(&Sha512::digest(data));
    format!(
        "an SSH signature (namespace file, sha512 {}…)",
        &digest[..12]
    )
}

fn sshsig(file: &str) -> [&str; 6] {
    ["sign", "--key", KEY, "--format", "sshsig", file]
}

fn count(agent: &Agent, needle: &str) -> usize {
    agent.log_text().matches(needle).count()
}

#[test]
fn touch_always_is_given_by_hwsign_touch_and_the_notify_command_is_told() {
    let env = TestEnv::new();
    write_config(
        &env,
        &format!(
            "touch_timeout = \"60s\"\n{}{}",
            notify_setting(&env),
            touch_rule("always")
        ),
    );
    let agent = env.start_agent(&[]);
    let data = b"release\n";
    write_file(&env.work, "a.txt", data);
    let what = sshsig_what(data);

    // Nothing to touch yet.
    let err = assert_err(&env.hwsign(&["touch"]));
    assert!(err.contains("no signature is waiting for a touch"), "{err}");

    let mut sign = Background::spawn(&env, &env.default_sock(), &sshsig("a.txt"), "sign");
    let p = wait_for_pending_touch(&env);
    assert_eq!(p["token"], "hwsign-test", "{p}");
    assert_eq!(p["key"], KEY, "{p}");
    assert_eq!(p["what"], what.as_str(), "{p}");
    wait_until("`touch needed` in the agent log", || {
        agent.log_text().contains("touch needed")
    });
    assert!(
        !env.work.join("a.txt.sig").exists(),
        "signed before the touch"
    );

    // The forwarded socket cannot give the touch.
    let err = assert_err(&client(&env, &extra_sock(&env), &["touch"]));
    assert!(
        err.contains("[policy-refused]") && err.contains("only for the agent's own machine"),
        "{err}"
    );

    let out = env.hwsign_ok(&["touch", "--wait", "60s"]);
    assert_eq!(
        out,
        format!("touched token hwsign-test for key {KEY}: {what}\n")
    );
    let signed = sign.wait();
    assert_ok(&signed);
    assert!(pending_touches(&env).is_empty());

    let allowed = env.allowed_signers_for(KEY, "release@example.org");
    let v = env.ssh_verify(
        &allowed,
        "release@example.org",
        "file",
        &env.path("a.txt"),
        &env.path("a.txt.sig"),
    );
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));

    let expected = format!(
        "Touch the token hwsign-test on {} to sign {what} with {KEY}",
        host()
    );
    let log = env.path("notify.log");
    wait_until("the notify command's message", || {
        read_text(&log).lines().any(|l| l == expected)
    });
    assert_eq!(read_text(&log).lines().count(), 1);
}

#[test]
fn a_missed_touch_times_out_and_nothing_is_written() {
    let env = TestEnv::new();
    let timeout = Duration::from_secs(2);
    write_config(
        &env,
        &format!(
            "touch_timeout = \"2s\"\n{}{}",
            notify_setting(&env),
            touch_rule("always")
        ),
    );
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "a.txt", b"release\n");

    let start = Instant::now();
    let out = env.hwsign(&sshsig("a.txt"));
    let elapsed = start.elapsed();
    let err = assert_err(&out);
    assert!(
        err.contains("touch timed out") && err.contains("[touch-timeout]"),
        "{err}"
    );
    assert!(
        elapsed >= timeout,
        "gave up after {elapsed:?}, before touch_timeout"
    );
    assert!(
        elapsed < timeout + Duration::from_secs(20),
        "took {elapsed:?}"
    );
    assert!(!env.work.join("a.txt.sig").exists());
    assert!(
        pending_touches(&env).is_empty(),
        "the pending touch was not cleared"
    );
    // The user was told, even though nobody touched.
    let log = env.path("notify.log");
    wait_until("the notify command's message", || {
        read_text(&log).contains("Touch the token hwsign-test on ")
    });
}

#[test]
fn cached_touch_counts_within_the_window() {
    let env = TestEnv::new();
    write_config(
        &env,
        &format!(
            "touch_timeout = \"20s\"\ntouch_cache_window = \"60s\"\n{}",
            touch_rule("cached")
        ),
    );
    let agent = env.start_agent(&[]);
    write_file(&env.work, "a.txt", b"one\n");
    write_file(&env.work, "b.txt", b"two\n");
    assert_eq!(
        status(&env, &env.default_sock())["touch_cache_window_s"],
        60
    );

    let first = with_touch(&env, &env.default_sock(), &sshsig("a.txt"));
    assert!(
        stderr_of(&first).contains("(unless it was touched in the last 60 s)"),
        "{}",
        stderr_of(&first)
    );
    assert_eq!(count(&agent, "touch needed"), 1);
    // Within the window: no touch (nobody gives one; it would time out after 20 s).
    let second = env.hwsign(&sshsig("b.txt"));
    assert_ok(&second);
    assert_eq!(count(&agent, "touch needed"), 1, "{}", agent.log_text());
    assert!(env.work.join("b.txt.sig").is_file());
}

#[test]
fn cached_touch_is_needed_again_after_the_window() {
    let env = TestEnv::new();
    write_config(
        &env,
        &format!(
            "touch_timeout = \"60s\"\ntouch_cache_window = \"1s\"\n{}",
            touch_rule("cached")
        ),
    );
    let agent = env.start_agent(&[]);
    write_file(&env.work, "a.txt", b"one\n");
    write_file(&env.work, "b.txt", b"two\n");
    with_touch(&env, &env.default_sock(), &sshsig("a.txt"));
    // The touch was counted before the first command returned.
    let touched = Instant::now();
    wait_until("the 1 s window to pass", || {
        touched.elapsed() >= Duration::from_millis(1500)
    });

    let mut sign = Background::spawn(&env, &env.default_sock(), &sshsig("b.txt"), "sign");
    let p = wait_for_pending_touch(&env);
    assert_eq!(p["what"], sshsig_what(b"two\n").as_str());
    env.hwsign_ok(&["touch", "--wait", "60s"]);
    assert_ok(&sign.wait());
    assert_eq!(count(&agent, "touch needed"), 2);
}

#[test]
fn a_second_request_while_a_touch_is_pending_is_refused() {
    let env = TestEnv::new();
    write_config(
        &env,
        &format!("touch_timeout = \"60s\"\n{}", touch_rule("always")),
    );
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "a.txt", b"one\n");
    write_file(&env.work, "b.txt", b"two\n");
    let mut first = Background::spawn(&env, &env.default_sock(), &sshsig("a.txt"), "sign");
    wait_for_pending_touch(&env);

    let err = assert_err(&env.hwsign(&sshsig("b.txt")));
    assert!(
        err.contains("[policy-refused]") && err.contains("already waiting for a touch"),
        "{err}"
    );
    assert!(!env.work.join("b.txt.sig").exists());
    // A key without a touch policy on the same token is not held up.
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "sshsig",
        "b.txt",
    ]);
    assert_eq!(pending_touches(&env).len(), 1);

    env.hwsign_ok(&["touch", "--wait", "60s"]);
    assert_ok(&first.wait());
    assert!(env.work.join("a.txt.sig").is_file());
}

#[test]
fn the_confirm_command_can_give_the_touch() {
    let env = TestEnv::new();
    write_config(
        &env,
        &format!(
            "touch_timeout = \"60s\"\n{}{}",
            confirm_setting(&env),
            touch_rule("always")
        ),
    );
    let _agent = env.start_agent(&[]);
    let data = b"release\n";
    write_file(&env.work, "a.txt", data);
    env.hwsign_ok(&sshsig("a.txt"));
    let records = jsonl(&env.path("confirm.log"));
    assert_eq!(records.len(), 1);
    let expected = format!(
        "Touch the token hwsign-test on {} to sign {} with {KEY}?",
        host(),
        sshsig_what(data)
    );
    assert_eq!(records[0]["prompt"], expected.as_str());
    assert_eq!(records[0]["askpass_prompt"], "confirm");

    fs::write(env.path("confirm.mode"), "deny\n").unwrap();
    let err = env.hwsign_err(&[
        "sign", "--key", KEY, "--format", "sshsig", "--force", "a.txt",
    ]);
    assert!(
        err.contains("declined") && err.contains("[denied]"),
        "{err}"
    );
}

#[test]
fn the_client_says_which_token_to_touch_on_which_host_locally_and_remotely() {
    let env = TestEnv::new();
    write_config(
        &env,
        &format!("touch_timeout = \"60s\"\n{}", touch_rule("always")),
    );
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "a.txt", b"release\n");
    for f in ["a", "b", "c", "d", "e"] {
        write_file(&env.work, f, format!("{f}\n").as_bytes());
    }
    let main = env.default_sock();
    let mut local = String::new();
    for format in ["sshsig", "raw", "openpgp"] {
        let out = with_touch(
            &env,
            &main,
            &["sign", "--key", KEY, "--format", format, "a.txt"],
        );
        local.push_str(&touch_lines(&stderr_of(&out)));
    }
    assert_snapshot("touch_line_local", &mask(&local));

    // A remote client (the forwarded socket) learns the policy and the agent's host from the
    // agent; the touch is given on the agent's machine.
    let extra = extra_sock(&env);
    let st = status(&env, &extra);
    assert_eq!(st["socket"], "extra");
    assert_eq!(st["host"], host().as_str());
    let mut remote = String::new();
    let out = with_touch(
        &env,
        &extra,
        &[
            "attest", "--key", KEY, "--purl", PURL, "-o", "rel.json", "a", "b", "c", "d", "e",
        ],
    );
    remote.push_str(&touch_lines(&stderr_of(&out)));
    let out = with_touch(
        &env,
        &extra,
        &[
            "sign", "--key", KEY, "--format", "sshsig", "--force", "a.txt",
        ],
    );
    remote.push_str(&touch_lines(&stderr_of(&out)));
    assert!(
        remote.contains(&format!(" on {} to sign ", host())),
        "{remote}"
    );
    assert_snapshot("touch_line_remote", &mask(&remote));
}
