//! hwsign with smart cards over PC/SC, end to end on virtual cards (tools/vcard's
//! `hwsign-vcard`: Nitrokey's piv-authenticator dressed as a YubiKey 5, and opcard) behind a
//! private pcscd per test (crates/hwsign-testrig/src/pcsc.rs). Every test has its own pcscd, cards and agent
//! (`hwsign-agent --softhsm` with `pcsc = true`), and checks what it gets with the tools users
//! have: ssh-keygen, openssl, securesystemslib, sqv, gpg, yubico-piv-tool, opensc-tool.
//!
//! * [`piv`]: YubiKey PIV keys (P-256, P-384, RSA-2048) made with yubico-piv-tool are listed
//!   with their slot, policies and key id, and sign SSHSIG, raw, DSSE and through the SSH agent
//!   protocol; a PIN verified once still counts for the next request under PIN policy `once`
//!   (the agent keeps the card's state); `hwsign keys generate --piv` makes a key with the
//!   policies asked for and a self-signed certificate, with the default or a configured
//!   management key (a touch policy makes the card ask for a touch while the certificate is
//!   signed, as a YubiKey does); a YubiKey with firmware before 5.3 (no GET METADATA) is read
//!   from its certificates, with the PIN and touch policy from the config; after another
//!   program selected another of the YubiKey's applets, PIV is selected again and signs; a
//!   key replaced in its slot (with or without a card reset) is never signed for by its old
//!   listing: the agent checks every signature against the key it was asked for.
//! * [`openpgp`]: `hwsign keys generate --openpgp-card` makes the signature key (Ed25519,
//!   P-256, RSA-2048) and stores the fingerprint hwsign's OpenPGP export has; the key signs
//!   SSHSIG, raw, DSSE, OpenPGP (sqv) and through the SSH agent protocol.
//! * [`pins`]: a wrong PIN is reported with the card's retries left and never tried again
//!   (the card's counter proves it); the last try is refused unless `force_last_pin_try`.
//! * [`touch`]: a touch-gated PIV key and an OpenPGP key with UIF wait for the card's touch,
//!   and fail with `touch timed out` without one; a card removed while a signature waits fails
//!   only that request, and once re-inserted signs again without an agent restart; a second
//!   card started while the agent runs appears in `hwsign keys`.
//! * [`interop`]: the same virtual PIV card through ykcs11 (PKCS#11), and listed once when both
//!   paths reach it; gpg (scdaemon with `pcsc-shared`) and hwsign take turns on one OpenPGP
//!   card; scdaemon holding a card exclusively is named, in the signing error too, with the fix.
//! * [`opensc`]: both virtual cards through OpenSC's PKCS#11 module: keys listed with the ids
//!   the PC/SC backends give, labels stable across the login, signatures verified (PIV 9a and
//!   the always-authenticate 9c; an OpenPGP card whose PIN counts for one signature), and a card
//!   pulled out and put back works again without an agent restart.
//!
//! * [`attestation`]: the virtual YubiKey attests a generated key (ATTEST and its f9
//!   certificate, under the runner's test CA); `hwsign keys attest` and
//!   `--emit-verifier-material` write it, and `hwsign verify` with `attestation =
//!   "yubico-piv"` accepts the key with its touch and PIN policy and refuses another touch
//!   policy, another key's attestation and a chain to a root the policy does not trust.
//! * [`hardware`]: the same checks on a real YubiKey and a real OpenPGP card, ignored unless
//!   run with `--run-ignored` and the variables that name the card (never in CI).
//! * [`vcard_rig`]: the rig itself: virtual cards come and go in their readers as pcscd and
//!   the card tools see them.
//! * [`doctor`] and [`init`]: `hwsign doctor` and `hwsign init` with cards present.
//!
//! Needs `target/debug/hwsign-vcard` (`cargo build -p hwsign-vcard`; scripts/test.sh builds it)
//! and the Debian packages pcscd, vsmartcard-vpcd, opensc, opensc-pkcs11, yubico-piv-tool, ykcs11, scdaemon,
//! sqv, openssh-client, openssl. Nothing is skipped: a missing tool fails the test by name.

mod attestation;
mod doctor;
mod hardware;
mod init;
mod interop;
mod openpgp;
mod opensc;
mod pins;
mod piv;
mod touch;
mod vcard_rig;
