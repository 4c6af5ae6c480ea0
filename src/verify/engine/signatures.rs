//! Signature files for `VerifyInput::Signatures`: which artifact each is for, and what each
//! proves: an SSHSIG (`-----BEGIN SSH SIGNATURE-----`), an OpenPGP signature (armored, or a
//! binary packet as `gpg --detach-sign` writes), a minisign signature (`untrusted comment:`)
//! or a raw base64 signature, told apart by content.

use std::path::{Path, PathBuf};

use super::content::{self, Content, Needs};
use super::{Evidence, Findings, file_name, rejected_all};
use crate::crypto::scheme::HashAlg;
use crate::verify::policy::{Format, Policy};
use crate::verify::{VerifyError, minisign, openpgp, raw, sshsig};

/// Which artifact each signature file is for: `FILE.sig` / `FILE.rawsig` → the artifact whose
/// file name is `FILE`; with one artifact and one signature, that pair. A signature that
/// names no given artifact (or several) is refused: the caller asked for something else.
pub fn pair_signatures(
    sigs: &[PathBuf],
    artifacts: &[PathBuf],
) -> Result<Vec<(PathBuf, usize)>, VerifyError> {
    if let ([sig], [_]) = (sigs, artifacts) {
        return Ok(vec![(sig.clone(), 0)]);
    }
    let mut pairs = Vec::new();
    for sig in sigs {
        let shown = sig.display();
        let stem = file_name(sig)
            .and_then(|n| {
                n.strip_suffix(".sig")
                    .or_else(|| n.strip_suffix(".rawsig"))
                    .or_else(|| n.strip_suffix(".asc"))
                    .or_else(|| n.strip_suffix(".minisig"))
            })
            .ok_or_else(|| {
                VerifyError::Refused(format!(
                    "{shown}: cannot tell which artifact it is for: name it FILE.sig, FILE.rawsig, FILE.asc or FILE.minisig"
                ))
            })?;
        let matching: Vec<usize> = (0..artifacts.len())
            .filter(|&i| file_name(&artifacts[i]) == Some(stem))
            .collect();
        match matching.as_slice() {
            [i] => pairs.push((sig.clone(), *i)),
            [] => {
                return Err(VerifyError::Refused(format!(
                    "{shown} is for {stem}, which is not among the files to verify"
                )));
            }
            _ => {
                return Err(VerifyError::Refused(format!(
                    "{shown} is for {stem}, and several files to verify have that name"
                )));
            }
        }
    }
    Ok(pairs)
}

/// A signature file, read and parsed (before any artifact is read).
enum Parsed {
    Sshsig(Box<ssh_key::SshSig>),
    /// The signature and the index of its hasher in the artifact's [`Needs::openpgp`].
    Openpgp(Box<sequoia_openpgp::packet::Signature>, usize),
    Raw(Vec<u8>),
    Minisign(Box<minisign::MinisignSig>),
}

