//! `--emit-verifier-material`: the files a release ships so downstream can pin the key:
//! `hwsign-<label>.pub` (OpenSSH), `.pem` (SPKI), `.allowed_signers` and `.policy.toml`.

use std::path::{Path, PathBuf};

use crate::client::output;
use crate::crypto::pubkey::PublicKey;
use crate::error::{Error, Result};
use crate::format::verifier_material::{allowed_signers_line, policy_entry};
use crate::key::KeyMeta;

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

/// The material files for `key`: (file name, contents).
fn files(key: &KeyMeta, public: &PublicKey) -> [(String, String); 4] {
    let base = format!("hwsign-{}", safe(&key.label));
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
            policy_entry(&principal, public, &key.label),
        ),
    ]
}

/// Check, before anything is signed, that [`emit`] will succeed: `dir` takes new files, and
/// each material file is absent, the same already, or replaceable (`force`, not a directory).
pub fn check(dir: &Path, key: &KeyMeta, public: &PublicKey, force: bool) -> Result<()> {
    output::check_dir_writable(dir)?;
    for (name, text) in files(key, public) {
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
            Ok(_) if force || same(&path, &text) => {}
            Ok(_) => return Err(Error::Exists(path)),
        }
    }
    Ok(())
}

/// Write the material for `key` into `dir`. A file with the same content already there is left
/// alone (re-running a release is fine); a different one needs `force`.
pub fn emit(dir: &Path, key: &KeyMeta, public: &PublicKey, force: bool) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, text) in files(key, public) {
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
