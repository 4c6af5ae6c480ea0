//! Where a token's PIN comes from (a PIN file, a systemd credential, or pinentry), and the
//! memory of a rejected PIN so that a wrong PIN is never tried twice.

use std::path::PathBuf;

use zeroize::Zeroize;

use super::TokenError;
use crate::secret::Pin;

/// Where a token's PIN comes from (never the PIN itself).
#[derive(Debug, Clone)]
pub enum PinSource {
    /// No PIN configured.
    None,
    /// The first line of a file (unattended agents).
    File(PathBuf),
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/<name>`.
    Credential(String),
    /// Ask the user with this pinentry program, the dialog closed after the duration.
    Pinentry(PathBuf, std::time::Duration),
}

fn first_line(path: &std::path::Path, token: &str, what: &str) -> Result<Pin, TokenError> {
    let mut text = std::fs::read_to_string(path)
        .map_err(|e| TokenError::Other(format!("cannot read {what} {}: {e}", path.display())))?;
    let pin = Pin::new(text.lines().next().unwrap_or_default().to_string());
    text.zeroize();
    if pin.is_empty() {
        return Err(TokenError::PinNeeded(token.to_string()));
    }
    Ok(pin)
}

impl PinSource {
    /// A name for messages (never the PIN).
    pub fn name(&self) -> String {
        match self {
            PinSource::None => "no PIN source".into(),
            PinSource::File(p) => p.display().to_string(),
            PinSource::Credential(n) => format!("systemd credential {n}"),
            PinSource::Pinentry(p, _) => format!("pinentry ({})", p.display()),
        }
    }

    /// Whether a person types the PIN (a repeated wrong PIN is then a new attempt of theirs).
    pub fn is_interactive(&self) -> bool {
        matches!(self, PinSource::Pinentry(..))
    }

    /// Get the PIN. `description` says which token and what for (shown by pinentry);
    /// `error` is a line about the previous attempt.
    pub fn read(
        &self,
        token: &str,
        description: &str,
        error: Option<&str>,
    ) -> Result<Pin, TokenError> {
        match self {
            PinSource::None => Err(TokenError::PinNeeded(token.to_string())),
            PinSource::File(path) => first_line(path, token, "PIN file"),
            PinSource::Credential(name) => {
                let dir = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| {
                    TokenError::PinNeeded(format!("{token} (pin_credential {name} set, but CREDENTIALS_DIRECTORY is not: run the agent from its systemd unit with LoadCredential=)"))
                })?;
                first_line(&std::path::Path::new(&dir).join(name), token, "credential")
            }
            PinSource::Pinentry(program, timeout) => super::pinentry::ask(
                program,
                token,
                &super::pinentry::Dialog { description, error },
                *timeout,
            ),
        }
    }
}

/// Remembers the fingerprint of a PIN the token rejected.
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

impl std::fmt::Debug for RejectedPin {
    /// Neither the salt nor the fingerprint: with both, a short PIN is found by trying them all.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RejectedPin")
            .field("rejected", &self.rejected.is_some())
            .finish()
    }
}

impl Default for RejectedPin {
    /// [`RejectedPin::new`]: a random salt.
    fn default() -> Self {
        Self::new()
    }
}

/// Fill `buf` from the kernel's random source.
pub fn getrandom_fill(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}
