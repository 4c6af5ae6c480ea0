//! Sigstore bundles v0.3 in public-key form around a DSSE envelope: what `hwsign attest
//! --bundle` writes (`<out>.sigstore.json`) for `@sigstore/verify` and `cosign
//! verify-blob-attestation --key … --insecure-ignore-tlog`. No certificate, no transparency-log
//! entry: the verifier pins the key itself.

use serde_json::{Value, json};

use super::FormatError;
use super::dsse::Envelope;

/// The bundle's media type.
pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The bundle for an envelope with exactly one signature: `verificationMaterial.publicKey.hint`
/// is the signature's keyid, `tlogEntries` is empty, `dsseEnvelope` is the envelope.
pub fn to_bundle(envelope: &Envelope) -> Result<Value, FormatError> {
    let [signature] = envelope.signatures.as_slice() else {
        return Err(FormatError::Invalid(format!(
            "a Sigstore bundle holds an envelope with exactly one signature, this one has {}",
            envelope.signatures.len()
        )));
    };
    Ok(json!({
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": { "hint": signature.keyid },
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": envelope.payload,
            "payloadType": envelope.payload_type,
            "signatures": [{ "sig": signature.sig, "keyid": signature.keyid }],
        },
    }))
}

/// The bundle as pretty JSON with a trailing newline.
pub fn to_json(envelope: &Envelope) -> Result<String, FormatError> {
    let mut s = serde_json::to_string_pretty(&to_bundle(envelope)?)?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_shape() {
        let env = Envelope::new("application/vnd.in-toto+json", b"{}", "abc", b"sig");
        let b = to_bundle(&env).unwrap();
        assert_eq!(b["mediaType"], MEDIA_TYPE);
        assert_eq!(b["verificationMaterial"]["publicKey"]["hint"], "abc");
        assert_eq!(b["verificationMaterial"]["tlogEntries"], json!([]));
        assert_eq!(b["dsseEnvelope"]["payload"], env.payload);
        assert_eq!(
            b["dsseEnvelope"]["signatures"][0]["sig"],
            env.signatures[0].sig
        );
        assert!(to_json(&env).unwrap().ends_with("}\n"));
        let mut two = env.clone();
        two.signatures.push(two.signatures[0].clone());
        assert!(to_bundle(&two).is_err());
    }
}
