//! The trust policy's TOML schema as serde reads it (unknown fields refused, values with their
//! positions), and its conversion into a checked [`Policy`]: every error names the line and
//! says what to write instead.

mod attestation_check;
mod rule_check;

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{
    Format, OpenpgpTime, Policy, PolicyError, Revocation, Rule, Signer, SignerKey, parse_public_key,
};
use crate::verify::{glob, openpgp, time};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    openpgp_time: OpenpgpTime,
    #[serde(default)]
    signer: Vec<RawSigner>,
    #[serde(default)]
    rule: Vec<RawRule>,
    /// Roots besides Yubico's that signers' attestations may chain to.
    #[serde(default)]
    attestation_roots: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigner {
    name: Spanned<String>,
    key: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    openpgp_cert: Option<Spanned<String>>,
    valid_from: Option<Spanned<toml::Value>>,
    valid_until: Option<Spanned<toml::Value>>,
    revoked: Option<RawRevoked>,
    attestation: Option<Spanned<String>>,
    attestation_file: Option<Spanned<String>>,
    touch_policy: Option<Spanned<attestation_check::OneOrMany>>,
    pin_policy: Option<Spanned<attestation_check::OneOrMany>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevoked {
    reason: String,
    time: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<Spanned<String>>,
    artifacts: Spanned<Vec<Spanned<String>>>,
    signers: Spanned<Vec<Spanned<String>>>,
    threshold: Option<Spanned<i64>>,
    formats: Option<Spanned<Vec<Format>>>,
    predicate_types: Option<Spanned<Vec<String>>>,
    sshsig_namespace: Option<Spanned<String>>,
}

/// Builds errors that point at a line of the policy text.
struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: String, hint: &str) -> PolicyError {
        let end = span.start.min(self.text.len());
        PolicyError::Invalid {
            file: self.file.to_string(),
            line: self.text.as_bytes()[..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1,
            message,
            hint: hint.to_string(),
        }
    }

    fn time(&self, what: &str, v: &Spanned<toml::Value>) -> Result<u64, PolicyError> {
        let parsed = match v.get_ref() {
            toml::Value::String(s) => time::parse_rfc3339(s),
            toml::Value::Datetime(d) => time::parse_rfc3339(&d.to_string()),
            other => Err(format!("{} is not a time", other.type_str())),
        };
        parsed.map_err(|e| {
            self.err(
                v.span(),
                format!("{what}: {e}"),
                "write an RFC 3339 time in UTC or with an offset, e.g. \"2026-01-01T00:00:00Z\"",
            )
        })
    }
}

