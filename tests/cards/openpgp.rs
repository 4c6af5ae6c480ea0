//! OpenPGP cards over PC/SC (backend `openpgp-card`): `hwsign keys generate --openpgp-card`
//! and signing with the card's signature key.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use hwsign_testrig::cards::*;
use hwsign_testrig::*;

const USERID: &str = "Card Signer <card@hwsign.test>";

/// An OpenPGP card in reader 0 and an agent with its PIN files (default PINs).
pub fn openpgp_rig() -> (Rig, VirtualCard, PathBuf) {
    openpgp_rig_with(|card| card)
}

/// [`openpgp_rig`] with the card set up by `setup` before it starts (a touch timeout).
pub fn openpgp_rig_with(
    setup: impl FnOnce(VirtualCard) -> VirtualCard,
) -> (Rig, VirtualCard, PathBuf) {
    let rig = Rig::new(&[CardKind::OpenPgp]);
    let mut card = setup(rig.pcscd.card(0));
    card.start();
    let pin = rig.secret_file("pw1.pin", DEFAULT_PIN);
    let admin = rig.secret_file("pw3.pin", DEFAULT_ADMIN_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}",
        openpgp_card_toml(&card.openpgp_ident(), &pin, &admin, false)
    ));
    (rig, card, pin)
}

/// `hwsign keys generate --openpgp-card --ident IDENT --alg ALG`; returns the listed key.
pub fn generate_openpgp_key(env: &TestEnv, card: &VirtualCard, alg: &str) -> serde_json::Value {
    let ident = card.openpgp_ident();
    env.hwsign_ok(&[
        "keys",
        "generate",
        "--openpgp-card",
        "--ident",
        &ident,
        "--alg",
        alg,
    ]);
    wait_for_key(env, &openpgp_label(card), KEY_WAIT)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn gnupg_home(env: &TestEnv) -> PathBuf {
    let home = env.dir.path().join("gv");
    fs::create_dir_all(&home).unwrap();
    set_mode(&home, 0o700);
    home
}

/// The fingerprint gpg computes for a certificate file (uppercase hex).
pub fn gpg_fingerprint(home: &Path, cert: &Path) -> String {
    let out = run_ok(
        Command::new(require_tool("gpg", "gnupg"))
            .env("GNUPGHOME", home)
            .args(["--batch", "--no-tty", "--no-autostart", "--with-colons"])
            .args(["--import-options", "show-only", "--import"])
            .arg(cert),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_ascii_uppercase())
        })
        .unwrap_or_else(|| panic!("no fpr line in:\n{text}"))
}

/// `hwsign keys export KEY --format openpgp`; returns the file.
pub fn export_cert(env: &TestEnv, label: &str, file: &str) -> PathBuf {
    env.hwsign_ok(&[
        "keys", "export", label, "--format", "openpgp", "--userid", USERID, "-o", file,
    ]);
    env.path(file)
}

#[test]
fn openpgp_card_generate_ed25519_and_sign_every_format() {
    require_tool("sqv", "sqv");
    let (rig, card, _pin) = openpgp_rig();
    let agent = rig.start_agent();
    let env = &rig.env;
    let label = openpgp_label(&card);
    let ident = card.openpgp_ident();
    assert!(
        listed(env, &label).is_none(),
        "a fresh card has no signature key"
    );

    let before = now();
    generate_openpgp_key(env, &card, "ed25519");
    let key = listed_every_time(env, &label, 4);
    assert_card_key(
        &key,
        "openpgp-card",
        &format!("openpgp:{ident}/sig"),
        &ED25519,
    );
    let created = key["created"]
        .as_u64()
        .unwrap_or_else(|| panic!("no creation time: {key}"));
    assert!(
        created + 120 >= before && created <= now() + 120,
        "created {created} is not the generation time (~{before}): {key}"
    );

    // The card stores the fingerprint of exactly the OpenPGP key hwsign exports.
    let cert = export_cert(env, &label, "card.asc");
    let fpr = gpg_fingerprint(&gnupg_home(env), &cert);
    assert_eq!(
        openpgp_card_sig_fingerprint(&rig.pcscd, &card),
        fpr,
        "the card's signature-key fingerprint is not the exported certificate's"
    );

    sshsig_verifies(env, &label, "ed.txt");
    raw_verifies(env, &label, &ED25519, "ed.bin");
    dsse_verifies(env, &label, &ED25519);
    // Raw Ed25519 sends the file itself: too long for the card, the error says what to use.
    write_random(&env.work, "long.bin", 4096, 0x4096);
    let err = env.hwsign_err(&["sign", "--key", &label, "--format", "raw", "long.bin"]);
    assert!(
        err.contains("too long for the card") && err.contains("--format sshsig"),
        "{err}"
    );
    assert!(!env.path("long.bin.rawsig").exists());
    sshsig_verifies(env, &label, "after-long.txt");
    ssh_agent_signature_verifies(env, &agent, &label);

    // OpenPGP signature: sqv names the card key's fingerprint.
    let data = write_file(&env.work, "release.tar.gz", b"an OpenPGP-signed release\n");
    env.hwsign_ok(&[
        "sign",
        "--key",
        &label,
        "--format",
        "openpgp",
        "release.tar.gz",
    ]);
    let out = run_ok(
        Command::new("sqv")
            .arg("--keyring")
            .arg(&cert)
            .arg(env.path("release.tar.gz.asc"))
            .arg(&data),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .to_ascii_uppercase()
            .contains(&fpr),
        "sqv: {out:?}"
    );
    assert_eq!(openpgp_pw1_tries(&rig.pcscd, &card), 3);
}

#[test]
fn openpgp_card_generate_p256_and_rsa2048() {
    let (rig, card, _pin) = openpgp_rig();
    let _agent = rig.start_agent();
    let env = &rig.env;
    let label = openpgp_label(&card);
    let object = format!("openpgp:{}/sig", card.openpgp_ident());

    let key = generate_openpgp_key(env, &card, "p256");
    assert_card_key(&key, "openpgp-card", &object, &P256);
    let p256_id = key["id"].as_str().unwrap().to_string();
    raw_verifies(env, &label, &P256, "p256.bin");
    sshsig_verifies(env, &label, "p256.txt");
    dsse_verifies(env, &label, &P256);

    // A new signature key replaces the old one.
    generate_openpgp_key(env, &card, "rsa2048");
    let key = listed_every_time(env, &label, 2);
    assert_card_key(&key, "openpgp-card", &object, &RSA2048);
    assert_ne!(key["id"], p256_id.as_str(), "still the P-256 key: {key}");
    let keys = env.keys_json();
    assert_eq!(
        keys.iter()
            .filter(|k| k["backend"] == "openpgp-card")
            .count(),
        1,
        "one card, one signature key: {keys:?}"
    );
    raw_verifies(env, &label, &RSA2048, "rsa.bin");
    sshsig_verifies(env, &label, "rsa.txt");
    let cert = export_cert(env, &label, "rsa.asc");
    assert_eq!(
        openpgp_card_sig_fingerprint(&rig.pcscd, &card),
        gpg_fingerprint(&gnupg_home(env), &cert),
        "the card's signature-key fingerprint is not the exported certificate's"
    );
}
