//! `keys@hwsign`: the agent's key inventory with the metadata a client needs.

use super::wire::{Dec, Enc};
use super::{HwsignMessage, ProtoError};
use crate::crypto::pubkey::PublicKey;
use crate::key::{KeyId, KeyMeta};

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

/// One key as the wire and `hwsign keys --json` spell it: strings, made from a [`KeyMeta`]
/// when a reply is encoded and parsed back into one (checked) when it is decoded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyEntry {
    /// Stable key id: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub id: String,
    /// The key's label on its token.
    pub label: String,
    /// `ecdsa-p256`, `ecdsa-p384`, `ed25519` or `rsa-<bits>`.
    pub algorithm: String,
    /// `pkcs11`, `piv` or `openpgp-card`.
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
    /// When the key was made (Unix seconds).
    pub created: u64,
}

impl From<&KeyMeta> for KeyEntry {
    fn from(k: &KeyMeta) -> Self {
        KeyEntry {
            id: k.id.to_string(),
            label: k.label.clone(),
            algorithm: k.algorithm().to_string(),
            backend: k.backend.name().into(),
            token_label: k.token_label.clone(),
            token_serial: k.token_serial.clone(),
            object: k.object.clone(),
            ssh_public_key: k.ssh_line(),
            touch_policy: k.touch.name().into(),
            pin_policy: k.pin.name().into(),
            pkcs11_uri: k.pkcs11_uri.clone().unwrap_or_default(),
            remote: k.remote,
            created: k.created,
        }
    }
}

impl TryFrom<KeyEntry> for KeyMeta {
    type Error = ProtoError;
    /// The agent's strings checked: names it may not use, an unusable public key, an id that
    /// is not the public key's, an algorithm that is not the key's.
    fn try_from(e: KeyEntry) -> Result<Self, ProtoError> {
        let bad = |what: String| ProtoError::Invalid(format!("key {:?}: {what}", e.label));
        let public = PublicKey::from_ssh_line(&e.ssh_public_key)
            .map_err(|err| bad(format!("unusable public key: {err}")))?;
        let id = KeyId::parse(&e.id).map_err(|err| bad(err.to_string()))?;
        if id != KeyId::of(&public) {
            return Err(bad(format!("id {} is not its public key's", e.id)));
        }
        if public.algorithm().to_string() != e.algorithm {
            return Err(bad(format!(
                "algorithm {:?} is not its public key's ({})",
                e.algorithm,
                public.algorithm()
            )));
        }
        let name = |err: crate::key::UnknownName| bad(err.to_string());
        Ok(KeyMeta {
            backend: e.backend.parse().map_err(name)?,
            touch: e.touch_policy.parse().map_err(name)?,
            pin: e.pin_policy.parse().map_err(name)?,
            id,
            public,
            label: e.label,
            token_label: e.token_label,
            token_serial: e.token_serial,
            object: e.object,
            pkcs11_uri: Some(e.pkcs11_uri).filter(|u| !u.is_empty()),
            remote: e.remote,
            created: e.created,
        })
    }
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

/// A key on the wire.
pub(crate) fn encode_key(key: &KeyMeta, e: &mut Enc) {
    KeyEntry::from(key).encode(e);
}

/// A key from the wire, checked.
pub(crate) fn decode_key(d: &mut Dec<'_>) -> Result<KeyMeta, ProtoError> {
    KeyMeta::try_from(KeyEntry::decode(d)?)
}

/// The inventory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeysReply {
    /// Every key the agent can use.
    pub keys: Vec<KeyMeta>,
    /// The agent's longest sign wait in seconds (as in `status@hwsign`), so a client that picks
    /// a key knows how long a signature may take without asking for the status too. Appended:
    /// 0 from older agents, ignored by older clients.
    pub max_sign_wait_s: u32,
    /// The largest request the answering socket takes, in bytes (as in `status@hwsign`), so a
    /// client that picks a key need not ask for the status to check its request. Appended
    /// after `max_sign_wait_s`: 0 from older agents, ignored by older clients.
    pub max_request: u64,
    /// Decoded only: entries that are well-formed but that this client cannot use (a touch
    /// policy or backend a newer agent names, a public key that is not its id's), each with
    /// why. They are left out of `keys` instead of failing the whole listing.
    pub unusable: Vec<String>,
}

