//! Typed errors with a hint for the user, and the wire error codes of `error@hwsign`.

use std::path::PathBuf;

/// Error codes carried by `error@hwsign` replies. Stable: clients match on the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request could not be decoded.
    Malformed,
    /// The frame announced more than the agent accepts (256 KiB).
    FrameTooLarge,
    /// The connection ended in the middle of a frame.
    TruncatedFrame,
    /// An `@hwsign` request the agent does not know.
    UnknownRequest,
    /// A message version the agent does not speak.
    UnsupportedVersion,
    /// No key of the agent matches.
    UnknownKey,
    /// The token holding the key is not reachable.
    TokenAbsent,
    /// The token needs a PIN the agent does not have.
    PinNeeded,
    /// The token rejected the PIN.
    PinWrong,
    /// A policy refused the request.
    PolicyRefused,
    /// The token failed the operation.
    TokenError,
    /// The key cannot do what was asked (scheme, size).
    Unsupported,
    /// The user did not touch the token in time.
    TouchTimeout,
    /// The user declined (confirm dialog, PIN dialog cancelled).
    Denied,
    /// The agent failed internally (audit log, worker gone).
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Malformed,
        ErrorCode::FrameTooLarge,
        ErrorCode::TruncatedFrame,
        ErrorCode::UnknownRequest,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnknownKey,
        ErrorCode::TokenAbsent,
        ErrorCode::PinNeeded,
        ErrorCode::PinWrong,
        ErrorCode::PolicyRefused,
        ErrorCode::TokenError,
        ErrorCode::Unsupported,
        ErrorCode::TouchTimeout,
        ErrorCode::Denied,
        ErrorCode::Internal,
    ];

    /// The number on the wire.
    pub fn as_u32(self) -> u32 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::FrameTooLarge => 2,
            ErrorCode::TruncatedFrame => 3,
            ErrorCode::UnknownRequest => 4,
            ErrorCode::UnsupportedVersion => 5,
            ErrorCode::UnknownKey => 10,
            ErrorCode::TokenAbsent => 11,
            ErrorCode::PinNeeded => 12,
            ErrorCode::PinWrong => 13,
            ErrorCode::PolicyRefused => 14,
            ErrorCode::TokenError => 15,
            ErrorCode::Unsupported => 16,
            ErrorCode::TouchTimeout => 17,
            ErrorCode::Denied => 18,
            ErrorCode::Internal => 20,
        }
    }

    /// The code for a wire number; unknown numbers map to `Internal`.
    pub fn from_u32(n: u32) -> ErrorCode {
        Self::ALL
            .into_iter()
            .find(|c| c.as_u32() == n)
            .unwrap_or(ErrorCode::Internal)
    }

    /// A short stable name, e.g. `unknown-key`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::FrameTooLarge => "frame-too-large",
            ErrorCode::TruncatedFrame => "truncated-frame",
            ErrorCode::UnknownRequest => "unknown-request",
            ErrorCode::UnsupportedVersion => "unsupported-version",
            ErrorCode::UnknownKey => "unknown-key",
            ErrorCode::TokenAbsent => "token-absent",
            ErrorCode::PinNeeded => "pin-needed",
            ErrorCode::PinWrong => "pin-wrong",
            ErrorCode::PolicyRefused => "policy-refused",
            ErrorCode::TokenError => "token-error",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::TouchTimeout => "touch-timeout",
            ErrorCode::Denied => "denied",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An error as it crosses the wire: a code, what happened, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} [{}]{}", code.name(), if hint.is_empty() { String::new() } else { format!("\n  hint: {hint}") })]
pub struct WireError {
    /// The error code.
    pub code: ErrorCode,
    /// What happened.
    pub message: String,
    /// What the user can do about it (may be empty).
    pub hint: String,
}

