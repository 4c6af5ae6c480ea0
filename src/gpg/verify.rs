//! `--verify SIG [FILE|-]` for hwsign-gpg: a detached signature checked by `hwsign verify`'s
//! OpenPGP engine against the certificates hwsign-gpg knows (and only those), reported on the
//! status fd the way git 2.39 and other gpg callers parse it: `NEWSIG` first, then exactly one
//! of `GOODSIG`/`BADSIG`/`ERRSIG`/`EXPKEYSIG`/`REVKEYSIG`, and for a good signature `VALIDSIG`
//! (the primary key's fingerprint in field 10) and a `TRUST_` line.

use std::io::Read;
use std::path::PathBuf;

use openpgp::KeyHandle;
use openpgp::packet::Signature;
use sequoia_openpgp as openpgp;

use super::certs::{self, Known};
use super::status::Status;
use crate::error::{Error, Result};
use crate::time::format_rfc3339;
use crate::verify::VerifyError;
use crate::verify::openpgp::{SignatureHasher, key_status, parse_signature, read_cert, verify};
use crate::verify::policy::{OpenpgpTime, Policy, Signer};

/// How a verification ended, as gpg's exit status says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A good signature (exit 0).
    Good,
    /// A bad signature (exit 1).
    Bad,
    /// It could not be checked (exit 2).
    Error,
}

fn open(name: &str) -> Result<Box<dyn Read>> {
    if name == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let path = PathBuf::from(name);
    Ok(Box::new(
        std::fs::File::open(&path).map_err(|source| Error::File { path, source })?,
    ))
}

/// The policy that trusts every known certificate (in order).
fn policy_of(certs: &[Known]) -> (Policy, Vec<usize>) {
    let mut signers = Vec::new();
    let mut index = Vec::new();
    for (i, k) in certs.iter().enumerate() {
        let Ok(read) = read_cert(&k.bytes) else {
            continue;
        };
        // One key belongs to one signer: a second certificate of the same key is skipped.
        if signers.iter().any(|s: &Signer| {
            s.keys
                .iter()
                .any(|sk| read.keys.iter().any(|r| r.key == sk.key))
        }) {
            continue;
        }
        signers.push(Signer {
            name: certs::display_uid(&k.cert),
            key: read.primary,
            keys: read.keys,
            valid_from: None,
            valid_until: None,
            revoked: None,
            openpgp_cert: Some(read.cert),
            attestation: None,
        });
        index.push(i);
    }
    (
        Policy {
            signers,
            rules: Vec::new(),
            openpgp_time: OpenpgpTime::Signature,
        },
        index,
    )
}

fn issuer(sig: &Signature) -> (String, String) {
    let issuers = sig.get_issuers();
    let fpr = issuers.iter().find_map(|h| match h {
        KeyHandle::Fingerprint(f) => Some(f.to_hex()),
        _ => None,
    });
    let keyid = issuers
        .iter()
        .map(|h| openpgp::KeyID::from(h.clone()).to_hex())
        .next()
        .unwrap_or_else(|| "0000000000000000".into());
    (keyid, fpr.unwrap_or_else(|| "-".into()))
}

