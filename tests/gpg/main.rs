//! `hwsign-gpg`, the gpg command line for release tools: [`frontend`] (git, gpg's own
//! verification, the status protocol), [`release_tools`] (rpmsign, debsign and friends) and
//! [`apt_repos`] (repositories signed through it and read by `apt-get update`).

mod apt_repos;
mod frontend;
mod release_tools;

/// The binary under test; the rig does not start it, so `env!` names it directly.
const GPG_BIN: &str = env!("CARGO_BIN_EXE_hwsign-gpg");
