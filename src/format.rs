//! Output formats, bytes in and bytes out: DSSE envelopes with in-toto statements, SSHSIG,
//! raw signatures, OpenPGP certificates and signatures, and the signature encodings they need (ECDSA DER, SSH). No sockets, no
//! tokens: a format gets its signature from a [`Signer`](crate::client::signer) adapter.

pub mod bundle;
pub mod dsse;
pub mod minisign;
pub mod openpgp;
pub mod raw;
pub mod ssh_signature;
pub mod sshsig;
pub mod statement;
pub mod verifier_material;

/// A format that cannot be built or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A signature's encoding is wrong.
    #[error("malformed signature: {0}")]
    Signature(String),
    /// JSON could not be produced or read.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// ssh-key refused something.
    #[error("SSH encoding: {0}")]
    Ssh(#[from] ssh_key::Error),
    /// Invalid input for the format.
    #[error("{0}")]
    Invalid(String),
}
