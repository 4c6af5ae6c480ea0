//! `--emit-verifier-material`: the files a release ships so downstream can pin the key:
//! `hwsign-<label>.pub` (OpenSSH), `.pem` (SPKI), `.allowed_signers` and `.policy.toml`, and
//! for a YubiKey PIV key `.attestation.pem` (the token's proof that it made the key, for a
//! policy's `attestation = "yubico-piv"`).

use std::path::{Path, PathBuf};

use crate::client::AgentClient;
use crate::client::output;
use crate::crypto::pubkey::PublicKey;
use crate::error::{Error, Result};
use crate::format::verifier_material::{allowed_signers_line, policy_entry};
use crate::key::{BackendKind, KeyMeta};

fn safe(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `path` is a regular file (a FIFO is never read) holding `text`.
fn same(path: &Path, text: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && std::fs::read(path).is_ok_and(|existing| existing == text.as_bytes())
}

fn base(key: &KeyMeta) -> String {
    format!("hwsign-{}", safe(&key.label))
}

/// The attestation file's name, for keys a token can attest (YubiKey PIV).
fn attestation_name(key: &KeyMeta) -> Option<String> {
    (key.backend == BackendKind::Piv).then(|| format!("{}.attestation.pem", base(key)))
}

/// The token's attestation of `key`, as PEM, for the material: only YubiKey PIV keys have
/// one; when the agent cannot give it (firmware without attestation, an imported key, an older
/// agent) the material goes without it, and the user is told why.
pub fn attestation(client: &mut AgentClient, key: &KeyMeta) -> Option<String> {
    attestation_name(key)?;
    match super::keys::attestation_pem(client, key) {
        Ok(pem) => Some(pem),
        Err(e) => {
            eprintln!(
                "note: no attestation in the verifier material: {}",
                crate::text::message(&e.to_string())
            );
            None
        }
    }
}

/// An attestation file already there attests `public` (attestations differ on every call:
/// the certificate serial is random; one for the same key is as good).
fn attests(path: &Path, public: &PublicKey) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && std::fs::read_to_string(path).is_ok_and(|text| {
            crate::verify::attestation::pem_certificates(&text, "")
                .ok()
                .and_then(|certs| certs.first()?.public_key().ok())
                .is_some_and(|k| k == *public)
        })
}

/// The material files for `key`: (file name, contents).
fn files(key: &KeyMeta, public: &PublicKey, attested: bool) -> [(String, String); 4] {
    let base = base(key);
    let principal = if key.label.is_empty() {
        key.id[..16].to_string()
    } else {
        key.label.clone()
    };
    [
        (
            format!("{base}.pub"),
            format!("{}\n", public.ssh_line(&key.label)),
        ),
        (format!("{base}.pem"), public.to_pem()),
        (
            format!("{base}.allowed_signers"),
            allowed_signers_line(&principal, public),
        ),
        (
            format!("{base}.policy.toml"),
            policy_entry(&principal, public, &key.label) + &attestation_hint(key, attested),
        ),
    ]
}

/// For an attested key: the policy lines that require the attestation, commented out (they
/// need the attestation file next to the policy).
fn attestation_hint(key: &KeyMeta, attested: bool) -> String {
    match attestation_name(key).filter(|_| attested) {
        Some(name) => format!(
            "# The key is attested by its YubiKey; to require it (see docs/verify.md):\n\
             # attestation = \"yubico-piv\"\n# attestation_file = \"{name}\"\n\
             # touch_policy = \"{}\"\n",
            key.touch
        ),
        None => String::new(),
    }
}

/// Check, before anything is signed, that [`emit`] will succeed: `dir` takes new files, and
/// each material file is absent, the same already, or replaceable (`force`, not a directory).
pub fn check(dir: &Path, key: &KeyMeta, public: &PublicKey, force: bool) -> Result<()> {
    output::check_dir_writable(dir)?;
    if let Some(name) = attestation_name(key) {
        let path = dir.join(name);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::File { path, source }),
            Ok(meta) if meta.is_dir() => {
                return Err(Error::File {
                    path,
                    source: std::io::Error::from_raw_os_error(libc::EISDIR),
                });
            }
            Ok(_) if force || attests(&path, public) => {}
            Ok(_) => return Err(Error::Exists(path)),
        }
    }
    // The policy entry differs with and without an attestation: either is fine here.
    for (name, text) in files(key, public, false)
        .into_iter()
        .zip(files(key, public, true))
        .map(|(a, b)| (a.0, [a.1, b.1]))
    {
        let path = dir.join(name);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Error::File { path, source }),
            Ok(meta) if meta.is_dir() => {
                return Err(Error::File {
                    path,
                    source: std::io::Error::from_raw_os_error(libc::EISDIR),
                });
            }
            Ok(_) if force || text.iter().any(|t| same(&path, t)) => {}
            Ok(_) => return Err(Error::Exists(path)),
        }
    }
    Ok(())
}

/// Write the material for `key` into `dir`, with its `attestation` (PEM, from [`attestation`])
/// when there is one. A file with the same content already there is left alone (re-running a
/// release is fine; so is an attestation of the same key); a different one needs `force`.
pub fn emit(
    dir: &Path,
    key: &KeyMeta,
    attestation: Option<&str>,
    force: bool,
) -> Result<Vec<PathBuf>> {
    let public = &key.public;
    let mut written = Vec::new();
    if let (Some(name), Some(pem)) = (attestation_name(key), attestation) {
        let path = dir.join(name);
        if !attests(&path, public) {
            if !force && std::fs::symlink_metadata(&path).is_ok() {
                return Err(Error::Exists(path));
            }
            output::write_new(&path, pem.as_bytes(), true)?;
        }
        written.push(path);
    }
    for (name, text) in files(key, public, attestation.is_some()) {
        let path = dir.join(name);
        if !same(&path, &text) {
            if !force && std::fs::symlink_metadata(&path).is_ok() {
                return Err(Error::Exists(path));
            }
            output::write_new(&path, text.as_bytes(), true)?;
        }
        written.push(path);
    }
    Ok(written)
}

/// The directory outputs go to: the parent of `path`, or `.`.
pub fn dir_of(path: &Path) -> PathBuf {
    output::dir_of(path)
}
