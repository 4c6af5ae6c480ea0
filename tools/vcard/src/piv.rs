//! The PIV card: piv-authenticator behind the ISO layer, made to look like a YubiKey 5 to the
//! `yubikey` crate, yubico-piv-tool, ykcs11 and OpenSC:
//!
//! * SELECT by the 5-byte PIV RID `A000000308` (what those clients send) is rewritten to the full
//!   PIV AID (piv-authenticator only accepts 9 or more bytes);
//! * GET VERSION (INS FD) answers the configured version (5.4.3: the `yubikey` crate rejects the
//!   firmware's 6.6.6);
//! * GET SERIAL (INS F8) answers the configured serial (the firmware answers the same constant
//!   on every card);
//! * GET METADATA (INS F7, firmware 5.3+; `--version` below 5.3.0 answers 6D00 as older
//!   YubiKeys do) is synthesized from what the runner saw and stored:
//!   GENERATE ASYMMETRIC KEY PAIR and IMPORT (algorithm, the Yubico PIN-policy tag AA and
//!   touch-policy tag AB, origin, and for generated keys the public key), `--slot-policy`
//!   overrides, PIN/PUK/management-key changes, and the PIN retry counter;
//! * PIN policy, which the firmware fixes per slot (9C: VERIFY as the command right before
//!   every use, 9E: none, others: once per session), is emulated per the recorded policy:
//!   `always` refuses (6982) a GENERAL AUTHENTICATE without a successful VERIFY since the
//!   previous one; on 9C the runner replays this session's verified PIN right before the
//!   command (so `once` works, and `always` tolerates commands between VERIFY and use, as a
//!   YubiKey does). `never` on slots other than 9E is not emulated: the firmware still wants
//!   the PIN once per session;
//! * SELECT of a Yubico applet (AID prefix A000000527: OTP, OATH, management, as ykman does)
//!   leaves PIV until PIV is selected again: PIV commands get 6D00 and PIV's PIN state is
//!   dropped, as on a YubiKey;
//! * touch policy `always` (or `cached` with no touch in the last 15 s) holds the response of a
//!   successful GENERAL AUTHENTICATE with that slot's key until a touch, else 6982;
//! * ATTEST (INS F9) and the f9 certificate (GET DATA 5FFF01) are answered with a test CA (see
//!   [`crate::attest`]): generated keys only, as on a YubiKey (imported ones: 6A80).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use crate::iso::{
    call_firmware, find_tlv, hex, tlv, Apdu, App, Response, SW_INS_NOT_SUPPORTED,
    SW_REFERENCE_NOT_FOUND, SW_SECURITY_STATUS,
};
use crate::touch::Touch;

/// A000000308 00001000 0100
/// Yubico's RID: the YubiKey's own applets (OTP, OATH, management) are selected by AIDs that
/// start with it. Selecting one leaves PIV, as on a YubiKey: until PIV is selected again, PIV
/// commands are not understood (6D00), and PIV's PIN state is gone.
pub const YUBICO_RID: [u8; 5] = [0xA0, 0x00, 0x00, 0x05, 0x27];

pub const PIV_AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];

pub const PIN_DEFAULT: u8 = 0;
pub const PIN_NEVER: u8 = 1;
pub const PIN_ONCE: u8 = 2;
pub const PIN_ALWAYS: u8 = 3;
pub const TOUCH_DEFAULT: u8 = 0;
pub const TOUCH_NEVER: u8 = 1;
pub const TOUCH_ALWAYS: u8 = 2;
pub const TOUCH_CACHED: u8 = 3;

const SLOT_SIGNATURE: u8 = 0x9C;
const SLOT_CARD_AUTH: u8 = 0x9E;
const SLOT_MANAGEMENT: u8 = 0x9B;
const REF_PIN: u8 = 0x80;
const REF_PUK: u8 = 0x81;
/// A YubiKey's touch cache.
const TOUCH_CACHE: Duration = Duration::from_secs(15);
const PIN_RETRIES: u8 = 3;
/// GET DATA's tag list for the f9 certificate object 5FFF01.
const F9_OBJECT: [u8; 5] = [0x5C, 0x03, 0x5F, 0xFF, 0x01];
/// What a YubiKey answers to ATTEST for an imported key.
const SW_INCORRECT_DATA: u16 = 0x6A80;

