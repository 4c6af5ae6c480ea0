//! Per-socket connection limits and the agent's bounded waits. No client, local or forwarded,
//! may make the agent unresponsive to others: every connection has a budget slot, an idle
//! timeout, and a deadline for each frame it starts; the extra socket has its own budget so a
//! remote host cannot starve the local socket. Written in the config as
//! `[sockets.main]` / `[sockets.extra]` tables; the defaults are in [`SocketLimits::main`]
//! and [`SocketLimits::extra`].

use std::time::Duration;

use serde::Deserialize;

use super::{ByteSize, Duration as ConfDuration};

/// The main socket's default request limit: a DSSE statement of 100,000 subjects with
/// 255-byte names (about 36 MB of JSON) fits with room to spare.
pub const MAIN_MAX_REQUEST: usize = 64 * 1024 * 1024;
/// The extra (forwarded) socket's default request limit: smaller, since a remote host should
/// not make the agent hold much memory (about 20,000 subjects with 255-byte names).
pub const EXTRA_MAX_REQUEST: usize = 8 * 1024 * 1024;

/// The limits of one listener, resolved from the config and the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketLimits {
    /// Connections served at once. When a new one arrives with the budget full, the connection
    /// idle the longest is closed for it; when none is idle, the new one is refused.
    pub max_connections: usize,
    /// A connection with no request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// Every frame may take this long, plus its announced length at `min_frame_rate`.
    pub frame_timeout: Duration,
    /// The slowest a started frame may arrive, in bytes per second (a slow forwarded link
    /// still gets a large signing request through; a client trickling bytes does not hold a
    /// slot for long).
    pub min_frame_rate: u64,
    /// The largest request (frame) accepted.
    pub max_request: usize,
}

impl SocketLimits {
    /// The defaults of `agent.sock`.
    pub const fn main() -> Self {
        SocketLimits {
            max_connections: 64,
            idle_timeout: Duration::from_secs(120),
            frame_timeout: Duration::from_secs(10),
            min_frame_rate: 16 * 1024,
            max_request: MAIN_MAX_REQUEST,
        }
    }

    /// The defaults of `agent.extra.sock` (the forwarded one: a smaller budget).
    pub const fn extra() -> Self {
        SocketLimits {
            max_connections: 16,
            idle_timeout: Duration::from_secs(60),
            frame_timeout: Duration::from_secs(10),
            min_frame_rate: 8 * 1024,
            max_request: EXTRA_MAX_REQUEST,
        }
    }

    /// How long a frame of `len` bytes may take from its first byte.
    pub fn frame_deadline(&self, len: usize) -> Duration {
        let rate = self.min_frame_rate.max(1);
        self.frame_timeout + Duration::from_millis((len as u64).saturating_mul(1000) / rate)
    }

    fn with(mut self, c: &SocketConfig) -> Self {
        if let Some(n) = c.max_connections {
            self.max_connections = n.max(1);
        }
        if let Some(d) = c.idle_timeout {
            self.idle_timeout = d.0;
        }
        if let Some(d) = c.frame_timeout {
            self.frame_timeout = d.0;
        }
        if let Some(r) = c.min_frame_rate {
            self.min_frame_rate = r.0.max(1);
        }
        if let Some(m) = c.max_request {
            self.max_request = usize::try_from(m.0).unwrap_or(usize::MAX).max(16);
        }
        self
    }
}

/// One `[sockets.*]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketConfig {
    /// Connections served at once.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Close a connection with no request in progress after this long.
    #[serde(default)]
    pub idle_timeout: Option<ConfDuration>,
    /// The base time a frame may take once its first byte arrived.
    #[serde(default)]
    pub frame_timeout: Option<ConfDuration>,
    /// Bytes per second a started frame must at least arrive at (`"16KiB"`).
    #[serde(default)]
    pub min_frame_rate: Option<ByteSize>,
    /// The largest request accepted (`"256KiB"`).
    #[serde(default)]
    pub max_request: Option<ByteSize>,
}

/// The `[sockets]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketsConfig {
    /// `agent.sock`.
    #[serde(default)]
    pub main: SocketConfig,
    /// `agent.extra.sock`.
    #[serde(default)]
    pub extra: SocketConfig,
}

impl SocketsConfig {
    /// The main socket's limits.
    pub fn main(&self) -> SocketLimits {
        SocketLimits::main().with(&self.main)
    }

    /// The extra socket's limits.
    pub fn extra(&self) -> SocketLimits {
        SocketLimits::extra().with(&self.extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_deadlines() {
        let c: SocketsConfig = toml::from_str(
            "[main]\nidle_timeout = \"2s\"\nmax_connections = 3\n[extra]\nmin_frame_rate = \"1KiB\"\n",
        )
        .unwrap();
        assert_eq!(c.main().idle_timeout, Duration::from_secs(2));
        assert_eq!(c.main().max_connections, 3);
        assert_eq!(c.main().frame_timeout, SocketLimits::main().frame_timeout);
        assert_eq!(c.extra().min_frame_rate, 1024);
        assert_eq!(
            c.extra().frame_deadline(10 * 1024),
            Duration::from_secs(20),
            "10 s base plus 10 KiB at 1 KiB/s"
        );
        assert!(toml::from_str::<SocketsConfig>("[main]\nidle = 1\n").is_err());
    }

    /// The main socket takes a statement of 100,000 subjects with 255-byte names; the
    /// forwarded one takes less.
    #[test]
    fn request_limits_fit_a_large_release() {
        let name = "n".repeat(255);
        let subject = format!(
            "{{\"name\":\"{name}\",\"digest\":{{\"sha256\":\"{}\"}}}},",
            "0".repeat(64)
        );
        let statement = 100_000 * subject.len() + 4096;
        assert!(statement < SocketLimits::main().max_request, "{statement}");
        assert!(SocketLimits::extra().max_request < SocketLimits::main().max_request);
        assert!(SocketLimits::extra().max_request >= crate::proto::MAX_FRAME);
    }
}
