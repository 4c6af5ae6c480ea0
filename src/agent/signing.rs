//! The signing path shared by SSH sign requests and `sign@hwsign`, one straight chain: read
//! what is signed from the bytes (once), apply the socket's policy, hash as the scheme needs,
//! ask for confirmation and the touch, have the token sign, check its signature; then one
//! audit record for whatever the outcome, written before a signature goes back (no record, no
//! signature).

use super::context::{Context, Peer};
use super::inventory::KeyRef;
use super::record::{AuditRecord, Outcome, RequestName};
use super::touch::{self, TouchGate};
use super::{policy, prompt, touch_notice};
use crate::config::Config;
use crate::crypto::scheme::{Scheme, SignInput};
use crate::error::{ErrorCode, WireError};
use crate::key::KeyId;
use crate::proto::sign::SignContext;
use crate::signed::Signed;
use crate::text;

/// A request to sign.
pub struct Job<'a> {
    /// The key, as listed, with the worker of its token.
    pub key: &'a KeyRef,
    /// The scheme the client asked for (checked against the key's algorithm).
    pub scheme: Scheme,
    /// Whether `data` is the message or its digest.
    pub input: SignInput,
    /// The bytes.
    pub data: Vec<u8>,
    /// Which request asked.
    pub request: RequestName,
    /// What the client says it is (unverified).
    pub client: Option<&'a SignContext>,
}

async fn audit(
    ctx: &Context,
    rec: serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    ctx.audit.append(rec).await.map_err(|e| e.to_string())
}

fn to_token_input(
    key: &KeyRef,
    scheme: Scheme,
    input: SignInput,
    data: Vec<u8>,
) -> Result<Vec<u8>, WireError> {
    let alg = key.meta.algorithm();
    if !alg.supports(scheme) {
        return Err(WireError::new(
            ErrorCode::Unsupported,
            format!("key {} ({alg}) cannot sign with {scheme}", key.meta.label),
            format!("use {}", alg.default_scheme()),
        ));
    }
    match (scheme.hash(), input) {
        (None, SignInput::Prehash) => Err(WireError::new(
            ErrorCode::Unsupported,
            "Ed25519 signs the message itself, not a digest",
            "send the message (hwsign sign --format sshsig or attest do this for large files)",
        )),
        (None, SignInput::Message) => Ok(data),
        (Some(h), SignInput::Message) => Ok(h.digest(&data)),
        (Some(h), SignInput::Prehash) if data.len() == h.output_len() => Ok(data),
        (Some(h), SignInput::Prehash) => Err(WireError::new(
            ErrorCode::Malformed,
            format!(
                "a {} digest has {} bytes, got {}",
                h.name(),
                h.output_len(),
                data.len()
            ),
            "",
        )),
    }
}

/// Clears the pending touch when the request ends, however it ends (also when the client
/// goes away and the request is dropped).
struct PendingGuard<'a> {
    gate: &'a TouchGate,
    token: String,
    key_id: KeyId,
    touched: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.gate.finish(&self.token, &self.key_id, self.touched);
    }
}

