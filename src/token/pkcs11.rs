//! The PKCS#11 backend: one token of one module, driven through `cryptoki` by the token's
//! worker thread. Keeps its logged-in session and caches key handles; looks keys up again only
//! when the token says a handle is invalid or the session was lost.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;

use super::TokenError;
use super::backend::{Backend, GenerateSpec, KeyInfo, TokenInfo};
use super::pin_source::{PinSource, RejectedPin, getrandom_fill};
use super::pkcs11_lanes::Lanes;
use super::pkcs11_objects::{FoundKey, find_keys, generation_templates, today};
use crate::crypto::TokenSignature;
use crate::crypto::pubkey::hex;
use crate::crypto::scheme::{HashAlg, Scheme};
use crate::key::{BackendKind, KeyId, PinPolicy, TouchPolicy};
use crate::secret::Pin;

/// Load and initialize a PKCS#11 module.
pub fn load_module(path: &std::path::Path) -> Result<Pkcs11, TokenError> {
    let module_err = |detail: String| TokenError::Module {
        path: path.display().to_string(),
        detail,
    };
    let ctx = Pkcs11::new(path).map_err(|e| module_err(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
        Err(e) => Err(module_err(e.to_string())),
    }
}

/// The (slot, label, serial) of every initialized token of a module.
pub fn list_tokens(ctx: &Pkcs11) -> Result<Vec<(Slot, String, String)>, TokenError> {
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(|e| TokenError::pkcs11("", &e))?;
    let mut out = Vec::new();
    for slot in slots {
        if let Ok(info) = ctx.get_token_info(slot) {
            out.push((
                slot,
                info.label().trim_end().to_string(),
                info.serial_number().trim_end().to_string(),
            ));
        }
    }
    Ok(out)
}

/// DER DigestInfo prefixes for RSASSA-PKCS1-v1_5 over a prehash (RFC 8017 §9.2 note 1).
pub(crate) fn digest_info_prefix(hash: HashAlg) -> &'static [u8] {
    match hash {
        HashAlg::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        HashAlg::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlg::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

fn pss_params(hash: HashAlg) -> PkcsPssParams {
    let (hash_alg, mgf) = match hash {
        HashAlg::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
        HashAlg::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
        HashAlg::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
    };
    PkcsPssParams {
        hash_alg,
        mgf,
        s_len: (hash.output_len() as u64).into(),
    }
}

/// The mechanism for `scheme` and what it signs: `data`, or for RSASSA-PKCS1-v1_5 the
/// DigestInfo around the digest `data`.
pub(crate) fn mechanism(scheme: Scheme, data: &[u8]) -> (Mechanism<'static>, Cow<'_, [u8]>) {
    match scheme {
        Scheme::Ecdsa(_) => (Mechanism::Ecdsa, Cow::Borrowed(data)),
        Scheme::Ed25519 => (
            Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
            Cow::Borrowed(data),
        ),
        Scheme::RsaPkcs1v15(h) => (
            Mechanism::RsaPkcs,
            Cow::Owned([digest_info_prefix(h), data].concat()),
        ),
        Scheme::RsaPss(h) => (Mechanism::RsaPkcsPss(pss_params(h)), Cow::Borrowed(data)),
    }
}

/// What a PKCS#11 signature of `scheme` is (ECDSA as r‖s).
pub(crate) fn token_signature(scheme: Scheme, sig: Vec<u8>) -> TokenSignature {
    match scheme {
        Scheme::Ecdsa(_) => TokenSignature::EcdsaConcat(sig),
        Scheme::Ed25519 => TokenSignature::Ed25519(sig),
        Scheme::RsaPkcs1v15(_) | Scheme::RsaPss(_) => TokenSignature::Rsa(sig),
    }
}

/// What to do after a failed call.
enum Recovery {
    /// The session is gone (token removed, module reset): open a new one.
    Reconnect,
    /// The key handle is stale: look the keys up again.
    Rescan,
    /// Report the error.
    Fail,
}

fn recovery(err: &CkError) -> Recovery {
    match err {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::DeviceError
            | RvError::UserNotLoggedIn => Recovery::Reconnect,
            RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid => Recovery::Rescan,
            _ => Recovery::Fail,
        },
        _ => Recovery::Fail,
    }
}

/// How a token gets and keeps its PIN.
#[derive(Debug, Clone)]
pub struct PinOptions {
    /// Where the PIN comes from.
    pub source: PinSource,
    /// How long a login counts before the session is logged out (zero: one signature).
    pub ttl: std::time::Duration,
    /// Spend the last remaining PIN try.
    pub force_last_try: bool,
}

/// One PKCS#11 token.
pub struct Pkcs11Token {
    ctx: Pkcs11,
    slot: Slot,
    label: String,
    serial: String,
    pin: PinSource,
    ttl: std::time::Duration,
    force_last_try: bool,
    login_at: Option<std::time::Instant>,
    /// What the current request is, for the PIN dialog.
    prompt: String,
    /// Shown above the next PIN dialog (the previous PIN was wrong).
    pin_error: Option<String>,
    rejected: RejectedPin,
    session: Option<Session>,
    /// The session was lost: list the slots before opening the next one. Listing is what
    /// makes modules like OpenSC look at the reader again (a card pulled out and put back);
    /// opening a session on the old slot may still succeed on the card that is gone.
    lost: bool,
    keys: HashMap<String, FoundKey>,
    scanned: bool,
    problem: Option<String>,
    /// When the module was last finalized and initialized again.
    reinit_at: Option<std::time::Instant>,
    /// The last initialization failed (token files missing): try again before the next use.
    module_down: bool,
    /// A listing found keys, and no fresh module has found the token empty since.
    had_keys: bool,
    /// Lanes that sign beside this worker (tokens that take several sessions at once).
    lanes: Option<Arc<Lanes>>,
}

/// How often a token re-initialises its module by itself (`hwsign lock` always may).
const REINIT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Errors that say the module's own state went bad (token files restored under SoftHSM, a
/// daemon behind the module restarted): only finalizing and initializing the module again,
/// as after a re-plug, recovers from them.
fn module_state_lost(err: &CkError) -> bool {
    matches!(
        err,
        CkError::Pkcs11(
            RvError::GeneralError
                | RvError::FunctionFailed
                | RvError::CryptokiNotInitialized
                | RvError::TokenNotRecognized
                | RvError::DeviceError,
            _
        )
    )
}

impl Pkcs11Token {
    /// A token of `ctx` in `slot`; nothing is opened until the first request. With `lanes`,
    /// the keys it signs with are published to them (see [`Lanes`]).
    pub fn new(
        ctx: Pkcs11,
        slot: Slot,
        label: String,
        serial: String,
        pin: PinOptions,
        lanes: Option<Arc<Lanes>>,
    ) -> Self {
        Pkcs11Token {
            ctx,
            slot,
            label,
            serial,
            pin: pin.source,
            ttl: pin.ttl,
            force_last_try: pin.force_last_try,
            login_at: None,
            prompt: String::new(),
            pin_error: None,
            rejected: RejectedPin::new(),
            session: None,
            lost: false,
            keys: HashMap::new(),
            scanned: false,
            problem: None,
            reinit_at: None,
            module_down: false,
            had_keys: false,
            lanes,
        }
    }

    /// No lane signs until this worker publishes again.
    fn withdraw_lanes(&self) {
        if let Some(l) = &self.lanes {
            l.withdraw();
        }
    }

    /// Finalize and initialize the module again and find the token afresh, as after a re-plug.
    /// Other tokens of the module lose their sessions too and reconnect on their next call.
    /// `force`: regardless of when it was last done (`hwsign lock`).
    fn reinit_module(&mut self, why: &str, force: bool) -> bool {
        if !force
            && self
                .reinit_at
                .is_some_and(|at| at.elapsed() < REINIT_INTERVAL)
        {
            return false;
        }
        self.reinit_at = Some(std::time::Instant::now());
        self.drop_session();
        // No lane is inside the module while it is finalized and initialized again.
        let lanes = self.lanes.clone();
        let _module = lanes.as_ref().and_then(|l| l.module_write());
        if let Err(e) = self.ctx.clone().finalize() {
            tracing::debug!(token = %self.label, error = %e, "C_Finalize failed (re-initialising anyway)");
        }
        match self
            .ctx
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
                tracing::warn!(token = %self.label, why, "re-initialised the PKCS#11 module");
                self.module_down = false;
            }
            Err(e) => {
                tracing::error!(token = %self.label, why, error = %e, "cannot initialise the PKCS#11 module again; trying again at the next request");
                self.module_down = true;
            }
        }
        self.keys.clear();
        self.scanned = false;
        true
    }

    fn err(&self, e: &CkError) -> TokenError {
        match e {
            CkError::Pkcs11(
                RvError::TokenNotPresent | RvError::DeviceRemoved | RvError::SlotIdInvalid,
                _,
            ) => TokenError::NotPresent(self.label.clone()),
            _ => TokenError::pkcs11(&self.label, e),
        }
    }

    /// Find our token again (slots are renumbered when tokens come and go).
    fn relocate(&mut self) -> Result<(), TokenError> {
        let found = list_tokens(&self.ctx)?
            .into_iter()
            .find(|(_, label, serial)| *label == self.label && *serial == self.serial);
        match found {
            Some((slot, _, _)) => {
                self.slot = slot;
                Ok(())
            }
            None => Err(TokenError::NotPresent(self.label.clone())),
        }
    }

    /// An open session (not necessarily logged in).
    fn open(&mut self) -> Result<&Session, TokenError> {
        if self.module_down {
            self.reinit_module("the module was not initialised", false);
            if self.module_down {
                return Err(TokenError::NotPresent(self.label.clone()));
            }
        }
        // A session the module closed (OpenSC closes them all when a card's PIN counts for one
        // signature): a new one, before anything asks for a PIN on the dead one.
        let closed = self.session.as_ref().is_some_and(|s| {
            matches!(
                s.get_session_info(),
                Err(CkError::Pkcs11(
                    RvError::SessionHandleInvalid | RvError::SessionClosed,
                    _
                ))
            )
        });
        if closed {
            tracing::debug!(token = %self.label, "the module closed our session; opening another");
            self.drop_session();
        }
        if self.session.is_none() {
            if self.lost {
                self.relocate()?;
                self.lost = false;
            }
            let session = match self.ctx.open_rw_session(self.slot) {
                Ok(s) => s,
                Err(_) => {
                    self.relocate()?;
                    self.ctx
                        .open_rw_session(self.slot)
                        .map_err(|e| self.err(&e))?
                }
            };
            self.session = Some(session);
            self.scanned = false;
        }
        self.session
            .as_ref()
            .ok_or_else(|| TokenError::NotPresent(self.label.clone()))
    }

    /// A logged-in session; keys found before the login are looked up again (their private
    /// halves were hidden).
    fn session(&mut self) -> Result<&Session, TokenError> {
        self.open()?;
        if !self.logged_in() {
            self.login()?;
            self.scanned = false;
        }
        self.session
            .as_ref()
            .ok_or_else(|| TokenError::NotPresent(self.label.clone()))
    }

    /// Forget the session (token removed, module reset): the PIN cache goes with it.
    fn drop_session(&mut self) {
        self.withdraw_lanes();
        if let Some(session) = self.session.take() {
            // Closed by the module already (OpenSC closes every session of a card whose PIN
            // counts for one signature): closing it again only makes cryptoki log an error.
            // Forgetting it skips that call; what it keeps is one count on the module's shared
            // handle, which the agent holds until it exits anyway.
            if matches!(
                session.get_session_info(),
                Err(CkError::Pkcs11(
                    RvError::SessionHandleInvalid | RvError::SessionClosed,
                    _
                ))
            ) {
                std::mem::forget(session);
            }
        }
        self.lost = true;
        self.login_at = None;
        self.scanned = false;
    }

    fn logged_in(&self) -> bool {
        self.session
            .as_ref()
            .and_then(|s| s.get_session_info().ok())
            .is_some_and(|i| {
                matches!(
                    i.session_state(),
                    SessionState::RoUser | SessionState::RwUser
                )
            })
    }

    fn login(&mut self) -> Result<(), TokenError> {
        if self.logged_in() {
            return Ok(());
        }
        let info = self
            .ctx
            .get_token_info(self.slot)
            .map_err(|e| self.err(&e))?;
        if !info.login_required() {
            return Ok(());
        }
        let mut description = format!(
            "Token {} (serial {}) needs its PIN",
            self.label, self.serial
        );
        if !self.prompt.is_empty() {
            description.push_str(&format!(" to sign: {}", self.prompt));
        }
        let pin = self.guarded_pin(description)?;
        let Some(session) = self.session.as_ref() else {
            return Err(TokenError::NotPresent(self.label.clone()));
        };
        match session.login(UserType::User, Some(&pin.as_auth_pin())) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                self.pin_accepted();
                self.login_at = Some(std::time::Instant::now());
                tracing::info!(token = %self.label, ttl_s = self.ttl.as_secs(), "logged in; PIN cached");
                Ok(())
            }
            Err(e) => Err(self.pin_refused(&pin, &e)),
        }
    }

    /// The PIN for a login, read only when it may be tried: the retry state is read first (the
    /// last try is never spent unless forced), and a PIN the token rejected is refused unread
    /// by the token. `description` says what for (pinentry shows it with the tries left).
    fn guarded_pin(&mut self, mut description: String) -> Result<Pin, TokenError> {
        let info = self
            .ctx
            .get_token_info(self.slot)
            .map_err(|e| self.err(&e))?;
        if info.user_pin_locked() {
            return Err(TokenError::PinLocked(self.label.clone()));
        }
        if info.user_pin_final_try() && !self.force_last_try {
            return Err(TokenError::PinFinalTry(self.label.clone()));
        }
        let tries = if info.user_pin_final_try() {
            "one PIN try left"
        } else if info.user_pin_count_low() {
            "few PIN tries left"
        } else {
            ""
        };
        if !tries.is_empty() {
            description.push_str(&format!("\n({tries})"));
        }
        let pin = self
            .pin
            .read(&self.label, &description, self.pin_error.as_deref())?;
        if self.rejected.was_rejected(&pin) {
            return Err(TokenError::PinAlreadyRejected {
                token: self.label.clone(),
                source_name: self.pin.name(),
            });
        }
        Ok(pin)
    }

    /// The token took the PIN.
    fn pin_accepted(&mut self) {
        self.rejected.clear();
        self.pin_error = None;
    }

    /// The error for a failed login with `pin`; a wrong PIN is remembered and never tried again.
    fn pin_refused(&mut self, pin: &Pin, e: &CkError) -> TokenError {
        match e {
            CkError::Pkcs11(RvError::PinIncorrect, _) => {
                self.rejected.reject(pin);
                let left = match self.ctx.get_token_info(self.slot) {
                    Ok(i) if i.user_pin_final_try() => {
                        "one try left: hwsign will not spend it".to_string()
                    }
                    Ok(i) if i.user_pin_count_low() => "few tries left".to_string(),
                    _ => "tries left: the token does not say".to_string(),
                };
                self.pin_error = Some(format!("The previous PIN was wrong ({left})."));
                tracing::warn!(token = %self.label, source = %self.pin.name(), "the token rejected the PIN; it will not be tried again");
                TokenError::PinWrong {
                    token: self.label.clone(),
                    source_name: format!("{} ({left})", self.pin.name()),
                }
            }
            CkError::Pkcs11(RvError::PinLocked, _) => TokenError::PinLocked(self.label.clone()),
            e => self.err(e),
        }
    }

    /// Whether the token is still in its slot. Modules that list objects from memory (OpenSC)
    /// would list a pulled card's keys; asking for the slot's state makes them look. Other
    /// errors (a busy reader) keep the session and its login.
    fn check_present(&mut self) -> Result<(), TokenError> {
        match self.ctx.get_slot_info(self.slot) {
            Ok(info) if info.token_present() => Ok(()),
            Ok(_)
            | Err(CkError::Pkcs11(
                RvError::TokenNotPresent | RvError::DeviceRemoved | RvError::SlotIdInvalid,
                _,
            )) => {
                self.drop_session();
                Err(TokenError::NotPresent(self.label.clone()))
            }
            Err(e) => Err(self.err(&e)),
        }
    }

    fn scan(&mut self) -> Result<(), TokenError> {
        // Handles found before may be stale after it.
        self.withdraw_lanes();
        let label = self.label.clone();
        self.open()?;
        self.check_present()?;
        let logged_in = self.logged_in();
        let session = self.open()?;
        let found = find_keys(session, logged_in).map_err(|e| TokenError::pkcs11(&label, &e))?;
        self.keys = found.into_iter().map(|k| (k.public.key_id(), k)).collect();
        self.scanned = true;
        Ok(())
    }

    fn key_info(&self, k: &FoundKey) -> KeyInfo {
        KeyInfo {
            public: k.public.clone(),
            label: k.label.clone(),
            object: format!("id={}", hex(&k.id)),
            pkcs11_uri: Some(crate::pkcs11_uri::key_uri(
                &self.label,
                &self.serial,
                &k.label,
                &k.id,
            )),
            // A PKCS#11 module does not say (a YubiKey's ykcs11 key may well want one).
            touch: TouchPolicy::Never,
            created: k.created,
            pin: if k.always_authenticate {
                PinPolicy::Always
            } else {
                PinPolicy::Once
            },
        }
    }

    fn sign_once(
        &mut self,
        key_id: &KeyId,
        scheme: Scheme,
        data: &[u8],
    ) -> Result<TokenSignature, CallError> {
        self.session().map_err(CallError::Token)?;
        if !self.scanned {
            self.scan().map_err(CallError::Token)?;
        }
        let key = self
            .keys
            .get(key_id.as_str())
            .cloned()
            .ok_or_else(|| CallError::Token(TokenError::UnknownKey(key_id.to_string())))?;
        let handle = key.handle.ok_or_else(|| {
            CallError::Token(TokenError::Other(format!(
                "key {} has no private half on token {:?}",
                key.label, self.label
            )))
        })?;
        let (mechanism, input) = mechanism(scheme, data);
        if key.always_authenticate {
            // A login for this one signature (CKA_ALWAYS_AUTHENTICATE), with the same guards
            // as the session's login.
            let description = format!(
                "Token {} needs its PIN again for this key (PIN policy always): {}",
                self.label, self.prompt
            );
            let pin = self.guarded_pin(description).map_err(CallError::Token)?;
            let session = self.session().map_err(CallError::Token)?;
            match session.login(UserType::ContextSpecific, Some(&pin.as_auth_pin())) {
                Ok(()) => self.pin_accepted(),
                Err(e @ CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLocked, _)) => {
                    return Err(CallError::Token(self.pin_refused(&pin, &e)));
                }
                Err(e) => return Err(CallError::Ck(e)),
            }
        }
        let session = self.session().map_err(CallError::Token)?;
        let sig = session
            .sign(&mechanism, handle, &input)
            .map_err(CallError::Ck)?;
        // Signed in the logged-in session: the lanes may use the handle too, unless each
        // signature wants the PIN or the PIN counts for one signature only.
        if let Some(l) = &self.lanes
            && !key.always_authenticate
            && !self.ttl.is_zero()
        {
            l.publish(self.slot, key_id, handle);
        }
        Ok(token_signature(scheme, sig))
    }

    fn generate_once(&mut self, label: &str, algorithm: &str) -> Result<KeyInfo, TokenError> {
        let mut id = [0u8; 16];
        getrandom_fill(&mut id).map_err(|e| TokenError::Other(format!("no randomness: {e}")))?;
        let (mechanism, public, private) = generation_templates(algorithm, label, &id, today())
            .ok_or_else(|| TokenError::Unsupported(format!("unknown algorithm {algorithm:?} (use p256, p384, ed25519, rsa2048, rsa3072 or rsa4096)")))?;
        let tok = self.label.clone();
        let session = self.session()?;
        session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| TokenError::pkcs11(&tok, &e))?;
        self.scan()?;
        let key =
            self.keys.values().find(|k| k.id == id).ok_or_else(|| {
                TokenError::Other("the new key cannot be found on the token".into())
            })?;
        Ok(self.key_info(key))
    }
}

