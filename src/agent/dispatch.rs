//! From a decoded request to a response: the SSH agent requests, `query`, `session-bind` and
//! the `@hwsign` extensions, each within what the socket allows (the forwarded socket sees
//! only keys its policy lets out, gets a reduced status and no key management). Failures are
//! `SSH_AGENT_FAILURE` for standard requests (what ssh expects) and an `error@hwsign` reply with
//! a code and a hint for extensions.

use ssh_agent_lib::proto::{
    Identity, PublicCredential, Request, Response, SignRequest as SshSignRequest,
};

use super::context::{Context, Peer, Socket};
use super::inventory::KeyRef;
use super::record::RequestName;
use super::signing::{self, Job};
use super::{policy, session_bind};
use crate::crypto::pubkey::PublicKey;
use crate::crypto::scheme::SignInput;
use crate::error::{ErrorCode, WireError};
use crate::format::ssh_signature;
use crate::key::{KeyId, KeyMeta};
use crate::proto::attest::{AttestReply, AttestRequest};
use crate::proto::generate::{GenerateReply, GenerateRequest};
use crate::proto::keys::{KeysReply, KeysRequest};
use crate::proto::minisign::{MinisignReply, MinisignRequest};
use crate::proto::query::QueryReply;
use crate::proto::sign::{SignReply, SignRequest};
use crate::proto::status::{PendingTouch, StatusReply, StatusRequest};
use crate::proto::touch::{LockRequest, TouchReply, TouchRequest};
use crate::proto::{EXT_QUERY, EXT_SESSION_BIND, Extension, HwsignMessage};
use crate::signed::Signed;
use crate::token::GenerateSpec;

/// An `error@hwsign` reply.
pub fn error_response(err: &WireError) -> Response {
    Response::ExtensionResponse(err.to_extension())
}

/// The keys this socket may see, with their `remote` flag from the policy: every token asked
/// now (`fresh`), or a recent listing (see [`super::inventory::RECENT`]).
async fn visible_keys(ctx: &Context, fresh: bool) -> Vec<KeyMeta> {
    let config = ctx.config();
    let keys = if fresh {
        ctx.inventory.refresh().await
    } else {
        ctx.inventory.recent(super::inventory::RECENT).await
    };
    keys.into_iter()
        .map(|k| listed(&config, k.meta))
        .filter(|k| policy::usable_through(&config, ctx.socket, k))
        .collect()
}

/// A key as this agent lists it: with its `remote` flag from the policy, and the simulated
/// touch policy a `[[key]] touch` rule gives test-mode keys.
fn listed(config: &crate::config::Config, mut key: KeyMeta) -> KeyMeta {
    key.remote = policy::usable_through(config, Socket::Extra, &key);
    if let Some(t) = config.rule_for(&key).and_then(|(_, r)| r.touch) {
        key.touch = t;
    }
    key
}

/// Serve one request.
pub async fn handle(ctx: &Context, peer: &mut Peer, request: Request) -> Response {
    match request {
        Request::RequestIdentities => Response::IdentitiesAnswer(
            visible_keys(ctx, true)
                .await
                .into_iter()
                .map(|k| Identity {
                    credential: PublicCredential::Key(k.public.ssh_key_data()),
                    comment: k.label,
                })
                .collect(),
        ),
        Request::SignRequest(req) => match ssh_sign(ctx, peer, req).await {
            Ok(sig) => Response::SignResponse(sig),
            Err(e) => {
                tracing::warn!(error = %crate::text::message(&e.to_string()), socket = ctx.socket.name(), "SSH sign request refused");
                Response::Failure
            }
        },
        Request::Extension(ext) => extension(ctx, peer, ext).await,
        // ssh-add -x / -X: keys live on tokens, so locking means forgetting the PINs.
        Request::Lock(_) if ctx.socket == Socket::Main => {
            ctx.inventory.lock_all().await;
            tracing::info!("locked by the SSH agent protocol (ssh-add -x): PINs forgotten");
            Response::Success
        }
        Request::Unlock(_) if ctx.socket == Socket::Main => Response::Success,
        other => {
            tracing::info!(
                request = other.message_id(),
                "unsupported request (keys live on tokens; nothing to add, remove or lock)"
            );
            Response::Failure
        }
    }
}

