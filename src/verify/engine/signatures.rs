//! Signature files for `VerifyInput::Signatures`: which artifact each is for, and what each
//! proves: an SSHSIG (`-----BEGIN SSH SIGNATURE-----`) or a raw base64 signature, told apart
//! by content.

use std::path::{Path, PathBuf};

use super::{Digests, Evidence, Findings, file_name, rejected_all};
use crate::proto::scheme::HashAlg;
use crate::verify::policy::{Format, Policy};
use crate::verify::{VerifyError, raw, sshsig};

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
            })
            .ok_or_else(|| {
                VerifyError::Refused(format!(
                    "{shown}: cannot tell which artifact it is for: name it FILE.sig, FILE.rawsig or FILE.asc"
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

/// What the signature files prove about each artifact.
pub(super) fn findings(
    policy: &Policy,
    sigs: &[PathBuf],
    artifacts: &[PathBuf],
    digests: &[Digests],
) -> Vec<Findings> {
    let pairs = match pair_signatures(sigs, artifacts) {
        Ok(p) => p,
        Err(e) => return rejected_all(artifacts.len(), &e.to_string()),
    };
    let mut out: Vec<Findings> = artifacts.iter().map(|_| Findings::default()).collect();
    for (sig, i) in pairs {
        let name = file_name(&sig).map_or_else(|| sig.display().to_string(), str::to_string);
        let result = match &digests[i] {
            Err(e) => Err(e.clone()),
            Ok(d) => check_signature_file(policy, &sig, &artifacts[i], d)
                .map_err(|e| format!("{name}: {e}")),
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

/// Verify one SSHSIG or raw signature file over `artifact` (whose SHA-256 and SHA-512 are
/// `digests`).
fn check_signature_file(
    policy: &Policy,
    sig: &Path,
    artifact: &Path,
    digests: &[Vec<u8>],
) -> Result<Evidence, VerifyError> {
    let bytes = std::fs::read(sig).map_err(|source| VerifyError::File {
        path: sig.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| VerifyError::malformed("the signature file", "not text"))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with(sshsig::ARMOR_BEGIN) {
        let parsed = sshsig::parse(trimmed, "the SSH signature")?;
        let digest = match sshsig::hash_alg(&parsed)? {
            HashAlg::Sha256 => &digests[0],
            _ => digests.get(1).unwrap_or(&digests[0]),
        };
        let check = sshsig::verify(policy, &parsed, digest)?;
        return Ok(Evidence {
            format: Format::Sshsig,
            signer: check.signer,
            predicate_type: None,
            namespace: Some(check.namespace),
            time: None,
        });
    }
    if trimmed.starts_with(crate::verify::openpgp::ARMOR_BEGIN) {
        let (signer, time) = crate::verify::openpgp::verify(policy, trimmed.as_bytes(), artifact)?;
        return Ok(Evidence {
            format: Format::Openpgp,
            signer,
            predicate_type: None,
            namespace: None,
            time: Some(time),
        });
    }
    if trimmed.starts_with("-----BEGIN") {
        return Err(VerifyError::Refused(
            "armored, but neither an SSH nor an OpenPGP signature; signature files are SSHSIG, OpenPGP or raw base64".into(),
        ));
    }
    let raw_sig = raw::decode(&text, "the raw signature")?;
    let signer = raw::verify(policy, &raw_sig, artifact, &digests[0])?;
    Ok(Evidence {
        format: Format::Raw,
        signer,
        predicate_type: None,
        namespace: None,
        time: None,
    })
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
