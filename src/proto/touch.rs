//! `touch@hwsign` (give the simulated touch the oldest pending request waits for) and
//! `lock@hwsign` (forget every cached PIN): main socket only.

use super::wire::{Dec, Enc};
use super::{HwsignMessage, ProtoError};

/// Give a touch, waiting up to `wait_ms` for a request to need one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchRequest {
    /// How long to wait for a pending touch (milliseconds).
    pub wait_ms: u32,
}

impl HwsignMessage for TouchRequest {
    const NAME: &'static str = "touch@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.u32(self.wait_ms);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(TouchRequest { wait_ms: d.u32()? })
    }
}

/// What was touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchReply {
    /// The token that was touched, by its label.
    pub token: String,
    /// The key's label.
    pub key: String,
    /// What it signs.
    pub what: String,
}

impl HwsignMessage for TouchReply {
    const NAME: &'static str = "touch@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.str(&self.token).str(&self.key).str(&self.what);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(TouchReply {
            token: d.str()?,
            key: d.str()?,
            what: d.str()?,
        })
    }
}

crate::empty_request!(
    LockRequest,
    "lock@hwsign",
    "Forget every cached PIN (log the tokens out)."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let r = TouchRequest { wait_ms: 5000 };
        assert_eq!(TouchRequest::from_bytes(&r.to_bytes()).unwrap(), r);
        let reply = TouchReply {
            token: "t".into(),
            key: "k".into(),
            what: "w".into(),
        };
        assert_eq!(TouchReply::from_bytes(&reply.to_bytes()).unwrap(), reply);
    }
}
