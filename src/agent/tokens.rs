//! The tokens the agent uses: the PKCS#11 modules the config names (or the SoftHSM2 test
//! token), the OpenPGP card and PIV workers, each started on its own worker thread.

use std::sync::Arc;

use crate::config::Config;
use crate::key::BackendKind;
use crate::token::pin_source::PinSource;
use crate::token::pkcs11::{PinOptions, Pkcs11Token, list_tokens, load_module};
use crate::token::pkcs11_lanes::Lanes;

use crate::token::softhsm::{self, TestToken};
use crate::token::{TokenError, TokenHandle};

fn spawn(
    ctx: &cryptoki::context::Pkcs11,
    slot: cryptoki::slot::Slot,
    label: String,
    serial: String,
    pin: PinOptions,
    sessions: usize,
) -> Result<TokenHandle, TokenError> {
    let name = label.clone();
    // A token in a fixed slot (SoftHSM, an HSM) signs in `sessions` sessions beside its
    // worker; a removable one (a card behind ykcs11 or OpenSC) stays serial.
    let fixed = ctx
        .get_slot_info(slot)
        .is_ok_and(|info| !info.removable_device());
    let lanes = (fixed && sessions > 0).then(|| (Arc::new(Lanes::default()), sessions));
    let spec = lanes.as_ref().map(|(l, n)| l.spec(ctx, *n));
    let ctx = ctx.clone();
    TokenHandle::spawn_with_lanes(
        name,
        BackendKind::Pkcs11,
        move || Pkcs11Token::new(ctx, slot, label, serial, pin, lanes.map(|(l, _)| l)),
        spec,
    )
    .map_err(|e| TokenError::Other(format!("cannot start a token worker: {e}")))
}

/// Start the workers for every configured token, plus the test token when given. Blocking
/// (module loading, test-key generation): run it off the async threads.
pub fn start_tokens(
    config: &Config,
    test_token: Option<&TestToken>,
) -> Result<Vec<TokenHandle>, TokenError> {
    let mut handles = Vec::new();
    if let Some(tt) = test_token {
        let ctx = load_module(&tt.module)?;
        let source = softhsm::provision(&ctx, tt)?;
        let pin = PinOptions {
            source,
            ttl: config.pin_cache_ttl(),
            force_last_try: false,
        };
        let (slot, label, serial) = list_tokens(&ctx)?
            .into_iter()
            .find(|(_, label, _)| label == softhsm::TOKEN_LABEL)
            .ok_or_else(|| TokenError::NotPresent(softhsm::TOKEN_LABEL.into()))?;
        handles.push(spawn(
            &ctx,
            slot,
            label,
            serial,
            pin,
            config.pkcs11_sign_sessions(),
        )?);
    }
    // The test mode touches no smart card unless the config asks for it. Cards come before the
    // PKCS#11 modules, so a key reachable both ways (a YubiKey also through ykcs11) is listed
    // once and used directly over PC/SC.
    let pcsc = config.pcsc.unwrap_or(test_token.is_none());
    if pcsc {
        handles.push(start_cards(config)?);
        handles.push(start_piv(config)?);
    }
    for tc in &config.tokens {
        let ctx = match load_module(&tc.pkcs11_module) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "skipping a configured token");
                continue;
            }
        };
        // A PIN file or a systemd credential for unattended agents; else pinentry.
        let source = match (&tc.pin_file, &tc.pin_credential, tc.pinentry) {
            (Some(f), _, _) => PinSource::File(f.clone()),
            (None, Some(c), _) => PinSource::Credential(c.clone()),
            (None, None, Some(false)) => PinSource::None,
            (None, None, _) => PinSource::Pinentry(
                config.pinentry.clone().unwrap_or_else(|| "pinentry".into()),
                config.pin_timeout(),
            ),
        };
        let pin = PinOptions {
            source,
            ttl: config.pin_cache_ttl(),
            force_last_try: tc.force_last_pin_try,
        };
        let tokens = list_tokens(&ctx)?;
        if tokens.is_empty() {
            tracing::warn!(module = %tc.pkcs11_module.display(), "the module has no token (plug one in and restart the agent)");
        }
        for (slot, label, serial) in tokens {
            if tc.token_label.as_ref().is_some_and(|want| *want != label) {
                continue;
            }
            tracing::info!(module = %tc.pkcs11_module.display(), token = %label, "using token");
            handles.push(spawn(
                &ctx,
                slot,
                label,
                serial,
                pin.clone(),
                config.pkcs11_sign_sessions(),
            )?);
        }
    }
    Ok(handles)
}

