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

/// Undo Assuan's `%XX` escapes; a `%` not followed by two hex digits stays as it is. Works on
/// bytes: a `%` followed by a multi-byte character is no escape (and no char boundary).
fn unescape(s: &str) -> Vec<u8> {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if let [b'%', hi, lo, ..] = b[i..]
            && let (Some(hi), Some(lo)) = (hex(hi), hex(lo))
        {
            out.push((hi << 4) | lo);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// One line of pinentry's Assuan reply, as the conversation reads it.
#[derive(PartialEq, Eq)]
pub enum Line {
    /// `OK` (with or without a comment): the command is done.
    Ok,
    /// `ERR <code> <text>`: the command failed; the code and text.
    Err(String),
    /// `D <data>`: percent-escaped data (the PIN), unescaped.
    Data(Vec<u8>),
    /// Anything else (comments, status lines): skipped.
    Other,
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Ok => f.write_str("Ok"),
            Line::Err(e) => f.debug_tuple("Err").field(e).finish(),
            // The data is the PIN: never shown.
            Line::Data(d) => write!(f, "Data(<{} bytes>)", d.len()),
            Line::Other => f.write_str("Other"),
        }
    }
}

/// Read one line of pinentry's reply (its line ending, if any, is ignored).
pub fn parse_line(line: &str) -> Line {
    let l = line.trim_end_matches(['\r', '\n']);
    if l == "OK" || l.starts_with("OK ") {
        Line::Ok
    } else if let Some(err) = l.strip_prefix("ERR ") {
        Line::Err(err.to_string())
    } else if let Some(d) = l.strip_prefix("D ") {
        Line::Data(unescape(d))
    } else {
        Line::Other
    }
}

/// What the dialog says.
pub struct Dialog<'a> {
    /// The description (token and request).
    pub description: &'a str,
    /// An error line above it (e.g. the previous PIN was wrong), if any.
    pub error: Option<&'a str>,
}

/// PIN dialogs open now (any token): a token silent behind one is not waiting for a touch.
static OPEN_DIALOGS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether a PIN dialog is open (the agent's delayed touch notice waits for it to close).
pub fn dialog_open() -> bool {
    OPEN_DIALOGS.load(Ordering::SeqCst) > 0
}

struct OpenDialog;

impl OpenDialog {
    fn new() -> Self {
        OPEN_DIALOGS.fetch_add(1, Ordering::SeqCst);
        OpenDialog
    }
}

impl Drop for OpenDialog {
    fn drop(&mut self) {
        OPEN_DIALOGS.fetch_sub(1, Ordering::SeqCst);
    }
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
    let _open = OpenDialog::new();
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
            let parsed = parse_line(&line);
            line.zeroize();
            match parsed {
                Line::Ok => return Ok(Ok(())),
                Line::Err(err) => return Ok(Err(err)),
                Line::Data(d) => *data = Some(d),
                Line::Other => {}
            }
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
        assert_eq!(unescape("%0a%FF%zz%+1"), b"\n\xff%zz%+1");
    }

    /// Found by the pinentry_line fuzz target: a `%` followed by a character of more than one
    /// byte made the unescaping slice a string inside that character, and panic.
    #[test]
    fn escape_before_a_multibyte_character() {
        assert_eq!(
            parse_line("D 1233%)\u{2d6}b%0A\n"),
            Line::Data("1233%)\u{2d6}b\n".as_bytes().to_vec())
        );
        assert_eq!(unescape("%a\u{e9}"), "%a\u{e9}".as_bytes());
        assert_eq!(unescape("%\u{e9}"), "%\u{e9}".as_bytes());
    }

    #[test]
    fn reply_lines() {
        assert_eq!(parse_line("OK Pleased to meet you\n"), Line::Ok);
        assert_eq!(parse_line("OK"), Line::Ok);
        assert_eq!(parse_line("OKAY"), Line::Other);
        assert_eq!(
            parse_line("ERR 83886179 Operation cancelled <Pinentry>\r\n"),
            Line::Err("83886179 Operation cancelled <Pinentry>".into())
        );
        assert_eq!(parse_line("D 12%2534\n"), Line::Data(b"12%34".to_vec()));
        assert_eq!(parse_line("# a comment"), Line::Other);
        assert_eq!(parse_line("S PASSWORD_FROM_CACHE"), Line::Other);
        assert_eq!(format!("{:?}", parse_line("D 1234")), "Data(<4 bytes>)");
    }
}
