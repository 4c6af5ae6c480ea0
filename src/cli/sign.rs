//! `hwsign sign`: SSHSIG (`FILE.sig`), raw (`FILE.rawsig`) and OpenPGP (`FILE.asc`) signatures,
//! one per file. Files are hashed here; only the SSHSIG blob or the digest goes to the agent
//! (raw Ed25519, which signs the file itself, sends the file and is limited to small files).

use std::path::{Path, PathBuf};

use super::args::{SignArgs, SignFormat};
use crate::client::{AgentClient, Signer, output, select};
use crate::config::Config;
use crate::crypto::file_hash;
use crate::crypto::scheme::{HashAlg, Scheme};
use crate::error::{Error, Result};
use crate::format::{raw, sshsig};

/// A line about one file's output: only with `-v`.
macro_rules! per_file {
    ($args:expr, $($t:tt)*) => {
        if $args.report.verbose {
            eprintln!($($t)*);
        }
    };
}

/// What a format's signing leaves for the end of the command: the key that signed (for
/// `--emit-verifier-material` and the summary), and each file's SHA-256 where the signing pass
/// computed it (for `--json`; empty when it did not).
struct Material {
    key: crate::key::KeyMeta,
    sha256: Vec<[u8; 32]>,
}

impl Material {
    fn of(signer: &Signer<'_>, sha256: Vec<[u8; 32]>) -> Self {
        Material {
            key: signer.key.clone(),
            sha256,
        }
    }
}

fn display_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// An error from talking to the agent at `sock`, told apart from file and stdout errors: an
/// I/O error on the socket, or the agent closing it, is [`Error::AgentLost`] naming the socket
/// (connection.rs returns that itself; this catches what reaches here as a bare I/O error or
/// an older "closed the connection" protocol error).
pub(super) fn agent_error(sock: &Path, e: Error) -> Error {
    match e {
        Error::Io(source) => Error::AgentLost {
            path: sock.to_path_buf(),
            detail: source.to_string(),
        },
        Error::Protocol(detail) if detail.contains("closed the connection") => Error::AgentLost {
            path: sock.to_path_buf(),
            detail,
        },
        other => other,
    }
}

/// Run `hwsign sign`: a signature file per input, or none at all.
pub fn run(client: &mut AgentClient, config: &Config, args: SignArgs) -> Result<()> {
    let sock = client.path().to_path_buf();
    sign(client, config, args).map_err(|e| agent_error(&sock, e))
}