async fn find_visible(
    ctx: &Context,
    key: Option<KeyRef>,
    shown: &str,
) -> Result<KeyRef, WireError> {
    let unknown = || {
        WireError::new(
            ErrorCode::UnknownKey,
            format!("no key {shown} in this agent"),
            "run `hwsign keys` to list the keys",
        )
    };
    let key = key.ok_or_else(unknown)?;
    // On the forwarded socket a key the policy hides does not exist.
    if !policy::usable_through(&ctx.config(), ctx.socket, &key.meta) {
        return Err(unknown());
    }
    Ok(key)
}

async fn ssh_sign(
    ctx: &Context,
    peer: &Peer,
    req: SshSignRequest,
) -> Result<ssh_key::Signature, WireError> {
    let PublicCredential::Key(key_data) = &req.credential else {
        return Err(WireError::new(
            ErrorCode::UnknownKey,
            "certificates are not held by hwsign",
            "",
        ));
    };
    let public = PublicKey::from_ssh(key_data)
        .map_err(|e| WireError::new(ErrorCode::UnknownKey, e.to_string(), ""))?;
    let key = find_visible(
        ctx,
        ctx.inventory.find_public(&public).await,
        &public.key_id(),
    )
    .await?;
    let alg = key.meta.algorithm();
    let scheme = ssh_signature::scheme_for(alg, req.flags).ok_or_else(|| {
        WireError::new(
            ErrorCode::Unsupported,
            "ssh-rsa (SHA-1) signatures are refused; use rsa-sha2-256/512",
            "",
        )
    })?;
    let signed = Signed::parse(&req.data, SignInput::Message);
    let job = Job {
        key: &key,
        scheme,
        input: SignInput::Message,
        data: req.data,
        request: RequestName::SshSign,
        client: None,
    };
    let sig = signing::sign(ctx, peer, job, signed).await?;
    ssh_signature::to_ssh(alg, scheme, &sig)
        .map_err(|e| WireError::new(ErrorCode::Internal, e.to_string(), ""))
}

fn ok_ext<T: HwsignMessage>(msg: &T) -> Response {
    Response::ExtensionResponse(msg.to_extension())
}

