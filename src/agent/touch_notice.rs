//! The touch notice for real tokens, whatever client asked: before the agent sends the signing
//! command to a token whose key needs a touch (PIV metadata, OpenPGP UIF, or a `[[key]] touch`
//! rule, which on a hardware key only adds this notice) it says so: the log, the notify
//! command, a desktop notification closed when the signature is over, and the pending touch in
//! the status of both sockets. A token that cannot say (PKCS#11 modules) gets the notice when
//! it has not answered after `touch_notice_delay`, as yubikey-agent does. PIV `cached`: no
//! notice while the card's 15 s window is open.

use std::time::Duration;

use super::context::Context;
use super::desktop_notify;
use super::inventory::KeyRef;
use super::touch;
use crate::config::Config;
use crate::key::{BackendKind, KeyId, TouchPolicy};
use crate::text;

/// How long a YubiKey counts a touch under touch policy `cached`.
pub const CARD_CACHE_WINDOW: Duration = Duration::from_secs(15);

/// Whether and how the agent waits for a touch before this key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The test token's touch, given by `hwsign touch` or the confirm command.
    Simulated(TouchPolicy),
    /// The token itself waits for a touch: a notice before it is asked.
    Card(TouchPolicy),
    /// The token cannot say: a notice when it is silent for a while.
    Unknown,
    /// No touch.
    None,
}

/// The plan for `key` under its `[[key]] touch` rule.
pub fn plan(ctx: &Context, key: &KeyRef, rule: Option<TouchPolicy>) -> Plan {
    let simulated = ctx.test_mode
        && key.meta.backend == BackendKind::Pkcs11
        && key.meta.token_label == crate::token::softhsm::TOKEN_LABEL;
    match (rule, simulated) {
        (Some(p), true) => Plan::Simulated(p),
        (None, true) => Plan::None,
        (Some(TouchPolicy::Never), false) => Plan::None,
        (Some(p), false) => Plan::Card(p),
        (None, false) => match (key.meta.touch, key.meta.backend) {
            (TouchPolicy::Always | TouchPolicy::Cached, _) => Plan::Card(key.meta.touch),
            // PIV and OpenPGP cards say what they need; a PKCS#11 module does not.
            (TouchPolicy::Never, BackendKind::Pkcs11) => Plan::Unknown,
            (TouchPolicy::Never, _) => Plan::None,
        },
    }
}

/// The one line every notice says.
pub fn message(token: &str, host: &str, what: &str, key: &str) -> String {
    format!(
        "Touch the token {} on {host} to sign {what} with {}",
        text::name(token),
        text::name(key)
    )
}

/// A shown notice: the pending touch in the status and the desktop notification last until
/// it is dropped.
pub struct Notice<'a> {
    ctx: &'a Context,
    card: Option<u64>,
    key_id: KeyId,
    touched: bool,
    since: std::time::Instant,
    _desktop: desktop_notify::Shown,
}

impl Notice<'_> {
    /// The token signed: a `cached` window starts now.
    pub fn touched(mut self) {
        self.touched = true;
    }
}

impl Drop for Notice<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.card {
            let at = self.touched.then_some(self.since);
            self.ctx.touch.hide(id, &self.key_id, at);
        }
        tracing::debug!(key_id = %self.key_id, touched = self.touched, "touch notice closed");
    }
}

/// Say that `key` waits for a touch: log, notify command, desktop notification; `pending` puts
/// it in the status (the simulated touch registers its own).
pub fn announce<'a>(
    ctx: &'a Context,
    config: &Config,
    key: &KeyRef,
    what: &str,
    pending: bool,
) -> Notice<'a> {
    let token = &key.meta.token_label;
    let message = message(token, &ctx.host, what, &key.meta.label);
    tracing::info!(token = %text::name(token), key = %text::name(&key.meta.label), what = %text::already_escaped(what, text::MESSAGE_MAX), "touch needed");
    super::prompt::notify(config.notify_command.as_deref(), &message);
    let desktop = if config.desktop_notifications() {
        desktop_notify::notify("Touch your token", &message)
    } else {
        desktop_notify::notify_none()
    };
    let card = pending.then(|| ctx.touch.show(touch::pending(token, &key.meta.label, what)));
    Notice {
        ctx,
        card,
        key_id: key.meta.id.clone(),
        touched: false,
        since: std::time::Instant::now(),
        _desktop: desktop,
    }
}

/// Have the token sign under `plan` (`Card` or `Unknown`; others sign as they are), with the
/// notice shown while it waits.
pub async fn sign_with_notice<T, E>(
    ctx: &Context,
    config: &Config,
    key: &KeyRef,
    what: &str,
    plan: Plan,
    sign: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    match plan {
        Plan::Card(policy) => {
            let window = match policy {
                TouchPolicy::Cached if key.meta.touch == TouchPolicy::Cached => CARD_CACHE_WINDOW,
                _ => config.touch_cache_window(),
            };
            if !ctx.touch.needed(&key.meta.id, policy, window) {
                return sign.await;
            }
            let notice = announce(ctx, config, key, what, true);
            let result = sign.await;
            if result.is_ok() {
                tracing::info!(token = %text::name(&key.meta.token_label), "touched");
                notice.touched();
            }
            result
        }
        Plan::Unknown if !config.touch_notice_delay().is_zero() => {
            let delay = config.touch_notice_delay();
            let mut sign = std::pin::pin!(sign);
            // Silent for `delay` with no PIN dialog open (a token behind its PIN dialog is
            // waiting for the person, not for a touch; the delay starts again after it).
            loop {
                tokio::select! {
                    r = &mut sign => return r,
                    () = tokio::time::sleep(delay) => {
                        if !crate::token::pinentry::dialog_open() {
                            break;
                        }
                        while crate::token::pinentry::dialog_open() {
                            tokio::select! {
                                r = &mut sign => return r,
                                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                            }
                        }
                    }
                }
            }
            tracing::info!(token = %text::name(&key.meta.token_label), delay_ms = delay.as_millis() as u64, "the token has not answered: it may wait for a touch");
            let _notice = announce(ctx, config, key, what, true);
            sign.await
        }
        _ => sign.await,
    }
}
