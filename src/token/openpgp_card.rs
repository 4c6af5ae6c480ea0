//! OpenPGP cards over PC/SC (`openpgp-card` with `card-backend-pcsc`): every card with a
//! signature key is a token. One worker owns all of them; cards are found on each listing (a
//! card plugged in later appears without a restart), each operation is one PC/SC transaction
//! on a shared connection, and a card that fails is dropped and found again next time.
//! The PIN (PW1 for signing) is read before every verify's retry counter check: a wrong PIN is
//! never retried, and the last try is refused unless forced.

use std::collections::HashMap;
use std::time::Duration;

use card_backend_pcsc::PcscBackend;
use openpgp_card::ocard::KeyType;
use openpgp_card::ocard::StatusBytes;
use openpgp_card::ocard::algorithm::{AlgoSimple, AlgorithmAttributes, Curve};
use openpgp_card::ocard::crypto::{HashAlgo, PublicKeyMaterial, SigningAlgo};
use openpgp_card::ocard::data::TouchPolicy as Uif;
use openpgp_card::state::{Open, Transaction};
use openpgp_card::{Card, Error as CardError};

use super::TokenError;
use super::backend::{GenerateSpec, KeyInfo};
use super::card_pins::CardPinBook;
use super::card_worker::{Applet, CardWorker, Listed};
use super::pin_source::PinSource;
use crate::crypto::TokenSignature;
use crate::crypto::pubkey::{KeyAlgorithm, PublicKey};
use crate::crypto::scheme::{HashAlg, Scheme};
use crate::key::{BackendKind, PinPolicy, TouchPolicy};

/// How the cards get their PINs.
#[derive(Debug, Clone)]
pub struct CardPins {
    /// Per card ident: the source, and whether the last try may be spent.
    pub per_card: HashMap<String, (PinSource, bool)>,
    /// For other cards.
    pub default: PinSource,
    /// How long a PIN is kept for cards that need it for every signature.
    pub ttl: Duration,
    /// Admin PIN (PW3) sources per card ident, for key generation.
    pub admin: HashMap<String, PinSource>,
    /// Admin PIN source for other cards.
    pub default_admin: PinSource,
}

/// The OpenPGP applet of every card PC/SC shows.
pub struct OpenPgp {
    cards: HashMap<String, Card<Open>>,
    /// The reader of each card (by ident).
    readers: HashMap<String, String>,
    /// Admin PIN (PW3) sources by card ident, for key generation.
    admin_pins: HashMap<String, PinSource>,
    /// Admin PIN source for other cards.
    default_admin_pin: PinSource,
}

/// Every OpenPGP card's signature key: one token.
pub type OpenPgpCards = CardWorker<OpenPgp>;

fn card_err(ident: &str, e: &CardError) -> TokenError {
    match e {
        CardError::Smartcard(s) => TokenError::NotPresent(format!("OpenPGP card {ident} ({s})")),
        other => TokenError::Other(format!("OpenPGP card {ident}: {other}")),
    }
}

fn public_key(material: &PublicKeyMaterial) -> Option<PublicKey> {
    match material {
        PublicKeyMaterial::R(rsa) => PublicKey::rsa(rsa.n(), rsa.v()).ok(),
        PublicKeyMaterial::E(ecc) => {
            let AlgorithmAttributes::Ecc(attrs) = ecc.algo() else {
                return None;
            };
            let data = ecc.data();
            match attrs.curve() {
                Curve::NistP256r1 => PublicKey::from_sec1(KeyAlgorithm::EcdsaP256, data).ok(),
                Curve::NistP384r1 => PublicKey::from_sec1(KeyAlgorithm::EcdsaP384, data).ok(),
                Curve::Ed25519 => PublicKey::ed25519_openpgp(data).ok(),
                _ => None,
            }
        }
    }
}

/// Whether the card answers a SELECT of the OpenPGP application (AID D2 76 00 01 24 01).
fn has_openpgp_applet(card: &pcsc::Card) -> bool {
    const SELECT: [u8; 11] = [
        0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01,
    ];
    let mut rx = [0u8; 258];
    match card.transmit(&SELECT, &mut rx) {
        Ok(resp) => resp.len() >= 2 && resp[resp.len() - 2] == 0x90 && resp[resp.len() - 1] == 0x00,
        Err(_) => false,
    }
}

