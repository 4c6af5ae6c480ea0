//! `hwsign attest`: one DSSE envelope with an in-toto Statement v1 over every file: one
//! signature, so one touch, per release. The full PAE goes to the agent, so it sees the
//! subjects it signs.

use std::collections::HashSet;

use super::args::AttestArgs;
use crate::client::{AgentClient, Signer, hash, output, select};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::format::dsse::{Envelope, pae};
use crate::format::statement::{PAYLOAD_TYPE, Statement, Subject};
use crate::proto::scheme::{HashAlg, Scheme};
use crate::pubkey::{KeyAlgorithm, hex};

fn scheme_for(alg: KeyAlgorithm, rsa_pss: bool) -> Scheme {
    match alg {
        KeyAlgorithm::Rsa(_) if rsa_pss => Scheme::RsaPss(HashAlg::Sha256),
        other => other.default_scheme(),
    }
}

fn check_purl(purl: &str) -> Result<()> {
    let ok = purl.starts_with("pkg:")
        && purl.contains('/')
        && purl.rsplit('/').next().is_some_and(|n| n.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{purl:?} is not a package URL with a version\n  hint: --purl pkg:<type>/<name>@<version>, e.g. pkg:pypi/mypkg@1.2.3"
        )))
    }
}

/// Run it.
pub fn run(client: &mut AgentClient, config: &Config, args: AttestArgs) -> Result<()> {
    // Everything that can be wrong with the command line is checked before hashing.
    let (predicate_type, predicate) = match (&args.predicate_type, &args.predicate) {
        (Some(t), Some(f)) => {
            let text = std::fs::read(f).map_err(|source| Error::File {
                path: f.clone(),
                source,
            })?;
            let value: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| Error::Usage(format!("{}: not JSON: {e}", f.display())))?;
            if !value.is_object() {
                return Err(Error::Usage(format!(
                    "{}: a predicate must be a JSON object",
                    f.display()
                )));
            }
            (t.clone(), value)
        }
        _ => {
            let purl = args.purl.clone().or_else(|| config.purl.clone()).ok_or_else(|| {
                Error::Usage(
                    "the in-toto Release predicate needs the package URL of the release\n  hint: pass --purl pkg:<type>/<name>@<version> (or set purl in config.toml), or give --predicate-type and --predicate"
                        .into(),
                )
            })?;
            check_purl(&purl)?;
            (
                crate::format::statement::RELEASE_PREDICATE.to_string(),
                serde_json::json!({ "purl": purl }),
            )
        }
    };
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    for f in &args.files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{}: the file name is not UTF-8; in-toto subject names must be",
                    f.display()
                ))
            })?
            .to_string();
        if !seen.insert(name.clone()) {
            return Err(Error::Usage(format!(
                "two files are named {name:?}; subject names must be unique"
            )));
        }
        names.push(name);
    }
    output::check_free(std::slice::from_ref(&args.output), args.force)?;

    let keys = client.keys()?;
    let key = select::select(&keys, args.key.as_deref(), config.default_key.as_deref())?.clone();
    let mut signer = Signer::new(client, key)?;
    let scheme = scheme_for(signer.public.algorithm(), args.rsa_pss);

    let digests = hash::hash_files(&args.files, &[HashAlg::Sha256])?;
    let subjects = names
        .iter()
        .zip(&digests)
        .map(|(n, d)| Subject::sha256(n.clone(), hex(&d.digests[0])))
        .collect();
    let statement = Statement::new(subjects, &predicate_type, predicate);
    let payload = serde_json::to_vec(&statement).map_err(crate::format::FormatError::from)?;
    let pae = pae(PAYLOAD_TYPE, &payload);
    if pae.len() + 1024 > crate::proto::MAX_FRAME {
        return Err(Error::Usage(format!(
            "the statement has {} bytes, more than the agent accepts in one request ({} bytes)\n  hint: split the release into several attestations",
            payload.len(),
            crate::proto::MAX_FRAME
        )));
    }
    let sig = signer.sign_message(scheme, pae, "dsse", &names)?;
    let envelope = Envelope::new(PAYLOAD_TYPE, &payload, &signer.key.id, &sig);
    output::write_new(&args.output, envelope.to_json()?.as_bytes(), args.force)?;
    eprintln!(
        "wrote {} ({} subject(s), predicate {}, {scheme} by {} id {})",
        args.output.display(),
        names.len(),
        predicate_type,
        signer.key.label,
        &signer.key.id[..16]
    );
    Ok(())
}
