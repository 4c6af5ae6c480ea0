//! Touch: which signatures wait for one (policy `always`, or `cached` outside its window), the
//! pending touch per token (at most one: a second request for the same token is refused rather
//! than queued behind a touch the user cannot tell apart), and the simulated touch of test-mode
//! keys, given by `hwsign touch` (or the confirm command) within `touch_timeout`. A hardware
//! token's touch is listed too ([`TouchGate::show`]) while the agent waits for the card, but
//! only the card can be touched: `hwsign touch` passes it by.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use crate::error::{ErrorCode, WireError};
use crate::key::{KeyId, TouchPolicy};

/// A touch being waited for.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct PendingTouch {
    /// The token that waits, by its label (what `hwsign touch` names).
    pub token: String,
    /// The key's label.
    pub key: String,
    /// What would be signed.
    pub what: String,
    /// Since when (Unix seconds).
    pub since: u64,
}

struct Waiting {
    info: PendingTouch,
    give: Option<oneshot::Sender<()>>,
    /// Set for a hardware token's touch ([`TouchGate::show`]).
    card: Option<u64>,
}

/// The touch state of the agent.
#[derive(Default)]
pub struct TouchGate {
    waiting: Mutex<Vec<Waiting>>,
    last: Mutex<HashMap<KeyId, Instant>>,
    arrived: Notify,
    next_card: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TouchGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TouchGate")
            .field("pending", &self.pending())
            .finish()
    }
}

impl TouchGate {
    /// Whether a signature with `key_id` under `policy` needs a touch now.
    pub fn needed(&self, key_id: &KeyId, policy: TouchPolicy, window: Duration) -> bool {
        match policy {
            TouchPolicy::Never => false,
            TouchPolicy::Always => true,
            TouchPolicy::Cached => self
                .last
                .lock()
                .map(|l| l.get(key_id).is_none_or(|t| t.elapsed() >= window))
                .unwrap_or(true),
        }
    }

    /// Register a pending touch for `token`; refused when one is pending there already.
    pub fn register(&self, info: PendingTouch) -> Result<oneshot::Receiver<()>, WireError> {
        let mut waiting = self
            .waiting
            .lock()
            .map_err(|_| WireError::new(ErrorCode::Internal, "touch state poisoned", ""))?;
        if let Some(w) = waiting
            .iter()
            .find(|w| w.info.token == info.token && w.card.is_none())
        {
            return Err(WireError::new(
                ErrorCode::PolicyRefused,
                format!(
                    "token {} is already waiting for a touch (to sign {})",
                    info.token, w.info.what
                ),
                "touch the token (hwsign touch) or let that request time out, then try again",
            ));
        }
        let (tx, rx) = oneshot::channel();
        waiting.push(Waiting {
            info,
            give: Some(tx),
            card: None,
        });
        drop(waiting);
        self.arrived.notify_waiters();
        Ok(rx)
    }

    /// The request for `token` is over (touched, timed out or gone).
    pub fn finish(&self, token: &str, key_id: &KeyId, touched: bool) {
        if let Ok(mut w) = self.waiting.lock() {
            w.retain(|w| w.info.token != token || w.card.is_some());
        }
        if touched {
            self.touched(key_id);
        }
    }

    fn touched(&self, key_id: &KeyId) {
        if let Ok(mut l) = self.last.lock() {
            l.insert(key_id.clone(), Instant::now());
        }
    }

    /// A hardware token waits for its touch: listed in the status until [`TouchGate::hide`].
    pub fn show(&self, info: PendingTouch) -> u64 {
        let id = self
            .next_card
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut w) = self.waiting.lock() {
            w.push(Waiting {
                info,
                give: None,
                card: Some(id),
            });
        }
        id
    }

    /// The card answered (or the request ended); `touched`: when the touch was asked for,
    /// which starts the `cached` window (a little before the card's own, so that a notice is
    /// never missed).
    pub fn hide(&self, id: u64, key_id: &KeyId, touched: Option<Instant>) {
        if let Ok(mut w) = self.waiting.lock() {
            w.retain(|w| w.card != Some(id));
        }
        if let (Some(at), Ok(mut l)) = (touched, self.last.lock()) {
            l.insert(key_id.clone(), at);
        }
    }

    /// Every pending touch.
    pub fn pending(&self) -> Vec<PendingTouch> {
        self.waiting
            .lock()
            .map(|w| w.iter().map(|w| w.info.clone()).collect())
            .unwrap_or_default()
    }

    fn give_one(&self) -> Option<PendingTouch> {
        let mut waiting = self.waiting.lock().ok()?;
        let w = waiting.iter_mut().find(|w| w.give.is_some())?;
        let give = w.give.take()?;
        let _ = give.send(());
        Some(w.info.clone())
    }

    /// Give the simulated touch to the oldest pending request, waiting up to `wait` for one.
    pub async fn give(&self, wait: Duration) -> Option<PendingTouch> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            if let Some(p) = self.give_one() {
                return Some(p);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.give_one();
            }
        }
    }
}

/// Wait for the touch of `rx` (or an approval by `confirm`, when given) until `timeout`; a
/// confirm dialog still open then is dropped (which closes it).
pub async fn wait(
    rx: oneshot::Receiver<()>,
    confirm: Option<impl std::future::Future<Output = bool>>,
    timeout: Duration,
    token: &str,
) -> Result<(), WireError> {
    let timed_out = || {
        WireError::new(
            ErrorCode::TouchTimeout,
            format!(
                "touch timed out: token {token} was not touched within {} s",
                timeout.as_secs()
            ),
            "run the command again and touch the token when asked (hwsign touch, for the test token)",
        )
    };
    let touched = async {
        match confirm {
            Some(c) => tokio::select! {
                r = rx => r.is_ok(),
                ok = c => ok,
            },
            None => rx.await.is_ok(),
        }
    };
    match tokio::time::timeout(timeout, touched).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(WireError::new(
            ErrorCode::Denied,
            format!("the touch for token {token} was declined"),
            "",
        )),
        Err(_) => Err(timed_out()),
    }
}

/// A pending-touch record for now.
pub fn pending(token: &str, key: &str, what: &str) -> PendingTouch {
    PendingTouch {
        token: token.into(),
        key: key.into(),
        what: what.into(),
        since: crate::time::now_secs(),
    }
}
