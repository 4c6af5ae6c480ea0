//! Touch notices for real tokens, whatever the client: a plain `ssh-keygen -Y sign` through the
//! agent on a touch-always PIV slot, on an OpenPGP card with UIF, and on a PIV key reached
//! through OpenSC's PKCS#11 module (no touch attribute: the notice comes when the card has not
//! answered after `touch_notice_delay`) runs the notify command with the token, the host and
//! what is signed while the virtual card still holds the signature for its touch; `hwsign
//! status` on both sockets shows the pending touch meanwhile; a desktop notification goes to a
//! private session bus (`dbus-daemon --session` and a recording notification server) and is
//! closed once the card answered. PIV touch policy `cached`: no notice while the card's 15 s
//! window is open, one after it. A `[[key]] touch` rule on a hardware key only adds the notice
//! (nothing simulated: the card signs at once). The simulated touch of the test token notifies
//! the desktop too, its body escaped for the notification markup.
//!
//! Needs what the card tests (tests/cards/main.rs) need, and `dbus-daemon` (Debian `dbus-daemon`).

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use hwsign_testrig::bus::{Call, Recorder, SessionBus};
use hwsign_testrig::cards::*;
use hwsign_testrig::peers::{self, client, extra_sock, host, notify_setting, toml_str, wait_until};
use hwsign_testrig::*;

/// The OpenPGP signature key through OpenSC, PIV through it: Debian's `opensc-pkcs11`.
const OPENSC_PKCS11: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
/// OpenSC names a PIV token after its first certificate's CN ([`piv_import_certificate`]).
const PIV_TOKEN: &str = "hwsign card test";

fn bus_env(bus: &SessionBus) -> (OsString, OsString) {
    (
        OsString::from("DBUS_SESSION_BUS_ADDRESS"),
        OsString::from(&bus.address),
    )
}

/// The rig's agent with the session bus in its environment.
fn start_agent_on_bus(rig: &Rig, bus: &SessionBus) -> Agent {
    let mut envs = rig.env.env();
    envs.extend(rig.pcscd.env());
    envs.push(bus_env(bus));
    Agent::spawn(
        &envs,
        &[OsString::from("--softhsm")],
        &rig.env.work,
        &rig.env.dir.path().join("agent.log"),
    )
}

