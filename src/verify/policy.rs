//! The trust policy: a TOML file naming signers (a pinned key each, an optional validity
//! window, an optional revocation) and rules (artifact name globs, the signers allowed for
//! them, a k-of-n threshold, the formats and DSSE predicate types that count). Loading checks
//! everything once, so verification never meets a half-valid policy.

mod schema;

use std::path::Path;

use serde::{Deserialize, Serialize};

use sequoia_openpgp::Fingerprint;
use sequoia_openpgp::cert::Cert;

use super::glob;
use super::time::format_rfc3339;
use crate::crypto::pubkey::PublicKey;

/// A signature format a rule can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A DSSE envelope with an in-toto statement.
    Dsse,
    /// A Sigstore bundle (v0.3, public key, DSSE).
    Bundle,
    /// OpenSSH SSHSIG (`FILE.sig`).
    Sshsig,
    /// A raw signature (`FILE.rawsig`).
    Raw,
    /// An OpenPGP detached signature (`FILE.asc`).
    Openpgp,
    /// A minisign signature (`FILE.minisig`).
    Minisign,
}

impl Format {
    /// Every format, the default of a rule.
    pub const ALL: [Format; 6] = [
        Format::Dsse,
        Format::Bundle,
        Format::Sshsig,
        Format::Raw,
        Format::Openpgp,
        Format::Minisign,
    ];

    /// The name used in policies (`dsse`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Dsse => "dsse",
            Format::Bundle => "bundle",
            Format::Sshsig => "sshsig",
            Format::Raw => "raw",
            Format::Openpgp => "openpgp",
            Format::Minisign => "minisign",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A signer's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Why the key was revoked.
    pub reason: String,
    /// When (unix seconds), if the policy says.
    pub time: Option<u64>,
}

/// One key of a signer, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerKey {
    /// The key material.
    pub key: PublicKey,
    /// Its fingerprint in the signer's OpenPGP certificate, for keys that come from one: the
    /// certificate's revocations and expiry of this key then apply to every format.
    pub openpgp: Option<Fingerprint>,
}

/// When OpenPGP signatures are judged: the signer's validity window, the policy's revocation
/// and the certificate's revocations and expiry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenpgpTime {
    /// At the signature's creation time (which the signer chose; it must not be in the
    /// future). The default, as gpg and sqv do.
    #[default]
    Signature,
    /// At the signature's creation time and at the verification time: both must pass. For
    /// users who do not trust signer-chosen times.
    Verification,
}

/// A trusted signer: a name and a pinned key.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The name rules refer to.
    pub name: String,
    /// The pinned key (the primary key of an `openpgp_cert`).
    pub key: PublicKey,
    /// Every key of the signer that verifies DSSE, bundle, SSHSIG and raw signatures: the
    /// pinned key first, then the signing-capable subkeys of its OpenPGP certificate (those
    /// hwsign can represent).
    pub keys: Vec<SignerKey>,
    /// Not valid before this time (unix seconds).
    pub valid_from: Option<u64>,
    /// Not valid from this time on (unix seconds).
    pub valid_until: Option<u64>,
    /// Set when the key is revoked: it then verifies nothing.
    pub revoked: Option<Revocation>,
    /// The signer's OpenPGP certificate, when given.
    pub openpgp_cert: Option<Cert>,
    /// The key's attestation, verified when the policy was loaded (`attestation =
    /// "yubico-piv"`): a signer whose attestation does not hold makes the policy fail to load.
    pub attestation: Option<super::attestation::Attested>,
}

impl Signer {
    /// Why this signer's signatures count for nothing at `now` (revoked, not yet valid,
    /// expired), if they do not.
    pub fn unusable_at(&self, now: u64) -> Option<String> {
        let name = &self.name;
        if let Some(r) = &self.revoked {
            return Some(match r.time {
                Some(t) => format!("{name}: revoked {} ({})", format_rfc3339(t), r.reason),
                None => format!("{name}: revoked ({})", r.reason),
            });
        }
        if let Some(from) = self.valid_from.filter(|&from| now < from) {
            return Some(format!("{name}: not valid until {}", format_rfc3339(from)));
        }
        if let Some(until) = self.valid_until.filter(|&until| now >= until) {
            return Some(format!("{name}: expired {}", format_rfc3339(until)));
        }
        None
    }
}

/// A rule: which signers may sign which artifacts, and how many must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name (`rule N` when the policy gives none).
    pub name: String,
    /// Globs on the artifact's file name.
    pub artifacts: Vec<String>,
    /// The names of the signers allowed.
    pub signers: Vec<String>,
    /// How many distinct allowed signers must have signed.
    pub threshold: usize,
    /// The formats whose signatures count.
    pub formats: Vec<Format>,
    /// The DSSE predicate types that count (`None`: any).
    pub predicate_types: Option<Vec<String>>,
    /// The namespace SSHSIG signatures must have.
    pub sshsig_namespace: String,
}

