//! `hwsign sign`: SSHSIG (`FILE.sig`) and raw (`FILE.rawsig`) signatures, one per file. Files are
//! hashed here; only the SSHSIG blob or the digest goes to the agent (raw Ed25519, which signs
//! the file itself, sends the file and is limited to small files).

use std::path::PathBuf;

use super::args::{SignArgs, SignFormat};
use crate::client::{AgentClient, Signer, hash, output, select};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::format::{raw, sshsig};
use crate::proto::scheme::{HashAlg, Scheme};
use crate::pubkey::KeyAlgorithm;

fn display_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Run it.
pub fn run(client: &mut AgentClient, config: &Config, args: SignArgs) -> Result<()> {
    let keys = client.keys()?;
    let key = select::select(&keys, args.key.as_deref(), config.default_key.as_deref())?.clone();
    let suffix = match args.format {
        SignFormat::Sshsig => ".sig",
        SignFormat::Raw => ".rawsig",
    };
    let outputs: Vec<PathBuf> = args
        .files
        .iter()
        .map(|f| output::with_suffix(f, suffix))
        .collect();
    output::check_free(&outputs, args.force)?;
    let mut signer = Signer::new(client, key)?;
    let alg = signer.public.algorithm();
    match args.format {
        SignFormat::Sshsig => {
            let digests = hash::hash_files(&args.files, &[sshsig::MESSAGE_HASH])?;
            let scheme = sshsig::scheme_for(alg);
            for (d, out) in digests.iter().zip(&outputs) {
                let blob = sshsig::signed_data(&args.namespace, &d.digests[0])?;
                let sig = signer.sign_message(scheme, blob, "sshsig", &[display_name(&d.path)])?;
                let armored = sshsig::armor(&signer.public, &args.namespace, scheme, &sig)?;
                output::write_new(out, armored.as_bytes(), args.force)?;
                eprintln!(
                    "wrote {} (SSHSIG, namespace {}, key {})",
                    out.display(),
                    args.namespace,
                    signer.key.label
                );
            }
        }
        SignFormat::Raw => {
            let scheme = raw::scheme_for(alg, args.rsa_pss);
            let digests = if alg == KeyAlgorithm::Ed25519 {
                Vec::new()
            } else {
                hash::hash_files(&args.files, &[HashAlg::Sha256])?
            };
            for (i, (file, out)) in args.files.iter().zip(&outputs).enumerate() {
                let names = [display_name(file)];
                let sig = if scheme == Scheme::Ed25519 {
                    let size = std::fs::metadata(file)
                        .map_err(|source| Error::File {
                            path: file.clone(),
                            source,
                        })?
                        .len();
                    if size > raw::ED25519_MAX_FILE {
                        return Err(Error::Usage(format!(
                            "{} has {size} bytes: raw Ed25519 signs the file itself and is limited to {} bytes\n  hint: use --format sshsig or hwsign attest, which sign a digest",
                            file.display(),
                            raw::ED25519_MAX_FILE
                        )));
                    }
                    let data = std::fs::read(file).map_err(|source| Error::File {
                        path: file.clone(),
                        source,
                    })?;
                    signer.sign_message(scheme, data, "raw", &names)?
                } else {
                    signer.sign_digest(scheme, digests[i].digests[0].clone(), "raw", &names)?
                };
                output::write_new(out, raw::encode(&sig).as_bytes(), args.force)?;
                eprintln!(
                    "wrote {} (raw {scheme}, key {})",
                    out.display(),
                    signer.key.label
                );
            }
        }
    }
    Ok(())
}
