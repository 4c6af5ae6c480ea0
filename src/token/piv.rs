//! YubiKey PIV over PC/SC (`yubikey` crate): the keys of slots 9a, 9c, 9d, 9e and 82–95, with
//! PIN and touch policy from GET METADATA (firmware 5.3+; the slot certificate otherwise).
//! The card keeps its own PIN state: a signature is first tried without a PIN, and only when
//! the card asks for one (6982) is the retry counter read, the last try refused unless forced,
//! and the PIN verified once; a second 6982 right after a verified PIN means the touch was not
//! given. Connections are shared and never reset the card.

use std::collections::HashMap;
use std::time::Duration;

use yubikey::YubiKey;
use yubikey::piv::{self, AlgorithmId, SlotAlgorithmId, SlotId};
use yubikey::reader::Context;
use yubikey::{PinPolicy, TouchPolicy};

use super::TokenError;
use super::backend::{GenerateSpec, KeyAttestation, KeyInfo};
use super::card_pins::CardPinBook;
use super::card_worker::{Applet, CardWorker, Listed};
use super::pin_source::PinSource;
use crate::crypto::TokenSignature;
use crate::crypto::pubkey::{KeyAlgorithm, PublicKey};
use crate::crypto::scheme::{HashAlg, Scheme};
use crate::key::{self, BackendKind};

/// The slots hwsign signs with.
fn signing_slots() -> Vec<SlotId> {
    piv::SLOTS
        .iter()
        .copied()
        .filter(|s| !matches!(s, SlotId::Attestation))
        .collect()
}

/// How YubiKeys get their PINs.
#[derive(Debug, Clone)]
pub struct PivPins {
    /// Per serial: the source, and whether the last try may be spent.
    pub per_serial: HashMap<u32, (PinSource, bool)>,
    /// For other YubiKeys.
    pub default: PinSource,
    /// How long a PIN is kept (for keys with PIN policy `always`).
    pub ttl: Duration,
    /// PIN and touch policy per serial, for YubiKeys whose firmware has no GET METADATA.
    pub policy_overrides: HashMap<u32, (Option<PinPolicy>, Option<TouchPolicy>)>,
    /// Management key files per serial (default: the factory key).
    pub management_keys: HashMap<u32, std::path::PathBuf>,
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A key's place on its YubiKey.
#[derive(Debug, Clone)]
pub struct SlotKey {
    slot: SlotId,
    algorithm: AlgorithmId,
    touch: TouchPolicy,
}

/// The PIV applet of every YubiKey PC/SC shows.
pub struct Piv {
    cards: HashMap<u32, YubiKey>,
    /// PIN and touch policy per serial for firmware without GET METADATA.
    policy_overrides: HashMap<u32, (Option<PinPolicy>, Option<TouchPolicy>)>,
    /// Management key files per serial.
    management_keys: HashMap<u32, std::path::PathBuf>,
}

/// Every YubiKey's PIV keys: one token.
pub type PivKeys = CardWorker<Piv>;

/// The CHUID object: read to see whether PIV is the selected applet.
const OBJ_CHUID: yubikey::ObjectId = 0x005f_c102;

/// Selects PIV again when another program selected another of the YubiKey's applets in between
/// (ykman, gpg's scdaemon on the OpenPGP applet): a PIV command then is not understood. The
/// probe is one GET DATA (the CHUID, found or not: PIV answers; another applet does not). PIV
/// is selected only then: selecting it while it is selected could drop its PIN state, and when
/// another applet was selected the YubiKey dropped that state already.
fn ensure_piv_selected(serial: u32, yk: &mut YubiKey) -> Result<(), yubikey::Error> {
    match yk.fetch_object(OBJ_CHUID) {
        // Not understood (6D00 and the like): another applet answered.
        Err(yubikey::Error::GenericError) => {
            tracing::info!(serial, "another applet is selected; selecting PIV again");
            // SELECT PIV, then the retry counter (VERIFY without a PIN: no try spent).
            yk.get_pin_retries().map(|_| ())
        }
        // Found, not found, or an object that does not parse: PIV answered. A PC/SC error
        // (card gone or reset) goes to the caller.
        Err(e @ yubikey::Error::PcscError { .. }) => Err(e),
        Ok(_) | Err(_) => Ok(()),
    }
}

fn slot_name(slot: SlotId) -> String {
    format!("{:02x}", u8::from(slot))
}

fn yk_err(serial: u32, e: yubikey::Error) -> TokenError {
    match e {
        yubikey::Error::PcscError { .. } | yubikey::Error::NotFound => {
            TokenError::NotPresent(format!("YubiKey {serial} ({e})"))
        }
        other => TokenError::Other(format!("YubiKey {serial}: {other}")),
    }
}

fn public_from_spki(algorithm: AlgorithmId, raw: &[u8]) -> Option<PublicKey> {
    match algorithm {
        AlgorithmId::EccP256 => PublicKey::from_sec1(KeyAlgorithm::EcdsaP256, raw).ok(),
        AlgorithmId::EccP384 => PublicKey::from_sec1(KeyAlgorithm::EcdsaP384, raw).ok(),
        AlgorithmId::Ed25519 => PublicKey::ed25519(raw).ok(),
        AlgorithmId::Rsa1024
        | AlgorithmId::Rsa2048
        | AlgorithmId::Rsa3072
        | AlgorithmId::Rsa4096 => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            rsa::RsaPublicKey::from_pkcs1_der(raw)
                .ok()
                .map(PublicKey::Rsa)
        }
        _ => None,
    }
}

