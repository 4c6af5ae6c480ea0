//! YubiKey PIV over PC/SC (backend `piv`): listing, signing in every format, the card's PIN
//! state kept between requests, and `hwsign keys generate --piv`.

use std::fs;
use std::time::Duration;

use hwsign_testrig::cards::*;
use hwsign_testrig::*;

#[test]
fn piv_keys_are_listed_and_sign_every_format() {
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let p256 = piv_generate(&rig.pcscd, &card, "9a", "ECCP256", &[]);
    piv_import_certificate(&rig.pcscd, &card, "9a", &p256);
    let p384 = piv_generate(&rig.pcscd, &card, "83", "ECCP384", &[]);
    let rsa = piv_generate(&rig.pcscd, &card, "82", "RSA2048", &[]);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}",
        piv_card_toml(card.serial, &pin, false)
    ));
    let agent = rig.start_agent();
    let env = &rig.env;

    let label = piv_label(&card, "9a");
    wait_for_key(env, &label, KEY_WAIT);
    // Found once, the card stays found: listing again must not lose (or reset) it.
    let key = listed_every_time(env, &label, 4);
    assert_card_key(&key, "piv", &format!("piv:{}/9a", card.serial), &P256);
    assert_eq!(key["id"], spki_id(&p256).as_str(), "key id of 9a: {key}");
    assert_eq!(key["pin_policy"], "once", "9a's PIN policy: {key}");
    assert_eq!(key["touch_policy"], "never", "9a's touch policy: {key}");
    for (slot, pem, alg) in [("83", &p384, &P384), ("82", &rsa, &RSA2048)] {
        let k = listed(env, &piv_label(&card, slot))
            .unwrap_or_else(|| panic!("slot {slot} not listed: {:?}", env.keys_json()));
        assert_card_key(&k, "piv", &format!("piv:{}/{slot}", card.serial), alg);
        assert_eq!(k["id"], spki_id(pem).as_str(), "key id of {slot}: {k}");
    }
    // One entry per PIV key, no more.
    let keys = env.keys_json();
    assert_eq!(
        keys.iter().filter(|k| k["backend"] == "piv").count(),
        3,
        "{keys:?}"
    );

    sshsig_verifies(env, &label, "p256.txt");
    raw_verifies(env, &label, &P256, "p256.bin");
    dsse_verifies(env, &label, &P256);
    ssh_agent_signature_verifies(env, &agent, &label);

    let l384 = piv_label(&card, "83");
    sshsig_verifies(env, &l384, "p384.txt");
    raw_verifies(env, &l384, &P384, "p384.bin");
    ssh_agent_signature_verifies(env, &agent, &l384);

    let lrsa = piv_label(&card, "82");
    sshsig_verifies(env, &lrsa, "rsa.txt");
    raw_verifies(env, &lrsa, &RSA2048, "rsa.bin");
    dsse_verifies(env, &lrsa, &RSA2048);

    // The right PIN was used, never a wrong one.
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

