//! Asking for a PIN with `pinentry` over its Assuan protocol, on the agent's machine (where the
//! user and the token are). The PIN travels in a zeroizing buffer and is never logged.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use zeroize::Zeroize;

use super::TokenError;
use crate::secret::Pin;

/// Assuan's error code for a cancelled dialog.
const CANCELLED: &str = "83886179";
/// Assuan's error code for a dialog that timed out (`SETTIMEOUT`).
const TIMEOUT: &str = "83886142";
/// How long after its own timeout a pinentry that did not close its dialog is killed.
const KILL_GRACE: Duration = Duration::from_secs(2);

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// What the dialog says.
pub struct Dialog<'a> {
    /// The description (token and request).
    pub description: &'a str,
    /// An error line above it (e.g. the previous PIN was wrong), if any.
    pub error: Option<&'a str>,
}

/// Run `program` and ask for a PIN; after `timeout` the dialog is closed (pinentry's own
/// `SETTIMEOUT`, and the program killed a moment later if it is still there) and the request
/// fails: a PIN dialog nobody answers never holds the token's worker.
pub fn ask(
    program: &Path,
    token: &str,
    dialog: &Dialog<'_>,
    timeout: Duration,
) -> Result<Pin, TokenError> {
    let timed_out = Arc::new(AtomicBool::new(false));
    let unanswered = || {
        TokenError::PinNeeded(format!(
            "{token} (the PIN dialog was not answered within {} s: pin_timeout in the agent's config)",
            timeout.as_secs()
        ))
    };
    let fail = |what: String| {
        if timed_out.load(Ordering::SeqCst) {
            unanswered()
        } else {
            TokenError::Other(format!("pinentry {}: {what}", program.display()))
        }
    };
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            TokenError::PinNeeded(format!(
                "{token} (cannot start pinentry {}: {e}; install Debian's pinentry-curses or set pin_file)",
                program.display()
            ))
        })?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(fail("no pipes".into()));
    };
    // The watchdog owns the child: it reaps it when the dialog ends, or kills it (closing its
    // pipes, which ends the reads below) when the dialog outlives the timeout.
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = {
        let timed_out = Arc::clone(&timed_out);
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) =
                finished.recv_timeout(timeout + KILL_GRACE)
            {
                timed_out.store(true, Ordering::SeqCst);
                let _ = child.kill();
            }
            let _ = child.wait();
        })
    };
    let result = converse(&mut stdin, stdout, dialog, timeout, &fail);
    drop(stdin);
    let _ = done.send(());
    let _ = watchdog.join();
    let result = result?;
    match result {
        Err(e) if e.starts_with(CANCELLED) => Err(TokenError::PinCancelled(token.to_string())),
        Err(e) if e.starts_with(TIMEOUT) => Err(unanswered()),
        Err(e) => Err(fail(e)),
        Ok(mut bytes) => {
            let pin =
                String::from_utf8(bytes.clone()).map_err(|_| fail("the PIN is not UTF-8".into()));
            bytes.zeroize();
            let pin = Pin::new(pin?);
            if pin.is_empty() {
                return Err(TokenError::PinCancelled(token.to_string()));
            }
            Ok(pin)
        }
    }
}

/// The Assuan conversation: the PIN's bytes, or pinentry's error line.
fn converse(
    stdin: &mut std::process::ChildStdin,
    stdout: std::process::ChildStdout,
    dialog: &Dialog<'_>,
    timeout: Duration,
    fail: &dyn Fn(String) -> TokenError,
) -> Result<Result<Vec<u8>, String>, TokenError> {
    let mut lines = BufReader::new(stdout);
    let mut read_reply = |data: &mut Option<Vec<u8>>| -> Result<Result<(), String>, TokenError> {
        loop {
            let mut line = String::new();
            if lines
                .read_line(&mut line)
                .map_err(|e| fail(e.to_string()))?
                == 0
            {
                return Err(fail("closed the connection".into()));
            }
            let l = line.trim_end_matches(['\r', '\n']);
            if l == "OK" || l.starts_with("OK ") {
                line.zeroize();
                return Ok(Ok(()));
            }
            if let Some(err) = l.strip_prefix("ERR ") {
                return Ok(Err(err.to_string()));
            }
            if let Some(d) = l.strip_prefix("D ") {
                *data = Some(unescape(d));
            }
            line.zeroize();
        }
    };
    let mut none = None;
    read_reply(&mut none)?.map_err(|e| fail(format!("greeting: {e}")))?;
    let mut commands = vec![
        "SETTITLE hwsign".to_string(),
        format!("SETDESC {}", escape(dialog.description)),
        "SETPROMPT PIN:".to_string(),
    ];
    if let Some(e) = dialog.error {
        commands.push(format!("SETERROR {}", escape(e)));
    }
    for c in commands {
        writeln!(stdin, "{c}").map_err(|e| fail(e.to_string()))?;
        read_reply(&mut none)?.map_err(|e| fail(format!("{c}: {e}")))?;
    }
    // Older pinentries do not know SETTIMEOUT: the watchdog covers them.
    let _ = writeln!(stdin, "SETTIMEOUT {}", timeout.as_secs().max(1));
    read_reply(&mut none)?.ok();
    writeln!(stdin, "GETPIN").map_err(|e| fail(e.to_string()))?;
    let mut data = None;
    let result = read_reply(&mut data)?;
    let _ = writeln!(stdin, "BYE");
    Ok(result.map(|()| data.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("a%b\nc"), "a%25b%0Ac");
        assert_eq!(unescape("12%2534"), b"12%34");
        assert_eq!(unescape("abc%"), b"abc%");
    }
}