fn touch_of(t: TouchPolicy) -> key::TouchPolicy {
    match t {
        TouchPolicy::Always => key::TouchPolicy::Always,
        TouchPolicy::Cached => key::TouchPolicy::Cached,
        _ => key::TouchPolicy::Never,
    }
}

fn pin_of(p: PinPolicy) -> key::PinPolicy {
    match p {
        PinPolicy::Never => key::PinPolicy::Never,
        PinPolicy::Always => key::PinPolicy::Always,
        _ => key::PinPolicy::Once,
    }
}

/// What the YubiKey answered: ECDSA in DER, RSA as the integer.
fn as_token_signature(scheme: Scheme, sig: Vec<u8>) -> TokenSignature {
    match scheme {
        Scheme::Ecdsa(_) => TokenSignature::EcdsaDer(sig),
        Scheme::Ed25519 => TokenSignature::Ed25519(sig),
        Scheme::RsaPkcs1v15(_) | Scheme::RsaPss(_) => TokenSignature::Rsa(sig),
    }
}

/// EMSA-PKCS1-v1_5 encoding of a digest for a modulus of `len` bytes (the card does raw RSA).
fn pkcs1_pad(hash: HashAlg, digest: &[u8], len: usize) -> Result<Vec<u8>, TokenError> {
    let prefix = super::pkcs11::digest_info_prefix(hash);
    let t_len = prefix.len() + digest.len();
    if len < t_len + 11 {
        return Err(TokenError::Unsupported(
            "RSA key too small for this digest".into(),
        ));
    }
    let mut out = vec![0x00, 0x01];
    out.resize(len - t_len - 1, 0xff);
    out.push(0x00);
    out.extend_from_slice(prefix);
    out.extend_from_slice(digest);
    Ok(out)
}

impl CardWorker<Piv> {
    /// No YubiKeys yet: they are found on the first listing.
    pub fn new(pins: PivPins) -> Self {
        CardWorker::with(
            Piv {
                cards: HashMap::new(),
                policy_overrides: pins.policy_overrides,
                management_keys: pins.management_keys,
            },
            CardPinBook::new(pins.per_serial, pins.default, pins.ttl),
        )
    }
}

/// The slot a generate request names (9c when none).
fn generated_slot(spec: &GenerateSpec) -> Result<SlotId, TokenError> {
    generation::slot(if spec.slot.is_empty() {
        "9c"
    } else {
        &spec.slot
    })
}