/// The agent keeps its shared connection and never resets the card between requests, so a
/// PIN the card verified once (PIN policy `once`) still counts for the next request: with no
/// PIN cache in the agent and the PIN file gone, the second signature still works.
#[test]
fn piv_pin_verified_once_counts_for_the_next_request() {
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let PivAgent {
        agent: _agent,
        label,
        pin,
        ..
    } = piv_9a_agent(
        &rig,
        &card,
        &["--pin-policy=once"],
        DEFAULT_PIN,
        "pin_cache_ttl = \"0\"\n",
    );
    let env = &rig.env;

    raw_verifies(env, &label, &P256, "first.bin");
    fs::remove_file(&pin).unwrap();
    // No PIN anywhere now: only the card's own PIN state can let this through.
    raw_verifies(env, &label, &P256, "second.bin");
    sshsig_verifies(env, &label, "third.txt");
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

#[test]
fn piv_generate_makes_the_key_with_its_policies_and_a_self_signed_certificate() {
    require_python_module("cryptography");
    let rig = Rig::new(&[CardKind::Piv]);
    let mut card = rig.pcscd.start_card(0);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}",
        piv_card_toml(card.serial, &pin, false)
    ));
    let _agent = rig.start_agent();
    let env = &rig.env;
    let serial = card.serial.to_string();

    env.hwsign_ok(&[
        "keys",
        "generate",
        "--piv",
        "--serial",
        &serial,
        "--slot",
        "9c",
        "--alg",
        "p256",
        "--pin-policy",
        "once",
        "--touch-policy",
        "never",
    ]);
    let label = piv_label(&card, "9c");
    let key = wait_for_key(env, &label, KEY_WAIT);
    assert_card_key(&key, "piv", &format!("piv:{serial}/9c"), &P256);
    assert_eq!(key["pin_policy"], "once", "{key}");
    assert_eq!(key["touch_policy"], "never", "{key}");

    // The certificate in 9c holds the key and is signed by it.
    let out = run_ok(rig.pcscd.command("yubico-piv-tool").args([
        "-r",
        card.reader.as_str(),
        "-a",
        "read-certificate",
        "-s",
        "9c",
    ]));
    let cert = env.path("9c.crt");
    fs::write(&cert, &out.stdout).unwrap();
    let cert_text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(cert_text.contains("BEGIN CERTIFICATE"), "{cert_text}");
    let pem = export(env, &label, "pem", "9c.pem");
    let cert_pub = run_ok(
        env.command("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(&cert),
    );
    assert_eq!(
        pem_to_der(&String::from_utf8_lossy(&cert_pub.stdout), "PUBLIC KEY"),
        pem_to_der(&fs::read_to_string(&pem).unwrap(), "PUBLIC KEY"),
        "the certificate in 9c is not for the generated key"
    );
    let check = run(env
        .command(python())
        .arg("-c")
        .arg(SELF_SIGNED_PY)
        .arg(&cert));
    assert!(
        check.status.success(),
        "{}",
        describe("self-signed certificate check", &check)
    );

    // The new key signs (PIN from the card's pin_file).
    sshsig_verifies(env, &label, "generated.txt");
    raw_verifies(env, &label, &P256, "generated.bin");

    // Other policies, as asked. With a touch policy the card wants a touch for the signature
    // that makes the self-signed certificate, as a YubiKey does.
    for (slot, pin_policy, touch_policy) in [("9d", "always", "cached"), ("9e", "never", "always")]
    {
        let out = run_with_touch(
            env,
            &mut card,
            &[
                "keys",
                "generate",
                "--piv",
                "--serial",
                &serial,
                "--slot",
                slot,
                "--alg",
                "p256",
                "--pin-policy",
                pin_policy,
                "--touch-policy",
                touch_policy,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("hwsign keys generate --slot {slot}"), &out)
        );
        let key = wait_for_key(env, &piv_label(&card, slot), KEY_WAIT);
        assert_eq!(key["pin_policy"], pin_policy, "{key}");
        assert_eq!(key["touch_policy"], touch_policy, "{key}");
    }
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

/// Self-signed: issuer = subject and the signature verifies with the certificate's own key.
const SELF_SIGNED_PY: &str = "\
import sys
from cryptography import x509
cert = x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())
assert cert.issuer == cert.subject, (cert.issuer, cert.subject)
cert.verify_directly_issued_by(cert)
";

#[test]
fn piv_generate_uses_the_configured_management_key() {
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    let serial = card.serial.to_string();
    let generate = [
        "keys",
        "generate",
        "--piv",
        "--serial",
        serial.as_str(),
        "--slot",
        "9a",
        "--alg",
        "p256",
        "--pin-policy",
        "once",
        "--touch-policy",
        "never",
    ];
    let config = |mgm: &std::path::Path| {
        format!(
            "pcsc = true\n{}management_key_file = \"{}\"\n",
            piv_card_toml(card.serial, &pin, false),
            mgm.display()
        )
    };

    // A wrong management key: refused, nothing generated.
    let wrong = rig.secret_file(
        "wrong.mgm",
        "0102030405060708010203040506070801020304050607AA",
    );
    rig.write_config(&config(wrong.as_path()));
    let agent = rig.start_agent();
    let err = rig.env.hwsign_err(&generate);
    eprintln!("generation with a wrong management key: {err}");
    assert!(
        err.to_lowercase().contains("management key"),
        "the error names the management key: {err}"
    );
    assert!(
        listed(&rig.env, &piv_label(&card, "9a")).is_none(),
        "a key appeared although generation failed"
    );
    stop_agent(agent);

    // The card's (default) key in the file: generated.
    let right = rig.secret_file("right.mgm", DEFAULT_MGM_KEY);
    rig.write_config(&config(right.as_path()));
    let _agent = rig.start_agent();
    rig.env.hwsign_ok(&generate);
    let key = wait_for_key(&rig.env, &piv_label(&card, "9a"), Duration::from_secs(60));
    assert_card_key(&key, "piv", &format!("piv:{serial}/9a"), &P256);
}

