//! Token backends: the [`Backend`] trait (enumerate keys, sign, generate), the worker thread
//! that owns each token, and the implementations: PKCS#11 through `cryptoki` and the SoftHSM2
//! test token. Nothing here knows the agent or the client.

pub mod backend;
pub mod card_pins;
pub mod error;
pub mod openpgp_card;
pub mod pcsc_probe;
pub mod pin_source;
pub mod pinentry;
pub mod piv;
pub mod pkcs11;
pub mod pkcs11_objects;
pub mod softhsm;
pub mod worker;

pub use backend::{Backend, GenerateSpec, KeyInfo, TokenInfo};
pub use error::TokenError;
pub use worker::TokenHandle;
