//! The verification entry point: read the envelope (DSSE or Sigstore bundle) or the signature
//! files (SSHSIG or raw), hash the artifacts, gather per artifact the signers whose signatures
//! verified, then let the first matching rule decide: signers revoked or outside their validity
//! window at `now`, not allowed by the rule, or in a format, predicate type or SSHSIG namespace
//! the rule does not accept do not count; the others count once each toward the threshold.

use std::path::{Path, PathBuf};

use super::policy::{Format, Policy};
use super::report::ArtifactVerdict;
use super::{VerifyError, bundle, dsse, raw, sshsig};
use crate::client::hash;
use crate::proto::scheme::HashAlg;
use crate::pubkey::hex;

/// What vouches for the artifacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyInput {
    /// A DSSE envelope or a Sigstore bundle (told apart by `mediaType`) with a subject per
    /// artifact.
    Envelope(PathBuf),
    /// Signature files, SSHSIG or raw (told apart by content), each for the artifact it is
    /// named after (`FILE.sig`, `FILE.rawsig` → `FILE`); several may cover one artifact. With
    /// one artifact and one signature file they pair whatever their names.
    Signatures(Vec<PathBuf>),
}

/// A signature that verified with a policy signer's key, and what the rule needs to judge it.
#[derive(Debug)]
struct Evidence {
    format: Format,
    signer: usize,
    predicate_type: Option<String>,
    namespace: Option<String>,
}

/// What is known about one artifact before its rule is applied.
#[derive(Debug, Default)]
struct Findings {
    evidence: Vec<Evidence>,
    rejected: Vec<String>,
}

/// A file's digests: SHA-256 first, then SHA-512 when asked for.
type Digests = Result<Vec<Vec<u8>>, String>;

fn file_name(path: &Path) -> Option<&str> {
    path.file_name().and_then(|n| n.to_str())
}

/// Verify `artifacts` against `policy` with what `input` provides, at time `now` (unix
/// seconds). One verdict per artifact, in order; the artifacts are verified only if every
/// verdict says so ([`super::report::all_verified`]).
pub fn verify(
    policy: &Policy,
    input: VerifyInput,
    artifacts: &[PathBuf],
    now: u64,
) -> Vec<ArtifactVerdict> {
    let findings = match &input {
        VerifyInput::Envelope(path) => {
            let digests = hash_all(artifacts, &[HashAlg::Sha256]);
            envelope_findings(policy, path, artifacts, &digests)
        }
        VerifyInput::Signatures(sigs) => {
            let digests = hash_all(artifacts, &[HashAlg::Sha256, HashAlg::Sha512]);
            signature_findings(policy, sigs, artifacts, &digests)
        }
    };
    artifacts
        .iter()
        .zip(findings)
        .map(|(a, f)| decide(policy, a, f, now))
        .collect()
}

/// Hash every artifact (in parallel); when one cannot be read, each file again on its own so
/// that only that one gets the error.
fn hash_all(artifacts: &[PathBuf], algs: &[HashAlg]) -> Vec<Digests> {
    match hash::hash_files(artifacts, algs) {
        Ok(all) => all.into_iter().map(|d| Ok(d.digests)).collect(),
        Err(_) => artifacts
            .iter()
            .map(|p| match hash::hash_files(std::slice::from_ref(p), algs) {
                Ok(mut one) => one
                    .pop()
                    .map(|d| d.digests)
                    .ok_or_else(|| format!("{}: was not hashed", p.display())),
                Err(e) => Err(e.to_string()),
            })
            .collect(),
    }
}

fn rejected_all(n: usize, reason: &str) -> Vec<Findings> {
    (0..n)
        .map(|_| Findings {
            evidence: Vec::new(),
            rejected: vec![reason.to_string()],
        })
        .collect()
}

/// Read an envelope file: a Sigstore bundle if it has a `mediaType`, else a DSSE envelope.
pub fn read_envelope(path: &Path) -> Result<(Format, dsse::ParsedEnvelope), VerifyError> {
    let text = std::fs::read(path).map_err(|source| VerifyError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let json: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| VerifyError::malformed(path.display().to_string(), e))?;
    if bundle::is_bundle(&json) {
        Ok((Format::Bundle, bundle::parse_bundle(&text)?))
    } else {
        Ok((Format::Dsse, dsse::parse_envelope(&text)?))
    }
}

