//! Per-key policy for the forwarded socket: which keys a remote may use, for which kinds of
//! signature, and through which hosts. The main socket is the local user: everything allowed.
//! Every refusal names the rule that decided and how to change it.

use super::context::{Peer, Socket};
use crate::config::Config;
use crate::error::{ErrorCode, WireError};
use crate::key::KeyMeta;
use crate::signed::Signed;

/// Whether `key` may be used (and listed) through `socket`.
pub fn usable_through(config: &Config, socket: Socket, key: &KeyMeta) -> bool {
    socket == Socket::Main || config.rule_for(key).is_some_and(|(_, r)| r.remote)
}

fn hosts(rule: &crate::config::KeyRule) -> Vec<&str> {
    rule.from_hosts.iter().map(|h| h.as_str()).collect()
}

fn refused(message: String, hint: &str) -> WireError {
    WireError::new(ErrorCode::PolicyRefused, message, hint)
}

/// Decide whether `signed` by `key` may be made for `peer` on `socket`.
pub fn check_sign(
    config: &Config,
    socket: Socket,
    key: &KeyMeta,
    signed: &Signed,
    peer: &Peer,
) -> Result<(), WireError> {
    if socket == Socket::Main {
        return Ok(());
    }
    let Some((n, rule)) = config.rule_for(key) else {
        return Err(refused(
            format!(
                "key {} may not be used through the forwarded socket: no [[key]] rule matches it",
                key.label
            ),
            "on the agent's machine, add [[key]] match = \"label:…\" with remote = true to config.toml and send the agent SIGHUP",
        ));
    };
    let rule_name = rule.describe(n);
    if !rule.remote {
        return Err(refused(
            format!(
                "key {} may not be used through the forwarded socket: {rule_name} has remote = false",
                key.label
            ),
            "set remote = true in that rule on the agent's machine (then SIGHUP the agent)",
        ));
    }
    if !rule.remote_kinds.iter().any(|k| signed.allowed_by(k)) {
        let kinds: Vec<String> = rule.remote_kinds.iter().map(|k| k.to_string()).collect();
        return Err(refused(
            format!(
                "{signed} signatures with key {} are not allowed remotely: {rule_name} allows {kinds:?}",
                key.label
            ),
            "add the kind to remote_kinds of that rule on the agent's machine (\"digest\" signs anything: think twice)",
        ));
    }
    if !rule.from_hosts.is_empty() {
        let via: Vec<&str> = peer.hosts.iter().map(|h| h.host_key.as_str()).collect();
        if via.is_empty() {
            return Err(refused(
                format!(
                    "{rule_name} allows key {} only when forwarded through {:?}; this connection sent no session-bind (ssh -R forwards do not)",
                    key.label,
                    hosts(rule)
                ),
                "forward with ssh -A -o IdentityAgent=<agent.extra.sock> so ssh binds the session to the host",
            ));
        }
        if !via
            .iter()
            .any(|h| rule.from_hosts.iter().any(|a| a.as_str() == *h))
        {
            return Err(refused(
                format!(
                    "{rule_name} allows key {} only through {:?}; this request came via {via:?}",
                    key.label,
                    hosts(rule)
                ),
                "add the host key's SHA256 fingerprint to from_hosts if that host is trusted",
            ));
        }
    }
    Ok(())
}
