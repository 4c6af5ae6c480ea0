//! `udev/70-hwsign.rules`: every rule is one line that matches a USB (or hidraw) device by
//! `ATTRS{idVendor}` / `ATTRS{idProduct}` and tags it `uaccess`, and every VID:PID it names is
//! in libccid's list of supported readers (Debian `libccid`'s `Info.plist`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use hwsign_testrig::*;

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/udev/70-hwsign.rules");
const LIBCCID_PLIST: &str = "/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist";

const YUBICO_VID: &str = "1050";
const NITROKEY_VID: &str = "20a0";

// ---------------------------------------------------------------- udev rules

/// One `KEY[{attr}] OP "value"` of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Assignment {
    key: String,
    op: String,
    value: String,
}

#[derive(Debug)]
struct Rule {
    line: usize,
    text: String,
    parts: Vec<Assignment>,
}

impl Rule {
    fn get(&self, key: &str, op: &str) -> Vec<&str> {
        self.parts
            .iter()
            .filter(|a| a.key == key && a.op == op)
            .map(|a| a.value.as_str())
            .collect()
    }

    fn one(&self, key: &str, op: &str) -> &str {
        match self.get(key, op).as_slice() {
            [v] => v,
            other => panic!(
                "{RULES}:{}: expected exactly one {key}{op}\"…\", found {}: {}",
                self.line,
                other.len(),
                self.text
            ),
        }
    }

    fn has_key(&self, key: &str) -> bool {
        self.parts.iter().any(|a| a.key == key)
    }
}

/// Splits one rule into its comma-separated `KEY OP "VALUE"` assignments.
fn parse_rule(line: usize, text: &str) -> Result<Rule, String> {
    const OPS: [&str; 6] = ["==", "!=", "+=", "-=", ":=", "="];
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut parts = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        // KEY, with an optional {attribute}.
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            match text[i..].find('}') {
                Some(close) => i += close + 1,
                None => return Err(format!("unclosed '{{' at column {}", i + 1)),
            }
        }
        let key = &text[start..i];
        if key.is_empty() {
            return Err(format!("expected a key at column {}", i + 1));
        }
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let Some(op) = OPS.iter().find(|op| text[i..].starts_with(**op)) else {
            return Err(format!("expected an operator after {key}"));
        };
        i += op.len();
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i == bytes.len() || bytes[i] != b'"' {
            return Err(format!("the value of {key} is not in double quotes"));
        }
        i += 1;
        let value_start = i;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        if i >= bytes.len() {
            return Err(format!("unterminated value of {key}"));
        }
        parts.push(Assignment {
            key: key.to_string(),
            op: op.to_string(),
            value: text[value_start..i].to_string(),
        });
        i += 1;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i < bytes.len() && bytes[i] != b',' {
            return Err(format!(
                "expected ',' between assignments at column {}",
                i + 1
            ));
        }
    }
    Ok(Rule {
        line,
        text: text.to_string(),
        parts,
    })
}

/// The rules of a rules file: comments and blank lines skipped, `\` continuations joined.
fn parse_rules(text: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let (start, mut acc) = match pending.take() {
            Some(p) => p,
            None => {
                let t = raw.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                (line_no, String::new())
            }
        };
        let t = raw.trim();
        if let Some(head) = t.strip_suffix('\\') {
            acc.push_str(head);
            acc.push(' ');
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(t);
        let rule = parse_rule(start, &acc)
            .unwrap_or_else(|e| panic!("{RULES}:{start}: cannot parse the rule ({e}): {acc}"));
        rules.push(rule);
    }
    assert!(
        pending.is_none(),
        "{RULES}: the last rule ends with a '\\' continuation"
    );
    rules
}