pub fn is_key_slot(slot: u8) -> bool {
    matches!(slot, 0x9A | 0x9C | 0x9D | 0x9E | 0x82..=0x95)
}

fn default_pin_policy(slot: u8) -> u8 {
    match slot {
        SLOT_SIGNATURE => PIN_ALWAYS,
        SLOT_CARD_AUTH => PIN_NEVER,
        _ => PIN_ONCE,
    }
}

pub fn parse_pin_policy(s: &str) -> Result<u8, String> {
    Ok(match s {
        "default" => PIN_DEFAULT,
        "never" => PIN_NEVER,
        "once" => PIN_ONCE,
        "always" => PIN_ALWAYS,
        other => return Err(format!("unknown PIN policy {other:?} (never|once|always)")),
    })
}

pub fn parse_touch_policy(s: &str) -> Result<u8, String> {
    Ok(match s {
        "default" => TOUCH_DEFAULT,
        "never" => TOUCH_NEVER,
        "always" => TOUCH_ALWAYS,
        "cached" => TOUCH_CACHED,
        other => {
            return Err(format!(
                "unknown touch policy {other:?} (never|always|cached)"
            ))
        }
    })
}

/// `SLOT=PIN,TOUCH`, e.g. `9c=once,always`; either policy may be empty (`9a=,cached`).
pub fn parse_slot_policy(s: &str) -> Result<(u8, Option<u8>, Option<u8>), String> {
    let (slot, policies) = s
        .split_once('=')
        .ok_or_else(|| format!("--slot-policy {s:?}: expected SLOT=PIN,TOUCH"))?;
    let slot = u8::from_str_radix(slot.trim_start_matches("0x"), 16)
        .map_err(|_| format!("--slot-policy {s:?}: slot is not hex"))?;
    if !is_key_slot(slot) {
        return Err(format!(
            "--slot-policy {s:?}: {slot:02x} is not a PIV key slot"
        ));
    }
    let (pin, touch) = policies.split_once(',').unwrap_or((policies, ""));
    let pin = (!pin.is_empty())
        .then(|| parse_pin_policy(pin))
        .transpose()?;
    let touch = (!touch.is_empty())
        .then(|| parse_touch_policy(touch))
        .transpose()?;
    Ok((slot, pin, touch))
}

pub struct PivConfig {
    pub version: [u8; 3],
    pub serial: u32,
    /// `--slot-policy`: (PIN, touch) per slot, over what GENERATE/IMPORT said.
    pub overrides: BTreeMap<u8, (Option<u8>, Option<u8>)>,
    /// Where the metadata lives between runs (next to `--state`); None: memory only.
    pub meta_path: Option<PathBuf>,
}

