//! `status@hwsign`: what the agent sees: its host, its tokens, their PIN state.

use super::wire::{Dec, Enc};
use super::{HwsignMessage, ProtoError};

crate::empty_request!(
    StatusRequest,
    "status@hwsign",
    "Ask for the agent's status."
);

/// One token as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenStatus {
    /// Backend name.
    pub backend: String,
    /// Token label.
    pub label: String,
    /// Token serial.
    pub serial: String,
    /// Whether the token answered its last operation.
    pub present: bool,
    /// Whether the token session is logged in (PIN verified and cached).
    pub logged_in: bool,
    /// Number of keys on it.
    pub keys: u32,
    /// The last problem, if any (e.g. a rejected PIN).
    pub problem: String,
    /// Until when the PIN stays cached (Unix seconds; 0: not cached).
    pub pin_cached_until: u64,
}

/// A touch the agent is waiting for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingTouch {
    /// The token that waits, by its label.
    pub token: String,
    /// The key's label.
    pub key: String,
    /// What it would sign.
    pub what: String,
    /// Since when (Unix seconds).
    pub since: u64,
}

/// The agent's status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusReply {
    /// hwsign version of the agent.
    pub agent_version: String,
    /// Host name of the machine the agent (and its tokens) run on.
    pub host: String,
    /// Which socket answered: `main` or `extra`.
    pub socket: String,
    /// Whether the agent runs the SoftHSM test mode.
    pub test_mode: bool,
    /// Every token the agent uses, with what it says about itself.
    pub tokens: Vec<TokenStatus>,
    /// Touches being waited for.
    pub pending_touches: Vec<PendingTouch>,
    /// How long a touch counts for keys with touch policy `cached` (seconds).
    pub touch_cache_window_s: u32,
    /// The longest a signing request may wait in the agent (confirm, PIN, touch, token), in
    /// seconds; a client waits this plus a margin before it calls the agent hung. 0 from agents
    /// older than the field (it is appended, so older clients ignore it).
    pub max_sign_wait_s: u32,
    /// The largest request (frame) the answering socket accepts, in bytes; a client checks a
    /// signing request against it before hashing anything. 0 from agents older than the field
    /// (appended like `max_sign_wait_s`): they took [`super::MAX_FRAME`].
    pub max_request: u64,
}

impl StatusReply {
    /// The largest request this agent takes on the socket that answered.
    pub fn request_limit(&self) -> usize {
        match self.max_request {
            0 => super::MAX_FRAME,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        }
    }
}

impl HwsignMessage for StatusReply {
    const NAME: &'static str = "status@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.str(&self.agent_version)
            .str(&self.host)
            .str(&self.socket)
            .bool(self.test_mode);
        e.u32(self.tokens.len() as u32);
        for t in &self.tokens {
            e.str(&t.backend)
                .str(&t.label)
                .str(&t.serial)
                .bool(t.present)
                .bool(t.logged_in)
                .u32(t.keys)
                .str(&t.problem)
                .u64(t.pin_cached_until);
        }
        e.u32(self.pending_touches.len() as u32);
        for p in &self.pending_touches {
            e.str(&p.token).str(&p.key).str(&p.what).u64(p.since);
        }
        e.u32(self.touch_cache_window_s);
        e.u32(self.max_sign_wait_s);
        e.u64(self.max_request);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        let agent_version = d.str()?;
        let host = d.str()?;
        let socket = d.str()?;
        let test_mode = d.bool()?;
        let n = d.u32()? as usize;
        if n > d.remaining() / 22 {
            return Err(ProtoError::Truncated);
        }
        let tokens = (0..n)
            .map(|_| {
                Ok(TokenStatus {
                    backend: d.str()?,
                    label: d.str()?,
                    serial: d.str()?,
                    present: d.bool()?,
                    logged_in: d.bool()?,
                    keys: d.u32()?,
                    problem: d.str()?,
                    pin_cached_until: d.u64()?,
                })
            })
            .collect::<Result<_, ProtoError>>()?;
        let n = d.u32()? as usize;
        if n > d.remaining() / 20 {
            return Err(ProtoError::Truncated);
        }
        let pending_touches = (0..n)
            .map(|_| {
                Ok(PendingTouch {
                    token: d.str()?,
                    key: d.str()?,
                    what: d.str()?,
                    since: d.u64()?,
                })
            })
            .collect::<Result<_, ProtoError>>()?;
        let touch_cache_window_s = d.u32()?;
        let max_sign_wait_s = if d.remaining() >= 4 { d.u32()? } else { 0 };
        let max_request = if d.remaining() >= 8 { d.u64()? } else { 0 };
        Ok(StatusReply {
            max_request,
            max_sign_wait_s,
            agent_version,
            host,
            socket,
            test_mode,
            tokens,
            pending_touches,
            touch_cache_window_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let r = StatusReply {
            agent_version: "0.1.0".into(),
            host: "laptop".into(),
            socket: "main".into(),
            test_mode: true,
            tokens: vec![TokenStatus {
                backend: "pkcs11".into(),
                label: "hwsign-test".into(),
                serial: "42".into(),
                present: true,
                logged_in: true,
                keys: 3,
                problem: String::new(),
                pin_cached_until: 1_800_000_000,
            }],
            pending_touches: vec![PendingTouch {
                token: "t".into(),
                key: "k".into(),
                what: "w".into(),
                since: 5,
            }],
            touch_cache_window_s: 15,
            max_sign_wait_s: 135,
            max_request: 64 << 20,
        };
        assert_eq!(StatusReply::from_bytes(&r.to_bytes()).unwrap(), r);
        assert_eq!(r.request_limit(), 64 << 20);
        // An older agent's reply ends before the request limit: it took MAX_FRAME.
        let mut old = r.to_bytes();
        old.truncate(old.len() - 8);
        let decoded = StatusReply::from_bytes(&old).unwrap();
        assert_eq!(decoded.max_request, 0);
        assert_eq!(decoded.request_limit(), crate::proto::MAX_FRAME);
    }
}
