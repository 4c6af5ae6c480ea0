//! `minisign@hwsign`: both signatures of a minisign file in one request — the signature of the
//! file's BLAKE2b-512 digest (or, legacy, of the file itself) and the global signature over
//! that signature and the trusted comment. The agent makes the second from the first, so one
//! decision (one confirmation, one audit record) covers the file; a token that wants a touch
//! per signature is touched twice.

use super::sign::SignContext;
use super::wire::{Dec, Enc};
use super::{HwsignMessage, ProtoError};

/// Sign a minisign file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinisignRequest {
    /// The Ed25519 key (full lowercase hex id).
    pub key_id: String,
    /// What the first signature signs: the BLAKE2b-512 digest, or the file (legacy).
    pub data: Vec<u8>,
    /// The trusted comment the global signature covers (`timestamp:…\tfile:…`).
    pub trusted_comment: String,
    /// Context for the prompt and audit log.
    pub context: SignContext,
}

impl HwsignMessage for MinisignRequest {
    const NAME: &'static str = "minisign@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.str(&self.key_id)
            .bytes(&self.data)
            .str(&self.trusted_comment)
            .str(&self.context.format)
            .strs(&self.context.names)
            .str(&self.context.note);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(MinisignRequest {
            key_id: d.str()?,
            data: d.bytes()?,
            trusted_comment: d.str()?,
            context: SignContext {
                format: d.str()?,
                names: d.strs()?,
                note: d.str()?,
            },
        })
    }
}

/// Both signatures (Ed25519, 64 bytes each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinisignReply {
    /// The key that signed.
    pub key_id: String,
    /// The signature of the data.
    pub signature: Vec<u8>,
    /// The signature of `signature ‖ trusted_comment`.
    pub global_signature: Vec<u8>,
}

impl HwsignMessage for MinisignReply {
    const NAME: &'static str = "minisign@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.str(&self.key_id)
            .bytes(&self.signature)
            .bytes(&self.global_signature);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(MinisignReply {
            key_id: d.str()?,
            signature: d.bytes()?,
            global_signature: d.bytes()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let r = MinisignRequest {
            key_id: "ab".repeat(32),
            data: vec![7; 64],
            trusted_comment: "timestamp:1\tfile:a.tar\thashed".into(),
            context: SignContext {
                format: "minisign".into(),
                names: vec!["a.tar".into()],
                note: String::new(),
            },
        };
        assert_eq!(MinisignRequest::from_bytes(&r.to_bytes()).unwrap(), r);
        let reply = MinisignReply {
            key_id: "ab".repeat(32),
            signature: vec![1; 64],
            global_signature: vec![2; 64],
        };
        assert_eq!(MinisignReply::from_bytes(&reply.to_bytes()).unwrap(), reply);
    }
}