impl Piv {
    fn slots(
        serial: u32,
        yk: &mut YubiKey,
        overrides: (Option<PinPolicy>, Option<TouchPolicy>),
    ) -> Result<Vec<(KeyInfo, SlotKey)>, yubikey::Error> {
        ensure_piv_selected(serial, yk)?;
        // The public key in the slot's certificate, with the algorithm its size says.
        let from_certificate = |yk: &mut YubiKey, slot| {
            let cert = yubikey::certificate::Certificate::read(yk, slot).ok()?;
            let raw = cert.subject_pki().subject_public_key.raw_bytes().to_vec();
            let alg = match raw.len() {
                65 => AlgorithmId::EccP256,
                97 => AlgorithmId::EccP384,
                32 => AlgorithmId::Ed25519,
                _ => AlgorithmId::Rsa2048,
            };
            Some((alg, raw))
        };
        let mut out = Vec::new();
        for slot in signing_slots() {
            let (algorithm, pin, touch, raw) = match piv::metadata(yk, slot) {
                Ok(meta) => {
                    let SlotAlgorithmId::Asymmetric(alg) = meta.algorithm else {
                        continue;
                    };
                    let (pin, touch) = meta
                        .policy
                        .unwrap_or((PinPolicy::Default, TouchPolicy::Default));
                    // Metadata without the public key (imported keys on some firmware): the
                    // certificate has it.
                    let raw = match meta.public {
                        Some(spki) => spki.subject_public_key.raw_bytes().to_vec(),
                        None => match from_certificate(yk, slot) {
                            Some((_, raw)) => raw,
                            None => continue,
                        },
                    };
                    (alg, pin, touch, raw)
                }
                // An empty slot (the firmware has GET METADATA and found nothing).
                Err(yubikey::Error::NotFound) => continue,
                Err(yubikey::Error::PcscError { .. }) => {
                    return Err(yubikey::Error::PcscError { inner: None });
                }
                // Older firmware (before 5.3, no GET METADATA): the slot's certificate, and
                // the config's word for the key's policies.
                Err(_) => match from_certificate(yk, slot) {
                    Some((alg, raw)) => (
                        alg,
                        overrides.0.unwrap_or(PinPolicy::Default),
                        overrides.1.unwrap_or(TouchPolicy::Default),
                        raw,
                    ),
                    None => continue,
                },
            };
            let Some(public) = public_from_spki(algorithm, &raw) else {
                continue;
            };
            let name = slot_name(slot);
            let info = KeyInfo {
                public,
                label: format!("piv-{serial}-{name}"),
                object: format!("piv:{serial}/{name}"),
                pkcs11_uri: None,
                touch: touch_of(touch),
                pin: pin_of(pin),
                created: None,
            };
            out.push((
                info,
                SlotKey {
                    slot,
                    algorithm,
                    touch,
                },
            ));
        }
        Ok(out)
    }

    /// The connected YubiKey `serial`.
    fn card(&mut self, serial: u32) -> Result<&mut YubiKey, TokenError> {
        self.cards
            .get_mut(&serial)
            .ok_or_else(|| TokenError::NotPresent(format!("YubiKey {serial}")))
    }

    /// Verifies the card's PIV PIN: the retry counter first (the last try only when forced),
    /// then the PIN from its source (`description` says what for); a wrong PIN is reported
    /// with the tries left and never tried again, a right one is kept for the PIN cache TTL.
    fn verify_user_pin(
        &mut self,
        pins: &mut CardPinBook<u32>,
        serial: u32,
        description: &str,
    ) -> Result<(), TokenError> {
        let token = format!("YubiKey {serial}");
        let force = pins.force_last_try(&serial);
        let left = self
            .card(serial)?
            .get_pin_retries()
            .map_err(|e| yk_err(serial, e))?;
        // `left == 0` is ambiguous in the yubikey crate (blocked, or verified already in this
        // card session); verifying a blocked PIN costs nothing, so only the last try is guarded.
        if left == 1 && !force {
            return Err(TokenError::PinFinalTry(token));
        }
        let pin = pins.pin(&serial, &token, description)?;
        match self.card(serial)?.verify_pin(pin.pin.expose_bytes()) {
            Ok(()) => {
                pins.accepted(&serial, pin);
                Ok(())
            }
            Err(yubikey::Error::WrongPin { tries: 0 }) | Err(yubikey::Error::PinLocked) => {
                Err(TokenError::PinLocked(token))
            }
            Err(yubikey::Error::WrongPin { tries }) => {
                pins.rejected(&serial, &pin);
                Err(TokenError::PinWrong {
                    token,
                    source_name: format!("{} ({tries} tries left)", pin.source_name),
                })
            }
            Err(e) => Err(yk_err(serial, e)),
        }
    }
}