fn touch_of(uif: Option<Uif>) -> TouchPolicy {
    match uif {
        Some(Uif::On | Uif::Fixed) => TouchPolicy::Always,
        Some(Uif::Cached | Uif::CachedFixed) => TouchPolicy::Cached,
        _ => TouchPolicy::Never,
    }
}

/// The OpenPGP v4 fingerprint the card stores for a key it generated: the same one
/// `hwsign keys export --format openpgp` computes from the key and its generation time.
fn fingerprint_of(
    material: &PublicKeyMaterial,
    time: openpgp_card::ocard::data::KeyGenerationTime,
    _key_type: KeyType,
) -> Result<openpgp_card::ocard::data::Fingerprint, CardError> {
    let pk = public_key(material)
        .ok_or_else(|| CardError::InternalError("unsupported key material".into()))?;
    let created = crate::format::openpgp::creation_time(u64::from(time.get()));
    let key = crate::format::openpgp::primary_key(&pk, created)
        .map_err(|e| CardError::InternalError(e.to_string()))?;
    openpgp_card::ocard::data::Fingerprint::try_from(key.fingerprint().as_bytes())
        .map_err(|e| CardError::InternalError(format!("fingerprint: {e}")))
}

/// The user PIN's tries left, refused when none are left or only the last one is and it may
/// not be spent (`force`).
fn pw1_tries(
    tx: &mut Card<Transaction<'_>>,
    ident: &str,
    token: &str,
    force: bool,
) -> Result<u8, TokenError> {
    let left = tx
        .pw_status_bytes()
        .map_err(|e| card_err(ident, &e))?
        .err_count_pw1();
    if left == 0 {
        return Err(TokenError::PinLocked(token.to_string()));
    }
    if left == 1 && !force {
        return Err(TokenError::PinFinalTry(token.to_string()));
    }
    Ok(left)
}

impl CardWorker<OpenPgp> {
    /// No cards yet: they are found on the first listing.
    pub fn new(pins: CardPins) -> Self {
        CardWorker::with(
            OpenPgp {
                cards: HashMap::new(),
                readers: HashMap::new(),
                admin_pins: pins.admin,
                default_admin_pin: pins.default_admin,
            },
            CardPinBook::new(pins.per_card, pins.default, pins.ttl),
        )
    }
}

impl OpenPgp {
    fn signature_key(ident: &str, card: &mut Card<Open>) -> Result<Option<KeyInfo>, CardError> {
        let mut tx = card.transaction()?;
        let material = match tx.public_key_material(KeyType::Signing) {
            Ok(m) => m,
            Err(_) => return Ok(None),
        };
        let Some(public) = public_key(&material) else {
            tracing::warn!(
                card = ident,
                "the signature key's algorithm is not supported; skipping it"
            );
            return Ok(None);
        };
        let uif = tx
            .user_interaction_flag(KeyType::Signing)
            .ok()
            .flatten()
            .map(|u| u.touch_policy());
        let pw = tx.pw_status_bytes()?;
        let created = tx
            .key_generation_time(KeyType::Signing)
            .ok()
            .flatten()
            .map(|t| u64::from(t.get()));
        Ok(Some(KeyInfo {
            public,
            label: format!("openpgp-sig-{ident}"),
            object: format!("openpgp:{ident}/sig"),
            pkcs11_uri: None,
            touch: touch_of(uif),
            pin: if pw.pw1_cds_valid_once() {
                PinPolicy::Always
            } else {
                PinPolicy::Once
            },
            created,
        }))
    }

    /// [`pw1_tries`] in a transaction of its own.
    fn pw1_tries_guard(&mut self, ident: &str, token: &str, force: bool) -> Result<(), TokenError> {
        let card = self
            .cards
            .get_mut(ident)
            .ok_or_else(|| TokenError::NotPresent(token.to_string()))?;
        let mut tx = card.transaction().map_err(|e| card_err(ident, &e))?;
        pw1_tries(&mut tx, ident, token, force).map(|_| ())
    }
}

impl Applet for OpenPgp {
    type Card = String;
    /// A card has one signature key.
    type Key = ();
    const BACKEND: BackendKind = BackendKind::OpenPgpCard;

    fn label(cards: &[String]) -> String {
        match cards {
            [one] => format!("OpenPGP card {one}"),
            _ => format!("OpenPGP cards ({})", cards.len()),
        }
    }

