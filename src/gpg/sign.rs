//! Signing for hwsign-gpg: the key that `-u` names (through a known certificate, or as a
//! hwsign KEY form), a sequoia streaming signer whose signatures come from the agent, and the
//! three outputs gpg makes: detached (`-b`), cleartext (`--clearsign`) and inline (`-s`), armored
//! or binary, binary or text mode. Input is streamed, so any size works; only the digest goes
//! to the agent.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openpgp::crypto::{self, mpi};
use openpgp::packet::Key;
use openpgp::packet::key::{PublicParts, UnspecifiedRole};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::serialize::stream::{Armorer, LiteralWriter, Message, Signer as StreamSigner};
use openpgp::types::{DataFormat, HashAlgorithm, SignatureType};
use openpgp::{Fingerprint, armor};
use sequoia_openpgp as openpgp;

use super::args::GpgArgs;
use super::certs::{self, Known};
use super::status::Status;
use crate::client::{AgentClient, Signer, select};
use crate::config::Config;
use crate::crypto::pubkey::PublicKey;
use crate::error::{Error, Result};
use crate::format::FormatError;
use crate::format::openpgp as pgp;
use crate::key::KeyMeta;

/// Which signature gpg was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-b` (with or without `-s`).
    Detached,
    /// `--clearsign`.
    Clear,
    /// `-s` alone: a signed message holding the data.
    Inline,
}

fn pgp_err(e: impl std::fmt::Display) -> Error {
    Error::Format(FormatError::Invalid(format!("OpenPGP: {e:#}")))
}

/// The key to sign with.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The agent's key.
    pub entry: KeyMeta,
    /// Its public key.
    pub public: PublicKey,
    /// The OpenPGP key (of the certificate, or made from the token key).
    pub key: Key<PublicParts, UnspecifiedRole>,
    /// The certificate's primary fingerprint.
    pub primary: Fingerprint,
    /// The certificate's user id, when there is one.
    pub uid: Option<String>,
}

fn agent_keys(keys: &[KeyMeta]) -> Vec<(KeyMeta, PublicKey)> {
    keys.iter().map(|k| (k.clone(), k.public.clone())).collect()
}

/// The agent key that is a usable signing key of `known`.
fn in_agent(known: &Known, agent: &[(KeyMeta, PublicKey)]) -> Option<Chosen> {
    agent.iter().find_map(|(entry, pk)| {
        let key = pgp::signing_key_in(&known.bytes, pk).ok()?;
        if let Some(want) = &known.key
            && select::select(std::slice::from_ref(entry), Some(want), None).is_err()
        {
            return None;
        }
        Some(Chosen {
            entry: entry.clone(),
            public: pk.clone(),
            key,
            primary: known.cert.fingerprint(),
            uid: Some(certs::display_uid(&known.cert)),
        })
    })
}

/// The agent key `entry` as OpenPGP: the known certificate holding it, else the primary key
/// `hwsign keys export --format openpgp` makes for it.
fn as_openpgp(entry: &KeyMeta, certs: &[Known]) -> Result<Chosen> {
    let pk = entry.public.clone();
    let pair = [(entry.clone(), pk.clone())];
    if let Some(c) = certs.iter().find_map(|k| in_agent(k, &pair)) {
        return Ok(c);
    }
    let key = pgp::primary_key(&pk, pgp::creation_time(entry.created))?.role_into_unspecified();
    Ok(Chosen {
        entry: entry.clone(),
        public: pk,
        primary: key.fingerprint(),
        key,
        uid: None,
    })
}

/// The key `-u spec` names (or the config's `default_key`, or the first known certificate
/// whose key the agent has, or the agent's only key).
pub fn choose(
    keys: &[KeyMeta],
    config: &Config,
    certs: &[Known],
    spec: Option<&str>,
) -> Result<Chosen> {
    let agent = agent_keys(keys);
    let Some(spec) = spec.or(config.default_key.as_deref()) else {
        if let Some(c) = certs.iter().find_map(|k| in_agent(k, &agent)) {
            return Ok(c);
        }
        return as_openpgp(select::select(keys, None, None)?, certs);
    };
    let named: Vec<&Known> = certs
        .iter()
        .filter(|k| certs::matches(&k.cert, spec))
        .collect();
    if let Some(c) = named.iter().find_map(|k| in_agent(k, &agent)) {
        return Ok(c);
    }
    if !named.is_empty() {
        let list: Vec<String> = named
            .iter()
            .map(|k| format!("  {} ({})", k.cert.fingerprint(), k.path.display()))
            .collect();
        return Err(Error::KeySelection(format!(
            "-u {spec}: none of the agent's keys is a valid signing key of\n{}\n  hint: is the token with that key plugged in? `hwsign keys` lists the agent's keys",
            list.join("\n")
        )));
    }
    match select::select(keys, Some(spec), None) {
        Ok(entry) => as_openpgp(entry, certs),
        Err(e) => Err(Error::KeySelection(format!(
            "-u {spec} names no certificate hwsign knows and no agent key ({e})\n  hint: name the key's certificate in the config ([[openpgp]] cert = \"…\") or put it in {}",
            certs::cert_dir().display()
        ))),
    }
}

