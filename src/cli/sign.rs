//! `hwsign sign`: SSHSIG (`FILE.sig`), raw (`FILE.rawsig`) and OpenPGP (`FILE.asc`) signatures,
//! one per file. Files are hashed here; only the SSHSIG blob or the digest goes to the agent
//! (raw Ed25519, which signs the file itself, sends the file and is limited to small files).

use std::path::PathBuf;

use super::args::{SignArgs, SignFormat};
use crate::client::{AgentClient, Signer, hash, output, select};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::format::{raw, sshsig};
use crate::proto::scheme::{HashAlg, Scheme};

/// The key that signed, for `--emit-verifier-material`.
type Material = (crate::proto::keys::KeyEntry, crate::pubkey::PublicKey);

fn display_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Run it.
pub fn run(client: &mut AgentClient, config: &Config, args: SignArgs) -> Result<()> {
    if args.format != SignFormat::Openpgp && args.cert.is_some() {
        return Err(Error::Usage("--cert is for --format openpgp".into()));
    }
    let suffix = match args.format {
        SignFormat::Sshsig => ".sig",
        SignFormat::Raw => ".rawsig",
        SignFormat::Openpgp => ".asc",
    };
    let outputs: Vec<PathBuf> = args
        .files
        .iter()
        .map(|f| output::with_suffix(f, suffix))
        .collect();
    output::check_free(&outputs, args.force)?;
    let (key, public) = match args.format {
        SignFormat::Sshsig => sshsig_files(client, config, &args, &outputs)?,
        SignFormat::Raw => raw_files(client, config, &args, &outputs)?,
        SignFormat::Openpgp => openpgp(client, config, &args, &outputs)?,
    };
    if args.emit_verifier_material {
        let dir = outputs
            .first()
            .map(|o| super::material::dir_of(o))
            .unwrap_or_default();
        for p in super::material::emit(&dir, &key, &public, args.force)? {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}

fn signer_for<'a>(
    client: &'a mut AgentClient,
    config: &Config,
    args: &SignArgs,
) -> Result<Signer<'a>> {
    let key = select::pick(client, args.key.as_deref(), config.default_key.as_deref())?;
    Signer::new(client, key)
}

