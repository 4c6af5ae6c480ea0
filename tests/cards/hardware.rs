//! Real cards, opt-in: what the virtual cards cannot show (a YubiKey's own firmware, its
//! physical touch, a real OpenPGP card). These tests are ignored unless asked for, and then
//! use the machine's pcscd and the card the variables name; they never generate or delete keys
//! and never spend a PIN try beyond the one signature needs (a wrong PIN file fails once, as
//! hwsign never retries). Touch the card when it blinks.
//!
//! ```sh
//! HWSIGN_TEST_YUBIKEY_SERIAL=12345678 HWSIGN_TEST_YUBIKEY_SLOT=9c \
//! HWSIGN_TEST_PIN_FILE=~/piv.pin cargo nextest run --test cards --run-ignored only yubikey
//! HWSIGN_TEST_OPENPGP_IDENT=0006:12345678 HWSIGN_TEST_PIN_FILE=~/pw1.pin \
//!   cargo nextest run --test cards --run-ignored only openpgp_card
//! ```

use std::ffi::OsString;
use std::path::PathBuf;

use hwsign_testrig::cards::*;
use hwsign_testrig::*;

/// The machine's pcscd (Debian's default socket).
const SYSTEM_PCSCD: &str = "/run/pcscd/pcscd.comm";

/// A variable the test needs; its absence fails the test with what to set.
fn needed(name: &str, example: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("this test needs a real card: set {name} (e.g. {name}={example}); see tests/cards/hardware.rs")
    })
}

/// The PIN file (`HWSIGN_TEST_PIN_FILE`), checked to exist.
fn pin_file() -> PathBuf {
    let path = PathBuf::from(needed("HWSIGN_TEST_PIN_FILE", "~/card.pin"));
    assert!(
        path.is_file(),
        "HWSIGN_TEST_PIN_FILE {} is not a file",
        path.display()
    );
    path
}

/// A TestEnv whose agent reaches the machine's pcscd, with `cards` as its `[[card]]` tables.
fn hardware_agent(cards: &str) -> (TestEnv, Agent) {
    let env = TestEnv::new();
    let dir = env.config.join("hwsign");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), format!("pcsc = true\n{cards}")).unwrap();
    let mut envs = env.env();
    // HWSIGN_TEST_PCSCD: another pcscd socket (a card on another pcscd, or a rehearsal of
    // these tests on a virtual card).
    let pcscd = std::env::var_os("HWSIGN_TEST_PCSCD").unwrap_or_else(|| SYSTEM_PCSCD.into());
    envs.push((OsString::from("PCSCLITE_CSOCK_NAME"), pcscd));
    let agent = Agent::spawn(&envs, &[], &env.work, &env.dir.path().join("agent.log"));
    (env, agent)
}

/// The key's algorithm as the verifiers call it.
fn alg_of(key: &serde_json::Value) -> &'static Alg {
    match key["algorithm"].as_str().unwrap_or_default() {
        "ecdsa-p256" => &P256,
        "ecdsa-p384" => &P384,
        "ed25519" => &ED25519,
        "rsa-2048" => &RSA2048,
        other => panic!("no verifier set-up for a {other} key in this test"),
    }
}

#[test]
#[ignore = "needs a real YubiKey: HWSIGN_TEST_YUBIKEY_SERIAL, HWSIGN_TEST_PIN_FILE (see tests/cards/hardware.rs)"]
fn real_yubikey_piv_signs_every_format() {
    let serial: u32 = needed("HWSIGN_TEST_YUBIKEY_SERIAL", "12345678")
        .parse()
        .expect("HWSIGN_TEST_YUBIKEY_SERIAL is a number");
    let slot = std::env::var("HWSIGN_TEST_YUBIKEY_SLOT").unwrap_or_else(|_| "9c".into());
    let pin = pin_file();
    let (env, _agent) = hardware_agent(&format!(
        "[[card]]\nserial = {serial}\npin_file = \"{}\"\n",
        pin.display()
    ));
    let label = format!("piv-{serial}-{slot}");
    let key = wait_for_key(&env, &label, KEY_WAIT);
    eprintln!("{label}: {key}\n(touch the YubiKey when it blinks)");
    assert_card_key(&key, "piv", &format!("piv:{serial}/{slot}"), alg_of(&key));
    let alg = alg_of(&key);
    sshsig_verifies(&env, &label, "hw-piv.txt");
    raw_verifies(&env, &label, alg, "hw-piv.bin");
    dsse_verifies(&env, &label, alg);
}

#[test]
#[ignore = "needs a real OpenPGP card: HWSIGN_TEST_OPENPGP_IDENT, HWSIGN_TEST_PIN_FILE (see tests/cards/hardware.rs)"]
fn real_openpgp_card_signs_every_format() {
    let ident = needed("HWSIGN_TEST_OPENPGP_IDENT", "0006:12345678");
    let pin = pin_file();
    let (env, _agent) = hardware_agent(&format!(
        "[[card]]\nident = \"{ident}\"\npin_file = \"{}\"\n",
        pin.display()
    ));
    let label = format!("openpgp-sig-{ident}");
    let key = wait_for_key(&env, &label, KEY_WAIT);
    eprintln!("{label}: {key}\n(touch the card when it asks, if its UIF is on)");
    let alg = alg_of(&key);
    sshsig_verifies(&env, &label, "hw-openpgp.txt");
    raw_verifies(&env, &label, alg, "hw-openpgp.bin");
    dsse_verifies(&env, &label, alg);
}
