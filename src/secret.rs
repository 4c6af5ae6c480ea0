//! Secret types: PINs live in zeroizing buffers and never appear in `Debug` output or logs.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// A token PIN. Zeroized when dropped; `Debug` prints a placeholder.
#[derive(Clone)]
pub struct Pin(SecretString);

impl Pin {
    /// Wrap a PIN (the string is moved into zeroizing storage).
    pub fn new(pin: String) -> Self {
        Pin(SecretString::from(pin))
    }

    /// The PIN as cryptoki wants it.
    pub fn as_auth_pin(&self) -> cryptoki::types::AuthPin {
        cryptoki::types::AuthPin::from(self.0.expose_secret().to_owned())
    }

    /// The PIN's bytes, for card libraries that take a slice (do not copy them elsewhere).
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }

    /// A copy in another zeroizing container (for card libraries that take `SecretString`).
    pub fn to_secret_string(&self) -> SecretString {
        SecretString::from(self.0.expose_secret().to_owned())
    }

    /// A salted fingerprint of the PIN, so a rejected PIN can be recognised without keeping
    /// it around. Only equality of fingerprints is meaningful.
    pub fn fingerprint(&self, salt: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(self.0.expose_secret().as_bytes());
        h.finalize().into()
    }

    /// Whether the PIN is empty.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_pin() {
        let pin = Pin::new("123456".into());
        assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");
        assert_eq!(
            pin.fingerprint(b"s"),
            Pin::new("123456".into()).fingerprint(b"s")
        );
        assert_ne!(
            pin.fingerprint(b"s"),
            Pin::new("123457".into()).fingerprint(b"s")
        );
    }
}