fn envelope_findings(
    policy: &Policy,
    path: &Path,
    artifacts: &[PathBuf],
    digests: &[Digests],
) -> Vec<Findings> {
    let verified = read_envelope(path)
        .and_then(|(format, env)| Ok((format, dsse::verify_envelope(policy, &env)?)));
    let (format, v) = match verified {
        Ok(x) => x,
        Err(e) => return rejected_all(artifacts.len(), &e.to_string()),
    };
    artifacts
        .iter()
        .zip(digests)
        .map(|(artifact, digest)| {
            let mut f = Findings {
                evidence: Vec::new(),
                rejected: v.rejected.clone(),
            };
            // Without a trusted signature the statement is not read: the rejections explain.
            let (Some(st), Some(name)) = (&v.statement, file_name(artifact)) else {
                return f;
            };
            let checked = digest.as_ref().map_err(Clone::clone).and_then(|d| {
                dsse::check_subject(st, name, &hex(&d[0])).map_err(|e| e.to_string())
            });
            match checked {
                Ok(()) => {
                    f.evidence = v
                        .signers
                        .iter()
                        .map(|&signer| Evidence {
                            format,
                            signer,
                            predicate_type: Some(st.predicate_type.clone()),
                            namespace: None,
                        })
                        .collect();
                }
                Err(e) => f.rejected.push(e),
            }
            f
        })
        .collect()
}

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
            .and_then(|n| n.strip_suffix(".sig").or_else(|| n.strip_suffix(".rawsig")))
            .ok_or_else(|| {
                VerifyError::Refused(format!(
                    "{shown}: cannot tell which artifact it is for: name it FILE.sig or FILE.rawsig"
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

fn signature_findings(
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
        });
    }
    if trimmed.starts_with("-----BEGIN") {
        return Err(VerifyError::Refused(
            "armored, but not an SSH signature; signature files are SSHSIG or raw base64".into(),
        ));
    }
    let raw_sig = raw::decode(&text, "the raw signature")?;
    let signer = raw::verify(policy, &raw_sig, artifact, &digests[0])?;
    Ok(Evidence {
        format: Format::Raw,
        signer,
        predicate_type: None,
        namespace: None,
    })
}

/// Apply the artifact's rule to what was found.
fn decide(policy: &Policy, artifact: &Path, found: Findings, now: u64) -> ArtifactVerdict {
    let shown = artifact.display().to_string();
    let Some(name) = file_name(artifact) else {
        return ArtifactVerdict::failed(shown, "the file name is not UTF-8");
    };
    let Some(rule) = policy.rule_for(name) else {
        let mut v = ArtifactVerdict::failed(shown, "artifact matches no rule");
        v.rejected.extend(found.rejected);
        return v;
    };
    let mut rejected = found.rejected;
    let mut counted: Vec<usize> = Vec::new();
    for ev in found.evidence {
        let signer = &policy.signers[ev.signer];
        let who = &signer.name;
        let rule_name = &rule.name;
        let reason = if let Some(why) = signer.unusable_at(now) {
            Some(why)
        } else if !rule.allows(who) {
            Some(format!("{who}: not a signer of rule {rule_name:?}"))
        } else if !rule.accepts_format(ev.format) {
            Some(format!(
                "{who}: {} signatures are not accepted by rule {rule_name:?}",
                ev.format
            ))
        } else if let Some(t) = ev.predicate_type.filter(|t| !rule.accepts_predicate(t)) {
            Some(format!(
                "{who}: predicateType {t} is not accepted by rule {rule_name:?}"
            ))
        } else if let Some(ns) = ev.namespace.filter(|ns| *ns != rule.sshsig_namespace) {
            Some(format!(
                "{who}: SSHSIG namespace {ns:?}, but rule {rule_name:?} wants {:?}",
                rule.sshsig_namespace
            ))
        } else {
            None
        };
        match reason {
            Some(r) if !rejected.contains(&r) => rejected.push(r),
            Some(_) => {}
            None if !counted.contains(&ev.signer) => counted.push(ev.signer),
            None => {}
        }
    }
    counted.sort_unstable();
    ArtifactVerdict {
        artifact: shown,
        verified: counted.len() >= rule.threshold,
        rule: Some(rule.name.clone()),
        threshold: Some(rule.threshold),
        allowed: Some(rule.signers.len()),
        signers: counted
            .iter()
            .map(|&i| policy.signers[i].name.clone())
            .collect(),
        rejected,
    }
}

#[cfg(test)]
mod tests;
