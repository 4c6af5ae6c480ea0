//! The signing path shared by SSH sign requests and `sign@hwsign`: decide the kind from the
//! bytes, apply the socket's policy, hash as the scheme needs, have the token sign, and write
//! the audit record before the signature goes back (no record, no signature).

use super::context::{Context, Peer};
use super::inventory::KeyRef;
use super::kind::Kind;
use super::touch::{self, TouchGate};
use super::{policy, prompt, record, touch_notice};
use crate::config::Config;
use crate::error::{ErrorCode, WireError};
use crate::proto::scheme::{Scheme, SignInput};
use crate::proto::sign::SignContext;
use crate::text;

/// A request to sign.
pub struct Job<'a> {
    /// The key.
    pub key: &'a KeyRef,
    /// The scheme.
    pub scheme: Scheme,
    /// Message or digest.
    pub input: SignInput,
    /// The bytes.
    pub data: Vec<u8>,
    /// `ssh-sign` or `sign@hwsign`.
    pub request: &'a str,
    /// What the client says it is (unverified).
    pub client: Option<&'a SignContext>,
}

async fn audit(
    ctx: &Context,
    rec: serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    let log = ctx.audit.clone();
    match tokio::task::spawn_blocking(move || log.append(rec)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn to_token_input(
    key: &KeyRef,
    scheme: Scheme,
    input: SignInput,
    data: Vec<u8>,
) -> Result<Vec<u8>, WireError> {
    let alg = key.info.algorithm();
    if !alg.supports(scheme) {
        return Err(WireError::new(
            ErrorCode::Unsupported,
            format!("key {} ({alg}) cannot sign with {scheme}", key.info.label),
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
    key_id: String,
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
    kind: &Kind,
    signed: &serde_json::Value,
    note: &str,
) -> Result<(String, touch_notice::Plan), WireError> {
    let what = prompt::short(kind, signed);
    let rule = config.rule_for(&key.entry()).map(|(_, r)| r.clone());
    if rule.as_ref().is_some_and(|r| r.confirm) {
        let text = prompt::confirm_text(kind, signed, &key.info.label, peer, ctx.socket, note);
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
                    ctx.host, key.info.label
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
        .needed(&key.id, policy, config.touch_cache_window())
    {
        return Ok((what, plan));
    }
    let token = key.token_label.clone();
    let rx = ctx
        .touch
        .register(touch::pending(&token, &key.info.label, &what))?;
    let mut guard = PendingGuard {
        gate: &ctx.touch,
        token: token.clone(),
        key_id: key.id.clone(),
        touched: false,
    };
    let _notice = touch_notice::announce(ctx, config, key, &what, false);
    // A configured confirm command can give the simulated touch too.
    let text = format!(
        "{}?",
        touch_notice::message(&token, &ctx.host, &what, &key.info.label)
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
    use crate::verify::crypto::{Signed, check};
    let signed = match scheme.hash() {
        Some(_) => Signed::Sha256(token_input),
        None => Signed::Message(token_input),
    };
    check(&key.info.public, scheme, signed, sig).map_err(|e| {
        tracing::error!(key = %text::name(&key.info.label), id = %key.id, error = %e, "the token's signature does not verify with the listed key");
        WireError::new(
            ErrorCode::UnknownKey,
            format!(
                "the signature from {} does not verify with key {} ({}): {e}; was the key replaced on its token? Nothing was returned",
                key.token_label, key.info.label, key.id
            ),
            "run `hwsign keys` and sign again",
        )
    })
}

/// Sign, within policy, with an audit record.
pub async fn sign(ctx: &Context, peer: &Peer, job: Job<'_>) -> Result<Vec<u8>, WireError> {
    let kind = Kind::of(&job.data, job.input);
    let req = record::Request {
        request: job.request,
        key: job.key,
        kind: &kind,
        signed: record::what_is_signed(&kind, &job.data, job.input),
        client: job.client,
    };
    let config = ctx.config();
    let entry = job.key.entry();
    let note = job.client.map(|c| c.note.as_str()).unwrap_or_default();
    let outcome = match policy::check_sign(&config, ctx.socket, &entry, &kind, peer) {
        Err(e) => Err(("refused", e)),
        Ok(()) => match to_token_input(job.key, job.scheme, job.input, job.data) {
            Err(e) => Err(("refused", e)),
            Ok(input) => match gate(ctx, &config, peer, job.key, &kind, &req.signed, note).await {
                Err(e) => Err(("refused", e)),
                Ok((what, plan)) => {
                    let signed = input.clone();
                    let on_token = job.key.token.sign(&job.key.id, job.scheme, input, &what);
                    match touch_notice::sign_with_notice(
                        ctx, &config, job.key, &what, plan, on_token,
                    )
                    .await
                    {
                        Err(e) => {
                            if matches!(
                                e,
                                crate::token::TokenError::NotPresent(_)
                                    | crate::token::TokenError::UnknownKey(_)
                            ) {
                                ctx.inventory.invalidate();
                            }
                            Err(("failed", e.to_wire()))
                        }
                        Ok(sig) => match check_signature(job.key, job.scheme, &signed, &sig) {
                            Ok(()) => Ok(sig),
                            Err(e) => {
                                ctx.inventory.invalidate();
                                Err(("failed", e))
                            }
                        },
                    }
                }
            },
        },
    };
    let label = &job.key.info.label;
    match outcome {
        Ok(sig) => {
            if let Err(e) = audit(ctx, record::record(ctx, peer, &req, "signed", None)).await {
                tracing::error!(error = %e, "cannot write the audit log: signature withheld");
                return Err(WireError::new(
                    ErrorCode::Internal,
                    format!(
                        "the agent cannot write its audit log ({e}); the signature was withheld"
                    ),
                    "on the agent's machine, fix $XDG_STATE_HOME/hwsign/audit.jsonl (disk full? permissions?)",
                ));
            }
            tracing::info!(key = %text::name(label), socket = ctx.socket.name(), kind = %text::name(&kind.to_string()), scheme = %job.scheme, process = %text::name(&peer.process), "signed");
            Ok(sig)
        }
        Err((result, e)) => {
            tracing::warn!(key = %text::name(label), socket = ctx.socket.name(), kind = %text::name(&kind.to_string()), error = %text::message(&e.message), "{result}");
            if let Err(err) = audit(
                ctx,
                record::record(ctx, peer, &req, result, Some(&e.message)),
            )
            .await
            {
                tracing::error!(error = %err, "cannot write the audit log");
            }
            Err(e)
        }
    }
}
