//! Helpers of the card tests: a [`Rig`] is a [`TestEnv`] (private XDG dirs, a copy of the
//! SoftHSM test token) plus a private pcscd whose readers take virtual cards; its agent runs
//! with `--softhsm` and a config saying `pcsc = true`, pointed at that pcscd. Also: making PIV
//! keys with yubico-piv-tool, reading the cards' PIN retry counters with the cards' own tools,
//! waiting for keys, signing (with a touch) and verifying with ssh-keygen, openssl and
//! securesystemslib.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::*;

/// A YubiKey's (and the virtual PIV card's) factory management key.
pub const DEFAULT_MGM_KEY: &str = "010203040506070801020304050607080102030405060708";
/// PIV PIN and OpenPGP user PIN (PW1) of a fresh card.
pub const DEFAULT_PIN: &str = "123456";
/// OpenPGP admin PIN (PW3) of a fresh card.
pub const DEFAULT_ADMIN_PIN: &str = "12345678";
/// Size of the files signed `--format raw`. Raw Ed25519 (PureEdDSA) sends the file itself to
/// the card, and cards take little: opcard refuses more than 1 KiB (6A84).
pub const RAW_DATA_LEN: usize = 700;
/// How long a key may take to show up in `hwsign keys` (pcscd polls vpcd; busy CI).
pub const KEY_WAIT: Duration = Duration::from_secs(90);
/// How long a signing client may take to reach the card's touch wait.
pub const TOUCH_REQUEST_WAIT: Duration = Duration::from_secs(120);

const OPENPGP_SELECT: &str = "00:A4:04:00:06:D2:76:00:01:24:01";
const OPENPGP_VERIFY_PW3_DEFAULT: &str = "00:20:00:83:08:31:32:33:34:35:36:37:38";

/// What `hwsign keys --json` and the verifiers call one algorithm.
pub struct Alg {
    /// `algorithm` in `hwsign keys --json`.
    pub json: &'static str,
    /// OpenSSH key type.
    pub ssh_type: &'static str,
    /// securesystemslib keytype and scheme.
    pub sslib_keytype: &'static str,
    pub sslib_scheme: &'static str,
}

pub const P256: Alg = Alg {
    json: "ecdsa-p256",
    ssh_type: "ecdsa-sha2-nistp256",
    sslib_keytype: "ecdsa",
    sslib_scheme: "ecdsa-sha2-nistp256",
};
pub const P384: Alg = Alg {
    json: "ecdsa-p384",
    ssh_type: "ecdsa-sha2-nistp384",
    sslib_keytype: "ecdsa",
    sslib_scheme: "ecdsa-sha2-nistp384",
};
pub const RSA2048: Alg = Alg {
    json: "rsa-2048",
    ssh_type: "ssh-rsa",
    sslib_keytype: "rsa",
    sslib_scheme: "rsa-pkcs1v15-sha256",
};
pub const ED25519: Alg = Alg {
    json: "ed25519",
    ssh_type: "ssh-ed25519",
    sslib_keytype: "ed25519",
    sslib_scheme: "ed25519",
};

// ---------------------------------------------------------------- the rig

/// A test's world: its private pcscd (dropped first: declared first) and its [`TestEnv`].
/// Cards and agents are the test's locals, declared after the rig so they go first.
pub struct Rig {
    pub pcscd: Pcscd,
    pub env: TestEnv,
}

impl Rig {
    /// A TestEnv and a pcscd with one reader per entry of `kinds` (reader `i` for card `i`).
    pub fn new(kinds: &[CardKind]) -> Rig {
        let env = TestEnv::new();
        let pcscd = Pcscd::start(&env.dir.path().join("pc"), kinds);
        Rig { pcscd, env }
    }