impl WireError {
    /// Build a wire error.
    pub fn new(code: ErrorCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        WireError {
            code,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Errors of the client side of hwsign (CLI, client, formats).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No agent socket could be found.
    #[error(
        "no hwsign agent found (tried {tried})\n  hint: start one with `hwsign-agent` (or `hwsign-agent --softhsm` for the test token), or set HWSIGN_AUTH_SOCK"
    )]
    NoAgent {
        /// The places looked at.
        tried: String,
    },
    /// Connecting to the agent socket failed.
    #[error(
        "cannot connect to the agent at {path}: {source}\n  hint: is hwsign-agent running? check HWSIGN_AUTH_SOCK"
    )]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The agent answered with an error.
    #[error("the agent refused: {0}")]
    Agent(#[from] WireError),
    /// The agent answered something we do not understand.
    #[error(
        "unexpected answer from the agent: {0}\n  hint: is this an hwsign agent? `hwsign status` shows what answers on the socket"
    )]
    Protocol(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An output exists and `--force` was not given.
    #[error("{0} exists; not overwriting it\n  hint: pass --force to replace it")]
    Exists(PathBuf),
    /// The agent connection broke or the agent stopped answering mid-command.
    #[error(
        "lost the agent at {path}: {detail}\n  hint: is hwsign-agent still running? `hwsign status` shows whether it answers; its log says why it stopped"
    )]
    AgentLost {
        /// The socket path.
        path: PathBuf,
        /// What happened (closed, timed out, the I/O error).
        detail: String,
    },
    /// Talking to the agent failed at the I/O level.
    #[error("agent connection: {0}")]
    Io(#[from] std::io::Error),
    /// The key selection matched nothing or too much.
    #[error("{0}")]
    KeySelection(String),
    /// The user asked for something that cannot work.
    #[error("{0}")]
    Usage(String),
    /// `hwsign verify` did not verify every file (the report says why).
    #[error("not every file is verified (see the report above)")]
    NotVerified,
    /// A format could not be built.
    #[error(transparent)]
    Format(#[from] crate::format::FormatError),
    /// A command stopped part-way: the error, then what was and was not done (`wrote 755 of
    /// 3,000 signatures; not signed: …`).
    #[error("{}", with_summary(source, summary))]
    Unfinished {
        /// What stopped it.
        source: Box<Error>,
        /// What was and was not done.
        summary: String,
    },
    /// Writing to standard output failed (a closed pipe: `hwsign keys | head -1`).
    #[error("standard output: {0}")]
    Stdout(std::io::Error),
    /// An input is a directory, FIFO, device or socket: only regular files are signed.
    #[error(
        "{} is a {kind}, not a regular file\n  hint: hwsign signs regular files only (write a stream to a file first)",
        path.display()
    )]
    NotRegularFile {
        /// The input.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// An input changed (size, times or inode) while it was hashed or read.
    #[error(
        "{} changed while being hashed\n  hint: sign it once whatever writes it has finished",
        .0.display()
    )]
    InputChanged(PathBuf),
    /// An output location cannot take a new file (missing, not a directory, read-only).
    #[error(
        "cannot write to {}: {source}\n  hint: create the directory, or choose an output location hwsign can write to",
        dir.display()
    )]
    OutputDir {
        /// The directory.
        dir: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
}

/// `error` with `summary` added to its first line (before any hint).
fn with_summary(error: &Error, summary: &str) -> String {
    let text = error.to_string();
    match text.split_once('\n') {
        Some((first, rest)) => format!("{first}; {summary}\n{rest}"),
        None => format!("{text}; {summary}"),
    }
}

/// Result with the client-side [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_roundtrip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_u32()));
            assert_eq!(ErrorCode::from_u32(c.as_u32()), c);
        }
    }

    #[test]
    fn wire_error_display_has_hint() {
        let e = WireError::new(ErrorCode::UnknownKey, "no key abc", "run `hwsign keys`");
        assert_eq!(
            e.to_string(),
            "no key abc [unknown-key]\n  hint: run `hwsign keys`"
        );
    }
}
