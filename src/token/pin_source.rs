//! Where a token's PIN comes from (a PIN file for now), and the memory of a rejected PIN so
//! that a wrong PIN is never tried twice.

use std::path::PathBuf;

use zeroize::Zeroize;

use super::TokenError;
use crate::secret::Pin;

/// A PIN source.
#[derive(Debug, Clone)]
pub enum PinSource {
    /// No PIN configured.
    None,
    /// The first line of a file.
    File(PathBuf),
}

impl PinSource {
    /// A name for messages (never the PIN).
    pub fn name(&self) -> String {
        match self {
            PinSource::None => "no PIN source".into(),
            PinSource::File(p) => p.display().to_string(),
        }
    }

    /// Read the PIN.
    pub fn read(&self, token: &str) -> Result<Pin, TokenError> {
        match self {
            PinSource::None => Err(TokenError::PinNeeded(token.to_string())),
            PinSource::File(path) => {
                let mut text = std::fs::read_to_string(path).map_err(|e| {
                    TokenError::Other(format!("cannot read PIN file {}: {e}", path.display()))
                })?;
                let pin = Pin::new(text.lines().next().unwrap_or_default().to_string());
                text.zeroize();
                if pin.is_empty() {
                    return Err(TokenError::PinNeeded(token.to_string()));
                }
                Ok(pin)
            }
        }
    }
}

/// Remembers the fingerprint of a PIN the token rejected.
#[derive(Debug, Default)]
pub struct RejectedPin {
    salt: [u8; 16],
    rejected: Option<[u8; 32]>,
}

impl RejectedPin {
    /// A fresh memory with a random salt.
    pub fn new() -> Self {
        let mut salt = [0u8; 16];
        let _ = getrandom_fill(&mut salt);
        RejectedPin {
            salt,
            rejected: None,
        }
    }
    /// Whether `pin` was rejected before.
    pub fn was_rejected(&self, pin: &Pin) -> bool {
        self.rejected == Some(pin.fingerprint(&self.salt))
    }
    /// Remember that `pin` was rejected.
    pub fn reject(&mut self, pin: &Pin) {
        self.rejected = Some(pin.fingerprint(&self.salt));
    }
    /// Forget (a PIN was accepted).
    pub fn clear(&mut self) {
        self.rejected = None;
    }
}

/// Fill `buf` from the kernel's random source.
pub fn getrandom_fill(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}
