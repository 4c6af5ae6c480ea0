//! PIN safety on cards: a wrong PIN is reported with the card's retries left and is never tried
//! again until the PIN file changes (the card's own retry counter, read with the card's tools,
//! proves the agent did not touch it); with one try left the agent refuses, even the right PIN,
//! unless `force_last_pin_try = true`.

use std::fs;
use std::path::Path;

use crate::openpgp::{generate_openpgp_key, openpgp_rig};
use hwsign_testrig::cards::*;
use hwsign_testrig::*;

fn write_pin(path: &Path, pin: &str) {
    fs::write(path, format!("{pin}\n")).unwrap();
}

/// The error reports the card's retry counter: `… (2 tries left)`.
fn assert_tries_left(err: &str, n: u32) {
    assert!(
        [
            format!("{n} tries left"),
            format!("{n} try left"),
            format!("tries left: {n}"),
        ]
        .iter()
        .any(|t| err.contains(t.as_str())),
        "the error does not report the card's {n} tries left: {err}"
    );
}

/// Walks a card from 3 tries to 1 with wrong PINs and checks what the agent says and does;
/// `tries` reads the card's counter with the card's own tool.
fn wrong_pins_then_last_try_refused(
    env: &TestEnv,
    label: &str,
    pin: &Path,
    tries: &dyn Fn() -> u32,
) {
    let sign = [
        "sign", "--key", label, "--format", "raw", "--force", "a.bin",
    ];
    write_random(&env.work, "a.bin", RAW_DATA_LEN, 7);
    assert_eq!(tries(), 3, "a fresh card has 3 tries");

    write_pin(pin, "000000");
    let err = env.hwsign_err(&sign);
    assert!(err.contains("[pin-wrong]"), "{err}");
    assert_tries_left(&err, 2);
    assert_eq!(tries(), 2, "one wrong PIN, one try spent");

    // The same PIN again: refused by the agent, the card is not asked.
    let err = env.hwsign_err(&sign);
    assert!(err.contains("[pin-wrong]"), "{err}");
    assert!(err.contains("rejected before"), "{err}");
    assert_eq!(tries(), 2, "the rejected PIN was tried again");
    // Written again, unchanged: still not tried.
    write_pin(pin, "000000");
    let err = env.hwsign_err(&sign);
    assert!(err.contains("rejected before"), "{err}");
    assert_eq!(tries(), 2, "the rejected PIN was tried again");

    // Another wrong PIN is a new PIN: tried once.
    write_pin(pin, "000001");
    let err = env.hwsign_err(&sign);
    assert!(err.contains("[pin-wrong]"), "{err}");
    assert_tries_left(&err, 1);
    assert_eq!(tries(), 1);

    // One try left: not spent, not even with the right PIN.
    write_pin(pin, DEFAULT_PIN);
    let err = env.hwsign_err(&sign);
    assert!(err.contains("[pin-wrong]"), "{err}");
    assert!(err.contains("only one PIN try left"), "{err}");
    assert!(
        err.contains("force_last_pin_try"),
        "the message says how to spend it: {err}"
    );
    assert_eq!(tries(), 1, "the last try was spent");
    assert!(
        !env.path("a.bin.rawsig").exists(),
        "a signature was written"
    );
}

#[test]
fn piv_wrong_pin_is_reported_and_never_retried_and_the_last_try_is_kept() {
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let PivAgent {
        agent, label, pin, ..
    } = piv_9a_agent(&rig, &card, &[], "000000", "");
    wrong_pins_then_last_try_refused(&rig.env, &label, &pin, &|| piv_pin_tries(&rig.pcscd, &card));
    // The agent still serves.
    wait_for_key(&rig.env, &label, KEY_WAIT);
    stop_agent(agent);

    // Forced: the right PIN spends the last try, signs, and the counter is full again.
    rig.write_config(&format!(
        "pcsc = true\n{}",
        piv_card_toml(card.serial, &pin, true)
    ));
    let _agent = rig.start_agent();
    wait_for_key(&rig.env, &label, KEY_WAIT);
    raw_verifies(&rig.env, &label, &P256, "forced.bin");
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

#[test]
fn openpgp_wrong_pin_is_reported_and_never_retried_and_the_last_try_is_kept() {
    let (rig, card, pin) = openpgp_rig();
    let agent = rig.start_agent();
    let label = openpgp_label(&card);
    // Key generation uses the admin PIN (PW3), which is right; PW1 is wrong from here on.
    write_pin(&pin, "000000");
    generate_openpgp_key(&rig.env, &card, "ed25519");
    wrong_pins_then_last_try_refused(&rig.env, &label, &pin, &|| {
        openpgp_pw1_tries(&rig.pcscd, &card)
    });
    wait_for_key(&rig.env, &label, KEY_WAIT);
    stop_agent(agent);

    let admin = rig.env.dir.path().join("pw3.pin");
    rig.write_config(&format!(
        "pcsc = true\n{}",
        openpgp_card_toml(&card.openpgp_ident(), &pin, &admin, true)
    ));
    let _agent = rig.start_agent();
    wait_for_key(&rig.env, &label, KEY_WAIT);
    raw_verifies(&rig.env, &label, &ED25519, "forced.bin");
    assert_eq!(openpgp_pw1_tries(&rig.pcscd, &card), 3);
}
