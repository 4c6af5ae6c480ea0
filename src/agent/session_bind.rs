//! OpenSSH's `session-bind@openssh.com`: ssh tells the agent, on each forwarding hop, which
//! host key the session is bound to (and proves it with that host's signature over the session
//! id). The agent keeps the chain per connection for the audit log, prompts and `from_hosts`.

use signature::Verifier;
use ssh_encoding::Decode;
use ssh_key::public::KeyData;

use crate::proto::wire::Dec;

/// One hop.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BoundHost {
    /// The host key's fingerprint (`SHA256:…`).
    pub host_key: String,
    /// Whether this hop forwards the agent further (false: the final destination).
    pub forwarding: bool,
}

/// Parse and verify a session-bind request body.
pub fn parse(contents: &[u8]) -> Result<BoundHost, String> {
    let mut d = Dec(contents);
    let key_blob = d.bytes().map_err(|e| e.to_string())?;
    let session_id = d.bytes().map_err(|e| e.to_string())?;
    let sig_blob = d.bytes().map_err(|e| e.to_string())?;
    let forwarding = d.bool().map_err(|e| e.to_string())?;
    d.finish().map_err(|e| e.to_string())?;
    let key = KeyData::decode(&mut &key_blob[..]).map_err(|e| format!("host key: {e}"))?;
    let sig =
        ssh_key::Signature::decode(&mut &sig_blob[..]).map_err(|e| format!("signature: {e}"))?;
    key.verify(&session_id, &sig)
        .map_err(|_| "the host key's signature over the session id does not verify".to_string())?;
    Ok(BoundHost {
        host_key: key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
        forwarding,
    })
}