enum CallError {
    Ck(CkError),
    Token(TokenError),
}

impl Backend for Pkcs11Token {
    fn info(&mut self) -> TokenInfo {
        TokenInfo {
            backend: BackendKind::Pkcs11,
            label: self.label.clone(),
            serial: self.serial.clone(),
            present: self.session.is_some() || self.ctx.get_token_info(self.slot).is_ok(),
            logged_in: self.logged_in(),
            pin_cached_until: self.login_at.filter(|_| self.logged_in()).map(|at| {
                let left = self.ttl.saturating_sub(at.elapsed());
                std::time::SystemTime::now()
                    .checked_add(left)
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs())
            }),
            problem: self.problem.clone(),
        }
    }

    fn tick(&mut self) {
        let expired = self.login_at.is_some_and(|at| at.elapsed() >= self.ttl);
        if expired {
            self.lock("the PIN cache expired");
        }
    }

    fn lock(&mut self, why: &str) {
        self.login_at = None;
        self.withdraw_lanes();
        if self.logged_in() {
            if let Some(session) = &self.session {
                if let Err(e) = session.logout() {
                    tracing::warn!(token = %self.label, error = %e, "logout failed; closing the session");
                    self.drop_session();
                }
            }
            self.scanned = false;
            tracing::info!(token = %self.label, why, "logged out; the PIN is no longer cached");
        }
        if why == super::backend::LOCK_BY_USER {
            // The user's way out of a module in a bad state, without a restart.
            self.reinit_module(why, true);
        }
    }

    fn keys(&mut self) -> Result<Vec<KeyInfo>, TokenError> {
        let had_keys = self.had_keys;
        let mut result = self.scan().or_else(|e| {
            // One reconnect for a lost session, never for a PIN problem.
            if matches!(e, TokenError::Pkcs11 { .. } | TokenError::NotPresent(_)) {
                self.drop_session();
                self.scan()
            } else {
                Err(e)
            }
        });
        // Still failing, or every key gone from a token that is there: the module's view may
        // be stale (token files restored); look again through a fresh module.
        let stale = match &result {
            Err(TokenError::Pkcs11 { .. }) => true,
            Ok(()) => had_keys && self.keys.is_empty(),
            Err(_) => false,
        };
        if stale
            && self.reinit_module(
                "the token's keys vanished or its module keeps failing",
                false,
            )
        {
            result = self.scan();
            // A fresh module sees it empty too: it is empty.
            if result.is_ok() && self.keys.is_empty() {
                self.had_keys = false;
            }
        }
        if result.is_ok() && !self.keys.is_empty() {
            self.had_keys = true;
        }
        self.problem = result.as_ref().err().map(|e| e.to_string());
        result?;
        let mut keys: Vec<KeyInfo> = self.keys.values().map(|k| self.key_info(k)).collect();
        keys.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(keys)
    }

    fn sign(
        &mut self,
        key_id: &KeyId,
        scheme: Scheme,
        data: &[u8],
        prompt: &str,
    ) -> Result<TokenSignature, TokenError> {
        self.prompt = prompt.to_string();
        let mut attempt = 0;
        let mut reinitialised = false;
        let result = loop {
            attempt += 1;
            match self.sign_once(key_id, scheme, data) {
                Ok(sig) => break Ok(sig),
                // A key the listing had, gone from the token: the module's view may be stale.
                Err(CallError::Token(TokenError::UnknownKey(_)))
                    if !reinitialised
                        && self.reinit_module("a listed key vanished from the token", false) =>
                {
                    reinitialised = true;
                }
                Err(CallError::Token(e)) => break Err(e),
                Err(CallError::Ck(e))
                    if attempt > 1
                        && !reinitialised
                        && module_state_lost(&e)
                        && self.reinit_module("the module keeps failing", false) =>
                {
                    reinitialised = true;
                }
                Err(CallError::Ck(e)) if attempt == 1 => match recovery(&e) {
                    _ if module_state_lost(&e) => {
                        tracing::info!(token = %self.label, error = %e, "module error; reconnecting");
                        self.drop_session();
                    }
                    Recovery::Reconnect => {
                        tracing::info!(token = %self.label, error = %e, "session lost; reconnecting");
                        self.drop_session();
                    }
                    Recovery::Rescan => {
                        tracing::info!(token = %self.label, "key handle stale; looking keys up again");
                        self.scanned = false;
                    }
                    Recovery::Fail => break Err(self.err(&e)),
                },
                Err(CallError::Ck(e)) => break Err(self.err(&e)),
            }
        };
        self.problem = result.as_ref().err().map(|e| e.to_string());
        if self.ttl.is_zero() {
            self.lock("PIN caching is off (pin_cache_ttl = 0)");
        }
        result
    }

    fn generate(&mut self, spec: &GenerateSpec) -> Result<KeyInfo, TokenError> {
        self.generate_once(&spec.label, &spec.algorithm)
    }
}
