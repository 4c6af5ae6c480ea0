//! The key inventory: every key of every token, by key id, with the worker that owns it. A key
//! reachable through two tokens or backends (same SPKI) is listed once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::RwLock;

use super::created::CreatedStore;
use crate::key::{KeyId, KeyMeta};
use crate::proto::status::TokenStatus;
use crate::token::{TokenError, TokenHandle};

/// A key and the worker of the token that holds it.
#[derive(Debug, Clone)]
pub struct KeyRef {
    /// What is known about the key.
    pub meta: KeyMeta,
    /// The token's worker.
    pub token: TokenHandle,
}

impl KeyRef {
    /// The key id (the SPKI hash) the inventory and requests name it by.
    pub fn id(&self) -> &KeyId {
        &self.meta.id
    }
}

/// All tokens and their keys.
#[derive(Debug, Clone)]
pub struct Inventory {
    tokens: Arc<Vec<TokenHandle>>,
    created: Arc<CreatedStore>,
    keys: Arc<RwLock<Vec<KeyRef>>>,
    /// When the tokens were last asked for their keys (None: never, or a key went missing).
    refreshed: Arc<Mutex<Option<Instant>>>,
    /// Bumped by [`Inventory::invalidate`]: a refresh that began before it does not count.
    generation: Arc<AtomicU64>,
    /// When a request for an unknown key last made the tokens list their keys; held while that
    /// listing runs, so concurrent misses share it.
    last_miss: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

/// How often a request for a key that is not in the listing may make the tokens list their
/// keys again (a PIV listing on a card takes seconds; an unknown key id is cheap to send,
/// also from a forwarded host). A key plugged in meanwhile is found by `hwsign keys`, which
/// always lists afresh, or after this interval.
pub const MISS_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// How old a listing may be to answer a client picking a key (`keys@hwsign` without `fresh`).
/// Cards take tens of APDUs to list (24 PIV slots); the client asks again with `fresh` when
/// the key it wants is not there, and a token that lost a key makes the next answer fresh.
pub const RECENT: Duration = Duration::from_secs(30);

impl Inventory {
    /// An inventory over these token workers (call [`Inventory::refresh`] to fill it), with
    /// the store of creation times the tokens do not record.
    pub fn new(tokens: Vec<TokenHandle>, created: CreatedStore) -> Self {
        Inventory {
            tokens: Arc::new(tokens),
            created: Arc::new(created),
            keys: Arc::new(RwLock::new(Vec::new())),
            refreshed: Arc::new(Mutex::new(None)),
            generation: Arc::new(AtomicU64::new(0)),
            last_miss: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// The keys as found at most `max_age` ago, or [`Inventory::refresh`]ed now.
    pub async fn recent(&self, max_age: Duration) -> Vec<KeyRef> {
        let fresh_enough = self
            .refreshed
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| at.elapsed() <= max_age);
        if fresh_enough {
            self.keys().await
        } else {
            self.refresh().await
        }
    }

    /// A key was not where the listing said (token gone, key deleted): the next
    /// [`Inventory::recent`] asks the tokens again.
    pub fn invalidate(&self) {
        if let Ok(mut at) = self.refreshed.lock() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            *at = None;
        }
    }

    /// The token workers.
    pub fn tokens(&self) -> &[TokenHandle] {
        &self.tokens
    }

    /// Ask every token for its keys. A token that fails keeps no keys and is logged; the
    /// others are unaffected.
    pub async fn refresh(&self) -> Vec<KeyRef> {
        // The listing counts as made when it began: what changed during it is not in it.
        let generation = self.generation.load(Ordering::SeqCst);
        let started = Instant::now();
        let mut all: Vec<KeyRef> = Vec::new();
        for token in self.tokens.iter() {
            let info = match token.info().await {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(token = token.name(), error = %e, "token worker unavailable");
                    continue;
                }
            };
            match token.keys().await {
                Ok(keys) => {
                    for k in keys {
                        let id = k.id();
                        if all.iter().any(|r| r.meta.id == id) {
                            continue;
                        }
                        let created = self.created.resolve(id.as_str(), k.created);
                        all.push(KeyRef {
                            meta: KeyMeta {
                                id,
                                label: k.label,
                                public: k.public,
                                backend: info.backend,
                                token_label: info.label.clone(),
                                token_serial: info.serial.clone(),
                                object: k.object,
                                touch: k.touch,
                                pin: k.pin,
                                pkcs11_uri: k.pkcs11_uri,
                                created,
                                remote: false,
                            },
                            token: token.clone(),
                        });
                    }
                }
                Err(e) => tracing::warn!(token = token.name(), error = %e, "cannot list keys"),
            }
        }
        *self.keys.write().await = all.clone();
        if let Ok(mut at) = self.refreshed.lock() {
            if self.generation.load(Ordering::SeqCst) == generation {
                *at = Some(started);
            }
        }
        all
    }

    /// The cached keys.
    pub async fn keys(&self) -> Vec<KeyRef> {
        self.keys.read().await.clone()
    }

    async fn cached(&self, id: &KeyId) -> Option<KeyRef> {
        self.keys
            .read()
            .await
            .iter()
            .find(|k| k.meta.id == *id)
            .cloned()
    }

    /// The key with this full id. One not in the listing makes the tokens list their keys
    /// again at most once per [`MISS_REFRESH_INTERVAL`], shared by every request that missed
    /// meanwhile; otherwise it is answered from the listing (a key gone from a token
    /// invalidates the listing, so a lost key is looked up at once).
    pub async fn find(&self, id: &KeyId) -> Option<KeyRef> {
        if let Some(k) = self.cached(id).await {
            return Some(k);
        }
        let mut last = self.last_miss.lock().await;
        // A listing made while this request waited for the lock counts.
        if let Some(k) = self.cached(id).await {
            return Some(k);
        }
        let invalidated = self.refreshed.lock().map(|at| at.is_none()).unwrap_or(true);
        if !invalidated && last.is_some_and(|at| at.elapsed() < MISS_REFRESH_INTERVAL) {
            return None;
        }
        *last = Some(Instant::now());
        self.refresh().await.into_iter().find(|k| k.meta.id == *id)
    }

