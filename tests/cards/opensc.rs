//! The same virtual cards through OpenSC's PKCS#11 module (Debian `opensc-pkcs11`), the path
//! for cards hwsign does not speak directly: the agent's PKCS#11 backend lists the keys
//! (the ids the PC/SC backends give), signs, and verifies with openssl and ssh-keygen; a PIV
//! key with CKA_ALWAYS_AUTHENTICATE (slot 9c) gets its context-specific login, with the same
//! PIN safety as the session's (a wrong PIN from pinentry costs one try, never two); an OpenPGP
//! card whose PIN counts for one signature (PW1 status C4 = 00: OpenSC closes the sessions
//! after each) signs again and again; a card pulled out and put back works again without an
//! agent restart. Every client of the rig's pcscd gets the rig's own `OPENSC_CONF`.

use std::path::Path;

use serde_json::Value;

use crate::openpgp::{generate_openpgp_key, openpgp_rig};
use hwsign_testrig::cards::*;
use hwsign_testrig::peers::{jsonl, pinentry_wrapper, toml_str};
use hwsign_testrig::*;

/// Debian's `opensc-pkcs11` (`dpkg -L opensc-pkcs11`).
const OPENSC_PKCS11: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
/// OpenSC's token of a PIV card is named after the CN of its first certificate
/// ([`piv_import_certificate`] writes `/CN=hwsign card test/`).
const PIV_TOKEN: &str = "hwsign card test";
/// OpenSC shows an OpenPGP card as two tokens; the signature key is on this one.
const OPENPGP_SIG_TOKEN: &str = "OpenPGP card (User PIN (sig))";

/// PC/SC backends off, one `[[token]]`: OpenSC's module, the token by label, a PIN file.
fn opensc_config(token_label: &str, pin_file: &Path) -> String {
    format!(
        "pcsc = false\n[[token]]\npkcs11_module = \"{OPENSC_PKCS11}\"\ntoken_label = \"{token_label}\"\npin_file = \"{}\"\n",
        pin_file.display()
    )
}

/// The one key with `id`, listed by the PKCS#11 backend with `alg`.
fn opensc_key(env: &TestEnv, id: &str, alg: &Alg) -> Value {
    let found = wait_for_id(env, id, KEY_WAIT);
    assert_eq!(found.len(), 1, "{found:?}");
    let key = found[0].clone();
    assert_eq!(key["backend"], "pkcs11", "{key}");
    assert_eq!(key["algorithm"], alg.json, "{key}");
    key
}

