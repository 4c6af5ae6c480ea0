//! Touch and hot-plug: the virtual card holds a touch-gated signature until the test touches
//! it (or answers 6982 after its timeout, as a YubiKey does); a card pulled while a signature
//! waits fails that request only; a card inserted while the agent runs is found.

use std::time::{Duration, Instant};

use crate::openpgp::{generate_openpgp_key, openpgp_rig_with};
use hwsign_testrig::cards::*;
use hwsign_testrig::*;

/// The card's touch wait in the timeout tests.
const SHORT_TOUCH: Duration = Duration::from_secs(3);
/// The card's touch wait when the test removes the card during it.
const LONG_TOUCH: Duration = Duration::from_secs(90);

fn raw_args(label: &str, file: &str) -> Vec<String> {
    ["sign", "--key", label, "--format", "raw", "--force", file]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Signs `file` with a touch, verifies with openssl.
fn touched_signature_verifies(
    env: &TestEnv,
    card: &mut VirtualCard,
    label: &str,
    alg: &Alg,
    file: &str,
) {
    let data = write_random(&env.work, file, RAW_DATA_LEN, 0x70c4 + file.len() as u64);
    let args = raw_args(label, file);
    let out = run_with_touch(env, card, &as_strs(&args));
    assert!(
        out.status.success(),
        "signature with a touch failed\n{}",
        describe("hwsign sign", &out)
    );
    raw_signature_verifies(env, label, alg, &data);
}

/// Signs without a touch: the card gives up after its wait, the client says so.
fn untouched_signature_times_out(env: &TestEnv, card: &VirtualCard, label: &str) {
    write_random(&env.work, "untouched.bin", RAW_DATA_LEN, 0xdead);
    let args = raw_args(label, "untouched.bin");
    let started = Instant::now();
    let out = env.hwsign(&as_strs(&args));
    let elapsed = started.elapsed();
    let err = stderr_of(&out);
    assert!(!out.status.success(), "signed without a touch: {err}");
    assert!(err.contains("touch timed out"), "{err}");
    assert!(
        elapsed >= card.touch_timeout,
        "failed after {elapsed:?}, before the card's touch wait of {:?}: {err}",
        card.touch_timeout
    );
    assert!(
        elapsed < card.touch_timeout + Duration::from_secs(60),
        "took {elapsed:?} for a touch wait of {:?}",
        card.touch_timeout
    );
    assert!(
        !env.path("untouched.bin.rawsig").exists(),
        "a signature file was written"
    );
    assert!(card.waiting_for_touch().is_none(), "the card still waits");
}

#[test]
fn piv_touch_given_signs_and_touch_not_given_times_out() {
    let rig = Rig::new(&[CardKind::Piv]);
    let mut card = rig.pcscd.card(0).touch_timeout(SHORT_TOUCH);
    card.start();
    let PivAgent {
        agent: _agent,
        label,
        ..
    } = piv_9a_agent(
        &rig,
        &card,
        &["--pin-policy=once", "--touch-policy=always"],
        DEFAULT_PIN,
        "",
    );
    let env = &rig.env;
    let key = wait_for_key(env, &label, KEY_WAIT);
    assert_eq!(key["touch_policy"], "always", "{key}");
    assert_eq!(key["pin_policy"], "once", "{key}");

    touched_signature_verifies(env, &mut card, &label, &P256, "touched.bin");
    untouched_signature_times_out(env, &card, &label);
    // A missed touch is not a broken card.
    touched_signature_verifies(env, &mut card, &label, &P256, "touched-again.bin");
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

#[test]
fn openpgp_uif_touch_given_signs_and_touch_not_given_times_out() {
    let (rig, mut card, _pin) = openpgp_rig_with(|card| card.touch_timeout(SHORT_TOUCH));
    let _agent = rig.start_agent();
    let env = &rig.env;
    let label = openpgp_label(&card);
    generate_openpgp_key(env, &card, "ed25519");

    // UIF on (what `ykman openpgp keys set-touch sig on` does): the agent reports it.
    openpgp_set_uif_sig(&rig.pcscd, &card);
    let deadline = Instant::now() + KEY_WAIT;
    loop {
        let key = wait_for_key(env, &label, KEY_WAIT);
        if key["touch_policy"] == "always" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "UIF is on but the key's touch policy is {}",
            key["touch_policy"]
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    touched_signature_verifies(env, &mut card, &label, &ED25519, "touched.bin");
    untouched_signature_times_out(env, &card, &label);
    touched_signature_verifies(env, &mut card, &label, &ED25519, "touched-again.bin");
    assert_eq!(openpgp_pw1_tries(&rig.pcscd, &card), 3);
}

/// Pull the card while the agent waits for the card's answer (the touch): that request fails
/// naming the card, the agent keeps serving, and the card works again once it is back.
fn removal_mid_signature(
    rig: &Rig,
    agent: &mut Agent,
    card: &mut VirtualCard,
    label: &str,
    alg: &Alg,
    names: &str,
) {
    let env = &rig.env;
    write_random(&env.work, "pulled.bin", RAW_DATA_LEN, 0x9011);
    let args = raw_args(label, "pulled.bin");
    let out = run_and_remove_card(env, card, &as_strs(&args));
    let err = stderr_of(&out);
    assert!(
        !out.status.success(),
        "signed although the card was removed: {err}"
    );
    eprintln!("request cut off by the card's removal: {err}");
    // The error itself (the `Touch the token …` notice before it names the card too).
    let error: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("hwsign:"))
        .collect();
    assert!(!error.is_empty(), "no `hwsign:` error line: {err}");
    assert!(
        error.join("\n").contains(names),
        "the error does not name the card ({names}): {err}"
    );
    assert!(
        !env.path("pulled.bin.rawsig").exists(),
        "a signature file was written"
    );

    // The agent keeps serving: listing, status, the other token's keys.
    assert!(agent.is_running(), "the agent died with the card");
    wait_until_unlisted(env, label, KEY_WAIT);
    status_text(env);
    sshsig_verifies(env, "release-ed25519", "softhsm.txt");

    // Re-inserted: found again and signs, same agent.
    card.start();
    wait_for_key(env, label, KEY_WAIT);
    touched_signature_verifies(env, card, label, alg, "back.bin");
    assert!(agent.is_running());
}

#[test]
fn piv_card_removed_mid_signature_fails_that_request_only() {
    let rig = Rig::new(&[CardKind::Piv]);
    let mut card = rig.pcscd.card(0).touch_timeout(LONG_TOUCH);
    card.start();
    let PivAgent {
        mut agent, label, ..
    } = piv_9a_agent(&rig, &card, &["--touch-policy=always"], DEFAULT_PIN, "");
    let serial = card.serial.to_string();
    removal_mid_signature(&rig, &mut agent, &mut card, &label, &P256, &serial);
}

#[test]
fn openpgp_card_removed_mid_signature_fails_that_request_only() {
    let (rig, mut card, _pin) = openpgp_rig_with(|card| card.touch_timeout(LONG_TOUCH));
    let mut agent = rig.start_agent();
    let label = openpgp_label(&card);
    generate_openpgp_key(&rig.env, &card, "ed25519");
    openpgp_set_uif_sig(&rig.pcscd, &card);
    let ident = card.openpgp_ident();
    removal_mid_signature(&rig, &mut agent, &mut card, &label, &ED25519, &ident);
}

#[test]
fn a_card_inserted_while_the_agent_runs_appears_without_a_restart() {
    let rig = Rig::new(&[CardKind::Piv, CardKind::Piv]);
    // Card 1 gets its key first, then is taken out (its state file keeps the key).
    let mut second = rig.pcscd.start_card(1);
    piv_generate(&rig.pcscd, &second, "9a", "ECCP256", &[]);
    second.stop();
    let first = rig.pcscd.start_card(0);
    piv_generate(&rig.pcscd, &first, "9a", "ECCP256", &[]);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}{}",
        piv_card_toml(first.serial, &pin, false),
        piv_card_toml(second.serial, &pin, false)
    ));
    let mut agent = rig.start_agent();
    let env = &rig.env;
    let (l1, l2) = (piv_label(&first, "9a"), piv_label(&second, "9a"));
    wait_for_key(env, &l1, KEY_WAIT);
    assert!(listed(env, &l2).is_none(), "card 1 is not inserted yet");

    second.start();
    let key = wait_for_key(env, &l2, KEY_WAIT);
    assert_card_key(&key, "piv", &format!("piv:{}/9a", second.serial), &P256);
    listed_every_time(env, &l1, 2);
    raw_verifies(env, &l2, &P256, "second.bin");
    raw_verifies(env, &l1, &P256, "first.bin");
    assert!(agent.is_running(), "the same agent all along");
}
