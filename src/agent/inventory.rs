//! The key inventory: every key of every token, by key id, with the worker that owns it. A key
//! reachable through two tokens or backends (same SPKI) is listed once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::RwLock;

use super::created::CreatedStore;
use crate::proto::keys::KeyEntry;
use crate::proto::status::TokenStatus;
use crate::token::{KeyInfo, TokenError, TokenHandle};

/// A key and the token that holds it.
#[derive(Debug, Clone)]
pub struct KeyRef {
    /// The key.
    pub info: KeyInfo,
    /// Its id.
    pub id: String,
    /// The token's worker.
    pub token: TokenHandle,
    /// Token label and serial (for listings).
    pub token_label: String,
    /// Token serial.
    pub token_serial: String,
    /// Backend name.
    pub backend: String,
    /// Creation time (Unix seconds).
    pub created: u64,
}

impl KeyRef {
    /// The `keys@hwsign` entry.
    pub fn entry(&self) -> KeyEntry {
        KeyEntry {
            id: self.id.clone(),
            label: self.info.label.clone(),
            algorithm: self.info.algorithm().to_string(),
            backend: self.backend.clone(),
            token_label: self.token_label.clone(),
            token_serial: self.token_serial.clone(),
            object: self.info.object.clone(),
            ssh_public_key: self.info.public.ssh_line(&self.info.label),
            touch_policy: self.info.touch_policy.clone(),
            pin_policy: self.info.pin_policy.clone(),
            pkcs11_uri: self.info.pkcs11_uri.clone(),
            remote: false,
            created: self.created,
        }
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
}

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
                        if all.iter().any(|r| r.id == id) {
                            continue;
                        }
                        let created = self.created.resolve(&id, k.created);
                        all.push(KeyRef {
                            created,
                            id,
                            info: k,
                            token: token.clone(),
                            token_label: info.label.clone(),
                            token_serial: info.serial.clone(),
                            backend: info.backend.clone(),
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

    /// The key with this full id, looking the tokens up again once if it is not cached.
    pub async fn find(&self, id: &str) -> Option<KeyRef> {
        if let Some(k) = self.keys.read().await.iter().find(|k| k.id == id) {
            return Some(k.clone());
        }
        self.refresh().await.into_iter().find(|k| k.id == id)
    }

    /// The key whose public key is `public`.
    pub async fn find_public(&self, public: &crate::pubkey::PublicKey) -> Option<KeyRef> {
        self.find(&public.key_id()).await
    }

    /// Status of every token.
    pub async fn token_status(&self) -> Vec<TokenStatus> {
        let keys = self.keys().await;
        let mut out = Vec::new();
        for token in self.tokens.iter() {
            let info = token.info().await.unwrap_or_default();
            let n = keys
                .iter()
                .filter(|k| k.token.name() == token.name())
                .count();
            // The card workers are listed when they see a card or have something to say.
            let card_worker = matches!(info.backend.as_str(), "openpgp-card" | "piv");
            if card_worker && !info.present && info.problem.is_none() {
                continue;
            }
            out.push(TokenStatus {
                backend: info.backend,
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
                .filter(|t| !matches!(t.name(), "openpgp-card" | "piv"))
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
