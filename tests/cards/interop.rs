//! Other programs on the same cards: ykcs11 (PKCS#11) reaching the virtual YubiKey, the key
//! listed once when both ykcs11 and the PC/SC backend reach it; gpg's scdaemon with
//! `pcsc-shared` taking turns with hwsign; scdaemon holding a card exclusively, named with the
//! fix.

use std::fs;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::openpgp::{export_cert, generate_openpgp_key, gpg_fingerprint, openpgp_rig};
use hwsign_testrig::cards::*;
use hwsign_testrig::*;

/// Debian's `ykcs11` (`dpkg -L ykcs11`).
const YKCS11: &str = "/usr/lib/x86_64-linux-gnu/libykcs11.so";

fn ykcs11_toml(pin_file: &std::path::Path) -> String {
    format!(
        "[[token]]\npkcs11_module = \"{YKCS11}\"\npin_file = \"{}\"\n",
        pin_file.display()
    )
}

#[test]
fn the_virtual_yubikey_signs_through_ykcs11() {
    require_file(YKCS11, "ykcs11");
    let rig = Rig::new(&[CardKind::Piv]);
    let (card, pem) = piv_card_with_certificate(&rig);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    // PKCS#11 only: the PC/SC backends are off.
    rig.write_config(&format!("pcsc = false\n{}", ykcs11_toml(&pin)));
    let _agent = rig.start_agent();
    let env = &rig.env;

    let id = spki_id(&pem);
    let found = wait_for_id(env, &id, KEY_WAIT);
    assert_eq!(found.len(), 1, "{found:?}");
    let key = &found[0];
    assert_eq!(key["backend"], "pkcs11", "{key}");
    assert_eq!(key["algorithm"], P256.json, "{key}");
    let token = key["token_label"].as_str().unwrap_or_default();
    assert!(
        token.contains("YubiKey PIV") && token.contains(&card.serial.to_string()),
        "ykcs11 names the token `YubiKey PIV #<serial>`: {key}"
    );
    assert!(
        env.keys_json().iter().all(|k| k["backend"] != "piv"),
        "pcsc = false, yet the PC/SC backend listed keys"
    );

    let by_id = format!("id:{id}");
    raw_verifies(env, &by_id, &P256, "ykcs11.bin");
    sshsig_verifies(env, &by_id, "ykcs11.txt");
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

#[test]
fn a_key_reachable_through_pcsc_and_ykcs11_is_listed_once() {
    require_file(YKCS11, "ykcs11");
    let rig = Rig::new(&[CardKind::Piv]);
    let (card, pem) = piv_card_with_certificate(&rig);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}{}",
        piv_card_toml(card.serial, &pin, false),
        ykcs11_toml(&pin)
    ));
    let _agent = rig.start_agent();
    let env = &rig.env;
    let label = piv_label(&card, "9a");
    wait_for_key(env, &label, KEY_WAIT);

    // Both paths are loaded: ykcs11's token is one of the agent's tokens.
    let status: Value = serde_json::from_str(&env.hwsign_ok(&["status", "--json"])).unwrap();
    let serial = card.serial.to_string();
    assert!(
        status["tokens"]
            .as_array()
            .is_some_and(|ts| ts.iter().any(|t| {
                t["backend"] == "pkcs11" && t["label"].as_str().is_some_and(|l| l.contains(&serial))
            })),
        "ykcs11's token is not loaded: {status}"
    );

    let id = spki_id(&pem);
    for _ in 0..3 {
        let keys = env.keys_json();
        let same: Vec<&Value> = keys.iter().filter(|k| k["id"] == id).collect();
        assert_eq!(
            same.len(),
            1,
            "the key is listed {} times: {same:?}",
            same.len()
        );
        assert_eq!(
            same[0]["backend"], "piv",
            "the PC/SC backend wins: {}",
            same[0]
        );
        assert_eq!(same[0]["label"], label.as_str());
    }
    let text = env.hwsign_ok(&["keys"]);
    assert_eq!(
        text.lines().filter(|l| l.contains(&id[..16])).count(),
        1,
        "`hwsign keys` shows the key more than once:\n{text}"
    );
    raw_verifies(env, &format!("id:{id}"), &P256, "once.bin");
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

