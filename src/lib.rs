//! hwsign: a hardware-token signing agent for release maintainers.
//!
//! The crate is split into rooms that only talk through narrow doors:
//!
//! - [`proto`]: the `@hwsign` extension messages of the SSH agent protocol, encode and decode
//!   only. No sockets, no tokio.
//! - [`agent`]: the daemon: listeners and peer checks, per-connection sessions, the key
//!   inventory and the dispatch of signing requests to token workers.
//! - [`token`]: the [`token::Backend`] trait and its implementations (PKCS#11 through
//!   `cryptoki`, the SoftHSM2 test mode). Each token is owned by one worker thread.
//! - [`format`]: output formats, bytes in and bytes out: DSSE envelopes with in-toto
//!   statements, SSHSIG, raw signatures, and the signature encodings they need.
//! - [`client`]: finding and talking to an agent, hashing files, key selection, writing outputs.
//! - [`verify`]: `hwsign verify`: every format checked against a trust policy (pinned keys per
//!   artifact, validity windows, revocation, k-of-n). Needs no agent and no token.
//! - [`gpg`]: `hwsign-gpg`, the gpg command line release tools call, signing through the agent.
//! - [`cli`]: the clap definitions and the command implementations behind the thin `bin/` mains.
//!
//! Shared ground: [`error`] (typed errors and wire error codes), [`config`] (the TOML
//! config), [`dirs`] (XDG paths made 0700), [`secret`] (PIN types), [`pubkey`] (public keys,
//! SPKI, SSH encodings and key ids), [`pkcs11_uri`] (RFC 7512 URIs), [`keyspec`] (the KEY forms), [`time`] (dates and RFC 3339), [`text`] (escaping what others control before a person or a log reads it) and [`sys`] (the only module allowed `unsafe`).
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod agent;
pub mod cli;
pub mod client;
pub mod config;
pub mod crypto;
pub mod dirs;
pub mod error;
pub mod format;
pub mod gpg;
pub mod key;
pub mod keyspec;
pub mod pkcs11_uri;
pub mod proto;
pub mod pubkey;
pub mod secret;
pub mod signed;
pub mod sys;
pub mod text;
pub mod time;
pub mod token;
pub mod verify;
