//! hwsign: a hardware-token signing agent for release maintainers.
//!
//! The crate is split into rooms that only talk through narrow doors:
//!
//! - [`proto`]: the `@hwsign` extension messages of the SSH agent protocol, encode and decode
//!   only. No sockets, no tokio. Wire strings are parsed into the domain types here, at the
//!   edge.
//! - [`agent`]: the daemon ([`agent::run`] composes it): listeners and peer checks,
//!   per-connection sessions, the key inventory, policy, prompts, touch, the audit log and the
//!   dispatch of signing requests to token workers.
//! - [`token`]: the [`token::Backend`] trait and its implementations: PKCS#11 through
//!   `cryptoki` (SoftHSM2 test mode, ykcs11, OpenSC), YubiKey PIV and OpenPGP cards over
//!   PC/SC. Each token is owned by one worker thread. Tokens report facts; they pick no wire
//!   codes and encode no signatures.
//! - [`format`]: output formats, bytes in and bytes out: DSSE envelopes with in-toto
//!   statements, SSHSIG, OpenPGP, minisign, Sigstore bundles and raw signatures.
//! - [`client`]: finding and talking to an agent, key selection, writing outputs.
//! - [`verify`]: `hwsign verify`: every format checked against a trust policy (pinned keys per
//!   artifact, validity windows, revocation, k-of-n). Needs no agent and no token.
//! - [`gpg`]: `hwsign-gpg`, the gpg command line release tools call, signing through the agent.
//! - [`cli`]: the clap definitions and the command implementations behind the thin `bin/` mains.
//!
//! Shared ground: [`key`] (what is known about a key, as types), [`signed`] (what a request
//! signs, parsed once), [`crypto`] (schemes, public keys and ids, signature checks, ECDSA
//! encodings, file hashing), [`error`] (typed errors and wire error codes), [`config`] (the
//! TOML config and its `[[key]]` rules), [`dirs`] (XDG paths made 0700), [`secret`] (PIN
//! types), [`pkcs11_uri`] (RFC 7512 URIs), [`keyspec`] (the KEY forms), [`time`] (dates and
//! RFC 3339), [`text`] (escaping what others control before a person or a log reads it) and
//! [`sys`] (the only module allowed `unsafe`).
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
pub mod secret;
pub mod signed;
pub mod subject_name;
pub mod sys;
pub mod text;
pub mod time;
pub mod token;
pub mod verify;
