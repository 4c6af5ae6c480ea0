//! `hwsign doctor`: OK / WARN / FAIL findings with their fixes, `--json`, a non-zero exit on
//! FAIL. On the virtual-card rig (its YubiKey reports firmware 5.4.3): the agent, pcscd, the
//! reader and card, the PIN retries and the YSA-2024-03 (EUCLEAK) warning naming the ECDSA
//! slot; a config naming a missing PKCS#11 module; no agent at all; scdaemon holding a card
//! exclusively, named with the fix; a key usable remotely without touch or confirm.

use std::process::Output;
use std::time::{Duration, Instant};

use hwsign_testrig::cards::*;
use hwsign_testrig::peers;
use hwsign_testrig::*;
use serde_json::Value;

/// `hwsign doctor --json` with the rig's pcscd.
fn doctor(rig: &Rig) -> (Output, Vec<Value>) {
    let mut cmd = rig.env.hwsign_cmd(&["doctor", "--json"]);
    cmd.envs(rig.pcscd.env());
    let out = run(&mut cmd);
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json is not JSON ({e})\n{}",
            describe("hwsign doctor --json", &out)
        )
    });
    (out, findings)
}

fn find<'a>(findings: &'a [Value], check: &str, status: &str, needle: &str) -> Option<&'a Value> {
    findings.iter().find(|f| {
        f["check"] == check
            && f["status"] == status
            && f["message"].as_str().is_some_and(|m| m.contains(needle))
    })
}

fn must<'a>(findings: &'a [Value], check: &str, status: &str, needle: &str) -> &'a Value {
    find(findings, check, status, needle).unwrap_or_else(|| {
        panic!(
            "no {status} {check} finding with {needle:?}:\n{}",
            serde_json::to_string_pretty(findings).unwrap()
        )
    })
}

#[test]
fn the_virtual_yubikey_is_checked_and_its_ecdsa_slot_gets_the_eucleak_advisory() {
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let PivAgent { agent: _agent, .. } = piv_9a_agent(&rig, &card, &[], DEFAULT_PIN, "");
    let (out, findings) = doctor(&rig);
    let serial = card.serial.to_string();

    must(&findings, "agent", "ok", "hwsign-agent 0.1.0");
    must(&findings, "pcscd", "ok", "pcscd reachable");
    must(&findings, "reader", "ok", "card present");
    must(&findings, "config", "ok", "is valid");
    must(&findings, "pin", "ok", "3 PIV PIN tries left");
    let eucleak = must(&findings, "advisory", "warn", "YSA-2024-03");
    let message = eucleak["message"].as_str().unwrap();
    assert!(
        message.contains(&serial)
            && message.contains("slot 9a")
            && message.contains("5.4.3")
            && message.contains("ecdsa-p256"),
        "{message}"
    );
    assert!(
        eucleak["fix"].as_str().unwrap().contains("ysa-2024-03"),
        "{eucleak}"
    );
    // No FAIL: exit 0 (WARNs do not fail).
    assert!(
        findings.iter().all(|f| f["status"] != "fail"),
        "{findings:#?}"
    );
    assert!(out.status.success(), "{}", describe("doctor", &out));

    // The text form says the same, one line per finding.
    let mut cmd = rig.env.hwsign_cmd(&["doctor"]);
    cmd.envs(rig.pcscd.env());
    let text = run(&mut cmd);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("WARN advisory") && l.contains("YSA-2024-03")),
        "{text}"
    );
    assert!(text.contains("fix: "), "{text}");
    assert!(text.lines().last().unwrap().ends_with(" 0 FAIL"), "{text}");
}