    /// Connect to cards not connected yet (shared mode, so gpg's scdaemon with pcsc-shared and
    /// other programs can use them too). Readers whose card is already ours are skipped, and
    /// a card that is not an OpenPGP card is left without a reset (a reset would log every
    /// other program out of it).
    fn discover(&mut self) {
        let Ok(ctx) = pcsc::Context::establish(pcsc::Scope::User) else {
            return;
        };
        let mut buf = [0u8; 4096];
        let Ok(readers) = ctx.list_readers(&mut buf) else {
            return;
        };
        for reader in readers {
            let name = reader.to_string_lossy().into_owned();
            if self.readers.values().any(|r| *r == name) {
                continue;
            }
            let Ok(card) = ctx.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            else {
                continue;
            };
            if !has_openpgp_applet(&card) {
                let _ = card.disconnect(pcsc::Disposition::LeaveCard);
                continue;
            }
            let Ok(backend) = PcscBackend::from_pcsc_card(reader, pcsc::ShareMode::Shared, card)
            else {
                continue;
            };
            let Ok(mut card) = Card::<Open>::new(backend) else {
                continue;
            };
            let ident = match card
                .transaction()
                .and_then(|tx| tx.application_identifier())
            {
                Ok(aid) => aid.ident(),
                Err(_) => continue,
            };
            tracing::info!(card = %ident, reader = %name, "OpenPGP card found");
            self.readers.insert(ident.clone(), name);
            self.cards.insert(ident, card);
        }
    }

    fn cards(&self) -> Vec<String> {
        self.cards.keys().cloned().collect()
    }

    fn describe(&mut self, ident: &String) -> Result<Vec<(KeyInfo, ())>, String> {
        let card = self.cards.get_mut(ident).ok_or("not connected")?;
        Self::signature_key(ident, card)
            .map(|key| key.into_iter().map(|k| (k, ())).collect())
            .map_err(|e| e.to_string())
    }

    fn answers(&mut self, ident: &String) -> bool {
        self.cards.contains_key(ident)
    }

    fn disconnect(&mut self, ident: &String) {
        self.cards.remove(ident);
        self.readers.remove(ident);
    }

    fn sign(
        &mut self,
        pins: &mut CardPinBook<String>,
        prompt: &str,
        listed: &Listed<Self>,
        scheme: Scheme,
        data: &[u8],
    ) -> Result<TokenSignature, TokenError> {
        let ident = listed.card.as_str();
        let card_id = listed.card.clone();
        let force = pins.force_last_try(&card_id);
        let token = format!("OpenPGP card {ident}");
        let description = format!("OpenPGP card {ident} needs its user PIN to sign: {prompt}");
        // The retry counter before anyone types a PIN (its own transaction: the card is not
        // held while pinentry waits), and again right before the PIN is tried.
        self.pw1_tries_guard(ident, &token, force)?;
        let pin = pins.pin(&card_id, &token, &description)?;
        let card = self
            .cards
            .get_mut(ident)
            .ok_or_else(|| TokenError::NotPresent(token.clone()))?;
        let mut tx = card.transaction().map_err(|e| card_err(ident, &e))?;
        let left = pw1_tries(&mut tx, ident, &token, force)?;
        let refused = match tx.verify_user_signing_pin(pin.pin.to_secret_string()) {
            Ok(()) => None,
            Err(CardError::CardStatus(StatusBytes::PasswordNotChecked(n))) => Some(n),
            Err(CardError::CardStatus(
                StatusBytes::SecurityStatusNotSatisfied | StatusBytes::AuthenticationMethodBlocked,
            )) => Some(left.saturating_sub(1)),
            Err(e) => return Err(card_err(ident, &e)),
        };
        if let Some(left) = refused {
            pins.rejected(&card_id, &pin);
            return Err(TokenError::PinWrong {
                token,
                source_name: format!("{} ({left} tries left)", pin.source_name),
            });
        }
        pins.accepted(&card_id, pin);
        let algo = match scheme {
            Scheme::RsaPkcs1v15(h) => SigningAlgo::RSA(match h {
                HashAlg::Sha256 => HashAlgo::SHA256,
                HashAlg::Sha384 => HashAlgo::SHA384,
                HashAlg::Sha512 => HashAlgo::SHA512,
            }),
            Scheme::RsaPss(_) => {
                return Err(TokenError::Unsupported(
                    "OpenPGP cards sign RSA with PKCS#1 v1.5 only".into(),
                ));
            }
            Scheme::Ecdsa(_) | Scheme::Ed25519 => SigningAlgo::ECC,
        };
        let sig = tx
            .card()
            .signature_for_hash(algo, data)
            .map_err(|e| match e {
                // 6600 / 6982 after a verified PIN: the touch (UIF) was not given.
                CardError::CardStatus(
                    StatusBytes::SecurityRelatedIssues | StatusBytes::SecurityStatusNotSatisfied,
                ) => TokenError::TouchTimeout(format!("OpenPGP card {ident} (UIF)")),
                // Raw Ed25519 sends the message itself; cards take little (opcard: 1 KiB).
                CardError::CardStatus(
                    StatusBytes::WrongLength
                    | StatusBytes::IncorrectParametersCommandDataField
                    | StatusBytes::UnknownStatus(0x6A, 0x84),
                ) if scheme == Scheme::Ed25519 => TokenError::Unsupported(format!(
                    "OpenPGP card {ident} refused a {}-byte message for a raw Ed25519 signature (too long for the card): sign with --format sshsig or hwsign attest, which send the card a digest",
                    data.len()
                )),
                other => card_err(ident, &other),
            })?;
        Ok(match scheme {
            Scheme::Ecdsa(_) => TokenSignature::EcdsaConcat(sig),
            Scheme::Ed25519 => TokenSignature::Ed25519(sig),
            Scheme::RsaPkcs1v15(_) | Scheme::RsaPss(_) => TokenSignature::Rsa(sig),
        })
    }

