//! What every smart-card backend shares, whatever its applet: the cards PC/SC shows, found and
//! connected on a listing; their keys by id; the user PINs by card (a wrong one never tried
//! again, a right one kept for the PIN cache TTL); a card that stops answering dropped and
//! looked for again, so a card reset by another program or pulled and put back is used again
//! and a key replaced in its slot is never signed for by its old listing; the last problem for
//! `hwsign status`. The applets ([`super::piv`], [`super::openpgp_card`]) say how to talk to
//! their cards.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use super::TokenError;
use super::backend::{Backend, GenerateSpec, KeyAttestation, KeyInfo, TokenInfo};
use super::card_pins::CardPinBook;
use crate::crypto::TokenSignature;
use crate::crypto::scheme::Scheme;
use crate::key::{BackendKind, KeyId};

/// One applet on the cards PC/SC shows: what differs between PIV and OpenPGP cards.
pub trait Applet {
    /// How a card is named among the cards of this applet (a serial, an ident).
    type Card: Clone + Eq + Hash + fmt::Display;
    /// What the applet needs to know of one of its keys to sign with it (slot, algorithm).
    type Key: Clone;
    /// The backend the keys are listed under.
    const BACKEND: BackendKind;

    /// The token's label in listings, for these cards (their names).
    fn label(cards: &[String]) -> String;
    /// Connect to cards not connected yet (a card already connected is not disturbed).
    fn discover(&mut self);
    /// The connected cards.
    fn cards(&self) -> Vec<Self::Card>;
    /// The keys on `card`; an error when the card does not answer (gone, reset).
    fn describe(&mut self, card: &Self::Card) -> Result<Vec<(KeyInfo, Self::Key)>, String>;
    /// Whether `card` answers as this applet now (before a signature: another program may have
    /// selected another applet or reset the card).
    fn answers(&mut self, card: &Self::Card) -> bool;
    /// Drop `card`'s connection (gone).
    fn disconnect(&mut self, card: &Self::Card);
    /// Sign with `key`; `pins` has its card's user PIN, `prompt` says what is signed (for a
    /// PIN dialog).
    fn sign(
        &mut self,
        pins: &mut CardPinBook<Self::Card>,
        prompt: &str,
        key: &Listed<Self>,
        scheme: Scheme,
        data: &[u8],
    ) -> Result<TokenSignature, TokenError>
    where
        Self: Sized;
    /// Make a signing key as `spec` says; the card it was made on.
    fn generate(
        &mut self,
        pins: &mut CardPinBook<Self::Card>,
        spec: &GenerateSpec,
    ) -> Result<Self::Card, TokenError>;
    /// Which of `card`'s keys `spec` made (PIV: the slot's; OpenPGP: the signature key).
    fn is_generated(spec: &GenerateSpec, key: &Self::Key) -> bool;
    /// The card's attestation of `key` (PIV: ATTEST and the f9 certificate).
    fn attest(&mut self, key: &Listed<Self>) -> Result<KeyAttestation, TokenError>
    where
        Self: Sized,
    {
        Err(TokenError::Unsupported(format!(
            "{}: these cards cannot attest their keys through hwsign",
            key.info.label
        )))
    }
}

/// A key as listed: its card, what the applet knows of it, what the agent is told.
pub struct Listed<A: Applet> {
    /// The card it is on.
    pub card: A::Card,
    /// The applet's own facts.
    pub key: A::Key,
    /// What the token reports.
    pub info: KeyInfo,
}

// Not derived: a derive would ask `A: Clone` of the applet itself.
impl<A: Applet> Clone for Listed<A> {
    fn clone(&self) -> Self {
        Listed {
            card: self.card.clone(),
            key: self.key.clone(),
            info: self.info.clone(),
        }
    }
}

/// Every card of one applet: one token for the agent, on one worker thread.
pub struct CardWorker<A: Applet> {
    applet: A,
    keys: HashMap<KeyId, Listed<A>>,
    pins: CardPinBook<A::Card>,
    problem: Option<String>,
}

impl<A: Applet> CardWorker<A> {
    /// Run `op` on the card of `key_id` once it is ready (listed, connected, the same key in
    /// its slot). A card gone mid-operation fails this request only (no second PIN, no second
    /// touch) and is found again when it is back.
    fn on_card<T>(
        &mut self,
        key_id: &KeyId,
        op: impl FnOnce(&mut A, &mut CardPinBook<A::Card>, &Listed<A>) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        if !self.keys.contains_key(key_id) {
            self.keys()?;
        }
        let listed = self.ready(key_id)?;
        let result = op(&mut self.applet, &mut self.pins, &listed);
        if let Err(TokenError::NotPresent(_)) = &result {
            self.forget(&listed.card);
        }
        result
    }

    /// No cards yet: they are found on the first listing.
    pub fn with(applet: A, pins: CardPinBook<A::Card>) -> Self {
        CardWorker {
            applet,
            keys: HashMap::new(),
            pins,
            problem: None,
        }
    }

