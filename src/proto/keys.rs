//! `keys@hwsign`: the agent's key inventory with the metadata a client needs.

use super::wire::{Dec, Enc};
use super::{HwsignMessage, ProtoError};

/// Ask for the key inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysRequest {
    /// Look at every token now (a listing: `hwsign keys`). Without it the agent may answer
    /// from its last look when that is recent (a client picking the key for a signature; it
    /// asks again with `fresh` when the key it wants is not there). An empty body (clients
    /// before this field) means `fresh`.
    pub fresh: bool,
}

impl Default for KeysRequest {
    fn default() -> Self {
        KeysRequest { fresh: true }
    }
}

impl HwsignMessage for KeysRequest {
    const NAME: &'static str = "keys@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        // A fresh request is the bytes agents before `fresh` know (an empty body).
        if !self.fresh {
            e.bool(false);
        }
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        if d.remaining() == 0 {
            return Ok(KeysRequest::default());
        }
        Ok(KeysRequest { fresh: d.bool()? })
    }
}

/// One key as the agent describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyEntry {
    /// Stable key id: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub id: String,
    /// The key's label on its token.
    pub label: String,
    /// `ecdsa-p256`, `ecdsa-p384`, `ed25519` or `rsa-<bits>`.
    pub algorithm: String,
    /// Backend name (`pkcs11`, later `piv`, `openpgp-card`).
    pub backend: String,
    /// The token's label.
    pub token_label: String,
    /// The token's serial number.
    pub token_serial: String,
    /// Where the key sits on the token (object id, slot).
    pub object: String,
    /// The OpenSSH public key line.
    pub ssh_public_key: String,
    /// `never`, `always` or `cached`.
    pub touch_policy: String,
    /// `never`, `once` or `always`.
    pub pin_policy: String,
    /// RFC 7512 URI of the key (empty when not PKCS#11).
    pub pkcs11_uri: String,
    /// Whether the key may be used through the forwarded (extra) socket.
    pub remote: bool,
    /// When the key was made (Unix seconds): from the token (PKCS#11 CKA_START_DATE) or, when
    /// the token does not say, first seen by the agent. OpenPGP fingerprints depend on it.
    pub created: u64,
}

impl KeyEntry {
    pub(crate) fn encode(&self, e: &mut Enc) {
        e.str(&self.id)
            .str(&self.label)
            .str(&self.algorithm)
            .str(&self.backend)
            .str(&self.token_label)
            .str(&self.token_serial)
            .str(&self.object)
            .str(&self.ssh_public_key)
            .str(&self.touch_policy)
            .str(&self.pin_policy)
            .str(&self.pkcs11_uri)
            .bool(self.remote)
            .u64(self.created);
    }

    pub(crate) fn decode(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        Ok(KeyEntry {
            id: d.str()?,
            label: d.str()?,
            algorithm: d.str()?,
            backend: d.str()?,
            token_label: d.str()?,
            token_serial: d.str()?,
            object: d.str()?,
            ssh_public_key: d.str()?,
            touch_policy: d.str()?,
            pin_policy: d.str()?,
            pkcs11_uri: d.str()?,
            remote: d.bool()?,
            created: d.u64()?,
        })
    }
}

/// The inventory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeysReply {
    /// Every key the agent can use.
    pub keys: Vec<KeyEntry>,
    /// The agent's longest sign wait in seconds (as in `status@hwsign`), so a client that picks
    /// a key knows how long a signature may take without asking for the status too. Appended:
    /// 0 from older agents, ignored by older clients.
    pub max_sign_wait_s: u32,
}

impl HwsignMessage for KeysReply {
    const NAME: &'static str = "keys@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.u32(self.keys.len() as u32);
        for k in &self.keys {
            k.encode(e);
        }
        e.u32(self.max_sign_wait_s);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        let n = d.u32()? as usize;
        if n > d.remaining() / 48 {
            return Err(ProtoError::Truncated);
        }
        let keys = (0..n)
            .map(|_| KeyEntry::decode(d))
            .collect::<Result<_, _>>()?;
        let max_sign_wait_s = if d.remaining() >= 4 { d.u32()? } else { 0 };
        Ok(KeysReply {
            keys,
            max_sign_wait_s,
        })
    }
}

#[cfg(test)]
pub(crate) fn sample_entry() -> KeyEntry {
    KeyEntry {
        id: "ab".repeat(32),
        label: "release-p256".into(),
        algorithm: "ecdsa-p256".into(),
        backend: "pkcs11".into(),
        token_label: "hwsign-test".into(),
        token_serial: "1234".into(),
        object: "id=01".into(),
        ssh_public_key: "ecdsa-sha2-nistp256 AAAA release-p256".into(),
        touch_policy: "never".into(),
        pin_policy: "once".into(),
        pkcs11_uri: "pkcs11:token=hwsign-test;object=release-p256".into(),
        remote: false,
        created: 1_700_000_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let r = KeysReply {
            keys: vec![sample_entry(), sample_entry()],
            max_sign_wait_s: 165,
        };
        assert_eq!(KeysReply::from_bytes(&r.to_bytes()).unwrap(), r);
        assert_eq!(
            KeysRequest::from_bytes(&KeysRequest::default().to_bytes()).unwrap(),
            KeysRequest::default()
        );
        let cached = KeysRequest { fresh: false };
        assert_eq!(KeysRequest::from_bytes(&cached.to_bytes()).unwrap(), cached);
        // A body of only the version (clients before `fresh`): a fresh listing; and a fresh
        // request is exactly those bytes, so agents before `fresh` understand it.
        assert_eq!(
            KeysRequest::from_bytes(&crate::proto::VERSION.to_be_bytes()).unwrap(),
            KeysRequest::default()
        );
        assert_eq!(
            KeysRequest::default().to_bytes(),
            crate::proto::VERSION.to_be_bytes()
        );
        let mut future = KeysRequest::default().to_bytes();
        future[3] = 9;
        assert!(matches!(
            KeysRequest::from_bytes(&future),
            Err(ProtoError::UnsupportedVersion { got: 9 })
        ));
    }
}
