//! The virtual-card rig itself (the rig's `pcsc` module, tools/vcard), with real tools only:
//! * a private pcscd lists exactly our vpcd readers (`opensc-tool -l` through
//!   `PCSCLITE_CSOCK_NAME`), empty until a card starts;
//! * an OpenPGP card (opcard): `opensc-tool -a` shows its ATR, SELECT of the OpenPGP AID
//!   answers 9000, `gpg --card-status` through a private scdaemon (`pcsc-shared`) reads it;
//! * a PIV card (piv-authenticator as a YubiKey): SELECT by the 5-byte RID answers 9000, GET
//!   VERSION 5.4.3, GET SERIAL the configured serial, `yubico-piv-tool -a status` works, a key
//!   generated with PIN and touch policies shows in the synthesized GET METADATA, also after
//!   the card was removed and re-inserted;
//! * stopping a card empties its reader; starting it again brings it back;
//! * simulated touch: a touch-gated command waits for `touch`, and answers 6982 without one.
//!
//! Needs `target/debug/hwsign-vcard` (`cargo build -p hwsign-vcard`; scripts/test.sh does it).

use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use hwsign_testrig::*;

const PIV_RID_SELECT: &str = "00:A4:04:00:05:A0:00:00:03:08";
const OPENPGP_SELECT: &str = "00:A4:04:00:06:D2:76:00:01:24:01";
const DEFAULT_MGM_KEY: &str = "010203040506070801020304050607080102030405060708";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The responses in `opensc-tool -s` output: (status word as `9000`, data as `7C 24 ...`).
fn responses(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Received (SW1=0x") {
            // "Received (SW1=0x90, SW2=0x00)" or "...):" when data follows
            let sw1 = rest.get(..2).unwrap_or("??");
            let sw2 = rest
                .split("SW2=0x")
                .nth(1)
                .and_then(|r| r.get(..2))
                .unwrap_or("??");
            out.push((format!("{sw1}{sw2}"), String::new()));
        } else if line.starts_with("Sending") {
            continue;
        } else if let Some((_, data)) = out.last_mut() {
            // Hex dump: up to 16 "XX " groups, then an ASCII column as long as the bytes.
            let hex = hex_part(line);
            if !data.is_empty() && !hex.is_empty() {
                data.push(' ');
            }
            data.push_str(&hex);
        }
    }
    out
}

/// The hex bytes of one dump line: n groups "XX " followed by an ASCII column of n bytes. The
/// column can read as fewer characters than bytes: opensc-tool prints bytes above 0x7F as they
/// are, and two of them can decode as one UTF-8 character (or one replacement character), and
/// a trailing space may be trimmed. It is never longer, and a smaller n leaves hex groups in it.
fn hex_part(line: &str) -> String {
    // opensc-tool pads the hex column to 48 characters on some lines and not on others.
    if line.len() > 48 && line.is_char_boundary(48) {
        let (head, tail) = line.split_at(48);
        let groups: Vec<&str> = head.split_whitespace().collect();
        let all_hex = groups
            .iter()
            .all(|g| g.len() == 2 && g.chars().all(|c| c.is_ascii_hexdigit()));
        if all_hex && tail.trim_start().chars().count() <= groups.len() {
            return groups.join(" ");
        }
    }
    for n in (1..=16).rev() {
        let (head, tail) = line.split_at(line.len().min(3 * n));
        let groups: Vec<&str> = head.split_whitespace().collect();
        let all_hex = groups.len() == n
            && groups
                .iter()
                .all(|g| g.len() == 2 && g.chars().all(|c| c.is_ascii_hexdigit()));
        if all_hex && (n == 16 || (!tail.is_empty() && tail.chars().count() <= n)) {
            return groups.join(" ");
        }
    }
    String::new()
}

/// A dump line whose ASCII column reads shorter than its bytes (two bytes that decode as one
/// UTF-8 character) still gives all its bytes: it made a metadata read flaky.
#[test]
fn dump_lines_with_multibyte_ascii_columns_are_read_whole() {
    let hex = "41 C3 A9 42 43 44 45 46 47 48 49 4A 4B 4C 4D";
    let line = format!("{hex} A\u{e9}BCDEFGHIJKLM");
    assert_eq!(hex_part(&line), hex);
    let full = "41 42 43 44 45 46 47 48 49 4A 4B 4C 4D 4E 4F 50";
    assert_eq!(hex_part(&format!("{full} ABCDEFGHIJKLMNOP")), full);
    assert_eq!(hex_part("90 00 .."), "90 00");
}

/// Asserts the `nth` response's status word (e.g. "9000") and returns its data.
fn response(text: &str, nth: usize, sw: &str) -> String {
    let all = responses(text);
    match all.get(nth) {
        Some((got, data)) if got == sw => data.clone(),
        other => panic!("response {nth} is {other:?}, not {sw}:\n{text}"),
    }
}

// ---------------------------------------------------------------- pcscd alone

