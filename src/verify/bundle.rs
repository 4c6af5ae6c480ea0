//! Sigstore bundles v0.3 in public-key form (`verificationMaterial.publicKey`) around a DSSE
//! envelope, as `hwsign attest --bundle` writes them. The envelope inside is verified like any
//! DSSE envelope. Transparency logs are not checked: bundles carrying log entries, and
//! certificate (keyless) or message-signature bundles, are refused rather than half-verified.

use serde::Deserialize;

use super::VerifyError;
use super::dsse::ParsedEnvelope;
use crate::format::bundle::MEDIA_TYPE;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: Option<RawMaterial>,
    dsse_envelope: Option<ParsedEnvelope>,
    message_signature: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    public_key: Option<serde::de::IgnoredAny>,
    certificate: Option<serde_json::Value>,
    x509_certificate_chain: Option<serde_json::Value>,
    tlog_entries: Option<Vec<serde_json::Value>>,
}

/// Whether a JSON document is a Sigstore bundle (it has a `mediaType`), not a bare envelope.
pub fn is_bundle(json: &serde_json::Value) -> bool {
    json.get("mediaType").is_some()
}

fn malformed(detail: impl ToString) -> VerifyError {
    VerifyError::malformed("Sigstore bundle", detail)
}

/// Read a public-key Sigstore bundle v0.3 and return its DSSE envelope (with exactly one
/// signature). The key hint is not trusted: the policy's keys are tried as for any envelope.
pub fn parse_bundle(json: &[u8]) -> Result<ParsedEnvelope, VerifyError> {
    let b: RawBundle = serde_json::from_slice(json).map_err(malformed)?;
    if b.media_type != MEDIA_TYPE {
        return Err(VerifyError::Refused(format!(
            "bundle mediaType is {}, expected {MEDIA_TYPE} (only v0.3 bundles are read)",
            b.media_type
        )));
    }
    let m = b
        .verification_material
        .ok_or_else(|| malformed("no verificationMaterial"))?;
    if m.certificate.is_some() || m.x509_certificate_chain.is_some() {
        return Err(VerifyError::Refused(
            "the bundle is certificate-based (keyless); hwsign verifies public-key bundles against pinned keys only".into(),
        ));
    }
    if m.public_key.is_none() {
        return Err(malformed("verificationMaterial has no publicKey"));
    }
    let entries = m.tlog_entries.map_or(0, |t| t.len());
    if entries > 0 {
        return Err(VerifyError::Refused(format!(
            "the bundle has {entries} transparency-log entr{}; hwsign does not check transparency logs and reads only public-key bundles without them",
            if entries == 1 { "y" } else { "ies" }
        )));
    }
    if b.message_signature.is_some() {
        return Err(VerifyError::Refused(
            "the bundle holds a message signature; hwsign reads bundles with a DSSE envelope only"
                .into(),
        ));
    }
    let env = b
        .dsse_envelope
        .ok_or_else(|| malformed("no dsseEnvelope"))?;
    if env.signatures.len() != 1 {
        return Err(VerifyError::Refused(format!(
            "the bundle's envelope has {} signatures; a bundle carries exactly one",
            env.signatures.len()
        )));
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::bundle::to_bundle;
    use crate::verify::dsse::verify_envelope;
    use crate::verify::testutil::{TestKey, envelope, policy};

    #[test]
    fn roundtrip_through_the_builder_verifies() {
        let a = TestKey::ed25519("alice", 1);
        let p = policy(&format!(
            "{}[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\"]\n",
            a.signer_toml()
        ));
        let env = envelope(&[("x.whl", b"x")], &[&a]);
        let json = serde_json::to_vec(&to_bundle(&env).unwrap()).unwrap();
        assert!(is_bundle(&serde_json::from_slice(&json).unwrap()));
        let parsed = parse_bundle(&json).unwrap();
        assert_eq!(verify_envelope(&p, &parsed).unwrap().signers, vec![0]);
    }

    #[test]
    fn refusals() {
        let a = TestKey::ed25519("alice", 1);
        let env = envelope(&[("x.whl", b"x")], &[&a]);
        let good = to_bundle(&env).unwrap();
        let check = |edit: &dyn Fn(&mut serde_json::Value), want: &str| {
            let mut b = good.clone();
            edit(&mut b);
            let e = parse_bundle(&serde_json::to_vec(&b).unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{want}: {e}");
        };
        check(
            &|b| b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1".into(),
            "only v0.3",
        );
        check(
            &|b| b["verificationMaterial"]["tlogEntries"] = serde_json::json!([{}]),
            "1 transparency-log entry",
        );
        check(
            &|b| b["verificationMaterial"]["certificate"] = serde_json::json!({}),
            "keyless",
        );
        check(
            &|b| b["dsseEnvelope"]["signatures"] = serde_json::json!([]),
            "has 0 signatures",
        );
        check(
            &|b| {
                b.as_object_mut().unwrap().remove("dsseEnvelope");
            },
            "no dsseEnvelope",
        );
        check(
            &|b| {
                b.as_object_mut().unwrap().remove("mediaType");
            },
            "missing field `mediaType`",
        );
        let mut absent = good.clone();
        absent["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("tlogEntries");
        assert!(parse_bundle(&serde_json::to_vec(&absent).unwrap()).is_ok());
    }
}
