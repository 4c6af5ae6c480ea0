//! The TOML configuration (`$XDG_CONFIG_HOME/hwsign/config.toml` or `--config`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid config {path}: {detail}\n  hint: see the README's configuration section")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column).
        detail: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PKCS#11 tokens to load.
    #[serde(default, rename = "token")]
    pub tokens: Vec<TokenConfig>,
    /// The key `hwsign sign`/`attest` use when `--key` is not given (a KEY form).
    #[serde(default)]
    pub default_key: Option<String>,
    /// Default package URL for `hwsign attest`'s release predicate.
    #[serde(default)]
    pub purl: Option<String>,
}

/// One PKCS#11 module (and optionally one token of it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Path of the PKCS#11 module.
    pub pkcs11_module: PathBuf,
    /// Only use the token with this label (default: every token of the module).
    #[serde(default)]
    pub token_label: Option<String>,
    /// Read the user PIN from this file (first line).
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
}

impl Config {
    /// The default config path.
    pub fn default_path() -> PathBuf {
        crate::dirs::config_dir().join("config.toml")
    }

    /// Load `path`; a missing default file is an empty config, a missing explicit one an error.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (Self::default_path(), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::parse(&text).map_err(|detail| ConfigError::Parse { path, detail })
    }

    /// Parse config text.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_typos() {
        let c = Config::parse(
            "purl = \"pkg:generic/x@1\"\n[[token]]\npkcs11_module = \"/m.so\"\npin_file = \"/p\"\n",
        )
        .unwrap();
        assert_eq!(c.tokens.len(), 1);
        assert_eq!(c.purl.as_deref(), Some("pkg:generic/x@1"));
        let err = Config::parse("[[token]]\npkcs11_modul = \"/m.so\"\n").unwrap_err();
        assert!(err.contains("pkcs11_modul"), "{err}");
    }
}