    fn generate(
        &mut self,
        _pins: &mut CardPinBook<String>,
        spec: &GenerateSpec,
    ) -> Result<String, TokenError> {
        let ident = match (spec.card.is_empty(), self.cards.len()) {
            (false, _) => spec.card.to_ascii_uppercase(),
            (true, 1) => self.cards.keys().next().cloned().unwrap_or_default(),
            (true, n) => {
                return Err(TokenError::Other(format!(
                    "{n} OpenPGP cards are connected: name one with --ident"
                )));
            }
        };
        let algo = match spec.algorithm.as_str() {
            "ed25519" => AlgoSimple::Curve25519,
            "p256" => AlgoSimple::NIST256,
            "p384" => AlgoSimple::NIST384,
            "rsa2048" => AlgoSimple::RSA2k,
            "rsa3072" => AlgoSimple::RSA3k,
            "rsa4096" => AlgoSimple::RSA4k,
            other => {
                return Err(TokenError::Unsupported(format!(
                    "OpenPGP cards: unknown algorithm {other:?}"
                )));
            }
        };
        let token = format!("OpenPGP card {ident}");
        let source = self
            .admin_pins
            .get(&ident)
            .unwrap_or(&self.default_admin_pin)
            .clone();
        let description = format!(
            "OpenPGP card {ident}: the admin PIN (PW3), to generate a {} signature key",
            spec.algorithm
        );
        let pin = source.read(&token, &description, None)?;
        let card = self
            .cards
            .get_mut(&ident)
            .ok_or_else(|| TokenError::NotPresent(token.clone()))?;
        {
            let mut tx = card.transaction().map_err(|e| card_err(&ident, &e))?;
            let left = tx
                .pw_status_bytes()
                .map_err(|e| card_err(&ident, &e))?
                .err_count_pw3();
            if left <= 1 {
                return Err(TokenError::PinFinalTry(format!("{token} (admin PIN)")));
            }
            let mut admin = tx
                .as_admin_card(pin.to_secret_string())
                .map_err(|e| match e {
                    CardError::CardStatus(StatusBytes::PasswordNotChecked(n)) => {
                        TokenError::PinWrong {
                            token: token.clone(),
                            source_name: format!("{} (admin PIN, {n} tries left)", source.name()),
                        }
                    }
                    other => card_err(&ident, &other),
                })?;
            admin
                .set_algorithm(KeyType::Signing, algo)
                .map_err(|e| card_err(&ident, &e))?;
            admin
                .generate_key(fingerprint_of, KeyType::Signing)
                .map_err(|e| card_err(&ident, &e))?;
        }
        tracing::info!(card = %ident, algorithm = %spec.algorithm, "generated the signature key");
        Ok(ident)
    }

    fn is_generated(_: &GenerateSpec, _: &()) -> bool {
        true
    }
}
