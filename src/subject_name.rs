//! How a file is named in an in-toto statement under a base directory: its path below the
//! base, components joined with `/`. `hwsign attest --base` names subjects so and `hwsign
//! verify --base` finds them so: one rule, or an attestation would not verify.

use std::path::{Component, Path};

/// Why a path has no subject name under a base.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    /// The path or the base could not be made absolute.
    #[error("{0}")]
    Absolute(#[from] std::io::Error),
    /// The path is not below the base.
    #[error("is not under the base directory")]
    NotUnder,
    /// Below the base, the path climbs out with `..`.
    #[error("its name under the base directory climbs out with `..`")]
    Climbs,
    /// A component is not UTF-8 (in-toto names are strings).
    #[error("the name is not UTF-8; in-toto subject names must be")]
    NotUtf8,
    /// The path is the base itself.
    #[error("is the base directory itself")]
    Base,
}

/// The subject name of `path` under `base`.
pub fn under(path: &Path, base: &Path) -> Result<String, NameError> {
    let (p, b) = (std::path::absolute(path)?, std::path::absolute(base)?);
    let rel = p.strip_prefix(&b).map_err(|_| NameError::NotUnder)?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_str().ok_or(NameError::NotUtf8)?),
            Component::CurDir => {}
            _ => return Err(NameError::Climbs),
        }
    }
    if parts.is_empty() {
        return Err(NameError::Base);
    }
    Ok(parts.join("/"))
}