    /// Writes `$XDG_CONFIG_HOME/hwsign/config.toml` (the whole text: put `pcsc = …` and other
    /// top-level keys before the tables).
    pub fn write_config(&self, text: &str) {
        let dir = self.env.config.join("hwsign");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("config.toml"), text).unwrap();
    }

    /// A file of the rig holding `content` and a newline, mode 0600 (PIN files).
    pub fn secret_file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.env.dir.path().join(name);
        fs::write(&path, format!("{content}\n")).unwrap();
        set_mode(&path, 0o600);
        path
    }

    /// `hwsign-agent --softhsm` with this rig's config, talking to this rig's pcscd (the
    /// `PCSCLITE_CSOCK_NAME` given after `isolate()`'s dead socket). Its socket is the
    /// TestEnv's default one, so `env.hwsign*` reach it.
    pub fn start_agent(&self) -> Agent {
        self.start_agent_with(&[])
    }

    /// [`Rig::start_agent`] with more environment variables (a scripted pinentry's files).
    pub fn start_agent_with(&self, extra: &[(&str, &Path)]) -> Agent {
        let mut envs = self.env.env();
        envs.extend(self.pcscd.env());
        envs.extend(
            extra
                .iter()
                .map(|(k, v)| (OsString::from(k), v.as_os_str().to_owned())),
        );
        let agent = Agent::spawn(
            &envs,
            &[OsString::from("--softhsm")],
            &self.env.work,
            &self.env.dir.path().join("agent.log"),
        );
        let printed = fs::canonicalize(&agent.sock)
            .unwrap_or_else(|e| panic!("ready line names {}: {e}", agent.sock.display()));
        let expected = fs::canonicalize(self.env.default_sock()).expect("default socket path");
        assert_eq!(
            printed, expected,
            "agent socket is not $XDG_RUNTIME_DIR/hwsign/agent.sock"
        );
        agent
    }
}

/// An agent for a virtual YubiKey whose slot 9a holds a P-256 key (see [`piv_9a_agent`]).
/// Bind `agent` when destructuring (`agent: _agent`): `..` would stop it at once.
pub struct PivAgent {
    pub agent: Agent,
    /// `piv-<serial>-9a`.
    pub label: String,
    /// The key's id (SHA-256 of its SPKI).
    pub id: String,
    /// The card's PIN file.
    pub pin: PathBuf,
}

/// yubico-piv-tool makes a P-256 key in the started `card`'s slot 9a (with `extra` arguments
/// such as `--touch-policy=always`), the PIN file holds `pin`, and an agent runs with `top`
/// config lines (e.g. `pin_cache_ttl = "0"`) and the card's `[[card]]` table; returns when the
/// key is listed.
pub fn piv_9a_agent(
    rig: &Rig,
    card: &VirtualCard,
    extra: &[&str],
    pin: &str,
    top: &str,
) -> PivAgent {
    let pem = piv_generate(&rig.pcscd, card, "9a", "ECCP256", extra);
    let pin = rig.secret_file("piv.pin", pin);
    rig.write_config(&format!(
        "pcsc = true\n{top}{}",
        piv_card_toml(card.serial, &pin, false)
    ));
    let agent = rig.start_agent();
    let label = piv_label(card, "9a");
    wait_for_key(&rig.env, &label, KEY_WAIT);
    PivAgent {
        agent,
        label,
        id: spki_id(&pem),
        pin,
    }
}

/// Stops an agent (SIGTERM) and asserts it exited cleanly, letting go of the cards.
pub fn stop_agent(agent: Agent) {
    let status = agent.stop();
    assert!(
        status.success(),
        "agent exit status after SIGTERM: {status}"
    );
}

/// A `[[card]]` table for a YubiKey PIV by serial.
pub fn piv_card_toml(serial: u32, pin_file: &Path, force_last_pin_try: bool) -> String {
    format!(
        "[[card]]\nserial = {serial}\npin_file = \"{}\"\nforce_last_pin_try = {force_last_pin_try}\n",
        pin_file.display()
    )
}

/// A `[[card]]` table for an OpenPGP card by ident.
pub fn openpgp_card_toml(
    ident: &str,
    pin_file: &Path,
    admin_pin_file: &Path,
    force_last_pin_try: bool,
) -> String {
    format!(
        "[[card]]\nident = \"{ident}\"\npin_file = \"{}\"\nadmin_pin_file = \"{}\"\nforce_last_pin_try = {force_last_pin_try}\n",
        pin_file.display(),
        admin_pin_file.display()
    )
}

/// `piv-<serial>-<slot>`.
pub fn piv_label(card: &VirtualCard, slot: &str) -> String {
    format!("piv-{}-{slot}", card.serial)
}