/// `ssh-keygen -Y sign -n file` of `data` with the public key `pubkey`, through `agent`, in the
/// background.
fn spawn_ssh_keygen(env: &TestEnv, agent: &Agent, pubkey: &Path, data: &Path) -> Child {
    require_tool("ssh-keygen", "openssh-client");
    env.command("ssh-keygen")
        .env("SSH_AUTH_SOCK", &agent.sock)
        .args(["-Y", "sign", "-f"])
        .arg(pubkey)
        .args(["-n", "file"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ssh-keygen")
}

fn pending(env: &TestEnv, sock: &Path) -> Vec<serde_json::Value> {
    let out = client(env, sock, &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    status["pending_touches"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn notify_lines(env: &TestEnv) -> Vec<String> {
    fs::read_to_string(env.path("notify.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Signs with `ssh-keygen -Y sign` through the agent on a card that holds the signature for a
/// touch: while it waits, the notify command, both sockets' status and the desktop say so;
/// touched, the signature verifies and the notification is closed.
fn notice_while_the_card_waits(
    rig: &Rig,
    agent: &Agent,
    card: &VirtualCard,
    bus: &Recorder,
    label: &str,
) {
    notice_while_the_card_waits_named(rig, agent, card, bus, label, "notice.txt");
}

/// [`notice_while_the_card_waits`] signing the file `name`.
fn notice_while_the_card_waits_named(
    rig: &Rig,
    agent: &Agent,
    card: &VirtualCard,
    bus: &Recorder,
    label: &str,
    name: &str,
) {
    let env = &rig.env;
    let (lines_before, calls_before) = (notify_lines(env).len(), bus.calls().len());
    let pubkey = export(env, label, "ssh", &format!("{}.pub", sanitize(label)));
    let data = write_file(&env.work, name, b"signed with a touch\n");
    let mut child = spawn_ssh_keygen(env, agent, &pubkey, &data);

    let deadline = Instant::now() + TOUCH_REQUEST_WAIT;
    while card.waiting_for_touch().is_none() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "ssh-keygen ended ({st}) before the card asked for a touch\n---- agent log ----\n{}",
                agent.log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the card did not ask for a touch"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The card has not answered: everything below happened before it did.
    wait_until("the notify command's line", || {
        notify_lines(env).len() > lines_before
    });
    let lines = notify_lines(env);
    assert_eq!(lines.len(), lines_before + 1, "{lines:?}");
    let line = &lines[lines_before];
    assert!(
        line.starts_with("Touch the token ")
            && line.contains(&format!(
                " on {} to sign an SSH signature (namespace file, sha512 ",
                host()
            ))
            && line.ends_with(&format!("…) with {label}")),
        "{line}"
    );
    let main = pending(env, &env.default_sock());
    assert_eq!(main.len(), 1, "{main:?}");
    assert_eq!(main[0]["key"], label, "{main:?}");
    assert!(
        main[0]["what"]
            .as_str()
            .unwrap_or_default()
            .starts_with("an SSH signature (namespace file"),
        "{main:?}"
    );
    // The forwarded socket's reduced status: the touch, not what is signed.
    let extra = pending(env, &extra_sock(env));
    assert_eq!(extra.len(), 1, "{extra:?}");
    assert_eq!(extra[0]["key"], label, "{extra:?}");
    assert_eq!(extra[0]["what"], "", "{extra:?}");
    assert_eq!(extra[0]["token"], main[0]["token"]);
    // `hwsign touch` cannot touch a card.
    let err = env.hwsign_err(&["touch"]);
    assert!(err.contains("no signature is waiting for a touch"), "{err}");

    let calls = bus.wait_for("Notify", |c| c.len() > calls_before);
    let Call::Notify {
        app,
        summary,
        body,
        id,
    } = &calls[calls_before]
    else {
        panic!("{calls:?}");
    };
    assert_eq!(app, "hwsign");
    assert_eq!(summary, "Touch your token");
    assert_eq!(body, line, "notify command and desktop say the same");
    assert_eq!(
        calls.len(),
        calls_before + 1,
        "closed before the card answered: {calls:?}"
    );
    assert!(agent.log_text().contains("touch needed"));

    card.touch();
    let out = child.wait_with_output().expect("ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen -Y sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let allowed = env.path("allowed-notice");
    write_allowed_signers(
        &allowed,
        "notice@hwsign.test",
        &fs::read_to_string(&pubkey).unwrap(),
    );
    let ok = env.ssh_verify(
        &allowed,
        "notice@hwsign.test",
        "file",
        &data,
        &env.path(&format!("{name}.sig")),
    );
    assert!(
        ok.status.success(),
        "{}",
        describe("ssh-keygen -Y verify", &ok)
    );

    let id = *id;
    bus.wait_for("CloseNotification", |c| c.contains(&Call::Close { id }));
    assert!(bus.open().is_empty(), "{:?}", bus.calls());
    assert!(pending(env, &env.default_sock()).is_empty());
    assert_eq!(notify_lines(env).len(), lines_before + 1);
}

/// `ssh-keygen -Y sign` through the agent of a card that does not wait: it signs, and the
/// notify command and the desktop are told (`told`) or not.
fn signs_at_once(rig: &Rig, agent: &Agent, bus: &Recorder, label: &str, name: &str, told: bool) {
    let env = &rig.env;
    let (lines_before, calls_before) = (notify_lines(env).len(), bus.calls().len());
    let pubkey = env.path(&format!("{}.pub", sanitize(label)));
    let data = write_file(&env.work, name, b"signed at once\n");
    let out = spawn_ssh_keygen(env, agent, &pubkey, &data)
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -Y sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if told {
        wait_until("the notify command's line", || {
            notify_lines(env).len() > lines_before
        });
        let calls = bus.wait_for("Notify and CloseNotification", |c| {
            c.len() >= calls_before + 2
        });
        assert!(bus.open().is_empty(), "{calls:?}");
    } else {
        // Give a notice that should not come the time to arrive.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            notify_lines(env).len(),
            lines_before,
            "{:?}",
            notify_lines(env)
        );
        assert_eq!(bus.calls().len(), calls_before, "{:?}", bus.calls());
    }
}

#[test]
fn piv_touch_always_ssh_keygen_is_announced_before_the_card_answers() {
    let rig = Rig::new(&[CardKind::Piv]);
    let dbus = SessionBus::start(rig.env.dir.path());
    let bus = Recorder::start(&dbus);
    let card = rig.pcscd.start_card(0);
    piv_generate(
        &rig.pcscd,
        &card,
        "9a",
        "ECCP256",
        &["--touch-policy=always"],
    );
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}{}",
        notify_setting(&rig.env),
        piv_card_toml(card.serial, &pin, false)
    ));
    let agent = start_agent_on_bus(&rig, &dbus);
    let label = piv_label(&card, "9a");
    let key = wait_for_key(&rig.env, &label, KEY_WAIT);
    assert_eq!(key["touch_policy"], "always");
    notice_while_the_card_waits(&rig, &agent, &card, &bus, &label);
}

#[test]
fn piv_touch_cached_is_announced_outside_the_cards_window_only() {
    let rig = Rig::new(&[CardKind::Piv]);
    let dbus = SessionBus::start(rig.env.dir.path());
    let bus = Recorder::start(&dbus);
    let card = rig.pcscd.start_card(0);
    piv_generate(
        &rig.pcscd,
        &card,
        "9a",
        "ECCP256",
        &["--touch-policy=cached"],
    );
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}{}",
        notify_setting(&rig.env),
        piv_card_toml(card.serial, &pin, false)
    ));
    let agent = start_agent_on_bus(&rig, &dbus);
    let label = piv_label(&card, "9a");
    assert_eq!(
        wait_for_key(&rig.env, &label, KEY_WAIT)["touch_policy"],
        "cached"
    );
    notice_while_the_card_waits_named(&rig, &agent, &card, &bus, &label, "first.txt");
    // Within the card's 15 s: no touch, no notice.
    signs_at_once(&rig, &agent, &bus, &label, "cached.txt", false);
    // After it: the card waits again, and so does the notice.
    std::thread::sleep(Duration::from_secs(16));
    notice_while_the_card_waits_named(&rig, &agent, &card, &bus, &label, "later.txt");
}

#[test]
fn a_touch_rule_on_a_hardware_key_only_adds_the_notice() {
    let rig = Rig::new(&[CardKind::Piv]);
    let dbus = SessionBus::start(rig.env.dir.path());
    let bus = Recorder::start(&dbus);
    let card = rig.pcscd.start_card(0);
    piv_generate(&rig.pcscd, &card, "9a", "ECCP256", &[]);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    let label = piv_label(&card, "9a");
    rig.write_config(&format!(
        "pcsc = true\n{}{}[[key]]\nmatch = \"label:{label}\"\ntouch = \"always\"\n",
        notify_setting(&rig.env),
        piv_card_toml(card.serial, &pin, false)
    ));
    let agent = start_agent_on_bus(&rig, &dbus);
    wait_for_key(&rig.env, &label, KEY_WAIT);
    export(
        &rig.env,
        &label,
        "ssh",
        &format!("{}.pub", sanitize(&label)),
    );
    // The card does not wait, nothing simulates a touch (no `hwsign touch`): it signs, told.
    signs_at_once(&rig, &agent, &bus, &label, "rule.txt", true);
    let line = notify_lines(&rig.env).pop().unwrap();
    assert!(
        line.starts_with("Touch the token ") && line.ends_with(&label),
        "{line}"
    );
}

#[test]
fn openpgp_uif_ssh_keygen_is_announced_before_the_card_answers() {
    let rig = Rig::new(&[CardKind::OpenPgp]);
    let dbus = SessionBus::start(rig.env.dir.path());
    let bus = Recorder::start(&dbus);
    let card = rig.pcscd.start_card(0);
    let pin = rig.secret_file("pw1.pin", DEFAULT_PIN);
    let admin = rig.secret_file("pw3.pin", DEFAULT_ADMIN_PIN);
    rig.write_config(&format!(
        "pcsc = true\n{}{}",
        notify_setting(&rig.env),
        openpgp_card_toml(&card.openpgp_ident(), &pin, &admin, false)
    ));
    let agent = start_agent_on_bus(&rig, &dbus);
    let env = &rig.env;
    let label = openpgp_label(&card);
    env.hwsign_ok(&[
        "keys",
        "generate",
        "--openpgp-card",
        "--ident",
        &card.openpgp_ident(),
        "--alg",
        "ed25519",
    ]);
    openpgp_set_uif_sig(&rig.pcscd, &card);
    let deadline = Instant::now() + KEY_WAIT;
    while wait_for_key(env, &label, KEY_WAIT)["touch_policy"] != "always" {
        assert!(Instant::now() < deadline, "UIF on, not reported");
        std::thread::sleep(Duration::from_millis(500));
    }
    notice_while_the_card_waits(&rig, &agent, &card, &bus, &label);
}

#[test]
fn pkcs11_token_without_a_touch_attribute_is_announced_when_silent() {
    require_file(OPENSC_PKCS11, "opensc-pkcs11");
    let rig = Rig::new(&[CardKind::Piv]);
    let dbus = SessionBus::start(rig.env.dir.path());
    let bus = Recorder::start(&dbus);
    let card = rig.pcscd.start_card(0);
    let pem = piv_generate(
        &rig.pcscd,
        &card,
        "9a",
        "ECCP256",
        &["--touch-policy=always"],
    );
    piv_import_certificate(&rig.pcscd, &card, "9a", &pem);
    let pin = rig.secret_file("piv.pin", DEFAULT_PIN);
    rig.write_config(&format!(
        "pcsc = false\ntouch_notice_delay = \"300ms\"\n{}[[token]]\npkcs11_module = {}\ntoken_label = \"{PIV_TOKEN}\"\npin_file = {}\n",
        notify_setting(&rig.env),
        toml_str(OPENSC_PKCS11),
        toml_str(&pin),
    ));
    let agent = start_agent_on_bus(&rig, &dbus);
    let env = &rig.env;
    let id = spki_id(&pem);
    let found = wait_for_id(env, &id, KEY_WAIT);
    assert_eq!(found[0]["backend"], "pkcs11", "{found:?}");
    let label = found[0]["label"].as_str().unwrap().to_string();
    notice_while_the_card_waits(&rig, &agent, &card, &bus, &label);
    assert!(
        agent.log_text().contains("the token has not answered"),
        "{}",
        agent.log_text()
    );
}

#[test]
fn simulated_touch_notifies_the_desktop_escaped_and_closes_it() {
    let env = TestEnv::new();
    let dbus = SessionBus::start(env.dir.path());
    let bus = Recorder::start(&dbus);
    peers::write_config(
        &env,
        "touch_timeout = \"60s\"\n[[key]]\nmatch = \"label:release-p256\"\ntouch = \"always\"\n",
    );
    let mut envs = env.env();
    envs.push(bus_env(&dbus));
    let _agent = Agent::spawn(
        &envs,
        &[OsString::from("--softhsm")],
        &env.work,
        &env.dir.path().join("agent.log"),
    );
    let name = "a<b>&c\u{202e}\u{200b}d.tar.gz";
    write_file(&env.work, name, b"artifact\n");
    let mut sign = peers::Background::spawn(
        &env,
        &env.default_sock(),
        &[
            "attest",
            "--key",
            "release-p256",
            "--purl",
            PURL,
            "-o",
            "out.json",
            name,
        ],
        "attest",
    );
    let calls = bus.wait_for("Notify", |c| !c.is_empty());
    let Call::Notify { body, id, .. } = &calls[0] else {
        panic!("{calls:?}");
    };
    assert!(
        body.contains("an attestation of 1 file(s) (a&lt;b&gt;&amp;c\\u{202e}\\u{200b}d.tar.gz)"),
        "{body}"
    );
    assert!(
        !body
            .chars()
            .any(|c| c.is_control() || c == '\u{202e}' || c == '\u{200b}' || c == '<'),
        "{body:?}"
    );
    let id = *id;
    env.hwsign_ok(&["touch", "--wait", "60s"]);
    peers::assert_ok(&sign.wait());
    bus.wait_for("CloseNotification", |c| c.contains(&Call::Close { id }));
    assert!(bus.open().is_empty());
    // Without a notify command nothing else ran (no notify-send default).
    assert!(!env.path("notify.log").exists());
}

/// A pinentry that takes `secs` to answer with the card's PIN (minimal Assuan).
fn slow_pinentry(env: &TestEnv, secs: &str) -> std::path::PathBuf {
    let path = env.path("slow-pinentry.sh");
    fs::write(
        &path,
        format!(
            "#!/bin/sh\necho 'OK hwsign test pinentry'\nwhile read -r cmd rest; do\n  case \"$cmd\" in\n    GETPIN) sleep {secs}; echo 'D {DEFAULT_PIN}'; echo OK ;;\n    BYE) echo OK; exit 0 ;;\n    *) echo OK ;;\n  esac\ndone\n"
        ),
    )
    .unwrap();
    set_mode(&path, 0o755);
    path
}

#[test]
fn a_pkcs11_token_behind_its_pin_dialog_gets_no_touch_notice() {
    require_file(OPENSC_PKCS11, "opensc-pkcs11");
    let rig = Rig::new(&[CardKind::Piv]);
    let dbus = SessionBus::start(rig.env.dir.path());
    let bus = Recorder::start(&dbus);
    let card = rig.pcscd.start_card(0);
    // 9c: OpenSC logs in for every signature (CKA_ALWAYS_AUTHENTICATE), so the dialog comes
    // with each; the card itself does not wait for a touch.
    let pem = piv_generate(&rig.pcscd, &card, "9c", "ECCP256", &[]);
    piv_import_certificate(&rig.pcscd, &card, "9c", &pem);
    // The dialog (8 s) outlasts the notice delay (5 s), which in turn leaves the card's own work
    // after the dialog (about 1 s of APDUs on the virtual card) a 5x margin.
    let pinentry = slow_pinentry(&rig.env, "8");
    rig.write_config(&format!(
        "pcsc = false\ntouch_notice_delay = \"5s\"\npinentry = {}\n{}[[token]]\npkcs11_module = {}\ntoken_label = \"{PIV_TOKEN}\"\n",
        toml_str(&pinentry),
        notify_setting(&rig.env),
        toml_str(OPENSC_PKCS11),
    ));
    let agent = start_agent_on_bus(&rig, &dbus);
    let env = &rig.env;
    let found = wait_for_id(env, &spki_id(&pem), KEY_WAIT);
    let label = found[0]["label"].as_str().unwrap().to_string();
    export(env, &label, "ssh", &format!("{}.pub", sanitize(&label)));
    let started = Instant::now();
    signs_at_once(&rig, &agent, &bus, &label, "behind-pin.txt", false);
    assert!(
        started.elapsed() >= Duration::from_millis(8000),
        "no PIN dialog was shown: the test proves nothing"
    );
    assert!(
        !agent.log_text().contains("touch needed"),
        "{}",
        agent.log_text()
    );
}
