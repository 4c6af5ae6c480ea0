//! The rig of the `hwsign` integration tests (`tests/*/main.rs` in the repository root).
//!
//! * one SoftHSM2 token (three keys, RSA-3072 is slow to generate) is provisioned once per
//!   agent build and shared by every test process through a template directory under the
//!   target's `tmp/`, guarded by an `flock` ([`agent`]);
//! * [`TestEnv`] is a private XDG world (`run/`, `state/`, `config/`, `work/`) holding a copy
//!   of that token; child processes never see the user's `SSH_AUTH_SOCK` / `HWSIGN_AUTH_SOCK`;
//! * [`Agent`] is a running `hwsign-agent --softhsm`, stopped with SIGTERM on drop;
//! * helpers run commands with a timeout and print their output on failure ([`tools`]), write
//!   test files ([`files`]), pin text in snapshots ([`snapshot`]);
//! * the heavier peers: a private sshd ([`sshd`]), a private pcscd with virtual cards
//!   ([`pcsc`], [`cards`]), the scripted pinentry / confirm / notify peers ([`peers`]) and a
//!   private D-Bus session bus with a recording notification server ([`bus`]).
//!
//! The programs under test are found at run time ([`bins`] says how and why).

pub mod agent;
pub mod bins;
pub mod bus;
pub mod cards;
pub mod env;
pub mod files;
pub mod pcsc;
pub mod peers;
pub mod snapshot;
pub mod sshd;
pub mod tools;
pub mod wire;

pub use agent::*;
pub use bins::*;
pub use env::*;
pub use files::*;
pub use pcsc::*;
pub use snapshot::*;
pub use sshd::*;
pub use tools::*;

use std::time::Duration;

/// How long an agent, sshd, pcscd or card may take to come up on a busy 2-core CI machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a process may take to exit after SIGTERM before it is killed (and the test fails
/// where a clean exit is part of what it checks).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for any one command a test runs; beyond it the command is killed and the test
/// fails with its output instead of hanging the suite.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// A file name that must survive every output format and log unchanged.
pub const NON_ASCII_NAME: &str = "paquet-été-ü.tar.gz";
/// Large enough to take several reads and to show streaming, small enough for a busy machine.
pub const BIG_SIZE: usize = 5 * 1024 * 1024;
/// The package URL the attestations of the tests name.
pub const PURL: &str = "pkg:generic/demo@1.0.0";

/// What the provisioned token holds, and how each key is named by other tools.
pub struct KeySpec {
    pub label: &'static str,
    /// `algorithm` in `hwsign keys --json`.
    pub algorithm: &'static str,
    /// OpenSSH key type.
    pub ssh_type: &'static str,
    /// securesystemslib `keytype` / `scheme`.
    pub sslib_keytype: &'static str,
    pub sslib_scheme: &'static str,
}

/// The keys of the SoftHSM token every [`TestEnv`] gets, one per algorithm family.
pub const KEYS: [KeySpec; 3] = [
    KeySpec {
        label: "release-p256",
        algorithm: "ecdsa-p256",
        ssh_type: "ecdsa-sha2-nistp256",
        sslib_keytype: "ecdsa",
        sslib_scheme: "ecdsa-sha2-nistp256",
    },
    KeySpec {
        label: "release-ed25519",
        algorithm: "ed25519",
        ssh_type: "ssh-ed25519",
        sslib_keytype: "ed25519",
        sslib_scheme: "ed25519",
    },
    KeySpec {
        label: "release-rsa3072",
        algorithm: "rsa-3072",
        ssh_type: "ssh-rsa",
        sslib_keytype: "rsa",
        sslib_scheme: "rsa-pkcs1v15-sha256",
    },
];