/// Confirm and the simulated touch, before the token is asked: returns the one-line
/// description of the request and the touch plan for the token's own touch.
async fn gate(
    ctx: &Context,
    config: &Config,
    peer: &Peer,
    key: &KeyRef,
    signed: &Signed,
    note: &str,
) -> Result<(String, touch_notice::Plan), WireError> {
    let what = signed.short();
    let rule = config.rule_for(&key.meta).map(|(_, r)| r.clone());
    if rule.as_ref().is_some_and(|r| r.confirm) {
        let text = prompt::confirm_text(signed, &key.meta.label, peer, ctx.socket, note);
        // One dialog at a time; a request waits for the open one at most as long as a dialog
        // may take.
        let Ok(_turn) = tokio::time::timeout(config.confirm_timeout(), ctx.dialog.lock()).await
        else {
            return Err(WireError::new(
                ErrorCode::Denied,
                format!(
                    "another confirm dialog on {} stayed open; {what} with key {} was not asked",
                    ctx.host, key.meta.label
                ),
                "answer the open dialog on the agent's machine, then sign again",
            ));
        };
        let approved = prompt::confirm(
            config.confirm_command.as_deref(),
            &text,
            config.confirm_timeout(),
        )
        .await;
        if !approved {
            return Err(WireError::new(
                ErrorCode::Denied,
                format!(
                    "the confirm dialog on {} denied {what} with key {}",
                    ctx.host, key.meta.label
                ),
                "ask the person at the agent's machine to approve it",
            ));
        }
    }
    let plan = touch_notice::plan(ctx, key, rule.and_then(|r| r.touch));
    // Simulated touch (test-mode keys with a touch policy in the config).
    let touch_notice::Plan::Simulated(policy) = plan else {
        return Ok((what, plan));
    };
    if !ctx
        .touch
        .needed(&key.meta.id, policy, config.touch_cache_window())
    {
        return Ok((what, plan));
    }
    let token = key.meta.token_label.clone();
    let rx = ctx
        .touch
        .register(touch::pending(&token, &key.meta.label, &what))?;
    let mut guard = PendingGuard {
        gate: &ctx.touch,
        token: token.clone(),
        key_id: key.meta.id.clone(),
        touched: false,
    };
    let _notice = touch_notice::announce(ctx, config, key, &what, false);
    // A configured confirm command can give the simulated touch too.
    let text = format!(
        "{}?",
        touch_notice::message(&token, &ctx.host, &what, &key.meta.label)
    );
    let confirm = config
        .confirm_command
        .as_deref()
        .map(|cmd| prompt::confirm(Some(cmd), &text, config.confirm_timeout()));
    touch::wait(rx, confirm, config.touch_timeout(), &token).await?;
    guard.touched = true;
    tracing::info!(token = %text::name(&token), "touched");
    Ok((what, plan))
}

/// The token's signature checked against the key it was asked for, over what the token got
/// (the scheme's digest, or the message for Ed25519): a key replaced on its token since the
/// listing, or a token answering garbage, returns nothing.
fn check_signature(
    key: &KeyRef,
    scheme: Scheme,
    token_input: &[u8],
    sig: &[u8],
) -> Result<(), WireError> {
    use crate::crypto::check::{Signed, check};
    let signed = match scheme.hash() {
        Some(_) => Signed::Sha256(token_input),
        None => Signed::Message(token_input),
    };
    check(&key.meta.public, scheme, signed, sig).map_err(|e| {
        tracing::error!(key = %text::name(&key.meta.label), id = %key.meta.id, error = %e, "the token's signature does not verify with the listed key");
        WireError::new(
            ErrorCode::UnknownKey,
            format!(
                "the signature from {} does not verify with key {} ({}): {e}; was the key replaced on its token? Nothing was returned",
                key.meta.token_label, key.meta.label, key.meta.id
            ),
            "run `hwsign keys` and sign again",
        )
    })
}