/// Read and parse one signature file: SSHSIG, OpenPGP (armored or binary) or raw base64, told
/// apart by content.
fn parse_signature_file(sig: &Path) -> Result<Parsed, VerifyError> {
    let bytes = std::fs::read(sig).map_err(|source| VerifyError::File {
        path: sig.to_path_buf(),
        source,
    })?;
    // SSHSIG first, on the bytes: ssh-keygen ignores whatever follows the END line, text or
    // not. Leading whitespace only chooses the format; the SSHSIG reader refuses it.
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if start.is_some_and(|i| bytes[i..].starts_with(sshsig::ARMOR_BEGIN.as_bytes())) {
        return Ok(Parsed::Sshsig(Box::new(sshsig::parse(
            &bytes,
            "the SSH signature",
        )?)));
    }
    if openpgp::is_binary_packet(&bytes) {
        return Ok(Parsed::Openpgp(
            Box::new(openpgp::parse_signature(&bytes)?),
            0,
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| VerifyError::malformed("the signature file", "not text"))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with(openpgp::ARMOR_BEGIN) {
        return Ok(Parsed::Openpgp(
            Box::new(openpgp::parse_signature(trimmed.as_bytes())?),
            0,
        ));
    }
    if trimmed.starts_with(minisign::UNTRUSTED) {
        return Ok(Parsed::Minisign(Box::new(minisign::parse(trimmed)?)));
    }
    if trimmed.starts_with("-----BEGIN") {
        return Err(VerifyError::Refused(
            "armored, but neither an SSH nor an OpenPGP signature; signature files are SSHSIG, OpenPGP or raw base64".into(),
        ));
    }
    Ok(Parsed::Raw(raw::decode(&text, "the raw signature")?))
}

/// What the signature files prove about each artifact. Every signature file is parsed first;
/// then each artifact is read once, with every digest its signatures need, and each signature
/// is checked against that one content.
pub(super) fn findings(
    policy: &Policy,
    sigs: &[PathBuf],
    artifacts: &[PathBuf],
    now: u64,
) -> Vec<Findings> {
    let pairs = match pair_signatures(sigs, artifacts) {
        Ok(p) => p,
        Err(e) => return rejected_all(artifacts.len(), &e.to_string()),
    };
    let mut out: Vec<Findings> = artifacts.iter().map(|_| Findings::default()).collect();
    let mut needs: Vec<Needs> = artifacts.iter().map(|_| Needs::default()).collect();
    let mut parsed = Vec::new();
    for (sig, i) in pairs {
        let name = file_name(&sig).map_or_else(|| sig.display().to_string(), str::to_string);
        let p = parse_signature_file(&sig).and_then(|p| match p {
            Parsed::Openpgp(s, _) => {
                let hasher = openpgp::SignatureHasher::new(&s)?;
                needs[i].openpgp.push(hasher);
                Ok(Parsed::Openpgp(s, needs[i].openpgp.len() - 1))
            }
            Parsed::Raw(r) => {
                needs[i].whole |= raw::needs_whole(policy);
                Ok(Parsed::Raw(r))
            }
            Parsed::Minisign(m) => {
                needs[i].blake2b |= m.prehashed;
                needs[i].whole |= !m.prehashed;
                Ok(Parsed::Minisign(m))
            }
            other => Ok(other),
        });
        parsed.push((name, i, p));
    }
    let contents = content::read_all(artifacts, needs);
    for (name, i, p) in parsed {
        let result = match (&contents[i], p) {
            (Err(e), _) => Err(e.clone()),
            (Ok(_), Err(e)) => Err(format!("{name}: {e}")),
            (Ok(c), Ok(p)) => check(policy, p, c, now).map_err(|e| format!("{name}: {e}")),
        };
        match result {
            Ok(ev) => out[i].evidence.push(ev),
            Err(e) if !out[i].rejected.contains(&e) => out[i].rejected.push(e),
            Err(_) => {}
        }
    }
    for f in &mut out {
        if f.evidence.is_empty() && f.rejected.is_empty() {
            f.rejected.push("no signature file given for it".into());
        }
    }
    out
}

/// Verify one parsed signature against the artifact's one content.
fn check(policy: &Policy, sig: Parsed, c: &Content, now: u64) -> Result<Evidence, VerifyError> {
    match sig {
        Parsed::Sshsig(parsed) => {
            let digest = match sshsig::hash_alg(&parsed)? {
                HashAlg::Sha256 => &c.sha256,
                _ => &c.sha512,
            };
            let check = sshsig::verify(policy, &parsed, digest)?;
            Ok(Evidence {
                format: Format::Sshsig,
                signer: check.signer,
                key: policy.signers[check.signer].keys[check.key].openpgp.clone(),
                predicate_type: None,
                namespace: Some(check.namespace),
                time: None,
            })
        }
        Parsed::Openpgp(sig, index) => {
            let hashed =
                c.openpgp.get(index).cloned().ok_or_else(|| {
                    VerifyError::Refused("the OpenPGP hash was not computed".into())
                })?;
            let check = openpgp::verify(policy, &sig, hashed, now)?;
            Ok(Evidence {
                format: Format::Openpgp,
                signer: check.signer,
                key: check.key,
                predicate_type: None,
                namespace: None,
                time: Some(check.time),
            })
        }
        Parsed::Minisign(m) => {
            let (signer, key) = minisign::verify(policy, &m, &c.blake2b, c.whole_ref())?;
            Ok(Evidence {
                format: Format::Minisign,
                signer,
                key: policy.signers[signer].keys[key].openpgp.clone(),
                predicate_type: None,
                namespace: None,
                time: None,
            })
        }
        Parsed::Raw(raw_sig) => {
            let content = raw::RawContent {
                sha256: &c.sha256,
                whole: c.whole_ref(),
            };
            let (signer, key) = raw::verify(policy, &raw_sig, content)?;
            Ok(Evidence {
                format: Format::Raw,
                signer,
                key: policy.signers[signer].keys[key].openpgp.clone(),
                predicate_type: None,
                namespace: None,
                time: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::engine::{VerifyInput, verify};
    use crate::verify::report::ArtifactVerdict;
    use crate::verify::testutil::{NOW, SDIST, WHL, fixture};

    fn run(p: &Policy, input: VerifyInput, artifacts: &[PathBuf]) -> Vec<ArtifactVerdict> {
        verify(p, input, artifacts, NOW)
    }

    #[test]
    fn signature_files_sshsig_and_raw() {
        let f = fixture();
        let p = f.policy(
            "",
            "[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\nthreshold = 2\n",
        );
        let whl_sig = f.write("mypkg-1.0.whl.sig", &f.alice.sshsig("file", WHL));
        let whl_raw = f.write(
            "mypkg-1.0.whl.rawsig",
            &crate::format::raw::encode(&f.bob.sign(WHL)),
        );
        let sdist_sig = f.write("mypkg-1.0.tar.gz.sig", &f.bob.sshsig("other-ns", SDIST));
        let sigs = vec![whl_sig.clone(), whl_raw, sdist_sig];
        let vs = run(&p, VerifyInput::Signatures(sigs), &f.artifacts);
        assert!(vs[0].verified, "{vs:?}");
        assert_eq!(vs[0].signers, vec!["alice", "bob"]);
        assert!(!vs[1].verified);
        assert_eq!(
            vs[1].rejected,
            vec!["bob: SSHSIG namespace \"other-ns\", but rule \"rule 1\" wants \"file\""]
        );
        // One signature, one artifact: paired whatever the names; the tampered file fails.
        std::fs::write(&f.artifacts[0], b"tampered").unwrap();
        let vs = run(
            &p,
            VerifyInput::Signatures(vec![whl_sig]),
            &f.artifacts[..1],
        );
        assert!(
            vs[0].rejected[0].starts_with("mypkg-1.0.whl.sig: alice: signature does not verify"),
            "{vs:?}"
        );
    }

    #[test]
    fn signature_pairing() {
        let f = fixture();
        let p = f.one_of_alice();
        let stray = f.write("other.bin.sig", &f.alice.sshsig("file", b"x"));
        let whl_sig = f.write("mypkg-1.0.whl.sig", &f.alice.sshsig("file", WHL));
        let vs = run(
            &p,
            VerifyInput::Signatures(vec![whl_sig.clone(), stray]),
            &f.artifacts,
        );
        assert!(
            vs.iter()
                .all(|v| !v.verified && v.rejected[0].contains("not among the files to verify"))
        );
        let vs = run(&p, VerifyInput::Signatures(vec![whl_sig]), &f.artifacts);
        assert!(vs[0].verified);
        assert_eq!(vs[1].rejected, vec!["no signature file given for it"]);
        assert!(pair_signatures(&[PathBuf::from("x.asc")], &f.artifacts).is_err());
    }
}
