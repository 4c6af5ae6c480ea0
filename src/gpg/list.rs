//! `--list-keys` / `--list-secret-keys` (with or without `--with-colons`) for tools that probe
//! for a key before they sign: the known certificates, and for the secret listing only those
//! whose signing key the agent has.

use std::time::UNIX_EPOCH;

use openpgp::Cert;
use openpgp::packet::Key;
use openpgp::packet::key::{PublicParts, UnspecifiedRole};
use openpgp::types::PublicKeyAlgorithm;
use sequoia_openpgp as openpgp;

use super::certs::{self, Known};
use crate::time::format_rfc3339;

fn secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn algo_name(k: &Key<PublicParts, UnspecifiedRole>) -> String {
    let bits = k.mpis().bits().unwrap_or(0);
    match k.pk_algo() {
        PublicKeyAlgorithm::RSAEncryptSign => format!("rsa{bits}"),
        PublicKeyAlgorithm::EdDSA | PublicKeyAlgorithm::Ed25519 => "ed25519".into(),
        PublicKeyAlgorithm::ECDSA => match bits {
            256 => "nistp256".into(),
            384 => "nistp384".into(),
            _ => "ecdsa".into(),
        },
        other => other.to_string().to_lowercase(),
    }
}

fn curve(k: &Key<PublicParts, UnspecifiedRole>) -> String {
    match k.mpis() {
        openpgp::crypto::mpi::PublicKey::EdDSA { curve, .. }
        | openpgp::crypto::mpi::PublicKey::ECDSA { curve, .. } => match curve {
            openpgp::types::Curve::Ed25519 => "ed25519".into(),
            openpgp::types::Curve::NistP256 => "nistp256".into(),
            openpgp::types::Curve::NistP384 => "nistp384".into(),
            other => other.to_string(),
        },
        _ => String::new(),
    }
}

fn colons(cert: &Cert, secret: bool) -> String {
    let mut out = String::new();
    let k: Key<PublicParts, UnspecifiedRole> =
        cert.primary_key().key().clone().role_into_unspecified();
    let tag = if secret { "sec" } else { "pub" };
    let created = secs(k.creation_time());
    out.push_str(&format!(
        "{tag}:u:{}:{}:{}:{created}:::u:::scSC:::{}:::{}::0:\n",
        k.mpis().bits().unwrap_or(0),
        u8::from(k.pk_algo()),
        k.keyid().to_hex(),
        if secret { "+" } else { "" },
        curve(&k)
    ));
    out.push_str(&format!("fpr:::::::::{}:\n", k.fingerprint().to_hex()));
    for u in cert.userids() {
        let text = String::from_utf8_lossy(u.userid().value());
        let escaped = text.replace('\\', "\\x5c").replace(':', "\\x3a");
        out.push_str(&format!("uid:u::::{created}::::{escaped}::::::::::0:\n"));
    }
    out
}

fn human(cert: &Cert, secret: bool) -> String {
    let k: Key<PublicParts, UnspecifiedRole> =
        cert.primary_key().key().clone().role_into_unspecified();
    let date = format_rfc3339(secs(k.creation_time()));
    let mut out = format!(
        "{}   {} {} [SC]\n      {}\n",
        if secret { "sec" } else { "pub" },
        algo_name(&k),
        &date[..10.min(date.len())],
        k.fingerprint().to_hex()
    );
    for u in cert.userids() {
        out.push_str(&format!(
            "uid           [ultimate] {}\n",
            crate::text::name(&String::from_utf8_lossy(u.userid().value()))
        ));
    }
    out.push('\n');
    out
}

/// The listing of `certs` (those `patterns` name, or all).
pub fn render(certs: &[&Known], patterns: &[String], secret: bool, with_colons: bool) -> String {
    let mut out = String::new();
    for k in certs {
        if !patterns.is_empty() && !patterns.iter().any(|p| certs::matches(&k.cert, p)) {
            continue;
        }
        if with_colons {
            out.push_str(&colons(&k.cert, secret));
        } else {
            out.push_str(&human(&k.cert, secret));
        }
    }
    out
}