/// A YubiKey with firmware before 5.3 has no GET METADATA (the virtual card answers 6D00 as
/// such a key does): the key is found by its slot certificate, and its PIN and touch policy
/// come from the `[[card]]` table; the touch the card then asks for is announced and given.
#[test]
fn piv_without_metadata_takes_the_policies_from_the_config() {
    let rig = Rig::new(&[CardKind::Piv]);
    let mut card = rig.pcscd.card(0);
    card.extra_args = vec!["--version".into(), "5.2.7".into()];
    card.start();
    let pem = piv_generate(
        &rig.pcscd,
        &card,
        "9c",
        "ECCP256",
        &["--pin-policy=always", "--touch-policy=always"],
    );
    piv_import_certificate(&rig.pcscd, &card, "9c", &pem);
    // A key without a certificate cannot be found on such firmware.
    piv_generate(&rig.pcscd, &card, "9d", "ECCP256", &[]);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}pin_policy = \"always\"\ntouch_policy = \"always\"\n",
        piv_card_toml(card.serial, &pin, false)
    ));
    let _agent = rig.start_agent();
    let env = &rig.env;
    let label = piv_label(&card, "9c");
    let key = wait_for_key(env, &label, KEY_WAIT);
    assert_card_key(&key, "piv", &format!("piv:{}/9c", card.serial), &P256);
    assert_eq!(key["id"], spki_id(&pem), "{key}");
    assert_eq!(key["touch_policy"], "always", "from the config: {key}");
    // Without a word from the config, a key without metadata reads `once` (the default).
    assert_eq!(key["pin_policy"], "always", "from the config: {key}");
    assert!(
        listed(env, &piv_label(&card, "9d")).is_none(),
        "a key without certificate or metadata was listed"
    );

    let data = write_random(&env.work, "old.bin", RAW_DATA_LEN, 0x0527);
    let out = run_with_touch(
        env,
        &mut card,
        &["sign", "--key", &label, "--format", "raw", "old.bin"],
    );
    assert!(
        out.status.success(),
        "signature with a touch failed\n{}",
        describe("hwsign sign", &out)
    );
    let err = stderr_of(&out);
    assert!(
        err.contains("Touch the token"),
        "the client did not announce the touch the config says the key needs: {err}"
    );
    raw_signature_verifies(env, &label, &P256, &data);
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

