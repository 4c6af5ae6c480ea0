//! The common shape of hwsign messages: a name, a version, a body.

use super::wire::{Dec, Enc};
use super::{Extension, VERSION};

/// Why bytes could not be decoded as an hwsign message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The input ended early.
    #[error("message truncated")]
    Truncated,
    /// Bytes were left after the message.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
    /// A version this build does not speak.
    #[error("message version {got} is not supported (this build speaks {VERSION})")]
    UnsupportedVersion {
        /// The version received.
        got: u32,
    },
    /// A field has a value that makes no sense.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The extension is not the one expected.
    #[error("expected extension {expected}, got {got}")]
    WrongExtension {
        /// Expected name.
        expected: &'static str,
        /// Received name.
        got: String,
    },
    /// ssh-agent-lib could not decode a standard message.
    #[error("{0}")]
    Agent(#[from] ssh_agent_lib::proto::Error),
}

/// A message carried in an `SSH_AGENTC_EXTENSION` request or an
/// `SSH_AGENT_EXTENSION_RESPONSE` reply named [`HwsignMessage::NAME`].
pub trait HwsignMessage: Sized {
    /// The extension name, e.g. `sign@hwsign`.
    const NAME: &'static str;
    /// Append the body (after the version).
    fn encode_body(&self, e: &mut Enc);
    /// Read the body (after the version).
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError>;

    /// The full extension contents: version then body.
    fn to_bytes(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u32(VERSION);
        self.encode_body(&mut e);
        e.0
    }

    /// Decode extension contents (version then body), refusing trailing bytes.
    fn from_bytes(bytes: &[u8]) -> Result<Self, ProtoError> {
        let mut d = Dec(bytes);
        let got = d.u32()?;
        if got != VERSION {
            return Err(ProtoError::UnsupportedVersion { got });
        }
        let msg = Self::decode_body(&mut d)?;
        d.finish()?;
        Ok(msg)
    }

    /// Wrap as an extension (request or reply).
    fn to_extension(&self) -> Extension {
        Extension {
            name: Self::NAME.to_string(),
            details: self.to_bytes().into(),
        }
    }

    /// Unwrap from an extension with the right name.
    fn from_extension(ext: &Extension) -> Result<Self, ProtoError> {
        if ext.name != Self::NAME {
            return Err(ProtoError::WrongExtension {
                expected: Self::NAME,
                got: ext.name.clone(),
            });
        }
        Self::from_bytes(ext.details.as_ref())
    }
}

/// A request with no body beyond its version (`keys@hwsign`, `status@hwsign`).
#[macro_export]
#[doc(hidden)]
macro_rules! empty_request {
    ($ty:ident, $name:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $ty;
        impl $crate::proto::HwsignMessage for $ty {
            const NAME: &'static str = $name;
            fn encode_body(&self, _e: &mut $crate::proto::wire::Enc) {}
            fn decode_body(
                _d: &mut $crate::proto::wire::Dec<'_>,
            ) -> Result<Self, $crate::proto::ProtoError> {
                Ok($ty)
            }
        }
    };
}
