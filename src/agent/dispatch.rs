//! From a decoded request to a response: the SSH agent requests, `query`, `session-bind` and
//! the `@hwsign` extensions. Every failure becomes `SSH_AGENT_FAILURE` for standard requests
//! (what ssh expects) or an `error@hwsign` reply with a code and a hint for extensions.

use ssh_agent_lib::proto::{
    Identity, PublicCredential, Request, Response, SignRequest as SshSignRequest,
};

use super::Inventory;
use super::inventory::KeyRef;
use crate::error::{ErrorCode, WireError};
use crate::format::{dsse, ssh_signature, sshsig};
use crate::proto::generate::{GenerateReply, GenerateRequest};
use crate::proto::keys::{KeysReply, KeysRequest};
use crate::proto::query::QueryReply;
use crate::proto::scheme::{Scheme, SignInput};
use crate::proto::sign::{SignReply, SignRequest};
use crate::proto::status::{StatusReply, StatusRequest};
use crate::proto::{EXT_QUERY, EXT_SESSION_BIND, Extension, HwsignMessage};
use crate::pubkey::PublicKey;

/// What a connection's requests are served with.
#[derive(Debug, Clone)]
pub struct Context {
    /// The keys.
    pub inventory: Inventory,
    /// `main` (later also `extra`).
    pub socket: &'static str,
    /// Whether the agent runs the SoftHSM test mode.
    pub test_mode: bool,
    /// The host name shown to clients.
    pub host: String,
}

/// An `error@hwsign` reply.
pub fn error_response(err: &WireError) -> Response {
    Response::ExtensionResponse(err.to_extension())
}

/// What the bytes of a signature request are, decided from the bytes themselves.
pub fn kind_of(data: &[u8], input: SignInput) -> String {
    if input == SignInput::Prehash {
        return "digest".into();
    }
    if let Some(ns) = sshsig::parse_namespace(data) {
        return format!("sshsig:{ns}");
    }
    if let Some((payload_type, _)) = dsse::parse_pae(data) {
        return format!("dsse:{payload_type}");
    }
    "digest".into()
}

/// Serve one request.
pub async fn handle(ctx: &Context, request: Request) -> Response {
    match request {
        Request::RequestIdentities => {
            let keys = ctx.inventory.refresh().await;
            Response::IdentitiesAnswer(
                keys.into_iter()
                    .map(|k| Identity {
                        credential: PublicCredential::Key(k.info.public.ssh_key_data()),
                        comment: k.info.label.clone(),
                    })
                    .collect(),
            )
        }
        Request::SignRequest(req) => match ssh_sign(ctx, req).await {
            Ok(sig) => Response::SignResponse(sig),
            Err(e) => {
                tracing::warn!(error = %e, "SSH sign request refused");
                Response::Failure
            }
        },
        Request::Extension(ext) => extension(ctx, ext).await,
        other => {
            tracing::info!(
                request = other.message_id(),
                "unsupported request (keys live on tokens; nothing to add, remove or lock)"
            );
            Response::Failure
        }
    }
}

async fn ssh_sign(ctx: &Context, req: SshSignRequest) -> Result<ssh_key::Signature, WireError> {
    let PublicCredential::Key(key_data) = &req.credential else {
        return Err(WireError::new(
            ErrorCode::UnknownKey,
            "certificates are not held by hwsign",
            "",
        ));
    };
    let public = PublicKey::from_ssh(key_data)
        .map_err(|e| WireError::new(ErrorCode::UnknownKey, e.to_string(), ""))?;
    let key = ctx.inventory.find_public(&public).await.ok_or_else(|| {
        WireError::new(
            ErrorCode::UnknownKey,
            format!("no key {} in this agent", public.key_id()),
            "",
        )
    })?;
    let alg = key.info.algorithm();
    let scheme = ssh_signature::scheme_for(alg, req.flags).ok_or_else(|| {
        WireError::new(
            ErrorCode::Unsupported,
            "ssh-rsa (SHA-1) signatures are refused; use rsa-sha2-256/512",
            "",
        )
    })?;
    let kind = kind_of(&req.data, SignInput::Message);
    let sig = sign_with(
        &key,
        scheme,
        SignInput::Message,
        req.data,
        &kind,
        "ssh",
        &[],
    )
    .await?;
    ssh_signature::to_ssh(alg, scheme, &sig)
        .map_err(|e| WireError::new(ErrorCode::Internal, e.to_string(), ""))
}