/// `gpg --card-status --with-colons` through the private scdaemon; asserts success.
fn gpg_card_status(gpg: &GpgCardHome) -> String {
    let out: Output =
        run(gpg
            .command("gpg")
            .args(["--batch", "--no-tty", "--with-colons", "--card-status"]));
    assert!(
        out.status.success(),
        "{}\n---- scdaemon ----\n{}",
        describe("gpg --card-status", &out),
        gpg.scdaemon_log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `gpg --card-status` until it succeeds (then scdaemon holds the card). Right after the agent
/// let go, the card may still be reset or powered down once (pcscd's idle power-off), in the
/// middle of scdaemon's first session ("pcsc_transmit failed: proto mismatch"); a fresh
/// gpg-agent and scdaemon then get the card.
fn scdaemon_takes_the_card(gpg: &GpgCardHome) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out =
            run(gpg
                .command("gpg")
                .args(["--batch", "--no-tty", "--with-colons", "--card-status"]));
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "scdaemon never got the card\n{}\n---- scdaemon ----\n{}",
            describe("gpg --card-status", &out),
            gpg.scdaemon_log()
        );
        eprintln!(
            "gpg --card-status failed, restarting gpg-agent and scdaemon and trying again\n{}",
            describe("gpg --card-status", &out)
        );
        run(gpg.command("gpgconf").args(["--kill", "all"]));
        std::thread::sleep(Duration::from_secs(1));
        run_ok(gpg.command("gpgconf").args(["--launch", "gpg-agent"]));
    }
}

#[test]
fn gpg_and_hwsign_take_turns_on_one_openpgp_card() {
    let (rig, card, _pin) = openpgp_rig();
    let _agent = rig.start_agent();
    let env = &rig.env;
    let label = openpgp_label(&card);
    generate_openpgp_key(env, &card, "ed25519");
    let cert = export_cert(env, &label, "card.asc");
    let verify_home = env.dir.path().join("gv");
    fs::create_dir_all(&verify_home).unwrap();
    set_mode(&verify_home, 0o700);
    let fpr = gpg_fingerprint(&verify_home, &cert);

    let gpg = GpgCardHome::new(&env.dir.path().join("g"), &rig.pcscd, false);
    let serial_line = format!("serial:{:08X}:", card.serial);
    for round in 1..=2 {
        let status = gpg_card_status(&gpg);
        assert!(status.contains(&serial_line), "round {round}: {status}");
        // gpg sees the signature key hwsign generated.
        assert!(
            status
                .lines()
                .any(|l| l.starts_with(&format!("fpr:{fpr}:"))),
            "round {round}: gpg does not show the signature key {fpr}:\n{status}"
        );
        sshsig_verifies(env, &label, &format!("round-{round}.txt"));
    }
    gpg_card_status(&gpg);
    sshsig_verifies(env, &label, "last.txt");
    assert_eq!(openpgp_pw1_tries(&rig.pcscd, &card), 3);
}

#[test]
fn scdaemon_holding_the_card_exclusively_is_named_with_the_fix() {
    let (rig, card, _pin) = openpgp_rig();
    let agent = rig.start_agent();
    let label = openpgp_label(&card);
    generate_openpgp_key(&rig.env, &card, "ed25519");
    // The agent lets go of the card; scdaemon (no pcsc-shared) takes it and keeps it.
    stop_agent(agent);
    let gpg = GpgCardHome::new(&rig.env.dir.path().join("g"), &rig.pcscd, true);
    scdaemon_takes_the_card(&gpg);

    let _agent = rig.start_agent();
    let env = &rig.env;
    write_file(&env.work, "held.txt", b"the card is held by scdaemon\n");
    let out = env.hwsign(&["sign", "--key", &label, "--format", "sshsig", "held.txt"]);
    assert!(
        !out.status.success(),
        "signed with a card scdaemon holds exclusively"
    );
    eprintln!("signing error:\n{}", stderr_of(&out));
    // The signing error itself names the holder and the fix, and so does `hwsign status`.
    for (what, said) in [
        ("the signing error", stderr_of(&out)),
        ("`hwsign status`", status_text(env)),
    ] {
        assert!(
            said.contains("scdaemon (pid "),
            "{what} does not name scdaemon:\n{said}"
        );
        assert!(
            said.contains("pcsc-shared") && said.contains("gpgconf --kill scdaemon"),
            "{what} does not give the fix (pcsc-shared in scdaemon.conf, or gpgconf --kill scdaemon):\n{said}"
        );
    }

    // The fix works without restarting the agent.
    run_ok(gpg.command("gpgconf").args(["--kill", "scdaemon"]));
    wait_for_key(env, &label, KEY_WAIT);
    sshsig_verifies(env, &label, "released.txt");
}
