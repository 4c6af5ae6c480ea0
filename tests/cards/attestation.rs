//! PIV attestation end to end: the virtual YubiKey answers ATTEST with its test CA (written by
//! `hwsign-vcard --attestation-root`), `hwsign keys attest` and `--emit-verifier-material` write
//! the attestation, and `hwsign verify` requires it (`attestation = "yubico-piv"`) with the
//! test root added to the policy.

use std::fs;

use hwsign_testrig::cards::*;
use hwsign_testrig::*;

const ROOT: &str = "vcard-attestation-root.pem";

fn policy(signer: &str, roots: bool) -> String {
    let roots = if roots {
        format!("attestation_roots = [\"{ROOT}\"]\n\n")
    } else {
        String::new()
    };
    format!(
        "{roots}[[signer]]\nname = \"yk\"\n{signer}\n\
         [[rule]]\nartifacts = [\"*.txt\"]\nsigners = [\"yk\"]\n"
    )
}

#[test]
fn piv_attestation_is_written_and_required_by_the_trust_policy() {
    let rig = Rig::new(&[CardKind::Piv]);
    let env = &rig.env;
    let root = env.path(ROOT);
    let mut card = rig
        .pcscd
        .card(0)
        .args(&[format!("--attestation-root={}", root.display())]);
    card.start();
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}",
        piv_card_toml(card.serial, &pin, false)
    ));
    let _agent = rig.start_agent();
    let serial = card.serial.to_string();
    let generate = |slot: &str, touch: &str| {
        [
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
            "once",
            "--touch-policy",
            touch,
        ]
        .map(str::to_string)
    };
    let args = generate("9a", "always");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_with_touch(env, &mut card, &args);
    assert!(out.status.success(), "{}", describe("generate 9a", &out));
    let label = piv_label(&card, "9a");
    wait_for_key(env, &label, KEY_WAIT);

    // `hwsign keys attest`: the slot's certificate, then the device's; OpenSSL agrees that
    // the first chains through the second to the card's test root.
    env.hwsign_ok(&["keys", "attest", &label, "-o", "9a.attestation.pem"]);
    let text = fs::read_to_string(env.path("9a.attestation.pem")).unwrap();
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2, "{text}");
    let att = env.path("9a.attestation.pem");
    let ok = run(env
        .command("openssl")
        .args(["verify", "-CAfile"])
        .arg(&root)
        .arg("-untrusted")
        .arg(&att)
        .arg(&att));
    assert!(ok.status.success(), "{}", describe("openssl verify", &ok));

    // A release with the verifier material: the attestation is among it.
    write_file(&env.work, "a.txt", b"attested release\n");
    let out = run_with_touch(
        env,
        &mut card,
        &[
            "attest",
            "--key",
            &label,
            "--purl",
            PURL,
            "-o",
            "rel.intoto.json",
            "--emit-verifier-material",
            "a.txt",
        ],
    );
    assert!(out.status.success(), "{}", describe("hwsign attest", &out));
    let base = format!("hwsign-{label}");
    let material = fs::read_to_string(env.path(&format!("{base}.attestation.pem"))).unwrap();
    assert_eq!(material.matches("BEGIN CERTIFICATE").count(), 2);
    let entry = fs::read_to_string(env.path(&format!("{base}.policy.toml"))).unwrap();
    assert!(entry.contains("# attestation = \"yubico-piv\""), "{entry}");

    let verify = [
        "verify",
        "--policy",
        "policy.toml",
        "--envelope",
        "rel.intoto.json",
        "a.txt",
    ];
    let key_file = format!("key_file = \"{base}.pub\"\nattestation = \"yubico-piv\"\n");
    let write = |text: &str| fs::write(env.path("policy.toml"), text).unwrap();

    // Required, with the test root and the key's policies: verified, and reported.
    write(&policy(
        &format!("{key_file}touch_policy = \"always\"\npin_policy = [\"once\", \"always\"]\n"),
        true,
    ));
    let out = env.hwsign_ok(&verify);
    assert!(
        out.contains(&format!(
            "attested yk: YubiKey serial {serial}, firmware 5.4.3, USB-C keychain, slot 9a, touch always, PIN once (chain to CN=hwsign-vcard Test Attestation Root)"
        )),
        "{out}"
    );
    assert!(out.contains("OK   a.txt"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&env.hwsign_ok(&[&verify[..], &["--json"]].concat())).unwrap();
    assert_eq!(json["attestations"][0]["serial"], card.serial, "{json}");
    assert_eq!(json["attestations"][0]["touch_policy"], "always", "{json}");

    // Another touch policy required: refused, saying what the key has.
    write(&policy(
        &format!("{key_file}touch_policy = \"never\"\n"),
        true,
    ));
    let err = env.hwsign_err(&verify);
    assert!(
        err.contains("the key's touch policy is always; the trust policy requires never"),
        "{err}"
    );

    // The attestation of another key (9c, on the same card): refused.
    let args = generate("9c", "never");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.hwsign_ok(&args);
    let other = piv_label(&card, "9c");
    wait_for_key(env, &other, KEY_WAIT);
    env.hwsign_ok(&["keys", "attest", &other, "-o", "9c.attestation.pem"]);
    write(&policy(
        &format!("{key_file}attestation_file = \"9c.attestation.pem\"\n"),
        true,
    ));
    let err = env.hwsign_err(&verify);
    assert!(err.contains("the attestation is for key "), "{err}");

    // Without the test root: only Yubico's roots are trusted.
    write(&policy(&key_file, false));
    let err = env.hwsign_err(&verify);
    assert!(
        err.contains("is issued by CN=hwsign-vcard Test Attestation Root, which is not a trusted attestation root"),
        "{err}"
    );
}
