//! The certificates hwsign-gpg knows: `[[openpgp]]` entries of the config and every
//! certificate file in `$XDG_CONFIG_HOME/hwsign/openpgp/` (where `hwsign keys export --format
//! openpgp -o …` can put them). They name the token keys for `-u`, and they are the only
//! certificates `--verify` trusts.

use std::path::{Path, PathBuf};

use sequoia_openpgp::Cert;
use sequoia_openpgp::cert::CertParser;
use sequoia_openpgp::parse::Parse;

use crate::config::Config;
use crate::error::{Error, Result};

/// A certificate and where it came from.
#[derive(Debug, Clone)]
pub struct Known {
    /// The certificate.
    pub cert: Cert,
    /// Its serialized form (for [`crate::format::openpgp::signing_key_in`]).
    pub bytes: Vec<u8>,
    /// The file it was read from.
    pub path: PathBuf,
    /// The agent key the config says it certifies (`[[openpgp]] key`).
    pub key: Option<String>,
}

/// The directory of certificate files read without configuration.
pub fn cert_dir() -> PathBuf {
    crate::dirs::config_dir().join("openpgp")
}

fn read_file(path: &Path, key: Option<&String>, out: &mut Vec<Known>) -> Result<()> {
    use sequoia_openpgp::serialize::SerializeInto;
    let bytes = std::fs::read(path).map_err(|source| Error::File {
        path: path.to_path_buf(),
        source,
    })?;
    let parser = CertParser::from_bytes(&bytes).map_err(|e| {
        Error::Usage(format!(
            "{}: not an OpenPGP certificate: {e}",
            path.display()
        ))
    })?;
    for cert in parser {
        let cert = cert.map_err(|e| {
            Error::Usage(format!(
                "{}: not an OpenPGP certificate: {e}",
                path.display()
            ))
        })?;
        let bytes = cert
            .to_vec()
            .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
        out.push(Known {
            cert,
            bytes,
            path: path.to_path_buf(),
            key: key.cloned(),
        });
    }
    Ok(())
}

/// The certificates of one file (a `--cert`).
pub fn read_into(path: &Path, out: &mut Vec<Known>) -> Result<()> {
    read_file(path, None, out)
}

/// Every certificate of the config (`base` resolves relative paths) and of [`cert_dir`].
pub fn load(config: &Config, base: &Path) -> Result<Vec<Known>> {
    let mut out = Vec::new();
    for entry in &config.openpgp {
        let path = base.join(&entry.cert);
        read_file(&path, entry.key.as_ref(), &mut out)?;
    }
    let dir = cert_dir();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "asc" || x == "pgp" || x == "gpg")
            })
            .collect();
        files.sort();
        for f in files {
            read_file(&f, None, &mut out)?;
        }
    }
    // One entry per certificate (the config and the directory may both name it).
    let mut seen = std::collections::HashSet::new();
    out.retain(|k| seen.insert(k.cert.fingerprint()));
    Ok(out)
}

/// Whether `spec` (a `-u` value) names `cert` the way gpg does: a v4 fingerprint, a long or
/// short key id (of the primary key or a subkey, `0x` and a trailing `!` allowed), `<e-mail>`
/// exactly, `=user id` exactly, `@part` of an e-mail, or else a case-insensitive part of a
/// user id.
pub fn matches(cert: &Cert, spec: &str) -> bool {
    let s = spec.trim();
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
        .trim_end_matches('!');
    if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let hex = hex.to_ascii_uppercase();
        let by_key = cert.keys().any(|ka| {
            let fpr = ka.key().fingerprint().to_hex();
            match hex.len() {
                40 | 64 => fpr == hex,
                16 | 8 => fpr.ends_with(&hex),
                _ => false,
            }
        });
        if by_key || matches!(hex.len(), 8 | 16 | 40 | 64) {
            return by_key;
        }
    }
    let uids: Vec<String> = cert
        .userids()
        .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
        .collect();
    if let Some(exact) = s.strip_prefix('=') {
        return uids.iter().any(|u| u == exact);
    }
    if s.starts_with('<') && s.ends_with('>') {
        let want = s.to_lowercase();
        return uids.iter().any(|u| u.to_lowercase().contains(&want));
    }
    let want = s.strip_prefix('@').unwrap_or(s).to_lowercase();
    !want.is_empty() && uids.iter().any(|u| u.to_lowercase().contains(&want))
}

/// The primary user id of a certificate (or its fingerprint), for messages and status lines.
pub fn display_uid(cert: &Cert) -> String {
    let policy = sequoia_openpgp::policy::StandardPolicy::new();
    if let Ok(vc) = cert.with_policy(&policy, None)
        && let Ok(u) = vc.primary_userid()
    {
        return String::from_utf8_lossy(u.userid().value()).into_owned();
    }
    cert.userids()
        .next()
        .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
        .unwrap_or_else(|| cert.fingerprint().to_hex())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sequoia_openpgp::cert::CertBuilder;

    #[test]
    fn gpg_forms() {
        let (cert, _) = CertBuilder::general_purpose(Some("Jane Doe <jane@example.org>"))
            .generate()
            .unwrap();
        let fpr = cert.fingerprint().to_hex();
        let long = &fpr[24..];
        let short = &fpr[32..];
        for spec in [
            fpr.clone(),
            fpr.to_lowercase(),
            format!("0x{long}"),
            format!("{long}!"),
            short.to_string(),
            "<jane@example.org>".into(),
            "=Jane Doe <jane@example.org>".into(),
            "@example.org".into(),
            "jane doe".into(),
        ] {
            assert!(matches(&cert, &spec), "{spec}");
        }
        for spec in [
            "0000000000000000",
            "<jane@example>",
            "=Jane Doe",
            "john",
            "",
        ] {
            assert!(!matches(&cert, spec), "{spec}");
        }
    }
}