/// Sign, within policy, with an audit record; `signed` is what the job's bytes are, read from
/// them once by the caller.
pub async fn sign(
    ctx: &Context,
    peer: &Peer,
    job: Job<'_>,
    signed: Signed,
) -> Result<Vec<u8>, WireError> {
    let config = ctx.config();
    let (key, scheme, request, client) = (job.key, job.scheme, job.request, job.client);
    let result = attempt(ctx, &config, peer, job, &signed).await;
    let record = AuditRecord {
        time: crate::time::now_secs(),
        socket: ctx.socket,
        peer,
        request,
        key: &key.meta,
        signed: &signed,
        client,
        outcome: result
            .as_ref()
            .map_or_else(|(o, _)| *o, |_| Outcome::Signed),
        error: result.as_ref().err().map(|(_, e)| e.message.as_str()),
    };
    let written = audit(ctx, record.to_json()).await;
    let label = text::name(&key.meta.label);
    let kind = text::name(&signed.to_string());
    match (result, written) {
        (Ok(sig), Ok(())) => {
            tracing::info!(key = %label, socket = ctx.socket.name(), kind = %kind, scheme = %scheme, process = %text::name(&peer.process), "signed");
            Ok(sig)
        }
        (Ok(_), Err(e)) => {
            tracing::error!(error = %e, "cannot write the audit log: signature withheld");
            Err(WireError::new(
                ErrorCode::Internal,
                format!("the agent cannot write its audit log ({e}); the signature was withheld"),
                "on the agent's machine, fix $XDG_STATE_HOME/hwsign/audit.jsonl (disk full? permissions?)",
            ))
        }
        (Err((outcome, e)), written) => {
            tracing::warn!(key = %label, socket = ctx.socket.name(), kind = %kind, error = %text::message(&e.message), "{}", outcome.name());
            if let Err(err) = written {
                tracing::error!(error = %err, "cannot write the audit log");
            }
            Err(e)
        }
    }
}

/// Everything between the request and its signature; an error says whether the token was
/// asked ([`Outcome::Failed`]) or not ([`Outcome::Refused`]).
async fn attempt(
    ctx: &Context,
    config: &Config,
    peer: &Peer,
    job: Job<'_>,
    signed: &Signed,
) -> Result<Vec<u8>, (Outcome, WireError)> {
    let refused = |e| (Outcome::Refused, e);
    let key = job.key;
    let note = job.client.map(|c| c.note.as_str()).unwrap_or_default();
    policy::check_sign(config, ctx.socket, &key.meta, signed, peer).map_err(refused)?;
    let input = to_token_input(key, job.scheme, job.input, job.data).map_err(refused)?;
    let (what, plan) = gate(ctx, config, peer, key, signed, note)
        .await
        .map_err(refused)?;
    let sig = on_token(ctx, config, key, job.scheme, input, &what, plan).await?;
    let Signed::Minisign {
        trusted_comment, ..
    } = signed
    else {
        return Ok(sig);
    };
    // minisign's global signature, over the first and the trusted comment: the same decision,
    // a second signature (a token with touch policy "always" is touched again).
    let global = crate::format::minisign::global_message(&sig, trusted_comment);
    let second = on_token(ctx, config, key, job.scheme, global, &what, plan).await?;
    Ok([sig, second].concat())
}

/// The token's signature by `key` over `input` (the scheme's digest, or the message for
/// Ed25519) under the touch `plan`: encoded, and checked against the listed key. A token
/// that lost the key, or signs with another one, makes the listing be looked at again.
async fn on_token(
    ctx: &Context,
    config: &Config,
    key: &KeyRef,
    scheme: Scheme,
    input: Vec<u8>,
    what: &str,
    plan: touch_notice::Plan,
) -> Result<Vec<u8>, (Outcome, WireError)> {
    let asked = key.token.sign(key.id(), scheme, input.clone(), what);
    let sig = touch_notice::sign_with_notice(ctx, config, key, what, plan, asked)
        .await
        .map_err(|e| {
            if matches!(
                e,
                crate::token::TokenError::NotPresent(_) | crate::token::TokenError::UnknownKey(_)
            ) {
                ctx.inventory.invalidate();
            }
            (Outcome::Failed, WireError::from(&e))
        })?;
    let sig = sig.encode(key.meta.algorithm()).map_err(|e| {
        tracing::error!(token = %text::name(&key.meta.token_label), error = %e, "malformed signature");
        let message = format!(
            "{} returned a malformed signature: {e}; nothing was returned",
            key.meta.token_label
        );
        let hint = "see the agent's log; `hwsign status` shows the token's state";
        (Outcome::Failed, WireError::new(ErrorCode::TokenError, message, hint))
    })?;
    check_signature(key, scheme, &input, &sig).map_err(|e| {
        ctx.inventory.invalidate();
        (Outcome::Failed, e)
    })?;
    Ok(sig)
}