fn sign(client: &mut AgentClient, config: &Config, mut args: SignArgs) -> Result<()> {
    if !openpgp_format(args.format) && args.cert.is_some() {
        return Err(Error::Usage("--cert is for the OpenPGP formats".into()));
    }
    let skipped;
    (args.files, skipped) = args.inputs.signable(&args.files)?;
    if !args.report.quiet && !args.report.json {
        super::inputs::note_skipped(&skipped);
    }
    let suffix = match args.format {
        SignFormat::Sshsig => ".sig",
        SignFormat::Raw => ".rawsig",
        SignFormat::Openpgp | SignFormat::OpenpgpClearsign => ".asc",
        SignFormat::OpenpgpBinary => ".sig",
        SignFormat::Minisign | SignFormat::MinisignLegacy => ".minisig",
    };
    let outputs = output_paths(&args.files, suffix, args.output_dir.as_deref())?;
    // Before the first signature: every input is a regular file, every output can be written.
    file_hash::check_inputs(&args.files)?;
    output::check_writable(&outputs, args.force)?;
    let done = match args.format {
        SignFormat::Sshsig => sshsig_files(client, config, &args, &outputs)?,
        SignFormat::Raw => raw_files(client, config, &args, &outputs)?,
        SignFormat::Openpgp => openpgp(client, config, &args, &outputs)?,
        SignFormat::OpenpgpClearsign => openpgp_streamed(client, config, &args, &outputs, true)?,
        SignFormat::OpenpgpBinary => openpgp_streamed(client, config, &args, &outputs, false)?,
        SignFormat::Minisign => minisign_files(client, config, &args, &outputs, false)?,
        SignFormat::MinisignLegacy => minisign_files(client, config, &args, &outputs, true)?,
    };
    let mut material = Vec::new();
    if args.emit_verifier_material {
        let attestation = super::material::attestation(client, &done.key);
        let written = super::material::emit(
            &material_dir(&outputs),
            &done.key,
            attestation.as_deref(),
            args.force,
        )
        .map_err(|e| {
            output::not_done(
                e,
                format!(
                    "wrote all {} signatures, not the verifier material",
                    output::thousands(outputs.len())
                ),
            )
        })?;
        for p in &written {
            per_file!(args, "wrote {}", output::shown(p));
        }
        material = written;
    }
    let name = match args.format {
        SignFormat::Sshsig => "SSHSIG",
        SignFormat::Raw => "raw",
        SignFormat::Openpgp => "OpenPGP",
        SignFormat::OpenpgpClearsign => "OpenPGP cleartext",
        SignFormat::OpenpgpBinary => "OpenPGP binary",
        SignFormat::Minisign => "minisign",
        SignFormat::MinisignLegacy => "minisign legacy",
    };
    let key = &done.key;
    if args.report.json {
        // The digests the signing pass made, else one more pass (OpenPGP and minisign hash
        // with their own contexts).
        let sha256 = if done.sha256.len() == args.files.len() {
            done.sha256
        } else {
            file_hash::sha256_files(&args.files).map_err(|e| {
                output::not_done(
                    e,
                    format!("wrote all {} signatures; no JSON summary", outputs.len()),
                )
            })?
        };
        let doc = serde_json::json!({
            "format": name,
            "key": { "id": key.id, "label": key.label },
            "signed": args.files.iter().zip(&outputs).zip(&sha256).map(|((f, o), d)| serde_json::json!({
                "file": f.display().to_string(),
                "sha256": crate::crypto::pubkey::hex(d),
                "signature": o.display().to_string(),
            })).collect::<Vec<_>>(),
            "verifier_material": material.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "skipped": skipped.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>(),
        });
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).map_err(crate::format::FormatError::from)?
        ))?;
    } else if !args.report.quiet {
        eprintln!(
            "signed {} file(s) with {} ({name}) → {}",
            output::thousands(outputs.len()),
            crate::text::name(&key.label),
            output::pattern(&outputs, suffix)
        );
    }
    Ok(())
}

/// Each file's signature: beside it, or in `dir` under its file name (two inputs with one name
/// cannot share `dir`).
fn output_paths(files: &[PathBuf], suffix: &str, dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    let Some(dir) = dir else {
        return Ok(files
            .iter()
            .map(|f| output::with_suffix(f, suffix))
            .collect());
    };
    let mut seen = std::collections::HashSet::new();
    files
        .iter()
        .map(|f| {
            let name = f
                .file_name()
                .ok_or_else(|| Error::Usage(format!("{} has no file name", f.display())))?;
            if !seen.insert(name.to_owned()) {
                return Err(Error::Usage(format!(
                    "two inputs are named {}; their signatures cannot both go to {}",
                    crate::text::name(&name.to_string_lossy()),
                    dir.display()
                )));
            }
            Ok(output::with_suffix(&dir.join(name), suffix))
        })
        .collect()
}

/// Where `--emit-verifier-material` writes: beside the first signature.
fn material_dir(outputs: &[PathBuf]) -> PathBuf {
    outputs
        .first()
        .map(|o| super::material::dir_of(o))
        .unwrap_or_default()
}

/// Once the key is known and before it signs: the verifier material can be written too.
fn check_material(args: &SignArgs, outputs: &[PathBuf], signer: &Signer) -> Result<()> {
    if args.emit_verifier_material {
        super::material::check(
            &material_dir(outputs),
            &signer.key,
            signer.public(),
            args.force,
        )?;
    }
    Ok(())
}

/// Hashing comes before any signature: an error there signed nothing.
fn hashed<T>(r: Result<T>) -> Result<T> {
    r.map_err(|e| output::not_done(e, "nothing was signed"))
}

/// Sign and write each file's output in turn (`step(i)` makes output `i`); an error after some
/// were written says how many, and which were not.
fn each_file(
    sock: &Path,
    files: &[PathBuf],
    mut step: impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    for i in 0..files.len() {
        step(i).map_err(|e| output::unfinished(agent_error(sock, e), i, files, "signatures"))?;
    }
    Ok(())
}

