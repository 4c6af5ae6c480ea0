//! minisign signatures (`FILE.minisig`): prehashed (`ED`, Ed25519 over the BLAKE2b-512 of the
//! file) or legacy (`Ed`, over the file itself), each with a trusted comment covered by the
//! global signature over `signature ‖ trusted comment`. Both signatures must verify with the
//! same Ed25519 key of a policy signer; the 8-byte key id in the file is only a hint (other
//! tools choose it at random), so keys are matched by their material.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::VerifyError;
use super::policy::Policy;
use crate::crypto::check::{Signed, verify as check};
use crate::crypto::pubkey::PublicKey;

/// What a `.minisig` file starts with.
pub const UNTRUSTED: &str = "untrusted comment:";

/// A parsed `.minisig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinisignSig {
    /// `ED` (BLAKE2b-512 of the file) rather than `Ed` (the file itself).
    pub prehashed: bool,
    /// The signature over the file (or its hash).
    pub signature: Vec<u8>,
    /// The trusted comment (after `trusted comment: `).
    pub trusted_comment: String,
    /// The signature over `signature ‖ trusted comment`.
    pub global: Vec<u8>,
}

fn malformed(detail: impl ToString) -> VerifyError {
    VerifyError::malformed("the minisign signature", detail)
}

/// Read a `.minisig` file.
pub fn parse(text: &str) -> Result<MinisignSig, VerifyError> {
    let mut lines = text.lines();
    let mut next = |what: &str| {
        lines
            .next()
            .ok_or_else(|| malformed(format!("no {what} line")))
    };
    if !next("untrusted comment")?.starts_with(UNTRUSTED) {
        return Err(malformed("the first line is not an untrusted comment"));
    }
    let blob = B64
        .decode(next("signature")?.trim())
        .map_err(|e| malformed(format!("signature line: {e}")))?;
    let trusted = next("trusted comment")?
        .strip_prefix("trusted comment: ")
        .ok_or_else(|| malformed("the third line is not a trusted comment"))?
        .to_string();
    let global = B64
        .decode(next("global signature")?.trim())
        .map_err(|e| malformed(format!("global signature line: {e}")))?;
    if blob.len() != 74 || global.len() != 64 {
        return Err(malformed("wrong signature lengths"));
    }
    let prehashed = match &blob[..2] {
        b"ED" => true,
        b"Ed" => false,
        other => {
            return Err(malformed(format!(
                "unknown algorithm {:?}",
                String::from_utf8_lossy(other)
            )));
        }
    };
    Ok(MinisignSig {
        prehashed,
        signature: blob[10..].to_vec(),
        trusted_comment: trusted,
        global,
    })
}

/// Verify `sig` over an artifact whose BLAKE2b-512 is `blake2b` and whose bytes are `whole`
/// (needed for legacy signatures only): the policy signer and the index of its key.
pub fn verify(
    policy: &Policy,
    sig: &MinisignSig,
    blake2b: &[u8],
    whole: Result<&[u8], &str>,
) -> Result<(usize, usize), VerifyError> {
    let message: &[u8] = if sig.prehashed {
        blake2b
    } else {
        whole.map_err(|e| VerifyError::Refused(format!("legacy minisign signature: {e}")))?
    };
    let mut global_message = sig.signature.clone();
    global_message.extend_from_slice(sig.trusted_comment.as_bytes());
    let mut bad_global = false;
    for (i, signer) in policy.signers.iter().enumerate() {
        for (j, k) in signer.keys.iter().enumerate() {
            if !matches!(k.key, PublicKey::Ed25519(_)) {
                continue;
            }
            if check(&k.key, Signed::Message(message), &sig.signature).is_err() {
                continue;
            }
            if check(&k.key, Signed::Message(&global_message), &sig.global).is_err() {
                bad_global = true;
                continue;
            }
            return Ok((i, j));
        }
    }
    if bad_global {
        return Err(VerifyError::BadSignature(
            "the trusted comment is not covered by the global signature (edited?)".into(),
        ));
    }
    Err(VerifyError::UnknownKey(
        "no Ed25519 key of the policy made this minisign signature".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tag: &[u8], len: usize) -> String {
        let mut b = tag.to_vec();
        b.resize(len, 7);
        B64.encode(b)
    }

    #[test]
    fn parses_and_refuses_malformed_files() {
        let sig = line(b"ED", 74);
        let global = line(b"", 64);
        let good = format!("untrusted comment: x\n{sig}\ntrusted comment: t c\n{global}\n");
        let p = parse(&good).unwrap();
        assert!(p.prehashed);
        assert_eq!(p.trusted_comment, "t c");
        assert_eq!(p.signature.len(), 64);
        assert!(
            !parse(&good.replace(&sig, &line(b"Ed", 74)))
                .unwrap()
                .prehashed
        );
        for bad in [
            String::new(),
            format!("comment: x\n{sig}\ntrusted comment: t\n{global}\n"),
            format!("untrusted comment: x\n{sig}\n"),
            format!("untrusted comment: x\n{sig}\nuntrusted comment: t\n{global}\n"),
            format!(
                "untrusted comment: x\n{}\ntrusted comment: t\n{global}\n",
                line(b"EC", 74)
            ),
            format!(
                "untrusted comment: x\n{}\ntrusted comment: t\n{global}\n",
                line(b"ED", 73)
            ),
            format!(
                "untrusted comment: x\n{sig}\ntrusted comment: t\n{}\n",
                line(b"", 63)
            ),
            format!("untrusted comment: x\n{sig}!\ntrusted comment: t\n{global}\n"),
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }
}