#[test]
fn private_pcscd_lists_only_the_virtual_readers() {
    let tmp = short_tempdir("hwsign-pc");
    let pcscd = Pcscd::start(tmp.path(), &[CardKind::Piv, CardKind::OpenPgp]);
    let listing = pcscd.list_readers();
    for reader in [
        "Yubico YubiKey virtual 0 00 00",
        "Yubico YubiKey virtual 0 00 01",
        "Virtual OpenPGP card 1 00 00",
        "Virtual OpenPGP card 1 00 01",
    ] {
        assert_eq!(
            card_in_listing(&listing, reader),
            Some(false),
            "{reader} missing or not empty:\n{listing}"
        );
    }
    let readers = listing
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|n| n.parse::<usize>().is_ok())
        })
        .count();
    assert_eq!(readers, 4, "only our readers expected:\n{listing}");
    assert_eq!(pcscd.reader(0), "Yubico YubiKey virtual 0 00 00");
    assert_eq!(pcscd.reader(1), "Virtual OpenPGP card 1 00 00");
}

// ---------------------------------------------------------------- OpenPGP card

#[test]
fn openpgp_card_is_seen_by_opensc_and_gpg() {
    let tmp = short_tempdir("hwsign-pc");
    let pcscd = Pcscd::start(&tmp.path().join("pcscd"), &[CardKind::OpenPgp]);
    let card = pcscd.start_card(0);
    assert!(pcscd.card_present(0));

    let nr = pcscd.reader_number(&card.reader);
    let atr = stdout(&run_ok(
        pcscd.command("opensc-tool").args(["-r", &nr, "-a"]),
    ));
    assert!(
        atr.contains("3b:8a:80:01:00:31:f5:73:c0:01:60:00:90:00"),
        "not opcard's ATR: {atr}"
    );
    let text = pcscd.send_apdus(&card.reader, &[OPENPGP_SELECT]);
    response(&text, 0, "9000");

    let gpg = GpgCardHome::new(&tmp.path().join("g"), &pcscd, false);
    let out = gpg.card_status();
    let status = stdout(&out);
    assert!(
        out.status.success(),
        "{}\n---- scdaemon ----\n{}",
        describe("gpg --card-status", &out),
        gpg.scdaemon_log()
    );
    let aid = format!("D276000124010304000F{:08X}0000", card.serial);
    assert!(
        status.contains(&aid),
        "gpg --card-status does not show AID {aid}:\n{status}"
    );
    assert!(status.contains("3.4"), "not an OpenPGP card 3.4:\n{status}");
}

// ---------------------------------------------------------------- PIV card

#[test]
fn piv_card_looks_like_a_yubikey() {
    let tmp = short_tempdir("hwsign-pc");
    let pcscd = Pcscd::start(tmp.path(), &[CardKind::Piv]);
    let card = pcscd.start_card(0);

    let nr = pcscd.reader_number(&card.reader);
    let atr = stdout(&run_ok(
        pcscd.command("opensc-tool").args(["-r", &nr, "-a"]),
    ));
    assert!(
        atr.contains("3b:fd:13:00:00:81:31:fe:15:80:73:c0:21:c0:57:59:75:62:69:4b:65:79:40"),
        "not a YubiKey 5 ATR: {atr}"
    );

    // SELECT by the RID, GET VERSION, GET SERIAL.
    let text = pcscd.send_apdus(
        &card.reader,
        &[PIV_RID_SELECT, "00:FD:00:00:00", "00:F8:00:00:00"],
    );
    response(&text, 0, "9000");
    assert_eq!(
        response(&text, 1, "9000"),
        "05 04 03",
        "GET VERSION:\n{text}"
    );
    let serial = card.serial.to_be_bytes();
    let serial_hex = format!(
        "{:02X} {:02X} {:02X} {:02X}",
        serial[0], serial[1], serial[2], serial[3]
    );
    assert_eq!(
        response(&text, 2, "9000"),
        serial_hex,
        "GET SERIAL:\n{text}"
    );

    require_tool("yubico-piv-tool", "yubico-piv-tool");
    let out = run_ok(
        pcscd
            .command("yubico-piv-tool")
            .args(["-r", &card.reader, "-a", "status"]),
    );
    let status = stdout(&out);
    assert!(
        status.contains("5.4.3"),
        "yubico-piv-tool status has no version 5.4.3:\n{status}"
    );
    assert!(
        status.contains(&card.serial.to_string()),
        "yubico-piv-tool status has no serial {}:\n{status}",
        card.serial
    );
}

/// GET METADATA for slot 9a: its data as `opensc-tool` prints it (`01 01 11 ...`).
fn metadata_9a(pcscd: &Pcscd, reader: &str) -> String {
    let text = pcscd.send_apdus(reader, &[PIV_RID_SELECT, "00:F7:00:9A:00"]);
    response(&text, 0, "9000");
    response(&text, 1, "9000")
}

