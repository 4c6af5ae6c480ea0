//! What a client is told when a token fails: the wire error code and a hint that names the
//! config key or the command that fixes it. Tokens keep the facts ([`TokenError`]); this is
//! the one place that turns them into advice.

use crate::error::{ErrorCode, WireError};
use crate::token::TokenError;

impl From<&TokenError> for WireError {
    fn from(err: &TokenError) -> WireError {
        let (code, hint) = match err {
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
        WireError::new(code, err.to_string(), hint)
    }
}
