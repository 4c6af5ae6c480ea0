//! hwsign and other implementations holding each other to the formats: [`ssh`] (OpenSSH
//! through the agent socket), [`openpgp`] (Sequoia's sqv and GnuPG), [`verify`] (`hwsign
//! verify` against signatures other tools made, and other verifiers against hwsign's) and
//! [`verify_hardening`] (forged and edge-case inputs).

mod openpgp;
mod ssh;
mod verify;
mod verify_hardening;