/// A sequoia signer whose signatures the agent makes.
struct AgentSigner {
    client: AgentClient,
    chosen: Chosen,
    names: Vec<String>,
    failure: Arc<Mutex<Option<Error>>>,
}

impl crypto::Signer for AgentSigner {
    fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        &self.chosen.key
    }

    fn acceptable_hashes(&self) -> &[HashAlgorithm] {
        &[
            HashAlgorithm::SHA256,
            HashAlgorithm::SHA384,
            HashAlgorithm::SHA512,
        ]
    }

    fn sign(&mut self, hash_algo: HashAlgorithm, digest: &[u8]) -> openpgp::Result<mpi::Signature> {
        let failure = self.failure.clone();
        let names = self.names.clone();
        let mut signer = Signer::new(&mut self.client, self.chosen.entry.clone())
            .map_err(|e| anyhow::anyhow!(e.to_string()))?;
        let mut ds =
            pgp::DigestSigner::new(self.chosen.key.clone(), &self.chosen.public, |scheme, d| {
                signer.sign_openpgp_digest(scheme, d, &names).map_err(|e| {
                    let text = e.to_string();
                    if let Ok(mut f) = failure.lock() {
                        *f = Some(e);
                    }
                    text
                })
            });
        crypto::Signer::sign(&mut ds, hash_algo, digest)
    }
}

/// `--digest-algo` as an OpenPGP hash hwsign signs with.
pub fn digest_algo(name: &str) -> Result<HashAlgorithm> {
    match name.to_ascii_uppercase().replace('-', "").as_str() {
        "SHA256" | "H8" | "8" => Ok(HashAlgorithm::SHA256),
        "SHA384" | "H9" | "9" => Ok(HashAlgorithm::SHA384),
        "SHA512" | "H10" | "10" => Ok(HashAlgorithm::SHA512),
        _ => Err(Error::Usage(format!(
            "--digest-algo {name}: hwsign-gpg signs with SHA256, SHA384 or SHA512"
        ))),
    }
}

/// Where the output goes.
enum Sink {
    Stdout,
    File(PathBuf),
}

fn sink_for(args: &GpgArgs, mode: Mode, input: Option<&Path>) -> Sink {
    match (args.output.as_deref(), input) {
        (Some("-"), _) | (None, None) => Sink::Stdout,
        (Some(path), _) => Sink::File(PathBuf::from(path)),
        (None, Some(file)) => {
            let suffix = match (mode, args.armor) {
                (Mode::Clear, _) | (_, true) => "asc",
                (Mode::Detached, false) => "sig",
                (Mode::Inline, false) => "gpg",
            };
            let mut name = file.as_os_str().to_owned();
            name.push(".");
            name.push(suffix);
            Sink::File(PathBuf::from(name))
        }
    }
}

/// Read and forget a passphrase line from `--passphrase-fd` (the agent has the PIN).
pub fn drain_passphrase(fd: i32) -> Result<()> {
    let mut byte = [0u8; 1];
    let mut take = |r: &mut dyn Read| -> std::io::Result<()> {
        while r.read(&mut byte)? == 1 && byte[0] != b'\n' {}
        Ok(())
    };
    let r = if fd == 0 {
        take(&mut std::io::stdin().lock())
    } else {
        std::fs::File::open(format!("/proc/self/fd/{fd}")).and_then(|mut f| take(&mut f))
    };
    r.map_err(|e| Error::Usage(format!("--passphrase-fd {fd}: {e}")))
}

/// How to sign: the mode, hash, signature type and creation time.
#[derive(Clone, Copy)]
struct Plan {
    mode: Mode,
    hash: HashAlgorithm,
    typ: SignatureType,
    when: SystemTime,
}