#[derive(Clone, Debug)]
struct SlotMeta {
    alg: u8,
    pin: u8,
    touch: u8,
    /// 1 generated, 2 imported.
    origin: u8,
    /// Contents of the 7F49 template of GENERATE's answer (86 for EC, 81/82 for RSA).
    public: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
struct Meta {
    slots: BTreeMap<u8, SlotMeta>,
    pin_changed: bool,
    puk_changed: bool,
    mgm_changed: bool,
    mgm_alg: u8,
}

impl Default for Meta {
    fn default() -> Meta {
        Meta {
            slots: BTreeMap::new(),
            pin_changed: false,
            puk_changed: false,
            mgm_changed: false,
            mgm_alg: 0x03, // 3DES, as on a YubiKey before 5.7
        }
    }
}

impl Meta {
    /// Line format: `pin-changed 0|1`, `puk-changed 0|1`, `mgm ALG changed 0|1`,
    /// `slot SS alg AA pin P touch T origin O pub HEX|-` (hex bytes).
    fn load(path: &PathBuf) -> Meta {
        let mut meta = Meta::default();
        let Ok(text) = fs::read_to_string(path) else {
            return meta;
        };
        let byte = |s: &str| u8::from_str_radix(s, 16).ok();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["pin-changed", v] => meta.pin_changed = *v == "1",
                ["puk-changed", v] => meta.puk_changed = *v == "1",
                ["mgm", alg, "changed", v] => {
                    meta.mgm_alg = byte(alg).unwrap_or(0x03);
                    meta.mgm_changed = *v == "1";
                }
                ["slot", s, "alg", a, "pin", p, "touch", t, "origin", o, "pub", k] => {
                    let (Some(s), Some(alg), Some(pin), Some(touch), Some(origin)) =
                        (byte(s), byte(a), byte(p), byte(t), byte(o))
                    else {
                        log::warn!("{}: bad line {line:?}", path.display());
                        continue;
                    };
                    let public = (*k != "-").then(|| unhex(k)).flatten();
                    meta.slots.insert(
                        s,
                        SlotMeta {
                            alg,
                            pin,
                            touch,
                            origin,
                            public,
                        },
                    );
                }
                [] => {}
                _ => log::warn!("{}: bad line {line:?}", path.display()),
            }
        }
        meta
    }

    fn save(&self, path: &PathBuf) {
        let mut text = format!(
            "pin-changed {}\npuk-changed {}\nmgm {:02x} changed {}\n",
            u8::from(self.pin_changed),
            u8::from(self.puk_changed),
            self.mgm_alg,
            u8::from(self.mgm_changed)
        );
        for (slot, m) in &self.slots {
            text.push_str(&format!(
                "slot {slot:02x} alg {:02x} pin {:02x} touch {:02x} origin {:02x} pub {}\n",
                m.alg,
                m.pin,
                m.touch,
                m.origin,
                m.public.as_deref().map_or_else(|| "-".to_string(), hex)
            ));
        }
        let tmp = path.with_extension("tmp");
        if let Err(e) = fs::write(&tmp, text).and_then(|()| fs::rename(&tmp, path)) {
            log::error!("cannot save {}: {e}", path.display());
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What this power-on session knows about the PIN.
#[derive(Default)]
struct Session {
    /// The PIN last verified successfully (for the 9C replay).
    pin: Option<Vec<u8>>,
    /// A VERIFY succeeded since the last GENERAL AUTHENTICATE (for PIN policy `always`).
    fresh: bool,
}

pub struct PivApp<T: piv_authenticator::Client> {
    app: piv_authenticator::Authenticator<T>,
    cfg: PivConfig,
    meta: Meta,
    touch: Touch,
    session: Session,
    /// Another of the YubiKey's applets is selected (see [`YUBICO_RID`]).
    other_applet: bool,
}

impl<T: piv_authenticator::Client> PivApp<T> {
    pub fn new(app: piv_authenticator::Authenticator<T>, cfg: PivConfig, touch: Touch) -> Self {
        let meta = cfg.meta_path.as_ref().map(Meta::load).unwrap_or_default();
        PivApp {
            app,
            cfg,
            meta,
            touch,
            session: Session::default(),
            other_applet: false,
        }
    }

    fn forward(&mut self, apdu: &Apdu) -> Response {
        let app = &mut self.app;
        call_firmware(apdu, |view, reply| app.respond(view, reply))
    }

    fn save(&self) {
        if let Some(path) = &self.cfg.meta_path {
            self.meta.save(path);
        }
    }

    /// (PIN policy, touch policy) in force for `slot`, never "default".
    fn policy(&self, slot: u8) -> (u8, u8) {
        let (mut pin, mut touch) = self
            .meta
            .slots
            .get(&slot)
            .map_or((PIN_DEFAULT, TOUCH_DEFAULT), |m| (m.pin, m.touch));
        if let Some((p, t)) = self.cfg.overrides.get(&slot) {
            pin = p.unwrap_or(pin);
            touch = t.unwrap_or(touch);
        }
        if pin == PIN_DEFAULT {
            pin = default_pin_policy(slot);
        }
        if touch == TOUCH_DEFAULT {
            touch = TOUCH_NEVER;
        }
        (pin, touch)
    }

    fn select(&mut self, apdu: &Apdu) -> Response {
        if apdu.data.starts_with(&YUBICO_RID) {
            // Leaving PIV: its PIN state goes, as on a YubiKey.
            if !self.other_applet {
                let reset = Apdu::new(0x00, 0x20, 0xFF, REF_PIN, &[], 0);
                self.forward(&reset);
                self.session = Session::default();
                log::info!(
                    "SELECT {}: another YubiKey applet; PIV commands get 6D00 until PIV is selected again",
                    hex(&apdu.data)
                );
            }
            self.other_applet = true;
            return Response::ok(Vec::new());
        }
        let mut a = apdu.clone();
        if a.data.len() >= 5 && a.data.len() < PIV_AID.len() && PIV_AID.starts_with(&a.data) {
            a.data = PIV_AID.to_vec();
        }
        let r = self.forward(&a);
        // A failed SELECT (an applet the card does not have) leaves the selection as it was.
        if r.is_ok() {
            self.other_applet = false;
        }
        r
    }

    fn verify(&mut self, apdu: &Apdu) -> Response {
        let r = self.forward(apdu);
        if apdu.p1 == 0xFF {
            self.session = Session::default();
        } else if apdu.p2 == REF_PIN && !apdu.data.is_empty() {
            if r.is_ok() {
                self.session.pin = Some(apdu.data.clone());
                self.session.fresh = true;
            } else {
                self.session = Session::default();
            }
        }
        r
    }

    fn generate(&mut self, apdu: &Apdu) -> Response {
        let slot = apdu.p2;
        let template = find_tlv(&apdu.data, 0xAC).unwrap_or(&[]);
        let first = |tag| find_tlv(template, tag).and_then(|v| v.first().copied());
        let (alg, pin, touch) = (first(0x80), first(0xAA), first(0xAB));
        let r = self.forward(apdu);
        if let (true, Some(alg)) = (r.is_ok(), alg) {
            let public = find_tlv(&r.data, 0x7F49).map(<[u8]>::to_vec);
            self.meta.slots.insert(
                slot,
                SlotMeta {
                    alg,
                    pin: pin.unwrap_or(PIN_DEFAULT),
                    touch: touch.unwrap_or(TOUCH_DEFAULT),
                    origin: 1,
                    public,
                },
            );
            self.save();
        }
        r
    }

    fn import(&mut self, apdu: &Apdu) -> Response {
        let first = |tag| find_tlv(&apdu.data, tag).and_then(|v| v.first().copied());
        let (pin, touch) = (first(0xAA), first(0xAB));
        let r = self.forward(apdu);
        if r.is_ok() {
            self.meta.slots.insert(
                apdu.p2,
                SlotMeta {
                    alg: apdu.p1,
                    pin: pin.unwrap_or(PIN_DEFAULT),
                    touch: touch.unwrap_or(TOUCH_DEFAULT),
                    origin: 2,
                    // Not derived from the private key: clients read it from the certificate.
                    public: None,
                },
            );
            self.save();
        }
        r
    }

    /// ATTEST (`00 F9 <slot> 00`): a certificate for the slot's generated key.
    fn attest(&mut self, slot: u8) -> Response {
        let Some(m) = self.meta.slots.get(&slot).cloned() else {
            return Response::status(SW_REFERENCE_NOT_FOUND);
        };
        let spki = match (m.origin, &m.public) {
            (1, Some(public)) => crate::attest::spki(m.alg, public),
            _ => None,
        };
        let Some(spki) = spki else {
            log::info!("ATTEST {slot:02x}: not a generated key: 6A80");
            return Response::status(SW_INCORRECT_DATA);
        };
        let (pin, touch) = self.policy(slot);
        let facts = crate::attest::SlotFacts {
            slot,
            version: self.cfg.version,
            serial: self.cfg.serial,
            pin,
            touch,
        };
        Response::ok(crate::attest::slot_certificate(&facts, &spki))
    }

    /// GET DATA of the f9 certificate object (5FFF01), which the firmware does not have.
    fn attestation_certificate(&self) -> Response {
        let cert = crate::attest::device_certificate(self.cfg.serial);
        let object = [tlv(0x70, &cert), tlv(0x71, &[0x00]), tlv(0xFE, &[])].concat();
        Response::ok(tlv(0x53, &object))
    }

    fn general_authenticate(&mut self, apdu: &Apdu) -> Response {
        let slot = apdu.p2;
        let (pin, touch) = self.policy(slot);
        let fresh = std::mem::take(&mut self.session.fresh);
        if pin == PIN_ALWAYS && !fresh {
            log::info!("slot {slot:02x}: PIN policy always and no VERIFY since the last use: 6982");
            return Response::status(SW_SECURITY_STATUS);
        }
        // The firmware wants a VERIFY as the command right before any use of 9C.
        if slot == SLOT_SIGNATURE {
            if let Some(p) = self.session.pin.clone() {
                let replay = self.forward(&Apdu::new(0x00, 0x20, 0x00, REF_PIN, &p, 0));
                if !replay.is_ok() {
                    log::warn!("slot 9c: PIN replay answered {:04X}", replay.sw);
                    self.session = Session::default();
                }
            }
        }
        let r = self.forward(apdu);
        if !r.is_ok() {
            return r;
        }
        let needs_touch = match touch {
            TOUCH_ALWAYS => true,
            TOUCH_CACHED => !self.touch.recent(TOUCH_CACHE),
            _ => false,
        };
        if needs_touch
            && !self
                .touch
                .wait(&format!("PIV GENERAL AUTHENTICATE slot {slot:02x}"))
        {
            return Response::status(SW_SECURITY_STATUS);
        }
        r
    }

    /// Remaining PIN tries: 3 after a successful VERIFY this session, else VERIFY without data.
    fn pin_retries(&mut self) -> u8 {
        if self.session.pin.is_some() {
            return PIN_RETRIES;
        }
        let r = self.forward(&Apdu::new(0x00, 0x20, 0x00, REF_PIN, &[], 0));
        match r.sw {
            0x9000 => PIN_RETRIES,
            sw if sw & 0xFFF0 == 0x63C0 => (sw & 0x0F) as u8,
            _ => 0,
        }
    }

    fn metadata(&mut self, reference: u8) -> Response {
        let mut out = Vec::new();
        match reference {
            REF_PIN => {
                let retries = self.pin_retries();
                out.extend(tlv(0x01, &[0xFF]));
                out.extend(tlv(0x05, &[u8::from(!self.meta.pin_changed)]));
                out.extend(tlv(0x06, &[PIN_RETRIES, retries]));
            }
            REF_PUK => {
                out.extend(tlv(0x01, &[0xFF]));
                out.extend(tlv(0x05, &[u8::from(!self.meta.puk_changed)]));
            }
            SLOT_MANAGEMENT => {
                out.extend(tlv(0x01, &[self.meta.mgm_alg]));
                out.extend(tlv(0x02, &[PIN_DEFAULT, TOUCH_NEVER]));
                out.extend(tlv(0x05, &[u8::from(!self.meta.mgm_changed)]));
            }
            slot if is_key_slot(slot) => {
                let Some(m) = self.meta.slots.get(&slot).cloned() else {
                    return Response::status(SW_REFERENCE_NOT_FOUND);
                };
                let (pin, touch) = self.policy(slot);
                out.extend(tlv(0x01, &[m.alg]));
                out.extend(tlv(0x02, &[pin, touch]));
                out.extend(tlv(0x03, &[m.origin]));
                if let Some(public) = &m.public {
                    out.extend(tlv(0x04, public));
                }
            }
            _ => return Response::status(SW_REFERENCE_NOT_FOUND),
        }
        Response::ok(out)
    }
}

impl<T: piv_authenticator::Client> App for PivApp<T> {
    fn call(&mut self, apdu: &Apdu) -> Response {
        if self.other_applet && !(apdu.ins == 0xA4 && apdu.p1 == 0x04) {
            return Response::status(SW_INS_NOT_SUPPORTED);
        }
        match apdu.ins {
            0xA4 if apdu.p1 == 0x04 => self.select(apdu),
            0xFD => Response::ok(self.cfg.version.to_vec()),
            0xF8 => Response::ok(self.cfg.serial.to_be_bytes().to_vec()),
            // Firmware before 5.3 has no GET METADATA: INS not supported, as such a YubiKey.
            0xF7 if self.cfg.version < [5, 3, 0] => Response::status(SW_INS_NOT_SUPPORTED),
            0xF7 => self.metadata(apdu.p2),
            0x20 => self.verify(apdu),
            0x24 | 0x2C => {
                let r = self.forward(apdu);
                // A changed PIN makes the remembered one wrong: never replay it.
                self.session = Session::default();
                if r.is_ok() {
                    if apdu.ins == 0x2C || apdu.p2 == REF_PIN {
                        self.meta.pin_changed = true;
                    } else if apdu.p2 == REF_PUK {
                        self.meta.puk_changed = true;
                    }
                    self.save();
                }
                r
            }
            0xFF => {
                let r = self.forward(apdu);
                if r.is_ok() {
                    self.meta.mgm_changed = true;
                    if let Some(alg) = apdu.data.first() {
                        self.meta.mgm_alg = *alg;
                    }
                    self.save();
                }
                r
            }
            0xFB => {
                let r = self.forward(apdu);
                if r.is_ok() {
                    self.meta = Meta::default();
                    self.session = Session::default();
                    self.save();
                }
                r
            }
            0x47 => self.generate(apdu),
            0xFE => self.import(apdu),
            0x87 if is_key_slot(apdu.p2) => self.general_authenticate(apdu),
            // ATTEST: P1 is the slot (yubico-piv-tool and the yubikey crate send `00 F9 SS 00`).
            0xF9 if is_key_slot(apdu.p1) => self.attest(apdu.p1),
            0xCB if apdu.data == F9_OBJECT => self.attestation_certificate(),
            _ => self.forward(apdu),
        }
    }

    fn reset(&mut self) {
        // The firmware keeps its volatile state across our power cycles: log the PIN out.
        let r = self.forward(&Apdu::new(0x00, 0x20, 0xFF, REF_PIN, &[], 0));
        if !r.is_ok() {
            log::debug!("PIN logout on reset answered {:04X}", r.sw);
        }
        self.session = Session::default();
        // A reset card starts with its default applet: PIV here.
        self.other_applet = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_policy_parsing() {
        assert_eq!(
            parse_slot_policy("9c=once,always").unwrap(),
            (0x9C, Some(PIN_ONCE), Some(TOUCH_ALWAYS))
        );
        assert_eq!(
            parse_slot_policy("9a=,cached").unwrap(),
            (0x9A, None, Some(TOUCH_CACHED))
        );
        assert!(parse_slot_policy("9b=once,never").is_err());
        assert!(parse_slot_policy("9a").is_err());
    }

    #[test]
    fn meta_round_trip() {
        let dir = std::env::temp_dir().join(format!("hwsign-vcard-meta-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("card.piv-meta");
        let mut meta = Meta {
            pin_changed: true,
            ..Meta::default()
        };
        meta.slots.insert(
            0x9A,
            SlotMeta {
                alg: 0x11,
                pin: PIN_ONCE,
                touch: TOUCH_ALWAYS,
                origin: 1,
                public: Some(vec![0x86, 0x01, 0x04]),
            },
        );
        meta.save(&path);
        let back = Meta::load(&path);
        assert!(back.pin_changed && !back.puk_changed);
        let s = &back.slots[&0x9A];
        assert_eq!(
            (s.alg, s.pin, s.touch, s.origin),
            (0x11, PIN_ONCE, TOUCH_ALWAYS, 1)
        );
        assert_eq!(s.public.as_deref(), Some(&[0x86, 0x01, 0x04][..]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