#[test]
fn no_agent_and_a_missing_module_fail_with_their_fixes() {
    let rig = Rig::new(&[CardKind::Piv]);
    rig.write_config(
        "[[token]]\npkcs11_module = \"/nonexistent/libvendor-pkcs11.so\"\npin_file = \"/nonexistent/pin\"\n",
    );
    // No agent: nothing at HWSIGN_AUTH_SOCK.
    let mut cmd = rig.env.command(client_bin());
    cmd.args(["doctor", "--json"]).envs(rig.pcscd.env());
    let out = run(&mut cmd);
    assert!(!out.status.success(), "doctor exits 0 with FAILs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("check(s) failed"), "{err}");
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let agent = must(&findings, "agent", "fail", "no agent");
    assert!(
        agent["fix"]
            .as_str()
            .unwrap()
            .contains("systemctl --user enable --now hwsign-agent.socket"),
        "{agent}"
    );
    let module = must(
        &findings,
        "pkcs11",
        "fail",
        "/nonexistent/libvendor-pkcs11.so does not exist",
    );
    assert!(
        module["fix"].as_str().unwrap().contains("pkcs11_module"),
        "{module}"
    );
    // The rest still ran.
    must(&findings, "pcscd", "ok", "pcscd reachable");
    must(&findings, "config", "ok", "is valid");
}

#[test]
fn an_invalid_config_and_a_remote_key_without_touch_or_confirm() {
    let env = TestEnv::new();
    peers::write_config(
        &env,
        "[[key]]\nmatch = \"label:release-p256\"\nremote = true\n",
    );
    let _agent = env.start_agent(&[]);
    let out = env.hwsign(&["doctor", "--json"]);
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let remote = must(&findings, "remote", "warn", "release-p256");
    assert!(
        remote["fix"].as_str().unwrap().contains("confirm = true"),
        "{remote}"
    );
    must(&findings, "audit", "ok", "chain intact");
    must(&findings, "token", "ok", "hwsign-test");

    // A typo in the config: FAIL naming the key.
    peers::write_config(&env, "pin_cache_tl = \"1m\"\n");
    let out = env.hwsign(&["doctor", "--json"]);
    assert!(!out.status.success());
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    must(&findings, "config", "fail", "pin_cache_tl");
}

#[test]
fn scdaemon_holding_a_card_exclusively_is_named_with_the_fix() {
    let rig = Rig::new(&[CardKind::OpenPgp]);
    let _card = rig.pcscd.start_card(0);
    let gpg = GpgCardHome::new(&rig.env.dir.path().join("g"), &rig.pcscd, true);
    // scdaemon (no pcsc-shared) takes the card and keeps it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run(gpg
            .command("gpg")
            .args(["--batch", "--no-tty", "--card-status"]));
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "scdaemon never got the card\n{}",
            describe("gpg --card-status", &out)
        );
        run(gpg.command("gpgconf").args(["--kill", "all"]));
        std::thread::sleep(Duration::from_secs(1));
    }
    let (out, findings) = doctor(&rig);
    assert!(!out.status.success());
    let held = must(&findings, "card", "fail", "scdaemon (pid ");
    assert!(
        held["fix"].as_str().unwrap().contains("pcsc-shared"),
        "{held}"
    );
    run_ok(gpg.command("gpgconf").args(["--kill", "scdaemon"]));
}

#[test]
fn openpgp_card_pin_retries_are_read_and_a_used_try_is_a_warning() {
    let rig = Rig::new(&[CardKind::OpenPgp]);
    let card = rig.pcscd.start_card(0);
    let name = format!("OpenPGP card {}", card.openpgp_ident());
    let (_, findings) = doctor(&rig);
    must(
        &findings,
        "pin",
        "ok",
        &format!("{name}: 3 user PIN (PW1) tries left"),
    );
    // One wrong PIN (VERIFY PW1 with 999999): 2 left.
    rig.pcscd.send_apdus(
        &card.reader,
        &[
            "00:A4:04:00:06:D2:76:00:01:24:01",
            "00:20:00:81:06:39:39:39:39:39:39",
        ],
    );
    assert_eq!(openpgp_pw1_tries(&rig.pcscd, &card), 2);
    let (_, findings) = doctor(&rig);
    let warn = must(
        &findings,
        "pin",
        "warn",
        &format!("{name}: 2 user PIN (PW1) tries left"),
    );
    assert!(warn["fix"].as_str().unwrap().contains("PIN"), "{warn}");
}
