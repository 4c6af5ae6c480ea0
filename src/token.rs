//! Token backends: the [`Backend`] trait (enumerate keys, sign, generate), the worker thread
//! that owns each token, and the implementations: PKCS#11 through `cryptoki` (with the
//! SoftHSM2 test token), YubiKey PIV ([`piv`]) and OpenPGP cards ([`openpgp_card`]) over
//! PC/SC. Nothing here knows the agent, the client or the wire: backends report facts (typed
//! key metadata, errors with the call that failed) and the token's own signature.

pub mod backend;
pub mod card_pins;
pub mod card_worker;
pub mod error;
#[cfg(test)]
pub mod memory;
pub mod openpgp_card;
pub mod pcsc_probe;
pub mod pin_source;
pub mod pinentry;
pub mod piv;
pub mod pkcs11;
pub mod pkcs11_lanes;
pub mod pkcs11_objects;
pub mod softhsm;
pub mod worker;

pub use backend::{Backend, GenerateSpec, KeyAttestation, KeyInfo, TokenInfo};
pub use error::TokenError;
pub use worker::TokenHandle;