    /// Describe every connected card; drops the ones that do not answer and says whether any
    /// did.
    fn scan(&mut self) -> bool {
        let mut keys = HashMap::new();
        let mut gone = Vec::new();
        for card in self.applet.cards() {
            match self.applet.describe(&card) {
                Ok(found) => {
                    for (info, key) in found {
                        let listed = Listed {
                            card: card.clone(),
                            key,
                            info,
                        };
                        keys.insert(listed.info.id(), listed);
                    }
                }
                Err(e) => {
                    tracing::info!(card = %card, error = %e, "card gone");
                    gone.push(card);
                }
            }
        }
        let any_gone = !gone.is_empty();
        for card in gone {
            self.forget(&card);
        }
        self.keys = keys;
        any_gone
    }

    /// Drop a card that is gone: its connection and its cached PIN.
    fn forget(&mut self, card: &A::Card) {
        self.applet.disconnect(card);
        self.pins.forget(card);
    }

    /// The key's card answers before anything is sent for the signature; one that does not
    /// is connected again (reset by another program, pulled and put back). A card that is gone
    /// is [`TokenError::NotPresent`]; a card back without the key (replaced in its slot
    /// meanwhile) is [`TokenError::UnknownKey`], never a signature by another key.
    fn ready(&mut self, id: &KeyId) -> Result<Listed<A>, TokenError> {
        let listed = self
            .keys
            .get(id)
            .cloned()
            .ok_or_else(|| TokenError::UnknownKey(id.to_string()))?;
        if self.applet.answers(&listed.card) {
            return Ok(listed);
        }
        self.forget(&listed.card);
        self.applet.discover();
        self.scan();
        match self.keys.get(id) {
            Some(again) if self.applet.answers(&again.card) => {
                tracing::info!(card = %again.card, "the card was reset or reinserted; connected again");
                Ok(again.clone())
            }
            _ if self.applet.cards().contains(&listed.card) => {
                Err(TokenError::UnknownKey(format!(
                    "{id} (no longer on {}: its slot holds another key now)",
                    self.name(&listed.card)
                )))
            }
            _ => Err(TokenError::NotPresent(self.name(&listed.card))),
        }
    }

    fn name(&self, card: &A::Card) -> String {
        A::label(&[card.to_string()])
    }
}

impl<A: Applet> Backend for CardWorker<A> {
    fn info(&mut self) -> TokenInfo {
        let cards: Vec<String> = self.applet.cards().iter().map(|c| c.to_string()).collect();
        TokenInfo {
            backend: A::BACKEND,
            label: A::label(&cards),
            serial: cards.join(","),
            present: !cards.is_empty(),
            logged_in: self.pins.any_kept(),
            pin_cached_until: None,
            problem: self.problem.clone(),
        }
    }

    fn keys(&mut self) -> Result<Vec<KeyInfo>, TokenError> {
        self.applet.discover();
        self.problem = super::pcsc_probe::held_problem();
        // A card another program reset drops our connection: connect again and list it now.
        if self.scan() {
            self.applet.discover();
            self.scan();
        }
        let mut out: Vec<KeyInfo> = self.keys.values().map(|k| k.info.clone()).collect();
        out.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(out)
    }

    fn sign(
        &mut self,
        key_id: &KeyId,
        scheme: Scheme,
        data: &[u8],
        prompt: &str,
    ) -> Result<TokenSignature, TokenError> {
        let result = self.on_card(key_id, |applet, pins, listed| {
            applet.sign(pins, prompt, listed, scheme, data)
        });
        self.problem = result.as_ref().err().map(|e| e.to_string());
        result
    }

    fn generate(&mut self, spec: &GenerateSpec) -> Result<KeyInfo, TokenError> {
        self.applet.discover();
        let card = self.applet.generate(&mut self.pins, spec)?;
        self.keys()?;
        self.keys
            .values()
            .find(|k| k.card == card && A::is_generated(spec, &k.key))
            .map(|k| k.info.clone())
            .ok_or_else(|| {
                TokenError::Other(format!(
                    "{}: the new key cannot be read back",
                    self.name(&card)
                ))
            })
    }

    fn attest(&mut self, key_id: &KeyId) -> Result<KeyAttestation, TokenError> {
        self.on_card(key_id, |applet, _, listed| applet.attest(listed))
    }

    fn tick(&mut self) {
        self.pins.expire();
    }