/// Another program selects another of the YubiKey's applets between two requests (ykman
/// selects the management applet; gpg the OpenPGP applet): the card then answers PIV commands
/// with 6D00 and has dropped PIV's PIN state. The agent selects PIV again and goes on: the key
/// stays listed and signs, with the PIN verified again from its file.
#[test]
fn piv_is_selected_again_after_another_applet_was_used() {
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let PivAgent {
        agent: _agent,
        label,
        ..
    } = piv_9a_agent(&rig, &card, &["--pin-policy=once"], DEFAULT_PIN, "");
    let env = &rig.env;
    raw_verifies(env, &label, &P256, "before.bin");

    // The management applet (A000000527471117), as ykman selects it.
    send_apdus(
        &rig.pcscd,
        &card.reader,
        &["00:A4:04:00:08:A0:00:00:05:27:47:11:17"],
    );
    assert!(
        card.log_text().contains("another YubiKey applet"),
        "the card did not switch applets:\n{}",
        card.log_text()
    );
    listed_every_time(env, &label, 2);
    raw_verifies(env, &label, &P256, "after.bin");
    sshsig_verifies(env, &label, "after.txt");
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

/// A key replaced in its slot by another program after the agent listed it: the signature
/// the client asked for (by the old key) is refused with what happened, nothing is written,
/// and the next command picks the new key and signs.
#[test]
fn a_key_replaced_in_its_slot_is_never_signed_for_by_its_old_listing() {
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let PivAgent {
        agent: _agent,
        label,
        id: old_id,
        ..
    } = piv_9a_agent(&rig, &card, &[], DEFAULT_PIN, "");
    let env = &rig.env;
    assert_eq!(listed(env, &label).unwrap()["id"], old_id);
    raw_verifies(env, &label, &P256, "old.bin");

    // Another program makes a new key in 9a (yubico-piv-tool also resets the card when done).
    let new_id = spki_id(&piv_generate(&rig.pcscd, &card, "9a", "ECCP256", &[]));
    assert_ne!(new_id, old_id);
    write_random(&env.work, "replaced.bin", RAW_DATA_LEN, 0x9a9a);
    let out = env.hwsign(&["sign", "--key", &label, "--format", "raw", "replaced.bin"]);
    if out.status.success() {
        // Picked from a fresh listing: it must be the new key's signature.
        assert_eq!(listed(env, &label).unwrap()["id"], new_id);
        raw_signature_verifies(env, &label, &P256, &env.path("replaced.bin"));
    } else {
        let err = stderr_of(&out);
        eprintln!("signing with the replaced key: {err}");
        assert!(
            err.contains("no longer on YubiKey") && err.contains("hwsign keys"),
            "{err}"
        );
        assert!(!env.path("replaced.bin.rawsig").exists(), "{err}");
    }
    // The next command has the new key.
    let key = wait_for_key(env, &label, KEY_WAIT);
    assert_eq!(key["id"], new_id, "{key}");
    raw_verifies(env, &label, &P256, "new.bin");
    assert_eq!(piv_pin_tries(&rig.pcscd, &card), 3);
}

/// A second agent on the same card replaces the key in 9a without resetting the card (shared
/// connections both): the first agent still lists the old key, and the card's slot now signs
/// with the new one. The first agent checks the card's signature against the key it was asked
/// for and returns nothing; the next command picks the new key from a fresh listing.
#[test]
fn a_signature_by_another_key_than_listed_is_never_returned() {
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let PivAgent {
        agent: _agent,
        label,
        id: old_id,
        pin,
    } = piv_9a_agent(&rig, &card, &[], DEFAULT_PIN, "");
    let env = &rig.env;
    raw_verifies(env, &label, &P256, "old.bin");

    // The second agent: its own directories, the same pcscd and card.
    let other = TestEnv::new();
    let dir = other.config.join("hwsign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.toml"),
        format!("pcsc = true\n{}", piv_card_toml(card.serial, &pin, false)),
    )
    .unwrap();
    let mut envs = other.env();
    envs.extend(rig.pcscd.env());
    let _other_agent = Agent::spawn(
        &envs,
        &[std::ffi::OsString::from("--softhsm")],
        &other.work,
        &other.dir.path().join("agent.log"),
    );
    wait_for_key(&other, &label, KEY_WAIT);
    let serial = card.serial.to_string();
    other.hwsign_ok(&[
        "keys", "generate", "--piv", "--serial", &serial, "--slot", "9a", "--alg", "p256",
    ]);
    let new_id = wait_for_key(&other, &label, KEY_WAIT)["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_id, old_id);

    // The first agent's recent listing still has the old key: the card attests the new one,
    // and no attestation is written for the old key.
    let out = env.hwsign(&["keys", "attest", &label, "-o", "swapped.attestation.pem"]);
    let err = stderr_of(&out);
    assert!(!out.status.success(), "attested another key than listed");
    assert!(
        err.contains(&format!(
            "the token's attestation is for key {new_id}, not key {old_id}"
        )),
        "{err}"
    );
    assert!(!env.path("swapped.attestation.pem").exists());

    // The card signs with the new one.
    write_random(&env.work, "swapped.bin", RAW_DATA_LEN, 0x5a5a);
    let out = env.hwsign(&["sign", "--key", &label, "--format", "raw", "swapped.bin"]);
    let err = stderr_of(&out);
    eprintln!("signing after the swap: {err}");
    assert!(!out.status.success(), "signed by a key other than listed");
    assert!(
        err.contains("does not verify with key") && err.contains("[unknown-key]"),
        "{err}"
    );
    assert!(!env.path("swapped.bin.rawsig").exists());
    let audit = fs::read_to_string(env.state.join("hwsign/audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .last()
            .is_some_and(|l| l.contains("\"failed\"")),
        "the audit log's last record is not a failure:\n{audit}"
    );

    // The next command lists afresh and signs with the new key.
    raw_verifies(env, &label, &P256, "new.bin");
    assert_eq!(listed(env, &label).unwrap()["id"], new_id);
}
