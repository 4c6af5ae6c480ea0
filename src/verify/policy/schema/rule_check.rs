//! The checks of one `[[rule]]`: its name, artifact globs, signers (defined, listed once), a
//! threshold within 1..=signers, non-empty formats, predicate types and SSHSIG namespace.

use std::collections::HashSet;

use super::{Ctx, RawRule};
use crate::verify::glob;
use crate::verify::policy::{Format, PolicyError, Rule, Signer};

/// Check rule number `n` (1-based, for its default name) against the defined signers.
pub(super) fn check_rule(
    cx: &Ctx<'_>,
    r: &RawRule,
    n: usize,
    signers: &[Signer],
) -> Result<Rule, PolicyError> {
    let name = match &r.name {
        Some(s) if s.get_ref().trim().is_empty() => {
            return Err(cx.err(
                s.span(),
                "empty rule name".into(),
                "name = \"wheels\", or leave name out",
            ));
        }
        Some(s) => s.get_ref().trim().to_string(),
        None => format!("rule {n}"),
    };
    if r.artifacts.get_ref().is_empty() {
        return Err(cx.err(
            r.artifacts.span(),
            format!("rule {name:?} has no artifact globs"),
            "artifacts = [\"mypkg-*.whl\"]",
        ));
    }
    let mut artifacts = Vec::new();
    for g in r.artifacts.get_ref() {
        glob::check_pattern(g.get_ref()).map_err(|e| {
            cx.err(
                g.span(),
                format!("rule {name:?}: {e}"),
                "globs use * and ? on the file name",
            )
        })?;
        artifacts.push(g.get_ref().clone());
    }
    let mut names: Vec<String> = Vec::new();
    for s in r.signers.get_ref() {
        let signer = s.get_ref();
        if !signers.iter().any(|o| &o.name == signer) {
            let known: Vec<&str> = signers.iter().map(|o| o.name.as_str()).collect();
            return Err(cx.err(
                s.span(),
                format!("rule {name:?} names signer {signer:?}, which no [[signer]] defines"),
                &format!("the signers are: {}", known.join(", ")),
            ));
        }
        if names.contains(signer) {
            return Err(cx.err(
                s.span(),
                format!("rule {name:?} lists signer {signer:?} twice"),
                "list each signer once",
            ));
        }
        names.push(signer.clone());
    }
    if names.is_empty() {
        return Err(cx.err(
            r.signers.span(),
            format!("rule {name:?} has no signers"),
            "signers = [\"alice\"]",
        ));
    }
    let threshold = match &r.threshold {
        None => 1,
        Some(t) => usize::try_from(*t.get_ref())
            .ok()
            .filter(|k| (1..=names.len()).contains(k))
            .ok_or_else(|| {
                cx.err(
                    t.span(),
                    format!(
                        "rule {name:?}: threshold {} is not between 1 and its {} signer(s)",
                        t.get_ref(),
                        names.len()
                    ),
                    "threshold is how many of the rule's signers must have signed",
                )
            })?,
    };
    let formats = match &r.formats {
        None => Format::ALL.to_vec(),
        Some(f) if f.get_ref().is_empty() => {
            return Err(cx.err(
                f.span(),
                format!("rule {name:?} accepts no format"),
                "formats = [\"dsse\", \"bundle\", \"sshsig\", \"raw\"], or leave formats out for all",
            ));
        }
        Some(f) => {
            let set: HashSet<Format> = f.get_ref().iter().copied().collect();
            Format::ALL
                .into_iter()
                .filter(|x| set.contains(x))
                .collect()
        }
    };
    let predicate_types = match &r.predicate_types {
        Some(p) if p.get_ref().is_empty() || p.get_ref().iter().any(|t| t.trim().is_empty()) => {
            return Err(cx.err(
                p.span(),
                format!("rule {name:?}: empty predicate_types"),
                "predicate_types = [\"https://in-toto.io/attestation/release/v0.1\"], or leave it out for any",
            ));
        }
        p => p.as_ref().map(|p| p.get_ref().clone()),
    };
    let sshsig_namespace = match &r.sshsig_namespace {
        Some(ns) if ns.get_ref().is_empty() => {
            return Err(cx.err(
                ns.span(),
                format!("rule {name:?}: empty sshsig_namespace"),
                "sshsig_namespace = \"file\"",
            ));
        }
        Some(ns) => ns.get_ref().clone(),
        None => "file".to_string(),
    };
    Ok(Rule {
        name,
        artifacts,
        signers: names,
        threshold,
        formats,
        predicate_types,
        sshsig_namespace,
    })
}
