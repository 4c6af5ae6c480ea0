//! The user PINs of the smart cards a PC/SC backend reaches: which source gives each card's
//! PIN, whether its last try may be spent, the PINs kept for a while (`pin_cache_ttl`), and the
//! PIN each card rejected, never tried again until its source gives another.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::TokenError;
use super::pin_source::{PinSource, RejectedPin};
use crate::secret::Pin;

/// A PIN for one operation on one card.
pub struct CardPin {
    /// The PIN (zeroized on drop).
    pub pin: Pin,
    /// Read from its source now (not from the cache): kept once the card accepts it.
    fresh: bool,
    /// Where it came from, for messages (never the PIN).
    pub source_name: String,
}

/// The PINs of a backend's cards, by card (OpenPGP ident, YubiKey serial).
pub struct CardPinBook<K> {
    /// Per card: the source, and whether the last try may be spent.
    sources: HashMap<K, (PinSource, bool)>,
    /// For other cards.
    default: PinSource,
    ttl: Duration,
    cached: HashMap<K, (Pin, Instant)>,
    rejected: HashMap<K, RejectedPin>,
}

impl<K: Eq + Hash + Clone> CardPinBook<K> {
    /// Sources per card, the source for other cards, and how long an accepted PIN is kept.
    pub fn new(sources: HashMap<K, (PinSource, bool)>, default: PinSource, ttl: Duration) -> Self {
        CardPinBook {
            sources,
            default,
            ttl,
            cached: HashMap::new(),
            rejected: HashMap::new(),
        }
    }

    /// Whether the card's last PIN try may be spent (`force_last_pin_try`).
    pub fn force_last_try(&self, card: &K) -> bool {
        self.sources.get(card).is_some_and(|(_, force)| *force)
    }

    fn source(&self, card: &K) -> &PinSource {
        self.sources
            .get(card)
            .map(|(source, _)| source)
            .unwrap_or(&self.default)
    }

    /// The card's PIN: kept from before (within the TTL) or read from its source now.
    /// `token` names the card in errors, `description` says what the PIN is for (pinentry
    /// shows it). A PIN the card rejected last time is refused without trying it.
    pub fn pin(&mut self, card: &K, token: &str, description: &str) -> Result<CardPin, TokenError> {
        let source_name = self.source(card).name();
        if let Some((pin, at)) = self.cached.get(card) {
            if at.elapsed() < self.ttl {
                return Ok(CardPin {
                    pin: pin.clone(),
                    fresh: false,
                    source_name,
                });
            }
        }
        let pin = self.source(card).read(token, description, None)?;
        if self
            .rejected
            .get(card)
            .is_some_and(|r| r.was_rejected(&pin))
        {
            return Err(TokenError::PinAlreadyRejected {
                token: token.to_string(),
                source_name,
            });
        }
        Ok(CardPin {
            pin,
            fresh: true,
            source_name,
        })
    }

    /// The card rejected `pin`: forget it and never try it again.
    pub fn rejected(&mut self, card: &K, pin: &CardPin) {
        self.cached.remove(card);
        self.rejected
            .entry(card.clone())
            .or_default()
            .reject(&pin.pin);
    }

    /// The card accepted `pin`: keep it for the TTL.
    pub fn accepted(&mut self, card: &K, pin: CardPin) {
        if let Some(r) = self.rejected.get_mut(card) {
            r.clear();
        }
        if pin.fresh {
            self.cached.insert(card.clone(), (pin.pin, Instant::now()));
        }
    }

    /// The card is gone: drop its kept PIN.
    pub fn forget(&mut self, card: &K) {
        self.cached.remove(card);
    }

    /// Whether any card's PIN is kept now.
    pub fn any_kept(&self) -> bool {
        self.cached.values().any(|(_, at)| at.elapsed() < self.ttl)
    }

    /// Drop PINs kept longer than the TTL.
    pub fn expire(&mut self) {
        let ttl = self.ttl;
        self.cached.retain(|_, (_, at)| at.elapsed() < ttl);
    }

    /// Drop every kept PIN (lock).
    pub fn clear(&mut self) {
        self.cached.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin_file(dir: &std::path::Path, pin: &str) -> PinSource {
        let path = dir.join("pin");
        std::fs::write(&path, format!("{pin}\n")).unwrap();
        PinSource::File(path)
    }

    #[test]
    fn a_rejected_pin_is_refused_until_the_source_changes() {
        let dir = tempfile::tempdir().unwrap();
        let source = pin_file(dir.path(), "111111");
        let mut book = CardPinBook::new(
            HashMap::from([(1u32, (source, false))]),
            PinSource::None,
            Duration::from_secs(60),
        );
        let pin = book.pin(&1, "card 1", "sign").unwrap();
        book.rejected(&1, &pin);
        assert!(matches!(
            book.pin(&1, "card 1", "sign"),
            Err(TokenError::PinAlreadyRejected { .. })
        ));
        pin_file(dir.path(), "222222");
        let pin = book.pin(&1, "card 1", "sign").unwrap();
        book.accepted(&1, pin);
        assert!(book.any_kept());
        book.clear();
        assert!(!book.any_kept());
    }

    #[test]
    fn cards_without_a_source_of_their_own_use_the_default() {
        let mut book = CardPinBook::new(HashMap::new(), PinSource::None, Duration::ZERO);
        assert!(matches!(
            book.pin(&"0006:1".to_string(), "card", "sign"),
            Err(TokenError::PinNeeded(_))
        ));
        assert!(!book.force_last_try(&"0006:1".to_string()));
    }

    #[test]
    fn one_cards_rejected_pin_does_not_block_another_card() {
        let dir = tempfile::tempdir().unwrap();
        let source = pin_file(dir.path(), "123456");
        let mut book = CardPinBook::new(HashMap::new(), source, Duration::from_secs(60));
        let pin = book.pin(&1u32, "card 1", "sign").unwrap();
        book.rejected(&1, &pin);
        assert!(book.pin(&1, "card 1", "sign").is_err());
        let other = book.pin(&2, "card 2", "sign").unwrap();
        book.accepted(&2, other);
        assert!(book.any_kept());
    }
}