/// Hash if needed, send to the token, log.
async fn sign_with(
    key: &KeyRef,
    scheme: Scheme,
    input: SignInput,
    data: Vec<u8>,
    kind: &str,
    format: &str,
    names: &[String],
) -> Result<Vec<u8>, WireError> {
    let alg = key.info.algorithm();
    if !alg.supports(scheme) {
        return Err(WireError::new(
            ErrorCode::Unsupported,
            format!("key {} ({alg}) cannot sign with {scheme}", key.info.label),
            format!("use {}", alg.default_scheme()),
        ));
    }
    let to_token = match (scheme.hash(), input) {
        (None, SignInput::Prehash) => {
            return Err(WireError::new(
                ErrorCode::Unsupported,
                "Ed25519 signs the message itself, not a digest",
                "send the message (hwsign sign --format sshsig or attest do this for large files)",
            ));
        }
        (None, SignInput::Message) => data,
        (Some(h), SignInput::Message) => h.digest(&data),
        (Some(h), SignInput::Prehash) if data.len() == h.output_len() => data,
        (Some(h), SignInput::Prehash) => {
            return Err(WireError::new(
                ErrorCode::Malformed,
                format!(
                    "a {} digest has {} bytes, got {}",
                    h.name(),
                    h.output_len(),
                    data.len()
                ),
                "",
            ));
        }
    };
    let result = key.token.sign(&key.id, scheme, to_token).await;
    match &result {
        Ok(_) => {
            tracing::info!(key = %key.info.label, id = %&key.id[..16], %scheme, kind, format, artifacts = names.len(), "signed")
        }
        Err(e) => {
            tracing::warn!(key = %key.info.label, %scheme, kind, error = %e, "signing failed")
        }
    }
    result.map_err(|e| e.to_wire())
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
        StatusRequest::NAME,
        GenerateRequest::NAME,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn extension(ctx: &Context, ext: Extension) -> Response {
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
        // Recorded per connection in a later step (forwarding policy); acknowledged so ssh -A works.
        EXT_SESSION_BIND => Response::Success,
        KeysRequest::NAME => match KeysRequest::from_extension(&ext) {
            Ok(_) => {
                let keys = ctx.inventory.refresh().await;
                ok_ext(&KeysReply {
                    keys: keys.iter().map(KeyRef::entry).collect(),
                })
            }
            Err(e) => malformed(e),
        },
        StatusRequest::NAME => match StatusRequest::from_extension(&ext) {
            Ok(_) => ok_ext(&StatusReply {
                agent_version: env!("CARGO_PKG_VERSION").into(),
                host: ctx.host.clone(),
                socket: ctx.socket.into(),
                test_mode: ctx.test_mode,
                tokens: ctx.inventory.token_status().await,
            }),
            Err(e) => malformed(e),
        },
        SignRequest::NAME => match SignRequest::from_extension(&ext) {
            Ok(req) => match hwsign_sign(ctx, req).await {
                Ok(reply) => ok_ext(&reply),
                Err(e) => error_response(&e),
            },
            Err(e) => malformed(e),
        },
        GenerateRequest::NAME => match GenerateRequest::from_extension(&ext) {
            Ok(req) => match generate(ctx, req).await {
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

async fn hwsign_sign(ctx: &Context, req: SignRequest) -> Result<SignReply, WireError> {
    let key = ctx.inventory.find(&req.key_id).await.ok_or_else(|| {
        WireError::new(
            ErrorCode::UnknownKey,
            format!("no key {} in this agent", req.key_id),
            "run `hwsign keys` to list the keys",
        )
    })?;
    let kind = kind_of(&req.data, req.input);
    let sig = sign_with(
        &key,
        req.scheme,
        req.input,
        req.data,
        &kind,
        &req.context.format,
        &req.context.names,
    )
    .await?;
    Ok(SignReply {
        key_id: key.id,
        scheme: req.scheme,
        signature: sig,
    })
}

async fn generate(ctx: &Context, req: GenerateRequest) -> Result<GenerateReply, WireError> {
    if req.label.is_empty() {
        return Err(WireError::new(
            ErrorCode::Malformed,
            "a new key needs a label",
            "pass --label",
        ));
    }
    if ctx
        .inventory
        .keys()
        .await
        .iter()
        .any(|k| k.info.label == req.label)
    {
        return Err(WireError::new(
            ErrorCode::PolicyRefused,
            format!("a key labelled {:?} exists already", req.label),
            "pick another --label",
        ));
    }
    let token = ctx.inventory.token(&req.token).map_err(|e| e.to_wire())?;
    let info = token
        .generate(&req.label, &req.algorithm)
        .await
        .map_err(|e| e.to_wire())?;
    tracing::info!(label = %req.label, algorithm = %req.algorithm, token = token.name(), "generated a key");
    let keys = ctx.inventory.refresh().await;
    let id = info.id();
    let key = keys.into_iter().find(|k| k.id == id).ok_or_else(|| {
        WireError::new(
            ErrorCode::Internal,
            "the new key is not in the inventory",
            "",
        )
    })?;
    Ok(GenerateReply { key: key.entry() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_bytes() {
        let blob = sshsig::signed_data("file", &[0u8; 64]).unwrap();
        assert_eq!(kind_of(&blob, SignInput::Message), "sshsig:file");
        assert_eq!(kind_of(&blob, SignInput::Prehash), "digest");
        let pae = dsse::pae("application/vnd.in-toto+json", b"{}");
        assert_eq!(
            kind_of(&pae, SignInput::Message),
            "dsse:application/vnd.in-toto+json"
        );
        assert_eq!(kind_of(b"anything", SignInput::Message), "digest");
    }
}