impl Rule {
    /// Whether the rule covers an artifact with this file name.
    pub fn matches(&self, file_name: &str) -> bool {
        self.artifacts.iter().any(|g| glob::matches(g, file_name))
    }

    /// Whether signatures in `format` count under this rule.
    pub fn accepts_format(&self, format: Format) -> bool {
        self.formats.contains(&format)
    }

    /// Whether a DSSE statement with this predicate type counts under this rule.
    pub fn accepts_predicate(&self, predicate_type: &str) -> bool {
        self.predicate_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == predicate_type))
    }

    /// Whether `signer` is one of the rule's signers.
    pub fn allows(&self, signer: &str) -> bool {
        self.signers.iter().any(|s| s == signer)
    }
}

/// Why a policy could not be loaded. Messages name the file, the line and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy (or a key file it names) could not be read.
    #[error("{}: {source}\n  hint: check the path given to --policy", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML does not parse, or has unknown or missing fields (toml's message has the
    /// line and column).
    #[error("{file}: {message}\n  hint: see docs/verify.md, the trust policy, for the schema")]
    Syntax {
        /// The policy file.
        file: String,
        /// toml's message.
        message: String,
    },
    /// A value is not acceptable.
    #[error("{file}:{line}: {message}\n  hint: {hint}")]
    Invalid {
        /// The policy file.
        file: String,
        /// The line (1-based) of the offending value.
        line: usize,
        /// What is wrong.
        message: String,
        /// What to do about it.
        hint: String,
    },
}

/// A loaded, checked trust policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The signers, in file order.
    pub signers: Vec<Signer>,
    /// The rules, in file order: the first rule matching an artifact decides (a rule that an
    /// earlier one shadows entirely is refused at load).
    pub rules: Vec<Rule>,
    /// When OpenPGP signatures are judged (`openpgp_time`, top level).
    pub openpgp_time: OpenpgpTime,
}

impl Policy {
    /// Read and check the policy at `path`; `key_file`s are relative to its directory.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Policy::from_toml(&text, base, &path.display().to_string())
    }

    /// Parse and check policy text; `base_dir` resolves `key_file`s and `file` names the
    /// policy in messages.
    pub fn from_toml(text: &str, base_dir: &Path, file: &str) -> Result<Policy, PolicyError> {
        schema::parse(text, base_dir, file)
    }

    /// The rule that decides for an artifact with this file name: the first that matches.
    pub fn rule_for(&self, file_name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(file_name))
    }

    /// The index of the signer one of whose keys is `key`.
    pub fn signer_index(&self, key: &PublicKey) -> Option<usize> {
        self.signer_key(key).map(|(s, _)| s)
    }

    /// The signer one of whose keys is `key`, and the index of that key in its
    /// [`Signer::keys`]. Loading makes sure a key belongs to one signer only.
    pub fn signer_key(&self, key: &PublicKey) -> Option<(usize, usize)> {
        self.signers
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.keys.iter().position(|k| k.key == *key).map(|j| (i, j)))
    }
}

/// A public key from policy text: an OpenSSH public key line (comments and blank lines
/// around it allowed), a PEM SubjectPublicKeyInfo, or a PEM PKCS#1 RSA public key.
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    use p256::pkcs8::DecodePublicKey;
    use rsa::pkcs1::DecodeRsaPublicKey;
    let t = text.trim();
    if t.starts_with("-----BEGIN PUBLIC KEY-----") {
        if let Ok(k) = p256::PublicKey::from_public_key_pem(t) {
            return Ok(PublicKey::P256(k));
        }
        if let Ok(k) = p384::PublicKey::from_public_key_pem(t) {
            return Ok(PublicKey::P384(k));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(t) {
            return Ok(PublicKey::Ed25519(k));
        }
        return rsa::RsaPublicKey::from_public_key_pem(t)
            .map(PublicKey::Rsa)
            .map_err(|_| {
                "not a P-256, P-384, Ed25519 or RSA public key in PEM SubjectPublicKeyInfo".into()
            });
    }
    if t.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        return rsa::RsaPublicKey::from_pkcs1_pem(t)
            .map(PublicKey::Rsa)
            .map_err(|e| format!("not a PKCS#1 RSA public key: {e}"));
    }
    if t.starts_with("-----BEGIN") {
        return Err("PEM keys must be public keys (-----BEGIN PUBLIC KEY-----)".into());
    }
    let lines: Vec<&str> = t
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    match lines.as_slice() {
        [line] => PublicKey::from_ssh_line(line).map_err(|e| e.to_string()),
        [] => Err("no key found".into()),
        more => Err(format!("{} keys found; give one per signer", more.len())),
    }
}

#[cfg(test)]
mod tests;
