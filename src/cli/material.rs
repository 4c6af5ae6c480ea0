//! `--emit-verifier-material`: the files a release ships so downstream can pin the key:
//! `hwsign-<label>.pub` (OpenSSH), `.pem` (SPKI), `.allowed_signers` and `.policy.toml`.

use std::path::{Path, PathBuf};

use crate::client::output;
use crate::error::{Error, Result};
use crate::format::verifier_material::{allowed_signers_line, policy_entry};
use crate::proto::keys::KeyEntry;
use crate::pubkey::PublicKey;

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

/// Write the material for `key` into `dir`. A file with the same content already there is left
/// alone (re-running a release is fine); a different one needs `force`.
pub fn emit(dir: &Path, key: &KeyEntry, public: &PublicKey, force: bool) -> Result<Vec<PathBuf>> {
    let base = format!("hwsign-{}", safe(&key.label));
    let principal = if key.label.is_empty() {
        key.id[..16].to_string()
    } else {
        key.label.clone()
    };
    let files = [
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
            policy_entry(&principal, public, &key.label),
        ),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(existing) if existing == text.as_bytes() => {}
            Ok(_) if !force => return Err(Error::Exists(path)),
            _ => output::write_new(&path, text.as_bytes(), true)?,
        }
        written.push(path);
    }
    Ok(written)
}

/// The directory outputs go to: the parent of `path`, or `.`.
pub fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
