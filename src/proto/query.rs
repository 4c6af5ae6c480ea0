//! The standard `query` extension: the list of extensions the agent supports.

use super::wire::{Dec, Enc};
use super::{EXT_QUERY, Extension, ProtoError};

/// The `query` reply body: a list of extension names (no hwsign version: it is a standard
/// extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryReply {
    /// Supported extension names.
    pub extensions: Vec<String>,
}

impl QueryReply {
    /// As an `SSH_AGENT_EXTENSION_RESPONSE` named `query`.
    pub fn to_extension(&self) -> Extension {
        let mut e = Enc::default();
        e.strs(&self.extensions);
        Extension {
            name: EXT_QUERY.into(),
            details: e.0.into(),
        }
    }

    /// Decode the body (RFC 9987 framing: after the name; draft framing: after SUCCESS).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProtoError> {
        let mut d = Dec(bytes);
        let extensions = d.strs()?;
        d.finish()?;
        Ok(QueryReply { extensions })
    }
}