impl Applet for Piv {
    type Card = u32;
    type Key = SlotKey;
    const BACKEND: BackendKind = BackendKind::Piv;

    fn label(cards: &[String]) -> String {
        match cards {
            [one] => format!("YubiKey {one}"),
            _ => format!("YubiKeys ({})", cards.len()),
        }
    }

    fn discover(&mut self) {
        let Ok(mut ctx) = Context::open() else { return };
        let Ok(readers) = ctx.iter() else { return };
        for reader in readers {
            // A reader whose YubiKey is ours already: no probe (it would disturb nothing, but
            // costs a round trip per listing).
            if self.cards.values().any(|yk| yk.name() == reader.name()) {
                continue;
            }
            let Ok(yk) = reader.open() else { continue };
            let serial = yk.serial().0;
            if self.cards.contains_key(&serial) {
                // Already connected: leave the new connection without resetting the card.
                let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
                continue;
            }
            tracing::info!(serial, reader = %reader.name(), "YubiKey PIV found");
            self.cards.insert(serial, yk);
        }
    }

    fn cards(&self) -> Vec<u32> {
        self.cards.keys().copied().collect()
    }

    fn describe(&mut self, &serial: &u32) -> Result<Vec<(KeyInfo, SlotKey)>, String> {
        let overrides = self.policy_overrides.get(&serial).copied();
        let yk = self.cards.get_mut(&serial).ok_or("not connected")?;
        Self::slots(serial, yk, overrides.unwrap_or((None, None))).map_err(|e| e.to_string())
    }

    fn answers(&mut self, serial: &u32) -> bool {
        self.cards
            .get_mut(serial)
            .is_some_and(|yk| ensure_piv_selected(*serial, yk).is_ok())
    }

    fn disconnect(&mut self, serial: &u32) {
        self.cards.remove(serial);
    }

    fn sign(
        &mut self,
        pins: &mut CardPinBook<u32>,
        prompt: &str,
        listed: &Listed<Self>,
        scheme: Scheme,
        data: &[u8],
    ) -> Result<TokenSignature, TokenError> {
        let serial = listed.card;
        let (slot, algorithm, touch) = (listed.key.slot, listed.key.algorithm, listed.key.touch);
        let bits = match listed.info.algorithm() {
            KeyAlgorithm::Rsa(b) => b as usize,
            _ => 0,
        };
        let input = match scheme {
            Scheme::RsaPkcs1v15(h) => pkcs1_pad(h, data, bits / 8)?,
            Scheme::RsaPss(_) => {
                return Err(TokenError::Unsupported(
                    "hwsign signs PIV RSA keys with PKCS#1 v1.5 only".into(),
                ));
            }
            // The card wants the digest as long as the curve's field: a shorter one is
            // left-padded (the same integer), a longer one cut to its leftmost bytes (as ECDSA
            // itself does).
            Scheme::Ecdsa(_) => {
                let field = if algorithm == AlgorithmId::EccP384 {
                    48
                } else {
                    32
                };
                if data.len() >= field {
                    data[..field].to_vec()
                } else {
                    let mut v = vec![0u8; field - data.len()];
                    v.extend_from_slice(data);
                    v
                }
            }
            Scheme::Ed25519 => data.to_vec(),
        };
        // First without a PIN: the card may still have it verified (PIN policy once).
        let yk = self.card(serial)?;
        match piv::sign_data(yk, &input, algorithm, slot) {
            Ok(sig) => return Ok(as_token_signature(scheme, sig.to_vec())),
            Err(yubikey::Error::AuthenticationError) => {}
            Err(e) => return Err(yk_err(serial, e)),
        }
        let description = format!("YubiKey {serial} needs its PIV PIN to sign: {prompt}");
        self.verify_user_pin(pins, serial, &description)?;
        let yk = self.card(serial)?;
        match piv::sign_data(yk, &input, algorithm, slot) {
            Ok(sig) => Ok(as_token_signature(scheme, sig.to_vec())),
            // Refused right after a verified PIN: the touch was not given.
            Err(yubikey::Error::AuthenticationError)
                if touch_of(touch) != key::TouchPolicy::Never =>
            {
                Err(TokenError::TouchTimeout(format!(
                    "YubiKey {serial} (slot {})",
                    slot_name(slot)
                )))
            }
            Err(e) => Err(yk_err(serial, e)),
        }
    }

