//! `attest@hwsign`: a token's attestation of one of its keys (a YubiKey's PIV ATTEST answer and
//! its slot f9 certificate). Both sockets: the certificates are public, and a forwarded socket
//! answers only for keys it shows.

use super::wire::{Dec, Enc};
use super::{HwsignMessage, ProtoError};

/// The largest certificate accepted in a reply: a YubiKey's are under 2 KiB.
const MAX_CERT: usize = 16 * 1024;

/// Attest the key with this id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestRequest {
    /// The key id (hex SHA-256 of the SPKI).
    pub key_id: String,
}

impl HwsignMessage for AttestRequest {
    const NAME: &'static str = "attest@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.str(&self.key_id);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(AttestRequest { key_id: d.str()? })
    }
}

/// The attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestReply {
    /// The key attested.
    pub key_id: String,
    /// `yubico-piv`.
    pub kind: String,
    /// The certificate for the key (DER).
    pub certificate: Vec<u8>,
    /// The certificate of the token's attestation key (DER).
    pub intermediate: Vec<u8>,
}

impl HwsignMessage for AttestReply {
    const NAME: &'static str = "attest@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.str(&self.key_id)
            .str(&self.kind)
            .bytes(&self.certificate)
            .bytes(&self.intermediate);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        let (key_id, kind) = (d.str()?, d.str()?);
        let (certificate, intermediate) = (d.bytes()?, d.bytes()?);
        if certificate.len() > MAX_CERT || intermediate.len() > MAX_CERT {
            return Err(ProtoError::Invalid(format!(
                "attestation certificate larger than {MAX_CERT} bytes"
            )));
        }
        Ok(AttestReply {
            key_id,
            kind,
            certificate,
            intermediate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let r = AttestRequest {
            key_id: "ab".repeat(32),
        };
        assert_eq!(AttestRequest::from_bytes(&r.to_bytes()).unwrap(), r);
        let reply = AttestReply {
            key_id: "ab".repeat(32),
            kind: "yubico-piv".into(),
            certificate: vec![0x30, 0x03, 0x02, 0x01, 0x01],
            intermediate: vec![0x30, 0x00],
        };
        assert_eq!(AttestReply::from_bytes(&reply.to_bytes()).unwrap(), reply);
        let big = AttestReply {
            certificate: vec![0; MAX_CERT + 1],
            ..reply
        };
        assert!(AttestReply::from_bytes(&big.to_bytes()).is_err());
    }
}
