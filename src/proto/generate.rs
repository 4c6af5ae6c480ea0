//! `generate@hwsign`: make a key on a token (main socket only).

use super::keys::{decode_key, encode_key};
use super::wire::{Dec, Enc};
use super::{HwsignMessage, ProtoError};
use crate::key::KeyMeta;

/// Make a key pair on a PKCS#11 token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateRequest {
    /// The token's label; empty when the agent has exactly one token.
    pub token: String,
    /// The new key's label.
    pub label: String,
    /// `p256`, `p384`, `ed25519` or `rsa3072` (also `rsa2048`, `rsa4096`).
    pub algorithm: String,
    /// Backend options as `key=value`: `ident=…` (OpenPGP card), `serial=…`, `slot=9c`,
    /// `pin-policy=…`, `touch-policy=…` (PIV).
    pub options: Vec<String>,
}

impl GenerateRequest {
    /// The value of option `key`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
    }
}

impl HwsignMessage for GenerateRequest {
    const NAME: &'static str = "generate@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.str(&self.token)
            .str(&self.label)
            .str(&self.algorithm)
            .strs(&self.options);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(GenerateRequest {
            token: d.str()?,
            label: d.str()?,
            algorithm: d.str()?,
            options: d.strs()?,
        })
    }
}

/// The new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateReply {
    /// The key as `keys@hwsign` lists it.
    pub key: KeyMeta,
}

impl HwsignMessage for GenerateReply {
    const NAME: &'static str = "generate@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        encode_key(&self.key, e);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(GenerateReply {
            key: decode_key(d)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let r = GenerateRequest {
            token: "t".into(),
            label: "l".into(),
            algorithm: "p256".into(),
            options: vec!["slot=9c".into()],
        };
        assert_eq!(r.option("slot"), Some("9c"));
        assert_eq!(GenerateRequest::from_bytes(&r.to_bytes()).unwrap(), r);
        let reply = GenerateReply {
            key: super::super::keys::sample_key(),
        };
        assert_eq!(GenerateReply::from_bytes(&reply.to_bytes()).unwrap(), reply);
    }
}
