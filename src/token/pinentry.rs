//! Asking for a PIN with `pinentry` over its Assuan protocol, on the agent's machine (where the
//! user and the token are). The PIN travels in a zeroizing buffer and is never logged.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use zeroize::Zeroize;

use super::TokenError;
use crate::secret::Pin;

/// Assuan's error code for a cancelled dialog.
const CANCELLED: &str = "83886179";

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

/// Run `program` and ask for a PIN.
pub fn ask(program: &Path, token: &str, dialog: &Dialog<'_>) -> Result<Pin, TokenError> {
    let fail = |what: String| TokenError::Other(format!("pinentry {}: {what}", program.display()));
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
        return Err(fail("no pipes".into()));
    };
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
    writeln!(stdin, "GETPIN").map_err(|e| fail(e.to_string()))?;
    let mut data = None;
    let result = read_reply(&mut data)?;
    let _ = writeln!(stdin, "BYE");
    drop(stdin);
    let _ = child.wait();
    match result {
        Err(e) if e.starts_with(CANCELLED) => Err(TokenError::PinCancelled(token.to_string())),
        Err(e) => Err(fail(e)),
        Ok(()) => {
            let mut bytes = data.unwrap_or_default();
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
