//! What the user is shown before a signature: a short line (touch notifications, the PIN
//! dialog) and the full confirm prompt, both from what the agent parsed out of the signed
//! bytes, never from the client's word alone; and running the notify and confirm commands.
//! Every string in them that a client, a remote host or a token chose (subject names, payload
//! and predicate types, namespaces, user names, labels, process names, host keys, the client's
//! note) is escaped and bounded by [`crate::text`], so that a file named
//! `"x\nClient note: approved"` or holding a bidi override cannot forge or reorder a line.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::context::{Peer, Socket};
use crate::crypto::pubkey::hex;
use crate::signed::{SUBJECTS_KEPT, Signed, short_hex};
use crate::text::{self, Escaped};

/// DSSE subjects listed one by one in a prompt; the rest are counted (the audit record keeps
/// as many, and the statement's digest).
pub const SUBJECTS_SHOWN: usize = SUBJECTS_KEPT;

fn origin(peer: &Peer, socket: Socket) -> String {
    let process = if peer.process.is_empty() {
        "an unknown process".to_string()
    } else {
        text::name(&peer.process)
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
                .map(|h| text::name(&h.host_key))
                .collect::<Vec<_>>()
                .join(" → ")
        ),
    };
    format!("{process}{pid} {via}")
}

/// The full confirm prompt.
pub fn confirm_text(
    signed: &Signed,
    key_label: &str,
    peer: &Peer,
    socket: Socket,
    note: &str,
) -> String {
    let mut out = format!(
        "Allow {} to sign with key {}?\n",
        origin(peer, socket),
        Escaped::name(key_label)
    );
    match signed {
        Signed::Dsse {
            payload_type,
            payload_sha256,
            statement,
        } => {
            let (n, pred) = statement.as_ref().map_or((0, "?".to_string()), |st| {
                let pred = st.predicate_type.as_deref().map_or("?".into(), text::name);
                (st.subject_count, pred)
            });
            out.push_str(&format!(
                "DSSE {}, predicate {pred}, {n} subject(s):\n",
                Escaped::name(payload_type)
            ));
            let subjects = statement.iter().flat_map(|st| &st.subjects);
            for (name, sha256) in subjects.take(SUBJECTS_SHOWN) {
                let sha256 = sha256.as_deref().map(short_hex).unwrap_or_default();
                out.push_str(&format!("  {}  sha256 {sha256}\n", text::name(name)));
            }
            if n > SUBJECTS_SHOWN {
                out.push_str(&format!("  and {} more\n", n - SUBJECTS_SHOWN));
                // The rest stand behind the statement's digest (the audit record has it too).
                out.push_str(&format!("statement sha256 {}\n", hex(payload_sha256)));
            }
        }
        Signed::Sshsig(blob) => {
            out.push_str(&format!(
                "SSHSIG, namespace {}, message {} {}\n",
                Escaped::name(&blob.namespace),
                Escaped::name(&blob.hash),
                hex(&blob.digest)
            ));
        }
        Signed::SshLogin { user, .. } => {
            let via = if peer.hosts.is_empty() {
                "no session-bind".to_string()
            } else {
                peer.hosts
                    .iter()
                    .map(|h| text::name(&h.host_key))
                    .collect::<Vec<_>>()
                    .join(" → ")
            };
            out.push_str(&format!(
                "SSH login as {}, forwarded via: {via}\n",
                Escaped::name(user)
            ));
        }
        Signed::Digest(d) => out.push_str(&format!(
            "A bare digest {} (it can be the hash of anything)\n",
            hex(d)
        )),
        Signed::Message { sha256 } => out.push_str(&format!(
            "A bare digest {} (it can be the hash of anything)\n",
            hex(sha256)
        )),
        Signed::Minisign {
            sha256,
            trusted_comment,
        } => out.push_str(&format!(
            "A minisign signature of data with SHA-256 {} (it can be the hash of anything), trusted comment {}\n",
            hex(sha256),
            Escaped::name(trusted_comment)
        )),
    }
    if !note.is_empty() {
        out.push_str(&format!(
            "Client note (unverified): {}\n",
            Escaped::new(note, text::MESSAGE_MAX)
        ));
    }
    out
}