fn write_signed(
    out: &mut (dyn Write + Send + Sync),
    input: &mut dyn Read,
    armor: bool,
    plan: Plan,
    signer: AgentSigner,
) -> Result<()> {
    let Plan {
        mode,
        hash,
        typ,
        when,
    } = plan;
    let message = Message::new(out);
    let message = match (mode, armor) {
        (Mode::Detached, true) => Armorer::new(message)
            .kind(armor::Kind::Signature)
            .build()
            .map_err(pgp_err)?,
        (Mode::Inline, true) => Armorer::new(message)
            .kind(armor::Kind::Message)
            .build()
            .map_err(pgp_err)?,
        _ => message,
    };
    let mut s = StreamSigner::with_template(message, signer, SignatureBuilder::new(typ))
        .map_err(pgp_err)?
        .hash_algo(hash)
        .map_err(pgp_err)?
        .creation_time(when);
    s = match mode {
        Mode::Detached => s.detached(),
        Mode::Clear => s.cleartext(),
        Mode::Inline => s,
    };
    let mut w = s.build().map_err(pgp_err)?;
    if mode == Mode::Inline {
        let format = if typ == SignatureType::Text {
            DataFormat::Unicode
        } else {
            DataFormat::Binary
        };
        w = LiteralWriter::new(w)
            .format(format)
            .build()
            .map_err(pgp_err)?;
    }
    if mode == Mode::Clear {
        // gpg's framing: the text's own last line ending is the one before the signature
        // (sequoia would add another, and the extracted text would grow an empty line).
        let mut held = HoldFinalNewline {
            inner: &mut w,
            held: Vec::new(),
        };
        std::io::copy(input, &mut held).map_err(Error::Io)?;
    } else if mode == Mode::Inline && typ == SignatureType::Text {
        // gpg -s -t stores the text with CRLF line endings in the literal packet and hashes
        // it as stored: do the same, or gpg finds the signature bad.
        let mut crlf = Crlf {
            inner: &mut w,
            last_cr: false,
        };
        std::io::copy(input, &mut crlf).map_err(Error::Io)?;
    } else {
        std::io::copy(input, &mut w).map_err(Error::Io)?;
    }
    w.finalize().map_err(pgp_err)?;
    Ok(())
}

/// Sign the input (a file, `-` or standard input) as `mode` asks.
pub fn run(
    args: &GpgArgs,
    mode: Mode,
    config: &Config,
    certs: &[Known],
    status: &mut Status,
) -> Result<()> {
    let input_path = match args.operands.as_slice() {
        [] => None,
        [one] if one == "-" => None,
        [one] => Some(PathBuf::from(one)),
        more => {
            return Err(Error::Usage(format!(
                "hwsign-gpg signs one input at a time, not {}",
                more.len()
            )));
        }
    };
    let requested_hash = args.digest_algo.as_deref().map(digest_algo).transpose()?;
    let mut input: Box<dyn Read> = match &input_path {
        Some(p) => Box::new(std::fs::File::open(p).map_err(|source| Error::File {
            path: p.clone(),
            source,
        })?),
        None => Box::new(std::io::stdin()),
    };
    let sink = sink_for(args, mode, input_path.as_deref());
    if let (Sink::File(path), false) = (&sink, args.yes)
        && path.exists()
    {
        return Err(Error::Exists(path.clone()));
    }
    let mut client = AgentClient::connect_default()?;
    let keys = client.keys()?;
    let chosen = choose(&keys, config, certs, args.local_user.as_deref())?;
    let hash = requested_hash.unwrap_or_else(|| pgp::hash_for(chosen.public.algorithm()));
    let typ = if args.textmode || mode == Mode::Clear {
        SignatureType::Text
    } else {
        SignatureType::Binary
    };
    let name = input_path
        .as_deref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "standard input".into());
    status.line(format!("KEY_CONSIDERED {} 0", chosen.primary.to_hex()))?;
    status.line(format!("BEGIN_SIGNING H{}", u8::from(hash)))?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let when = UNIX_EPOCH + Duration::from_secs(secs);
    let failure = Arc::new(Mutex::new(None));
    let signer = AgentSigner {
        client,
        chosen: chosen.clone(),
        names: vec![name],
        failure: failure.clone(),
    };
    let agent_failure = || failure.lock().ok().and_then(|mut f| f.take());
    let plan = Plan {
        mode,
        hash,
        typ,
        when,
    };
    let result = match &sink {
        Sink::Stdout => {
            let mut out = std::io::stdout();
            write_signed(&mut out, &mut input, args.armor, plan, signer)
                .and_then(|()| out.flush().map_err(Error::Stdout))
        }
        Sink::File(path) => to_file(path, args.yes, |out| {
            write_signed(out, &mut input, args.armor, plan, signer)
        }),
    };
    if let Err(e) = result {
        return Err(agent_failure().unwrap_or(e));
    }
    let letter = match mode {
        Mode::Detached => 'D',
        Mode::Clear => 'C',
        Mode::Inline => 'S',
    };
    status.line(format!(
        "SIG_CREATED {letter} {} {} {:02X} {secs} {}",
        u8::from(chosen.key.pk_algo()),
        u8::from(hash),
        u8::from(typ),
        chosen.key.fingerprint().to_hex()
    ))?;
    Ok(())
}

