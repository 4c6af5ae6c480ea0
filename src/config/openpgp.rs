//! `[[openpgp]]`: the OpenPGP certificate of a token key, named once so that `hwsign-gpg` signs
//! as that certificate (and `-u` can name it by fingerprint, key id or user id) and trusts it
//! when verifying.

use std::path::PathBuf;

use serde::Deserialize;

/// One `[[openpgp]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenpgpCert {
    /// The certificate file (armored or binary; relative paths are relative to the config
    /// file's directory).
    pub cert: PathBuf,
    /// The agent key it certifies (a KEY form); optional, checked when given.
    #[serde(default)]
    pub key: Option<String>,
}
