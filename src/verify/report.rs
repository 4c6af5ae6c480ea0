//! The verdicts of `hwsign verify`: one per artifact, with the rule that decided, the signers
//! that counted and why anything was rejected; rendered for humans (one line per artifact) or
//! as JSON for machines.
//!
//! The human report escapes every string in it ([`crate::text`]): artifact names, and the
//! rejection reasons that quote key ids, payload and media types from untrusted envelopes and
//! signatures, so that a key id of `\r\e[2K OK …\e[8m` cannot paint a fake "OK" line on a
//! terminal. The JSON report escapes by itself.

use serde::Serialize;

use crate::text::{self, Escaped};

/// A bound for one rejection reason in the human report.
const REASON_MAX: usize = 1000;

/// The verdict on one artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactVerdict {
    /// The artifact as named on the command line.
    pub artifact: String,
    /// Whether enough trusted signers signed it.
    pub verified: bool,
    /// The rule that decided (none when no rule matches the artifact).
    pub rule: Option<String>,
    /// How many distinct signers the rule requires.
    pub threshold: Option<usize>,
    /// How many signers the rule allows.
    pub allowed: Option<usize>,
    /// The signers that counted, in policy order.
    pub signers: Vec<String>,
    /// Why signatures, signers or the artifact were rejected, for humans.
    pub rejected: Vec<String>,
}

impl ArtifactVerdict {
    /// A verdict that is not verified, with no rule, for `reason`.
    pub fn failed(artifact: impl Into<String>, reason: impl Into<String>) -> Self {
        ArtifactVerdict {
            artifact: artifact.into(),
            verified: false,
            rule: None,
            threshold: None,
            allowed: None,
            signers: Vec::new(),
            rejected: vec![reason.into()],
        }
    }

