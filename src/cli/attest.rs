//! `hwsign attest`: one DSSE envelope with an in-toto Statement v1 over every file: one
//! signature, so one touch, per release. The full PAE goes to the agent, so it sees the
//! subjects it signs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::args::AttestArgs;
use super::{inputs, material};
use crate::client::{AgentClient, Signer, output, select};
use crate::config::Config;
use crate::crypto::file_hash;
use crate::crypto::pubkey::{KeyAlgorithm, hex};
use crate::crypto::scheme::{HashAlg, Scheme};
use crate::error::{Error, Result};
use crate::format::dsse::{self, Envelope, pae};
use crate::format::statement::{PAYLOAD_TYPE, Statement, StatementParts, SubjectNames};

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

/// Where the Sigstore bundle goes: `release.intoto.json` → `release.intoto.sigstore.json`.
pub fn bundle_path(envelope: &Path) -> PathBuf {
    let name = envelope
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    envelope.with_file_name(format!("{stem}.sigstore.json"))
}

/// Run `hwsign attest` (or `--append`, co-signing an existing envelope).
pub fn run(client: &mut AgentClient, config: &Config, args: AttestArgs) -> Result<()> {
    let sock = client.path().to_path_buf();
    match args.append.clone() {
        Some(envelope) => append(client, config, &args, &envelope),
        None => attest(client, config, &args),
    }
    .map_err(|e| super::sign::agent_error(&sock, e))
}

/// An error while the agent signs: the envelope (and anything else) was not written.
fn unsigned(sock: &Path, out: &Path, e: Error) -> Error {
    output::not_done(
        super::sign::agent_error(sock, e),
        format!("{} was not written", out.display()),
    )
}

fn predicate(config: &Config, args: &AttestArgs) -> Result<(String, serde_json::Value)> {
    match (&args.predicate_type, &args.predicate) {
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
            Ok((t.clone(), value))
        }
        _ => {
            let purl = args.purl.clone().or_else(|| config.purl.clone()).ok_or_else(|| {
                Error::Usage(
                    "the in-toto Release predicate needs the package URL of the release\n  hint: pass --purl pkg:<type>/<name>@<version> (or set purl in config.toml), or give --predicate-type and --predicate"
                        .into(),
                )
            })?;
            check_purl(&purl)?;
            Ok((
                crate::format::statement::RELEASE_PREDICATE.to_string(),
                serde_json::json!({ "purl": purl }),
            ))
        }
    }
}

/// The subject name of each file, borrowed from its path (a release of 100,000 files does not
/// hold its names twice).
fn subject_names<'a>(files: &'a [PathBuf], relative: Option<&'a [String]>) -> Result<Paths<'a>> {
    let mut seen = HashSet::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let name = match relative {
            Some(r) => r[i].as_str(),
            None => f.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                Error::Usage(format!(
                    "{}: the file name is not UTF-8; in-toto subject names must be",
                    f.display()
                ))
            })?,
        };
        if !seen.insert(name) {
            return Err(Error::Usage(format!(
                "two files are named {name:?}; subject names must be unique\n  hint: give --base DIR (or -r DIR) so that subject names are paths relative to DIR"
            )));
        }
    }
    Ok(Paths { files, relative })
}

/// Subject names read from the release's paths (base names, or the names relative to
/// `--base`), checked by [`subject_names`]: a 100,000-file release holds no vector of them.
#[derive(Clone, Copy)]
struct Paths<'a> {
    files: &'a [PathBuf],
    relative: Option<&'a [String]>,
}

impl SubjectNames for Paths<'_> {
    fn count(&self) -> usize {
        self.files.len()
    }
    fn name(&self, i: usize) -> &str {
        match self.relative {
            Some(r) => &r[i],
            // Checked to be UTF-8 when the names were checked.
            None => self.files[i]
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default(),
        }
    }
}

