//! What the user is shown before a signature: a short line (touch notifications, the PIN
//! dialog) and the full confirm prompt, both from what the agent parsed out of the signed
//! bytes, never from the client's word alone; and running the notify and confirm commands.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::context::{Peer, Socket};
use super::kind::Kind;

/// DSSE subjects listed one by one in a prompt; the rest are counted.
pub const SUBJECTS_SHOWN: usize = 10;

fn short_hex(v: &Value) -> String {
    v.as_str()
        .map(|s| s.chars().take(12).collect::<String>() + "…")
        .unwrap_or_default()
}

/// One line: what would be signed.
pub fn short(kind: &Kind, signed: &Value) -> String {
    match kind {
        Kind::Dsse { .. } => {
            let n = signed["subject_count"].as_u64().unwrap_or(0);
            let first: Vec<&str> = signed["subjects"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .take(3)
                        .filter_map(|s| s["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let more = if n as usize > first.len() {
                format!(", and {} more", n as usize - first.len())
            } else {
                String::new()
            };
            format!("an attestation of {n} file(s) ({}{more})", first.join(", "))
        }
        Kind::Sshsig { namespace } => format!(
            "an SSH signature (namespace {namespace}, sha512 {})",
            short_hex(&signed["message_digest"])
        ),
        Kind::SshLogin { user } => format!("an SSH login as {user}"),
        Kind::Digest => "a bare digest (raw or OpenPGP signature: can sign anything)".into(),
    }
}

fn origin(peer: &Peer, socket: Socket) -> String {
    let process = if peer.process.is_empty() {
        "an unknown process".to_string()
    } else {
        peer.process.clone()
    };
    let pid = peer.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    let via = match (socket, peer.hosts.as_slice()) {
        (Socket::Main, _) => "on the local socket".to_string(),
        (Socket::Extra, []) => {
            "through the forwarded socket (no session-bind: an ssh -R forward?)".to_string()
        }
        (Socket::Extra, hosts) => format!(
            "through the forwarded socket via {}",
            hosts
                .iter()
                .map(|h| h.host_key.as_str())
                .collect::<Vec<_>>()
                .join(" → ")
        ),
    };
    format!("{process}{pid} {via}")
}

/// The full confirm prompt.
pub fn confirm_text(
    kind: &Kind,
    signed: &Value,
    key_label: &str,
    peer: &Peer,
    socket: Socket,
    note: &str,
) -> String {
    let mut out = format!(
        "Allow {} to sign with key {key_label}?\n",
        origin(peer, socket)
    );
    match kind {
        Kind::Dsse { payload_type } => {
            let n = signed["subject_count"].as_u64().unwrap_or(0) as usize;
            let pred = signed["predicateType"].as_str().unwrap_or("?");
            out.push_str(&format!(
                "DSSE {payload_type}, predicate {pred}, {n} subject(s):\n"
            ));
            let subjects = signed["subjects"].as_array().cloned().unwrap_or_default();
            for s in subjects.iter().take(SUBJECTS_SHOWN) {
                out.push_str(&format!(
                    "  {}  sha256 {}\n",
                    s["name"].as_str().unwrap_or("?"),
                    short_hex(&s["sha256"])
                ));
            }
            if n > SUBJECTS_SHOWN {
                out.push_str(&format!("  and {} more\n", n - SUBJECTS_SHOWN));
            }
        }
        Kind::Sshsig { namespace } => {
            out.push_str(&format!(
                "SSHSIG, namespace {namespace}, message {} {}\n",
                signed["hash"].as_str().unwrap_or("?"),
                signed["message_digest"].as_str().unwrap_or("?")
            ));
        }
        Kind::SshLogin { user } => {
            let via = if peer.hosts.is_empty() {
                "no session-bind".to_string()
            } else {
                peer.hosts
                    .iter()
                    .map(|h| h.host_key.clone())
                    .collect::<Vec<_>>()
                    .join(" → ")
            };
            out.push_str(&format!("SSH login as {user}, forwarded via: {via}\n"));
        }
        Kind::Digest => {
            let d = signed["digest"]
                .as_str()
                .or(signed["message_sha256"].as_str())
                .unwrap_or("?");
            out.push_str(&format!(
                "A bare digest {d} (it can be the hash of anything)\n"
            ));
        }
    }
    if !note.is_empty() {
        out.push_str(&format!("Client note (unverified): {note}\n"));
    }
    out
}

/// Run the notify command with `message` as its last argument, without waiting for it.
pub fn notify(command: Option<&[String]>, message: &str) {
    let default;
    let argv: &[String] = match command {
        Some(c) if !c.is_empty() => c,
        Some(_) => return,
        None => {
            // The desktop's notification service, when there is a session bus.
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
                return;
            }
            default = vec!["notify-send".to_string(), "hwsign".to_string()];
            &default
        }
    };
    let spawned = Command::new(&argv[0])
        .args(&argv[1..])
        .arg(message)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        // Reap it in the background so it does not linger as a zombie.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::warn!(command = %argv[0], error = %e, "cannot run the notify command"),
    }
}

/// Run the confirm command (SSH_ASKPASS-compatible) with `prompt`; true when it exits 0.
pub fn confirm(command: Option<&[String]>, prompt: &str) -> bool {
    let default = vec!["ssh-askpass".to_string()];
    let argv = command.filter(|c| !c.is_empty()).unwrap_or(&default);
    match Command::new(&argv[0])
        .args(&argv[1..])
        .arg(prompt)
        .env("SSH_ASKPASS_PROMPT", "confirm")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) => s.success(),
        Err(e) => {
            tracing::warn!(command = %argv[0], error = %e, "cannot run the confirm command: treating as denied");
            false
        }
    }
}