impl HwsignMessage for KeysReply {
    const NAME: &'static str = "keys@hwsign";
    fn encode_body(&self, e: &mut Enc) {
        e.u32(self.keys.len() as u32);
        for k in &self.keys {
            encode_key(k, e);
        }
        e.u32(self.max_sign_wait_s);
        e.u64(self.max_request);
    }
    fn decode_body(d: &mut Dec<'_>) -> Result<Self, ProtoError> {
        let n = d.u32()? as usize;
        if n > d.remaining() / 48 {
            return Err(ProtoError::Truncated);
        }
        let mut keys = Vec::with_capacity(n);
        let mut unusable = Vec::new();
        for _ in 0..n {
            match KeyMeta::try_from(KeyEntry::decode(d)?) {
                Ok(k) => keys.push(k),
                Err(e) => unusable.push(e.to_string()),
            }
        }
        let max_sign_wait_s = if d.remaining() >= 4 { d.u32()? } else { 0 };
        let max_request = if d.remaining() >= 8 { d.u64()? } else { 0 };
        Ok(KeysReply {
            keys,
            max_sign_wait_s,
            max_request,
            unusable,
        })
    }
}

/// A key for tests: the Ed25519 base point, as a PKCS#11 key.
#[cfg(test)]
pub(crate) fn sample_key() -> KeyMeta {
    let mut point = [0x66u8; 32];
    point[0] = 0x58;
    let public = PublicKey::ed25519(&point).expect("the base point is a key");
    KeyMeta {
        id: KeyId::of(&public),
        public,
        label: "release-ed25519".into(),
        backend: crate::key::BackendKind::Pkcs11,
        token_label: "hwsign-test".into(),
        token_serial: "1234".into(),
        object: "id=01".into(),
        touch: crate::key::TouchPolicy::Never,
        pin: crate::key::PinPolicy::Once,
        pkcs11_uri: Some("pkcs11:token=hwsign-test;object=release-ed25519".into()),
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
            keys: vec![sample_key(), sample_key()],
            max_sign_wait_s: 165,
            max_request: 1 << 20,
            unusable: Vec::new(),
        };
        assert_eq!(KeysReply::from_bytes(&r.to_bytes()).unwrap(), r);
        // What does not hold together is refused at the edge.
        for spoil in [
            |e: &mut KeyEntry| e.id = "cd".repeat(32),
            |e: &mut KeyEntry| e.algorithm = "rsa-2048".into(),
            |e: &mut KeyEntry| e.touch_policy = "sometimes".into(),
            |e: &mut KeyEntry| e.backend = "floppy".into(),
            |e: &mut KeyEntry| e.ssh_public_key = "ssh-ed25519 AAAA".into(),
        ] {
            let mut entry = KeyEntry::from(&sample_key());
            spoil(&mut entry);
            assert!(KeyMeta::try_from(entry).is_err());
        }
        // A key a newer agent describes with a name this client does not know is left out
        // with why; the others are listed.
        let mut e = Enc::default();
        e.u32(crate::proto::VERSION);
        e.u32(2);
        let mut newer = KeyEntry::from(&sample_key());
        newer.label = "from-the-future".into();
        newer.touch_policy = "on-full-moon".into();
        newer.encode(&mut e);
        KeyEntry::from(&sample_key()).encode(&mut e);
        e.u32(30);
        let r = KeysReply::from_bytes(&e.0).unwrap();
        assert_eq!(r.keys, [sample_key()]);
        assert_eq!(r.max_sign_wait_s, 30);
        assert_eq!(r.unusable.len(), 1);
        assert!(
            r.unusable[0].contains("from-the-future") && r.unusable[0].contains("on-full-moon"),
            "{:?}",
            r.unusable
        );
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