fn unix(sig: &Signature) -> u64 {
    sig.signature_creation_time()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// Verify the detached signature `operands[0]` over `operands[1]` (`-` or a file; when absent,
/// the signature's name without `.sig`/`.asc`/`.gpg`).
pub fn run(
    operands: &[String],
    certs: &[Known],
    own: &[openpgp::Fingerprint],
    status: &mut Status,
) -> Result<Outcome> {
    let (sig_name, data_name) = match operands {
        [sig, data] => (sig.clone(), data.clone()),
        [sig] => {
            let data = [".sig", ".asc", ".gpg"]
                .iter()
                .find_map(|s| sig.strip_suffix(s))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--verify {sig}: give the signed data too (hwsign-gpg verifies detached signatures: --verify SIG FILE)"
                    ))
                })?;
            (sig.clone(), data.to_string())
        }
        _ => {
            return Err(Error::Usage(
                "--verify takes a detached signature and the signed data: --verify SIG FILE (or -)"
                    .into(),
            ));
        }
    };
    if sig_name == "-" && data_name == "-" {
        return Err(Error::Usage(
            "--verify: the signature and the data cannot both be standard input".into(),
        ));
    }
    let mut sig_bytes = Vec::new();
    open(&sig_name)?
        .read_to_end(&mut sig_bytes)
        .map_err(Error::Io)?;
    if sig_bytes.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err(Error::Usage(format!(
            "{sig_name} is a cleartext-signed message: hwsign-gpg --verify checks detached signatures (use gpg or sqv for this one)"
        )));
    }
    status.line("NEWSIG")?;
    let sig = match parse_signature(&sig_bytes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hwsign-gpg: {sig_name}: {e}");
            status.line("NODATA 3")?;
            return Ok(Outcome::Error);
        }
    };
    let (keyid, issuer_fpr) = issuer(&sig);
    let created = unix(&sig);
    let pk_algo = u8::from(sig.pk_algo());
    let hash_algo = u8::from(sig.hash_algo());
    let class = u8::from(sig.typ());
    eprintln!(
        "hwsign-gpg: Signature made {}\nhwsign-gpg:                using {} key {}",
        format_rfc3339(created),
        sig.pk_algo(),
        if issuer_fpr == "-" {
            &keyid
        } else {
            &issuer_fpr
        }
    );
    let mut hasher = SignatureHasher::new(&sig).map_err(|e| Error::Usage(e.to_string()))?;
    let mut data = open(&data_name)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = data.read(&mut buf).map_err(Error::Io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let (policy, _) = policy_of(certs);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let errsig = |status: &mut Status, rc: u8| {
        status.line(format!(
            "ERRSIG {keyid} {pk_algo} {hash_algo} {class:02X} {created} {rc} {issuer_fpr}"
        ))
    };
    match verify(&policy, &sig, hasher.finish(), now) {
        Ok(check) => {
            let signer = &policy.signers[check.signer];
            let Some(cert) = signer.openpgp_cert.as_ref() else {
                errsig(status, 4)?;
                return Ok(Outcome::Error);
            };
            let fpr = check.key.clone().unwrap_or_else(|| cert.fingerprint());
            let uid = certs::display_uid(cert);
            let long = openpgp::KeyID::from(&fpr).to_hex();
            status.line(format!("KEY_CONSIDERED {} 0", cert.fingerprint().to_hex()))?;
            if let Err(why) = key_status(cert, &fpr, check.time) {
                let word = if why.contains("revoked") {
                    "REVKEYSIG"
                } else if why.contains("expired") {
                    "EXPKEYSIG"
                } else {
                    eprintln!("hwsign-gpg: {why}");
                    errsig(status, 4)?;
                    return Ok(Outcome::Error);
                };
                eprintln!("hwsign-gpg: {why}");
                status.line(format!("{word} {long} {uid}"))?;
                return Ok(Outcome::Bad);
            }
            let date = format_rfc3339(check.time);
            status.line(format!("GOODSIG {long} {uid}"))?;
            status.line(format!(
                "VALIDSIG {} {} {} 0 4 0 {pk_algo} {hash_algo} {class:02X} {}",
                fpr.to_hex(),
                &date[..10.min(date.len())],
                check.time,
                cert.fingerprint().to_hex()
            ))?;
            let (trust, shown) = if own.contains(&cert.fingerprint()) {
                ("TRUST_ULTIMATE", "ultimate")
            } else {
                ("TRUST_FULLY", "full")
            };
            status.line(format!("{trust} 0 pgp"))?;
            eprintln!(
                "hwsign-gpg: Good signature from \"{}\" [{shown}]",
                crate::text::name(&uid)
            );
            Ok(Outcome::Good)
        }
        Err(VerifyError::BadSignature(why)) => {
            let uid = certs
                .iter()
                .find(|k| {
                    sig.get_issuers()
                        .iter()
                        .any(|h| k.cert.keys().any(|ka| ka.key().key_handle().aliases(h)))
                })
                .map(|k| certs::display_uid(&k.cert))
                .unwrap_or_default();
            status.line(format!("BADSIG {keyid} {uid}"))?;
            eprintln!(
                "hwsign-gpg: BAD signature from \"{}\" ({why})",
                crate::text::name(&uid)
            );
            Ok(Outcome::Bad)
        }
        Err(VerifyError::UnknownKey(_)) => {
            errsig(status, 9)?;
            status.line(format!("NO_PUBKEY {keyid}"))?;
            eprintln!(
                "hwsign-gpg: Can't check signature: no certificate of key {keyid} is known\n  hint: name it in the config ([[openpgp]] cert = \"…\") or put it in {}",
                certs::cert_dir().display()
            );
            Ok(Outcome::Error)
        }
        Err(e) => {
            errsig(status, 4)?;
            eprintln!("hwsign-gpg: Can't check signature: {e}");
            Ok(Outcome::Error)
        }
    }
}