/// Refuse, before anything is hashed, a statement the agent would not take, saying how to
/// split the release. The request's size is known exactly before hashing: every digest has
/// 64 hex digits.
fn check_size(
    signer: &mut Signer<'_>,
    scheme: Scheme,
    names: &dyn SubjectNames,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> Result<()> {
    let zero = "0".repeat(64);
    let parts = StatementParts {
        names,
        sha256: |_| zero.clone(),
        predicate_type,
        predicate,
    };
    let payload = parts.len();
    let pae_len = pae_header_len(payload) + payload;
    let request = signer.request_len(scheme, "dsse", &[], pae_len);
    let limit = signer.request_limit()?;
    if request <= limit {
        return Ok(());
    }
    let socket = signer.socket_name();
    // What each file adds, on average, and what one request has besides the subjects.
    let empty = StatementParts {
        names: &[] as &[&str],
        sha256: |_| zero.clone(),
        predicate_type,
        predicate,
    };
    let fixed = request - (payload - empty.len());
    let per_file = (payload - empty.len())
        .div_ceil(names.count().max(1))
        .max(1);
    let fit = limit.saturating_sub(fixed) / per_file;
    let hint = if fit == 0 {
        format!(
            "the predicate alone is too large for this socket; raise [sockets.{socket}] max_request in the agent's config"
        )
    } else {
        let fit = fit * 9 / 10;
        let parts = names.count().div_ceil(fit.max(1));
        format!(
            "split the release into {parts} attestations of at most {} files each (e.g. list the files, `split -l {fit} files.txt part-`, then `hwsign attest --files-from part-aa -o release-1.intoto.json …` for each part), or raise [sockets.{socket}] max_request in the agent's config",
            output::thousands(fit)
        )
    };
    Err(Error::Usage(format!(
        "an attestation of {} files needs a request of {} ({request} bytes); the agent's {socket} socket takes at most {} ({limit} bytes); nothing was hashed or signed\n  hint: {hint}",
        output::thousands(names.count()),
        output::bytes(request as u64),
        output::bytes(limit as u64),
    )))
}

/// The length of `DSSEv1 <len> <type> <len> ` for the in-toto payload type.
fn pae_header_len(payload: usize) -> usize {
    format!("DSSEv1 {} {PAYLOAD_TYPE} {payload} ", PAYLOAD_TYPE.len()).len()
}

fn attest(client: &mut AgentClient, config: &Config, args: &AttestArgs) -> Result<()> {
    // Everything that can be wrong with the command line is checked before hashing.
    let (predicate_type, predicate) = predicate(config, args)?;
    let (files, skipped) = args.inputs.signable(&args.files)?;
    if !args.report.quiet && !args.report.json {
        inputs::note_skipped(&skipped);
    }
    // Never the checksum file being written (a second run over dist/*).
    let files = match &args.sums {
        Some(s) => inputs::without(files, s),
        None => files,
    };
    let base = args.base.clone().or_else(|| {
        (args.files.is_empty()
            && args.inputs.files_from.is_none()
            && args.inputs.recursive.len() == 1)
            .then(|| args.inputs.recursive[0].clone())
    });
    let relative = match &base {
        Some(b) => Some(
            files
                .iter()
                .map(|f| inputs::relative_name(f, b))
                .collect::<Result<Vec<String>>>()?,
        ),
        None => None,
    };
    let names = subject_names(&files, relative.as_deref())?;
    // The checksum file's names: relative to the same base as the subjects, else as given;
    // made once, before hashing.
    let sums_names = match (&args.sums, &relative) {
        (None, _) => Vec::new(),
        (Some(_), Some(r)) => r.clone(),
        (Some(_), None) => super::sums::names_of(&files, None)?,
    };
    let out = match (&args.output, &args.output_dir) {
        (Some(o), _) => o.clone(),
        (None, Some(dir)) => dir.join("release.intoto.json"),
        (None, None) => PathBuf::from("release.intoto.json"),
    };
    let mut outputs = vec![out.clone()];
    if args.bundle {
        outputs.push(bundle_path(&out));
    }
    if let Some(s) = &args.sums {
        outputs.push(s.clone());
    }
    // Before the first signature: every input is a regular file, every output can be written.
    file_hash::check_inputs(&files)?;
    output::check_writable(&outputs, args.force)?;

    let sock = client.path().to_path_buf();
    let key = select::pick(client, args.key.as_deref(), config.default_key.as_deref())?;
    let attestation = if args.emit_verifier_material {
        material::attestation(client, &key)
    } else {
        None
    };
    let mut signer = Signer::new(client, key)?;
    if args.emit_verifier_material {
        material::check(
            &material::dir_of(&out),
            &signer.key,
            signer.public(),
            args.force,
        )?;
    }
    let scheme = scheme_for(signer.public().algorithm(), args.rsa_pss);
    check_size(&mut signer, scheme, &names, &predicate_type, &predicate)?;

    let digests =
        file_hash::sha256_files(&files).map_err(|e| output::not_done(e, "nothing was signed"))?;
    // Memory: a release of 100,000 files holds its paths (the names are borrowed from them)
    // and digests, then those and the statement (in its PAE), then the statement alone, which
    // goes to the agent uncopied.
    let pae = StatementParts {
        names: &names,
        sha256: |i| hex(&digests[i]),
        predicate_type: &predicate_type,
        predicate: &predicate,
    }
    .pae(PAYLOAD_TYPE)?;
    // The checksums come from the same pass as the statement; written after the envelope, so
    // a refused signature leaves no checksum file behind.
    let digests = args.sums.is_some().then_some(digests);
    signer.subject_count = Some(names.count());
    let count = names.count();
    let first: Vec<String> = (0..count.min(3))
        .map(|i| names.name(i).to_string())
        .collect();
    drop(relative);
    drop(files);
    let (sig, pae) = signer
        .sign_message_kept(scheme, pae, "dsse", &first)
        .map_err(|e| unsigned(&sock, &out, e))?;
    // The payload is in the PAE, after its header.
    let payload = dsse::parse_pae(&pae)
        .map(|(_, body)| body)
        .ok_or_else(|| Error::Protocol("the statement's PAE does not parse".into()))?;
    let signatures = [dsse::EnvelopeSignature {
        keyid: signer.key.id.to_string(),
        sig: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sig),
    }];
    output::write_new_with(&out, args.force, |w| {
        Envelope::write_json(w, PAYLOAD_TYPE, payload, &signatures)
    })?;
    let mut written = vec![out.clone()];
    if args.bundle {
        let envelope = Envelope::new(PAYLOAD_TYPE, payload, &signer.key.id, &sig);
        let path = bundle_path(&out);
        output::write_new(
            &path,
            crate::format::bundle::to_json(&envelope)?.as_bytes(),
            args.force,
        )?;
        written.push(path);
    }
    if let (Some(path), Some(digests)) = (&args.sums, &digests) {
        super::sums::write(
            Some(path),
            args.force,
            HashAlg::Sha256,
            false,
            &sums_names,
            digests,
        )
        .map_err(|e| {
            output::not_done(
                e,
                format!("wrote {}, not the checksum file", output::shown(&out)),
            )
        })?;
        written.push(path.clone());
    }
    if args.emit_verifier_material {
        written.extend(material::emit(
            &material::dir_of(&out),
            &signer.key,
            attestation.as_deref(),
            args.force,
        )?);
    }
    if args.report.json {
        use sha2::Digest;
        let doc = serde_json::json!({
            "envelope": out.display().to_string(),
            "outputs": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "key": { "id": signer.key.id, "label": signer.key.label },
            "scheme": scheme.to_string(),
            "predicate_type": predicate_type,
            "subjects": count,
            "statement_sha256": hex(&sha2::Sha256::digest(payload)),
            "skipped": skipped.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>(),
        });
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).map_err(crate::format::FormatError::from)?
        ))?;
    } else if !args.report.quiet {
        if args.report.verbose {
            for p in &written[1..] {
                eprintln!("wrote {}", output::shown(p));
            }
        }
        eprintln!(
            "wrote {} ({} subject(s), predicate {}, {scheme} by {} id {})",
            output::shown(&out),
            output::thousands(count),
            crate::text::name(&predicate_type),
            crate::text::name(&signer.key.label),
            &signer.key.id[..16]
        );
    }
    Ok(())
}

