//! The crypto core every room uses and none owns: signature schemes and hashes ([`scheme`]),
//! public keys and their ids ([`pubkey`]), checking a signature ([`check`]), ECDSA encodings
//! ([`ecdsa`]), what a token's signature is and how it is encoded ([`token_signature`]), and
//! hashing files, streamed and in parallel ([`file_hash`]). It knows no agent, client, token
//! or format.

pub mod check;
pub mod ecdsa;
pub mod file_hash;
pub mod pubkey;
pub mod scheme;
pub mod token_signature;

pub use token_signature::TokenSignature;
