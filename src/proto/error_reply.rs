//! `error@hwsign`: the reply that carries a wire error code, a message and a hint.

use super::wire::{Dec, Enc};
use super::{HwsignMessage, ProtoError};
use crate::error::{ErrorCode, WireError};

impl HwsignMessage for WireError {
    const NAME: &'static str = "error@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.u32(self.code.as_u32()).str(&self.message).str(&self.hint);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(WireError {
            code: ErrorCode::from_u32(d.u32()?),
            message: d.str()?,
            hint: d.str()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let e = WireError::new(ErrorCode::PinWrong, "PIN rejected", "fix the PIN file");
        assert_eq!(WireError::from_bytes(&e.to_bytes()).unwrap(), e);
    }
}