    /// One line: `OK   a.whl  rule "wheels" (2 of 3): alice, bob` or
    /// `FAIL a.whl  rule "wheels": 1 of 2 required signers (alice); rejected: …`.
    pub fn to_line(&self) -> String {
        let status = if self.verified { "OK  " } else { "FAIL" };
        let mut line = format!("{status} {}  ", Escaped::name(&self.artifact));
        let signers = || {
            self.signers
                .iter()
                .map(|s| text::name(s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (&self.rule, self.threshold, self.allowed) {
            (Some(rule), Some(k), Some(n)) if self.verified => {
                line.push_str(&format!(
                    "rule \"{}\" ({k} of {n}): {}",
                    Escaped::name(rule),
                    signers()
                ));
            }
            (Some(rule), Some(k), _) => {
                line.push_str(&format!(
                    "rule \"{}\": {} of {k} required signers",
                    Escaped::name(rule),
                    self.signers.len()
                ));
                if !self.signers.is_empty() {
                    line.push_str(&format!(" ({})", signers()));
                }
            }
            _ => {}
        }
        if !self.rejected.is_empty() {
            if self.rule.is_some() {
                line.push_str("; rejected: ");
            }
            let reasons: Vec<String> = self
                .rejected
                .iter()
                .map(|r| text::for_terminal(r, REASON_MAX))
                .collect();
            line.push_str(&reasons.join("; "));
        }
        line.trim_end().to_string()
    }
}

/// Whether every artifact is verified (and there is at least one).
pub fn all_verified(verdicts: &[ArtifactVerdict]) -> bool {
    !verdicts.is_empty() && verdicts.iter().all(|v| v.verified)
}

/// The human report: one line per artifact and a summary line.
pub fn render_human(verdicts: &[ArtifactVerdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        out.push_str(&v.to_line());
        out.push('\n');
    }
    let ok = verdicts.iter().filter(|v| v.verified).count();
    out.push_str(&format!(
        "{ok} of {} artifact(s) verified\n",
        verdicts.len()
    ));
    out
}

/// The signers whose key attestation the policy verified, one line each (`attested yk:
/// YubiKey serial …`), in policy order; empty when the policy asks for none. Names and
/// certificate strings escaped.
pub fn render_attestations(signers: &[crate::verify::policy::Signer]) -> String {
    signers
        .iter()
        .filter_map(|s| {
            let a = s.attestation.as_ref()?;
            Some(format!(
                "attested {}: {}\n",
                Escaped::name(&s.name),
                a.describe()
            ))
        })
        .collect()
}

/// The verified attestations for the JSON report: `[{"signer", "serial", "firmware", "slot",
/// "touch_policy", "pin_policy", "form_factor", "chain"}]`.
pub fn attestations_json(signers: &[crate::verify::policy::Signer]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = signers
        .iter()
        .filter_map(|s| {
            let a = s.attestation.as_ref()?;
            let d = &a.device;
            Some(serde_json::json!({
                "signer": s.name,
                "kind": "yubico-piv",
                "serial": d.serial,
                "firmware": d.firmware_text(),
                "form_factor": d.form_factor_text(),
                "slot": a.slot,
                "touch_policy": d.touch.map(|t| t.name()),
                "pin_policy": d.pin.map(|p| p.name()),
                "chain": a.path,
            }))
        })
        .collect();
    serde_json::Value::Array(list)
}

/// The JSON report: `{"verified": bool, "artifacts": [verdict, …]}`.
pub fn to_json(verdicts: &[ArtifactVerdict]) -> serde_json::Value {
    serde_json::json!({
        "verified": all_verified(verdicts),
        "artifacts": verdicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(verified: bool, signers: &[&str], rejected: &[&str]) -> ArtifactVerdict {
        ArtifactVerdict {
            artifact: "mypkg-1.0.whl".into(),
            verified,
            rule: Some("wheels".into()),
            threshold: Some(2),
            allowed: Some(3),
            signers: signers.iter().map(|s| s.to_string()).collect(),
            rejected: rejected.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn lines() {
        assert_eq!(
            verdict(true, &["alice", "bob"], &[]).to_line(),
            "OK   mypkg-1.0.whl  rule \"wheels\" (2 of 3): alice, bob"
        );
        assert_eq!(
            verdict(false, &["alice"], &["bob: revoked (key lost)"]).to_line(),
            "FAIL mypkg-1.0.whl  rule \"wheels\": 1 of 2 required signers (alice); rejected: bob: revoked (key lost)"
        );
        assert_eq!(
            verdict(false, &[], &[]).to_line(),
            "FAIL mypkg-1.0.whl  rule \"wheels\": 0 of 2 required signers"
        );
        assert_eq!(
            ArtifactVerdict::failed("x.bin", "artifact matches no rule").to_line(),
            "FAIL x.bin  artifact matches no rule"
        );
    }

    /// No character a terminal acts on or reorders by (ESC, CR, bidi…) in `s`, newlines aside.
    fn inert(s: &str) -> bool {
        !s.chars()
            .any(|c| c != '\n' && c != '\\' && text::needs_escape(c))
    }

    #[test]
    fn hostile_key_ids_and_types_cannot_paint_a_fake_ok_line() {
        let keyid = "\r\x1b[2KOK   mypkg-1.0.whl  rule \"wheels\" (2 of 3): alice, bob\x1b[8m";
        let v = ArtifactVerdict {
            artifact: "mypkg\u{202e}lhw.0.1-".into(),
            verified: false,
            rule: Some("wheels".into()),
            threshold: Some(2),
            allowed: Some(3),
            signers: vec![],
            rejected: vec![
                format!("signature with key id {keyid}: no signer has this key"),
                "payload type application/x\u{2066}evil\u{2069}\n: not in-toto".into(),
            ],
        };
        let line = v.to_line();
        assert!(inert(&line), "{line:?}");
        assert!(!line.contains('\n') && !line.contains('\r') && !line.contains('\x1b'));
        assert!(
            line.starts_with("FAIL mypkg\\u{202e}lhw.0.1-  rule"),
            "{line}"
        );
        assert!(line.contains("key id \\r\\x1b[2KOK"), "{line}");
        assert!(
            line.contains("application/x\\u{2066}evil\\u{2069}\\n"),
            "{line}"
        );
        let report = render_human(&[v]);
        assert!(inert(&report));
        assert_eq!(report.lines().count(), 2, "{report}");
        // A flood is bounded.
        let long = ArtifactVerdict::failed("a", "k".repeat(10_000)).to_line();
        assert!(long.len() < 1100 && long.contains("…[+9000 chars]"));
    }

    #[test]
    fn plain_names_are_unchanged() {
        assert_eq!(
            ArtifactVerdict::failed("paquet-été-ü.tar.gz", "artifact matches no rule").to_line(),
            "FAIL paquet-été-ü.tar.gz  artifact matches no rule"
        );
    }

    #[test]
    fn summary_and_json() {
        let vs = [
            verdict(true, &["a", "b"], &[]),
            ArtifactVerdict::failed("y", "no"),
        ];
        assert!(!all_verified(&vs));
        assert!(all_verified(&vs[..1]));
        assert!(!all_verified(&[]));
        assert!(render_human(&vs).ends_with("1 of 2 artifact(s) verified\n"));
        let j = to_json(&vs);
        assert_eq!(j["verified"], false);
        assert_eq!(j["artifacts"][0]["signers"][1], "b");
        assert_eq!(j["artifacts"][1]["rule"], serde_json::Value::Null);
    }
}