/// Parse and check policy text.
pub(super) fn parse(text: &str, base_dir: &Path, file: &str) -> Result<Policy, PolicyError> {
    let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax {
        file: file.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let cx = Ctx { text, file };
    if raw.signer.is_empty() || raw.rule.is_empty() {
        return Err(cx.err(
            0..0,
            "the policy needs at least one [[signer]] and one [[rule]]".into(),
            "add a [[signer]] with name and key, and a [[rule]] with artifacts and signers",
        ));
    }
    let mut signers: Vec<Signer> = Vec::new();
    // Every signing-capable key material of each signer so far (OpenPGP form, for keys of
    // certificates, including those hwsign cannot represent otherwise).
    let mut materials: Vec<Vec<openpgp::MaterialId>> = Vec::new();
    let roots = attestation_check::extra_roots(&cx, &raw.attestation_roots, base_dir)?;
    for s in &raw.signer {
        let (signer, material) = check_signer(&cx, s, base_dir, &roots)?;
        let span = s.name.span();
        if signers.iter().any(|o| o.name == signer.name) {
            return Err(cx.err(
                span,
                format!("signer name {:?} is used twice", signer.name),
                "give every [[signer]] its own name",
            ));
        }
        if let Some(clash) = shared_key(&signer, &material, &signers, &materials) {
            return Err(cx.err(
                span,
                clash,
                "a key belongs to one signer: remove one of them, or fix the key (every signing key of an openpgp_cert, subkeys too, counts)",
            ));
        }
        signers.push(signer);
        materials.push(material);
    }
    let mut rules: Vec<Rule> = Vec::new();
    for (i, r) in raw.rule.iter().enumerate() {
        let rule = rule_check::check_rule(&cx, r, i + 1, &signers)?;
        if rules.iter().any(|o| o.name == rule.name) {
            let span = r.name.as_ref().map_or(r.artifacts.span(), Spanned::span);
            return Err(cx.err(
                span,
                format!("rule name {:?} is used twice", rule.name),
                "give every [[rule]] its own name",
            ));
        }
        if let Some(o) = rules
            .iter()
            .find(|o| glob::covers(&o.artifacts, &rule.artifacts))
        {
            let span = r.name.as_ref().map_or(r.artifacts.span(), Spanned::span);
            return Err(cx.err(
                span,
                format!(
                    "rule {:?} never decides: rule {:?} comes first and matches every artifact it matches (the first matching rule decides)",
                    rule.name, o.name
                ),
                "put the stricter rule first, or narrow the earlier rule's artifacts",
            ));
        }
        rules.push(rule);
    }
    Ok(Policy {
        signers,
        rules,
        openpgp_time: raw.openpgp_time,
    })
}

/// Why `signer` cannot join `earlier`: one of its keys (the pinned key or a signing subkey of
/// its certificate) is a key of an earlier signer. Names both signers and the key.
fn shared_key(
    signer: &Signer,
    material: &[openpgp::MaterialId],
    earlier: &[Signer],
    materials: &[Vec<openpgp::MaterialId>],
) -> Option<String> {
    let describe = |s: &Signer, k: &SignerKey| match &k.openpgp {
        Some(fpr) if k.key != s.key => format!("signing subkey {fpr} of its openpgp_cert"),
        _ => "its key".to_string(),
    };
    for (o, o_material) in earlier.iter().zip(materials) {
        for k in &signer.keys {
            if let Some(ok) = o.keys.iter().find(|ok| ok.key == k.key) {
                if k.key == signer.key && ok.key == o.key {
                    return Some(format!(
                        "signer {:?} has the same key as signer {:?} (id {})",
                        signer.name,
                        o.name,
                        k.key.key_id()
                    ));
                }
                return Some(format!(
                    "signer {:?} has the same key as signer {:?}: {} is {} of {:?} (id {})",
                    signer.name,
                    o.name,
                    describe(signer, k),
                    describe(o, ok),
                    o.name,
                    k.key.key_id()
                ));
            }
        }
        if let Some(m) = material.iter().find(|m| o_material.contains(m)) {
            return Some(format!(
                "signer {:?} has the same key as signer {:?}: both OpenPGP certificates hold the signing key {}",
                signer.name, o.name, m.fingerprint
            ));
        }
    }
    None
}

fn check_signer(
    cx: &Ctx<'_>,
    s: &RawSigner,
    base_dir: &Path,
    attestation_roots: &[crate::verify::attestation::Cert],
) -> Result<(Signer, Vec<openpgp::MaterialId>), PolicyError> {
    let name = s.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(cx.err(
            s.name.span(),
            "empty signer name".into(),
            "name = \"alice\"",
        ));
    }
    let key_hint = "key = \"ssh-ed25519 AAAA…\" (an OpenSSH public key line or a PEM public key), key_file = \"alice.pub\", or openpgp_cert = \"alice.asc\"";
    let openpgp_cert = match &s.openpgp_cert {
        None => None,
        Some(f) => {
            let path = base_dir.join(f.get_ref());
            let bytes = std::fs::read(&path).map_err(|e| {
                cx.err(
                    f.span(),
                    format!(
                        "signer {name:?}: cannot read openpgp_cert {}: {e}",
                        path.display()
                    ),
                    "openpgp_cert paths are relative to the policy file's directory",
                )
            })?;
            let keys = openpgp::read_cert(&bytes).map_err(|e| {
                cx.err(
                    f.span(),
                    format!("signer {name:?}: openpgp_cert {}: {e}", path.display()),
                    key_hint,
                )
            })?;
            let key = keys.primary.clone();
            Some((keys, key, f.span()))
        }
    };
    let (text, span, origin) = match (&s.key, &s.key_file) {
        (None, None) if openpgp_cert.is_some() => {
            (String::new(), s.name.span(), "openpgp_cert".to_string())
        }
        (Some(k), None) => (k.get_ref().clone(), k.span(), "key".to_string()),
        (None, Some(f)) => {
            let path = base_dir.join(f.get_ref());
            let text = std::fs::read_to_string(&path).map_err(|e| {
                cx.err(
                    f.span(),
                    format!(
                        "signer {name:?}: cannot read key_file {}: {e}",
                        path.display()
                    ),
                    "key_file paths are relative to the policy file's directory",
                )
            })?;
            (text, f.span(), format!("key_file {}", path.display()))
        }
        (Some(k), Some(_)) => {
            return Err(cx.err(
                k.span(),
                format!("signer {name:?} has both key and key_file"),
                "keep one of them",
            ));
        }
        (None, None) => {
            return Err(cx.err(
                s.name.span(),
                format!("signer {name:?} has no key"),
                key_hint,
            ));
        }
    };
    let key = match &openpgp_cert {
        Some((_, cert_key, _)) if text.is_empty() => cert_key.clone(),
        Some((_, cert_key, cert_span)) => {
            let key = parse_public_key(&text).map_err(|e| {
                cx.err(
                    span.clone(),
                    format!("signer {name:?}: {origin}: {e}"),
                    key_hint,
                )
            })?;
            if key != *cert_key {
                return Err(cx.err(
                    cert_span.clone(),
                    format!(
                        "signer {name:?}: the primary key of openpgp_cert is not the signer's key"
                    ),
                    "give the certificate of the same key, or only one of them",
                ));
            }
            key
        }
        None => parse_public_key(&text)
            .map_err(|e| cx.err(span, format!("signer {name:?}: {origin}: {e}"), key_hint))?,
    };
    let valid_from = s
        .valid_from
        .as_ref()
        .map(|v| cx.time("valid_from", v))
        .transpose()?;
    let valid_until = s
        .valid_until
        .as_ref()
        .map(|v| cx.time("valid_until", v))
        .transpose()?;
    match (valid_from, valid_until, &s.valid_until) {
        (Some(from), Some(until), Some(v)) if until <= from => {
            return Err(cx.err(
                v.span(),
                format!("signer {name:?}: valid_until is not after valid_from"),
                "valid_until must be later than valid_from",
            ));
        }
        _ => {}
    }
    let revoked = match &s.revoked {
        None => None,
        Some(r) => Some(Revocation {
            reason: r.reason.trim().to_string(),
            time: r
                .time
                .as_ref()
                .map(|t| cx.time("revoked.time", t))
                .transpose()?,
        }),
    };
    let attestation = attestation_check::check(
        cx,
        &name,
        &attestation_check::RawAttestation {
            kind: s.attestation.as_ref(),
            file: s.attestation_file.as_ref(),
            touch: s.touch_policy.as_ref(),
            pin: s.pin_policy.as_ref(),
            key_file: s.key_file.as_ref(),
        },
        &key,
        base_dir,
        attestation_roots,
    )?;
    let (keys, material, cert) = match openpgp_cert {
        Some((c, _, _)) => (c.keys, c.material, Some(c.cert)),
        None => (
            vec![SignerKey {
                key: key.clone(),
                openpgp: None,
            }],
            Vec::new(),
            None,
        ),
    };
    Ok((
        Signer {
            name,
            key,
            keys,
            valid_from,
            valid_until,
            revoked,
            openpgp_cert: cert,
            attestation,
        },
        material,
    ))
}
