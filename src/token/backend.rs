//! The one trait every token backend implements, and what it reports.

use super::TokenError;
use crate::crypto::TokenSignature;
use crate::crypto::pubkey::{KeyAlgorithm, PublicKey};
use crate::crypto::scheme::Scheme;
use crate::key::{BackendKind, KeyId, PinPolicy, TouchPolicy};

/// A key on a token, with what the agent and the user need to know about it.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The public key (its SPKI hash is the key id).
    pub public: PublicKey,
    /// The key's label.
    pub label: String,
    /// Where it sits on the token (e.g. `id=01ab`).
    pub object: String,
    /// RFC 7512 URI (PKCS#11 keys).
    pub pkcs11_uri: Option<String>,
    /// When it wants a touch.
    pub touch: TouchPolicy,
    /// When it wants its PIN.
    pub pin: PinPolicy,
    /// When the key was made (Unix seconds), if the token records it.
    pub created: Option<u64>,
}

impl KeyInfo {
    /// The stable key id.
    pub fn id(&self) -> KeyId {
        KeyId::of(&self.public)
    }
    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm()
    }
}

/// What a token says about itself.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Which backend it is (names the token in listings).
    pub backend: BackendKind,
    /// Token label.
    pub label: String,
    /// Token serial number.
    pub serial: String,
    /// Whether the last operation reached the token.
    pub present: bool,
    /// Whether a user session is logged in.
    pub logged_in: bool,
    /// Until when the PIN stays cached (Unix seconds), when logged in.
    pub pin_cached_until: Option<u64>,
    /// The last problem seen, for `hwsign status`.
    pub problem: Option<String>,
}

impl TokenInfo {
    /// What a token of `backend` says before anything is known.
    pub fn new(backend: BackendKind) -> Self {
        TokenInfo {
            backend,
            label: String::new(),
            serial: String::new(),
            present: false,
            logged_in: false,
            pin_cached_until: None,
            problem: None,
        }
    }
}

/// What key to make.
#[derive(Debug, Clone, Default)]
pub struct GenerateSpec {
    /// The new key's label (PKCS#11).
    pub label: String,
    /// `p256`, `p384`, `ed25519`, `rsa2048`, `rsa3072`, `rsa4096`.
    pub algorithm: String,
    /// Which card: an OpenPGP card's ident or a YubiKey's serial (empty: the only one).
    pub card: String,
    /// PIV slot (`9a`, `9c`, `9d`, `9e`, `82`…`95`).
    pub slot: String,
    /// PIV PIN policy (`never`, `once`, `always`).
    pub pin_policy: String,
    /// PIV touch policy (`never`, `always`, `cached`).
    pub touch_policy: String,
}

/// A token's attestation of one of its keys: certificates the token made, which a verifier
/// checks against the vendor's roots (see `crate::verify::attestation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttestation {
    /// What kind of attestation (`yubico-piv`).
    pub kind: String,
    /// The certificate for the key (DER), e.g. a YubiKey's answer to PIV ATTEST.
    pub certificate: Vec<u8>,
    /// The certificate of the key that signed it (DER), e.g. a YubiKey's slot f9 certificate.
    pub intermediate: Vec<u8>,
}

/// The reason [`Backend::lock`] gets when the user asked for it (`hwsign lock`, `ssh-add -x`):
/// besides forgetting PINs, a backend may then reset what it holds (a PKCS#11 module is
/// initialized again), the user's way out of a bad state without restarting the agent.
pub const LOCK_BY_USER: &str = "hwsign lock";

/// A token: one instance is owned by one worker thread, so methods take `&mut self` and may
/// block.
pub trait Backend {
    /// What the token says about itself.
    fn info(&mut self) -> TokenInfo;
    /// Every key the token can sign with.
    fn keys(&mut self) -> Result<Vec<KeyInfo>, TokenError>;
    /// Sign with the key `key_id`. `data` is the digest for hashed schemes (ECDSA, RSA) and
    /// the message for Ed25519. Returns what the token said, as it said it (the agent encodes
    /// it). `prompt` says what is being signed, for a PIN dialog.
    fn sign(
        &mut self,
        key_id: &KeyId,
        scheme: Scheme,
        data: &[u8],
        prompt: &str,
    ) -> Result<TokenSignature, TokenError>;
    /// Called about twice a second by the worker: expire a cached PIN.
    fn tick(&mut self) {}
    /// Forget the PIN now (log out), e.g. on `hwsign lock`.
    fn lock(&mut self, _why: &str) {}
    /// Make a new key pair.
    fn generate(&mut self, spec: &GenerateSpec) -> Result<KeyInfo, TokenError>;
    /// The token's proof that the key `key_id` was made on it. Only some tokens can say (a
    /// YubiKey's PIV keys); the others keep this default.
    fn attest(&mut self, key_id: &KeyId) -> Result<KeyAttestation, TokenError> {
        Err(TokenError::Unsupported(format!(
            "key {key_id}: this token cannot attest its keys (YubiKey PIV keys can)"
        )))
    }
}
