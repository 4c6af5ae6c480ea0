//! What a signature request signs, decided by the agent from the bytes themselves (never from
//! what the client claims): an SSH userauth request (`ssh-login`), an SSHSIG blob
//! (`sshsig:<namespace>`), a DSSE PAE (`dsse:<payloadType>`), or anything else, including every
//! bare digest (`digest`: "can sign anything").

use std::fmt;

use crate::format::{dsse, sshsig};
use crate::proto::scheme::SignInput;
use crate::proto::wire::Dec;

/// SSH_MSG_USERAUTH_REQUEST.
const USERAUTH_REQUEST: u8 = 50;

/// The kind of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An SSH user authentication (RFC 4252 §7 signature data).
    SshLogin {
        /// The user name asked for.
        user: String,
    },
    /// An SSHSIG signed-data blob.
    Sshsig {
        /// Its namespace.
        namespace: String,
    },
    /// A DSSE pre-authentication encoding.
    Dsse {
        /// Its payloadType.
        payload_type: String,
    },
    /// Anything else: a bare digest or unrecognised bytes.
    Digest,
}

impl Kind {
    /// Classify `data`.
    pub fn of(data: &[u8], input: SignInput) -> Kind {
        if input == SignInput::Prehash {
            return Kind::Digest;
        }
        if let Some(namespace) = sshsig::parse_namespace(data) {
            return Kind::Sshsig { namespace };
        }
        if let Some((payload_type, _)) = dsse::parse_pae(data) {
            return Kind::Dsse { payload_type };
        }
        if let Some(user) = parse_userauth(data) {
            return Kind::SshLogin { user };
        }
        Kind::Digest
    }

    /// Whether a `remote_kinds` entry allows this kind.
    pub fn allowed_by(&self, pattern: &str) -> bool {
        match self {
            Kind::SshLogin { .. } => pattern == "ssh-login",
            Kind::Sshsig { namespace } => {
                pattern == "sshsig" || pattern.strip_prefix("sshsig:") == Some(namespace.as_str())
            }
            Kind::Dsse { payload_type } => {
                pattern == "dsse" || pattern.strip_prefix("dsse:") == Some(payload_type.as_str())
            }
            Kind::Digest => pattern == "digest",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::SshLogin { .. } => f.write_str("ssh-login"),
            Kind::Sshsig { namespace } => write!(f, "sshsig:{namespace}"),
            Kind::Dsse { payload_type } => write!(f, "dsse:{payload_type}"),
            Kind::Digest => f.write_str("digest"),
        }
    }
}

/// The user of an SSH publickey userauth signature blob: `string session_id, byte 50,
/// string user, string service, string "publickey" (or the host-bound variant), bool TRUE,
/// string algorithm, string key [, string host key]`.
fn parse_userauth(data: &[u8]) -> Option<String> {
    let mut d = Dec(data);
    let session_id = d.bytes().ok()?;
    if session_id.is_empty() || session_id.len() > 64 || d.u8().ok()? != USERAUTH_REQUEST {
        return None;
    }
    let user = d.str().ok()?;
    let _service = d.str().ok()?;
    let method = d.str().ok()?;
    let hostbound = match method.as_str() {
        "publickey" => false,
        "publickey-hostbound-v00@openssh.com" => true,
        _ => return None,
    };
    if !d.bool().ok()? {
        return None;
    }
    let _alg = d.str().ok()?;
    let _key = d.bytes().ok()?;
    if hostbound {
        let _host_key = d.bytes().ok()?;
    }
    d.finish().ok()?;
    Some(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::Enc;

    fn userauth(method: &str) -> Vec<u8> {
        let mut e = Enc::default();
        e.bytes(&[9; 32])
            .u8(50)
            .str("git")
            .str("ssh-connection")
            .str(method)
            .bool(true);
        e.str("ssh-ed25519").bytes(&[1; 51]);
        if method.contains("hostbound") {
            e.bytes(&[2; 51]);
        }
        e.0
    }

    #[test]
    fn kinds_come_from_the_bytes() {
        let blob = sshsig::signed_data("file", &[0u8; 64]).unwrap();
        assert_eq!(
            Kind::of(&blob, SignInput::Message),
            Kind::Sshsig {
                namespace: "file".into()
            }
        );
        assert_eq!(Kind::of(&blob, SignInput::Prehash), Kind::Digest);
        let pae = dsse::pae("application/vnd.in-toto+json", b"{}");
        assert_eq!(
            Kind::of(&pae, SignInput::Message).to_string(),
            "dsse:application/vnd.in-toto+json"
        );
        assert_eq!(
            Kind::of(&userauth("publickey"), SignInput::Message),
            Kind::SshLogin { user: "git".into() }
        );
        assert_eq!(
            Kind::of(
                &userauth("publickey-hostbound-v00@openssh.com"),
                SignInput::Message
            )
            .to_string(),
            "ssh-login"
        );
        assert_eq!(Kind::of(b"anything", SignInput::Message), Kind::Digest);
        // A PAE is never mistaken for a login, whatever the client says.
        assert!(!Kind::of(&pae, SignInput::Message).allowed_by("ssh-login"));
        assert!(
            Kind::Sshsig {
                namespace: "git".into()
            }
            .allowed_by("sshsig")
        );
        assert!(
            !Kind::Sshsig {
                namespace: "git".into()
            }
            .allowed_by("sshsig:file")
        );
        assert!(Kind::Digest.allowed_by("digest"));
    }
}