    fn generate(
        &mut self,
        pins: &mut CardPinBook<u32>,
        spec: &GenerateSpec,
    ) -> Result<u32, TokenError> {
        let serial = match (spec.card.parse::<u32>(), self.cards.len()) {
            (Ok(s), _) => s,
            (Err(_), 1) if spec.card.is_empty() => {
                self.cards.keys().next().copied().unwrap_or_default()
            }
            _ => {
                return Err(TokenError::Other(format!(
                    "{} YubiKeys are connected: name one with --serial",
                    self.cards.len()
                )));
            }
        };
        let slot = generated_slot(spec)?;
        let (pin_policy, touch_policy) = (
            generation::pin_policy(&spec.pin_policy)?,
            generation::touch_policy(&spec.touch_policy)?,
        );
        let mgm = match self.management_keys.get(&serial) {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    TokenError::Other(format!(
                        "cannot read management_key_file {}: {e}",
                        path.display()
                    ))
                })?;
                Some(hex_bytes(text.trim()).ok_or_else(|| {
                    TokenError::Other(format!("{}: not a hex key", path.display()))
                })?)
            }
            None => None,
        };
        // The self-signed certificate is made by the new key: verify the PIN first.
        let description = format!(
            "YubiKey {serial} needs its PIV PIN to certify a new key in slot {}",
            spec.slot
        );
        self.verify_user_pin(pins, serial, &description)?;
        generation::generate(
            self.card(serial)?,
            mgm.as_deref(),
            slot,
            &spec.algorithm,
            pin_policy,
            touch_policy,
        )?;
        tracing::info!(serial, slot = %slot_name(slot), algorithm = %spec.algorithm, "generated a PIV key");
        Ok(serial)
    }

    fn is_generated(spec: &GenerateSpec, key: &SlotKey) -> bool {
        generated_slot(spec).is_ok_and(|slot| slot == key.slot)
    }

    /// ATTEST (INS F9) for the slot, and the device's attestation certificate (slot f9, object
    /// 5FFF01). Neither needs the PIN or a touch.
    fn attest(&mut self, listed: &Listed<Self>) -> Result<KeyAttestation, TokenError> {
        use x509_cert::der::Encode;
        let serial = listed.card;
        let slot = listed.key.slot;
        let yk = self.card(serial)?;
        let certificate = match piv::attest(yk, slot) {
            Ok(der) => der.to_vec(),
            Err(yubikey::Error::NotSupported) => {
                return Err(TokenError::Unsupported(format!(
                    "YubiKey {serial}: this firmware has no PIV attestation (YubiKey 4.3 and later have it)"
                )));
            }
            Err(e @ yubikey::Error::PcscError { .. }) => return Err(yk_err(serial, e)),
            Err(e) => {
                return Err(TokenError::Other(format!(
                    "YubiKey {serial}: slot {} was not attested ({e}): a YubiKey attests only keys generated on it, not imported ones",
                    slot_name(slot)
                )));
            }
        };
        let f9 = yubikey::certificate::Certificate::read(yk, SlotId::Attestation).map_err(|e| {
            TokenError::Other(format!(
                "YubiKey {serial}: the attestation certificate (slot f9) cannot be read ({e})"
            ))
        })?;
        let intermediate = f9.cert.to_der().map_err(|e| {
            TokenError::Other(format!(
                "YubiKey {serial}: the slot f9 certificate does not encode: {e}"
            ))
        })?;
        Ok(KeyAttestation {
            kind: "yubico-piv".into(),
            certificate,
            intermediate,
        })
    }
}

/// Key generation in a PIV slot, with a self-signed certificate so ykcs11, OpenSC and other
/// tools see the key (the certificate is signed by the new key: its PIN and touch policy apply).
pub(crate) mod generation {
    use std::str::FromStr;

    use yubikey::certificate::Certificate;
    use yubikey::piv::{self, AlgorithmId, SlotId};
    use yubikey::{MgmKey, PinPolicy, TouchPolicy, YubiKey};

    use crate::token::TokenError;

