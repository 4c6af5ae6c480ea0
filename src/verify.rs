//! Verification of hwsign's formats (and the same formats made by other tools) against a trust
//! policy. Needs no agent and no token: everything here is files in, verdicts out.
//!
//! - [`policy`]: the trust policy TOML (signers with keys, validity windows and revocations;
//!   rules with artifact globs, allowed signers, a threshold, formats and predicate types).
//! - [`engine`]: the entry point, [`engine::verify`]: reads the envelope or signature files,
//!   hashes the artifacts and applies the policy's rules.
//! - [`report`]: the verdict per artifact, for humans and as JSON.
//! - [`attestation`]: a signer's key attestation (YubiKey PIV), checked when the policy loads.
//! - [`dsse`], [`bundle`], [`sshsig`], [`raw`], [`openpgp`]: one reader/verifier per format.
//! - [`crypto`]: signature checks over a message or a SHA-256 prehash for every key type.
//! - [`glob`] and [`time`]: the artifact name globs and RFC 3339 times of the policy.
//!
//! Semantics: a revoked key verifies nothing; a signer's `openpgp_cert` makes every
//! signing-capable key of the certificate (primary and subkeys) that signer's, in every format,
//! and its revocations and expiry apply to every format; a key belongs to one signer only.
//! When signatures are judged (see [`engine`] for the full rule): DSSE, bundles, SSHSIG and raw
//! signatures carry no signing time and are judged at the verification time; OpenPGP signatures
//! at their creation time, which must not be later than the verification time plus
//! [`openpgp::CLOCK_SKEW`] (and also at the verification time with the policy's
//! `openpgp_time = "verification"`). An artifact that matches no rule is not verified; a signer
//! counts once per artifact however many signatures it made; each artifact is read once and
//! every signature over it is checked against that content; Sigstore transparency logs are not
//! checked (bundles must not carry entries).

pub mod attestation;
pub mod bundle;
pub mod dsse;
pub mod engine;
pub mod glob;
pub mod minisign;
pub mod openpgp;
pub mod policy;
pub mod raw;
pub mod report;
pub mod sshsig;

/// RFC 3339 times (shared with the rest of the crate).
pub use crate::time;

#[cfg(test)]
pub(crate) mod testutil;

use std::path::PathBuf;

pub use engine::{VerifyInput, verify};
pub use policy::Policy;
pub use report::ArtifactVerdict;

/// Why a signature, an envelope or an artifact was not accepted. The message is what the
/// verdict shows as the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input is not well-formed.
    #[error("{what} is malformed: {detail}")]
    Malformed {
        /// What was being read (`DSSE envelope`, `x.sig`).
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The input is well-formed but refused: duplicated, ambiguous, unsupported.
    #[error("{0}")]
    Refused(String),
    /// The DSSE payload is not an in-toto statement.
    #[error("payloadType is {found}, expected {expected}")]
    PayloadType {
        /// The envelope's payloadType.
        found: String,
        /// The one accepted.
        expected: &'static str,
    },
    /// No key of the policy made the signature.
    #[error("signature by unknown key {0}")]
    UnknownKey(String),
    /// The key of the policy did not verify the signature.
    #[error("{0}")]
    BadSignature(String),
    /// The statement has no subject with the artifact's name.
    #[error("no subject named {0} in the statement")]
    NoSubject(String),
    /// Several subjects have the artifact's name.
    #[error("{0} is ambiguous: {1} subjects have that name")]
    AmbiguousSubject(String, usize),
    /// The artifact's SHA-256 differs from the subject's.
    #[error("subject digest mismatch for {0}")]
    DigestMismatch(String),
}

impl VerifyError {
    /// A [`VerifyError::Malformed`].
    pub fn malformed(what: impl Into<String>, detail: impl ToString) -> Self {
        VerifyError::Malformed {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}
