//! The verification entry point: read the envelope (DSSE or Sigstore bundle) or the signature
//! files (SSHSIG or raw), hash the artifacts, gather per artifact the signers whose signatures
//! verified, then let the first matching rule decide: signers revoked or outside their validity
//! window at `now`, not allowed by the rule, or in a format, predicate type or SSHSIG namespace
//! the rule does not accept do not count; the others count once each toward the threshold.

use std::path::{Path, PathBuf};

mod signatures;

pub use signatures::pair_signatures;

use super::policy::{Format, Policy};
use super::report::ArtifactVerdict;
use super::{VerifyError, bundle, dsse};
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
    /// When the signature was made, if the format carries a time (OpenPGP).
    time: Option<u64>,
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
            signatures::findings(policy, sigs, artifacts, &digests)
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
                            time: None,
                        })
                        .collect();
                }
                Err(e) => f.rejected.push(e),
            }
            f
        })
        .collect()
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
        let reason = if let Some(why) = signer.unusable_at(ev.time.unwrap_or(now)) {
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
        } else {
            ev.namespace
                .filter(|ns| *ns != rule.sshsig_namespace)
                .map(|ns| {
                    format!(
                        "{who}: SSHSIG namespace {ns:?}, but rule {rule_name:?} wants {:?}",
                        rule.sshsig_namespace
                    )
                })
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