/// The worker for OpenPGP cards on PC/SC (cards are found as they come).
fn start_cards(config: &Config) -> Result<TokenHandle, TokenError> {
    use crate::token::openpgp_card::{CardPins, OpenPgpCards};
    let default_pinentry = PinSource::Pinentry(
        config.pinentry.clone().unwrap_or_else(|| "pinentry".into()),
        config.pin_timeout(),
    );
    let per_card = config
        .cards
        .iter()
        .filter(|c| c.ident.is_some())
        .map(|c| {
            let ident = c.ident.clone().unwrap_or_default().to_ascii_uppercase();
            (
                ident,
                (card_pin_source(c, &default_pinentry), c.force_last_pin_try),
            )
        })
        .collect();
    let admin = config
        .cards
        .iter()
        .filter_map(|c| {
            Some((
                c.ident.clone()?.to_ascii_uppercase(),
                PinSource::File(c.admin_pin_file.clone()?),
            ))
        })
        .collect();
    let pins = CardPins {
        per_card,
        default: default_pinentry.clone(),
        ttl: config.pin_cache_ttl(),
        admin,
        default_admin: default_pinentry,
    };
    TokenHandle::spawn("openpgp-card".into(), BackendKind::OpenPgpCard, move || {
        OpenPgpCards::new(pins)
    })
    .map_err(|e| TokenError::Other(format!("cannot start the card worker: {e}")))
}

fn card_pin_source(c: &crate::config::CardConfig, default: &PinSource) -> PinSource {
    match (&c.pin_file, &c.pin_credential) {
        (Some(f), _) => PinSource::File(f.clone()),
        (None, Some(n)) => PinSource::Credential(n.clone()),
        (None, None) => default.clone(),
    }
}

/// The worker for YubiKey PIV applets on PC/SC.
fn start_piv(config: &Config) -> Result<TokenHandle, TokenError> {
    use crate::token::piv::{PivKeys, PivPins};
    let default = PinSource::Pinentry(
        config.pinentry.clone().unwrap_or_else(|| "pinentry".into()),
        config.pin_timeout(),
    );
    let per_serial = config
        .cards
        .iter()
        .filter_map(|c| {
            c.serial
                .map(|s| (s, (card_pin_source(c, &default), c.force_last_pin_try)))
        })
        .collect();
    let management_keys = config
        .cards
        .iter()
        .filter_map(|c| Some((c.serial?, c.management_key_file.clone()?)))
        .collect();
    let mut policy_overrides = std::collections::HashMap::new();
    for c in &config.cards {
        let Some(serial) = c.serial else { continue };
        let pin = c
            .pin_policy
            .as_deref()
            .map(crate::token::piv::generation::pin_policy)
            .transpose()?;
        let touch = c
            .touch_policy
            .as_deref()
            .map(crate::token::piv::generation::touch_policy)
            .transpose()?;
        policy_overrides.insert(serial, (pin, touch));
    }
    let pins = PivPins {
        policy_overrides,
        per_serial,
        default,
        ttl: config.pin_cache_ttl(),
        management_keys,
    };
    TokenHandle::spawn("piv".into(), BackendKind::Piv, move || PivKeys::new(pins))
        .map_err(|e| TokenError::Other(format!("cannot start the PIV worker: {e}")))
}
