//! DSSE envelopes carrying in-toto Statement v1, as hwsign, securesystemslib or cosign write
//! them: strict reading (every field present, at least one signature, base64, no duplicated
//! keyid, signature or signer; padded base64 as securesystemslib requires), each signature
//! checked over the PAE against the policy's keys (a keyid naming a policy key holds the
//! signature to that key; any other keyid is only a hint), the payloadType pinned to in-toto,
//! and subjects matched to artifacts by name and SHA-256.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;

use super::VerifyError;
use super::policy::Policy;
use crate::crypto::check::{self, Signed};
use crate::format::dsse::pae;
use crate::format::statement::{PAYLOAD_TYPE, STATEMENT_TYPE, Subject};

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Decode base64: standard or URL-safe alphabet, padded or not (Sigstore bundles, whose
/// protobuf JSON allows both, and raw signatures).
pub fn decode_base64(what: &str, s: &str) -> Result<Vec<u8>, VerifyError> {
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .map_err(|e| VerifyError::malformed("DSSE envelope", format!("{what} is not base64: {e}")))
}

/// Check that a bare DSSE envelope's base64 is padded, standard or URL-safe, as
/// securesystemslib requires (it refuses unpadded base64).
fn check_padded(what: &str, s: &str) -> Result<(), VerifyError> {
    use base64::engine::general_purpose::{STANDARD as PADDED, URL_SAFE as URL_PADDED};
    match PADDED.decode(s).or_else(|_| URL_PADDED.decode(s)) {
        Ok(_) => Ok(()),
        Err(_) if decode_base64(what, s).is_ok() => Err(VerifyError::malformed(
            "DSSE envelope",
            format!("{what} is base64 without its padding (securesystemslib refuses it too)"),
        )),
        Err(e) => Err(VerifyError::malformed(
            "DSSE envelope",
            format!("{what} is not base64: {e}"),
        )),
    }
}

/// One signature as read from an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ParsedSignature {
    /// The key id hint (optional in DSSE; cosign leaves it empty).
    #[serde(default)]
    pub keyid: Option<String>,
    /// Base64 of the signature.
    pub sig: String,
}

/// A DSSE envelope as read for verification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ParsedEnvelope {
    /// Base64 of the payload.
    pub payload: String,
    /// The payload's type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// One per signer, as read.
    pub signatures: Vec<ParsedSignature>,
}

/// The parts of an in-toto Statement v1 that verification reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InTotoStatement {
    /// The statement type; must be [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// The artifacts.
    pub subject: Vec<Subject>,
    /// The predicate's type URI.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
}

/// What an envelope proves.
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    /// Indices of the policy signers whose signatures verified, each once.
    pub signers: Vec<usize>,
    /// For each of [`VerifiedEnvelope::signers`], the index of the key in its
    /// [`crate::verify::policy::Signer::keys`] that verified.
    pub keys: Vec<usize>,
    /// Why other signatures did not count.
    pub rejected: Vec<String>,
    /// The statement, read only when at least one policy key verified the envelope.
    pub statement: Option<InTotoStatement>,
}

/// Read a bare DSSE envelope from JSON: its payload and signatures must be padded base64.
pub fn parse_envelope(json: &[u8]) -> Result<ParsedEnvelope, VerifyError> {
    let env: ParsedEnvelope =
        serde_json::from_slice(json).map_err(|e| VerifyError::malformed("DSSE envelope", e))?;
    check_padded("the payload", &env.payload)?;
    for s in &env.signatures {
        check_padded("a signature", &s.sig)?;
    }
    Ok(env)
}