fn is_lower_hex4(s: &str) -> bool {
    s.len() == 4
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// ---------------------------------------------------------------- libccid's Info.plist

/// The `<string>` values of the `<array>` that follows `<key>name</key>`.
fn plist_array(plist: &str, name: &str) -> Vec<String> {
    let key = format!("<key>{name}</key>");
    let at = plist
        .find(&key)
        .unwrap_or_else(|| panic!("{LIBCCID_PLIST}: no {key}"));
    let rest = plist[at + key.len()..].trim_start();
    let body = rest
        .strip_prefix("<array>")
        .unwrap_or_else(|| panic!("{LIBCCID_PLIST}: {key} is not followed by <array>"));
    let end = body
        .find("</array>")
        .unwrap_or_else(|| panic!("{LIBCCID_PLIST}: the array of {key} is not closed"));
    let mut values = Vec::new();
    let mut items = &body[..end];
    while let Some(open) = items.find("<string>") {
        let after = &items[open + "<string>".len()..];
        let close = after
            .find("</string>")
            .unwrap_or_else(|| panic!("{LIBCCID_PLIST}: unclosed <string> in {key}"));
        values.push(xml_unescape(after[..close].trim()));
        items = &after[close + "</string>".len()..];
    }
    values
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn strip_xml_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + "-->".len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `0x1050` / `0X20A0` → `1050` / `20a0`.
fn usb_id(value: &str) -> String {
    let hex = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
        .unwrap_or_else(|| panic!("{LIBCCID_PLIST}: USB id {value:?} does not start with 0x"));
    let id = u16::from_str_radix(hex, 16)
        .unwrap_or_else(|e| panic!("{LIBCCID_PLIST}: USB id {value:?}: {e}"));
    format!("{id:04x}")
}

/// (vendor, product) → libccid's names for it, from the three parallel arrays.
fn parse_libccid_plist(text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let text = strip_xml_comments(text);
    let vendors = plist_array(&text, "ifdVendorID");
    let products = plist_array(&text, "ifdProductID");
    let names = plist_array(&text, "ifdFriendlyName");
    assert!(
        vendors.len() == products.len() && products.len() == names.len(),
        "{LIBCCID_PLIST}: ifdVendorID ({}), ifdProductID ({}) and ifdFriendlyName ({}) differ in length",
        vendors.len(),
        products.len(),
        names.len()
    );
    let mut readers: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for ((v, p), n) in vendors.iter().zip(&products).zip(names) {
        readers.entry((usb_id(v), usb_id(p))).or_default().push(n);
    }
    readers
}

fn libccid_readers() -> BTreeMap<(String, String), Vec<String>> {
    require_file(LIBCCID_PLIST, "libccid");
    let text = fs::read_to_string(LIBCCID_PLIST)
        .unwrap_or_else(|e| panic!("read {LIBCCID_PLIST} (Debian package libccid): {e}"));
    let readers = parse_libccid_plist(&text);
    assert!(
        readers.len() > 100,
        "{LIBCCID_PLIST} lists only {} readers: not libccid's Info.plist? (Debian package libccid)",
        readers.len()
    );
    readers
}

// ---------------------------------------------------------------- tests

#[test]
fn parsers_read_rules_and_plist_arrays() {
    let rules = parse_rules(
        "# comment\n\n\
         ACTION!=\"remove\", SUBSYSTEM==\"usb\", ATTRS{idVendor}==\"1050\", \\\n  \
         ATTRS{idProduct}==\"0407\", TAG+=\"uaccess\"\n",
    );
    assert_eq!(rules.len(), 1);
    let r = &rules[0];
    assert_eq!(r.line, 3);
    assert_eq!(r.one("SUBSYSTEM", "=="), "usb");
    assert_eq!(r.one("ATTRS{idVendor}", "=="), "1050");
    assert_eq!(r.one("ATTRS{idProduct}", "=="), "0407");
    assert_eq!(r.one("TAG", "+="), "uaccess");
    assert_eq!(r.one("ACTION", "!="), "remove");
    assert!(parse_rule(1, "SUBSYSTEM==usb").is_err());
    assert!(parse_rule(1, "SUBSYSTEM==\"usb\" TAG+=\"uaccess\"").is_err());

    let plist = r#"<plist><dict>
        <key>ifdVendorID</key>
        <array>
            <string>0x1050</string>
            <!-- <string>0xdead</string> -->
            <string>0X20A0</string>
        </array>
        <key>ifdProductID</key>
        <array> <string>0x0407</string> <string>0x4211</string> </array>
        <key>ifdFriendlyName</key>
        <array>
            <string>Yubico YubiKey OTP+FIDO+CCID</string>
            <string>Nitrokey &amp; friends</string>
        </array>
    </dict></plist>"#;
    let readers = parse_libccid_plist(plist);
    assert_eq!(readers.len(), 2, "{readers:?}");
    assert_eq!(
        readers[&("1050".to_string(), "0407".to_string())],
        ["Yubico YubiKey OTP+FIDO+CCID"]
    );
    assert_eq!(
        readers[&("20a0".to_string(), "4211".to_string())],
        ["Nitrokey & friends"]
    );
}

#[test]
fn every_rule_tags_a_usb_device_by_vid_pid_for_uaccess() {
    let text = fs::read_to_string(RULES).unwrap_or_else(|e| panic!("read {RULES}: {e}"));
    let rules = parse_rules(&text);
    assert!(!rules.is_empty(), "{RULES} has no rules");
    let mut seen = BTreeSet::new();
    let mut usb_devices = BTreeSet::new();
    let mut hidraw_devices = BTreeSet::new();
    for r in &rules {
        let subsystem = r.one("SUBSYSTEM", "==");
        assert!(
            subsystem == "usb" || subsystem == "hidraw",
            "{RULES}:{}: SUBSYSTEM must be usb or hidraw, not {subsystem:?}: {}",
            r.line,
            r.text
        );
        let vid = r.one("ATTRS{idVendor}", "==");
        let pid = r.one("ATTRS{idProduct}", "==");
        for (what, id) in [("idVendor", vid), ("idProduct", pid)] {
            assert!(
                is_lower_hex4(id),
                "{RULES}:{}: {what} {id:?} is not four lower-case hex digits: {}",
                r.line,
                r.text
            );
        }
        assert!(
            r.get("TAG", "+=").contains(&"uaccess"),
            "{RULES}:{}: no TAG+=\"uaccess\": {}",
            r.line,
            r.text
        );
        // uaccess is the only grant: no world- or group-readable nodes.
        for forbidden in ["MODE", "GROUP", "OWNER", "RUN", "PROGRAM"] {
            assert!(
                !r.has_key(forbidden),
                "{RULES}:{}: sets {forbidden}; the rules only tag devices uaccess: {}",
                r.line,
                r.text
            );
        }
        assert!(
            seen.insert((subsystem.to_string(), vid.to_string(), pid.to_string())),
            "{RULES}:{}: duplicate rule for {subsystem} {vid}:{pid}",
            r.line
        );
        let id = (vid.to_string(), pid.to_string());
        if subsystem == "usb" {
            usb_devices.insert(id);
        } else {
            hidraw_devices.insert(id);
        }
    }
    let hid_only: Vec<_> = hidraw_devices.difference(&usb_devices).collect();
    assert!(
        hid_only.is_empty(),
        "{RULES}: hidraw rules for devices without a usb rule: {hid_only:?}"
    );
}

#[test]
fn every_vid_pid_is_a_libccid_supported_reader() {
    let readers = libccid_readers();
    let text = fs::read_to_string(RULES).unwrap_or_else(|e| panic!("read {RULES}: {e}"));
    let rules = parse_rules(&text);

    let mut unknown = Vec::new();
    let (mut yubikeys, mut nitrokeys) = (Vec::new(), Vec::new());
    for r in &rules {
        let vid = r.one("ATTRS{idVendor}", "==").to_string();
        let pid = r.one("ATTRS{idProduct}", "==").to_string();
        match readers.get(&(vid.clone(), pid.clone())) {
            None => unknown.push(format!("line {}: {vid}:{pid}", r.line)),
            Some(names) => {
                if vid == YUBICO_VID {
                    yubikeys.push(format!("{vid}:{pid} {}", names.join(" / ")));
                }
                if vid == NITROKEY_VID && names.iter().any(|n| n.contains("Nitrokey")) {
                    nitrokeys.push(format!("{vid}:{pid} {}", names.join(" / ")));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "{RULES} names devices that are not in libccid's supported reader list \
         ({LIBCCID_PLIST}, Debian package libccid):\n  {}",
        unknown.join("\n  ")
    );
    assert!(
        !yubikeys.is_empty(),
        "{RULES} has no YubiKey (vendor {YUBICO_VID}) rule"
    );
    assert!(
        !nitrokeys.is_empty(),
        "{RULES} has no Nitrokey (vendor {NITROKEY_VID}, named Nitrokey by libccid) rule"
    );
}
