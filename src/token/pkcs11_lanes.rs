//! What a PKCS#11 token's lanes share with its worker ([`crate::token::worker::LaneSpec`]):
//! the key handles the worker published after signing with them in its logged-in session, and
//! a lock the worker takes to finalize the module (no lane is inside the module then).
//!
//! A lane signs only with a published handle, in a session of its own opened on the same
//! slot: PKCS#11 logins belong to the application, so the worker's login covers it. The worker
//! withdraws every handle whenever its session, login or module changes (logout, PIN expiry,
//! `hwsign lock`, a lost session, a rescan, a re-initialised module); a lane that fails for any
//! reason hands the job back to the worker, which recovers and reports as it always has. Keys
//! that want their PIN for every signature are never published.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cryptoki::context::Pkcs11;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::slot::Slot;

use super::pkcs11::{mechanism, token_signature};
use super::worker::{LaneSigner, LaneSpec};
use crate::key::KeyId;

/// The published handles, valid for one `epoch` of the worker's session.
#[derive(Default)]
struct Ready {
    epoch: u64,
    slot: Option<Slot>,
    keys: HashMap<KeyId, ObjectHandle>,
}

/// Shared by a PKCS#11 token's worker and its lanes.
#[derive(Default)]
pub struct Lanes {
    ready: RwLock<Ready>,
    /// Read by a lane around each call into the module; written by the worker around
    /// `C_Finalize`/`C_Initialize`. It counts those: a session opened before cannot be closed
    /// after (its handle number may be a new session's).
    module: RwLock<u64>,
}

impl Lanes {
    /// `key` in `slot` may be signed with `handle` in any logged-in session.
    pub fn publish(&self, slot: Slot, key: &KeyId, handle: ObjectHandle) {
        if let Ok(mut r) = self.ready.write() {
            if r.slot != Some(slot) {
                r.keys.clear();
                r.epoch += 1;
                r.slot = Some(slot);
            }
            r.keys.insert(key.clone(), handle);
        }
    }

    /// Nothing may be signed in a lane until the worker publishes again; lanes open new
    /// sessions then.
    pub fn withdraw(&self) {
        if let Ok(mut r) = self.ready.write()
            && (r.slot.is_some() || !r.keys.is_empty())
        {
            r.keys.clear();
            r.slot = None;
            r.epoch += 1;
        }
    }

    /// Hold while the module is finalized and initialized again.
    pub fn module_write(&self) -> Option<std::sync::RwLockWriteGuard<'_, u64>> {
        let mut guard = self.module.write().ok()?;
        *guard += 1;
        Some(guard)
    }

    fn is_ready(&self, key: &KeyId) -> bool {
        self.ready.read().is_ok_and(|r| r.keys.contains_key(key))
    }

    fn lookup(&self, key: &KeyId) -> Option<(u64, Slot, ObjectHandle)> {
        let r = self.ready.read().ok()?;
        Some((r.epoch, r.slot?, *r.keys.get(key)?))
    }

    /// The lane spec for a token of `ctx`: `count` lanes.
    pub fn spec(self: &Arc<Self>, ctx: &Pkcs11, count: usize) -> LaneSpec {
        let ready = Arc::clone(self);
        let (lanes, ctx) = (Arc::clone(self), ctx.clone());
        LaneSpec {
            count,
            ready: Arc::new(move |key| ready.is_ready(key)),
            signer: Arc::new(move || lane_signer(Arc::clone(&lanes), ctx.clone())),
        }
    }
}

fn lane_signer(lanes: Arc<Lanes>, ctx: Pkcs11) -> LaneSigner {
    // The session, the epoch it was opened for and the module's generation then.
    let mut session: Option<(u64, u64, Session)> = None;
    Box::new(move |key, scheme, data| {
        let module = lanes.module.read().ok()?;
        let (epoch, slot, handle) = lanes.lookup(key)?;
        if session.as_ref().is_none_or(|(e, _, _)| *e != epoch) {
            if let Some(old) = session.take() {
                release(old, *module, None);
            }
            session = Some((epoch, *module, ctx.open_ro_session(slot).ok()?));
        }
        let (_, _, s) = session.as_ref()?;
        let (mech, input) = mechanism(scheme, data);
        match s.sign(&mech, handle, &input) {
            Ok(sig) => {
                tracing::debug!(key = %key, "signed in a lane");
                Some(token_signature(scheme, sig))
            }
            Err(e) => {
                tracing::debug!(error = %e, "a lane could not sign; the token's worker will");
                if let Some(old) = session.take() {
                    release(old, *module, Some(&e));
                }
                None
            }
        }
    })
}

/// Close a lane's session, unless the module may have forgotten it: initialised again since
/// it was opened, or its last call said the handle is invalid. Its number may then be another
/// session's (the worker's), which closing would end; forgetting it costs one handle.
fn release(
    (_, generation, session): (u64, u64, Session),
    module_now: u64,
    failed: Option<&cryptoki::error::Error>,
) {
    use cryptoki::error::{Error, RvError};
    let forgotten = generation != module_now
        || matches!(
            failed,
            Some(Error::Pkcs11(
                RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::DeviceRemoved
                    | RvError::TokenNotPresent
                    | RvError::CryptokiNotInitialized,
                _
            ))
        );
    if forgotten {
        std::mem::forget(session);
    }
}