/// Check an envelope's signatures against every signer of the policy, then its payloadType and
/// statement. Malformed, duplicated or ambiguous envelopes are refused as a whole; signatures
/// no policy key made are listed in [`VerifiedEnvelope::rejected`].
pub fn verify_envelope(
    policy: &Policy,
    env: &ParsedEnvelope,
) -> Result<VerifiedEnvelope, VerifyError> {
    if env.signatures.is_empty() {
        return Err(VerifyError::Refused(
            "the envelope has an empty signature list".into(),
        ));
    }
    let mut keyids: Vec<&str> = Vec::new();
    let mut sigs: Vec<(Option<&str>, Vec<u8>)> = Vec::new();
    for s in &env.signatures {
        let keyid = s.keyid.as_deref().filter(|k| !k.is_empty());
        if let Some(k) = keyid {
            if keyids.contains(&k) {
                return Err(VerifyError::Refused(format!(
                    "two signatures of the envelope have keyid {k}; each key signs once"
                )));
            }
            keyids.push(k);
        }
        let sig = decode_base64("a signature", &s.sig)?;
        if sigs.iter().any(|(_, other)| *other == sig) {
            return Err(VerifyError::Refused(
                "the envelope carries the same signature twice".into(),
            ));
        }
        sigs.push((keyid, sig));
    }
    let payload = decode_base64("the payload", &env.payload)?;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(VerifyError::PayloadType {
            found: env.payload_type.clone(),
            expected: PAYLOAD_TYPE,
        });
    }
    let message = pae(&env.payload_type, &payload);
    let mut signers: Vec<usize> = Vec::new();
    let mut keys: Vec<usize> = Vec::new();
    let mut rejected = Vec::new();
    for (keyid, sig) in &sigs {
        // A keyid that names a key of the policy (hwsign and the README's securesystemslib
        // example use the SPKI hash) is held to that key, as securesystemslib holds it: it
        // cannot count for another key. An empty, absent or unknown keyid (cosign writes "",
        // securesystemslib its own ids) is only a hint: every key of the policy is tried.
        let named = keyid.and_then(|k| {
            policy.signers.iter().enumerate().find_map(|(i, s)| {
                s.keys
                    .iter()
                    .position(|sk| sk.key.key_id() == k)
                    .map(|j| (i, j))
            })
        });
        let hinted = named.map(|(i, _)| i);
        let verifies = |i: usize, j: usize| {
            check::verify(
                &policy.signers[i].keys[j].key,
                Signed::Message(&message),
                sig,
            )
            .is_ok()
        };
        let verified = match named {
            Some((i, j)) => verifies(i, j).then_some((i, j)),
            // Every key of every signer: the pinned key and its certificate's signing subkeys.
            None => (0..policy.signers.len()).find_map(|i| {
                (0..policy.signers[i].keys.len())
                    .find(|&j| verifies(i, j))
                    .map(|j| (i, j))
            }),
        };
        match (verified, hinted) {
            (Some((i, _)), _) if signers.contains(&i) => {
                return Err(VerifyError::Refused(format!(
                    "{} signed the envelope twice; each signer signs once",
                    policy.signers[i].name
                )));
            }
            (Some((i, j)), _) => {
                signers.push(i);
                keys.push(j);
            }
            (None, Some(i)) => rejected.push(
                VerifyError::BadSignature(format!(
                    "{}: signature does not verify with the key its keyid names (payload or payloadType changed, or another key signed)",
                    policy.signers[i].name
                ))
                .to_string(),
            ),
            (None, None) => rejected.push(
                VerifyError::UnknownKey(format!("(keyid {})", keyid.unwrap_or("none")))
                    .to_string(),
            ),
        }
    }
    let statement = if signers.is_empty() {
        None
    } else {
        Some(parse_statement(&payload)?)
    };
    Ok(VerifiedEnvelope {
        signers,
        keys,
        rejected,
        statement,
    })
}

/// Read the payload as an in-toto Statement v1 with at least one subject.
pub fn parse_statement(payload: &[u8]) -> Result<InTotoStatement, VerifyError> {
    let st: InTotoStatement = serde_json::from_slice(payload)
        .map_err(|e| VerifyError::malformed("the in-toto statement", e))?;
    if st.type_ != STATEMENT_TYPE {
        return Err(VerifyError::Refused(format!(
            "statement _type is {}, expected {STATEMENT_TYPE}",
            st.type_
        )));
    }
    if st.subject.is_empty() {
        return Err(VerifyError::Refused("the statement has no subjects".into()));
    }
    Ok(st)
}

/// Check that exactly one subject is named `name` and that its sha256 is `sha256_hex`.
pub fn check_subject(
    statement: &InTotoStatement,
    name: &str,
    sha256_hex: &str,
) -> Result<(), VerifyError> {
    let named: Vec<&Subject> = statement
        .subject
        .iter()
        .filter(|s| s.name == name)
        .collect();
    match named.as_slice() {
        [] => Err(VerifyError::NoSubject(name.to_string())),
        [s] => match s.digest.get("sha256") {
            None => Err(VerifyError::Refused(format!(
                "subject {name} has no sha256 digest"
            ))),
            Some(d) if d.eq_ignore_ascii_case(sha256_hex) => Ok(()),
            Some(_) => Err(VerifyError::DigestMismatch(name.to_string())),
        },
        more => Err(VerifyError::AmbiguousSubject(name.to_string(), more.len())),
    }
}

#[cfg(test)]
mod tests;
