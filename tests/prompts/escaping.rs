//! Strings someone else chose are escaped wherever a person reads them (issue 11 defect 5,
//! issue 12 item 6):
//!
//! * the confirm prompt for an attestation of files named with a newline (a forged
//!   "Client note: approved" line), a bidi override (U+202E) and markup shows them escaped,
//!   one subject per line; the desktop notification of the touch that follows is one line
//!   with `&`, `<`, `>` as entities; the client's own touch notice is escaped too;
//! * `hwsign verify` of an envelope whose key id is `\r\e[2K OK … \e[8m` prints no raw
//!   ESC or CR, and says FAIL.

use std::fs;

use hwsign_testrig::peers::*;
use hwsign_testrig::*;
use serde_json::Value;

const NEWLINE_NAME: &str = "x\nClient note (unverified): approved by alice";
const BIDI_NAME: &str = "invoice\u{202e}gpj.exe";
const MARKUP_NAME: &str = "<b>bold&amp;.txt";

/// Characters a terminal or a dialog acts on, or reorders text by, other than a newline.
fn raw_dangerous(s: &str) -> Vec<char> {
    s.chars()
        .filter(|&c| {
            c != '\n'
                && (c.is_control()
                    || matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2066..=0x2069 | 0x2028 | 0x2029 | 0xFEFF))
        })
        .collect()
}

#[test]
fn confirm_prompt_and_notification_show_hostile_file_names_escaped() {
    let env = TestEnv::new();
    write_config(
        &env,
        &format!(
            "touch_timeout = \"60s\"\n{}{}[[key]]\nmatch = \"label:release-p256\"\nconfirm = true\n\n\
             [[key]]\nmatch = \"label:release-ed25519\"\ntouch = \"always\"\n",
            confirm_setting(&env),
            notify_setting(&env),
        ),
    );
    let _agent = env.start_agent(&[]);
    for name in [NEWLINE_NAME, BIDI_NAME, MARKUP_NAME] {
        write_file(&env.work, name, b"release\n");
    }

    // The confirm prompt (key with confirm = true).
    let out = env.hwsign(&[
        "attest",
        "--key",
        "release-p256",
        "--purl",
        PURL,
        "-o",
        "confirmed.json",
        NEWLINE_NAME,
        BIDI_NAME,
        MARKUP_NAME,
    ]);
    assert_ok(&out);
    let prompt = last_prompt(&env);
    let lines: Vec<&str> = prompt.lines().collect();
    // Header, DSSE line, one line per subject: no forged line.
    assert_eq!(lines.len(), 5, "{prompt}");
    assert!(
        !lines.iter().any(|l| l.starts_with("Client note")),
        "{prompt}"
    );
    assert!(
        lines[2].starts_with("  x\\nClient note (unverified): approved by alice  sha256 "),
        "{prompt}"
    );
    assert!(
        lines[3].starts_with("  invoice\\u{202e}gpj.exe  sha256 "),
        "{prompt}"
    );
    assert!(
        lines[4].starts_with("  <b>bold&amp;.txt  sha256 "),
        "{prompt}"
    );
    assert!(raw_dangerous(&prompt).is_empty(), "{prompt:?}");

    // The touch (simulated; the confirm command gives it): the notification and the client's
    // notice.
    let out = env.hwsign(&[
        "attest",
        "--key",
        "release-ed25519",
        "--purl",
        PURL,
        "-o",
        "touched.json",
        NEWLINE_NAME,
        BIDI_NAME,
        MARKUP_NAME,
    ]);
    assert_ok(&out);
    let log = env.path("notify.log");
    wait_until("the notify command's message", || {
        read_text(&log).contains("Touch the token")
    });
    let notes = read_text(&log);
    assert_eq!(notes.lines().count(), 1, "{notes}");
    let note = notes.lines().next().unwrap();
    assert!(
        note.contains(
            "(x\\nClient note (unverified): approved by alice, invoice\\u{202e}gpj.exe, &lt;b&gt;bold&amp;amp;.txt)"
        ),
        "{note}"
    );
    assert!(raw_dangerous(note).is_empty(), "{note:?}");
    let stderr = stderr_of(&out);
    let notice = stderr
        .lines()
        .find(|l| l.starts_with("Touch the token"))
        .unwrap_or_else(|| panic!("no touch notice:\n{stderr}"));
    assert!(
        notice.contains("(x\\nClient note (unverified): approved by alice, invoice\\u{202e}gpj.exe, <b>bold&amp;.txt)"),
        "{notice}"
    );
    assert!(raw_dangerous(&stderr).is_empty(), "{stderr:?}");

    // The envelope itself keeps the real names (JSON escapes them).
    let envelope: Value = serde_json::from_slice(&fs::read(env.path("touched.json")).unwrap())
        .expect("the envelope is JSON");
    let statement: Value =
        serde_json::from_slice(&b64_decode(envelope["payload"].as_str().unwrap())).unwrap();
    let names: Vec<&str> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [NEWLINE_NAME, BIDI_NAME, MARKUP_NAME]);
}