/// The extensions this agent answers.
pub fn supported_extensions() -> Vec<String> {
    [
        EXT_QUERY,
        EXT_SESSION_BIND,
        KeysRequest::NAME,
        SignRequest::NAME,
        MinisignRequest::NAME,
        StatusRequest::NAME,
        GenerateRequest::NAME,
        AttestRequest::NAME,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn extension(ctx: &Context, peer: &mut Peer, ext: Extension) -> Response {
    let malformed = |e: crate::proto::ProtoError| {
        let code = match e {
            crate::proto::ProtoError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            _ => ErrorCode::Malformed,
        };
        error_response(&WireError::new(
            code,
            format!("{}: {e}", ext.name),
            "upgrade hwsign so client and agent match",
        ))
    };
    match ext.name.as_str() {
        EXT_QUERY => Response::ExtensionResponse(
            QueryReply {
                extensions: supported_extensions(),
            }
            .to_extension(),
        ),
        EXT_SESSION_BIND => match session_bind::parse(ext.details.as_ref()) {
            Ok(host) => {
                tracing::info!(host_key = %host.host_key, forwarding = host.forwarding, socket = ctx.socket.name(), "session-bind");
                peer.hosts.push(host);
                Response::Success
            }
            Err(e) => {
                tracing::warn!(error = %crate::text::message(&e.to_string()), "invalid session-bind");
                Response::Failure
            }
        },
        KeysRequest::NAME => match KeysRequest::from_extension(&ext) {
            Ok(req) => ok_ext(&KeysReply {
                keys: visible_keys(ctx, req.fresh).await,
                max_sign_wait_s: max_sign_wait_s(ctx),
                max_request: request_limit(ctx) as u64,
                unusable: Vec::new(),
            }),
            Err(e) => malformed(e),
        },
        StatusRequest::NAME => match StatusRequest::from_extension(&ext) {
            Ok(_) => ok_ext(&status(ctx).await),
            Err(e) => malformed(e),
        },
        TouchRequest::NAME | LockRequest::NAME if ctx.socket == Socket::Extra => {
            error_response(&WireError::new(
                ErrorCode::PolicyRefused,
                format!(
                    "{} is only for the agent's own machine, not through the forwarded socket",
                    ext.name
                ),
                "run it on the machine the token is plugged into",
            ))
        }
        TouchRequest::NAME => match TouchRequest::from_extension(&ext) {
            Ok(req) => {
                let wait = std::time::Duration::from_millis(u64::from(req.wait_ms.min(600_000)));
                match ctx.touch.give(wait).await {
                    Some(p) => {
                        tracing::info!(token = %crate::text::name(&p.token), key = %crate::text::name(&p.key), "simulated touch given");
                        ok_ext(&TouchReply {
                            token: p.token,
                            key: p.key,
                            what: p.what,
                        })
                    }
                    None => error_response(&WireError::new(
                        ErrorCode::UnknownRequest,
                        "no signature is waiting for a touch",
                        "start the signing command first, or give hwsign touch a --wait",
                    )),
                }
            }
            Err(e) => malformed(e),
        },
        LockRequest::NAME => match LockRequest::from_extension(&ext) {
            Ok(_) => {
                ctx.inventory.lock_all().await;
                ok_ext(&LockRequest)
            }
            Err(e) => malformed(e),
        },
        SignRequest::NAME => match SignRequest::from_extension(&ext) {
            Ok(req) => {
                // A large request (a 100,000-subject statement) is held once here, not twice.
                drop(ext);
                match hwsign_sign(ctx, peer, req).await {
                    Ok(reply) => ok_ext(&reply),
                    Err(e) => error_response(&e),
                }
            }
            Err(e) => malformed(e),
        },
        MinisignRequest::NAME => match MinisignRequest::from_extension(&ext) {
            Ok(req) => match minisign(ctx, peer, req).await {
                Ok(reply) => ok_ext(&reply),
                Err(e) => error_response(&e),
            },
            Err(e) => malformed(e),
        },
        GenerateRequest::NAME if ctx.socket == Socket::Extra => error_response(&WireError::new(
            ErrorCode::PolicyRefused,
            "key generation is not allowed through the forwarded socket (agent.extra.sock)",
            "run `hwsign keys generate` on the agent's machine",
        )),
        GenerateRequest::NAME => match GenerateRequest::from_extension(&ext) {
            Ok(req) => match generate(ctx, req).await {
                Ok(reply) => ok_ext(&reply),
                Err(e) => error_response(&e),
            },
            Err(e) => malformed(e),
        },
        AttestRequest::NAME => match AttestRequest::from_extension(&ext) {
            Ok(req) => match attest(ctx, req).await {
                Ok(reply) => ok_ext(&reply),
                Err(e) => error_response(&e),
            },
            Err(e) => malformed(e),
        },
        name if name.ends_with("@hwsign") => error_response(&WireError::new(
            ErrorCode::UnknownRequest,
            format!("unknown request {name}"),
            "this agent may be older than the client; upgrade hwsign-agent",
        )),
        name => {
            tracing::debug!(name, "unknown extension");
            Response::Failure
        }
    }
}

/// The largest request the socket `ctx` serves takes.
fn request_limit(ctx: &Context) -> usize {
    let sockets = &ctx.config().sockets;
    match ctx.socket {
        Socket::Main => sockets.main().max_request,
        Socket::Extra => sockets.extra().max_request,
    }
}

/// The longest sign wait the agent advertises (status and key listings), in seconds.
fn max_sign_wait_s(ctx: &Context) -> u32 {
    u32::try_from(ctx.config().longest_sign_wait().as_secs()).unwrap_or(u32::MAX)
}

async fn status(ctx: &Context) -> StatusReply {
    let mut tokens = ctx.inventory.token_status().await;
    let extra = ctx.socket == Socket::Extra;
    if extra {
        // Reduced: no PIN state, no problem details for a remote.
        for t in &mut tokens {
            t.logged_in = false;
            t.pin_cached_until = 0;
            t.problem.clear();
        }
    }
    let pending_touches = ctx
        .touch
        .pending()
        .into_iter()
        .map(|p| PendingTouch {
            token: p.token,
            key: p.key,
            what: if extra { String::new() } else { p.what },
            since: p.since,
        })
        .collect();
    StatusReply {
        agent_version: env!("CARGO_PKG_VERSION").into(),
        host: ctx.host.clone(),
        socket: ctx.socket.name().into(),
        test_mode: ctx.test_mode,
        tokens,
        pending_touches,
        touch_cache_window_s: ctx.config().touch_cache_window().as_secs() as u32,
        max_sign_wait_s: max_sign_wait_s(ctx),
        max_request: request_limit(ctx) as u64,
    }
}

/// The key a request names by id, if this socket may see it. An id that is not one names no
/// key, like an id no token has.
async fn named_key(ctx: &Context, key_id: &str) -> Result<KeyRef, WireError> {
    let found = match KeyId::parse(key_id) {
        Ok(id) => ctx.inventory.find(&id).await,
        Err(_) => None,
    };
    find_visible(ctx, found, key_id).await
}

async fn hwsign_sign(ctx: &Context, peer: &Peer, req: SignRequest) -> Result<SignReply, WireError> {
    let key = named_key(ctx, &req.key_id).await?;
    let signed = Signed::parse(&req.data, req.input);
    let job = Job {
        key: &key,
        scheme: req.scheme,
        input: req.input,
        data: req.data,
        request: RequestName::HwsignSign,
        client: Some(&req.context),
    };
    let sig = signing::sign(ctx, peer, job, signed).await?;
    Ok(SignReply {
        key_id: key.meta.id.to_string(),
        scheme: req.scheme,
        signature: sig,
    })
}

async fn minisign(
    ctx: &Context,
    peer: &Peer,
    req: MinisignRequest,
) -> Result<MinisignReply, WireError> {
    let key = named_key(ctx, &req.key_id).await?;
    if key.meta.algorithm() != crate::crypto::pubkey::KeyAlgorithm::Ed25519 {
        return Err(WireError::new(
            ErrorCode::Unsupported,
            format!(
                "minisign signatures are Ed25519; key {} is {}",
                key.meta.label,
                key.meta.algorithm()
            ),
            "pick an Ed25519 key for --format minisign",
        ));
    }
    let signed = Signed::minisign(&req.data, &req.trusted_comment);
    let job = Job {
        key: &key,
        scheme: crate::crypto::scheme::Scheme::Ed25519,
        input: SignInput::Message,
        data: req.data,
        request: RequestName::Minisign,
        client: Some(&req.context),
    };
    let both = signing::sign(ctx, peer, job, signed).await?;
    let (signature, global) = both.split_at(both.len() / 2);
    Ok(MinisignReply {
        key_id: key.meta.id.to_string(),
        signature: signature.to_vec(),
        global_signature: global.to_vec(),
    })
}

/// A key's attestation, on either socket: the certificates are public, and the forwarded
/// socket answers only for the keys it shows.
async fn attest(ctx: &Context, req: AttestRequest) -> Result<AttestReply, WireError> {
    let key = named_key(ctx, &req.key_id).await?;
    let a = key
        .token
        .attest(key.meta.id.clone())
        .await
        .map_err(|e| WireError::from(&e))?;
    tracing::info!(key = %key.meta.id.short(), kind = %a.kind, socket = ctx.socket.name(), "key attested");
    Ok(AttestReply {
        key_id: key.meta.id.to_string(),
        kind: a.kind,
        certificate: a.certificate,
        intermediate: a.intermediate,
    })
}

async fn generate(ctx: &Context, req: GenerateRequest) -> Result<GenerateReply, WireError> {
    let pkcs11 = req.token != "openpgp-card" && req.token != "piv";
    if pkcs11 && req.label.is_empty() {
        return Err(WireError::new(
            ErrorCode::Malformed,
            "a new key needs a label",
            "pass --label",
        ));
    }
    if pkcs11
        && ctx
            .inventory
            .keys()
            .await
            .iter()
            .any(|k| k.meta.label == req.label)
    {
        return Err(WireError::new(
            ErrorCode::PolicyRefused,
            format!("a key labelled {:?} exists already", req.label),
            "pick another --label",
        ));
    }
    let token = ctx
        .inventory
        .token(&req.token)
        .map_err(|e| WireError::from(&e))?;
    let opt = |k: &str| req.option(k).unwrap_or_default().to_string();
    let spec = GenerateSpec {
        label: req.label.clone(),
        algorithm: req.algorithm.clone(),
        card: if req.token == "piv" {
            opt("serial")
        } else {
            opt("ident")
        },
        slot: opt("slot"),
        pin_policy: opt("pin-policy"),
        touch_policy: opt("touch-policy"),
    };
    let info = token
        .generate(spec)
        .await
        .map_err(|e| WireError::from(&e))?;
    tracing::info!(label = %crate::text::name(&info.label), algorithm = %crate::text::name(&req.algorithm), token = token.name(), "generated a key");
    let keys = ctx.inventory.refresh().await;
    let id = info.id();
    let key = keys.into_iter().find(|k| k.meta.id == id).ok_or_else(|| {
        WireError::new(
            ErrorCode::Internal,
            "the new key is not in the inventory",
            "",
        )
    })?;
    Ok(GenerateReply {
        key: listed(&ctx.config(), key.meta),
    })
}