    /// A slot from its hex name (`9a`, `9c`, `9d`, `9e`, `82`…`95`).
    pub fn slot(name: &str) -> Result<SlotId, TokenError> {
        let n = u8::from_str_radix(name.trim_start_matches("0x"), 16).map_err(|_| {
            TokenError::Unsupported(format!(
                "{name:?} is not a PIV slot (9a, 9c, 9d, 9e, 82-95)"
            ))
        })?;
        SlotId::try_from(n).map_err(|_| {
            TokenError::Unsupported(format!(
                "{name:?} is not a PIV slot (9a, 9c, 9d, 9e, 82-95)"
            ))
        })
    }

    /// The PIN policy of a name.
    pub fn pin_policy(name: &str) -> Result<PinPolicy, TokenError> {
        Ok(match name {
            "" | "default" => PinPolicy::Default,
            "never" => PinPolicy::Never,
            "once" => PinPolicy::Once,
            "always" => PinPolicy::Always,
            other => {
                return Err(TokenError::Unsupported(format!(
                    "PIN policy {other:?}: use never, once or always"
                )));
            }
        })
    }

    /// The touch policy of a name.
    pub fn touch_policy(name: &str) -> Result<TouchPolicy, TokenError> {
        Ok(match name {
            "" | "default" => TouchPolicy::Default,
            "never" => TouchPolicy::Never,
            "always" => TouchPolicy::Always,
            "cached" => TouchPolicy::Cached,
            other => {
                return Err(TokenError::Unsupported(format!(
                    "touch policy {other:?}: use never, always or cached"
                )));
            }
        })
    }

    /// Generate, then self-sign and store the certificate. The PIN is verified by the caller.
    pub fn generate(
        yk: &mut YubiKey,
        mgm: Option<&[u8]>,
        slot: SlotId,
        algorithm: &str,
        pin: PinPolicy,
        touch: TouchPolicy,
    ) -> Result<(), TokenError> {
        let serial = yk.serial().0;
        let err = |what: &str, e: yubikey::Error| {
            TokenError::Other(format!("YubiKey {serial}: {what}: {e}"))
        };
        let alg = match algorithm {
            "p256" => AlgorithmId::EccP256,
            "p384" => AlgorithmId::EccP384,
            other => {
                return Err(TokenError::Unsupported(format!(
                    "hwsign makes p256 and p384 PIV keys; for {other:?} use ykman or yubico-piv-tool (hwsign then finds the key)"
                )));
            }
        };
        let key = match mgm {
            Some(bytes) => MgmKey::from_bytes(bytes, None).map_err(|e| err("management key", e))?,
            None => MgmKey::get_default(yk).map_err(|e| err("default management key", e))?,
        };
        yk.authenticate(&key).map_err(|e| {
            err(
                "management key authentication (set management_key_file?)",
                e,
            )
        })?;
        let spki = piv::generate(yk, slot, alg, pin, touch).map_err(|e| err("generate", e))?;
        let subject = x509_cert::name::Name::from_str(&format!(
            "CN=hwsign PIV {serial} slot {:02x}",
            u8::from(slot)
        ))
        .map_err(|e| TokenError::Other(format!("certificate subject: {e}")))?;
        let validity =
            x509_cert::time::Validity::from_now(std::time::Duration::from_secs(20 * 365 * 86_400))
                .map_err(|e| TokenError::Other(format!("certificate validity: {e}")))?;
        let mut sn = [0u8; 16];
        let _ = crate::token::pin_source::getrandom_fill(&mut sn);
        sn[0] &= 0x7f;
        sn[0] |= 0x01;
        let number = x509_cert::serial_number::SerialNumber::new(&sn)
            .map_err(|e| TokenError::Other(format!("certificate serial: {e}")))?;
        let made = match alg {
            AlgorithmId::EccP256 => Certificate::generate_self_signed::<_, p256_yk::NistP256>(
                yk,
                slot,
                number,
                validity,
                subject,
                spki,
                |_| Ok(()),
            ),
            _ => Certificate::generate_self_signed::<_, p384_yk::NistP384>(
                yk,
                slot,
                number,
                validity,
                subject,
                spki,
                |_| Ok(()),
            ),
        };
        made.map(|_| ())
            .map_err(|e| err("self-signed certificate", e))
    }
}