/// `openpgp-sig-<ident>`.
pub fn openpgp_label(card: &VirtualCard) -> String {
    format!("openpgp-sig-{}", card.openpgp_ident())
}

// ---------------------------------------------------------------- keys in the agent

/// The key labelled `label` in `hwsign keys --json`, if listed.
pub fn listed(env: &TestEnv, label: &str) -> Option<Value> {
    env.keys_json().into_iter().find(|k| k["label"] == label)
}

/// Polls `hwsign keys --json` until a key labelled `label` is listed; returns it.
pub fn wait_for_key(env: &TestEnv, label: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let keys = env.keys_json();
        if let Some(k) = keys.iter().find(|k| k["label"] == label) {
            return k.clone();
        }
        if Instant::now() >= deadline {
            let labels: Vec<&Value> = keys.iter().map(|k| &k["label"]).collect();
            panic!("no key {label} in `hwsign keys` within {timeout:?}; listed: {labels:?}");
        }
        thread::sleep(Duration::from_millis(500));
    }
}

/// The keys with this id, once at least one is listed.
pub fn wait_for_id(env: &TestEnv, id: &str, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let keys = env.keys_json();
        let found: Vec<Value> = keys.iter().filter(|k| k["id"] == id).cloned().collect();
        if !found.is_empty() {
            return found;
        }
        let listed: Vec<String> = keys
            .iter()
            .map(|k| {
                let field = |name: &str| k[name].as_str().unwrap_or("?").to_string();
                format!("{} {} ({})", field("id"), field("label"), field("backend"))
            })
            .collect();
        assert!(
            Instant::now() < deadline,
            "no key with id {id} within {timeout:?}; listed: {listed:#?}\n\
             `hwsign status`:\n{}",
            env.hwsign_ok(&["status"])
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A PIV card in reader 0 with a P-256 key and its certificate in 9a; returns the key's PEM.
pub fn piv_card_with_certificate(rig: &Rig) -> (VirtualCard, std::path::PathBuf) {
    let card = rig.pcscd.start_card(0);
    let pem = piv_generate(&rig.pcscd, &card, "9a", "ECCP256", &[]);
    piv_import_certificate(&rig.pcscd, &card, "9a", &pem);
    (card, pem)
}

/// Polls `hwsign keys --json` until no key is labelled `label`.
pub fn wait_until_unlisted(env: &TestEnv, label: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while listed(env, label).is_some() {
        assert!(
            Instant::now() < deadline,
            "key {label} still listed {timeout:?} after its card was removed"
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// Asserts `label` is in `times` listings in a row (a card found on one listing must not be
/// lost on the next); returns the last entry.
pub fn listed_every_time(env: &TestEnv, label: &str, times: usize) -> Value {
    let mut last = Value::Null;
    for i in 0..times {
        last = listed(env, label).unwrap_or_else(|| {
            panic!(
                "listing {} of {times}: key {label} is missing (it was listed before)",
                i + 1
            )
        });
    }
    last
}

/// Key id of a PEM SubjectPublicKeyInfo file: SHA-256 of its DER, lowercase hex.
pub fn spki_id(pem: &Path) -> String {
    let text = fs::read_to_string(pem).unwrap_or_else(|e| panic!("read {}: {e}", pem.display()));
    sha256_hex(&pem_to_der(&text, "PUBLIC KEY"))
}

/// Asserts the fields every card key must have.
pub fn assert_card_key(key: &Value, backend: &str, object: &str, alg: &Alg) {
    assert_eq!(key["backend"], backend, "backend of {key}");
    assert_eq!(key["object"], object, "object of {key}");
    assert_eq!(key["algorithm"], alg.json, "algorithm of {key}");
    let ssh = key["ssh_public_key"].as_str().unwrap_or_default();
    assert!(
        ssh.starts_with(&format!("{} AAAA", alg.ssh_type)),
        "ssh_public_key of {key}"
    );
    let id = key["id"].as_str().unwrap_or_default();
    assert!(is_lower_hex64(id), "id of {key}");
}

// ---------------------------------------------------------------- PIV with yubico-piv-tool

/// `yubico-piv-tool -a generate` in `slot` (`ECCP256`, `ECCP384`, `RSA2048`) with the default
/// management key and extra arguments such as `--touch-policy=always`; returns the public key
/// PEM it wrote.
pub fn piv_generate(
    pcscd: &Pcscd,
    card: &VirtualCard,
    slot: &str,
    algorithm: &str,
    extra: &[&str],
) -> PathBuf {
    require_tool("yubico-piv-tool", "yubico-piv-tool");
    let pem = card.dir.join(format!("{slot}.pem"));
    let mut cmd = pcscd.command("yubico-piv-tool");
    cmd.args(["-r", card.reader.as_str()])
        .arg(format!("--key={DEFAULT_MGM_KEY}"))
        .args(["-a", "generate", "-s", slot, "-A", algorithm])
        .args(extra)
        .arg("-o")
        .arg(&pem);
    run_ok(&mut cmd);
    let text = fs::read_to_string(&pem).unwrap();
    assert!(text.contains("BEGIN PUBLIC KEY"), "{text}");
    pem
}

/// Puts a certificate for the key `pem` into `slot`, as users do so that ykcs11 and OpenSC
/// show the key. yubico-piv-tool 2.2.0 (Debian 12) cannot `selfsign-certificate` with
/// OpenSSL 3 ("Failed signing certificate", Yubico/yubico-piv-tool#388), so openssl makes it:
/// issued by a throwaway key, holding the card's public key (`-force_pubkey`).
pub fn piv_import_certificate(pcscd: &Pcscd, card: &VirtualCard, slot: &str, pem: &Path) {
    require_tool("openssl", "openssl");
    let ca_key = card.dir.join(format!("{slot}-issuer.key"));
    run_ok(
        Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ])
            .arg(&ca_key),
    );
    let cert = card.dir.join(format!("{slot}.crt"));
    run_ok(
        Command::new("openssl")
            .args([
                "x509",
                "-new",
                "-subj",
                "/CN=hwsign card test/",
                "-days",
                "365",
            ])
            .arg("-key")
            .arg(&ca_key)
            .arg("-force_pubkey")
            .arg(pem)
            .arg("-out")
            .arg(&cert),
    );
    run_ok(
        pcscd
            .command("yubico-piv-tool")
            .args(["-r", card.reader.as_str()])
            .arg(format!("--key={DEFAULT_MGM_KEY}"))
            .args(["-a", "import-certificate", "-s", slot, "-i"])
            .arg(&cert),
    );
}

/// The card's PIV PIN retry counter (`yubico-piv-tool -a status`: `PIN tries left:\t3`).
/// While the PIN is verified (the agent's session under PIN policy `once`) the tool prints
/// `-1`: the counter is then full, which is 3 on every card of these tests.
pub fn piv_pin_tries(pcscd: &Pcscd, card: &VirtualCard) -> u32 {
    let out =
        run_ok(
            pcscd
                .command("yubico-piv-tool")
                .args(["-r", card.reader.as_str(), "-a", "status"]),
        );
    let text = String::from_utf8_lossy(&out.stdout);
    let value: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("PIN tries left:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `PIN tries left:` in yubico-piv-tool -a status:\n{text}"));
    match value {
        -1 => 3,
        n => u32::try_from(n).unwrap_or_else(|_| panic!("PIN tries left: {n}\n{text}")),
    }
}

// ---------------------------------------------------------------- raw APDUs (opensc-tool)

/// [`Pcscd::send_apdus`], asserting every APDU answered 9000; returns stdout.
pub fn send_apdus(pcscd: &Pcscd, reader: &str, apdus: &[&str]) -> String {
    let text = pcscd.send_apdus(reader, apdus);
    let answers: Vec<&str> = text.lines().filter(|l| l.starts_with("Received")).collect();
    assert_eq!(answers.len(), apdus.len(), "one answer per APDU:\n{text}");
    assert!(
        answers
            .iter()
            .all(|l| l.starts_with("Received (SW1=0x90, SW2=0x00)")),
        "an APDU failed:\n{text}"
    );
    text
}

/// The OpenPGP card's PW1 retry counter: byte 5 of the PW status bytes (GET DATA C4), read
/// over a fresh connection.
pub fn openpgp_pw1_tries(pcscd: &Pcscd, card: &VirtualCard) -> u32 {
    let text = send_apdus(pcscd, &card.reader, &[OPENPGP_SELECT, "00:CA:00:C4:00"]);
    // Received (SW1=0x90, SW2=0x00):
    // 00 7F 7F 7F 03 00 03 .......
    let lines: Vec<&str> = text.lines().collect();
    let last = lines
        .iter()
        .rposition(|l| l.starts_with("Received"))
        .expect("send_apdus checked the answers");
    let data = lines.get(last + 1).copied().unwrap_or_default();
    let bytes: Vec<u32> = data
        .split_whitespace()
        .take(7)
        .map_while(|b| u32::from_str_radix(b, 16).ok())
        .collect();
    assert_eq!(bytes.len(), 7, "PW status bytes are 7 bytes:\n{text}");
    bytes[4]
}

/// Sets UIF for the signature key (PUT DATA D6 = 01 20, with the default admin PIN), as
/// `ykman openpgp keys set-touch sig on` does: the card then holds each signature for a touch.
pub fn openpgp_set_uif_sig(pcscd: &Pcscd, card: &VirtualCard) {
    send_apdus(
        pcscd,
        &card.reader,
        &[
            OPENPGP_SELECT,
            OPENPGP_VERIFY_PW3_DEFAULT,
            "00:DA:00:D6:02:01:20",
        ],
    );
}

/// The signature key's fingerprint stored on the card (`openpgp-tool -K`: `Sig Fingerprint:`),
/// uppercase hex without separators.
pub fn openpgp_card_sig_fingerprint(pcscd: &Pcscd, card: &VirtualCard) -> String {
    require_tool("openpgp-tool", "opensc");
    let nr = pcscd.reader_number(&card.reader);
    let out = run_ok(pcscd.command("openpgp-tool").args(["-r", &nr, "-K"]));
    let text = String::from_utf8_lossy(&out.stdout);
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Sig Fingerprint:"))
        .unwrap_or_else(|| panic!("no `Sig Fingerprint:` in openpgp-tool -K:\n{text}"));
    value
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_ascii_uppercase()
}

// ---------------------------------------------------------------- signing and verifying

/// `hwsign keys export KEY --format FORMAT -o work/FILE --force`; returns the path.
pub fn export(env: &TestEnv, key: &str, format: &str, file: &str) -> PathBuf {
    env.hwsign_ok(&[
        "keys", "export", key, "--format", format, "-o", file, "--force",
    ]);
    let path = env.path(file);
    assert!(
        path.is_file(),
        "keys export -o did not write {}",
        path.display()
    );
    path
}

/// `hwsign sign --format sshsig` with `key`, verified by `ssh-keygen -Y verify`; a tampered
/// file is rejected.
pub fn sshsig_verifies(env: &TestEnv, key: &str, name: &str) {
    require_tool("ssh-keygen", "openssh-client");
    let data = write_file(
        &env.work,
        name,
        format!("{name} signed by {key}\n").as_bytes(),
    );
    env.hwsign_ok(&["sign", "--key", key, "--format", "sshsig", "--force", name]);
    let principal = "card@hwsign.test";
    let allowed = env.allowed_signers_for(key, principal);
    let sig = env.path(&format!("{name}.sig"));
    let ok = env.ssh_verify(&allowed, principal, "file", &data, &sig);
    assert!(
        ok.status.success(),
        "{key}: SSHSIG does not verify\n{}",
        describe("ssh-keygen -Y verify", &ok)
    );
    tamper_file(&data);
    let bad = env.ssh_verify(&allowed, principal, "file", &data, &sig);
    assert!(!bad.status.success(), "{key}: tampered file verifies");
}

/// Decodes `FILE.rawsig` to `FILE.rawsig.bin` and verifies it with openssl and the exported
/// PEM key (asserted), then checks a tampered copy is rejected.
pub fn raw_signature_verifies(env: &TestEnv, key: &str, alg: &Alg, data: &Path) {
    let mut rawsig = data.as_os_str().to_owned();
    rawsig.push(".rawsig");
    let rawsig = PathBuf::from(rawsig);
    let text =
        fs::read_to_string(&rawsig).unwrap_or_else(|e| panic!("no {}: {e}", rawsig.display()));
    let bin = rawsig.with_extension("rawsig.bin");
    fs::write(&bin, b64_decode(&text)).unwrap();
    let pem = export(env, key, "pem", &format!("{}.pem", sanitize(key)));
    let ok = env.openssl_verify_raw(alg.json, &pem, data, &bin);
    assert!(
        ok.status.success(),
        "{key}: openssl rejects the raw signature\n{}",
        describe("openssl verify", &ok)
    );
    let copy = env.path(&format!("tampered-{}", sanitize(key)));
    fs::copy(data, &copy).unwrap();
    tamper_file(&copy);
    let bad = env.openssl_verify_raw(alg.json, &pem, &copy, &bin);
    assert!(!bad.status.success(), "{key}: tampered file verifies");
}

/// `hwsign sign --format raw` with `key` ([`RAW_DATA_LEN`] bytes), verified by openssl.
pub fn raw_verifies(env: &TestEnv, key: &str, alg: &Alg, name: &str) {
    require_tool("openssl", "openssl");
    let data = write_random(
        &env.work,
        name,
        RAW_DATA_LEN,
        0xca4d_0000 + name.len() as u64,
    );
    env.hwsign_ok(&["sign", "--key", key, "--format", "raw", "--force", name]);
    raw_signature_verifies(env, key, alg, &data);
}

/// `hwsign attest` with `key` over two files, verified by securesystemslib with the key id
/// `hwsign keys` shows.
pub fn dsse_verifies(env: &TestEnv, key_label: &str, alg: &Alg) {
    require_python_module("securesystemslib");
    let a = format!("{}-a.tar.gz", sanitize(key_label));
    let b = format!("{}-b.whl", sanitize(key_label));
    write_file(&env.work, &a, b"first artifact\n");
    write_file(&env.work, &b, b"second artifact\n");
    let out = format!("{}.intoto.json", sanitize(key_label));
    env.hwsign_ok(&[
        "attest", "--key", key_label, "--purl", PURL, "-o", &out, &a, &b,
    ]);
    let pem = export(
        env,
        key_label,
        "pem",
        &format!("{}-dsse.pem", sanitize(key_label)),
    );
    let keyid = env.key_id(key_label);
    assert_eq!(keyid, spki_id(&pem), "key id is not SHA-256 of the SPKI");
    let envelope: Value = serde_json::from_slice(&fs::read(env.path(&out)).unwrap()).unwrap();
    assert_eq!(
        envelope["signatures"][0]["keyid"],
        keyid.as_str(),
        "{envelope}"
    );
    let mut cmd = env.command(python());
    cmd.arg(verify_dsse_py())
        .arg("--envelope")
        .arg(env.path(&out))
        .args([
            "--keyid",
            &keyid,
            "--keytype",
            alg.sslib_keytype,
            "--scheme",
            alg.sslib_scheme,
        ])
        .arg("--public-key-pem")
        .arg(&pem);
    let ok = run(&mut cmd);
    assert!(
        ok.status.success(),
        "{key_label}: securesystemslib rejects the envelope\n{}",
        describe("verify_dsse.py", &ok)
    );
}

/// `ssh-keygen -Y sign` through the agent socket (the SSH agent protocol) with `key`'s public
/// half, verified by `ssh-keygen -Y verify`.
pub fn ssh_agent_signature_verifies(env: &TestEnv, agent: &Agent, key: &str) {
    require_tool("ssh-keygen", "openssh-client");
    let pubkey = export(env, key, "ssh", &format!("{}.pub", sanitize(key)));
    let pub_line = fs::read_to_string(&pubkey).unwrap();
    let name = format!("ssh-agent-{}.txt", sanitize(key));
    let data = write_file(&env.work, &name, b"signed through the ssh agent protocol\n");
    run_ok(
        env.command("ssh-keygen")
            .env("SSH_AUTH_SOCK", &agent.sock)
            .args(["-Y", "sign", "-f"])
            .arg(&pubkey)
            .args(["-n", "file"])
            .arg(&data),
    );
    let principal = "ssh-agent@hwsign.test";
    let allowed = env.path(&format!("allowed-ssh-agent-{}", sanitize(key)));
    write_allowed_signers(&allowed, principal, &pub_line);
    let sig = env.path(&format!("{name}.sig"));
    let ok = env.ssh_verify(&allowed, principal, "file", &data, &sig);
    assert!(
        ok.status.success(),
        "{key}: ssh-keygen -Y sign through the agent does not verify\n{}",
        describe("ssh-keygen -Y verify", &ok)
    );
}

/// Runs `hwsign ARGS` on a thread; when the card waits for a touch, touches it; returns the
/// client's output. Panics when the client ends before the card asked for a touch.
pub fn run_with_touch(env: &TestEnv, card: &mut VirtualCard, args: &[&str]) -> Output {
    run_until_touch_wait(env, card, args, |card| card.touch())
}

/// Runs `hwsign ARGS` on a thread and, once the card waits for a touch, removes the card
/// (stops its runner); returns the client's output.
pub fn run_and_remove_card(env: &TestEnv, card: &mut VirtualCard, args: &[&str]) -> Output {
    run_until_touch_wait(env, card, args, |card| {
        card.stop();
    })
}

/// Runs `hwsign ARGS` on a thread; once the card waits for a touch, does `then` to the card;
/// returns the client's output. Panics when the client ends first or the card never waits.
fn run_until_touch_wait(
    env: &TestEnv,
    card: &mut VirtualCard,
    args: &[&str],
    then: fn(&mut VirtualCard),
) -> Output {
    let mut cmd = env.hwsign_cmd(args);
    let desc = format!("{cmd:?}");
    thread::scope(|s| {
        let client = s.spawn(move || run(&mut cmd));
        let deadline = Instant::now() + TOUCH_REQUEST_WAIT;
        loop {
            if card.waiting_for_touch().is_some() {
                then(card);
                break;
            }
            if client.is_finished() {
                let out = client.join().expect("client thread");
                panic!(
                    "the client ended before the card asked for a touch\n{}\n---- card log ----\n{}",
                    describe(&desc, &out),
                    card.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "card {} did not ask for a touch within {TOUCH_REQUEST_WAIT:?}\n---- card log ----\n{}",
                card.index,
                card.log_text()
            );
            thread::sleep(Duration::from_millis(50));
        }
        client.join().expect("client thread")
    })
}

/// `hwsign status` (text) and `hwsign status --json`, concatenated.
pub fn status_text(env: &TestEnv) -> String {
    let text = env.hwsign_ok(&["status"]);
    let json = env.hwsign_ok(&["status", "--json"]);
    format!("{text}\n{json}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_tables_name_the_card_and_its_pin_files() {
        assert_eq!(
            piv_card_toml(20000001, Path::new("/r/piv.pin"), true),
            "[[card]]\nserial = 20000001\npin_file = \"/r/piv.pin\"\nforce_last_pin_try = true\n"
        );
        assert_eq!(
            openpgp_card_toml(
                "000F:01312D00",
                Path::new("/r/pw1"),
                Path::new("/r/pw3"),
                false
            ),
            "[[card]]\nident = \"000F:01312D00\"\npin_file = \"/r/pw1\"\nadmin_pin_file = \"/r/pw3\"\nforce_last_pin_try = false\n"
        );
    }

    #[test]
    fn card_keys_are_checked_field_by_field() {
        let key = serde_json::json!({
            "backend": "piv",
            "object": "slot=9a",
            "algorithm": "ecdsa-p256",
            "ssh_public_key": "ecdsa-sha2-nistp256 AAAAE2Vj",
            "id": "ab".repeat(32),
        });
        assert_card_key(&key, "piv", "slot=9a", &P256);
        let mut wrong = key.clone();
        wrong["id"] = "AB".repeat(32).into();
        assert!(
            std::panic::catch_unwind(|| assert_card_key(&wrong, "piv", "slot=9a", &P256)).is_err()
        );
        assert!(
            std::panic::catch_unwind(|| assert_card_key(&key, "piv", "slot=9a", &ED25519)).is_err()
        );
    }
}
