//! A token in memory, for in-process tests of the agent (policy, dispatch, signing, touch,
//! audit) without a SoftHSM, a pcscd or a process: software keys that sign for real, a count
//! of what it was asked, and the faults a real token has (a failure, a key replaced behind the
//! listing's back).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use p256::ecdsa::signature::hazmat::PrehashSigner;
use signature::Signer;

use super::TokenError;
use super::backend::{Backend, GenerateSpec, KeyInfo, TokenInfo};
use crate::crypto::TokenSignature;
use crate::crypto::pubkey::PublicKey;
use crate::crypto::scheme::Scheme;
use crate::key::{BackendKind, KeyId, PinPolicy, TouchPolicy};

/// A software key.
#[derive(Clone)]
pub enum MemoryKey {
    /// Ed25519 (signs the message).
    Ed25519(ed25519_dalek::SigningKey),
    /// ECDSA P-256.
    P256(p256::ecdsa::SigningKey),
}

impl MemoryKey {
    /// A key from a seed (the same seed, the same key).
    pub fn ed25519(seed: u8) -> Self {
        MemoryKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    /// A P-256 key from a seed.
    pub fn p256(seed: u8) -> Self {
        MemoryKey::P256(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("a valid scalar"))
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        match self {
            MemoryKey::Ed25519(k) => {
                PublicKey::ed25519(&k.verifying_key().to_bytes()).expect("a valid key")
            }
            MemoryKey::P256(k) => PublicKey::P256((*k.verifying_key()).into()),
        }
    }

    fn sign(&self, data: &[u8]) -> TokenSignature {
        match self {
            MemoryKey::Ed25519(k) => TokenSignature::Ed25519(k.sign(data).to_bytes().to_vec()),
            MemoryKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(data).expect("a digest");
                TokenSignature::EcdsaConcat(sig.to_bytes().to_vec())
            }
        }
    }
}

/// What the test can change while the token serves.
#[derive(Default)]
pub struct Faults {
    /// The next signature fails with this.
    pub fail: Option<TokenError>,
    /// Sign with this key instead of the one asked for (a key replaced in its slot).
    pub replaced: Option<MemoryKey>,
}

/// A token of software keys (tests only).
pub struct MemoryToken {
    keys: Vec<(String, MemoryKey)>,
    /// How many signatures it was asked for.
    pub signed: Arc<AtomicUsize>,
    /// Faults to show.
    pub faults: Arc<Mutex<Faults>>,
}

impl MemoryToken {
    /// A token with these keys (label, key).
    pub fn new(keys: Vec<(String, MemoryKey)>) -> Self {
        MemoryToken {
            keys,
            signed: Arc::default(),
            faults: Arc::default(),
        }
    }
}

impl Backend for MemoryToken {
    fn info(&mut self) -> TokenInfo {
        TokenInfo {
            label: "memory".into(),
            serial: "0".into(),
            present: true,
            ..TokenInfo::new(BackendKind::Pkcs11)
        }
    }

    fn keys(&mut self) -> Result<Vec<KeyInfo>, TokenError> {
        Ok(self
            .keys
            .iter()
            .map(|(label, k)| KeyInfo {
                public: k.public(),
                label: label.clone(),
                object: format!("memory/{label}"),
                pkcs11_uri: None,
                touch: TouchPolicy::Never,
                pin: PinPolicy::Once,
                created: Some(1_700_000_000),
            })
            .collect())
    }

    fn sign(
        &mut self,
        key_id: &KeyId,
        _scheme: Scheme,
        data: &[u8],
        _prompt: &str,
    ) -> Result<TokenSignature, TokenError> {
        self.signed.fetch_add(1, Ordering::SeqCst);
        let mut faults = self.faults.lock().expect("not poisoned");
        if let Some(e) = faults.fail.take() {
            return Err(e);
        }
        let key = self
            .keys
            .iter()
            .find(|(_, k)| KeyId::of(&k.public()) == *key_id)
            .map(|(_, k)| k)
            .ok_or_else(|| TokenError::UnknownKey(key_id.to_string()))?;
        Ok(faults.replaced.as_ref().unwrap_or(key).sign(data))
    }

    fn generate(&mut self, _: &GenerateSpec) -> Result<KeyInfo, TokenError> {
        Err(TokenError::Unsupported(
            "the memory token makes no keys".into(),
        ))
    }
}
