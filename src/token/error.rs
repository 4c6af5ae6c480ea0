//! Token errors that keep the facts (which PKCS#11 call failed, which token) and map to wire
//! error codes with a hint.

use crate::error::{ErrorCode, WireError};

/// Why a token operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A PKCS#11 function returned an error.
    #[error("{function} failed on token {token:?}: {rv}")]
    Pkcs11 {
        /// The token.
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
        /// The token.
        token: String,
        /// Where the PIN came from.
        source_name: String,
    },
    /// The PIN was rejected before and its source has not changed.
    #[error(
        "token {token:?}: the PIN from {source_name} was rejected before; hwsign will not try it again"
    )]
    PinAlreadyRejected {
        /// The token.
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
    /// The error as it goes on the wire, with a hint.
    pub fn to_wire(&self) -> WireError {
        let (code, hint) = match self {
            TokenError::Pkcs11 { .. } => (
                ErrorCode::TokenError,
                "see the agent's log; `hwsign status` shows the token's state",
            ),
            TokenError::Module { .. } => (
                ErrorCode::TokenAbsent,
                "check pkcs11_module in the agent's config",
            ),
            TokenError::NotPresent(_) => (
                ErrorCode::TokenAbsent,
                "plug the token in; the agent picks it up on the next request",
            ),
            TokenError::PinNeeded(_) => (
                ErrorCode::PinNeeded,
                "set pin_file for this token in the agent's config",
            ),
            TokenError::PinWrong { .. } => (
                ErrorCode::PinWrong,
                "fix the PIN source; hwsign never retries a rejected PIN",
            ),
            TokenError::PinAlreadyRejected { .. } => (
                ErrorCode::PinWrong,
                "fix the PIN source (the agent retries only when it changes)",
            ),
            TokenError::TouchTimeout(_) => (
                ErrorCode::TouchTimeout,
                "run the command again and touch the token when it blinks",
            ),
            TokenError::PinCancelled(_) => {
                (ErrorCode::Denied, "run the command again and enter the PIN")
            }
            TokenError::PinFinalTry(_) => (
                ErrorCode::PinWrong,
                "unblock or verify the PIN with the token's own tool first",
            ),
            TokenError::PinLocked(_) => (
                ErrorCode::PinWrong,
                "unblock the PIN with the token's PUK/SO PIN",
            ),
            TokenError::UnknownKey(_) => {
                (ErrorCode::UnknownKey, "run `hwsign keys` to list the keys")
            }
            TokenError::Unsupported(_) => {
                (ErrorCode::Unsupported, "pick a scheme the key supports")
            }
            TokenError::Other(_) => (ErrorCode::TokenError, "see the agent's log"),
            TokenError::WorkerGone(_) => (ErrorCode::Internal, "restart hwsign-agent"),
        };
        WireError::new(code, self.to_string(), hint)
    }

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