/// SSHSIG: the agent gets the signed-data blob (namespace + SHA-512 of the file).
fn sshsig_files(
    client: &mut AgentClient,
    config: &Config,
    args: &SignArgs,
    outputs: &[PathBuf],
) -> Result<Material> {
    let mut signer = signer_for(client, config, args)?;
    let scheme = sshsig::scheme_for(signer.public.algorithm());
    let digests = hash::hash_files(&args.files, &[sshsig::MESSAGE_HASH])?;
    for (d, out) in digests.iter().zip(outputs) {
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
    Ok((signer.key.clone(), signer.public.clone()))
}

/// Raw: a SHA-256 prehash (ECDSA, RSA) or the small file itself (Ed25519).
fn raw_files(
    client: &mut AgentClient,
    config: &Config,
    args: &SignArgs,
    outputs: &[PathBuf],
) -> Result<Material> {
    let mut signer = signer_for(client, config, args)?;
    let scheme = raw::scheme_for(signer.public.algorithm(), args.rsa_pss);
    let file_err = |path: &PathBuf| {
        let path = path.clone();
        move |source| Error::File { path, source }
    };
    if scheme == Scheme::Ed25519 {
        // Check every size before the first signature.
        for file in &args.files {
            let size = std::fs::metadata(file).map_err(file_err(file))?.len();
            if size > raw::ED25519_MAX_FILE {
                return Err(Error::Usage(format!(
                    "{} has {size} bytes: raw Ed25519 signs the file itself and is limited to {} bytes\n  hint: use --format sshsig or hwsign attest, which sign a digest",
                    file.display(),
                    raw::ED25519_MAX_FILE
                )));
            }
        }
    }
    let digests = if scheme == Scheme::Ed25519 {
        Vec::new()
    } else {
        hash::hash_files(&args.files, &[HashAlg::Sha256])?
    };
    for (i, (file, out)) in args.files.iter().zip(outputs).enumerate() {
        let names = [display_name(file)];
        let sig = match digests.get(i) {
            Some(d) => signer.sign_digest(scheme, d.digests[0].clone(), "raw", &names)?,
            None => {
                let data = std::fs::read(file).map_err(file_err(file))?;
                signer.sign_message(scheme, data, "raw", &names)?
            }
        };
        output::write_new(out, raw::encode(&sig).as_bytes(), args.force)?;
        eprintln!(
            "wrote {} (raw {scheme}, key {})",
            out.display(),
            signer.key.label
        );
    }
    Ok((signer.key.clone(), signer.public.clone()))
}

/// OpenPGP detached signatures: each file streamed into an OpenPGP hash context here; the
/// agent signs the final digest (which covers the signature's own trailer, so it cannot be
/// made from a plain SHA-256 of the file).
pub fn openpgp(
    client: &mut AgentClient,
    config: &Config,
    args: &SignArgs,
    outputs: &[PathBuf],
) -> Result<Material> {
    use crate::format::openpgp as pgp;
    let keys = client.keys()?;
    let cert = match &args.cert {
        Some(p) => Some(std::fs::read(p).map_err(|source| Error::File {
            path: p.clone(),
            source,
        })?),
        None => None,
    };
    // With a certificate and no --key: the agent key that is a signing key of the certificate.
    let (key, pgp_key) = match (&cert, args.key.as_deref().or(config.default_key.as_deref())) {
        (Some(cert), None) => {
            let mut found = None;
            let mut last_err = None;
            for k in &keys {
                let Ok(pk) = crate::pubkey::PublicKey::from_ssh_line(&k.ssh_public_key) else {
                    continue;
                };
                match pgp::signing_key_in(cert, &pk) {
                    Ok(key) => {
                        found = Some((k.clone(), key));
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            match (found, last_err) {
                (Some(f), _) => f,
                (None, Some(crate::format::FormatError::Invalid(msg)))
                    if !msg.contains("no key matching") =>
                {
                    return Err(Error::Usage(msg));
                }
                _ => {
                    return Err(Error::KeySelection(format!(
                        "none of the agent's keys is a key of {}\n  hint: is the token with that key plugged in? `hwsign keys` lists the agent's keys",
                        args.cert
                            .as_deref()
                            .unwrap_or(std::path::Path::new("?"))
                            .display()
                    )));
                }
            }
        }
        (cert, spec) => {
            let k = select::select(&keys, spec, None)
                .map_err(|e| select::explain(client, e))?
                .clone();
            let pk = crate::pubkey::PublicKey::from_ssh_line(&k.ssh_public_key)
                .map_err(|e| Error::Protocol(e.to_string()))?;
            let key = match cert {
                Some(cert) => pgp::signing_key_in(cert, &pk)?,
                None => {
                    pgp::primary_key(&pk, pgp::creation_time(k.created))?.role_into_unspecified()
                }
            };
            (k, key)
        }
    };
    let mut signer = Signer::new(client, key)?;
    let public = signer.public.clone();
    let hash = pgp::hash_for(public.algorithm());
    let contexts =
        hash::hash_files_with(&args.files, || pgp::hash_context(hash).map_err(Error::from))?;
    let fingerprint = pgp_key.fingerprint().to_hex();
    for ((file, out), (ctx, _)) in args.files.iter().zip(outputs).zip(contexts) {
        let names = [display_name(file)];
        let armored = signer.with_openpgp(pgp_key.clone(), &names, |ds| pgp::detached(ds, ctx))?;
        output::write_new(out, armored.as_bytes(), args.force)?;
        eprintln!(
            "wrote {} (OpenPGP, {hash}, key {} fingerprint {fingerprint})",
            out.display(),
            signer.key.label
        );
    }
    Ok((signer.key.clone(), signer.public.clone()))
}
