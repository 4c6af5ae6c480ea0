//! Reading an agent's reply to an extension request, in both framings: RFC 9987's
//! `SSH_AGENT_EXTENSION_RESPONSE` (type 29, name, contents) and the older draft's
//! `SSH_AGENT_SUCCESS` followed by the contents.

use super::{HwsignMessage, ProtoError};
use crate::error::WireError;

const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENT_SUCCESS: u8 = 6;
const SSH_AGENT_EXTENSION_FAILURE: u8 = 28;
const SSH_AGENT_EXTENSION_RESPONSE: u8 = 29;

/// A reply to an extension request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionReply {
    /// RFC 9987 framing.
    Response {
        /// The extension name.
        name: String,
        /// The extension's contents (a hwsign message body).
        contents: Vec<u8>,
    },
    /// Draft framing: SUCCESS then the contents (possibly empty).
    Success(Vec<u8>),
    /// `SSH_AGENT_FAILURE`: the agent does not know the extension.
    Failure,
    /// `SSH_AGENT_EXTENSION_FAILURE`: the extension failed, with no details.
    ExtensionFailure,
}

/// Split a reply message (without its length prefix).
pub fn parse(message: &[u8]) -> Result<ExtensionReply, ProtoError> {
    let (&kind, rest) = message.split_first().ok_or(ProtoError::Truncated)?;
    match kind {
        SSH_AGENT_EXTENSION_RESPONSE => {
            let mut d = super::wire::Dec(rest);
            let name = d.str()?;
            Ok(ExtensionReply::Response {
                name,
                contents: d.0.to_vec(),
            })
        }
        SSH_AGENT_SUCCESS => Ok(ExtensionReply::Success(rest.to_vec())),
        SSH_AGENT_FAILURE => Ok(ExtensionReply::Failure),
        SSH_AGENT_EXTENSION_FAILURE => Ok(ExtensionReply::ExtensionFailure),
        other => Err(ProtoError::Invalid(format!(
            "unexpected reply type {other}"
        ))),
    }
}

/// Why a reply did not carry the expected message.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The agent answered with `error@hwsign`.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The agent does not support the request.
    #[error("the agent does not support {0} (is it an hwsign agent?)")]
    Unsupported(&'static str),
    /// The reply could not be decoded.
    #[error(transparent)]
    Proto(#[from] ProtoError),
}

/// Decode the reply to a request for `T`, turning `error@hwsign` into its [`WireError`].
pub fn expect<T: HwsignMessage>(message: &[u8]) -> Result<T, ReplyError> {
    match parse(message)? {
        ExtensionReply::Response { name, contents } if name == WireError::NAME => {
            Err(WireError::from_bytes(&contents)?.into())
        }
        ExtensionReply::Response { name, contents } if name == T::NAME => {
            Ok(T::from_bytes(&contents)?)
        }
        ExtensionReply::Response { name, .. } => Err(ProtoError::WrongExtension {
            expected: T::NAME,
            got: name,
        }
        .into()),
        ExtensionReply::Success(contents) if !contents.is_empty() => Ok(T::from_bytes(&contents)?),
        ExtensionReply::Success(_) | ExtensionReply::Failure | ExtensionReply::ExtensionFailure => {
            Err(ReplyError::Unsupported(T::NAME))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::{KeysReply, sample_key};
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn both_framings() {
        let reply = KeysReply {
            keys: vec![sample_key()],
            max_sign_wait_s: 0,
            max_request: 0,
            unusable: Vec::new(),
        };
        let mut rfc = vec![SSH_AGENT_EXTENSION_RESPONSE];
        let mut e = super::super::wire::Enc::default();
        e.str(KeysReply::NAME);
        rfc.extend(e.0);
        rfc.extend(reply.to_bytes());
        assert_eq!(expect::<KeysReply>(&rfc).unwrap(), reply);

        let mut draft = vec![SSH_AGENT_SUCCESS];
        draft.extend(reply.to_bytes());
        assert_eq!(expect::<KeysReply>(&draft).unwrap(), reply);

        assert!(matches!(
            expect::<KeysReply>(&[SSH_AGENT_FAILURE]),
            Err(ReplyError::Unsupported(_))
        ));
    }

    #[test]
    fn error_reply_becomes_wire_error() {
        let err = WireError::new(ErrorCode::UnknownKey, "no such key", "run hwsign keys");
        let mut msg = vec![SSH_AGENT_EXTENSION_RESPONSE];
        let mut e = super::super::wire::Enc::default();
        e.str(WireError::NAME);
        msg.extend(e.0);
        msg.extend(err.to_bytes());
        match expect::<KeysReply>(&msg) {
            Err(ReplyError::Wire(w)) => assert_eq!(w, err),
            other => panic!("{other:?}"),
        }
    }
}