#[test]
fn verify_report_of_a_hostile_key_id_prints_no_raw_escape_or_carriage_return() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "demo-1.0.tar.gz", b"demo 1.0\n");
    env.hwsign_ok(&[
        "attest",
        "--key",
        "release-p256",
        "--purl",
        PURL,
        "-o",
        "release.json",
        "demo-1.0.tar.gz",
    ]);
    let signer = env.hwsign_ok(&[
        "keys",
        "export",
        "release-p256",
        "--format",
        "policy",
        "--name",
        "alice",
    ]);
    fs::write(
        env.path("policy.toml"),
        format!("{signer}\n[[rule]]\nname = \"all\"\nartifacts = [\"*\"]\nsigners = [\"alice\"]\nthreshold = 1\n"),
    )
    .unwrap();

    let hostile = "\r\u{1b}[2KOK   demo-1.0.tar.gz  rule \"all\" (1 of 1): alice\u{1b}[8m\u{202e}";
    let mut envelope: Value =
        serde_json::from_slice(&fs::read(env.path("release.json")).unwrap()).unwrap();
    let sig = envelope["signatures"][0]["sig"].clone();
    envelope["signatures"] = serde_json::json!([{ "keyid": hostile, "sig": "AAAA" }]);
    fs::write(
        env.path("hostile.json"),
        serde_json::to_vec(&envelope).unwrap(),
    )
    .unwrap();
    // A hostile payload type too (the signature no longer matches it).
    envelope["payloadType"] = Value::String(format!("application/vnd.in-toto+json{hostile}"));
    envelope["signatures"] = serde_json::json!([{ "keyid": hostile, "sig": sig }]);
    fs::write(
        env.path("hostile-type.json"),
        serde_json::to_vec(&envelope).unwrap(),
    )
    .unwrap();

    for file in ["hostile.json", "hostile-type.json"] {
        let out = run(env.command(client_bin()).args([
            "verify",
            "--policy",
            env.path("policy.toml").to_str().unwrap(),
            "--envelope",
            file,
            "demo-1.0.tar.gz",
        ]));
        let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
        assert!(!out.status.success(), "{file}: verified?\n{stdout}{stderr}");
        for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(
                !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'),
                "{file}: raw ESC, CR or bidi override on {what}: {text:?}"
            );
        }
        assert!(
            stdout.lines().all(|l| !l.starts_with("OK")),
            "{file}: {stdout}"
        );
        if file == "hostile.json" {
            assert!(stdout.starts_with("FAIL demo-1.0.tar.gz"), "{stdout}");
            assert!(
                stdout.contains("\\r\\x1b[2KOK   demo-1.0.tar.gz"),
                "{file}: the key id is not shown escaped: {stdout}"
            );
        }
    }
}
