//! `hwsign status`: the agent's host, socket, tokens, cached PINs and pending touches; and the
//! two small commands for the person at the agent's machine: `hwsign touch` and `hwsign lock`.

use super::args::{StatusArgs, TouchArgs};
use crate::client::AgentClient;
use crate::error::Result;
use crate::proto::touch::{LockRequest, TouchReply, TouchRequest};
use crate::text::Escaped as E;

/// Run `hwsign status`: the agent, its tokens and pending touches.
pub fn run(client: &mut AgentClient, args: StatusArgs) -> Result<()> {
    let status = client.status()?;
    if args.json {
        let mut v = serde_json::to_value(&status).map_err(crate::format::FormatError::from)?;
        v["socket_path"] = client.path().display().to_string().into();
        outln!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(crate::format::FormatError::from)?
        );
        return Ok(());
    }
    outln!(
        "agent:   hwsign-agent {} on {}",
        E::name(&status.agent_version),
        E::name(&status.host)
    );
    outln!(
        "socket:  {} ({})",
        E::name(&client.path().display().to_string()),
        E::name(&status.socket)
    );
    if status.test_mode {
        outln!("mode:    SoftHSM2 test mode (no hardware)");
    }
    if status.tokens.is_empty() {
        outln!("tokens:  none (configure [[token]] in config.toml, or run hwsign-agent --softhsm)");
    }
    for t in &status.tokens {
        let state = if !t.present {
            "absent"
        } else if t.logged_in {
            "PIN verified"
        } else {
            "PIN not verified"
        };
        let state = if t.pin_cached_until > 0 {
            format!("PIN cached until {}", when(t.pin_cached_until))
        } else {
            state.to_string()
        };
        outln!(
            "token:   {} ({}, serial {}): {}, {} key(s)",
            E::name(&t.label),
            E::name(&t.backend),
            E::name(&t.serial),
            state,
            t.keys
        );
        if !t.problem.is_empty() {
            outln!("         problem: {}", E::message(&t.problem));
        }
    }
    outln!(
        "touch:   a touch counts {} s for keys with touch policy cached",
        status.touch_cache_window_s
    );
    outln!(
        "limits:  requests up to {} on this socket (a DSSE statement of about {} subjects with 100-byte names)",
        crate::client::output::bytes(status.request_limit() as u64),
        crate::client::output::thousands(status.request_limit() / 180)
    );
    for p in &status.pending_touches {
        outln!(
            "pending: touch token {} for key {} since {}: {}",
            E::name(&p.token),
            E::name(&p.key),
            when(p.since),
            crate::text::already_escaped(&p.what, crate::text::MESSAGE_MAX)
        );
    }
    Ok(())
}

fn when(unix: u64) -> String {
    crate::time::format_rfc3339(unix)
}

/// `hwsign touch`.
pub fn touch(client: &mut AgentClient, args: TouchArgs) -> Result<()> {
    let wait_ms = u32::try_from(args.wait.as_millis()).unwrap_or(u32::MAX);
    let reply: TouchReply = client.call(&TouchRequest { wait_ms })?;
    outln!(
        "touched token {} for key {}: {}",
        E::name(&reply.token),
        E::name(&reply.key),
        crate::text::already_escaped(&reply.what, crate::text::MESSAGE_MAX)
    );
    Ok(())
}

/// `hwsign lock`.
pub fn lock(client: &mut AgentClient) -> Result<()> {
    let _: LockRequest = client.call(&LockRequest)?;
    outln!("locked: every cached PIN is forgotten and the tokens are logged out");
    Ok(())
}