#[test]
fn piv_key_metadata_survives_reinsertion() {
    let tmp = short_tempdir("hwsign-pc");
    let pcscd = Pcscd::start(tmp.path(), &[CardKind::Piv]);
    let mut card = pcscd.start_card(0);

    // An empty slot: 6A88, as on a YubiKey.
    let text = pcscd.send_apdus(&card.reader, &[PIV_RID_SELECT, "00:F7:00:9A:00"]);
    response(&text, 1, "6A88");

    require_tool("yubico-piv-tool", "yubico-piv-tool");
    let pem = tmp.path().join("9a.pem");
    run_ok(pcscd.command("yubico-piv-tool").args([
        "-r",
        card.reader.as_str(),
        &format!("--key={DEFAULT_MGM_KEY}"),
        "-a",
        "generate",
        "-s",
        "9a",
        "-A",
        "ECCP256",
        "--pin-policy=once",
        "--touch-policy=always",
        "-o",
        pem.to_str().unwrap(),
    ]));
    let pem_text = std::fs::read_to_string(&pem).unwrap();
    assert!(pem_text.contains("BEGIN PUBLIC KEY"), "{pem_text}");

    // algorithm P-256 (11), PIN once (02) touch always (02), generated (01), public key (04).
    let expect = "01 01 11 02 02 02 02 03 01 01 04 43 86 41 04";
    let meta = metadata_9a(&pcscd, &card.reader);
    assert!(
        meta.starts_with(expect),
        "metadata is not {expect}...: {meta}"
    );
    // 04 43 86 41 04 X Y: 67 bytes of public key after the 10 bytes before it
    assert_eq!(meta.split(' ').count(), 10 + 2 + 67, "metadata: {meta}");

    card.stop();
    assert!(!pcscd.card_present(0), "reader not empty after stop");
    card.start();
    assert!(pcscd.card_present(0), "card not back after start");
    let again = metadata_9a(&pcscd, &card.reader);
    assert_eq!(again, meta, "metadata changed on re-insertion");
}

// ---------------------------------------------------------------- removal and touch

#[test]
fn stopping_a_card_empties_the_reader_and_starting_brings_it_back() {
    let tmp = short_tempdir("hwsign-pc");
    let pcscd = Pcscd::start(tmp.path(), &[CardKind::Piv, CardKind::OpenPgp]);
    let mut piv = pcscd.card(0).ram_only();
    piv.start();
    let mut pgp = pcscd.start_card(1);
    assert!(pcscd.card_present(0) && pcscd.card_present(1));

    piv.stop();
    assert!(!pcscd.card_present(0), "PIV reader not empty");
    assert!(pcscd.card_present(1), "removing one card removed the other");

    pgp.kill();
    assert!(
        !pcscd.card_present(1),
        "OpenPGP reader not empty after kill"
    );

    piv.start();
    pgp.start();
    assert!(pcscd.card_present(0) && pcscd.card_present(1));
    let text = pcscd.send_apdus(&piv.reader, &[PIV_RID_SELECT]);
    response(&text, 0, "9000");
    let text = pcscd.send_apdus(&pgp.reader, &[OPENPGP_SELECT]);
    response(&text, 0, "9000");
}

/// VERIFY PIN 123456 and a P-256 GENERAL AUTHENTICATE (sign a 32-byte digest) with slot 9a.
fn verify_and_sign_9a() -> [&'static str; 3] {
    [
        PIV_RID_SELECT,
        "00:20:00:80:08:31:32:33:34:35:36:FF:FF",
        "00:87:11:9A:26:7C:24:82:00:81:20:\
         01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:\
         11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20:00",
    ]
}

#[test]
fn touch_gates_a_piv_signature() {
    let tmp = short_tempdir("hwsign-pc");
    let pcscd = Pcscd::start(tmp.path(), &[CardKind::Piv]);
    let mut card = pcscd
        .card(0)
        .ram_only()
        .touch_timeout(Duration::from_secs(3));
    card.start();
    require_tool("yubico-piv-tool", "yubico-piv-tool");
    run_ok(pcscd.command("yubico-piv-tool").args([
        "-r",
        card.reader.as_str(),
        &format!("--key={DEFAULT_MGM_KEY}"),
        "-a",
        "generate",
        "-s",
        "9a",
        "-A",
        "ECCP256",
        "--touch-policy=always",
        "-o",
        tmp.path().join("9a.pem").to_str().unwrap(),
    ]));

    // No touch: 6982 after the timeout.
    let started = Instant::now();
    let text = pcscd.send_apdus(&card.reader, &verify_and_sign_9a());
    response(&text, 1, "9000");
    response(&text, 2, "6982");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "answered before the touch timeout"
    );
    assert!(card.waiting_for_touch().is_none());

    // Touch while it waits: a signature (7C .. 82 .. 30 ..).
    let reader = card.reader.clone();
    let signer = thread::scope(|s| {
        let h = s.spawn(|| pcscd.send_apdus(&reader, &verify_and_sign_9a()));
        let what = card.wait_for_touch_request(Duration::from_secs(30));
        assert!(what.contains("9a"), "waiting for {what:?}");
        card.touch();
        h.join().unwrap()
    });
    let signature = response(&signer, 2, "9000");
    assert!(
        signature.starts_with("7C ") && signature.contains(" 82 "),
        "no signature template (7C .. 82 .. 30 ..): {signature}"
    );
    assert!(
        !card.touch_dir.join("touch").exists(),
        "the touch was not consumed"
    );
}
