//! The verification entry point: read the envelope (DSSE or Sigstore bundle) or the signature
//! files (SSHSIG, OpenPGP or raw), read each artifact once (every digest the signatures need
//! in that one pass, see [`content`]), gather per artifact the signers whose signatures
//! verified, then let the first matching rule decide: signers revoked, outside their validity
//! window, whose certificate or key is revoked or expired, not allowed by the rule, or in a
//! format, predicate type or SSHSIG namespace the rule does not accept do not count; the
//! others count once each toward the threshold.
//!
//! **When a signature is judged** (one rule for every check of a signer: the policy's
//! `revoked` and `valid_from`/`valid_until`, and the revocations and expiry of its
//! `openpgp_cert`, which apply to every key of the certificate in every format):
//!
//! - DSSE envelopes, Sigstore bundles, SSHSIG and raw signatures carry no signing time: they
//!   are judged at the verification time. Any revocation or expiry in force then stops them.
//! - OpenPGP signatures are judged at their creation time, which the signer chose; a
//!   signature dated more than [`super::openpgp::CLOCK_SKEW`] after the verification time is
//!   refused, as is an expired one. A `compromised` (or reasonless) certificate revocation
//!   applies whatever the time; `superseded`/`retired` from their date on. With the policy's
//!   `openpgp_time = "verification"` they are judged at both times.
//! - A policy `[signer.revoked]` stops every signature of the signer, whatever its time.

use std::path::{Path, PathBuf};

pub(crate) mod content;
mod signatures;

pub use signatures::pair_signatures;

use content::{Content, Needs};
use sequoia_openpgp::Fingerprint;

use super::policy::{Format, OpenpgpTime, Policy};
use super::report::ArtifactVerdict;
use super::{VerifyError, bundle, dsse, openpgp};
use crate::crypto::pubkey::hex;

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
    /// The key of the signer's OpenPGP certificate that made it, if it comes from one.
    key: Option<Fingerprint>,
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

/// An artifact's content as read once, or why it could not be read.
type Read1 = Result<Content, String>;

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
    verify_in(policy, input, artifacts, None, now)
}

/// [`verify`], matching artifacts to an envelope's subjects by their paths relative to `base`
/// (`linux/tool`; `hwsign attest --base`) instead of their file names. Policy rules still
/// match file names.
pub fn verify_in(
    policy: &Policy,
    input: VerifyInput,
    artifacts: &[PathBuf],
    base: Option<&Path>,
    now: u64,
) -> Vec<ArtifactVerdict> {
    let findings = match &input {
        VerifyInput::Envelope(path) => {
            let contents = content::read_all(artifacts, vec![Needs::default(); artifacts.len()]);
            envelope_findings(policy, path, artifacts, base, &contents)
        }
        VerifyInput::Signatures(sigs) => signatures::findings(policy, sigs, artifacts, now),
    };
    artifacts
        .iter()
        .zip(findings)
        .map(|(a, f)| decide(policy, a, f, now))
        .collect()
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

/// The name an artifact has among an envelope's subjects: its path relative to `base` (with
/// `/`, no `..`), or its file name.
fn subject_name(artifact: &Path, base: Option<&Path>) -> Option<String> {
    match base {
        None => file_name(artifact).map(str::to_string),
        Some(base) => crate::subject_name::under(artifact, base).ok(),
    }
}

fn envelope_findings(
    policy: &Policy,
    path: &Path,
    artifacts: &[PathBuf],
    base: Option<&Path>,
    contents: &[Read1],
) -> Vec<Findings> {
    let verified = read_envelope(path)
        .and_then(|(format, env)| Ok((format, dsse::verify_envelope(policy, &env)?)));
    let (format, v) = match verified {
        Ok(x) => x,
        Err(e) => return rejected_all(artifacts.len(), &e.to_string()),
    };
    // Subjects by name, so that a release of 100,000 files is not 10^10 comparisons.
    let mut by_name: std::collections::HashMap<&str, Vec<usize>> = Default::default();
    if let Some(st) = &v.statement {
        for (i, s) in st.subject.iter().enumerate() {
            by_name.entry(s.name.as_str()).or_default().push(i);
        }
    }
    artifacts
        .iter()
        .zip(contents)
        .map(|(artifact, content)| {
            let mut f = Findings {
                evidence: Vec::new(),
                rejected: v.rejected.clone(),
            };
            // Without a trusted signature the statement is not read: the rejections explain.
            let Some(st) = &v.statement else {
                return f;
            };
            let Some(name) = subject_name(artifact, base) else {
                // Without a base, the verdict says what is wrong with the name.
                if let Some(b) = base {
                    f.rejected.push(format!("not under --base {}", b.display()));
                }
                return f;
            };
            let name = name.as_str();
            // The statement as far as this name goes (the subjects of that name).
            let named = dsse::InTotoStatement {
                type_: st.type_.clone(),
                subject: by_name
                    .get(name)
                    .map(|ix| ix.iter().map(|&i| st.subject[i].clone()).collect())
                    .unwrap_or_default(),
                predicate_type: st.predicate_type.clone(),
            };
            let checked = content.as_ref().map_err(Clone::clone).and_then(|c| {
                dsse::check_subject(&named, name, &hex(&c.sha256)).map_err(|e| e.to_string())
            });
            match checked {
                Ok(()) => {
                    f.evidence = v
                        .signers
                        .iter()
                        .zip(&v.keys)
                        .map(|(&signer, &key)| Evidence {
                            format,
                            signer,
                            key: policy.signers[signer].keys[key].openpgp.clone(),
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

/// Why `ev` does not count for its signer, as far as the signer itself goes (not the rule):
/// the policy's revocation and window, and its certificate's revocations and expiry of the
/// key that signed, at the times the module documentation gives.
fn signer_problem(policy: &Policy, ev: &Evidence, now: u64) -> Option<String> {
    let signer = &policy.signers[ev.signer];
    let mut times = vec![ev.time.unwrap_or(now)];
    if ev.time.is_some() && policy.openpgp_time == OpenpgpTime::Verification {
        times.push(now);
    }
    times.dedup();
    for &t in &times {
        if let Some(why) = signer.unusable_at(t) {
            return Some(why);
        }
        if let (Some(cert), Some(fpr)) = (&signer.openpgp_cert, &ev.key)
            && let Err(why) = openpgp::key_status(cert, fpr, t)
        {
            return Some(format!("{}: {why}", signer.name));
        }
    }
    None
}

/// Apply the artifact's rule to what was found.
fn decide(policy: &Policy, artifact: &Path, found: Findings, now: u64) -> ArtifactVerdict {
    let shown = artifact.display().to_string();
    if artifact.is_dir() {
        return ArtifactVerdict::failed(shown, "is a directory, not a file to verify");
    }
    let Some(name) = file_name(artifact) else {
        let why = if artifact.file_name().is_none() {
            "names no file"
        } else {
            "the file name is not UTF-8"
        };
        return ArtifactVerdict::failed(shown, why);
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
        let reason = if let Some(why) = signer_problem(policy, &ev, now) {
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
