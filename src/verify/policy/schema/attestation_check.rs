//! A signer's `attestation` requirement: the attestation file is read and verified once, when
//! the policy loads, so that a signer whose key is not what the policy says it is (not on a
//! YubiKey, another key, another touch or PIN policy, a chain to no trusted root) never counts.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::Ctx;
use crate::crypto::pubkey::PublicKey;
use crate::verify::attestation::{self, Attested, Cert, Requirements, Trust};
use crate::verify::policy::PolicyError;

/// One value or a list (`touch_policy = "always"` or `["always", "cached"]`).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.trim().to_string()],
            OneOrMany::Many(v) => v.iter().map(|s| s.trim().to_string()).collect(),
        }
    }
}

/// What a `[[signer]]` says about its key's attestation.
pub(super) struct RawAttestation<'a> {
    pub kind: Option<&'a Spanned<String>>,
    pub file: Option<&'a Spanned<String>>,
    pub touch: Option<&'a Spanned<OneOrMany>>,
    pub pin: Option<&'a Spanned<OneOrMany>>,
    /// The signer's key_file, next to which the attestation is looked for by default.
    pub key_file: Option<&'a Spanned<String>>,
}

/// `hwsign-release.pub` → `hwsign-release.attestation.pem` (what `--emit-verifier-material`
/// writes next to the key).
fn default_file(key_file: &str) -> String {
    let stem = key_file
        .strip_suffix(".pub")
        .or_else(|| key_file.strip_suffix(".pem"))
        .unwrap_or(key_file);
    format!("{stem}.attestation.pem")
}

/// The extra roots of `attestation_roots` (paths relative to the policy's directory).
pub(super) fn extra_roots(
    cx: &Ctx<'_>,
    files: &[Spanned<String>],
    base_dir: &Path,
) -> Result<Vec<Cert>, PolicyError> {
    let mut roots = Vec::new();
    for f in files {
        let path = base_dir.join(f.get_ref());
        let text = std::fs::read_to_string(&path).map_err(|e| {
            cx.err(
                f.span(),
                format!("cannot read attestation root {}: {e}", path.display()),
                "attestation_roots paths are relative to the policy file's directory",
            )
        })?;
        let certs = attestation::pem_certificates(&text, &path.display().to_string())
            .map_err(|e| cx.err(f.span(), e.escaped(), "give a PEM certificate file"))?;
        if certs.is_empty() {
            return Err(cx.err(
                f.span(),
                format!("{}: no PEM certificate in it", path.display()),
                "give a file with -----BEGIN CERTIFICATE-----",
            ));
        }
        roots.extend(certs);
    }
    Ok(roots)
}

/// Check a signer's attestation, if it asks for one.
pub(super) fn check(
    cx: &Ctx<'_>,
    name: &str,
    raw: &RawAttestation<'_>,
    key: &PublicKey,
    base_dir: &Path,
    extra_roots: &[Cert],
) -> Result<Option<Attested>, PolicyError> {
    let Some(kind) = raw.kind else {
        for (what, v) in [("touch_policy", raw.touch), ("pin_policy", raw.pin)] {
            if let Some(v) = v {
                return Err(cx.err(
                    v.span(),
                    format!("signer {name:?}: {what} is a requirement on the key's attestation"),
                    "add attestation = \"yubico-piv\" (and its attestation_file)",
                ));
            }
        }
        if let Some(f) = raw.file {
            return Err(cx.err(
                f.span(),
                format!("signer {name:?}: attestation_file without attestation"),
                "add attestation = \"yubico-piv\"",
            ));
        }
        return Ok(None);
    };
    if kind.get_ref().trim() != "yubico-piv" {
        return Err(cx.err(
            kind.span(),
            format!("signer {name:?}: unknown attestation {:?}", kind.get_ref()),
            "attestation = \"yubico-piv\" (a YubiKey PIV attestation, from `hwsign keys attest`)",
        ));
    }
    let required = Requirements {
        touch: allowed(
            cx,
            name,
            "touch_policy",
            raw.touch,
            &attestation::TouchPolicy::NAMED,
            attestation::TouchPolicy::name,
        )?,
        pin: allowed(
            cx,
            name,
            "pin_policy",
            raw.pin,
            &attestation::PinPolicy::NAMED,
            attestation::PinPolicy::name,
        )?,
    };
    let (file, span) = match (raw.file, raw.key_file) {
        (Some(f), _) => (f.get_ref().clone(), f.span()),
        (None, Some(k)) => (default_file(k.get_ref()), kind.span()),
        (None, None) => {
            return Err(cx.err(
                kind.span(),
                format!("signer {name:?}: where is the attestation?"),
                "attestation_file = \"hwsign-<label>.attestation.pem\" (from `hwsign keys attest` or --emit-verifier-material)",
            ));
        }
    };
    let path = base_dir.join(&file);
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        cx.err(
            span.clone(),
            format!("signer {name:?}: cannot read attestation_file {shown}: {e}"),
            "make it with `hwsign keys attest KEY -o FILE` on the machine with the YubiKey; paths are relative to the policy file's directory",
        )
    })?;
    let trust = Trust::yubico_piv(extra_roots.to_vec());
    attestation::verify_yubico_piv(
        &text,
        &shown,
        &trust,
        key,
        &required,
        crate::time::now_secs(),
    )
    .map(Some)
    .map_err(|e| {
        cx.err(
            span,
            format!("signer {name:?}: attestation {shown}: {}", e.escaped()),
            hint(&e),
        )
    })
}

fn hint(e: &attestation::AttestationError) -> &'static str {
    use attestation::AttestationError as E;
    match e {
        E::Policy { .. } => {
            "the key was made with other policies: generate a new key with the policies the trust policy requires, or change the requirement"
        }
        E::OtherKey { .. } => {
            "the attestation belongs to another key: run `hwsign keys attest` for this signer's key"
        }
        E::UntrustedIssuer { .. } => {
            "only Yubico's roots are trusted by default; add your own CA to attestation_roots if you replaced the key's f9 certificate"
        }
        _ => "run `hwsign keys attest` again on the machine with the YubiKey",
    }
}

/// The policies a signer's `what` accepts, by their names in `known`.
fn allowed<P: Copy>(
    cx: &Ctx<'_>,
    name: &str,
    what: &str,
    value: Option<&Spanned<OneOrMany>>,
    known: &[P],
    name_of: fn(P) -> String,
) -> Result<Vec<P>, PolicyError> {
    let Some(v) = value else {
        return Ok(Vec::new());
    };
    v.get_ref()
        .values()
        .iter()
        .map(|x| {
            known
                .iter()
                .copied()
                .find(|p| name_of(*p) == *x)
                .ok_or_else(|| {
                    let names: Vec<String> = known.iter().map(|p| name_of(*p)).collect();
                    cx.err(
                        v.span(),
                        format!("signer {name:?}: {what} {x:?} is not a policy"),
                        &format!("use one or a list of: {}", names.join(", ")),
                    )
                })
        })
        .collect()
}
