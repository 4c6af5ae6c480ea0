//! The crypto core every room uses and none owns: what a token's signature is and how it is
//! encoded.

pub mod token_signature;

pub use token_signature::TokenSignature;