    /// The key whose public key is `public`.
    pub async fn find_public(&self, public: &crate::crypto::pubkey::PublicKey) -> Option<KeyRef> {
        self.find(&KeyId::of(public)).await
    }

    /// Status of every token.
    pub async fn token_status(&self) -> Vec<TokenStatus> {
        let keys = self.keys().await;
        let mut out = Vec::new();
        for token in self.tokens.iter() {
            let info = token
                .info()
                .await
                .unwrap_or_else(|_| crate::token::TokenInfo::new(token.kind()));
            let n = keys
                .iter()
                .filter(|k| k.token.name() == token.name())
                .count();
            // The card workers are listed when they see a card or have something to say.
            if info.backend.is_card() && !info.present && info.problem.is_none() {
                continue;
            }
            out.push(TokenStatus {
                backend: info.backend.name().into(),
                label: if info.label.is_empty() {
                    token.name().to_string()
                } else {
                    info.label
                },
                serial: info.serial,
                present: info.present,
                logged_in: info.logged_in,
                keys: n as u32,
                problem: info.problem.unwrap_or_default(),
                pin_cached_until: info.pin_cached_until.unwrap_or(0),
            });
        }
        out
    }

    /// Log every token out (forget cached PINs).
    pub async fn lock_all(&self) {
        for t in self.tokens.iter() {
            if let Err(e) = t.lock().await {
                tracing::warn!(token = t.name(), error = %e, "cannot lock");
            }
        }
    }

    /// The token with this label (or the only token when `label` is empty).
    pub fn token(&self, label: &str) -> Result<TokenHandle, TokenError> {
        if label.is_empty() {
            // The card workers are named; an unnamed token is a PKCS#11 one.
            let pkcs11: Vec<TokenHandle> = self
                .tokens
                .iter()
                .filter(|t| !t.kind().is_card())
                .cloned()
                .collect();
            return match pkcs11.as_slice() {
                [only] => Ok(only.clone()),
                [] => Err(TokenError::NotPresent("(no token configured)".into())),
                many => Err(TokenError::Other(format!(
                    "the agent has {} tokens ({}); name one with --token",
                    many.len(),
                    many.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
                ))),
            };
        }
        self.tokens
            .iter()
            .find(|t| t.name() == label)
            .cloned()
            .ok_or_else(|| TokenError::NotPresent(label.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::scheme::Scheme;
    use crate::key::{BackendKind, PinPolicy, TouchPolicy};
    use crate::token::{Backend, GenerateSpec, KeyInfo, TokenInfo};
    use std::sync::atomic::AtomicUsize;

    const BASE_POINT: [u8; 32] = {
        let mut p = [0x66u8; 32];
        p[0] = 0x58;
        p
    };

    /// A token with one Ed25519 key that counts how often it is asked for its keys.
    struct Counting(Arc<AtomicUsize>);

    impl Backend for Counting {
        fn info(&mut self) -> TokenInfo {
            TokenInfo {
                label: "counting".into(),
                present: true,
                ..TokenInfo::new(BackendKind::Pkcs11)
            }
        }
        fn keys(&mut self) -> Result<Vec<KeyInfo>, TokenError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(vec![KeyInfo {
                // The Ed25519 base point: a valid public key.
                public: crate::crypto::pubkey::PublicKey::ed25519(&BASE_POINT).unwrap(),
                label: "k".into(),
                object: String::new(),
                pkcs11_uri: None,
                touch: TouchPolicy::Never,
                pin: PinPolicy::Never,
                created: Some(1),
            }])
        }
        fn sign(
            &mut self,
            _: &KeyId,
            _: Scheme,
            _: &[u8],
            _: &str,
        ) -> Result<crate::crypto::TokenSignature, TokenError> {
            Err(TokenError::Other("not in this test".into()))
        }
        fn generate(&mut self, _: &GenerateSpec) -> Result<KeyInfo, TokenError> {
            Err(TokenError::Other("not in this test".into()))
        }
    }

    /// Unknown key ids, however many and however concurrent, make the token list its keys at
    /// most once per interval; a known id never does.
    #[tokio::test]
    async fn unknown_ids_do_not_make_the_token_list_again() {
        let listings = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&listings);
        let token = TokenHandle::spawn("counting".into(), BackendKind::Pkcs11, move || {
            Counting(counter)
        })
        .unwrap();
        let inv = Inventory::new(vec![token], CreatedStore::open(None));
        let keys = inv.refresh().await;
        assert_eq!(listings.load(Ordering::SeqCst), 1);
        let known = keys[0].meta.id.clone();
        let misses = (0..50).map(|i| {
            let inv = inv.clone();
            tokio::spawn(async move {
                let id = KeyId::parse(&format!("{i:064x}")).unwrap();
                inv.find(&id).await.is_none()
            })
        });
        for m in misses {
            assert!(m.await.unwrap());
        }
        assert!(inv.find(&known).await.is_some());
        assert_eq!(
            listings.load(Ordering::SeqCst),
            2,
            "50 concurrent misses share one listing"
        );
        // A lost key (invalidated listing) is looked up at once.
        inv.invalidate();
        assert!(
            inv.find(&KeyId::parse(&"f".repeat(64)).unwrap())
                .await
                .is_none()
        );
        assert_eq!(listings.load(Ordering::SeqCst), 3);
    }
}
