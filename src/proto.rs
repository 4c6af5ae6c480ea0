//! The `@hwsign` extension messages of the SSH agent protocol: encode and decode only.
//!
//! Standard messages come from `ssh-agent-lib`'s `proto`; this room adds hwsign's own requests
//! (`keys@hwsign`, `sign@hwsign`, `minisign@hwsign`, `status@hwsign`, `generate@hwsign`,
//! `attest@hwsign`), their replies, the `error@hwsign` reply that carries a wire error code,
//! the `query` reply, and frame helpers.
//! Every hwsign message body starts with a `uint32` version. Nothing here does I/O.

pub mod attest;
pub mod error_reply;
pub mod frame;
pub mod generate;
pub mod keys;
pub mod message;
pub mod minisign;
pub mod query;
pub mod reply;
pub mod sign;
pub mod status;
pub mod touch;
pub mod wire;

pub use message::{HwsignMessage, ProtoError};
pub use ssh_agent_lib::proto::{Extension, Request, Response};

/// The version of the hwsign messages this build speaks.
pub const VERSION: u32 = 1;
/// The largest frame (message length) older agents accepted, in bytes: what a client assumes of
/// an agent whose status does not advertise its request limit. Agents now take
/// `[sockets.*] max_request` (see [`crate::config::SocketLimits`]).
pub const MAX_FRAME: usize = 256 * 1024;
/// The standard extension listing supported extensions.
pub const EXT_QUERY: &str = "query";
/// OpenSSH's session-bind extension.
pub const EXT_SESSION_BIND: &str = "session-bind@openssh.com";
