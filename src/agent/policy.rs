//! Per-key policy for the forwarded socket: which keys a remote may use, for which kinds of
//! signature, and through which hosts. The main socket is the local user: everything allowed.
//! Every refusal names the rule that decided and how to change it.

use super::context::{Peer, Socket};
use super::kind::Kind;
use crate::config::Config;
use crate::error::{ErrorCode, WireError};
use crate::proto::keys::KeyEntry;

/// Whether `key` may be used (and listed) through `socket`.
pub fn usable_through(config: &Config, socket: Socket, key: &KeyEntry) -> bool {
    socket == Socket::Main || config.rule_for(key).is_some_and(|(_, r)| r.remote)
}

fn refused(message: String, hint: &str) -> WireError {
    WireError::new(ErrorCode::PolicyRefused, message, hint)
}

/// Decide whether a signature of `kind` by `key` may be made for `peer` on `socket`.
pub fn check_sign(
    config: &Config,
    socket: Socket,
    key: &KeyEntry,
    kind: &Kind,
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
    let rule_name = format!("[[key]] #{n} (match = {:?})", rule.matches);
    if !rule.remote {
        return Err(refused(
            format!(
                "key {} may not be used through the forwarded socket: {rule_name} has remote = false",
                key.label
            ),
            "set remote = true in that rule on the agent's machine (then SIGHUP the agent)",
        ));
    }
    let kinds = rule.remote_kinds();
    if !kinds.iter().any(|k| kind.allowed_by(k)) {
        return Err(refused(
            format!(
                "{kind} signatures with key {} are not allowed remotely: {rule_name} allows {kinds:?}",
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
                    key.label, rule.from_hosts
                ),
                "forward with ssh -A -o IdentityAgent=<agent.extra.sock> so ssh binds the session to the host",
            ));
        }
        if !via.iter().any(|h| rule.from_hosts.iter().any(|a| a == h)) {
            return Err(refused(
                format!(
                    "{rule_name} allows key {} only through {:?}; this request came via {via:?}",
                    key.label, rule.from_hosts
                ),
                "add the host key's SHA256 fingerprint to from_hosts if that host is trusted",
            ));
        }
    }
    Ok(())
}