/// Co-sign: one more signature over the same PAE, by a key not yet on the envelope.
fn append(client: &mut AgentClient, config: &Config, args: &AttestArgs, path: &Path) -> Result<()> {
    let text = std::fs::read(path).map_err(|source| Error::File {
        path: path.to_path_buf(),
        source,
    })?;
    let mut envelope: Envelope = serde_json::from_slice(&text)
        .map_err(|e| Error::Usage(format!("{}: not a DSSE envelope: {e}", path.display())))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = base64::Engine::decode(&b64, &envelope.payload).map_err(|e| {
        Error::Usage(format!(
            "{}: the payload is not base64: {e}",
            path.display()
        ))
    })?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(Error::Usage(format!(
            "{}: payloadType is {:?}; hwsign co-signs in-toto statements ({PAYLOAD_TYPE})",
            path.display(),
            envelope.payload_type
        )));
    }
    let statement: Statement = serde_json::from_slice(&payload).map_err(|e| {
        Error::Usage(format!(
            "{}: the payload is not an in-toto statement: {e}",
            path.display()
        ))
    })?;
    let out = args.output.clone().unwrap_or_else(|| path.to_path_buf());
    // In place (`out == path`) replaces the envelope whatever --force says.
    output::check_writable(std::slice::from_ref(&out), args.force || out == path)?;
    let sock = client.path().to_path_buf();
    let key = select::pick(client, args.key.as_deref(), config.default_key.as_deref())?;
    if envelope.signatures.iter().any(|s| s.keyid == key.id) {
        return Err(Error::Usage(format!(
            "{} is already signed by {} (id {})\n  hint: co-sign with another key (--key); verifiers count each signer once",
            path.display(),
            crate::text::name(&key.label),
            &key.id[..16]
        )));
    }
    let existing: Vec<String> = envelope
        .signatures
        .iter()
        .map(|s| s.keyid.chars().take(16).collect())
        .collect();
    let attestation = if args.emit_verifier_material {
        material::attestation(client, &key)
    } else {
        None
    };
    let mut signer = Signer::new(client, key)?;
    signer.note = format!(
        "co-signing an envelope already signed by {}",
        existing.join(", ")
    );
    if args.emit_verifier_material {
        material::check(
            &material::dir_of(&out),
            &signer.key,
            signer.public(),
            args.force,
        )?;
    }
    let scheme = scheme_for(signer.public().algorithm(), args.rsa_pss);
    let names: Vec<String> = statement.subject.iter().map(|s| s.name.clone()).collect();
    let pae = pae(&envelope.payload_type, &payload);
    let sig = signer
        .sign_message(scheme, pae, "dsse", &names)
        .map_err(|e| unsigned(&sock, &out, e))?;
    envelope
        .signatures
        .push(crate::format::dsse::EnvelopeSignature {
            keyid: signer.key.id.to_string(),
            sig: base64::Engine::encode(&b64, &sig),
        });
    // In place is the point of --append: replace the file atomically.
    output::write_new(&out, envelope.to_json()?.as_bytes(), true)?;
    if !args.report.quiet {
        eprintln!(
            "wrote {} ({} signatures; added {scheme} by {} id {})",
            output::shown(&out),
            envelope.signatures.len(),
            crate::text::name(&signer.key.label),
            &signer.key.id[..16]
        );
    }
    if args.emit_verifier_material {
        for p in material::emit(
            &material::dir_of(&out),
            &signer.key,
            attestation.as_deref(),
            args.force,
        )? {
            if !args.report.quiet {
                eprintln!("wrote {}", output::shown(&p));
            }
        }
    }
    Ok(())
}