    fn lock(&mut self, _why: &str) {
        self.pins.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;
    use crate::crypto::pubkey::PublicKey;
    use crate::key::{PinPolicy, TouchPolicy};
    use crate::token::pin_source::PinSource;

    /// A card in memory: its keys (Ed25519 points) and how often it signed.
    #[derive(Default)]
    struct FakeCard {
        keys: Vec<[u8; 32]>,
        signed: usize,
    }

    /// Cards in memory (by serial) and the connected ones, shared with the test to pull,
    /// reset or re-key them.
    #[derive(Clone, Default)]
    struct Fake(Rc<RefCell<HashMap<u32, FakeCard>>>, Rc<RefCell<Vec<u32>>>);

    impl Fake {
        fn insert(&self, serial: u32, keys: Vec<[u8; 32]>) {
            self.0.borrow_mut().insert(
                serial,
                FakeCard {
                    keys,
                    ..FakeCard::default()
                },
            );
        }
    }

    /// A valid Ed25519 public key, one per seed.
    fn point(seed: u8) -> [u8; 32] {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes()
    }

    impl Applet for Fake {
        type Card = u32;
        type Key = usize;
        const BACKEND: BackendKind = BackendKind::Piv;

        fn label(cards: &[String]) -> String {
            format!("fake {}", cards.join(","))
        }
        fn discover(&mut self) {
            let present: Vec<u32> = self.0.borrow().keys().copied().collect();
            let mut connected = self.1.borrow_mut();
            for s in present {
                if !connected.contains(&s) {
                    connected.push(s);
                }
            }
        }
        fn cards(&self) -> Vec<u32> {
            self.1.borrow().clone()
        }
        fn describe(&mut self, card: &u32) -> Result<Vec<(KeyInfo, usize)>, String> {
            let cards = self.0.borrow();
            let c = cards.get(card).ok_or("gone")?;
            Ok(c.keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let info = KeyInfo {
                        public: PublicKey::ed25519(k).unwrap(),
                        label: format!("fake-{card}-{i}"),
                        object: String::new(),
                        pkcs11_uri: None,
                        touch: TouchPolicy::Never,
                        pin: PinPolicy::Once,
                        created: None,
                    };
                    (info, i)
                })
                .collect())
        }
        fn answers(&mut self, card: &u32) -> bool {
            self.1.borrow().contains(card) && self.0.borrow().contains_key(card)
        }
        fn disconnect(&mut self, card: &u32) {
            self.1.borrow_mut().retain(|c| c != card);
        }
        fn sign(
            &mut self,
            _: &mut CardPinBook<u32>,
            _: &str,
            listed: &Listed<Self>,
            _: Scheme,
            _: &[u8],
        ) -> Result<TokenSignature, TokenError> {
            let mut cards = self.0.borrow_mut();
            let card = cards
                .get_mut(&listed.card)
                .ok_or_else(|| TokenError::NotPresent(format!("fake {}", listed.card)))?;
            card.signed += 1;
            Ok(TokenSignature::Ed25519(vec![listed.key as u8; 64]))
        }
        fn generate(
            &mut self,
            _: &mut CardPinBook<u32>,
            _: &GenerateSpec,
        ) -> Result<u32, TokenError> {
            Err(TokenError::Unsupported("not here".into()))
        }
        fn is_generated(_: &GenerateSpec, _: &usize) -> bool {
            false
        }
    }

    fn worker(fake: &Fake) -> CardWorker<Fake> {
        let pins = CardPinBook::new(HashMap::new(), PinSource::None, Duration::from_secs(60));
        CardWorker::with(fake.clone(), pins)
    }

    /// A card reset by another program is connected again and signs; a card back with another
    /// key in the slot is never signed with for the old listing; a card gone is not present.
    #[test]
    fn reset_replaced_and_gone_cards() {
        let fake = Fake::default();
        fake.insert(7, vec![point(1), point(2)]);
        let mut w = worker(&fake);
        let keys = w.keys().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(w.info().label, "fake 7");
        let first = keys[0].id();
        w.sign(&first, Scheme::Ed25519, b"m", "test").unwrap();

        // Reset: the connection no longer answers until it is made again.
        fake.1.borrow_mut().clear();
        w.sign(&first, Scheme::Ed25519, b"m", "test").unwrap();
        assert_eq!(fake.0.borrow()[&7].signed, 2);

        // Re-keyed behind the agent's back: the old listing's key is not signed for.
        fake.insert(7, vec![point(3)]);
        fake.1.borrow_mut().clear();
        let err = w.sign(&first, Scheme::Ed25519, b"m", "test").unwrap_err();
        assert!(
            matches!(err, TokenError::UnknownKey(ref m) if m.contains("its slot holds another key")),
            "{err}"
        );
        assert_eq!(w.info().problem.as_deref(), Some(err.to_string().as_str()));

        // Gone: not present, and the listing forgets it.
        let now = w.keys().unwrap()[0].id();
        fake.0.borrow_mut().remove(&7);
        fake.1.borrow_mut().clear();
        let err = w.sign(&now, Scheme::Ed25519, b"m", "test").unwrap_err();
        assert!(
            matches!(err, TokenError::NotPresent(ref m) if m == "fake 7"),
            "{err}"
        );
        assert!(w.keys().unwrap().is_empty());
        assert!(!w.info().present);
    }

    /// A key id the listing does not have makes the worker list again once, then it is
    /// unknown.
    #[test]
    fn an_unknown_key_is_looked_for_then_refused() {
        let fake = Fake::default();
        let mut w = worker(&fake);
        fake.insert(1, vec![point(4)]);
        let id = KeyId::of(&PublicKey::ed25519(&point(4)).unwrap());
        w.sign(&id, Scheme::Ed25519, b"m", "test").unwrap();
        let other = KeyId::of(&PublicKey::ed25519(&point(5)).unwrap());
        assert!(matches!(
            w.sign(&other, Scheme::Ed25519, b"m", "test"),
            Err(TokenError::UnknownKey(_))
        ));
    }
}
