//! `sign@hwsign`: sign bytes (or a prehash) with a key, with context for prompts and the log.

use super::wire::{Dec, Enc};
use super::{HwsignMessage, ProtoError};
use crate::crypto::scheme::{Scheme, SignInput};

/// What a signature is for, as the client describes it. The agent does not trust this for
/// policy (it inspects the bytes); it shows it to the user and writes it to the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignContext {
    /// `dsse`, `sshsig`, `raw` or `openpgp`.
    pub format: String,
    /// The artifact names (unverified, as the client gave them).
    pub names: Vec<String>,
    /// Anything else the user should see (unverified), e.g. the existing signers of an
    /// envelope being co-signed.
    pub note: String,
}

/// Sign these bytes (or this digest) with this key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    /// The key id (full lowercase hex).
    pub key_id: String,
    /// The scheme to sign with.
    pub scheme: Scheme,
    /// Whether `data` is the message or its digest.
    pub input: SignInput,
    /// The message or digest.
    pub data: Vec<u8>,
    /// Context for the prompt and audit log.
    pub context: SignContext,
}

impl HwsignMessage for SignRequest {
    const NAME: &'static str = "sign@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.str(&self.key_id)
            .str(&self.scheme.to_string())
            .u8(self.input.to_u8())
            .bytes(&self.data)
            .str(&self.context.format)
            .strs(&self.context.names)
            .str(&self.context.note);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(SignRequest {
            key_id: d.str()?,
            scheme: d.str()?.parse()?,
            input: SignInput::from_u8(d.u8()?)?,
            data: d.bytes()?,
            context: SignContext {
                format: d.str()?,
                names: d.strs()?,
                note: d.str()?,
            },
        })
    }
}

impl SignRequest {
    /// The bytes of the whole request on the wire without its data: the frame header, the
    /// extension header, the version and every other field.
    fn overhead(&self) -> usize {
        let empty = SignRequest {
            key_id: self.key_id.clone(),
            scheme: self.scheme,
            input: self.input,
            data: Vec::new(),
            context: self.context.clone(),
        };
        // uint32 frame length, byte SSH_AGENTC_EXTENSION, string name, contents.
        4 + 1 + 4 + Self::NAME.len() + empty.to_bytes().len()
    }

    /// The length the request's frame announces (what an agent's request limit counts):
    /// known before the data exists, from its length alone.
    pub fn frame_len_with(&self, data_len: usize) -> usize {
        self.overhead() - 4 + data_len
    }

    /// The whole frame (length, `SSH_AGENTC_EXTENSION`, name, contents) as three pieces to be
    /// sent in turn: what comes before the data, the data itself (borrowed: a large statement
    /// is never copied to be sent), and what comes after it.
    pub fn frame_parts(&self) -> (Vec<u8>, &[u8], Vec<u8>) {
        let mut head = Enc::default();
        head.u32(self.frame_len_with(self.data.len()) as u32)
            .u8(SSH_AGENTC_EXTENSION)
            .str(Self::NAME)
            .u32(super::VERSION)
            .str(&self.key_id)
            .str(&self.scheme.to_string())
            .u8(self.input.to_u8())
            .u32(self.data.len() as u32);
        let mut tail = Enc::default();
        tail.str(&self.context.format)
            .strs(&self.context.names)
            .str(&self.context.note);
        (head.0, &self.data, tail.0)
    }
}

/// The SSH agent protocol's extension request.
const SSH_AGENTC_EXTENSION: u8 = 27;

/// The signature: ECDSA as ASN.1 DER, Ed25519 as 64 bytes, RSA as the big-endian integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignReply {
    /// The key that signed.
    pub key_id: String,
    /// The scheme used.
    pub scheme: Scheme,
    /// The signature in its canonical encoding.
    pub signature: Vec<u8>,
}

impl HwsignMessage for SignReply {
    const NAME: &'static str = "sign@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.str(&self.key_id)
            .str(&self.scheme.to_string())
            .bytes(&self.signature);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(SignReply {
            key_id: d.str()?,
            scheme: d.str()?.parse()?,
            signature: d.bytes()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::scheme::HashAlg;

    #[test]
    fn roundtrip() {
        let r = SignRequest {
            key_id: "ab".repeat(32),
            scheme: Scheme::RsaPss(HashAlg::Sha512),
            input: SignInput::Prehash,
            data: vec![1; 64],
            context: SignContext {
                format: "raw".into(),
                names: vec!["a.tar".into()],
                note: "co-signing".into(),
            },
        };
        assert_eq!(SignRequest::from_bytes(&r.to_bytes()).unwrap(), r);
        let reply = SignReply {
            key_id: "x".into(),
            scheme: Scheme::Ed25519,
            signature: vec![2; 64],
        };
        assert_eq!(SignReply::from_bytes(&reply.to_bytes()).unwrap(), reply);
        // The one-buffer frame is the generic encoding, and its length is known in advance.
        let mut generic = Vec::new();
        ssh_encoding::Encode::encode(
            &crate::proto::Request::Extension(r.to_extension()),
            &mut generic,
        )
        .unwrap();
        let (head, data, tail) = r.frame_parts();
        assert_eq!(
            [head.as_slice(), data, tail.as_slice()].concat(),
            crate::proto::frame::encode(&generic)
        );
        assert_eq!(r.frame_len_with(64), generic.len());
        let mut bad = r.to_bytes();
        bad.push(0);
        assert!(matches!(
            SignRequest::from_bytes(&bad),
            Err(ProtoError::Trailing(1))
        ));
    }
}