/// Write `path` through a temporary file beside it, published (mode, fsync, rename) by
/// [`crate::client::output::publish`] once `fill` succeeded (an existing file is replaced only
/// with `replace`). Not `write_new_with`: sequoia's writer stack needs a `Send + Sync` sink.
fn to_file(
    path: &Path,
    replace: bool,
    fill: impl FnOnce(&mut (dyn Write + Send + Sync)) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".hwsign-gpg-")
        .tempfile_in(dir)
        .map_err(|source| Error::File {
            path: dir.to_path_buf(),
            source,
        })?;
    fill(tmp.as_file_mut())?;
    crate::client::output::publish(tmp, path, replace)
}

/// `hwsign sign --format openpgp-clearsign` (a cleartext-signed copy, as Debian's `InRelease`)
/// and `--format openpgp-binary` (a binary detached signature, as rpm's): each file streamed
/// through the OpenPGP signer in turn, signed by `key` (or the key of `cert`). Each output is
/// named on standard error only when `verbose` (as the other formats do).
#[allow(clippy::too_many_arguments)]
pub fn sign_files(
    client: &mut AgentClient,
    config: &Config,
    key: Option<&str>,
    cert: Option<&Path>,
    files: &[PathBuf],
    outputs: &[PathBuf],
    force: bool,
    mode: Mode,
    verbose: bool,
) -> Result<KeyMeta> {
    let mut known = Vec::new();
    match cert {
        Some(c) => certs::read_into(c, &mut known)?,
        None => known = certs::load(config, &crate::dirs::config_dir())?,
    }
    let keys = client.keys()?;
    let chosen = match (cert, key) {
        (Some(_), None) => choose(&keys, &Config::default(), &known, None)?,
        _ => choose(&keys, config, &known, key)?,
    };
    let hash = pgp::hash_for(chosen.public.algorithm());
    // Learnt once, copied to each file's connection (`another`).
    client.request_limit()?;
    let typ = if mode == Mode::Clear {
        SignatureType::Text
    } else {
        SignatureType::Binary
    };
    for (i, (file, out)) in files.iter().zip(outputs).enumerate() {
        let step = || -> Result<()> {
            let mut input = std::fs::File::open(file).map_err(|source| Error::File {
                path: file.clone(),
                source,
            })?;
            let failure = Arc::new(Mutex::new(None));
            let signer = AgentSigner {
                client: client.another()?,
                chosen: chosen.clone(),
                names: vec![
                    file.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ],
                failure: failure.clone(),
            };
            let plan = Plan {
                mode,
                hash,
                typ,
                when: SystemTime::now(),
            };
            to_file(out, force, |w| {
                write_signed(w, &mut input, false, plan, signer)
            })
            .map_err(|e| failure.lock().ok().and_then(|mut f| f.take()).unwrap_or(e))
        };
        step().map_err(|e| crate::client::output::unfinished(e, i, files, "signatures"))?;
        if !verbose {
            continue;
        }
        eprintln!(
            "wrote {} (OpenPGP {}, {hash}, key {} fingerprint {})",
            crate::client::output::shown(out),
            if mode == Mode::Clear {
                "cleartext signature"
            } else {
                "binary signature"
            },
            crate::text::name(&chosen.entry.label),
            chosen.primary.to_hex()
        );
    }
    Ok(chosen.entry)
}

/// Passes everything on except a final line ending (`\n` or `\r\n`), held back until more
/// data comes and dropped at the end.
struct HoldFinalNewline<W> {
    inner: W,
    held: Vec<u8>,
}

impl<W: Write> Write for HoldFinalNewline<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.held.is_empty() {
            self.inner.write_all(&self.held)?;
            self.held.clear();
        }
        let hold = if buf.ends_with(b"\r\n") {
            2
        } else if buf.ends_with(b"\n") || buf.ends_with(b"\r") {
            1
        } else {
            0
        };
        let (body, tail) = buf.split_at(buf.len() - hold);
        self.inner.write_all(body)?;
        self.held.extend_from_slice(tail);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes LF line endings as CRLF (a CRLF stays one).
struct Crlf<W> {
    inner: W,
    last_cr: bool,
}

impl<W: Write> Write for Crlf<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut start = 0;
        for (i, &c) in buf.iter().enumerate() {
            if c == b'\n' && !self.last_cr {
                self.inner.write_all(&buf[start..i])?;
                self.inner.write_all(b"\r\n")?;
                start = i + 1;
            }
            self.last_cr = c == b'\r';
        }
        self.inner.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