/// The label `hwsign keys` gives the key `id` now.
fn label_of(env: &TestEnv, id: &str) -> String {
    let keys = env.keys_json();
    let key = keys
        .iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("key {id} is not listed: {keys:?}"));
    key["label"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_virtual_yubikey_signs_through_opensc() {
    require_file(OPENSC_PKCS11, "opensc-pkcs11");
    let rig = Rig::new(&[CardKind::Piv]);
    let (card, pem_9a) = piv_card_with_certificate(&rig);
    // 9c, the digital-signature slot: OpenSC marks its key CKA_ALWAYS_AUTHENTICATE.
    let pem_9c = piv_generate(&rig.pcscd, &card, "9c", "ECCP256", &[]);
    piv_import_certificate(&rig.pcscd, &card, "9c", &pem_9c);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&opensc_config(PIV_TOKEN, &pin));
    let _agent = rig.start_agent();
    let env = &rig.env;

    let (id_9a, id_9c) = (spki_id(&pem_9a), spki_id(&pem_9c));
    let key = opensc_key(env, &id_9a, &P256);
    assert_eq!(key["token_label"], PIV_TOKEN, "{key}");
    opensc_key(env, &id_9c, &P256);
    let labels_before = (label_of(env, &id_9a), label_of(env, &id_9c));

    let (by_9a, by_9c) = (format!("id:{id_9a}"), format!("id:{id_9c}"));
    raw_verifies(env, &by_9a, &P256, "opensc-9a.bin");
    sshsig_verifies(env, &by_9a, "opensc-9a.txt");
    // Always-authenticate: each signature gets its own context-specific login.
    raw_verifies(env, &by_9c, &P256, "opensc-9c.bin");
    raw_verifies(env, &by_9c, &P256, "opensc-9c-again.bin");

    // A key's label does not change when the agent logs in (OpenSC names the private half
    // "PIV AUTH key", the public one "PIV AUTH pubkey"): the agent is logged in now.
    let status: Value = serde_json::from_str(&env.hwsign_ok(&["status", "--json"])).unwrap();
    assert!(
        status["tokens"].as_array().is_some_and(|ts| ts
            .iter()
            .any(|t| t["label"] == PIV_TOKEN && t["logged_in"] == true)),
        "the OpenSC token is not logged in after the signatures: {status}"
    );
    assert_eq!(
        (label_of(env, &id_9a), label_of(env, &id_9c)),
        labels_before,
        "labels changed after the login"
    );
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

#[test]
fn an_openpgp_card_signs_through_opensc_and_comes_back_after_removal() {
    require_file(OPENSC_PKCS11, "opensc-pkcs11");
    let (rig, mut card, pin) = openpgp_rig();
    // The key is made by hwsign over PC/SC (OpenSC 0.23's openpgp-tool cannot make EC keys
    // and leaves RSA keys without the fingerprint OpenSC needs to list them).
    let agent = rig.start_agent();
    let made = generate_openpgp_key(&rig.env, &card, "ed25519");
    let id = made["id"].as_str().expect("key id").to_string();
    stop_agent(agent);

    rig.write_config(&opensc_config(OPENPGP_SIG_TOKEN, &pin));
    let mut agent = rig.start_agent();
    let env = &rig.env;
    let key = opensc_key(env, &id, &ED25519);
    assert_eq!(key["token_label"], OPENPGP_SIG_TOKEN, "{key}");
    let by_id = format!("id:{id}");
    // The card's PIN counts for one signature (C4 = 00): OpenSC ends the sessions after
    // each, the agent logs in again from the PIN file.
    raw_verifies(env, &by_id, &ED25519, "opensc-1.bin");
    raw_verifies(env, &by_id, &ED25519, "opensc-2.bin");
    sshsig_verifies(env, &by_id, "opensc.txt");

    // Pulled out: a clear error, the agent keeps serving, the key leaves the listing.
    let label = label_of(env, &id);
    card.stop();
    write_file(&env.work, "gone.txt", b"the card is out\n");
    let out = env.hwsign(&["sign", "--key", &by_id, "--format", "sshsig", "gone.txt"]);
    assert!(!out.status.success(), "signed with the card removed");
    let err = stderr_of(&out);
    eprintln!("signing with the card removed: {err}");
    assert!(
        err.contains("not present") || err.contains("[token-absent]"),
        "the error does not say the card is gone: {err}"
    );
    assert!(agent.is_running(), "the agent died with the card");
    sshsig_verifies(env, "release-ed25519", "softhsm.txt");
    wait_until_unlisted(env, &label, KEY_WAIT);

    // Put back: listed again, and the same agent signs with it (the backend lists the
    // module's slots again after losing its session, which makes OpenSC look at the reader).
    card.start();
    wait_for_id(env, &id, KEY_WAIT);
    raw_verifies(env, &by_id, &ED25519, "opensc-back.bin");
    assert!(agent.is_running());
    assert_eq!(openpgp_pw1_tries(&rig.pcscd, &card), 3);
}

/// The PIN of an always-authenticate key (PIV 9c through OpenSC) comes from pinentry for every
/// signature; a wrong one there is reported with the card's counter down by one, and never
/// tried again: the same wrong answer is refused without reaching the card.
#[test]
fn a_wrong_pin_for_an_always_authenticate_key_is_never_retried() {
    require_file(OPENSC_PKCS11, "opensc-pkcs11");
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let pem = piv_generate(&rig.pcscd, &card, "9c", "ECCP256", &[]);
    piv_import_certificate(&rig.pcscd, &card, "9c", &pem);
    let env = &rig.env;
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    let wrapper = pinentry_wrapper(env);
    rig.write_config(&format!(
        "pcsc = false\npinentry = {}\n[[token]]\npkcs11_module = \"{OPENSC_PKCS11}\"\ntoken_label = \"{PIV_TOKEN}\"\n",
        toml_str(&wrapper)
    ));
    let (mode, log) = (env.path("pinentry.mode"), env.path("pinentry.log"));
    let set = |answer: &str| std::fs::write(&mode, format!("{answer}\n")).unwrap();
    set("pin");
    let _agent = rig.start_agent_with(&[
        ("FAKE_PINENTRY_MODE_FILE", &mode),
        ("FAKE_PINENTRY_PIN_FILE", &pin),
        ("FAKE_PINENTRY_LOG", &log),
    ]);
    let id = spki_id(&pem);
    opensc_key(env, &id, &P256);
    let by_id = format!("id:{id}");
    // The session's login and the key's own login: both from pinentry.
    raw_verifies(env, &by_id, &P256, "first.bin");
    let asked = || jsonl(&log).len();
    let after_first = asked();
    assert!(
        after_first >= 2,
        "pinentry ran {after_first} times for the first signature"
    );

    // The session stays logged in; the key's login gets a wrong PIN.
    set("wrong");
    write_random(&env.work, "wrong.bin", RAW_DATA_LEN, 0x0bad);
    let err = env.hwsign_err(&["sign", "--key", &by_id, "--format", "raw", "wrong.bin"]);
    assert!(err.contains("rejected the PIN"), "{err}");
    assert!(err.contains("[pin-wrong]"), "{err}");
    assert_eq!(asked(), after_first + 1, "one dialog for the key's login");
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 2, "one try spent");

    // The same wrong answer again: refused by the agent, the card's counter untouched.
    let err = env.hwsign_err(&["sign", "--key", &by_id, "--format", "raw", "wrong.bin"]);
    assert!(err.contains("will not try it again"), "{err}");
    assert_eq!(
        piv_pin_tries(&rig.pcscd, &card),
        2,
        "the wrong PIN was tried again"
    );

    // The right PIN: signs, and the card's counter is full again.
    set("pin");
    raw_verifies(env, &by_id, &P256, "right.bin");
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}