/// How many signatures `hwsign sign` has in flight at once for many files, each on its own
/// connection: the agent's group commit then makes one durable audit write for several, and
/// the token works while the client writes outputs.
const IN_FLIGHT: usize = 4;

/// `step` for every file, on up to [`IN_FLIGHT`] connections to the agent at once, results
/// in input order. One at a time for a key that wants a touch (one notice, one touch at a
/// time) or sits on a card (the card signs one at a time anyway). After a failure no new file
/// is started; the error says which outputs were made and which were not.
fn each_file_at_once<T: Send>(
    sock: &Path,
    files: &[PathBuf],
    signer: &mut Signer<'_>,
    step: impl Fn(&mut Signer<'_>, usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let serial = signer.key.touch != crate::key::TouchPolicy::Never || signer.key.backend.is_card();
    let workers = if serial {
        1
    } else {
        IN_FLIGHT.min(files.len())
    };
    if workers <= 1 {
        let mut out = Vec::with_capacity(files.len());
        each_file(sock, files, |i| step(signer, i).map(|v| out.push(v)))?;
        return Ok(out);
    }
    // Learnt once here, copied to every connection: no status request per connection.
    signer.request_limit()?;
    let template: &Signer<'_> = signer;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..files.len()).map(|_| None).collect());
    let failed: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    let fail = |i: usize, e: Error| {
        if let Ok(mut f) = failed.lock()
            && f.as_ref().is_none_or(|(j, _)| i < *j)
        {
            *f = Some((i, e));
        }
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut client = match template.another_client() {
                    Ok(c) => c,
                    Err(e) => return fail(next.load(Ordering::SeqCst), e),
                };
                let mut mine = template.fork(&mut client);
                loop {
                    if failed.lock().map_or(true, |f| f.is_some()) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= files.len() {
                        return;
                    }
                    match step(&mut mine, i) {
                        Ok(v) => {
                            if let Ok(mut r) = results.lock() {
                                r[i] = Some(v);
                            }
                        }
                        Err(e) => return fail(i, e),
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| Error::Usage("a signing thread panicked".into()))?;
    if let Some((_, e)) = failed
        .into_inner()
        .map_err(|_| Error::Usage("a signing thread panicked".into()))?
    {
        let written: Vec<bool> = results.iter().map(Option::is_some).collect();
        return Err(output::unfinished_where(
            agent_error(sock, e),
            &written,
            files,
            "signatures",
        ));
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::Usage("a file was not signed".into())))
        .collect()
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
    let sock = client.path().to_path_buf();
    let mut signer = signer_for(client, config, args)?;
    check_material(args, outputs, &signer)?;
    let scheme = sshsig::scheme_for(signer.public().algorithm());
    // SHA-256 too in the same pass when the JSON summary wants it.
    let algs: &[HashAlg] = if args.report.json {
        &[sshsig::MESSAGE_HASH, HashAlg::Sha256]
    } else {
        &[sshsig::MESSAGE_HASH]
    };
    let digests = hashed(file_hash::hash_files(&args.files, algs))?;
    each_file_at_once(&sock, &args.files, &mut signer, |signer, i| {
        let (d, out) = (&digests[i], &outputs[i]);
        let blob = sshsig::signed_data(&args.namespace, &d.digests[0])?;
        let sig = signer.sign_message(scheme, blob, "sshsig", &[display_name(&d.path)])?;
        let armored = sshsig::armor(signer.public(), &args.namespace, scheme, &sig)?;
        output::write_new(out, armored.as_bytes(), args.force)?;
        per_file!(
            args,
            "wrote {} (SSHSIG, namespace {}, key {})",
            output::shown(out),
            crate::text::name(&args.namespace),
            crate::text::name(&signer.key.label)
        );
        Ok(())
    })?;
    let sha256 = digests
        .iter()
        .filter_map(|d| d.digests.get(1).and_then(|h| h.as_slice().try_into().ok()))
        .collect();
    Ok(Material::of(&signer, sha256))
}

/// Raw: a SHA-256 prehash (ECDSA, RSA) or the small file itself (Ed25519).
fn raw_files(
    client: &mut AgentClient,
    config: &Config,
    args: &SignArgs,
    outputs: &[PathBuf],
) -> Result<Material> {
    let sock = client.path().to_path_buf();
    let mut signer = signer_for(client, config, args)?;
    check_material(args, outputs, &signer)?;
    let scheme = raw::scheme_for(signer.public().algorithm(), args.rsa_pss);
    if scheme == Scheme::Ed25519 {
        // Check every size before the first signature (and read no more than the limit).
        for file in &args.files {
            let size = file_hash::check_input(file)?;
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
        hashed(file_hash::hash_files(&args.files, &[HashAlg::Sha256]))?
    };
    let sha256 = each_file_at_once(&sock, &args.files, &mut signer, |signer, i| {
        let (file, out) = (&args.files[i], &outputs[i]);
        let names = [display_name(file)];
        let (sig, sha256) = match digests.get(i) {
            Some(d) => (
                signer.sign_digest(scheme, d.digests[0].clone(), "raw", &names)?,
                d.digests[0].clone(),
            ),
            None => {
                let data = file_hash::read_input(file, raw::ED25519_MAX_FILE)?;
                let sha256 = HashAlg::Sha256.digest(&data);
                (signer.sign_message(scheme, data, "raw", &names)?, sha256)
            }
        };
        output::write_new(out, raw::encode(&sig).as_bytes(), args.force)?;
        per_file!(
            args,
            "wrote {} (raw {scheme}, key {})",
            output::shown(out),
            crate::text::name(&signer.key.label)
        );
        Ok(<[u8; 32]>::try_from(sha256.as_slice()).unwrap_or_default())
    })?;
    Ok(Material::of(&signer, sha256))
}

/// OpenPGP detached signatures: each file streamed into an OpenPGP hash context here; the
/// agent signs the final digest (which covers the signature's own trailer, so it cannot be
/// made from a plain SHA-256 of the file).
fn openpgp(
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
                match pgp::signing_key_in(cert, &k.public) {
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
            let pk = &k.public;
            let key = match cert {
                Some(cert) => pgp::signing_key_in(cert, pk)?,
                None => {
                    pgp::primary_key(pk, pgp::creation_time(k.created))?.role_into_unspecified()
                }
            };
            (k, key)
        }
    };
    let sock = client.path().to_path_buf();
    let mut signer = Signer::new(client, key)?;
    check_material(args, outputs, &signer)?;
    let public = signer.public().clone();
    let hash = pgp::hash_for(public.algorithm());
    let contexts = hashed(file_hash::hash_files_with(&args.files, || {
        pgp::hash_context(hash).map_err(Error::from)
    }))?;
    let fingerprint = pgp_key.fingerprint().to_hex();
    let mut contexts = contexts.into_iter();
    each_file(&sock, &args.files, |i| {
        let (file, out) = (&args.files[i], &outputs[i]);
        let Some((ctx, _)) = contexts.next() else {
            return Err(Error::Usage(format!("{} was not hashed", file.display())));
        };
        let names = [display_name(file)];
        let armored = signer.with_openpgp(pgp_key.clone(), &names, |ds| pgp::detached(ds, ctx))?;
        output::write_new(out, armored.as_bytes(), args.force)?;
        per_file!(
            args,
            "wrote {} (OpenPGP, {hash}, key {} fingerprint {fingerprint})",
            output::shown(out),
            crate::text::name(&signer.key.label)
        );
        Ok(())
    })?;
    Ok(Material::of(&signer, Vec::new()))
}

/// Whether `--cert` applies.
fn openpgp_format(f: SignFormat) -> bool {
    matches!(
        f,
        SignFormat::Openpgp | SignFormat::OpenpgpClearsign | SignFormat::OpenpgpBinary
    )
}

/// OpenPGP cleartext (`clear`) or binary detached signatures, made by hwsign-gpg's streaming
/// signer ([`crate::gpg::sign::sign_files`]).
fn openpgp_streamed(
    client: &mut AgentClient,
    config: &Config,
    args: &SignArgs,
    outputs: &[PathBuf],
    clear: bool,
) -> Result<Material> {
    use crate::gpg::sign::{Mode, sign_files};
    let mode = if clear { Mode::Clear } else { Mode::Detached };
    let key = sign_files(
        client,
        config,
        args.key.as_deref(),
        args.cert.as_deref(),
        &args.files,
        outputs,
        args.force,
        mode,
        args.report.verbose,
    )?;
    Ok(Material {
        key,
        sha256: Vec::new(),
    })
}

/// minisign (`FILE.minisig`), Ed25519 only: the file's signature (over its BLAKE2b-512, or
/// over the small file itself when `legacy`), then the global signature over that signature
/// and the trusted comment (`timestamp:… file:…`): two signatures from the agent per file.
fn minisign_files(
    client: &mut AgentClient,
    config: &Config,
    args: &SignArgs,
    outputs: &[PathBuf],
    legacy: bool,
) -> Result<Material> {
    use crate::format::minisign as ms;
    use sha2::Digest;
    let sock = client.path().to_path_buf();
    let mut signer = signer_for(client, config, args)?;
    check_material(args, outputs, &signer)?;
    ms::public_key_file(signer.public())?;
    if legacy {
        for file in &args.files {
            let size = file_hash::check_input(file)?;
            if size > raw::ED25519_MAX_FILE {
                return Err(Error::Usage(format!(
                    "{} has {size} bytes: legacy minisign signs the file itself and is limited to {} bytes\n  hint: use --format minisign (prehashed)",
                    file.display(),
                    raw::ED25519_MAX_FILE
                )));
            }
        }
    }
    // Prehashed: every file's BLAKE2b-512 (and its SHA-256 for --json) in one guarded pass,
    // before the first signature.
    let prehashes = if legacy {
        Vec::new()
    } else {
        let json = args.report.json;
        file_hash::hash_files_map(
            &args.files,
            || {
                Ok(MinisignPrehash {
                    blake: ms::prehasher(),
                    sha256: json.then(sha2::Sha256::new),
                })
            },
            |h, _| {
                let sha256 = h.sha256.map(|s| <[u8; 32]>::from(s.finalize()));
                (ms::prehash(h.blake), sha256)
            },
        )?
    };
    let sha256 = each_file_at_once(&sock, &args.files, &mut signer, |signer, i| {
        let (file, out) = (&args.files[i], &outputs[i]);
        let name = display_name(file);
        let names = [name.clone()];
        let (alg, message, sha256) = match prehashes.get(i) {
            Some((prehash, sha256)) => (ms::Algorithm::Prehashed, prehash.clone(), *sha256),
            None => {
                let data = file_hash::read_input(file, raw::ED25519_MAX_FILE)?;
                let sha256 = args
                    .report
                    .json
                    .then(|| <[u8; 32]>::from(sha2::Sha256::digest(&data)));
                (ms::Algorithm::Legacy, data, sha256)
            }
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let trusted = format!(
            "timestamp:{now}\tfile:{}{}",
            crate::text::name(&name),
            if legacy { "" } else { "\thashed" }
        );
        ms::check_comment(&trusted)?;
        let (sig, global) = signer.sign_minisign(message, &trusted, &names)?;
        let text = ms::signature_file(
            signer.public(),
            alg,
            "signature from hwsign (token key)",
            &sig,
            &trusted,
            &global,
        )?;
        output::write_new(out, text.as_bytes(), args.force)?;
        per_file!(
            args,
            "wrote {} (minisign{}, key {} id {})",
            output::shown(out),
            if legacy { " legacy" } else { "" },
            crate::text::name(&signer.key.label),
            ms::key_id_hex(&ms::key_id(signer.public()))
        );
        Ok(sha256)
    })?;
    Ok(Material::of(
        &signer,
        sha256.into_iter().flatten().collect(),
    ))
}

/// A file streamed into minisign's prehash (BLAKE2b-512) and, for `--json`, its SHA-256.
struct MinisignPrehash {
    blake: blake2::Blake2b512,
    sha256: Option<sha2::Sha256>,
}

impl std::io::Write for MinisignPrehash {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        blake2::Digest::update(&mut self.blake, buf);
        if let Some(s) = &mut self.sha256 {
            sha2::Digest::update(s, buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