/// Run the notify command with `message` as its last argument, without waiting for it.
/// Notification bodies are markup: the message is escaped for it here (and any control or
/// format character a piece of it let through), whoever composed it.
pub fn notify(command: Option<&[String]>, message: &str) {
    let message = text::composed_for_markup(message);
    // No default: the desktop notification goes over D-Bus (see `desktop_notify`).
    let argv: &[String] = match command {
        Some(c) if !c.is_empty() => c,
        _ => return,
    };
    let spawned = Command::new(&argv[0])
        .args(&argv[1..])
        .arg(&message)
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

/// Run the confirm command (SSH_ASKPASS-compatible) with `prompt`; true when it exits 0
/// within `timeout`. Any
/// control or format character other than its newlines is escaped here, whoever composed it.
pub async fn confirm(command: Option<&[String]>, prompt: &str, timeout: Duration) -> bool {
    let prompt = text::composed_for_dialog(prompt);
    let default = vec!["ssh-askpass".to_string()];
    let argv = command.filter(|c| !c.is_empty()).unwrap_or(&default);
    // Dropped (the client left, the touch came first) or timed out: the dialog is killed.
    let spawned = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .arg(&prompt)
        .env("SSH_ASKPASS_PROMPT", "confirm")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(command = %argv[0], error = %e, "cannot run the confirm command: treating as denied");
            return false;
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status.success(),
        Ok(Err(e)) => {
            tracing::warn!(command = %argv[0], error = %e, "the confirm command failed: treating as denied");
            false
        }
        Err(_) => {
            tracing::warn!(command = %argv[0], timeout_s = timeout.as_secs(), "the confirm command did not answer in time (confirm_timeout): denied");
            let _ = child.kill().await;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::session_bind::BoundHost;
    use serde_json::json;

    fn peer(process: &str) -> Peer {
        Peer {
            pid: Some(42),
            uid: 1000,
            process: process.into(),
            hosts: Vec::new(),
        }
    }

    /// A DSSE request for an in-toto statement naming these files.
    fn dsse(names: &[&str]) -> Signed {
        let subjects: Vec<serde_json::Value> = names
            .iter()
            .map(|n| json!({"name": n, "digest": {"sha256": "ab".repeat(32)}}))
            .collect();
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": subjects,
            "predicateType": "https://slsa.dev/provenance/v1",
        });
        let pae = crate::format::dsse::pae(
            "application/vnd.in-toto+json",
            &serde_json::to_vec(&statement).unwrap(),
        );
        Signed::parse(&pae, crate::crypto::scheme::SignInput::Message)
    }

    fn raw_controls(s: &str) -> Vec<char> {
        s.chars()
            .filter(|&c| c != '\n' && (c.is_control() || crate::text::needs_escape(c)) && c != '\\')
            .collect()
    }

    #[test]
    fn forged_client_note_in_a_subject_name_stays_on_its_line() {
        let signed = dsse(&["x\nClient note (unverified): approved by alice"]);
        let text = confirm_text(&signed, "release", &peer("hwsign"), Socket::Main, "");
        // Header, DSSE line, one subject line: the name does not start a line of its own.
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            !text.lines().any(|l| l.starts_with("Client note")),
            "{text}"
        );
        assert!(text.contains("x\\nClient note (unverified): approved by alice"));
        let line = signed.short();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("x\\nClient note"), "{line}");
    }

    #[test]
    fn bidi_override_and_zero_width_are_escaped() {
        let signed = dsse(&["invoice\u{202e}gpj.exe", "a\u{200b}b"]);
        let text = confirm_text(&signed, "release", &peer("hwsign"), Socket::Main, "");
        assert!(text.contains("invoice\\u{202e}gpj.exe"), "{text}");
        assert!(text.contains("a\\u{200b}b"), "{text}");
        assert!(raw_controls(&text).is_empty(), "{text:?}");
        let line = signed.short();
        assert!(line.contains("invoice\\u{202e}gpj.exe"), "{line}");
        assert!(raw_controls(&line).is_empty());
    }

    #[test]
    fn every_client_chosen_field_is_escaped() {
        let evil = "e\u{1b}[2K\r\u{2067}";
        let mut p = peer(evil);
        p.hosts = vec![BoundHost {
            host_key: evil.into(),
            forwarding: false,
        }];
        let sshsig = {
            let mut e = crate::proto::wire::Enc::default();
            e.str(evil).bytes(b"").str(evil).bytes(&[1; 64]);
            [b"SSHSIG".as_slice(), &e.0].concat()
        };
        let login = {
            let mut e = crate::proto::wire::Enc::default();
            e.bytes(&[9; 32]).u8(50).str(evil).str("ssh-connection");
            e.str("publickey")
                .bool(true)
                .str("ssh-ed25519")
                .bytes(&[1; 51]);
            e.0
        };
        let message = crate::crypto::scheme::SignInput::Message;
        let cases = [
            Signed::parse(
                &crate::format::dsse::pae(
                    evil,
                    &serde_json::to_vec(&json!({"subject": [{"name": evil, "digest": {"sha256": evil}}], "predicateType": evil})).unwrap(),
                ),
                message,
            ),
            Signed::parse(&sshsig, message),
            Signed::parse(&login, message),
            Signed::Digest(vec![0x1b; 32]),
        ];
        assert!(matches!(cases[1], Signed::Sshsig(_)), "{:?}", cases[1]);
        assert!(
            matches!(cases[2], Signed::SshLogin { .. }),
            "{:?}",
            cases[2]
        );
        for signed in cases {
            for socket in [Socket::Main, Socket::Extra] {
                let text = confirm_text(&signed, evil, &p, socket, evil);
                assert!(raw_controls(&text).is_empty(), "{signed:?}: {text:?}");
                assert!(text.contains("e\\x1b[2K\\r\\u{2067}"), "{text}");
            }
            let line = signed.short();
            assert!(
                raw_controls(&line).is_empty() && !line.contains('\n'),
                "{line:?}"
            );
        }
    }

    #[test]
    fn plain_names_are_shown_as_they_are() {
        let signed = dsse(&["paquet-été-ü.tar.gz"]);
        let text = confirm_text(&signed, "release-p256", &peer("hwsign"), Socket::Main, "");
        assert!(
            text.contains("  paquet-été-ü.tar.gz  sha256 abababababab…"),
            "{text}"
        );
        assert!(text.starts_with(
            "Allow hwsign (pid 42) on the local socket to sign with key release-p256?\n"
        ));
        assert_eq!(
            signed.short(),
            "an attestation of 1 file(s) (paquet-été-ü.tar.gz)"
        );
    }

    #[test]
    fn a_large_release_shows_ten_subjects_the_count_and_the_digest() {
        let names: Vec<String> = (0..100_000).map(|i| format!("f{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let signed = dsse(&refs);
        let Signed::Dsse { payload_sha256, .. } = &signed else {
            panic!("{signed:?}");
        };
        let digest = hex(payload_sha256);
        let text = confirm_text(&signed, "k", &peer("hwsign"), Socket::Main, "");
        assert!(text.contains("100000 subject(s)"), "{text}");
        assert!(text.contains("  and 99990 more\n"), "{text}");
        assert!(
            text.contains(&format!("statement sha256 {digest}")),
            "{text}"
        );
        assert!(text.len() < 2000, "{text}");
        assert_eq!(
            signed.short(),
            "an attestation of 100000 file(s) (f0, f1, f2, and 99997 more)"
        );
    }

    #[test]
    fn long_names_are_bounded() {
        let long = "n".repeat(5000);
        let signed = dsse(&[&long]);
        let text = confirm_text(&signed, "k", &peer("hwsign"), Socket::Main, "");
        assert!(text.len() < 1000, "{}", text.len());
        // The statement's summary keeps 1,024 bytes of a name, the prompt 200 of those.
        assert!(text.contains("…[+824 chars]"), "{text}");
    }
}
