//! Token errors that keep the facts (which PKCS#11 call failed, which token, where the PIN
//! came from). What a client is told of them — an error code and what to do next — is the
//! agent's to say (`agent::token_error`).

/// Why a token operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A PKCS#11 function returned an error.
    #[error("{function} failed on token {token:?}: {rv}")]
    Pkcs11 {
        /// The token's label.
        token: String,
        /// The PKCS#11 function.
        function: String,
        /// The return value.
        rv: String,
    },
    /// The PKCS#11 module could not be loaded.
    #[error("cannot load PKCS#11 module {path}: {detail}")]
    Module {
        /// The module path.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// The token is not there (removed, or the module lost it).
    #[error("token {0:?} is not present")]
    NotPresent(String),
    /// The token needs a PIN and no source is configured.
    #[error("token {0:?} needs a PIN and none is configured")]
    PinNeeded(String),
    /// The token rejected the PIN.
    #[error("token {token:?} rejected the PIN from {source_name}")]
    PinWrong {
        /// The token's label.
        token: String,
        /// Where the PIN came from.
        source_name: String,
    },
    /// The PIN was rejected before and its source has not changed.
    #[error(
        "token {token:?}: the PIN from {source_name} was rejected before; hwsign will not try it again"
    )]
    PinAlreadyRejected {
        /// The token's label.
        token: String,
        /// Where the PIN came from.
        source_name: String,
    },
    /// The card was not touched in time.
    #[error("touch timed out: {0} was not touched")]
    TouchTimeout(String),
    /// The user cancelled the PIN dialog.
    #[error("PIN entry for token {0:?} was cancelled")]
    PinCancelled(String),
    /// Only one PIN try is left: hwsign refuses to spend it.
    #[error(
        "token {0:?} has only one PIN try left; hwsign will not use it (set force_last_pin_try = true for this token to spend it)"
    )]
    PinFinalTry(String),
    /// The PIN is blocked.
    #[error("the PIN of token {0:?} is locked")]
    PinLocked(String),
    /// No key with that id on this token.
    #[error("no key {0} on this token")]
    UnknownKey(String),
    /// The key cannot do what was asked.
    #[error("{0}")]
    Unsupported(String),
    /// Something else went wrong.
    #[error("{0}")]
    Other(String),
    /// The worker thread of the token is gone.
    #[error("the worker thread of token {0:?} has stopped")]
    WorkerGone(String),
}

impl TokenError {
    /// A PKCS#11 failure.
    pub fn pkcs11(token: &str, err: &cryptoki::error::Error) -> TokenError {
        match err {
            cryptoki::error::Error::Pkcs11(rv, function) => TokenError::Pkcs11 {
                token: token.to_string(),
                function: format!("{function:?}"),
                rv: format!("{rv:?}"),
            },
            other => TokenError::Pkcs11 {
                token: token.to_string(),
                function: "cryptoki".into(),
                rv: other.to_string(),
            },
        }
    }
}
